// A bounds-checked little-endian cursor over one DWARF section, shared by the .debug_info,
// .debug_line and call frame readers. Every read past the end of the section throws a
// DwarfError naming the section and offset, never a RangeError, so that a corrupt or truncated
// section fails one unit, not the adapter.

export class DwarfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DwarfError';
  }
}

const U64_MASK = (1n << 64n) - 1n;

export class ByteReader {
  /** The current offset within `buf`. */
  pos: number;

  constructor(
    readonly buf: Buffer,
    /** Name for messages: ".debug_line" etc. */
    readonly section: string,
    pos = 0,
    /** Reads stop here (exclusive); defaults to the end of the buffer. */
    public end = buf.length,
  ) {
    this.pos = pos;
  }

  get atEnd(): boolean {
    return this.pos >= this.end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.pos < 0 || this.pos + n > this.end) {
      throw new DwarfError(`${this.section}: ${what} at offset 0x${this.pos.toString(16)} runs past the end (0x${this.end.toString(16)})`);
    }
  }

  u8(what = 'byte'): number {
    this.need(1, what);
    return this.buf[this.pos++];
  }
  s8(what = 'byte'): number {
    this.need(1, what);
    return this.buf.readInt8(this.pos++);
  }
  u16(what = 'half'): number {
    this.need(2, what);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  s16(what = 'half'): number {
    this.need(2, what);
    const v = this.buf.readInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u24(what = 'value'): number {
    this.need(3, what);
    const v = this.buf.readUIntLE(this.pos, 3);
    this.pos += 3;
    return v;
  }
  u32(what = 'word'): number {
    this.need(4, what);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  s32(what = 'word'): number {
    this.need(4, what);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(what = 'quad'): bigint {
    this.need(8, what);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  s64(what = 'quad'): bigint {
    this.need(8, what);
    const v = this.buf.readBigInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  /** An unsigned value of 1, 2, 4 or 8 bytes as a bigint. */
  uN(size: number, what = 'value'): bigint {
    switch (size) {
      case 1: return BigInt(this.u8(what));
      case 2: return BigInt(this.u16(what));
      case 4: return BigInt(this.u32(what));
      case 8: return this.u64(what);
      default: throw new DwarfError(`${this.section}: unsupported ${what} size ${size}`);
    }
  }
  /** A signed value of 1, 2, 4 or 8 bytes. */
  sN(size: number, what = 'value'): bigint {
    switch (size) {
      case 1: return BigInt(this.s8(what));
      case 2: return BigInt(this.s16(what));
      case 4: return BigInt(this.s32(what));
      case 8: return this.s64(what);
      default: throw new DwarfError(`${this.section}: unsupported ${what} size ${size}`);
    }
  }
  /** A section offset: 4 bytes in 32-bit DWARF, 8 in 64-bit DWARF; as a number. */
  offset(offsetSize: 4 | 8, what = 'offset'): number {
    if (offsetSize === 4) return this.u32(what);
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new DwarfError(`${this.section}: ${what} 0x${v.toString(16)} is too large`);
    return Number(v);
  }
  /** ULEB128 as a bigint (bits past 64 are dropped). */
  uleb(what = 'ULEB128'): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.u8(what);
      if (shift < 64n) result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if (!(b & 0x80)) break;
    }
    return result & U64_MASK;
  }
  /** SLEB128 as a bigint. */
  sleb(what = 'SLEB128'): bigint {
    let result = 0n;
    let shift = 0n;
    let b: number;
    do {
      b = this.u8(what);
      if (shift < 64n) result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
    } while (b & 0x80);
    if (b & 0x40 && shift < 64n) result -= 1n << shift;
    return BigInt.asIntN(64, result);
  }
  /** ULEB128 that must fit a JavaScript number (counts, indexes, register numbers). */
  ulebN(what = 'ULEB128'): number {
    // Up to 7 bytes (49 bits) in numbers: DWARF's codes, tags, forms, lengths and indexes, read
    // millions of times at a kernel's launch; a longer one through uleb's bigints.
    const start = this.pos;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      const b = this.u8(what);
      result += (b & 0x7f) * scale;
      if (!(b & 0x80)) return result;
      scale *= 128;
    }
    this.pos = start;
    const v = this.uleb(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new DwarfError(`${this.section}: ${what} ${v} is too large`);
    return Number(v);
  }
  slebN(what = 'SLEB128'): number {
    return Number(this.sleb(what));
  }
  /**
   * A NUL-terminated string (UTF-8). Only the bytes up to the reader's end are searched for the
   * NUL, or up to `maxLength` when given (a longer string is an error).
   */
  cstring(what = 'string', maxLength = Infinity): string {
    const start = this.pos;
    const limit = Math.min(this.end, this.buf.length, start + maxLength + 1);
    const rel = start >= 0 && start < limit ? this.buf.subarray(start, limit).indexOf(0) : -1;
    if (rel < 0) {
      if (limit - start > maxLength) {
        throw new DwarfError(`${this.section}: ${what} at offset 0x${start.toString(16)} is longer than ${maxLength} bytes`);
      }
      throw new DwarfError(`${this.section}: unterminated ${what} at offset 0x${start.toString(16)}`);
    }
    this.pos = start + rel + 1;
    return this.buf.toString('utf8', start, start + rel);
  }
  bytes(n: number, what = 'block'): Buffer {
    this.need(n, what);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
  skip(n: number, what = 'data'): void {
    this.need(n, what);
    this.pos += n;
  }
  /**
   * An initial length field: returns the unit's length and whether it is 64-bit DWARF
   * (0xffffffff escape followed by an 8-byte length).
   */
  initialLength(what = 'unit length'): { length: number; offsetSize: 4 | 8 } {
    const l = this.u32(what);
    if (l === 0xffffffff) return { length: this.offset(8, what), offsetSize: 8 };
    if (l >= 0xfffffff0) throw new DwarfError(`${this.section}: reserved ${what} 0x${l.toString(16)} at offset 0x${(this.pos - 4).toString(16)}`);
    return { length: l, offsetSize: 4 };
  }
}

/**
 * Strings read by offset (stringAt) are cut at this many bytes. Any number of attributes may
 * point anywhere into a string section, so without a cap a section with one NUL at its end
 * would make each of them a copy of the rest of the section: quadratic time and memory.
 */
export const MAX_STRING_LENGTH = 4096;

/** Per string section: where its last NUL is, and the strings already read (by offset). */
const stringSections = new WeakMap<Buffer, { lastNul: number; strings: Map<number, string> }>();

/**
 * The NUL-terminated string at `off` in a string section (.debug_str, .debug_line_str), cut at
 * MAX_STRING_LENGTH bytes. Each offset is decoded once per section; no more than
 * MAX_STRING_LENGTH bytes are looked at for it.
 */
export function stringAt(section: Buffer | undefined, name: string, off: number): string {
  if (!section) throw new DwarfError(`${name} is missing but a string refers to it`);
  let s = stringSections.get(section);
  if (!s) stringSections.set(section, (s = { lastNul: section.lastIndexOf(0), strings: new Map() }));
  const cached = s.strings.get(off);
  if (cached !== undefined) return cached;
  if (!(off >= 0 && off <= s.lastNul)) {
    // Past the last NUL nothing is terminated (and past the end nothing is there at all).
    throw new DwarfError(`${name}: unterminated string at ${name}+0x${off.toString(16)}`);
  }
  const end = Math.min(off + MAX_STRING_LENGTH, s.lastNul);
  // A loop, not indexOf on a subarray: DWARF's names are short and ASCII, and a unit's tree
  // reads tens of thousands of them (twice as fast on a kernel's .debug_str).
  let nul = off;
  let ascii = true;
  for (; nul < end; nul++) {
    const c = section[nul];
    if (c === 0) break;
    if (c >= 0x80) ascii = false;
  }
  const str = section.toString(ascii ? 'latin1' : 'utf8', off, nul);
  s.strings.set(off, str);
  return str;
}
