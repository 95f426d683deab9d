// .debug_aranges: which compilation unit covers an address, so that a kernel-sized file's line
// table is read one unit's program at a time instead of all at once (src/symbols/dwarf/line.ts).
// Each set is a header (length, version 2, the unit's .debug_info offset, address and segment
// sizes), padding to twice the address size, then (address, length) pairs up to a (0, 0) pair.
import { ByteReader, DwarfError } from './reader.js';

interface UnitRange {
  start: bigint;
  end: bigint;
  /** The unit's offset in .debug_info. */
  unit: number;
}

const indexes = new WeakMap<Buffer, Map<bigint, AddressIndex>>();

export class AddressIndex {
  /** Sorted by start. */
  private readonly ranges: UnitRange[];
  /** maxEnd[i]: the largest end among ranges[0..i], so a search back stops where no range can cover. */
  private readonly maxEnd: bigint[] = [];
  /** The .debug_info offsets of every unit that has a set. */
  readonly units = new Set<number>();

  private constructor(ranges: UnitRange[]) {
    this.ranges = ranges.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    let max = 0n;
    for (const r of this.ranges) {
      if (r.end > max) max = r.end;
      this.maxEnd.push(max);
      this.units.add(r.unit);
    }
  }

  /**
   * read's answer, kept per section and load offset: the line table and the variables both
   * look units up by address.
   */
  static of(buf: Buffer, loadOffset = 0n): AddressIndex {
    let byOffset = indexes.get(buf);
    if (!byOffset) indexes.set(buf, (byOffset = new Map()));
    let index = byOffset.get(loadOffset);
    if (!index) byOffset.set(loadOffset, (index = AddressIndex.read(buf, loadOffset)));
    return index;
  }

  /**
   * Reads every set of a .debug_aranges section, addresses moved by `loadOffset`. Throws a
   * DwarfError for a malformed set: a reader that trusted a partial index would miss lines.
   */
  static read(buf: Buffer, loadOffset = 0n): AddressIndex {
    const ranges: UnitRange[] = [];
    let off = 0;
    while (off + 4 <= buf.length) {
      const r = new ByteReader(buf, '.debug_aranges', off);
      const { length, offsetSize } = r.initialLength('set length');
      const end = r.pos + length;
      if (end > buf.length) throw new DwarfError(`.debug_aranges: set at 0x${off.toString(16)} (${length} bytes) runs past the end of the section`);
      r.end = end;
      const version = r.u16('version');
      if (version !== 2) throw new DwarfError(`.debug_aranges: set at 0x${off.toString(16)} has unsupported version ${version}`);
      const unit = r.offset(offsetSize, 'unit offset');
      const addressSize = r.u8('address size');
      const segmentSize = r.u8('segment selector size');
      if (addressSize !== 2 && addressSize !== 4 && addressSize !== 8) {
        throw new DwarfError(`.debug_aranges: set at 0x${off.toString(16)} has address size ${addressSize}`);
      }
      const mask = (1n << BigInt(addressSize * 8)) - 1n;
      // The pairs start at a multiple of twice the address size from the set's start.
      const pairAlign = 2 * addressSize;
      r.pos = off + Math.ceil((r.pos - off) / pairAlign) * pairAlign;
      while (r.remaining > 0) {
        if (segmentSize) r.uN(segmentSize, 'segment selector');
        const start = r.uN(addressSize, 'range address');
        const size = r.uN(addressSize, 'range length');
        if (start === 0n && size === 0n) break;
        if (size === 0n) continue;
        const s = (start + loadOffset) & mask;
        ranges.push({ start: s, end: s + size, unit });
      }
      if (end <= off) break;
      off = end;
    }
    return new AddressIndex(ranges);
  }

  /** The .debug_info offsets of the units whose ranges hold `addr`, each once. */
  unitsAt(addr: bigint): number[] {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ranges[mid].start <= addr) lo = mid + 1;
      else hi = mid;
    }
    const out = new Set<number>();
    for (let i = lo - 1; i >= 0 && this.maxEnd[i] > addr; i--) {
      if (addr < this.ranges[i].end) out.add(this.ranges[i].unit);
    }
    return [...out];
  }
}
