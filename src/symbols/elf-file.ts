// An ELF file opened for its symbols and debug sections. Parsing goes through the loader's
// checked parser (src/symbols/elf-parse.ts); symbol files need not be loadable executables,
// so position-independent ones (ET_DYN) are read too. Compressed debug sections (SHF_COMPRESSED
// with zlib, as `ld --compress-debug-sections` or distribution kernels make) are inflated.
import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { kMaxLength } from 'node:buffer';
import { ET_DYN, ET_EXEC, SHT_NOBITS, parseElf, type ElfFile, type SectionHeader } from './elf-parse.js';
import { GuestError } from '../errors.js';

const SHF_COMPRESSED = 0x800n;
const ELFCOMPRESS_ZLIB = 1;

export class ElfImage {
  readonly bits: 32 | 64;
  private readonly cache = new Map<string, Buffer | undefined>();

  private constructor(readonly elf: ElfFile, readonly image: Buffer, readonly fileName: string) {
    this.bits = elf.header.bits;
  }

  /** Opens an ELF image (a Buffer, or a path to read). Throws a GuestError for a bad file. */
  static open(source: Buffer | string, fileName?: string): ElfImage {
    const image = typeof source === 'string' ? readFileSync(source) : source;
    const name = fileName ?? (typeof source === 'string' ? source : 'ELF image');
    let elf: ElfFile;
    const type = image.length >= 18 ? image.readUInt16LE(16) : 0;
    if (type === ET_DYN) {
      // The loader only accepts ET_EXEC; for reading symbols a PIE or shared object is as good.
      const copy = Buffer.from(image.subarray(0, Math.min(image.length, 64)));
      copy.writeUInt16LE(ET_EXEC, 16);
      elf = parseElf(Buffer.concat([copy, image.subarray(copy.length)]), name);
      elf.header.type = ET_DYN;
    } else {
      elf = parseElf(image, name);
    }
    return new ElfImage(elf, image, name);
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
      data = this.image.subarray(s.offset, s.offset + Number(s.size));
      if (s.flags & SHF_COMPRESSED) data = decompress(data, this.bits, this.fileName, name);
    }
    this.cache.set(name, data);
    return data;
  }
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
