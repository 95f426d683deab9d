// Call stacks: the frame at the instruction pointer, then callers unwound by frame pointers.
import type { Machine } from '../vmm/machine.js';
import type { Regs } from '../vmm/vcpu.js';
import type { DebugInfo } from './debug-info.js';

export interface Frame {
  /** Linear address of the frame's next instruction (the return address for callers). */
  pc: bigint;
  /** The registers known in this frame (all of them in frame 0). */
  regs: Partial<Regs>;
}

const MAX_FRAMES = 64;

export function unwind(m: Machine, vcpu: number, info: DebugInfo | undefined): Frame[] {
  const regs = m.getRegs(vcpu);
  const frames: Frame[] = [{ pc: m.linearRip(vcpu), regs }];
  const s = m.getSregs(vcpu);
  if (!(s.cr0 & 1n)) return frames; // real mode: no convention to follow
  const long = (s.efer & 0x400n) !== 0n && s.cs.l;
  const word = long ? 8 : 4;
  const read = (a: bigint): bigint | undefined => {
    try {
      const b = m.readLinear(vcpu, a, word);
      return word === 8 ? b.readBigUInt64LE() : BigInt(b.readUInt32LE());
    } catch {
      return undefined;
    }
  };
  let fp = regs.rbp;
  while (frames.length < MAX_FRAMES && fp !== 0n) {
    const ret = read(fp + BigInt(word));
    const prev = read(fp);
    if (ret === undefined || prev === undefined || ret === 0n) break;
    // Only believe return addresses into code we have symbols for: a frame pointer register
    // used for something else must not invent frames.
    if (!info?.symbolAt(ret)) break;
    frames.push({ pc: ret, regs: { rip: ret, rsp: fp + 2n * BigInt(word), rbp: prev } });
    if (prev <= fp) break;
    fp = prev;
  }
  return frames;
}
