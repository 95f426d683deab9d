// The DWARF line-table reader (src/symbols/dwarf/line.ts) and the small .debug_info reader
// under it, on C and assembly programs built with gcc in several flavours (64/32-bit, -O0/-O2,
// DWARF 4/5, 64-bit DWARF): every row against readelf's decoded line table, lookups against
// gdb's `info line`, source breakpoints and post-prologue addresses against gdb's `break`.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { LineTable, readLineHeader, type LineRow } from '../src/symbols/dwarf/line.js';
import { DwarfInfo, dwarfSections } from '../src/symbols/dwarf/info.js';
import { ElfImage } from '../src/symbols/elf-file.js';
import { SymbolTable } from '../src/symbols/elf-symbols.js';
import { buildDwarfGuest, buildDwarfGuests, flavourName, tool, DWARF_SRC_DIR, DWARF_BUILD_DIR, type Flavour } from './guests/dwarf/build.js';
import { prng } from './support/prng.js';

const MAIN_C = join(DWARF_SRC_DIR, 'main.c');
const UTIL_C = join(DWARF_SRC_DIR, 'util.c');
const UTIL_H = join(DWARF_SRC_DIR, 'include', 'util.h');
const START_S = join(DWARF_SRC_DIR, 'start.S');

const FLAVOURS: Flavour[] = [];
for (const bits of [64, 32] as const) {
  for (const opt of [0, 2] as const) for (const dwarf of [4, 5] as const) FLAVOURS.push({ bits, opt, dwarf });
}
FLAVOURS.push({ bits: 64, opt: 0, dwarf: 5, dwarf64: true });

before(() => buildDwarfGuests(FLAVOURS));

function load(f: Flavour, loadOffset = 0n): { elf: string; image: Buffer; lines: LineTable } {
  const elf = buildDwarfGuest(f);
  const image = readFileSync(elf);
  return { elf, image, lines: LineTable.fromElf(image, elf, loadOffset) };
}

interface ToolRow { file: string; line: number; address: bigint; isStmt: boolean; endSequence: boolean }

/** Rows of `readelf --debug-dump=decodedline`: file base name, line ('-' ends a sequence), address, view, stmt. */
function readelfRows(elf: string): ToolRow[] {
  const out: ToolRow[] = [];
  for (const l of tool('readelf', ['-W', '--debug-dump=decodedline', elf]).split('\n')) {
    const m = /^(\S+)\s+(\d+|-)\s+(0x[0-9a-f]+)(?:\s+\d+)?\s*(x)?\s*$/.exec(l);
    if (!m) continue;
    out.push({ file: m[1], line: m[2] === '-' ? 0 : Number(m[2]), address: BigInt(m[3]), isStmt: m[4] === 'x', endSequence: m[2] === '-' });
  }
  return out;
}

function gdb(elf: string, commands: string[]): string {
  return tool('gdb', ['-batch', '-nx', ...commands.flatMap((c) => ['-ex', c]), elf]);
}

function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

for (const f of FLAVOURS) {
  test(`${flavourName(f)}: every row matches readelf's decoded line table`, () => {
    const { elf, lines } = load(f);
    const want = readelfRows(elf);
    const got = lines.rows();
    assert.ok(want.length > 50, `readelf shows ${want.length} rows`);
    assert.equal(got.length, want.length, 'row count');
    for (let i = 0; i < want.length; i++) {
      const g = got[i];
      const w = want[i];
      const where = `row ${i} (${hex(w.address)} ${w.file}:${w.line})`;
      assert.equal(g.endSequence, w.endSequence, `${where}: end_sequence`);
      assert.equal(g.address, w.address, `${where}: address`);
      if (w.endSequence) continue;
      assert.equal(basename(g.file), w.file, `${where}: file`);
      assert.equal(g.line, w.line, `${where}: line`);
      assert.equal(g.isStmt, w.isStmt, `${where}: is_stmt`);
    }
    // Names are absolute paths to the real files: comp_dir, include directories and the v5
    // directory table all resolved.
    for (const file of lines.files()) assert.ok(existsSync(file), `${file} exists`);
    const expected = f.opt === 0 ? [UTIL_H, MAIN_C, START_S, UTIL_C] : [MAIN_C, START_S, UTIL_C];
    assert.deepEqual(lines.files(), [...expected].sort());
  });
}

// Lines inside function bodies (gdb moves a breakpoint on a function's first line past the
// prologue, which is the adapter's business, not resolve()'s): statements, a blank line, a
// comment, a for loop with several blocks, a header line with one copy per unit.
const SOURCE_BREAKS: [string, number][] = [
  [MAIN_C, 12], [MAIN_C, 13], [MAIN_C, 14], [MAIN_C, 15], [MAIN_C, 16], [MAIN_C, 17], [MAIN_C, 24], [MAIN_C, 32],
  [MAIN_C, 35], [UTIL_C, 7], [UTIL_C, 8], [UTIL_H, 7], [UTIL_H, 11],
];
// C functions (past the prologue at -O0; at their first instruction in optimized code, whose
// units have location lists) and assembly ones (always at the first instruction).
const FUNCTIONS = ['main', 'f', 'g', 'spin', 'checksum', 'twice', 'clamp', '_start', 'asm_leaf', 'asm_frame'];

interface GdbFacts {
  /** Addresses asked about with `info line`, and gdb's answer for each. */
  infoLine: [bigint, string][];
  /** Per SOURCE_BREAKS entry (-O0 only), then per FUNCTIONS entry present: gdb's breakpoint. */
  sourceBreaks: GdbBreak[];
  functionBreaks: Map<string, GdbBreak>;
}
interface GdbBreak { addresses: bigint[]; line: number }

const gdbCache = new Map<string, GdbFacts>();

/** Everything the tests ask gdb about one flavour, in one gdb run. */
function gdbFacts(f: Flavour): GdbFacts {
  const cached = gdbCache.get(flavourName(f));
  if (cached) return cached;
  const { elf, image, lines } = load(f);
  // Every distinct row address, a byte past each, and an address outside any sequence.
  const addrs = new Set<bigint>();
  for (const r of lines.rows()) {
    addrs.add(r.address);
    if (!r.endSequence) addrs.add(r.address + 1n);
  }
  addrs.add(0x1000n);
  const list = [...addrs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const syms = SymbolTable.fromElf(image, elf);
  const sources = f.opt === 0 ? SOURCE_BREAKS.map(([file, line]) => `${file}:${line}`) : [];
  const funcs = FUNCTIONS.filter((n) => syms.byName(n));
  const specs = [...sources, ...funcs];
  const out = gdb(elf, [...list.map((a) => `info line *${hex(a)}`), ...specs.map((s) => `break ${s}`), 'info breakpoints']);
  const answers = out.split('\n').filter((l) => /^(Line|No line)/.test(l));
  assert.equal(answers.length, list.length, 'one answer per address');
  const breaks = specs.map((): GdbBreak => ({ addresses: [], line: 0 }));
  for (const l of out.split('\n')) {
    const m = /^(\d+)(?:\.\d+)?\s.*?(0x[0-9a-f]+)\s+in\s+\S+\s+at\s+\S+:(\d+)/.exec(l);
    if (!m) continue;
    const r = breaks[Number(m[1]) - 1];
    r.addresses.push(BigInt(m[2]));
    r.line = Number(m[3]);
  }
  for (const r of breaks) r.addresses.sort((a, b) => (a < b ? -1 : 1));
  const facts: GdbFacts = {
    infoLine: list.map((a, i) => [a, answers[i]]),
    sourceBreaks: breaks.slice(0, sources.length),
    functionBreaks: new Map(funcs.map((n, i) => [n, breaks[sources.length + i]])),
  };
  gdbCache.set(flavourName(f), facts);
  return facts;
}

for (const f of FLAVOURS.filter((x) => !x.dwarf64)) {
  test(`${flavourName(f)}: lookup() agrees with gdb's "info line *ADDR"`, () => {
    const { lines } = load(f);
    const { infoLine } = gdbFacts(f);
    const out = infoLine.map(([, answer]) => answer);
    infoLine.forEach(([addr], i) => {
      const got = lines.lookup(addr);
      const m = /^Line (\d+) of "([^"]+)"\s+(?:starts at address (0x[0-9a-f]+)|is at address (0x[0-9a-f]+))/.exec(out[i]);
      if (!m) {
        assert.equal(got, undefined, `${hex(addr)}: gdb says "${out[i]}", we say ${JSON.stringify(got)}`);
        return;
      }
      assert.ok(got, `${hex(addr)}: gdb says "${out[i]}", we have no line`);
      // gdb names the file as the line table does (relative to comp_dir).
      assert.ok(got.file === m[2] || got.file.endsWith('/' + m[2]), `${hex(addr)}: ${got.file} is ${m[2]}`);
      assert.equal(got.line, Number(m[1]), `${hex(addr)}: ${out[i]}`);
      assert.equal(hex(got.address), m[3] ?? m[4], `${hex(addr)}: start of the line's range (${out[i]})`);
    });
  });
}

for (const f of FLAVOURS.filter((x) => x.opt === 0 && !x.dwarf64)) {
  test(`${flavourName(f)}: source breakpoints bind where gdb binds them`, () => {
    const { lines } = load(f);
    const want = gdbFacts(f).sourceBreaks;
    SOURCE_BREAKS.forEach(([file, line], i) => {
      const got = lines.resolve(file, line);
      assert.ok(got, `${basename(file)}:${line} binds`);
      assert.equal(got.line, want[i].line, `${basename(file)}:${line}: line`);
      assert.deepEqual(got.addresses.map(hex), want[i].addresses.map(hex), `${basename(file)}:${line}: addresses`);
    });
    // The blank line and the comment move on to the next statement; the header line has a copy
    // of clamp() per compilation unit at -O0.
    assert.equal(lines.resolve(MAIN_C, 15)!.line, 18);
    assert.equal(lines.resolve(MAIN_C, 16)!.line, 18);
    assert.equal(lines.resolve(MAIN_C, 32)!.line, 33);
    assert.equal(lines.resolve(UTIL_H, 7)!.addresses.length, 2);
  });

}

for (const f of FLAVOURS) {
  test(`${flavourName(f)}: afterPrologue() is where gdb's "break FUNC" stops`, () => {
    const { elf, image, lines } = load(f);
    const syms = SymbolTable.fromElf(image, elf);
    const want = gdbFacts(f).functionBreaks;
    assert.ok(want.size >= 9);
    for (const [name, brk] of want) {
      // clamp has a copy in each unit at -O0; gdb breaks in all, byName gives one of them.
      const s = syms.byName(name)!;
      const got = lines.afterPrologue(s.address, s.address + s.size);
      assert.ok(got !== undefined, `${name}: a breakpoint address`);
      assert.ok(brk.addresses.includes(got), `${name}: ${hex(got)} is among gdb's ${brk.addresses.map(hex)}`);
      if (f.opt === 0 && !name.startsWith('asm_') && name !== '_start') assert.ok(got > s.address, `${name}: past the prologue`);
      else assert.equal(got, s.address, `${name}: the first instruction`);
      // Without the end, the function bounds come from the symbol table.
      assert.equal(lines.afterPrologue(s.address), got);
    }
  });
}

for (const f of FLAVOURS) {
  test(`${flavourName(f)}: a lazy table runs only the programs a query needs, and answers as the eager one does`, () => {
    const { elf, image, lines: eager } = load(f);
    const lazy = (): LineTable => LineTable.fromElf(image, elf, 0n, { lazy: true });
    assert.equal(eager.programsRun, 3, 'start.S, main.c and util.c: all run at once');
    const rows = eager.rows();
    const t = lazy();
    assert.equal(t.programsRun, 0, 'nothing runs before a query');
    // An address in util.c: .debug_aranges names its unit, whose program alone runs.
    const inUtil = rows.find((r) => r.file === UTIL_C && !r.endSequence && r.line > 0)!;
    assert.deepEqual(t.lookup(inUtil.address), eager.lookup(inUtil.address));
    assert.equal(t.programsRun, 1);
    // A line of main.c: only main.c's unit names that file in its program's header.
    assert.deepEqual(t.resolve(MAIN_C, 23), eager.resolve(MAIN_C, 23));
    assert.equal(t.programsRun, 2);
    assert.deepEqual(t.lookup(inUtil.address + 1n), eager.lookup(inUtil.address + 1n));
    assert.equal(t.programsRun, 2, 'a program runs once');
    // Every answer, on a fresh lazy table (each query running what it needs): the same.
    const all = lazy();
    const addrs = new Set<bigint>([0x1000n]);
    for (const r of rows) addrs.add(r.address).add(r.address + 1n);
    for (const a of addrs) {
      assert.deepEqual(all.lookup(a), eager.lookup(a), `lookup ${hex(a)}`);
      assert.equal(all.afterPrologue(a), eager.afterPrologue(a), `afterPrologue ${hex(a)}`);
    }
    for (const [file, line] of [...SOURCE_BREAKS, [START_S, 1] as [string, number], ['main.c', 23] as [string, number], ['/elsewhere/other.c', 1] as [string, number]]) {
      assert.deepEqual(all.resolve(file, line), eager.resolve(file, line), `resolve ${file}:${line}`);
      assert.deepEqual(all.matchFiles(file), eager.matchFiles(file), `matchFiles ${file}`);
    }
    assert.deepEqual(all.rows(), rows);
    assert.deepEqual(all.files(), eager.files());
    assert.equal(all.programsRun, 3);
    assert.deepEqual(all.problems, []);
  });
}

test('resolve(): file matching by absolute path, path suffix and base name; lines past the end', () => {
  const { lines } = load({ bits: 64, opt: 0, dwarf: 5 });
  const exact = lines.resolve(MAIN_C, 23);
  assert.ok(exact && exact.line === 23 && exact.addresses.length === 1);
  // The same file seen from another machine's checkout.
  assert.deepEqual(lines.resolve('/home/someone/src/kvmdbg/test/guests/dwarf/main.c', 23), exact);
  assert.deepEqual(lines.resolve('dwarf/main.c', 23), exact);
  assert.deepEqual(lines.resolve('main.c', 23), exact);
  assert.deepEqual(lines.resolve('C:\\work\\dwarf\\main.c', 23), exact);
  assert.deepEqual(lines.resolve(join(DWARF_SRC_DIR, '.', 'include', '..', 'main.c'), 23), exact);
  assert.equal(lines.resolve('/elsewhere/other.c', 23), undefined);
  assert.equal(lines.resolve(MAIN_C, 37), undefined, 'past the last line with code');
  // Assembly has lines too.
  const s = lines.resolve(START_S, 1);
  assert.ok(s && s.addresses.length === 1);
  assert.equal(lines.lookup(s.addresses[0])!.file, START_S);
});

test('lookup() at -O2 prefers the last is_stmt row of an address, as gdb does', () => {
  const { lines } = load({ bits: 64, opt: 2, dwarf: 5 });
  const rows = lines.rows();
  let checked = 0;
  for (let i = 0; i + 1 < rows.length; i++) {
    const at = rows.filter((r) => r.address === rows[i].address && !r.endSequence);
    if (at.length < 3 || at.every((r) => r.isStmt)) continue;
    const lastStmt = [...at].reverse().find((r) => r.isStmt) ?? at[at.length - 1];
    assert.equal(lines.lookup(rows[i].address)!.line, lastStmt.line);
    checked++;
  }
  assert.ok(checked > 0);
});

test('a load offset moves every address', () => {
  const f: Flavour = { bits: 64, opt: 0, dwarf: 4 };
  const base = load(f).lines;
  const off = 0x4000_0000n;
  const moved = load(f, off).lines;
  assert.deepEqual(moved.rows().map((r) => r.address), base.rows().map((r) => r.address + off));
  const r = base.resolve(MAIN_C, 24)!;
  assert.deepEqual(moved.resolve(MAIN_C, 24), { line: 24, addresses: r.addresses.map((a) => a + off) });
  assert.deepEqual(moved.lookup(r.addresses[0] + off), { ...base.lookup(r.addresses[0])!, address: r.addresses[0] + off });
  assert.equal(moved.lookup(r.addresses[0]), undefined);
  const g = SymbolTable.fromElf(load(f).image, 'x', off).byName('g')!;
  assert.equal(moved.afterPrologue(g.address), base.afterPrologue(g.value)! + off);
  // 32-bit addresses wrap at 4 GiB.
  const m32 = load({ bits: 32, opt: 0, dwarf: 5 }, 0xfff0_0000n).lines;
  assert.equal(m32.rows()[0].address, (load({ bits: 32, opt: 0, dwarf: 5 }).lines.rows()[0].address + 0xfff0_0000n) & 0xffffffffn);
});

test('an ELF without .debug_line gives an empty table', () => {
  const elf = buildDwarfGuest({ bits: 64, opt: 0, dwarf: 5 });
  const stripped = join(DWARF_BUILD_DIR, `stripped.${process.pid}.elf`);
  tool('objcopy', ['--strip-debug', elf, stripped]);
  const image = readFileSync(stripped);
  rmSync(stripped);
  const lines = LineTable.fromElf(image, stripped);
  assert.deepEqual(lines.rows(), []);
  assert.deepEqual(lines.files(), []);
  assert.equal(lines.lookup(0x100000n), undefined);
  assert.equal(lines.resolve(MAIN_C, 12), undefined);
  assert.equal(lines.afterPrologue(0x100000n), undefined);
});

/** Rewrites every 32-bit DWARF v2-4 line program of a .debug_line section as 64-bit DWARF. */
function toDwarf64(line: Buffer): Buffer {
  const parts: Buffer[] = [];
  let off = 0;
  while (off < line.length) {
    const len = line.readUInt32LE(off);
    const unit = line.subarray(off + 4, off + 4 + len);
    const version = unit.readUInt16LE(0);
    assert.ok(version <= 4);
    const headerLength = unit.readUInt32LE(2);
    const body = unit.subarray(6);
    const out = Buffer.alloc(12 + 2 + 8 + body.length);
    out.writeUInt32LE(0xffffffff, 0);
    out.writeBigUInt64LE(BigInt(2 + 8 + body.length), 4);
    out.writeUInt16LE(version, 12);
    out.writeBigUInt64LE(BigInt(headerLength), 14);
    body.copy(out, 22);
    parts.push(out);
    off += 4 + len;
  }
  return Buffer.concat(parts);
}

test('64-bit DWARF line programs (rewritten from 32-bit ones) give the same rows', () => {
  const f: Flavour = { bits: 64, opt: 2, dwarf: 4 };
  const { elf, image, lines } = load(f);
  const sections = dwarfSections(ElfImage.open(image, elf));
  // Only .debug_line: without .debug_info, names stay relative to the (unknown) comp_dir.
  const plain = LineTable.fromSections({ line: sections.line });
  const wide = LineTable.fromSections({ line: toDwarf64(sections.line!) });
  assert.equal(readLineHeader({ line: toDwarf64(sections.line!) }, 0).offsetSize, 8);
  assert.deepEqual(wide.rows(), plain.rows());
  assert.deepEqual(plain.rows().map((r) => [r.address, r.line, basename(r.file)]), lines.rows().map((r) => [r.address, r.line, basename(r.file)]));
});

test('.debug_info: units, comp_dir, and subprograms against the symbol table', () => {
  for (const f of FLAVOURS) {
    const { elf, image } = load(f);
    const info = DwarfInfo.fromElf(image, elf);
    const units = info.units();
    assert.deepEqual(units.map((u) => basename(u.name!)), ['start.S', 'main.c', 'util.c'], flavourName(f));
    for (const u of units) {
      assert.equal(u.compDir, DWARF_SRC_DIR);
      assert.equal(u.version, u.name!.endsWith('.S') ? (f.dwarf === 4 ? 4 : 5) : f.dwarf);
      assert.equal(u.offsetSize, f.dwarf64 && !u.name!.endsWith('.S') ? 8 : 4);
      assert.equal(u.addressSize, f.bits / 8);
    }
    const syms = SymbolTable.fromElf(image, elf);
    const subs = info.subprograms();
    for (const s of subs) {
      const sym = syms.lookup(s.lowPc);
      assert.ok(sym, `${flavourName(f)}: ${s.name} has a symbol`);
      assert.equal(sym.name, s.name, `${flavourName(f)}: subprogram at ${hex(s.lowPc)}`);
      assert.equal(sym.offset, 0n);
      assert.equal(s.highPc - s.lowPc, sym.size, `${flavourName(f)}: ${s.name} size`);
    }
    for (const name of ['main', 'f', 'g', 'spin', 'checksum', 'twice', '_start', 'asm_leaf', 'asm_frame']) {
      assert.ok(subs.some((s) => s.name === name), `${flavourName(f)}: subprogram ${name}`);
    }
    assert.equal(info.subprogramAt(syms.byName('g')!.address + 3n)!.name, 'g');
  }
});

test('rows() have the documented shape', () => {
  const { lines } = load({ bits: 32, opt: 0, dwarf: 5 });
  const r: LineRow = lines.rows()[0];
  assert.deepEqual(Object.keys(r).sort(), ['address', 'column', 'endSequence', 'file', 'isStmt', 'line', 'prologueEnd']);
  assert.ok(lines.rows().some((x) => x.column > 0));
});


test('corrupt debug sections: no exception escapes, problems are reported', () => {
  const f: Flavour = { bits: 64, opt: 2, dwarf: 5 };
  const { elf, image } = load(f);
  const e = ElfImage.open(image, elf);
  const targets = ['.debug_line', '.debug_info', '.debug_abbrev', '.debug_line_str', '.debug_str'].map((n) => e.sectionHeader(n)!);
  const rand = prng(12345);
  let withProblems = 0;
  for (let i = 0; i < 200; i++) {
    const copy = Buffer.from(image);
    const s = targets[i % targets.length];
    const flips = 1 + Math.floor(rand() * 8);
    for (let k = 0; k < flips; k++) {
      const at = s.offset + Math.floor(rand() * Number(s.size));
      copy[at] = rand() < 0.3 ? 0xff : Math.floor(rand() * 256);
    }
    const lines = LineTable.fromElf(copy, elf);
    if (lines.problems.length) withProblems++;
    for (const a of [0x100000n, 0x100050n, 0x1000a4n]) {
      lines.lookup(a);
      lines.afterPrologue(a);
    }
    lines.resolve(MAIN_C, 12);
    lines.files();
    try {
      DwarfInfo.fromElf(copy, elf).subprograms();
    } catch (err) {
      assert.equal((err as Error).name, 'DwarfError', (err as Error).stack);
    }
  }
  assert.ok(withProblems > 10, `${withProblems} corrupt copies reported problems`);
  // How long this takes is measured by bench/parse-bounds.ts (dwarf-line-corrupt), not here.
});
