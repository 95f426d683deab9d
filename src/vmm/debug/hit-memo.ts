// The debug-register breakpoint the machine last continued from over RFLAGS.RF, kept so that
// continuing from it again (a condition not met, a hit count, a logpoint: hit after hit) is
// decided by comparing a few 32-bit words of the kvm_run page. The general decision reads the
// exit's pc as a BigInt, searches the slots for it, asks whether another breakpoint lies just
// after it, and decodes DR6 against DR7. In the test VM (Node under QEMU's TCG) the memo took a
// hit and continue from 0.80-0.84 to 0.86-0.87 of the bare ioctls' rate (bench/README.md).
import { debugExitDr6, debugExitPcIs } from '../exits.js';
import type { Stop } from './stops.js';

export class HitMemo {
  readonly vcpu: number;
  /** The breakpoint's linear address, as the two words of kvm_run.debug.arch.pc. */
  private readonly lo: number;
  private readonly hi: number;
  /** DR6's B0-B3 as a hit on this slot alone leaves them, of the slots the run enabled. */
  private readonly fired: number;
  private readonly enabled: number;
  /** The stop of every hit here: one frozen object, as the step stops are. */
  readonly stop: Stop;

  constructor(o: { enabled: number; vcpu: number; slot: number; address: bigint; id: number }) {
    this.vcpu = o.vcpu;
    this.lo = Number(o.address & 0xffffffffn);
    this.hi = Number(o.address >> 32n);
    this.fired = 1 << o.slot;
    this.enabled = o.enabled;
    this.stop = Object.freeze({ kind: 'breakpoint', vcpu: o.vcpu, address: o.address, id: o.id });
  }

  /** Whether the debug exit in `run32` stopped at this breakpoint's address. */
  at(run32: Uint32Array): boolean {
    return debugExitPcIs(run32, this.lo, this.hi);
  }

  /**
   * Whether the #DB exit in `run32`, of a run that did not single-step, is a hit on this
   * breakpoint alone: of the slots enabled, only its own fired (the general decoder reports the
   * lowest slot that fired, a data watch included).
   */
  hitAgain(run32: Uint32Array): boolean {
    return (debugExitDr6(run32) & this.enabled) === this.fired;
  }
}
