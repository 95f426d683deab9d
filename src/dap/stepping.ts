// Stepping by instruction and by line, over calls and out of functions, on top of the monitor's
// single-step and breakpoints. Like gdb: a line step over a call runs to a breakpoint at the
// return address instead of single-stepping the callee, and an interrupt that arrives during a
// step is run through to its return, so a step never lands in its handler.
import { Decoder, DecoderOptions, FlowControl } from 'iced-x86';
import type { Machine } from '../vmm/machine.js';
import type { Stop } from '../vmm/debug/stops.js';
import { cpuMode, codeBitness } from '../vmm/arch/cpumode.js';
import type { Breakpoints } from './breakpoints.js';
import type { DebugInfo } from './debug-info.js';
import { interruptHandlers } from './interrupts.js';

/** Give up a line step after this many instructions (a loop with no line information). */
const MAX_LINE_STEPS = 200_000;

interface Decoded {
  length: number;
  flow: FlowControl;
  next: bigint;
  target?: bigint;
}

export class Stepper {
  constructor(
    private readonly m: Machine,
    private readonly bps: Breakpoints,
    private readonly info: DebugInfo | undefined,
    /** The frame to return to for stepOut: return address and the stack pointer after return. */
    private readonly caller: (vcpu: number) => { pc: bigint; sp: bigint } | undefined,
  ) {}

  /** One instruction; an interrupt taken meanwhile is run to completion. */
  async instruction(vcpu: number): Promise<Stop> {
    for (let tries = 0; ; tries++) {
      const before = this.here(vcpu);
      const insn = this.decode(vcpu, before.pc);
      const stop = await this.m.step(vcpu);
      if (stop.kind !== 'step' || tries > 16) return stop;
      const pc = this.m.linearRip(vcpu);
      if (!insn || this.expected(insn, pc) || !this.isInterruptEntry(vcpu, pc)) return stop;
      // An external interrupt was delivered before the instruction: let the handler run and
      // return to where we were, then step again.
      const back = await this.runTo(vcpu, before.pc, (sp) => sp === before.sp);
      if (back.kind !== 'step') return back;
    }
  }

  /** One instruction, but a call runs until it returns. */
  async instructionOver(vcpu: number): Promise<Stop> {
    const here = this.here(vcpu);
    const insn = this.decode(vcpu, here.pc);
    if (insn && (insn.flow === FlowControl.Call || insn.flow === FlowControl.IndirectCall)) {
      return this.runTo(vcpu, insn.next, (sp) => sp >= here.sp);
    }
    return this.instruction(vcpu);
  }

  /** To the start of another source line, into calls (stepIn) or over them (next). */
  async line(vcpu: number, over: boolean): Promise<Stop> {
    const start = this.info?.lineAt(this.here(vcpu).pc);
    if (!start) return over ? this.instructionOver(vcpu) : this.instruction(vcpu);
    for (let n = 0; n < MAX_LINE_STEPS; n++) {
      const here = this.here(vcpu);
      const insn = this.decode(vcpu, here.pc);
      const isCall = insn && (insn.flow === FlowControl.Call || insn.flow === FlowControl.IndirectCall);
      let stop: Stop;
      if (isCall && over) {
        stop = await this.runTo(vcpu, insn.next, (sp) => sp >= here.sp);
      } else {
        stop = await this.instruction(vcpu);
        if (stop.kind === 'step' && isCall) {
          const entered = this.here(vcpu).pc;
          const body = this.info?.bodyStart(entered);
          if (!this.info?.lineAt(entered)) {
            // Stepped into code without line information: come back out, as gdb does.
            stop = await this.runTo(vcpu, insn.next, (sp) => sp >= here.sp);
          } else if (body !== undefined && body !== entered) {
            // Into a function: stop where its arguments are in place, past the prologue.
            const sp = this.here(vcpu).sp;
            return this.runTo(vcpu, body, (now) => now <= sp);
          }
        }
      }
      if (stop.kind !== 'step') return stop;
      const pc = this.here(vcpu).pc;
      const loc = this.info?.lineAt(pc);
      if (loc && loc.address === pc && (loc.line !== start.line || loc.file !== start.file)) return stop;
    }
    return { kind: 'step', vcpu };
  }

  /** Runs until the current function returns to its caller. */
  async out(vcpu: number): Promise<Stop> {
    const c = this.caller(vcpu);
    if (!c) return this.instruction(vcpu);
    return this.runTo(vcpu, c.pc, (sp) => sp >= c.sp);
  }

  /**
   * Runs to `pc` on `vcpu` with a temporary breakpoint, ignoring hits whose stack pointer says
   * they belong to a deeper frame (recursion). Any other stop ends the run as it is.
   */
  private async runTo(vcpu: number, pc: bigint, frameOk: (sp: bigint) => boolean): Promise<Stop> {
    return this.bps.withTemporary([pc], async () => {
      for (;;) {
        const stop = await this.m.run();
        if (stop.kind !== 'breakpoint' || stop.address !== pc) return stop;
        if (stop.vcpu === vcpu && frameOk(this.here(vcpu).sp)) return { kind: 'step', vcpu };
        if (this.bps.hitAt(pc)) return stop;
      }
    });
  }

  private here(vcpu: number): { pc: bigint; sp: bigint } {
    return { pc: this.m.linearRip(vcpu), sp: this.m.getRegs(vcpu).rsp };
  }

  private decode(vcpu: number, pc: bigint): Decoded | undefined {
    let bytes: Buffer;
    try {
      bytes = this.m.readLinear(vcpu, pc, 15);
    } catch {
      try {
        bytes = this.m.readLinear(vcpu, pc, Number(0x1000n - (pc & 0xfffn)));
      } catch {
        return undefined;
      }
    }
    const s = this.m.getSregs(vcpu);
    const bits = codeBitness(cpuMode({ ...s, rflags: this.m.getRegs(vcpu).rflags }));
    const d = new Decoder(bits, bytes, DecoderOptions.None);
    d.ip = pc;
    const i = d.decode();
    try {
      const flow = i.flowControl;
      const direct = flow === FlowControl.Call || flow === FlowControl.UnconditionalBranch || flow === FlowControl.ConditionalBranch;
      return { length: i.length, flow, next: i.nextIP, target: direct ? i.nearBranchTarget : undefined };
    } finally {
      i.free();
      d.free();
    }
  }

  /** Whether `pc` is where `insn` can lead by itself (fall-through or direct branch target). */
  private expected(insn: Decoded, pc: bigint): boolean {
    switch (insn.flow) {
      case FlowControl.Next:
        return pc === insn.next;
      case FlowControl.ConditionalBranch:
        return pc === insn.next || pc === insn.target;
      case FlowControl.UnconditionalBranch:
      case FlowControl.Call:
        return pc === insn.target;
      default:
        return true; // returns, indirect branches, int/syscall: anywhere is possible
    }
  }

  private isInterruptEntry(vcpu: number, pc: bigint): boolean {
    try {
      return interruptHandlers(this.m, vcpu, 32).has(pc);
    } catch {
      return false;
    }
  }
}
