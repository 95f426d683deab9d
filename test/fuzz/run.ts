// Runs fuzz targets (targets.ts), each in a worker thread with a heap limit, watched from here:
// a case that runs longer than the hang limit, or a worker that runs out of memory, is reported
// with its input (read from the buffer the worker shares), as is every unexpected exception.
//
//   npm run fuzz -- --seconds 60                 every target for 60 s each
//   npm run fuzz -- --runs 20000 --target elf    one target, 20000 mutated inputs
//   options: --seed N, --jobs N (targets at once, default 2), --hang-ms N (default 10000),
//            --heap-mb N (default 512), --out DIR (crash inputs; default $TMPDIR/kvmdbg-fuzz)
// Each target starts from its corpus, test/fuzz/corpus/<target>/ (seeds made by make-corpus.ts
// and the inputs of crashes found and fixed, which are replayed every run). A crash's input is
// written to the out folder; once the parser is fixed it goes into the corpus as a regression.
import { Worker } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkerInput, WorkerReport } from './worker.js';
import { TARGETS } from './targets.js';

export const CORPUS_DIR = join(__dirname, 'corpus');
const SHARED_INPUT = 64 * 1024;

export interface Crash {
  kind: 'exception' | 'hang' | 'out of memory' | 'worker died';
  message: string;
  input: Buffer;
  count: number;
}

export interface FuzzResult {
  target: string;
  seeds: number;
  cases: number;
  kept: number;
  features: number;
  crashes: Crash[];
  slowestMs: number;
  slowestInput: Buffer;
  seconds: number;
}

export interface FuzzOptions {
  target: string;
  runs?: number;
  seconds?: number;
  seed?: number;
  hangMs?: number;
  heapMb?: number;
  corpusDir?: string;
}

/** Fuzzes one target in a worker; resolves with what it found (a hang or OOM ends the run early). */
export function fuzzTarget(o: FuzzOptions): Promise<FuzzResult> {
  const shared = new SharedArrayBuffer(16 + SHARED_INPUT);
  const header = new Int32Array(shared, 0, 4);
  const bytes = new Uint8Array(shared, 16);
  const workerData: WorkerInput = {
    target: o.target, runs: o.runs ?? 0, seconds: o.seconds ?? 0, seed: o.seed ?? 1, shared,
    corpusDir: o.corpusDir ?? join(CORPUS_DIR, o.target),
  };
  const hangMs = o.hangMs ?? 10_000;
  const started = Date.now();
  const currentInput = (): Buffer => Buffer.from(bytes.subarray(0, Atomics.load(header, 1)));
  return new Promise((resolve) => {
    // The worker is TypeScript: tsx's require hook goes in first (loader hooks of the parent do
    // not reach a worker's entry file).
    const entry = `require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(join(__dirname, 'worker.ts'))});`;
    const worker = new Worker(entry, {
      eval: true,
      workerData,
      // The stack the adapter's main thread has (V8's default, about 1 MiB), not a worker's 4.
      resourceLimits: { maxOldGenerationSizeMb: o.heapMb ?? 512, maxYoungGenerationSizeMb: 64, stackSizeMb: 1 },
    });
    let settled = false;
    let lastCount = -1;
    let lastChange = Date.now();
    const finish = (r: Partial<FuzzResult>, extra?: Crash): void => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      const result: FuzzResult = {
        target: o.target, seeds: 0, cases: Atomics.load(header, 0), kept: 0, features: 0, crashes: [], slowestMs: 0,
        slowestInput: Buffer.alloc(0), seconds: (Date.now() - started) / 1000, ...r,
      };
      if (extra) result.crashes = [...result.crashes, extra];
      resolve(result);
    };
    const watch = setInterval(() => {
      const count = Atomics.load(header, 0);
      if (count !== lastCount) {
        lastCount = count;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > hangMs) {
        const input = currentInput();
        void worker.terminate();
        finish({}, { kind: 'hang', message: `a case ran longer than ${hangMs} ms`, input, count: 1 });
      }
    }, 100);
    worker.on('message', (r: WorkerReport) => {
      finish({
        seeds: r.seeds, cases: r.cases, kept: r.kept, features: r.features, slowestMs: r.slowestMs,
        slowestInput: Buffer.from(r.slowestInput), seconds: r.seconds,
        crashes: r.crashes.map((c) => ({ kind: 'exception', message: `${c.message}\n${c.stack}`, input: Buffer.from(c.input), count: c.count })),
      });
      void worker.terminate();
    });
    worker.on('error', (e: Error & { code?: string }) => {
      const kind = e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'out of memory' : 'worker died';
      finish({}, { kind, message: `${e.name}: ${e.message}`, input: currentInput(), count: 1 });
    });
    worker.on('exit', (code) => {
      finish({}, { kind: 'worker died', message: `the worker exited (${code}) before reporting`, input: currentInput(), count: 1 });
    });
  });
}

/** Runs `tasks` with at most `jobs` at once, in order of start. */
export async function pool<T>(jobs: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, tasks.length) }, lane));
  return out;
}

/** Writes a crash's input where it can be looked at and added to the corpus; returns the path. */
export function saveCrash(outDir: string, target: string, c: Crash): string {
  const dir = join(outDir, target);
  mkdirSync(dir, { recursive: true });
  const kind = c.kind.replace(/ /g, '-');
  const path = join(dir, `${kind}-${createHash('sha1').update(c.input).digest('hex').slice(0, 12)}`);
  writeFileSync(path, c.input);
  return path;
}

function main(argv: string[]): Promise<number> {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string, def: number): number => (arg(name) === undefined ? def : Number(arg(name)));
  const names = arg('target')?.split(',') ?? TARGETS.map((t) => t.name);
  const runs = num('runs', 0);
  const seconds = num('seconds', runs ? 0 : 60);
  const seed = num('seed', Date.now() % 2 ** 31);
  const outDir = arg('out') ?? join(tmpdir(), 'kvmdbg-fuzz');
  console.log(`fuzzing ${names.join(', ')}: ${runs ? `${runs} runs` : `${seconds} s`} each, seed ${seed}, ${num('jobs', 2)} at once`);
  return pool(num('jobs', 2), names.map((target) => () => fuzzTarget({
    target, runs, seconds, seed, hangMs: num('hang-ms', 10_000), heapMb: num('heap-mb', 512),
  }).then((r) => {
    console.log(`${r.target.padEnd(15)} ${String(r.cases).padStart(8)} cases  ${(r.cases / r.seconds).toFixed(0).padStart(6)}/s  seeds ${r.seeds}, kept ${r.kept}, features ${r.features}, slowest ${r.slowestMs.toFixed(1)} ms, crashes ${r.crashes.length}`);
    for (const c of r.crashes) console.log(`  ${c.kind} (${c.count}x): ${c.message.split('\n').slice(0, 3).join(' | ')}\n    input: ${saveCrash(outDir, r.target, c)}`);
    if (r.slowestInput.length) console.log(`  slowest input: ${saveCrash(outDir, r.target, { kind: 'slowest' as Crash['kind'], message: '', input: r.slowestInput, count: 1 })}`);
    return r;
  }))).then((results) => {
    const total = results.reduce((n, r) => n + r.cases, 0);
    const crashes = results.reduce((n, r) => n + r.crashes.length, 0);
    const slowest = results.reduce((a, r) => (r.slowestMs > a.slowestMs ? r : a));
    console.log(`total: ${total} cases, ${crashes} crashes, slowest case ${slowest.slowestMs.toFixed(1)} ms (${slowest.target})`);
    return crashes ? 1 : 0;
  });
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
    console.error(e);
    process.exit(2);
  });
}
