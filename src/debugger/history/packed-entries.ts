// The recorded instructions, packed into byte chunks. As objects (registers as 18 BigInts, a
// Buffer per write) an entry took about 1 KB of heap; packed, a typical one takes 20-40 bytes, so
// ten million instructions fit in well under 1 GiB.
//
// One entry's layout, declared here only (little-endian):
//   u8   flags          PC_FOLLOWS: the instruction's linear address follows, because it is not
//                       CS base + RIP of the registers before it (a debug exit's own PC)
//   [u64 pc]
//   u24  mask           bit r: general register r (GPR_NAMES order) differs between the registers
//                       before this instruction and those before the next
//   per bit set, in register order: u8 n, then the n low bytes of (before XOR next); the rest are 0
//   varint             the number of writes; then per write:
//     varint gpa, varint length, the old bytes, the new bytes
// One XOR delta serves both directions: going back or forward flips the same bits. Both memory
// images are kept (not their XOR) so that a move sets bytes rather than flipping them: memory a
// device or the user changed since is then still put back exactly.
import { GPR_NAMES } from '../../x86/registers.js';

export const PC_FOLLOWS = 1;
/** The general registers as KVM's struct kvm_regs lays them out: 8 bytes each, GPR_NAMES order. */
export const REGS_BYTES = GPR_NAMES.length * 8;
/** Entries per chunk: a chunk's entry offsets are one Uint32Array, and a full chunk is trimmed. */
const CHUNK_ENTRIES = 1 << 16;
/** A chunk's first byte and offset buffers, doubled as it fills: a short history stays small. */
const FIRST_CHUNK_BYTES = 1 << 14;
const FIRST_CHUNK_STARTS = 1 << 10;

/** One write as stored: where, and the two images (views into the chunk when read back). */
export interface PackedWrite {
  gpa: number;
  old: Buffer;
  new: Buffer;
}

interface Chunk {
  bytes: Buffer;
  used: number;
  starts: Uint32Array;
}

/** Where an entry's parts lie within its chunk. */
interface Parsed {
  bytes: Buffer;
  pc: bigint | undefined;
  /** Offset of the register mask. */
  regs: number;
  /** Offset of the write count. */
  writes: number;
}

export class PackedEntries {
  private chunks: Chunk[] = [];
  private count = 0;
  private readonly parsed: Parsed = { bytes: Buffer.alloc(0), pc: undefined, regs: 0, writes: 0 };
  /** Scratch of locateWrites, reused from entry to entry. */
  private readonly wGpa: number[] = [];
  private readonly wAt: number[] = [];
  private readonly wLen: number[] = [];

  get length(): number {
    return this.count;
  }

  /** Bytes held: what the entries use, and their offsets (four bytes each, as allocated). */
  get bytes(): number {
    let n = 0;
    for (const c of this.chunks) n += c.used + c.starts.byteLength;
    return n;
  }

  /**
   * Appends an entry. `before` and `next`: the registers before it and before the next one, as
   * kvm_regs bytes. `pc`: its linear address where that is not CS base + RIP.
   */
  push(pc: bigint | undefined, before: Uint8Array, next: Uint8Array, writes: readonly PackedWrite[]): void {
    let max = 1 + 8 + 3 + REGS_BYTES + GPR_NAMES.length + 10;
    for (const w of writes) max += 20 + 2 * w.old.length;
    const c = this.room(max);
    const b = c.bytes;
    let o = c.used;
    const slot = this.count % CHUNK_ENTRIES;
    if (slot === c.starts.length) {
      const grown = new Uint32Array(Math.min(c.starts.length * 2, CHUNK_ENTRIES));
      grown.set(c.starts);
      c.starts = grown;
    }
    c.starts[slot] = o;
    b[o++] = pc === undefined ? 0 : PC_FOLLOWS;
    if (pc !== undefined) o = b.writeBigUInt64LE(pc, o);
    const maskAt = o;
    o += 3;
    let mask = 0;
    for (let r = 0; r < GPR_NAMES.length; r++) {
      let n = 8;
      while (n > 0 && before[r * 8 + n - 1] === next[r * 8 + n - 1]) n--;
      if (n === 0) continue;
      mask |= 1 << r;
      b[o++] = n;
      for (let k = 0; k < n; k++) b[o++] = before[r * 8 + k] ^ next[r * 8 + k];
    }
    b.writeUIntLE(mask, maskAt, 3);
    o = putVarint(b, o, writes.length);
    for (const w of writes) {
      o = putVarint(b, o, w.gpa);
      o = putVarint(b, o, w.old.length);
      b.set(w.old, o);
      b.set(w.new, o + w.old.length);
      o += 2 * w.old.length;
    }
    c.used = o;
    this.count++;
    if (this.count % CHUNK_ENTRIES === 0) c.bytes = Buffer.from(b.subarray(0, o)); // full: trimmed to size
  }

  /** The linear address stored with entry i, where it is not CS base + RIP. */
  pc(i: number): bigint | undefined {
    return this.parse(i).pc;
  }

  /**
   * Undoes entry i, parsed once: XORs its register delta into `regs` (kvm_regs bytes: from the
   * registers before the next entry to those before this one) and writes its old images, the
   * last first. Returns its stored linear address, if any.
   */
  undo(i: number, regs: Uint8Array, write: (gpa: number, data: Buffer) => void): bigint | undefined {
    const p = this.parse(i);
    flip(p.bytes, p.regs, regs);
    const n = this.locateWrites(p);
    for (let k = n - 1; k >= 0; k--) write(this.wGpa[k], p.bytes.subarray(this.wAt[k], this.wAt[k] + this.wLen[k]));
    return p.pc;
  }

  /** Redoes entry i: its new images, the first first, and its register delta into `regs`. */
  redo(i: number, regs: Uint8Array, write: (gpa: number, data: Buffer) => void): void {
    const p = this.parse(i);
    flip(p.bytes, p.regs, regs);
    const n = this.locateWrites(p);
    for (let k = 0; k < n; k++) write(this.wGpa[k], p.bytes.subarray(this.wAt[k] + this.wLen[k], this.wAt[k] + 2 * this.wLen[k]));
  }

  /** Entry i's writes, in the order they were taken; the images are views into the chunk. */
  writes(i: number): PackedWrite[] {
    const p = this.parse(i);
    const b = p.bytes;
    const n = this.locateWrites(p);
    const out: PackedWrite[] = [];
    for (let k = 0; k < n; k++) {
      const o = this.wAt[k], len = this.wLen[k];
      out.push({ gpa: this.wGpa[k], old: b.subarray(o, o + len), new: b.subarray(o + len, o + 2 * len) });
    }
    return out;
  }

  clear(): void {
    this.chunks = [];
    this.count = 0;
  }

  /** Where the writes of a parsed entry lie: their count; gpa, old image offset and length in wGpa, wAt, wLen. */
  private locateWrites(p: Parsed): number {
    const b = p.bytes;
    const n = getVarint(b, p.writes);
    let o = varintEnd;
    for (let k = 0; k < n; k++) {
      this.wGpa[k] = getVarint(b, o);
      this.wLen[k] = getVarint(b, varintEnd);
      this.wAt[k] = varintEnd;
      o = varintEnd + 2 * this.wLen[k];
    }
    return n;
  }

  /** Entry i's parts, in an object reused from call to call (read it before parsing again). */
  private parse(i: number): Parsed {
    const c = this.chunks[Math.floor(i / CHUNK_ENTRIES)];
    const b = c.bytes;
    let o = c.starts[i % CHUNK_ENTRIES];
    const p = this.parsed;
    p.bytes = b;
    p.pc = undefined;
    if (b[o++] & PC_FOLLOWS) {
      p.pc = b.readBigUInt64LE(o);
      o += 8;
    }
    p.regs = o;
    const mask = b[o] | (b[o + 1] << 8) | (b[o + 2] << 16);
    o += 3;
    for (let r = 0; mask >> r; r++) if (mask & (1 << r)) o += 1 + b[o];
    p.writes = o;
    return p;
  }

  /** The chunk the next entry goes into, with at least `n` bytes free. */
  private room(n: number): Chunk {
    let c = this.chunks[this.chunks.length - 1];
    if (!c || this.count % CHUNK_ENTRIES === 0) {
      c = { bytes: Buffer.allocUnsafeSlow(Math.max(FIRST_CHUNK_BYTES, n)), used: 0, starts: new Uint32Array(FIRST_CHUNK_STARTS) };
      this.chunks.push(c);
    }
    if (c.used + n > c.bytes.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(c.bytes.length * 2, c.used + n));
      c.bytes.copy(grown, 0, 0, c.used);
      c.bytes = grown;
    }
    return c;
  }
}

/** XORs the register delta at `o` of `b` into `regs`. */
function flip(b: Uint8Array, o: number, regs: Uint8Array): void {
  const mask = b[o] | (b[o + 1] << 8) | (b[o + 2] << 16);
  o += 3;
  for (let r = 0; r < GPR_NAMES.length; r++) {
    if (!(mask & (1 << r))) continue;
    const n = b[o++];
    for (let k = 0; k < n; k++) regs[r * 8 + k] ^= b[o++];
  }
}

/** An unsigned LEB128 number (up to 2^53), written at `o`; returns the offset after it. */
function putVarint(b: Uint8Array, o: number, v: number): number {
  while (v >= 0x80) {
    b[o++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  b[o++] = v;
  return o;
}

/** Where the last getVarint stopped: the offset after the number it read (no tuple per call). */
let varintEnd = 0;

function getVarint(b: Uint8Array, o: number): number {
  let v = 0;
  let scale = 1;
  for (;;) {
    const byte = b[o++];
    v += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      varintEnd = o;
      return v;
    }
    scale *= 0x80;
  }
}
