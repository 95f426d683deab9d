// Breakpoints and watchpoints by linear address. Software breakpoints are planted (0xCC) only
// while the guest runs and removed at every stop, as gdb does with breakpoints not "always
// inserted": each resume re-translates their addresses under the guest's current page tables,
// so they keep working across mode switches and page-table changes, and reads of guest memory
// at a stop never see a planted byte. Hardware slots map onto DR0-DR3 and DR7.
import { GuestError, hex } from '../../errors.js';
import type { WatchKind } from './stops.js';

export type HwLength = 1 | 2 | 4 | 8;

export interface HwBreakpoint {
  id: number;
  address: bigint;
  kind: WatchKind;
  length: HwLength;
}

interface SwBreakpoint {
  id: number;
  address: bigint;
}

interface Planted {
  address: bigint;
  phys: number;
  original: number;
}

/** What the breakpoint table needs from guest memory. */
export interface PlantTarget {
  /** Linear to physical under the current paging state, or undefined where unmapped. */
  toPhysical(linear: bigint): number | undefined;
  readByte(phys: number): number;
  writeByte(phys: number, value: number): void;
}

const RW_BITS: Record<WatchKind, bigint> = { execute: 0n, write: 1n, readwrite: 3n };
const LEN_BITS: Record<HwLength, bigint> = { 1: 0n, 2: 1n, 4: 3n, 8: 2n };
export const HW_SLOTS = 4;
/** The longest x86 instruction, in bytes. */
const MAX_INSN = 15n;

/**
 * The slots DR7 enables (its L or G bit), as a mask of DR6's B0-B3. A debug exit's DR6 may set
 * the bit of a slot DR7 leaves off: the SDM allows it, and QEMU's emulated SVM does it whenever
 * a debug register left over from an earlier VM matches (a step's next RIP, say).
 */
export function enabledSlots(dr7: bigint): number {
  // Read at every debug exit: the low byte (L0/G0 to L3/G3) taken once, the rest in numbers.
  const enables = Number(dr7 & 0xffn);
  let mask = 0;
  for (let slot = 0; slot < HW_SLOTS; slot++) if ((enables >> (2 * slot)) & 3) mask |= 1 << slot;
  return mask;
}

/** A write watch on any range, by trapping the pages it lies on (no debug register used). */
export interface PageWatch {
  id: number;
  address: bigint;
  length: number;
}

const NONE: readonly bigint[] = [];

export class BreakpointTable {
  private nextId = 1;
  private readonly sw = new Map<bigint, SwBreakpoint>();
  readonly hw: (HwBreakpoint | undefined)[] = new Array(HW_SLOTS).fill(undefined);
  readonly pageWatches: PageWatch[] = [];
  private planted: Planted[] = [];
  /** Bumped by every change to the hardware slots, for the debug-register cache. */
  private version = 0;
  private readonly drCache: bigint[][] = [];
  private drCacheVersion = -1;
  /** Called on every change to the debug registers or page watches (not software breakpoints). */
  onChange: (() => void) | undefined;

  /** Slots in use, and those of them holding data watches: counted, as they are read at every resume. */
  private hwUsed = 0;
  private dataWatches = 0;

  private changed(): void {
    this.version++;
    this.hwUsed = this.hw.filter((h) => h !== undefined).length;
    this.dataWatches = this.hw.filter((h) => h !== undefined && h.kind !== 'execute').length;
    this.onChange?.();
  }

  addSoftware(address: bigint): number {
    const existing = this.sw.get(address);
    if (existing) return existing.id;
    const id = this.nextId++;
    this.sw.set(address, { id, address });
    return id;
  }

  /** Takes a free debug register; execute breakpoints must have length 1. */
  addHardware(address: bigint, kind: WatchKind, length: HwLength = 1): number {
    if (kind === 'execute' && length !== 1) throw new GuestError('an execute breakpoint has length 1');
    if (![1, 2, 4, 8].includes(length)) throw new GuestError(`watch length ${length} is not 1, 2, 4 or 8`);
    if (address % BigInt(length) !== 0n) {
      throw new GuestError(`watch address ${hex(address)} is not aligned to its length ${length}`);
    }
    const slot = this.hw.findIndex((h) => h === undefined);
    if (slot < 0) {
      throw new GuestError('no free debug register: DR0-DR3 are all in use by hardware breakpoints and watchpoints');
    }
    const id = this.nextId++;
    this.hw[slot] = { id, address, kind, length };
    this.changed();
    return id;
  }

  /** A write watch of any length and number, beyond the debug registers (page-granular trap). */
  addPageWatch(address: bigint, length: number): number {
    if (length < 1) throw new GuestError(`watch length ${length} must be at least 1`);
    const id = this.nextId++;
    this.pageWatches.push({ id, address, length });
    this.changed();
    return id;
  }

  remove(id: number): boolean {
    for (const [a, b] of this.sw) {
      if (b.id === id) return this.sw.delete(a);
    }
    const page = this.pageWatches.findIndex((w) => w.id === id);
    if (page >= 0) {
      this.pageWatches.splice(page, 1);
      this.changed();
      return true;
    }
    const slot = this.hw.findIndex((h) => h?.id === id);
    if (slot >= 0) {
      this.hw[slot] = undefined;
      this.changed();
    }
    return slot >= 0;
  }

  clear(): void {
    this.sw.clear();
    this.hw.fill(undefined);
    this.pageWatches.length = 0;
    this.changed();
  }

  softwareAt(address: bigint): SwBreakpoint | undefined {
    return this.sw.get(address);
  }

  /** Every software breakpoint's address. */
  softwareAddresses(): bigint[] {
    return [...this.sw.keys()];
  }

  get hasSoftware(): boolean {
    return this.sw.size > 0;
  }

  /** Whether a 0xCC is in guest memory now (between plant and restore): memory read raw shows it. */
  get anyPlanted(): boolean {
    return this.planted.length > 0;
  }

  /** Whether a data watch (not an execute breakpoint) holds a debug-register slot. */
  get hasDataWatch(): boolean {
    return this.dataWatches > 0;
  }

  get hasHardware(): boolean {
    return this.hwUsed > 0;
  }

  /** The execute slot at `address`, if any. A loop, not findIndex: this runs at every resume. */
  hardwareExecuteAt(address: bigint): number {
    for (let i = 0; i < HW_SLOTS; i++) {
      const h = this.hw[i];
      if (h !== undefined && h.kind === 'execute' && h.address === address) return i;
    }
    return -1;
  }

  /**
   * Whether an execute breakpoint (a slot's, or a software one's) lies within the longest
   * instruction (15 bytes) after `address`: where the instruction there is one that KVM
   * completes by skipping it, RFLAGS.RF outlives it, and such a breakpoint would be passed over.
   */
  executeBreakpointAfter(address: bigint): boolean {
    for (let i = 0; i < HW_SLOTS; i++) {
      const h = this.hw[i];
      if (h !== undefined && h.kind === 'execute' && h.address > address && h.address - address <= MAX_INSN) return true;
    }
    for (const a of this.sw.keys()) if (a > address && a - address <= MAX_INSN) return true;
    return false;
  }

  /**
   * DR0-DR3 and DR7 for KVM_SET_GUEST_DEBUG, leaving out slot `skip` (the one we step over) and,
   * with `executeOnly`, the data watches (where memory traps implement them instead).
   */
  debugRegisters(skip = -1, executeOnly = false): readonly bigint[] {
    // One cached array per (skip, executeOnly) and table version: this runs at every resume.
    const key = (skip + 1) * 2 + (executeOnly ? 1 : 0);
    if (this.drCacheVersion !== this.version) {
      this.drCache.length = 0;
      this.drCacheVersion = this.version;
    }
    const cached = this.drCache[key];
    if (cached) return cached;
    const regs = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
    let dr7 = 0n;
    this.hw.forEach((h, i) => {
      if (!h || i === skip || (executeOnly && h.kind !== 'execute')) return;
      regs[i] = h.address;
      dr7 |= 1n << BigInt(2 * i); // local enable
      dr7 |= RW_BITS[h.kind] << BigInt(16 + 4 * i);
      dr7 |= LEN_BITS[h.length] << BigInt(18 + 4 * i);
    });
    if (dr7) dr7 |= 1n << 8n; // LE: exact data breakpoints, as the SDM recommends
    regs[7] = dr7;
    this.drCache[key] = regs;
    return regs;
  }

  /**
   * Writes 0xCC at every software breakpoint except `skip`. Returns the addresses that are not
   * mapped now (a higher-half kernel before it enables paging): the caller may cover them with
   * debug registers, which match linear addresses whatever the page tables say.
   */
  plant(t: PlantTarget, skip?: bigint): readonly bigint[] {
    if (this.sw.size === 0) return NONE;
    const unmapped: bigint[] = [];
    for (const bp of this.sw.values()) {
      if (bp.address === skip) continue;
      const phys = t.toPhysical(bp.address);
      if (phys === undefined) {
        unmapped.push(bp.address);
        continue;
      }
      if (this.planted.some((p) => p.phys === phys)) continue;
      const original = t.readByte(phys);
      t.writeByte(phys, 0xcc);
      this.planted.push({ address: bp.address, phys, original });
    }
    return unmapped;
  }

  /** Plants one breakpoint now (one added while the guest runs). */
  plantOne(t: PlantTarget, address: bigint): void {
    const bp = this.sw.get(address);
    const phys = bp && t.toPhysical(address);
    if (phys === undefined || this.planted.some((p) => p.phys === phys)) return;
    this.planted.push({ address, phys, original: t.readByte(phys) });
    t.writeByte(phys, 0xcc);
  }

  /** Restores the bytes of breakpoints that no longer exist (removed while the guest runs). */
  unplantRemoved(t: PlantTarget): void {
    this.planted = this.planted.filter((p) => {
      if (this.sw.has(p.address)) return true;
      if (t.readByte(p.phys) === 0xcc) t.writeByte(p.phys, p.original);
      return false;
    });
  }

  /** Restores every planted byte (unless the guest overwrote it meanwhile). */
  unplant(t: PlantTarget): void {
    if (this.planted.length === 0) return;
    for (const p of this.planted) {
      if (t.readByte(p.phys) === 0xcc) t.writeByte(p.phys, p.original);
    }
    this.planted = [];
  }

  /**
   * After the monitor itself wrote guest-physical [gpa, gpa + len) (a BIOS disk read): the bytes
   * under planted breakpoints there are the new originals, and the breakpoints are planted again.
   */
  rewritten(t: PlantTarget, gpa: number, len: number): void {
    for (const p of this.planted) {
      if (p.phys < gpa || p.phys >= gpa + len) continue;
      p.original = t.readByte(p.phys);
      t.writeByte(p.phys, 0xcc);
    }
  }

  /** The planted breakpoint at a physical address, while planted. */
  plantedAt(phys: number): Planted | undefined {
    return this.planted.find((p) => p.phys === phys);
  }

  /** Overlays original bytes over planted ones in a copy read from guest-physical `gpa`. */
  hidePlanted(gpa: number, bytes: Buffer): Buffer {
    for (const p of this.planted) {
      if (p.phys >= gpa && p.phys < gpa + bytes.length) bytes[p.phys - gpa] = p.original;
    }
    return bytes;
  }
}
