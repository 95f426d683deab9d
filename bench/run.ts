// The speed benchmark: kvmdbg's monitor against a C program making the same KVM calls.
// Builds bench/ref.c and the bench guests into bench/build/, and bundles bench/monitor.ts with
// esbuild exactly as scripts/build.mjs bundles the CLI and the debug adapter (so the monitor
// runs as shipped, not through tsx's per-module transform). Then runs ROUNDS rounds; in each,
// every metric is measured by the C reference and by the monitor back to back, each in a fresh
// process, alternating which goes first, so that load from other processes on the host hits
// both sides alike. Prints min/median/max per metric for both, the ratio of the medians, and
// whether the goal is met. A third side, the floor (bench/monitor.ts --floor), makes ref.c's exact
// calls through the monitor's own koffi bindings with no Machine logic: the ceiling for any run
// loop written in JavaScript over koffi on this host. --no-floor leaves it out.
//
//   node --import tsx bench/run.ts [--rounds 5] [--duration 1000] [--warmup 200] [--io-count 100000]
//                                   [--only step,stepRegs,io,bp] [--json FILE] [--tsx] [--no-floor]
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { hostLine, stats } from './stats.js';
import { BENCH_DIR, BUILD_DIR, ROOT, buildGuest, buildRef } from './builds.js';

interface Options {
  rounds: number;
  duration: number;
  warmup: number;
  ioCount: number;
  only: string[];
  json?: string;
  /** Run bench/monitor.ts through tsx instead of the esbuild bundle. */
  tsx: boolean;
  floor: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { rounds: 5, duration: 1000, warmup: 200, ioCount: 100000, only: ['step', 'stepRegs', 'io', 'bp'], tsx: false, floor: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = argv[i + 1];
    if (a === '--rounds') o.rounds = Number(v), i++;
    else if (a === '--duration') o.duration = Number(v), i++;
    else if (a === '--warmup') o.warmup = Number(v), i++;
    else if (a === '--io-count') o.ioCount = Number(v), i++;
    else if (a === '--only') o.only = v.split(','), i++;
    else if (a === '--json') o.json = v, i++;
    else if (a === '--tsx') o.tsx = true;
    else if (a === '--no-floor') o.floor = false;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

// --- build ---------------------------------------------------------------------------------

/** bench/monitor.ts bundled with scripts/build.mjs's options (koffi stays external). */
async function bundleMonitor(): Promise<string> {
  const { build } = await import('esbuild');
  const out = join(BUILD_DIR, 'monitor.js');
  await build({
    bundle: true, platform: 'node', target: 'node20', format: 'cjs', sourcemap: true,
    external: ['koffi', 'vscode'], logLevel: 'warning',
    entryPoints: [join(BENCH_DIR, 'monitor.ts')], outfile: out, absWorkingDir: ROOT,
  });
  return out;
}

// --- measuring -----------------------------------------------------------------------------

type Result = Record<string, number>;

function runSide(cmd: string, args: string[]): Result {
  const out = execFileSync(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 }).toString();
  return JSON.parse(out.trim().split('\n').pop()!) as Result;
}

interface Metric {
  key: string;
  name: string;
  unit: string;
  /** Higher is better (a rate) or lower is better (a time). */
  higherBetter: boolean;
  goal: number;
  digits: number;
}

const METRICS: Metric[] = [
  { key: 'step', name: 'single-step', unit: 'steps/s', higherBetter: true, goal: 0.95, digits: 0 },
  { key: 'stepRegs', name: 'single-step + registers', unit: 'steps/s', higherBetter: true, goal: 0.95, digits: 0 },
  { key: 'ioUs', name: 'port-I/O exit round trip', unit: 'µs/exit', higherBetter: false, goal: 1.05, digits: 2 },
  { key: 'bpHits', name: 'hardware breakpoint hit + continue', unit: 'hits/s', higherBetter: true, goal: 0.95, digits: 0 },
];
const ONLY_KEY: Record<string, string> = { step: 'step', stepRegs: 'stepRegs', io: 'ioUs', bp: 'bpHits' };

function fmt(x: number, digits: number): string {
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  mkdirSync(BUILD_DIR, { recursive: true });
  const ref = buildRef();
  const spin = buildGuest('spin');
  const io = buildGuest('io', [`IO_COUNT=${o.ioCount}`]);
  const bp = spin.syms.get('bp_here');
  if (bp === undefined) throw new Error('spin.S has no bp_here symbol');
  const common = [spin.bin, io.bin, `0x${bp.toString(16)}`, String(o.ioCount), String(o.duration), String(o.warmup)];
  const monitorCmd = o.tsx ? ['--import', 'tsx', join(BENCH_DIR, 'monitor.ts')] : [await bundleMonitor()];

  const c: Result[] = [], mon: Result[] = [], flo: Result[] = [];
  const loads: number[] = [];
  const t0 = performance.now();
  for (let r = 0; r < o.rounds; r++) {
    loads.push(loadavg()[0]);
    const cr: Result = {}, mr: Result = {}, fr: Result = {};
    o.only.forEach((metric, i) => {
      const sides = [
        () => Object.assign(cr, runSide(ref, [...common, metric])),
        () => Object.assign(mr, runSide(process.execPath, [...monitorCmd, ...common, metric])),
      ];
      if (o.floor) sides.push(() => Object.assign(fr, runSide(process.execPath, [...monitorCmd, '--floor', ...common, metric])));
      // Rotate the order so that no side always runs first.
      for (let k = 0; k < sides.length; k++) sides[(r + i + k) % sides.length]();
    });
    c.push(cr);
    mon.push(mr);
    flo.push(fr);
    const line = (x: Result) => METRICS.filter((m) => x[m.key] !== undefined).map((m) => `${m.key} ${fmt(x[m.key], m.digits)}`).join(', ');
    console.error(`round ${r + 1}/${o.rounds} (load ${loads[r].toFixed(2)}): C: ${line(cr)} | monitor: ${line(mr)}${o.floor ? ` | floor: ${line(fr)}` : ''}`);
  }
  const seconds = (performance.now() - t0) / 1e3;
  // Breakpoints are continued over RFLAGS.RF where the host honours it, by every side alike
  // (ref.c finds out at its first continue, the monitor and the floor from the host probe).
  const rf = [...c, ...mon, ...flo].map((x) => x.bpResumeFlag).filter((x) => x !== undefined);
  if (new Set(rf).size > 1) throw new Error(`the sides continued breakpoints differently (bpResumeFlag ${rf.join(', ')}): not the same KVM calls`);

  const rows: string[] = [];
  rows.push(`| metric | C reference min / median / max | monitor min / median / max | ratio (of medians) | ratio (best of each) | goal | met |${o.floor ? ' koffi floor min / median / max | floor ratio |' : ''}`);
  rows.push(`|---|---|---|---|---|---|---|${o.floor ? '---|---|' : ''}`);
  const summary: Record<string, unknown> = {};
  for (const m of METRICS) {
    if (!o.only.some((k) => ONLY_KEY[k] === m.key)) continue;
    const cs = stats(c.map((x) => x[m.key])), ms = stats(mon.map((x) => x[m.key]));
    const ratio = ms.median / cs.median;
    // Load from other processes only ever slows a run down, so the best runs are compared too.
    const best = m.higherBetter ? ms.max / cs.max : ms.min / cs.min;
    const met = m.higherBetter ? ratio >= m.goal : ratio <= m.goal;
    const what = m.higherBetter ? 'monitor/C' : 'monitor/C time';
    const tri = (s: typeof cs) => `${fmt(s.min, m.digits)} / **${fmt(s.median, m.digits)}** / ${fmt(s.max, m.digits)}`;
    let floorCols = '';
    const fs = o.floor ? stats(flo.map((x) => x[m.key])) : undefined;
    if (fs) floorCols = ` ${tri(fs)} | ${(fs.median / cs.median).toFixed(3)} |`;
    rows.push(`| ${m.name} (${m.unit}) | ${tri(cs)} | ${tri(ms)} | ${ratio.toFixed(3)} ${what} | ${best.toFixed(3)} | ${m.higherBetter ? '≥' : '≤'} ${m.goal} | ${met ? 'yes' : '**no**'} |${floorCols}`);
    summary[m.key] = { c: cs, monitor: ms, ratio, bestRatio: best, met, floor: fs, floorRatio: fs && fs.median / cs.median };
  }
  const table = rows.join('\n');
  console.log(`\n${o.rounds} rounds, ${o.duration} ms per rate metric (after ${o.warmup} ms warm-up), ${o.ioCount} I/O exits; ` +
    `monitor ${o.tsx ? 'through tsx' : 'bundled by esbuild'}; ${seconds.toFixed(1)} s; 1-min load average at round start ${loads.map((l) => l.toFixed(2)).join(', ')}`);
  console.log(`${new Date().toISOString().slice(0, 10)}, ${hostLine()}\n`);
  console.log(table);
  console.log('\nRates: ratio = monitor / C (higher is better). I/O: ratio = monitor µs / C µs per exit (lower is better).');
  console.log('Met: judged on the ratio of medians. Best of each: the highest rate (lowest time) of each side.');
  if (o.floor) console.log('Floor: ref.c\'s calls made through the monitor\'s koffi bindings with no Machine logic (bench/monitor.ts --floor).');
  if (rf.length) console.log(`Breakpoints continued ${rf[0] ? 'over RFLAGS.RF (one KVM_RUN a hit)' : 'by lifting the breakpoint for a single step (four ioctls a hit)'}, by every side.`);
  const record = { date: new Date().toISOString(), host: hostLine(), options: o, loads, c, monitor: mon, floor: o.floor ? flo : undefined, summary, table };
  writeFileSync(join(BUILD_DIR, 'latest.json'), JSON.stringify(record, null, 2));
  if (o.json) writeFileSync(o.json, JSON.stringify(record, null, 2));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
