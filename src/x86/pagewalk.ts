// A walk of the guest's own x86 page tables: the tables the guest built, read from guest-physical
// memory, the way the CPU would read them for a linear address (SDM vol. 3, chapter 4).
//
// Modes: paging off, 32-bit paging (with PSE 4 MiB pages and PSE-36 high address bits), PAE
// (2 MiB pages, NX when EFER.NXE), 4-level and 5-level long-mode paging (1 GiB and 2 MiB pages).
// MAXPHYADDR is taken as 52: table and page addresses keep bits 51:12 of an entry.
//
// Notes on what this walk is not:
//  - It reads the PAE PDPTEs from memory; a real CPU caches them when CR3 is loaded.
//  - It does not check reserved bits, protection keys, SMEP/SMAP or CR0.WP: `writable`, `user`
//    and `executable` say what the entries along the walk permit (RW, US and NX of every level).
import { GuestError, hex } from '../errors.js';
import { EFER_LMA } from './registers.js';

/** Reads guest-physical memory: GuestMemory satisfies it. */
export interface PhysReader {
  view(gpa: number, len: number): Buffer;
  contains(gpa: number, len: number): boolean;
}

/** The registers that decide how linear addresses translate (as in Sregs). */
export interface PagingRegs {
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
}

export type PagingMode = 'none' | '32-bit' | 'pae' | '4-level' | '5-level';

export interface WalkLevel {
  /** 'PML5E', 'PML4E', 'PDPTE', 'PDE' or 'PTE'. */
  name: string;
  /** The entry's index within its table. */
  index: number;
  /** Guest-physical address of the entry. */
  entryAddress: number;
  /** The entry as read (32-bit paging entries are zero-extended). */
  entry: bigint;
  present: boolean;
  /** Names of the set bits that mean something at this level, e.g. ['P','RW','US','A','D','PS','G','NX']. */
  flags: string[];
}

export interface Translation {
  /** The linear address walked (truncated to 32 bits outside long mode). */
  linear: bigint;
  physical: number;
  /** Size of the page (or 4096 with paging off): physical..physical+rest of page is contiguous. */
  pageSize: number;
  levels: WalkLevel[];
  writable: boolean;
  user: boolean;
  executable: boolean;
  mode: PagingMode;
}

export type WalkResult = { ok: true; t: Translation } | { ok: false; levels: WalkLevel[]; reason: string };

// Control-register and entry bits.
const CR0_PG = 1n << 31n;
const CR0_WP = 1n << 16n;
const CR4_PSE = 1n << 4n;
const CR4_PAE = 1n << 5n;
const CR4_LA57 = 1n << 12n;
const CR4_SMEP = 1n << 20n;
const CR4_SMAP = 1n << 21n;
const EFER_NXE = 1n << 11n;

/** Present, writable, and (in a directory entry) a large page: what a table the monitor builds sets. */
export const PTE_PRESENT = 1n << 0n;
export const PTE_WRITABLE = 1n << 1n;
export const PTE_LARGE = 1n << 7n;
const P = PTE_PRESENT;
const RW = PTE_WRITABLE;
const US = 1n << 2n;
const PWT = 1n << 3n;
const PCD = 1n << 4n;
/** Accessed and Dirty: set by the CPU as it uses an entry (reverse execution saves them before). */
export const PTE_ACCESSED = 1n << 5n;
export const PTE_DIRTY = 1n << 6n;
const A = PTE_ACCESSED;
const D = PTE_DIRTY;
const PS = PTE_LARGE;
const G = 1n << 8n;
const PAT_LARGE = 1n << 12n;
const NX = 1n << 63n;

/** Bits 51:12: the address of a table or 4 KiB page (MAXPHYADDR 52). */
const ADDR_MASK = 0x000f_ffff_ffff_f000n;
const MASK32 = 0xffff_ffffn;
const MASK64 = (1n << 64n) - 1n;

const KiB4 = 0x1000;
const MiB2 = 0x20_0000;
const MiB4 = 0x40_0000;
const GiB1 = 0x4000_0000;

/**
 * Whether a data access through this walk raises a page fault: the page not present (or its
 * tables not in RAM), a write where the page is read-only and the CPU checks it (ring 3, or
 * CR0.WP), a ring-3 access to a supervisor page, an access below ring 3 to a user page under
 * CR4.SMAP unless RFLAGS.AC (`ac`) allows it. Reserved bits and protection keys are not checked.
 * With paging off, none does.
 */
export function faults(r: WalkResult, regs: PagingRegs, access: { write: boolean; ring: number; ac?: boolean }): boolean {
  if (pagingMode(regs) === 'none') return false;
  if (!r.ok) return true;
  const checksWrites = access.ring === 3 || (regs.cr0 & CR0_WP) !== 0n;
  if (access.write && checksWrites && !r.t.writable) return true;
  return access.ring === 3 ? !r.t.user : r.t.user && (regs.cr4 & CR4_SMAP) !== 0n && !access.ac;
}

/**
 * Whether fetching an instruction through this walk raises a page fault: the page not present,
 * no-execute, a supervisor page fetched from ring 3, or a user page fetched below ring 3 under
 * CR4.SMEP. With paging off, none does.
 */
export function fetchFaults(r: WalkResult, regs: PagingRegs, ring: number): boolean {
  if (pagingMode(regs) === 'none') return false;
  if (!r.ok || !r.t.executable) return true;
  return ring === 3 ? !r.t.user : r.t.user && (regs.cr4 & CR4_SMEP) !== 0n;
}

/**
 * Whether an access through this present entry makes the CPU set a bit in it: Accessed, or, on
 * the leaf (`leaf`) of a write, Dirty.
 */
export function marksEntry(l: WalkLevel, leaf: boolean, write: boolean): boolean {
  return !(l.entry & PTE_ACCESSED) || (write && leaf && !(l.entry & PTE_DIRTY));
}

/** Whether `linear` is canonical: bits 63 down to 47 (56 under CR4.LA57) all equal. */
export function isCanonical(linear: bigint, cr4: bigint): boolean {
  return BigInt.asIntN(cr4 & CR4_LA57 ? 57 : 48, linear) === BigInt.asIntN(64, linear);
}

/** Which paging mode the registers select: CR0.PG, CR4.PAE, EFER.LMA and CR4.LA57. */
export function pagingMode(r: PagingRegs): PagingMode {
  if ((r.cr0 & CR0_PG) === 0n) return 'none';
  if ((r.cr4 & CR4_PAE) === 0n) return '32-bit';
  if ((r.efer & EFER_LMA) === 0n) return 'pae';
  return (r.cr4 & CR4_LA57) !== 0n ? '5-level' : '4-level';
}

/**
 * The flags of an entry at a given level ('PML5E', 'PML4E', 'PDPTE', 'PDE', 'PTE'). A PDE or
 * PDPTE with PS set is taken as mapping a page (so D, G and PAT are shown); otherwise it points
 * to a table and only P, RW, US, PWT, PCD, A and NX mean something.
 */
export function describeFlags(entry: bigint, level: string): string[] {
  const leaf = level === 'PTE' || ((level === 'PDE' || level === 'PDPTE') && (entry & PS) !== 0n);
  return flagsOf(entry, level, leaf);
}

function flagsOf(entry: bigint, level: string, leaf: boolean): string[] {
  const out: string[] = [];
  const bit = (mask: bigint, name: string) => {
    if ((entry & mask) !== 0n) out.push(name);
  };
  bit(P, 'P');
  bit(RW, 'RW');
  bit(US, 'US');
  bit(PWT, 'PWT');
  bit(PCD, 'PCD');
  bit(A, 'A');
  if (leaf) {
    bit(D, 'D');
    if (level === 'PTE') bit(PS, 'PAT'); // bit 7 of a PTE is PAT
    else bit(PS, 'PS');
    bit(G, 'G');
    if (level !== 'PTE') bit(PAT_LARGE, 'PAT');
  }
  bit(NX, 'NX');
  return out;
}

/** One table level of a walk, as the walker sees it. */
interface Step {
  name: string;
  /** Bit position of the lowest bit of this level's index in the linear address. */
  shift: bigint;
  /** Number of index bits. */
  bits: bigint;
  /** Whether PS at this level maps a page (and of what size). */
  largePage?: number;
}

const LONG_STEPS: Step[] = [
  { name: 'PML5E', shift: 48n, bits: 9n },
  { name: 'PML4E', shift: 39n, bits: 9n },
  { name: 'PDPTE', shift: 30n, bits: 9n, largePage: GiB1 },
  { name: 'PDE', shift: 21n, bits: 9n, largePage: MiB2 },
  { name: 'PTE', shift: 12n, bits: 9n },
];

/** Walks the guest's page tables for `linear`. Never throws for an unmapped address. */
export function walk(mem: PhysReader, regs: PagingRegs, linear: bigint): WalkResult {
  const mode = pagingMode(regs);
  const lin64 = BigInt.asUintN(64, linear);
  switch (mode) {
    case 'none':
      return walkNone(regs, lin64);
    case '32-bit':
      return walk32(mem, regs, lin64 & MASK32);
    case 'pae':
      return walkPae(mem, regs, lin64 & MASK32);
    case '4-level':
    case '5-level':
      return walkLong(mem, regs, lin64, mode);
  }
}

/** The guest-physical address of `linear`; throws a GuestError when it is not mapped. */
export function translate(mem: PhysReader, regs: PagingRegs, linear: bigint): number {
  const r = walk(mem, regs, linear);
  if (!r.ok) throw new GuestError(`linear address ${hex(BigInt.asUintN(64, linear))} is not mapped: ${r.reason}`);
  return r.t.physical;
}

/** A real-mode address: segment*16 + offset, kept to 21 bits (A20 is enabled in kvmdbg). */
export function realModeLinear(segment: number, offset: number): number {
  return (((segment & 0xffff) * 16) + offset) % 0x20_0000;
}

// --- the modes -----------------------------------------------------------------------------

function walkNone(regs: PagingRegs, lin: bigint): WalkResult {
  // Long mode cannot be active with paging off; should the registers say so anyway, keep the
  // address as it is (up to MAXPHYADDR), else truncate to 32 bits.
  const longMode = (regs.efer & EFER_LMA) !== 0n;
  const phys = longMode ? lin : lin & MASK32;
  if (phys >> 52n !== 0n) {
    return { ok: false, levels: [], reason: `${hex(lin)} is beyond the 52-bit physical address space (paging is off)` };
  }
  return {
    ok: true,
    t: {
      linear: lin, physical: Number(phys), pageSize: KiB4, levels: [],
      writable: true, user: true, executable: true, mode: 'none',
    },
  };
}

/** Reads one entry, or explains why it cannot be read. */
function readEntry(
  mem: PhysReader, size: 4 | 8, tableBase: bigint, index: number, name: string, from: () => string,
): { entry: bigint; address: number } | { reason: string; address: number } {
  const address = Number(tableBase) + index * size;
  if (!mem.contains(address, size)) {
    return {
      address,
      reason: `${name}[${index}] at ${hex(address)} is outside guest memory ` +
        `(the table at ${hex(tableBase)} comes from ${from()})`,
    };
  }
  const b = mem.view(address, size);
  const entry = size === 4 ? BigInt(b.readUInt32LE(0)) : b.readBigUInt64LE(0);
  return { entry, address };
}

/** A level of a walk; its flag names are worked out when read (the recorder walks on every step and reads none). */
function level(name: string, index: number, entryAddress: number, entry: bigint, leaf: boolean): WalkLevel {
  let flags: string[] | undefined;
  return {
    name, index, entryAddress, entry, present: (entry & P) !== 0n,
    get flags() {
      return (flags ??= flagsOf(entry, name, leaf));
    },
  };
}

function notPresent(l: WalkLevel): string {
  return `${l.name}[${l.index}] at ${hex(l.entryAddress)} is not present`;
}

function walk32(mem: PhysReader, regs: PagingRegs, lin: bigint): WalkResult {
  const levels: WalkLevel[] = [];
  const pd = regs.cr3 & 0xffff_f000n;
  const pdi = Number((lin >> 22n) & 0x3ffn);
  const r1 = readEntry(mem, 4, pd, pdi, 'PDE', () => `CR3 ${hex(regs.cr3)}`);
  if ('reason' in r1) return { ok: false, levels, reason: r1.reason };
  const pde = r1.entry;
  const big = (regs.cr4 & CR4_PSE) !== 0n && (pde & PS) !== 0n;
  const l1 = level('PDE', pdi, r1.address, pde, big);
  levels.push(l1);
  if (!l1.present) return { ok: false, levels, reason: notPresent(l1) };
  if (big) {
    // PSE-36: PDE bits 20:13 are physical-address bits 39:32.
    const base = (pde & 0xffc0_0000n) | (((pde >> 13n) & 0xffn) << 32n);
    return done(lin, base | (lin & 0x3f_ffffn), MiB4, levels, '32-bit', false);
  }
  const pt = pde & 0xffff_f000n;
  const pti = Number((lin >> 12n) & 0x3ffn);
  const r2 = readEntry(mem, 4, pt, pti, 'PTE', () => `PDE[${pdi}] at ${hex(r1.address)}`);
  if ('reason' in r2) return { ok: false, levels, reason: r2.reason };
  const l2 = level('PTE', pti, r2.address, r2.entry, true);
  levels.push(l2);
  if (!l2.present) return { ok: false, levels, reason: notPresent(l2) };
  return done(lin, (r2.entry & 0xffff_f000n) | (lin & 0xfffn), KiB4, levels, '32-bit', false);
}

function walkPae(mem: PhysReader, regs: PagingRegs, lin: bigint): WalkResult {
  const nxe = (regs.efer & EFER_NXE) !== 0n;
  const levels: WalkLevel[] = [];
  const pdpt = regs.cr3 & 0xffff_ffe0n;
  const pdpti = Number((lin >> 30n) & 3n);
  const r0 = readEntry(mem, 8, pdpt, pdpti, 'PDPTE', () => `CR3 ${hex(regs.cr3)}`);
  if ('reason' in r0) return { ok: false, levels, reason: r0.reason };
  // A PAE PDPTE has only P, PWT and PCD: no rights, no large pages.
  const l0: WalkLevel = {
    name: 'PDPTE', index: pdpti, entryAddress: r0.address, entry: r0.entry,
    present: (r0.entry & P) !== 0n, flags: flagsOf(r0.entry & (P | PWT | PCD), 'PDPTE', false),
  };
  levels.push(l0);
  if (!l0.present) return { ok: false, levels, reason: notPresent(l0) };

  const pd = r0.entry & ADDR_MASK;
  const pdi = Number((lin >> 21n) & 0x1ffn);
  const r1 = readEntry(mem, 8, pd, pdi, 'PDE', () => `PDPTE[${pdpti}] at ${hex(r0.address)}`);
  if ('reason' in r1) return { ok: false, levels, reason: r1.reason };
  const pde = r1.entry;
  const big = (pde & PS) !== 0n;
  const l1 = level('PDE', pdi, r1.address, pde, big);
  levels.push(l1);
  if (!l1.present) return { ok: false, levels, reason: notPresent(l1) };
  if (big) {
    return done(lin, (pde & ADDR_MASK & ~(BigInt(MiB2) - 1n)) | (lin & 0x1f_ffffn), MiB2, levels, 'pae', nxe, 1);
  }
  const pt = pde & ADDR_MASK;
  const pti = Number((lin >> 12n) & 0x1ffn);
  const r2 = readEntry(mem, 8, pt, pti, 'PTE', () => `PDE[${pdi}] at ${hex(r1.address)}`);
  if ('reason' in r2) return { ok: false, levels, reason: r2.reason };
  const l2 = level('PTE', pti, r2.address, r2.entry, true);
  levels.push(l2);
  if (!l2.present) return { ok: false, levels, reason: notPresent(l2) };
  return done(lin, (r2.entry & ADDR_MASK) | (lin & 0xfffn), KiB4, levels, 'pae', nxe, 1);
}

function walkLong(mem: PhysReader, regs: PagingRegs, lin: bigint, mode: '4-level' | '5-level'): WalkResult {
  const levels: WalkLevel[] = [];
  const width = mode === '5-level' ? 57 : 48;
  if (!isCanonical(lin, regs.cr4)) {
    return {
      ok: false, levels,
      reason: `${hex(lin)} is non-canonical: with ${mode} paging bits 63:${width - 1} must all equal bit ${width - 1}`,
    };
  }
  const steps = mode === '5-level' ? LONG_STEPS : LONG_STEPS.slice(1);
  let table = regs.cr3 & ADDR_MASK;
  let from = () => `CR3 ${hex(regs.cr3)}`;
  for (const s of steps) {
    const index = Number((lin >> s.shift) & ((1n << s.bits) - 1n));
    const r = readEntry(mem, 8, table, index, s.name, from);
    if ('reason' in r) return { ok: false, levels, reason: r.reason };
    const big = s.largePage !== undefined && (r.entry & PS) !== 0n;
    const leaf = big || s.name === 'PTE';
    const l = level(s.name, index, r.address, r.entry, leaf);
    levels.push(l);
    if (!l.present) return { ok: false, levels, reason: notPresent(l) };
    if (leaf) {
      const size = big ? s.largePage! : KiB4;
      const offsetMask = BigInt(size) - 1n;
      const phys = (r.entry & ADDR_MASK & ~offsetMask) | (lin & offsetMask);
      return done(lin, phys, size, levels, mode, (regs.efer & EFER_NXE) !== 0n);
    }
    table = r.entry & ADDR_MASK;
    const address = r.address;
    from = () => `${s.name}[${index}] at ${hex(address)}`;
  }
  throw new Error('page walk ran past the PTE level');
}

/**
 * A successful translation. Rights are the AND of RW and US over every level from `rightsFrom`
 * on (a PAE PDPTE carries none); NX counts only when EFER.NXE is set.
 */
function done(
  lin: bigint, phys: bigint, pageSize: number, levels: WalkLevel[], mode: PagingMode, nxe: boolean,
  rightsFrom = 0,
): WalkResult {
  const rights = levels.slice(rightsFrom);
  return {
    ok: true,
    t: {
      linear: lin & MASK64,
      physical: Number(phys),
      pageSize,
      levels,
      writable: rights.every((l) => (l.entry & RW) !== 0n),
      user: rights.every((l) => (l.entry & US) !== 0n),
      executable: !nxe || rights.every((l) => (l.entry & NX) === 0n),
      mode,
    },
  };
}
