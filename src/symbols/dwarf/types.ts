// C types as the debugger's Locals, Globals and expression evaluator see them (built from
// DWARF by variables.ts), with their C spellings and sizes, and the base-type names the
// evaluator accepts in casts. (Location and FrameContext, the other shapes the evaluator
// shares, are in expr.ts; variables.ts re-exports them all.)

export type { Location, FrameContext } from './expr.js';

export type CType =
  | { kind: 'base'; name: string; size: number; encoding: 'signed' | 'unsigned' | 'float' | 'bool' | 'signed_char' | 'unsigned_char' | 'char' }
  /** `target` undefined: void *. */
  | { kind: 'pointer'; size: number; target: CType | undefined }
  /** Multi-dimensional arrays are arrays of arrays; `count` undefined for `int []` and VLAs. */
  | { kind: 'array'; element: CType; count: number | undefined }
  | { kind: 'struct' | 'union' | 'class'; name?: string; size: number; members: Member[]; declaration?: boolean }
  | { kind: 'enum'; name?: string; size: number; enumerators: { name: string; value: bigint }[]; underlying?: CType }
  | { kind: 'typedef'; name: string; target: CType | undefined }
  | { kind: 'qualified'; qualifier: 'const' | 'volatile' | 'restrict' | 'atomic'; target: CType | undefined }
  /**
   * A function type (what a function pointer points to). `params` (absent when unknown or
   * unprototyped) and `variadic` are extras beyond the shared interface, for the spelling.
   */
  | { kind: 'function'; name?: string; returns?: CType; params?: (CType | undefined)[]; variadic?: boolean }
  /** Something DWARF describes that C has no spelling for (complex numbers, C++ pointers to members...); `size` when known. */
  | { kind: 'unknown'; name?: string; size?: number };

export interface Member {
  /** '' for an anonymous struct or union member. */
  name: string;
  /** Byte offset from the start of the containing struct or union. */
  offset: number;
  type: CType;
  /** For a bit-field: its width in bits. */
  bitSize?: number;
  /**
   * For a bit-field: the position of its lowest bit, counted LSB-first (as on x86) from the
   * start of the storage unit at `offset`. The storage unit is normally sizeof the member's
   * type, aligned, holding all of the field; in a packed struct a field can start in one and
   * end in the next, and then `offset` is the byte holding the field's first bit (bitOffset < 8):
   * read ceil((bitOffset + bitSize) / 8) bytes at `offset` to have all of it.
   */
  bitOffset?: number;
}

/**
 * A bit-field member `bitSize` bits wide at bit `total` of its struct, placed as Member says: in
 * the aligned storage unit of its type's size that holds all of it, or (packed) from the byte
 * holding its first bit.
 */
export function bitField(name: string, type: CType, total: number, bitSize: number): Member {
  const unitBytes = Math.max(1, typeSize(type));
  let start = Math.floor(total / (unitBytes * 8)) * unitBytes;
  let bitOffset = total - start * 8;
  if (bitOffset + bitSize > unitBytes * 8) {
    start = Math.floor(total / 8);
    bitOffset = total - start * 8;
  }
  return { name, offset: start, type, bitSize, bitOffset };
}

/** Skips typedefs and qualifiers: the type that says what the bytes are. */
export function stripType(t: CType | undefined): CType | undefined {
  for (let i = 0; i < 64 && t && (t.kind === 'typedef' || t.kind === 'qualified'); i++) t = t.target;
  return t;
}

/** sizeof: through typedefs and qualifiers; void and functions are 1 (as GNU C has them), unknown types 0 unless DWARF gave a size. */
export function typeSize(t: CType | undefined): number {
  // Arrays of arrays multiply in a loop (a corrupt file may nest them thousands deep).
  let count = 1;
  for (let i = 0; i < 64; i++) {
    t = stripType(t);
    if (!t) return count;
    switch (t.kind) {
      case 'base':
      case 'pointer':
      case 'struct':
      case 'union':
      case 'class':
      case 'enum':
        return count * t.size;
      case 'array':
        if (t.count === undefined) return 0;
        count *= t.count;
        t = t.element;
        continue;
      case 'function':
        return count;
      case 'unknown':
        return count * (t.size ?? 0);
      default:
        return 0;
    }
  }
  return 0;
}

const QUALIFIER_ORDER = ['const', 'volatile', 'restrict', 'atomic'] as const;
const QUALIFIER_SPELLING: Record<string, string> = { const: 'const', volatile: 'volatile', restrict: 'restrict', atomic: '_Atomic' };

/** Peels qualifiers off: the set, in the order C prints them, and the type under them. */
function peelQualifiers(t: CType | undefined): { quals: string[]; inner: CType | undefined } {
  const set = new Set<string>();
  for (let i = 0; i < 64 && t && t.kind === 'qualified'; i++) {
    set.add(t.qualifier);
    t = t.target;
  }
  return { quals: QUALIFIER_ORDER.filter((q) => set.has(q)).map((q) => QUALIFIER_SPELLING[q]), inner: t };
}

/** The name of a type that has one ("int", "struct node", "uint32_t"), without declarator parts. */
function specifierName(t: CType | undefined): string {
  if (!t) return 'void';
  switch (t.kind) {
    case 'base': return canonicalBaseName(t.name) ?? t.name;
    case 'typedef': return t.name;
    case 'struct':
    case 'union':
    case 'enum':
      return t.name !== undefined ? `${t.kind} ${t.name}` : `${t.kind} {...}`;
    case 'class': return t.name ?? 'class {...}';
    case 'unknown': return t.name ?? '<unknown type>';
    default: return '<unknown type>';
  }
}

/**
 * Builds a C declarator: `inner` is what has been built so far from the outside in ("*",
 * "[4]", "(*)[4]"...); the result is the whole type spelling.
 */
function spell(t: CType | undefined, inner: string, depth: number, budget: { calls: number }): string {
  // Depth alone does not bound the work: function types whose parameters are pointers to
  // function types branch at every level (2^64 paths through 64 levels of two parameters).
  if (depth > 64 || --budget.calls < 0) return '...';
  const { quals, inner: u } = peelQualifiers(t);
  if (u && u.kind === 'pointer') {
    // Qualifiers of a pointer go after its '*': "char * const".
    let ptr = '*' + (quals.length ? ' ' + quals.join(' ') : '');
    if (inner) ptr += (quals.length ? ' ' : '') + inner;
    const target = u.target;
    const tk = peelQualifiers(target).inner?.kind;
    if (tk === 'array' || tk === 'function') ptr = `(${ptr})`;
    return spell(target, ptr, depth + 1, budget);
  }
  if (u && u.kind === 'array') {
    // Qualifiers of an array apply to its elements.
    const dims = `[${u.count ?? ''}]`;
    const el: CType = quals.length ? requalify(u.element, quals) : u.element;
    return spell(el, inner + dims, depth + 1, budget);
  }
  if (u && u.kind === 'function') {
    let params: string;
    if (u.params === undefined) params = '';
    else if (u.params.length === 0) params = u.variadic ? '...' : 'void';
    else params = u.params.map((p) => spell(p, '', depth + 1, budget)).join(', ') + (u.variadic ? ', ...' : '');
    return spell(u.returns, `${inner}(${params})`, depth + 1, budget);
  }
  const name = (quals.length ? quals.join(' ') + ' ' : '') + specifierName(u);
  return inner ? `${name} ${inner}` : name;
}

function requalify(t: CType, quals: string[]): CType {
  let out: CType = t;
  for (const q of [...quals].reverse()) {
    const qualifier = (q === '_Atomic' ? 'atomic' : q) as 'const' | 'volatile' | 'restrict' | 'atomic';
    out = { kind: 'qualified', qualifier, target: out };
  }
  return out;
}

/**
 * The C spelling of a type, as gdb prints it: "unsigned int", "struct node *", "int [4]",
 * "int [3][4]", "const char *", "char * const", "int (*)[4]", "int (*)(int, int)"; C's base
 * types in their shortest spelling whatever the compiler named them ("unsigned long" for gcc's
 * "long unsigned int", "short" for "short int"), as gdb prints them; undefined is "void".
 */
export function typeName(t: CType | undefined): string {
  return spell(t, '', 0, { calls: MAX_SPELL_STEPS });
}

/** How many declarator parts one type's spelling may take; past them, "...". */
export const MAX_SPELL_STEPS = 256;

// ---------------------------------------------------------------------------------------------
// Base type names.

/**
 * A canonical key for a C arithmetic type name, so that "unsigned long", "long unsigned int" and
 * "unsigned long int" match: undefined for names that are not C base types.
 */
export function canonicalBaseName(name: string): string | undefined {
  const words = name.trim().split(/\s+/).filter((w) => w !== '');
  if (!words.length) return undefined;
  let longs = 0;
  let signed = false;
  let unsigned = false;
  let core: string | undefined;
  let short = false;
  let complex = false;
  for (const w of words) {
    switch (w) {
      case 'long': longs++; break;
      case 'short': short = true; break;
      case 'signed': case '__signed__': case '__signed': signed = true; break;
      case 'unsigned': unsigned = true; break;
      case '_Complex': case 'complex': complex = true; break;
      case 'int': case 'char': case 'float': case 'double': case '_Bool': case 'bool': case '__int128':
      case 'wchar_t': case 'char16_t': case 'char32_t': case 'char8_t':
        if (core && !(core === 'int' && w === '__int128')) return undefined;
        core = w === 'bool' ? '_Bool' : w;
        break;
      default:
        return undefined;
    }
  }
  if (signed && unsigned) return undefined;
  if (longs > 2 || (short && longs)) return undefined;
  const c = complex ? 'complex ' : '';
  if (core === 'char') {
    if (short || longs) return undefined;
    return signed ? 'signed char' : unsigned ? 'unsigned char' : 'char';
  }
  if (core === 'float' || core === 'double') {
    if (signed || unsigned || short || (core === 'float' && longs) || longs > 1) return undefined;
    return c + (longs ? 'long double' : core);
  }
  if (core === '_Bool' || core === 'wchar_t' || core === 'char16_t' || core === 'char32_t' || core === 'char8_t') {
    if (signed || unsigned || short || longs) return undefined;
    return core;
  }
  if (core === '__int128') return unsigned ? 'unsigned __int128' : '__int128';
  if (complex) return undefined;
  // int, with modifiers (or modifiers alone: "unsigned", "long", "short").
  const size = short ? 'short' : longs === 2 ? 'long long' : longs === 1 ? 'long' : 'int';
  return unsigned ? `unsigned ${size}` : size;
}

/** The standard C arithmetic types by canonical name, for casts to types the program never used. */
export function standardBaseType(canonical: string, bits: 32 | 64): CType | undefined {
  const long = bits === 64 ? 8 : 4;
  const table: Record<string, [number, Extract<CType, { kind: 'base' }>['encoding'], string]> = {
    char: [1, 'char', 'char'],
    'signed char': [1, 'signed_char', 'signed char'],
    'unsigned char': [1, 'unsigned_char', 'unsigned char'],
    short: [2, 'signed', 'short'],
    'unsigned short': [2, 'unsigned', 'unsigned short'],
    int: [4, 'signed', 'int'],
    'unsigned int': [4, 'unsigned', 'unsigned int'],
    long: [long, 'signed', 'long'],
    'unsigned long': [long, 'unsigned', 'unsigned long'],
    'long long': [8, 'signed', 'long long'],
    'unsigned long long': [8, 'unsigned', 'unsigned long long'],
    __int128: [16, 'signed', '__int128'],
    'unsigned __int128': [16, 'unsigned', 'unsigned __int128'],
    float: [4, 'float', 'float'],
    double: [8, 'float', 'double'],
    'long double': [bits === 64 ? 16 : 12, 'float', 'long double'],
    _Bool: [1, 'bool', '_Bool'],
  };
  const e = table[canonical];
  return e ? { kind: 'base', name: e[2], size: e[0], encoding: e[1] } : undefined;
}

/** <stdint.h>/<stddef.h> names, for casts in programs whose DWARF lacks them: name → canonical base. */
export function standardTypedef(name: string, bits: 32 | 64): string | undefined {
  const m = /^(u?)int(8|16|32|64)_t$/.exec(name);
  if (m) {
    const base = { 8: 'char', 16: 'short', 32: 'int', 64: bits === 64 ? 'long' : 'long long' }[m[2] as '8' | '16' | '32' | '64'];
    if (base === 'char') return m[1] ? 'unsigned char' : 'signed char';
    return m[1] ? `unsigned ${base}` : base;
  }
  switch (name) {
    case 'size_t': case 'uintptr_t': return bits === 64 ? 'unsigned long' : 'unsigned int';
    case 'ssize_t': case 'intptr_t': case 'ptrdiff_t': return bits === 64 ? 'long' : 'int';
    case 'uintmax_t': return bits === 64 ? 'unsigned long' : 'unsigned long long';
    case 'intmax_t': return bits === 64 ? 'long' : 'long long';
    default: return undefined;
  }
}

/**
 * A type from its C spelling: "struct node *", "const char", "unsigned long int", "uint32_t".
 * `named` looks up a file's own named types by key: "struct x", "union x", "enum x", a typedef's
 * name, a base type's canonical name (canonicalBaseName). C's base types and the <stdint.h>
 * names resolve without the file (a cast to a type the program never used).
 */
export function typeFromName(name: string, bits: 32 | 64, named: (key: string) => CType | undefined): CType | undefined {
  const text = name.trim().replace(/\s+/g, ' ');
  if (!text || text === 'void') return undefined;
  const ptr = /^(.*?)\s*\*$/.exec(text);
  if (ptr) {
    const base = ptr[1].trim();
    if (base === 'void' || base === 'const void' || base === 'void const') return { kind: 'pointer', size: bits / 8, target: undefined };
    const target = typeFromName(base, bits, named);
    return target ? { kind: 'pointer', size: bits / 8, target } : undefined;
  }
  let m = /^(const|volatile)\s+(.+)$/.exec(text);
  const qual = m ? { qualifier: m[1], rest: m[2] } : (m = /^(.+?)\s+(const|volatile)$/.exec(text)) ? { qualifier: m[2], rest: m[1] } : undefined;
  if (qual) {
    if (qual.rest === 'void') return undefined;
    const target = typeFromName(qual.rest, bits, named);
    return target ? { kind: 'qualified', qualifier: qual.qualifier as 'const' | 'volatile', target } : undefined;
  }
  const exact = named(text);
  if (exact) return exact;
  const canon = canonicalBaseName(text);
  if (canon) return named(canon) ?? standardBaseType(canon, bits);
  const std = standardTypedef(text, bits);
  if (std) {
    const target = typeFromName(std, bits, named);
    return target ? { kind: 'typedef', name: text, target } : undefined;
  }
  return undefined;
}

/** Whether values of a type are signed integers (for sign-extending constants). */
export function isSignedInteger(t: CType | undefined): boolean {
  t = stripType(t);
  if (!t) return false;
  if (t.kind === 'base') return t.encoding === 'signed' || t.encoding === 'signed_char' || t.encoding === 'char';
  if (t.kind === 'enum') return t.underlying ? isSignedInteger(t.underlying) : t.enumerators.some((e) => e.value < 0n);
  return false;
}
