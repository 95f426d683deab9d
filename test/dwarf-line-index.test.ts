// The line index of a big DWARF on disk (src/symbols/dwarf/line-index-cache.ts, index-cache.ts),
// forced by a size threshold of 0 on the line-table programs (test/guests/dwarf: 64/32-bit,
// -O0/-O2, DWARF 4/5, 64-bit DWARF) and the variables programs (type units in DWARF 4 and 5):
// the first open writes it; the next open reads it back, reads no byte of .debug_info, and
// answers every lookup and source breakpoint as the eager table does; the units it holds are
// the ones read afresh, and the variables built over them answer alike. A file that is corrupt,
// stale or another's is refused without an exception, and read afresh and rewritten; a cache
// directory that cannot be written leaves the table working.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineTable } from '../src/symbols/dwarf/line.js';
import { compileUnits, dwarfSections, unitHeaders } from '../src/symbols/dwarf/info.js';
import { indexKey } from '../src/symbols/dwarf/index-cache.js';
import { LINE_INDEX_MAGIC, LINE_INDEX_VERSION, lineIndexSections, parseLineIndex } from '../src/symbols/dwarf/line-index-cache.js';
import { DwarfVariables, typeName, type DwarfVariable, type FrameContext } from '../src/symbols/dwarf/variables.js';
import { ElfImage } from '../src/symbols/elf-file.js';
import { buildDwarfGuest, buildDwarfGuests, flavourName, type Flavour } from './guests/dwarf/build.js';
import { buildVarsGuests, varsElfPath, varsFlavourName, type VarsFlavour } from './guests/dwarf-vars/build.js';

const FLAVOURS: Flavour[] = [];
for (const bits of [64, 32] as const) for (const opt of [0, 2] as const) for (const dwarf of [4, 5] as const) FLAVOURS.push({ bits, opt, dwarf });
FLAVOURS.push({ bits: 64, opt: 0, dwarf: 5, dwarf64: true });

const VARS: VarsFlavour[] = [
  { cc: 'gcc', bits: 64, opt: 0, dwarf: 5 }, { cc: 'gcc', bits: 64, opt: 2, dwarf: 4 },
  { cc: 'gcc', bits: 64, opt: 0, dwarf: 4, typeUnits: true }, { cc: 'gcc', bits: 64, opt: 2, dwarf: 5, typeUnits: true },
];

before(async () => {
  await buildDwarfGuests(FLAVOURS);
  await buildVarsGuests(VARS);
});

const dirs: string[] = [];
function cacheDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'kvmdbg-line-index-'));
  dirs.push(d);
  return d;
}
test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A lazy table of the file opened by path (read a piece at a time), its line index forced and cached in `dir`. */
function openIndexed(elf: string, dir: string | null, image = ElfImage.open(elf)): LineTable {
  return LineTable.fromElf(image, elf, 0n, { lazyLineBytes: 0, indexCacheDir: dir });
}

/** Every answer a table gives: each row's address and the next, and each line of each file (and one past the last). */
function assertSameAnswers(t: LineTable, eager: LineTable, where: string): void {
  const addrs = new Set<bigint>([0n, 0x1000n]);
  for (const r of eager.rows()) addrs.add(r.address).add(r.address + 1n);
  for (const a of addrs) {
    assert.deepEqual(t.lookup(a), eager.lookup(a), `${where}: lookup 0x${a.toString(16)}`);
    assert.equal(t.afterPrologue(a), eager.afterPrologue(a), `${where}: afterPrologue 0x${a.toString(16)}`);
  }
  const files = eager.files();
  assert.ok(files.length >= 3, `${where}: ${files.join(' ')}`);
  for (const file of [...files, 'main.c', 'vars.c', '/elsewhere/other.c']) {
    assert.deepEqual(t.matchFiles(file), eager.matchFiles(file), `${where}: matchFiles ${file}`);
    const last = Math.max(0, ...eager.rows().filter((r) => r.file === file).map((r) => r.line));
    for (let line = 1; line <= last + 1; line++) assert.deepEqual(t.resolve(file, line), eager.resolve(file, line), `${where}: resolve ${file}:${line}`);
  }
  assert.deepEqual(t.rows(), eager.rows(), `${where}: rows`);
  assert.deepEqual(t.problems, [], where);
}

for (const f of FLAVOURS) {
  test(`${flavourName(f)}: the line index is written, then read back with no unit read, and answers as the eager table does`, () => {
    const elf = buildDwarfGuest(f);
    const dir = cacheDir();
    const key = indexKey(ElfImage.open(elf), elf)!;
    const eager = LineTable.fromElf(readFileSync(elf), elf, 0n, { lazy: false });
    const first = openIndexed(elf, dir);
    assert.deepEqual(first.lineIndex, { file: join(dir, `${key}.lines`), source: 'sections', written: true });
    assertSameAnswers(first, eager, `${flavourName(f)} read afresh`);

    const image = ElfImage.open(elf);
    const second = openIndexed(elf, dir, image);
    assert.deepEqual(second.lineIndex, { file: join(dir, `${key}.lines`), source: 'cache', written: false });
    assert.equal(second.programsRun, 0);
    // Opened by path, .debug_info holds only what was read: nothing, neither a unit header nor a DIE.
    const info = dwarfSections(image).info!;
    assert.ok(info.length > 0 && info.every((b) => b === 0), 'no byte of .debug_info read');
    // The units it holds are those read afresh, field for field.
    const fresh = dwarfSections(ElfImage.open(readFileSync(elf), elf));
    assert.deepEqual(unitHeaders(dwarfSections(image)), unitHeaders(fresh));
    assert.deepEqual(compileUnits(dwarfSections(image)), compileUnits(fresh));
    assert.ok(info.every((b) => b === 0), 'still none');
    assertSameAnswers(second, eager, `${flavourName(f)} from the cache`);
  });
}

const FRAME: FrameContext = { pc: 0n, regs: new Map(), read: () => undefined, bits: 64 };

/** A variable as the Variables view would show it, without guest memory. */
function facts(v: DwarfVariable, pc: bigint): string {
  const loc = v.locate({ ...FRAME, pc });
  const where = loc.kind === 'memory' ? `at 0x${loc.address.toString(16)}` : loc.kind;
  return `${v.name}: ${typeName(v.type)} ${where} ${v.describeLocation(pc)}`;
}

for (const f of VARS) {
  test(`${varsFlavourName(f)}: variables built over a cached line index's units answer as those over units read afresh`, () => {
    const elf = varsElfPath(f);
    const dir = cacheDir();
    openIndexed(elf, dir);
    const image = ElfImage.open(elf);
    assert.equal(openIndexed(elf, dir, image).lineIndex?.source, 'cache');
    const cached = DwarfVariables.fromElf(image, elf);
    const fresh = DwarfVariables.fromElf(readFileSync(elf), elf);
    assert.deepEqual(cached.globals().map((g) => facts(g, 0n)), fresh.globals().map((g) => facts(g, 0n)));
    assert.ok(fresh.globals().length >= 20);
    const pcs = LineTable.fromElf(readFileSync(elf), elf).rows().filter((r) => !r.endSequence).map((r) => r.address);
    let locals = 0;
    for (const pc of pcs) {
      const want = fresh.localsAt(pc).map((v) => facts(v, pc));
      assert.deepEqual(cached.localsAt(pc).map((v) => facts(v, pc)), want, `locals at 0x${pc.toString(16)}`);
      locals += want.length;
    }
    assert.ok(locals > 0, 'some locals compared');
    assert.deepEqual(cached.problems, fresh.problems);
  });
}

test('parseLineIndex reads back what was written, and refuses what does not check out, without throwing', () => {
  const f = FLAVOURS[0];
  const elf = buildDwarfGuest(f);
  const dir = cacheDir();
  const table = openIndexed(elf, dir);
  const good = readFileSync(table.lineIndex!.file);
  const nl = good.indexOf(0x0a);
  const doc = JSON.parse(good.toString('utf8', nl + 1)) as Record<string, unknown> & { headers: unknown[][]; units: unknown[][]; files: unknown[]; programs: number[] };
  const sections = dwarfSections(ElfImage.open(readFileSync(elf), elf));
  const expect = { key: doc.key as string, sections: lineIndexSections(sections) };
  const index = parseLineIndex(good, expect);
  assert.ok(index);
  assert.deepEqual(index.headers, unitHeaders(sections));
  assert.deepEqual(index.units, compileUnits(sections));
  assert.ok(index.programs.length === 3 && index.files.size >= 3, `${index.programs} ${[...index.files.keys()]}`);

  const seal = (json: string): Buffer => Buffer.from(`${LINE_INDEX_MAGIC} ${LINE_INDEX_VERSION} ${createHash('sha256').update(json).digest('hex')}\n${json}`);
  const edit = (change: (d: typeof doc) => void): string => {
    const d = JSON.parse(JSON.stringify(doc)) as typeof doc;
    change(d);
    return JSON.stringify(d);
  };
  assert.ok(parseLineIndex(seal(edit(() => {})), expect), 'resealed unchanged');
  const infoSize = expect.sections['.debug_info'];
  const lineSize = expect.sections['.debug_line'];
  const bad: [string, Buffer][] = [
    ['other magic', Buffer.from(good.toString('latin1').replace(LINE_INDEX_MAGIC, 'kvmdbg-dwarf-name-index'), 'latin1')],
    ['other version', Buffer.from(good.toString('latin1').replace(` ${LINE_INDEX_VERSION} `, ` ${LINE_INDEX_VERSION + 1} `), 'latin1')],
    ['a byte changed', Buffer.concat([good.subarray(0, good.length - 2), Buffer.from('1}')])],
    ['truncated', good.subarray(0, good.length - 100)],
    ['no header', good.subarray(nl + 1)],
    ['not JSON', seal('{"key":')],
    ['another file', seal(edit((d) => (d.key = 'build-id-00')))],
    ['another size of .debug_line', seal(edit((d) => ((d.sections as Record<string, number>)['.debug_line'] += 1)))],
    ['no headers', seal(edit((d) => delete (d as Record<string, unknown>).headers))],
    ['a header short', seal(edit((d) => d.headers[0].pop()))],
    ['headers not one after another', seal(edit((d) => (d.headers[1][0] = (d.headers[1][0] as number) + 1)))],
    ['a unit past .debug_info', seal(edit((d) => (d.headers[d.headers.length - 1][1] = infoSize + 1)))],
    ['DWARF 6', seal(edit((d) => (d.headers[0][2] = 6)))],
    ['an address size of 3', seal(edit((d) => (d.headers[0][4] = 3)))],
    ['an offset size of 6', seal(edit((d) => (d.headers[0][5] = 6)))],
    ['a DIE before its unit', seal(edit((d) => (d.headers[0][7] = 0)))],
    ['a signature not hex', seal(edit((d) => (d.headers[0][8] = 'xyz')))],
    ['a fractional offset', seal(edit((d) => (d.headers[0][6] = 0.5)))],
    ['a unit naming no header', seal(edit((d) => (d.units[0][0] = d.headers.length)))],
    ['units out of order', seal(edit((d) => (d.units[1][0] = d.units[0][0])))],
    ['a name that is a number', seal(edit((d) => (d.units[0][2] = 7)))],
    ['a name too long', seal(edit((d) => (d.units[0][2] = 'x'.repeat(5000))))],
    ['a line program past .debug_line', seal(edit((d) => (d.units[0][4] = lineSize)))],
    ['a producer not there', seal(edit((d) => (d.units[0][6] = 99)))],
    ['a negative base', seal(edit((d) => (d.units[0][9] = -8)))],
    ['programs out of order', seal(edit((d) => d.programs.reverse()))],
    ['a path with no program', seal(edit((d) => (d.files[1] = [])))],
    ['a program not there', seal(edit((d) => (d.files[1] = [d.programs.length])))],
    ['a path twice', seal(edit((d) => d.files.push(d.files[0], d.files[1])))],
    ['an empty path', seal(edit((d) => (d.files[0] = '')))],
    ['files odd', seal(edit((d) => d.files.push('x')))],
    ['1e308', seal(edit((d) => (d.programs[0] = 1e308)))],
  ];
  for (const [why, bytes] of bad) assert.equal(parseLineIndex(bytes, expect), undefined, why);
});

test('a corrupt or foreign line index is read afresh and rewritten; an unwritable directory leaves the table working', () => {
  const f = FLAVOURS[1];
  const elf = buildDwarfGuest(f);
  const eager = LineTable.fromElf(readFileSync(elf), elf, 0n, { lazy: false });
  const dir = cacheDir();
  const file = openIndexed(elf, dir).lineIndex!.file;
  const good = readFileSync(file);
  const other = openIndexed(buildDwarfGuest(FLAVOURS[2]), cacheDir()).lineIndex!.file;
  for (const [why, bytes] of [['garbage', Buffer.from('not an index\n{}')], ['half', good.subarray(0, good.length >> 1)], ['another file\'s', readFileSync(other)]] as const) {
    writeFileSync(file, bytes);
    const t = openIndexed(elf, dir);
    assert.equal(t.lineIndex?.source, 'sections', why);
    assert.equal(t.lineIndex?.written, true, why);
    assertSameAnswers(t, eager, why);
    assert.deepEqual(readFileSync(file), good, `${why}: rewritten as it was`);
    assert.equal(openIndexed(elf, dir).lineIndex?.source, 'cache', `${why}: read back next time`);
  }
  // A directory under a regular file cannot be made.
  const blocked = join(file, 'sub');
  const t = openIndexed(elf, blocked);
  assert.deepEqual(t.lineIndex, { file: join(blocked, `${indexKey(ElfImage.open(elf), elf)}.lines`), source: 'sections', written: false });
  assertSameAnswers(t, eager, 'unwritable');
  // And no cache at all.
  assert.equal(openIndexed(elf, null).lineIndex, undefined);
});
