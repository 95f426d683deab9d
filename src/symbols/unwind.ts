// Call stacks: unwinding frame by frame with the call frame information of the loaded ELF files,
// falling back to the frame-pointer chain where no FDE covers a pc (hand-written assembly
// without CFI, code built with -fno-asynchronous-unwind-tables and no -g).
import { CallFrameInfo, unwindWithFramePointer, type MemoryReader } from './dwarf/cfi.js';

export { unwindWithFramePointer } from './dwarf/cfi.js';

export interface BacktraceFrame {
  pc: bigint;
  /** The frame's registers (DWARF numbers) as far as they are known. */
  regs: Map<number, bigint>;
  /** The CFA of the frame below (callee) this one was unwound from; absent for the innermost frame. */
  cfa?: bigint;
  /** How this frame was found. */
  method: 'initial' | 'cfi' | 'frame-pointer';
}

export interface BacktraceOptions {
  /** At most this many frames (default 64). */
  maxFrames?: number;
  /** Follow the frame-pointer chain where no FDE covers a pc (default true). */
  framePointer?: boolean;
}

/**
 * The call stack of a CPU stopped at `pc` with registers `regs` (DWARF numbering for `bits`):
 * the innermost frame first. Stops at the outermost frame (return address undefined, as _start's
 * CFI says, or a frame pointer of 0), at an unreadable stack, when the stack pointer stops
 * growing (a loop), or after `maxFrames`.
 */
export function backtrace(
  cfis: CallFrameInfo[], regs: Map<number, bigint>, pc: bigint, read: MemoryReader, bits: 32 | 64,
  opts: BacktraceOptions = {},
): BacktraceFrame[] {
  const max = opts.maxFrames ?? 64;
  const sp = bits === 64 ? 7 : 4;
  const ra = bits === 64 ? 16 : 8;
  const first = new Map(regs);
  first.set(ra, pc);
  const frames: BacktraceFrame[] = [{ pc, regs: first, method: 'initial' }];
  while (frames.length < max) {
    const cur = frames[frames.length - 1];
    const caller = frames.length > 1;
    const lookup = caller ? cur.pc - 1n : cur.pc;
    const cfi = cfis.find((c) => c.findFde(lookup) !== undefined);
    let next: BacktraceFrame | undefined;
    if (cfi) {
      const step = cfi.unwindStep(cur.regs, cur.pc, read, bits, caller);
      if (step) next = { pc: step.pc, regs: step.regs, cfa: step.cfa, method: 'cfi' };
    } else if (opts.framePointer ?? true) {
      const step = unwindWithFramePointer(cur.regs, read, bits);
      if (step) next = { pc: step.pc, regs: step.regs, cfa: step.cfa, method: 'frame-pointer' };
    }
    if (!next || next.pc === 0n) break;
    const oldSp = cur.regs.get(sp);
    const newSp = next.regs.get(sp);
    if (oldSp !== undefined && newSp !== undefined && newSp <= oldSp) break;
    frames.push(next);
  }
  return frames;
}
