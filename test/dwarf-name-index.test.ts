// The name index of a big DWARF (src/symbols/dwarf/name-index.ts, name-index-cache.ts), forced
// on the variables program (test/guests/dwarf-vars, gcc, 64-bit, -O0/-O2, DWARF 4/5, type units)
// by a size threshold of 0: every global and static the eager walk (globals()) finds is found by
// name through the index with the same address, type, linkage and declaration; every named type
// the same; the index file is written, read back by the next open (no unit scanned), and
// rebuilt where it is corrupt, truncated, stale or of another file; a cache directory that
// cannot be written leaves it in memory. Only the top-level DIEs are read for it (iterateDies'
// maxDepth), and an ELF's GNU build ID names its file.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DwarfVariables, typeName, typeSize, type CType, type DwarfVariable, type FrameContext } from '../src/symbols/dwarf/variables.js';
import { dwarfSections, iterateDies, unitHeaders } from '../src/symbols/dwarf/info.js';
import { NameIndex } from '../src/symbols/dwarf/name-index.js';
import { parseIndex, serializeIndex, INDEX_MAGIC } from '../src/symbols/dwarf/name-index-cache.js';
import { buildId, indexKey } from '../src/symbols/dwarf/index-cache.js';
import { stripType } from '../src/symbols/dwarf/types.js';
import { ElfImage } from '../src/symbols/elf-file.js';
import { DebugInfo } from '../src/debugger/debug-info.js';
import { buildVarsGuests, varsElfPath, varsFlavourName, type VarsFlavour } from './guests/dwarf-vars/build.js';

const FLAVOURS: VarsFlavour[] = [];
for (const opt of [0, 2] as const) for (const dwarf of [4, 5] as const) FLAVOURS.push({ cc: 'gcc', bits: 64, opt, dwarf });
FLAVOURS.push({ cc: 'gcc', bits: 64, opt: 0, dwarf: 4, typeUnits: true }, { cc: 'gcc', bits: 64, opt: 2, dwarf: 5, typeUnits: true });

const TAGS = ['struct point', 'struct flags', 'struct packed_flags', 'struct node', 'struct outer', 'struct with_flex', 'union number',
  'enum color', 'enum big', 'mode_t_', 'point_t', 'my_uint_ptr', 'matrix_t', 'cv_int', 'int', 'unsigned int', 'long unsigned int',
  'unsigned long', 'char', 'struct point *', 'const char *'];

const dirs: string[] = [];
function cacheDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'kvmdbg-name-index-'));
  dirs.push(d);
  return d;
}

before(async () => {
  await buildVarsGuests(FLAVOURS);
});

test.after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const FRAME: FrameContext = { pc: 0n, regs: new Map(), read: () => undefined, bits: 64 };

/** What a global is, for comparing the eager walk's with the index's. */
function facts(v: DwarfVariable): string {
  const loc = v.locate(FRAME);
  const where = loc.kind === 'memory' ? `at 0x${loc.address.toString(16)}` : loc.kind === 'value' ? `value ${loc.value}` : loc.kind;
  return `${v.name}: ${typeName(v.type)} (${typeSize(v.type)} bytes) ${where} ${v.describeLocation(0n)} external=${v.external} ${v.declFile}:${v.declLine}`;
}

/** A type with its members' or enumerators' spelling, for comparing. */
function typeFacts(t: CType | undefined): string {
  if (!t) return 'none';
  const s = stripType(t);
  const inner = s && (s.kind === 'struct' || s.kind === 'union')
    ? s.members.map((m) => `${m.name}:${typeName(m.type)}@${m.offset}`).join(',')
    : s?.kind === 'enum' ? s.enumerators.map((e) => `${e.name}=${e.value}`).join(',') : '';
  return `${typeName(t)} ${typeSize(t)} {${inner}}`;
}

function open(f: VarsFlavour, indexCacheDir: string | null): DwarfVariables {
  const elf = varsElfPath(f);
  return DwarfVariables.fromElf(readFileSync(elf), elf, 0n, undefined, { bigInfoBytes: 0, indexCacheDir });
}

/** Every eager global found by name through `indexed`, and every type spelled alike. */
function assertSameAnswers(eager: DwarfVariables, indexed: DwarfVariables, where: string): void {
  const names = [...new Set(eager.globals().map((g) => g.name))];
  assert.ok(names.length >= 20, `${where}: ${names.length} globals`);
  for (const name of names) {
    const want = eager.globals().filter((g) => g.name === name).map(facts);
    assert.deepEqual(indexed.globalsNamed(name).map(facts), want, `${where}: ${name}`);
  }
  for (const name of ['no_such_global', 'main', 'point']) assert.deepEqual(indexed.globalsNamed(name), [], `${where}: ${name}`);
  for (const tag of TAGS) assert.equal(typeFacts(indexed.typeByName(tag)), typeFacts(eager.typeByName(tag)), `${where}: ${tag}`);
  assert.equal(indexed.typeByName('struct no_such_tag'), undefined);
}

for (const f of FLAVOURS) {
  const name = varsFlavourName(f);

  test(`${name}: the index finds every global and type the whole walk finds, writes its cache file, and the next open reads it`, () => {
    const elf = varsElfPath(f);
    const eager = DwarfVariables.fromElf(readFileSync(elf), elf);
    assert.equal(eager.isBig, false);
    const dir = cacheDir();
    const first = open(f, dir);
    assert.equal(first.isBig, true);
    assert.equal(first.nameIndexState, undefined, 'nothing is indexed before a question');
    assertSameAnswers(eager, first, name);
    const units = unitHeaders(dwarfSections(ElfImage.open(readFileSync(elf), elf))).length;
    const built = first.nameIndexState!;
    assert.equal(built.source, 'scan');
    assert.ok(built.unitsScanned >= units, `${built.unitsScanned} units scanned of ${units} (and .debug_types')`);
    assert.equal(built.written, true);
    assert.ok(built.file?.startsWith(dir) && existsSync(built.file), `${built.file} written`);
    assert.match(readFileSync(built.file!).toString('latin1', 0, 128), new RegExp(`^${INDEX_MAGIC} 1 [0-9a-f]{64}\\n`));
    assert.deepEqual(first.problems, []);

    const second = open(f, dir);
    assertSameAnswers(eager, second, `${name}, from the cache`);
    const read = second.nameIndexState!;
    assert.deepEqual({ ...read }, { ...built, source: 'cache', unitsScanned: 0, written: false }, 'read back, not scanned');
  });
}

test('a corrupt, truncated, stale or foreign cache file is rebuilt; an unwritable cache directory keeps the index in memory', () => {
  const f = FLAVOURS[0];
  const elf = varsElfPath(f);
  const eager = DwarfVariables.fromElf(readFileSync(elf), elf);
  const dir = cacheDir();
  const file = open(f, dir);
  file.globalsNamed('g_int');
  const path = file.nameIndexState!.file!;
  const good = readFileSync(path);
  const nl = good.indexOf(0x0a);
  const body = JSON.parse(good.toString('utf8', nl + 1)) as { key: string; sections: Record<string, number>; variables: (string | number)[]; types: (string | number)[] };

  // A header and body that check out, but entries naming other DIEs: each variable's DIE is the
  // next entry's (a file of another build with the same sizes would look like this).
  const shifted = body.variables.map((x, i) => (i % 3 === 2 ? body.variables[(i + 3) % body.variables.length] : x));
  const stale = new NameIndex(new Map(), new Map());
  for (let i = 0; i < shifted.length; i += 3) stale.variables.set(shifted[i] as string, [{ die: shifted[i + 2] as number, flags: shifted[i + 1] as number }]);
  for (let i = 0; i < body.types.length; i += 2) stale.types.set(body.types[i] as string, body.types[(i + 3) % body.types.length] as number);
  const staleFile = serializeIndex(stale, { key: body.key, sections: body.sections });

  const flipped = Buffer.from(good);
  flipped[nl + 1 + Math.floor((good.length - nl) / 2)] ^= 0x20;
  const cases: [string, Buffer][] = [
    ['one byte of the body flipped', flipped],
    ['truncated', good.subarray(0, Math.floor(good.length * 0.7))],
    ['empty', Buffer.alloc(0)],
    ['not ours', Buffer.from('\x7fELF garbage\n{}')],
    ['another version', Buffer.concat([Buffer.from(`${INDEX_MAGIC} 999 `), good.subarray(INDEX_MAGIC.length + 3)])],
    ['another file', serializeIndex(stale, { key: 'build-id-00', sections: body.sections })],
    ['other section sizes', serializeIndex(stale, { key: body.key, sections: { ...body.sections, '.debug_info': 1 } })],
    ['DIE offsets out of range', Buffer.from(good.toString('latin1').replace(/,(\d+)\]/, ',99999999]'), 'latin1')],
    ['stale entries', staleFile],
  ];
  for (const [what, bytes] of cases) {
    writeFileSync(path, bytes);
    const v = open(f, dir);
    assertSameAnswers(eager, v, what);
    assert.equal(v.nameIndexState!.source, 'scan', `${what}: scanned again`);
    assert.equal(v.nameIndexState!.written, true, `${what}: rewritten`);
    assert.deepEqual(readFileSync(path), good, `${what}: the file is as the first scan wrote it`);
  }

  // A cache directory that cannot be made (its parent is a file): the index stays in memory.
  const blocker = join(dir, 'a-file');
  writeFileSync(blocker, '');
  const v = open(f, join(blocker, 'dwarf-index'));
  assertSameAnswers(eager, v, 'unwritable');
  assert.equal(v.nameIndexState!.written, false);
  // And none at all.
  const none = open(f, null);
  assertSameAnswers(eager, none, 'no cache');
  assert.equal(none.nameIndexState!.file, undefined);
});

test('parseIndex refuses what does not check out, without throwing', () => {
  const f = FLAVOURS[0];
  const dir = cacheDir();
  const v = open(f, dir);
  v.globalsNamed('g_int');
  const good = readFileSync(v.nameIndexState!.file!);
  const nl = good.indexOf(0x0a);
  const body = JSON.parse(good.toString('utf8', nl + 1)) as { key: string; sections: Record<string, number> };
  const facts = { key: body.key, sections: body.sections };
  const ok = (): boolean => true;
  assert.ok(parseIndex(good, facts, ok));
  const withDigest = (json: string): Buffer => Buffer.from(`${INDEX_MAGIC} 1 ${createHash('sha256').update(json).digest('hex')}\n${json}`);
  const doc = (extra: object): string => JSON.stringify({ key: facts.key, sections: facts.sections, variables: [], types: [], ...extra });
  for (const json of [
    'null', '[]', '"x"', '{', doc({ key: 'other' }), doc({ sections: {} }), doc({ variables: ['a', 1] }), doc({ variables: ['a', 4, 0] }),
    doc({ variables: [1, 1, 0] }), doc({ variables: ['', 1, 0] }), doc({ variables: ['a', 1, -1] }), doc({ variables: ['a', 1, 0.5] }),
    doc({ variables: ['a', 1, 2 ** 60] }), doc({ types: ['int'] }), doc({ types: ['int', '0'] }), doc({ types: {} }),
    doc({ variables: ['x'.repeat(5000), 1, 0] }),
  ]) {
    assert.equal(parseIndex(withDigest(json), facts, ok), undefined, json.slice(0, 80));
  }
  assert.ok(parseIndex(withDigest(doc({ variables: ['a', 3, 7, 'a', 1, 9], types: ['int', 5] })), facts, ok));
  assert.equal(parseIndex(withDigest(doc({ variables: ['a', 3, 7] })), facts, (off) => off !== 7), undefined, 'a DIE offset the file cannot hold');
});

test('iterateDies with maxDepth 1 yields the unit-scope DIEs a whole walk has, and no deeper ones', () => {
  for (const f of FLAVOURS) {
    const elf = varsElfPath(f);
    const s = dwarfSections(ElfImage.open(readFileSync(elf), elf));
    for (const h of unitHeaders(s)) {
      const all = [...iterateDies(s, h)].filter((d) => d.depth <= 1).map((d) => `${d.offset}:${d.tag}`);
      const top = [...iterateDies(s, h, { maxDepth: 1, wanted: new Set([0x01, 0x03]) })].map((d) => `${d.offset}:${d.tag}`);
      assert.deepEqual(top, all, `${varsFlavourName(f)} unit at 0x${h.offset.toString(16)}`);
    }
  }
});

test('an ELF file\'s index is named by its GNU build ID, else by its path, size and modification time', () => {
  const dir = cacheDir();
  const src = join(dir, 'x.c');
  // counter's definition completes its declaration (DW_AT_specification, no name of its own).
  writeFileSync(src, 'extern int counter;\nint counter = 3;\nstatic int hidden = 4;\nint *p = &hidden;\nvoid _start(void) { for (;;) counter++; }\n');
  const withId = join(dir, 'with-id');
  const without = join(dir, 'without-id');
  for (const [out, id] of [[withId, 'sha1'], [without, 'none']]) {
    execFileSync('gcc', ['-g', '-O0', '-ffreestanding', '-nostdlib', '-static', `-Wl,--build-id=${id}`, src, '-o', out]);
  }
  const readelf = execFileSync('readelf', ['-n', withId], { encoding: 'utf8' });
  const id = /Build ID: ([0-9a-f]+)/.exec(readelf)?.[1];
  assert.ok(id, readelf);
  assert.equal(buildId(ElfImage.open(withId)), id);
  assert.equal(indexKey(ElfImage.open(withId), withId), `build-id-${id}`);
  assert.equal(buildId(ElfImage.open(without)), undefined);
  const key = indexKey(ElfImage.open(without), without);
  assert.match(key ?? '', /^file-[0-9a-f]{40}$/);
  // Rewritten (another modification time or size): another key.
  writeFileSync(without, Buffer.concat([readFileSync(without), Buffer.alloc(1)]));
  assert.ok(statSync(without).size > 0);
  assert.notEqual(indexKey(ElfImage.open(without), without), key);
  // Bytes with no build ID and no file behind them: no key, nothing cached.
  assert.equal(indexKey(ElfImage.open(readFileSync(without), 'x'), join(dir, 'not-there')), undefined);
  // A build-ID'd file's index, forced, is written under that name.
  const v = DwarfVariables.fromElf(ElfImage.open(withId), withId, 0n, undefined, { bigInfoBytes: 0, indexCacheDir: dir });
  const eager = DwarfVariables.fromElf(ElfImage.open(withId), withId);
  for (const name of ['counter', 'hidden', 'p']) {
    const want = eager.globals().filter((g) => g.name === name).map(facts);
    assert.equal(want.length, 1, name);
    assert.deepEqual(v.globalsNamed(name).map(facts), want, name);
  }
  assert.match(facts(v.globalsNamed('counter')[0]), /^counter: int .* external=true /);
  assert.equal(v.nameIndexState!.file, join(dir, `build-id-${id}.idx`));
});

test('DebugInfo.globalNamed leaves a kernel\'s per-CPU variables (.data..percpu) to the target, which places a vCPU\'s copy', () => {
  const dir = cacheDir();
  const src = join(dir, 'percpu.c');
  writeFileSync(src, '__attribute__((section(".data..percpu"))) long cpu_number = 7;\nlong plain = 8;\n' +
    'void _start(void) { for (;;) plain += cpu_number; }\n');
  // As the kernel links it: the per-CPU section at address 0, apart from .data (which a default
  // link script would merge it into).
  const script = join(dir, 'percpu.ld');
  writeFileSync(script, 'SECTIONS {\n  . = 0x400000;\n  .text : { *(.text*) }\n  .data..percpu 0 : AT(0x500000) { *(.data..percpu) }\n' +
    '  . = 0x600000;\n  .data : { *(.data*) }\n}\n');
  const elf = join(dir, 'percpu');
  execFileSync('gcc', ['-g', '-O0', '-ffreestanding', '-nostdlib', '-static', `-Wl,-T,${script}`, src, '-o', elf]);
  const info = new DebugInfo(elf, []);
  assert.equal(info.globalNamed('cpu_number'), undefined);
  assert.equal(info.globals().find((g) => g.name === 'cpu_number')?.name, 'cpu_number', 'still among the globals');
  assert.equal(typeName(info.globalNamed('plain')!.type), 'long');
});
