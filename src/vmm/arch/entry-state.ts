// Puts a vCPU into the state a loader's specification defines: real mode at CS:IP, flat 32-bit
// protected mode, or 64-bit long mode with identity paging. The GDT and page tables live in
// guest memory (layout.ts) so the guest can inspect and reload them.
import type { Vcpu } from '../vcpu.js';
import type { GuestMemory } from '../memory.js';
import type { EntryState } from '../loaders/types.js';
import { gdtBytes, segmentFor, realModeSegment, GDT_ENTRIES } from './gdt.js';
import { buildIdentityTables } from './identity-tables.js';
import { GDT_ADDR, GDT_SELECTOR, BOOT_STACK_TOP } from '../layout.js';
import { EFER_LMA } from '../../x86/registers.js';

export const CR0_PE = 1n, CR0_MP = 2n, CR0_ET = 0x10n, CR0_NE = 0x20n, CR0_WP = 0x10000n, CR0_PG = 0x80000000n;
export const CR4_PAE = 0x20n, CR4_OSFXSR = 0x200n, CR4_OSXMMEXCPT = 0x400n;
export const EFER_LME = 0x100n, EFER_NXE = 0x800n;

export interface EntryOptions {
  /** Whether the host's CPUID offers 1 GiB pages (needed to map RAM above 4 GiB). */
  gib1Pages: boolean;
}

export function enterState(vcpu: Vcpu, mem: GuestMemory, entry: EntryState, opts: EntryOptions): void {
  const regs = { rflags: 2n, rip: entry.rip, ...entry.regs };
  if (entry.mode === 'real') {
    const cs = entry.cs ?? 0;
    vcpu.setSregs({
      cs: realModeSegment(cs, true),
      ds: realModeSegment(0, false), es: realModeSegment(0, false), fs: realModeSegment(0, false),
      gs: realModeSegment(0, false), ss: realModeSegment(0, false),
      cr0: CR0_ET, cr3: 0n, cr4: 0n, efer: 0n,
      gdt: { base: 0n, limit: 0xffff }, idt: { base: 0n, limit: 0x3ff },
    });
    vcpu.setRegs(regs);
    return;
  }
  const entries = entry.gdt?.entries ?? GDT_ENTRIES;
  mem.write(GDT_ADDR, gdtBytes(entries));
  const gdt = { base: BigInt(GDT_ADDR), limit: entries.length * 8 - 1 };
  const data = segmentFor(entry.gdt?.data ?? GDT_SELECTOR.data, entries);
  const common = { ds: data, es: data, fs: data, gs: data, ss: data, gdt, idt: { base: 0n, limit: 0 } };
  if (entry.mode === 'protected') {
    vcpu.setSregs({
      ...common,
      cs: segmentFor(entry.gdt?.code ?? GDT_SELECTOR.code32, entries),
      cr0: CR0_PE | CR0_ET | CR0_MP | CR0_NE, cr3: 0n, cr4: CR4_OSFXSR | CR4_OSXMMEXCPT, efer: 0n,
    });
  } else {
    const cr3 = buildIdentityTables(mem, opts.gib1Pages);
    vcpu.setSregs({
      ...common,
      cs: segmentFor(entry.gdt?.code ?? GDT_SELECTOR.code64, entries),
      cr0: CR0_PE | CR0_ET | CR0_MP | CR0_NE | CR0_WP | CR0_PG,
      cr3: BigInt(cr3),
      cr4: CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT,
      efer: EFER_LME | EFER_LMA,
    });
  }
  vcpu.setRegs({ rsp: BigInt(BOOT_STACK_TOP), ...regs });
}
