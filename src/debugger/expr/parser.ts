// The lexer and a Pratt parser for C-like debugger expressions (no eval anywhere).
//
// Grammar, loosest first:  a = b   a ? b : c   ||   &&   |   ^   &   == !=   < <= > >=   << >>
// + -   * / %   then the prefix operators - + ! ~ * & (type) sizeof phys:   then the postfix
// operators a[i] a.m a->m. Primaries: integer literals (decimal, 0x hex, 0b binary, 0 octal,
// with u/l suffixes), floating literals, character literals ('a', '\n', '\x41', '\101'),
// true/false, identifiers, registers ($rax), and parentheses.
//
// Type names are resolved while parsing (a C parser must know them to tell `(t)x` from `(v)`):
// builtin keywords and <stdint.h> names, `struct/union/enum TAG`, and typedef names through the
// resolver the evaluator passes in.
import { GuestError } from '../../errors.js';
import { builtinFromKeywords, TYPE_KEYWORDS, type Builtins, type CType } from './ctypes.js';

export type BinaryOp = '*' | '/' | '%' | '+' | '-' | '<<' | '>>' | '<' | '<=' | '>' | '>=' | '==' | '!=' |
  '&' | '^' | '|' | '&&' | '||';
export type UnaryOp = '-' | '+' | '!' | '~' | '*' | '&';

export type Node =
  | { k: 'int'; value: bigint; type: CType; pos: number }
  | { k: 'float'; value: number; type: CType; pos: number }
  | { k: 'reg'; name: string; pos: number }
  | { k: 'ident'; name: string; pos: number }
  | { k: 'unary'; op: UnaryOp; operand: Node; pos: number }
  | { k: 'binary'; op: BinaryOp; left: Node; right: Node; pos: number }
  | { k: 'ternary'; cond: Node; then: Node; else: Node; pos: number }
  | { k: 'cast'; type: CType; operand: Node; pos: number }
  | { k: 'sizeof'; type?: CType; operand?: Node; pos: number }
  | { k: 'member'; object: Node; name: string; arrow: boolean; pos: number }
  | { k: 'index'; object: Node; index: Node; pos: number }
  | { k: 'phys'; operand: Node; pos: number }
  | { k: 'assign'; target: Node; value: Node; pos: number };

export interface TypeResolver {
  builtins: Builtins;
  pointerSize: 4 | 8;
  /** A typedef (or other bare) type name, or undefined when `name` is not a type here. */
  typedef(name: string): CType | undefined;
  /** `struct node`, `union u`, `enum color`: kind and tag. */
  tag(kind: 'struct' | 'union' | 'enum' | 'class', name: string): CType | undefined;
}

type TokKind = 'num' | 'float' | 'char' | 'ident' | 'reg' | 'op' | 'phys' | 'end';
interface Token {
  kind: TokKind;
  text: string;
  /** 0-based offset in the source. */
  pos: number;
  value?: bigint;
  fvalue?: number;
  suffix?: string;
  radix?: number;
}

const OPS = ['<<=', '>>=', '->', '<<', '>>', '<=', '>=', '==', '!=', '&&', '||',
  '+', '-', '*', '/', '%', '<', '>', '&', '^', '|', '!', '~', '?', ':', '(', ')', '[', ']', '.', ',', '='];

export function syntaxError(pos: number, what: string): GuestError {
  return new GuestError(`syntax error at column ${pos + 1}: ${what}`);
}

const ESCAPES: Record<string, number> = { n: 10, t: 9, r: 13, '0': 0, a: 7, b: 8, f: 12, v: 11, e: 27, '\\': 92, "'": 39, '"': 34, '?': 63 };

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) { i++; continue; }
    const start = i;
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      out.push(number(src, start));
      i = start + out[out.length - 1].text.length;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      while (i < src.length && /[A-Za-z0-9_]/.test(src[i])) i++;
      const text = src.slice(start, i);
      if (text === 'phys' && src[i] === ':') {
        out.push({ kind: 'phys', text: 'phys:', pos: start });
        i++;
      } else out.push({ kind: 'ident', text, pos: start });
      continue;
    }
    if (c === '$') {
      i++;
      while (i < src.length && /[A-Za-z0-9_]/.test(src[i])) i++;
      if (i === start + 1) throw syntaxError(start, 'a register name must follow "$"');
      out.push({ kind: 'reg', text: src.slice(start, i), pos: start });
      continue;
    }
    if (c === "'") {
      const r = charLiteral(src, start);
      out.push({ kind: 'char', text: src.slice(start, r.end), pos: start, value: r.value });
      i = r.end;
      continue;
    }
    if (c === '"') throw syntaxError(start, 'string literals are not supported');
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) throw syntaxError(start, `unexpected character "${c}"`);
    out.push({ kind: 'op', text: op, pos: start });
    i += op.length;
  }
  out.push({ kind: 'end', text: '', pos: src.length });
  return out;
}

function number(src: string, start: number): Token {
  const rest = src.slice(start);
  const hex = /^0[xX]([0-9a-fA-F]+)([uUlL]*)(?![0-9A-Za-z_.])/.exec(rest);
  if (hex) return { kind: 'num', text: hex[0], pos: start, value: BigInt('0x' + hex[1]), suffix: hex[2].toLowerCase(), radix: 16 };
  const bin = /^0[bB]([01]+)([uUlL]*)(?![0-9A-Za-z_.])/.exec(rest);
  if (bin) return { kind: 'num', text: bin[0], pos: start, value: BigInt('0b' + bin[1]), suffix: bin[2].toLowerCase(), radix: 2 };
  const flt = /^(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?=[eE]))(?:[eE][+-]?[0-9]+)?([fFlL]?)(?![0-9A-Za-z_.])/.exec(rest);
  if (flt) {
    const body = flt[0].slice(0, flt[0].length - flt[1].length);
    return { kind: 'float', text: flt[0], pos: start, fvalue: Number(body), suffix: flt[1].toLowerCase() };
  }
  const dec = /^([0-9]+)([uUlL]*)(?![0-9A-Za-z_.])/.exec(rest);
  if (dec) {
    const digits = dec[1];
    if (digits.length > 1 && digits[0] === '0') {
      if (!/^[0-7]+$/.test(digits)) throw syntaxError(start, `invalid octal number "${digits}"`);
      return { kind: 'num', text: dec[0], pos: start, value: BigInt('0o' + digits.slice(1)), suffix: dec[2].toLowerCase(), radix: 8 };
    }
    return { kind: 'num', text: dec[0], pos: start, value: BigInt(digits), suffix: dec[2].toLowerCase(), radix: 10 };
  }
  const bad = /^[0-9A-Za-z_.]+/.exec(rest)![0];
  throw syntaxError(start, `invalid number "${bad}"`);
}

function charLiteral(src: string, start: number): { value: bigint; end: number } {
  let i = start + 1;
  let value: number;
  if (src[i] === '\\') {
    const e = src[i + 1];
    if (e === undefined) throw syntaxError(start, 'unterminated character literal');
    if (e === 'x') {
      const m = /^[0-9a-fA-F]{1,2}/.exec(src.slice(i + 2));
      if (!m) throw syntaxError(i, 'bad \\x escape');
      value = parseInt(m[0], 16);
      i += 2 + m[0].length;
    } else if (/[0-7]/.test(e)) {
      const m = /^[0-7]{1,3}/.exec(src.slice(i + 1))!;
      value = parseInt(m[0], 8) & 0xff;
      i += 1 + m[0].length;
    } else if (e in ESCAPES) {
      value = ESCAPES[e];
      i += 2;
    } else throw syntaxError(i, `unknown escape "\\${e}"`);
  } else {
    if (src[i] === undefined || src[i] === "'") throw syntaxError(start, 'empty character literal');
    value = src.charCodeAt(i);
    if (value > 0xff) throw syntaxError(i, 'only 8-bit characters are supported');
    i++;
  }
  if (src[i] !== "'") throw syntaxError(start, 'unterminated character literal');
  return { value: BigInt(value), end: i + 1 };
}

/** The C type of an integer literal (C11 6.4.4.1): the first of its candidate types it fits. */
function literalType(tok: Token, b: Builtins): CType {
  const v = tok.value!;
  const s = tok.suffix ?? '';
  const u = s.includes('u');
  const longs = (s.match(/l/g) ?? []).length;
  if (s.replace(/l/g, '').length > (u ? 1 : 0) || longs > 2 || (longs === 2 && !/ll/.test(s))) {
    throw syntaxError(tok.pos, `invalid suffix "${tok.suffix}" on integer literal`);
  }
  const decimal = tok.radix === 10;
  const cands: CType[] = [];
  if (longs === 0) cands.push(...(u ? [b.uint] : decimal ? [b.int] : [b.int, b.uint]));
  if (longs <= 1) cands.push(...(u ? [b.ulong] : decimal ? [b.long] : [b.long, b.ulong]));
  cands.push(...(u ? [b.ulonglong] : decimal ? [b.longlong, b.ulonglong] : [b.longlong, b.ulonglong]));
  for (const t of cands) {
    const size = (t as { size: number }).size;
    const signed = (t as { encoding: string }).encoding === 'signed';
    const max = signed ? (1n << BigInt(size * 8 - 1)) - 1n : (1n << BigInt(size * 8)) - 1n;
    if (v <= max) return t;
  }
  throw syntaxError(tok.pos, `integer literal ${tok.text} is too large`);
}

// Binary operators: precedence (higher binds tighter).
const BINARY: Record<string, number> = {
  '||': 3, '&&': 4, '|': 5, '^': 6, '&': 7, '==': 8, '!=': 8, '<': 9, '<=': 9, '>': 9, '>=': 9,
  '<<': 10, '>>': 10, '+': 11, '-': 11, '*': 12, '/': 12, '%': 12,
};
const ASSIGN_PREC = 1;
const TERNARY_PREC = 2;

/**
 * How deep an expression's tree may be (parentheses, prefix operators, operands of operands). The
 * parser and the evaluator recurse over the tree, so a deeper one (a thousand "(" or "-", or
 * "1+1+...+1" with a thousand terms) would overflow the stack: it is a syntax error instead.
 */
export const MAX_EXPRESSION_DEPTH = 256;

class Parser {
  private i = 0;
  /** Calls of expr() and unary() in progress: the recursion the parser is in. */
  private nesting = 0;
  /** The depth of each node made (1 for a leaf). */
  private readonly depths = new WeakMap<Node, number>();
  constructor(private readonly toks: Token[], private readonly types: TypeResolver) {}

  private tooDeep(pos: number): GuestError {
    return syntaxError(pos, `the expression is nested more than ${MAX_EXPRESSION_DEPTH} deep`);
  }

  /** `n`, one level above its operands; a syntax error when that is deeper than MAX_EXPRESSION_DEPTH. */
  private node<T extends Node>(n: T, ...operands: Node[]): T {
    let d = 1;
    for (const o of operands) d = Math.max(d, (this.depths.get(o) ?? 1) + 1);
    if (d > MAX_EXPRESSION_DEPTH) throw this.tooDeep(n.pos);
    this.depths.set(n, d);
    return n;
  }

  /** Runs `f` one level deeper in the parser's own recursion. */
  private nested<T>(pos: number, f: () => T): T {
    if (++this.nesting > MAX_EXPRESSION_DEPTH) throw this.tooDeep(pos);
    try {
      return f();
    } finally {
      this.nesting--;
    }
  }

  private get tok(): Token {
    return this.toks[this.i];
  }

  private atEnd(): boolean {
    return this.tok.kind === 'end';
  }

  private peek(n = 1): Token {
    return this.toks[Math.min(this.i + n, this.toks.length - 1)];
  }

  private isOp(text: string, t = this.tok): boolean {
    return t.kind === 'op' && t.text === text;
  }

  private expect(text: string): Token {
    if (!this.isOp(text)) throw this.unexpected(`expected "${text}"`);
    return this.toks[this.i++];
  }

  private unexpected(expected?: string): GuestError {
    const t = this.tok;
    const what = t.kind === 'end' ? 'unexpected end of expression' : `unexpected "${t.text}"`;
    return syntaxError(t.pos, expected ? `${what}, ${expected}` : what);
  }

  parseAll(): Node {
    if (this.tok.kind === 'end') throw syntaxError(0, 'empty expression');
    const n = this.expr(0);
    if (!this.atEnd()) throw this.unexpected();
    return n;
  }

  expr(minPrec: number): Node {
    return this.nested(this.tok.pos, () => this.exprIn(minPrec));
  }

  private exprIn(minPrec: number): Node {
    let left = this.unary();
    for (;;) {
      const t = this.tok;
      if (t.kind !== 'op') break;
      if (t.text === '=' && minPrec <= ASSIGN_PREC) {
        this.i++;
        const value = this.expr(ASSIGN_PREC);
        left = this.node({ k: 'assign', target: left, value, pos: t.pos }, left, value);
        continue;
      }
      if (t.text === '?' && minPrec <= TERNARY_PREC) {
        this.i++;
        const then = this.expr(0);
        this.expect(':');
        const otherwise = this.expr(TERNARY_PREC);
        left = this.node({ k: 'ternary', cond: left, then, else: otherwise, pos: t.pos }, left, then, otherwise);
        continue;
      }
      const prec = BINARY[t.text];
      if (prec === undefined || prec < minPrec) break;
      this.i++;
      const right = this.expr(prec + 1);
      left = this.node({ k: 'binary', op: t.text as BinaryOp, left, right, pos: t.pos }, left, right);
    }
    return left;
  }

  private unary(): Node {
    return this.nested(this.tok.pos, () => this.unaryIn());
  }

  private unaryIn(): Node {
    const t = this.tok;
    if (t.kind === 'op' && ['-', '+', '!', '~', '*', '&'].includes(t.text)) {
      this.i++;
      const operand = this.unary();
      return this.node({ k: 'unary', op: t.text as UnaryOp, operand, pos: t.pos }, operand);
    }
    if (t.kind === 'phys') {
      this.i++;
      const operand = this.unary();
      return this.node({ k: 'phys', operand, pos: t.pos }, operand);
    }
    if (t.kind === 'ident' && t.text === 'sizeof') {
      this.i++;
      if (this.isOp('(') && this.startsType(this.peek())) {
        this.i++;
        const type = this.typeName();
        this.expect(')');
        return { k: 'sizeof', type, pos: t.pos };
      }
      const operand = this.unary();
      return this.node({ k: 'sizeof', operand, pos: t.pos }, operand);
    }
    if (this.isOp('(') && this.startsType(this.peek())) {
      this.i++;
      const type = this.typeName();
      this.expect(')');
      const operand = this.unary();
      return this.node({ k: 'cast', type, operand, pos: t.pos }, operand);
    }
    return this.postfix(this.primary());
  }

  private postfix(n: Node): Node {
    for (;;) {
      const t = this.tok;
      if (this.isOp('[')) {
        this.i++;
        const index = this.expr(0);
        this.expect(']');
        n = this.node({ k: 'index', object: n, index, pos: t.pos }, n, index);
      } else if (this.isOp('.') || this.isOp('->')) {
        this.i++;
        const name = this.tok;
        if (name.kind !== 'ident') throw this.unexpected('expected a member name');
        this.i++;
        n = this.node({ k: 'member', object: n, name: name.text, arrow: t.text === '->', pos: t.pos }, n);
      } else if (this.isOp('(')) {
        throw syntaxError(t.pos, 'function calls are not supported');
      } else return n;
    }
  }

  private primary(): Node {
    const t = this.tok;
    switch (t.kind) {
      case 'num':
        this.i++;
        return { k: 'int', value: t.value!, type: literalType(t, this.types.builtins), pos: t.pos };
      case 'char':
        this.i++;
        return { k: 'int', value: t.value!, type: this.types.builtins.char, pos: t.pos };
      case 'float': {
        this.i++;
        const b = this.types.builtins;
        if (t.suffix === 'l') return { k: 'float', value: t.fvalue!, type: b.byName.get('long double')!, pos: t.pos };
        return { k: 'float', value: t.fvalue!, type: t.suffix === 'f' ? b.float : b.double, pos: t.pos };
      }
      case 'reg':
        this.i++;
        return { k: 'reg', name: t.text.slice(1), pos: t.pos };
      case 'ident':
        if (t.text === 'true' || t.text === 'false') {
          this.i++;
          return { k: 'int', value: t.text === 'true' ? 1n : 0n, type: this.types.builtins.bool, pos: t.pos };
        }
        if (TYPE_KEYWORDS.has(t.text)) throw this.unexpected('a type name is only allowed in a cast or sizeof');
        this.i++;
        return { k: 'ident', name: t.text, pos: t.pos };
      case 'op':
        if (t.text === '(') {
          this.i++;
          const n = this.expr(0);
          this.expect(')');
          return n;
        }
        throw this.unexpected();
      default:
        throw this.unexpected();
    }
  }

  // --- type names ----------------------------------------------------------------------------

  private startsType(t: Token): boolean {
    if (t.kind !== 'ident') return false;
    if (TYPE_KEYWORDS.has(t.text)) return true;
    return this.types.typedef(t.text) !== undefined;
  }

  /** specifier-qualifier-list abstract-declarator? */
  private typeName(): CType {
    const start = this.tok;
    const words: string[] = [];
    const quals: string[] = [];
    let named: CType | undefined;
    for (;;) {
      const t = this.tok;
      if (t.kind !== 'ident') break;
      if (t.text === 'const' || t.text === 'volatile' || t.text === 'restrict') {
        quals.push(t.text);
        this.i++;
      } else if (t.text === 'struct' || t.text === 'union' || t.text === 'enum' || t.text === 'class') {
        if (named || words.length) throw this.unexpected();
        this.i++;
        const tag = this.tok;
        if (tag.kind !== 'ident') throw this.unexpected(`expected a ${t.text} tag`);
        this.i++;
        named = this.types.tag(t.text, tag.text);
        if (!named) throw new GuestError(`no ${t.text} type named "${tag.text}"`);
      } else if (TYPE_KEYWORDS.has(t.text)) {
        if (named) throw this.unexpected();
        words.push(t.text);
        this.i++;
      } else if (!named && !words.length) {
        named = this.types.typedef(t.text);
        if (!named) throw syntaxError(t.pos, `"${t.text}" is not a type`);
        this.i++;
      } else break;
    }
    let type = named;
    if (!type) {
      if (!words.length) throw syntaxError(start.pos, 'expected a type name');
      type = builtinFromKeywords(words, this.types.builtins);
      if (!type) throw syntaxError(start.pos, `"${words.join(' ')}" is not a type`);
    }
    for (const q of quals) type = { kind: 'qualified', qualifier: q, target: type };
    const declared = this.abstractDeclarator(type);
    // "int ***...*" and "const const ... int" nest too: the type's own levels count.
    let levels = 0;
    for (let t: CType | undefined = declared; t && t !== type; levels++) {
      if (levels >= MAX_EXPRESSION_DEPTH) throw this.tooDeep(start.pos);
      t = t.kind === 'pointer' || t.kind === 'qualified' ? t.target : t.kind === 'array' ? t.element : undefined;
    }
    if (quals.length > MAX_EXPRESSION_DEPTH) throw this.tooDeep(start.pos);
    return declared;
  }

  private abstractDeclarator(type: CType): CType {
    const ptr = (target: CType): CType => ({ kind: 'pointer', size: this.types.pointerSize, target });
    while (this.isOp('*')) {
      this.i++;
      type = ptr(type);
      while (this.tok.kind === 'ident' && ['const', 'volatile', 'restrict'].includes(this.tok.text)) {
        type = { kind: 'qualified', qualifier: this.tok.text, target: type };
        this.i++;
      }
    }
    // (*) followed by () or [N]: a pointer to a function or to an array.
    if (this.isOp('(') && this.isOp('*', this.peek())) {
      this.i += 2;
      let stars = 1;
      while (this.isOp('*')) { this.i++; stars++; }
      this.expect(')');
      let inner: CType;
      if (this.isOp('(')) {
        this.i++;
        let depth = 1;
        while (depth > 0) {
          if (this.tok.kind === 'end') throw this.unexpected('expected ")"');
          if (this.isOp('(')) depth++;
          if (this.isOp(')')) depth--;
          this.i++;
        }
        inner = { kind: 'function' };
      } else inner = this.arraySuffix(type);
      for (let k = 0; k < stars; k++) inner = ptr(inner);
      return inner;
    }
    return this.arraySuffix(type);
  }

  private arraySuffix(element: CType): CType {
    const counts: number[] = [];
    while (this.isOp('[')) {
      this.i++;
      const t = this.tok;
      if (t.kind !== 'num') throw this.unexpected('expected an array size');
      this.i++;
      this.expect(']');
      counts.push(Number(t.value!));
    }
    for (let k = counts.length - 1; k >= 0; k--) element = { kind: 'array', element, count: counts[k] };
    return element;
  }
}

/** Parses one expression; throws a GuestError "syntax error at column N: ..." on bad input. */
export function parse(src: string, types: TypeResolver): Node {
  return new Parser(tokenize(src), types).parseAll();
}
