// Recording throughput: instructions/s of the history recorder (single steps with an undo entry
// each, src/debugger/history/recorder.ts) against the monitor's plain single step on the same
// guest, and the history's size in bytes per instruction, there and on the bundled example.
// One process, one VM per side.
//   node --import tsx bench/record.ts [seconds]
// BENCH_PROFILE=DIR profiles the recording loop (bench/profile.ts).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Machine } from '../src/vmm/machine.js';
import { Recorder } from '../src/debugger/history/recorder.js';
import { profileStart, profileStop } from './profile.js';

const DIR = __dirname;
const BUILD = join(DIR, 'build');
const seconds = Number(process.argv[2] ?? 2);

function guest(): string {
  mkdirSync(BUILD, { recursive: true });
  const obj = join(BUILD, 'fill.o'), elf = join(BUILD, 'fill.elf'), bin = join(BUILD, 'fill.bin');
  execFileSync('gcc', ['-c', '-nostdlib', '-ffreestanding', '-o', obj, join(DIR, 'guests', 'fill.S')]);
  execFileSync('ld', ['-nostdlib', '--build-id=none', '-Ttext=0x100000', '-e', '_start', '-o', elf, obj]);
  execFileSync('objcopy', ['-O', 'binary', elf, bin]);
  return bin;
}

/** Steps `step` for `seconds` (after a quarter second of warm-up): steps per second. */
async function rate(step: () => unknown): Promise<{ perSecond: number; n: number }> {
  const run = async (dur: number) => {
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < dur * 1000) {
      for (let i = 0; i < 256; i++) {
        const s = step();
        if (s instanceof Promise) await s;
      }
      n += 256;
    }
    return { perSecond: n / ((performance.now() - t0) / 1000), n };
  };
  await run(0.25);
  return run(seconds);
}

async function main(): Promise<void> {
  const image = guest();
  const make = () => new Machine({ image, format: 'flat', loadAddress: 0x100000, mode: 'long', serial: () => {} });
  let m = make();
  const plain = await rate(() => m.step(0));
  await m.destroy();
  // The debugger's own steps hold interrupts off (KVM_GUESTDBG_BLOCKIRQ), as recorded steps do.
  m = make();
  const held = m.canHoldInterrupts ? await rate(() => m.step(0, { holdInterrupts: true })) : plain;
  await m.destroy();
  m = make();
  const rec = new Recorder(m);
  rec.start();
  await profileStart();
  const recorded = await rate(() => rec.step(0, { holdInterrupts: m.canHoldInterrupts }));
  await profileStop('record');
  const bytes = rec.log.bytes / rec.log.length;
  // Back over the whole history and forward again: how fast the log moves (memory copies only).
  const t0 = performance.now();
  rec.goto(0);
  const backMs = performance.now() - t0;
  rec.goto(rec.log.length);
  await m.destroy();
  const example = await recordExample();
  console.log(JSON.stringify({
    host: m.host.label, seconds,
    plainStepsPerSecond: Math.round(plain.perSecond), heldStepsPerSecond: Math.round(held.perSecond), recordedPerSecond: Math.round(recorded.perSecond),
    ratio: +(recorded.perSecond / plain.perSecond).toFixed(3), historyInstructions: rec.log.length,
    bytesPerInstruction: +bytes.toFixed(1), backOverAllMs: +backMs.toFixed(1),
    backPerSecond: Math.round(rec.log.length / (backMs / 1000)),
    example,
  }, null, 1));
}

/**
 * The bundled example (examples/build/kernel.img: real, protected and long mode, C, COM1)
 * recorded from its first instruction for `seconds` or to its end: the history's size there.
 */
async function recordExample(): Promise<{ instructions: number; bytesPerInstruction: number; recordedPerSecond: number; ended: string }> {
  execFileSync('make', ['-s', '-C', join(DIR, '..', 'examples')]);
  const m = new Machine({ image: join(DIR, '..', 'examples', 'build', 'kernel.img'), serial: () => {} });
  const rec = new Recorder(m);
  rec.start();
  const t0 = performance.now();
  let ended = 'time';
  while (performance.now() - t0 < seconds * 1000) {
    const s = await rec.step(0, { holdInterrupts: m.canHoldInterrupts });
    if (s.kind !== 'step') {
      ended = s.kind;
      break;
    }
  }
  const n = rec.log.length;
  const out = { instructions: n, bytesPerInstruction: +(rec.log.bytes / n).toFixed(1), recordedPerSecond: Math.round(n / ((performance.now() - t0) / 1000)), ended };
  await m.destroy();
  return out;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
