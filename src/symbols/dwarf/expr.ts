// DWARF expressions, the one evaluator for both of their uses: location expressions of variables,
// evaluated against a stopped frame (registers, CFA, memory) into a Location (memory, register,
// value, bytes, pieces, optimized out), and the value expressions of call frame information's
// CFA and register rules (evaluateValue, for cfi.ts). Also a rendering in objdump's syntax
// ("DW_OP_fbreg: -20", "DW_OP_reg5 (rdi)") for the debugger to show where a variable lives.
// Covers DWARF 2-5 and the GNU extensions gcc emits (entry values, typed stack operations,
// implicit pointers, address indexes).
import { ByteReader, DwarfError } from './reader.js';
import { dwarfRegisterName } from '../../x86/registers.js';

export type Location =
  | { kind: 'memory'; address: bigint }
  /** DWARF register number (x86-64: 0 rax, 1 rdx, 2 rcx, 3 rbx, 4 rsi, 5 rdi, 6 rbp, 7 rsp, 8-15 r8-r15, 16 rip, 17-32 xmm0-15; i386: 0 eax, 1 ecx, 2 edx, 3 ebx, 4 esp, 5 ebp, 6 esi, 7 edi, 8 eip, 21-28 xmm0-7). */
  | { kind: 'register'; reg: number }
  /** The value itself (DW_OP_stack_value, DW_AT_const_value): the variable's bytes are its low bytes, little-endian. */
  | { kind: 'value'; value: bigint }
  /** The value's bytes (DW_OP_implicit_value, a block DW_AT_const_value). */
  | { kind: 'bytes'; bytes: Buffer }
  /** A value in parts, lowest first (DW_OP_piece, DW_OP_bit_piece). */
  | { kind: 'pieces'; pieces: { location: Location | { kind: 'optimized-out' }; sizeBits: number; offsetBits?: number }[] }
  | { kind: 'optimized-out' };

export type LocationResult = Location | { kind: 'error'; message: string };

/** Reads `size` bytes (1, 2, 4 or 8) of guest memory at `addr`, little-endian; undefined if unreadable. */
export type MemoryReader = (addr: bigint, size: number) => bigint | undefined;

/**
 * A stopped frame. `pc` is the address whose location-list entry applies: the pc itself in the
 * innermost frame, the return address minus 1 in callers (the call may be a function's last
 * instruction). `cfa` is this frame's own canonical frame address (the stack pointer before the
 * call that made it: what unwinding one step from this frame gives), needed by
 * DW_OP_call_frame_cfa, which gcc uses as every function's frame base.
 */
export interface FrameContext {
  pc: bigint;
  /** DWARF numbering; xmm registers as 128-bit values. */
  regs: Map<number, bigint>;
  cfa?: bigint;
  read: MemoryReader;
  bits: 32 | 64;
}

/** What evaluating an expression needs beyond the frame. */
export interface ExprEnv {
  addressSize: number;
  /** Added to DW_OP_addr/addrx operands (link-time addresses). */
  loadOffset: bigint;
  /** The frame base (DW_AT_frame_base of the function), for DW_OP_fbreg. */
  frameBase?: (frame: FrameContext) => bigint | { error: string };
  /** .debug_addr entry `index` of the expression's unit (link-time), for DW_OP_addrx/constx. */
  addrIndex?: (index: number) => bigint | undefined;
  /** The base type DIE at a .debug_info offset, for the typed stack operations. */
  baseType?: (dieOffset: number) => { size: number; signed: boolean; float: boolean } | undefined;
  /** The unit's offset in .debug_info (typed operations name types by unit-relative offset). */
  unitOffset: number;
}

// Opcodes.
export const DW_OP_addr = 0x03;
export const DW_OP_deref = 0x06;
export const DW_OP_const1u = 0x08;
export const DW_OP_const1s = 0x09;
export const DW_OP_const2u = 0x0a;
export const DW_OP_const2s = 0x0b;
export const DW_OP_const4u = 0x0c;
export const DW_OP_const4s = 0x0d;
export const DW_OP_const8u = 0x0e;
export const DW_OP_const8s = 0x0f;
export const DW_OP_constu = 0x10;
export const DW_OP_consts = 0x11;
export const DW_OP_dup = 0x12;
export const DW_OP_drop = 0x13;
export const DW_OP_over = 0x14;
export const DW_OP_pick = 0x15;
export const DW_OP_swap = 0x16;
export const DW_OP_rot = 0x17;
export const DW_OP_xderef = 0x18;
export const DW_OP_abs = 0x19;
export const DW_OP_and = 0x1a;
export const DW_OP_div = 0x1b;
export const DW_OP_minus = 0x1c;
export const DW_OP_mod = 0x1d;
export const DW_OP_mul = 0x1e;
export const DW_OP_neg = 0x1f;
export const DW_OP_not = 0x20;
export const DW_OP_or = 0x21;
export const DW_OP_plus = 0x22;
export const DW_OP_plus_uconst = 0x23;
export const DW_OP_shl = 0x24;
export const DW_OP_shr = 0x25;
export const DW_OP_shra = 0x26;
export const DW_OP_xor = 0x27;
export const DW_OP_bra = 0x28;
export const DW_OP_eq = 0x29;
export const DW_OP_ge = 0x2a;
export const DW_OP_gt = 0x2b;
export const DW_OP_le = 0x2c;
export const DW_OP_lt = 0x2d;
export const DW_OP_ne = 0x2e;
export const DW_OP_skip = 0x2f;
export const DW_OP_lit0 = 0x30;
export const DW_OP_reg0 = 0x50;
export const DW_OP_breg0 = 0x70;
export const DW_OP_regx = 0x90;
export const DW_OP_fbreg = 0x91;
export const DW_OP_bregx = 0x92;
export const DW_OP_piece = 0x93;
export const DW_OP_deref_size = 0x94;
export const DW_OP_xderef_size = 0x95;
export const DW_OP_nop = 0x96;
export const DW_OP_push_object_address = 0x97;
export const DW_OP_call2 = 0x98;
export const DW_OP_call4 = 0x99;
export const DW_OP_call_ref = 0x9a;
export const DW_OP_form_tls_address = 0x9b;
export const DW_OP_call_frame_cfa = 0x9c;
export const DW_OP_bit_piece = 0x9d;
export const DW_OP_implicit_value = 0x9e;
export const DW_OP_stack_value = 0x9f;
export const DW_OP_implicit_pointer = 0xa0;
export const DW_OP_addrx = 0xa1;
export const DW_OP_constx = 0xa2;
export const DW_OP_entry_value = 0xa3;
export const DW_OP_const_type = 0xa4;
export const DW_OP_regval_type = 0xa5;
export const DW_OP_deref_type = 0xa6;
export const DW_OP_xderef_type = 0xa7;
export const DW_OP_convert = 0xa8;
export const DW_OP_reinterpret = 0xa9;
export const DW_OP_GNU_push_tls_address = 0xe0;
export const DW_OP_GNU_uninit = 0xf0;
export const DW_OP_GNU_encoded_addr = 0xf1;
export const DW_OP_GNU_implicit_pointer = 0xf2;
export const DW_OP_GNU_entry_value = 0xf3;
export const DW_OP_GNU_const_type = 0xf4;
export const DW_OP_GNU_regval_type = 0xf5;
export const DW_OP_GNU_deref_type = 0xf6;
export const DW_OP_GNU_convert = 0xf7;
export const DW_OP_GNU_reinterpret = 0xf9;
export const DW_OP_GNU_parameter_ref = 0xfa;
export const DW_OP_GNU_addr_index = 0xfb;
export const DW_OP_GNU_const_index = 0xfc;
export const DW_OP_GNU_variable_value = 0xfd;

/** Thrown inside the evaluator to end it with an error result. */
class ExprStop extends Error {
  constructor(readonly result: LocationResult) {
    super('stop');
  }
}

function stopError(message: string): never {
  throw new ExprStop({ kind: 'error', message });
}

/** Reads past the operands of an operation (for the parts of an expression that are not evaluated). */
function skipOperands(r: ByteReader, op: number, addressSize: number, offsetSize: number): void {
  if ((op >= 0x70 && op <= 0x8f)) { r.sleb(); return; }
  switch (op) {
    case DW_OP_addr: r.skip(addressSize); return;
    case DW_OP_const1u: case DW_OP_const1s: case DW_OP_pick: case DW_OP_deref_size: case DW_OP_xderef_size: r.skip(1); return;
    case DW_OP_const2u: case DW_OP_const2s: case DW_OP_bra: case DW_OP_skip: case DW_OP_call2: r.skip(2); return;
    case DW_OP_const4u: case DW_OP_const4s: case DW_OP_call4: r.skip(4); return;
    case DW_OP_const8u: case DW_OP_const8s: r.skip(8); return;
    case DW_OP_call_ref: r.skip(offsetSize); return;
    case DW_OP_constu: case DW_OP_plus_uconst: case DW_OP_regx: case DW_OP_piece: case DW_OP_addrx: case DW_OP_constx:
    case DW_OP_convert: case DW_OP_reinterpret: case DW_OP_GNU_convert: case DW_OP_GNU_reinterpret:
    case DW_OP_GNU_addr_index: case DW_OP_GNU_const_index:
      r.uleb(); return;
    case DW_OP_consts: case DW_OP_fbreg: r.sleb(); return;
    case DW_OP_bregx: r.uleb(); r.sleb(); return;
    case DW_OP_bit_piece: r.uleb(); r.uleb(); return;
    case DW_OP_implicit_value: r.skip(r.ulebN()); return;
    case DW_OP_implicit_pointer: case DW_OP_GNU_implicit_pointer: r.skip(offsetSize); r.sleb(); return;
    case DW_OP_entry_value: case DW_OP_GNU_entry_value: r.skip(r.ulebN()); return;
    case DW_OP_const_type: case DW_OP_GNU_const_type: r.uleb(); r.skip(r.u8()); return;
    case DW_OP_regval_type: case DW_OP_GNU_regval_type: r.uleb(); r.uleb(); return;
    case DW_OP_deref_type: case DW_OP_GNU_deref_type: case DW_OP_xderef_type: r.u8(); r.uleb(); return;
    case DW_OP_GNU_parameter_ref: r.skip(4); return;
    case DW_OP_GNU_variable_value: r.skip(offsetSize); return;
    case DW_OP_GNU_encoded_addr: {
      const enc = r.u8();
      const size = enc & 0x7 ? [0, 0, 2, 4, 8][enc & 0x7] ?? addressSize : addressSize;
      r.skip(size);
      return;
    }
    default:
      return;
  }
}

/**
 * The most operations one evaluation runs. DW_OP_bra and DW_OP_skip can jump backwards, and a
 * corrupt expression that loops must end in an error, not hang the adapter; no compiler emits
 * loops, so the bound is far above any real expression's count and keeps the worst case to a
 * few milliseconds (an operation costs at most a pass over its own operands).
 */
const MAX_STEPS = 10000;

/**
 * Evaluates a location expression for `frame`, `initial` pushed first. A register or value that
 * the expression needs and the frame lacks, or memory it cannot read, gives an error; parts that
 * cannot be known (entry values, which need the caller's call site; implicit pointers) are
 * optimized out. An empty expression is optimized out.
 */
export function evaluateLocation(
  expr: Buffer, frame: FrameContext, env: ExprEnv, offsetSize: 4 | 8 = 4, initial: bigint[] = [],
): LocationResult {
  try {
    return evaluate(expr, frame, env, offsetSize, initial);
  } catch (e) {
    if (e instanceof ExprStop) return e.result;
    if (e instanceof DwarfError) return { kind: 'error', message: e.message };
    throw e;
  }
}

/**
 * Evaluates a DWARF expression for its value (DWARF 5 §2.5), as call frame information's rules
 * have them: the CFA (DW_CFA_def_cfa_expression), the address a register is saved at
 * (DW_CFA_expression) or the register's value (DW_CFA_val_expression); for the two register
 * rules the caller passes the CFA as `initial` (§6.4.2). `frame` is the frame being unwound,
 * `loadOffset` moves DW_OP_addr operands as it moves the FDEs. Operations that need a unit's
 * debugging information (DW_OP_fbreg, DW_OP_addrx, types) or the CFA being defined
 * (DW_OP_call_frame_cfa) are errors, and so is a result that is a location rather than a value
 * (a register, pieces, DW_OP_stack_value).
 */
export function evaluateValue(
  expr: Buffer, frame: FrameContext, addressSize: number, loadOffset: bigint, initial: bigint[] = [],
): bigint | { error: string } {
  const res = evaluateLocation(expr, frame, { addressSize, loadOffset, unitOffset: 0 }, 4, initial);
  switch (res.kind) {
    case 'memory': return res.address;
    case 'error': return { error: res.message };
    case 'optimized-out': return { error: 'DWARF expression: no value (an empty stack, an entry value or an implicit pointer)' };
    default: return { error: `DWARF expression: a ${res.kind} location where a value is needed` };
  }
}

type Piece = { location: Location | { kind: 'optimized-out' }; sizeBits: number; offsetBits?: number };

/** A base type of the typed stack operations (DWARF 5 DW_OP_*_type, DW_OP_convert). */
interface StackType { size: number; signed: boolean; float: boolean }

/** A stack entry: generic (address-sized integer) when `t` is undefined. */
interface Entry { v: bigint; t?: StackType }

function floatOf(e: Entry): number {
  const b = Buffer.alloc(8);
  if (e.t!.size === 4) {
    b.writeUInt32LE(Number(BigInt.asUintN(32, e.v)));
    return b.readFloatLE(0);
  }
  b.writeBigUInt64LE(BigInt.asUintN(64, e.v));
  return b.readDoubleLE(0);
}

function floatBits(x: number, size: number): bigint {
  const b = Buffer.alloc(8);
  if (size === 4) {
    b.writeFloatLE(x);
    return BigInt(b.readUInt32LE(0));
  }
  b.writeDoubleLE(x);
  return b.readBigUInt64LE(0);
}

function evaluate(expr: Buffer, frame: FrameContext, env: ExprEnv, offsetSize: 4 | 8, initial: bigint[]): LocationResult {
  const r = new ByteReader(expr, 'DWARF expression');
  const addressSize = env.addressSize;
  const abits = addressSize * 8;
  const u = (v: bigint): bigint => BigInt.asUintN(abits, v);
  const stack: Entry[] = [];
  const pieces: Piece[] = [];
  // What the current piece is, when not an address on the stack.
  let special: Location | { kind: 'optimized-out' } | undefined;
  // The current piece cannot be known: evaluation skips to the next piece.
  let unavailable = false;
  const push = (v: bigint): void => { stack.push({ v: u(v) }); };
  for (const v of initial) push(v);
  const popE = (): Entry => {
    const e = stack.pop();
    if (e === undefined) stopError('DWARF expression: stack underflow');
    return e;
  };
  const pop = (): bigint => popE().v;
  // Typed values: the bits of a value of type t (integers kept unsigned, of the type's width).
  const norm = (v: bigint, t: StackType | undefined): bigint => (t ? BigInt.asUintN(t.size * 8, v) : u(v));
  const signedOf = (e: Entry): bigint => (e.t ? (e.t.signed ? BigInt.asIntN(e.t.size * 8, e.v) : e.v) : BigInt.asIntN(abits, e.v));
  const checkFloat = (t: StackType | undefined): void => {
    if (t?.float && t.size !== 4 && t.size !== 8) stopError(`DWARF expression: ${t.size}-byte floating-point arithmetic is not supported`);
  };
  /** A binary operation; floating point where the operands are of a floating-point type. */
  const binary = (op: number): void => {
    const b = popE();
    const a = popE();
    const t = a.t ?? b.t;
    if (t?.float) {
      checkFloat(t);
      const x = floatOf({ v: a.v, t });
      const y = floatOf({ v: b.v, t });
      let res: number | boolean;
      switch (op) {
        case DW_OP_plus: res = x + y; break;
        case DW_OP_minus: res = x - y; break;
        case DW_OP_mul: res = x * y; break;
        case DW_OP_div: res = x / y; break;
        case DW_OP_eq: res = x === y; break;
        case DW_OP_ne: res = x !== y; break;
        case DW_OP_lt: res = x < y; break;
        case DW_OP_le: res = x <= y; break;
        case DW_OP_gt: res = x > y; break;
        case DW_OP_ge: res = x >= y; break;
        default: stopError(`DWARF expression: operation 0x${op.toString(16)} on a floating-point value`);
      }
      if (typeof res === 'boolean') stack.push({ v: res ? 1n : 0n });
      else stack.push({ v: floatBits(t.size === 4 ? Math.fround(res) : res, t.size), t });
      return;
    }
    const bits = t ? BigInt(t.size * 8) : BigInt(abits);
    const signed = !t || t.signed;
    const sa = signedOf({ v: a.v, t });
    const sb = signedOf({ v: b.v, t });
    let v: bigint;
    switch (op) {
      case DW_OP_and: v = a.v & b.v; break;
      case DW_OP_or: v = a.v | b.v; break;
      case DW_OP_xor: v = a.v ^ b.v; break;
      case DW_OP_plus: v = a.v + b.v; break;
      case DW_OP_minus: v = a.v - b.v; break;
      case DW_OP_mul: v = a.v * b.v; break;
      case DW_OP_div:
        if (b.v === 0n) stopError('DWARF expression: division by zero');
        v = signed ? sa / sb : a.v / b.v;
        break;
      case DW_OP_mod:
        if (b.v === 0n) stopError('DWARF expression: division by zero');
        v = a.v % b.v;
        break;
      case DW_OP_shl: v = b.v >= bits ? 0n : a.v << b.v; break;
      case DW_OP_shr: v = b.v >= bits ? 0n : a.v >> b.v; break;
      case DW_OP_shra: v = sa >> (b.v >= bits ? bits - 1n : b.v); break;
      default: {
        // Comparisons: signed, as DWARF has them for the generic type.
        const res = op === DW_OP_eq ? sa === sb : op === DW_OP_ge ? sa >= sb : op === DW_OP_gt ? sa > sb
          : op === DW_OP_le ? sa <= sb : op === DW_OP_lt ? sa < sb : sa !== sb;
        stack.push({ v: res ? 1n : 0n });
        return;
      }
    }
    stack.push({ v: norm(v, t), t });
  };
  const reg = (n: number): bigint => {
    const v = frame.regs.get(n);
    if (v === undefined) stopError(`register ${dwarfRegisterName(n, frame.bits) || n} is not available in this frame`);
    return v;
  };
  const readN = (addr: bigint, size: number): bigint => {
    const v = frame.read(u(addr), size);
    if (v === undefined) stopError(`cannot read memory at 0x${u(addr).toString(16)}`);
    return v;
  };
  // The frame's reader takes 1, 2, 4 or 8 bytes; the other sizes DW_OP_deref_size allows (3, 5,
  // 6, 7) are read a byte at a time.
  const read = (addr: bigint, size: number): bigint => {
    if (size < 1 || size > 8) stopError(`DWARF expression: a ${size}-byte memory read`);
    if ((size & (size - 1)) === 0) return readN(addr, size);
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | readN(addr + BigInt(i), 1);
    return v;
  };
  const addrx = (index: number): bigint => {
    const v = env.addrIndex?.(index);
    if (v === undefined) stopError(`no .debug_addr entry ${index}`);
    return v;
  };
  const stackType = (rel: number): StackType | undefined => {
    if (rel === 0) return undefined;
    const t = typeOf(env, rel);
    if (!t) stopError(`DWARF expression: no base type at unit offset 0x${rel.toString(16)}`);
    // A corrupt DW_AT_byte_size must not make BigInt masks of billions of bits.
    if (t.size < 1 || t.size > 16) stopError(`DWARF expression: a ${t.size}-byte base type on the stack`);
    return t;
  };
  const endPiece = (sizeBits: number, offsetBits?: number): void => {
    let location: Location | { kind: 'optimized-out' };
    if (unavailable) location = { kind: 'optimized-out' };
    else if (special) location = special;
    else if (stack.length) location = { kind: 'memory', address: u(pop()) };
    else location = { kind: 'optimized-out' };
    pieces.push(offsetBits === undefined ? { location, sizeBits } : { location, sizeBits, offsetBits });
    stack.length = 0;
    special = undefined;
    unavailable = false;
  };
  let steps = 0;
  while (!r.atEnd) {
    if (++steps > MAX_STEPS) stopError('DWARF expression: too many steps (a loop?)');
    const op = r.u8('opcode');
    if (unavailable && op !== DW_OP_piece && op !== DW_OP_bit_piece) {
      skipOperands(r, op, addressSize, offsetSize);
      continue;
    }
    if (special && special.kind !== 'optimized-out' && op !== DW_OP_piece && op !== DW_OP_bit_piece && op !== DW_OP_nop && op !== DW_OP_GNU_uninit) {
      stopError(`DWARF expression: operation 0x${op.toString(16)} after a register or implicit location`);
    }
    if (op >= DW_OP_lit0 && op <= DW_OP_lit0 + 31) { push(BigInt(op - DW_OP_lit0)); continue; }
    if (op >= DW_OP_reg0 && op <= DW_OP_reg0 + 31) { special = { kind: 'register', reg: op - DW_OP_reg0 }; continue; }
    if (op >= DW_OP_breg0 && op <= DW_OP_breg0 + 31) { const off = r.sleb(); push(reg(op - DW_OP_breg0) + off); continue; }
    switch (op) {
      case DW_OP_addr: push(r.uN(addressSize, 'address') + env.loadOffset); break;
      case DW_OP_deref: push(read(pop(), addressSize)); break;
      case DW_OP_const1u: push(BigInt(r.u8())); break;
      case DW_OP_const1s: push(BigInt(r.s8())); break;
      case DW_OP_const2u: push(BigInt(r.u16())); break;
      case DW_OP_const2s: push(BigInt(r.s16())); break;
      case DW_OP_const4u: push(BigInt(r.u32())); break;
      case DW_OP_const4s: push(BigInt(r.s32())); break;
      case DW_OP_const8u: push(r.u64()); break;
      case DW_OP_const8s: push(r.s64()); break;
      case DW_OP_constu: push(r.uleb()); break;
      case DW_OP_consts: push(r.sleb()); break;
      case DW_OP_dup: { const e = popE(); stack.push(e, e); break; }
      case DW_OP_drop: popE(); break;
      case DW_OP_over: { if (stack.length < 2) stopError('DWARF expression: stack underflow'); stack.push(stack[stack.length - 2]); break; }
      case DW_OP_pick: { const i = r.u8(); if (i >= stack.length) stopError('DWARF expression: DW_OP_pick past the stack'); stack.push(stack[stack.length - 1 - i]); break; }
      case DW_OP_swap: { const a = popE(); const b = popE(); stack.push(a, b); break; }
      case DW_OP_rot: { const a = popE(); const b = popE(); const c = popE(); stack.push(a, c, b); break; }
      case DW_OP_abs: {
        const e = popE();
        if (e.t?.float) { checkFloat(e.t); stack.push({ v: floatBits(Math.abs(floatOf(e)), e.t.size), t: e.t }); break; }
        const v = signedOf(e);
        stack.push({ v: norm(v < 0n ? -v : v, e.t), t: e.t });
        break;
      }
      case DW_OP_neg: {
        const e = popE();
        if (e.t?.float) { checkFloat(e.t); stack.push({ v: floatBits(-floatOf(e), e.t.size), t: e.t }); break; }
        stack.push({ v: norm(-e.v, e.t), t: e.t });
        break;
      }
      case DW_OP_not: { const e = popE(); if (e.t?.float) stopError('DWARF expression: DW_OP_not on a floating-point value'); stack.push({ v: norm(~e.v, e.t), t: e.t }); break; }
      case DW_OP_and: case DW_OP_div: case DW_OP_minus: case DW_OP_mod: case DW_OP_mul: case DW_OP_or: case DW_OP_plus:
      case DW_OP_shl: case DW_OP_shr: case DW_OP_shra: case DW_OP_xor:
      case DW_OP_eq: case DW_OP_ge: case DW_OP_gt: case DW_OP_le: case DW_OP_lt: case DW_OP_ne:
        binary(op);
        break;
      case DW_OP_plus_uconst: { const e = popE(); stack.push({ v: norm(e.v + r.uleb(), e.t), t: e.t }); break; }
      case DW_OP_bra: { const off = r.s16(); if (pop() !== 0n) jump(r, off); break; }
      case DW_OP_skip: jump(r, r.s16()); break;
      case DW_OP_regx: special = { kind: 'register', reg: r.ulebN() }; break;
      case DW_OP_fbreg: {
        const off = r.sleb();
        if (!env.frameBase) stopError('DW_OP_fbreg outside a function with DW_AT_frame_base');
        const fb = env.frameBase(frame);
        if (typeof fb !== 'bigint') throw new ExprStop({ kind: 'error', message: fb.error });
        push(fb + off);
        break;
      }
      case DW_OP_bregx: { const n = r.ulebN(); const off = r.sleb(); push(reg(n) + off); break; }
      case DW_OP_piece: endPiece(r.ulebN() * 8); break;
      case DW_OP_bit_piece: { const size = r.ulebN(); const off = r.ulebN(); endPiece(size, off); break; }
      case DW_OP_deref_size: { const size = r.u8(); push(read(pop(), size)); break; }
      case DW_OP_nop: break;
      case DW_OP_call_frame_cfa:
        if (frame.cfa === undefined) stopError("the frame's CFA is unknown");
        push(frame.cfa);
        break;
      case DW_OP_implicit_value: {
        const n = r.ulebN();
        special = { kind: 'bytes', bytes: Buffer.from(r.bytes(n)) };
        break;
      }
      case DW_OP_stack_value: {
        const e = popE();
        special = { kind: 'value', value: e.t && e.t.signed && !e.t.float ? BigInt.asIntN(e.t.size * 8, e.v) : e.v };
        stack.length = 0;
        break;
      }
      case DW_OP_addrx: case DW_OP_GNU_addr_index: push(addrx(r.ulebN()) + env.loadOffset); break;
      case DW_OP_constx: case DW_OP_GNU_const_index: push(addrx(r.ulebN())); break;
      case DW_OP_entry_value: case DW_OP_GNU_entry_value:
        // The value a register had on entry: only the caller's call site knows it.
        r.skip(r.ulebN());
        unavailable = true;
        stack.length = 0;
        break;
      case DW_OP_implicit_pointer: case DW_OP_GNU_implicit_pointer:
        // A pointer to an object that exists only in the debug information.
        r.skip(offsetSize);
        r.sleb();
        unavailable = true;
        break;
      case DW_OP_GNU_parameter_ref:
        r.skip(4);
        unavailable = true;
        break;
      case DW_OP_regval_type: case DW_OP_GNU_regval_type: {
        const n = r.ulebN();
        const t = stackType(r.ulebN());
        stack.push({ v: norm(reg(n), t), t });
        break;
      }
      case DW_OP_const_type: case DW_OP_GNU_const_type: {
        const t = stackType(r.ulebN());
        // Only the bytes the type keeps (the low ones) are converted: a loop over 255-byte
        // constants would otherwise build a 2040-bit number each turn.
        const b = r.bytes(r.u8()).subarray(0, t ? t.size : addressSize);
        let v = 0n;
        for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        stack.push({ v: norm(v, t), t });
        break;
      }
      case DW_OP_deref_type: case DW_OP_GNU_deref_type: {
        const size = r.u8();
        const t = stackType(r.ulebN());
        stack.push({ v: norm(read(pop(), size), t), t });
        break;
      }
      case DW_OP_convert: case DW_OP_GNU_convert: {
        const t = stackType(r.ulebN());
        const e = popE();
        if (e.t?.float || t?.float) {
          checkFloat(e.t);
          checkFloat(t);
          const x = e.t?.float ? floatOf(e) : Number(signedOf(e));
          if (t?.float) stack.push({ v: floatBits(t.size === 4 ? Math.fround(x) : x, t.size), t });
          else if (!Number.isFinite(x)) stopError(`DWARF expression: ${x} converted to an integer`);
          else stack.push({ v: norm(BigInt(Math.trunc(x)), t), t });
        } else {
          stack.push({ v: norm(signedOf(e), t), t });
        }
        break;
      }
      case DW_OP_reinterpret: case DW_OP_GNU_reinterpret: {
        const t = stackType(r.ulebN());
        const e = popE();
        stack.push({ v: norm(e.v, t), t });
        break;
      }
      case DW_OP_form_tls_address: case DW_OP_GNU_push_tls_address:
        stopError('thread-local storage is not supported');
        break;
      case DW_OP_push_object_address:
        stopError('DW_OP_push_object_address outside an object');
        break;
      case DW_OP_call2: case DW_OP_call4: case DW_OP_call_ref:
        stopError('DWARF procedure calls (DW_OP_call*) are not supported');
        break;
      case DW_OP_xderef: case DW_OP_xderef_size: case DW_OP_xderef_type:
        stopError('address-space dereferences are not supported');
        break;
      case DW_OP_GNU_variable_value:
        stopError('DW_OP_GNU_variable_value is not supported');
        break;
      case DW_OP_GNU_uninit:
        break;
      default:
        stopError(`DWARF expression: unknown operation 0x${op.toString(16)}`);
    }
  }
  if (pieces.length) return { kind: 'pieces', pieces };
  if (unavailable) return { kind: 'optimized-out' };
  if (special) return special;
  if (stack.length) return { kind: 'memory', address: u(stack[stack.length - 1].v) };
  return { kind: 'optimized-out' };
}

function jump(r: ByteReader, off: number): void {
  const to = r.pos + off;
  if (to < 0 || to > r.end) stopError('DWARF expression: branch outside the expression');
  r.pos = to;
}

function typeOf(env: ExprEnv, rel: number): StackType | undefined {
  return env.baseType?.(env.unitOffset + rel);
}

// ---------------------------------------------------------------------------------------------
// Rendering.

const SIMPLE_NAMES: Record<number, string> = {
  [DW_OP_deref]: 'DW_OP_deref', [DW_OP_dup]: 'DW_OP_dup', [DW_OP_drop]: 'DW_OP_drop', [DW_OP_over]: 'DW_OP_over',
  [DW_OP_swap]: 'DW_OP_swap', [DW_OP_rot]: 'DW_OP_rot', [DW_OP_xderef]: 'DW_OP_xderef', [DW_OP_abs]: 'DW_OP_abs',
  [DW_OP_and]: 'DW_OP_and', [DW_OP_div]: 'DW_OP_div', [DW_OP_minus]: 'DW_OP_minus', [DW_OP_mod]: 'DW_OP_mod',
  [DW_OP_mul]: 'DW_OP_mul', [DW_OP_neg]: 'DW_OP_neg', [DW_OP_not]: 'DW_OP_not', [DW_OP_or]: 'DW_OP_or',
  [DW_OP_plus]: 'DW_OP_plus', [DW_OP_shl]: 'DW_OP_shl', [DW_OP_shr]: 'DW_OP_shr', [DW_OP_shra]: 'DW_OP_shra',
  [DW_OP_xor]: 'DW_OP_xor', [DW_OP_eq]: 'DW_OP_eq', [DW_OP_ge]: 'DW_OP_ge', [DW_OP_gt]: 'DW_OP_gt', [DW_OP_le]: 'DW_OP_le',
  [DW_OP_lt]: 'DW_OP_lt', [DW_OP_ne]: 'DW_OP_ne', [DW_OP_nop]: 'DW_OP_nop', [DW_OP_push_object_address]: 'DW_OP_push_object_address',
  [DW_OP_form_tls_address]: 'DW_OP_form_tls_address', [DW_OP_call_frame_cfa]: 'DW_OP_call_frame_cfa',
  [DW_OP_stack_value]: 'DW_OP_stack_value', [DW_OP_GNU_push_tls_address]: 'DW_OP_GNU_push_TLS_address',
  [DW_OP_GNU_uninit]: 'DW_OP_GNU_uninit',
};

/**
 * The expression in objdump's syntax (`objdump --dwarf=info`, without the byte dump):
 * operations separated by "; ", e.g. "DW_OP_fbreg: -20", "DW_OP_breg7 (rsp): 8",
 * "DW_OP_entry_value: (DW_OP_reg5 (rdi)); DW_OP_stack_value". `unitOffset` makes the type
 * references of typed operations absolute, as objdump prints them.
 */
export function formatExpression(expr: Buffer, addressSize: number, bits: 32 | 64, unitOffset = 0, offsetSize: 4 | 8 = 4): string {
  return formatNested(expr, addressSize, bits, unitOffset, offsetSize, 0);
}

/**
 * How deep DW_OP_entry_value expressions are spelled inside one another (compilers nest none);
 * deeper ones are "...". Without a bound, an expression of a few KiB nested thousands deep
 * would overflow the stack, and every level would copy the text of the levels inside it.
 */
export const MAX_FORMAT_NESTING = 8;

function formatNested(expr: Buffer, addressSize: number, bits: 32 | 64, unitOffset: number, offsetSize: 4 | 8, depth: number): string {
  const r = new ByteReader(expr, 'DWARF expression');
  const out: string[] = [];
  const rn = (n: number): string => dwarfRegisterName(n, bits);
  const hex = (v: bigint | number): string => v.toString(16);
  // printf's "%#x": no 0x for zero.
  const alt = (v: bigint): string => (v === 0n ? '0' : `0x${v.toString(16)}`);
  const block = (b: Buffer): string => `${b.length} byte block: ${[...b].map((x) => x.toString(16)).join(' ')} `;
  try {
    while (!r.atEnd) {
      const op = r.u8();
      if (op >= DW_OP_lit0 && op <= DW_OP_lit0 + 31) { out.push(`DW_OP_lit${op - DW_OP_lit0}`); continue; }
      if (op >= DW_OP_reg0 && op <= DW_OP_reg0 + 31) { out.push(`DW_OP_reg${op - DW_OP_reg0} (${rn(op - DW_OP_reg0)})`); continue; }
      if (op >= DW_OP_breg0 && op <= DW_OP_breg0 + 31) { out.push(`DW_OP_breg${op - DW_OP_breg0} (${rn(op - DW_OP_breg0)}): ${r.sleb()}`); continue; }
      const simple = SIMPLE_NAMES[op];
      if (simple) { out.push(simple); continue; }
      switch (op) {
        case DW_OP_addr: out.push(`DW_OP_addr: ${hex(r.uN(addressSize))}`); break;
        case DW_OP_const1u: out.push(`DW_OP_const1u: ${r.u8()}`); break;
        case DW_OP_const1s: out.push(`DW_OP_const1s: ${r.s8()}`); break;
        case DW_OP_const2u: out.push(`DW_OP_const2u: ${r.u16()}`); break;
        case DW_OP_const2s: out.push(`DW_OP_const2s: ${r.s16()}`); break;
        case DW_OP_const4u: out.push(`DW_OP_const4u: ${r.u32()}`); break;
        case DW_OP_const4s: out.push(`DW_OP_const4s: ${r.s32()}`); break;
        case DW_OP_const8u: out.push(`DW_OP_const8u: ${r.u64()}`); break;
        case DW_OP_const8s: out.push(`DW_OP_const8s: ${r.s64()}`); break;
        case DW_OP_constu: out.push(`DW_OP_constu: ${r.uleb()}`); break;
        case DW_OP_consts: out.push(`DW_OP_consts: ${r.sleb()}`); break;
        case DW_OP_pick: out.push(`DW_OP_pick: ${r.u8()}`); break;
        case DW_OP_plus_uconst: out.push(`DW_OP_plus_uconst: ${r.uleb()}`); break;
        case DW_OP_bra: out.push(`DW_OP_bra: ${r.s16()}`); break;
        case DW_OP_skip: out.push(`DW_OP_skip: ${r.s16()}`); break;
        case DW_OP_regx: { const n = r.ulebN(); out.push(`DW_OP_regx: ${n} (${rn(n)})`); break; }
        case DW_OP_fbreg: out.push(`DW_OP_fbreg: ${r.sleb()}`); break;
        case DW_OP_bregx: { const n = r.ulebN(); out.push(`DW_OP_bregx: ${n} (${rn(n)}) ${r.sleb()}`); break; }
        case DW_OP_piece: out.push(`DW_OP_piece: ${r.uleb()}`); break;
        case DW_OP_bit_piece: { const size = r.uleb(); out.push(`DW_OP_bit_piece: size: ${size} offset: ${r.uleb()} `); break; }
        case DW_OP_deref_size: out.push(`DW_OP_deref_size: ${r.u8()}`); break;
        case DW_OP_xderef_size: out.push(`DW_OP_xderef_size: ${r.u8()}`); break;
        case DW_OP_call2: out.push(`DW_OP_call2: <0x${hex(unitOffset + r.u16())}>`); break;
        case DW_OP_call4: out.push(`DW_OP_call4: <0x${hex(unitOffset + r.u32())}>`); break;
        case DW_OP_call_ref: out.push(`DW_OP_call_ref: <0x${hex(offsetSize === 8 ? r.u64() : BigInt(r.u32()))}>`); break;
        case DW_OP_implicit_value: out.push(`DW_OP_implicit_value ${block(r.bytes(r.ulebN()))}`); break;
        case DW_OP_implicit_pointer: case DW_OP_GNU_implicit_pointer: {
          const ref = offsetSize === 8 ? r.u64() : BigInt(r.u32());
          out.push(`${op === DW_OP_implicit_pointer ? 'DW_OP_implicit_pointer' : 'DW_OP_GNU_implicit_pointer'}: <0x${hex(ref)}> ${r.sleb()}`);
          break;
        }
        case DW_OP_addrx: out.push(`DW_OP_addrx <${alt(r.uleb())}>`); break;
        case DW_OP_constx: out.push(`DW_OP_constx <${alt(r.uleb())}>`); break;
        case DW_OP_GNU_addr_index: out.push(`DW_OP_GNU_addr_index <${alt(r.uleb())}>`); break;
        case DW_OP_GNU_const_index: out.push(`DW_OP_GNU_const_index <${alt(r.uleb())}>`); break;
        case DW_OP_entry_value: case DW_OP_GNU_entry_value: {
          const sub = r.bytes(r.ulebN());
          const inner = depth >= MAX_FORMAT_NESTING ? '...' : formatNested(sub, addressSize, bits, unitOffset, offsetSize, depth + 1);
          out.push(`${op === DW_OP_entry_value ? 'DW_OP_entry_value' : 'DW_OP_GNU_entry_value'}: (${inner})`);
          break;
        }
        case DW_OP_const_type: case DW_OP_GNU_const_type: {
          const t = r.uleb();
          const b = r.bytes(r.u8());
          out.push(`${op === DW_OP_const_type ? 'DW_OP_const_type' : 'DW_OP_GNU_const_type'}: <0x${hex(BigInt(unitOffset) + t)}> ${block(b)}`);
          break;
        }
        case DW_OP_regval_type: case DW_OP_GNU_regval_type: {
          const n = r.ulebN();
          const t = r.uleb();
          out.push(`${op === DW_OP_regval_type ? 'DW_OP_regval_type' : 'DW_OP_GNU_regval_type'}: ${n} (${rn(n)}) <0x${hex(BigInt(unitOffset) + t)}>`);
          break;
        }
        case DW_OP_deref_type: case DW_OP_GNU_deref_type: {
          const size = r.u8();
          const t = r.uleb();
          out.push(`${op === DW_OP_deref_type ? 'DW_OP_deref_type' : 'DW_OP_GNU_deref_type'}: ${size} <0x${hex(BigInt(unitOffset) + t)}>`);
          break;
        }
        case DW_OP_convert: case DW_OP_GNU_convert: case DW_OP_reinterpret: case DW_OP_GNU_reinterpret: {
          const t = r.uleb();
          const name = { [DW_OP_convert]: 'DW_OP_convert', [DW_OP_GNU_convert]: 'DW_OP_GNU_convert', [DW_OP_reinterpret]: 'DW_OP_reinterpret', [DW_OP_GNU_reinterpret]: 'DW_OP_GNU_reinterpret' }[op];
          out.push(`${name} <0x${hex(t ? BigInt(unitOffset) + t : 0n)}>`);
          break;
        }
        case DW_OP_GNU_parameter_ref: out.push(`DW_OP_GNU_parameter_ref: <0x${hex(unitOffset + r.u32())}>`); break;
        case DW_OP_GNU_variable_value: out.push(`DW_OP_GNU_variable_value: <0x${hex(offsetSize === 8 ? r.u64() : BigInt(r.u32()))}>`); break;
        default:
          out.push(`(unknown operation 0x${op.toString(16)})`);
          return out.join('; ');
      }
    }
  } catch (e) {
    if (!(e instanceof DwarfError)) throw e;
    out.push('(truncated)');
  }
  return out.join('; ');
}
