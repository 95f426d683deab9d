// Deterministic fuzzing of the loaders: the built ELF32, ELF64, Multiboot 1 (ELF and a.out kludge)
// and Multiboot 2 (ELF and address tag) guests with their header bytes mutated (random bytes,
// boundary values in header fields, checksums recomputed so mutations reach past them, truncation)
// are fed to loadGuest on one reused 16 MiB GuestMemory. Every call must either load the guest
// inside guest memory or throw a GuestError; anything else (a RangeError, a TypeError, a hang) is
// a loader bug, reported with the seed and iteration that reproduce it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../src/vmm/memory.js';
import { GuestError } from '../src/errors.js';
import { detectFormat, loadGuest } from '../src/vmm/loaders/detect.js';
import { parseElf } from '../src/vmm/loaders/elf.js';
import { GUEST_FORMATS, type GuestFormat, type LoadOptions } from '../src/vmm/loaders/types.js';
import { buildLoaderGuests, type LoaderGuestName } from './guests/build-loaders.js';
import { prng } from './support/prng.js';

const SEED = 0x6b766d64; // "kvmd"
const MEMORY = 16 << 20;
/** No single load may take this long: loops must be bounded by the file, not by header counts. */
const CALL_LIMIT_MS = 2000;

let guests: ReturnType<typeof buildLoaderGuests>;
let mem: GuestMemory;

before(() => {
  guests = buildLoaderGuests();
  mem = new GuestMemory(MEMORY);
});
after(() => mem.destroy());


interface Field { off: number; size: 1 | 2 | 4 | 8 }

class Mutator {
  constructor(readonly rand: () => number) {}
  int(n: number): number {
    return Math.floor(this.rand() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.rand() < p;
  }
  /** A value to write into a field of `size` bytes in a file of `len` bytes. */
  value(size: number, len: number): bigint {
    const max = (1n << BigInt(8 * size)) - 1n;
    const boundary = [
      0n, 1n, 2n, 8n, max, max - 1n, max >> 1n, (max >> 1n) + 1n, 0x1000n, 0x7000n, 0x8000n, 0xa0000n,
      0x100000n, 0xc0000000n, 0xfffff000n, 0x100000000n, 0x7fffffffn, 0x80000000n, 0xffffffffn,
      BigInt(len), BigInt(len) - 1n, BigInt(len) + 1n, BigInt(len) * 2n, 0x10000000n, 0x1000000n, 0xffffffn,
      1n << 63n, 0xffffffffffffff00n,
    ];
    const v = this.chance(0.75)
      ? this.pick(boundary)
      : BigInt(this.int(0x100000000)) | (size === 8 ? BigInt(this.int(0x100000000)) << 32n : 0n);
    return ((v % (max + 1n)) + max + 1n) % (max + 1n);
  }
  write(b: Buffer, f: Field, v: bigint): void {
    if (f.off < 0 || f.off + f.size > b.length) return;
    if (f.size === 1) b[f.off] = Number(v);
    else if (f.size === 2) b.writeUInt16LE(Number(v), f.off);
    else if (f.size === 4) b.writeUInt32LE(Number(v), f.off);
    else b.writeBigUInt64LE(v, f.off);
  }
  /** Sets one of `fields` to a boundary or random value. */
  field(b: Buffer, fields: Field[]): void {
    if (fields.length === 0) return;
    const f = this.pick(fields);
    this.write(b, f, this.value(f.size, b.length));
  }
  /** Overwrites 1..4 random bytes in [start, end). */
  bytes(b: Buffer, start: number, end: number): void {
    end = Math.min(end, b.length);
    if (end <= start) return;
    for (let n = 1 + this.int(4); n > 0; n--) b[start + this.int(end - start)] = this.int(256);
  }
}

function elfFields(image: Buffer): { header: Field[]; phdrs: Field[]; shdrs: Field[]; ehsize: number; symtab?: [number, number] } {
  const bits = image[4] === 2 ? 64 : 32;
  const elf = parseElf(image, 'fuzz');
  const h = elf.header;
  const header: Field[] = bits === 32
    ? [[4, 1], [5, 1], [6, 1], [16, 2], [18, 2], [20, 4], [24, 4], [28, 4], [32, 4], [36, 4], [40, 2], [42, 2], [44, 2], [46, 2], [48, 2], [50, 2]]
      .map(([off, size]) => ({ off, size: size as Field['size'] }))
    : [[4, 1], [5, 1], [6, 1], [16, 2], [18, 2], [20, 4], [24, 8], [32, 8], [40, 8], [48, 4], [52, 2], [54, 2], [56, 2], [58, 2], [60, 2], [62, 2]]
      .map(([off, size]) => ({ off, size: size as Field['size'] }));
  const ph: [number, Field['size']][] = bits === 32
    ? [[0, 4], [4, 4], [8, 4], [12, 4], [16, 4], [20, 4], [24, 4], [28, 4]]
    : [[0, 4], [4, 4], [8, 8], [16, 8], [24, 8], [32, 8], [40, 8], [48, 8]];
  const sh: [number, Field['size']][] = bits === 32
    ? [[0, 4], [4, 4], [8, 4], [12, 4], [16, 4], [20, 4], [24, 4], [28, 4], [32, 4], [36, 4]]
    : [[0, 4], [4, 4], [8, 8], [16, 8], [24, 8], [32, 8], [40, 4], [44, 4], [48, 8], [56, 8]];
  const phdrs: Field[] = [];
  for (let i = 0; i < h.phnum; i++) for (const [o, s] of ph) phdrs.push({ off: h.phoff + i * h.phentsize + o, size: s });
  const shdrs: Field[] = [];
  for (let i = 0; i < h.shnum; i++) for (const [o, s] of sh) shdrs.push({ off: h.shoff + i * h.shentsize + o, size: s });
  const st = elf.sections.find((s) => s.type === 2);
  return { header, phdrs, shdrs, ehsize: h.ehsize, symtab: st ? [st.offset, st.offset + Number(st.size)] : undefined };
}

interface Target {
  name: LoaderGuestName;
  iterations: number;
  /** Offsets of the Multiboot headers, if any. */
  mb1?: number;
  mb2?: number;
}

function findMagic(image: Buffer, magic: number, step: number): number | undefined {
  for (let o = 0; o + 4 <= Math.min(image.length, 32768); o += step) if (image.readUInt32LE(o) === magic) return o;
  return undefined;
}

function fixMb1Checksum(b: Buffer, at: number): void {
  if (at + 12 > b.length) return;
  b.writeUInt32LE((-(b.readUInt32LE(at) + b.readUInt32LE(at + 4))) >>> 0, at + 8);
}

function fixMb2Checksum(b: Buffer, at: number): void {
  if (at + 16 > b.length) return;
  b.writeUInt32LE((-(b.readUInt32LE(at) + b.readUInt32LE(at + 4) + b.readUInt32LE(at + 8))) >>> 0, at + 12);
}

/** One mutated copy of `image`, with a description of what changed. */
function mutate(m: Mutator, t: Target, image: Buffer): { data: Buffer; what: string } {
  const b = Buffer.from(image);
  const isElf = image.readUInt32LE(0) === 0x464c457f;
  const elf = isElf ? elfFields(image) : undefined;
  const kinds: string[] = ['bytes-start', 'truncate'];
  if (elf) kinds.push('elf-header', 'elf-header', 'elf-bytes', 'phdr', 'phdr', 'phdr', 'shdr', 'symtab');
  if (t.mb1 !== undefined) kinds.push('mb1', 'mb1', 'mb1', 'mb1-bytes');
  if (t.mb2 !== undefined) kinds.push('mb2', 'mb2', 'mb2', 'mb2-tags', 'mb2-tags');
  const steps: string[] = [];
  for (let n = 1 + m.int(3); n > 0; n--) {
    const kind = m.pick(kinds);
    steps.push(kind);
    switch (kind) {
      case 'bytes-start': m.bytes(b, 0, 128); break;
      case 'elf-header': m.field(b, elf!.header); break;
      case 'elf-bytes': m.bytes(b, 0, elf!.ehsize); break;
      case 'phdr': m.field(b, elf!.phdrs); break;
      case 'shdr': m.field(b, elf!.shdrs); break;
      case 'symtab': if (elf!.symtab) m.bytes(b, elf!.symtab[0], elf!.symtab[1]); break;
      case 'mb1': {
        const at = t.mb1!;
        m.field(b, [4, 12, 16, 20, 24, 28].map((o) => ({ off: at + o, size: 4 as const })));
        if (m.chance(0.8)) fixMb1Checksum(b, at);
        break;
      }
      case 'mb1-bytes': m.bytes(b, t.mb1!, t.mb1! + 32); break;
      case 'mb2': {
        const at = t.mb2!;
        m.field(b, [4, 8].map((o) => ({ off: at + o, size: 4 as const })));
        if (m.chance(0.8)) fixMb2Checksum(b, at);
        break;
      }
      case 'mb2-tags': {
        const at = t.mb2!;
        const len = Math.min(image.readUInt32LE(at + 8), b.length - at);
        const fields: Field[] = [];
        for (let o = 16; o + 4 <= len; o += 4) fields.push({ off: at + o, size: 4 }, { off: at + o, size: 2 });
        if (m.chance(0.5)) m.field(b, fields);
        else m.bytes(b, at + 16, at + len);
        if (m.chance(0.8)) fixMb2Checksum(b, at);
        break;
      }
      case 'truncate':
        return { data: b.subarray(0, m.int(b.length)), what: [...steps].join('+') };
    }
  }
  return { data: b, what: steps.join('+') };
}

function check(label: string, data: Buffer, o: LoadOptions): 'loaded' | 'rejected' {
  const t0 = performance.now();
  let outcome: 'loaded' | 'rejected';
  try {
    const g = loadGuest(data, mem, o);
    const { start, end } = g.extent;
    assert.ok(Number.isSafeInteger(start) && Number.isSafeInteger(end) && end >= start, `${label}: bad extent ${start}..${end}`);
    assert.ok(mem.contains(start, end - start), `${label}: extent ${start.toString(16)}..${end.toString(16)} outside guest memory`);
    assert.equal(typeof g.entry.rip, 'bigint', `${label}: entry`);
    assert.ok(GUEST_FORMATS.includes(g.format), label);
    outcome = 'loaded';
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    if (!(e instanceof GuestError)) {
      const err = e as Error;
      assert.fail(`${label}: threw ${err?.name ?? typeof e} instead of a GuestError: ${err?.message}\n${err?.stack}`);
    }
    assert.ok(e.message.length > 0 && !e.message.includes('\n'), `${label}: message "${e.message}"`);
    outcome = 'rejected';
  }
  const ms = performance.now() - t0;
  assert.ok(ms < CALL_LIMIT_MS, `${label}: took ${ms.toFixed(0)} ms`);
  return outcome;
}

test('mutated ELF and Multiboot images load inside guest memory or fail with a GuestError', () => {
  const targets: Target[] = [
    { name: 'elf32', iterations: 300 },
    { name: 'elf64', iterations: 300 },
    { name: 'mb1', iterations: 300, mb1: findMagic(guests.mb1.image, 0x1badb002, 4) },
    { name: 'mb1Aout', iterations: 300, mb1: findMagic(guests.mb1Aout.image, 0x1badb002, 4) },
    { name: 'mb2', iterations: 300, mb2: findMagic(guests.mb2.image, 0xe85250d6, 8) },
    { name: 'mb2Aout', iterations: 300, mb2: findMagic(guests.mb2Aout.image, 0xe85250d6, 8) },
  ];
  const started = performance.now();
  const tally: Record<string, { loaded: number; rejected: number }> = {};
  targets.forEach((t, ti) => {
    const seed = (SEED + ti * 0x9e3779b9) >>> 0;
    const m = new Mutator(prng(seed));
    const count = (tally[t.name] = { loaded: 0, rejected: 0 });
    for (let i = 0; i < t.iterations; i++) {
      const { data, what } = mutate(m, t, guests[t.name].image);
      const label = `${t.name} seed ${seed.toString(16)} iteration ${i} (${what})`;
      // Mostly detect the format; sometimes force one, to feed loaders files they do not expect.
      const format: GuestFormat | undefined = m.chance(0.2) ? m.pick(GUEST_FORMATS) : undefined;
      const modules = m.chance(0.3) ? [{ path: 'mod', args: 'a b', data: Buffer.alloc(1 + m.int(20000), 1) }] : [];
      count[check(`${label}${format ? ` --format ${format}` : ''}`, data, {
        fileName: 'fuzz.bin', cmdline: 'fuzz', modules, format, loadAddress: format === 'flat' ? 0x100000 : undefined,
      })]++;
      // Detection alone must never throw, and parsing an ELF gives a result or a GuestError.
      assert.doesNotThrow(() => detectFormat(data), label);
      try {
        parseElf(data, 'fuzz.bin');
      } catch (e) {
        assert.ok(e instanceof GuestError, `${label}: parseElf threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
      }
    }
  });
  const elapsed = performance.now() - started;
  // The mutations must exercise both outcomes for every format, or the fuzzing proves little.
  for (const [name, c] of Object.entries(tally)) {
    assert.ok(c.loaded >= 5 && c.rejected >= 5, `${name}: ${c.loaded} loaded, ${c.rejected} rejected`);
  }
  assert.ok(elapsed < 20000, `fuzzing took ${elapsed.toFixed(0)} ms`);
  console.log(`loader fuzz: ${JSON.stringify(tally)} in ${elapsed.toFixed(0)} ms`);
});

test('crafted hostile counts stay bounded by the file size', () => {
  // e_phnum 0xffff with a PN_XNUM count in section 0, e_shnum 0 with a huge extended count,
  // a Multiboot2 header whose tags all have size 8: each must end quickly with a GuestError.
  const e32 = Buffer.from(guests.elf32.image);
  e32.writeUInt16LE(0xffff, 44); // e_phnum = PN_XNUM
  const sh0 = e32.readUInt32LE(32);
  e32.writeUInt32LE(0xffffffff, sh0 + 28); // section 0 sh_info: phnum
  const t0 = performance.now();
  assert.throws(() => loadGuest(e32, mem, { fileName: 'x', cmdline: '', modules: [] }), GuestError);
  const e64 = Buffer.from(guests.elf64.image);
  e64.writeUInt16LE(0, 60); // e_shnum = 0: the count is section 0's sh_size
  e64.writeBigUInt64LE(0xffffffffffffffffn, e64.readUInt32LE(40) + 32);
  assert.throws(() => loadGuest(e64, mem, { fileName: 'x', cmdline: '', modules: [] }), GuestError);
  const mb2 = Buffer.alloc(32768);
  mb2.writeUInt32LE(0xe85250d6, 0);
  mb2.writeUInt32LE(32768, 8);
  fixMb2Checksum(mb2, 0);
  for (let o = 16; o < 32768; o += 8) mb2.writeUInt32LE(0x00010000 | 0x1234, o), mb2.writeUInt32LE(8, o + 4);
  assert.throws(() => loadGuest(mb2, mem, { fileName: 'x', cmdline: '', modules: [] }), /no end tag/);
  assert.ok(performance.now() - t0 < 1000);
});
