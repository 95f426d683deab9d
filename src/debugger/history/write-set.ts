// What one instruction may change, known before it runs: the linear ranges it may write (iced-x86's
// memory-access information, decoded.ts, evaluated with the registers of now) and whether it may
// touch the FPU/SSE state (saved only then: reading the XSAVE area costs an ioctl). No KVM, no
// DAP: a pure function of the instruction's bytes and the registers, tested on the host.
import { Register } from 'iced-x86';
import { RFLAGS_DF, type Regs, type Sregs } from '../../x86/registers.js';
import { dividendOf, type Division } from '../../x86/divide-error.js';
import type { ProtectionCheck } from '../../x86/protection-faults.js';
import { isCanonical } from '../../x86/pagewalk.js';
import { UNKNOWN_SIZE, decodedAt, regValue, type Decoded } from '../decoded.js';

/** Bytes below the stack pointer an int/exception frame may take (a same-privilege frame, error code included). */
const FRAME_BYTES = 64;

export interface WriteRange {
  linear: bigint;
  length: number;
}

/** What decoding tells that a write set passes on as it is (decoded.ts says what each means). */
type Passed = 'loadsSegment' | 'fpu' | 'landings' | 'interrupt' | 'vector' | 'flags' | 'halts' | 'performed' | 'next' | 'shadowsTrap';

export interface WriteSet extends Pick<Decoded, Passed> {
  ranges: WriteRange[];
  /** Every memory operand, read or written: translating them sets Accessed bits in the page tables. */
  accesses: WriteRange[];
  /**
   * A div or idiv: its dividend, and its divisor where that is a register (else the memory
   * operand's value, `accesses[0]`, is the divisor). Whether it raises #DE is known before it runs.
   */
  divide?: Division & { divisor?: bigint };
  /** What may make it raise #GP, #SS or #NP itself (protection-faults.ts); undefined where nothing can. */
  protection?: ProtectionCheck;
}

/**
 * The write set of the instruction in `bytes` (at regs.rip, linear address `pc`), in code of
 * `bits` bits. Its decode is the one decoded.ts keeps for the same bytes at the same place.
 */
export function writeSet(bytes: Uint8Array, bits: 16 | 32 | 64, regs: Regs, sregs: Sregs, pc?: bigint): WriteSet {
  const d = decodedAt(bytes, bits, regs.rip, pc);
  const ranges: WriteRange[] = [];
  const accesses: WriteRange[] = [];
  let nonCanonical: ProtectionCheck['nonCanonical'];
  for (const m of d.operands) {
    const offset = BigInt.asUintN(m.addrBits, m.displacement + regValue(m.base, regs) + regValue(m.index, regs) * m.scale);
    const segBase = bits === 64 && m.segment !== Register.FS && m.segment !== Register.GS ? 0n : segmentBase(m.segment, sregs);
    const linear = bits === 64 ? BigInt.asUintN(64, segBase + offset) : BigInt.asUintN(32, segBase + offset);
    const range = m.element ? repSpan(linear, m.element, m.addrBits, regs) : { linear, length: m.length };
    accesses.push(range);
    if (m.write) ranges.push(range);
    const last = range.linear + BigInt(Math.max(range.length, 1) - 1);
    if (bits === 64 && !nonCanonical && !(isCanonical(range.linear, sregs.cr4) && isCanonical(last, sregs.cr4))) nonCanonical = m.segment === Register.SS ? 'stack' : 'other';
  }
  let protection: ProtectionCheck | undefined = d.privilege;
  if (d.loads || d.far || nonCanonical) {
    const { loads: l, far: f } = d;
    const loads = l && { sreg: l.sreg, selector: l.from && Number(regValue(l.from, regs) & 0xffffn), at: l.from ? undefined : accesses[0] && accesses[0].linear + BigInt(l.offset) };
    const far = f && { ...f, at: f.selector === undefined ? accesses[0]?.linear : undefined };
    protection = { ...d.privilege, loads, far, nonCanonical };
  }
  if (d.interrupt) {
    const sp = BigInt.asUintN(bits === 64 ? 64 : 32, (bits === 64 ? 0n : sregs.ss.base) + (regs.rsp & ~15n) - BigInt(FRAME_BYTES));
    ranges.push({ linear: sp, length: FRAME_BYTES });
  }
  const { loadsSegment, vector, flags, fpu, landings, interrupt, halts, performed, next, shadowsTrap, divides } = d;
  const divide = divides && {
    signed: divides.signed, bytes: divides.bytes, dividend: dividendOf(divides.bytes, regs.rax, regs.rdx),
    divisor: divides.by && regValue(divides.by, regs),
  };
  return { ranges, accesses, loadsSegment, vector, divide, flags, fpu, landings, interrupt, halts, performed, next, shadowsTrap, protection };
}

/**
 * The write set of a step in which no instruction runs (its fetch faults): it writes nothing and
 * lands nowhere by itself, only in the handler of the fault.
 */
export function nothingRuns(rip: bigint): WriteSet {
  return {
    ranges: [], accesses: [], loadsSegment: false, fpu: false, landings: [], interrupt: false, flags: { flagsToR11: false, loadsFlags: false },
    halts: false, next: rip, shadowsTrap: false,
  };
}

/**
 * The bytes a rep string instruction may reach from `linear` in one step: rCX elements (the
 * count register of its address size), downwards where RFLAGS.DF is set, at most UNKNOWN_SIZE
 * bytes. A hardware step runs one iteration; KVM's emulator (kvm_pvm's CPL0 code) may run many.
 * The recorder keeps only the bytes that changed of a span this long.
 */
function repSpan(linear: bigint, element: number, addrBits: 16 | 32 | 64, regs: Regs): WriteRange {
  const count = Number(BigInt.asUintN(addrBits, regs.rcx) > BigInt(UNKNOWN_SIZE) ? BigInt(UNKNOWN_SIZE) : BigInt.asUintN(addrBits, regs.rcx));
  const n = Math.max(1, Math.min(count, Math.floor(UNKNOWN_SIZE / element)));
  const down = (regs.rflags & RFLAGS_DF) !== 0n;
  return { linear: down ? BigInt.asUintN(addrBits === 64 ? 64 : 32, linear - BigInt((n - 1) * element)) : linear, length: n * element };
}

function segmentBase(seg: Register, s: Sregs): bigint {
  switch (seg) {
    case Register.ES: return s.es.base;
    case Register.CS: return s.cs.base;
    case Register.SS: return s.ss.base;
    case Register.FS: return s.fs.base;
    case Register.GS: return s.gs.base;
    default: return s.ds.base;
  }
}
