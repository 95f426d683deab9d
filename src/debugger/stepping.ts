// Stepping by instruction and by line, over calls and out of functions, on top of the monitor's
// single-step and breakpoints. Like gdb: a line step over a call runs to a breakpoint at the
// return address instead of single-stepping the callee. Like QEMU's gdbstub, interrupts are
// held off during a single step, so a step never lands in an interrupt handler.
import { FlowControl } from 'iced-x86';
import type { Machine } from '../vmm/machine.js';
import type { Stop } from '../vmm/debug/stops.js';
import { cpuMode, codeBitness, cpl } from '../x86/modes.js';
import { fetchFaults, walk, type PagingRegs } from '../x86/pagewalk.js';
import type { Breakpoints } from './breakpoints.js';
import type { DebugInfo } from './debug-info.js';
import { EFER_LMA, RFLAGS_IF } from '../x86/registers.js';
import { performRealModeInt, performRealModeIret, type Perform } from './real-mode-int.js';
import { afterStep } from './step-flags.js';
import { PF_VECTOR, enteredHandler, foreseeEntries, iretLanding, raisedFaults, stepToHandler } from './handler-entry.js';
import { writeSet } from './history/write-set.js';
import { UD_VECTOR, decodedAt, type Decoded } from './decoded.js';
import type { AddressRange } from '../symbols/dwarf/loclists.js';

/** Give up a line step after this many instructions (a loop with no line information). */
const MAX_LINE_STEPS = 200_000;
/** What the stepper needs of an instruction: its decode, and where it goes on as linear addresses. */
interface Insn {
  d: Decoded;
  next: bigint;
  target?: bigint;
}

/**
 * What moves the guest forward for the stepper: the machine, or the history recorder (which
 * records each step, or replays the recorded past while `replaying`).
 */
export interface Drive {
  step(vcpu: number, opts?: { holdInterrupts?: boolean }): Stop | Promise<Stop>;
  run(): Stop | Promise<Stop>;
  readonly replaying?: boolean;
  /** Records each step (and enters handlers itself: handler-entry.ts). */
  readonly recording?: boolean;
  /**
   * An instruction the stepper performs itself (`perform`: false when it did nothing), which
   * writes at most `writes` (linear): the recorder keeps it in the history like a step.
   */
  perform?: Perform;
}

export class Stepper {
  /** The code page (linear page number) last found fetchable, and under which paging registers and ring. */
  private fetchable: { page: bigint; ring: number; regs: PagingRegs } | undefined;

  constructor(
    private readonly m: Machine,
    private readonly bps: Breakpoints,
    private readonly info: DebugInfo | undefined,
    /** The frame to return to for stepOut: return address and the stack pointer after return. */
    private readonly caller: (vcpu: number) => { pc: bigint; sp: bigint } | undefined,
    private readonly drive: Drive = m,
  ) {}

  /**
   * One instruction, with external interrupts held off for its duration (QEMU's SSTEP_NOIRQ):
   * a pending interrupt is taken when the guest next runs, and a step never lands in its
   * handler. Where KVM can block interrupts for a step (KVM_GUESTDBG_BLOCKIRQ) it does so, and
   * the guest's state is not touched; an instruction that waits for an interrupt (hlt) steps
   * with them let through, or it would never end.
   * Elsewhere, RFLAGS.IF is cleared for the step (and an interrupt whose injection KVM had
   * begun is set aside for it) and set again after it, unless the instruction
   * reads or writes IF itself; if the instruction raised an exception, the RFLAGS image that
   * the CPU saved in the exception frame gets its IF back, so the handler's iret restores it.
   */
  async instruction(vcpu: number): Promise<Stop> {
    // The recorded past replays its own after-state: nothing to emulate or hold off.
    if (this.drive.replaying) return this.drive.step(vcpu);
    const before = this.here(vcpu);
    const insn = this.decode(vcpu, before.pc);
    if (insn?.d.performed === 'int' && performRealModeInt(this.m, vcpu, insn.d.vector!, insn.next, this.perform)) return { kind: 'step', vcpu };
    if (insn?.d.performed === 'iret16' && performRealModeIret(this.m, vcpu, this.perform)) return { kind: 'step', vcpu };
    if (this.m.canHoldInterrupts) return this.driveStep(vcpu, insn, { holdInterrupts: insn !== undefined && !insn.d.halts });
    const flags = this.m.getRegs(vcpu).rflags;
    const mask = insn !== undefined && (flags & RFLAGS_IF) !== 0n && !insn.d.touchesIf;
    if (mask) this.m.setRegs(vcpu, { rflags: flags & ~RFLAGS_IF });
    const putBack = mask ? this.m.setAsideInjectedInterrupt(vcpu) : undefined;
    let stop: Stop;
    try {
      stop = await this.driveStep(vcpu, insn);
    } finally {
      putBack?.();
    }
    if (!mask) return stop;
    const pc = this.m.linearRip(vcpu);
    if (this.expected(insn, pc)) {
      this.m.setRegs(vcpu, { rflags: this.m.getRegs(vcpu).rflags | RFLAGS_IF });
    } else {
      this.restoreSavedIf(vcpu, [before.pc, insn.next]);
    }
    return stop;
  }

  /**
   * One step of `insn` through the drive: a ud0/ud1/ud2 stops at its #UD handler's first
   * instruction, one that raises #DE, #GP, #SS or #NP at that one's, as does a fetch that faults
   * at #PF's (handler-entry.ts; a recording drive does that itself), and what the step's trap
   * flag left is put right (step-flags.ts).
   */
  private async driveStep(vcpu: number, insn: Insn | undefined, opts?: { holdInterrupts?: boolean }): Promise<Stop> {
    // No instruction could be read where RIP points, or its page may not be fetched from: the
    // step runs nothing, it only enters the #PF handler. (A recording drive looks for itself.)
    const fetchFault = !insn || (!this.drive.recording && this.fetchFaults(vcpu));
    const vectors: readonly number[] = this.drive.recording ? [] : fetchFault ? [PF_VECTOR]
      : insn.d.vector === UD_VECTOR ? [UD_VECTOR] : insn.d.mayFault ? this.raisedFaults(vcpu, insn.d) : [];
    const entries = vectors.length ? foreseeEntries(this.m, vcpu, vectors, this.m.getRegs(vcpu), this.m.getSregs(vcpu), true) : [];
    const landing = this.drive.recording || !insn?.d.far ? undefined : iretLanding(this.m, vcpu, insn.d.far, this.m.getRegs(vcpu), this.m.getSregs(vcpu));
    const stop = await stepToHandler(this.m, vcpu, entries, () => this.drive.step(vcpu, opts), landing);
    if (entries.length) enteredHandler(this.m, vcpu, entries, this.m.getRegs(vcpu).rsp, false);
    if (!fetchFault) afterStep(this.m, vcpu, insn.d.flags);
    return stop;
  }

  /**
   * Whether fetching at RIP faults (pagewalk.ts fetchFaults: no-execute, SMEP, a supervisor page
   * from ring 3). The code page last found fetchable is not walked again while the paging
   * registers and the ring stay: a loop stepped through walks once.
   */
  private fetchFaults(vcpu: number): boolean {
    const regs = this.m.pagingRegs(vcpu);
    const pc = this.m.linearRip(vcpu);
    const s = this.m.getSregs(vcpu);
    const ring = cpl({ cs: s.cs, cr0: s.cr0, rflags: this.m.getRegs(vcpu).rflags, efer: s.efer });
    const f = this.fetchable;
    if (f && f.page === pc >> 12n && f.ring === ring && f.regs.cr3 === regs.cr3 && f.regs.cr0 === regs.cr0 && f.regs.cr4 === regs.cr4 && f.regs.efer === regs.efer) return false;
    const faults = fetchFaults(walk(this.m.vm.memory, regs, pc), regs, ring);
    this.fetchable = faults ? undefined : { page: pc >> 12n, ring, regs };
    return faults;
  }

  private raisedFaults(vcpu: number, insn: Decoded): readonly number[] {
    // The write set finds the decode that decoded.ts keeps: the instruction is decoded once.
    const regs = this.m.getRegs(vcpu);
    const sregs = this.m.getSregs(vcpu);
    return raisedFaults(this.m, vcpu, writeSet(insn.bytes, insn.bits, regs, sregs, this.m.linearRip(vcpu)), regs, sregs);
  }

  /** An instruction performed here (real-mode-int.ts), through the drive, which records it when it records. */
  private readonly perform: Perform = (vcpu, writes, perform) => (this.drive.perform ? this.drive.perform(vcpu, writes, perform) : perform());

  /** Sets IF in the RFLAGS word of an exception frame whose RIP is one of `rips`. */
  private restoreSavedIf(vcpu: number, rips: bigint[]): void {
    const sp = this.here(vcpu).sp;
    const long = (this.m.getSregs(vcpu).efer & EFER_LMA) !== 0n;
    const word = long ? 8 : 4;
    try {
      const words = this.m.readLinear(vcpu, sp, 8 * word);
      const at = (i: number) => (long ? words.readBigUInt64LE(i * 8) : BigInt(words.readUInt32LE(i * 4)));
      for (let i = 0; i < 6; i++) {
        if (!rips.includes(at(i))) continue;
        const slot = sp + BigInt((i + 2) * word);
        const b = Buffer.alloc(word);
        if (long) b.writeBigUInt64LE(at(i + 2) | RFLAGS_IF);
        else b.writeUInt32LE(Number(at(i + 2) | RFLAGS_IF));
        this.m.writeLinear(vcpu, slot, b);
        return;
      }
    } catch {
      // no readable frame: nothing to restore
    }
  }

  /** One instruction, but a call runs until it returns. */
  async instructionOver(vcpu: number): Promise<Stop> {
    const here = this.here(vcpu);
    const insn = this.decode(vcpu, here.pc);
    if (insn?.d.performed === 'int' && performRealModeInt(this.m, vcpu, insn.d.vector!, insn.next, this.perform)) return this.runTo(vcpu, insn.next, (sp) => sp >= here.sp);
    if (insn && (insn.d.flow === FlowControl.Call || insn.d.flow === FlowControl.IndirectCall || insn.d.performed === 'int')) {
      return this.runTo(vcpu, insn.next, (sp) => sp >= here.sp);
    }
    return this.instruction(vcpu);
  }

  /**
   * To the start of another source line, into calls (stepIn) or over them (next). Over also
   * means over a function inlined into this one: a line that starts in it, deeper than where
   * the step began, is stepped through as gdb's next does.
   */
  async line(vcpu: number, over: boolean): Promise<Stop> {
    const start = this.info?.lineAt(this.here(vcpu).pc);
    if (!start) return over ? this.instructionOver(vcpu) : this.instruction(vcpu);
    const depth = (pc: bigint) => this.info?.scopeFramesAt(pc).length ?? 0;
    const startDepth = over ? depth(this.here(vcpu).pc) : 0;
    for (let n = 0; n < MAX_LINE_STEPS; n++) {
      const here = this.here(vcpu);
      const insn = this.decode(vcpu, here.pc);
      const isCall = insn && (insn.d.flow === FlowControl.Call || insn.d.flow === FlowControl.IndirectCall || insn.d.performed === 'int');
      let stop: Stop;
      if (isCall && over) {
        stop = insn.d.performed === 'int' ? await this.instructionOver(vcpu) : await this.runTo(vcpu, insn.next, (sp) => sp >= here.sp);
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
      if (loc && loc.address === pc && (loc.line !== start.line || loc.file !== start.file) && (!over || depth(pc) <= startDepth)) return stop;
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
   * Out of a function inlined where the vCPU stands, whose code is `ranges`: instructions (calls
   * run over) until the vCPU is outside them, where the code it was inlined into goes on (gdb's
   * finish in an inline frame). Its machine frame is the caller's: there is no return to run to.
   */
  async outOfInlined(vcpu: number, ranges: readonly AddressRange[]): Promise<Stop> {
    const inside = (pc: bigint) => ranges.some((r) => pc >= r.begin && pc < r.end);
    for (let n = 0; n < MAX_LINE_STEPS; n++) {
      const stop = await this.instructionOver(vcpu);
      if (stop.kind !== 'step' || !inside(this.here(vcpu).pc)) return stop;
    }
    return { kind: 'step', vcpu };
  }

  /**
   * Runs to `pc` on `vcpu` with a temporary breakpoint, ignoring hits whose stack pointer says
   * they belong to a deeper frame (recursion). Any other stop ends the run as it is.
   */
  private async runTo(vcpu: number, pc: bigint, frameOk: (sp: bigint) => boolean): Promise<Stop> {
    return this.bps.withTemporary([pc], async () => {
      for (;;) {
        const stop = await this.drive.run();
        if (stop.kind !== 'breakpoint' || stop.address !== pc) return stop;
        if (stop.vcpu === vcpu && frameOk(this.here(vcpu).sp)) return { kind: 'step', vcpu };
        if (this.bps.hitAt(pc)) return stop;
      }
    });
  }

  private here(vcpu: number): { pc: bigint; sp: bigint } {
    return { pc: this.m.linearRip(vcpu), sp: this.m.getRegs(vcpu).rsp };
  }

  /** The instruction at linear `pc`, its next and target addresses made linear too (decoded.ts keeps its decode). */
  private decode(vcpu: number, pc: bigint): Insn | undefined {
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
    const regs = this.m.getRegs(vcpu);
    const s = this.m.getSregs(vcpu);
    const d = decodedAt(bytes, codeBitness(cpuMode({ ...s, rflags: regs.rflags })), regs.rip, pc);
    const toLinear = pc - regs.rip;
    return { d, next: d.next + toLinear, target: d.target === undefined ? undefined : d.target + toLinear };
  }

  /** Whether `pc` is where `insn` can lead by itself (fall-through or direct branch target). */
  private expected(insn: Insn, pc: bigint): boolean {
    switch (insn.d.flow) {
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
}
