// Hostile input, bounded work: files made here to make the ELF, DWARF and CFI parsers do work out
// of proportion to their size (a string table without NULs, strings every attribute points into,
// line programs with unterminated names, overlapping abbreviation tables, attributes that take no
// space, nested remember_state). Each test asserts a count (bytes searched or decoded through an
// instrumented Buffer, the length of what comes out, an error naming the bound) and never a time:
// speed is measured under bench/ (bench/parse-bounds.ts).
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import assert from 'node:assert/strict';
import { GuestError } from '../src/errors.js';
import { MAX_NAME_LENGTH, parseElf } from '../src/symbols/elf-parse.js';
import { SymbolTable } from '../src/symbols/elf-symbols.js';
import { ElfImage } from '../src/symbols/elf-file.js';
import { DwarfError, MAX_STRING_LENGTH, stringAt } from '../src/symbols/dwarf/reader.js';
import { compileUnits, iterateDies, unitHeaders, MAX_ZERO_WIDTH_ATTRIBUTES, type DwarfSections } from '../src/symbols/dwarf/info.js';
import { LineTable } from '../src/symbols/dwarf/line.js';
import { CallFrameInfo, MAX_REMEMBERED_STATES, parseFrameSection } from '../src/symbols/dwarf/cfi.js';
import { DwarfVariables, MAX_TYPE_NESTING, typeName, typeSize, type CType as DwarfType } from '../src/symbols/dwarf/variables.js';
import { MAX_SPELL_STEPS } from '../src/symbols/dwarf/types.js';
import { formatExpression, MAX_FORMAT_NESTING } from '../src/symbols/dwarf/expr.js';
import { loadGuest } from '../src/vmm/loaders/detect.js';
import {
  abbrev, buildElf, countingBuffer, unit4, sleb, symbolTable, u16, u32, u64, uleb, withLength, SHT_PROGBITS, SHT_STRTAB, SHT_SYMTAB,
} from './fuzz/elf-builder.js';
import { FakeMemory } from './fuzz/fake-memory.js';

const MiB = 1 << 20;

/** An ELF64 executable of one byte of code whose .strtab is `strtab` and whose 2000 symbols' names start 7 bytes apart. */
function elfWithStrtab(strtab: Buffer, count: number, link = '.strtab'): Buffer {
  const syms = Array.from({ length: count }, (_, i) => ({ nameOff: (i * 7) % strtab.length, value: 0x100000n + BigInt(i) }));
  return buildElf({
    bits: 64,
    segments: [{ paddr: 0x100000n, data: Buffer.from([0xf4]) }],
    sections: [
      { name: '.text', type: SHT_PROGBITS, data: Buffer.from([0xf4]), addr: 0x100000n, flags: 6n },
      { name: '.symtab', type: SHT_SYMTAB, data: symbolTable(64, syms), link, entsize: 24, info: 1 },
      { name: '.strtab', type: SHT_STRTAB, data: strtab },
    ],
  });
}

const NUL_LESS_STRTAB = Buffer.alloc(MiB, 0x41);

test('ELF: a .strtab without NULs (1 MiB, 2000 symbols) gives names cut at MAX_NAME_LENGTH, each byte looked at a bounded number of times', () => {
  const { buf, counter } = countingBuffer(elfWithStrtab(NUL_LESS_STRTAB, 2000));
  const elf = parseElf(buf, 'hostile.elf');
  assert.equal(elf.symbols.length, 2000);
  for (const s of elf.symbols) assert.ok(s.name.length <= MAX_NAME_LENGTH, `${s.name.length} bytes`);
  // Cut, not dropped: the names are there, MAX_NAME_LENGTH bytes long.
  assert.equal(elf.symbols[0].name, 'A'.repeat(MAX_NAME_LENGTH));
  // Before the bound each name was the rest of the table: 2000 copies of up to 1 MiB (2 GiB).
  const bound = 2000 * MAX_NAME_LENGTH + 4096;
  assert.ok(counter.decoded <= bound, `${counter.decoded} bytes decoded, bound ${bound}`);
  assert.ok(counter.scanned <= bound, `${counter.scanned} bytes searched, bound ${bound}`);
  // The debugger's symbol table over them.
  const table = new SymbolTable(elf.symbols);
  assert.equal(table.byName('A'.repeat(MAX_NAME_LENGTH))?.value, 0x100000n);
});

test('ELF: names in a proper string table are read whole up to their NUL', () => {
  const strtab = Buffer.concat([Buffer.from('\0main\0'), Buffer.alloc(5000, 0x62), Buffer.from('\0')]);
  const image = buildElf({
    bits: 32,
    segments: [{ paddr: 0x100000n, data: Buffer.from([0xf4]) }],
    sections: [
      { name: '.text', type: SHT_PROGBITS, data: Buffer.from([0xf4]), addr: 0x100000n, flags: 6n },
      { name: '.symtab', type: SHT_SYMTAB, data: symbolTable(32, [{ nameOff: 1, value: 0x100000n }, { nameOff: 6, value: 0x100001n }]), link: '.strtab', entsize: 16, info: 1 },
      { name: '.strtab', type: SHT_STRTAB, data: strtab },
    ],
  });
  const elf = parseElf(image, 'ok.elf');
  assert.deepEqual(elf.sections.map((s) => s.name), ['', '.text', '.symtab', '.strtab', '.shstrtab']);
  assert.equal(elf.symbols[0].name, 'main');
  // A 5000-byte name is longer than MAX_NAME_LENGTH: cut there.
  assert.equal(elf.symbols[1].name, 'b'.repeat(MAX_NAME_LENGTH));
});

test('ELF loader: never reads the symbol table (the 2000-symbol file decodes only section names)', () => {
  const { buf, counter } = countingBuffer(elfWithStrtab(NUL_LESS_STRTAB, 2000));
  const mem = new FakeMemory(16 * MiB);
  const g = loadGuest(buf, mem.asGuestMemory, { fileName: 'hostile.elf', cmdline: '', modules: [] });
  assert.equal(g.format, 'elf64');
  assert.equal(mem.buf[0x100000], 0xf4);
  // .shstrtab is 43 bytes; the symbol names would be megabytes.
  assert.ok(counter.decoded < 100, `${counter.decoded} bytes decoded`);
  assert.ok(counter.scanned < 100, `${counter.scanned} bytes searched`);
});

test('ELF loader: a file whose symbol table is malformed still loads; reading its symbols is a GuestError', () => {
  // .symtab links to .text, which is not a string table.
  const image = elfWithStrtab(Buffer.from('\0x\0'), 3, '.text');
  const mem = new FakeMemory(16 * MiB);
  assert.equal(loadGuest(image, mem.asGuestMemory, { fileName: 'bad-symtab.elf', cmdline: '', modules: [] }).format, 'elf64');
  const elf = parseElf(image, 'bad-symtab.elf');
  assert.throws(() => elf.symbols, (e: unknown) => e instanceof GuestError && /not a string table/.test(e.message));
});

test('ELF: a compressed section inflates no further than its header says (64 MiB of zeros behind a ch_size of 16)', () => {
  const chdr = Buffer.alloc(24);
  chdr.writeUInt32LE(1, 0); // ELFCOMPRESS_ZLIB
  chdr.writeBigUInt64LE(16n, 8);
  const image = buildElf({
    segments: [{ paddr: 0x100000n, data: Buffer.from([0xf4]) }],
    sections: [{ name: '.debug_str', type: SHT_PROGBITS, flags: 0x800n, data: Buffer.concat([chdr, deflateSync(Buffer.alloc(64 * MiB))]) }],
  });
  const elf = ElfImage.open(image, 'bomb.elf');
  // Before the bound it inflated all 64 MiB, then compared sizes.
  assert.throws(() => elf.section('.debug_str'), (e: unknown) => e instanceof GuestError && /cannot decompress section \.debug_str/.test(e.message) && !/inflated to/.test(e.message));
});

// --- DWARF --------------------------------------------------------------------------------------

const DW_TAG_compile_unit = 0x11;
const DW_TAG_variable = 0x34;
const DW_AT_name = 0x03;
const DW_AT_external = 0x3f;
const DW_FORM_strp = 0x0e;
const DW_FORM_flag_present = 0x19;

test('DWARF: 2000 strp names into a 1 MiB .debug_str with one NUL at its end are cut at MAX_STRING_LENGTH', () => {
  const abbr = Buffer.concat([
    abbrev(1, DW_TAG_compile_unit, true, [[DW_AT_name, DW_FORM_strp]]),
    abbrev(2, DW_TAG_variable, false, [[DW_AT_name, DW_FORM_strp]]),
    Buffer.from([0]),
  ]);
  const dies = [Buffer.concat([uleb(1), u32(0)])];
  for (let i = 0; i < 2000; i++) dies.push(Buffer.concat([uleb(2), u32(i * 7)]));
  dies.push(Buffer.from([0]));
  const { buf: str, counter } = countingBuffer(Buffer.concat([Buffer.alloc(MiB, 0x41), Buffer.from([0])]));
  const sections: DwarfSections = { info: unit4(0, Buffer.concat(dies)), abbrev: abbr, str };
  const names: string[] = [];
  for (const d of iterateDies(sections, unitHeaders(sections)[0])) names.push(d.attrs.get(DW_AT_name)!.value as string);
  assert.equal(names.length, 2001);
  for (const n of names) assert.equal(n.length, MAX_STRING_LENGTH);
  // One search for the section's last NUL, then MAX_STRING_LENGTH bytes a string at most.
  const bound = str.length + 2001 * MAX_STRING_LENGTH;
  assert.ok(counter.decoded <= 2001 * MAX_STRING_LENGTH, `${counter.decoded} bytes decoded`);
  assert.ok(counter.scanned <= bound, `${counter.scanned} bytes searched, bound ${bound}`);
});

test('DWARF: strings at 2000 offsets of a .debug_str without NULs are errors found without searching the section each time', () => {
  const { buf: str, counter } = countingBuffer(Buffer.alloc(MiB, 0x41));
  for (let i = 0; i < 2000; i++) {
    assert.throws(() => stringAt(str, '.debug_str', i * 7), (e: unknown) => e instanceof DwarfError && /unterminated/.test(e.message));
  }
  assert.ok(counter.scanned <= 2 * str.length, `${counter.scanned} bytes searched for ${str.length}`);
  assert.equal(counter.decoded, 0);
});

test('DWARF: a string read twice is decoded once', () => {
  const { buf: str, counter } = countingBuffer(Buffer.from('\0hello\0'));
  assert.equal(stringAt(str, '.debug_str', 1), 'hello');
  assert.equal(stringAt(str, '.debug_str', 1), 'hello');
  assert.equal(stringAt(str, '.debug_str', 0), '');
  assert.equal(counter.decoded, 5);
});

/** A version 4 line program with empty directory and file tables and this program text. */
function lineProgram4(program: Buffer): Buffer {
  const afterHeaderLength = Buffer.concat([
    Buffer.from([1, 1, 1, 0xfb, 14, 13]), // min_inst, max_ops, default_is_stmt, line_base -5, line_range, opcode_base
    Buffer.from([0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1]), // standard_opcode_lengths
    Buffer.from([0]), // no include directories
    Buffer.from([0]), // no files
  ]);
  return withLength(Buffer.concat([u16(4), u32(afterHeaderLength.length), afterHeaderLength, program]));
}

test('DWARF line: 2000 programs with an unterminated DW_LNE_define_file name: each search stops at its program\'s end', () => {
  // (Headers hold NUL bytes, so an unbounded search stopped at the next program's header
  // anyway; the bound makes that a property of the reader rather than of the data.)
  const name = Buffer.alloc(400, 0x41);
  const program = Buffer.concat([Buffer.from([0]), uleb(1 + name.length), Buffer.from([3]), name]);
  const one = lineProgram4(program);
  const { buf: line, counter } = countingBuffer(Buffer.concat([...Array(2000).fill(one), Buffer.from([0])]));
  const table = LineTable.fromSections({ line });
  assert.equal(table.problems.length, 2000);
  assert.match(table.problems[0], /unterminated file name/);
  assert.ok(counter.scanned <= 2000 * (name.length + 8), `${counter.scanned} bytes searched in ${line.length}`);
});

test('DWARF abbreviations: units whose tables overlap end in a DwarfError once 4x the section has been read', () => {
  // 2000 declarations and no terminating 0 until the end: the table at the j-th declaration's
  // offset is the 2000 - j declarations from there on.
  const decls: Buffer[] = [];
  const offsets: number[] = [];
  let off = 0;
  for (let j = 0; j < 2000; j++) {
    const d = abbrev(j + 1, DW_TAG_variable, false, [[DW_AT_external, DW_FORM_flag_present]]);
    offsets.push(off);
    decls.push(d);
    off += d.length;
  }
  const abbr = Buffer.concat([...decls, Buffer.from([0])]);
  const info = Buffer.concat(offsets.map((o, j) => unit4(o, uleb(j + 1))));
  const sections: DwarfSections = { info, abbrev: abbr };
  assert.equal(unitHeaders(sections).length, 2000);
  const overlap = (e: unknown): boolean => e instanceof DwarfError && /tables overlap/.test(e.message);
  // Reading the units' DIEs reads each unit's table whole.
  assert.throws(() => {
    for (const h of unitHeaders(sections)) [...iterateDies(sections, h)];
  }, overlap);
  // A unit DIE alone needs its own declaration only, here the first of its table...
  assert.equal(compileUnits({ info, abbrev: Buffer.from(abbr) }).length, 2000);
  // ...and where it is the last, the search past the others is bounded the same way.
  const last: DwarfSections = { info: Buffer.concat(offsets.map((o) => unit4(o, uleb(2000)))), abbrev: Buffer.from(abbr) };
  assert.throws(() => compileUnits(last), overlap);
  // Units sharing one table (what compilers and linkers make) read it once.
  const shared: DwarfSections = { info: Buffer.concat(offsets.map(() => unit4(0, uleb(1)))), abbrev: abbr };
  assert.equal(compileUnits(shared).length, 2000);
});

test(`DWARF abbreviations: more than ${MAX_ZERO_WIDTH_ATTRIBUTES} attributes that take no space are a DwarfError`, () => {
  const attrs: [number, number][] = Array.from({ length: 1000 }, (_, i) => [0x2000 + i, DW_FORM_flag_present]);
  const abbr = Buffer.concat([abbrev(1, DW_TAG_compile_unit, true, []), abbrev(2, DW_TAG_variable, false, attrs), Buffer.from([0])]);
  // 1000 one-byte DIEs, each standing for 1000 attributes: a million decoded from 1 KiB.
  const sections: DwarfSections = { info: unit4(0, Buffer.concat([uleb(1), Buffer.alloc(1000, 2), Buffer.from([0])])), abbrev: abbr };
  assert.throws(() => [...iterateDies(sections, unitHeaders(sections)[0])],
    (e: unknown) => e instanceof DwarfError && /attributes that take no space/.test(e.message));
  // At the bound it is read.
  const ok = Buffer.concat([abbrev(1, DW_TAG_compile_unit, false, attrs.slice(0, MAX_ZERO_WIDTH_ATTRIBUTES)), Buffer.from([0])]);
  const okSections: DwarfSections = { info: unit4(0, uleb(1)), abbrev: ok };
  assert.equal([...iterateDies(okSections, unitHeaders(okSections)[0])][0].attrs.size, MAX_ZERO_WIDTH_ATTRIBUTES);
});

/**
 * An ELF whose one unit declares global `v` (at 0x6000) of type `chain[0]`, `chain[i]` being a
 * DIE of tag `tag` whose DW_AT_type is `chain[i + 1]` (`length` of them), the last naming int.
 */
function typeChainElf(tag: number, length: number): Buffer {
  const abbr = Buffer.concat([
    abbrev(1, DW_TAG_compile_unit, true, []),
    abbrev(2, tag, false, [[DW_AT_name, 0x08], [0x49, 0x13]]), // name string, type ref4
    abbrev(3, DW_TAG_variable, false, [[DW_AT_name, 0x08], [0x49, 0x13], [DW_AT_external, DW_FORM_flag_present], [0x02, 0x18]]),
    abbrev(4, 0x24, false, [[DW_AT_name, 0x08], [0x0b, 0x0b], [0x3e, 0x0b]]), // base type: byte_size, encoding
    Buffer.from([0]),
  ]);
  const variable = (ref: number): Buffer => Buffer.concat([uleb(3), Buffer.from('v\0'), u32(ref), uleb(9), Buffer.from([0x03]), u64(0x6000n)]);
  const link = 1 + 2 + 4;
  let off = 11 + 1 + variable(0).length;
  const dies = [uleb(1), variable(off)];
  for (let i = 0; i < length; i++) {
    off += link;
    dies.push(Buffer.concat([uleb(2), Buffer.from('t\0'), u32(off)]));
  }
  dies.push(Buffer.concat([uleb(4), Buffer.from('int\0'), Buffer.from([4, 5])]), Buffer.from([0]));
  return buildElf({
    segments: [{ paddr: 0x100000n, data: Buffer.from([0xf4]) }],
    sections: [{ name: '.debug_info', type: SHT_PROGBITS, data: unit4(0, Buffer.concat(dies)) }, { name: '.debug_abbrev', type: SHT_PROGBITS, data: abbr }],
  });
}

test(`DWARF types: a chain of 20000 typedefs ends in an unknown type after ${MAX_TYPE_NESTING}, not a stack overflow`, () => {
  const vars = DwarfVariables.fromElf(typeChainElf(0x16, 20000), 'typedefs.elf');
  const [v] = vars.globals();
  assert.equal(v.name, 'v');
  let t = v.type;
  let depth = 0;
  while (t.kind === 'typedef' && t.target) {
    t = t.target;
    depth++;
  }
  assert.equal(depth, MAX_TYPE_NESTING);
  assert.deepEqual(t, { kind: 'unknown', name: '<type nested too deeply>' });
  // A chain within the bound is read to its end.
  let u = DwarfVariables.fromElf(typeChainElf(0x16, MAX_TYPE_NESTING - 2), 'short.elf').globals()[0].type;
  while (u.kind === 'typedef' && u.target) u = u.target;
  assert.equal(typeName(u), 'int');
});

test('DWARF types: a chain of 20000 pointers is built as it is read, one level at a time', () => {
  const [v] = DwarfVariables.fromElf(typeChainElf(0x0f, 20000), 'pointers.elf').globals();
  assert.equal(typeSize(v.type), 8);
  assert.equal(typeName(v.type), '...'); // spelled 64 levels deep at most
  let t = v.type;
  let depth = 0;
  while (t.kind === 'pointer' && t.target) {
    t = t.target;
    depth++;
  }
  assert.equal(depth, 20000);
  assert.equal(typeName(t), 'int');
});

test('DWARF scopes: an inlined scope of 3000 variables is ordered without a linear search per comparison', () => {
  const DW_FORM_addr = 0x01;
  const DW_FORM_data8 = 0x07;
  const DW_FORM_string = 0x08;
  const abbr = Buffer.concat([
    abbrev(1, DW_TAG_compile_unit, true, [[0x11, DW_FORM_addr], [0x12, DW_FORM_data8]]),
    abbrev(2, 0x2e, true, [[DW_AT_name, DW_FORM_string], [0x20, 0x0b]]), // abstract subprogram, DW_AT_inline
    abbrev(3, 0x05, false, [[DW_AT_name, DW_FORM_string]]), // formal parameter
    abbrev(4, 0x2e, true, [[DW_AT_name, DW_FORM_string], [0x11, DW_FORM_addr], [0x12, DW_FORM_data8]]),
    abbrev(5, 0x1d, true, [[0x31, 0x13], [0x11, DW_FORM_addr], [0x12, DW_FORM_data8]]), // inlined_subroutine
    abbrev(6, DW_TAG_variable, false, [[DW_AT_name, DW_FORM_string], [0x02, 0x18]]),
    Buffer.from([0]),
  ]);
  const cu = Buffer.concat([uleb(1), u64(0x1000n), u64(0x100n)]);
  const abstractAt = 11 + cu.length;
  const abs = Buffer.concat([uleb(2), Buffer.from('f\0'), Buffer.from([1]), uleb(3), Buffer.from('p\0'), Buffer.from([0])]);
  const vars = Array.from({ length: 3000 }, (_, i) => Buffer.concat([uleb(6), Buffer.from(`v${i}\0`), uleb(1), Buffer.from([0x50])]));
  const dies = Buffer.concat([
    cu, abs,
    uleb(4), Buffer.from('g\0'), u64(0x1000n), u64(0x100n),
    uleb(5), u32(abstractAt), u64(0x1010n), u64(0x10n), ...vars, Buffer.from([0]),
    Buffer.from([0, 0]),
  ]);
  const image = buildElf({
    segments: [{ paddr: 0x100000n, data: Buffer.from([0xf4]) }],
    sections: [{ name: '.debug_info', type: SHT_PROGBITS, data: unit4(0, dies) }, { name: '.debug_abbrev', type: SHT_PROGBITS, data: abbr }],
  });
  const dv = DwarfVariables.fromElf(image, 'scope.elf');
  // Count the linear searches of long arrays while the frames are read.
  const indexOf = Array.prototype.indexOf;
  let searches = 0;
  Array.prototype.indexOf = function (this: unknown[], ...args: Parameters<typeof indexOf>) {
    if (this.length > 1000) searches++;
    return indexOf.apply(this, args);
  };
  let frames;
  try {
    frames = dv.framesAt(0x1018n);
  } finally {
    Array.prototype.indexOf = indexOf;
  }
  const inlined = frames.find((f) => f.inlined)!;
  assert.equal(inlined.name, 'f');
  assert.equal(inlined.variables.length, 3001);
  assert.equal(inlined.variables[0].name, 'p', 'the abstract parameter first, in declaration order');
  assert.ok(searches <= 10, `${searches} searches of arrays over 1000 long`);
});

test('DWARF types: spelling 30 levels of function types with two function-pointer parameters each takes bounded work', () => {
  // 2^30 paths: each level's two parameters point to the next level's function type.
  let t: DwarfType = { kind: 'base', name: 'int', size: 4, encoding: 'signed' };
  for (let i = 0; i < 30; i++) {
    const p: DwarfType = { kind: 'pointer', size: 8, target: t };
    t = { kind: 'function', returns: p, params: [p, p] };
  }
  const name = typeName({ kind: 'pointer', size: 8, target: t });
  assert.ok(name.length <= 20 * MAX_SPELL_STEPS, `${name.length} characters`);
  // An ordinary function pointer is spelled whole.
  const int: DwarfType = { kind: 'base', name: 'int', size: 4, encoding: 'signed' };
  assert.equal(typeName({ kind: 'pointer', size: 8, target: { kind: 'function', returns: int, params: [int, { kind: 'pointer', size: 8, target: int }] } }), 'int (*)(int, int *)');
});

test('DWARF location lists: 2000 variables on one list of 5000 entries read it once', () => {
  const abbr = Buffer.concat([
    abbrev(1, DW_TAG_compile_unit, true, []),
    abbrev(2, DW_TAG_variable, false, [[DW_AT_name, 0x08], [DW_AT_external, DW_FORM_flag_present], [0x02, 0x17]]), // location: sec_offset
    Buffer.from([0]),
  ]);
  const dies = [uleb(1), ...Array.from({ length: 2000 }, (_, i) => Buffer.concat([uleb(2), Buffer.from(`g${i}\0`), u32(0)])), Buffer.from([0])];
  const entries = Array.from({ length: 5000 }, (_, i) => Buffer.concat([u64(BigInt(0x1000 + 4 * i)), u64(BigInt(0x1004 + 4 * i)), u16(1), Buffer.from([0x50])]));
  const loc = Buffer.concat([...entries, u64(0n), u64(0n)]);
  const image = buildElf({
    segments: [{ paddr: 0x100000n, data: Buffer.from([0xf4]) }],
    sections: [
      { name: '.debug_info', type: SHT_PROGBITS, data: unit4(0, Buffer.concat(dies)) },
      { name: '.debug_abbrev', type: SHT_PROGBITS, data: abbr },
      { name: '.debug_loc', type: SHT_PROGBITS, data: loc },
    ],
  });
  // Count the one-byte expressions taken out of the file (one per list entry read).
  let taken = 0;
  const proto = Object.create(Buffer.prototype) as Buffer;
  proto.subarray = function (this: Buffer, start?: number, end?: number): Buffer {
    const v = Object.setPrototypeOf(Uint8Array.prototype.subarray.call(this, start, end), proto) as Buffer;
    if (v.length === 1) taken++;
    return v;
  };
  const vars = DwarfVariables.fromElf(Object.setPrototypeOf(Buffer.from(image), proto) as Buffer, 'lists.elf').globals();
  assert.equal(vars.length, 2000);
  for (const v of vars) assert.equal(v.describeLocation(0x1000n + 4n * 4999n), 'DW_OP_reg0 (rax)');
  assert.ok(taken <= 2 * 5000, `${taken} expressions read for 5000 entries`);
});

test('DWARF range lists: a function and the call inlined in it that share one list read it once', () => {
  const DW_FORM_string = 0x08;
  const DW_FORM_sec_offset = 0x17;
  const abbr = Buffer.concat([
    abbrev(1, DW_TAG_compile_unit, true, [[0x11, 0x01], [0x55, DW_FORM_sec_offset]]), // low_pc 0 (the base), ranges
    abbrev(2, 0x2e, true, [[DW_AT_name, DW_FORM_string], [0x20, 0x0b]]),
    abbrev(4, 0x2e, true, [[DW_AT_name, DW_FORM_string], [0x55, DW_FORM_sec_offset]]),
    abbrev(5, 0x1d, true, [[0x31, 0x13], [0x55, DW_FORM_sec_offset]]),
    Buffer.from([0]),
  ]);
  const cu = Buffer.concat([uleb(1), u64(0n), u32(0)]);
  const abs = Buffer.concat([uleb(2), Buffer.from('f\0'), Buffer.from([1, 0])]);
  const dies = Buffer.concat([cu, abs, uleb(4), Buffer.from('g\0'), u32(0), uleb(5), u32(11 + cu.length), u32(0), Buffer.from([0, 0, 0])]);
  const ranges = Buffer.concat([...Array.from({ length: 1000 }, (_, i) => Buffer.concat([u64(BigInt(0x1000 + 8 * i)), u64(BigInt(0x1004 + 8 * i))])), u64(0n), u64(0n)]);
  const image = buildElf({
    segments: [{ paddr: 0x100000n, data: Buffer.from([0xf4]) }],
    sections: [
      { name: '.debug_info', type: SHT_PROGBITS, data: unit4(0, dies) },
      { name: '.debug_abbrev', type: SHT_PROGBITS, data: abbr },
      { name: '.debug_ranges', type: SHT_PROGBITS, data: ranges },
    ],
  });
  const frames = DwarfVariables.fromElf(image, 'ranges.elf').framesAt(0x1000n + 8n * 999n);
  assert.deepEqual(frames.map((f) => f.name), ['f', 'g']);
  assert.equal(frames[0].ranges.length, 1000);
  assert.equal(frames[0].ranges, frames[1].ranges, 'one read of the list for the unit, the function and the call');
});

/** DW_OP_reg0 inside `depth` DW_OP_entry_value operations, one inside the other. */
function nestedEntryValues(depth: number): Buffer {
  let e = Buffer.from([0x50]);
  for (let i = 0; i < depth; i++) e = Buffer.concat([Buffer.from([0xa3]), uleb(e.length), e]);
  return e;
}

test(`DWARF expressions: 6000 nested DW_OP_entry_value are spelled ${MAX_FORMAT_NESTING} deep, then "..."`, () => {
  const text = formatExpression(nestedEntryValues(6000), 8, 64);
  assert.equal(text, `${'DW_OP_entry_value: ('.repeat(MAX_FORMAT_NESTING + 1)}...${')'.repeat(MAX_FORMAT_NESTING + 1)}`);
  // Compilers nest one: spelled in full.
  assert.equal(formatExpression(nestedEntryValues(1), 8, 64), 'DW_OP_entry_value: (DW_OP_reg0 (rax))');
});

// --- CFI ----------------------------------------------------------------------------------------

/** .debug_frame: a CIE (code align 1, data align -8, RA 16, CFA = rsp + 8) and one FDE over [0x1000, 0x1100). */
function debugFrame(instructions: Buffer, augmentation = ''): Buffer {
  const cie = withLength(Buffer.concat([
    u32(0xffffffff), Buffer.from([1]), Buffer.from(augmentation + '\0', 'latin1'), uleb(1), sleb(-8), Buffer.from([16]),
    Buffer.from([0x0c, 7, 8]),
  ]));
  const fde = withLength(Buffer.concat([u32(0), u64(0x1000n), u64(0x100n), instructions]));
  return Buffer.concat([cie, fde]);
}

function cfiOf(instructions: Buffer): { cfi: CallFrameInfo; problems: string[] } {
  const problems: string[] = [];
  const fdes = parseFrameSection(debugFrame(instructions), false, 8, { section: 0n }, 0n, problems);
  return { cfi: new CallFrameInfo(fdes, 64, problems), problems };
}

test(`CFI: DW_CFA_remember_state nested more than ${MAX_REMEMBERED_STATES} deep is a DwarfError, not a copy of every rule per level`, () => {
  // Rules for 200 registers, then 5000 remember_states: 5000 copies of 200 rules without a bound.
  const rules: Buffer[] = [];
  for (let reg = 0; reg < 200; reg++) rules.push(Buffer.concat([Buffer.from([0x05]), uleb(reg), uleb(1)]));
  const deep = cfiOf(Buffer.concat([...rules, Buffer.alloc(5000, 0x0a), Buffer.from([0x41])]));
  assert.equal(deep.cfi.rowAt(0x1080n), undefined);
  const fde = deep.cfi.findFde(0x1080n)!;
  assert.throws(() => deep.cfi.table(fde), (e: unknown) => e instanceof DwarfError && /nested more than/.test(e.message));
  // At the bound the row is there, with every rule.
  const ok = cfiOf(Buffer.concat([...rules, Buffer.alloc(MAX_REMEMBERED_STATES, 0x0a), Buffer.from([0x41])]));
  assert.equal(ok.cfi.rowAt(0x1080n)?.regs.size, 200);
});

test('CFI: a register number past the last DWARF register is a DwarfError', () => {
  const { cfi } = cfiOf(Buffer.concat([Buffer.from([0x05]), uleb(1_000_000), uleb(1), Buffer.from([0x41])]));
  assert.equal(cfi.rowAt(0x1080n), undefined);
  assert.throws(() => cfi.table(cfi.findFde(0x1080n)!), (e: unknown) => e instanceof DwarfError && /beyond the last DWARF register/.test(e.message));
});

test('CFI: a 100 KiB augmentation string is refused after 64 bytes; the problem names no more of it', () => {
  const problems: string[] = [];
  const { buf, counter } = countingBuffer(debugFrame(Buffer.from([0x41]), 'A'.repeat(100 * 1024)));
  assert.deepEqual(parseFrameSection(buf, false, 8, { section: 0n }, 0n, problems), []);
  assert.equal(problems.length, 1);
  assert.match(problems[0], /augmentation at offset 0x9 is longer than 64 bytes/);
  assert.ok(counter.scanned <= 65 && counter.decoded === 0, `${counter.scanned} searched, ${counter.decoded} decoded`);
});

test('CFI: 1000 FDEs naming CIEs inside one run of 100 KiB without NULs: each CIE is refused at its length, no augmentation is copied', () => {
  // 1000 CIE headers back to back (length 0x01010101, id, version 1: no NUL byte among them),
  // then 100 KiB of 'A': read from any of them, the augmentation string runs to the section's end.
  const header = Buffer.concat([u32(0x01010101), u32(0xffffffff), Buffer.from([1])]);
  const fdes: Buffer[] = [];
  const fdeSize = 4 + 4 + 8 + 8;
  const tail = Buffer.concat([...Array(1000).fill(header), Buffer.alloc(100 * 1024, 0x41)]);
  for (let j = 0; j < 1000; j++) fdes.push(withLength(Buffer.concat([u32(1000 * fdeSize + j * header.length), u64(0x1000n), u64(0x100n)])));
  const { buf, counter } = countingBuffer(Buffer.concat([...fdes, tail]));
  const problems: string[] = [];
  assert.deepEqual(parseFrameSection(buf, false, 8, { section: 0n }, 0n, problems), []);
  assert.ok(problems.some((p) => /CIE at 0x5dc0 \(16843009 bytes\) runs past the end of the section/.test(p)), problems.slice(0, 3).join('\n'));
  const text = problems.reduce((n, p) => n + p.length, 0);
  assert.ok(text <= 200 * problems.length, `${text} characters of problems`);
  assert.ok(counter.scanned + counter.decoded <= buf.length, `${counter.scanned} searched, ${counter.decoded} decoded`);
});
