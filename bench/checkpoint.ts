// What the triple-fault checkpoints cost (src/vmm/checkpoint.ts: on by default on SVM hosts):
// the same guests on a Machine with `recoverShutdown` on and on one with it off, in alternating
// batches in one process (as bench/paired.ts pairs the monitor with its floor), so that the
// ratio is not this host's drift between processes.
//
//   node --import tsx bench/checkpoint.ts [PAIRS]
//
// Metrics: `io`: port-I/O exit round trip (bench/guests/io.S, no memory written between exits);
// `io-write4`: the same with 4 pages written between two exits (io-write.S), so each checkpoint
// copies 4 pages into the shadow; `step`: single steps of spin.S (a step's checkpoint has no
// memory part). Prints µs per operation, off and on, and the median of on/off.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Machine } from '../src/vmm/machine.js';

const BUILD = join(__dirname, 'build');
const GUESTS = join(__dirname, 'guests');
const IO_COUNT = 10000;
const STEPS = 2000;

function guest(name: string, defines: string[] = []): string {
  mkdirSync(BUILD, { recursive: true });
  const base = join(BUILD, `ckpt-${name}`);
  execFileSync('gcc', ['-c', '-nostdlib', '-ffreestanding', ...defines.map((d) => `-D${d}`), '-o', `${base}.o`, join(GUESTS, `${name}.S`)]);
  execFileSync('ld', ['-nostdlib', '--build-id=none', '-Ttext=0x100000', '-e', '_start', '-o', `${base}.elf`, `${base}.o`]);
  execFileSync('objcopy', ['-O', 'binary', `${base}.elf`, `${base}.bin`]);
  return `${base}.bin`;
}

function machine(image: string, recoverShutdown: boolean): Machine {
  return new Machine({ image, format: 'flat', loadAddress: 0x100000, mode: 'long', serial: () => {}, recoverShutdown });
}

/** µs per exit of one run() of an I/O guest on a fresh machine (its set-up not timed). */
async function ioRun(image: string, on: boolean): Promise<number> {
  const m = machine(image, on);
  try {
    const t = performance.now();
    const s = await m.run();
    const us = ((performance.now() - t) * 1e3) / IO_COUNT;
    if (s.kind !== 'exit' || m.getRegs().rbx !== BigInt(IO_COUNT)) throw new Error(`I/O guest: ${s.kind}`);
    return us;
  } finally {
    await m.destroy();
  }
}

async function stepBatch(m: Machine): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < STEPS; i++) {
    const s = m.step();
    if ((s instanceof Promise ? await s : s).kind !== 'step') throw new Error('not a step');
  }
  return ((performance.now() - t) * 1e3) / STEPS;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const pairs = Number(process.argv[2] ?? 8);
  const io = guest('io', [`IO_COUNT=${IO_COUNT}`]);
  const ioWrite = guest('io-write', [`IO_COUNT=${IO_COUNT}`, 'PAGES=4']);
  const spin = guest('spin');
  const steppers = { off: machine(spin, false), on: machine(spin, true) };
  const metrics: Record<string, (on: boolean) => Promise<number>> = {
    io: (on) => ioRun(io, on),
    'io-write4': (on) => ioRun(ioWrite, on),
    step: (on) => stepBatch(on ? steppers.on : steppers.off),
  };
  try {
    for (const [name, f] of Object.entries(metrics)) {
      await f(false); await f(true); // warm-up
      const off: number[] = [], on: number[] = [], ratio: number[] = [];
      for (let i = 0; i < pairs; i++) {
        // Alternate which side goes first.
        const [a, b] = i % 2 ? [await f(true), await f(false)] : [await f(false), await f(true)].reverse();
        on.push(a); off.push(b); ratio.push(a / b);
      }
      console.log(`${name}: off ${median(off).toFixed(2)} µs, on ${median(on).toFixed(2)} µs per operation; ` +
        `on/off median ${median(ratio).toFixed(3)} (min ${Math.min(...ratio).toFixed(3)}, max ${Math.max(...ratio).toFixed(3)}), ${pairs} pairs`);
    }
  } finally {
    await steppers.off.destroy();
    await steppers.on.destroy();
  }
}

void main();
