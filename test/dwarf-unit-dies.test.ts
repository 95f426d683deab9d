// A unit's DIEs read where asked (src/symbols/dwarf/unit-dies.ts): finding the function at a pc
// reads the unit's top level and that function, not the rest of the unit; reading children level
// by level stays linear in the unit however deep it nests. Hand-made DWARF 4 (no KVM needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unitHeaders, type DwarfSections } from '../src/symbols/dwarf/info.js';
import { UnitDies, type DieEntry } from '../src/symbols/dwarf/unit-dies.js';
import { DwarfVariables, typeName } from '../src/symbols/dwarf/variables.js';
import { abbrev, buildElf, u32, u64, uleb, unit4, withLength, SHT_PROGBITS } from './fuzz/elf-builder.js';

const DW_TAG_compile_unit = 0x11;
const DW_TAG_structure_type = 0x13;
const DW_TAG_member = 0x0d;
const DW_TAG_base_type = 0x24;
const DW_TAG_subprogram = 0x2e;
const DW_TAG_variable = 0x34;
const DW_TAG_lexical_block = 0x0b;
const DW_AT_sibling = 0x01;
const DW_AT_location = 0x02;
const DW_AT_name = 0x03;
const DW_AT_byte_size = 0x0b;
const DW_AT_declaration = 0x3c;
const DW_AT_low_pc = 0x11;
const DW_AT_high_pc = 0x12;
const DW_AT_data_member_location = 0x38;
const DW_AT_encoding = 0x3e;
const DW_AT_external = 0x3f;
const DW_AT_frame_base = 0x40;
const DW_AT_type = 0x49;
const DW_FORM_addr = 0x01;
const DW_FORM_data8 = 0x07;
const DW_FORM_string = 0x08;
const DW_FORM_data1 = 0x0b;
const DW_FORM_strp = 0x0e;
const DW_FORM_ref4 = 0x13;
const DW_FORM_exprloc = 0x18;
const DW_FORM_flag_present = 0x19;

function elf(info: Buffer, abbr: Buffer): Buffer {
  return buildElf({
    segments: [{ paddr: 0x100000n, data: Buffer.from([0xf4]) }],
    sections: [{ name: '.debug_info', type: SHT_PROGBITS, data: info }, { name: '.debug_abbrev', type: SHT_PROGBITS, data: abbr }],
  });
}

test('the function at a pc is found without reading the rest of its unit: a corrupt struct member or prototype elsewhere costs only itself', () => {
  const abbr = Buffer.concat([
    abbrev(1, DW_TAG_compile_unit, true, [[DW_AT_low_pc, DW_FORM_addr], [DW_AT_high_pc, DW_FORM_data8]]),
    abbrev(2, DW_TAG_structure_type, true, [[DW_AT_name, DW_FORM_string], [DW_AT_byte_size, DW_FORM_data1], [DW_AT_sibling, DW_FORM_ref4]]),
    abbrev(3, DW_TAG_member, false, [[DW_AT_name, DW_FORM_string], [DW_AT_type, DW_FORM_ref4], [DW_AT_data_member_location, DW_FORM_data1]]),
    abbrev(4, DW_TAG_base_type, false, [[DW_AT_name, DW_FORM_string], [DW_AT_byte_size, DW_FORM_data1], [DW_AT_encoding, DW_FORM_data1]]),
    abbrev(5, DW_TAG_subprogram, true, [[DW_AT_name, DW_FORM_string], [DW_AT_low_pc, DW_FORM_addr], [DW_AT_high_pc, DW_FORM_data8], [DW_AT_frame_base, DW_FORM_exprloc]]),
    abbrev(6, DW_TAG_variable, false, [[DW_AT_name, DW_FORM_string], [DW_AT_type, DW_FORM_ref4], [DW_AT_location, DW_FORM_exprloc]]),
    abbrev(7, DW_TAG_variable, false, [[DW_AT_name, DW_FORM_string], [DW_AT_type, DW_FORM_ref4], [DW_AT_external, DW_FORM_flag_present], [DW_AT_location, DW_FORM_exprloc]]),
    abbrev(8, DW_TAG_subprogram, false, [[DW_AT_name, DW_FORM_strp], [DW_AT_declaration, DW_FORM_flag_present]]),
    Buffer.from([0]),
  ]);
  const STRUCT = 28;
  const INT = 46;
  const dies = Buffer.concat([
    uleb(1), u64(0x1000n), u64(0x100n), // 11: the unit, [0x1000, 0x1100)
    uleb(2), Buffer.from('S\0'), Buffer.from([8]), u32(INT), // 28: struct S, its sibling at 46
    uleb(3), Buffer.from('a\0'), u32(INT), Buffer.from([0]), // 36: member a
    uleb(99), Buffer.from([0]), // 44: a DIE of no abbreviation, then the end of S's members
    uleb(4), Buffer.from('int\0'), Buffer.from([4, 5]), // 46: int
    uleb(8), u32(0x1000), // 53: a prototype named in a .debug_str the file lacks
    uleb(5), Buffer.from('f\0'), u64(0x1000n), u64(0x10n), uleb(1), Buffer.from([0x9c]), // 58: f, frame base the CFA
    uleb(6), Buffer.from('x\0'), u32(INT), uleb(2), Buffer.from([0x91, 0x78]), // 79: x at fbreg -8
    Buffer.from([0]), // end of f
    uleb(7), Buffer.from('g\0'), u32(STRUCT), uleb(9), Buffer.from([0x03]), u64(0x6000n), // g, a struct S at 0x6000
    Buffer.from([0]),
  ]);
  const dv = DwarfVariables.fromElf(elf(unit4(0, dies), abbr), 'members.elf', 0n, undefined, { indexCacheDir: null });
  const [frame] = dv.framesAt(0x1008n);
  assert.equal(frame?.name, 'f');
  assert.deepEqual(frame.variables.map((v) => `${typeName(v.type)} ${v.name}`), ['int x']);
  assert.deepEqual(dv.problems, [], 'nothing of S, nor the prototype\'s name, was read to find f');

  const [g] = dv.globals();
  assert.equal(g.name, 'g');
  assert.equal(g.type.kind, 'struct');
  assert.deepEqual(g.type.kind === 'struct' ? g.type.members.map((m) => m.name) : [], ['a'], 'the members before the corrupt one');
  assert.equal(dv.problems.length, 1);
  assert.match(dv.problems[0], /DIE at 0x2c uses unknown abbreviation 99/);
});

test('reading 3000 nested blocks level by level passes over each DIE a bounded number of times', () => {
  const depth = 3000;
  const abbr = Buffer.concat([
    abbrev(1, DW_TAG_compile_unit, true, []),
    abbrev(2, DW_TAG_subprogram, true, [[DW_AT_name, DW_FORM_string]]),
    abbrev(3, DW_TAG_lexical_block, true, []),
    abbrev(4, DW_TAG_variable, false, [[DW_AT_name, DW_FORM_string]]),
    Buffer.from([0]),
  ]);
  // f { { { ... v ... } } }, then w after f: no DW_AT_sibling anywhere, so every level's
  // children are found by reading past the levels below.
  const dies = Buffer.concat([
    uleb(1), uleb(2), Buffer.from('f\0'),
    Buffer.alloc(depth, 3), uleb(4), Buffer.from('v\0'), Buffer.alloc(depth, 0),
    Buffer.from([0]),
    uleb(4), Buffer.from('w\0'),
    Buffer.from([0]),
  ]);
  const info = unit4(0, dies);
  const sections: DwarfSections = { info, abbrev: abbr };
  const problems: string[] = [];
  const dies2 = new UnitDies(sections, unitHeaders(sections)[0], (m) => problems.push(m));
  const [f, w] = dies2.children(dies2.root!);
  assert.equal(f.attrs.get(DW_AT_name)?.value, 'f');
  assert.equal(w.attrs.get(DW_AT_name)?.value, 'w', 'the DIE after the nest is found');

  // Down the nest one level at a time, counting the bytes of .debug_info read past.
  let level: DieEntry = f;
  let levels = 0;
  let v: DieEntry | undefined;
  for (;;) {
    const kids = dies2.children(level);
    assert.equal(kids.length, 1);
    if (kids[0].tag === DW_TAG_variable) {
      v = kids[0];
      break;
    }
    level = kids[0];
    levels++;
  }
  assert.equal(levels, depth);
  assert.equal(v.attrs.get(DW_AT_name)?.value, 'v');
  assert.deepEqual(problems, []);
  assert.ok(dies2.passed <= 3 * depth, `${dies2.passed} DIEs read past for ${depth} levels`);
});

test('a pc .debug_aranges gives to a unit is looked for in that unit alone; one it gives to none, in the units without a set', () => {
  const abbr = Buffer.concat([
    abbrev(1, DW_TAG_compile_unit, true, [[DW_AT_low_pc, DW_FORM_addr], [DW_AT_high_pc, DW_FORM_data8]]),
    abbrev(2, DW_TAG_compile_unit, true, []),
    abbrev(3, DW_TAG_subprogram, false, [[DW_AT_name, DW_FORM_string], [DW_AT_low_pc, DW_FORM_addr], [DW_AT_high_pc, DW_FORM_data8]]),
    Buffer.from([0]),
  ]);
  // Unit A: code at [0x1000, 0x1100) and no function (assembly); unit B: no ranges of its own and
  // no set, with a function over A's code (which no valid file has) and one at 0x2000.
  const a = unit4(0, Buffer.concat([uleb(1), u64(0x1000n), u64(0x100n), Buffer.from([0])]));
  const b = unit4(0, Buffer.concat([
    uleb(2),
    uleb(3), Buffer.from('overlaps\0'), u64(0x1000n), u64(0x10n),
    uleb(3), Buffer.from('h\0'), u64(0x2000n), u64(0x10n),
    Buffer.from([0]),
  ]));
  // One .debug_aranges set, for unit A: header (12 bytes), padding to 16, then (address, length) pairs.
  const aranges = withLength(Buffer.concat([Buffer.from([2, 0]), u32(0), Buffer.from([8, 0]), Buffer.alloc(4), u64(0x1000n), u64(0x100n), u64(0n), u64(0n)]));
  const image = buildElf({
    segments: [{ paddr: 0x100000n, data: Buffer.from([0xf4]) }],
    sections: [
      { name: '.debug_info', type: SHT_PROGBITS, data: Buffer.concat([a, b]) },
      { name: '.debug_abbrev', type: SHT_PROGBITS, data: abbr },
      { name: '.debug_aranges', type: SHT_PROGBITS, data: aranges },
    ],
  });
  const dv = DwarfVariables.fromElf(image, 'aranges.elf', 0n, undefined, { indexCacheDir: null });
  assert.deepEqual(dv.framesAt(0x1008n).map((f) => f.name), [], 'unit A\'s code: unit B is not read');
  assert.deepEqual(dv.framesAt(0x2008n).map((f) => f.name), ['h'], 'no set holds 0x2008: unit B is');
  assert.deepEqual(dv.problems, []);
});
