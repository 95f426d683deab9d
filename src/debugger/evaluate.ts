// Expression evaluation for the debug console, watches, hovers and setVariable: C expressions
// over the guest's registers, memory (linear and physical), ELF symbols and DWARF variables.
//
// The evaluator core knows nothing of KVM: everything it reads and writes goes through an
// EvalContext. machineContext() builds one over a stopped Machine.
//
// What names mean, first match wins:
//   `x`        a DWARF variable (context.variable), an ELF symbol (context.symbol), a constant
//              (context.constant, e.g. an enumerator), then a register name (rax, eax, al, cr3, ...).
//   `$x`       a register only: rax..r15 and their 32/16/8-bit parts (eax ax al ah, r8d r8w r8b,
//              sil dil spl bpl), rip eip ip, rflags eflags flags, cs ds es fs gs ss tr ldtr,
//              fs_base gs_base, cr0 cr2 cr3 cr4 cr8, efer, dr0-dr3 dr6 dr7, xmm0-15, mxcsr;
//              aliases $pc (rip) and $fp (rbp). `sp` is the 16-bit register, as x86 names it.
//   ELF symbol without DWARF type: an object of unknown type at the symbol's address. Used as a
//              value it is its address, a `void *` (like an array decays to a pointer): `hits`
//              shows `(void *) 0x100080 <hits>`, `*(uint32_t *)hits` reads it, `&hits` is the
//              same address.
//   `phys:E`   the unsigned 64-bit value (uint64_t) at guest-physical address E. A prefix operator
//              binding like unary minus: `phys:0x1000 + 8` adds 8 to the value read, `phys:(a+8)`
//              reads at a+8. Casting it to a smaller integer type reads just that many bytes at the
//              same physical address (x86 is little-endian, so the value is the same as the
//              truncated quadword), and the result is still assignable: `(uint8_t)phys:0x7c00`
//              is the byte at 0x7C00. Its address cannot be taken (pointers are linear).
//
// Memory is addressed linearly through the guest's page tables: `*(uint32_t *)0x1000`. Types are
// the C builtins (char .. long long, unsigned ..., _Bool, float, double, uint8_t .. uint64_t,
// int8_t .. int64_t, size_t, uintptr_t, ...) plus the context's typeByName: it is asked for
// typedef names as written ('node_t') and for tags with their keyword ('struct node').
// Integer arithmetic follows C (promotions, usual arithmetic conversions, wrap-around at the
// type's width) for an ILP32 or LP64 x86 target as the context's pointerSize says.
//
// Rendering is gdb-like: integers in decimal (or hex with {hex: true}), chars as `65 'A'`, _Bool
// as true/false, enums by name, pointers as `(struct node *) 0x1000` (with `<symbol+off>` and,
// for char pointers, the string), arrays and structs as a `{...}` summary with children.
import { GuestError, hex } from '../errors.js';
import type { Machine } from '../vmm/machine.js';
import { cpuMode } from '../x86/modes.js';
import { dwarfRegisterName } from '../x86/registers.js';
import {
  builtins, strip, sizeOf, strideOf, typeName, isFloat, isInteger, isPointer, isSigned, isCharType, isVoid,
  isAggregate, type Builtins, type CType, type CMember, type Location, type LocationPiece,
} from './expr/ctypes.js';
import { parse, type Node, type TypeResolver } from './expr/parser.js';

export type { CType, CMember, Location, LocationPiece } from './expr/ctypes.js';
export { typeName, sizeOf } from './expr/ctypes.js';

/** Everything the evaluator reads and writes, injected. */
export interface EvalContext {
  /** 4 for 16/32-bit code (ILP32), 8 for 64-bit code (LP64). */
  pointerSize: 4 | 8;
  /** Guest memory by linear address; throws (a GuestError saying why) if unreadable. */
  readMemory(linear: bigint, len: number): Buffer;
  writeMemory?(linear: bigint, data: Buffer): void;
  /** Guest-physical memory; throws if outside RAM. */
  readPhysical(address: bigint, len: number): Buffer;
  writePhysical?(address: bigint, data: Buffer): void;
  /**
   * A full register by lower-case name: rax..r15, rip, rflags, cs ds es fs gs ss tr ldtr,
   * fs_base, gs_base, cr0 cr2 cr3 cr4 cr8, efer, dr0-3 dr6 dr7, xmm0-15 (128-bit), mxcsr. The
   * evaluator derives eax/ax/al/ah and the other parts itself. Undefined if unknown.
   */
  register(name: string): bigint | undefined;
  setRegister?(name: string, value: bigint): void;
  /** An ELF symbol's address. */
  symbol(name: string): bigint | undefined;
  /** "name+0x12" for an address, shown after pointers. */
  symbolize?(address: bigint): string | undefined;
  /** A DWARF variable visible at the current location. */
  variable?(name: string): { type: CType; location: Location } | undefined;
  /** A named constant (an enumerator, say). */
  constant?(name: string): { type: CType; value: bigint } | undefined;
  /** A type by name: typedef names as written, tags as 'struct node', 'union u', 'enum e'. */
  typeByName?(name: string): CType | undefined;
}

export interface EvalOptions {
  /** Integers (and pointers in summaries) in hex. */
  hex?: boolean;
  /** Whether `a = b` may write (the debug console); watches and hovers leave it off. */
  allowAssign?: boolean;
  /** Children shown for an array (default 100). */
  maxChildren?: number;
}

export interface EvalResult {
  /** gdb-like rendering: '42', "65 'A'", '(struct node *) 0x1000', '{val = 1, next = 0x0}'. */
  value: string;
  /** The C type: 'int', 'struct node *', 'uint32_t [4]'. */
  type: string;
  /** For children: member name, '[3]', or '*p'. */
  name?: string;
  /** For children: an expression that evaluates to this child (for setValue and watches). */
  evaluateName?: string;
  /** Objects in linear memory: their address; pointers: the address they hold. '0x1000'. */
  memoryReference?: string;
  /** Objects in linear memory: their address. */
  address?: bigint;
  /** sizeof the value's type, when known. */
  size?: number;
  /** How many children `children` returns (0 when none). */
  childCount: number;
  /** Children are array elements (DAP indexedVariables) rather than members. */
  indexed?: boolean;
  /** Struct members, array elements (at most maxChildren), or the pointee of a pointer. */
  children?: () => EvalResult[];
}

/** Evaluates an expression; throws a GuestError for bad input or unreadable memory. */
export function evaluate(expr: string, ctx: EvalContext, opts: EvalOptions = {}): EvalResult {
  const ev = new Evaluator(ctx, opts);
  const v = ev.eval(ev.parse(expr));
  return ev.result(v, expr.trim(), true);
}

/**
 * Assigns `newValue` (an expression: '42', '0x10', "'a'", 'RED', 'other_var') to the lvalue
 * `expr` (memory, physical memory, a register, a bit field), converting as C assignment does.
 * Returns the new value, read back.
 */
export function setValue(expr: string, newValue: string, ctx: EvalContext, opts: EvalOptions = {}): EvalResult {
  const ev = new Evaluator(ctx, { ...opts, allowAssign: true });
  const target = ev.eval(ev.parse(expr));
  const value = ev.evalFor(ev.parse(newValue), target.type);
  ev.assign(target, value);
  return ev.result(ev.eval(ev.parse(expr)), expr.trim(), true);
}

/** The address an expression designates, for x/ and the like: a pointer's value, an integer, or where an array, function or untyped symbol sits. */
export function evaluateAddress(expr: string, ctx: EvalContext): bigint {
  const ev = new Evaluator(ctx, {});
  return ev.addressOf(ev.eval(ev.parse(expr)));
}

/** An integer-valued expression (MSR numbers, counts). */
export function evaluateInteger(expr: string, ctx: EvalContext): bigint {
  const ev = new Evaluator(ctx, {});
  const v = ev.decay(ev.eval(ev.parse(expr)));
  if (!isInteger(v.type) && !isPointer(v.type)) throw new GuestError(`"${expr}" is not an integer (it is ${typeName(v.type)})`);
  return ev.intOf(v);
}

/** Whether `text` parses as an expression (nothing is evaluated). */
export function isExpression(text: string, ctx: EvalContext): boolean {
  try {
    parse(text, resolver(ctx));
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Values

type Place =
  | { kind: 'memory'; space: 'linear' | 'physical'; address: bigint; bitOffset?: number; bitSize?: number }
  | { kind: 'register'; name: string };

interface Value {
  type: CType;
  /** Where the value lives: an lvalue. Absent for computed values. */
  place?: Place;
  /** The contents when known (always for computed values). */
  bytes?: Buffer;
  optimizedOut?: boolean;
  /** The quadword phys:ADDR yields: a cast to a smaller integer reads less at the same address. */
  physWord?: boolean;
}

const NO_DEBUG_INFO: CType = { kind: 'unknown', name: '<no debug info>' };
const MAX_READ = 1 << 20;
const MAX_STRING = 200;
const SUMMARY_ELEMENTS = 10;
const SUMMARY_CHARS = 160;

function le(v: bigint, size: number): Buffer {
  const b = Buffer.alloc(size);
  let x = BigInt.asUintN(size * 8, v);
  for (let i = 0; i < size; i++, x >>= 8n) b[i] = Number(x & 0xffn);
  return b;
}

function fromLe(b: Buffer, signed: boolean): bigint {
  let x = 0n;
  for (let i = b.length - 1; i >= 0; i--) x = (x << 8n) | BigInt(b[i]);
  return signed && b.length ? BigInt.asIntN(b.length * 8, x) : x;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// --- x87 80-bit floats -------------------------------------------------------------------------

function float80ToNumber(b: Buffer): number {
  const mant = b.readBigUInt64LE(0);
  const se = b.readUInt16LE(8);
  const sign = se & 0x8000 ? -1 : 1;
  const exp = se & 0x7fff;
  if (exp === 0 && mant === 0n) return sign * 0;
  if (exp === 0x7fff) return (mant << 1n) & ((1n << 64n) - 1n) ? NaN : sign * Infinity;
  return sign * Number(mant) * 2 ** (exp - 16383 - 63);
}

function numberToFloat80(x: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  if (Number.isNaN(x)) {
    b.writeBigUInt64LE(0xc000000000000000n, 0);
    b.writeUInt16LE(0x7fff, 8);
    return b;
  }
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  x = Math.abs(x);
  if (x === Infinity) {
    b.writeBigUInt64LE(1n << 63n, 0);
    b.writeUInt16LE(sign | 0x7fff, 8);
    return b;
  }
  if (x === 0) {
    b.writeUInt16LE(sign, 8);
    return b;
  }
  let e = Math.floor(Math.log2(x));
  if (2 ** e > x) e--;
  if (2 ** (e + 1) <= x) e++;
  // x = m * 2^(e-63) with m in [2^63, 2^64): a double's 53 bits fit exactly.
  const m = BigInt(x / 2 ** (e - 52)) << 11n;
  b.writeBigUInt64LE(m, 0);
  b.writeUInt16LE(sign | (e + 16383), 8);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Registers

interface RegInfo {
  /** The full register it lives in (itself for full registers). */
  parent: string;
  shift: number;
  bits: number;
  type: CType;
}

const regTables = new Map<number, Map<string, RegInfo>>();

function registerTable(b: Builtins, ps: 4 | 8): Map<string, RegInfo> {
  const hit = regTables.get(ps);
  if (hit) return hit;
  const t = new Map<string, RegInfo>();
  const ptr = (size: number, target: CType | undefined): CType => ({ kind: 'pointer', size, target });
  const code = (size: number) => ptr(size, { kind: 'function' });
  const add = (name: string, parent: string, shift: number, bits: number, type: CType) => t.set(name, { parent, shift, bits, type });
  for (const l of ['a', 'b', 'c', 'd']) {
    const full = `r${l}x`;
    add(full, full, 0, 64, b.int64);
    add(`e${l}x`, full, 0, 32, b.int32);
    add(`${l}x`, full, 0, 16, b.int16);
    add(`${l}l`, full, 0, 8, b.int8);
    add(`${l}h`, full, 8, 8, b.int8);
  }
  for (const n of ['si', 'di', 'sp', 'bp']) {
    const full = `r${n}`;
    const stack = n === 'sp' || n === 'bp';
    add(full, full, 0, 64, stack ? ptr(8, VOID_T) : b.int64);
    add(`e${n}`, full, 0, 32, stack ? ptr(4, VOID_T) : b.int32);
    add(n, full, 0, 16, stack ? b.uint16 : b.int16);
    add(`${n}l`, full, 0, 8, b.int8);
  }
  for (let i = 8; i < 16; i++) {
    const full = `r${i}`;
    add(full, full, 0, 64, b.int64);
    add(`r${i}d`, full, 0, 32, b.int32);
    add(`r${i}w`, full, 0, 16, b.int16);
    add(`r${i}b`, full, 0, 8, b.int8);
    add(`r${i}l`, full, 0, 8, b.int8);
  }
  add('rip', 'rip', 0, 64, code(8));
  add('eip', 'rip', 0, 32, code(4));
  add('ip', 'rip', 0, 16, b.uint16);
  add('pc', 'rip', 0, 64, code(8));
  add('fp', 'rbp', 0, 64, ptr(8, VOID_T));
  add('rflags', 'rflags', 0, 64, b.uint64);
  add('eflags', 'rflags', 0, 32, b.uint32);
  add('flags', 'rflags', 0, 16, b.uint16);
  for (const s of ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldtr']) add(s, s, 0, 16, b.uint16);
  for (const r of ['fs_base', 'gs_base', 'cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer', 'dr0', 'dr1', 'dr2', 'dr3', 'dr6', 'dr7']) {
    add(r, r, 0, 64, b.uint64);
  }
  for (let i = 0; i < 16; i++) add(`xmm${i}`, `xmm${i}`, 0, 128, b.uint128);
  add('mxcsr', 'mxcsr', 0, 32, b.uint32);
  regTables.set(ps, t);
  return t;
}

const VOID_T: CType = { kind: 'base', name: 'void', size: 0, encoding: 'unsigned' };

function resolver(ctx: EvalContext): TypeResolver {
  const b = builtins(ctx.pointerSize);
  return {
    builtins: b,
    pointerSize: ctx.pointerSize,
    typedef(name) {
      // A variable of the same name hides a typedef, as in C.
      const own = ctx.typeByName?.(name);
      if (own) return ctx.variable?.(name) ? undefined : own;
      return b.byName.get(name);
    },
    tag(kind, name) {
      const t = ctx.typeByName?.(`${kind} ${name}`);
      if (t) return t;
      if (kind === 'struct') return ctx.typeByName?.(`class ${name}`);
      return undefined;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The evaluator

class Evaluator {
  readonly b: Builtins;
  private readonly regs: Map<string, RegInfo>;
  private readonly types: TypeResolver;
  /** Enumerators of an assignment target's type, visible to the right-hand side. */
  private scope: Map<string, bigint> | undefined;
  private scopeType: CType | undefined;

  constructor(readonly ctx: EvalContext, readonly opts: EvalOptions) {
    this.b = builtins(ctx.pointerSize);
    this.regs = registerTable(this.b, ctx.pointerSize);
    this.types = resolver(ctx);
  }

  parse(expr: string): Node {
    return parse(expr, this.types);
  }

  // --- reading and writing -------------------------------------------------------------------

  private readMem(space: 'linear' | 'physical', address: bigint, len: number): Buffer {
    if (len > MAX_READ) throw new GuestError(`${len} bytes is too much to read at once (at most ${MAX_READ})`);
    if (len === 0) return Buffer.alloc(0);
    address = BigInt.asUintN(64, address);
    try {
      const b = space === 'linear' ? this.ctx.readMemory(address, len) : this.ctx.readPhysical(address, len);
      if (b.length < len) throw new GuestError('short read');
      return b;
    } catch (e) {
      const where = space === 'linear' ? hex(address) : `physical ${hex(address)}`;
      throw new GuestError(`cannot read memory at ${where}: ${message(e)}`);
    }
  }

  private writeMem(space: 'linear' | 'physical', address: bigint, data: Buffer): void {
    address = BigInt.asUintN(64, address);
    const w = space === 'linear' ? this.ctx.writeMemory : this.ctx.writePhysical;
    if (!w) throw new GuestError(`${space === 'linear' ? 'memory' : 'physical memory'} cannot be written here`);
    try {
      w.call(this.ctx, address, data);
    } catch (e) {
      throw new GuestError(`cannot write memory at ${space === 'linear' ? '' : 'physical '}${hex(address)}: ${message(e)}`);
    }
  }

  /** A register (full or part) as an unsigned value of its width. */
  readRegister(name: string): { value: bigint; bits: number } {
    const info = this.regs.get(name);
    if (!info) {
      const v = this.ctx.register(name);
      if (v === undefined) throw new GuestError(`no register named "$${name}"`);
      return { value: BigInt.asUintN(64, v), bits: 64 };
    }
    const full = this.ctx.register(info.parent);
    if (full === undefined) throw new GuestError(`register $${name} is not available here`);
    return { value: (full >> BigInt(info.shift)) & ((1n << BigInt(info.bits)) - 1n), bits: info.bits };
  }

  private writeRegister(name: string, value: bigint): void {
    if (!this.ctx.setRegister) throw new GuestError('registers cannot be changed here');
    const info = this.regs.get(name) ?? { parent: name, shift: 0, bits: 64 };
    const mask = ((1n << BigInt(info.bits)) - 1n) << BigInt(info.shift);
    let full = BigInt.asUintN(64, value);
    if (info.parent !== name) {
      const old = this.ctx.register(info.parent);
      if (old === undefined) throw new GuestError(`register $${name} is not available here`);
      full = (old & ~mask) | ((BigInt.asUintN(info.bits, value) << BigInt(info.shift)) & mask);
    } else full = BigInt.asUintN(info.bits, value);
    try {
      this.ctx.setRegister(info.parent, full);
    } catch (e) {
      throw new GuestError(`cannot set $${name}: ${message(e)}`);
    }
  }

  /** The value's bytes (sizeof its type). */
  bytesOf(v: Value): Buffer {
    if (v.optimizedOut) throw new GuestError('value has been optimized out');
    if (v.bytes) return v.bytes;
    const size = sizeOf(v.type);
    if (size === undefined) throw new GuestError(`the size of ${typeName(v.type)} is not known`);
    const p = v.place;
    if (!p) throw new GuestError('value has no contents');
    if (p.kind === 'register') {
      const r = this.readRegister(p.name);
      const all = le(r.value, Math.max(1, r.bits / 8));
      const out = Buffer.alloc(size);
      all.copy(out, 0, 0, Math.min(size, all.length));
      return (v.bytes = out);
    }
    if (p.bitSize !== undefined) return (v.bytes = le(this.intOf(v), size));
    return (v.bytes = this.readMem(p.space, p.address, size));
  }

  /** An integer, enum, bool or pointer value (sign-extended per its type). */
  intOf(v: Value): bigint {
    const t = strip(v.type);
    const p = v.place;
    if (p?.kind === 'memory' && p.bitSize !== undefined && !v.bytes) {
      const off = p.bitOffset ?? 0;
      const raw = fromLe(this.readMem(p.space, p.address, Math.ceil((off + p.bitSize) / 8)), false);
      const x = (raw >> BigInt(off)) & ((1n << BigInt(p.bitSize)) - 1n);
      return isSigned(t) ? BigInt.asIntN(p.bitSize, x) : x;
    }
    if (t.kind === 'base' && t.encoding === 'float') return BigInt(Math.trunc(this.floatOf(v)));
    return fromLe(this.bytesOf(v), isSigned(t) && t.kind !== 'pointer');
  }

  floatOf(v: Value): number {
    const t = strip(v.type);
    if (!(t.kind === 'base' && t.encoding === 'float')) return Number(this.intOf(v));
    const b = this.bytesOf(v);
    if (t.size === 4) return b.readFloatLE(0);
    if (t.size === 8) return b.readDoubleLE(0);
    if (t.size >= 10) return float80ToNumber(b);
    throw new GuestError(`cannot read a ${t.size}-byte floating-point value`);
  }

  // --- making values -------------------------------------------------------------------------

  intValue(type: CType, value: bigint): Value {
    const t = strip(type);
    if (t.kind === 'base' && t.encoding === 'bool') value = value ? 1n : 0n;
    return { type, bytes: le(value, sizeOf(type) ?? 8) };
  }

  floatValue(type: CType, value: number): Value {
    const size = sizeOf(type) ?? 8;
    const b = Buffer.alloc(size);
    if (size === 4) b.writeFloatLE(value);
    else if (size === 8) b.writeDoubleLE(value);
    else return { type, bytes: numberToFloat80(value, size) };
    return { type, bytes: b };
  }

  private intType(size: number, signed: boolean): CType {
    const b = this.b;
    if (size <= 4) return signed ? b.int : b.uint;
    if (size <= 8) {
      if (this.ctx.pointerSize === 8) return signed ? b.long : b.ulong;
      return signed ? b.longlong : b.ulonglong;
    }
    return signed ? b.byName.get('__int128')! : b.uint128;
  }

  /** Integer promotion (C11 6.3.1.1). */
  private promote(type: CType): CType {
    const t = strip(type);
    if (t.kind === 'enum') return this.intType(Math.max(4, t.size), isSigned(t) || t.size < 4);
    if (t.kind === 'base' && t.encoding !== 'float') {
      if (t.size < 4) return this.b.int;
      return t;
    }
    return t;
  }

  /** The common type of two arithmetic operands (C11 6.3.1.8). */
  private common(a: CType, b: CType): CType {
    if (isFloat(a) || isFloat(b)) {
      const sa = isFloat(a) ? sizeOf(a)! : 0, sb = isFloat(b) ? sizeOf(b)! : 0;
      return sa >= sb ? strip(a) : strip(b);
    }
    const pa = this.promote(a), pb = this.promote(b);
    const za = sizeOf(pa)!, zb = sizeOf(pb)!;
    if (za !== zb) return za > zb ? pa : pb;
    const ua = !isSigned(pa), ub = !isSigned(pb);
    if (ua === ub) return pa;
    return ua ? pa : pb;
  }

  /** Arrays, functions and untyped symbols used as values become pointers. */
  decay(v: Value): Value {
    const t = strip(v.type);
    if (t.kind === 'array' || t.kind === 'function' || t === NO_DEBUG_INFO) {
      const p = v.place;
      if (p?.kind !== 'memory' || p.space !== 'linear') {
        if (t.kind === 'array') throw new GuestError('the array is not in memory: it has no address');
        throw new GuestError(`a value of type ${typeName(v.type)} is not in memory`);
      }
      const target = t.kind === 'array' ? t.element : t.kind === 'function' ? v.type : undefined;
      return this.intValue({ kind: 'pointer', size: this.ctx.pointerSize, target }, p.address);
    }
    return v;
  }

  addressOf(v: Value): bigint {
    const d = this.decay(v);
    if (isPointer(d.type) || isInteger(d.type)) return BigInt.asUintN(64, this.intOf(d));
    throw new GuestError(`a value of type ${typeName(v.type)} is not an address`);
  }

  /** Converts to `to` as a C cast (or assignment) does. */
  convert(v: Value, to: CType): Value {
    const t = strip(to);
    if (isVoid(t)) return { type: to, bytes: Buffer.alloc(0) };
    const from = strip(v.type);
    if (t.kind === 'struct' || t.kind === 'union' || t.kind === 'class' || t.kind === 'array') {
      if (from.kind === t.kind && sizeOf(from) === sizeOf(t) && (from as { name?: string }).name === (t as { name?: string }).name) {
        return { ...v, type: to };
      }
      throw new GuestError(`cannot convert ${typeName(v.type)} to ${typeName(to)}`);
    }
    if (t.kind === 'function' || t.kind === 'unknown') throw new GuestError(`cannot convert to ${typeName(to)}`);
    const d = this.decay(v);
    const ds = strip(d.type);
    if (!(ds.kind === 'base' || ds.kind === 'enum' || ds.kind === 'pointer')) {
      throw new GuestError(`cannot convert ${typeName(v.type)} to ${typeName(to)}`);
    }
    if (isVoid(ds)) throw new GuestError(`cannot convert a void value to ${typeName(to)}`);
    if (t.kind === 'base' && t.encoding === 'float') return this.floatValue(to, isFloat(ds) ? this.floatOf(d) : Number(this.intOf(d)));
    if (isFloat(ds)) {
      if (t.kind === 'pointer') throw new GuestError(`cannot convert ${typeName(d.type)} to ${typeName(to)}`);
      const f = this.floatOf(d);
      if (!Number.isFinite(f)) throw new GuestError(`cannot convert ${f} to ${typeName(to)}`);
      if (t.kind === 'base' && t.encoding === 'bool') return this.intValue(to, f !== 0 ? 1n : 0n);
      return this.intValue(to, BigInt(Math.trunc(f)));
    }
    return this.intValue(to, this.intOf(d));
  }

  // --- names ---------------------------------------------------------------------------------

  private variableValue(name: string, type: CType, loc: Location): Value {
    switch (loc.kind) {
      case 'memory': return { type, place: { kind: 'memory', space: 'linear', address: loc.address } };
      case 'register': {
        const reg = dwarfRegisterName(loc.reg, this.ctx.pointerSize === 8 ? 64 : 32);
        if (!this.regs.has(reg)) throw new GuestError(`"${name}" is in DWARF register ${loc.reg}, which kvmdbg cannot read`);
        return { type, place: { kind: 'register', name: reg } };
      }
      case 'value': return { type, bytes: le(loc.value, sizeOf(type) ?? 8) };
      case 'bytes': {
        const size = sizeOf(type) ?? loc.bytes.length;
        const b = Buffer.alloc(size);
        loc.bytes.copy(b, 0, 0, Math.min(size, loc.bytes.length));
        return { type, bytes: b };
      }
      case 'pieces': return { type, bytes: this.pieces(name, type, loc.pieces) };
      case 'optimized-out': return { type, optimizedOut: true };
    }
  }

  /**
   * DW_OP_piece / DW_OP_bit_piece composites: each piece's bits (sizeBits of them, after
   * offsetBits) from its own location, lowest first. Optimized-out pieces read as zero.
   */
  private pieces(name: string, type: CType, pieces: LocationPiece[]): Buffer {
    let acc = 0n;
    let at = 0;
    for (const piece of pieces) {
      const bits = piece.sizeBits;
      const skip = piece.offsetBits ?? 0;
      const loc = piece.location;
      if (loc.kind === 'pieces') throw new GuestError(`"${name}" has nested pieces kvmdbg cannot read`);
      if (loc.kind !== 'optimized-out') {
        const len = Math.ceil((skip + bits) / 8);
        const holder = { kind: 'array', element: this.b.uint8, count: len } as CType;
        const raw = fromLe(this.bytesOf(this.variableValue(name, holder, loc)), false);
        acc |= ((raw >> BigInt(skip)) & ((1n << BigInt(bits)) - 1n)) << BigInt(at);
      }
      at += bits;
    }
    const size = sizeOf(type) ?? Math.ceil(at / 8);
    return le(acc, size);
  }

  private identifier(name: string, pos: number): Value {
    const enumerator = this.scope?.get(name);
    if (enumerator !== undefined) return this.intValue(this.scopeType!, enumerator);
    const v = this.ctx.variable?.(name);
    if (v) return this.variableValue(name, v.type, v.location);
    const s = this.ctx.symbol(name);
    if (s !== undefined) return { type: NO_DEBUG_INFO, place: { kind: 'memory', space: 'linear', address: s } };
    const c = this.ctx.constant?.(name);
    if (c) return this.intValue(c.type, c.value);
    if (this.regs.has(name)) return this.register(name, pos);
    throw new GuestError(`no symbol "${name}" in the current context`);
  }

  private register(name: string, pos: number): Value {
    const info = this.regs.get(name);
    if (info) {
      this.readRegister(name);
      return { type: info.type, place: { kind: 'register', name } };
    }
    if (this.ctx.register(name) === undefined) throw new GuestError(`no register named "$${name}" (column ${pos + 1})`);
    return { type: this.b.uint64, place: { kind: 'register', name } };
  }

  // --- evaluation ----------------------------------------------------------------------------

  eval(n: Node): Value {
    switch (n.k) {
      case 'int': return this.intValue(n.type, n.value);
      case 'float': return this.floatValue(n.type, n.value);
      case 'reg': return this.register(n.name, n.pos);
      case 'ident': return this.identifier(n.name, n.pos);
      case 'phys': {
        const a = this.decay(this.eval(n.operand));
        if (!isInteger(a.type) && !isPointer(a.type)) throw new GuestError(`phys: needs an integer address, not ${typeName(a.type)}`);
        return { type: this.b.uint64, place: { kind: 'memory', space: 'physical', address: BigInt.asUintN(64, this.intOf(a)) }, physWord: true };
      }
      case 'unary': return this.unary(n.op, n.operand);
      case 'binary': return this.binary(n.op, n.left, n.right);
      case 'ternary': return this.truth(this.eval(n.cond)) ? this.eval(n.then) : this.eval(n.else);
      case 'cast': {
        const v = this.eval(n.operand);
        const to = strip(n.type);
        if (v.physWord && v.place && (to.kind === 'base' || to.kind === 'enum') && isInteger(to) && (sizeOf(to) ?? 9) <= 8) {
          return { type: n.type, place: v.place };
        }
        return this.convert(v, n.type);
      }
      case 'sizeof': {
        const t = n.type ?? this.eval(n.operand!).type;
        const size = sizeOf(t);
        if (size === undefined) throw new GuestError(`the size of ${typeName(t)} is not known`);
        return this.intValue(this.b.sizeT, BigInt(size));
      }
      case 'member': return this.member(this.eval(n.object), n.name, n.arrow);
      case 'index': return this.index(this.eval(n.object), this.eval(n.index));
      case 'assign': {
        if (!this.opts.allowAssign) throw new GuestError('assignments are not allowed here (use the debug console)');
        const target = this.eval(n.target);
        this.assign(target, this.evalFor(n.value, target.type));
        const p = target.place!;
        return { type: target.type, place: p };
      }
    }
  }

  /** Evaluates with the enumerators of `type` in scope (for assignments to an enum). */
  evalFor(n: Node, type: CType): Value {
    const t = strip(type);
    if (t.kind === 'enum') {
      this.scope = new Map(t.enumerators.map((e) => [e.name, e.value]));
      this.scopeType = type;
    }
    try {
      return this.eval(n);
    } finally {
      this.scope = undefined;
      this.scopeType = undefined;
    }
  }

  truth(v: Value): boolean {
    const d = this.decay(v);
    if (isFloat(d.type)) return this.floatOf(d) !== 0;
    if (isInteger(d.type) || isPointer(d.type)) return this.intOf(d) !== 0n;
    throw new GuestError(`a value of type ${typeName(v.type)} cannot be used as a condition`);
  }

  deref(p: Value): Value {
    const d = this.decay(p);
    const t = strip(d.type);
    if (t.kind !== 'pointer') {
      if (isInteger(t)) {
        throw new GuestError(`cannot dereference a value of type ${typeName(d.type)}: cast it to a pointer first, as in *(uint32_t *)0x1000`);
      }
      throw new GuestError(`cannot dereference a value of type ${typeName(d.type)}`);
    }
    if (isVoid(t.target)) throw new GuestError(`cannot dereference a ${typeName(d.type)}: cast it to a pointer to some type first`);
    return { type: t.target ?? VOID_T, place: { kind: 'memory', space: 'linear', address: BigInt.asUintN(64, this.intOf(d)) } };
  }

  private unary(op: string, operand: Node): Value {
    if (op === '&') {
      const v = this.eval(operand);
      const p = v.place;
      if (!p) throw new GuestError('cannot take the address of a value that is not in memory');
      if (p.kind === 'register') throw new GuestError(`cannot take the address of a value in a register ($${p.name})`);
      if (p.space === 'physical') throw new GuestError('cannot take the address of physical memory (pointers hold linear addresses)');
      if (p.bitSize !== undefined) throw new GuestError('cannot take the address of a bit field');
      const target = strip(v.type) === NO_DEBUG_INFO ? undefined : v.type;
      return this.intValue({ kind: 'pointer', size: this.ctx.pointerSize, target }, p.address);
    }
    if (op === '*') return this.deref(this.eval(operand));
    const v = this.decay(this.eval(operand));
    const t = strip(v.type);
    if (op === '!') {
      return this.intValue(this.b.int, this.truth(v) ? 0n : 1n);
    }
    if (isFloat(t)) {
      if (op === '~') throw new GuestError(`invalid operand to ~: ${typeName(v.type)}`);
      const x = this.floatOf(v);
      return this.floatValue(t, op === '-' ? -x : x);
    }
    if (!isInteger(t)) throw new GuestError(`invalid operand to unary ${op}: ${typeName(v.type)}`);
    const pt = this.promote(t);
    const x = this.intOf(v);
    return this.intValue(pt, op === '-' ? -x : op === '~' ? ~x : x);
  }

  private binary(op: string, ln: Node, rn: Node): Value {
    if (op === '&&' || op === '||') {
      const l = this.truth(this.eval(ln));
      if (op === '&&' && !l) return this.intValue(this.b.int, 0n);
      if (op === '||' && l) return this.intValue(this.b.int, 1n);
      return this.intValue(this.b.int, this.truth(this.eval(rn)) ? 1n : 0n);
    }
    const l = this.decay(this.eval(ln));
    const r = this.decay(this.eval(rn));
    const lt = strip(l.type), rt = strip(r.type);
    const lp = lt.kind === 'pointer', rp = rt.kind === 'pointer';
    const bad = () => new GuestError(`invalid operands to ${op}: ${typeName(l.type)} and ${typeName(r.type)}`);
    const check = (t: CType) => {
      if (!isInteger(t) && !isFloat(t) && !isPointer(t)) throw bad();
    };
    check(lt);
    check(rt);
    // Pointer arithmetic.
    if ((op === '+' || op === '-') && (lp || rp)) {
      if (lp && rp) {
        if (op === '+') throw bad();
        const s = strideOf(lt.kind === 'pointer' ? lt.target : undefined);
        if (s !== strideOf(rt.kind === 'pointer' ? rt.target : undefined)) throw bad();
        const diff = BigInt.asIntN(64, this.intOf(l) - this.intOf(r));
        return this.intValue(this.b.ptrdiff, diff / BigInt(s));
      }
      const [p, i] = lp ? [l, r] : [r, l];
      if (!lp && op === '-') throw bad();
      if (!isInteger(i.type)) throw bad();
      const pt = strip(p.type) as { kind: 'pointer'; target: CType | undefined };
      const delta = this.intOf(i) * BigInt(strideOf(pt.target));
      return this.intValue(p.type, this.intOf(p) + (op === '-' ? -delta : delta));
    }
    if (['==', '!=', '<', '<=', '>', '>='].includes(op)) {
      let a: number | bigint, b: number | bigint;
      if (lp || rp) {
        if (isFloat(lt) || isFloat(rt)) throw bad();
        a = BigInt.asUintN(64, this.intOf(l));
        b = BigInt.asUintN(64, this.intOf(r));
      } else {
        const ct = this.common(lt, rt);
        if (isFloat(ct)) {
          a = this.floatOf(l);
          b = this.floatOf(r);
        } else {
          a = this.intOf(this.convert(l, ct));
          b = this.intOf(this.convert(r, ct));
        }
      }
      const res = op === '==' ? a === b : op === '!=' ? a !== b : op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
      return this.intValue(this.b.int, res ? 1n : 0n);
    }
    if (lp || rp) {
      // Other arithmetic on an address (`$rsp & 0xfff`): the pointer as an unsigned integer.
      if (isFloat(lt) || isFloat(rt)) throw bad();
      const asInt = (v: Value, t: CType) => (t.kind === 'pointer' ? this.intValue(this.intType(t.size, false), this.intOf(v)) : v);
      return this.binaryValues(op, asInt(l, lt), asInt(r, rt), bad);
    }
    return this.binaryValues(op, l, r, bad);
  }

  private binaryValues(op: string, l: Value, r: Value, bad: () => GuestError): Value {
    const lt = strip(l.type), rt = strip(r.type);
    if (op === '<<' || op === '>>') {
      if (!isInteger(lt) || !isInteger(rt)) throw bad();
      const pt = this.promote(lt);
      const x = this.intOf(this.convert(l, pt));
      const n = this.intOf(r);
      if (n < 0n) throw new GuestError(`negative shift count ${n}`);
      const bits = BigInt(sizeOf(pt)! * 8);
      if (op === '<<') return this.intValue(pt, n >= bits ? 0n : x << n);
      return this.intValue(pt, n >= bits ? (x < 0n ? -1n : 0n) : x >> n);
    }
    const ct = this.common(lt, rt);
    if (isFloat(ct)) {
      if (!['+', '-', '*', '/'].includes(op)) throw bad();
      const a = this.floatOf(l), b = this.floatOf(r);
      const x = op === '+' ? a + b : op === '-' ? a - b : op === '*' ? a * b : a / b;
      return this.floatValue(ct, x);
    }
    const a = this.intOf(this.convert(l, ct)), b = this.intOf(this.convert(r, ct));
    let x: bigint;
    switch (op) {
      case '+': x = a + b; break;
      case '-': x = a - b; break;
      case '*': x = a * b; break;
      case '/': case '%':
        if (b === 0n) throw new GuestError('division by zero');
        x = op === '/' ? a / b : a % b;
        break;
      case '&': x = a & b; break;
      case '^': x = a ^ b; break;
      case '|': x = a | b; break;
      default: throw bad();
    }
    return this.intValue(ct, x);
  }

  private findMember(t: CType, name: string): { member: CMember; offset: number } | undefined {
    const s = strip(t);
    if (s.kind !== 'struct' && s.kind !== 'union' && s.kind !== 'class') return undefined;
    for (const m of s.members) {
      if (m.name === name) return { member: m, offset: m.offset };
    }
    for (const m of s.members) {
      if (m.name) continue;
      const inner = this.findMember(m.type, name);
      if (inner) return { member: inner.member, offset: m.offset + inner.offset };
    }
    return undefined;
  }

  member(obj: Value, name: string, arrow: boolean): Value {
    let o = obj;
    let t = strip(o.type);
    // Like gdb, `.` works through a pointer and `->` on a struct.
    if (t.kind === 'pointer' || t.kind === 'array') {
      o = this.deref(o);
      t = strip(o.type);
    }
    if (t.kind !== 'struct' && t.kind !== 'union' && t.kind !== 'class') {
      throw new GuestError(`${arrow ? '->' : '.'}${name}: ${typeName(obj.type)} is not a struct or union`);
    }
    const f = this.findMember(t, name);
    if (!f) throw new GuestError(`there is no member named "${name}" in ${typeName(o.type)}`);
    return this.memberValue(o, f.member, f.offset);
  }

  memberValue(o: Value, m: CMember, offset: number): Value {
    if (o.optimizedOut) return { type: m.type, optimizedOut: true };
    const p = o.place;
    const bit = m.bitSize !== undefined;
    if (p?.kind === 'memory' && !(o.bytes && bit)) {
      const place: Place = { kind: 'memory', space: p.space, address: p.address + BigInt(offset) };
      if (bit) {
        const bo = m.bitOffset ?? 0;
        place.address += BigInt(Math.floor(bo / 8));
        place.bitOffset = bo % 8;
        place.bitSize = m.bitSize;
      }
      const v: Value = { type: m.type, place };
      if (o.bytes && !bit) {
        const size = sizeOf(m.type);
        if (size !== undefined && offset + size <= o.bytes.length) v.bytes = o.bytes.subarray(offset, offset + size);
      }
      return v;
    }
    // A value not in memory (registers, DWARF values): work on its bytes.
    const bytes = this.bytesOf(o);
    if (bit) {
      const bo = offset * 8 + (m.bitOffset ?? 0);
      const all = fromLe(bytes, false);
      let x = (all >> BigInt(bo)) & ((1n << BigInt(m.bitSize!)) - 1n);
      if (isSigned(m.type)) x = BigInt.asIntN(m.bitSize!, x);
      return this.intValue(m.type, x);
    }
    const size = sizeOf(m.type) ?? 0;
    if (offset + size > bytes.length) throw new GuestError(`member at offset ${offset} lies outside its ${bytes.length}-byte object`);
    return { type: m.type, bytes: bytes.subarray(offset, offset + size) };
  }

  index(obj: Value, idx: Value): Value {
    let a = obj, i = idx;
    if (isInteger(strip(a.type)) && !isInteger(strip(i.type))) [a, i] = [i, a];
    const id = this.decay(i);
    if (!isInteger(id.type)) throw new GuestError(`an array index must be an integer, not ${typeName(i.type)}`);
    const n = this.intOf(id);
    const t = strip(a.type);
    if (t.kind === 'array') return this.element(a, n);
    if (t.kind === 'pointer') {
      const stride = strideOf(t.target);
      return this.deref(this.intValue(a.type, this.intOf(a) + n * BigInt(stride)));
    }
    throw new GuestError(`cannot subscript a value of type ${typeName(a.type)}`);
  }

  element(a: Value, n: bigint): Value {
    const t = strip(a.type) as { kind: 'array'; element: CType; count: number | undefined };
    const size = sizeOf(t.element);
    if (size === undefined) throw new GuestError(`the size of ${typeName(t.element)} is not known`);
    if (a.optimizedOut) return { type: t.element, optimizedOut: true };
    const p = a.place;
    if (p?.kind === 'memory') {
      const v: Value = { type: t.element, place: { kind: 'memory', space: p.space, address: p.address + n * BigInt(size) } };
      const off = Number(n) * size;
      if (a.bytes && n >= 0n && off + size <= a.bytes.length) v.bytes = a.bytes.subarray(off, off + size);
      return v;
    }
    const bytes = this.bytesOf(a);
    const off = Number(n) * size;
    if (n < 0n || off + size > bytes.length) throw new GuestError(`index ${n} is outside the array (it is not in memory)`);
    return { type: t.element, bytes: bytes.subarray(off, off + size) };
  }

  // --- assignment ----------------------------------------------------------------------------

  assign(target: Value, value: Value): void {
    const p = target.place;
    if (!p) throw new GuestError('the left side of an assignment must be a variable, register or memory location');
    const t = strip(target.type);
    if (t === NO_DEBUG_INFO) throw new GuestError('the symbol has no type: cast it, as in *(uint32_t *)sym = 1');
    if (t.kind === 'unknown') throw new GuestError(`cannot assign to a value of type ${typeName(target.type)}`);
    if (t.kind === 'function') throw new GuestError('cannot assign to a function');
    const converted = this.convert(value, target.type);
    const size = sizeOf(target.type);
    if (size === undefined) throw new GuestError(`the size of ${typeName(target.type)} is not known`);
    const data = this.bytesOf(converted);
    if (p.kind === 'register') {
      const r = this.readRegister(p.name);
      const n = Math.min(size, r.bits / 8);
      const mask = (1n << BigInt(n * 8)) - 1n;
      this.writeRegister(p.name, (r.value & ~mask) | (fromLe(data.subarray(0, n), false) & mask));
      return;
    }
    if (p.bitSize !== undefined) {
      const off = p.bitOffset ?? 0;
      const len = Math.ceil((off + p.bitSize) / 8);
      const old = fromLe(this.readMem(p.space, p.address, len), false);
      const mask = ((1n << BigInt(p.bitSize)) - 1n) << BigInt(off);
      const x = (old & ~mask) | ((fromLe(data, false) << BigInt(off)) & mask);
      this.writeMem(p.space, p.address, le(x, len));
      return;
    }
    this.writeMem(p.space, p.address, Buffer.from(data.subarray(0, size)));
  }

  // --- rendering -----------------------------------------------------------------------------

  private hexInt(x: bigint, size: number): string {
    return hex(BigInt.asUintN(Math.max(8, size * 8), x));
  }

  private sym(address: bigint): string {
    try {
      const s = this.ctx.symbolize?.(address);
      return s ? ` <${s}>` : '';
    } catch {
      return '';
    }
  }

  private cString(address: bigint, max = MAX_STRING): string {
    if (address === 0n) return '';
    const bytes: number[] = [];
    let complete = false;
    try {
      // Page by page, so a string that ends before an unmapped page still reads.
      let a = address;
      while (bytes.length < max) {
        const n = Math.min(max - bytes.length, 4096 - Number(a & 0xfffn));
        const chunk = this.ctx.readMemory(a, n);
        const z = chunk.indexOf(0);
        if (z >= 0) {
          bytes.push(...chunk.subarray(0, z));
          complete = true;
          break;
        }
        bytes.push(...chunk);
        a += BigInt(n);
      }
    } catch {
      if (!bytes.length) return ` <error: cannot read memory at ${hex(address)}>`;
    }
    return ` ${quote(Buffer.from(bytes), '"')}${complete ? '' : '...'}`;
  }

  private pointerText(v: Value, top: boolean): string {
    const t = strip(v.type) as { kind: 'pointer'; target: CType | undefined };
    const a = BigInt.asUintN(64, this.intOf(v));
    const chars = t.target !== undefined && isCharType(t.target);
    let s = hex(a) + this.sym(a);
    if (chars && a !== 0n) s += this.cString(a);
    return top && !chars ? `(${typeName(v.type)}) ${s}` : s;
  }

  private scalarText(v: Value): string {
    const t = strip(v.type);
    if (t.kind === 'base') {
      if (t.name === 'void') return 'void';
      if (t.encoding === 'float') return floatText(this.floatOf(v), t.size);
      const x = this.intOf(v);
      if (this.opts.hex) return this.hexInt(x, t.size);
      if (t.encoding === 'bool') return x === 0n ? 'false' : x === 1n ? 'true' : String(x);
      if (isCharType(t)) return `${x} ${quote(Buffer.from([Number(BigInt.asUintN(8, x))]), "'")}`;
      return String(x);
    }
    if (t.kind === 'enum') {
      const x = this.intOf(v);
      if (this.opts.hex) return this.hexInt(x, t.size);
      const e = t.enumerators.find((en) => en.value === x);
      if (e) return e.name;
      // Flag enums: (A | B), or (A | unknown: 0x40).
      const flags = t.enumerators.filter((en) => en.value > 0n && (en.value & (en.value - 1n)) === 0n);
      if (x > 0n && flags.length === t.enumerators.filter((en) => en.value !== 0n).length && flags.length) {
        const names = flags.filter((f) => x & f.value).map((f) => f.name);
        const rest = flags.reduce((acc, f) => acc & ~f.value, x);
        if (names.length) return `(${names.join(' | ')}${rest ? ` | unknown: ${hex(rest)}` : ''})`;
      }
      return String(x);
    }
    return '?';
  }

  /** The value as text: `top` is the whole expression (pointers get their type in front). */
  text(v: Value, top: boolean, depth = 0): string {
    if (v.optimizedOut) return '<optimized out>';
    const t = strip(v.type);
    switch (t.kind) {
      case 'base': case 'enum': return this.scalarText(v);
      case 'pointer': return this.pointerText(v, top);
      case 'unknown': {
        if (t === NO_DEBUG_INFO) return this.pointerText(this.decay(v), top);
        // A type C cannot spell (complex numbers, ...): its bytes.
        const b = this.bytesOf(v);
        return `<${typeName(v.type)}: 0x${Buffer.from(b).reverse().toString('hex')}>`;
      }
      case 'function': {
        const p = v.place;
        if (p?.kind === 'memory') return `{${typeName(v.type)}} ${hex(p.address)}${this.sym(p.address)}`;
        return `{${typeName(v.type)}}`;
      }
      case 'array': return this.arrayText(v, depth);
      case 'struct': case 'union': case 'class': return this.structText(v, depth);
      default: return '?';
    }
  }

  private safeText(v: Value, depth: number): string {
    try {
      return this.text(v, false, depth);
    } catch (e) {
      return `<error: ${message(e)}>`;
    }
  }

  private arrayText(v: Value, depth: number): string {
    const t = strip(v.type) as { kind: 'array'; element: CType; count: number | undefined };
    if (t.count === undefined || depth > 1) return '{...}';
    if (isCharType(t.element) && !this.opts.hex) {
      const n = Math.min(t.count, MAX_STRING);
      // Only the first n bytes of a long array.
      const head: Value = v.place?.kind === 'memory' && !v.bytes ? { type: { kind: 'array', element: t.element, count: n }, place: v.place } : v;
      const b = this.bytesOf(head).subarray(0, n);
      const z = b.indexOf(0);
      return quote(z >= 0 ? b.subarray(0, z) : b, '"') + (z < 0 && t.count > n ? '...' : '');
    }
    const n = Math.min(t.count, SUMMARY_ELEMENTS);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(this.safeText(this.element(v, BigInt(i)), depth + 1));
    if (t.count > n) parts.push('...');
    return `{${parts.join(', ')}}`;
  }

  private structText(v: Value, depth: number): string {
    const t = strip(v.type) as { kind: 'struct'; members: CMember[]; size: number; declaration?: boolean };
    if (t.declaration) return '<incomplete type>';
    if (depth > 1) return '{...}';
    // One read for the whole struct when it is small and in memory.
    if (!v.bytes && v.place?.kind === 'memory' && v.place.bitSize === undefined && t.size <= 4096) {
      try {
        this.bytesOf(v);
      } catch {
        // members then fail one by one
      }
    }
    const parts: string[] = [];
    let len = 0;
    for (const m of t.members) {
      const mv = this.memberValue(v, m, m.offset);
      const s = `${m.name ? `${m.name} = ` : ''}${this.safeText(mv, depth + 1)}`;
      if (len + s.length > SUMMARY_CHARS && parts.length) {
        parts.push('...');
        break;
      }
      parts.push(s);
      len += s.length + 2;
    }
    return `{${parts.join(', ')}}`;
  }

  // --- results -------------------------------------------------------------------------------

  result(v: Value, expr: string, top: boolean, name?: string): EvalResult {
    const shown = strip(v.type) === NO_DEBUG_INFO ? this.decay(v) : v;
    const r: EvalResult = { value: '', type: typeName(shown.type), childCount: 0 };
    if (name !== undefined) {
      r.name = name;
      r.evaluateName = expr;
    }
    if (top) r.value = this.text(v, true);
    else r.value = this.safeText(v, 0);
    const p = v.place;
    const size = sizeOf(shown.type);
    if (size !== undefined && !isVoid(shown.type)) r.size = size;
    if (p?.kind === 'memory' && p.space === 'linear' && p.bitSize === undefined) {
      r.address = BigInt.asUintN(64, p.address);
      r.memoryReference = hex(r.address);
    }
    if (v.optimizedOut) return r;
    const t = strip(v.type);
    if (t.kind === 'pointer') {
      try {
        const a = BigInt.asUintN(64, this.intOf(v));
        r.memoryReference = hex(a);
        const target = strip(t.target);
        const opaque = (target.kind === 'struct' || target.kind === 'union' || target.kind === 'class') && target.declaration;
        if (a !== 0n && t.target && !isVoid(target) && target.kind !== 'function' && target.kind !== 'unknown' && !opaque) {
          const pointee = this.deref(v);
          const star = `*${postfixSafe(expr) ? expr : `(${expr})`}`;
          r.childCount = 1;
          r.children = () => [this.result(pointee, star, false, star)];
        }
      } catch {
        // unreadable pointer: no children
      }
    } else if (t.kind === 'struct' || t.kind === 'union' || t.kind === 'class') {
      r.childCount = t.members.length;
      r.children = () => this.memberResults(v, t.members, 0, expr);
    } else if (t.kind === 'array' && t.count !== undefined && t.count > 0) {
      const n = Math.min(t.count, this.opts.maxChildren ?? 100);
      r.childCount = n;
      r.indexed = true;
      const base = postfixSafe(expr) ? expr : `(${expr})`;
      r.children = () => Array.from({ length: n }, (_, i) => {
        const e = `${base}[${i}]`;
        try {
          return this.result(this.element(v, BigInt(i)), e, false, `[${i}]`);
        } catch (err) {
          return { name: `[${i}]`, evaluateName: e, value: `<error: ${message(err)}>`, type: typeName(t.element), childCount: 0 };
        }
      });
    }
    return r;
  }

  private memberResults(v: Value, members: CMember[], base: number, expr: string): EvalResult[] {
    const obj = postfixSafe(expr) ? expr : `(${expr})`;
    return members.map((m) => {
      try {
        const mv = this.memberValue(v, m, base + m.offset);
        if (!m.name) {
          // An anonymous struct/union: its members are named through the parent.
          const r = this.result(mv, expr, false, `<anonymous ${strip(m.type).kind}>`);
          r.evaluateName = undefined;
          const inner = strip(m.type);
          if (inner.kind === 'struct' || inner.kind === 'union' || inner.kind === 'class') {
            r.children = () => this.memberResults(v, inner.members, base + m.offset, expr);
          }
          return r;
        }
        return this.result(mv, `${obj}.${m.name}`, false, m.name);
      } catch (e) {
        return { name: m.name, value: `<error: ${message(e)}>`, type: typeName(m.type), childCount: 0 };
      }
    });
  }
}

/** Whether `expr` can take a postfix operator without parentheses (a name or a postfix chain). */
function postfixSafe(expr: string): boolean {
  return /^\$?[A-Za-z_]\w*((\.|->)[A-Za-z_]\w*|\[[^\][]*\])*$/.test(expr);
}

const QUOTE_ESC: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r', 27: '\\e', 92: '\\\\' };

/** Bytes as a C literal in gdb's style: printable ASCII as is, the rest as \n or \ooo. */
export function quote(b: Buffer, q: '"' | "'"): string {
  let s = q;
  for (const c of b) {
    if (c === q.charCodeAt(0)) s += '\\' + q;
    else if (QUOTE_ESC[c]) s += QUOTE_ESC[c];
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += '\\' + c.toString(8).padStart(3, '0');
  }
  return s + q;
}

function floatText(x: number, size: number): string {
  if (Number.isNaN(x)) return 'nan(0x8000000000000)';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (size === 4) return String(Number(x.toPrecision(9)));
  return String(x);
}

// ---------------------------------------------------------------------------------------------
// A context over a Machine

/** What machineContext needs from the adapter's debug information (DebugInfo satisfies it). */
export interface SymbolSource {
  functionAddress(name: string): { address: bigint } | undefined;
  symbolize(address: bigint): string | undefined;
}

const SEGMENTS = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr'] as const;

/**
 * An EvalContext over vCPU `vcpu` of a stopped machine: linear memory through the guest's page
 * tables, physical memory, the vCPU's registers (read once, re-read after a write), ELF symbols
 * from `info`, and anything in `extra` (DWARF variables and types) on top.
 */
export function machineContext(m: Machine, vcpu: number, info?: SymbolSource, extra: Partial<EvalContext> = {}): EvalContext {
  const v = m.vcpu(vcpu);
  let regs: ReturnType<Machine['getRegs']> | undefined;
  let sregs: ReturnType<Machine['getSregs']> | undefined;
  let debug: ReturnType<typeof v.getDebugRegs> | undefined;
  let fpu: ReturnType<typeof v.getFpu> | undefined;
  const R = () => (regs ??= m.getRegs(vcpu));
  const S = () => (sregs ??= m.getSregs(vcpu));
  const s0 = S();
  const mode = cpuMode({ ...s0, rflags: R().rflags });
  const ctx: EvalContext = {
    pointerSize: mode === 'long64' ? 8 : 4,
    readMemory(linear, len) {
      try {
        return m.readLinear(vcpu, linear, len);
      } catch (e) {
        const msg = message(e);
        const why = /is not mapped: (.*)$/.exec(msg);
        throw new GuestError(why ? `not mapped (${why[1]})` : msg);
      }
    },
    writeMemory(linear, data) {
      m.writeLinear(vcpu, linear, data);
    },
    readPhysical(address, len) {
      if (address + BigInt(len) > BigInt(Number.MAX_SAFE_INTEGER)) throw new GuestError('outside guest memory');
      try {
        return m.readPhysical(Number(address), len);
      } catch (e) {
        const msg = message(e);
        const why = /is outside guest memory (.*)$/.exec(msg);
        throw new GuestError(why ? `outside guest memory ${why[1]}` : msg);
      }
    },
    writePhysical(address, data) {
      if (address + BigInt(data.length) > BigInt(Number.MAX_SAFE_INTEGER)) throw new GuestError('outside guest memory');
      if (!m.vm.memory.contains(Number(address), data.length)) throw new GuestError('outside guest memory');
      m.writePhysical(Number(address), data);
    },
    register(name) {
      const r = R() as Record<string, bigint>;
      if (Object.hasOwn(r, name)) return r[name];
      if ((SEGMENTS as readonly string[]).includes(name)) return BigInt(S()[name as (typeof SEGMENTS)[number]].selector);
      switch (name) {
        case 'ldtr': return BigInt(S().ldt.selector);
        case 'fs_base': return S().fs.base;
        case 'gs_base': return S().gs.base;
        case 'cr0': case 'cr2': case 'cr3': case 'cr4': case 'cr8': case 'efer': return S()[name];
        case 'dr0': case 'dr1': case 'dr2': case 'dr3': return (debug ??= v.getDebugRegs()).dr[Number(name[2])];
        case 'dr6': return (debug ??= v.getDebugRegs()).dr6;
        case 'dr7': return (debug ??= v.getDebugRegs()).dr7;
        case 'mxcsr': return BigInt((fpu ??= v.getFpu()).mxcsr);
      }
      const x = /^xmm(\d+)$/.exec(name);
      if (x && Number(x[1]) < 16) return fromLe((fpu ??= v.getFpu()).xmm[Number(x[1])], false);
      return undefined;
    },
    setRegister(name, value) {
      const r = R() as Record<string, bigint>;
      try {
        if (Object.hasOwn(r, name)) {
          m.setRegs(vcpu, { [name]: value });
        } else if (['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer'].includes(name)) {
          v.setSregs({ [name]: value });
        } else if (name === 'fs_base' || name === 'gs_base') {
          const seg = name === 'fs_base' ? 'fs' : 'gs';
          v.setSregs({ [seg]: { ...S()[seg], base: value } });
        } else if (/^dr[0-367]$/.test(name)) {
          const d = v.getDebugRegs();
          if (name === 'dr6') d.dr6 = value;
          else if (name === 'dr7') d.dr7 = value;
          else d.dr[Number(name[2])] = value;
          v.setDebugRegs(d);
        } else if (/^xmm\d+$/.test(name) && Number(name.slice(3)) < 16) {
          const f = v.getFpu();
          f.xmm[Number(name.slice(3))] = le(value, 16);
          v.setFpu({ xmm: f.xmm });
        } else if (name === 'mxcsr') {
          v.setFpu({ mxcsr: Number(BigInt.asUintN(32, value)) });
        } else {
          throw new GuestError(`$${name} cannot be changed from the debugger (segment registers: load them in the guest)`);
        }
      } finally {
        regs = sregs = undefined;
        debug = undefined;
        fpu = undefined;
      }
    },
    symbol: (name) => info?.functionAddress(name)?.address,
    symbolize: (address) => info?.symbolize(address),
    ...extra,
  };
  return ctx;
}

/** Re-exported for console commands: whether a type is a struct, union, class or array. */
export { isAggregate };
