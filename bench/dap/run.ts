// The DAP benchmark: the stop cycle a person feels on every F11 in kvmdbg (debug adapter over
// stdio) against gdb stepping QEMU's gdbstub, on the same guest (test/guests/dap).
//
// Builds the guest into bench/dap/build/ and dist/ (npm run build), then runs ROUNDS rounds. In
// each round both sides run back to back in fresh processes (a fresh QEMU + gdb, a fresh adapter),
// alternating which goes first, so that load from other processes hits both alike. Prints a
// markdown table of min / median / max per metric and side, and the ratio of the medians;
// bench/dap/build/latest.json keeps every sample.
//
//   node --import tsx bench/dap/run.ts [--rounds 5] [--duration 2000] [--warmup 300] [--mem 1000]
//        [--fresh 100] [--no-build] [--accel kvm|tcg] [--json FILE] [--adapter FILE]
//   node --import tsx bench/dap/run.ts --profile   # one kvmdbg run under --cpu-prof, summarized
//   node --import tsx bench/dap/run.ts --ioctls    # KVM ioctls per request and call site
//   node --import tsx bench/dap/run.ts --pair FILE # this adapter against another bundle, alternating
//
// --adapter FILE runs another adapter bundle on the kvmdbg side (a candidate fix built elsewhere);
// it implies --no-build. --node-args "OPTIONS" starts this side's adapter with those Node (V8)
// options; its code cache is then kept apart (V8 rejects a cache made under other flags), so
// `--pair dist/adapter.js --node-args ...` weighs the options alone.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { measureKvmdbg, type SideResult } from './kvmdbg.js';
import { summarize } from './profile.js';

const HERE = __dirname;
const ROOT = join(HERE, '..', '..');
const BUILD = join(HERE, 'build');
const GUEST_SRC = join(ROOT, 'test', 'guests', 'dap');
let ADAPTER = join(ROOT, 'dist', 'adapter.js');

/** The figures the issue quotes for QEMU + gdb on this host, and the goal. */
const ISSUE_GDB = { cyclesPerSec: 1200, regsMemMs: 4.9 };
const GOAL = 20;

interface Options {
  rounds: number;
  duration: number;
  warmup: number;
  mem: number;
  fresh: number;
  build: boolean;
  accel?: 'kvm' | 'tcg';
  json?: string;
  mode: 'bench' | 'profile' | 'ioctls' | 'pair';
  /** --pair: the other adapter bundle (an older commit's dist/adapter.js). */
  other?: string;
  /** --node-args: Node options for this side's adapter. */
  nodeArgs: string[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = { rounds: 5, duration: 2000, warmup: 300, mem: 1000, fresh: 100, build: true, mode: 'bench', nodeArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = argv[i + 1];
    if (a === '--rounds') o.rounds = Number(v), i++;
    else if (a === '--duration') o.duration = Number(v), i++;
    else if (a === '--warmup') o.warmup = Number(v), i++;
    else if (a === '--mem') o.mem = Number(v), i++;
    else if (a === '--fresh') o.fresh = Number(v), i++;
    else if (a === '--no-build') o.build = false;
    else if (a === '--accel') o.accel = v as 'kvm' | 'tcg', i++;
    else if (a === '--json') o.json = v, i++;
    else if (a === '--adapter') ADAPTER = resolve(v), o.build = false, i++;
    else if (a === '--pair') o.mode = 'pair', o.other = resolve(v), i++;
    else if (a === '--node-args') o.nodeArgs = v.split(/\s+/).filter(Boolean), i++;
    else if (a === '--profile') o.mode = 'profile';
    else if (a === '--ioctls') o.mode = 'ioctls';
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

// --- build ---------------------------------------------------------------------------------

interface Guest {
  img: string;
  elf: string;
  kmain: bigint;
  /** First instruction of the `if (b == 4 ...)` line: after the bump() loop, before any output. */
  end: bigint;
}

function buildAll(o: Options): Guest {
  const dir = join(BUILD, 'guest');
  execFileSync(join(GUEST_SRC, 'build.sh'), [dir], { stdio: 'inherit' });
  if (o.build) execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (!existsSync(ADAPTER)) throw new Error(`${ADAPTER} is missing: run npm run build`);
  const elf = join(dir, 'kernel.elf');
  const kmainLine = /^([0-9a-f]+) T kmain$/m.exec(execFileSync('nm', [elf]).toString());
  if (!kmainLine) throw new Error('no kmain in kernel.elf');
  const src = readFileSync(join(GUEST_SRC, 'kernel.c'), 'utf8').split('\n');
  const ifLine = src.findIndex((l) => l.includes('if (b == 4')) + 1;
  const rows = execFileSync('objdump', ['--dwarf=decodedline', elf]).toString();
  const row = new RegExp(`^kernel\\.c\\s+${ifLine}\\s+(0x[0-9a-f]+)`, 'm').exec(rows);
  if (!ifLine || !row) throw new Error('cannot find the address of the `if (b == 4` line in kernel.elf');
  return { img: join(dir, 'kernel.img'), elf, kmain: BigInt('0x' + kmainLine[1]), end: BigInt(row[1]) };
}

// --- QEMU + gdb ----------------------------------------------------------------------------

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

class QemuFailed extends Error {}

async function measureGdb(g: Guest, o: Options, accel: 'kvm' | 'tcg'): Promise<SideResult> {
  const port = await freePort();
  const out = join(BUILD, `gdb-${process.pid}.json`);
  rmSync(out, { force: true });
  const qemuArgs = [
    '-accel', accel, ...(accel === 'kvm' ? ['-cpu', 'host,-arch-capabilities'] : []),
    '-m', '64', '-nographic', '-no-reboot', '-S', '-gdb', `tcp:127.0.0.1:${port}`,
    '-drive', `format=raw,file=${g.img}`,
  ];
  const qemu = spawn('qemu-system-x86_64', qemuArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  let qemuLog = '';
  qemu.stdout.on('data', (d) => (qemuLog += d));
  qemu.stderr.on('data', (d) => (qemuLog += d));
  const qemuExit = new Promise<number | null>((resolve) => qemu.on('exit', resolve));
  const gdb = spawn('gdb', ['-q', '-batch', '-nx', '-x', join(HERE, 'gdb_bench.py'), g.elf], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      BENCH_PORT: String(port), BENCH_KMAIN: '0x' + g.kmain.toString(16), BENCH_END: '0x' + g.end.toString(16),
      BENCH_DURATION_MS: String(o.duration), BENCH_WARMUP_MS: String(o.warmup), BENCH_MEM_MS: String(o.mem),
      BENCH_FRESH: String(o.fresh), BENCH_OUT: out,
    },
  });
  let gdbErr = '';
  gdb.stderr.on('data', (d) => (gdbErr += d));
  const gdbExit = new Promise<number | null>((resolve) => gdb.on('exit', resolve));
  try {
    const first = await Promise.race([gdbExit.then(() => 'gdb'), qemuExit.then(() => 'qemu')]);
    if (first === 'qemu' && !existsSync(out)) {
      gdb.kill('SIGKILL');
      throw new QemuFailed(`qemu-system-x86_64 ${qemuArgs.join(' ')} exited: ${qemuLog.trim().slice(-1000)}`);
    }
    await gdbExit;
    if (!existsSync(out)) throw new Error(`gdb produced no result:\n${gdbErr.trim().slice(-2000)}`);
    return { ...JSON.parse(readFileSync(out, 'utf8')), accel };
  } finally {
    if (qemu.exitCode === null) qemu.kill('SIGKILL');
    await qemuExit;
    rmSync(out, { force: true });
  }
}

// --- report --------------------------------------------------------------------------------

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const num = (x: number, digits: number) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const spread = (xs: number[], digits: number) =>
  `${num(Math.min(...xs), digits)} / **${num(median(xs), digits)}** / ${num(Math.max(...xs), digits)}`;

function table(gdb: SideResult[], kvm: SideResult[]): string {
  const rows: string[] = [
    '| metric | QEMU + gdb: min / **median** / max | kvmdbg: min / **median** / max | kvmdbg vs QEMU + gdb (medians) | vs the issue\'s QEMU + gdb figure | goal ≥ 20× |',
    '|---|---|---|---|---|---|',
  ];
  const rate = (name: string, k: keyof SideResult, issue?: number) => {
    const g = gdb.map((r) => r[k] as number), d = kvm.map((r) => r[k] as number);
    const ratio = median(d) / median(g);
    const vsIssue = issue ? median(d) / issue : NaN;
    rows.push(`| ${name} | ${spread(g, 0)} | ${spread(d, 0)} | ${num(ratio, 1)}× | ${issue ? `${num(vsIssue, 1)}× (vs ${num(issue, 0)})` : '-'} | ${ratio >= GOAL ? 'met' : 'not met'} |`);
  };
  const ms = (name: string, k: keyof SideResult, issue?: number) => {
    const g = gdb.map((r) => r[k] as number), d = kvm.map((r) => r[k] as number);
    const ratio = median(g) / median(d);
    const vsIssue = issue ? issue / median(d) : NaN;
    rows.push(`| ${name} | ${spread(g, 2)} | ${spread(d, 3)} | ${num(ratio, 1)}× faster | ${issue ? `${num(vsIssue, 1)}× (vs ${issue} ms)` : '-'} | ${ratio >= GOAL ? 'met' : 'not met'} |`);
  };
  rate('stop cycle, cycles/s (higher is better)', 'cyclesPerSec', ISSUE_GDB.cyclesPerSec);
  ms('registers + 64 bytes at one stop, ms (lower is better)', 'regsMemMs', ISSUE_GDB.regsMemMs);
  ms('registers + 64 bytes, first after a step, ms', 'regsMemFreshMs');
  return rows.join('\n');
}

function splitTable(kvm: SideResult[]): string {
  const keys = Object.keys(kvm[0].split ?? {});
  const us = (k: string) => median(kvm.map((r) => r.split![k])) * 1000;
  const total = keys.reduce((a, k) => a + us(k), 0);
  const floor = median(kvm.map((r) => r.floorCyclesPerSec ?? NaN));
  return [
    '| kvmdbg stop cycle, median µs per request | ' + keys.join(' | ') + ' | total | protocol floor (4 × `threads`) |',
    '|---|' + keys.map(() => '---|').join('') + '---|---|',
    `| µs | ${keys.map((k) => num(us(k), 0)).join(' | ')} | ${num(total, 0)} | ${num(1e6 / floor, 0)} µs = ${num(floor, 0)} cycles/s |`,
  ].join('\n');
}

function versions(accel: string): string {
  const first = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args).toString().split('\n')[0].trim();
    } catch {
      return `${cmd}: not found`;
    }
  };
  let tree = '';
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT }).toString().trim().split('\n').filter(Boolean).length;
    tree = ADAPTER === join(ROOT, 'dist', 'adapter.js')
      ? `Adapter: dist/adapter.js built from ${head}${dirty ? ` plus ${dirty} uncommitted change(s) in src/` : ''}.`
      : `Adapter: ${ADAPTER} (--adapter).`;
  } catch {
    tree = `Adapter: ${ADAPTER}.`;
  }
  return [
    tree,
    `QEMU: ${first('qemu-system-x86_64', ['--version'])}, -accel ${accel}${accel === 'kvm' ? ' -cpu host,-arch-capabilities' : ' (KVM failed: TCG)'}, hbreak at kmain.`,
    `gdb: ${first('gdb', ['--version'])}. Node ${process.version}. ${cpus().length} CPUs (${cpus()[0]?.model}), load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at the end.`,
  ].join('\n');
}

// --- modes ---------------------------------------------------------------------------------

/** How this side's adapter starts: with --node-args, and then a code cache of its own. */
function thisSide(o: Options): { nodeArgs?: string[]; env?: NodeJS.ProcessEnv } {
  if (!o.nodeArgs.length) return {};
  return { nodeArgs: o.nodeArgs, env: { ...process.env, XDG_CACHE_HOME: join(BUILD, 'node-args-cache') } };
}

async function bench(g: Guest, o: Options): Promise<void> {
  let accel: 'kvm' | 'tcg' = o.accel ?? 'kvm';
  const gdb: SideResult[] = [], kvm: SideResult[] = [];
  const kvmdbgRun = () => measureKvmdbg({
    adapter: ADAPTER, img: g.img, elf: g.elf, kmain: g.kmain, end: g.end,
    durationMs: o.duration, warmupMs: o.warmup, memMs: o.mem, freshCount: o.fresh, ...thisSide(o),
  });
  const gdbRun = async () => {
    try {
      return await measureGdb(g, o, accel);
    } catch (e) {
      if (!(e instanceof QemuFailed) || accel === 'tcg' || o.accel) throw e;
      console.error(`${e.message}\n-> retrying with -accel tcg`);
      accel = 'tcg';
      return measureGdb(g, o, accel);
    }
  };
  const started = Date.now();
  for (let r = 0; r < o.rounds; r++) {
    const order = r % 2 ? ['kvmdbg', 'gdb'] : ['gdb', 'kvmdbg'];
    for (const side of order) {
      if (side === 'gdb') gdb.push(await gdbRun());
      else kvm.push(await kvmdbgRun());
    }
    const k = kvm[kvm.length - 1], d = gdb[gdb.length - 1];
    console.error(`round ${r + 1}/${o.rounds}: gdb ${num(d.cyclesPerSec, 0)} cycles/s, ${num(d.regsMemMs, 2)} ms; `
      + `kvmdbg ${num(k.cyclesPerSec, 0)} cycles/s, ${num(k.regsMemMs, 3)} ms`);
  }
  // A run too slow to finish a pass in its time (0) says nothing of the path; the others must agree.
  const passes = [...gdb, ...kvm].map((r) => r.stepsPerPass).filter((n) => n > 0);
  if (!passes.length || passes.some((n) => n !== passes[0])) {
    throw new Error(`the sides stepped different paths: instructions per pass ${[...gdb, ...kvm].map((r) => r.stepsPerPass).join(', ')} (gdb's first, 0: no pass finished)`);
  }
  const text = [
    `Guest: test/guests/dap, stepped from kmain (0x${g.kmain.toString(16)}) to 0x${g.end.toString(16)} (${passes[0]} instructions) and back, ${o.rounds} rounds, ${o.duration} ms of stop cycles per side per round, ${Math.round((Date.now() - started) / 1000)} s in all.`,
    versions(accel),
    '',
    table(gdb, kvm),
    '',
    splitTable(kvm),
  ].join('\n');
  console.log(text);
  mkdirSync(BUILD, { recursive: true });
  const json = { when: new Date().toISOString(), options: o, accel, gdb, kvmdbg: kvm, table: text };
  writeFileSync(o.json ?? join(BUILD, 'latest.json'), JSON.stringify(json, null, 1));
}

/**
 * This adapter against another bundle, no gdb: a fresh process of each in turn (the order
 * alternating), so that a change can be shown not to slow the stop cycle on a host where the
 * QEMU + gdb side can't run.
 */
async function pair(g: Guest, o: Options): Promise<void> {
  const sides = { this: [] as SideResult[], other: [] as SideResult[] };
  const runWith = (adapter: string, start: ReturnType<typeof thisSide>) => measureKvmdbg({
    adapter, img: g.img, elf: g.elf, kmain: g.kmain, end: g.end,
    durationMs: o.duration, warmupMs: o.warmup, memMs: o.mem, freshCount: o.fresh, ...start,
  });
  for (let r = 0; r < o.rounds; r++) {
    for (const side of (r % 2 ? ['other', 'this'] : ['this', 'other']) as ('this' | 'other')[]) {
      sides[side].push(await (side === 'this' ? runWith(ADAPTER, thisSide(o)) : runWith(o.other!, {})));
    }
    console.error(`round ${r + 1}/${o.rounds}: this ${num(sides.this[r].cyclesPerSec, 0)}, other ${num(sides.other[r].cyclesPerSec, 0)} cycles/s`);
  }
  const row = (name: string, k: keyof SideResult, digits: number) => {
    const a = sides.this.map((x) => x[k] as number), b = sides.other.map((x) => x[k] as number);
    return `| ${name} | ${spread(b, digits)} | ${spread(a, digits)} | ${num(median(a) / median(b), 3)} |`;
  };
  const text = [
    `${ADAPTER}${o.nodeArgs.length ? ` with node ${o.nodeArgs.join(' ')}` : ''} (this) against ${o.other} (other), ${o.rounds} rounds. Node ${process.version}, ${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}.`,
    '',
    '| metric | other: min / **median** / max | this: min / **median** / max | this / other (medians) |',
    '|---|---|---|---|',
    row('stop cycle, cycles/s', 'cyclesPerSec', 0),
    row('registers + 64 bytes at one stop, ms', 'regsMemMs', 3),
    row('registers + 64 bytes, first after a step, ms', 'regsMemFreshMs', 3),
    ...(['stepIn', 'stackTrace', 'scopes', 'variables'] as const).map((req) => {
      const a = sides.this.map((x) => x.split![req]), b = sides.other.map((x) => x.split![req]);
      return `| of a stop cycle: ${req}, ms | ${spread(b, 3)} | ${spread(a, 3)} | ${num(median(a) / median(b), 3)} |`;
    }),
  ].join('\n');
  console.log(text);
  if (o.json) writeFileSync(o.json, JSON.stringify({ when: new Date().toISOString(), options: o, ...sides, table: text }, null, 1));
}

async function profile(g: Guest, o: Options): Promise<void> {
  const dir = join(BUILD, 'prof');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const r = await measureKvmdbg({
    adapter: ADAPTER, img: g.img, elf: g.elf, kmain: g.kmain, end: g.end,
    durationMs: Math.max(o.duration, 3000), warmupMs: o.warmup, memMs: 0, freshCount: 0, cyclesOnly: true,
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=100'],
  });
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  if (!files.length) throw new Error(`no profile in ${dir}`);
  console.log(`${num(r.cyclesPerSec, 0)} cycles/s under the profiler; split (ms): ${JSON.stringify(r.split)}`);
  // The warm-up cycles are in the profile too.
  const cycles = r.cycles + Math.round((r.cyclesPerSec * o.warmup) / 1000);
  console.log(summarize(join(dir, files[0]), 40, cycles));
}

async function ioctls(g: Guest, o: Options): Promise<void> {
  const out = join(BUILD, 'ioctls.json');
  rmSync(out, { force: true });
  const r = await measureKvmdbg({
    adapter: ADAPTER, img: g.img, elf: g.elf, kmain: g.kmain, end: g.end,
    durationMs: o.duration, warmupMs: 0, memMs: 0, freshCount: 0, cyclesOnly: true,
    nodeArgs: ['-r', join(HERE, 'count-ioctls.cjs')], env: { ...process.env, KVMDBG_IOCTL_OUT: out },
  });
  const j = JSON.parse(readFileSync(out, 'utf8')) as {
    requests: Record<string, number>; byRequest: Record<string, Record<string, number>>; bySite: Record<string, number>;
  };
  const n = j.requests.stepIn;
  console.log(`${n} stop cycles (${r.cycles} timed). KVM ioctls per stop cycle, by request:`);
  let total = 0;
  for (const req of ['stepIn', 'stackTrace', 'scopes', 'variables']) {
    const m = j.byRequest[req] ?? {};
    const sum = Object.values(m).reduce((a, b) => a + b, 0) / n;
    total += sum;
    console.log(`  ${req.padEnd(11)} ${num(sum, 1).padStart(5)}  ${Object.entries(m).map(([k, v]) => `${k} ${num(v / n, 1)}`).join(', ')}`);
  }
  console.log(`  total       ${num(total, 1).padStart(5)}\nBy call site (per stop cycle):`);
  for (const [k, v] of Object.entries(j.bySite).sort((a, b) => b[1] - a[1])) {
    if (v / n >= 0.05 && !k.startsWith('(launch)') && !k.startsWith('launch') && !k.startsWith('setVariable')) console.log(`  ${num(v / n, 2).padStart(5)}  ${k}`);
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  mkdirSync(BUILD, { recursive: true });
  const g = buildAll(o);
  if (o.mode === 'profile') await profile(g, o);
  else if (o.mode === 'ioctls') await ioctls(g, o);
  else if (o.mode === 'pair') await pair(g, o);
  else await bench(g, o);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
