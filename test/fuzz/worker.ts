// One fuzz target's run, in a worker thread (run.ts starts it): replays the corpus, then mutates
// kept inputs for a number of runs or seconds. Before each case the input is copied into the
// shared buffer and the case counter bumped, so the main thread can name the input of a case
// that hangs or runs out of memory after it has stopped this thread.
import { parentPort, workerData } from 'node:worker_threads';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Coverage, Mutator } from './engine.js';
import { prng } from '../support/prng.js';

export interface WorkerInput {
  target: string;
  runs: number;
  seconds: number;
  seed: number;
  corpusDir: string;
  shared: SharedArrayBuffer;
}

export interface WorkerCrash { message: string; stack: string; input: Uint8Array; count: number }

export interface WorkerReport {
  seeds: number;
  cases: number;
  kept: number;
  features: number;
  crashes: WorkerCrash[];
  slowestMs: number;
  slowestInput: Uint8Array;
  seconds: number;
}

const opts = workerData as WorkerInput;
// Coverage starts before the targets' modules load, so that all of kvmdbg's code is counted.
const coverage = new Coverage((url) => url.includes('/src/') && !url.includes('/node_modules/'));
const { targetByName, allowed } = require('./targets.js') as typeof import('./targets.js');

const target = targetByName(opts.target);
const header = new Int32Array(opts.shared, 0, 4);
const bytes = new Uint8Array(opts.shared, 16);
const rand = prng(opts.seed);

function corpusFiles(dir: string): { name: string; data: Buffer }[] {
  let names: string[] = [];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.filter((n) => statSync(join(dir, n)).isFile()).map((name) => {
    const data = readFileSync(join(dir, name));
    return { name, data: data.length > target.maxLen ? data.subarray(0, target.maxLen) : data };
  });
}

const files = corpusFiles(opts.corpusDir);
const seeds = files.length;
// Every file is replayed; the regressions (regress-*: fixed crashes, some of them large) are not
// mutated further.
const corpus = files.filter((f) => !f.name.startsWith('regress-')).map((f) => f.data);
if (!corpus.length) corpus.push(Buffer.alloc(0));
const crashes = new Map<string, WorkerCrash>();
let cases = 0;
let slowestMs = 0;
let slowestInput = new Uint8Array(0);

/** Runs one input: a crash is recorded, the slowest case remembered. */
function execute(data: Buffer): void {
  const n = Math.min(data.length, bytes.length);
  bytes.set(data.subarray(0, n));
  Atomics.store(header, 1, n);
  Atomics.add(header, 0, 1);
  const t0 = performance.now();
  try {
    target.run(data);
  } catch (e) {
    if (!allowed(e)) {
      const err = e instanceof Error ? e : new Error(String(e));
      // One report per kind of failure: its message and where in src/ it was thrown.
      const where = (err.stack ?? '').split('\n').find((l) => l.includes('/src/')) ?? '';
      const key = `${err.name}: ${err.message.split('\n')[0]} ${where.trim()}`;
      const seen = crashes.get(key);
      if (seen) seen.count++;
      else crashes.set(key, { message: `${err.name}: ${err.message}`, stack: err.stack ?? '', input: new Uint8Array(data), count: 1 });
    }
  }
  const dt = performance.now() - t0;
  if (dt > slowestMs) {
    slowestMs = dt;
    slowestInput = new Uint8Array(data);
  }
}

/** Runs one input on its own; whether it reached something new (which is then remembered). */
function runCase(data: Buffer): boolean {
  execute(data);
  cases++;
  return coverage.collect() > 0;
}

/**
 * Taking coverage costs about a millisecond whatever ran, so inputs run in batches: the batch's
 * blocks are checked once, and only a batch that ran a new block is run again input by input.
 */
const BATCH = 32;
function runBatch(batch: Buffer[]): Buffer[] {
  for (const b of batch) execute(b);
  cases += batch.length;
  if (coverage.collect({ commit: false, counts: false }) === 0) return [];
  return batch.filter((b) => {
    execute(b);
    return coverage.collect() > 0;
  });
}

const start = performance.now();
for (const f of files) runCase(f.data);
const replayed = cases;
const mutator = new Mutator(rand, target.dict, target.maxLen);
const pick = (): Buffer => {
  // Half the time one of the newest quarter: what was just found is explored first.
  const n = corpus.length;
  return corpus[rand() < 0.5 ? n - 1 - Math.floor(rand() * Math.max(1, n >> 2)) : Math.floor(rand() * n)];
};
const deadline = opts.seconds > 0 ? start + opts.seconds * 1000 : Infinity;
const runs = opts.runs > 0 ? opts.runs : Infinity;
let kept = 0;
while (cases - replayed < runs && performance.now() < deadline) {
  const batch: Buffer[] = [];
  while (batch.length < Math.min(BATCH, runs - (cases - replayed))) batch.push(mutator.mutate(pick(), pick));
  for (const b of runBatch(batch)) {
    corpus.push(b);
    kept++;
  }
}
const report: WorkerReport = {
  seeds, cases, kept, features: coverage.size, crashes: [...crashes.values()], slowestMs, slowestInput,
  seconds: (performance.now() - start) / 1000,
};
parentPort!.postMessage(report);
