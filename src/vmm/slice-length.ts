// How long the run loop lets the guest run between two turns of the event loop. A turn serves
// the debugger's requests, serial input, timers and a pause. Where Node runs at native speed a
// turn costs tens of microseconds and a slice of 10 ms leaves it a fraction of a percent. In the
// test VM (Node under QEMU's TCG, which flushes its TLB at every nested exit) a turn took about
// 5 ms, and a guest writing a port in a loop ran at 0.76-0.83 of the bare ioctls' rate with 10 ms
// slices, 0.92-0.93 with 50 ms (bench/README.md). So the slice grows from its base until the
// turns take about TURN_SHARE of the run, up to ten times the base, and shrinks back when turns
// get cheap again: a host fact measured as the machine runs, not guessed from the host's kind.

/** The part of a run's time that turns of the event loop may take. */
const TURN_SHARE = 0.02;
/** Weight of the newest turn in the running mean (1/8: one slow turn does not swing it). */
const WEIGHT = 1 / 8;
/** The slice changes only when the wanted length is this far (a quarter) from the current one. */
const HYSTERESIS = 0.25;

export class SliceLength {
  /** The slice now, in milliseconds. */
  ms: number;
  private readonly maxMs: number;
  /** Running mean of a turn's length, ms; undefined before the first. */
  private turnMs: number | undefined;

  constructor(private readonly baseMs: number) {
    this.ms = baseMs;
    this.maxMs = 10 * baseMs;
  }

  /** A turn of the event loop took `ms`; true where the slice length changed for it. */
  noteTurn(ms: number): boolean {
    // A turn longer than the longest slice warrants (the process stopped, a long request) counts
    // as that much: the mean comes back from it within tens of turns, not thousands.
    const sample = Math.min(ms, this.maxMs * TURN_SHARE * 2);
    this.turnMs = this.turnMs === undefined ? sample : this.turnMs + (sample - this.turnMs) * WEIGHT;
    const want = Math.min(this.maxMs, Math.max(this.baseMs, this.turnMs / TURN_SHARE));
    if (Math.abs(want - this.ms) < this.ms * HYSTERESIS) return false;
    this.ms = want;
    return true;
  }
}
