// An ELF file opened for its symbols and debug sections. Parsing goes through the loader's
// checked parser (src/symbols/elf-parse.ts); symbol files need not be loadable executables,
// so position-independent ones (ET_DYN) are read too. Compressed debug sections (SHF_COMPRESSED
// with zlib, as `ld --compress-debug-sections` or distribution kernels make) are inflated.
// A file opened by path is read a piece at a time: its headers and symbol table at once, each
// other section when first asked for. (A distribution kernel's vmlinux with debug info is over
// 600 MB, most of it relocations and code the debugger never reads.)
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { kMaxLength } from 'node:buffer';
import { ET_DYN, ET_EXEC, SHT_DYNSYM, SHT_NOBITS, SHT_SYMTAB, parseElf, parseElfHeader, type ElfFile, type SectionHeader } from './elf-parse.js';
import { GuestError } from '../errors.js';

const SHF_COMPRESSED = 0x800n;
const ELFCOMPRESS_ZLIB = 1;

export class ElfImage {
  readonly bits: 32 | 64;
  private readonly cache = new Map<string, Buffer | undefined>();
  private readonly pieces = new Map<string, { data: Buffer; fill: (start: number, end: number) => void }>();

  /**
   * @param image the file's bytes; for a file opened by path, as big as the file but holding only
   *   the pieces `fill` has read so far (zeros elsewhere, which take no memory until written)
   */
  private constructor(
    readonly elf: ElfFile, private readonly image: Buffer, readonly fileName: string, private readonly fill?: PieceReader,
  ) {
    this.bits = elf.header.bits;
  }

  /**
   * Opens an ELF image: a Buffer, or a path to read (only the headers and the symbol table now,
   * sections when asked for). Throws a GuestError for a bad file.
   */
  static open(source: Buffer | string, fileName?: string): ElfImage {
    if (typeof source !== 'string') return new ElfImage(parse(source, fileName ?? 'ELF image'), source, fileName ?? 'ELF image');
    const fill = new PieceReader(source);
    const image = fill.image;
    const name = fileName ?? source;
    // The ELF header, and section header 0 where extended numbering keeps the counts.
    fill.read(0, 64);
    fill.read(image.length >= 0x30 && image[4] === 2 ? Number(image.readBigUInt64LE(0x28)) : image.length >= 0x24 ? image.readUInt32LE(0x20) : 0, 64);
    const header = parse(image, name, { own: true, headerOnly: true }).header;
    fill.read(header.phoff, header.phnum * header.phentsize);
    fill.read(header.shoff, header.shnum * header.shentsize);
    // The section headers (their names not read yet) say where the names and symbols are.
    const sections = parse(image, name, { own: true }).sections;
    const symtab = sections.find((s) => s.type === SHT_SYMTAB) ?? sections.find((s) => s.type === SHT_DYNSYM);
    for (const s of [sections[header.shstrndx], symtab, symtab && sections[symtab.link]]) {
      if (s && s.type !== SHT_NOBITS) fill.read(s.offset, Number(s.size));
    }
    return new ElfImage(parse(image, name, { own: true }), image, name, fill);
  }

  /** `source` itself when already opened: each reader of one file shares one parse. */
  static of(source: ElfImage | Buffer | string, fileName?: string): ElfImage {
    return source instanceof ElfImage ? source : ElfImage.open(source, fileName);
  }

  sectionHeader(name: string): SectionHeader | undefined {
    return this.elf.sections.find((s) => s.name === name);
  }

  /** The contents of a section by name (decompressed), or undefined if absent or SHT_NOBITS. */
  section(name: string): Buffer | undefined {
    if (this.cache.has(name)) return this.cache.get(name);
    const s = this.sectionHeader(name);
    let data: Buffer | undefined;
    if (s && s.type !== SHT_NOBITS) {
      this.fill?.read(s.offset, Number(s.size));
      data = this.image.subarray(s.offset, s.offset + Number(s.size));
      if (s.flags & SHF_COMPRESSED) data = decompress(data, this.bits, this.fileName, name);
    }
    this.cache.set(name, data);
    return data;
  }

  /**
   * A section to be read a piece at a time: `data` is as big as the section, and holds the file's
   * bytes where `fill(start, end)` has been called. For a file given as bytes, or a compressed
   * section, `data` is all there and there is no `fill`. Undefined if absent or SHT_NOBITS.
   */
  sectionInPieces(name: string): { data: Buffer; fill?: (start: number, end: number) => void } | undefined {
    const s = this.sectionHeader(name);
    const fill = this.fill;
    if (!fill || this.cache.has(name) || !s || s.type === SHT_NOBITS || s.flags & SHF_COMPRESSED) {
      const data = this.section(name);
      return data && { data };
    }
    let pieces = this.pieces.get(name);
    if (!pieces) {
      const size = Number(s.size);
      // One view per section, so that what is read once per .debug_info (its unit headers) is found again.
      this.pieces.set(name, (pieces = {
        data: this.image.subarray(s.offset, s.offset + size),
        fill: (start, end) => fill.read(s.offset + start, Math.min(end, size) - start),
      }));
    }
    return pieces;
  }
}

/**
 * A file read into a buffer of its size a piece at a time (positional reads), each piece once.
 * The file stays open while pieces are read one after another, and is closed when the event
 * loop next turns. A GuestError names the file when it cannot be read.
 */
class PieceReader {
  readonly image: Buffer;
  private readonly done = new Set<string>();
  private fd?: number;

  constructor(readonly path: string) {
    this.image = Buffer.alloc(fstatSync(this.open()).size);
  }

  private open(): number {
    if (this.fd !== undefined) return this.fd;
    try {
      this.fd = openSync(this.path, 'r');
    } catch (e) {
      throw new GuestError(`${this.path}: cannot read: ${(e as Error).message}`);
    }
    setImmediate(() => {
      closeSync(this.fd!);
      this.fd = undefined;
    }).unref();
    return this.fd;
  }

  /** Reads [offset, offset + size) of the file, clipped to its size. */
  read(offset: number, size: number): void {
    const end = Math.min(this.image.length, offset + size);
    const key = `${offset}+${end}`;
    if (offset >= end || this.done.has(key)) return;
    const fd = this.open();
    for (let at = offset; at < end;) {
      const n = readSync(fd, this.image, at, end - at, at);
      if (n === 0) throw new GuestError(`${this.path}: the file got shorter while being read (at offset ${at})`);
      at += n;
    }
    this.done.add(key);
  }
}

/**
 * Parses an ELF file (or only its header, while a file is read piece by piece). The loader's parser
 * only accepts ET_EXEC; for reading symbols a PIE or shared object is as good, so an ET_DYN file
 * is parsed as one: `own` (a buffer nobody else sees) in place, else through a copy.
 */
function parse(image: Buffer, name: string, opts: { own?: boolean; headerOnly?: boolean } = {}): ElfFile {
  const parseAs = (img: Buffer): ElfFile => opts.headerOnly
    ? { header: parseElfHeader(img, name), programHeaders: [], sections: [], symbols: [] }
    : parseElf(img, name);
  const type = image.length >= 18 ? image.readUInt16LE(16) : 0;
  if (type !== ET_DYN) return parseAs(image);
  let elf: ElfFile;
  if (opts.own) {
    image.writeUInt16LE(ET_EXEC, 16);
    try {
      elf = parseAs(image);
    } finally {
      image.writeUInt16LE(ET_DYN, 16);
    }
  } else {
    const copy = Buffer.from(image.subarray(0, Math.min(image.length, 64)));
    copy.writeUInt16LE(ET_EXEC, 16);
    elf = parseAs(Buffer.concat([copy, image.subarray(copy.length)]));
  }
  elf.header.type = ET_DYN;
  return elf;
}

function decompress(data: Buffer, bits: 32 | 64, file: string, name: string): Buffer {
  const hdr = bits === 64 ? 24 : 12;
  if (data.length < hdr) throw new GuestError(`${file}: compressed section ${name} is shorter than its header`);
  const type = data.readUInt32LE(0);
  if (type !== ELFCOMPRESS_ZLIB) {
    throw new GuestError(`${file}: section ${name} is compressed with ${type === 2 ? 'zstd' : `type ${type}`}; only zlib is supported (relink with --compress-debug-sections=zlib or none)`);
  }
  const size = bits === 64 ? Number(data.readBigUInt64LE(8)) : data.readUInt32LE(4);
  try {
    // No more than the header says: a stream that inflates further (a zlib bomb behind a small
    // ch_size) stops there instead of filling memory.
    const out = inflateSync(data.subarray(hdr), { maxOutputLength: Math.max(1, Math.min(size, kMaxLength)) });
    if (out.length !== size) throw new Error(`inflated to ${out.length} bytes, the header says ${size}`);
    return out;
  } catch (e) {
    throw new GuestError(`${file}: cannot decompress section ${name}: ${(e as Error).message}`);
  }
}
