// Monitor against floor in one process, on one VM, in alternating batches: the low-noise way to
// see what a change to the run loop costs or saves. Separate processes (bench/run.ts) differ by
// 1-2% from run to run on this host, as much as most such changes; here both sides share the
// process, the VM and the host's state of the moment, and each batch pair gives one ratio.
//
//   node --import tsx bench/paired.ts step|stepRegs|bp|bpLeast|io [PAIRS]
//
// Run bench/run.ts once first: it builds the guests into bench/build/. Like run.ts, this measures
// the monitor as shipped: it bundles itself with esbuild into bench/build/paired.js and runs that. The floor side makes
// bench/ref.c's calls through the monitor's bindings (Vcpu.enter, Vcpu.setGuestDebug), as
// bench/monitor.ts --floor does. Prints the per-operation times and the median, quartiles of
// floor time / monitor time (1.0: the monitor adds nothing to the floor). bpLeast puts the least
// a monitor can do per hit (LeastMonitor, below) in the monitor's place, where the host honours
// RF: how near the floor any run loop can come on this host.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Machine } from '../src/vmm/machine.js';
import type { Stop } from '../src/vmm/debug/stops.js';
import type { Vcpu } from '../src/vmm/vcpu.js';
import * as abi from '../src/vmm/kvm/abi.js';
import { EINTR } from '../src/vmm/kvm/sys.js';

// bench/paired.ts sits beside build/; its bundle, build/paired.js, inside it.
const BUILD = __filename.endsWith('.ts') ? join(__dirname, 'build') : __dirname;
const SPIN = join(BUILD, 'spin.bin');
const IO = join(BUILD, 'io-IO_COUNT_100000.bin');
const IO_COUNT = 100000;

function machine(image: string): Machine {
  return new Machine({ image, format: 'flat', loadAddress: 0x100000, mode: 'long', serial: () => {} });
}

const EXIT_REASON = abi.kvm_run.exit_reason / 4;
const EXIT_DEBUG = abi.KVM_EXIT.DEBUG, EXIT_IO = abi.KVM_EXIT.IO, IO_PORT = abi.kvm_run.io_port;
const NEG_EINTR = -EINTR;

/** KVM_RUN until an exit that is not a slice-timer EINTR; checks the exit reason. */
function enter(v: Vcpu, reason: number): void {
  for (;;) {
    const rc = v.enter();
    if (rc === NEG_EINTR) continue;
    if (rc < 0 || v.run32[EXIT_REASON] !== reason) throw new Error(`exit ${rc} ${v.run32[EXIT_REASON]}`);
    return;
  }
}

function timed(f: () => void): number {
  const t = performance.now();
  f();
  return performance.now() - t;
}

async function timedAsync(f: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

/**
 * `op` n times, each stop checked, as a tight loop over the monitor runs it: synchronously while
 * the stops come back directly, awaiting only a Promise (a run or step that crossed a time
 * slice), so that the monitor's loop is shaped like the floor's synchronous one. (In the test
 * VM a loop inside an async function cost bpLeast 2% of a hit; for the monitor the difference
 * was within that host's noise: bench/README.md.)
 */
async function loop(n: number, op: () => Stop | Promise<Stop>, check: (s: Stop) => void): Promise<void> {
  for (let done = 0; done < n;) {
    const r = loopDirect(n - done, op, check);
    done += r.done;
    if (r.pending) check(await r.pending);
  }
}

function loopDirect(n: number, op: () => Stop | Promise<Stop>, check: (s: Stop) => void): { done: number; pending?: Promise<Stop> } {
  for (let i = 0; i < n; i++) {
    const s = op();
    if (s instanceof Promise) return { done: i + 1, pending: s };
    check(s);
  }
  return { done: n };
}

interface Side { monitor: () => Promise<number>; floor: () => Promise<number>; per: number; unit: string; done?: () => Promise<void> }

function steps(withRegs: boolean): Side {
  const m = machine(SPIN), v = m.vcpu(0), n = 20000;
  let rip = 0n; // RIP read after each step, as bench/monitor.ts does
  return {
    per: n, unit: 'step',
    monitor: () => timedAsync(() => loop(n, () => m.step(), (s) => {
      if (s.kind !== 'step') throw new Error('not a step');
      if (withRegs) rip = v.loadRegs()[16];
    })),
    // The monitor's first step leaves guest debug set for plain steps: the floor reuses it.
    floor: async () => timed(() => {
      for (let i = 0; i < n; i++) {
        enter(v, EXIT_DEBUG);
        if (withRegs) rip = v.loadRegs()[16];
      }
    }),
    done: () => {
      if (withRegs && rip < 0x100000n) throw new Error(`RIP 0x${rip.toString(16)} is outside the guest`);
      return m.destroy();
    },
  };
}

const W_DEBUG_PC = abi.kvm_run.debug_pc / 4, W_DEBUG_DR6 = abi.kvm_run.debug_dr6 / 4;

/**
 * The least a monitor can do to continue from a debug-register breakpoint and stop at its next
 * hit: a run state, RF, KVM_RUN, the exit matched to the breakpoint by three words of kvm_run,
 * one kept stop. No pause, no slice timer, no check that the breakpoints are as they were.
 */
class LeastMonitor {
  private running = false;
  private readonly stop: Stop;
  private readonly lo: number;
  private readonly hi: number;

  constructor(private readonly v: Vcpu, address: bigint) {
    this.stop = Object.freeze({ kind: 'breakpoint', vcpu: 0, address, id: 1 });
    this.lo = Number(address & 0xffffffffn);
    this.hi = Number(address >> 32n);
  }

  run(): Stop {
    if (this.running) throw new Error('running');
    this.running = true;
    try {
      const v = this.v;
      v.setResumeFlag();
      enter(v, EXIT_DEBUG);
      const w = v.run32;
      if (!(w[W_DEBUG_DR6] & 1) || w[W_DEBUG_PC] !== this.lo || w[W_DEBUG_PC + 1] !== this.hi) throw new Error('not the breakpoint');
      return this.stop;
    } finally {
      this.running = false;
    }
  }
}

function breakpoints(least: boolean): Side {
  const elf = join(BUILD, 'spin.elf');
  const bp = BigInt(`0x${/^(\w+) \w bp_here$/m.exec(execFileSync('nm', [elf]).toString())![1]}`);
  const m = machine(SPIN), v = m.vcpu(0), n = 5000;
  m.addHardwareBreakpoint(bp, 'execute');
  if (least && !m.host.resumeFlag) throw new Error('bpLeast continues over RF, which this host does not honour');
  const control = abi.KVM_GUESTDBG_ENABLE | abi.KVM_GUESTDBG_USE_SW_BP | abi.KVM_GUESTDBG_USE_HW_BP;
  const armed = [bp, 0n, 0n, 0n, 0n, 0n, 0n, 1n | (1n << 8n)], disarmed = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
  const leastMonitor = new LeastMonitor(v, bp);
  return {
    per: n, unit: 'hit',
    monitor: least ? async () => {
      v.setGuestDebug(control, armed);
      const t = timed(() => {
        for (let i = 0; i < n; i++) {
          if (leastMonitor.run().kind !== 'breakpoint') throw new Error('not a breakpoint');
        }
      });
      v.setGuestDebug(control, m.breakpoints.debugRegisters(-1, m.watchBackend === 'memslots'));
      return t;
    } : () => timedAsync(() => loop(n, () => m.run(), (s) => {
      if (s.kind !== 'breakpoint') throw new Error(`not a breakpoint: ${s.kind}`);
    })),
    floor: async () => {
      // As the machine continues: over RFLAGS.RF where the host honours it.
      const t = timed(m.host.resumeFlag ? () => {
        v.setGuestDebug(control, armed);
        for (let i = 0; i < n; i++) {
          v.setResumeFlag();
          enter(v, EXIT_DEBUG);
        }
      } : () => {
        for (let i = 0; i < n; i++) {
          v.setGuestDebug(control | abi.KVM_GUESTDBG_SINGLESTEP, disarmed);
          enter(v, EXIT_DEBUG);
          v.setGuestDebug(control, armed);
          enter(v, EXIT_DEBUG);
        }
      });
      // Hand the vCPU back at a hit, with guest debug as the monitor last set it.
      v.setGuestDebug(control, m.breakpoints.debugRegisters(-1, m.watchBackend === 'memslots'));
      return t;
    },
    done: () => m.destroy(),
  };
}

function io(): Side {
  return {
    per: IO_COUNT, unit: 'exit',
    monitor: async () => {
      const m = machine(IO);
      try {
        const t = performance.now();
        let s = m.run();
        if (s instanceof Promise) s = await s;
        const dt = performance.now() - t;
        if (s.kind !== 'exit') throw new Error(`not an exit: ${s.kind}`);
        return dt;
      } finally {
        await m.destroy();
      }
    },
    floor: async () => {
      const m = machine(IO), v = m.vcpu(0);
      try {
        return timed(() => {
          for (let n = 0; ; n++) {
            enter(v, EXIT_IO);
            if (v.run.readUInt16LE(IO_PORT) === 0xf4) {
              if (n !== IO_COUNT) throw new Error(`${n} exits`);
              return;
            }
          }
        });
      } finally {
        await m.destroy();
      }
    },
  };
}

async function main(): Promise<void> {
  if (__filename.endsWith('.ts')) {
    const { build } = await import('esbuild');
    const out = join(BUILD, 'paired.js');
    await build({
      bundle: true, platform: 'node', target: 'node20', format: 'cjs', external: ['koffi', 'esbuild'], logLevel: 'warning',
      entryPoints: [__filename], outfile: out,
    });
    execFileSync(process.execPath, [out, ...process.argv.slice(2)], { stdio: 'inherit' });
    return;
  }
  const [metric = 'step', pairsText = '20'] = process.argv.slice(2);
  const pairs = Number(pairsText);
  const side = metric === 'step' ? steps(false) : metric === 'stepRegs' ? steps(true)
    : metric === 'bp' || metric === 'bpLeast' ? breakpoints(metric === 'bpLeast') : metric === 'io' ? io() : undefined;
  if (!side) throw new Error(`unknown metric ${metric}: step, stepRegs, bp, bpLeast or io`);
  try {
    // Warm up both, with the monitor first so that it sets guest debug up.
    await side.monitor();
    await side.floor();
    const ratios: number[] = [];
    let mon = 0, flo = 0;
    for (let i = 0; i < pairs; i++) {
      const a = await side.monitor(), b = await side.floor();
      mon += a;
      flo += b;
      ratios.push(b / a);
    }
    ratios.sort((x, y) => x - y);
    const q = (f: number) => ratios[Math.min(ratios.length - 1, Math.floor(f * ratios.length))].toFixed(4);
    const us = (ms: number) => ((ms * 1e3) / (pairs * side.per)).toFixed(3);
    console.log(`${metric}: monitor ${us(mon)} µs/${side.unit}, floor ${us(flo)} µs/${side.unit}; ` +
      `floor/monitor median ${q(0.5)} (quartiles ${q(0.25)} - ${q(0.75)}, ${pairs} pairs)`);
  } finally {
    await side.done?.();
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
