// A tiny image with a huge .bss must not make the loader commit host RAM for it: guest RAM is
// fresh anonymous memory (src/vmm/memory.ts maps it MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE),
// already zero, so the loaders write zeros only where memory is not zero (zeroGuestRange).
// Counted two ways, never timed: every write a loader makes through an instrumented memory, and
// the resident set (VmRSS) of a process that loads into real guest RAM. Correctness where memory
// is not fresh (pre-filled, or a segment's .bss over an earlier segment's bytes) is checked too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGuest } from '../src/vmm/loaders/detect.js';
import type { GuestFormat } from '../src/vmm/loaders/types.js';
import { MULTIBOOT_HEADER_MAGIC } from '../src/formats/detect.js';
import { buildElf } from './fuzz/elf-builder.js';
import { FakeMemory } from './fuzz/fake-memory.js';

const MiB = 1 << 20;
const LOAD = 0x100000;

/** An ELF64 of one PT_LOAD: 16 bytes of code at 1 MiB and `bss` bytes of .bss after them. */
function tinyElf(bss: number): Buffer {
  return buildElf({ bits: 64, segments: [{ paddr: BigInt(LOAD), data: Buffer.alloc(16, 0x90), memsz: BigInt(16 + bss) }] });
}

/** A Multiboot 1 a.out-kludge image of 48 bytes loaded at 1 MiB, its .bss up to 1 MiB + 48 + `bss`. */
function tinyMultiboot(bss: number): Buffer {
  const flags = 1 << 16;
  const b = Buffer.alloc(48, 0x90);
  const words = [MULTIBOOT_HEADER_MAGIC, flags, (-(MULTIBOOT_HEADER_MAGIC + flags)) >>> 0, LOAD, LOAD, 0, LOAD + 48 + bss, LOAD + 32];
  words.forEach((w, i) => b.writeUInt32LE(w >>> 0, 4 * i));
  return b;
}

function overlaps(w: { gpa: number; len: number }, start: number, end: number): boolean {
  return w.gpa < end && w.gpa + w.len > start;
}

for (const [name, format, image, bssStart, bssEnd] of [
  ['ELF64', 'elf64', tinyElf(12 * MiB), LOAD + 16, LOAD + 16 + 12 * MiB],
  ['Multiboot a.out kludge', 'multiboot', tinyMultiboot(12 * MiB), LOAD + 48, LOAD + 48 + 12 * MiB],
] as const) {
  test(`${name}: a ${image.length}-byte image with 12 MiB of .bss writes nothing into the .bss of fresh memory`, () => {
    const mem = new FakeMemory(16 * MiB, true);
    loadGuest(image, mem.asGuestMemory, { fileName: 'tiny', format, cmdline: '', modules: [] });
    const inBss = mem.writes.filter((w) => overlaps(w, bssStart, bssEnd));
    assert.deepEqual(inBss, []);
    // The image itself was written.
    assert.ok(mem.writes.some((w) => w.gpa === LOAD), JSON.stringify(mem.writes.slice(0, 5)));
  });

  test(`${name}: over memory that is not zero, the .bss is zeroed (and only the pages that were not)`, () => {
    const mem = new FakeMemory(16 * MiB, true);
    mem.buf.fill(0xaa, bssStart + 3 * MiB, bssStart + 3 * MiB + 10);
    mem.buf.fill(0xaa, bssEnd - 1, bssEnd + 4096);
    loadGuest(image, mem.asGuestMemory, { fileName: 'tiny', format, cmdline: '', modules: [] });
    assert.ok(mem.buf.subarray(bssStart, bssEnd).every((b) => b === 0), '.bss is zero');
    assert.equal(mem.buf[bssEnd], 0xaa, 'nothing past the .bss');
    const written = mem.writes.filter((w) => overlaps(w, bssStart, bssEnd)).reduce((n, w) => n + w.len, 0);
    assert.ok(written > 0 && written <= 2 * 4096, `${written} bytes of .bss written`);
  });
}

test('ELF: a later segment\'s .bss over an earlier segment\'s bytes zeroes them, as loading in order does', () => {
  // Segment 0: 64 bytes of 0x11 at 1 MiB + 0x1000. Segment 1: 16 bytes at 1 MiB, .bss to 1 MiB + 0x2000.
  const image = buildElf({
    bits: 32,
    segments: [
      { paddr: BigInt(LOAD + 0x1000), data: Buffer.alloc(64, 0x11) },
      { paddr: BigInt(LOAD), data: Buffer.alloc(16, 0x22), memsz: 0x2000n },
    ],
  });
  const mem = new FakeMemory(16 * MiB, true);
  loadGuest(image, mem.asGuestMemory, { fileName: 'overlap', format: 'elf32', cmdline: '', modules: [] });
  assert.equal(mem.buf[LOAD], 0x22);
  assert.ok(mem.buf.subarray(LOAD + 16, LOAD + 0x2000).every((b) => b === 0), 'the earlier bytes were zeroed');
  // Only the page that held them was written, not the rest of the .bss.
  const bssWrites = mem.writes.filter((w) => w.how === 'fill');
  assert.deepEqual(bssWrites.map((w) => [w.gpa, w.len]), [[LOAD + 0x1000, 0x1000]]);
});

test('real guest RAM: loading a tiny ELF and a tiny Multiboot image with 900 MiB of .bss commits no host memory for it (VmRSS)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvmdbg-zero-fill-'));
  try {
    for (const [format, image] of [['elf64', tinyElf(900 * MiB)], ['multiboot', tinyMultiboot(900 * MiB)]] as [GuestFormat, Buffer][]) {
      const path = join(dir, `tiny-${format}`);
      writeFileSync(path, image);
      const out = execFileSync(process.execPath, ['--import', 'tsx', join(__dirname, 'fuzz', 'zero-fill-child.ts'), path, format, '1024'], { encoding: 'utf8' });
      const { before, after, extent } = JSON.parse(out.trim().split('\n').pop()!) as { before: number; after: number; extent: { end: number } };
      assert.ok(extent.end > 900 * MiB, `${format}: extent ends at ${extent.end}`);
      // Writing the zeros would add 900 MiB; reading fresh pages maps the shared zero page.
      const grewMiB = (after - before) / 1024;
      assert.ok(grewMiB < 64, `${format}: VmRSS grew ${grewMiB.toFixed(1)} MiB loading ${image.length} bytes with 900 MiB of .bss`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
