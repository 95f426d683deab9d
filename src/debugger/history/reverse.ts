// Reverse execution's run policy, over the recorder: step back by instruction or by source line,
// and reverse-continue to the previous hit of a code breakpoint (its condition and hit count
// judged as going forward) or to the last write to a data breakpoint's location ("who wrote
// this?": the vCPU stops before the writing instruction, which the stop names with the old and
// new value). The start of history is a stop that says so, not an error.
import type { Machine } from '../../vmm/machine.js';
import { GuestError, hex } from '../../errors.js';
import type { Breakpoints, DataTarget } from '../breakpoints.js';
import type { DebugInfo } from '../debug-info.js';
import type { Reported, TargetStop } from '../target.js';
import { writesTo, type Recorder, type WatchedSpans } from './recorder.js';

export const START_OF_HISTORY = 'start of the recorded history: nothing earlier was recorded';

interface Watch extends WatchedSpans {
  target: DataTarget;
}

export class Reverse {
  constructor(
    private readonly m: Machine,
    private readonly rec: Recorder,
    private readonly bps: Breakpoints,
    private readonly info: DebugInfo | undefined,
    /** The target's verdict on a code breakpoint hit (conditions, hit counts, logpoints). */
    private readonly judge: (stop: TargetStop) => { report: boolean; detail: Reported['detail'] },
    private readonly log: (line: string) => void,
  ) {}

  /**
   * One instruction back, or to the start of the previous source line (`line`) as gdb's
   * reverse-next: lines of calls made meanwhile (deeper frames: a lower stack pointer) are passed.
   */
  async step(vcpu: number, line: boolean): Promise<Reported> {
    const start = line ? this.info?.lineAt(this.m.linearRip(vcpu)) : undefined;
    const sp = this.m.getRegs(vcpu).rsp;
    const log = this.rec.log;
    const done = await this.rec.back(() => {
      if (!start) return true;
      const pc = log.pc();
      const loc = this.info?.lineAt(pc);
      return loc !== undefined && loc.address === pc && (loc.line !== start.line || loc.file !== start.file) && log.reg('rsp') >= sp;
    });
    return this.ended(vcpu, done) ?? { stop: { kind: 'step', vcpu }, detail: {} };
  }

  /** Back to the previous breakpoint hit or watched write. */
  async continue(vcpu: number): Promise<Reported> {
    const watches = this.watches();
    let found: Reported | undefined;
    const log = this.rec.log;
    const done = await this.rec.back(() => {
      const pc = log.pc();
      const hit = watches.length ? watches.find((w) => writesTo(log.writes(), w.spans)) : undefined;
      if (hit) {
        found = this.whoWrote(vcpu, hit, pc);
        return true;
      }
      if (!this.bps.hitAt(pc)) return false;
      log.settle();
      const stop: TargetStop = { kind: 'breakpoint', vcpu, address: pc, id: 0 };
      const j = this.judge(stop);
      if (j.report) found = { stop, detail: j.detail };
      return j.report;
    });
    return this.ended(vcpu, done) ?? found!;
  }

  /** Refuses a reverse request when there is no history to move in (checked before it starts). */
  needHistory(): void {
    if (!this.rec.recording && this.rec.log.length === 0) {
      throw new GuestError('nothing was recorded: turn recording on with "record start" in the Debug Console or "record": true in launch.json');
    }
  }

  /** The stop at the start of history, or of a pause; undefined when the search found its place. */
  private ended(vcpu: number, done: boolean | undefined): Reported | undefined {
    if (done === undefined) return { stop: { kind: 'pause', vcpu }, detail: {} };
    if (done) return undefined;
    this.log(`kvmdbg: ${START_OF_HISTORY}`);
    return { stop: { kind: 'step', vcpu }, detail: { text: START_OF_HISTORY } };
  }

  /** The enabled data breakpoints as guest-physical spans under today's page tables. */
  watches(): Watch[] {
    return this.bps.dataTargets().map(({ id, target }) => ({
      id, target, address: target.address, spans: this.rec.physical([{ linear: target.address, length: target.length }]),
    }));
  }

  /** The report of a watched write found going back: the log is now before the writing instruction. */
  private whoWrote(vcpu: number, w: Watch, pc: bigint): Reported {
    // The entry is undone: memory holds the old value; the new one is the next entry's view.
    const writes = this.rec.log.writes();
    const old = this.value(w);
    for (const x of writes) this.m.writePhysical(x.gpa, x.new);
    const now = this.value(w);
    for (let k = writes.length - 1; k >= 0; k--) this.m.writePhysical(writes[k].gpa, writes[k].old);
    const t = w.target;
    return {
      stop: { kind: 'watchpoint', vcpu, id: w.id, slot: -1, address: t.address, access: 'write' },
      detail: {
        ids: [w.id], reason: 'data breakpoint',
        text: `${t.description} (${hex(t.address)}, ${t.length} bytes) was written by the instruction at ${hex(pc)}: ${old} -> ${now}`,
      },
    };
  }

  /** A watched location's bytes as a little-endian number. */
  private value(w: Watch): string {
    const bytes = Buffer.concat(w.spans.map((s) => this.m.readPhysical(s.gpa, s.length)));
    return '0x' + Buffer.from(bytes).reverse().toString('hex');
  }
}
