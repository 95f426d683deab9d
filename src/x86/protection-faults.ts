// When an instruction raises #GP, #SS or #NP by itself, known before it runs from the registers
// and the descriptor tables (SDM vol. 2, the "Protected Mode Exceptions" of MOV, POP, LDS, HLT,
// CLI, IN, RDTSC...; vol. 3, 5.4-5.9): a privileged instruction outside ring 0, an IOPL-sensitive
// one above IOPL, a memory operand at a non-canonical address, a segment register loaded with a
// selector its descriptor refuses. The recorder then foresees the handler and its frame, as for
// #DE and #PF. Far transfers too: iret, a far ret, a far jmp or call to a code segment, with the
// CS (and, returning to an outer ring or from 64-bit code, SS) they load and where they land.
//
// Foreseeing a fault that does not come costs only a debug register for that step, while one not
// foreseen leaves the step inexact: where the SDM makes the outcome hang on more than is checked
// here (an I/O permission bitmap, CR4.PVI), the answer is the fault. A far jmp or call through a
// gate or to a TSS, a task return (iret with NT), a return to virtual-8086 mode, real mode and
// virtual-8086 mode are not foreseen.
import { readDescriptor, readField, type SegmentDescriptor } from './descriptors.js';
import { CR0_PE_BIT, RFLAGS_VM_BIT, cpl } from './modes.js';
import type { LinearReader } from './interrupt-frame.js';
import { EFER_LMA, ioplOf, type Regs, type Sregs } from './registers.js';
import { isCanonical } from './pagewalk.js';

/** #NP, #SS and #GP: each pushes an error code. */
export const NP_VECTOR = 11;
export const SS_VECTOR = 12;
export const GP_VECTOR = 13;

/** CR4.TSD: rdtsc and rdtscp outside ring 0 raise #GP. */
export const CR4_TSD = 1n << 2n;
/** CR4.PCE: without it, rdpmc outside ring 0 raises #GP. */
export const CR4_PCE = 1n << 8n;
/** CR4.UMIP: sgdt, sidt, sldt, smsw and str outside ring 0 raise #GP. */
export const CR4_UMIP = 1n << 11n;
export type LoadedSegment = 'ds' | 'es' | 'fs' | 'gs' | 'ss';

/** What an instruction's own protection checks depend on, with the registers of now. */
export interface ProtectionCheck {
  /** Runs in ring 0 only: hlt, lgdt, mov to a control register, wrmsr... */
  ring0?: boolean;
  /** Runs only where CPL <= IOPL: cli, sti, in, out, ins, outs. */
  iopl?: boolean;
  /** Outside ring 0, raises #GP where this CR4 bit is set (or, `clear`, where it is not). */
  cr4?: { bit: bigint; clear?: boolean };
  /**
   * Loads a data or stack segment register (mov, pop, lds...): with `selector`, or with the 16
   * bits at linear `at`.
   */
  loads?: { sreg: LoadedSegment; selector?: number; at?: bigint };
  /** A memory operand at a non-canonical address (64-bit code): #SS through SS, else #GP. */
  nonCanonical?: 'stack' | 'other';
  /**
   * A far transfer: iret or a far ret, whose frame of `slot`-byte words is at linear `at` (a
   * ret's `imm` bytes lie between its CS and an outer SS:RSP), or a far jmp or call, whose
   * pointer (offset, then selector) is at `at`, or else in the instruction.
   */
  far?: { kind: 'iret' | 'retf' | 'jmp'; slot: number; imm: number; at?: bigint; selector?: number; offset?: bigint };
}

/**
 * The vectors `c`'s checks may raise from this state: the SDM's first, then what a CPU emulator
 * raises instead. Empty for none (or none foreseen).
 */
export function protectionFaults(c: ProtectionCheck, regs: Regs, sregs: Sregs, read: LinearReader): number[] {
  // QEMU's TCG raises #GP for every non-canonical address, through SS too (the test VM's nested
  // KVM runs its guest there): both handlers are stopped at.
  if (c.nonCanonical) return c.nonCanonical === 'stack' ? [SS_VECTOR, GP_VECTOR] : [GP_VECTOR];
  const v = protectionFault(c, regs, sregs, read);
  return v === undefined ? [] : [v];
}

/** The vector `c`'s checks other than canonical addresses raise from this state, or undefined. */
function protectionFault(c: ProtectionCheck, regs: Regs, sregs: Sregs, read: LinearReader): number | undefined {
  if (!(sregs.cr0 & CR0_PE_BIT) || (!(sregs.efer & EFER_LMA) && regs.rflags & RFLAGS_VM_BIT)) return undefined;
  const ring = cpl({ cs: sregs.cs, cr0: sregs.cr0, rflags: regs.rflags, efer: sregs.efer });
  if (ring > 0 && (c.ring0 || (c.cr4 && ((sregs.cr4 & c.cr4.bit) === 0n) === (c.cr4.clear ?? false)))) return GP_VECTOR;
  if (c.iopl && ring > ioplOf(regs.rflags)) return GP_VECTOR;
  if (c.far) {
    try {
      return farFault(c.far, ring, regs, sregs, read);
    } catch {
      return undefined; // its frame or a descriptor can't be read: a #PF first, not foreseen here
    }
  }
  if (!c.loads) return undefined;
  let selector = c.loads.selector;
  if (selector === undefined && c.loads.at !== undefined) {
    try {
      selector = read(c.loads.at, 2).readUInt16LE(0);
    } catch {
      return undefined; // the read faults first (#PF), not foreseen here
    }
  }
  return selector === undefined ? undefined : selectorFault(c.loads.sreg, selector, ring, sregs, read);
}

/**
 * The fault of loading `sreg` with `selector` at CPL `ring` (SDM vol. 2, MOV's operation):
 * a null selector (SS only, but for 64-bit code below ring 3 with RPL = CPL), an index past the
 * table's limit, a descriptor of the wrong type or privilege (#GP), or one not present (#NP; #SS
 * for SS).
 */
function selectorFault(sreg: LoadedSegment, selector: number, ring: number, sregs: Sregs, read: LinearReader): number | undefined {
  const rpl = selector & 3;
  if ((selector & ~3) === 0) {
    if (sreg !== 'ss') return undefined;
    const long64 = (sregs.efer & EFER_LMA) !== 0n && sregs.cs.l;
    return long64 && ring < 3 && rpl === ring ? undefined : GP_VECTOR;
  }
  const d = readDescriptor(selector, sregs, read);
  if (d === 'past the limit') return GP_VECTOR;
  if (!d) return undefined;
  if (sreg === 'ss') return stackFault(d, rpl, ring);
  const code = d.kind === 'code';
  if (!(d.kind === 'data' || (code && d.type & 2))) return GP_VECTOR; // a system descriptor, execute-only code
  const conforming = code && (d.type & 4) !== 0;
  if (!conforming && (rpl > d.dpl || ring > d.dpl)) return GP_VECTOR;
  return d.present ? undefined : NP_VECTOR;
}

/** The fault of loading SS with the descriptor `d` (selector RPL `rpl`) for ring `ring`. */
function stackFault(d: SegmentDescriptor, rpl: number, ring: number): number | undefined {
  const writable = d.kind === 'data' && (d.type & 2) !== 0;
  if (rpl !== ring || !writable || d.dpl !== ring) return GP_VECTOR;
  return d.present ? undefined : SS_VECTOR;
}

const RFLAGS_NT = 1n << 14n;

/**
 * The fault of a far transfer from ring `ring` (SDM vol. 2, IRET, RET, JMP, CALL: their protected-
 * and IA-32e-mode checks of the new CS, of SS where one is popped, and of the new RIP). Throws
 * where the frame or pointer can't be read.
 */
function farFault(f: NonNullable<ProtectionCheck['far']>, ring: number, regs: Regs, sregs: Sregs, read: LinearReader): number | undefined {
  const word = (byte: number, size = f.slot) => readField(read(f.at! + BigInt(byte), size), 0, size);
  const ia32e = (sregs.efer & EFER_LMA) !== 0n;
  let offset: bigint;
  let cs: number;
  if (f.kind === 'jmp') {
    offset = f.at === undefined ? f.offset! : word(0);
    cs = f.at === undefined ? f.selector! : Number(word(f.slot, 2));
  } else {
    if (f.kind === 'iret' && !ia32e && (regs.rflags & RFLAGS_NT || (ring === 0 && word(2 * f.slot) & RFLAGS_VM_BIT))) return undefined;
    offset = word(0);
    cs = Number(word(f.slot) & 0xffffn);
  }
  if ((cs & ~3) === 0) return GP_VECTOR;
  const d = readDescriptor(cs, sregs, read);
  if (d === 'past the limit') return GP_VECTOR;
  if (!d || (f.kind === 'jmp' && !d.s)) return undefined; // unreadable; a gate or a TSS
  if (d.kind !== 'code') return GP_VECTOR;
  const rpl = cs & 3;
  const conforming = (d.type & 4) !== 0;
  // A jump stays in its ring; a return goes to RPL's, never an inner one.
  const target = f.kind === 'jmp' ? ring : rpl;
  if (f.kind === 'jmp' ? (conforming ? d.dpl > ring : rpl > ring || d.dpl !== ring) : rpl < ring || (conforming ? d.dpl > rpl : d.dpl !== rpl)) return GP_VECTOR;
  if (!d.present) return NP_VECTOR;
  if (ia32e && d.l && d.db) return GP_VECTOR;
  const to64 = ia32e && d.l;
  // An outer return pops SS:RSP; so does every iret from 64-bit code.
  const ssAt = f.kind === 'iret' ? 4 * f.slot : f.kind === 'retf' ? 3 * f.slot + f.imm : -1;
  if (ssAt >= 0 && (target > ring || (f.kind === 'iret' && ia32e && sregs.cs.l))) {
    const ss = Number(word(ssAt) & 0xffffn);
    if ((ss & ~3) === 0) {
      if (!(to64 && target < 3)) return GP_VECTOR;
    } else {
      const sd = readDescriptor(ss, sregs, read);
      if (sd === 'past the limit') return GP_VECTOR;
      const fault = sd && stackFault(sd, ss & 3, target);
      if (fault !== undefined) return fault;
    }
  }
  if (to64) return isCanonical(offset, sregs.cr4) ? undefined : GP_VECTOR;
  return offset > BigInt(d.limit) ? GP_VECTOR : undefined;
}
