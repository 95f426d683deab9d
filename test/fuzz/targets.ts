// The fuzz targets: each takes one input and drives one parser over it the way kvmdbg does. A
// target returns, or throws the parser's own error (GuestError, DwarfError), which is a clean
// refusal; any other exception (TypeError, RangeError...) escapes and is a crash. Hangs and
// unbounded memory are caught around the target (engine.ts, run.ts).
//
// DWARF and CFI inputs are several sections in one buffer (packSections): a flags byte, then
// [section id, u16 length, bytes] records, so that a mutation lands in one section's bytes.
import { GuestError } from '../../src/errors.js';
import { parseElf } from '../../src/symbols/elf-parse.js';
import { ElfImage } from '../../src/symbols/elf-file.js';
import { SymbolTable } from '../../src/symbols/elf-symbols.js';
import { DwarfError } from '../../src/symbols/dwarf/reader.js';
import { DwarfInfo, compileUnits, hasLocationLists, iterateDies, unitHeaders, type DwarfSections } from '../../src/symbols/dwarf/info.js';
import { LineTable, readLineHeader } from '../../src/symbols/dwarf/line.js';
import { CallFrameInfo, parseFrameSection, unwindWithFramePointer } from '../../src/symbols/dwarf/cfi.js';
import { expressionAt, listxOffset, readLocationList, readRangeList, type ListUnit } from '../../src/symbols/dwarf/loclists.js';
import { evaluateLocation, formatExpression, type ExprEnv, type FrameContext, type MemoryReader } from '../../src/symbols/dwarf/expr.js';
import { DwarfVariables, typeName, type CType as DwarfType } from '../../src/symbols/dwarf/variables.js';
import { INDEX_MAGIC, INDEX_VERSION, parseIndex } from '../../src/symbols/dwarf/name-index-cache.js';
import type { IndexFacts } from '../../src/symbols/dwarf/index-cache.js';
import { LINE_INDEX_MAGIC, LINE_INDEX_VERSION, parseLineIndex } from '../../src/symbols/dwarf/line-index-cache.js';
import { createHash } from 'node:crypto';
import { loadGuest } from '../../src/vmm/loaders/detect.js';
import { isSystemMap, parseSystemMap } from '../../src/symbols/system-map.js';
import { Btf } from '../../src/symbols/btf.js';
import { detectFormat } from '../../src/formats/detect.js';
import type { GuestFormat, Module } from '../../src/vmm/loaders/types.js';
import { parse, type Node as ExprNode, type TypeResolver } from '../../src/debugger/expr/parser.js';
import { builtins, type CType } from '../../src/debugger/expr/ctypes.js';
import { buildElf, SHT_PROGBITS } from './elf-builder.js';
import { FakeMemory } from './fake-memory.js';

export interface Target {
  name: string;
  /** Inputs are cut to this many bytes. */
  maxLen: number;
  /** Byte strings the mutator may insert (magic numbers, opcodes, keywords). */
  dict: Buffer[];
  run(data: Buffer): void;
}

/** A clean refusal: the parsers' own error types. */
export function allowed(e: unknown): boolean {
  return e instanceof GuestError || e instanceof DwarfError;
}

/** Runs `f`; a clean refusal ends it quietly, anything else propagates. */
function tolerate<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch (e) {
    if (allowed(e)) return undefined;
    throw e;
  }
}

// --- sections in one buffer ----------------------------------------------------------------------

export const SECTION_NAMES = [
  '.debug_info', '.debug_abbrev', '.debug_str', '.debug_line', '.debug_line_str', '.debug_str_offsets', '.debug_addr',
  '.debug_loc', '.debug_loclists', '.debug_ranges', '.debug_rnglists', '.debug_types', '.eh_frame', '.debug_frame',
] as const;

export function packSections(flags: number, sections: Partial<Record<string, Buffer>>): Buffer {
  const parts: Buffer[] = [Buffer.from([flags])];
  for (const [name, data] of Object.entries(sections)) {
    if (!data) continue;
    const id = SECTION_NAMES.indexOf(name as (typeof SECTION_NAMES)[number]);
    if (id < 0) throw new Error(`no section id for ${name}`);
    const len = Math.min(data.length, 0xffff);
    const head = Buffer.alloc(3);
    head[0] = id;
    head.writeUInt16LE(len, 1);
    parts.push(head, data.subarray(0, len));
  }
  return Buffer.concat(parts);
}

export function unpackSections(data: Buffer): { flags: number; sections: Map<string, Buffer> } {
  const sections = new Map<string, Buffer>();
  let p = 1;
  while (p + 3 <= data.length) {
    const name = SECTION_NAMES[data[p] % SECTION_NAMES.length];
    const len = Math.min(data.readUInt16LE(p + 1), data.length - p - 3);
    if (!sections.has(name)) sections.set(name, data.subarray(p + 3, p + 3 + len));
    p += 3 + len;
  }
  return { flags: data[0] ?? 0, sections };
}

function dwarfOf(s: Map<string, Buffer>): DwarfSections {
  return {
    info: s.get('.debug_info'), abbrev: s.get('.debug_abbrev'), str: s.get('.debug_str'), line: s.get('.debug_line'),
    lineStr: s.get('.debug_line_str'), strOffsets: s.get('.debug_str_offsets'), addr: s.get('.debug_addr'),
  };
}

/** An ELF64 (ELF32 with `bits` 32) that holds the sections, for the readers that open ELF files. */
function elfOf(s: Map<string, Buffer>, bits: 32 | 64): Buffer {
  return buildElf({
    bits,
    segments: [{ paddr: 0x100000n, data: Buffer.from([0xf4]) }],
    sections: [...s].map(([name, data]) => ({ name, type: SHT_PROGBITS, data })),
  });
}

// --- shared fixtures -----------------------------------------------------------------------------

/** Memory at [0x6000, 0x8000): a hash of the address; elsewhere unreadable. */
const read: MemoryReader = (addr, size) =>
  addr >= 0x6000n && addr < 0x8000n && size >= 1 && size <= 8 ? BigInt.asUintN(size * 8, addr * 0x9e3779b97f4a7c15n) : undefined;

function frameOf(bits: 32 | 64, pc: bigint): FrameContext {
  const regs = new Map<number, bigint>();
  for (let r = 0; r < 17; r++) regs.set(r, 0x6000n + BigInt(r) * 0x100n);
  return { pc, regs, cfa: 0x7010n, read, bits };
}

let memory: FakeMemory | undefined;
/** One 8 MiB guest memory for every load (not cleared between inputs: loaders must not care). */
function guestMemory(): FakeMemory {
  return (memory ??= new FakeMemory(8 << 20));
}

function load(data: Buffer, format: GuestFormat, modules: Module[] = []): void {
  tolerate(() => loadGuest(data, guestMemory().asGuestMemory, { fileName: 'fuzz', format, cmdline: 'console=ttyS0', modules }));
}

const le32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};

// --- the targets ---------------------------------------------------------------------------------

const elf: Target = {
  name: 'elf',
  maxLen: 64 * 1024,
  dict: [Buffer.from('\x7fELF'), Buffer.from([1, 1, 1]), Buffer.from([2, 1, 1]), le32(0xffff), le32(0xffffffff), Buffer.from('.debug_info\0'), Buffer.from('.symtab\0')],
  run(data) {
    const f = tolerate(() => parseElf(data, 'fuzz.elf'));
    if (f) {
      const symbols = tolerate(() => f.symbols);
      if (symbols) {
        const t = new SymbolTable(symbols, 0x1000n, 'fuzz.elf', f.header.bits);
        for (const s of symbols.slice(0, 32)) {
          t.lookup(s.value + 1n);
          t.byName(s.name);
        }
        t.functions();
      }
      load(data, f.header.bits === 64 ? 'elf64' : 'elf32');
    }
    const img = tolerate(() => ElfImage.open(data, 'fuzz.elf'));
    if (img) for (const s of img.elf.sections.slice(0, 32)) tolerate(() => img.section(s.name));
  },
};

const multiboot: Target = {
  name: 'multiboot',
  maxLen: 64 * 1024,
  dict: [le32(0x1badb002), le32(0x00010000), le32(0x00010003), le32(0x100000), Buffer.from('\x7fELF')],
  run(data) {
    detectFormat(data);
    load(data, 'multiboot', [{ path: 'initrd', args: 'mod one', data: Buffer.from('module data') }]);
  },
};

const multiboot2: Target = {
  name: 'multiboot2',
  maxLen: 64 * 1024,
  dict: [le32(0xe85250d6), le32(0), le32(0xffffffff), Buffer.from([1, 0, 0, 0]), Buffer.from([2, 0, 0, 0, 24, 0, 0, 0]), Buffer.from([3, 0, 0, 0, 12, 0, 0, 0]), Buffer.from([0, 0, 0, 0, 8, 0, 0, 0])],
  run(data) {
    detectFormat(data);
    load(data, 'multiboot2', [{ path: 'initrd', args: 'mod', data: Buffer.from('module data') }]);
  },
};

const bzimage: Target = {
  name: 'bzimage',
  maxLen: 64 * 1024,
  dict: [Buffer.from('HdrS'), Buffer.from([0x55, 0xaa]), Buffer.from([0x0f, 0x02]), Buffer.from([0x06, 0x02]), le32(0x100000), le32(0x200000), le32(0x1000000)],
  run(data) {
    detectFormat(data);
    load(data, 'bzimage', [{ path: 'initrd', args: '', data: Buffer.from('initrd!') }, { path: 'b', args: '', data: Buffer.from('xy') }]);
  },
};

/** The PVH seeds (make-corpus.ts): ELF class and note descriptor size. */
export const PVH_SEEDS: [32 | 64, 4 | 8][] = [[32, 4], [64, 8], [64, 4]];
/** The System.map seeds: nm's order and letters, kallsyms with a module, 32-bit. */
export const SYSTEM_MAP_SEEDS = [
  'ffffffff81000000 T _text\nffffffff81000000 T startup_64\nffffffff82a00000 D _sdata\nffffffff8307a9f0 T start_kernel\nffffffff83400000 b bss_thing\n0000000000000000 A __per_cpu_start\n',
  'ffffffffc0a01000 t ext4_fill_super\t[ext4]\r\nffffffff8307a9f0 T start_kernel\r\n',
  'c1000000 T _text\nc17a0000 T start_kernel\n00000000 U undefined_one\nc1800000 W weak_fn\n',
];

const pvh: Target = {
  name: 'pvh',
  maxLen: 16 * 1024,
  dict: [Buffer.from('Xen\0'), le32(18), le32(4), le32(8), le32(0x100000), Buffer.from([4, 0, 0, 0])],
  run(data) {
    detectFormat(data);
    load(data, 'pvh', [{ path: 'initrd', args: 'initrd', data: Buffer.from('initrd!') }]);
  },
};

const systemMap: Target = {
  name: 'system-map',
  maxLen: 16 * 1024,
  dict: [' T ', ' t ', ' U ', ' A ', '\t[ext4]', 'ffffffff81000000', 'c1000000', '0000000000000000', '\r\n'].map((s) => Buffer.from(s)),
  run(data) {
    if (!isSystemMap(data)) return;
    const map = tolerate(() => parseSystemMap(data.toString('latin1'), 'System.map'));
    if (!map) return;
    const t = new SymbolTable(map.symbols, 0x1000n, 'System.map', map.bits);
    for (const s of map.symbols.slice(0, 32)) {
      t.lookup(s.value + 1n);
      t.byName(s.name);
    }
  },
};

const btf: Target = {
  name: 'btf',
  maxLen: 16 * 1024,
  dict: [Buffer.from([0x9f, 0xeb, 1, 0]), Buffer.from([0, 0, 0, 4]), Buffer.from([0, 0, 0, 0x84]), Buffer.from([0xff, 0xff, 0, 0]), Buffer.from('struct\0')],
  run(data) {
    const b = tolerate(() => Btf.parse(data, 'x.btf'));
    if (!b) return;
    for (let id = 1; id <= Math.min(b.count, 256); id++) typeName(b.type(id));
    for (const name of ['struct s', 'struct task', 'int', 'u64', 'enum colour', 'struct s *']) typeName(b.typeByName(name));
    b.variables();
  },
};

const dwarfLine: Target = {
  name: 'dwarf-line',
  maxLen: 64 * 1024,
  dict: [Buffer.from([0, 9, 2]), Buffer.from([0, 1, 1]), Buffer.from([0x05, 0x00]), Buffer.from([0x04, 0x00]), Buffer.from([0xff, 0xff, 0xff, 0xff])],
  run(data) {
    const { sections } = unpackSections(data);
    const s = dwarfOf(sections);
    const t = LineTable.fromSections(s, 0x1000n);
    const rows = t.rows();
    for (let i = 0; i < rows.length && i < 64; i += 4) {
      t.lookup(rows[i].address);
      t.afterPrologue(rows[i].address);
      t.resolve(rows[i].file, rows[i].line);
    }
    t.files();
    t.matchFiles('main.c');
    tolerate(() => readLineHeader(s, 0));
  },
};

const dwarfInfo: Target = {
  name: 'dwarf-info',
  maxLen: 64 * 1024,
  dict: [Buffer.from([0x05, 0x00, 0x01, 0x08]), Buffer.from([0x04, 0x00]), Buffer.from([0x11, 0x01]), Buffer.from([0x2e, 0x00]), Buffer.from([0x19]), Buffer.from([0x21]), Buffer.from([0x1e]), Buffer.from([0x0e])],
  run(data) {
    const { flags, sections } = unpackSections(data);
    const s = dwarfOf(sections);
    const headers = tolerate(() => unitHeaders(s)) ?? [];
    for (const h of headers.slice(0, 64)) {
      tolerate(() => {
        for (const _ of iterateDies(s, h)) { /* every DIE */ }
      });
      tolerate(() => hasLocationLists(s, h));
    }
    tolerate(() => compileUnits(s));
    const info = new DwarfInfo(s, 0x1000n);
    const subs = tolerate(() => info.subprograms()) ?? [];
    for (const p of subs.slice(0, 16)) tolerate(() => info.subprogramAt(p.lowPc));

    const bits = flags & 1 ? 32 : 64;
    const vars = tolerate(() => DwarfVariables.fromElf(elfOf(sections, bits), 'fuzz', 0x1000n));
    if (!vars) return;
    const frame = frameOf(bits, 0x1000n);
    const look = (v: { type: DwarfType; locate(f: FrameContext): unknown; describeLocation(pc: bigint): string; locationRanges(): unknown }, pc: bigint): void => {
      typeName(v.type);
      v.describeLocation(pc);
      v.locationRanges();
      v.locate({ ...frame, pc });
    };
    for (const g of (tolerate(() => vars.globals()) ?? []).slice(0, 32)) tolerate(() => look(g, 0x1000n));
    for (const p of subs.slice(0, 8)) {
      for (const f of tolerate(() => vars.framesAt(p.lowPc)) ?? []) for (const v of f.variables.slice(0, 16)) tolerate(() => look(v, p.lowPc));
      tolerate(() => vars.localsAt(p.lowPc + 1n));
    }
    for (const n of ['int', 'char *', 'struct node', 'unsigned long', 'uint32_t']) tolerate(() => vars.typeByName(n));
    // The same file as a big one: its name index scanned (top-level DIEs only), kept in memory.
    const big = tolerate(() => DwarfVariables.fromElf(elfOf(sections, bits), 'fuzz', 0x1000n, undefined, { bigInfoBytes: 0, indexCacheDir: null }));
    for (const n of ['g_int', 's_counter', 'asm_var', 'other_global']) for (const g of tolerate(() => big?.globalsNamed(n)) ?? []) tolerate(() => look(g, 0x1000n));
    for (const n of ['int', 'struct node', 'struct point *', 'enum color']) tolerate(() => big?.typeByName(n));
  },
};

/**
 * A cache file's body as the index targets try it: as it comes (its header must check out), and
 * behind a header with its right digest, so that mutations reach the JSON's checks rather than
 * stop at the digest.
 */
function cacheFiles(magic: string, version: number, body: Buffer): Buffer[] {
  return [body, Buffer.concat([Buffer.from(`${magic} ${version} ${createHash('sha256').update(body).digest('hex')}\n`), body])];
}

/** What the name-index target's files must agree with (make-corpus.ts writes its seeds with these). */
export const FUZZ_INDEX_FACTS: IndexFacts = { key: 'fuzz', sections: { '.debug_info': 0x10000, '.debug_abbrev': 0x1000 } };

const dwarfNameIndex: Target = {
  name: 'dwarf-name-index',
  maxLen: 64 * 1024,
  dict: [Buffer.from('"variables":['), Buffer.from('"types":['), Buffer.from(',1,'), Buffer.from(',3,'), Buffer.from('"struct '), Buffer.from('[]'), Buffer.from('{}'), Buffer.from('1e308')],
  run(data) {
    const valid = (off: number): boolean => off < 0x10000;
    for (const file of cacheFiles(INDEX_MAGIC, INDEX_VERSION, data)) {
      const index = parseIndex(file, FUZZ_INDEX_FACTS, valid);
      if (!index) continue;
      for (const [name, list] of index.variables) if (!name || !list.length || list.some((v) => !valid(v.die))) throw new Error(`bad entry for ${name}`);
      for (const [key, die] of index.types) if (!key || !valid(die)) throw new Error(`bad type entry ${key}`);
    }
  },
};

/** What the line-index target's files must agree with (make-corpus.ts writes its seeds with these). */
export const FUZZ_LINE_INDEX_FACTS: IndexFacts = {
  key: 'fuzz',
  sections: {
    '.debug_info': 0x10000, '.debug_abbrev': 0x1000, '.debug_str': 0x1000, '.debug_line_str': 0x1000, '.debug_str_offsets': 0x1000,
    '.debug_addr': 0x1000, '.debug_line': 0x10000, '.debug_aranges': 0x1000,
  },
};

const dwarfLineIndex: Target = {
  name: 'dwarf-line-index',
  maxLen: 64 * 1024,
  dict: [Buffer.from('"headers":['), Buffer.from('"units":['), Buffer.from('"files":['), Buffer.from('"programs":['), Buffer.from('null'), Buffer.from('"ffffffffffffffff"'), Buffer.from('[]'), Buffer.from('1e308')],
  run(data) {
    for (const file of cacheFiles(LINE_INDEX_MAGIC, LINE_INDEX_VERSION, data)) {
      const index = parseLineIndex(file, FUZZ_LINE_INDEX_FACTS);
      if (!index) continue;
      const { headers, units, programs, files } = index;
      const sizes = FUZZ_LINE_INDEX_FACTS.sections;
      if (headers.some((h, i) => h.end > sizes['.debug_info'] || h.offset !== (i ? headers[i - 1].end : 0))) throw new Error('a unit header out of place');
      if (units.some((u) => !headers.some((h) => h.offset === u.offset) || (u.stmtList ?? 0) >= sizes['.debug_line'])) throw new Error('a unit out of place');
      for (const [path, naming] of files) if (!path || !naming.length || naming.some((o) => !programs.includes(o))) throw new Error(`bad file entry ${path}`);
    }
  },
};

const dwarfCfi: Target = {
  name: 'dwarf-cfi',
  maxLen: 32 * 1024,
  dict: [Buffer.from([0x0c, 0x07, 0x08]), Buffer.from([0x0a]), Buffer.from([0x0b]), Buffer.from('zR\0'), Buffer.from('zPLR\0'), Buffer.from([0x1b]), Buffer.from([0x0f, 0x02]), Buffer.from([0xff, 0xff, 0xff, 0xff])],
  run(data) {
    const { flags, sections } = unpackSections(data);
    const bits = flags & 2 ? 32 : 64;
    const loadOffset = BigInt(flags & 4 ? 0x10000 : 0);
    const sectionsAlone = (): CallFrameInfo => {
      const problems: string[] = [];
      const fdes = [];
      for (const [name, eh] of [['.eh_frame', true], ['.debug_frame', false]] as const) {
        const sec = sections.get(name);
        if (sec) fdes.push(...parseFrameSection(sec, eh, bits / 8, { section: 0x2000n, text: 0x1000n, data: 0x3000n }, loadOffset, problems));
      }
      return new CallFrameInfo(fdes, bits, problems);
    };
    // Half the inputs through an ELF file, where .debug_frame's common FDEs are kept packed: its
    // lookups must then agree with a plain search of every FDE.
    const cfi = flags & 8 ? CallFrameInfo.fromElf(elfOf(sections, bits), 'fuzz.elf', loadOffset) : sectionsAlone();
    if (flags & 8) {
      const all = cfi.fdes();
      for (const f of all.slice(0, 32)) {
        for (const pc of [f.pcBegin, f.pcEnd - 1n, f.pcEnd]) {
          const holding = all.filter((x) => x.pcBegin <= pc && pc < x.pcEnd);
          const want = holding.length ? holding.reduce((a, b) => (b.pcBegin > a.pcBegin ? b : a)).pcBegin : undefined;
          // findFde looks at the 32 FDEs that begin last at or below pc, as unwinders do.
          if (want !== undefined && all.filter((x) => x.pcBegin >= want && x.pcBegin <= pc).length > 16) continue;
          if (cfi.findFde(pc)?.pcBegin !== want) throw new Error(`findFde(0x${pc.toString(16)}) disagrees with fdes()`);
        }
      }
    }
    for (const f of cfi.fdes().slice(0, 32)) {
      tolerate(() => cfi.table(f));
      const mid = f.pcBegin + (f.pcEnd - f.pcBegin) / 2n;
      for (const pc of [f.pcBegin, mid, f.pcEnd - 1n]) {
        cfi.rowAt(pc);
        const frame = frameOf(bits, pc);
        cfi.unwindStep(frame.regs, pc, read, bits, false);
        cfi.unwindStep(frame.regs, pc + 1n, read, bits, true);
      }
    }
    unwindWithFramePointer(frameOf(bits, 0n).regs, read, bits);
  },
};

const dwarfLoclists: Target = {
  name: 'dwarf-loclists',
  maxLen: 16 * 1024,
  dict: [Buffer.from([0x00]), Buffer.from([0x04, 0x10, 0x20]), Buffer.from([0x07]), Buffer.from([0x03, 0x00]), Buffer.from([0x9c]), Buffer.from([0x91, 0x70]), Buffer.from([0x9f])],
  /**
   * flags: bit 0 DWARF 5 (else 4), bit 1 4-byte addresses, bit 2 64-bit offsets. .debug_info
   * carries the list offsets to read (u16 each); .debug_str_offsets the loclistx indexes.
   */
  run(data) {
    const { flags, sections } = unpackSections(data);
    const version = flags & 1 ? 5 : 4;
    const addressSize = flags & 2 ? 4 : 8;
    const offsetSize = flags & 4 ? 8 : 4;
    const addr = sections.get('.debug_addr');
    const unit: ListUnit = {
      version, addressSize, offsetSize, base: 0x1000n, loadOffset: 0x10000n,
      addrIndex: (i) => (addr && 8 + (i + 1) * addressSize <= addr.length ? (addressSize === 8 ? addr.readBigUInt64LE(8 + i * 8) : BigInt(addr.readUInt32LE(8 + i * 4))) : undefined),
    };
    const env: ExprEnv = {
      addressSize, loadOffset: 0x10000n, unitOffset: 0, frameBase: (f) => f.cfa!, addrIndex: unit.addrIndex,
      baseType: (off) => (off === 0x30 ? { size: 8, signed: false, float: true } : off === 0x38 ? { size: 4, signed: true, float: false } : undefined),
    };
    const locs = version === 5 ? sections.get('.debug_loclists') : sections.get('.debug_loc');
    const ranges = version === 5 ? sections.get('.debug_rnglists') : sections.get('.debug_ranges');
    const offsets = sections.get('.debug_info') ?? Buffer.alloc(2);
    const indexes = sections.get('.debug_str_offsets') ?? Buffer.alloc(0);
    const bits = addressSize === 4 ? 32 : 64;
    const listOffsets: number[] = [];
    for (let i = 0; i + 2 <= offsets.length && i < 64; i += 2) listOffsets.push(offsets.readUInt16LE(i));
    for (let i = 0; i < indexes.length && i < 16; i++) {
      const off = tolerate(() => listxOffset(locs, '.debug_loclists', offsetSize === 8 ? 20 : 12, indexes[i], offsetSize));
      if (off !== undefined) listOffsets.push(off);
    }
    for (const off of listOffsets) {
      const list = tolerate(() => readLocationList(locs, off, unit));
      if (list) {
        for (const e of [...list.entries.slice(0, 16), ...(list.defaultExpr ? [{ begin: 0n, end: 0n, expr: list.defaultExpr }] : [])]) {
          formatExpression(e.expr, addressSize, bits, 0, offsetSize);
          evaluateLocation(e.expr, frameOf(bits, e.begin), env);
        }
        expressionAt(list, 0x11000n);
      }
      tolerate(() => readRangeList(ranges, off, unit));
    }
  },
};

/** Type names the expression target knows besides the builtins. */
const NODE: CType = { kind: 'struct', name: 'node', size: 16, members: [] } as unknown as CType;
function resolverFor(pointerSize: 4 | 8): TypeResolver {
  const b = builtins(pointerSize);
  return {
    builtins: b,
    pointerSize,
    typedef: (name) => (name === 'node_t' ? NODE : b.byName.get(name)),
    tag: (kind, name) => (kind === 'struct' && name === 'node' ? NODE : undefined),
  };
}

/** Visits every node depth first, recursively (as src/debugger/evaluate.ts evaluates). */
function walk(n: ExprNode): number {
  let d = 0;
  for (const v of Object.values(n)) {
    if (v && typeof v === 'object' && 'k' in v && 'pos' in v) d = Math.max(d, walk(v as ExprNode));
  }
  return d + 1;
}

const cExpression: Target = {
  name: 'c-expression',
  // Long enough for nesting deep enough to overflow a worker's stack (its regressions are).
  maxLen: 64 * 1024,
  dict: ['sizeof', '(', ')', '->', '[', ']', '?', ':', '$rax', 'phys:', 'struct node', 'node_t', 'unsigned long', '*', '0x', "'\\x41'", '1.5e3', '<<=', '&&', 'const'].map((s) => Buffer.from(s)),
  run(data) {
    const tree = tolerate(() => parse(data.toString('latin1'), resolverFor(data.length & 1 ? 4 : 8)));
    // The evaluator recurses over the tree as this does: the parser must not hand it one that
    // would overflow the stack.
    if (tree) walk(tree);
  },
};

export const TARGETS: Target[] = [elf, multiboot, multiboot2, bzimage, pvh, systemMap, btf, dwarfLine, dwarfInfo, dwarfNameIndex, dwarfLineIndex, dwarfCfi, dwarfLoclists, cExpression];

export function targetByName(name: string): Target {
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`no fuzz target ${name}: ${TARGETS.map((x) => x.name).join(', ')}`);
  return t;
}
