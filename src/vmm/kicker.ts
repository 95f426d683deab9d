// Gets the thread that runs KVM_RUN back out of the guest. A vCPU spinning at CPL0 never exits
// by itself, so a watchdog thread notices a KVM_RUN that has lasted a whole period, sets
// kvm_run.immediate_exit (so a kick that races with the entry is not lost) and sends SIGUSR2 to
// the running thread, whose installed handler makes KVM_RUN return EINTR. The same path serves
// pause requests from any thread (`kick()`), which take effect in well under a millisecond.
import { Worker } from 'node:worker_threads';
import * as sys from './kvm/sys.js';

/** Slots of the shared control block. */
const IN_RUN = 0, SEQ = 1, VCPU = 2, PAUSE = 3, QUIT = 4, PERIOD_MS = 5;
const SIGUSR2 = 12;

let handlerInstalled = false;

/** What another thread needs to pause this machine: see kickFromAnyThread. */
export interface KickHandle {
  control: SharedArrayBuffer;
  runPages: bigint[];
  pid: number;
  tid: number;
}

const WATCHDOG_SOURCE = `
const { workerData } = require('node:worker_threads');
const koffi = require(workerData.koffiPath);
const libc = koffi.load('libc.so.6');
const tgkill = libc.func('int tgkill(int tgid, int tid, int sig)');
const ctl = new Int32Array(workerData.control);
const pages = workerData.runPages.map((p) => new Uint8Array(koffi.view(p, 8)));
let lastSeq = -1;
while (Atomics.load(ctl, ${QUIT}) === 0) {
  Atomics.wait(ctl, ${QUIT}, 0, Atomics.load(ctl, ${PERIOD_MS}));
  if (Atomics.load(ctl, ${QUIT}) !== 0) break;
  const seq = Atomics.load(ctl, ${SEQ});
  if (Atomics.load(ctl, ${IN_RUN}) !== 0 && seq === lastSeq) {
    pages[Atomics.load(ctl, ${VCPU})][1] = 1;
    tgkill(workerData.pid, workerData.tid, ${SIGUSR2});
  }
  lastSeq = seq;
}
`;

export class Kicker {
  private readonly ctl: Int32Array;
  private readonly worker: Worker;
  readonly handle: KickHandle;

  constructor(runPages: bigint[], periodMs: number) {
    if (!handlerInstalled) {
      // An installed handler (not SIG_IGN) is what makes the signal interrupt KVM_RUN.
      process.on('SIGUSR2', () => {});
      handlerInstalled = true;
    }
    const control = new SharedArrayBuffer(8 * 4);
    this.ctl = new Int32Array(control);
    this.ctl[PERIOD_MS] = periodMs;
    this.handle = { control, runPages, pid: sys.getpid(), tid: sys.gettid() };
    this.worker = new Worker(WATCHDOG_SOURCE, {
      eval: true,
      workerData: { ...this.handle, koffiPath: require.resolve('koffi') },
    });
    this.worker.unref();
  }

  /** Marks entry into KVM_RUN on vCPU `index`. Plain stores: this is on the stepping hot path. */
  enter(index: number): void {
    this.ctl[VCPU] = index;
    this.ctl[SEQ]++;
    this.ctl[IN_RUN] = 1;
  }

  leave(): void {
    this.ctl[IN_RUN] = 0;
  }

  set period(ms: number) {
    Atomics.store(this.ctl, PERIOD_MS, ms);
  }

  /** A pause asked for by another thread (or by a signal handler), consumed by the run loop. */
  takePauseRequest(): boolean {
    return Atomics.exchange(this.ctl, PAUSE, 0) !== 0;
  }

  requestPause(): void {
    Atomics.store(this.ctl, PAUSE, 1);
  }

  async destroy(): Promise<void> {
    Atomics.store(this.ctl, QUIT, 1);
    Atomics.notify(this.ctl, QUIT);
    await this.worker.terminate();
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
