// lx-dmesg: the kernel's log from its printk ring buffer (kernel/printk/printk_ringbuffer.h,
// Linux 5.10 and later), read as scripts/gdb/linux/dmesg.py reads it. `prb` points to the ring
// buffer: a ring of descriptors (state and the text's logical positions), a parallel array of
// printk_info (timestamp, length) and a ring of text blocks, each led by its descriptor id.
import { GuestError } from '../../errors.js';
import type { KernelData, Struct } from './kernel-data.js';

const WHAT = 'lx-dmesg';
/** A descriptor's state, in the top two bits of its state_var (desc_state). */
const DESC_COMMITTED = 1n;
const DESC_FINALIZED = 2n;
const SV_BITS = 64n;
const FLAGS_SHIFT = SV_BITS - 2n;
const ID_MASK = (1n << FLAGS_SHIFT) - 1n;
/** More records than this is not a ring buffer (the default ring has 2^12 to 2^15 descriptors). */
const MAX_COUNT_BITS = 24;
const MAX_TEXT_BITS = 28;

/** The log's lines, each "[seconds.micros] text" as dmesg prints them, oldest first. */
export function readDmesg(k: KernelData): string[] {
  const rb = k.struct('printk_ringbuffer', WHAT);
  const descRing = k.struct('prb_desc_ring', WHAT);
  const dataRing = k.struct('prb_data_ring', WHAT);
  const desc = k.struct('prb_desc', WHAT);
  const info = k.struct('printk_info', WHAT);
  const f = (s: Struct, path: string) => k.field(s, path, WHAT).offset;

  const prb = k.u64(k.symbol('prb', WHAT));
  const ring = prb + BigInt(f(rb, 'desc_ring'));
  const countBits = k.u32(ring + BigInt(f(descRing, 'count_bits')));
  if (countBits > MAX_COUNT_BITS) throw new GuestError(`${WHAT}: the ring buffer at 0x${prb.toString(16)} claims 2^${countBits} records: not a printk ring buffer (wrong symbols for this kernel?)`);
  const count = 1 << countBits;
  const descSize = k.sizeOf(desc);
  const infoSize = k.sizeOf(info);
  const descs = k.read(k.u64(ring + BigInt(f(descRing, 'descs'))), descSize * count);
  const infos = k.read(k.u64(ring + BigInt(f(descRing, 'infos'))), infoSize * count);
  const text = prb + BigInt(f(rb, 'text_data_ring'));
  const sizeBits = k.u32(text + BigInt(f(dataRing, 'size_bits')));
  if (sizeBits > MAX_TEXT_BITS) throw new GuestError(`${WHAT}: the ring buffer at 0x${prb.toString(16)} claims 2^${sizeBits} bytes of text: not a printk ring buffer`);
  const textSize = 1 << sizeBits;
  const data = k.read(k.u64(text + BigInt(f(dataRing, 'data'))), textSize);

  // atomic_long_t's counter is its only member, at 0.
  const tailId = k.u64(ring + BigInt(f(descRing, 'tail_id')));
  const headId = k.u64(ring + BigInt(f(descRing, 'head_id')));
  const svOff = f(desc, 'state_var');
  const beginOff = f(desc, 'text_blk_lpos.begin');
  const nextOff = f(desc, 'text_blk_lpos.next');
  const tsOff = f(info, 'ts_nsec');
  const lenOff = f(info, 'text_len');

  const lines: string[] = [];
  let id = tailId;
  // At most one lap of the ring, whatever the ids say.
  for (let n = 0; n < count; n++) {
    const i = Number(id % BigInt(count));
    const d = i * descSize;
    const state = (descs.readBigUInt64LE(d + svOff) >> FLAGS_SHIFT) & 3n;
    if (state === DESC_COMMITTED || state === DESC_FINALIZED) {
      let begin = Number(descs.readBigUInt64LE(d + beginOff) % BigInt(textSize));
      const end = Number(descs.readBigUInt64LE(d + nextOff) % BigInt(textSize));
      let message = '';
      // An odd begin: a record without data.
      if ((begin & 1) === 0) {
        if (begin > end) begin = 0; // the block wrapped: it starts over at the ring's start
        const start = begin + 8; // after the block's descriptor id
        const len = Math.max(0, Math.min(infos.readUInt16LE(i * infoSize + lenOff), end - start));
        message = data.toString('utf8', start, start + len);
      }
      const ns = infos.readBigUInt64LE(i * infoSize + tsOff);
      const stamp = `[${String(ns / 1_000_000_000n).padStart(5)}.${String((ns / 1000n) % 1_000_000n).padStart(6, '0')}]`;
      for (const line of message.split('\n')) lines.push(`${stamp} ${line}`);
    }
    if (id === headId) break;
    id = (id + 1n) & ID_MASK;
  }
  return lines;
}
