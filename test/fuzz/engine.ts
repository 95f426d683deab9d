// A small coverage-guided fuzzer on V8's own block coverage (the inspector's Profiler domain,
// precise coverage with block counts): an input is kept when it runs a block of kvmdbg's sources
// (src/) that no kept input ran, or runs a block a number of times in a new range (1, 2-3, 4-15,
// 16-255, 256+). Inputs are made by stacking byte-level mutations (bit flips, interesting values
// in 1/2/4/8-byte fields, inserts, deletes, copies, splices with another input, dictionary
// words) on a kept input. It runs inside a worker thread (worker.ts); run.ts watches it from the
// main thread for hangs and memory.
//
// Why not Jazzer.js: @jazzer.js/core 4.0.0 installs from the npm registry, but its libFuzzer
// addon ships prebuilt for glibc 2.38 and later (this machine and CI have Debian 12's 2.36), and
// its older versions download their binaries at install time, which cannot be done here.
import { Session } from 'node:inspector';

interface CoverageRange { startOffset: number; endOffset: number; count: number }
interface ScriptCoverage { url: string; functions: { ranges: CoverageRange[] }[] }

function bucket(count: number): number {
  return count === 1 ? 0 : count < 4 ? 1 : count < 16 ? 2 : count < 256 ? 3 : 4;
}

/** Block coverage of the scripts whose URL `include` accepts, as features new since the start. */
export class Coverage {
  private readonly session = new Session();
  private readonly scripts = new Map<string, number>();
  /** Hit-count features: script, range start, count bucket. */
  private readonly counts = new Set<number>();
  /** Per function (script, start): the intervals of it no input has run yet. */
  private readonly unrun = new Map<number, number[]>();
  private blocks = 0;

  constructor(private readonly include: (url: string) => boolean) {
    this.session.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  private post<T>(method: string, params: object = {}): T {
    let result: T | undefined;
    let error: Error | null = null;
    let done = false;
    // An in-thread session answers synchronously.
    this.session.post(method, params, (e, r) => {
      error = e;
      result = r as T;
      done = true;
    });
    if (!done) throw new Error(`inspector ${method} did not answer synchronously`);
    if (error) throw error;
    return result!;
  }

  /** Features: blocks run and hit-count ranges seen so far. */
  get size(): number {
    return this.counts.size + this.blocks;
  }

  /**
   * Takes the counts since the last call (and resets them); returns how many features are new.
   * `commit: false` only counts them (a batch of inputs is asked first, then each input again);
   * `counts: false` leaves hit counts out (a batch's counts are sums over its inputs).
   */
  collect({ commit = true, counts = true }: { commit?: boolean; counts?: boolean } = {}): number {
    const { result } = this.post<{ result: ScriptCoverage[] }>('Profiler.takePreciseCoverage');
    let fresh = 0;
    for (const script of result) {
      if (!this.include(script.url)) continue;
      let id = this.scripts.get(script.url);
      if (id === undefined) this.scripts.set(script.url, (id = this.scripts.size));
      for (const fn of script.functions) {
        const ranges = fn.ranges;
        if (!ranges.length || ranges[0].count === 0) continue;
        if (counts) {
          for (const r of ranges) {
            if (r.count === 0) continue;
            const key = id * 2 ** 35 + r.startOffset * 8 + bucket(r.count);
            if (!this.counts.has(key)) {
              if (commit) this.counts.add(key);
              fresh++;
            }
          }
        }
        // V8 lists a block that ran as often as its parent not at all, so "ran" is what lies
        // outside the ranges with count 0. Keep, per function, what has never run.
        const zeros: number[] = [];
        let lastEnd = -1;
        for (let i = 1; i < ranges.length; i++) {
          const r = ranges[i];
          if (r.count !== 0 || r.startOffset < lastEnd) continue;
          zeros.push(r.startOffset, r.endOffset);
          lastEnd = r.endOffset;
        }
        const fnKey = id * 2 ** 32 + ranges[0].startOffset;
        const before = this.unrun.get(fnKey);
        if (!before) {
          if (commit) {
            this.unrun.set(fnKey, zeros);
            this.blocks++;
          }
          fresh++;
          continue;
        }
        const after = intersect(before, zeros);
        if (after.length !== before.length || total(after) !== total(before)) {
          if (commit) {
            this.unrun.set(fnKey, after);
            this.blocks++;
          }
          fresh++;
        }
      }
    }
    return fresh;
  }
}

function total(iv: number[]): number {
  let n = 0;
  for (let i = 0; i < iv.length; i += 2) n += iv[i + 1] - iv[i];
  return n;
}

/** The intersection of two sorted lists of disjoint [start, end) intervals (flattened). */
function intersect(a: number[], b: number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const s = Math.max(a[i], b[j]);
    const e = Math.min(a[i + 1], b[j + 1]);
    if (s < e) out.push(s, e);
    if (a[i + 1] < b[j + 1]) i += 2;
    else j += 2;
  }
  return out;
}

/** Byte-level mutations, stacked 1 to 6 deep, driven by a seeded PRNG. */
export class Mutator {
  constructor(private readonly rand: () => number, private readonly dict: Buffer[], private readonly maxLen: number) {}

  private int(n: number): number {
    return Math.floor(this.rand() * n);
  }

  private interesting(size: number, len: number): bigint {
    const max = (1n << BigInt(8 * size)) - 1n;
    const vals = [0n, 1n, 2n, 4n, 8n, 16n, 0x7fn, 0x80n, 0xffn, 0x100n, 0x7fffn, 0x8000n, 0xffffn, 0x10000n, 0x7fffffffn,
      0x80000000n, 0xffffffffn, max, max - 1n, max >> 1n, BigInt(len), BigInt(len) - 1n, BigInt(len) + 1n, 0x100000n, 0x1000n];
    return vals[this.int(vals.length)] & max;
  }

  mutate(input: Buffer, other: () => Buffer): Buffer {
    let b: Buffer = Buffer.from(input);
    const n = 1 + this.int(6);
    for (let k = 0; k < n; k++) b = this.once(b, other);
    return b.length > this.maxLen ? b.subarray(0, this.maxLen) : b;
  }

  private once(b: Buffer, other: () => Buffer): Buffer {
    const len = b.length;
    const at = (room = 1): number => this.int(Math.max(1, len - room + 1));
    switch (this.int(12)) {
      case 0: // flip a bit
        if (len) b[at()] ^= 1 << this.int(8);
        return b;
      case 1: // a random byte
        if (len) b[at()] = this.int(256);
        return b;
      case 2: // add or subtract a little
        if (len) { const i = at(); b[i] = (b[i] + this.int(33) - 16) & 0xff; }
        return b;
      case 3: // an interesting value in a 1/2/4/8-byte little-endian field
      case 4: {
        const size = [1, 2, 4, 8][this.int(4)];
        if (len < size) return b;
        const i = at(size);
        const v = this.interesting(size, len);
        for (let k = 0; k < size; k++) b[i + k] = Number((v >> BigInt(8 * k)) & 0xffn);
        return b;
      }
      case 5: { // insert random bytes
        const n = 1 + this.int(this.int(2) ? 4 : 64);
        const ins = Buffer.alloc(n);
        const fill = this.int(2) ? -1 : this.int(256);
        for (let k = 0; k < n; k++) ins[k] = fill < 0 ? this.int(256) : fill;
        const i = this.int(len + 1);
        return Buffer.concat([b.subarray(0, i), ins, b.subarray(i)]);
      }
      case 6: { // delete a range
        if (len < 2) return b;
        const i = at();
        const n = 1 + this.int(Math.min(len - i, this.int(2) ? 8 : 256));
        return Buffer.concat([b.subarray(0, i), b.subarray(i + n)]);
      }
      case 7: { // copy a chunk over another place
        if (len < 2) return b;
        const n = 1 + this.int(Math.min(len, 64));
        const from = at(n);
        const to = at(n);
        b.copy(b, to, from, from + n);
        return b;
      }
      case 8: { // splice with another input
        const o = other();
        if (!o.length) return b;
        const i = this.int(len + 1);
        const j = this.int(o.length);
        return Buffer.concat([b.subarray(0, i), o.subarray(j, j + 1 + this.int(o.length - j))]);
      }
      case 9: { // a dictionary word, inserted or written over
        if (!this.dict.length) return b;
        const w = this.dict[this.int(this.dict.length)];
        const i = this.int(len + 1);
        if (this.int(2) || i + w.length > len) return Buffer.concat([b.subarray(0, i), w, b.subarray(i)]);
        w.copy(b, i);
        return b;
      }
      case 10: // truncate
        return len ? b.subarray(0, this.int(len)) : b;
      default: { // duplicate a chunk in place
        if (!len) return b;
        const n = 1 + this.int(Math.min(len, 128));
        const i = at(n);
        return Buffer.concat([b.subarray(0, i + n), b.subarray(i, i + n), b.subarray(i + n)]);
      }
    }
  }
}
