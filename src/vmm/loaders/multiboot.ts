// Multiboot 1 (specification 0.6.96). The header lies 4-byte aligned in the first 8192 bytes:
// magic 0x1BADB002, flags, checksum (the three sum to zero). With flag bit 16 (the "a.out kludge")
// the header says where to load the file and where to enter; otherwise the file is loaded as ELF:
// ELF32, or, as GRUB also accepts, ELF64 loaded by physical address. Either way the kernel starts in
// 32-bit protected mode, paging off, EAX = 0x2BADB002, EBX = the Multiboot information.
//
// Choices where the specification leaves room (and GRUB differs or is silent):
// - cmdline is exactly LoadOptions.cmdline; GRUB prefixes the kernel's path, kvmdbg does not.
// - a module's string is exactly its args (GRUB: path and args).
// - modules are always page-aligned (flag bit 0 asks for that; without it it does no harm) and
//   placed in order after the kernel, above the boot information and outside the legacy area.
// - flag bit 2 (video mode) is ignored: there is no framebuffer, the guest gets text mode.
// - an ELF entry point inside a segment whose p_vaddr differs from p_paddr is translated to the
//   physical address, as GRUB 2 does, so higher-half kernels start at their physical entry.
// - boot_device (flag bit 1) is not provided: there is no disk.
import { GuestError, hex } from '../../errors.js';
import type { GuestMemory } from '../memory.js';
import {
  BIOS_AREA_END, BOOT_INFO_ADDR, BOOT_INFO_END, HIGH_MEMORY_START, LOW_MEMORY_END, PCI_HOLE_START,
} from '../layout.js';
import { isElf, parseElf, type ElfFile } from '../../symbols/elf-parse.js';
import { checkLoadRange, loadElfSegments, loadSegments, outsideMemoryHint } from './elf.js';
import { zeroGuestRange } from './zero-range.js';
import type { LoadedGuest, Loader, LoadOptions } from './types.js';
import { findMultibootHeader, MULTIBOOT_HEADER_MAGIC, MULTIBOOT_SEARCH } from '../../formats/detect.js';

export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
export const BOOT_LOADER_NAME = 'kvmdbg';

/** Multiboot header flags. */
export const MB_PAGE_ALIGN = 1 << 0;
export const MB_MEMORY_INFO = 1 << 1;
export const MB_VIDEO_MODE = 1 << 2;
export const MB_AOUT_KLUDGE = 1 << 16;
const MB_SUPPORTED_REQUIRED = MB_PAGE_ALIGN | MB_MEMORY_INFO | MB_VIDEO_MODE;

/** Multiboot information flags. */
export const MBI_MEMORY = 1 << 0;
export const MBI_CMDLINE = 1 << 2;
export const MBI_MODS = 1 << 3;
export const MBI_MMAP = 1 << 6;
export const MBI_BOOT_LOADER_NAME = 1 << 9;

/** Offsets in the Multiboot information structure. */
export const MBI = {
  flags: 0, mem_lower: 4, mem_upper: 8, boot_device: 12, cmdline: 16, mods_count: 20, mods_addr: 24,
  syms: 28, mmap_length: 44, mmap_addr: 48, drives_length: 52, drives_addr: 56, config_table: 60,
  boot_loader_name: 64, apm_table: 68, size: 120,
} as const;

/** Memory map types (Multiboot 1 and 2 and E820 agree). */
export const MEMORY_AVAILABLE = 1;
export const MEMORY_RESERVED = 2;

/** The BIOS's extended data area at the top of conventional memory, reported reserved. */
export const EBDA_START = 0x9fc00;
/** The BIOS ROM, reported reserved. */
export const BIOS_ROM_START = 0xf0000;

export interface MemoryMapEntry {
  base: number;
  length: number;
  type: number;
}

/**
 * The PC memory map kvmdbg reports to Multiboot guests: conventional memory up to the EBDA, the
 * EBDA and BIOS ROM reserved, RAM from 1 MiB to the PCI hole, and RAM moved above 4 GiB.
 */
export function memoryMap(mem: GuestMemory): MemoryMapEntry[] {
  const low = Math.min(mem.top, PCI_HOLE_START);
  const map: MemoryMapEntry[] = [
    { base: 0, length: EBDA_START, type: MEMORY_AVAILABLE },
    { base: EBDA_START, length: LOW_MEMORY_END - EBDA_START, type: MEMORY_RESERVED },
    { base: BIOS_ROM_START, length: BIOS_AREA_END - BIOS_ROM_START, type: MEMORY_RESERVED },
  ];
  if (low > BIOS_AREA_END) map.push({ base: BIOS_AREA_END, length: low - BIOS_AREA_END, type: MEMORY_AVAILABLE });
  if (mem.top > HIGH_MEMORY_START) {
    map.push({ base: HIGH_MEMORY_START, length: mem.top - HIGH_MEMORY_START, type: MEMORY_AVAILABLE });
  }
  return map;
}

/** mem_lower and mem_upper in KiB: 640, and RAM from 1 MiB up to the first hole. */
export function basicMemory(mem: GuestMemory): { lower: number; upper: number } {
  const low = Math.min(mem.top, PCI_HOLE_START);
  return { lower: LOW_MEMORY_END / 1024, upper: Math.max(0, low - BIOS_AREA_END) / 1024 };
}

/**
 * Allocates and writes structures in the boot information area [BOOT_INFO_ADDR, BOOT_INFO_END).
 * Everything is written straight into guest memory.
 */
export class BootInfoWriter {
  private next = BOOT_INFO_ADDR;
  readonly area: Buffer;

  constructor(private readonly mem: GuestMemory, private readonly file: string) {
    this.area = mem.view(BOOT_INFO_ADDR, BOOT_INFO_END - BOOT_INFO_ADDR);
    this.area.fill(0);
  }

  /** Reserves `size` zeroed bytes aligned to `align`; returns their guest-physical address. */
  alloc(size: number, align = 8): number {
    const at = Math.ceil(this.next / align) * align;
    if (at + size > BOOT_INFO_END) {
      throw new GuestError(
        `${this.file}: the boot information (command line, module arguments, memory map) does not fit in ` +
        `the ${(BOOT_INFO_END - BOOT_INFO_ADDR) / 1024} KiB at ${hex(BOOT_INFO_ADDR)}; shorten the command line or module arguments`,
      );
    }
    this.next = at + size;
    return at;
  }

  /** A view of [gpa, gpa+len) in the area. */
  view(gpa: number, len: number): Buffer {
    return this.mem.view(gpa, len);
  }

  /** Writes a NUL-terminated string; returns its address. */
  string(s: string, align = 1): number {
    const bytes = Buffer.from(s, 'utf8');
    const at = this.alloc(bytes.length + 1, align);
    this.mem.write(at, bytes);
    return at;
  }

  get end(): number {
    return this.next;
  }
}

export interface PlacedModule {
  start: number;
  end: number;
  args: string;
}

/**
 * Loads the modules page-aligned one after another above `after` (the kernel's end), never below
 * BOOT_INFO_END and never straddling the legacy area [EBDA, 1 MiB) or reaching the PCI hole.
 */
export function placeModules(opts: LoadOptions, mem: GuestMemory, after: number, align = 4096): PlacedModule[] {
  const placed: PlacedModule[] = [];
  let cursor = Math.max(after, BOOT_INFO_END);
  for (const m of opts.modules) {
    let start = Math.ceil(cursor / align) * align;
    if (start < BIOS_AREA_END && start + m.data.length > EBDA_START) start = BIOS_AREA_END;
    const end = start + m.data.length;
    if (end > PCI_HOLE_START || !mem.contains(start, m.data.length)) {
      throw new GuestError(
        `${m.path}: module of ${m.data.length} bytes does not fit in guest memory at ${hex(start)}..${hex(end)} ` +
        `(after the kernel and earlier modules): ${outsideMemoryHint(BigInt(start), BigInt(end), mem)}`,
      );
    }
    mem.write(start, m.data);
    placed.push({ start, end, args: m.args });
    cursor = end;
  }
  return placed;
}

export interface MultibootHeader {
  /** File offset of the header. */
  offset: number;
  flags: number;
  checksum: number;
  /** Bit 16: header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr. */
  addr?: { header: number; load: number; loadEnd: number; bssEnd: number; entry: number };
}

export function parseMultibootHeader(image: Buffer, file: string): MultibootHeader {
  const found = findMultibootHeader(image);
  if (!found) {
    throw new GuestError(`${file}: no Multiboot header (magic ${hex(MULTIBOOT_HEADER_MAGIC)}, 4-byte aligned) in the first ${MULTIBOOT_SEARCH} bytes`);
  }
  const off = found.offset;
  const flags = image.readUInt32LE(off + 4);
  const checksum = image.readUInt32LE(off + 8);
  if (!found.valid) {
    const sum = (MULTIBOOT_HEADER_MAGIC + flags + checksum) >>> 0;
    throw new GuestError(
      `${file}: bad Multiboot checksum in the header at offset ${hex(off)}: magic + flags + checksum = ${hex(sum)}, must be 0 ` +
      `(checksum should be ${hex((-(MULTIBOOT_HEADER_MAGIC + flags)) >>> 0)})`,
    );
  }
  const unsupported = (flags & 0xffff) & ~MB_SUPPORTED_REQUIRED;
  if (unsupported) {
    const bits = [...Array(16).keys()].filter((b) => unsupported & (1 << b));
    throw new GuestError(
      `${file}: the Multiboot header requires features kvmdbg does not know (flag bit${bits.length > 1 ? 's' : ''} ${bits.join(', ')}); ` +
      'only bits 0 (page-align modules), 1 (memory information) and 2 (video mode) are supported',
    );
  }
  const header: MultibootHeader = { offset: off, flags, checksum };
  if (flags & MB_AOUT_KLUDGE) {
    if (off + 32 > image.length) {
      throw new GuestError(`${file}: the Multiboot header at offset ${hex(off)} sets flag bit 16 but the file ends before its address fields`);
    }
    header.addr = {
      header: image.readUInt32LE(off + 12),
      load: image.readUInt32LE(off + 16),
      loadEnd: image.readUInt32LE(off + 20),
      bssEnd: image.readUInt32LE(off + 24),
      entry: image.readUInt32LE(off + 28),
    };
  }
  return header;
}

/**
 * Loads an image the way its header's address fields say (Multiboot 1 bit 16, or the Multiboot 2
 * address tag): the file from offset `headerOffset - (header_addr - load_addr)` is copied to
 * load_addr up to load_end_addr (0: to the end of the file), then zeroed up to bss_end_addr
 * (0: no .bss). `fromStart` (Multiboot 2's load_addr = 0xFFFFFFFF) loads from the file's start.
 */
export function loadByAddressFields(
  image: Buffer, mem: GuestMemory, file: string, kind: string, headerOffset: number,
  a: { header: number; load: number; loadEnd: number; bssEnd: number },
): { start: number; end: number } {
  if (a.load > a.header) {
    throw new GuestError(`${file}: ${kind} load_addr ${hex(a.load)} is above header_addr ${hex(a.header)}`);
  }
  const fileOffset = headerOffset - (a.header - a.load);
  if (fileOffset < 0) {
    throw new GuestError(
      `${file}: ${kind} header_addr ${hex(a.header)} - load_addr ${hex(a.load)} = ${hex(a.header - a.load)} is more than ` +
      `the header's file offset ${hex(headerOffset)}: loading would start before the file`,
    );
  }
  let size: number;
  if (a.loadEnd === 0) {
    size = image.length - fileOffset;
  } else {
    if (a.loadEnd < a.load) throw new GuestError(`${file}: ${kind} load_end_addr ${hex(a.loadEnd)} is below load_addr ${hex(a.load)}`);
    size = a.loadEnd - a.load;
    if (fileOffset + size > image.length) {
      throw new GuestError(
        `${file}: ${kind} load_addr..load_end_addr ${hex(a.load)}..${hex(a.loadEnd)} needs ${size} bytes from file offset ` +
        `${hex(fileOffset)}, but the file has only ${image.length - fileOffset} there`,
      );
    }
  }
  let end = a.load + size;
  if (a.bssEnd !== 0) {
    if (a.bssEnd < end) {
      throw new GuestError(`${file}: ${kind} bss_end_addr ${hex(a.bssEnd)} is below the end of the loaded data ${hex(end)}`);
    }
    end = a.bssEnd;
  }
  checkLoadRange(file, `the image (${kind} address fields)`, BigInt(a.load), BigInt(end - a.load), mem, true);
  mem.view(a.load, size).set(image.subarray(fileOffset, fileOffset + size));
  zeroGuestRange(mem, a.load + size, end - a.load - size);
  return { start: a.load, end };
}

/**
 * Loads an ELF32 or ELF64 kernel for a Multiboot loader: segments by physical address, entry
 * translated to physical when it lies inside a segment loaded elsewhere than linked (GRUB 2 does
 * the same). The entry must be a 32-bit address: the kernel starts in protected mode.
 */
export function loadElfForMultiboot(
  image: Buffer, mem: GuestMemory, file: string, kind: string,
): { elf: ElfFile; extent: { start: number; end: number }; entry: number } {
  if (!isElf(image)) {
    throw new GuestError(`${file}: the ${kind} header has no address fields and the file is not ELF, so kvmdbg cannot tell where to load it`);
  }
  const elf = parseElf(image, file);
  const extent = loadElfSegments(image, elf, mem, file, true);
  let entry = elf.header.entry;
  for (const p of loadSegments(elf)) {
    if (entry >= p.vaddr && entry < p.vaddr + p.memsz) {
      entry = entry - p.vaddr + p.paddr;
      break;
    }
  }
  if (entry > 0xffffffffn) {
    throw new GuestError(`${file}: entry point ${hex(entry)} is above 4 GiB; a ${kind} kernel starts in 32-bit protected mode`);
  }
  return { elf, extent, entry: Number(entry) };
}

export const loadMultiboot: Loader = (image, mem, opts): LoadedGuest => {
  const file = opts.fileName;
  const header = parseMultibootHeader(image, file);
  let extent: { start: number; end: number };
  let entry: number;
  if (header.addr) {
    extent = loadByAddressFields(image, mem, file, 'Multiboot', header.offset, header.addr);
    entry = header.addr.entry;
  } else {
    ({ extent, entry } = loadElfForMultiboot(image, mem, file, 'Multiboot'));
  }
  const infoAddr = writeMultibootInfo(mem, opts, extent.end);
  return {
    format: 'multiboot',
    entry: { mode: 'protected', rip: BigInt(entry), regs: { rax: BigInt(MULTIBOOT_BOOTLOADER_MAGIC), rbx: BigInt(infoAddr) } },
    extent,
  };
};

/** Loads the modules and builds the Multiboot 1 information; returns its address. */
export function writeMultibootInfo(mem: GuestMemory, opts: LoadOptions, kernelEnd: number): number {
  const modules = placeModules(opts, mem, kernelEnd);
  const w = new BootInfoWriter(mem, opts.fileName);
  const info = w.alloc(MBI.size, 8);
  const mbi = w.view(info, MBI.size);
  const { lower, upper } = basicMemory(mem);
  mbi.writeUInt32LE(lower, MBI.mem_lower);
  mbi.writeUInt32LE(upper, MBI.mem_upper);

  mbi.writeUInt32LE(w.string(opts.cmdline), MBI.cmdline);

  const mods = w.alloc(16 * modules.length, 16);
  modules.forEach((m, i) => {
    const e = w.view(mods + 16 * i, 16);
    e.writeUInt32LE(m.start, 0);
    e.writeUInt32LE(m.end, 4);
    e.writeUInt32LE(w.string(m.args), 8);
  });
  mbi.writeUInt32LE(modules.length, MBI.mods_count);
  mbi.writeUInt32LE(modules.length ? mods : 0, MBI.mods_addr);

  // Each entry: size (of the rest: 20), base_addr (8), length (8), type (4).
  const map = memoryMap(mem);
  const mmap = w.alloc(24 * map.length, 8);
  map.forEach((e, i) => {
    const b = w.view(mmap + 24 * i, 24);
    b.writeUInt32LE(20, 0);
    b.writeBigUInt64LE(BigInt(e.base), 4);
    b.writeBigUInt64LE(BigInt(e.length), 12);
    b.writeUInt32LE(e.type, 20);
  });
  mbi.writeUInt32LE(24 * map.length, MBI.mmap_length);
  mbi.writeUInt32LE(mmap, MBI.mmap_addr);

  mbi.writeUInt32LE(w.string(BOOT_LOADER_NAME), MBI.boot_loader_name);
  mbi.writeUInt32LE(MBI_MEMORY | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_BOOT_LOADER_NAME, MBI.flags);
  return info;
}
