// Recording throughput: instructions/s of the history recorder (single steps with an undo entry
// each, src/debugger/history/recorder.ts) against the raw single step of the C reference
// (bench/ref.c, the same KVM calls from C) and the monitor's plain single step, in the same run;
// the recorder with its fast path for plain instructions (history/plain-step.ts) and without it;
// the history's size in bytes per instruction, there and on the bundled example; how fast the
// history moves back. Each round runs every side in turn, each on a fresh VM (C in its own
// process); the figures are min / median / max over the rounds.
//   node --import tsx bench/record.ts [--seconds 2] [--rounds 5]
// BENCH_PROFILE=DIR profiles the last round's recording loop (bench/profile.ts).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { Machine } from '../src/vmm/machine.js';
import { Recorder } from '../src/debugger/history/recorder.js';
import { profileStart, profileStop } from './profile.js';
import { hostLine, stats } from './stats.js';
import { ROOT, buildGuest, buildRef } from './builds.js';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}
const seconds = option('seconds', 2);
const rounds = option('rounds', 5);

/** Steps `step` for `seconds` (after a quarter second of warm-up): steps per second. */
async function rate(step: () => unknown): Promise<number> {
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
    return n / ((performance.now() - t0) / 1000);
  };
  await run(0.25);
  return run(seconds);
}

type Sample = Record<string, number>;

/** One round: every side in turn on `fill` (and C's raw step on `spin`, as bench/run.ts measures it). */
async function round(ref: string, refArgs: string[], fill: string, last: boolean): Promise<Sample> {
  const out: Sample = {};
  const c = JSON.parse(execFileSync(ref, [...refArgs, String(seconds * 1000), '250', 'step']).toString().trim().split('\n').pop()!) as Sample;
  out.cStep = c.step;
  const make = () => new Machine({ image: fill, format: 'flat', loadAddress: 0x100000, mode: 'long', serial: () => {} });
  let m = make();
  out.plainStep = await rate(() => m.step(0));
  await m.destroy();
  // The debugger's own steps hold interrupts off (KVM_GUESTDBG_BLOCKIRQ), as recorded steps do.
  m = make();
  out.heldStep = m.canHoldInterrupts ? await rate(() => m.step(0, { holdInterrupts: true })) : out.plainStep;
  await m.destroy();
  for (const plainSteps of [false, true]) {
    m = make();
    const rec = new Recorder(m, 0, { plainSteps });
    rec.start();
    if (last && plainSteps) await profileStart();
    const recorded = await rate(() => rec.step(0, { holdInterrupts: m.canHoldInterrupts }));
    if (last && plainSteps) await profileStop('record');
    if (plainSteps) {
      out.recorded = recorded;
      out.bytesPerInstruction = rec.log.bytes / rec.log.length;
      // Back over the whole history: how fast the log moves (memory copies only).
      const t0 = performance.now();
      rec.goto(0);
      out.backPerSecond = rec.log.length / ((performance.now() - t0) / 1000);
      rec.goto(rec.log.length);
    } else out.recordedGeneral = recorded;
    await m.destroy();
  }
  Object.assign(out, await recordExample());
  return out;
}

/**
 * The bundled example (examples/build/kernel.img: real, protected and long mode, C, COM1)
 * recorded from its first instruction to its end, or for `seconds`: its rate and history size.
 */
async function recordExample(): Promise<Sample> {
  execFileSync('make', ['-s', '-C', join(ROOT, 'examples')]);
  const m = new Machine({ image: join(ROOT, 'examples', 'build', 'kernel.img'), serial: () => {} });
  const rec = new Recorder(m);
  rec.start();
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const s = await rec.step(0, { holdInterrupts: m.canHoldInterrupts });
    if (s.kind !== 'step') break;
  }
  const n = rec.log.length;
  const out = { exampleInstructions: n, exampleBytesPerInstruction: rec.log.bytes / n, exampleRecorded: n / ((performance.now() - t0) / 1000), examplePlain: rec.plainRecorded / n };
  await m.destroy();
  return out;
}

const ROWS: [string, string, number][] = [
  ['cStep', 'C reference raw single step (steps/s)', 0],
  ['plainStep', 'monitor plain single step (steps/s)', 0],
  ['heldStep', 'monitor held step, BLOCKIRQ (steps/s)', 0],
  ['recordedGeneral', 'recorded, general path only (instructions/s)', 0],
  ['recorded', 'recorded (instructions/s)', 0],
  ['ofC', 'recorded / C raw step (per round)', 3],
  ['bytesPerInstruction', 'history, fill.S (bytes/instruction)', 1],
  ['backPerSecond', 'back over the history (entries/s)', 0],
  ['exampleRecorded', 'the bundled example recorded (instructions/s)', 0],
  ['examplePlain', 'the bundled example: share on the fast path', 3],
  ['exampleBytesPerInstruction', 'the bundled example: history (bytes/instruction)', 1],
];

async function main(): Promise<void> {
  const ref = buildRef();
  const spin = buildGuest('spin');
  const io = buildGuest('io', ['IO_COUNT=1000']);
  const refArgs = [spin.bin, io.bin, `0x${spin.syms.get('bp_here')!.toString(16)}`, '1000'];
  const fill = buildGuest('fill').bin;
  const samples: Sample[] = [];
  for (let r = 0; r < rounds; r++) {
    const s = await round(ref, refArgs, fill, r === rounds - 1);
    s.ofC = s.recorded / s.cStep;
    samples.push(s);
  }
  console.log(`${hostLine()}; ${rounds} rounds of ${seconds} s`);
  console.log('| metric | min / **median** / max |\n|---|---|');
  const fmt = (x: number, d: number) => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  for (const [key, name, d] of ROWS) {
    const st = stats(samples.map((s) => s[key]));
    console.log(`| ${name} | ${fmt(st.min, d)} / **${fmt(st.median, d)}** / ${fmt(st.max, d)} |`);
  }
  const ofC = stats(samples.map((s) => s.ofC)).median;
  console.log(`goal: recorded at least half the C reference's raw single step: ${ofC >= 0.5 ? 'met' : 'not met'} (median ${ofC.toFixed(3)})`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
