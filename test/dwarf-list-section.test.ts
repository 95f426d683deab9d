// Location lists read where they lie (src/symbols/dwarf/list-section.ts): a list from a window
// of the file around it, a list longer than the first window read whole through a wider one,
// the rest of the section left unread, and a list that runs off the section's end an error.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ElfImage } from '../src/symbols/elf-file.js';
import { ListSection } from '../src/symbols/dwarf/list-section.js';
import { DW_LLE_end_of_list, DW_LLE_start_length, readLocationList, type ListUnit } from '../src/symbols/dwarf/loclists.js';
import { DwarfError } from '../src/symbols/dwarf/reader.js';
import { buildElf, SHT_PROGBITS } from './fuzz/elf-builder.js';

const UNIT: ListUnit = { version: 5, addressSize: 8, offsetSize: 4, base: 0n, loadOffset: 0n, addrIndex: () => undefined };
const DW_OP_reg0 = 0x50;
const SECTION = 1 << 20;
const SMALL_AT = SECTION / 2;

/** A list of `n` DW_LLE_start_length entries (12 bytes each): entry i covers [0x1000 * (i + 1), +0x10) in rax. */
function list(n: number, terminated = true): Buffer {
  const parts = Array.from({ length: n }, (_, i) => {
    const e = Buffer.alloc(12);
    e[0] = DW_LLE_start_length;
    e.writeBigUInt64LE(BigInt(0x1000 * (i + 1)), 1);
    e[9] = 0x10; // length (ULEB)
    e[10] = 1; // expression length (ULEB)
    e[11] = DW_OP_reg0;
    return e;
  });
  return Buffer.concat([...parts, ...(terminated ? [Buffer.from([DW_LLE_end_of_list])] : [])]);
}

const dir = mkdtempSync(join(tmpdir(), 'kvmdbg-lists-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A file whose .debug_loclists holds `lists` at their offsets, 0xee elsewhere; opened by path (read in pieces). */
function open(lists: [number, Buffer][], size = SECTION): ElfImage {
  const data = Buffer.alloc(size, 0xee);
  for (const [at, l] of lists) l.copy(data, at);
  const path = join(dir, `f${lists.length}-${size}.elf`);
  writeFileSync(path, buildElf({ segments: [{ paddr: 0x100000n, data: Buffer.from([0xf4]) }], sections: [{ name: '.debug_loclists', type: SHT_PROGBITS, data }] }));
  return ElfImage.open(path);
}

test('a list is read from a window around it; the rest of the section stays unread', () => {
  const elf = open([[0, list(600)], [SMALL_AT, list(3)]]);
  const s = ListSection.of(elf, '.debug_loclists')!;
  const small = s.readAt(SMALL_AT, (d) => readLocationList(d, SMALL_AT, UNIT));
  assert.deepEqual(small.entries.map((e) => e.begin), [0x1000n, 0x2000n, 0x3000n]);
  const bytes = elf.sectionInPieces('.debug_loclists')!.data;
  assert.equal(bytes[SMALL_AT - 1], 0, 'the byte before the list was not read');
  assert.equal(bytes[SMALL_AT + 4095], 0xee, 'the window from the list on was');
  assert.equal(bytes[SMALL_AT + 8192], 0, 'nothing past the first window was read');
  assert.equal(bytes[0], 0, 'the other list was not read');
});

test('a list longer than the first window is read whole', () => {
  const elf = open([[0, list(600)], [SMALL_AT, list(3)]]);
  const long = ListSection.of(elf, '.debug_loclists')!.readAt(0, (d) => readLocationList(d, 0, UNIT));
  assert.equal(long.entries.length, 600, 'all 7,201 bytes of it, past the 4,096 first read');
  assert.equal(long.entries[599].begin, 600n * 0x1000n);
  assert.equal(long.entries[599].end, 600n * 0x1000n + 0x10n);
  assert.deepEqual([...long.entries[599].expr], [DW_OP_reg0]);
});

test('a list that runs off the end of its section is an error, not a list cut short', () => {
  const size = 8192 + 5000;
  const elf = open([[8192, list(500, false).subarray(0, 5000)]], size);
  const s = ListSection.of(elf, '.debug_loclists')!;
  assert.throws(() => s.readAt(8192, (d) => readLocationList(d, 8192, UNIT)), (e) => e instanceof DwarfError && /runs past the end/.test(e.message));
});

test('a file without the section has none', () => {
  assert.equal(ListSection.of(open([]), '.debug_loc'), undefined);
});
