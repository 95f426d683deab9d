// ELF parsing for x86 guests: the file header, program headers (what the loaders load), section
// headers and the symbol table (what the debugger shows). Every field read from the file is
// checked against the file's size before use, so a malformed file gives a GuestError naming the
// file and the problem, never a RangeError, and no loop runs longer than the file is big.
// The work is linear in the file's size: a name is read at most MAX_NAME_LENGTH bytes far (a
// string table without NULs must not make every name a copy of the rest of the table), and the
// symbol table is read only when someone asks for it (the loaders never do).
import { GuestError, hex } from '../errors.js';

export const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]); // "\x7fELF"
export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const EV_CURRENT = 1;
export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;
export const EM_386 = 3;
export const EM_X86_64 = 62;
export const PT_NULL = 0;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const SHT_NULL = 0;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_NOBITS = 8;
export const SHT_DYNSYM = 11;
const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;
const SHN_XINDEX = 0xffff;
const PN_XNUM = 0xffff;
/**
 * Section and symbol names are cut at this many bytes. Names share a string table (a name may
 * start anywhere in it and runs to the next NUL), so without a cap a table without NULs makes
 * every name a copy of the rest of the table: quadratic time and memory in the table's size.
 */
export const MAX_NAME_LENGTH = 4096;

/** Names of the machines people most often feed us by mistake, for "ELF for another machine". */
const MACHINE_NAMES: Record<number, string> = {
  0: 'no machine', 2: 'SPARC', 3: 'Intel 80386', 4: 'Motorola 68000', 8: 'MIPS', 20: 'PowerPC',
  21: 'PowerPC64', 22: 'IBM S/390', 40: 'ARM', 42: 'SuperH', 43: 'SPARC v9', 50: 'IA-64',
  62: 'x86-64', 183: 'ARM aarch64', 243: 'RISC-V', 247: 'eBPF', 258: 'LoongArch',
};

export function machineName(machine: number): string {
  return MACHINE_NAMES[machine] ?? `unknown machine ${machine}`;
}

const SYMBOL_TYPES = ['notype', 'object', 'func', 'section', 'file', 'common', 'tls'] as const;
const SYMBOL_BINDS = ['local', 'global', 'weak'] as const;
export type SymbolType = (typeof SYMBOL_TYPES)[number] | 'other';
export type SymbolBind = (typeof SYMBOL_BINDS)[number] | 'other';

export interface ElfHeader {
  /** 32 for ELFCLASS32, 64 for ELFCLASS64. */
  bits: 32 | 64;
  type: number;
  machine: number;
  version: number;
  entry: bigint;
  phoff: number;
  shoff: number;
  flags: number;
  ehsize: number;
  phentsize: number;
  /** The real counts, after PN_XNUM / extended section numbering. */
  phnum: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

export interface ProgramHeader {
  index: number;
  type: number;
  flags: number;
  /** File offset and size: checked to lie inside the file for PT_LOAD segments. */
  offset: number;
  filesz: number;
  vaddr: bigint;
  paddr: bigint;
  memsz: bigint;
  align: bigint;
}

export interface SectionHeader {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  addr: bigint;
  offset: number;
  /** In memory; for SHT_NOBITS (.bss) it may exceed what the file holds. */
  size: bigint;
  link: number;
  info: number;
  entsize: number;
}

export interface ElfSymbol {
  name: string;
  value: bigint;
  size: bigint;
  type: SymbolType;
  bind: SymbolBind;
  /** The section index it is defined in (0: undefined; >= 0xff00: special, e.g. 0xfff1 ABS). */
  shndx: number;
}

export interface ElfFile {
  header: ElfHeader;
  programHeaders: ProgramHeader[];
  sections: SectionHeader[];
  /**
   * From .symtab, or .dynsym when there is no .symtab; empty when stripped. Read on first use
   * (a GuestError then if the symbol table is malformed), so loading never reads it.
   */
  readonly symbols: ElfSymbol[];
}

export function isElf(image: Buffer): boolean {
  return image.length >= 4 && image.subarray(0, 4).equals(ELF_MAGIC);
}

/** The ELF class byte (32 or 64) of a file that starts with the ELF magic, else undefined. */
export function elfBits(image: Buffer): 32 | 64 | undefined {
  if (!isElf(image) || image.length < 5) return undefined;
  return image[4] === ELFCLASS32 ? 32 : image[4] === ELFCLASS64 ? 64 : undefined;
}

/** Reads little-endian fields of one ELF class at checked offsets. */
class Reader {
  constructor(readonly buf: Buffer, readonly bits: 32 | 64, readonly file: string) {}

  private check(off: number, len: number, what: string): void {
    if (off < 0 || off + len > this.buf.length) {
      throw new GuestError(`${this.file}: truncated ELF file: ${what} at offset ${hex(off)} is past the end (${this.buf.length} bytes)`);
    }
  }
  u8(off: number, what: string): number {
    this.check(off, 1, what);
    return this.buf[off];
  }
  u16(off: number, what: string): number {
    this.check(off, 2, what);
    return this.buf.readUInt16LE(off);
  }
  u32(off: number, what: string): number {
    this.check(off, 4, what);
    return this.buf.readUInt32LE(off);
  }
  u64(off: number, what: string): bigint {
    this.check(off, 8, what);
    return this.buf.readBigUInt64LE(off);
  }
  /** A class-sized word: 4 bytes in ELF32, 8 in ELF64. */
  word(off: number, what: string): bigint {
    return this.bits === 32 ? BigInt(this.u32(off, what)) : this.u64(off, what);
  }
}

/** A file offset or size read as a bigint, as a number if it lies within the file. */
function fileRange(file: string, what: string, off: bigint, size: bigint, fileSize: number): { off: number; size: number } {
  if (off + size > BigInt(fileSize)) {
    throw new GuestError(
      `${file}: ${what} (offset ${hex(off)}, ${size} bytes) runs past the end of the file (${fileSize} bytes); the file is truncated or corrupt`,
    );
  }
  return { off: Number(off), size: Number(size) };
}

/**
 * Parses and validates an x86 ELF executable: magic, class, byte order, version, machine
 * (EM_386 for ELF32, EM_X86_64 for ELF64), type ET_EXEC, and that the header tables, every PT_LOAD
 * segment's file data, the section table and the symbol table lie within the file.
 */
export function parseElf(image: Buffer, fileName: string): ElfFile {
  const header = parseElfHeader(image, fileName);
  const r = new Reader(image, header.bits, fileName);
  const programHeaders = parseProgramHeaders(r, header);
  const sections = parseSections(r, header);
  let symbols: ElfSymbol[] | undefined;
  return {
    header,
    programHeaders,
    sections,
    get symbols(): ElfSymbol[] {
      return (symbols ??= parseSymbols(r, header, sections));
    },
  };
}

/** One ELF note: its owner's name (without the NUL), type and descriptor bytes. */
export interface ElfNote {
  name: string;
  type: number;
  desc: Buffer;
}

/**
 * The notes of an ELF file's PT_NOTE segments (what a loader reads: sections may be stripped).
 * Each note is namesz, descsz, type, then the name and the descriptor, each padded to 4 bytes; a
 * note that runs past its segment ends that segment's list.
 */
export function elfNotes(image: Buffer, elf: ElfFile): ElfNote[] {
  const notes: ElfNote[] = [];
  const pad = (n: number) => (n + 3) & ~3;
  for (const p of elf.programHeaders) {
    if (p.type !== PT_NOTE) continue;
    const end = p.offset + p.filesz;
    let o = p.offset;
    while (o + 12 <= end) {
      const namesz = image.readUInt32LE(o);
      const descsz = image.readUInt32LE(o + 4);
      const type = image.readUInt32LE(o + 8);
      const descAt = o + 12 + pad(namesz);
      if (descAt + descsz > end) break;
      const name = image.toString('latin1', o + 12, o + 12 + namesz).replace(/\0+$/, '');
      notes.push({ name, type, desc: image.subarray(descAt, descAt + descsz) });
      o = descAt + pad(descsz);
    }
  }
  return notes;
}

/** Validates the ELF file header (e_ident and the rest) and returns it. */
export function parseElfHeader(image: Buffer, file: string): ElfHeader {
  if (!isElf(image)) throw new GuestError(`${file}: not an ELF file (no \\x7fELF magic at offset 0)`);
  if (image.length < 16) {
    throw new GuestError(`${file}: truncated ELF header: the file has ${image.length} bytes, the identification alone needs 16`);
  }
  const cls = image[4];
  if (cls !== ELFCLASS32 && cls !== ELFCLASS64) {
    throw new GuestError(`${file}: bad ELF class ${cls} (expected 1 for ELF32 or 2 for ELF64)`);
  }
  const bits = cls === ELFCLASS32 ? 32 : 64;
  if (image[5] !== ELFDATA2LSB) {
    throw new GuestError(
      `${file}: ELF data encoding ${image[5]} is not little-endian (${image[5] === 2 ? 'big-endian' : 'invalid'}); x86 guests are little-endian`,
    );
  }
  if (image[6] !== EV_CURRENT) throw new GuestError(`${file}: bad ELF identification version ${image[6]} (expected 1)`);
  const ehsizeMin = bits === 32 ? 52 : 64;
  if (image.length < ehsizeMin) {
    throw new GuestError(`${file}: truncated ELF header: the file has ${image.length} bytes, an ELF${bits} header needs ${ehsizeMin}`);
  }
  const r = new Reader(image, bits, file);
  const machine = r.u16(18, 'e_machine');
  const expected = bits === 32 ? EM_386 : EM_X86_64;
  if (machine !== expected) {
    if (machine === EM_386 || machine === EM_X86_64) {
      throw new GuestError(
        `${file}: ELF${bits} file for ${machineName(machine)} (e_machine ${machine}); kvmdbg loads ELF32 for Intel 80386 (EM_386) or ELF64 for x86-64 (EM_X86_64)`,
      );
    }
    throw new GuestError(
      `${file}: ELF for another machine (${machineName(machine)}, e_machine ${machine}); kvmdbg runs x86 guests: EM_386 (3) or EM_X86_64 (62)`,
    );
  }
  const version = r.u32(20, 'e_version');
  if (version !== EV_CURRENT) throw new GuestError(`${file}: bad ELF version ${version} (expected 1)`);
  const type = r.u16(16, 'e_type');
  if (type !== ET_EXEC) {
    const why =
      type === ET_DYN ? 'a shared object or position-independent executable (ET_DYN); link a static, non-PIE executable (ld without -pie, gcc -static -no-pie)' :
      type === ET_REL ? 'a relocatable object file (ET_REL); link it into an executable first' :
      type === ET_CORE ? 'a core dump (ET_CORE)' :
      `of ELF type ${type}, not an executable (ET_EXEC)`;
    throw new GuestError(`${file}: is ${why}`);
  }
  // Class-dependent layout of the rest of the header.
  const w = bits === 32 ? 4 : 8;
  const entry = r.word(24, 'e_entry');
  const phoffBig = r.word(24 + w, 'e_phoff');
  const shoffBig = r.word(24 + 2 * w, 'e_shoff');
  const p = 24 + 3 * w;
  const flags = r.u32(p, 'e_flags');
  const ehsize = r.u16(p + 4, 'e_ehsize');
  const phentsize = r.u16(p + 6, 'e_phentsize');
  let phnum = r.u16(p + 8, 'e_phnum');
  const shentsize = r.u16(p + 10, 'e_shentsize');
  let shnum = r.u16(p + 12, 'e_shnum');
  let shstrndx = r.u16(p + 14, 'e_shstrndx');
  if (ehsize < ehsizeMin) throw new GuestError(`${file}: e_ehsize ${ehsize} is smaller than an ELF${bits} header (${ehsizeMin} bytes)`);

  const shdrSize = bits === 32 ? 40 : 64;
  const phdrSize = bits === 32 ? 32 : 56;
  // Extended numbering: counts that do not fit 16 bits live in section header 0.
  if (shoffBig !== 0n && (shnum === 0 || phnum === PN_XNUM || shstrndx === SHN_XINDEX)) {
    if (shentsize < shdrSize) throw new GuestError(`${file}: e_shentsize ${shentsize} is smaller than an ELF${bits} section header (${shdrSize} bytes)`);
    const s0 = fileRange(file, 'section header 0', shoffBig, BigInt(shdrSize), image.length).off;
    if (shnum === 0) {
      const n = r.word(s0 + (bits === 32 ? 20 : 32), 'section header 0 sh_size');
      if (n > BigInt(image.length)) throw new GuestError(`${file}: extended section count ${n} is larger than the file`);
      shnum = Number(n);
    }
    if (phnum === PN_XNUM) phnum = r.u32(s0 + (bits === 32 ? 28 : 44), 'section header 0 sh_info');
    if (shstrndx === SHN_XINDEX) shstrndx = r.u32(s0 + 24, 'section header 0 sh_link');
  }

  if (phnum === 0) throw new GuestError(`${file}: has no program headers (e_phnum 0), so nothing to load`);
  if (phentsize < phdrSize) {
    throw new GuestError(`${file}: e_phentsize ${phentsize} is smaller than an ELF${bits} program header (${phdrSize} bytes)`);
  }
  const ph = fileRange(file, `program header table (${phnum} entries of ${phentsize} bytes)`, phoffBig,
    BigInt(phnum) * BigInt(phentsize), image.length);
  let shoff = 0;
  if (shnum > 0) {
    if (shoffBig === 0n) throw new GuestError(`${file}: e_shnum is ${shnum} but e_shoff is 0`);
    if (shentsize < shdrSize) {
      throw new GuestError(`${file}: e_shentsize ${shentsize} is smaller than an ELF${bits} section header (${shdrSize} bytes)`);
    }
    shoff = fileRange(file, `section header table (${shnum} entries of ${shentsize} bytes)`, shoffBig,
      BigInt(shnum) * BigInt(shentsize), image.length).off;
    if (shstrndx !== SHN_UNDEF && shstrndx >= shnum) {
      throw new GuestError(`${file}: e_shstrndx ${shstrndx} is not a section (there are ${shnum})`);
    }
  } else {
    shstrndx = SHN_UNDEF;
  }
  return {
    bits, type, machine, version, entry, phoff: ph.off, shoff, flags, ehsize, phentsize, phnum, shentsize, shnum, shstrndx,
  };
}

function parseProgramHeaders(r: Reader, h: ElfHeader): ProgramHeader[] {
  const file = r.file;
  const out: ProgramHeader[] = [];
  for (let i = 0; i < h.phnum; i++) {
    const o = h.phoff + i * h.phentsize;
    const what = `program header ${i}`;
    let type: number, flags: number, offset: bigint, vaddr: bigint, paddr: bigint, filesz: bigint, memsz: bigint, align: bigint;
    if (h.bits === 32) {
      type = r.u32(o, what);
      offset = BigInt(r.u32(o + 4, what));
      vaddr = BigInt(r.u32(o + 8, what));
      paddr = BigInt(r.u32(o + 12, what));
      filesz = BigInt(r.u32(o + 16, what));
      memsz = BigInt(r.u32(o + 20, what));
      flags = r.u32(o + 24, what);
      align = BigInt(r.u32(o + 28, what));
    } else {
      type = r.u32(o, what);
      flags = r.u32(o + 4, what);
      offset = r.u64(o + 8, what);
      vaddr = r.u64(o + 16, what);
      paddr = r.u64(o + 24, what);
      filesz = r.u64(o + 32, what);
      memsz = r.u64(o + 40, what);
      align = r.u64(o + 48, what);
    }
    let off = 0;
    let size = 0;
    if (type === PT_LOAD) {
      const seg = `segment ${i} (PT_LOAD)`;
      if (filesz > memsz) {
        throw new GuestError(`${file}: ${seg} has p_filesz ${hex(filesz)} larger than p_memsz ${hex(memsz)}`);
      }
      const limit = 1n << BigInt(h.bits);
      if (paddr + memsz > limit) {
        throw new GuestError(
          `${file}: ${seg} at physical ${hex(paddr)} with ${hex(memsz)} bytes wraps past the end of the ${h.bits}-bit address space`,
        );
      }
      ({ off, size } = fileRange(file, `${seg} data`, offset, filesz, r.buf.length));
    } else if (offset <= BigInt(r.buf.length) && filesz <= BigInt(r.buf.length)) {
      // Other segments (PT_NOTE, PT_GNU_STACK...) are not loaded; keep their numbers when sane.
      off = Number(offset);
      size = Number(filesz);
    }
    out.push({ index: i, type, flags, offset: off, filesz: size, vaddr, paddr, memsz, align });
  }
  return out;
}

function parseSections(r: Reader, h: ElfHeader): SectionHeader[] {
  const file = r.file;
  const raw: Omit<SectionHeader, 'name'>[] = [];
  const nameOffsets: number[] = [];
  for (let i = 0; i < h.shnum; i++) {
    const o = h.shoff + i * h.shentsize;
    const what = `section header ${i}`;
    const w = h.bits === 32 ? 4 : 8;
    nameOffsets.push(r.u32(o, what));
    const type = r.u32(o + 4, what);
    const flags = r.word(o + 8, what);
    const addr = r.word(o + 8 + w, what);
    const offset = r.word(o + 8 + 2 * w, what);
    const size = r.word(o + 8 + 3 * w, what);
    const link = r.u32(o + 8 + 4 * w, what);
    const info = r.u32(o + 12 + 4 * w, what);
    const entsize = r.word(o + 16 + 5 * w, what);
    let off = 0;
    if (type !== SHT_NOBITS && type !== SHT_NULL) {
      off = fileRange(file, `section ${i} data`, offset, size, r.buf.length).off;
    } else if (offset <= BigInt(r.buf.length)) {
      off = Number(offset);
    }
    if (entsize > BigInt(r.buf.length)) throw new GuestError(`${file}: section ${i} has an impossible sh_entsize ${entsize}`);
    raw.push({ index: i, type, flags, addr, offset: off, size, link, info, entsize: Number(entsize) });
  }
  const shstr = h.shstrndx !== SHN_UNDEF ? raw[h.shstrndx] : undefined;
  if (shstr && shstr.type !== SHT_STRTAB) {
    throw new GuestError(`${file}: section ${h.shstrndx} named by e_shstrndx is not a string table (type ${shstr.type})`);
  }
  return raw.map((s, i) => ({
    ...s,
    name: shstr ? readString(r, shstr, nameOffsets[i], () => `name of section ${i}`) : '',
  }));
}

/** The symbol table (.symtab, else .dynsym) of a parsed file; empty when there is none. */
function parseSymbols(r: Reader, h: ElfHeader, sections: SectionHeader[]): ElfSymbol[] {
  const file = r.file;
  const symtab = sections.find((s) => s.type === SHT_SYMTAB) ?? sections.find((s) => s.type === SHT_DYNSYM);
  const symbols: ElfSymbol[] = [];
  if (symtab) {
    const symSize = h.bits === 32 ? 16 : 24;
    const entsize = symtab.entsize || symSize;
    if (entsize < symSize) {
      throw new GuestError(`${file}: symbol table ${symtab.name || symtab.index} has sh_entsize ${entsize}, smaller than an ELF${h.bits} symbol (${symSize})`);
    }
    const strtab = sections[symtab.link];
    if (!strtab || strtab.type !== SHT_STRTAB) {
      throw new GuestError(`${file}: symbol table ${symtab.name || symtab.index} links to section ${symtab.link}, which is not a string table`);
    }
    // The section lies in the file (checked above), so the count is bounded by the file size.
    const count = Math.floor(Number(symtab.size) / entsize);
    // Each symbol lies in the section, hence in the file: read unchecked (a kernel has 130,000).
    const b = r.buf;
    // An aligned 64-bit table's values and sizes as 64-bit words: no BigInt put together from halves per read.
    const words = h.bits === 64 && entsize % 8 === 0 && (b.byteOffset + symtab.offset) % 8 === 0
      ? new BigUint64Array(b.buffer, b.byteOffset + symtab.offset, (count * entsize) / 8) : undefined;
    // The names as slices of the string table decoded once: one string made per name, not a
    // Buffer decode each (a kernel's table is 3 MB).
    const names = b.toString('latin1', strtab.offset, strtab.offset + Number(strtab.size));
    for (let i = 0; i < count; i++) {
      const o = symtab.offset + i * entsize;
      const nameOff = b.readUInt32LE(o);
      let value: bigint, size: bigint, info: number, shndx: number;
      if (h.bits === 32) {
        value = BigInt(b.readUInt32LE(o + 4));
        size = BigInt(b.readUInt32LE(o + 8));
        info = b[o + 12];
        shndx = b.readUInt16LE(o + 14);
      } else {
        info = b[o + 4];
        shndx = b.readUInt16LE(o + 6);
        const w = (i * entsize) / 8;
        value = words ? words[w + 1] : b.readBigUInt64LE(o + 8);
        size = words ? words[w + 2] : b.readBigUInt64LE(o + 16);
      }
      if (i === 0) continue; // the null symbol
      symbols.push({
        name: readString(r, strtab, nameOff, () => `name of symbol ${i}`, names),
        value,
        size,
        type: SYMBOL_TYPES[info & 0xf] ?? 'other',
        bind: SYMBOL_BINDS[info >> 4] ?? 'other',
        shndx: shndx >= SHN_LORESERVE || shndx < sections.length ? shndx : SHN_UNDEF,
      });
    }
  }
  return symbols;
}

/**
 * A NUL-terminated string at `off` in a string-table section (whose data lies in the file): up to
 * the NUL, the table's end or MAX_NAME_LENGTH bytes, whichever comes first. Only those bytes are
 * looked at. `decoded`, the whole table as a latin1 string, gives the name as a slice of it.
 */
function readString(r: Reader, table: Omit<SectionHeader, 'name'>, off: number, what: () => string, decoded?: string): string {
  const size = Number(table.size);
  if (off >= size) {
    if (off === 0) return '';
    throw new GuestError(`${r.file}: ${what()} at string offset ${off} is outside its string table (${size} bytes)`);
  }
  const start = table.offset + off;
  const end = stringEnd(r.buf, start, table.offset + size);
  return decoded !== undefined ? decoded.slice(off, end - table.offset) : r.buf.toString('latin1', start, end);
}

/** Where the string at `start` ends: its NUL, `end` (the table's) or MAX_NAME_LENGTH bytes on. */
function stringEnd(b: Buffer, start: number, end: number): number {
  const stop = Math.min(end, start + MAX_NAME_LENGTH);
  // A loop, not subarray().indexOf(): no Buffer view made per name.
  let nul = start;
  while (nul < stop && b[nul] !== 0) nul++;
  return nul;
}
