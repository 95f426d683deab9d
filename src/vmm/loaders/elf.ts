// ELF executables without a Multiboot header: ELF32 (EM_386) entered in 32-bit protected mode,
// ELF64 (EM_X86_64) entered in long mode, both at e_entry with flat segments (and, for long mode,
// identity-mapped paging from entry-state.ts). PT_LOAD segments are loaded at their physical addresses
// (p_paddr), as a bootloader does with paging off; p_memsz beyond p_filesz (.bss) is zeroed
// without committing host memory for it (zero-range.ts).
// The entry point is e_entry unchanged: a kernel linked at a virtual address other than its
// physical one must switch on its own paging first (Multiboot loaders translate, see multiboot.ts).
import { GuestError, hex } from '../../errors.js';
import type { GuestMemory } from '../memory.js';
import {
  BIOS_AREA_END, BOOT_INFO_ADDR, BOOT_INFO_END, HIGH_MEMORY_START, PCI_HOLE_START, RESERVED_LOW_END,
} from '../layout.js';
import { parseElf, PT_LOAD, type ElfFile, type ProgramHeader } from '../../symbols/elf-parse.js';
import type { LoadedGuest, Loader } from './types.js';
import { zeroGuestRange } from './zero-range.js';

export { parseElf } from '../../symbols/elf-parse.js';
export type { ElfFile, ElfHeader, ElfSymbol, ProgramHeader, SectionHeader } from '../../symbols/elf-parse.js';

const MiB = 1 << 20;

/**
 * Why [start, end) is not in guest memory, with the --memory that would make it fit:
 * "give --memory 34M" below the PCI hole, nothing for the hole itself, the high part above 4 GiB.
 */
export function outsideMemoryHint(start: bigint, end: bigint, mem: GuestMemory): string {
  const holeStart = BigInt(PCI_HOLE_START);
  const high = BigInt(HIGH_MEMORY_START);
  if (end <= holeStart) {
    const mib = (end + BigInt(MiB) - 1n) / BigInt(MiB);
    return `guest memory is ${mem.describe()}; give --memory ${mib}M or more`;
  }
  if (start >= high && end - high <= BigInt(Number.MAX_SAFE_INTEGER)) {
    const mib = (holeStart + end - high + BigInt(MiB) - 1n) / BigInt(MiB);
    return `guest memory is ${mem.describe()} (RAM above ${hex(PCI_HOLE_START)} moves to ${hex(HIGH_MEMORY_START)}); give --memory ${mib}M or more`;
  }
  return `it reaches into the PCI hole ${hex(PCI_HOLE_START)}..${hex(HIGH_MEMORY_START)} or beyond, where kvmdbg has no RAM (guest memory is ${mem.describe()})`;
}

/**
 * Checks that a range the loader is about to fill lies in RAM and clear of the monitor's low
 * structures (GDT, page tables, stack: below RESERVED_LOW_END) and, when `bootInfo` is set, of the
 * Multiboot information area. Throws a GuestError describing `what` otherwise.
 */
export function checkLoadRange(
  file: string, what: string, start: bigint, size: bigint, mem: GuestMemory, bootInfo: boolean,
): void {
  const end = start + size;
  if (start < BigInt(RESERVED_LOW_END)) {
    throw new GuestError(
      `${file}: ${what} at ${hex(start)}..${hex(end)} overlaps memory kvmdbg reserves below ${hex(RESERVED_LOW_END)} ` +
      `(GDT, page tables, stack); link it at ${hex(BIOS_AREA_END)} (1 MiB) or above`,
    );
  }
  if (bootInfo && start < BigInt(BOOT_INFO_END) && end > BigInt(BOOT_INFO_ADDR)) {
    throw new GuestError(
      `${file}: ${what} at ${hex(start)}..${hex(end)} overlaps the Multiboot information area ` +
      `${hex(BOOT_INFO_ADDR)}..${hex(BOOT_INFO_END)}; link it at ${hex(BIOS_AREA_END)} (1 MiB) or above`,
    );
  }
  if (end > BigInt(Number.MAX_SAFE_INTEGER) || !mem.contains(Number(start), Number(size))) {
    throw new GuestError(`${file}: ${what} at ${hex(start)}..${hex(end)} lies outside guest memory: ${outsideMemoryHint(start, end, mem)}`);
  }
}

/** The PT_LOAD segments that occupy memory. */
export function loadSegments(elf: ElfFile): ProgramHeader[] {
  return elf.programHeaders.filter((p) => p.type === PT_LOAD && p.memsz > 0n);
}

/**
 * Copies every PT_LOAD segment to its physical address and zeroes its .bss part (zeroGuestRange:
 * no host memory committed for it). All segments are checked before anything is written, and
 * written in order (a later segment's .bss zeroes an earlier one's bytes it covers). Returns
 * the physical range they span.
 */
export function loadElfSegments(
  image: Buffer, elf: ElfFile, mem: GuestMemory, file: string, bootInfo: boolean,
): { start: number; end: number } {
  const segs = loadSegments(elf);
  if (segs.length === 0) throw new GuestError(`${file}: has no loadable segments (no PT_LOAD with p_memsz > 0)`);
  for (const p of segs) checkLoadRange(file, `segment ${p.index} (PT_LOAD)`, p.paddr, p.memsz, mem, bootInfo);
  let start = Infinity;
  let end = 0;
  for (const p of segs) {
    const at = Number(p.paddr);
    const memsz = Number(p.memsz);
    mem.view(at, p.filesz).set(image.subarray(p.offset, p.offset + p.filesz));
    zeroGuestRange(mem, at + p.filesz, memsz - p.filesz);
    start = Math.min(start, at);
    end = Math.max(end, at + memsz);
  }
  return { start, end };
}

function loadElfOf(bits: 32 | 64): Loader {
  return (image, mem, opts): LoadedGuest => {
    const elf = parseElf(image, opts.fileName);
    if (elf.header.bits !== bits) {
      throw new GuestError(
        `${opts.fileName}: is ELF${elf.header.bits}, not ELF${bits}; use --format elf${elf.header.bits} or leave --format out`,
      );
    }
    const extent = loadElfSegments(image, elf, mem, opts.fileName, false);
    return {
      format: bits === 32 ? 'elf32' : 'elf64',
      entry: { mode: bits === 32 ? 'protected' : 'long', rip: elf.header.entry },
      extent,
    };
  };
}

/** ELF32 for EM_386: 32-bit protected mode at e_entry. */
export const loadElf32: Loader = loadElfOf(32);
/** ELF64 for EM_X86_64: long mode at e_entry. */
export const loadElf64: Loader = loadElfOf(64);
