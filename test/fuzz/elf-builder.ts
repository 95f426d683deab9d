// Small ELF files made in tests: ELF32 or ELF64 executables for x86 with the program headers and
// sections a test asks for (a section's data may be anything, a link may name another section),
// and the encoders DWARF tests need (ULEB128/SLEB128, symbol tables). Used by the hostile-input
// tests (test/parse-bounds.test.ts), the fuzz targets and the seed-corpus script.

export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_NOBITS = 8;
export const PT_LOAD = 1;

export interface SectionSpec {
  name: string;
  type: number;
  data?: Buffer;
  /** For SHT_NOBITS: the size in memory. */
  size?: number;
  addr?: bigint;
  flags?: bigint;
  /** Another section by name, or an index. */
  link?: string | number;
  info?: number;
  entsize?: number;
}

export interface SegmentSpec {
  paddr: bigint;
  vaddr?: bigint;
  data: Buffer;
  /** Default: data.length. */
  memsz?: bigint;
  type?: number;
  flags?: number;
}

export interface ElfSpec {
  bits?: 32 | 64;
  /** e_type: ET_EXEC (2) by default. */
  type?: number;
  entry?: bigint;
  segments?: SegmentSpec[];
  /** Section 0 (null) and .shstrtab (last) are added. */
  sections?: SectionSpec[];
}

/** An ELF file: header, program headers, segment data, section data, .shstrtab, section headers. */
export function buildElf(spec: ElfSpec): Buffer {
  const bits = spec.bits ?? 64;
  const ehsize = bits === 64 ? 64 : 52;
  const phentsize = bits === 64 ? 56 : 32;
  const shentsize = bits === 64 ? 64 : 40;
  const segments = spec.segments ?? [];
  const sections = [...(spec.sections ?? [])];
  const names: number[] = [];
  const shstr: Buffer[] = [Buffer.from([0])];
  let shstrLen = 1;
  const addName = (n: string): number => {
    const at = shstrLen;
    const b = Buffer.from(n + '\0', 'latin1');
    shstr.push(b);
    shstrLen += b.length;
    return at;
  };
  for (const s of sections) names.push(addName(s.name));
  const shstrName = addName('.shstrtab');
  const shstrtab = Buffer.concat(shstr);

  let off = ehsize + segments.length * phentsize;
  const segOffsets = segments.map((s) => {
    const at = off;
    off += s.data.length;
    return at;
  });
  const secOffsets = sections.map((s) => {
    const at = off;
    if (s.type !== SHT_NOBITS) off += s.data?.length ?? 0;
    return at;
  });
  const shstrOffset = off;
  off += shstrtab.length;
  off = (off + 7) & ~7;
  const shoff = off;
  const shnum = sections.length + 2;
  const out = Buffer.alloc(shoff + shnum * shentsize);

  // e_ident
  out.set([0x7f, 0x45, 0x4c, 0x46, bits === 64 ? 2 : 1, 1, 1], 0);
  out.writeUInt16LE(spec.type ?? 2, 16);
  out.writeUInt16LE(bits === 64 ? 62 : 3, 18);
  out.writeUInt32LE(1, 20);
  const w = bits === 64 ? 8 : 4;
  const word = (v: bigint | number, at: number): void => {
    if (bits === 64) out.writeBigUInt64LE(BigInt(v), at);
    else out.writeUInt32LE(Number(v), at);
  };
  word(spec.entry ?? segments[0]?.vaddr ?? segments[0]?.paddr ?? 0n, 24);
  word(segments.length ? ehsize : 0, 24 + w);
  word(shoff, 24 + 2 * w);
  const p = 24 + 3 * w;
  out.writeUInt32LE(0, p);
  out.writeUInt16LE(ehsize, p + 4);
  out.writeUInt16LE(phentsize, p + 6);
  out.writeUInt16LE(segments.length, p + 8);
  out.writeUInt16LE(shentsize, p + 10);
  out.writeUInt16LE(shnum, p + 12);
  out.writeUInt16LE(shnum - 1, p + 14);

  segments.forEach((s, i) => {
    const o = ehsize + i * phentsize;
    const memsz = s.memsz ?? BigInt(s.data.length);
    const vaddr = s.vaddr ?? s.paddr;
    if (bits === 64) {
      out.writeUInt32LE(s.type ?? PT_LOAD, o);
      out.writeUInt32LE(s.flags ?? 7, o + 4);
      out.writeBigUInt64LE(BigInt(segOffsets[i]), o + 8);
      out.writeBigUInt64LE(vaddr, o + 16);
      out.writeBigUInt64LE(s.paddr, o + 24);
      out.writeBigUInt64LE(BigInt(s.data.length), o + 32);
      out.writeBigUInt64LE(memsz, o + 40);
      out.writeBigUInt64LE(0x1000n, o + 48);
    } else {
      out.writeUInt32LE(s.type ?? PT_LOAD, o);
      out.writeUInt32LE(segOffsets[i], o + 4);
      out.writeUInt32LE(Number(vaddr), o + 8);
      out.writeUInt32LE(Number(s.paddr), o + 12);
      out.writeUInt32LE(s.data.length, o + 16);
      out.writeUInt32LE(Number(memsz), o + 20);
      out.writeUInt32LE(s.flags ?? 7, o + 24);
      out.writeUInt32LE(0x1000, o + 28);
    }
    out.set(s.data, segOffsets[i]);
  });

  const indexOf = (l: string | number | undefined): number => {
    if (l === undefined) return 0;
    if (typeof l === 'number') return l;
    const i = sections.findIndex((s) => s.name === l);
    if (i < 0) throw new Error(`no section ${l}`);
    return i + 1;
  };
  const header = (i: number, name: number, s: SectionSpec, offset: number, size: number): void => {
    const o = shoff + i * shentsize;
    out.writeUInt32LE(name, o);
    out.writeUInt32LE(s.type, o + 4);
    word(s.flags ?? 0n, o + 8);
    word(s.addr ?? 0n, o + 8 + w);
    word(offset, o + 8 + 2 * w);
    word(size, o + 8 + 3 * w);
    out.writeUInt32LE(indexOf(s.link), o + 8 + 4 * w);
    out.writeUInt32LE(s.info ?? 0, o + 12 + 4 * w);
    word(1, o + 16 + 4 * w); // sh_addralign
    word(s.entsize ?? 0, o + 16 + 5 * w);
  };
  sections.forEach((s, i) => {
    if (s.type !== SHT_NOBITS && s.data) out.set(s.data, secOffsets[i]);
    header(i + 1, names[i], s, secOffsets[i], s.type === SHT_NOBITS ? s.size ?? 0 : s.data?.length ?? 0);
  });
  out.set(shstrtab, shstrOffset);
  header(shnum - 1, shstrName, { name: '.shstrtab', type: SHT_STRTAB }, shstrOffset, shstrtab.length);
  return out;
}

export interface SymbolSpec {
  /** Offset of the name in the string table. */
  nameOff: number;
  value: bigint;
  size?: bigint;
  /** st_info: type | bind << 4 (default: a global function). */
  info?: number;
  shndx?: number;
}

/** A symbol table's bytes, the null symbol first. */
export function symbolTable(bits: 32 | 64, symbols: SymbolSpec[]): Buffer {
  const size = bits === 64 ? 24 : 16;
  const out = Buffer.alloc(size * (symbols.length + 1));
  symbols.forEach((s, i) => {
    const o = size * (i + 1);
    out.writeUInt32LE(s.nameOff, o);
    const info = s.info ?? 0x12;
    const shndx = s.shndx ?? 1;
    if (bits === 64) {
      out[o + 4] = info;
      out.writeUInt16LE(shndx, o + 6);
      out.writeBigUInt64LE(s.value, o + 8);
      out.writeBigUInt64LE(s.size ?? 0n, o + 16);
    } else {
      out.writeUInt32LE(Number(s.value), o + 4);
      out.writeUInt32LE(Number(s.size ?? 0n), o + 8);
      out[o + 12] = info;
      out.writeUInt16LE(shndx, o + 14);
    }
  });
  return out;
}

export function uleb(v: number | bigint): Buffer {
  let x = BigInt(v);
  const out: number[] = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n) b |= 0x80;
    out.push(b);
  } while (x !== 0n);
  return Buffer.from(out);
}

export function sleb(v: number | bigint): Buffer {
  let x = BigInt(v);
  const out: number[] = [];
  for (;;) {
    const b = Number(x & 0x7fn);
    x >>= 7n;
    if ((x === 0n && !(b & 0x40)) || (x === -1n && b & 0x40)) {
      out.push(b);
      return Buffer.from(out);
    }
    out.push(b | 0x80);
  }
}

export function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
}

export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
}

export function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  return b;
}

/** A 32-bit DWARF unit or program: the initial length, then the body. */
export function withLength(body: Buffer): Buffer {
  return Buffer.concat([u32(body.length), body]);
}

/**
 * A Buffer whose string searches and decodes are counted: every byte indexOf, lastIndexOf and
 * includes look at (up to the match, or to the end), every byte toString decodes. Views made
 * with subarray or slice count into the same counter. For asserting that a parser's work is
 * bounded, as a count instead of a time.
 */
export interface Counter { scanned: number; decoded: number }

export function countingBuffer(data: Buffer, counter: Counter = { scanned: 0, decoded: 0 }): { buf: Buffer; counter: Counter } {
  const proto = Object.create(Buffer.prototype) as Buffer;
  const wrap = (b: Buffer): Buffer => Object.setPrototypeOf(b, proto) as Buffer;
  const base = Buffer.prototype;
  const scanCount = (self: Buffer, start: number, found: number, forward: boolean): void => {
    const from = Math.max(0, Math.min(self.length, start < 0 ? self.length + start : start));
    if (forward) counter.scanned += (found < 0 ? self.length : found + 1) - from;
    else counter.scanned += from + 1 - (found < 0 ? 0 : found);
  };
  Object.assign(proto, {
    indexOf(this: Buffer, value: string | number | Uint8Array, byteOffset = 0, encoding?: BufferEncoding): number {
      const r = base.indexOf.call(this, value, byteOffset, encoding);
      scanCount(this, typeof byteOffset === 'number' ? byteOffset : 0, r, true);
      return r;
    },
    includes(this: Buffer, value: string | number | Uint8Array, byteOffset = 0, encoding?: BufferEncoding): boolean {
      return (proto.indexOf as typeof base.indexOf).call(this, value, byteOffset, encoding) >= 0;
    },
    lastIndexOf(this: Buffer, value: string | number | Uint8Array, byteOffset?: number, encoding?: BufferEncoding): number {
      const r = base.lastIndexOf.call(this, value, byteOffset ?? this.length - 1, encoding);
      scanCount(this, byteOffset ?? this.length - 1, r, false);
      return r;
    },
    toString(this: Buffer, encoding?: BufferEncoding, start = 0, end = this.length): string {
      const s = Math.max(0, start);
      const e = Math.min(this.length, end);
      if (e > s) counter.decoded += e - s;
      return base.toString.call(this, encoding, start, end);
    },
    subarray(this: Buffer, start?: number, end?: number): Buffer {
      return wrap(base.subarray.call(this, start, end));
    },
    slice(this: Buffer, start?: number, end?: number): Buffer {
      return wrap(base.subarray.call(this, start, end));
    },
  });
  return { buf: wrap(Buffer.from(data)), counter };
}

export const PT_NOTE = 4;

/** One ELF note: namesz, descsz, type, the name with its NUL and the descriptor, each padded to 4. */
export function elfNote(name: string, type: number, desc: Buffer): Buffer {
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  const head = Buffer.alloc(12);
  head.writeUInt32LE(name.length + 1, 0);
  head.writeUInt32LE(desc.length, 4);
  head.writeUInt32LE(type, 8);
  return Buffer.concat([head, pad(Buffer.from(name + '\0', 'latin1')), pad(desc)]);
}

/**
 * A PVH kernel: code at 1 MiB (hlt; jmp) and a PT_NOTE with the Xen PHYS32_ENTRY note (type 18)
 * naming it, its descriptor 4 bytes or 8 (as Linux writes it), after another Xen note.
 */
export function pvhElf(bits: 32 | 64, descLen: 4 | 8): Buffer {
  const entry = Buffer.alloc(descLen);
  entry.writeUInt32LE(0x100000, 0);
  const notes = Buffer.concat([elfNote('Xen', 6, Buffer.from('linux\0')), elfNote('Xen', 18, entry)]);
  return buildElf({
    bits,
    segments: [{ paddr: 0x100000n, data: Buffer.from([0xf4, 0xeb, 0xfd]) }, { paddr: 0x101000n, data: notes, type: PT_NOTE }],
  });
}

/** A DWARF abbreviation declaration: code, tag, children flag, (name, form) pairs, 0 0. */
export function abbrev(code: number, tag: number, children: boolean, attrs: [number, number][]): Buffer {
  return Buffer.concat([uleb(code), uleb(tag), Buffer.from([children ? 1 : 0]), ...attrs.map(([n, f]) => Buffer.concat([uleb(n), uleb(f)])), Buffer.from([0, 0])]);
}

/** A DWARF 4 unit (32-bit DWARF, 8-byte addresses) with these DIE bytes: at offset 0, its DIEs start at 11. */
export function unit4(abbrevOffset: number, dies: Buffer): Buffer {
  return withLength(Buffer.concat([u16(4), u32(abbrevOffset), Buffer.from([8]), dies]));
}
