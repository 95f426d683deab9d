// Recording by single steps, and moving through what was recorded. While recording is on, every
// instruction of the (one) vCPU is executed as a single step with its undo entry taken around it
// (write-set.ts says what to save, undo-log.ts keeps it). The recorder is also the stepper's way
// to move the guest forward (`Drive`): in the past it replays the log's after-images instead of
// executing, and live execution resumes where the history ends.
import type { Machine } from '../../vmm/machine.js';
import type { Stop } from '../../vmm/debug/stops.js';
import { GuestError } from '../../errors.js';
import { codeBitness, cpuMode } from '../../x86/modes.js';
import { UndoLog, type Entry, type Write } from './undo-log.js';
import { writeSet } from './write-set.js';

/** How often a long recorded run or search lets the event loop in (pause requests, DAP). */
const YIELD_EVERY = 2048;

export const SMP_REFUSED = 'recording needs a machine with one vCPU (smp: 1): kvmdbg records and reverses a single vCPU';

/** A guest-physical span a watched location occupies (a watch may cross a page). */
export interface PhysSpan {
  gpa: number;
  length: number;
}

export class Recorder {
  readonly log: UndoLog;
  private on = false;
  private pauseWanted = false;

  constructor(private readonly m: Machine, private readonly vcpu = 0) {
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
    return this.on ? this.record(opts) : this.m.step(index, opts);
  }

  /**
   * Runs forward until a breakpoint: through the history first (stopping at the machine's code
   * breakpoints, temporary ones included; data breakpoints are searched going back only), then
   * live: recorded step by step when recording, else the machine's run (as it returns: a stop
   * within the first slice without a turn of the event loop, the hot path of hit and continue).
   */
  run(): Stop | Promise<Stop> {
    if (!this.on && !this.replaying) return this.m.run();
    return this.runRecorded();
  }

  private async runRecorded(): Promise<Stop> {
    this.pauseWanted = false;
    const fromPast = this.replaying;
    for (let n = 1; this.replaying; n++) {
      this.log.forward();
      if (this.replaying && this.m.breakpoints.softwareAt(this.log.at(this.log.position).pc)) {
        return this.settled({ kind: 'breakpoint', vcpu: this.vcpu, address: this.log.at(this.log.position).pc, id: 0 });
      }
      if (n % YIELD_EVERY === 0 && await this.pausedMeanwhile()) return this.settled({ kind: 'pause', vcpu: this.vcpu });
    }
    this.log.settle();
    // Arrived at the present on a breakpoint: a live run would step over it unseen.
    const here = this.m.linearRip(this.vcpu);
    if (fromPast && this.m.breakpoints.softwareAt(here)) return { kind: 'breakpoint', vcpu: this.vcpu, address: here, id: 0 };
    if (!this.on) return this.m.run();
    for (let n = 1; ; n++) {
      const stop = await this.record({ holdInterrupts: this.m.canHoldInterrupts });
      if (stop.kind !== 'step') return stop;
      const pc = this.m.linearRip(this.vcpu);
      if (this.m.breakpoints.softwareAt(pc)) return { kind: 'breakpoint', vcpu: this.vcpu, address: pc, id: 0 };
      if (n % YIELD_EVERY === 0 && await this.pausedMeanwhile()) return { kind: 'pause', vcpu: this.vcpu };
    }
  }

  /** Executes one instruction as a single step, with its undo entry. */
  private async record(opts?: { holdInterrupts?: boolean }): Promise<Stop> {
    const m = this.m;
    const v = this.vcpu;
    const regs = m.getRegs(v);
    const sregs = m.getSregs(v);
    const pc = m.linearRip(v);
    const ws = writeSet(this.codeBytes(pc), codeBitness(cpuMode({ ...sregs, rflags: regs.rflags })), regs, sregs);
    const spans = this.physical(ws.ranges);
    const old = spans.map((s) => m.readPhysical(s.gpa, s.length));
    const fpuBefore = ws.fpu ? m.vcpu(v).getXsave() : undefined;
    const stop = await m.step(v, opts?.holdInterrupts && !ws.halts ? opts : undefined);
    if (stop.kind !== 'step' && stop.kind !== 'watchpoint' && stop.kind !== 'breakpoint') return stop;
    const writes: Write[] = spans.map((s, k) => ({ gpa: s.gpa, old: old[k], new: m.readPhysical(s.gpa, s.length) }));
    const rip = m.getRegs(v).rip;
    const entry: Entry = { pc, regs, sregs, writes };
    if (fpuBefore) entry.fpu = { before: fpuBefore, after: m.vcpu(v).getXsave() };
    if (ws.interrupt) entry.inexact = 'it delivered an interrupt or exception: only 64 bytes below the stack pointer were saved';
    else if (ws.landings && !ws.landings.includes(rip)) entry.inexact = 'an exception or interrupt was delivered during it: its frame was not saved';
    this.log.append(entry);
    return stop;
  }

  /** Up to 15 bytes at `pc`, fewer where the next page is not mapped. */
  private codeBytes(pc: bigint): Buffer {
    try {
      return this.m.readLinear(this.vcpu, pc, 15);
    } catch {
      return this.m.readLinear(this.vcpu, pc, Number(0x1000n - (pc & 0xfffn)));
    }
  }

  /** Linear ranges as guest-physical spans in RAM, page by page; unmapped pieces fault and write nothing. */
  physical(ranges: { linear: bigint; length: number }[]): PhysSpan[] {
    const out: PhysSpan[] = [];
    for (const r of ranges) {
      for (let off = 0; off < r.length;) {
        const lin = r.linear + BigInt(off);
        const n = Math.min(r.length - off, 4096 - Number(lin & 0xfffn));
        const gpa = this.m.linearToPhysical(this.vcpu, lin);
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
   * Goes back entry by entry until `stopAt` says so of the entry just undone (the vCPU is then
   * before it) or the history begins; registers are set once, at the end. True when `stopAt`
   * stopped it, false at the start of history, undefined when paused.
   */
  async back(stopAt: (e: Entry, index: number) => boolean): Promise<boolean | undefined> {
    this.pauseWanted = false;
    try {
      for (let n = 1; this.log.back(); n++) {
        const i = this.log.position;
        if (stopAt(this.log.at(i), i)) return true;
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

/** Whether any of `writes` touches any of `spans`. */
export function writesTo(writes: readonly Write[], spans: readonly PhysSpan[]): boolean {
  return writes.some((w) => spans.some((s) => w.gpa < s.gpa + s.length && s.gpa < w.gpa + w.old.length));
}
