// Gets the thread that runs KVM_RUN back out of the guest. A vCPU spinning at CPL0 never exits
// by itself, so while the machine is active a POSIX timer sends SIGUSR2 to that thread every
// time slice; the installed handler makes KVM_RUN return EINTR, and the run loop gets to serve
// the event loop. No helper thread is involved, so a machine owns no thread at all. Another
// thread pauses the machine with kickFromAnyThread: it flags the pause, sets
// kvm_run.immediate_exit (so a kick racing with the entry is not lost) and signals the thread.
import * as sys from './kvm/sys.js';

/** Slots of the shared control block. */
const VCPU = 0, PAUSE = 1;
const SIGUSR2 = 12;
/** Idle this long after a run and the timer is disarmed (a debugger stepping keeps it armed). */
const DISARM_AFTER_MS = 50;

let handlerInstalled = false;

/** What another thread needs to pause this machine: see kickFromAnyThread. */
export interface KickHandle {
  control: SharedArrayBuffer;
  runPages: bigint[];
  pid: number;
  tid: number;
}

export class Kicker {
  private readonly ctl: Int32Array;
  private readonly timer: bigint;
  private armed = false;
  /** A KVM_RUN was entered since the last disarm check. */
  private used = false;
  /** The vCPU last published in the control block (a plain field: reading it back is a hot path). */
  private vcpu = 0;
  private disarmTimer: NodeJS.Timeout | undefined;
  readonly handle: KickHandle;

  constructor(runPages: bigint[], private periodMs: number) {
    if (!handlerInstalled) {
      // An installed handler (not SIG_IGN, not the default) is what makes the signal interrupt
      // KVM_RUN without ending the process.
      process.on('SIGUSR2', () => {});
      handlerInstalled = true;
    }
    const control = new SharedArrayBuffer(4 * 4);
    this.ctl = new Int32Array(control);
    const tid = sys.gettid();
    this.handle = { control, runPages, pid: sys.getpid(), tid };
    this.timer = sys.timerCreate(tid, SIGUSR2);
  }

  /**
   * Before running vCPU `index` (once per run loop, not per KVM_RUN): publishes which vCPU a
   * kick must reach and makes sure the slice timer ticks. Field reads only, once armed.
   */
  enter(index: number): void {
    if (index !== this.vcpu) {
      this.vcpu = index;
      Atomics.store(this.ctl, VCPU, index);
    }
    this.used = true;
    if (!this.armed) {
      sys.timerSet(this.timer, Math.round(this.periodMs * 1e6));
      this.armed = true;
    }
  }

  /** The slice timer ticks every `ms` from now on (slice-length.ts). */
  setPeriod(ms: number): void {
    this.periodMs = ms;
    if (this.armed) sys.timerSet(this.timer, Math.round(ms * 1e6));
  }

  /**
   * After a run or step: the timer is disarmed once no KVM_RUN has happened for a while. One
   * check is scheduled at a time (not a timer per step: stepping is hot).
   */
  idle(): void {
    if (!this.armed || this.disarmTimer) return;
    this.disarmTimer = setTimeout(this.disarmCheck, DISARM_AFTER_MS);
    this.disarmTimer.unref();
  }

  /**
   * idle()'s check, made once: a closure made inside idle() would have V8 allocate its context at
   * every call, the early return included (in the test VM that was 2 µs of every step and hit).
   */
  private readonly disarmCheck = (): void => {
    if (this.used) {
      this.used = false;
      this.disarmTimer = setTimeout(this.disarmCheck, DISARM_AFTER_MS);
      this.disarmTimer.unref();
      return;
    }
    this.disarmTimer = undefined;
    sys.timerSet(this.timer, 0);
    this.armed = false;
  };

  /** A pause asked for by another thread, consumed by the run loop. */
  takePauseRequest(): boolean {
    // A load first: the locked exchange is only needed when there is something to take.
    return this.pauseAsked() && Atomics.exchange(this.ctl, PAUSE, 0) !== 0;
  }

  /**
   * Whether a pause is waiting, without taking it. A plain load: on x86 it reads what an
   * Atomics.load would, and each run asks (Atomics.load cost a microsecond of every hit and
   * continue in the test VM); taking the request is the locked exchange.
   */
  pauseAsked(): boolean {
    return this.ctl[PAUSE] !== 0;
  }

  requestPause(): void {
    Atomics.store(this.ctl, PAUSE, 1);
  }

  destroy(): void {
    clearTimeout(this.disarmTimer);
    sys.timerDelete(this.timer);
  }
}

/**
 * Pauses the machine behind `h` from any thread: flags the pause, then kicks the vCPU out of
 * KVM_RUN at once. `koffi` is passed in so that this module stays loadable in any worker.
 */
export function kickFromAnyThread(h: KickHandle, koffi: typeof import('koffi')): void {
  const ctl = new Int32Array(h.control);
  Atomics.store(ctl, PAUSE, 1);
  const page = new Uint8Array(koffi.view(h.runPages[Atomics.load(ctl, VCPU)], 8));
  page[1] = 1;
  const tgkill = koffi.load('libc.so.6').func('int tgkill(int tgid, int tid, int sig)');
  tgkill(h.pid, h.tid, SIGUSR2);
}
