// The ELF symbol table of the debug adapter (src/symbols/elf-symbols.ts): every symbol
// against nm and readelf on gcc-built programs (64/32-bit, -O0/-O2, a PIE), address lookups
// inside, at the ends of and between functions, load offsets, and the preference rules on
// synthetic symbol lists.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SymbolTable } from '../src/symbols/elf-symbols.js';
import type { ElfSymbol } from '../src/symbols/elf-parse.js';
import { GuestError } from '../src/errors.js';
import { ElfImage } from '../src/symbols/elf-file.js';
import { buildDwarfGuest, buildDwarfGuests, flavourName, tool, DWARF_BUILD_DIR, type Flavour } from './guests/dwarf/build.js';

const FLAVOURS: Flavour[] = [
  { bits: 64, opt: 0, dwarf: 5 },
  { bits: 64, opt: 2, dwarf: 4 },
  { bits: 32, opt: 0, dwarf: 4 },
  { bits: 32, opt: 2, dwarf: 5 },
  { bits: 64, opt: 2, dwarf: 5, pie: true },
];

before(() => buildDwarfGuests(FLAVOURS));

interface RefSymbol { name: string; value: bigint; size: bigint; type: string; bind: string; ndx: string }

/** `readelf -sW`: every symbol with its type, binding and section. */
function readelfSymbols(elf: string): RefSymbol[] {
  const out: RefSymbol[] = [];
  for (const l of tool('readelf', ['-sW', elf]).split('\n')) {
    const m = /^\s*\d+:\s+([0-9a-f]+)\s+(\d+)\s+(\w+)\s+(\w+)\s+\w+\s+(\w+)\s+(\S+)\s*$/.exec(l);
    if (m) out.push({ value: BigInt('0x' + m[1]), size: BigInt(m[2]), type: m[3], bind: m[4], ndx: m[5], name: m[6] });
  }
  return out;
}

/** `nm`: name → addresses (a local name may be defined more than once). */
function nmSymbols(elf: string): Map<string, bigint[]> {
  const out = new Map<string, bigint[]>();
  for (const l of tool('nm', [elf]).trim().split('\n')) {
    const [addr, type, name] = l.trim().split(/\s+/);
    if (!name || /[aUwvN]/.test(type)) continue;
    out.set(name, [...(out.get(name) ?? []), BigInt('0x' + addr)]);
  }
  return out;
}

function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

for (const f of FLAVOURS) {
  test(`${flavourName(f)}: symbols agree with nm and readelf`, () => {
    const elf = buildDwarfGuest(f);
    const syms = SymbolTable.fromElf(elf);
    const nm = nmSymbols(elf);
    assert.ok(nm.size >= 15);
    for (const [name, addrs] of nm) {
      const s = syms.byName(name);
      assert.ok(s, `${name} is known`);
      assert.ok(addrs.includes(s.address), `${name}: ${hex(s.address)} is one of nm's ${addrs.map(hex)}`);
      assert.equal(s.value, s.address);
    }
    const ref = readelfSymbols(elf).filter((s) => ['FUNC', 'OBJECT', 'NOTYPE'].includes(s.type) && s.ndx !== 'UND' && s.name);
    // functions() is every FUNC symbol, by address.
    const funcs = ref.filter((s) => s.type === 'FUNC').sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
    assert.deepEqual(syms.functions().map((s) => `${s.name}@${hex(s.address)}/${s.size}`), funcs.map((s) => `${s.name}@${hex(s.value)}/${s.size}`));
    for (const name of ['main', 'f', 'g', 'spin', 'checksum', 'twice', '_start', 'asm_leaf', 'asm_frame']) {
      assert.ok(funcs.some((s) => s.name === name), `FUNC ${name}`);
    }
    // Every address of every function resolves to it (an untyped alias at its start loses to it).
    const sorted = [...ref].sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
    for (const fn of funcs) {
      const labels = sorted.filter((s) => s.type !== 'FUNC' && s.value > fn.value && s.value < fn.value + fn.size);
      const firstLabel = labels[0]?.value ?? fn.value + fn.size;
      for (const a of [fn.value, fn.value + 1n, firstLabel - 1n]) {
        const got = syms.lookup(a);
        assert.ok(got, `${hex(a)} in ${fn.name}`);
        assert.deepEqual(got, { name: fn.name, offset: a - fn.value, address: fn.value, size: fn.size }, `${hex(a)} in ${fn.name}`);
      }
      // A named label inside a function is the nearer symbol (as gdb shows it).
      for (const l of labels) assert.equal(syms.lookup(l.value + 1n)!.name, l.name);
      // Past the end: the next symbol, or nothing in the padding between functions.
      const end = fn.value + fn.size;
      const at = syms.lookup(end);
      const startsThere = sorted.filter((s) => s.value === end);
      if (startsThere.length) assert.ok(startsThere.some((s) => s.name === at?.name), `${hex(end)} after ${fn.name}`);
      else if (!sorted.some((s) => s.value < end && s.value > fn.value && s.size === 0n)) assert.equal(at, undefined, `${hex(end)} after ${fn.name}`);
    }
    const entry = syms.byName('entry_label')!;
    assert.equal(entry.type, 'notype');
    assert.equal(syms.lookup(entry.address)!.name, '_start');
    // Objects: the global data and the .bss variable.
    assert.equal(syms.lookup(syms.byName('sink')!.address + 2n)!.name, 'sink');
    assert.equal(syms.lookup(syms.byName('data')!.address + 15n)!.name, 'data');
    assert.equal(syms.byName('data')!.type, 'object');
    assert.equal(syms.byName('nonexistent'), undefined);
    assert.equal(syms.lookup(0n), undefined);
  });
}

test('a load offset moves every address; value keeps the file\'s', () => {
  const elf = buildDwarfGuest({ bits: 64, opt: 2, dwarf: 5, pie: true });
  const image = readFileSync(elf);
  const base = SymbolTable.fromElf(image, elf);
  const off = 0x5555_0000_0000n;
  const moved = SymbolTable.fromElf(image, elf, off);
  const g = base.byName('g')!;
  const mg = moved.byName('g')!;
  assert.equal(mg.address, g.address + off);
  assert.equal(mg.value, g.value);
  assert.deepEqual(moved.lookup(g.address + off + 3n), { name: 'g', offset: 3n, address: g.address + off, size: g.size });
  assert.equal(moved.lookup(g.address + 3n), undefined);
  assert.deepEqual(moved.functions().map((s) => s.address - off), base.functions().map((s) => s.address));
  // 32-bit files wrap at 4 GiB.
  const e32 = buildDwarfGuest({ bits: 32, opt: 0, dwarf: 4 });
  const high = SymbolTable.fromElf(e32, undefined, 0xfff0_0000n);
  assert.equal(high.byName('main')!.address, (SymbolTable.fromElf(e32).byName('main')!.address + 0xfff0_0000n) & 0xffffffffn);
});

test('a Linux kernel\'s per-CPU symbols are names, never what an address resolves to', () => {
  const start = 0xffffffff_81000000;
  const t = new SymbolTable([
    sym('__per_cpu_start', 0, 0, 'notype'),
    sym('fixed_percpu_data', 0, 0x28, 'object'),
    sym('cpu_tss_rw', 0x6000, 0x3000, 'object'),
    sym('__per_cpu_end', 0x2c000, 0, 'notype'),
    sym('_text', start, 0, 'notype'),
    sym('start_kernel', start + 0x1000, 0x800),
  ], 0x1e00000n);
  assert.equal(t.lookup(0x8000n), undefined);
  assert.equal(t.lookup(0x1e08000n), undefined);
  assert.equal(t.lookup(0x2d000n), undefined);
  assert.equal(t.byName('cpu_tss_rw')!.value, 0x6000n);
  assert.equal(t.lookup(BigInt(start) + 0x1e01010n)!.name, 'start_kernel');
  // Without __per_cpu_start at 0 (not a kernel's per-CPU layout), low symbols are addresses.
  assert.equal(new SymbolTable([sym('boot', 0x7c00, 0x200), sym('__per_cpu_end', 0x9000, 0, 'notype')]).lookup(0x7c10n)!.name, 'boot');
});

function sym(name: string, value: number, size: number, type: ElfSymbol['type'] = 'func', bind: ElfSymbol['bind'] = 'global', shndx = 1): ElfSymbol {
  return { name, value: BigInt(value), size: BigInt(size), type, bind, shndx };
}

test('preference rules on a synthetic symbol list', () => {
  const t = new SymbolTable([
    sym('', 0, 0, 'section', 'local'),
    sym('file.c', 0, 0, 'file', 'local', 0xfff1),
    sym('.L5', 0x1008, 0, 'notype', 'local'),
    sym('.Ltmp', 0x1010, 0, 'notype', 'local'),
    sym('alias', 0x1000, 0, 'notype'),
    sym('func', 0x1000, 0x20),
    sym('weakfunc', 0x1000, 0x20, 'func', 'weak'),
    sym('label', 0x1040, 0, 'notype'),
    sym('label', 0x1040, 0, 'notype', 'local'),
    sym('next', 0x1080, 0x10, 'object'),
    sym('outer', 0x2000, 0x100),
    sym('inner', 0x2010, 0x10),
    sym('CONSTANT', 0x1018, 0, 'notype', 'global', 0xfff1),
    sym('common', 0x10, 4, 'object', 'global', 0xfff2),
    sym('undef', 0, 0, 'func', 'global', 0),
    sym('dup', 0x3000, 4, 'func', 'local'),
    sym('dup', 0x3010, 4, 'func', 'global'),
  ]);
  // The global FUNC wins at its address, over a weak one and an untyped alias.
  assert.deepEqual(t.lookup(0x1000n), { name: 'func', offset: 0n, address: 0x1000n, size: 0x20n });
  // .L labels are not symbols; absolute ones are not addresses.
  assert.equal(t.lookup(0x1018n)!.name, 'func');
  assert.equal(t.byName('.L5'), undefined);
  assert.equal(t.byName('CONSTANT')!.address, 0x1018n);
  assert.equal(t.byName('common')!.type, 'object');
  assert.equal(t.lookup(0x12n), undefined);
  assert.equal(t.byName('undef'), undefined);
  assert.equal(t.byName('file.c'), undefined);
  // Past a sized symbol and before the next: nothing.
  assert.equal(t.lookup(0x1020n), undefined);
  // A symbol without a size runs to the next symbol.
  assert.deepEqual(t.lookup(0x107fn), { name: 'label', offset: 0x3fn, address: 0x1040n, size: 0n });
  assert.equal(t.lookup(0x1080n)!.name, 'next');
  assert.equal(t.lookup(0x1090n), undefined);
  // Nested sized symbols: the nearest one that holds the address.
  assert.equal(t.lookup(0x2015n)!.name, 'inner');
  assert.deepEqual(t.lookup(0x2020n), { name: 'outer', offset: 0x20n, address: 0x2000n, size: 0x100n });
  // byName: the global definition over a local one.
  assert.equal(t.byName('dup')!.address, 0x3010n);
  assert.equal(t.byName('label')!.bind, 'global');
  assert.deepEqual(t.functions().map((s) => s.name), ['func', 'weakfunc', 'outer', 'inner', 'dup', 'dup']);
  assert.equal(new SymbolTable([]).lookup(0x1000n), undefined);
});

test('bad files: a GuestError naming the file', () => {
  assert.throws(() => SymbolTable.fromElf(Buffer.from('not an elf at all'), 'junk.bin'), (e: Error) => e instanceof GuestError && /junk\.bin/.test(e.message));
  const elf = readFileSync(buildDwarfGuest({ bits: 64, opt: 0, dwarf: 5 }));
  assert.throws(() => SymbolTable.fromElf(elf.subarray(0, 200), 'cut.elf'), (e: Error) => e instanceof GuestError && /cut\.elf/.test(e.message));
});

for (const f of FLAVOURS) {
  test(`${flavourName(f)}: opened by path (read a section at a time), the same sections and symbols as from its bytes`, () => {
    const path = buildDwarfGuest(f);
    const bytes = ElfImage.open(readFileSync(path), path);
    const byPath = ElfImage.open(path);
    assert.deepEqual(byPath.elf.header, bytes.elf.header);
    assert.deepEqual(byPath.elf.sections, bytes.elf.sections);
    assert.deepEqual(byPath.elf.symbols, bytes.elf.symbols);
    for (const s of bytes.elf.sections) assert.deepEqual(byPath.section(s.name), bytes.section(s.name), s.name);
    assert.deepEqual(SymbolTable.fromElf(path).functions(), SymbolTable.fromElf(readFileSync(path), path).functions());
  });
}

test('opened by path: a file cut short is a GuestError naming it', () => {
  const cut = join(DWARF_BUILD_DIR, `cut.${process.pid}.elf`);
  writeFileSync(cut, readFileSync(buildDwarfGuest({ bits: 64, opt: 0, dwarf: 5 })).subarray(0, 200));
  try {
    assert.throws(() => ElfImage.open(cut), (e: Error) => e instanceof GuestError && e.message.includes(cut));
  } finally {
    rmSync(cut);
  }
});
