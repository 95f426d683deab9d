// DWARF line-number programs (.debug_line, versions 2 to 5, 32- and 64-bit DWARF): headers with
// their directory and file tables (the v5 entry formats included), the line-number state
// machine, and the queries the debug adapter makes: which line an address is on, where a source
// breakpoint binds, and where a function's prologue ends.
import { posix } from 'node:path';
import { ByteReader, DwarfError } from './reader.js';
import {
  compileUnits, dwarfSections, readForm, rememberUnits, unitHeaders, DwarfInfo, hasLocationLists, producerIsGcc45, DW_LANG_Mips_Assembler,
  DW_FORM_block, DW_FORM_data1, DW_FORM_data2, DW_FORM_data4, DW_FORM_data8, DW_FORM_data16, DW_FORM_line_strp,
  DW_FORM_strp, DW_FORM_string, DW_FORM_strx, DW_FORM_strx1, DW_FORM_strx2, DW_FORM_strx3, DW_FORM_strx4, DW_FORM_udata,
  type CompileUnit, type DwarfSections, type FormContext,
} from './info.js';
import { ElfImage } from '../elf-file.js';
import { AddressIndex } from './aranges.js';
import { cacheFile, defaultIndexCacheDir, indexKey, readCacheFile, writeCacheFile } from './index-cache.js';
import { LINE_INDEX_SUFFIX, lineIndexSections, parseLineIndex, serializeLineIndex, type LineIndex } from './line-index-cache.js';

export interface LineRow {
  address: bigint;
  file: string;
  line: number;
  column: number;
  isStmt: boolean;
  endSequence: boolean;
  prologueEnd: boolean;
}

// Standard opcodes.
const DW_LNS_copy = 1;
const DW_LNS_advance_pc = 2;
const DW_LNS_advance_line = 3;
const DW_LNS_set_file = 4;
const DW_LNS_set_column = 5;
const DW_LNS_negate_stmt = 6;
const DW_LNS_set_basic_block = 7;
const DW_LNS_const_add_pc = 8;
const DW_LNS_fixed_advance_pc = 9;
const DW_LNS_set_prologue_end = 10;
const DW_LNS_set_epilogue_begin = 11;
const DW_LNS_set_isa = 12;
// Extended opcodes.
const DW_LNE_end_sequence = 1;
const DW_LNE_set_address = 2;
const DW_LNE_define_file = 3;
const DW_LNE_set_discriminator = 4;
// Entry content types (DWARF 5).
const DW_LNCT_path = 1;
const DW_LNCT_directory_index = 2;

/** One line-number program's header, with file names resolved to paths. */
export interface LineProgramHeader {
  offset: number;
  end: number;
  version: number;
  offsetSize: 4 | 8;
  addressSize?: number;
  minInstLength: number;
  maxOpsPerInst: number;
  defaultIsStmt: boolean;
  lineBase: number;
  lineRange: number;
  opcodeBase: number;
  standardOpcodeLengths: number[];
  /** Directories as resolved paths; index 0 is the compilation directory. */
  directories: string[];
  /** Files as resolved paths, indexed as the program indexes them (from 1 before DWARF 5, from 0 in 5). */
  files: (string | undefined)[];
  programOffset: number;
}

/**
 * Paths joined so far, by directory then name: a kernel's 2000 file tables name the same few
 * thousand headers 350,000 times (two lookups instead of a key made of both per path).
 */
const joined = new Map<string, Map<string, string>>();
let joinedCount = 0;
const JOINED_MAX = 1 << 16;

function joinPath(dir: string | undefined, name: string): string {
  let inDir = joined.get(dir ?? '');
  let path = inDir?.get(name);
  if (path !== undefined) return path;
  if (posix.isAbsolute(name) || /^[A-Za-z]:[\\/]/.test(name) || !dir) path = posix.normalize(name);
  else path = posix.normalize(posix.join(dir, name));
  if (joinedCount >= JOINED_MAX) {
    joined.clear();
    joinedCount = 0;
    inDir = undefined;
  }
  if (!inDir) joined.set(dir ?? '', (inDir = new Map()));
  inDir.set(name, path);
  joinedCount++;
  return path;
}

/** Reads the header of the line program at `offset`. `cu` supplies comp_dir (needed before DWARF 5). */
export function readLineHeader(sections: DwarfSections, offset: number, cu?: CompileUnit): LineProgramHeader {
  const buf = sections.line;
  if (!buf) throw new DwarfError('.debug_line is missing');
  const r = new ByteReader(buf, '.debug_line', offset);
  const { length, offsetSize } = r.initialLength('line program length');
  const end = r.pos + length;
  if (end > buf.length) throw new DwarfError(`.debug_line: program at 0x${offset.toString(16)} (${length} bytes) runs past the end of the section`);
  r.end = end;
  const version = r.u16('version');
  if (version < 2 || version > 5) throw new DwarfError(`.debug_line: program at 0x${offset.toString(16)} has unsupported version ${version}`);
  let addressSize: number | undefined = cu?.addressSize;
  if (version >= 5) {
    addressSize = r.u8('address size');
    r.u8('segment selector size');
  }
  const headerLength = r.offset(offsetSize, 'header length');
  const programOffset = r.pos + headerLength;
  if (programOffset > end) throw new DwarfError(`.debug_line: program at 0x${offset.toString(16)} has a header longer than the program`);
  const minInstLength = r.u8('minimum instruction length');
  const maxOpsPerInst = version >= 4 ? r.u8('maximum operations per instruction') || 1 : 1;
  const defaultIsStmt = r.u8('default_is_stmt') !== 0;
  const lineBase = r.s8('line_base');
  const lineRange = r.u8('line_range');
  const opcodeBase = r.u8('opcode_base');
  if (lineRange === 0) throw new DwarfError(`.debug_line: program at 0x${offset.toString(16)} has line_range 0`);
  const standardOpcodeLengths = [0];
  for (let i = 1; i < opcodeBase; i++) standardOpcodeLengths.push(r.u8('standard opcode length'));

  const compDir = cu?.compDir;
  const directories: string[] = [];
  const files: (string | undefined)[] = [];
  if (version >= 5) {
    const ctx: FormContext = {
      version, addressSize: addressSize ?? 8, offsetSize, unitOffset: 0, sections,
      strOffsetsBase: cu?.strOffsetsBase, addrBase: cu?.addrBase,
    };
    const readEntries = (what: string): { path?: string; dir?: number }[] => {
      const formatCount = r.u8(`${what} entry format count`);
      const format: [number, number][] = [];
      for (let i = 0; i < formatCount; i++) format.push([r.ulebN('content type'), r.ulebN('form')]);
      const count = r.ulebN(`${what} count`);
      if (count > r.remaining) throw new DwarfError(`.debug_line: ${count} ${what}s cannot fit in the header at 0x${offset.toString(16)}`);
      const out: { path?: string; dir?: number }[] = [];
      for (let i = 0; i < count; i++) {
        const e: { path?: string; dir?: number } = {};
        for (const [type, form] of format) {
          checkEntryForm(form, offset);
          const v = readForm(r, form, ctx);
          if (type === DW_LNCT_path && typeof v.value === 'string') e.path = v.value;
          else if (type === DW_LNCT_directory_index && typeof v.value === 'bigint') e.dir = Number(v.value);
        }
        out.push(e);
      }
      return out;
    };
    const dirs = readEntries('directory');
    // Directory 0 is the compilation directory; relative ones are relative to it.
    const dir0 = dirs[0]?.path ?? compDir;
    for (let i = 0; i < dirs.length; i++) {
      const p = dirs[i].path ?? '';
      directories.push(i === 0 ? joinPath(compDir, p || '.') : joinPath(dir0, p));
    }
    if (directories.length === 0 && compDir) directories.push(compDir);
    for (const f of readEntries('file')) {
      if (f.path === undefined) { files.push(undefined); continue; }
      files.push(joinPath(directories[f.dir ?? 0] ?? dir0, f.path));
    }
  } else {
    directories.push(compDir ?? '');
    for (;;) {
      const d = r.cstring('include directory');
      if (d === '') break;
      directories.push(joinPath(compDir, d));
    }
    files.push(undefined); // file numbers start at 1
    for (;;) {
      const name = r.cstring('file name');
      if (name === '') break;
      const dir = r.ulebN('directory index');
      r.uleb('modification time');
      r.uleb('file length');
      files.push(joinPath(directories[dir] ?? compDir, name));
    }
  }
  return {
    offset, end, version, offsetSize, addressSize, minInstLength, maxOpsPerInst, defaultIsStmt, lineBase, lineRange,
    opcodeBase, standardOpcodeLengths, directories, files, programOffset,
  };
}

const ENTRY_FORMS = new Set([
  DW_FORM_string, DW_FORM_line_strp, DW_FORM_strp, DW_FORM_strx, DW_FORM_strx1, DW_FORM_strx2, DW_FORM_strx3, DW_FORM_strx4,
  DW_FORM_udata, DW_FORM_data1, DW_FORM_data2, DW_FORM_data4, DW_FORM_data8, DW_FORM_data16, DW_FORM_block,
]);

function checkEntryForm(form: number, offset: number): void {
  if (!ENTRY_FORMS.has(form)) throw new DwarfError(`.debug_line: program at 0x${offset.toString(16)} uses form 0x${form.toString(16)} in its file table`);
}

/**
 * Runs the line-number program of `header`, appending rows (addresses plus `loadOffset`,
 * wrapped to the address size) to `out`. `entries`, when given, gets one flag per row: whether
 * gdb would make it a line-table entry of its own. gdb folds a row into the previous one when
 * both are for the same line of the same file and the line has had a non-zero discriminator
 * (the pieces of one loop line), and drops a non-stmt row that only switches file at an address
 * that already has a statement row.
 */
export function runLineProgram(
  sections: DwarfSections, h: LineProgramHeader, loadOffset: bigint, out: LineRow[], entries?: boolean[],
): void {
  const r = new ByteReader(sections.line!, '.debug_line', h.programOffset, h.end);
  const files = [...h.files];
  let mask = h.addressSize ? (1n << BigInt(h.addressSize * 8)) - 1n : (1n << 64n) - 1n;
  const fileName = (i: number): string => files[i] ?? `<file ${i}>`;

  // State machine registers.
  let address = 0n;
  let opIndex = 0;
  let file = 1;
  let line = 1;
  let column = 0;
  let isStmt = h.defaultIsStmt;
  let prologueEnd = false;
  let discriminator = 0n;
  // gdb's coalescing state, per sequence.
  let lastFile = -1;
  let lastLine = 0;
  let lineHasDiscriminator = false;
  let lastAddress = -1n;
  let stmtAtAddress = false;
  const reset = (): void => {
    address = 0n; opIndex = 0; file = 1; line = 1; column = 0; isStmt = h.defaultIsStmt; prologueEnd = false;
    discriminator = 0n; lastFile = -1; lastLine = 0; lineHasDiscriminator = false; lastAddress = -1n; stmtAtAddress = false;
  };
  const advanceLine = (delta: number): void => {
    line += delta;
    if (delta !== 0) lineHasDiscriminator = discriminator !== 0n;
  };
  const emit = (endSequence: boolean): void => {
    out.push({ address: (address + loadOffset) & mask, file: fileName(file), line, column, isStmt, endSequence, prologueEnd });
    if (entries) {
      let entry = true;
      if (!endSequence) {
        const fileChanged = file !== lastFile;
        if (fileChanged && address === lastAddress && !isStmt && stmtAtAddress) entry = false;
        else if (line !== 0 && !fileChanged && line === lastLine && lineHasDiscriminator) entry = false;
        if (entry && line !== 0) {
          lastFile = file;
          lastLine = line;
        }
      }
      entries.push(entry);
      if (lastAddress !== address) {
        stmtAtAddress = false;
        lastAddress = address;
      }
      stmtAtAddress ||= isStmt;
    }
    prologueEnd = false;
    discriminator = 0n;
  };
  const advance = (operationAdvance: bigint): void => {
    if (h.maxOpsPerInst === 1) {
      address = (address + BigInt(h.minInstLength) * operationAdvance) & mask;
    } else {
      const total = BigInt(opIndex) + operationAdvance;
      const maxOps = BigInt(h.maxOpsPerInst);
      address = (address + BigInt(h.minInstLength) * (total / maxOps)) & mask;
      opIndex = Number(total % maxOps);
    }
  };

  while (!r.atEnd) {
    const op = r.u8('opcode');
    if (op >= h.opcodeBase) {
      const adjusted = op - h.opcodeBase;
      advance(BigInt(Math.floor(adjusted / h.lineRange)));
      advanceLine(h.lineBase + (adjusted % h.lineRange));
      emit(false);
      continue;
    }
    switch (op) {
      case 0: {
        const len = r.ulebN('extended opcode length');
        if (len === 0) break;
        const start = r.pos;
        const sub = r.u8('extended opcode');
        switch (sub) {
          case DW_LNE_end_sequence:
            emit(true);
            reset();
            break;
          case DW_LNE_set_address: {
            const size = len - 1;
            if (!h.addressSize && (size === 4 || size === 8 || size === 2)) mask = (1n << BigInt(size * 8)) - 1n;
            address = r.uN(size, 'address');
            opIndex = 0;
            break;
          }
          case DW_LNE_define_file: {
            const name = r.cstring('file name');
            const dir = r.ulebN('directory index');
            r.uleb('modification time');
            r.uleb('file length');
            files.push(joinPath(h.directories[dir] ?? h.directories[0], name));
            break;
          }
          case DW_LNE_set_discriminator:
            discriminator = r.uleb('discriminator');
            if (discriminator !== 0n) lineHasDiscriminator = true;
            break;
          default:
            break; // vendor extensions: skipped by length
        }
        r.pos = start + len;
        break;
      }
      case DW_LNS_copy:
        emit(false);
        break;
      case DW_LNS_advance_pc:
        advance(r.uleb('advance'));
        break;
      case DW_LNS_advance_line:
        advanceLine(r.slebN('line advance'));
        break;
      case DW_LNS_set_file:
        file = r.ulebN('file');
        break;
      case DW_LNS_set_column:
        column = r.ulebN('column');
        break;
      case DW_LNS_negate_stmt:
        isStmt = !isStmt;
        break;
      case DW_LNS_set_basic_block:
      case DW_LNS_set_epilogue_begin:
        break;
      case DW_LNS_const_add_pc:
        advance(BigInt(Math.floor((255 - h.opcodeBase) / h.lineRange)));
        break;
      case DW_LNS_fixed_advance_pc:
        address = (address + BigInt(r.u16('advance'))) & mask;
        opIndex = 0;
        break;
      case DW_LNS_set_prologue_end:
        prologueEnd = true;
        break;
      case DW_LNS_set_isa:
        r.uleb('isa');
        break;
      default:
        // An opcode this version does not define: skip its ULEB128 operands.
        for (let i = 0; i < (h.standardOpcodeLengths[op] ?? 0); i++) r.uleb('operand');
    }
  }
}

function safeHasLocationLists(sections: DwarfSections, cu: CompileUnit): boolean {
  try {
    return hasLocationLists(sections, cu);
  } catch {
    return false;
  }
}

/** A [start, end) address range and the row that describes it. */
interface Range {
  start: bigint;
  end: bigint;
  row: number;
  seq: number;
}

export interface FunctionRange {
  start: bigint;
  end: bigint;
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Index of the last element of sorted `arr` whose key is <= v, or -1. */
function lastAtOrBefore<T>(arr: T[], v: bigint, key: (t: T) => bigint): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (key(arr[mid]) <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** Path components of a file name, for suffix matching. */
function components(p: string): string[] {
  return p.replace(/\\/g, '/').split('/').filter((c) => c !== '' && c !== '.');
}

/**
 * The files of `all` that a (client-side) path names, best matches first: the same path, then
 * by the length of the common suffix, a whole relative path (e.g. "src/main.c" given for
 * "/build/src/main.c") counting as a full match. Files sharing no suffix are left out.
 */
function matchTiers(file: string, all: Iterable<string>): string[][] {
  const norm = posix.normalize(file.replace(/\\/g, '/'));
  const want = components(norm);
  const byScore = new Map<number, string[]>();
  for (const f of all) {
    let n = Infinity;
    if (f !== norm) {
      const have = components(f);
      n = 0;
      while (n < want.length && n < have.length && want[want.length - 1 - n] === have[have.length - 1 - n]) n++;
      if (n === have.length || n === want.length) n += 1000;
      if (n === 0) continue;
    }
    let tier = byScore.get(n);
    if (!tier) byScore.set(n, (tier = []));
    tier.push(f);
  }
  return [...byScore.entries()].sort((a, b) => b[0] - a[0]).map(([, files]) => files);
}

/** Function bounds sorted by start (empty ones dropped), computed on the first call. */
function sortedFunctions(functions: () => FunctionRange[]): () => FunctionRange[] {
  let sorted: FunctionRange[] | undefined;
  return () => (sorted ??= functions().filter((f) => f.end > f.start).sort((a, b) => cmp(a.start, b.start)));
}

export interface LineTableOptions {
  /**
   * Function bounds (with the load offset), used to group a line's addresses per function and to
   * bound prologues; a thunk so that they are only computed when needed.
   */
  functions?: () => FunctionRange[];
  /** Per row, whether it starts a line-table entry of its own for lookups (see runLineProgram); all do when absent. */
  entries?: boolean[];
  /**
   * Per line program (by its first row), whether gdb would put a function breakpoint on the
   * function's first instruction instead of past its prologue: assembly units, and gcc units
   * with location lists (optimized code). A thunk, computed on first use.
   */
  programs?: { firstRow: number; entryBreakpoints: () => boolean }[];
}

/** The rows of some line programs, with the indexes the queries use (built on first use). */
class LineRows {
  private readonly allRows: LineRow[];
  private readonly functions: () => FunctionRange[];
  private readonly entries?: boolean[];
  private readonly programs: { firstRow: number; entryBreakpoints: () => boolean }[];
  /** [first, last] row index (last is the end_sequence row) of every sequence. */
  private readonly sequences: [number, number][] = [];
  private rangeIndex?: Range[];
  private byFile?: Map<string, number[]>;

  /** @param functions function bounds, already sorted (sortedFunctions) */
  constructor(rows: LineRow[], options: LineTableOptions & { functions: () => FunctionRange[] }) {
    this.allRows = rows;
    this.functions = options.functions;
    this.entries = options.entries;
    this.programs = options.programs ?? [];
    let first = 0;
    for (let i = 0; i < rows.length; i++) {
      if (rows[i].endSequence) {
        this.sequences.push([first, i]);
        first = i + 1;
      }
    }
    if (first < rows.length) {
      // An unterminated sequence: close it at its last address.
      const last = rows[rows.length - 1];
      rows.push({ ...last, endSequence: true, isStmt: false, prologueEnd: false });
      this.entries?.push(true);
      this.sequences.push([first, rows.length - 1]);
    }
  }

  rows(): LineRow[] {
    return this.allRows;
  }

  files(): string[] {
    return [...this.fileIndex().keys()].sort();
  }

  hasFile(file: string): boolean {
    return this.fileIndex().has(file);
  }

  /** Address ranges sorted by start, one per distinct address of each sequence. */
  private ranges(): Range[] {
    if (this.rangeIndex) return this.rangeIndex;
    const out: Range[] = [];
    const rows = this.allRows;
    this.sequences.forEach(([first, last], seq) => {
      // Rows of a sequence are in increasing address order; sort defensively (stable).
      const idx: number[] = [];
      for (let i = first; i < last; i++) if (!this.entries || this.entries[i]) idx.push(i);
      idx.sort((a, b) => cmp(rows[a].address, rows[b].address) || a - b);
      const endAddr = rows[last].address;
      let i = 0;
      while (i < idx.length) {
        const addr = rows[idx[i]].address;
        let j = i;
        let chosen = -1;
        let lastRow = idx[i];
        while (j < idx.length && rows[idx[j]].address === addr) {
          lastRow = idx[j];
          if (rows[idx[j]].isStmt) chosen = idx[j];
          j++;
        }
        const next = j < idx.length ? rows[idx[j]].address : endAddr;
        if (next > addr) out.push({ start: addr, end: next, row: chosen >= 0 ? chosen : lastRow, seq });
        i = j;
      }
    });
    out.sort((a, b) => cmp(a.start, b.start) || a.seq - b.seq);
    return (this.rangeIndex = out);
  }

  private rangeAt(addr: bigint): Range | undefined {
    const ranges = this.ranges();
    let i = lastAtOrBefore(ranges, addr, (r) => r.start);
    // Sequences may overlap (code discarded at link time keeps its rows at address 0):
    // look back a little for one that covers the address.
    for (let n = 0; i >= 0 && n < 64; i--, n++) {
      if (addr < ranges[i].end) return ranges[i];
    }
    return undefined;
  }

  lookup(addr: bigint): { file: string; line: number; column: number; address: bigint } | undefined {
    const r = this.rangeAt(addr);
    if (!r) return undefined;
    const row = this.allRows[r.row];
    if (row.line === 0) return undefined;
    return { file: row.file, line: row.line, column: row.column, address: row.address };
  }

  private fileIndex(): Map<string, number[]> {
    if (this.byFile) return this.byFile;
    const m = new Map<string, number[]>();
    this.allRows.forEach((row, i) => {
      if (row.endSequence) return;
      let l = m.get(row.file);
      if (!l) m.set(row.file, (l = []));
      l.push(i);
    });
    return (this.byFile = m);
  }

  matchFiles(file: string): string[] {
    return matchTiers(file, this.fileIndex().keys())[0] ?? [];
  }

  private programOf(row: number): { entryBreakpoints: () => boolean } | undefined {
    const i = lastAtOrBefore(this.programs, BigInt(row), (p) => BigInt(p.firstRow));
    return i >= 0 ? this.programs[i] : undefined;
  }

  private functionAt(addr: bigint): FunctionRange | undefined {
    const fs = this.functions();
    let i = lastAtOrBefore(fs, addr, (f) => f.start);
    for (let n = 0; i >= 0 && n < 16; i--, n++) {
      if (addr < fs[i].end) return fs[i];
    }
    return undefined;
  }

  resolve(file: string, line: number): { line: number; addresses: bigint[] } | undefined {
    const index = this.fileIndex();
    const candidates: number[] = [];
    for (const f of this.matchFiles(file)) for (const i of index.get(f)!) candidates.push(i);
    let bestLine = Infinity;
    for (const i of candidates) {
      const r = this.allRows[i];
      if (r.isStmt && r.line >= line && r.line < bestLine && r.line > 0) bestLine = r.line;
    }
    if (bestLine === Infinity) return undefined;
    const rowSeq = (i: number): number => {
      const s = this.sequences;
      let lo = 0;
      let hi = s.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (s[mid][1] < i) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    const lowest = new Map<string, bigint>();
    for (const i of candidates) {
      const r = this.allRows[i];
      if (!r.isStmt || r.line !== bestLine) continue;
      const fn = this.functionAt(r.address);
      const key = fn ? `f${fn.start}` : `s${rowSeq(i)}`;
      const cur = lowest.get(key);
      if (cur === undefined || r.address < cur) lowest.set(key, r.address);
    }
    const addresses = [...new Set(lowest.values())].sort(cmp);
    return { line: bestLine, addresses };
  }

  afterPrologue(start: bigint, end?: bigint): bigint | undefined {
    const ranges = this.ranges();
    const first = this.rangeAt(start);
    if (!first) return undefined;
    if (this.programOf(this.sequences[first.seq][0])?.entryBreakpoints()) return start;
    if (end === undefined) {
      const fn = this.functionAt(start);
      end = fn && fn.start === start ? fn.end : this.allRows[this.sequences[first.seq][1]].address;
    }
    // An explicit prologue_end marker wins.
    const [s0, s1] = this.sequences[first.seq];
    for (let i = s0; i < s1; i++) {
      const r = this.allRows[i];
      if (r.prologueEnd && r.address >= start && r.address < end) return r.address;
    }
    let i = lastAtOrBefore(ranges, first.start, (r) => r.start);
    for (; i < ranges.length; i++) {
      const r = ranges[i];
      if (r.start > first.start && r.seq === first.seq) return r.start < end ? r.start : undefined;
      if (r.start >= end) break;
    }
    return undefined;
  }
}

/** One line program as run: its rows, their entry flags (see runLineProgram), and its unit's kind. */
interface ProgramRun {
  rows: LineRow[];
  entries: boolean[];
  /** See LineTableOptions.programs. */
  entryBreakpoints: () => boolean;
}

/**
 * Runs the line program at `offset` of .debug_line (`cu`: the unit naming it, if any). A damaged
 * program keeps the sequences that ended before the damage; its problem goes to `problems`.
 * `end` is where the next program starts, undefined when the header could not be read.
 */
function runProgram(
  sections: DwarfSections, offset: number, cu: CompileUnit | undefined, loadOffset: bigint, problems: string[],
): { run: ProgramRun; end?: number } {
  const rows: LineRow[] = [];
  const entries: boolean[] = [];
  let cached: boolean | undefined;
  const run: ProgramRun = {
    rows, entries,
    entryBreakpoints: () => (cached ??= cu !== undefined && (cu.language === DW_LANG_Mips_Assembler
      || (producerIsGcc45(cu.producer) && safeHasLocationLists(sections, cu)))),
  };
  let h: LineProgramHeader;
  try {
    h = readLineHeader(sections, offset, cu);
  } catch (e) {
    problems.push((e as Error).message);
    return { run };
  }
  try {
    runLineProgram(sections, h, loadOffset, rows, entries);
  } catch (e) {
    problems.push((e as Error).message);
    // Keep the sequences that ended before the damage.
    let last = rows.length;
    while (last > 0 && !rows[last - 1].endSequence) last--;
    rows.length = last;
    entries.length = last;
  }
  return { run, end: h.end > offset ? h.end : undefined };
}

/** One table of the rows of `runs`, in their order. */
function tableOf(runs: ProgramRun[], functions: () => FunctionRange[]): LineRows {
  const rows: LineRow[] = [];
  const entries: boolean[] = [];
  const programs: { firstRow: number; entryBreakpoints: () => boolean }[] = [];
  for (const run of runs) {
    if (!run.rows.length) continue;
    programs.push({ firstRow: rows.length, entryBreakpoints: run.entryBreakpoints });
    // (Not push(...rows): a large unit's rows would overflow the call stack.)
    for (let i = 0; i < run.rows.length; i++) {
      rows.push(run.rows[i]);
      entries.push(run.entries[i]);
    }
  }
  return new LineRows(rows, { functions, entries, programs });
}

/**
 * A .debug_line section this big or bigger is read one program at a time, when .debug_aranges
 * says which unit covers an address: a distribution kernel's 17 MB hold 4 million rows, which
 * take seconds to run and most of a gigabyte to keep.
 */
const LAZY_LINE_BYTES = 1 << 20;

/**
 * A big .debug_line, its programs run when first needed and kept: for an address, the programs
 * of the units whose .debug_aranges ranges hold it (and any program no such unit names); for a
 * source file, the programs whose headers' file tables name the files it matches.
 */
class LinePrograms {
  private readonly runs = new Map<number, ProgramRun>();
  private readonly tables = new Map<string, LineRows>();
  private offsets?: number[];
  private unindexed?: number[];
  private byFile?: Map<string, number[]>;
  private whole?: LineRows;

  constructor(
    private readonly sections: DwarfSections & { line: Buffer },
    private readonly loadOffset: bigint,
    /** Units by their DW_AT_stmt_list, and by their .debug_info offset. */
    private readonly byStmtList: Map<number, CompileUnit>,
    private readonly byUnit: Map<number, CompileUnit>,
    private readonly aranges: AddressIndex,
    private readonly functions: () => FunctionRange[],
    private readonly problems: string[],
    /** Where the programs start and which files each names, where a cached line index says. */
    known?: Pick<LineIndex, 'programs' | 'files'>,
  ) {
    this.offsets = known?.programs;
    this.byFile = known?.files;
  }

  get programsRun(): number {
    return this.runs.size;
  }

  /** Where every program starts, in section order, from their lengths alone. */
  programOffsets(): number[] {
    if (this.offsets) return this.offsets;
    const out: number[] = [];
    const buf = this.sections.line;
    let off = 0;
    while (off + 4 <= buf.length) {
      out.push(off);
      try {
        const r = new ByteReader(buf, '.debug_line', off);
        const { length } = r.initialLength('line program length');
        const end = r.pos + length;
        if (end > buf.length || end <= off) break; // running it reports the problem
        off = end;
      } catch {
        break;
      }
    }
    return (this.offsets = out);
  }

  private run(offset: number): ProgramRun {
    let run = this.runs.get(offset);
    if (!run) {
      run = runProgram(this.sections, offset, this.byStmtList.get(offset), this.loadOffset, this.problems).run;
      this.runs.set(offset, run);
    }
    return run;
  }

  /** One table of the programs at `offsets`, in section order (as the whole table has them); built once. */
  private table(offsets: number[]): LineRows {
    const sorted = [...new Set(offsets)].sort((a, b) => a - b);
    const key = sorted.join(',');
    let t = this.tables.get(key);
    if (!t) this.tables.set(key, (t = tableOf(sorted.map((o) => this.run(o)), this.functions)));
    return t;
  }

  /** Programs that no unit with address ranges names: searched for every address. */
  private unindexedPrograms(): number[] {
    if (!this.unindexed) {
      const named = new Set<number>();
      for (const u of this.aranges.units) {
        const s = this.byUnit.get(u)?.stmtList;
        if (s !== undefined) named.add(s);
      }
      this.unindexed = this.programOffsets().filter((o) => !named.has(o));
    }
    return this.unindexed;
  }

  /** The rows of every program that may cover `addr`. */
  at(addr: bigint): LineRows {
    const programs = new Set(this.programOffsets());
    const offsets = [...this.unindexedPrograms()];
    for (const u of this.aranges.unitsAt(addr)) {
      const s = this.byUnit.get(u)?.stmtList;
      if (s !== undefined && programs.has(s)) offsets.push(s);
    }
    return this.table(offsets);
  }

  /** The files the programs' headers name, with the programs naming each. */
  fileIndex(): Map<string, number[]> {
    if (this.byFile) return this.byFile;
    const m = new Map<string, number[]>();
    for (const off of this.programOffsets()) {
      let h: LineProgramHeader;
      try {
        h = readLineHeader(this.sections, off, this.byStmtList.get(off));
      } catch {
        continue; // running the program reports the problem
      }
      for (const f of new Set(h.files)) {
        if (f === undefined) continue;
        let l = m.get(f);
        if (!l) m.set(f, (l = []));
        l.push(off);
      }
    }
    return (this.byFile = m);
  }

  /**
   * The rows of the programs naming the files that a client-side path matches best among the
   * files that have rows (a header may name a file no row is for).
   */
  forFile(file: string): LineRows {
    const index = this.fileIndex();
    for (const tier of matchTiers(file, index.keys())) {
      const t = this.table(tier.flatMap((f) => index.get(f)!));
      if (tier.some((f) => t.hasFile(f))) return t;
    }
    return this.table([]);
  }

  /** Every program's rows. */
  all(): LineRows {
    return (this.whole ??= tableOf(this.programOffsets().map((o) => this.run(o)), this.functions));
  }
}

/** How LineTable.fromElf reads a file's line table. */
export interface LineTableLoad {
  /** Whether programs run only when needed; by default where .debug_line has lazyLineBytes or more. */
  lazy?: boolean;
  /** A big .debug_line's size from (LAZY_LINE_BYTES by default; tests force it). */
  lazyLineBytes?: number;
  /** Where a big .debug_line's index is cached (index-cache.ts): a directory, or null to keep none. */
  indexCacheDir?: string | null;
}

/**
 * The line index of these sections in the cache: the one its file holds where that checks out,
 * and how to write it otherwise.
 */
function lineIndexCache(
  where: { dir: string; key: string } | undefined, sections: DwarfSections,
): { file: string; index?: LineIndex; write: (index: LineIndex) => boolean } | undefined {
  if (!where) return undefined;
  const file = cacheFile(where.dir, where.key, LINE_INDEX_SUFFIX);
  const facts = { key: where.key, sections: lineIndexSections(sections) };
  const bytes = readCacheFile(file);
  return {
    file,
    index: bytes && parseLineIndex(bytes, facts),
    write: (index) => writeCacheFile(file, where.dir, serializeLineIndex(index, facts)),
  };
}

/** Where a lazy table's line index came from: its cache file, or its sections (and whether it was then written). */
export interface LineIndexState {
  file: string;
  source: 'cache' | 'sections';
  written: boolean;
}

export class LineTable {
  /** Problems met while reading (a corrupt line program is skipped, the rest kept). */
  problems: string[] = [];
  /** A cached line index's state (line-index-cache.ts), where the table is lazy and has a cache. */
  lineIndex?: LineIndexState;
  private whole?: LineRows;
  private programs?: LinePrograms;
  private eagerRuns = 0;

  /** @param rows rows in program order, sequences ending with an end_sequence row */
  constructor(rows: LineRow[], options: LineTableOptions = {}) {
    this.whole = new LineRows(rows, { ...options, functions: sortedFunctions(options.functions ?? (() => [])) });
  }

  /**
   * The line table of an ELF file's .debug_line; empty if there is none. Addresses get
   * `loadOffset` added. `lazy`: whether programs run only when needed (see fromSections).
   */
  static fromElf(image: ElfImage | Buffer, fileName: string, loadOffset = 0n, options: LineTableLoad = {}): LineTable {
    const elf = ElfImage.of(image, fileName);
    const addrMask = elf.bits === 32 ? 0xffffffffn : (1n << 64n) - 1n;
    const syms = elf.elf.symbols.filter((s) => s.type === 'func' && s.size > 0n && s.shndx !== 0);
    const functions = syms.length === 0 ? undefined : (): FunctionRange[] =>
      syms.map((s) => ({ start: (s.value + loadOffset) & addrMask, end: ((s.value + loadOffset) & addrMask) + s.size }));
    const sections = dwarfSections(elf);
    const dir = options.indexCacheDir === undefined ? defaultIndexCacheDir() : options.indexCacheDir;
    // The key (a note section, or the file's stat) only where an index may be wanted.
    const big = (sections.line?.length ?? 0) >= (options.lazyLineBytes ?? LAZY_LINE_BYTES);
    const key = dir !== null && big ? indexKey(elf, fileName) : undefined;
    return LineTable.fromSections(sections, loadOffset, functions, {
      lazy: options.lazy ?? big, indexCache: dir !== null && key ? { dir, key } : undefined,
    });
  }

  /**
   * The line table of raw DWARF sections (.debug_line, and .debug_info/.debug_abbrev/string
   * sections for comp_dir and names). Function bounds come from `functions` if given, else from
   * the DW_TAG_subprogram entries. With .debug_aranges and `lazy` (by default: a .debug_line of
   * a megabyte or more), each program runs when a query first needs it; otherwise all run now.
   * (A lazy table takes the file names of a source query from the programs' headers, so it does
   * not know names that only a DW_LNE_define_file in a program gives.)
   */
  static fromSections(
    sections: DwarfSections, loadOffset = 0n, functions?: () => FunctionRange[],
    options: { lazy?: boolean; indexCache?: { dir: string; key: string } } = {},
  ): LineTable {
    const line = sections.line;
    if (!line) return new LineTable([]);
    const lazy = (options.lazy ?? line.length >= LAZY_LINE_BYTES) && sections.aranges !== undefined;
    const cache = lazy && sections.info ? lineIndexCache(options.indexCache, sections) : undefined;
    if (cache?.index) rememberUnits({ ...sections, info: sections.info! }, cache.index.headers, cache.index.units);
    let cus: CompileUnit[] = [];
    const problems: string[] = [];
    try {
      cus = sections.info ? compileUnits(sections) : [];
    } catch (e) {
      // Without units, names stay relative to an unknown compilation directory.
      problems.push((e as Error).message);
    }
    const byStmtList = new Map<number, CompileUnit>();
    for (const cu of cus) if (cu.stmtList !== undefined) byStmtList.set(cu.stmtList, cu);
    const fromDwarf = (): FunctionRange[] => {
      try {
        return sections.info ? new DwarfInfo(sections, loadOffset).subprograms().map((s) => ({ start: s.lowPc, end: s.highPc })) : [];
      } catch {
        return []; // corrupt .debug_info: group by sequence instead
      }
    };
    const sorted = sortedFunctions(functions ?? fromDwarf);
    const table = new LineTable([]);
    table.problems = problems;
    if (lazy && sections.aranges && problems.length === 0) {
      let aranges: AddressIndex | undefined;
      try {
        aranges = AddressIndex.of(sections.aranges, loadOffset);
      } catch (e) {
        problems.push((e as Error).message); // then every program runs now
      }
      if (aranges) {
        table.whole = undefined;
        const programs = (table.programs = new LinePrograms(
          { ...sections, line }, loadOffset, byStmtList, new Map(cus.map((c) => [c.offset, c])), aranges, sorted, problems, cache?.index,
        ));
        // Read afresh, the index is written now: nearly every session binds a source breakpoint,
        // which needs the file tables anyway.
        if (cache) {
          const written = !cache.index && cache.write({ headers: unitHeaders(sections), units: cus, programs: programs.programOffsets(), files: programs.fileIndex() });
          table.lineIndex = { file: cache.file, source: cache.index ? 'cache' : 'sections', written };
        }
        return table;
      }
    }
    // Every program in the section, in order; those no unit names still give rows.
    const runs: ProgramRun[] = [];
    let off = 0;
    while (off + 4 <= line.length) {
      const { run, end } = runProgram(sections, off, byStmtList.get(off), loadOffset, problems);
      runs.push(run);
      if (end === undefined) break;
      off = end;
    }
    table.whole = tableOf(runs, sorted);
    table.eagerRuns = runs.length;
    return table;
  }

  /** How many line programs have run so far (all of them at once, unless the table is lazy). */
  get programsRun(): number {
    return this.programs?.programsRun ?? this.eagerRuns;
  }

  private all(): LineRows {
    return this.whole ?? this.programs!.all();
  }

  /** Every row, in program order (end_sequence rows included). Runs every program. */
  rows(): LineRow[] {
    return this.all().rows();
  }

  /** The source files that have rows, sorted. Runs every program. */
  files(): string[] {
    return this.all().files();
  }

  /** The row covering `addr`: at an address with several rows, the last is_stmt one. Line 0 means no line. */
  lookup(addr: bigint): { file: string; line: number; column: number; address: bigint } | undefined {
    return (this.whole ?? this.programs!.at(addr)).lookup(addr);
  }

  /** The table's files that a (client-side) path names: same path, else the longest common suffix. */
  matchFiles(file: string): string[] {
    return (this.whole ?? this.programs!.forFile(file)).matchFiles(file);
  }

  /**
   * Where a source breakpoint on file:line binds: the first line >= `line` in that file that
   * has is_stmt code, and the addresses starting it (the lowest per function, or per sequence
   * outside known functions), sorted.
   */
  resolve(file: string, line: number): { line: number; addresses: bigint[] } | undefined {
    return (this.whole ?? this.programs!.forFile(file)).resolve(file, line);
  }

  /**
   * Where gdb's `break FUNC` stops for a function starting at `start` (ending at `end`, else
   * where the symbols or its line sequence say). In assembly units and in optimized gcc code
   * (units with location lists) that is `start` itself. Otherwise: the first row marked
   * prologue_end, else the next line-table entry after the function's first one (what gdb's x86
   * prologue analysis arrives at for gcc -O0 code, where the first entry covers the prologue;
   * also for one-line functions, whose second entry has the same line). Undefined when no line
   * covers `start` or the function has no second entry.
   */
  afterPrologue(start: bigint, end?: bigint): bigint | undefined {
    return (this.whole ?? this.programs!.at(start)).afterPrologue(start, end);
  }
}
