// Recording by single steps, and moving through what was recorded. While recording is on, every
// instruction of the (one) vCPU is executed as a single step with its undo entry taken around it
// (write-set.ts says what to save, undo-log.ts keeps it; plain instructions of 64-bit and 32-bit
// code take plain-step.ts's fast path to the same entry). The recorder is also the stepper's way
// to move the guest forward (`Drive`): in the past it replays the log's after-images instead of
// executing, and live execution resumes where the history ends.
import type { Machine } from '../../vmm/machine.js';
import type { Stop } from '../../vmm/debug/stops.js';
import { GuestError } from '../../errors.js';
import { CR0_PE_BIT, RFLAGS_VM_BIT, codeBitness, cpl, cpuMode } from '../../x86/modes.js';
import { EFER_LMA, GPR, GPR_NAMES, RFLAGS_AC, RFLAGS_IF, RFLAGS_TF, regsOfWords, type Regs, type Sregs } from '../../x86/registers.js';
import { PF_VECTOR, enteredHandler, foreseeEntries, iretLanding, raisedFaults, stepToHandler, type HandlerEntry } from '../handler-entry.js';
import { afterStep } from '../step-flags.js';
import { performRealModeInt, performRealModeIret, type Perform } from '../real-mode-int.js';
import { UndoLog, type Entry, type Write } from './undo-log.js';
import { nothingRuns, writeSet, type WriteRange } from './write-set.js';
import { faults, fetchFaults, marksEntry, pagingMode } from '../../x86/pagewalk.js';
import { Walks } from './walks.js';
import { KEEP_WHOLE, PlainSteps, SEGMENTS, plainInstruction, type PlainInstruction, type PlainWrite } from './plain-step.js';
import { decodedAt } from '../decoded.js';
import { REGS_BYTES } from './packed-entries.js';

/** How often a long recorded run or search lets the event loop in (pause requests, DAP). */
const YIELD_EVERY = 2048;
/** A held step not done within its first time slice and this long after is paused: see recordOnce. */
const HELD_STEP_MS = 20;
const HOLD = Object.freeze({ holdInterrupts: true });
/** RFLAGS bits in the low word of kvm_regs' rflags: a plain step takes none of TF, AC and VM, and IF only where nothing is delivered. */
const TF_BIT = Number(RFLAGS_TF);
const AC_BIT = Number(RFLAGS_AC);
const VM_BIT = Number(RFLAGS_VM_BIT);
const IF_BIT = Number(RFLAGS_IF);
const CR4_LA57 = 1n << 12n;
/**
 * Where interrupts are to be let in (a recorded run), a plain step leaves the look for a ready
 * one (an ioctl or two) to the general path once in this many steps: an interrupt then waits a
 * few instructions longer than it would live, as it may on any CPU.
 */
const INTERRUPT_LOOK_EVERY = 16;
const LANDED_ELSEWHERE = 'an exception or interrupt was delivered during it: its frame (and, where its handler ran within the step, the handler\'s writes) was not saved';
const RAN_ON = 'the instruction after it ran in the same step (its trap came one instruction late): that one\'s writes were not saved';

export const SMP_REFUSED = 'recording needs a machine with one vCPU (smp: 1): kvmdbg records and reverses a single vCPU';

/** A guest-physical span a watched location occupies (a watch may cross a page). */
export interface PhysSpan {
  gpa: number;
  length: number;
}

/** A data breakpoint's location: the debugger's id, its address and where it lies in RAM. */
export interface WatchedSpans {
  id: number;
  address: bigint;
  spans: PhysSpan[];
}

export class Recorder {
  readonly log: UndoLog;
  private on = false;
  private pauseWanted = false;
  /** The last recorded step was a hlt that left the vCPU halted. */
  private halted = false;
  /** Page walks kept from step to step (walks.ts), from the first recorded step. */
  private walks: Walks | undefined;
  /** What the step being recorded wrote, once its entry is known exact. */
  private exactWrites: readonly Write[] | undefined;
  /** A held step was paused for taking longer than HELD_STEP_MS (stepLimited). */
  private timedOut = false;
  /** Plain steps' caches (plain-step.ts). */
  private readonly plain: PlainSteps;
  /**
   * The special registers a plain step takes as they are: read after the last step the general
   * path recorded, and kept while only plain steps have run since (the vCPU's run and state-write
   * counts say nothing else did). Undefined outside 64-bit and 32-bit protected-mode code.
   */
  private kept: { sregs: Sregs; runs: number; writes: number } | undefined;
  /** Plain steps since the general path last looked for an interrupt to let in. */
  private sinceInterruptLook = 0;
  /** The vCPU's kvm_regs as 32-bit words and as bytes (over its own view, which KVM fills at each exit). */
  private words: Uint32Array | undefined;
  private regBytes: Uint8Array | undefined;

  /** How many entries the fast path recorded (plainStep): `info record` tells it. */
  plainRecorded = 0;
  /** Whether plain steps take the fast path: off, every step takes the general one (a bench and a test compare them). */
  private readonly plainSteps: boolean;

  constructor(private readonly m: Machine, private readonly vcpu = 0, opts: { plainSteps?: boolean } = {}) {
    this.plain = new PlainSteps(m.vm.memory);
    this.plainSteps = opts.plainSteps ?? true;
    this.log = new UndoLog({
      read: () => ({ regs: m.getRegs(vcpu), sregs: m.getSregs(vcpu), xsave: m.vcpu(vcpu).getXsave() }),
      write: ({ regs, sregs, xsave }) => {
        m.setRegs(vcpu, regs);
        m.vcpu(vcpu).setSregs(sregs);
        m.vcpu(vcpu).setXsave(xsave);
      },
      writePhysical: (gpa, data) => m.writePhysical(gpa, data),
    });
  }

  get recording(): boolean {
    return this.on;
  }

  /** In the recorded past: forward motion replays the log. */
  get replaying(): boolean {
    return !this.log.atPresent;
  }

  start(): void {
    if (this.m.vcpus.length > 1) throw new GuestError(SMP_REFUSED);
    this.on = true;
  }

  /** Stops recording and drops the history, after going back to the present (as gdb's record stop). */
  stop(): void {
    this.goto(this.log.length);
    this.log.clear();
    this.plainRecorded = 0;
    this.on = false;
  }

  pause(): void {
    this.pauseWanted = true;
  }

  // --- forward: the stepper's Drive ------------------------------------------------------------

  /** One instruction: replayed in the past, recorded when recording, else the machine's step. */
  step(index: number, opts?: { holdInterrupts?: boolean }): Stop | Promise<Stop> {
    if (this.replaying) {
      this.log.forward();
      this.log.settle();
      return { kind: 'step', vcpu: index };
    }
    return this.on ? this.recorded(opts?.holdInterrupts ?? false, false) : this.m.step(index, opts);
  }

  /** One recorded step: a plain one (plainStep) where it applies, else the general path's. */
  private recorded(hold: boolean, deliver: boolean): Stop | Promise<Stop> {
    const p = this.plainStep(hold, deliver);
    if (p === undefined) return this.record(hold, deliver);
    return p instanceof Promise ? p.then((s) => s ?? this.record(hold, deliver)) : p;
  }

  /**
   * Runs forward until a breakpoint: through the history first (stopping at the machine's code
   * breakpoints, temporary ones included, and after an instruction that wrote to one of
   * `watches`, as a live data breakpoint does), then
   * live: recorded step by step when recording, else the machine's run (as it returns: a stop
   * within the first slice without a turn of the event loop, the hot path of hit and continue).
   */
  run(watches: readonly WatchedSpans[] = []): Stop | Promise<Stop> {
    if (!this.on && !this.replaying) return this.m.run();
    return this.runRecorded(watches);
  }

  private async runRecorded(watches: readonly WatchedSpans[]): Promise<Stop> {
    this.pauseWanted = false;
    const fromPast = this.replaying;
    for (let n = 1; this.replaying; n++) {
      const writes = watches.length ? this.log.writes() : [];
      this.log.forward();
      const hit = watches.find((w) => writesTo(writes, w.spans));
      if (hit) return this.settled({ kind: 'watchpoint', vcpu: this.vcpu, id: hit.id, slot: -1, address: hit.address, access: 'write' });
      const pc = this.replaying ? this.log.pc() : undefined;
      if (pc !== undefined && this.m.breakpoints.softwareAt(pc)) return this.settled({ kind: 'breakpoint', vcpu: this.vcpu, address: pc, id: 0 });
      if (n % YIELD_EVERY === 0 && await this.pausedMeanwhile()) return this.settled({ kind: 'pause', vcpu: this.vcpu });
    }
    this.log.settle();
    // Arrived at the present on a breakpoint: a live run would step over it unseen.
    const here = this.m.linearRip(this.vcpu);
    if (fromPast && this.m.breakpoints.softwareAt(here)) return { kind: 'breakpoint', vcpu: this.vcpu, address: here, id: 0 };
    if (!this.on) return this.m.run();
    for (let n = 1; ; n++) {
      const stop = await this.recorded(this.m.canHoldInterrupts, true);
      if (stop.kind !== 'step') return stop;
      const pc = this.m.linearRip(this.vcpu);
      if (this.m.breakpoints.softwareAt(pc)) return { kind: 'breakpoint', vcpu: this.vcpu, address: pc, id: 0 };
      if (n % YIELD_EVERY === 0 && await this.pausedMeanwhile()) return { kind: 'pause', vcpu: this.vcpu };
    }
  }

  /**
   * Executes one instruction as a single step, with its undo entry. `hold`: interrupts held off
   * for the step (BLOCKIRQ). `deliver`: an interrupt the controllers have ready is let in instead, as
   * a step of its own that ends at the handler's first instruction (a debug register there: on
   * SVM the handler would otherwise run whole inside the step), its frame saved. A `hlt` with
   * interrupts on (or a vCPU it left halted) waits here for one, between turns of the event
   * loop: a step holding interrupts off would wait for ever.
   * The interrupt foreseen is the 8259s' or the local APIC's (its timer, the IOAPIC's, an IPI),
   * as KVM would choose it (vmm/lapic.ts). A step that triple-faults on a host that resets the
   * vCPU there (SVM) leaves the state saved before it: the faulting instruction's.
   */
  private async record(hold: boolean, deliver: boolean): Promise<Stop> {
    for (;;) {
      const stop = await this.recordOnce(hold, deliver);
      if (stop) return stop;
    }
  }

  /** One try of `record`: undefined when the step was taken back before anything ran (try again). */
  private async recordOnce(hold: boolean, deliver: boolean): Promise<Stop | undefined> {
    this.exactWrites = undefined;
    try {
      return await this.recordStep(hold, deliver);
    } finally {
      this.walks?.end(this.exactWrites);
    }
  }

  /** recordOnce's step; where its entry is exact, `exactWrites` holds what it wrote. */
  private async recordStep(hold: boolean, deliver: boolean): Promise<Stop | undefined> {
    const m = this.m;
    const v = this.vcpu;
    const regs = m.getRegs(v);
    const sregs = m.getSregs(v);
    const pc = m.linearRip(v);
    const walks = (this.walks ??= new Walks(m.vm.memory, sregs)).begin(sregs);
    const ring = cpl({ cs: sregs.cs, cr0: sregs.cr0, rflags: regs.rflags, efer: sregs.efer });
    // An instruction whose fetch faults does not run: the step only enters the #PF handler.
    const fetchFault = fetchFaults(walks.at(pc), walks.regs, ring);
    const ws = fetchFault ? nothingRuns(regs.rip) : writeSet(this.codeBytes(pc, walks), codeBitness(cpuMode({ ...sregs, rflags: regs.rflags })), regs, sregs, pc);
    // A real-mode int or iret is performed as the stepper performs it (real-mode-int.ts): no
    // hardware step over it, no debug register at a handler in the BIOS's segment.
    if (!this.halted && ws.performed) {
      const perform: Perform = (vc, writes, f) => this.perform(vc, writes, f);
      if (ws.performed === 'int' ? performRealModeInt(m, v, ws.vector!, ws.next, perform) : performRealModeIret(m, v, perform)) return { kind: 'step', vcpu: v };
    }
    /** The handlers the step may enter: an interrupt from outside's, or those of what the instruction raises. */
    let entries: HandlerEntry[] = [];
    /** A held step of a halted vCPU, to let KVM take in what its local APIC timer raised. */
    let poke = false;
    if (regs.rflags & RFLAGS_IF && m.canHoldInterrupts && (deliver || ws.halts || this.halted)) {
      this.sinceInterruptLook = 0;
      // Where no interrupt can come (8259 lines all masked, the local APIC off), the hlt steps
      // as before, let through whole.
      const waits = (ws.halts || this.halted) && m.interruptsCanArrive(v);
      let vector = m.pendingInterruptVector(v);
      // KVM moves an expired local APIC timer into the APIC's request register only inside
      // KVM_RUN: for a hlt (or a vCPU it left halted) it is looked for by a held step with a
      // time limit (below), where the 8259s' requests show at once.
      poke = vector === undefined && (ws.halts || this.halted) && m.localApicEnabled(v);
      while (vector === undefined && waits && !poke) {
        await new Promise((r) => setTimeout(r, 1));
        if (this.pauseWanted) return { kind: 'pause', vcpu: v };
        vector = m.pendingInterruptVector(v);
      }
      if (vector !== undefined) entries = foreseeEntries(m, v, [vector], regs, sregs);
    }
    const external = entries.length > 0;
    // An exception the instruction raises enters its handler the same way, stopped there with its
    // frame saved, wherever its gate puts it (an IST stack, the TSS's for an inner ring): a
    // software interrupt, ud2's #UD, a #GP, #SS or #NP its privilege, addresses or selector
    // raise, a page fault that the operands' walks foresee, a division's #DE. (One not foreseen
    // runs its handler whole inside the step, which stays inexact.)
    if (!external) {
      if (ws.vector !== undefined) entries = foreseeEntries(m, v, [ws.vector], regs, sregs);
      else {
        const faults = fetchFault ? [PF_VECTOR] : raisedFaults(m, v, ws, regs, sregs, () => faultsOnPage(walks, ws.accesses, ws.ranges, ring, (regs.rflags & RFLAGS_AC) !== 0n));
        if (faults.length) entries = foreseeEntries(m, v, faults, regs, sregs, true);
      }
    }
    // Besides what the instruction writes, the CPU marks what it uses: the Accessed/Dirty bits
    // of the page-table entries it walks, the Accessed bit of a segment descriptor it loads.
    const gdt = (ws.loadsSegment || entries.length) && sregs.cr0 & CR0_PE_BIT ? [{ linear: sregs.gdt.base, length: sregs.gdt.limit + 1 }] : [];
    const frame = entries.map((e) => e.at.frame);
    const spans = [...this.physical([...ws.ranges, ...gdt, ...frame], walks), ...pageEntries(walks, pc, [...ws.accesses, ...frame], [...ws.ranges, ...frame])];
    const old = spans.map((s) => m.readPhysical(s.gpa, s.length));
    const fpuBefore = ws.fpu ? m.vcpu(v).getXsave() : undefined;
    // A halted vCPU held off interrupts would never wake: it steps with them let through, but
    // for a poke. A held step that runs into a hlt waits for ever too (the trap after `sti` comes
    // only after the next instruction on some hosts: `sti; hlt` is one step), so a held step is
    // paused after a while: the vCPU halted there, or nothing ran.
    const held = poke || (hold && !external && !ws.halts && !this.halted);
    const landing = iretLanding(m, v, ws.protection?.far, regs, sregs);
    let stop = await stepToHandler(m, v, entries, () => this.stepLimited(held), landing);
    const ranOn = this.ranOn(stop, pc);
    if (ranOn === undefined) return undefined;
    if (ranOn) stop = { kind: 'step', vcpu: v };
    if (stop.kind === 'triple-fault' && stop.stateLost !== undefined) {
      // KVM reset the vCPU at the shutdown (SVM): what was saved before the step is the state at
      // the faulting instruction. Its writes (frames pushed on the way) are undone too.
      return this.faultedFromHistory(spans.map((s, k) => ({ gpa: s.gpa, old: old[k] })), regs, sregs, fpuBefore);
    }
    // A kernel-entry stop is a step too: its wrmsr ran (the monitor did the write).
    if (stop.kind !== 'step' && stop.kind !== 'watchpoint' && stop.kind !== 'breakpoint' && stop.kind !== 'kernel-entry') return stop;
    afterStep(m, v, ws.flags, (regs.rflags & RFLAGS_TF) !== 0n);
    this.sregsAfter(sregs);
    const now = m.getRegs(v);
    const delivered = enteredHandler(m, v, entries, now.rsp, (regs.rflags & RFLAGS_TF) !== 0n);
    // A hlt stepped by KVM may end before it waits: the vCPU stays halted for the next step.
    this.halted = (ranOn || ws.halts) && !delivered && m.isHalted(v);
    // The step ran on into the next instruction: after a hlt it was paused in, or after a load of
    // SS, whose trap the CPU holds for one instruction more.
    const twoInOne = ranOn || (ws.shadowsTrap && now.rip !== ws.next);
    const writes = changed(spans, old, spans.map((s) => m.readPhysical(s.gpa, s.length)));
    const entry: Entry = { pc, regs, sregs, writes };
    if (fpuBefore) entry.fpu = { before: fpuBefore, after: m.vcpu(v).getXsave() };
    if (delivered) {
      if (external) entry.delivered = delivered.vector;
    } else if (ws.interrupt) entry.inexact = 'it delivered an interrupt or exception: only 64 bytes below the stack pointer were saved';
    else if (twoInOne && !this.nextWritesNothing(pc, ws.next, regs, sregs, walks, now.rip)) entry.inexact = RAN_ON;
    else if (ws.landings && !twoInOne && !ws.landings.includes(now.rip)) entry.inexact = LANDED_ELSEWHERE;
    this.log.append(entry);
    if (!entry.inexact && !entries.length && !ranOn) this.exactWrites = writes;
    return stop;
  }

  /**
   * Steps, holding interrupts off where `held`. A held step still going after its first time
   * slice is paused HELD_STEP_MS later (`timedOut`). Nearly every step ends within its first
   * slice, before a timer could fire: the limit is set only for one still going (a timer set and
   * cleared per step was a sixth of a recorded step's time in the test VM).
   */
  private stepLimited(held: boolean): Stop | Promise<Stop> {
    this.timedOut = false;
    const step = this.m.step(this.vcpu, held ? HOLD : undefined);
    if (!held || !(step instanceof Promise)) return step;
    const limit = setTimeout(() => {
      this.timedOut = true;
      this.m.pause();
    }, HELD_STEP_MS);
    return step.finally(() => clearTimeout(limit));
  }

  /**
   * Whether a held step paused at its time limit (stepLimited) had run: into a hlt, or (`sti;
   * hlt`) on into the next instruction's. Undefined where it was paused with nothing run (RIP
   * still `pc`): the caller tries again, KVM having taken its timers in. False where the step
   * was not cut short.
   */
  private ranOn(stop: Stop, pc: bigint): boolean | undefined {
    if (stop.kind !== 'pause' || !this.timedOut || this.pauseWanted) return false;
    return this.m.linearRip(this.vcpu) === pc ? undefined : true;
  }

  /**
   * Reads the special registers after a step from `before`: guest debug is set afresh after one
   * that changed CR0, CR4 or EFER (Machine.renewStepTrap), and plain steps take them as they are.
   */
  private sregsAfter(before: Sregs): void {
    const v = this.m.vcpu(this.vcpu);
    const after = v.getSregs();
    if (after.cr0 !== before.cr0 || after.cr4 !== before.cr4 || after.efer !== before.efer) this.m.renewStepTrap();
    // 64-bit code, or 32-bit protected-mode code (compatibility mode's included); virtual-8086
    // mode, an RFLAGS bit, is left out at each step.
    const bits = (after.efer & EFER_LMA) !== 0n && after.cs.l ? 64 : after.cr0 & CR0_PE_BIT && after.cs.db ? 32 : undefined;
    this.kept = bits ? { sregs: after, runs: v.runs, writes: v.stateWrites } : undefined;
    if (bits) this.plain.setState(bits, cpl(after), bits === 64 && (after.cr4 & CR4_LA57) !== 0n, SEGMENTS.map((n) => after[n].base));
  }

  /**
   * A recorded step of a plain instruction (plain-step.ts), where one is at RIP and the special
   * registers kept from the last step hold: its entry is the registers before it and the written
   * operands' bytes, found without BigInts, walks or a decode. Undefined where it does not
   * apply, before anything ran; a promise of undefined where a held step ran into its time limit
   * with nothing done (the general path tries again).
   */
  private plainStep(hold: boolean, deliver: boolean): Stop | Promise<Stop | undefined> | undefined {
    const k = this.kept;
    const m = this.m;
    const v = m.vcpu(this.vcpu);
    if (!k || !this.plainSteps || this.halted || v.runs !== k.runs || v.stateWrites !== k.writes || m.breakpoints.anyPlanted) return undefined;
    const view = v.loadRegs();
    if (!this.words) {
      this.words = new Uint32Array(view.buffer, view.byteOffset, 2 * GPR_NAMES.length);
      this.regBytes = new Uint8Array(view.buffer, view.byteOffset, REGS_BYTES);
    }
    const w = this.words;
    const flags = w[2 * GPR.rflags];
    if (flags & (TF_BIT | AC_BIT | VM_BIT)) return undefined;
    if (deliver && flags & IF_BIT && m.canHoldInterrupts && ++this.sinceInterruptLook > INTERRUPT_LOOK_EVERY) return undefined;
    const walks = this.walks!.begin(k.sregs);
    const insn = this.plain.instruction(w, walks, this.decodePlain);
    const writes: PlainWrite[] = [];
    if (!insn || !this.plain.operands(insn.plain!, w, walks, writes)) return undefined;
    const before = this.regBytes!.slice();
    const stop = this.stepLimited(hold);
    if (stop instanceof Promise) return stop.then((s) => this.plainDone(s, insn.pc, insn.plain!, before, writes, k, hold));
    return this.plainDone(stop, insn.pc, insn.plain!, before, writes, k, hold);
  }

  /** plainStep's end: the entry, once the step stopped as a step does. */
  private plainDone(stop: Stop, pc: bigint, insn: PlainInstruction, before: Uint8Array, writes: PlainWrite[], k: NonNullable<Recorder['kept']>, held: boolean): Stop | undefined {
    const m = this.m;
    const v = m.vcpu(this.vcpu);
    const ranOn = this.ranOn(stop, pc);
    if (ranOn === undefined) return undefined;
    if (ranOn) stop = { kind: 'step', vcpu: this.vcpu };
    if (stop.kind === 'triple-fault' && stop.stateLost !== undefined) {
      return this.faultedFromHistory(writes, regsOfWords(new BigUint64Array(before.buffer, before.byteOffset, GPR_NAMES.length)), k.sregs);
    }
    if (stop.kind !== 'step' && stop.kind !== 'watchpoint' && stop.kind !== 'breakpoint') return stop;
    const out: Write[] = writes.map(({ gpa, buf, off, old }) => {
      const now = Buffer.allocUnsafe(old.length);
      for (let i = 0; i < old.length; i++) now[i] = buf[off + i];
      return { gpa, old, new: now };
    });
    const w = this.words!;
    v.loadRegs();
    const lo = w[2 * GPR.rip];
    const hi = w[2 * GPR.rip + 1];
    let landed = insn.landingsLo === undefined;
    for (let i = 0; !landed && i < insn.landingsLo!.length; i++) landed = insn.landingsLo![i] === lo && insn.landingsHi![i] === hi;
    const inexact = ranOn ? RAN_ON : landed ? undefined : LANDED_ELSEWHERE;
    this.log.appendPlain(pc, before, k.sregs, out, inexact);
    this.plainRecorded++;
    if (inexact) {
      // Something else ran (a handler, the next instruction): the special registers are read again.
      this.walks!.forget();
      this.halted = ranOn && m.isHalted(this.vcpu);
      this.sregsAfter(k.sregs);
    } else {
      this.walks!.end(out);
      // Only the plain instruction ran: the kept special registers still hold. Not after a step
      // that let interrupts through and can land anywhere (a ret): one may have been delivered
      // unseen, into another ring.
      if (v.stateWrites === k.writes && (held || insn.landingsLo)) k.runs = v.runs;
      else this.kept = undefined;
    }
    return stop;
  }

  /** The code at `pc` (RIP `rip`, `bits` bits) and whether it is plain, for plain-step.ts's kept instructions. */
  private readonly decodePlain = (pc: bigint, rip: bigint, bits: 32 | 64): { bytes: Uint8Array; plain: PlainInstruction | undefined } | undefined => {
    const d = decodedAt(this.codeBytes(pc, this.walks!), bits, rip, pc);
    return d.bytes.length ? { bytes: d.bytes, plain: plainInstruction(d) } : undefined;
  };

  /**
   * The stop of a step that triple-faulted where KVM reset the vCPU at the shutdown (SVM): the
   * state saved before the step put back, `writes` undone (the last first), as the faulting
   * instruction's.
   */
  private faultedFromHistory(writes: { gpa: number; old: Uint8Array }[], regs: Regs, sregs: Sregs, fpuBefore?: Buffer): Stop {
    const m = this.m;
    for (let k = writes.length - 1; k >= 0; k--) m.writePhysical(writes[k].gpa, writes[k].old);
    m.setRegs(this.vcpu, regs);
    m.vcpu(this.vcpu).setSregs(sregs);
    if (fpuBefore) m.vcpu(this.vcpu).setXsave(fpuBefore);
    m.renewStepTrap();
    return { kind: 'triple-fault', vcpu: this.vcpu, fromHistory: true };
  }

  /**
   * An instruction the stepper performs itself (a real-mode `int` or `iret`): kept in the history
   * like a recorded step when recording, the registers before it and the bytes of `writes`.
   */
  perform(vcpu: number, writes: WriteRange[], perform: () => boolean): boolean {
    if (this.replaying) return false; // the history holds it: the stepper replays it instead
    if (!this.on) return perform();
    const m = this.m;
    const regs = m.getRegs(vcpu);
    const sregs = m.getSregs(vcpu);
    const pc = m.linearRip(vcpu);
    const spans = this.physical(writes);
    const old = spans.map((s) => m.readPhysical(s.gpa, s.length));
    if (!perform()) return false;
    this.log.append({ pc, regs, sregs, writes: spans.map((s, k) => ({ gpa: s.gpa, old: old[k], new: m.readPhysical(s.gpa, s.length) })) });
    return true;
  }

  /**
   * Whether the instruction after the one at `pc` (at RIP `next`), run in the same step, wrote
   * nothing and ended at `rip`: then the entry of both is exact (`sti; hlt`, the usual case).
   */
  private nextWritesNothing(pc: bigint, next: bigint, regs: Regs, sregs: Sregs, walks: Walks, rip: bigint): boolean {
    const at = pc + (next - regs.rip);
    const ws = writeSet(this.codeBytes(at, walks), codeBitness(cpuMode({ ...sregs, rflags: regs.rflags })), { ...regs, rip: next }, sregs, at);
    return ws.ranges.length === 0 && (ws.landings?.includes(rip) ?? false);
  }

  /** Up to 15 bytes at `pc`, fewer where the next page is not mapped. */
  private codeBytes(pc: bigint, walks: Walks): Buffer {
    const first = walks.physical(pc);
    if (first === undefined) return this.m.readLinear(this.vcpu, pc, 15); // throws, saying why
    const inPage = Number(0x1000n - (pc & 0xfffn));
    if (inPage >= 15) return this.m.readPhysical(first, 15);
    const head = this.m.readPhysical(first, inPage);
    const second = walks.physical(pc + BigInt(inPage));
    return second === undefined ? head : Buffer.concat([head, this.m.readPhysical(second, 15 - inPage)]);
  }

  /** Linear ranges as guest-physical spans in RAM, page by page; unmapped pieces fault and write nothing. */
  physical(ranges: { linear: bigint; length: number }[], walks = new Walks(this.m.vm.memory, this.m.pagingRegs(this.vcpu))): PhysSpan[] {
    const out: PhysSpan[] = [];
    for (const r of ranges) {
      for (let off = 0; off < r.length;) {
        const lin = r.linear + BigInt(off);
        const n = Math.min(r.length - off, 4096 - Number(lin & 0xfffn));
        const gpa = walks.physical(lin);
        if (gpa !== undefined) {
          try {
            this.m.readPhysical(gpa, n);
            out.push({ gpa, length: n });
          } catch {
            // not RAM (MMIO, a hole): a device's, not rewound
          }
        }
        off += n;
      }
    }
    return out;
  }

  // --- backward --------------------------------------------------------------------------------

  /**
   * Goes back entry by entry until `stopAt` says so of the entry just undone (the log's position
   * is then before it: `log.pc()`, `log.writes()`, `log.reg()` tell of it) or the history begins;
   * registers are set once, at the end. True when `stopAt` stopped it, false at the start of
   * history, undefined when paused.
   */
  async back(stopAt: () => boolean): Promise<boolean | undefined> {
    this.pauseWanted = false;
    try {
      for (let n = 1; this.log.back(); n++) {
        if (stopAt()) return true;
        if (n % YIELD_EVERY === 0 && await this.pausedMeanwhile()) return undefined;
      }
      return false;
    } finally {
      this.log.settle();
    }
  }

  /** Moves to position `n` (0: the start of history, length: the present). */
  goto(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > this.log.length) throw new GuestError(`the history holds positions 0 to ${this.log.length}`);
    while (this.log.position > n) this.log.back();
    while (this.log.position < n) this.log.forward();
    this.log.settle();
  }

  private settled(stop: Stop): Stop {
    this.log.settle();
    return stop;
  }

  private async pausedMeanwhile(): Promise<boolean> {
    await new Promise((r) => setImmediate(r));
    return this.pauseWanted;
  }
}

/**
 * The writes of a step from its spans' images before and after. A span longer than KEEP_WHOLE is
 * a guess (an exception frame, a rep string's reach, an operand of unknown size, the GDT): only
 * its bytes that changed are kept, none where nothing did. Shorter ones are an operand's exact
 * bytes, kept whole: a store of the same value still counts as a write to a data breakpoint.
 */
function changed(spans: readonly PhysSpan[], old: readonly Buffer[], now: readonly Buffer[]): Write[] {
  const out: Write[] = [];
  spans.forEach((s, k) => {
    const [a, b] = [old[k], now[k]];
    if (s.length <= KEEP_WHOLE) {
      out.push({ gpa: s.gpa, old: a, new: b });
      return;
    }
    let from = 0;
    while (from < s.length && a[from] === b[from]) from++;
    if (from === s.length) return;
    let to = s.length;
    while (a[to - 1] === b[to - 1]) to--;
    out.push({ gpa: s.gpa + from, old: a.subarray(from, to), new: b.subarray(from, to) });
  });
  return out;
}

/** Whether any of `writes` touches any of `spans`. */
export function writesTo(writes: readonly Write[], spans: readonly PhysSpan[]): boolean {
  return writes.some((w) => spans.some((s) => w.gpa < s.gpa + s.length && s.gpa < w.gpa + w.old.length));
}

/**
 * The page-table entries walked for the code at `pc` and for the operands that the CPU may
 * still mark: Accessed clear at any level, or Dirty clear on the page of a write. Once set,
 * those bits stay, so an entry is saved only until its first use.
 */
function pageEntries(walks: Walks, pc: bigint, accesses: WriteRange[], writes: WriteRange[]): PhysSpan[] {
  const mode = pagingMode(walks.regs);
  if (mode === 'none') return [];
  const size = mode === '32-bit' ? 4 : 8;
  const out: PhysSpan[] = [];
  const mark = (linear: bigint, write: boolean) => {
    const r = walks.at(linear);
    const levels = r.ok ? r.t.levels : r.levels;
    levels.forEach((l, k) => {
      const leaf = r.ok && k === levels.length - 1;
      if (l.present && marksEntry(l, leaf, write)) out.push({ gpa: l.entryAddress, length: size });
    });
  };
  const each = (r: WriteRange, write: boolean) => {
    mark(r.linear, write);
    const last = r.linear + BigInt(Math.max(r.length, 1) - 1);
    if (last >> 12n !== r.linear >> 12n) mark(last, write);
  };
  each({ linear: pc, length: 15 }, false);
  for (const r of accesses) each(r, writes.includes(r));
  return out;
}

/**
 * Whether an operand of the step faults on its page (pagewalk.ts `faults`). The walks read the
 * tables as they are; where a stale TLB entry lets the access through, the frame foreseen is left
 * unchanged and so not kept.
 */
function faultsOnPage(walks: Walks, accesses: WriteRange[], writes: WriteRange[], ring: number, ac: boolean): boolean {
  return accesses.some((r) => {
    const access = { write: writes.includes(r), ring, ac };
    return [r.linear, r.linear + BigInt(Math.max(r.length, 1) - 1)].some((linear) => faults(walks.at(linear), walks.regs, access));
  });
}
