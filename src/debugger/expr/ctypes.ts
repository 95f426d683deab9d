// C types for the expression evaluator: the DWARF type model (CType, Location), the builtin C
// type names, and what the evaluator asks of a type (size, signedness, its name as C writes it).
//
// CType and Location are the shapes of src/symbols/dwarf/types.ts (DWARF variables); the
// evaluator only relies on them structurally.

export type BaseEncoding = 'signed' | 'unsigned' | 'float' | 'bool' | 'signed_char' | 'unsigned_char' | 'char';

export interface CMember {
  name: string;
  /** Byte offset of the member (of its storage unit for bit fields). */
  offset: number;
  type: CType;
  /** Bit fields: width in bits. */
  bitSize?: number;
  /** Bit fields: position of the lowest bit, counted from bit 0 of the byte at `offset` (little-endian). */
  bitOffset?: number;
}

export type CType =
  | { kind: 'base'; name: string; size: number; encoding: BaseEncoding }
  /** `target` undefined: void *. */
  | { kind: 'pointer'; size: number; target: CType | undefined }
  /** `count` undefined for `int []`. */
  | { kind: 'array'; element: CType; count: number | undefined }
  | { kind: 'struct' | 'union' | 'class'; name?: string; size: number; members: CMember[]; declaration?: boolean }
  | { kind: 'enum'; name?: string; size: number; enumerators: { name: string; value: bigint }[]; underlying?: CType }
  | { kind: 'typedef'; name: string; target: CType | undefined }
  | { kind: 'qualified'; qualifier: string; target: CType | undefined }
  | { kind: 'function'; name?: string; returns?: CType; params?: (CType | undefined)[]; variadic?: boolean }
  | { kind: 'unknown'; name?: string; size?: number };

/** A part of a value split by DW_OP_piece / DW_OP_bit_piece, lowest first. */
export interface LocationPiece {
  location: Location;
  sizeBits: number;
  /** Bits to skip at the start of the piece's location (DW_OP_bit_piece). */
  offsetBits?: number;
}

/** Where a variable's value lives (DWARF location description, evaluated). */
export type Location =
  | { kind: 'memory'; address: bigint }
  /** DWARF register number; xmm registers hold 128-bit values. */
  | { kind: 'register'; reg: number }
  /** The value itself: the variable's bytes are its low bytes, little-endian. */
  | { kind: 'value'; value: bigint }
  | { kind: 'bytes'; bytes: Buffer }
  | { kind: 'pieces'; pieces: LocationPiece[] }
  | { kind: 'optimized-out' };

export const VOID: CType = { kind: 'base', name: 'void', size: 0, encoding: 'unsigned' };

/** The type with typedefs and qualifiers taken off (undefined targets read as void). */
export function strip(t: CType | undefined): CType {
  for (let i = 0; i < 64 && t; i++) {
    if (t.kind !== 'typedef' && t.kind !== 'qualified') return t;
    t = t.target;
  }
  return t ?? VOID;
}

export function isVoid(t: CType | undefined): boolean {
  const s = strip(t);
  return s.kind === 'base' && s.name === 'void';
}

export function isFloat(t: CType): boolean {
  const s = strip(t);
  return s.kind === 'base' && s.encoding === 'float';
}

/** Integer-like: base types other than float/void, enums. */
export function isInteger(t: CType): boolean {
  const s = strip(t);
  return (s.kind === 'base' && s.encoding !== 'float' && s.name !== 'void') || s.kind === 'enum';
}

export function isPointer(t: CType): boolean {
  return strip(t).kind === 'pointer';
}

export function isAggregate(t: CType): boolean {
  const k = strip(t).kind;
  return k === 'struct' || k === 'union' || k === 'class' || k === 'array';
}

/** Whether an integer type is signed (enums: when an enumerator is negative). */
export function isSigned(t: CType): boolean {
  const s = strip(t);
  if (s.kind === 'enum') return s.underlying ? isSigned(s.underlying) : s.enumerators.some((e) => e.value < 0n);
  if (s.kind !== 'base') return false;
  return s.encoding === 'signed' || s.encoding === 'signed_char' || s.encoding === 'float';
}

export function isCharType(t: CType): boolean {
  const s = strip(t);
  return s.kind === 'base' && s.size === 1 &&
    (s.encoding === 'char' || s.encoding === 'signed_char' || s.encoding === 'unsigned_char');
}

/** sizeof, or undefined for incomplete types (void is 1, as in gdb and GNU C). */
export function sizeOf(t: CType | undefined): number | undefined {
  const s = strip(t);
  switch (s.kind) {
    case 'base': return s.name === 'void' ? 1 : s.size;
    case 'pointer': return s.size;
    case 'array': {
      if (s.count === undefined) return undefined;
      const e = sizeOf(s.element);
      return e === undefined ? undefined : e * s.count;
    }
    case 'struct': case 'union': case 'class': return s.declaration ? undefined : s.size;
    case 'enum': return s.size;
    case 'function': return 1;
    case 'unknown': return s.size || undefined;
    default: return undefined;
  }
}

/** The element size pointer arithmetic scales by (1 for void, functions and unknown types). */
export function strideOf(target: CType | undefined): number {
  const s = strip(target);
  if (s.kind === 'function' || s.kind === 'unknown' || isVoid(s)) return 1;
  return sizeOf(s) || 1;
}

const QUALIFIER_SPELLING: Record<string, string> = { atomic: '_Atomic' };

/** The type as C writes it: 'struct node *', 'int [4]', 'void (*)()', 'const char *', 'int (*)(int, char *)'. */
export function typeName(t: CType | undefined, inner = '', depth = 0): string {
  const join = (base: string) => (inner ? `${base} ${inner}` : base);
  if (depth > 64) return '...';
  if (!t) return join('void');
  switch (t.kind) {
    case 'base': return join(t.name);
    case 'typedef': return join(t.name);
    case 'struct': case 'union': case 'class': return join(t.name ? `${t.kind} ${t.name}` : `${t.kind} {...}`);
    case 'enum': return join(t.name ? `enum ${t.name}` : 'enum {...}');
    case 'unknown': return join(t.name ?? '<unknown type>');
    case 'qualified': {
      const q = QUALIFIER_SPELLING[t.qualifier] ?? t.qualifier;
      // A qualified pointer: "char *const".
      if (t.target?.kind === 'pointer') return typeName(t.target, inner ? `${q} ${inner}` : q, depth + 1);
      return `${q} ${typeName(t.target, inner, depth + 1)}`;
    }
    case 'pointer': {
      const k = strip(t.target).kind;
      const wrap = t.target !== undefined && (k === 'array' || k === 'function');
      return typeName(t.target, wrap ? `(*${inner})` : `*${inner}`, depth + 1);
    }
    case 'array': return typeName(t.element, `${inner}[${t.count ?? ''}]`, depth + 1);
    case 'function': {
      let params = '';
      if (t.params) {
        params = t.params.length === 0 ? (t.variadic ? '...' : 'void')
          : t.params.map((p) => typeName(p, '', depth + 1)).join(', ') + (t.variadic ? ', ...' : '');
      }
      return typeName(t.returns, `${inner}(${params})`, depth + 1);
    }
  }
}

// --- builtin types ---------------------------------------------------------------------------

const base = (name: string, size: number, encoding: BaseEncoding): CType => ({ kind: 'base', name, size, encoding });
const typedef = (name: string, target: CType): CType => ({ kind: 'typedef', name, target });

export interface Builtins {
  /** Type names C spells with keywords ('unsigned long', 'char', ...) and the <stdint.h> names. */
  byName: Map<string, CType>;
  int: CType;
  uint: CType;
  long: CType;
  ulong: CType;
  longlong: CType;
  ulonglong: CType;
  char: CType;
  bool: CType;
  double: CType;
  float: CType;
  int8: CType; int16: CType; int32: CType; int64: CType;
  uint8: CType; uint16: CType; uint32: CType; uint64: CType;
  uint128: CType;
  sizeT: CType;
  ptrdiff: CType;
  void: CType;
}

const cache = new Map<number, Builtins>();

/** The builtin types of an x86 target: ILP32 (pointerSize 4) or LP64 (8). */
export function builtins(pointerSize: 4 | 8): Builtins {
  const hit = cache.get(pointerSize);
  if (hit) return hit;
  const char = base('char', 1, 'signed_char');
  const schar = base('signed char', 1, 'signed_char');
  const uchar = base('unsigned char', 1, 'unsigned_char');
  const short = base('short', 2, 'signed');
  const ushort = base('unsigned short', 2, 'unsigned');
  const int = base('int', 4, 'signed');
  const uint = base('unsigned int', 4, 'unsigned');
  const long = base('long', pointerSize, 'signed');
  const ulong = base('unsigned long', pointerSize, 'unsigned');
  const longlong = base('long long', 8, 'signed');
  const ulonglong = base('unsigned long long', 8, 'unsigned');
  const bool = base('_Bool', 1, 'bool');
  const float = base('float', 4, 'float');
  const double = base('double', 8, 'float');
  const longdouble = base('long double', pointerSize === 8 ? 16 : 12, 'float');
  const int128 = base('__int128', 16, 'signed');
  const uint128 = base('unsigned __int128', 16, 'unsigned');
  const i64 = pointerSize === 8 ? long : longlong;
  const u64 = pointerSize === 8 ? ulong : ulonglong;
  const b: Builtins = {
    byName: new Map(), int, uint, long, ulong, longlong, ulonglong, char, bool, double, float,
    int8: typedef('int8_t', schar), int16: typedef('int16_t', short), int32: typedef('int32_t', int),
    int64: typedef('int64_t', i64),
    uint8: typedef('uint8_t', uchar), uint16: typedef('uint16_t', ushort), uint32: typedef('uint32_t', uint),
    uint64: typedef('uint64_t', u64),
    uint128,
    sizeT: typedef('size_t', ulong),
    ptrdiff: typedef('ptrdiff_t', long),
    void: VOID,
  };
  const all: CType[] = [
    char, schar, uchar, short, ushort, int, uint, long, ulong, longlong, ulonglong, bool, float, double,
    longdouble, int128, uint128, VOID,
    b.int8, b.int16, b.int32, b.int64, b.uint8, b.uint16, b.uint32, b.uint64, b.sizeT, b.ptrdiff,
    typedef('ssize_t', long), typedef('uintptr_t', ulong), typedef('intptr_t', long),
    typedef('bool', bool),
  ];
  for (const t of all) b.byName.set((t as { name: string }).name, t);
  cache.set(pointerSize, b);
  return b;
}

/** The words a builtin type name is made of. */
export const TYPE_KEYWORDS = new Set([
  'void', 'char', 'short', 'int', 'long', 'float', 'double', 'signed', 'unsigned', '_Bool',
  '__int128', 'struct', 'union', 'enum', 'class', 'const', 'volatile', 'restrict',
]);

/**
 * The builtin type for a list of specifier keywords ('unsigned', 'long', 'int'), as C reads
 * them in any order; undefined if they don't make a type.
 */
export function builtinFromKeywords(words: string[], b: Builtins): CType | undefined {
  let signed: boolean | undefined;
  let longs = 0;
  let kind: string | undefined;
  for (const w of words) {
    if (w === 'signed' || w === 'unsigned') {
      if (signed !== undefined) return undefined;
      signed = w === 'signed';
    } else if (w === 'long') longs++;
    else if (w === 'short' || w === 'char' || w === 'int' || w === 'float' || w === 'double' || w === 'void' ||
      w === '_Bool' || w === '__int128') {
      if (kind !== undefined && !(kind === 'int' && w === 'short') && !(kind === 'short' && w === 'int')) return undefined;
      if (kind !== 'short') kind = w;
    } else return undefined;
  }
  if (longs > 2) return undefined;
  const get = (n: string) => b.byName.get(n);
  if (kind === 'void' || kind === '_Bool' || kind === 'float') return signed === undefined && !longs ? get(kind) : undefined;
  if (kind === 'double') return signed === undefined && longs <= 1 ? get(longs ? 'long double' : 'double') : undefined;
  if (kind === 'char') return longs ? undefined : get(signed === undefined ? 'char' : signed ? 'signed char' : 'unsigned char');
  if (kind === '__int128') return longs ? undefined : get(signed === false ? 'unsigned __int128' : '__int128');
  if (kind === 'short') return longs ? undefined : get(signed === false ? 'unsigned short' : 'short');
  const n = longs === 2 ? 'long long' : longs === 1 ? 'long' : 'int';
  return get(signed === false ? `unsigned ${n}` : n);
}
