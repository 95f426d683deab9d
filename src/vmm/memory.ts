// Guest RAM: anonymous mappings registered as KVM memory slots, read and written in place.
import * as sys from './kvm/sys.js';
import * as abi from './kvm/abi.js';
import { GuestError, hex } from '../errors.js';
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

/** 1536 → "1.5 KiB", 2 << 30 → "2 GiB": a size for people (never with >>, which wraps at 2 GiB). */
export function formatSize(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${bytes} bytes` : `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}

/**
 * How a trapped page is registered with KVM: `readonly` makes guest writes exit as MMIO (reads
 * and instruction fetches stay native); `absent` makes every data access exit as MMIO.
 * Watchpoints use them where debug registers can't see the access (kvm_pvm's emulator).
 */
export type TrapMode = 'readonly' | 'absent';

const PAGE = 4096;
const HUGE_PAGE = 2 << 20;

export class GuestMemory {
  readonly regions: MemoryRegion[] = [];
  private vmFd = -1;
  private slotCount = 0;
  private traps = new Map<number, TrapMode>();
  /** traps.size > 0, kept by setTraps: every exit of a run asks, and a Map is one more object. */
  private trapped = false;
  /** KVM_GET_DIRTY_LOG per slot while dirty logging is on (logDirtyPages); empty while off. */
  private dirtyLogs: SlotDirtyLog[] = [];
  private logging = false;
  /**
   * Pages whose dirty bits KVM will not report: written by the monitor itself (its writes go
   * around KVM), or dirtied in a slot before it was re-registered (KVM drops a deleted slot's
   * bitmap). takeDirtyPages reports them with the rest.
   */
  private readonly dirtyAside = new Set<number>();

  /** Maps `size` bytes of RAM; above PCI_HOLE_START the rest moves to 4 GiB, as on a PC. */
  constructor(readonly size: number) {
    if (size % 4096 !== 0) throw new GuestError(`memory size ${size} is not a multiple of 4 KiB`);
    if (size < 1 << 20) throw new GuestError(`memory size ${size} is too small: give at least 1M`);
    const low = Math.min(size, PCI_HOLE_START);
    this.map(0, low);
    if (size > low) this.map(HIGH_MEMORY_START, size - low);
  }

  /**
   * RAM is aligned to 2 MiB and advised to use transparent huge pages (as QEMU's is): where the
   * host's THP setting is "madvise" (Debian's, Ubuntu's), KVM then maps the guest's memory 2 MiB
   * at a time, so a guest touching fresh memory (a kernel decompressing itself) takes a
   * nested-paging fault per 2 MiB rather than per 4 KiB. Advice refused changes nothing.
   */
  private map(gpa: number, size: number): void {
    const { addr, buf } = sys.mmapAligned(
      size, HUGE_PAGE, sys.PROT_READ | sys.PROT_WRITE,
      sys.MAP_PRIVATE | sys.MAP_ANONYMOUS | sys.MAP_NORESERVE, 'mmap guest memory',
    );
    sys.madvise(addr, size, sys.MADV_HUGEPAGE);
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
    this.noteWrite(gpa, data.length);
  }

  /** The monitor wrote [gpa, gpa+len) through view(): dirty logging must hear of it. */
  noteWrite(gpa: number, len: number): void {
    this.writes++;
    if (!this.logging) return;
    for (let p = gpa - (gpa % PAGE); p < gpa + len; p += PAGE) this.dirtyAside.add(p);
  }

  private writes = 0;

  /** How many times the monitor has written guest memory: what was read from it (a page walk) is stale once it moves. */
  get monitorWrites(): number {
    return this.writes;
  }

  /** The monitor wrote guest memory (or re-registered slots) since the last takeDirtyPages. */
  get monitorWrote(): boolean {
    return this.dirtyAside.size > 0;
  }

  /**
   * Dirty-page logging on every RAM slot (KVM_MEM_LOG_DIRTY_PAGES): KVM write-protects the
   * pages and notes each first write after takeDirtyPages. Only the RAM slots: there is nothing else.
   */
  logDirtyPages(): void {
    if (this.logging) return;
    this.logging = true;
    this.registerSlots();
  }

  /**
   * Calls `visit` once for every page (its guest-physical address) written since the last call,
   * by the guest or by the monitor, and starts the next interval: one KVM_GET_DIRTY_LOG per
   * slot (one slot unless pages are trapped), then a scan of its bitmap by 32-bit words.
   */
  takeDirtyPages(visit: (gpa: number) => void): void {
    for (const log of this.dirtyLogs) log.take(this.vmFd, visit);
    if (this.dirtyAside.size === 0) return;
    for (const p of this.dirtyAside) visit(p);
    this.dirtyAside.clear();
  }

  /** Registers the RAM with a VM as memory slots. */
  attach(vmFd: number): void {
    this.vmFd = vmFd;
    this.registerSlots();
  }

  /** The trapped pages (page-aligned guest-physical address → mode); the rest is plain RAM. */
  setTraps(traps: Map<number, TrapMode>): void {
    const same = traps.size === this.traps.size && [...traps].every(([a, m]) => this.traps.get(a) === m);
    if (same) return;
    this.traps = new Map(traps);
    this.trapped = traps.size > 0;
    this.registerSlots();
  }

  get hasTraps(): boolean {
    return this.trapped;
  }

  trapAt(gpa: number): TrapMode | undefined {
    return this.traps.get(gpa - (gpa % PAGE));
  }

  /** Replaces every KVM slot with plain RAM cut around the trapped pages. */
  private registerSlots(): void {
    // A deleted slot's dirty bits are lost with it: keep them aside first.
    for (const log of this.dirtyLogs) log.take(this.vmFd, (p) => this.dirtyAside.add(p));
    for (const log of this.dirtyLogs) log.destroy();
    this.dirtyLogs = [];
    for (let slot = 0; slot < this.slotCount; slot++) this.setSlot(slot, 0, 0, 0n, 0);
    const pages = [...this.traps.keys()].sort((a, b) => a - b);
    let slot = 0;
    for (const r of this.regions) {
      let start = r.gpa;
      const end = r.gpa + r.size;
      const emit = (from: number, to: number, flags: number) => {
        if (to > from) this.setSlot(slot++, from, to - from, r.addr + BigInt(from - r.gpa), flags);
      };
      for (const page of pages) {
        if (page < start || page >= end) continue;
        emit(start, page, 0);
        if (this.traps.get(page) === 'readonly') emit(page, page + PAGE, abi.KVM_MEM_READONLY);
        start = page + PAGE;
      }
      emit(start, end, 0);
    }
    this.slotCount = slot;
  }

  private setSlot(slot: number, gpa: number, size: number, addr: bigint, flags: number): void {
    if (this.logging && size > 0) {
      setMemorySlot(this.vmFd, slot, gpa, size, addr, flags | abi.KVM_MEM_LOG_DIRTY_PAGES);
      this.dirtyLogs.push(new SlotDirtyLog(slot, gpa, size));
      return;
    }
    setMemorySlot(this.vmFd, slot, gpa, size, addr, flags);
  }

  describe(): string {
    return this.regions.map((r) => `${hex(r.gpa)}..${hex(r.gpa + r.size)}`).join(', ');
  }

  destroy(): void {
    for (const log of this.dirtyLogs) log.destroy();
    this.dirtyLogs = [];
    for (const r of this.regions) sys.munmap(r.addr, r.size);
    this.regions.length = 0;
  }
}

/** KVM_SET_USER_MEMORY_REGION: slot `slot` maps [gpa, gpa + size) to host `addr` (size 0 removes it). */
export function setMemorySlot(vmFd: number, slot: number, gpa: number, size: number, addr: bigint, flags = 0): void {
  const o = abi.kvm_userspace_memory_region;
  const b = Buffer.alloc(o.size);
  b.writeUInt32LE(slot, o.slot);
  b.writeUInt32LE(flags, o.flags);
  b.writeBigUInt64LE(BigInt(gpa), o.guest_phys_addr);
  b.writeBigUInt64LE(BigInt(size), o.memory_size);
  b.writeBigUInt64LE(size ? addr : 0n, o.userspace_addr);
  sys.ioctlPtr(vmFd, abi.KVM_SET_USER_MEMORY_REGION, b, 'KVM_SET_USER_MEMORY_REGION');
}

/** One memory slot's KVM_GET_DIRTY_LOG: the request, and the bitmap KVM fills (mapped: KVM needs its address). */
class SlotDirtyLog {
  private readonly request = Buffer.alloc(abi.kvm_dirty_log.size);
  private readonly bitmapAddr: bigint;
  private readonly bitmapBytes: number;
  private readonly words: Uint32Array;

  constructor(slot: number, private readonly gpa: number, size: number) {
    // One bit a page, in 64-bit longs (KVM's unit), in whole host pages (mmap's).
    const longs = Math.ceil(size / PAGE / 64);
    this.bitmapBytes = Math.ceil((longs * 8) / PAGE) * PAGE;
    const m = sys.mmap(this.bitmapBytes, sys.PROT_READ | sys.PROT_WRITE, sys.MAP_PRIVATE | sys.MAP_ANONYMOUS, -1, 'mmap dirty bitmap');
    this.bitmapAddr = m.addr;
    this.words = new Uint32Array(m.buf.buffer, m.buf.byteOffset, longs * 2);
    this.request.writeUInt32LE(slot, abi.kvm_dirty_log.slot);
    this.request.writeBigUInt64LE(m.addr, abi.kvm_dirty_log.dirty_bitmap);
  }

  take(vmFd: number, visit: (gpa: number) => void): void {
    sys.ioctlPtr(vmFd, abi.KVM_GET_DIRTY_LOG, this.request, 'KVM_GET_DIRTY_LOG');
    const w = this.words;
    for (let i = 0; i < w.length; i++) {
      let bits = w[i];
      while (bits !== 0) {
        const low = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        visit(this.gpa + (i * 32 + low) * PAGE);
      }
    }
  }

  destroy(): void {
    sys.munmap(this.bitmapAddr, this.bitmapBytes);
  }
}
