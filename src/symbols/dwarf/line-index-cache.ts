// The line index of a big DWARF, on disk (the envelope, and where the files live, are
// index-cache.ts's): what binding a source breakpoint and reading the line table need before any
// line program runs. Read afresh, that is every unit header and unit DIE (a kernel's 2352, each
// read from its own piece of a 174 MB .debug_info, with its abbreviation table) and every line
// program's header (2352 file tables naming 350,000 paths): seconds under emulation, where the
// same launch of gdb takes its own seconds. What the file holds, declared here only:
//
//   {"key": ..., "sections": {...},
//    "headers": [[OFFSET, END, VERSION, UNIT_TYPE, ADDRESS_SIZE, OFFSET_SIZE, ABBREV_OFFSET, DIE_OFFSET,
//                 TYPE_SIGNATURE, TYPE_OFFSET, DWO_ID], ...],
//    "units": [[HEADER, TAG, NAME, COMP_DIR, STMT_LIST, LOW_PC, PRODUCER, LANGUAGE, STR_OFFSETS_BASE, ADDR_BASE,
//               RNGLISTS_BASE, LOCLISTS_BASE], ...],
//    "producers": [TEXT, ...],
//    "programs": [OFFSET, ...],
//    "files": [PATH, [PROGRAM, ...], ...]}
//
// HEADER indexes "headers", PRODUCER "producers", PROGRAM "programs"; a 64-bit value (a
// signature, an ID, a low_pc) is a hex string; an absent one is null. Every header, unit,
// program and path is checked against the sizes of the sections it points into, in the order
// unitHeaders and the programs' lengths would give them; a file that fails any check is not used.
import { DW_UT_split_type, DW_UT_type, type CompileUnit, type UnitHeader } from './info.js';
import { MAX_STRING_LENGTH } from './reader.js';
import { openCache, sealCache, type IndexFacts } from './index-cache.js';

export const LINE_INDEX_MAGIC = 'kvmdbg-dwarf-line-index';
/** Bumped whenever what the file holds, or how the units or the file tables are read, changes. */
export const LINE_INDEX_VERSION = 1;
/** The line index's file in the cache directory: KEY.lines. */
export const LINE_INDEX_SUFFIX = '.lines';

export interface LineIndex {
  /** unitHeaders' answer: every unit of .debug_info, type units too. */
  headers: UnitHeader[];
  /** compileUnits' answer. */
  units: CompileUnit[];
  /** Where every line program in .debug_line starts, in order. */
  programs: number[];
  /** The paths the programs' headers name, with the offsets of the programs naming each. */
  files: Map<string, number[]>;
}

/** The sizes a line index must agree with: those of every section its entries point into, or were read from. */
export function lineIndexSections(s: {
  info?: Buffer; abbrev?: Buffer; str?: Buffer; lineStr?: Buffer; strOffsets?: Buffer; addr?: Buffer; line?: Buffer; aranges?: Buffer;
}): Record<string, number> {
  return {
    '.debug_info': s.info?.length ?? 0, '.debug_abbrev': s.abbrev?.length ?? 0, '.debug_str': s.str?.length ?? 0,
    '.debug_line_str': s.lineStr?.length ?? 0, '.debug_str_offsets': s.strOffsets?.length ?? 0, '.debug_addr': s.addr?.length ?? 0,
    '.debug_line': s.line?.length ?? 0, '.debug_aranges': s.aranges?.length ?? 0,
  };
}

const hex = (v: bigint | undefined): string | null => (v === undefined ? null : v.toString(16));
const opt = <T>(v: T | undefined): T | null => (v === undefined ? null : v);

/** The line index file's bytes. */
export function serializeLineIndex(index: LineIndex, facts: IndexFacts): Buffer {
  const headerAt = new Map(index.headers.map((h, i) => [h.offset, i]));
  const producers: string[] = [];
  const producerAt = new Map<string, number>();
  const producer = (p: string | undefined): number | null => {
    if (p === undefined) return null;
    let i = producerAt.get(p);
    if (i === undefined) producerAt.set(p, (i = producers.push(p) - 1));
    return i;
  };
  const programAt = new Map(index.programs.map((o, i) => [o, i]));
  const files: (string | number[])[] = [];
  for (const [path, offsets] of index.files) files.push(path, offsets.map((o) => programAt.get(o)!));
  return sealCache(LINE_INDEX_MAGIC, LINE_INDEX_VERSION, facts, {
    headers: index.headers.map((h) => [
      h.offset, h.end, h.version, h.unitType, h.addressSize, h.offsetSize, h.abbrevOffset, h.dieOffset,
      hex(h.typeSignature), opt(h.typeOffset), hex(h.dwoId),
    ]),
    units: index.units.map((u) => [
      headerAt.get(u.offset)!, u.tag, opt(u.name), opt(u.compDir), opt(u.stmtList), hex(u.lowPc), producer(u.producer), opt(u.language),
      opt(u.strOffsetsBase), opt(u.addrBase), opt(u.rnglistsBase), opt(u.loclistsBase),
    ]),
    producers,
    programs: index.programs,
    files,
  });
}

/** A file table's path: a compilation directory, a directory and a name, each a DWARF string at most. */
const MAX_PATH = 3 * MAX_STRING_LENGTH + 2;

/** A refusal inside parseLineIndex: the file is not used. */
class Refused extends Error {}

/** The line index a file holds, or undefined where it does not check out (see the header). */
export function parseLineIndex(bytes: Buffer, facts: IndexFacts): LineIndex | undefined {
  const doc = openCache(bytes, LINE_INDEX_MAGIC, LINE_INDEX_VERSION, facts);
  if (!doc) return undefined;
  const size = (name: string): number => facts.sections[name] ?? 0;
  try {
    return {
      ...readUnits(doc, size('.debug_info'), size('.debug_abbrev'), size('.debug_line')),
      ...readPrograms(doc, size('.debug_line')),
    };
  } catch (e) {
    if (e instanceof Refused) return undefined;
    throw e;
  }
}

function check(ok: boolean): asserts ok {
  if (!ok) throw new Refused();
}

function list(x: unknown): unknown[] {
  check(Array.isArray(x));
  return x;
}

/** A whole number in [min, max). */
function count(x: unknown, min: number, max: number): number {
  check(Number.isSafeInteger(x) && (x as number) >= min && (x as number) < max);
  return x as number;
}

function optCount(x: unknown, max: number): number | undefined {
  return x === null ? undefined : count(x, 0, max);
}

function optText(x: unknown): string | undefined {
  if (x === null) return undefined;
  check(typeof x === 'string' && x.length <= MAX_STRING_LENGTH);
  return x as string;
}

function optU64(x: unknown): bigint | undefined {
  if (x === null) return undefined;
  check(typeof x === 'string' && /^[0-9a-f]{1,16}$/.test(x));
  return BigInt(`0x${x as string}`);
}

function readUnits(doc: Record<string, unknown>, infoSize: number, abbrevSize: number, lineSize: number): Pick<LineIndex, 'headers' | 'units'> {
  const headers: UnitHeader[] = [];
  // As unitHeaders reads them: one after another from offset 0, each a DWARF 2-5 unit.
  let next = 0;
  for (const row of list(doc.headers)) {
    const r = list(row);
    check(r.length === 11);
    const offset = count(r[0], next, next + 1);
    const end = count(r[1], offset + 1, infoSize + 1);
    const offsetSize = count(r[5], 4, 9);
    const addressSize = count(r[4], 2, 9);
    check((offsetSize === 4 || offsetSize === 8) && (addressSize === 2 || addressSize === 4 || addressSize === 8));
    headers.push({
      offset, end, version: count(r[2], 2, 6), unitType: count(r[3], 1, 7), addressSize, offsetSize,
      abbrevOffset: count(r[6], 0, abbrevSize), dieOffset: count(r[7], offset + 1, end + 1),
      typeSignature: optU64(r[8]), typeOffset: optCount(r[9], end), dwoId: optU64(r[10]),
    });
    next = end;
  }
  const producers = list(doc.producers).map((p) => {
    check(typeof p === 'string' && p.length <= MAX_STRING_LENGTH);
    return p as string;
  });
  const units: CompileUnit[] = [];
  // As compileUnits gives them: the non-type units' DIEs, in order, one each.
  let after = 0;
  for (const row of list(doc.units)) {
    const r = list(row);
    check(r.length === 12);
    const i = count(r[0], after, headers.length);
    const h = headers[i];
    check(h.unitType !== DW_UT_type && h.unitType !== DW_UT_split_type);
    units.push({
      ...h, tag: count(r[1], 0, 0x10000), name: optText(r[2]), compDir: optText(r[3]), stmtList: optCount(r[4], lineSize),
      lowPc: optU64(r[5]), producer: r[6] === null ? undefined : producers[count(r[6], 0, producers.length)],
      language: optCount(r[7], 0x10000), strOffsetsBase: optCount(r[8], 2 ** 53), addrBase: optCount(r[9], 2 ** 53),
      rnglistsBase: optCount(r[10], 2 ** 53), loclistsBase: optCount(r[11], 2 ** 53),
    });
    after = i + 1;
  }
  return { headers, units };
}

function readPrograms(doc: Record<string, unknown>, lineSize: number): Pick<LineIndex, 'programs' | 'files'> {
  const programs: number[] = [];
  for (const o of list(doc.programs)) programs.push(count(o, programs.length ? programs[programs.length - 1] + 1 : 0, lineSize));
  const flat = list(doc.files);
  check(flat.length % 2 === 0);
  const files = new Map<string, number[]>();
  for (let i = 0; i < flat.length; i += 2) {
    const path = flat[i];
    check(typeof path === 'string' && path.length > 0 && path.length <= MAX_PATH && !files.has(path));
    const naming = list(flat[i + 1]).map((p) => programs[count(p, 0, programs.length)]);
    check(naming.length > 0);
    files.set(path as string, naming);
  }
  return { programs, files };
}
