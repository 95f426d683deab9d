// The GDT the monitor lays down for protected- and long-mode entry, and the matching
// descriptor caches. Descriptors carry the accessed bit so the CPU never writes to the table.
import type { Segment } from '../vcpu.js';
import { GDT_SELECTOR } from '../layout.js';

/** Encodes an 8-byte segment descriptor. `flags` is the high nibble: G, D/B, L, AVL. */
export function descriptor(base: number, limit: number, access: number, flags: number): bigint {
  const b = BigInt(base >>> 0), l = BigInt(limit >>> 0);
  return (l & 0xffffn) | ((b & 0xffffffn) << 16n) | (BigInt(access) << 40n) |
    (((l >> 16n) & 0xfn) << 48n) | (BigInt(flags) << 52n) | (((b >> 24n) & 0xffn) << 56n);
}

const CODE = 0x9b; // present, DPL 0, code, execute/read, accessed
const DATA = 0x93; // present, DPL 0, data, read/write, accessed

/** The table, indexed by selector / 8 (see GDT_SELECTOR in layout.ts). */
export const GDT_ENTRIES: bigint[] = [
  0n,
  descriptor(0, 0xfffff, CODE, 0xa), // 0x08: 64-bit code (G, L)
  descriptor(0, 0xfffff, CODE, 0xc), // 0x10: 32-bit code (G, D)
  descriptor(0, 0xfffff, DATA, 0xc), // 0x18: 32-bit data (G, B)
  descriptor(0, 0xffff, CODE, 0x0), // 0x20: 16-bit code
  descriptor(0, 0xffff, DATA, 0x0), // 0x28: 16-bit data
];

/** A GDT a boot specification prescribes, with the selectors it enters with. */
export interface GdtLayout {
  entries: readonly bigint[];
  code: number;
  data: number;
}

/**
 * Linux's 64-bit boot protocol (Documentation/arch/x86/boot.rst): __BOOT_CS (0x10) a flat 64-bit
 * code segment and __BOOT_DS (0x18) flat data; in kvmdbg's own table 0x10 is 32-bit code.
 */
export const LINUX_BOOT64_GDT: GdtLayout = {
  entries: [0n, 0n, descriptor(0, 0xfffff, CODE, 0xa), descriptor(0, 0xfffff, DATA, 0xc)],
  code: 0x10,
  data: 0x18,
};

export function gdtBytes(entries: readonly bigint[] = GDT_ENTRIES): Buffer {
  const b = Buffer.alloc(entries.length * 8);
  entries.forEach((d, i) => b.writeBigUInt64LE(d, i * 8));
  return b;
}

/** The descriptor cache KVM wants for a selector of `entries` (kvmdbg's table by default), decoded from the table itself. */
export function segmentFor(selector: number, entries: readonly bigint[] = GDT_ENTRIES): Segment {
  const d = entries[selector >> 3];
  const flags = Number((d >> 52n) & 0xfn);
  const access = Number((d >> 40n) & 0xffn);
  const rawLimit = Number((d & 0xffffn) | (((d >> 48n) & 0xfn) << 16n));
  const g = (flags & 8) !== 0;
  return {
    base: 0n,
    limit: g ? rawLimit * 4096 + 4095 : rawLimit,
    selector,
    type: access & 0xf,
    present: (access & 0x80) !== 0,
    dpl: (access >> 5) & 3,
    db: (flags & 4) !== 0,
    s: (access & 0x10) !== 0,
    l: (flags & 2) !== 0,
    g,
    avl: false,
    unusable: false,
  };
}

/** A real-mode segment cache: base = selector * 16, 64 KiB limit. */
export function realModeSegment(selector: number, code: boolean): Segment {
  return {
    base: BigInt(selector * 16), limit: 0xffff, selector, type: code ? 0xb : 0x3, present: true,
    dpl: 0, db: false, s: true, l: false, g: false, avl: false, unusable: false,
  };
}

export { GDT_SELECTOR };
