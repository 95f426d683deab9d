// Where the CPU delivers an interrupt through vector `v` from a given state: the handler's linear
// address, the frame it pushes, where the RFLAGS image lies in that frame and the stack pointer
// after. Real mode's IVT; 32-bit protected mode's interrupt and trap gates (on the same stack, or
// from an outer ring onto the TSS's stack for the handler's ring); long mode's 64-bit gates (IST
// stack, RSP0..2 from an outer ring, else the current stack, aligned to 16). Undefined elsewhere
// (task gates, 16-bit gates, virtual-8086 mode, a selector past its table or a descriptor that
// can't be read).
import { TSS_SIZE, decodeGate, decodeTss, readDescriptor, type SegmentDescriptor } from './descriptors.js';
import { CR0_PE_BIT, RFLAGS_VM_BIT, cpl } from './modes.js';
import { EFER_LMA, type Regs, type Sregs } from './registers.js';

export interface InterruptEntry {
  handler: bigint;
  /** The bytes the CPU pushes (linear). */
  frame: { linear: bigint; length: number };
  /** The RFLAGS image within the frame (linear) and its size. */
  flags: { linear: bigint; size: 2 | 4 | 8 };
  /** RSP at the handler's first instruction. */
  rsp: bigint;
}

/** Reads guest memory by linear address (throws where it can't). */
export type LinearReader = (linear: bigint, length: number) => Buffer;

export function interruptEntry(v: number, regs: Regs, s: Sregs, read: LinearReader, errorCode = false): InterruptEntry | undefined {
  try {
    if (!(s.cr0 & CR0_PE_BIT)) return realMode(v, regs, s, read);
    if (regs.rflags & RFLAGS_VM_BIT) return undefined;
    return s.efer & EFER_LMA ? longMode(v, regs, s, read, errorCode) : protectedMode(v, regs, s, read, errorCode);
  } catch {
    return undefined;
  }
}

function realMode(v: number, regs: Regs, s: Sregs, read: LinearReader): InterruptEntry {
  const ivt = read(s.idt.base + BigInt(v * 4), 4);
  const sp = BigInt((Number(regs.rsp & 0xffffn) - 6) & 0xffff);
  const frame = BigInt.asUintN(32, s.ss.base + sp);
  return {
    handler: BigInt(ivt.readUInt16LE(2) * 16 + ivt.readUInt16LE(0)), frame: { linear: frame, length: 6 },
    flags: { linear: frame + 4n, size: 2 }, rsp: (regs.rsp & ~0xffffn) | sp,
  };
}

/**
 * The descriptor a gate's or the TSS's selector names; throws where the CPU would fault instead
 * (past its table's limit) or it can't be read, which interruptEntry answers with undefined.
 */
function segment(selector: number, s: Sregs, read: LinearReader): SegmentDescriptor {
  const d = readDescriptor(selector, s, read);
  if (typeof d !== 'object') throw new Error(`selector ${selector}: ${d ?? 'unreadable'}`);
  return d;
}

function longMode(v: number, regs: Regs, s: Sregs, read: LinearReader, errorCode: boolean): InterruptEntry | undefined {
  const g = read(s.idt.base + BigInt(v * 16), 16);
  const gate = decodeGate(v, g.readBigUInt64LE(0), g.readBigUInt64LE(8), true);
  if (!gate.present || (gate.gateType !== 'interrupt' && gate.gateType !== 'trap')) return undefined;
  const ring = segment(gate.selector, s, read).dpl;
  let top = regs.rsp;
  if (gate.ist || ring < cpl({ cs: s.cs, cr0: s.cr0, rflags: regs.rflags, efer: s.efer })) {
    const tss = decodeTss(read(s.tr.base, TSS_SIZE), true);
    top = gate.ist ? tss.ist[gate.ist - 1] : tss.rsp[ring];
  }
  const length = 40 + (errorCode ? 8 : 0);
  const rsp = (top & ~15n) - BigInt(length);
  return { handler: gate.offset, frame: { linear: rsp, length }, flags: { linear: rsp + BigInt(length - 24), size: 8 }, rsp };
}

function protectedMode(v: number, regs: Regs, s: Sregs, read: LinearReader, errorCode: boolean): InterruptEntry | undefined {
  const gate = decodeGate(v, read(s.idt.base + BigInt(v * 8), 8).readBigUInt64LE(0), undefined, false);
  if (!gate.present || gate.bits !== 32 || (gate.gateType !== 'interrupt' && gate.gateType !== 'trap')) return undefined;
  const target = segment(gate.selector, s, read);
  const outer = target.dpl < cpl({ cs: s.cs, cr0: s.cr0, rflags: regs.rflags });
  let ssBase = s.ss.base;
  let esp = regs.rsp & 0xffffffffn;
  if (outer) {
    const tss = decodeTss(read(s.tr.base, TSS_SIZE), false);
    const stack = [[tss.ss0, tss.esp0], [tss.ss1, tss.esp1], [tss.ss2, tss.esp2]][target.dpl];
    ssBase = segment(stack[0], s, read).base;
    esp = BigInt(stack[1]);
  }
  const length = (outer ? 20 : 12) + (errorCode ? 4 : 0);
  const sp = BigInt.asUintN(32, esp - BigInt(length));
  const frame = BigInt.asUintN(32, ssBase + sp);
  return {
    handler: BigInt.asUintN(32, target.base + gate.offset), frame: { linear: frame, length },
    flags: { linear: frame + BigInt(errorCode ? 12 : 8), size: 4 }, rsp: sp,
  };
}
