// PVH kernels: an ELF whose XEN_ELFNOTE_PHYS32_ENTRY note (type 18, owner "Xen") gives a 32-bit
// physical entry point, started as the PVH boot ABI says (xenbits.xen.org/docs/unstable/misc/pvh.html,
// xen/include/public/arch-x86/hvm/start_info.h): Linux with CONFIG_PVH (Debian's has it) and
// other kernels boot this way from QEMU's -kernel, Firecracker and Xen, without a decompressor.
//
// The file: PT_LOAD segments loaded at their physical addresses (elf.ts), clear of the boot
// information area where the start info goes. What the kernel gets there (BootInfoWriter):
// - struct hvm_start_info, version 1: magic 0x336ec578, flags 0, the modules' list, the command
//   line, rsdp_paddr (the machine's ACPI tables, firmware/acpi.ts, at ACPI_TABLES_ADDR) and the
//   memory map (the E820 types the Multiboot loaders report). Linux needs version 1's memory
//   map outside Xen: with none it stops (BUG) in init_pvh_bootparams.
// - each module (LoadOptions.modules; Linux takes the first as its initrd) page-aligned after the
//   kernel, in an hvm_modlist_entry with its string (the module's args) as cmdline_paddr.
// - 32-bit protected mode at the entry, paging off, interrupts off, flat 4 GiB CS (32-bit code) and
//   DS = ES = SS (data), EBX = the start info. Other registers are unspecified by the ABI; TR is
//   KVM's reset value (base 0), not the 0x67-byte TSS limit the ABI names, which no kernel reads.
import { GuestError, hex } from '../../errors.js';
import { parseElf } from '../../symbols/elf-parse.js';
import { pvhEntry } from '../../formats/detect.js';
import { ACPI_TABLES_ADDR } from '../layout.js';
import { loadElfSegments } from './elf.js';
import { BootInfoWriter, memoryMap, placeModules } from './multiboot.js';
import type { LoadedGuest, Loader } from './types.js';

/** hvm_start_info.magic (XEN_HVM_START_MAGIC_VALUE). */
export const PVH_START_MAGIC = 0x336ec578;
/** The start info's version: 1 adds the memory map. */
export const PVH_START_VERSION = 1;

/** Offsets in struct hvm_start_info (version 1, 56 bytes). */
export const START_INFO = {
  magic: 0x00, version: 0x04, flags: 0x08, nr_modules: 0x0c, modlist_paddr: 0x10, cmdline_paddr: 0x18,
  rsdp_paddr: 0x20, memmap_paddr: 0x28, memmap_entries: 0x30, reserved: 0x34, size: 0x38,
} as const;
/** struct hvm_modlist_entry: paddr, size, cmdline_paddr, reserved (8 bytes each). */
export const MODLIST_ENTRY_SIZE = 32;
/** struct hvm_memmap_table_entry: addr, size (8 bytes each), type, reserved (4 bytes each). */
export const MEMMAP_ENTRY_SIZE = 24;

export const loadPvh: Loader = (image, mem, opts): LoadedGuest => {
  const file = opts.fileName;
  const elf = parseElf(image, file);
  const entry = pvhEntry(image);
  if (entry === undefined) {
    throw new GuestError(
      `${file}: no PVH entry: the ELF has no XEN_ELFNOTE_PHYS32_ENTRY note (owner "Xen", type 18) in a PT_NOTE segment ` +
      '(a Linux vmlinux has one with CONFIG_PVH=y); leave --format out to boot it as plain ELF',
    );
  }
  if (entry >= 1n << 32n) throw new GuestError(`${file}: the PVH entry ${hex(entry)} is above 4 GiB; it must be a 32-bit physical address`);
  const extent = loadElfSegments(image, elf, mem, file, true);
  const modules = placeModules(opts, mem, extent.end);

  const w = new BootInfoWriter(mem, file);
  const info = w.alloc(START_INFO.size, 8);
  const map = memoryMap(mem);
  const memmap = w.alloc(MEMMAP_ENTRY_SIZE * map.length, 8);
  map.forEach((e, i) => {
    const b = w.view(memmap + MEMMAP_ENTRY_SIZE * i, MEMMAP_ENTRY_SIZE);
    b.writeBigUInt64LE(BigInt(e.base), 0);
    b.writeBigUInt64LE(BigInt(e.length), 8);
    b.writeUInt32LE(e.type, 16);
  });
  const modlist = modules.length ? w.alloc(MODLIST_ENTRY_SIZE * modules.length, 8) : 0;
  modules.forEach((m, i) => {
    const cmdline = w.string(m.args);
    const b = w.view(modlist + MODLIST_ENTRY_SIZE * i, MODLIST_ENTRY_SIZE);
    b.writeBigUInt64LE(BigInt(m.start), 0);
    b.writeBigUInt64LE(BigInt(m.end - m.start), 8);
    b.writeBigUInt64LE(BigInt(cmdline), 16);
  });
  const cmdline = w.string(opts.cmdline);
  const si = w.view(info, START_INFO.size);
  si.writeUInt32LE(PVH_START_MAGIC, START_INFO.magic);
  si.writeUInt32LE(PVH_START_VERSION, START_INFO.version);
  si.writeUInt32LE(modules.length, START_INFO.nr_modules);
  si.writeBigUInt64LE(BigInt(modlist), START_INFO.modlist_paddr);
  si.writeBigUInt64LE(BigInt(cmdline), START_INFO.cmdline_paddr);
  si.writeBigUInt64LE(BigInt(ACPI_TABLES_ADDR), START_INFO.rsdp_paddr);
  si.writeBigUInt64LE(BigInt(memmap), START_INFO.memmap_paddr);
  si.writeUInt32LE(map.length, START_INFO.memmap_entries);
  return {
    format: 'pvh',
    entry: { mode: 'protected', rip: entry, regs: { rbx: BigInt(info) } },
    extent,
  };
};
