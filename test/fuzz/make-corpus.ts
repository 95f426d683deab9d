// Writes the fuzzers' seed corpus, test/fuzz/corpus/<target>/seed-*: real guests built from
// source by the test guest builders (test/guests: the loader guests, the fake bzImage, the DWARF
// programs in several flavours, the variables program with gcc), their debug sections packed as
// the DWARF targets take them (targets.ts packSections), and a few files made here. Files named
// regress-* (inputs of crashes found and fixed) are left alone.
//   npm run fuzz:corpus
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { buildLoaderGuests } from '../guests/build-loaders.js';
import { buildFakeBzImage } from '../guests/bzimage/build.js';
import { buildDwarfGuest, buildDwarfGuests, type Flavour } from '../guests/dwarf/build.js';
import { buildVarsGuests, type VarsFlavour } from '../guests/dwarf-vars/build.js';
import { ElfImage } from '../../src/symbols/elf-file.js';
import { iterateDies, unitHeaders } from '../../src/symbols/dwarf/info.js';
import { MULTIBOOT_HEADER_MAGIC } from '../../src/formats/detect.js';
import { buildElf, pvhElf, symbolTable, SHT_PROGBITS, SHT_STRTAB, SHT_SYMTAB } from './elf-builder.js';
import { CORPUS_DIR } from './run.js';
import { ROOT } from '../support/paths.js';
import { FUZZ_INDEX_FACTS, FUZZ_LINE_INDEX_FACTS, PVH_SEEDS, SECTION_NAMES, SYSTEM_MAP_SEEDS, packSections } from './targets.js';
import { NameIndex } from '../../src/symbols/dwarf/name-index.js';
import { serializeIndex } from '../../src/symbols/dwarf/name-index-cache.js';
import { LineTable } from '../../src/symbols/dwarf/line.js';
import { dwarfSections } from '../../src/symbols/dwarf/info.js';

const DW_AT_location = 0x02;
const DW_AT_ranges = 0x55;
const DW_FORM_sec_offset = 0x17;
const DW_FORM_data4 = 0x06;
const DW_FORM_loclistx = 0x22;

function write(target: string, name: string, data: Buffer): void {
  const dir = join(CORPUS_DIR, target);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `seed-${name}`), data);
}

function clearSeeds(): void {
  mkdirSync(CORPUS_DIR, { recursive: true });
  for (const t of readdirSync(CORPUS_DIR)) {
    for (const f of readdirSync(join(CORPUS_DIR, t))) if (f.startsWith('seed-')) rmSync(join(CORPUS_DIR, t, f));
  }
}

/** The body of a name-index cache file (the JSON after its header line) for an ELF file's DWARF. */
function nameIndexBody(path: string): Buffer {
  const sections = dwarfSections(ElfImage.open(path));
  const { index } = NameIndex.scan(unitHeaders(sections).map((header) => ({ header, sections, bias: 0 })));
  const file = serializeIndex(index, FUZZ_INDEX_FACTS);
  return file.subarray(file.indexOf(0x0a) + 1);
}

/** The body of a line-index cache file for an ELF file's DWARF, with the fuzz target's facts. */
function lineIndexBody(path: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'kvmdbg-corpus-'));
  try {
    const table = LineTable.fromElf(ElfImage.open(path), path, 0n, { lazyLineBytes: 0, indexCacheDir: dir });
    const file = readFileSync(table.lineIndex!.file);
    const doc = JSON.parse(file.toString('utf8', file.indexOf(0x0a) + 1)) as Record<string, unknown>;
    return Buffer.from(JSON.stringify({ ...doc, key: FUZZ_LINE_INDEX_FACTS.key, sections: FUZZ_LINE_INDEX_FACTS.sections }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The debug sections of an ELF file, by name. */
function debugSections(path: string): Record<string, Buffer> {
  const elf = ElfImage.open(path);
  const out: Record<string, Buffer> = {};
  for (const name of SECTION_NAMES) {
    const data = elf.section(name);
    if (data?.length) out[name] = data;
  }
  return out;
}

/** Offsets of the location and range lists the units' DIEs name (u16 each), and their loclistx indexes. */
function listRefs(s: Record<string, Buffer>): { offsets: Buffer; indexes: Buffer } {
  const sections = { info: s['.debug_info'], abbrev: s['.debug_abbrev'], str: s['.debug_str'], lineStr: s['.debug_line_str'], strOffsets: s['.debug_str_offsets'], addr: s['.debug_addr'] };
  const offsets: number[] = [];
  const indexes: number[] = [];
  for (const h of unitHeaders(sections)) {
    for (const d of iterateDies(sections, h, { wanted: new Set([DW_AT_location, DW_AT_ranges]) })) {
      for (const name of [DW_AT_location, DW_AT_ranges]) {
        const a = d.attrs.get(name);
        if (!a || typeof a.value !== 'number') continue;
        if (a.form === DW_FORM_sec_offset || a.form === DW_FORM_data4) offsets.push(a.value);
        else if (a.form === DW_FORM_loclistx) indexes.push(a.value);
      }
    }
  }
  const o = Buffer.alloc(2 * Math.min(offsets.length, 64));
  offsets.slice(0, 64).forEach((v, i) => o.writeUInt16LE(v & 0xffff, 2 * i));
  return { offsets: o, indexes: Buffer.from(indexes.slice(0, 16).map((i) => i & 0xff)) };
}

async function main(): Promise<void> {
  clearSeeds();

  // Loader guests: ELF32/64, Multiboot 1 (ELF, ELF64, a.out kludge), Multiboot 2 (ELF, address tag).
  const g = buildLoaderGuests();
  for (const n of ['elf32', 'elf64', 'elf64Higher'] as const) write('elf', n, g[n].image);
  for (const n of ['mb1', 'mb1Higher', 'mb1Aout', 'mb1Elf64'] as const) write('multiboot', n, g[n].image);
  for (const n of ['mb2', 'mb2Aout'] as const) write('multiboot2', n, g[n].image);
  write('bzimage', 'fake-bzimage', buildFakeBzImage().image);
  for (const [bits, desc] of PVH_SEEDS) write('pvh', `made-${bits}-desc${desc}`, pvhElf(bits, desc));
  SYSTEM_MAP_SEEDS.forEach((text, i) => write('system-map', `made-${i}`, Buffer.from(text)));
  write('btf', 'gcc-gbtf-types', btfOfTypesC());

  // ELF files made here: symbols in both classes, a zlib-compressed section, a PIE.
  const strtab = Buffer.from('\0_start\0main\0data\0');
  const text = Buffer.from([0x90, 0x90, 0xf4, 0xeb, 0xfd]);
  for (const bits of [32, 64] as const) {
    write('elf', `made-${bits}`, buildElf({
      bits,
      segments: [{ paddr: 0x100000n, data: text, memsz: 0x2000n }],
      sections: [
        { name: '.text', type: SHT_PROGBITS, data: text, addr: 0x100000n, flags: 6n },
        { name: '.symtab', type: SHT_SYMTAB, data: symbolTable(bits, [{ nameOff: 1, value: 0x100000n, size: 5n }, { nameOff: 8, value: 0x100002n, info: 0x02 }, { nameOff: 13, value: 0x101000n, info: 0x11, size: 4n }]), link: '.strtab', entsize: bits === 64 ? 24 : 16, info: 1 },
        { name: '.strtab', type: SHT_STRTAB, data: strtab },
      ],
    }));
  }
  const plain = Buffer.from('line one\nline two\n'.repeat(4));
  const chdr = Buffer.alloc(24);
  chdr.writeUInt32LE(1, 0);
  chdr.writeBigUInt64LE(BigInt(plain.length), 8);
  write('elf', 'compressed', buildElf({
    segments: [{ paddr: 0x100000n, data: text }],
    sections: [{ name: '.debug_str', type: SHT_PROGBITS, flags: 0x800n, data: Buffer.concat([chdr, deflateSync(plain)]) }],
  }));
  write('elf', 'pie', buildElf({ type: 3, segments: [{ paddr: 0n, data: text }] }));

  // A Multiboot 1 a.out kludge image of 48 bytes, a Multiboot 2 header with every tag kvmdbg knows.
  const mb = Buffer.alloc(48, 0x90);
  [MULTIBOOT_HEADER_MAGIC, 0x10003, (-(MULTIBOOT_HEADER_MAGIC + 0x10003)) >>> 0, 0x100000, 0x100000, 0, 0x110000, 0x100020]
    .forEach((w, i) => mb.writeUInt32LE(w >>> 0, 4 * i));
  write('multiboot', 'made-aout', mb);
  const tags = Buffer.concat([
    Buffer.from([1, 0, 0, 0, 16, 0, 0, 0, 6, 0, 0, 0, 4, 0, 0, 0]), // information request: mmap, meminfo
    Buffer.from([2, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0x20, 0x10, 0]), // address
    Buffer.from([3, 0, 0, 0, 12, 0, 0, 0, 0x40, 0, 0x10, 0, 0, 0, 0, 0]), // entry address (+ padding)
    Buffer.from([4, 0, 1, 0, 12, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0]), // console flags, optional
    Buffer.from([6, 0, 0, 0, 8, 0, 0, 0]), // module alignment
    Buffer.from([0, 0, 0, 0, 8, 0, 0, 0]), // end
  ]);
  const mb2 = Buffer.alloc(16 + tags.length + 64, 0x90);
  const len = 16 + tags.length;
  [0xe85250d6, 0, len, (-(0xe85250d6 + len)) >>> 0].forEach((w, i) => mb2.writeUInt32LE(w >>> 0, 4 * i));
  tags.copy(mb2, 16);
  write('multiboot2', 'made-tags', mb2);

  // DWARF: the line/info/CFI/list sections of the DWARF programs and the variables program.
  const flavours: Flavour[] = [
    { bits: 64, opt: 0, dwarf: 5 }, { bits: 64, opt: 2, dwarf: 5 }, { bits: 32, opt: 2, dwarf: 4 }, { bits: 64, opt: 0, dwarf: 4, debugFrame: true },
    { bits: 64, opt: 0, dwarf: 5, dwarf64: true },
  ];
  await buildDwarfGuests(flavours);
  const elfs: { name: string; path: string; bits: 32 | 64; dwarf: 4 | 5 }[] = flavours.map((f) => ({
    name: `m${f.bits}-O${f.opt}-d${f.dwarf}${f.debugFrame ? '-df' : ''}${f.dwarf64 ? '-dwarf64' : ''}`, path: buildDwarfGuest(f), bits: f.bits, dwarf: f.dwarf,
  }));
  const vars: VarsFlavour[] = [{ cc: 'gcc', bits: 64, opt: 0, dwarf: 5 }, { cc: 'gcc', bits: 64, opt: 2, dwarf: 4 }, { cc: 'gcc', bits: 64, opt: 0, dwarf: 4, typeUnits: true }];
  const varPaths = await buildVarsGuests(vars);
  vars.forEach((f, i) => elfs.push({ name: `vars-m${f.bits}-O${f.opt}-d${f.dwarf}${f.typeUnits ? '-types' : ''}`, path: varPaths[i], bits: f.bits, dwarf: f.dwarf }));
  for (const e of elfs) {
    const s = debugSections(e.path);
    const pick = (...names: string[]): Record<string, Buffer> => Object.fromEntries(names.filter((n) => s[n]).map((n) => [n, s[n]]));
    const bits32 = e.bits === 32 ? 1 : 0;
    write('dwarf-line', e.name, packSections(bits32, pick('.debug_line', '.debug_line_str', '.debug_info', '.debug_abbrev', '.debug_str', '.debug_str_offsets')));
    write('dwarf-info', e.name, packSections(bits32, pick('.debug_info', '.debug_abbrev', '.debug_str', '.debug_line', '.debug_line_str', '.debug_str_offsets', '.debug_addr', '.debug_loc', '.debug_loclists', '.debug_ranges', '.debug_rnglists', '.debug_types')));
    if (e.name.startsWith('vars-')) write('dwarf-name-index', e.name, nameIndexBody(e.path));
    write('dwarf-line-index', e.name, lineIndexBody(e.path));
    if (s['.eh_frame'] || s['.debug_frame']) write('dwarf-cfi', e.name, packSections(e.bits === 32 ? 2 : 0, pick('.eh_frame', '.debug_frame')));
    const lists = pick(e.dwarf === 5 ? '.debug_loclists' : '.debug_loc', e.dwarf === 5 ? '.debug_rnglists' : '.debug_ranges', '.debug_addr');
    if (Object.keys(lists).length) {
      const { offsets, indexes } = listRefs(s);
      write('dwarf-loclists', e.name, packSections((e.dwarf === 5 ? 1 : 0) | (e.bits === 32 ? 2 : 0), { '.debug_info': offsets, '.debug_str_offsets': indexes, ...lists }));
    }
  }

  // C expressions as the Debug Console and watches take them.
  const exprs = [
    'x', '1 + 2 * 3', '(unsigned long)p->next->value', 'sizeof(struct node) * 2', 'arr[3][i + 1]', '$rax & 0xff', '*(int *)0x1000',
    "c == 'a' ? 1.5e3f : -0x10UL", 'phys:0xb8000', 'a = b << 2 | ~c', '(const char **)argv', 'sizeof(node_t[4])', '!flag && (x >= 3 || y != 0)',
    "'\\x41' + '\\101' + '\\n'", '(int (*)[8])buf', '0b1010 % 07', 'v.f.g->h[0]', '-(-(-1))', '1ULL << 63', 'a ? b : c ? d : e',
  ];
  exprs.forEach((x, i) => write('c-expression', String(i).padStart(2, '0'), Buffer.from(x)));
}

/** The .BTF gcc -gbtf makes for test/guests/btf/types.c (structs, bit-fields, enums, unions, function pointers). */
function btfOfTypesC(): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'kvmdbg-corpus-btf-'));
  try {
    const exe = join(dir, 'types');
    execFileSync('gcc', ['-gbtf', join(ROOT, 'test', 'guests', 'btf', 'types.c'), '-o', exe]);
    return ElfImage.open(readFileSync(exe), exe).section('.BTF') ?? assert.fail('gcc -gbtf made no .BTF');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
