// Guest RAM: anonymous mappings registered as KVM memory slots, read and written in place.
import * as sys from './kvm/sys.js';
import { GuestError, hex } from './errors.js';
import { PCI_HOLE_START, HIGH_MEMORY_START } from './layout.js';

export interface MemoryRegion {
  gpa: number;
  size: number;
  addr: bigint;
  /** A Buffer over the mapping itself: writes go straight into guest memory. */
  buf: Buffer;
}

const SIZE_UNITS: Record<string, number> = { '': 1 << 20, b: 1, k: 1 << 10, m: 1 << 20, g: 1 << 30, t: 2 ** 40 };

/** Parses a QEMU-style size: "64M", "1G", "512k", "2048" (MiB, as QEMU's -m). */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) throw new GuestError(`cannot parse size "${text}": use a number with K, M or G, e.g. 64M`);
  const bytes = Math.floor(parseFloat(m[1]) * SIZE_UNITS[m[2].toLowerCase()]);
  if (bytes <= 0) throw new GuestError(`size "${text}" must be greater than zero`);
  return bytes;
}

export class GuestMemory {
  readonly regions: MemoryRegion[] = [];

  /** Maps `size` bytes of RAM; above PCI_HOLE_START the rest moves to 4 GiB, as on a PC. */
  constructor(readonly size: number) {
    if (size % 4096 !== 0) throw new GuestError(`memory size ${size} is not a multiple of 4 KiB`);
    if (size < 1 << 20) throw new GuestError(`memory size ${size} is too small: give at least 1M`);
    const low = Math.min(size, PCI_HOLE_START);
    this.map(0, low);
    if (size > low) this.map(HIGH_MEMORY_START, size - low);
  }

  private map(gpa: number, size: number): void {
    const { addr, buf } = sys.mmap(
      size, sys.PROT_READ | sys.PROT_WRITE,
      sys.MAP_PRIVATE | sys.MAP_ANONYMOUS | sys.MAP_NORESERVE, -1, 'mmap guest memory',
    );
    this.regions.push({ gpa, size, addr, buf });
  }

  /** The highest guest-physical address of RAM plus one. */
  get top(): number {
    const last = this.regions[this.regions.length - 1];
    return last.gpa + last.size;
  }

  /** Whether [gpa, gpa+len) lies inside one RAM region. */
  contains(gpa: number, len: number): boolean {
    return this.regionOf(gpa, len) !== undefined;
  }

  private regionOf(gpa: number, len: number): MemoryRegion | undefined {
    for (const r of this.regions) {
      if (gpa >= r.gpa && gpa + len <= r.gpa + r.size) return r;
    }
    return undefined;
  }

  /** A Buffer over guest memory [gpa, gpa+len): no copy, writes reach the guest. */
  view(gpa: number, len: number): Buffer {
    const r = this.regionOf(gpa, len);
    if (!r) {
      throw new GuestError(
        `guest-physical range ${hex(gpa)}..${hex(gpa + len)} is outside guest memory ` +
        `(${this.describe()})`,
      );
    }
    return r.buf.subarray(gpa - r.gpa, gpa - r.gpa + len);
  }

  read(gpa: number, len: number): Buffer {
    return Buffer.from(this.view(gpa, len));
  }

  write(gpa: number, data: Uint8Array): void {
    this.view(gpa, data.length).set(data);
  }

  describe(): string {
    return this.regions.map((r) => `${hex(r.gpa)}..${hex(r.gpa + r.size)}`).join(', ');
  }

  destroy(): void {
    for (const r of this.regions) sys.munmap(r.addr, r.size);
    this.regions.length = 0;
  }
}
