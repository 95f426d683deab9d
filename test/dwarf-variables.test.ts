// Variables from DWARF (src/symbols/dwarf/variables.ts, expr.ts, loclists.ts, types.ts), on
// C programs built with gcc (and clang, where installed) at -O0 and -O2, DWARF 4 and 5, 64- and
// 32-bit (test/guests/dwarf-vars/):
//  - every location expression and location-list entry against objdump's rendering;
//  - types and addresses of globals, struct members and bit-fields against gdb and against a
//    probe program that measures the layout at run time;
//  - -O0 locations with synthetic frames: frame base (CFA or rbp) plus the DW_OP_fbreg offset;
//  - gdb's `info scope` for a few functions;
//  - the programs run under gdb, stepped an instruction at a time through every function: at
//    each stop, the variables in scope (inlined frames included) and the bytes of their values,
//    in the stopped frame and its caller, as this module locates them from the registers and
//    memory gdb reports, against gdb's own values;
//  - the expression evaluator, location and range lists, and C type spelling on hand-made input.
import './support/needs-ia32.js';
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DwarfVariables, typeName, typeSize, type CType, type DwarfVariable, type FrameContext, type Location } from '../src/symbols/dwarf/variables.js';
import { evaluateLocation, formatExpression, type ExprEnv } from '../src/symbols/dwarf/expr.js';
import { readLocationList, readRangeList, listxOffset, type ListUnit } from '../src/symbols/dwarf/loclists.js';
import { canonicalBaseName, stripType } from '../src/symbols/dwarf/types.js';
import { CallFrameInfo } from '../src/symbols/dwarf/cfi.js';
import { LineTable } from '../src/symbols/dwarf/line.js';
import { ElfImage } from '../src/symbols/elf-file.js';
import {
  VARS_BUILD_DIR, VARS_SRC_DIR, buildVarsGuests, haveClang, tool, varsElfPath, varsFlavourName, type VarsFlavour,
} from './guests/dwarf-vars/build.js';

const FLAVOURS: VarsFlavour[] = [];
for (const opt of [0, 2] as const) for (const dwarf of [4, 5] as const) FLAVOURS.push({ cc: 'gcc', bits: 64, opt, dwarf });
FLAVOURS.push({ cc: 'gcc', bits: 32, opt: 0, dwarf: 5 }, { cc: 'gcc', bits: 32, opt: 2, dwarf: 4 });
FLAVOURS.push({ cc: 'gcc', bits: 64, opt: 0, dwarf: 4, typeUnits: true }, { cc: 'gcc', bits: 64, opt: 2, dwarf: 5, typeUnits: true });
const CLANG = haveClang();
if (CLANG) {
  for (const opt of [0, 2] as const) for (const dwarf of [4, 5] as const) FLAVOURS.push({ cc: 'clang', bits: 64, opt, dwarf });
  FLAVOURS.push({ cc: 'clang', bits: 32, opt: 2, dwarf: 5 });
} else {
  console.log('# clang (with llvm-dwarfdump) is not installed: the clang flavours are not built');
}
const LAYOUTS: VarsFlavour[] = [
  { cc: 'gcc', bits: 64, opt: 0, dwarf: 5, layout: true },
  { cc: 'gcc', bits: 32, opt: 0, dwarf: 4, layout: true },
  ...(CLANG ? [{ cc: 'clang', bits: 64, opt: 0, dwarf: 5, layout: true } as VarsFlavour] : []),
];

const VARS_C = join(VARS_SRC_DIR, 'vars.c');
const STEPPED = ['main', 'add', 'scopes', 'use_types', 'inline_user', 'looper', 'pieces', 'floats', 'recurse', 'other_function'];

before(async () => {
  await buildVarsGuests([...FLAVOURS, ...LAYOUTS]);
});

const loaded = new Map<string, DwarfVariables>();
function vars(f: VarsFlavour, loadOffset = 0n): DwarfVariables {
  const key = `${varsFlavourName(f)}@${loadOffset}`;
  let v = loaded.get(key);
  if (!v) {
    const elf = varsElfPath(f);
    v = DwarfVariables.fromElf(readFileSync(elf), elf, loadOffset);
    loaded.set(key, v);
  }
  return v;
}

function hex(v: bigint | number): string {
  return '0x' + v.toString(16);
}

/** Line numbers of the STOP markers in vars.c, by label. */
function stopLines(): Map<string, number> {
  const out = new Map<string, number>();
  readFileSync(VARS_C, 'utf8').split('\n').forEach((l, i) => {
    const m = /\/\* STOP (.+?) \*\//.exec(l);
    if (m) out.set(m[1], i + 1);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// objdump's view of the DWARF.

interface ObjDie { offset: number; tag: string; attrs: Map<string, string> }

const objdumpCache = new Map<string, Map<number, ObjDie>>();
function objdumpInfo(elf: string): Map<number, ObjDie> {
  let dies = objdumpCache.get(elf);
  if (dies) return dies;
  dies = new Map();
  let cur: ObjDie | undefined;
  for (const line of tool('objdump', ['--dwarf=info', elf]).split('\n')) {
    if (/^Contents of the \.debug_types section/.test(line)) break; // DWARF 4 type units: offsets of another section
    const d = /^\s*<\d+><([0-9a-f]+)>: Abbrev Number: \d+ \((DW_TAG_\w+)\)/.exec(line);
    if (d) {
      cur = { offset: parseInt(d[1], 16), tag: d[2], attrs: new Map() };
      dies.set(cur.offset, cur);
      continue;
    }
    const a = /^\s*<[0-9a-f]+>\s+(DW_AT_\w+)\s*:\s?(.*)$/.exec(line);
    if (a && cur) cur.attrs.set(a[1], a[2]);
  }
  objdumpCache.set(elf, dies);
  return dies;
}

/** An attribute's exprloc as objdump renders it ("DW_OP_fbreg: -20"), or its location-list offset. */
function objdumpLocation(raw: string): { expr: string } | { list: number } {
  const l = /(0x[0-9a-f]+|0) \(location list\)/.exec(raw);
  if (l) return { list: parseInt(l[1], 16) };
  const tab = raw.indexOf('\t');
  let text = (tab >= 0 ? raw.slice(tab + 1) : raw).trim();
  if (text.startsWith('(') && text.endsWith(')')) text = text.slice(1, -1);
  return { expr: text };
}

interface ObjLocEntry { begin: bigint; end: bigint; expr: string }

/** objdump --dwarf=loc: for each list offset, its entries (addresses as objdump prints them). */
function objdumpLoclists(elf: string): (offset: number) => ObjLocEntry[] {
  const records: { offset: number; text: string }[] = [];
  let last = -1;
  for (const line of tool('objdump', ['--dwarf=loc', elf]).split('\n')) {
    const m = /^    ([0-9a-f]{8}) (.*)$/.exec(line);
    if (m) {
      last = parseInt(m[1], 16);
      records.push({ offset: last, text: m[2] });
    } else if (/^\s{8,}[0-9a-f]{8,16} [0-9a-f]{8,16} /.test(line) && last >= 0) {
      records.push({ offset: last, text: line.trim() });
    }
  }
  return (offset) => {
    const out: ObjLocEntry[] = [];
    let i = records.findIndex((r) => r.offset >= offset);
    for (; i >= 0 && i < records.length; i++) {
      const t = records[i].text;
      if (t.startsWith('<End of list>')) break;
      const e = /^([0-9a-f]{8,16}) ([0-9a-f]{8,16}) (.*)$/.exec(t);
      if (!e || e[3] === '(base address)') continue;
      let expr = e[3].trim();
      if (expr.startsWith('(') && expr.endsWith(')')) expr = expr.slice(1, -1);
      out.push({ begin: BigInt('0x' + e[1]), end: BigInt('0x' + e[2]), expr });
    }
    return out;
  };
}

/** llvm-dwarfdump's resolved location-list ranges by DIE offset (for clang, whose offset pairs objdump leaves unrelocated). */
function dwarfdumpRanges(elf: string): Map<number, { begin: bigint; end: bigint }[]> {
  const out = new Map<number, { begin: bigint; end: bigint }[]>();
  let die = -1;
  let inList = false;
  for (const line of tool('llvm-dwarfdump', ['--debug-info', elf]).split('\n')) {
    const d = /^0x([0-9a-f]{8}):/.exec(line);
    if (d) { die = parseInt(d[1], 16); inList = false; continue; }
    if (/DW_AT_location\s+\(.*loclist|DW_AT_location\s+\(0x[0-9a-f]+: $/.test(line)) { inList = true; out.set(die, []); continue; }
    if (inList) {
      const r = /^\s+\[(0x[0-9a-f]+), (0x[0-9a-f]+)\):/.exec(line);
      if (r) out.get(die)!.push({ begin: BigInt(r[1]), end: BigInt(r[2]) });
      else inList = false;
    }
  }
  return out;
}

/** The address of every instruction in .text (from objdump's disassembly). */
function codeAddresses(elf: string): bigint[] {
  const out: bigint[] = [];
  for (const l of tool('objdump', ['-d', '--no-show-raw-insn', elf]).split('\n')) {
    const m = /^\s+([0-9a-f]+):\t/.exec(l);
    if (m) out.push(BigInt('0x' + m[1]));
  }
  return out;
}

/** Every variable DWARF has at any of `pcs`, with the pcs it is in scope at. */
function allScoped(dv: DwarfVariables, pcs: bigint[]): Map<DwarfVariable, bigint[]> {
  const byDie = new Map<number, { v: DwarfVariable; pcs: bigint[] }>();
  for (const pc of pcs) {
    for (const fr of dv.framesAt(pc)) {
      for (const v of fr.variables) {
        const e = byDie.get(v.dieOffset) ?? { v, pcs: [] };
        e.pcs.push(pc);
        byDie.set(v.dieOffset, e);
      }
    }
  }
  return new Map([...byDie.values()].map((e) => [e.v, e.pcs]));
}

for (const f of FLAVOURS) {
  const name = varsFlavourName(f);

  test(`${name}: every location matches objdump (expressions and location lists)`, () => {
    const elf = varsElfPath(f);
    const dv = vars(f);
    const dies = objdumpInfo(elf);
    const lists = objdumpLoclists(elf);
    const clangRanges = f.cc === 'clang' ? dwarfdumpRanges(elf) : undefined;
    const scoped = allScoped(dv, codeAddresses(elf));
    let exprs = 0;
    let listed = 0;
    let entries = 0;
    const checked = new Set<number>();
    const check = (v: DwarfVariable, pcs: bigint[]): void => {
      const die = dies.get(v.dieOffset);
      assert.ok(die, `objdump has the DIE of ${v.name} at ${hex(v.dieOffset)}`);
      let raw = die.attrs.get('DW_AT_location');
      let origin = die;
      // A concrete inlined variable without a location of its own inherits the abstract one's.
      for (let i = 0; !raw && i < 4; i++) {
        const ao = /<0x([0-9a-f]+)>/.exec(origin.attrs.get('DW_AT_abstract_origin') ?? origin.attrs.get('DW_AT_specification') ?? '');
        if (!ao) break;
        origin = dies.get(parseInt(ao[1], 16))!;
        raw = origin.attrs.get('DW_AT_location');
      }
      const where = `${name} ${v.name} (DIE ${hex(v.dieOffset)})`;
      if (!raw) {
        const constant = die.attrs.get('DW_AT_const_value') ?? origin.attrs.get('DW_AT_const_value');
        for (const pc of pcs.slice(0, 3)) {
          const d = v.describeLocation(pc);
          if (constant) assert.match(d, /^constant/, where);
          else assert.equal(d, 'optimized out', where);
        }
        return;
      }
      const want = objdumpLocation(raw);
      if ('expr' in want) {
        exprs++;
        assert.equal(v.describeLocation(pcs[0] ?? 0n), want.expr, where);
        assert.equal(v.locationRanges(), undefined, where);
        return;
      }
      listed++;
      const objEntries = lists(want.list);
      const ours = v.locationRanges();
      assert.ok(ours, `${where}: has a location list`);
      // gcc's entries are absolute in objdump; clang's offset pairs objdump prints unrelocated, so
      // their ranges come from llvm-dwarfdump.
      const ranges = clangRanges ? clangRanges.get(v.dieOffset) ?? [] : objEntries;
      assert.equal(ours.length, objEntries.filter((e) => clangRanges || e.end > e.begin).length, `${where}: entries`);
      assert.equal(ranges.filter((r) => r.end > r.begin).length, ours.length, `${where}: ranges`);
      const nonEmpty = objEntries.filter((e) => clangRanges || e.end > e.begin);
      const nonEmptyRanges = ranges.filter((r) => r.end > r.begin);
      ours.forEach((e, i) => {
        assert.equal(e.location, nonEmpty[i].expr, `${where}: entry ${i} expression`);
        assert.equal(hex(e.begin), hex(nonEmptyRanges[i].begin), `${where}: entry ${i} begin`);
        assert.equal(hex(e.end), hex(nonEmptyRanges[i].end), `${where}: entry ${i} end`);
        entries++;
        assert.equal(v.describeLocation(e.begin), ours.find((x) => e.begin >= x.begin && e.begin < x.end)!.location);
      });
      // Outside every entry: optimized out.
      const last = ours.reduce((m, e) => (e.end > m ? e.end : m), 0n);
      if (!ours.some((e) => last >= e.begin && last < e.end)) assert.equal(v.describeLocation(last), 'optimized out', where);
    };
    for (const [v, pcs] of scoped) { checked.add(v.dieOffset); check(v, pcs); }
    for (const v of dv.globals()) {
      if (v.describeLocation(0n).startsWith('symbol ')) continue;
      check(v, [0n]);
    }
    // Frame bases too.
    let frameBases = 0;
    for (const die of dies.values()) {
      const fb = die.attrs.get('DW_AT_frame_base');
      if (!fb) continue;
      const w = objdumpLocation(fb);
      if ('expr' in w) {
        frameBases++;
        assert.match(w.expr, f.cc === 'gcc' ? /^DW_OP_call_frame_cfa$/ : /^DW_OP_reg\d \((rbp|rsp|ebp|esp)\)$/);
      }
    }
    assert.ok(frameBases >= 8, `${frameBases} frame bases`);
    if (process.env.DWARF_VARS_VERBOSE) console.log(`# ${name}: ${checked.size} scoped, ${exprs} expressions, ${listed} lists, ${entries} entries`);
    assert.ok(exprs > 20, `${exprs} single expressions checked`);
    if (f.opt === 2) assert.ok(listed >= 5 && entries >= 10, `-O2 has location lists: ${listed} lists, ${entries} entries`);
    // Every variable and parameter DIE with a location in the functions was in scope somewhere.
    const missing = [...dies.values()].filter((d) => (d.tag === 'DW_TAG_variable' || d.tag === 'DW_TAG_formal_parameter')
      && d.attrs.has('DW_AT_location') && !checked.has(d.offset) && !/DW_OP_addr/.test(d.attrs.get('DW_AT_location')!));
    assert.deepEqual(missing.map((d) => hex(d.offset)), [], 'concrete variable DIEs never in scope');
  });
}

// ---------------------------------------------------------------------------------------------
// Types, globals and layouts.

const TAGS = ['struct point', 'struct flags', 'struct packed_flags', 'struct node', 'struct outer', 'struct with_flex', 'union number',
  'enum color', 'enum big', 'typedef mode_t_', 'typedef point_t', 'typedef my_uint_ptr', 'typedef matrix_t', 'typedef cv_int'];

interface GdbTypes {
  globals: Record<string, { type: string; size: number; address: string | null; file: string | null; line: number }[]>;
  tags: Record<string, { size: number; name: string; members?: { name: string; type: string; bitpos: number; bitsize: number }[]; enumerators?: [string, number][]; error?: string }>;
}

function gdbTypes(elf: string, globals: string[]): GdbTypes {
  const out = tool('gdb', ['-batch', '-nx', '-x', join(VARS_SRC_DIR, 'gdb-types.py'), elf], { TYPES_GLOBALS: globals.join(','), TYPES_TAGS: TAGS.join(',') });
  const line = out.split('\n').find((l) => l.startsWith('JSON:'));
  assert.ok(line, `gdb printed no JSON:\n${out}`);
  return JSON.parse(line.slice(5)) as GdbTypes;
}

/** A member by name, looking into anonymous struct/union members; its offset from the outer struct. */
function findMember(t: CType | undefined, name: string, base = 0): { offset: number; bitOffset?: number; bitSize?: number; type: CType } | undefined {
  const s = stripType(t);
  if (!s || (s.kind !== 'struct' && s.kind !== 'union' && s.kind !== 'class')) return undefined;
  for (const m of s.members) {
    if (m.name === name) return { offset: base + m.offset, bitOffset: m.bitOffset, bitSize: m.bitSize, type: m.type };
    if (m.name === '') {
      const inner = findMember(m.type, name, base + m.offset);
      if (inner) return inner;
    }
  }
  return undefined;
}

for (const f of FLAVOURS) {
  const name = varsFlavourName(f);

  test(`${name}: globals and statics (types, sizes, addresses) match gdb`, () => {
    const elf = varsElfPath(f);
    const dv = vars(f);
    const globals = dv.globals();
    const names = [...new Set(globals.map((g) => g.name))];
    const want = gdbTypes(elf, names);
    const expected = ['g_int', 'g_uint', 'g_char', 'g_float', 'g_double', 'g_flags', 'g_pflags', 'g_outer', 'g_fn', 'g_arrp', 'g_matrix',
      'g_cptr', 'g_str', 'g_opaque', 'g_cv', 'g_volatile', 'g_const', 'g_ldouble', 'other_global', 'other_points', 's_counter'];
    // An unused static const pointer is gone at -O2; clang writes no DIE for an extern declaration
    // (asm_var, defined in assembly: found through the symbol table).
    if (f.opt === 0) expected.push('s_label');
    if (f.cc === 'gcc') expected.push('asm_var');
    for (const e of expected) assert.ok(names.includes(e), `${e} among the globals`);
    // Two file-statics named s_counter (vars.c and other.c), at different addresses.
    const counters = globals.filter((g) => g.name === 's_counter');
    assert.equal(counters.length, 2);
    assert.ok(counters.every((c) => !c.external));
    assert.ok(globals.find((g) => g.name === 'g_int')!.external);
    const frame: FrameContext = { pc: 0n, regs: new Map(), read: () => undefined, bits: f.bits };
    for (const g of globals) {
      const loc = g.locate(frame);
      const gdbSyms = want.globals[g.name];
      assert.ok(gdbSyms?.length, `gdb knows ${g.name}`);
      const where = `${name} ${g.name}`;
      if (loc.kind === 'value' || loc.kind === 'bytes') {
        // A constant (an unused static const at -O2): gdb has no address for it either.
        assert.ok(gdbSyms.some((s) => s.address === null || s.type === typeName(g.type)), where);
        continue;
      }
      assert.equal(loc.kind, 'memory', where);
      if (loc.kind !== 'memory') continue;
      const match = gdbSyms.find((s) => s.address === hex(loc.address));
      assert.ok(match, `${where}: gdb has it at ${hex(loc.address)} (gdb: ${gdbSyms.map((s) => s.address).join(', ')})`);
      assert.equal(typeName(g.type), match.type, `${where}: type`);
      assert.equal(typeSize(g.type), match.size, `${where}: size`);
      if (match.line) assert.equal(g.declLine, match.line, `${where}: line`);
      assert.ok(g.declFile?.endsWith(match.file?.split('/').pop() ?? '?') || g.name === 'asm_var', `${where}: file ${g.declFile}`);
    }
    // Named types for casts.
    for (const tag of TAGS) {
      const gt = want.tags[tag];
      assert.ok(gt && !gt.error, `gdb knows ${tag}`);
      const t = dv.typeByName(tag.replace(/^typedef /, ''));
      assert.ok(t, `typeByName(${tag})`);
      assert.equal(typeSize(t), gt.size, `${tag}: size`);
      assert.equal(typeName(t), gt.name, `${tag}: name`);
      const s = stripType(t)!;
      if (gt.enumerators) {
        assert.equal(s.kind, 'enum');
        if (s.kind === 'enum') assert.deepEqual(s.enumerators.map((e) => [e.name, Number(e.value)]), gt.enumerators, `${tag}: enumerators`);
      } else if (gt.members) {
        assert.ok(s.kind === 'struct' || s.kind === 'union', tag);
        if (s.kind !== 'struct' && s.kind !== 'union') continue;
        assert.deepEqual(s.members.map((m) => ({ name: m.name, type: typeName(m.type), bitpos: m.offset * 8 + (m.bitOffset ?? 0), bitsize: m.bitSize ?? 0 })),
          gt.members.map((m) => ({ ...m, name: m.name })), `${tag}: members`);
      }
    }
  });
}

for (const lf of LAYOUTS) {
  test(`${varsFlavourName(lf)}: member offsets, sizes and bit-fields match the layout the compiled code measures`, () => {
    const elf = varsElfPath(lf);
    const out = tool('gdb', ['-batch', '-nx', '-ex', 'run', '-ex',
      "python v = gdb.parse_and_eval('layout_out'); print('LAYOUT:' + ','.join(str(int(v[i])) for i in range(256)))", elf]);
    const line = out.split('\n').find((l) => l.startsWith('LAYOUT:'));
    assert.ok(line, `the layout probe ran under gdb:\n${out}`);
    const nums = line.slice(7).split(',').map(Number);
    const calls = [...readFileSync(join(VARS_SRC_DIR, 'layout.c'), 'utf8').split('int main(void)')[1].matchAll(/\b(SIZE|FIELD|BITS)\((\w+)(?:, (\w+))?\)/g)];
    assert.ok(calls.length > 30);
    // The variables program of the same compiler and word size has these types.
    const dv = vars({ cc: lf.cc, bits: lf.bits, opt: 0, dwarf: 5 });
    const dv2 = vars({ cc: lf.cc, bits: lf.bits, opt: 2, dwarf: lf.cc === 'gcc' && lf.bits === 32 ? 4 : 5 });
    calls.forEach((c, i) => {
      const [what, tag, member] = [c[1], c[2], c[3]];
      const row = nums.slice(i * 4, i * 4 + 4);
      for (const d of [dv, dv2]) {
        const t = d.typeByName(`struct ${tag}`);
        assert.ok(t, `struct ${tag}`);
        const where = `${varsFlavourName(lf)} ${tag}${member ? '.' + member : ''}`;
        if (what === 'SIZE') {
          assert.equal(typeSize(t), row[0], `${where}: sizeof`);
          continue;
        }
        const m = findMember(t, member);
        assert.ok(m, `${where}: found`);
        if (what === 'FIELD') {
          assert.equal(m.offset, row[0], `${where}: offsetof`);
          assert.equal(typeSize(m.type), row[1], `${where}: sizeof`);
          assert.equal(m.bitSize, undefined);
        } else {
          assert.equal(m.offset * 8 + (m.bitOffset ?? 0), row[2], `${where}: first bit`);
          assert.equal(m.bitSize, row[3], `${where}: width`);
          // The field lies within the bytes a reader takes at `offset`.
          assert.ok((m.bitOffset ?? 0) + m.bitSize! <= Math.max(typeSize(m.type), Math.ceil(((m.bitOffset ?? 0) + m.bitSize!) / 8)) * 8);
        }
      }
    });
  });
}

test('typeByName: base type spellings, stdint names, pointers and qualifiers', () => {
  const dv = vars({ cc: 'gcc', bits: 64, opt: 0, dwarf: 5 });
  const d32 = vars({ cc: 'gcc', bits: 32, opt: 0, dwarf: 5 });
  assert.equal(typeName(dv.typeByName('unsigned long')), 'unsigned long');
  assert.equal((dv.typeByName('unsigned long') as { name: string }).name, 'long unsigned int');
  assert.equal(typeName(dv.typeByName('long unsigned int')), 'unsigned long');
  assert.equal(typeName(dv.typeByName('long long unsigned')), 'unsigned long long');
  assert.equal(typeSize(dv.typeByName('unsigned long')), 8);
  assert.equal(typeSize(d32.typeByName('unsigned long')), 4);
  assert.equal(typeSize(d32.typeByName('long double')), 12);
  assert.equal(typeName(dv.typeByName('short int')), 'short');
  assert.equal(typeName(dv.typeByName('unsigned')), 'unsigned int');
  assert.equal(typeName(dv.typeByName('uint32_t')), 'uint32_t');
  assert.equal(typeName(stripType(dv.typeByName('uint32_t'))), 'unsigned int');
  // Not in the program: made up.
  assert.deepEqual(dv.typeByName('int16_t'), { kind: 'typedef', name: 'int16_t', target: { kind: 'base', name: 'short int', size: 2, encoding: 'signed' } });
  assert.deepEqual(dv.typeByName('unsigned __int128'), { kind: 'base', name: 'unsigned __int128', size: 16, encoding: 'unsigned' });
  assert.equal(typeSize(dv.typeByName('uintptr_t')), 8);
  assert.equal(typeSize(d32.typeByName('size_t')), 4);
  assert.equal(typeName(dv.typeByName('const char *')), 'const char *');
  assert.equal(typeName(dv.typeByName('struct node **')), 'struct node **');
  assert.equal(typeName(dv.typeByName('void *')), 'void *');
  assert.equal(typeName(dv.typeByName('char const')), 'const char');
  assert.equal(dv.typeByName('void'), undefined);
  assert.equal(dv.typeByName('struct nonesuch'), undefined);
  assert.equal(dv.typeByName('nonesuch_t'), undefined);
  const opaque = dv.typeByName('struct opaque');
  assert.deepEqual(opaque, { kind: 'struct', name: 'opaque', size: 0, members: [], declaration: true });
  const color = stripType(dv.typeByName('enum color'));
  assert.ok(color?.kind === 'enum');
  assert.deepEqual(color.enumerators.map((e) => [e.name, e.value]), [['RED', 0n], ['GREEN', 5n], ['BLUE', -3n]]);
  const big = stripType(dv.typeByName('enum big'));
  assert.ok(big?.kind === 'enum');
  assert.deepEqual(big.enumerators.map((e) => e.value), [0n, 0xfffffff0n]);
  // Self-referential types are built once: node.next points back at node.
  const node = stripType(dv.typeByName('struct node'));
  assert.ok(node?.kind === 'struct');
  const next = node.members.find((m) => m.name === 'next')!.type;
  assert.ok(next.kind === 'pointer' && next.target === node);
  assert.equal(canonicalBaseName('long long unsigned int'), 'unsigned long long');
  assert.equal(canonicalBaseName('signed'), 'int');
  assert.equal(canonicalBaseName('long float'), undefined);
});

// ---------------------------------------------------------------------------------------------
// Locations against the DWARF (-O0, synthetic frames) and against gdb's `info scope`.

/** The subprogram DIEs objdump shows, by name: their frame base text. */
function frameBases(elf: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const d of objdumpInfo(elf).values()) {
    if (d.tag !== 'DW_TAG_subprogram' || !d.attrs.has('DW_AT_frame_base')) continue;
    const n = /([A-Za-z_]\w*)\s*$/.exec(d.attrs.get('DW_AT_name') ?? '');
    const fb = objdumpLocation(d.attrs.get('DW_AT_frame_base')!);
    if (n && 'expr' in fb) out.set(n[1], fb.expr);
  }
  return out;
}

/** Every variable in scope somewhere in a function, with a pc it is in scope at. */
function functionVariables(dv: DwarfVariables, elf: string, fn: string): { v: DwarfVariable; pc: bigint; frame: string }[] {
  const syms = tool('nm', [elf]).split('\n');
  const line = syms.find((l) => l.endsWith(` ${fn}`));
  assert.ok(line, `nm has ${fn}`);
  const start = BigInt('0x' + line.split(' ')[0]);
  const out = new Map<number, { v: DwarfVariable; pc: bigint; frame: string }>();
  for (const pc of codeAddresses(elf)) {
    const frames = dv.framesAt(pc);
    if (!frames.length || frames[frames.length - 1].name !== fn || pc < start) continue;
    for (const fr of frames) for (const v of fr.variables) if (!out.has(v.dieOffset)) out.set(v.dieOffset, { v, pc, frame: fr.name });
  }
  return [...out.values()];
}

for (const f of FLAVOURS.filter((x) => x.opt === 0)) {
  const name = varsFlavourName(f);
  test(`${name}: stack variables are at the frame base plus their DW_OP_fbreg offset`, () => {
    const elf = varsElfPath(f);
    const dv = vars(f);
    const bases = frameBases(elf);
    const cfa = f.bits === 64 ? 0x7fff_0000_1000n : 0xbfff_1000n;
    const fp = cfa - BigInt(f.bits / 4); // where push rbp; mov rsp, rbp leaves it
    const regs = new Map<number, bigint>(f.bits === 64 ? [[6, fp], [7, fp - 0x100n], [16, 0x100000n]] : [[5, fp], [4, fp - 0x100n], [8, 0x100000n]]);
    let checked = 0;
    for (const fn of STEPPED) {
      const fb = bases.get(fn);
      assert.ok(fb, `${fn} has a frame base`);
      const base = fb === 'DW_OP_call_frame_cfa' ? cfa : /^DW_OP_reg(6 \(rbp\)|5 \(ebp\))$/.test(fb) ? fp : undefined;
      assert.ok(base !== undefined, `${name} ${fn}: frame base ${fb}`);
      for (const { v, pc } of functionVariables(dv, elf, fn)) {
        const d = v.describeLocation(pc);
        const ctx: FrameContext = { pc, regs, cfa, read: () => undefined, bits: f.bits };
        const loc = v.locate(ctx);
        const fbreg = /^DW_OP_fbreg: (-?\d+)$/.exec(d);
        const bpreg = /^DW_OP_breg(6 \(rbp\)|5 \(ebp\)): (-?\d+)$/.exec(d);
        const addr = /^DW_OP_addr: ([0-9a-f]+)$/.exec(d);
        if (fbreg) {
          assert.deepEqual(loc, { kind: 'memory', address: base + BigInt(fbreg[1]) }, `${name} ${fn}.${v.name}`);
          checked++;
        } else if (bpreg) {
          // gcc -m32 addresses main's locals from ebp (main realigns its stack).
          assert.deepEqual(loc, { kind: 'memory', address: fp + BigInt(bpreg[2]) }, `${name} ${fn}.${v.name}`);
        } else if (/^DW_OP_addrx /.test(d)) {
          // clang's DWARF 5: an index into .debug_addr (compared with gdb's addresses elsewhere).
          assert.equal(loc.kind, 'memory', `${name} ${fn}.${v.name}`);
        } else if (addr) {
          assert.deepEqual(loc, { kind: 'memory', address: BigInt('0x' + addr[1]) }, `${name} ${fn}.${v.name}`);
        } else {
          assert.fail(`${name} ${fn}.${v.name}: unexpected -O0 location ${d}`);
        }
        // Loaded elsewhere: static addresses move with the load offset, stack ones do not.
        const moved = vars(f, 0x4000_0000n).localsAt(pc + 0x4000_0000n).find((x) => x.dieOffset === v.dieOffset);
        assert.ok(moved, `${fn}.${v.name} at the moved pc`);
        const l2 = moved.locate({ ...ctx, pc: pc + 0x4000_0000n });
        if (addr || /^DW_OP_addrx /.test(d)) assert.deepEqual(l2, { kind: 'memory', address: (loc as { address: bigint }).address + 0x4000_0000n });
        else assert.deepEqual(l2, loc);
      }
    }
    assert.ok(checked > 40, `${checked} stack variables`);
    // Without a CFA, a CFA-based frame base is an error, not a wrong address.
    if (f.cc === 'gcc') {
      const v = dv.localsAt(functionVariables(dv, elf, 'add')[0].pc).find((x) => x.name === 'a')!;
      assert.equal(v.locate({ pc: 0n, regs, read: () => undefined, bits: f.bits }).kind, 'error');
    }
  });
}

interface ScopeSym { name: string; desc: string; length: number }

/** gdb's `info scope` of a function; undefined where gdb cannot describe it (gdb 13 calls some of gcc's -O2 expressions corrupt). */
function gdbInfoScope(elf: string, fn: string): ScopeSym[] | undefined {
  let text: string;
  try {
    text = tool('gdb', ['-batch', '-nx', '-ex', `info scope ${fn}`, elf]);
  } catch (e) {
    if (/Corrupted DWARF2? expression/.test(String((e as { stderr?: Buffer }).stderr ?? e))) return undefined;
    throw e;
  }
  const out: ScopeSym[] = [];
  const re = /^Symbol (\S+) is ([\s\S]*?), length (\d+)\.$/gm;
  for (const m of text.matchAll(re)) out.push({ name: m[1], desc: m[2], length: Number(m[3]) });
  assert.ok(out.length, `gdb info scope ${fn}:\n${text}`);
  return out;
}

for (const f of FLAVOURS) {
  const name = varsFlavourName(f);
  test(`${name}: locations agree with gdb's info scope`, () => {
    const elf = varsElfPath(f);
    const dv = vars(f);
    let compared = 0;
    for (const fn of ['add', 'scopes', 'use_types', 'inline_user', 'looper', 'pieces', 'floats', 'recurse']) {
      const ours = functionVariables(dv, elf, fn);
      const theirs = gdbInfoScope(elf, fn);
      if (!theirs) continue;
      for (const s of theirs) {
        const where = `${name} ${fn}.${s.name}: gdb says ${s.desc}`;
        const candidates = ours.filter((o) => o.v.name === s.name);
        if (/^a function at address/.test(s.desc)) continue; // an inlined function's name
        if (/optimized out/.test(s.desc)) {
          assert.ok(candidates.every((c) => c.v.describeLocation(c.pc) === 'optimized out' || c.v.locationRanges() === undefined), where);
          continue;
        }
        assert.ok(candidates.length, `${where}: ours has it`);
        const multi = /^multi-location:/.test(s.desc);
        const complex = !multi && /^a complex DWARF expression:/.test(s.desc);
        const fb = /^a variable at frame base reg \$\w+ offset \d+\+(-?\d+)$/.exec(s.desc);
        const stat = /^(?:in )?static storage at address (0x[0-9a-f]+)$/.exec(s.desc);
        const inReg = /^a variable in \$(\w+)$/.exec(s.desc);
        const constant = /^(?:the constant|a constant with value) (-?\d+)(?: \(0x[0-9a-f]+\))?$/.exec(s.desc);
        const ok = candidates.some((c) => {
          if (typeSize(c.v.type) !== s.length) return false;
          const d = c.v.describeLocation(c.pc);
          if (multi) {
            // (Empty ranges, which gdb lists, are dropped.)
            const ranges = [...s.desc.matchAll(/Range (0x[0-9a-f]+)-(0x[0-9a-f]+)/g)].filter((r) => BigInt(r[1]) < BigInt(r[2])).map((r) => `${r[1]}-${r[2]}`);
            return JSON.stringify(c.v.locationRanges()?.map((e) => `${hex(e.begin)}-${hex(e.end)}`)) === JSON.stringify(ranges);
          }
          if (complex) {
            // The same operations; a lone DW_OP_fbreg with the same offset.
            const ops = s.desc.match(/DW_OP_\w+/g) ?? [];
            if (JSON.stringify(ops) !== JSON.stringify(d.match(/DW_OP_\w+/g) ?? [])) return false;
            const lone = /^a complex DWARF expression:\s+0: DW_OP_fbreg (-?\d+)\s*$/.exec(s.desc);
            return !lone || d === `DW_OP_fbreg: ${lone[1]}`;
          }
          if (fb) return d === `DW_OP_fbreg: ${fb[1]}`;
          if (stat) {
            const loc = c.v.locate({ pc: c.pc, regs: new Map(), read: () => undefined, bits: f.bits });
            return loc.kind === 'memory' && loc.address === BigInt(stat[1]);
          }
          if (inReg) return new RegExp(`^DW_OP_reg\\d+ \\(${inReg[1]}\\)$`).test(d);
          if (constant) return d === `constant ${constant[1]}`;
          return false;
        });
        assert.ok(ok, `${where}; ours: ${candidates.map((c) => `${c.v.describeLocation(c.pc)} [${c.v.locationRanges()?.map((e) => `${hex(e.begin)}-${hex(e.end)}`).join(' ')}] ${typeSize(c.v.type)}`).join(' | ')}`);
        compared++;
      }
    }
    assert.ok(compared >= 20, `${compared} symbols compared`);
  });
}

// ---------------------------------------------------------------------------------------------
// The programs run under gdb: every variable's bytes at every instruction.

interface DumpVar { name: string; arg: boolean; type: string; class: number; bytes?: string | null; error?: string }
interface DumpFrame { name: string; inline: boolean; pc: string; vars: DumpVar[] | null }
interface DumpRecord { pc: string; regs: Record<string, string>; mem: [string, string][]; frames: DumpFrame[] }

const SHF_ALLOC = 0x2n;
const SHF_EXECINSTR = 0x4n;

function gdbDump(f: VarsFlavour): DumpRecord[] {
  const elf = varsElfPath(f);
  const image = ElfImage.open(elf);
  // The program's data: every allocated section that is not code.
  let lo: bigint | undefined;
  let hi = 0n;
  for (const s of image.elf.sections) {
    if (!(s.flags & SHF_ALLOC) || s.flags & SHF_EXECINSTR || s.size === 0n || s.addr === 0n) continue;
    if (lo === undefined || s.addr < lo) lo = s.addr;
    if (s.addr + s.size > hi) hi = s.addr + s.size;
  }
  assert.ok(lo !== undefined);
  const out = join(VARS_BUILD_DIR, `${varsFlavourName(f)}.${process.pid}.dump.jsonl`);
  try {
    tool('gdb', ['-batch', '-nx', '-x', join(VARS_SRC_DIR, 'gdb-dump.py'), elf], {
      DUMP_OUT: out, DUMP_BITS: String(f.bits), DUMP_FUNCS: STEPPED.join(','), DUMP_REGIONS: `${lo.toString(16)}:${hi.toString(16)}`,
    });
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as DumpRecord & { done?: boolean; stops?: number });
    const last = lines.pop();
    assert.ok(last?.done, 'gdb ran the program to its end');
    return lines;
  } finally {
    rmSync(out, { force: true });
  }
}

function memoryReader(mem: [string, string][]): (addr: bigint, size: number) => bigint | undefined {
  const regions = mem.map(([a, h]) => ({ start: BigInt(a), data: Buffer.from(h, 'hex') }));
  return (addr, size) => {
    for (const r of regions) {
      const off = addr - r.start;
      if (off >= 0n && off + BigInt(size) <= BigInt(r.data.length)) {
        let v = 0n;
        for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(r.data[Number(off) + i]);
        return v;
      }
    }
    return undefined;
  };
}

type Bit = 0 | 1 | null;

function bitsOf(v: bigint, offset: number, n: number): Bit[] {
  const out: Bit[] = [];
  for (let i = 0; i < n; i++) out.push(Number((v >> BigInt(offset + i)) & 1n) as 0 | 1);
  return out;
}

/** An 80-bit x87 register value as the bytes of a float or double (what gdb shows for a float variable in st(i)). */
function x87As(raw: bigint, size: number): bigint {
  const mant = raw & ((1n << 64n) - 1n);
  const exp = Number((raw >> 64n) & 0x7fffn);
  const sign = (raw >> 79n) & 1n ? -1 : 1;
  const value = exp === 0 && mant === 0n ? 0 * sign : sign * Number(mant) * 2 ** (exp - 16383 - 63);
  const b = Buffer.alloc(8);
  if (size === 4) b.writeFloatLE(value);
  else b.writeDoubleLE(value);
  return b.readBigUInt64LE();
}

function isX87(reg: number, bits: 32 | 64): boolean {
  return bits === 64 ? reg >= 33 && reg <= 40 : reg >= 11 && reg <= 18;
}

/** The bits a location holds for a value of `n` bits. */
function locationBits(loc: Location | { kind: 'optimized-out' }, n: number, ctx: FrameContext, type: CType, offset = 0): Bit[] {
  switch (loc.kind) {
    case 'memory': {
      const out: Bit[] = [];
      const bytes = Math.ceil((offset + n) / 8);
      const raw: Bit[] = [];
      for (let i = 0; i < bytes; i++) {
        const b = ctx.read(loc.address + BigInt(i), 1);
        raw.push(...(b === undefined ? Array<Bit>(8).fill(null) : bitsOf(b, 0, 8)));
      }
      for (let i = 0; i < n; i++) out.push(raw[offset + i]);
      return out;
    }
    case 'register': {
      let v = ctx.regs.get(loc.reg);
      if (v === undefined) return Array<Bit>(n).fill(null);
      const t = stripType(type);
      if (isX87(loc.reg, ctx.bits) && t?.kind === 'base' && t.encoding === 'float' && (t.size === 4 || t.size === 8) && offset === 0 && n === t.size * 8) v = x87As(v, t.size);
      return bitsOf(v, offset, n);
    }
    case 'value': return bitsOf(BigInt.asUintN(Math.max(64, offset + n), loc.value), offset, n);
    case 'bytes': {
      const out: Bit[] = [];
      for (let i = 0; i < n; i++) {
        const byte = loc.bytes[(offset + i) >> 3];
        out.push(byte === undefined ? null : ((byte >> ((offset + i) & 7)) & 1) as 0 | 1);
      }
      return out;
    }
    case 'pieces': {
      const out: Bit[] = [];
      for (const p of loc.pieces) out.push(...locationBits(p.location, p.sizeBits, ctx, type, p.offsetBits ?? 0));
      while (out.length < n) out.push(null);
      return out.slice(0, n);
    }
    default: return Array<Bit>(n).fill(null);
  }
}

/** The value's bytes as gdb's dump has them: two hex digits a byte, "--" for one without a value. */
function ourBytes(v: DwarfVariable, ctx: FrameContext): string {
  const loc = v.locate(ctx);
  if (loc.kind === 'error') return `error: ${loc.message}`;
  const size = typeSize(v.type);
  const bits = locationBits(loc, size * 8, ctx, v.type);
  let s = '';
  for (let i = 0; i < size; i++) {
    const b = bits.slice(i * 8, i * 8 + 8);
    s += b.some((x) => x === null) ? '--' : b.reduce<number>((acc, x, j) => acc | ((x as number) << j), 0).toString(16).padStart(2, '0');
  }
  return s;
}

interface Tally { values: number; available: number; optimizedOut: number; entryValues: number; partial: number; frames: number; inlineFrames: number; stops: number }

function compareFrames(where: string, gdbFrames: DumpFrame[], dv: DwarfVariables, ctx: FrameContext, tally: Tally): void {
  const ours = dv.framesAt(ctx.pc);
  // At the first instruction of an inlined call gdb (stepping) shows the caller: the inlined
  // frames it leaves out must start there.
  let skip = 0;
  while (ours.length - skip > gdbFrames.length && ours[skip].inlined && ours[skip].ranges.some((r) => r.begin === ctx.pc)) skip++;
  const mine = ours.slice(skip);
  assert.deepEqual(mine.map((f) => `${f.name}${f.inlined ? ' (inlined)' : ''}`), gdbFrames.map((f) => `${f.name}${f.inline ? ' (inlined)' : ''}`), `${where}: frames`);
  mine.forEach((fr, i) => {
    const g = gdbFrames[i];
    tally.frames++;
    if (fr.inlined) tally.inlineFrames++;
    if (!g.vars) return;
    // gdb lists shadowed outer variables too: the first of a name is the one in scope.
    const visible = new Map<string, DumpVar>();
    for (const gv of g.vars) if (!visible.has(gv.name)) visible.set(gv.name, gv);
    assert.deepEqual(fr.variables.map((v) => v.name).sort(), [...visible.keys()].sort(), `${where} ${fr.name}: variables`);
    for (const v of fr.variables) {
      const gv = visible.get(v.name)!;
      const w = `${where} ${fr.name}.${v.name} (${v.describeLocation(ctx.pc)})`;
      assert.equal(v.isParameter, gv.arg, `${w}: parameter`);
      assert.equal(typeName(v.type), gv.type, `${w}: type`);
      const mineBytes = ourBytes(v, ctx);
      const theirs = gv.bytes ?? `gdb: ${gv.error}`;
      tally.values++;
      if (mineBytes === theirs) {
        if (/[0-9a-f]{2}/.test(mineBytes)) tally.available++;
        else tally.optimizedOut++;
        continue;
      }
      // What only the caller's call site can tell (entry values, parameter references), and
      // pointers to objects that exist only in the debug information, are optimized out here.
      const desc = v.describeLocation(ctx.pc);
      if (/entry_value|parameter_ref|implicit_pointer/.test(desc) && /^(--)+$/.test(mineBytes.replace(/[0-9a-f]{2}/g, '--')) && mineBytes.includes('--')) {
        const ourKnown = mineBytes.match(/../g)!;
        const theirKnown = theirs.match(/../g) ?? [];
        // Bytes we do have must agree.
        assert.ok(ourKnown.every((b, j) => b === '--' || b === theirKnown[j]), `${w}: ours ${mineBytes}, gdb ${theirs}`);
        tally.entryValues++;
        continue;
      }
      // A value whose pieces describe only its first bytes: gdb shows zeros for the rest, where
      // there is nothing to show.
      const loc = v.locate(ctx);
      if (loc.kind === 'pieces') {
        const described = loc.pieces.reduce((n, p) => n + p.sizeBits, 0) / 8;
        if (described < typeSize(v.type) && /^(--)+$/.test(mineBytes.slice(described * 2))) {
          assert.equal(mineBytes.slice(0, described * 2), theirs.slice(0, described * 2), `${w}: value bytes`);
          tally.partial++;
          continue;
        }
      }
      assert.equal(mineBytes, theirs, `${w}: value bytes`);
    }
  });
}

for (const f of FLAVOURS) {
  const name = varsFlavourName(f);
  test(`${name}: under gdb, every variable in scope at every instruction has gdb's value`, () => {
    const elf = varsElfPath(f);
    const dv = vars(f);
    const cfi = CallFrameInfo.fromElf(readFileSync(elf), elf);
    const records = gdbDump(f);
    assert.ok(records.length > 100, `${records.length} stops`);
    const tally: Tally = { values: 0, available: 0, optimizedOut: 0, entryValues: 0, partial: 0, frames: 0, inlineFrames: 0, stops: records.length };
    const seen = new Set<string>();
    for (const rec of records) {
      const pc = BigInt(rec.pc);
      const regs = new Map(Object.entries(rec.regs).map(([k, v]) => [Number(k), BigInt(v)]));
      const read = memoryReader(rec.mem);
      const where = `${name} pc ${rec.pc}`;
      // gdb's frames: those of the stopped function (inlined ones first), then its caller's.
      const split = rec.frames.findIndex((fr) => !fr.inline);
      const inner = rec.frames.slice(0, split + 1);
      const outer = rec.frames.slice(split + 1);
      const step = cfi.unwindStep(regs, pc, read, f.bits, false);
      assert.ok(step, `${where}: unwinds`);
      compareFrames(where, inner, dv, { pc, regs, cfa: step.cfa, read, bits: f.bits }, tally);
      if (outer.length) {
        const up = cfi.unwindStep(step.regs, step.pc, read, f.bits, true);
        assert.ok(up, `${where}: the caller unwinds`);
        compareFrames(`${where} (caller at ${hex(step.pc)})`, outer, dv, { pc: step.pc - 1n, regs: step.regs, cfa: up.cfa, read, bits: f.bits }, tally);
      }
      for (const fr of rec.frames) seen.add(fr.name);
    }
    if (process.env.DWARF_VARS_VERBOSE) console.log(`# ${name}: ${JSON.stringify(tally)}`);
    for (const fn of [...STEPPED, 'square']) assert.ok(seen.has(fn), `stopped in ${fn}`);
    assert.ok(tally.available > 1000, `${tally.available} values compared`);
    assert.ok(tally.inlineFrames >= 2, `${tally.inlineFrames} inlined frames`);
    if (f.opt === 2) assert.ok(tally.optimizedOut > 10, `${tally.optimizedOut} optimized-out values agreed on`);
  });
}

// ---------------------------------------------------------------------------------------------
// Scopes at marked lines.

function sourceLine(pattern: RegExp): number {
  const i = readFileSync(VARS_C, 'utf8').split('\n').findIndex((l) => pattern.test(l));
  assert.ok(i >= 0, `vars.c has ${pattern}`);
  return i + 1;
}

for (const f of FLAVOURS) {
  const name = varsFlavourName(f);
  test(`${name}: scopes at the marked lines (blocks, shadowing, statics, inlined calls, optimized-out values)`, () => {
    const elf = varsElfPath(f);
    const dv = vars(f);
    const lines = LineTable.fromElf(readFileSync(elf), elf);
    const stops = stopLines();
    const at = (label: string): bigint => {
      const r = lines.resolve(VARS_C, stops.get(label)!);
      assert.ok(r?.addresses.length, `${name}: code for STOP ${label}`);
      return r.addresses[0];
    };
    const innerI = sourceLine(/int i = n \* 2;/);
    // Nested blocks: the inner i hides the outer one; c's block is in scope. (At -O2 the
    // marked line's first address may lie outside the block: take one in it.)
    const innerPc = f.opt === 0 ? at('scopes inner') : codeAddresses(elf).find((pc) => dv.framesAt(pc).at(-1)?.name === 'scopes' && dv.localsAt(pc).some((v) => v.name === 'c'));
    assert.ok(innerPc !== undefined, `${name}: c is in scope somewhere`);
    const inner = dv.localsAt(innerPc);
    const names = inner.map((v) => v.name);
    assert.deepEqual(names.filter((n) => n === 'i'), ['i'], `${name}: one i`);
    for (const n of ['n', 'total', 'i', 'c', 'calls', ...(f.opt === 0 ? ['inner'] : [])]) assert.ok(names.includes(n), `${name}: ${n} in scope at STOP scopes inner (${names})`);
    assert.equal(inner[0].name, 'n');
    assert.ok(inner[0].isParameter && inner.slice(1).every((v) => !v.isParameter));
    assert.equal(inner.find((v) => v.name === 'i')!.declLine, innerI);
    assert.ok(inner.find((v) => v.name === 'i')!.declFile?.endsWith('/dwarf-vars/vars.c'));
    assert.equal(typeName(inner.find((v) => v.name === 'c')!.type), 'char');
    assert.equal(typeName(inner.find((v) => v.name === 'total')!.type), 'long');
    // Declaration order: outer locals before inner ones.
    if (names.includes('inner')) assert.ok(names.indexOf('total') < names.indexOf('inner') && names.indexOf('inner') < names.indexOf('c'));
    // The static local lives at a fixed address, whatever the frame.
    const calls = inner.find((v) => v.name === 'calls')!;
    const noFrame: FrameContext = { pc: innerPc, regs: new Map(), read: () => undefined, bits: f.bits };
    assert.equal(calls.locate(noFrame).kind, 'memory');
    // A constant the optimizer folded: c is 'x'.
    const c = inner.find((v) => v.name === 'c')!.locate(noFrame);
    if (c.kind === 'value') assert.equal(BigInt.asUintN(8, c.value), 0x78n);
    if (f.opt === 0) {
      const end = dv.localsAt(at('scopes end')).map((v) => v.name);
      assert.deepEqual(end.slice(1).sort(), ['calls', 'i', 'total'], `${name}: at STOP scopes end`);
      assert.equal(end[0], 'n');
    }
    // Inlined calls: square (always_inline, so at -O0 too) with its parameter, called from
    // inline_user's line; at -O2 cube too, with square inside it.
    const firstCall = sourceLine(/int first = square\(v\);/);
    const fn = dv.framesAt(at('inline_user')).at(-1)!;
    assert.equal(fn.name, 'inline_user');
    let sawSquare = false;
    let sawNested = false;
    for (const pc of codeAddresses(elf)) {
      const frames = dv.framesAt(pc);
      if (frames.at(-1)?.name !== 'inline_user' || !frames[0].inlined) continue;
      assert.equal(frames.at(-1)!.inlined, false);
      if (frames[0].name === 'square') {
        sawSquare = true;
        assert.deepEqual(frames[0].variables.map((v) => [v.name, v.isParameter]), [['x', true], ['y', false]]);
        if (frames.length === 2 && frames[0].callLine === firstCall) assert.ok(frames[0].callFile?.endsWith('/dwarf-vars/vars.c'));
        if (frames.length === 3) {
          sawNested = true;
          assert.equal(frames[1].name, 'cube');
          assert.ok(frames[1].inlined);
        }
        assert.deepEqual(dv.localsAt(pc).map((v) => v.dieOffset), frames[0].variables.map((v) => v.dieOffset));
      }
    }
    assert.ok(sawSquare, `${name}: square inlined into inline_user`);
    if (f.opt === 2 && f.cc === 'gcc') assert.ok(sawNested, `${name}: square inlined into cube inlined into inline_user`);
    // -O2: at the entry of floats, r and q are not computed yet.
    if (f.opt === 2) {
      const entry = BigInt('0x' + tool('nm', [elf]).split('\n').find((l) => l.endsWith(' floats'))!.split(' ')[0]);
      const locals = dv.localsAt(entry);
      for (const n of ['r', 'q']) {
        const v = locals.find((x) => x.name === n);
        assert.ok(v, `${name}: ${n} in scope at floats`);
        assert.deepEqual(v.locate({ pc: entry, regs: new Map(), read: () => undefined, bits: f.bits }), { kind: 'optimized-out' }, `${name}: ${n}`);
        assert.equal(v.describeLocation(entry), 'optimized out');
      }
    }
    // Nothing outside the functions.
    assert.deepEqual(dv.localsAt(0x10n), []);
    assert.deepEqual(dv.framesAt(0xffff_0000n), []);
  });
}

// ---------------------------------------------------------------------------------------------
// The evaluator, list readers and type spelling on hand-made input.

function uleb(v: number | bigint): number[] {
  let x = BigInt(v);
  const out: number[] = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x) b |= 0x80;
    out.push(b);
  } while (x);
  return out;
}
function sleb(v: number | bigint): number[] {
  let x = BigInt(v);
  const out: number[] = [];
  for (;;) {
    const b = Number(x & 0x7fn);
    x >>= 7n;
    if ((x === 0n && !(b & 0x40)) || (x === -1n && b & 0x40)) { out.push(b); return out; }
    out.push(b | 0x80);
  }
}
const le = (v: bigint | number, n: number): number[] => Array.from({ length: n }, (_, i) => Number((BigInt(v) >> BigInt(8 * i)) & 0xffn));
const E = (...bytes: (number | number[])[]): Buffer => Buffer.from(bytes.flat());

test('evaluateLocation: addresses, registers, arithmetic, control flow, pieces, implicit and unavailable values, errors', () => {
  const mem = new Map<bigint, number>();
  for (let i = 0; i < 16; i++) mem.set(0x7000n + BigInt(i), 0x10 + i);
  const read = (addr: bigint, size: number): bigint | undefined => {
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) {
      const b = mem.get(addr + BigInt(i));
      if (b === undefined) return undefined;
      v = (v << 8n) | BigInt(b);
    }
    return v;
  };
  const regs = new Map<number, bigint>([[0, 5n], [5, 0x7000n], [6, 0x8000n], [7, 0x6ff8n], [17, 0x4000000000000000n | (0x3ff0000000000000n << 64n)]]);
  const frame: FrameContext = { pc: 0x1000n, regs, cfa: 0x7010n, read, bits: 64 };
  const double = { size: 8, signed: false, float: true };
  const env: ExprEnv = {
    addressSize: 8, loadOffset: 0x100000n, unitOffset: 0x40, frameBase: (fr) => fr.cfa! - 16n,
    addrIndex: (i) => (i === 2 ? 0x2000n : undefined),
    baseType: (off) => (off === 0x40 + 0x30 ? double : off === 0x40 + 0x38 ? { size: 4, signed: true, float: false } : undefined),
  };
  const ev = (...b: (number | number[])[]): ReturnType<typeof evaluateLocation> => evaluateLocation(E(...b), frame, env);
  assert.deepEqual(ev(0x03, le(0x2000, 8)), { kind: 'memory', address: 0x102000n }); // addr, moved by the load offset
  assert.deepEqual(ev(0x91, sleb(-20)), { kind: 'memory', address: 0x7010n - 16n - 20n }); // fbreg
  assert.deepEqual(ev(0x9c), { kind: 'memory', address: 0x7010n }); // call_frame_cfa
  assert.deepEqual(ev(0x77, sleb(8), 0x06), { kind: 'memory', address: read(0x7000n, 8)! }); // breg7 8; deref
  assert.deepEqual(ev(0x75, sleb(2), 0x94, 2, 0x9f), { kind: 'value', value: 0x1312n }); // breg5 2; deref_size 2; stack_value
  assert.deepEqual(ev(0x92, uleb(6), sleb(-8)), { kind: 'memory', address: 0x7ff8n }); // bregx
  assert.deepEqual(ev(0x55), { kind: 'register', reg: 5 });
  assert.deepEqual(ev(0x90, uleb(17)), { kind: 'register', reg: 17 });
  assert.deepEqual(ev(0x35, 0x33, 0x1c, 0x9f), { kind: 'value', value: 2n }); // lit5 lit3 minus
  assert.deepEqual(ev(0x09, 0xff, 0x9f), { kind: 'value', value: (1n << 64n) - 1n }); // const1s -1
  assert.deepEqual(ev(0x11, sleb(-7), 0x32, 0x1b, 0x9f), { kind: 'value', value: BigInt.asUintN(64, -3n) }); // consts -7 / 2 (signed)
  assert.deepEqual(ev(0x3f, 0x34, 0x1d, 0x9f), { kind: 'value', value: 3n }); // 15 mod 4
  assert.deepEqual(ev(0x31, 0x3c, 0x24, 0x9f), { kind: 'value', value: 4096n }); // 1 << 12
  assert.deepEqual(ev(0x09, 0x80, 0x34, 0x26, 0x9f), { kind: 'value', value: BigInt.asUintN(64, -8n) }); // -128 >>a 4
  assert.deepEqual(ev(0x09, 0x80, 0x3c, 0x25, 0x31, 0x1a, 0x9f), { kind: 'value', value: 1n }); // (-128 >> 60) & 1
  assert.deepEqual(ev(0x36, 0x12, 0x1e, 0x31, 0x22, 0x1f, 0x19, 0x9f), { kind: 'value', value: 37n }); // |-(6*6+1)|
  assert.deepEqual(ev(0x30, 0x20, 0x3f, 0x27, 0x3f, 0x21, 0x9f), { kind: 'value', value: BigInt.asUintN(64, ~0n) }); // ~0 ^ 15 | 15
  assert.deepEqual(ev(0x33, 0x35, 0x14, 0x16, 0x17, 0x13, 0x13, 0x9f), { kind: 'value', value: 5n }); // over, swap, rot, drop
  assert.deepEqual(ev(0x33, 0x35, 0x15, 1, 0x2d, 0x9f), { kind: 'value', value: 0n }); // pick 1: 3 < 5 → 1... then 5 < 3
  assert.deepEqual(ev(0x33, 0x35, 0x2b, 0x9f), { kind: 'value', value: 0n }); // 3 > 5
  assert.deepEqual(ev(0x33, 0x33, 0x29, 0x33, 0x35, 0x2e, 0x1e, 0x9f), { kind: 'value', value: 1n }); // (3 == 3) * (3 != 5)
  // A loop: sum 1..4 with bra and skip.
  // stack: n acc; while n: acc += n; n -= 1
  const loop = E(0x34, 0x30, /* L: */ 0x14, 0x28, le(3, 2), 0x2f, le(9, 2), /* body */ 0x14, 0x22, 0x16, 0x31, 0x1c, 0x16, 0x2f, le(-16, 2), /* end */ 0x16, 0x13, 0x9f);
  assert.deepEqual(evaluateLocation(loop, frame, env), { kind: 'value', value: 10n });
  // Pieces, lowest first: a register, an address, nothing (optimized out), an implicit value, a value.
  assert.deepEqual(ev(0x50, 0x93, uleb(4), 0x75, sleb(0), 0x93, uleb(2), 0x93, uleb(2), 0x9e, uleb(2), 0xaa, 0xbb, 0x93, uleb(2), 0x37, 0x9f, 0x9d, uleb(3), uleb(0)), {
    kind: 'pieces', pieces: [
      { location: { kind: 'register', reg: 0 }, sizeBits: 32 },
      { location: { kind: 'memory', address: 0x7000n }, sizeBits: 16 },
      { location: { kind: 'optimized-out' }, sizeBits: 16 },
      { location: { kind: 'bytes', bytes: Buffer.from([0xaa, 0xbb]) }, sizeBits: 16 },
      { location: { kind: 'value', value: 7n }, sizeBits: 3, offsetBits: 0 },
    ],
  });
  assert.deepEqual(ev(0x9e, uleb(4), 0, 0, 0xc0, 0x3f), { kind: 'bytes', bytes: Buffer.from([0, 0, 0xc0, 0x3f]) });
  // What only the caller knows: optimized out, alone or as a piece.
  assert.deepEqual(ev(0xa3, uleb(1), 0x55, 0x9f), { kind: 'optimized-out' });
  assert.deepEqual(ev(0xf3, uleb(1), 0x55, 0x31, 0x22, 0x9f), { kind: 'optimized-out' });
  assert.deepEqual(ev(0x53, 0x93, uleb(4), 0xa3, uleb(1), 0x54, 0x9f, 0x93, uleb(4)), {
    kind: 'pieces', pieces: [{ location: { kind: 'register', reg: 3 }, sizeBits: 32 }, { location: { kind: 'optimized-out' }, sizeBits: 32 }],
  });
  assert.deepEqual(ev(0xf2, le(0x1234, 4), sleb(0)), { kind: 'optimized-out' }); // GNU_implicit_pointer
  assert.deepEqual(ev(0xfa, le(0x1234, 4)), { kind: 'optimized-out' }); // GNU_parameter_ref
  assert.deepEqual(ev(), { kind: 'optimized-out' });
  assert.deepEqual(ev(0x55, 0xf0), { kind: 'register', reg: 5 }); // GNU_uninit
  // .debug_addr indexes.
  assert.deepEqual(ev(0xa1, uleb(2)), { kind: 'memory', address: 0x102000n });
  assert.deepEqual(ev(0xa2, uleb(2), 0x9f), { kind: 'value', value: 0x2000n });
  // Typed operations (gcc's floating-point entry values and arithmetic): xmm0's low double
  // (2.0) times a 1.5 constant, converted to int.
  const c15 = le(Buffer.from(new Float64Array([1.5]).buffer).readBigUInt64LE(), 8);
  const typed = ev(0xa5, uleb(17), uleb(0x30), 0xa4, uleb(0x30), 8, c15, 0x1e, 0x9f);
  assert.equal(typed.kind, 'value');
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE((typed as { value: bigint }).value);
  assert.equal(out.readDoubleLE(0), 3);
  assert.deepEqual(ev(0xa5, uleb(17), uleb(0x30), 0xa8, uleb(0x38), 0x9f), { kind: 'value', value: 2n });
  assert.deepEqual(ev(0x09, 0xfe, 0xa8, uleb(0x38), 0x9f), { kind: 'value', value: -2n }); // generic → signed int
  assert.deepEqual(ev(0x33, 0xa8, uleb(0x30), 0xa9, uleb(0), 0x9f), { kind: 'value', value: 0x4008000000000000n }); // 3 → 3.0, reinterpret
  // Errors: a register, memory or CFA the frame lacks, a bad stack, an unknown operation, a truncated one.
  assert.equal(ev(0x73, sleb(0)).kind, 'error');
  assert.match((ev(0x73, sleb(0)) as { message: string }).message, /rbx/);
  assert.match((ev(0x40, 0x06) as { message: string }).message, /cannot read memory at 0x10/);
  assert.match((evaluateLocation(E(0x9c), { ...frame, cfa: undefined }, env) as { message: string }).message, /CFA/);
  assert.match((ev(0x22) as { message: string }).message, /underflow/);
  assert.match((ev(0x01) as { message: string }).message, /unknown operation/);
  assert.equal(ev(0x0c, 1, 2).kind, 'error');
  assert.match((ev(0x55, 0x31) as { message: string }).message, /after a register/);
  assert.match((ev(0x2f, le(100, 2)) as { message: string }).message, /outside the expression/);
  assert.equal(ev(0xe0).kind, 'error'); // TLS
  assert.equal(evaluateLocation(E(0x91, 0), frame, { ...env, frameBase: undefined }).kind, 'error');
  assert.match((evaluateLocation(E(0x2f, le(-3, 2)), frame, env) as { message: string }).message, /too many steps/);
  // 32-bit arithmetic wraps at 32 bits.
  assert.deepEqual(evaluateLocation(E(0x30, 0x31, 0x1c, 0x9f), { ...frame, bits: 32 }, { ...env, addressSize: 4 }), { kind: 'value', value: 0xffffffffn });
  assert.deepEqual(evaluateLocation(E(0x03, le(0xfff00000, 4)), { ...frame, bits: 32 }, { ...env, addressSize: 4 }), { kind: 'memory', address: 0n });
});

test('formatExpression: objdump syntax', () => {
  assert.equal(formatExpression(E(0x91, sleb(-20)), 8, 64), 'DW_OP_fbreg: -20');
  assert.equal(formatExpression(E(0x77, sleb(8), 0x06, 0x23, uleb(16)), 8, 64), 'DW_OP_breg7 (rsp): 8; DW_OP_deref; DW_OP_plus_uconst: 16');
  assert.equal(formatExpression(E(0x75, sleb(-4)), 4, 32), 'DW_OP_breg5 (ebp): -4');
  assert.equal(formatExpression(E(0x5b), 4, 32), 'DW_OP_reg11 (st0)');
  assert.equal(formatExpression(E(0x92, uleb(17), sleb(4), 0x90, uleb(33)), 8, 64), 'DW_OP_bregx: 17 (xmm0) 4; DW_OP_regx: 33 (st0)');
  assert.equal(formatExpression(E(0x03, le(0x104020, 8)), 8, 64), 'DW_OP_addr: 104020');
  assert.equal(formatExpression(E(0xa3, uleb(1), 0x55, 0x9f), 8, 64), 'DW_OP_entry_value: (DW_OP_reg5 (rdi)); DW_OP_stack_value');
  assert.equal(formatExpression(E(0x9e, uleb(4), 0, 0, 0xc0, 0x3f), 8, 64), 'DW_OP_implicit_value 4 byte block: 0 0 c0 3f ');
  assert.equal(formatExpression(E(0x50, 0x93, uleb(4), 0x9d, uleb(3), uleb(5)), 8, 64), 'DW_OP_reg0 (rax); DW_OP_piece: 4; DW_OP_bit_piece: size: 3 offset: 5 ');
  assert.equal(formatExpression(E(0xa1, uleb(0), 0xa1, uleb(10)), 8, 64), 'DW_OP_addrx <0>; DW_OP_addrx <0xa>');
  assert.equal(formatExpression(E(0xa5, uleb(17), uleb(0x2a)), 8, 64, 0x100), 'DW_OP_regval_type: 17 (xmm0) <0x12a>');
  assert.equal(formatExpression(E(0x08, 5, 0x0b, le(-2, 2), 0x10, uleb(300), 0x11, sleb(-300)), 8, 64), 'DW_OP_const1u: 5; DW_OP_const2s: -2; DW_OP_constu: 300; DW_OP_consts: -300');
  assert.equal(formatExpression(E(0x01), 8, 64), '(unknown operation 0x1)');
  assert.equal(formatExpression(E(0x0c, 1), 8, 64), '(truncated)');
});

const LIST_UNIT = (version: number, addressSize = 8): ListUnit => ({
  version, addressSize, offsetSize: 4, base: 0x1000n, loadOffset: 0x10n, addrIndex: (i) => [0x5000n, 0x6000n][i],
});

test('location lists: .debug_loc (base selection) and .debug_loclists (every DW_LLE kind)', () => {
  const x = [0x50]; // DW_OP_reg0
  const y = [0x51];
  // DWARF 4: a pair relative to the unit's base, a base selection, a pair after it, the end.
  const v4 = E(le(0x10, 8), le(0x20, 8), le(1, 2), x, le(-1n, 8), le(0x3000, 8), le(0, 8), le(4, 8), le(1, 2), y, le(5, 8), le(5, 8), le(1, 2), x, le(0, 8), le(0, 8));
  const l4 = readLocationList(v4, 0, LIST_UNIT(4));
  assert.deepEqual(l4.entries.map((e) => [e.begin, e.end, [...e.expr]]), [[0x1020n, 0x1030n, x], [0x3010n, 0x3014n, y]]);
  // 32-bit: the base selection is 0xffffffff.
  const v4b = E(le(0xffffffff, 4), le(0x8000, 4), le(0, 4), le(2, 4), le(1, 2), x, le(0, 4), le(0, 4));
  assert.deepEqual(readLocationList(v4b, 0, LIST_UNIT(4, 4)).entries.map((e) => [e.begin, e.end]), [[0x8010n, 0x8012n]]);
  // DWARF 5.
  const v5 = E(
    0x09, uleb(0), uleb(1), // GNU view pair
    0x04, uleb(0), uleb(0x10), uleb(1), x, // offset_pair on the unit base
    0x06, le(0x2000, 8), 0x04, uleb(4), uleb(8), uleb(1), y, // base_address, offset_pair
    0x01, uleb(1), 0x04, uleb(0), uleb(2), uleb(1), x, // base_addressx
    0x02, uleb(0), uleb(1), uleb(1), y, // startx_endx
    0x03, uleb(1), uleb(0x20), uleb(1), x, // startx_length
    0x07, le(0x7000, 8), le(0x7004, 8), uleb(1), y, // start_end
    0x08, le(0x7100, 8), uleb(6), uleb(1), x, // start_length
    0x05, uleb(1), y, // default_location
    0x00,
  );
  const l5 = readLocationList(v5, 0, LIST_UNIT(5));
  assert.deepEqual(l5.entries.map((e) => [e.begin, e.end]), [
    [0x1010n, 0x1020n], [0x2014n, 0x2018n], [0x6010n, 0x6012n], [0x5010n, 0x6010n], [0x6010n, 0x6030n], [0x7010n, 0x7014n], [0x7110n, 0x7116n],
  ]);
  assert.deepEqual([...l5.defaultExpr!], y);
  assert.throws(() => readLocationList(E(0x0b), 0, LIST_UNIT(5)), /unknown entry kind/);
  assert.throws(() => readLocationList(E(0x04, uleb(1)), 0, LIST_UNIT(5)), /runs past the end/);
  assert.throws(() => readLocationList(undefined, 0, LIST_UNIT(5)), /\.debug_loclists is missing/);
  // loclistx: an offset table after the header.
  const table = E(le(8, 4), le(20, 4));
  assert.equal(listxOffset(table, '.debug_loclists', 0, 1, 4), 20);
});

test('range lists: .debug_ranges and .debug_rnglists', () => {
  const v4 = E(le(0, 8), le(0x10, 8), le(-1n, 8), le(0x9000, 8), le(1, 8), le(3, 8), le(0, 8), le(0, 8));
  assert.deepEqual(readRangeList(v4, 0, LIST_UNIT(4)), [{ begin: 0x1010n, end: 0x1020n }, { begin: 0x9011n, end: 0x9013n }]);
  const v5 = E(
    0x04, uleb(0), uleb(4), 0x05, le(0x3000, 8), 0x04, uleb(1), uleb(2), 0x01, uleb(0), 0x04, uleb(0), uleb(1),
    0x02, uleb(0), uleb(1), 0x03, uleb(1), uleb(8), 0x06, le(0x100, 8), le(0x180, 8), 0x07, le(0x200, 8), uleb(0x10), 0x00,
  );
  assert.deepEqual(readRangeList(v5, 0, LIST_UNIT(5)).map((r) => [r.begin, r.end]), [
    [0x1010n, 0x1014n], [0x3011n, 0x3012n], [0x5010n, 0x5011n], [0x5010n, 0x6010n], [0x6010n, 0x6018n], [0x110n, 0x190n], [0x210n, 0x220n],
  ]);
  assert.throws(() => readRangeList(E(0x08), 0, LIST_UNIT(5)), /unknown entry kind/);
});

test('typeName and typeSize: C declarator spelling', () => {
  const int: CType = { kind: 'base', name: 'int', size: 4, encoding: 'signed' };
  const char: CType = { kind: 'base', name: 'char', size: 1, encoding: 'char' };
  const ptr = (target: CType | undefined): CType => ({ kind: 'pointer', size: 8, target });
  const q = (qualifier: 'const' | 'volatile' | 'restrict' | 'atomic', target: CType | undefined): CType => ({ kind: 'qualified', qualifier, target });
  const arr = (element: CType, count: number | undefined): CType => ({ kind: 'array', element, count });
  const fn = (returns: CType | undefined, params?: CType[], variadic?: boolean): CType => ({ kind: 'function', returns, params, variadic });
  assert.equal(typeName(undefined), 'void');
  assert.equal(typeName(ptr(undefined)), 'void *');
  assert.equal(typeName(ptr(q('const', undefined))), 'const void *');
  assert.equal(typeName(ptr(q('const', char))), 'const char *');
  assert.equal(typeName(q('const', ptr(char))), 'char * const');
  assert.equal(typeName(ptr(q('const', ptr(char)))), 'char * const *');
  assert.equal(typeName(q('volatile', q('const', int))), 'const volatile int');
  assert.equal(typeName(q('restrict', ptr(int))), 'int * restrict');
  assert.equal(typeName(q('atomic', int)), '_Atomic int');
  assert.equal(typeName(arr(arr(int, 4), 3)), 'int [3][4]');
  assert.equal(typeName(arr(int, undefined)), 'int []');
  assert.equal(typeName(arr(ptr(char), 4)), 'char *[4]');
  assert.equal(typeName(ptr(arr(int, 4))), 'int (*)[4]');
  assert.equal(typeName(ptr(fn(int, [int, int]))), 'int (*)(int, int)');
  assert.equal(typeName(ptr(fn(undefined, []))), 'void (*)(void)');
  assert.equal(typeName(ptr(fn(int, [ptr(q('const', char))], true))), 'int (*)(const char *, ...)');
  assert.equal(typeName(ptr(fn(ptr(char)))), 'char *(*)()');
  assert.equal(typeName(arr(ptr(fn(int, [])), 2)), 'int (*[2])(void)');
  assert.equal(typeName(q('const', arr(int, 2))), 'const int [2]');
  assert.equal(typeName({ kind: 'struct', size: 8, members: [] }), 'struct {...}');
  assert.equal(typeName(ptr({ kind: 'union', name: 'u', size: 8, members: [] })), 'union u *');
  assert.equal(typeName({ kind: 'enum', size: 4, enumerators: [] }), 'enum {...}');
  assert.equal(typeName({ kind: 'typedef', name: 'uint32_t', target: int }), 'uint32_t');
  assert.equal(typeName({ kind: 'base', name: 'long long unsigned int', size: 8, encoding: 'unsigned' }), 'unsigned long long');
  assert.equal(typeName({ kind: 'base', name: 'DW_ATE_unsigned_32', size: 4, encoding: 'unsigned' }), 'DW_ATE_unsigned_32');
  assert.equal(typeSize(arr(arr(int, 4), 3)), 48);
  assert.equal(typeSize(arr(int, undefined)), 0);
  assert.equal(typeSize(q('const', { kind: 'typedef', name: 't', target: ptr(int) })), 8);
  assert.equal(typeSize(undefined), 1);
  assert.equal(typeSize({ kind: 'unknown', name: 'complex float', size: 8 }), 8);
});

test('an ELF without DWARF gives no variables', () => {
  const elf = join(VARS_BUILD_DIR, `nodebug.${process.pid}.elf`);
  try {
    tool('objcopy', ['--strip-debug', varsElfPath(FLAVOURS[0]), elf]);
    const dv = DwarfVariables.fromElf(readFileSync(elf), elf);
    assert.deepEqual(dv.globals(), []);
    assert.deepEqual(dv.localsAt(0x100000n), []);
    assert.equal(dv.typeByName('struct node'), undefined);
    assert.equal(typeName(dv.typeByName('unsigned')), 'unsigned int');
  } finally {
    rmSync(elf, { force: true });
  }
});
