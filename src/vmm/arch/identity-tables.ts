// Identity page tables the monitor builds for long-mode entry: the low 4 GiB with 2 MiB pages
// (so MMIO such as the LAPIC is reachable too), and RAM above 4 GiB with 1 GiB pages where the
// CPU has them, else with 2 MiB pages from directories at the top of low RAM.
import type { GuestMemory } from '../memory.js';
import { GuestError } from '../../errors.js';
import { PTE_PRESENT as P, PTE_WRITABLE as RW, PTE_LARGE as PS } from '../../x86/pagewalk.js';
import { PML4_ADDR, PDPT_ADDR, PD_ADDR, PCI_HOLE_START, highPdAddress } from '../layout.js';

const GIB = 1n << 30n, MIB2 = 1n << 21n;

export function buildIdentityTables(mem: GuestMemory, gib1Pages: boolean): number {
  const pml4 = mem.view(PML4_ADDR, 4096);
  const pdpt = mem.view(PDPT_ADDR, 4096);
  const pds = mem.view(PD_ADDR, 4 * 4096);
  pml4.fill(0);
  pdpt.fill(0);
  pml4.writeBigUInt64LE(BigInt(PDPT_ADDR) | P | RW, 0);
  for (let i = 0; i < 4; i++) {
    pdpt.writeBigUInt64LE(BigInt(PD_ADDR + i * 4096) | P | RW, i * 8);
  }
  for (let i = 0; i < 4 * 512; i++) {
    pds.writeBigUInt64LE((BigInt(i) * MIB2) | P | RW | PS, i * 8);
  }
  const top = BigInt(mem.top);
  if (top > 4n * GIB) {
    const gibs = Number((top + GIB - 1n) / GIB);
    if (gibs > 512) throw new GuestError('long-mode entry maps at most 512 GiB');
    if (gib1Pages) {
      for (let i = 4; i < gibs; i++) pdpt.writeBigUInt64LE((BigInt(i) * GIB) | P | RW | PS, i * 8);
    } else {
      const base = highPdAddress(Math.min(mem.size, PCI_HOLE_START), gibs - 4);
      for (let i = 4; i < gibs; i++) {
        const pd = base + (i - 4) * 4096;
        const t = mem.view(pd, 4096);
        for (let j = 0; j < 512; j++) t.writeBigUInt64LE((BigInt(i) * GIB + BigInt(j) * MIB2) | P | RW | PS, j * 8);
        pdpt.writeBigUInt64LE(BigInt(pd) | P | RW, i * 8);
      }
    }
  }
  return PML4_ADDR;
}
