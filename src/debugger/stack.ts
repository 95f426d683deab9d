// Call stacks: the frame at the instruction pointer, then callers unwound with the ELF files'
// call frame information, falling back to the frame-pointer chain (symbols/unwind.ts).
import type { Machine } from '../vmm/machine.js';
import { DWARF_GPRS, type Regs } from '../x86/registers.js';
import { cpuMode, codeBitness } from '../x86/modes.js';
import type { DebugInfo, SourceLocation } from './debug-info.js';
import { backtrace } from '../symbols/unwind.js';
import type { AddressRange } from '../symbols/dwarf/loclists.js';

export interface Frame {
  /** Linear address of the frame's next instruction (the return address for callers). */
  pc: bigint;
  /** The registers known in this frame (all of them in frame 0). */
  regs: Partial<Regs>;
  /** The same registers by DWARF number, for variable locations. */
  dwarfRegs: Map<number, bigint>;
  /** This frame's canonical frame address, where the call frame information gives it. */
  cfa?: bigint;
  /** The address to look scopes up by: pc, or pc - 1 in a caller (inside its call). */
  scopePc: bigint;
  bits: 32 | 64;
  /** A caller's frame: only the registers the unwinder restored are known. */
  caller: boolean;
  /**
   * Where functions are inlined at scopePc, each is a frame of its own (as gdb shows them),
   * all sharing one machine frame: `depth` inlined calls out from the innermost function, the
   * inlined function's `name` and code (`ranges`; neither for the outermost, which the symbols
   * name) and the line shown: scopePc's in the innermost, the inlined call's in the others.
   */
  inline?: { depth: number; name?: string; ranges?: readonly AddressRange[]; location?: SourceLocation };
}


export function dwarfRegisters(regs: Partial<Regs>, bits: 32 | 64): Map<number, bigint> {
  const names = DWARF_GPRS[bits];
  const out = new Map<number, bigint>();
  names.forEach((n, i) => {
    const v = regs[n];
    if (v !== undefined) out.set(i, bits === 64 ? v : v & 0xffffffffn);
  });
  return out;
}

function fromDwarf(map: Map<number, bigint>, bits: 32 | 64): Partial<Regs> {
  const names = DWARF_GPRS[bits];
  const out: Partial<Regs> = {};
  for (const [i, v] of map) if (names[i]) out[names[i]] = v;
  return out;
}

/**
 * A reader of 1, 2, 4 or 8-byte little-endian values at linear addresses of a vCPU, undefined
 * where a page is not mapped: what DWARF expressions and the unwinder read memory with.
 */
export function valueReader(m: Machine, vcpu: number): (addr: bigint, size: number) => bigint | undefined {
  return (addr, size) => {
    if (size !== 1 && size !== 2 && size !== 4 && size !== 8) return undefined;
    try {
      const b = m.readLinear(vcpu, addr, size);
      return size === 8 ? b.readBigUInt64LE() : BigInt(b.readUIntLE(0, size));
    } catch {
      return undefined;
    }
  };
}

export function unwind(m: Machine, vcpu: number, info: DebugInfo | undefined): Frame[] {
  const regs = m.getRegs(vcpu);
  const pc = m.linearRip(vcpu);
  const s = m.getSregs(vcpu);
  const mode = cpuMode({ ...s, rflags: regs.rflags });
  const bits = codeBitness(mode) === 64 ? 64 : 32;
  const first: Frame = { pc, regs, dwarfRegs: dwarfRegisters(regs, bits), scopePc: pc, bits, caller: false };
  if (mode === 'real' || mode === 'vm86' || !info) return [first];
  const read = valueReader(m, vcpu);
  const cfis = info.callFrameInfo();
  const frames = backtrace(cfis, first.dwarfRegs, pc, read, bits);
  const out: Frame[] = [first];
  for (const f of frames.slice(1)) {
    // A caller is only shown where it lands in known code: a frame-pointer chain through a
    // register used for something else must not invent frames.
    if (info.symbolAt(f.pc) === undefined && info.lineAt(f.pc) === undefined) break;
    out.push({ pc: f.pc, regs: { ...fromDwarf(f.regs, bits), rip: f.pc }, dwarfRegs: f.regs, scopePc: f.pc - 1n, bits, caller: true });
  }
  // backtrace() gives each frame the CFA of the one it was unwound from: frame i's own CFA
  // is on frame i + 1; the outermost frame's comes from one more unwind step.
  out.forEach((f, i) => {
    f.cfa = frames[i + 1]?.cfa;
    if (f.cfa === undefined) {
      const cfi = cfis.find((c) => c.findFde(f.scopePc) !== undefined);
      f.cfa = cfi?.unwindStep(f.dwarfRegs, f.pc, read, bits, i > 0)?.cfa;
    }
  });
  return out;
}

/**
 * A machine frame as the frames shown for it: one of its own for each function inlined where it
 * stands (gdb's inline frames), innermost first, all sharing its registers. At -O2, code inlined
 * from a callee (a kernel's list and lock helpers) runs in its caller's machine frame, and its
 * parameters and locals are its own DWARF scope's; in a caller, the inlined calls are those
 * the call instruction is in.
 */
function inlinedFrames(f: Frame, info: DebugInfo): Frame[] {
  const scopes = info.scopeFramesAt(f.scopePc);
  if (scopes.length < 2) return [f];
  return scopes.map((s, depth): Frame => {
    const call = scopes[depth - 1];
    const location = depth === 0 ? info.lineAt(f.scopePc)
      : call.callFile !== undefined && call.callLine !== undefined ? { file: call.callFile, line: call.callLine, column: 0, address: f.scopePc } : undefined;
    const inner = depth < scopes.length - 1;
    return { ...f, inline: { depth, name: inner ? s.name : undefined, ranges: inner ? s.ranges : undefined, location } };
  });
}

/**
 * A vCPU's call stack at a stop: the machine frames, unwound at once, and the frames shown for
 * them (inlinedFrames), made as far down as a request reaches. A caller's inlined calls cost the
 * DWARF of its unit (its top level and its function), so a stop that shows only its top frame
 * (a client loading the stack a part at a time) pays for that frame alone.
 */
export class Stack {
  private readonly shown: Frame[] = [];
  private made = 0;

  constructor(private readonly machine: Frame[], private readonly info: DebugInfo | undefined) {}

  /** Frame `i` as shown, undefined past the stack's end. */
  at(i: number): Frame | undefined {
    return this.upTo(i + 1)[i];
  }

  /** The frames shown, up to `n` of them (all without `n`). */
  upTo(n = Infinity): readonly Frame[] {
    while (this.shown.length < n && this.made < this.machine.length) {
      const f = this.machine[this.made++];
      if (this.info) this.shown.push(...inlinedFrames(f, this.info));
      else this.shown.push(f);
    }
    return this.shown;
  }

  /** How many frames are shown: exact once all are made, else those made and a frame for each machine frame left. */
  get total(): number {
    return this.shown.length + this.machine.length - this.made;
  }
}
