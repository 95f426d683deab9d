// Linux bzImage kernels, started through the x86 boot protocol's 32-bit or 64-bit entry
// (Documentation/arch/x86/boot.rst): the way kexec, coreboot and EFI loaders start Linux, without
// running the kernel's 16-bit setup code.
//
// The file: a setup area of (setup_sects + 1) * 512 bytes (setup_sects 0 means 4) whose setup
// header sits at 0x1F1 (boot_flag 0xAA55 at 0x1FE, "HdrS" at 0x202, the protocol version at
// 0x206), then the protected-mode kernel, loaded at 1 MiB. kvmdbg needs protocol 2.06 or later
// (Linux 2.6.22, 2007: cmdline_size) and a bzImage (loadflags LOADED_HIGH); older kernels are
// refused with a message saying so.
//
// What the kernel gets:
// - the zero page (struct boot_params, 4 KiB, all zero but for the fields below) at
//   LINUX_ZERO_PAGE_ADDR: the setup header copied from the file into boot_params.hdr (0x1F1 up to
//   the header's end, 0x202 + the byte at 0x201), then type_of_loader 0xFF (undefined loader),
//   loadflags | CAN_USE_HEAP with heap_end_ptr 0xFE00, cmd_line_ptr, ramdisk_image/ramdisk_size,
//   hardware_subarch 0 (PC), setup_data 0 (no list), alt_mem_k, and the E820 memory map
//   (e820_entries at 0x1E8, the table at 0x2D0): the same map the Multiboot loaders report.
// - the command line (LoadOptions.cmdline) NUL-terminated at LINUX_CMDLINE_ADDR, at most
//   cmdline_size bytes.
// - the initrd: for a bzImage the modules are the initrd. The first module is the initrd; more
//   modules are concatenated after it, each padded to 4 bytes, as GRUB's `initrd a b` does (an
//   initramfs may be several cpio archives). Module arguments are ignored. It is placed
//   page-aligned as high as it can go: below initrd_addr_max, below the top of the RAM under the
//   PCI hole, above everything the kernel occupies.
// - the 32-bit entry (the default): 32-bit protected mode at code32_start (normally 1 MiB, the
//   load address): paging off, interrupts off, flat 4 GiB segments CS = 0x10 (__BOOT_CS),
//   DS = ES = SS = 0x18 (__BOOT_DS), ESI = the zero page, EBX = EBP = EDI = 0.
// - the 64-bit entry (LoadOptions.bootEntry 64; kernels that set XLF_KERNEL_64 in xloadflags,
//   protocol 2.12+): long mode at code32_start + 0x200 with the low 4 GiB identity-mapped (the
//   kernel, its init_size, the zero page and the command line all lie there), a GDT whose
//   __BOOT_CS (0x10) is flat 64-bit code and __BOOT_DS (0x18) flat data, CS = __BOOT_CS,
//   DS = ES = SS = __BOOT_DS, interrupts off, RSI = the zero page.
// Why 32 by default: every bzImage has that entry (a 32-bit kernel has no other), and from it the
// kernel's own startup_32 builds its page tables and enters long mode, which is then there to be
// debugged; the 64-bit entry starts at startup_64 with kvmdbg's tables, as 64-bit kexec does.
// Both boot Debian's kernel to a shell in about the same time (test/linux-boot.test.ts).
//
// Memory the kernel needs: the file's protected-mode part at 1 MiB, and init_size bytes (2.10+)
// from where the kernel decompresses itself: pref_address, or for a relocatable kernel the load
// address rounded up to kernel_alignment when that is higher (what the decompressor computes).
// Both must lie in RAM below the PCI hole, or the load fails with the --memory that would do.
//
// Not provided: the 16-bit setup code's services
// (screen_info stays zero: no video console; use console=ttyS0), EDD, setup_data. The ACPI tables
// a kernel finds are the machine's (firmware/acpi.ts), which knows the vCPU count.
import { GuestError, hex } from '../../errors.js';
import type { GuestMemory } from '../memory.js';
import {
  BIOS_AREA_END, BOOT_INFO_END, LINUX_CMDLINE_ADDR, LINUX_ZERO_PAGE_ADDR, PCI_HOLE_START,
} from '../layout.js';
import { outsideMemoryHint } from './elf.js';
import { LINUX_BOOT64_GDT } from '../arch/gdt.js';
import { memoryMap } from './multiboot.js';
import type { LoadedGuest, Loader, LoadOptions, Module } from './types.js';
import { isBzImage } from '../../formats/detect.js';

export { isBzImage };
/** The oldest boot protocol kvmdbg boots: 2.06 added cmdline_size. */
export const BZIMAGE_MIN_VERSION = 0x0206;
/** Where the protected-mode kernel is loaded (and, for every real kernel, code32_start). */
export const BZIMAGE_LOAD_ADDR = BIOS_AREA_END;
/** boot_params.hdr.type_of_loader: 0xFF, a boot loader with no assigned ID. */
export const LOADER_TYPE_UNDEFINED = 0xff;
/** heap_end_ptr: the usual end of the setup heap (0x10000 - 0x200 from the setup's base). */
export const HEAP_END_PTR = 0xfe00;

/** loadflags bits. */
export const LOADED_HIGH = 0x01;
export const CAN_USE_HEAP = 0x80;
/** xloadflags bit 0: the kernel has the 64-bit entry at code32_start + 0x200. */
export const XLF_KERNEL_64 = 0x01;
/** The 64-bit entry's offset from code32_start. */
export const ENTRY64_OFFSET = 0x200;
/** xloadflags exists from boot protocol 2.12. */
const XLOADFLAGS_VERSION = 0x020c;

/** Offsets in struct boot_params (the zero page); hdr fields at their file offsets. */
export const BP = {
  alt_mem_k: 0x1e0, scratch: 0x1e4, e820_entries: 0x1e8, sentinel: 0x1ef,
  hdr: 0x1f1, setup_sects: 0x1f1, syssize: 0x1f4, boot_flag: 0x1fe, jump: 0x200, header: 0x202,
  version: 0x206, type_of_loader: 0x210, loadflags: 0x211, code32_start: 0x214,
  ramdisk_image: 0x218, ramdisk_size: 0x21c, heap_end_ptr: 0x224, ext_loader_ver: 0x226,
  ext_loader_type: 0x227, cmd_line_ptr: 0x228, initrd_addr_max: 0x22c, kernel_alignment: 0x230,
  relocatable_kernel: 0x234, xloadflags: 0x236, cmdline_size: 0x238, hardware_subarch: 0x23c,
  hardware_subarch_data: 0x240, setup_data: 0x250, pref_address: 0x258, init_size: 0x260,
  /** The end of hdr's room in boot_params (edd_mbr_sig_buffer starts here). */
  hdr_end: 0x290,
  e820_table: 0x2d0, size: 0x1000,
} as const;
export const E820_ENTRY_SIZE = 20;
export const E820_MAX_ENTRIES = 128;

export interface BzImageHeader {
  /** The protocol version, e.g. 0x020f for 2.15. */
  version: number;
  setupSects: number;
  /** File offset of the protected-mode kernel: (setup_sects + 1) * 512. */
  kernelOffset: number;
  kernelSize: number;
  /** Where the setup header ends in the file (0x202 + the byte at 0x201, at most 0x290). */
  headerEnd: number;
  loadflags: number;
  code32Start: number;
  initrdAddrMax: number;
  kernelAlignment: number;
  relocatable: boolean;
  cmdlineSize: number;
  /** 2.12+: XLF_* bits; 0 before. */
  xloadflags: number;
  /** 2.10+: where the kernel wants to run; 1 MiB before. */
  prefAddress: bigint;
  /** 2.10+: the memory the kernel needs from where it runs; 0 before (unknown). */
  initSize: number;
}

function version(v: number): string {
  return `${v >> 8}.${(v & 0xff).toString().padStart(2, '0')}`;
}

/** Reads and checks the setup header; throws a GuestError saying what is wrong. */
export function parseBzImageHeader(image: Buffer, file: string): BzImageHeader {
  if (!isBzImage(image)) {
    throw new GuestError(`${file}: not a Linux bzImage (needs the setup header: 55 AA at offset 0x1fe and "HdrS" at 0x202)`);
  }
  if (image.length < BP.hdr_end) {
    throw new GuestError(`${file}: truncated: ${image.length} bytes end inside the Linux setup header (${hex(BP.hdr)}..${hex(BP.hdr_end)})`);
  }
  const v = image.readUInt16LE(BP.version);
  if (v < BZIMAGE_MIN_VERSION) {
    throw new GuestError(
      `${file}: Linux boot protocol ${version(v)} is too old: kvmdbg boots kernels with protocol ` +
      `${version(BZIMAGE_MIN_VERSION)} or later (Linux 2.6.22 and newer) through the 32-bit entry`,
    );
  }
  const loadflags = image[BP.loadflags];
  if (!(loadflags & LOADED_HIGH)) {
    throw new GuestError(
      `${file}: a zImage (loadflags bit 0, LOADED_HIGH, is clear: the kernel wants to load at 0x10000); ` +
      'kvmdbg boots only bzImage kernels, loaded at 1 MiB',
    );
  }
  const setupSects = image[BP.setup_sects] || 4;
  const kernelOffset = (setupSects + 1) * 512;
  if (image.length <= kernelOffset) {
    throw new GuestError(
      `${file}: truncated: the file has ${image.length} bytes, no more than its setup area of ${kernelOffset} ` +
      `(setup_sects ${setupSects}): the protected-mode kernel is missing`,
    );
  }
  const kernelSize = image.length - kernelOffset;
  // syssize counts 16-byte paragraphs, rounded up (old build tool) or down (newer kernels).
  const syssize = image.readUInt32LE(BP.syssize);
  if (syssize * 16 > kernelSize + 15) {
    throw new GuestError(
      `${file}: truncated: the setup header's syssize says ${syssize * 16} bytes of protected-mode kernel ` +
      `from offset ${hex(kernelOffset)}, but the file has only ${kernelSize}`,
    );
  }
  const headerEnd = Math.min(BP.jump + 2 + image[BP.jump + 1], BP.hdr_end);
  const has210 = v >= 0x020a;
  return {
    version: v,
    setupSects,
    kernelOffset,
    kernelSize,
    headerEnd,
    loadflags,
    code32Start: image.readUInt32LE(BP.code32_start),
    initrdAddrMax: image.readUInt32LE(BP.initrd_addr_max),
    kernelAlignment: image.readUInt32LE(BP.kernel_alignment),
    relocatable: image[BP.relocatable_kernel] !== 0,
    cmdlineSize: image.readUInt32LE(BP.cmdline_size),
    xloadflags: v >= XLOADFLAGS_VERSION ? image.readUInt16LE(BP.xloadflags) : 0,
    prefAddress: has210 ? image.readBigUInt64LE(BP.pref_address) : BigInt(BZIMAGE_LOAD_ADDR),
    initSize: has210 ? image.readUInt32LE(BP.init_size) : 0,
  };
}

/**
 * Where the kernel runs from and the memory it needs there: [start, start + init_size), as the
 * decompressor computes it (pref_address, or the load address aligned up to kernel_alignment
 * when relocatable and higher).
 */
export function kernelFootprint(h: BzImageHeader, file: string): { start: number; end: number } {
  if (h.prefAddress > 0xffffffffn) {
    throw new GuestError(`${file}: pref_address ${hex(h.prefAddress)} is above 4 GiB; the 32-bit boot protocol cannot start it there`);
  }
  let start = Number(h.prefAddress);
  if (h.relocatable) {
    const a = h.kernelAlignment;
    if (a === 0 || (a & (a - 1)) !== 0 || a > 0x40000000) {
      throw new GuestError(`${file}: kernel_alignment ${hex(a)} is not a power of two up to 1 GiB`);
    }
    const aligned = Math.ceil(BZIMAGE_LOAD_ADDR / a) * a;
    start = Math.max(start, aligned);
  } else if (start < BZIMAGE_LOAD_ADDR) {
    throw new GuestError(`${file}: pref_address ${hex(start)} is below 1 MiB, where kvmdbg keeps the boot structures`);
  }
  return { start, end: start + h.initSize };
}

/** The modules concatenated into one initrd, each but the last padded to 4 bytes. */
function initrdOf(modules: Module[]): Buffer {
  if (modules.length === 1) return modules[0].data;
  const parts: Buffer[] = [];
  modules.forEach((m, i) => {
    parts.push(m.data);
    const pad = (4 - (m.data.length % 4)) % 4;
    if (pad && i < modules.length - 1) parts.push(Buffer.alloc(pad));
  });
  return Buffer.concat(parts);
}

function initrdName(modules: Module[]): string {
  return modules.length === 1 ? modules[0].path : `the initrd (${modules.map((m) => m.path).join(' + ')})`;
}

/**
 * Places the initrd page-aligned as high as possible under `limit` (initrd_addr_max + 1 and the
 * top of low RAM) and above `kernelEnd`. Returns its address.
 */
function placeInitrd(
  modules: Module[], data: Buffer, mem: GuestMemory, h: BzImageHeader, kernelEnd: number,
): number {
  const lowTop = Math.min(mem.top, PCI_HOLE_START);
  const maxEnd = h.initrdAddrMax + 1;
  const limit = Math.min(lowTop, maxEnd);
  const start = Math.floor((limit - data.length) / 4096) * 4096;
  if (start >= kernelEnd && mem.contains(start, data.length)) {
    mem.write(start, data);
    return start;
  }
  const name = initrdName(modules);
  const room = Math.max(0, limit - kernelEnd);
  const needed = Math.ceil(kernelEnd / 4096) * 4096 + data.length;
  let why: string;
  if (needed > maxEnd) {
    why = `the kernel's initrd_addr_max ${hex(h.initrdAddrMax)} leaves ${Math.max(0, maxEnd - kernelEnd)} bytes above the kernel, ` +
      'however much memory the guest has';
  } else if (needed > PCI_HOLE_START) {
    why = `it would reach the PCI hole at ${hex(PCI_HOLE_START)}, and the initrd must lie below it`;
  } else {
    why = outsideMemoryHint(BigInt(kernelEnd), BigInt(needed), mem);
  }
  throw new GuestError(
    `${name}: an initrd of ${data.length} bytes does not fit between the kernel's end ${hex(kernelEnd)} and ` +
    `${hex(limit)} (${room} bytes): ${why}`,
  );
}

export const loadBzImage: Loader = (image, mem, opts: LoadOptions): LoadedGuest => {
  const file = opts.fileName;
  const h = parseBzImageHeader(image, file);
  const loadEnd = BZIMAGE_LOAD_ADDR + h.kernelSize;
  // Without init_size (protocol before 2.10) the kernel's needs beyond its file are unknown.
  const run = h.initSize ? kernelFootprint(h, file) : { start: BZIMAGE_LOAD_ADDR, end: loadEnd };
  const entry64 = opts.bootEntry === 64;
  if (entry64 && !(h.xloadflags & XLF_KERNEL_64)) {
    throw new GuestError(
      `${file}: this kernel has no 64-bit entry (boot protocol ${version(h.version)}, xloadflags ${hex(h.xloadflags)}: ` +
      'XLF_KERNEL_64 is clear, a 32-bit kernel or one older than 2.12); use the 32-bit entry (--boot-entry 32, "bootEntry": 32)',
    );
  }
  if (h.code32Start < BZIMAGE_LOAD_ADDR || h.code32Start + (entry64 ? ENTRY64_OFFSET : 0) >= loadEnd) {
    throw new GuestError(
      `${file}: code32_start ${hex(h.code32Start)} is not inside the protected-mode kernel, loaded at ` +
      `${hex(BZIMAGE_LOAD_ADDR)}..${hex(loadEnd)}`,
    );
  }
  const lowTop = Math.min(mem.top, PCI_HOLE_START);
  for (const [what, start, end] of [
    [`the protected-mode kernel (${h.kernelSize} bytes)`, BZIMAGE_LOAD_ADDR, loadEnd],
    [`the kernel's decompression area (init_size ${hex(h.initSize)} from ${hex(run.start)})`, run.start, run.end],
  ] as const) {
    if (end > lowTop || !mem.contains(start, end - start)) {
      throw new GuestError(
        `${file}: ${what} needs ${hex(start)}..${hex(end)}, which does not fit in guest memory below the PCI hole: ` +
        outsideMemoryHint(BigInt(start), BigInt(end), mem),
      );
    }
  }
  const kernelEnd = Math.max(loadEnd, run.end);

  const cmdline = Buffer.from(opts.cmdline, 'utf8');
  const room = BOOT_INFO_END - LINUX_CMDLINE_ADDR - 1;
  if (cmdline.length > h.cmdlineSize) {
    throw new GuestError(`${file}: the command line is ${cmdline.length} bytes; this kernel takes at most ${h.cmdlineSize} (cmdline_size)`);
  }
  if (cmdline.length > room) {
    throw new GuestError(`${file}: the command line is ${cmdline.length} bytes; kvmdbg has room for ${room}`);
  }
  if (cmdline.includes(0)) throw new GuestError(`${file}: the command line contains a NUL byte`);

  let ramdisk = { image: 0, size: 0 };
  if (opts.modules.length) {
    const data = initrdOf(opts.modules);
    if (data.length > 0) ramdisk = { image: placeInitrd(opts.modules, data, mem, h, kernelEnd), size: data.length };
  }

  mem.view(BZIMAGE_LOAD_ADDR, h.kernelSize).set(image.subarray(h.kernelOffset));
  mem.write(LINUX_CMDLINE_ADDR, cmdline);
  mem.view(LINUX_CMDLINE_ADDR + cmdline.length, 1)[0] = 0;
  writeZeroPage(image, mem, h, LINUX_CMDLINE_ADDR, ramdisk);
  return {
    format: 'bzimage',
    entry: entry64
      ? { mode: 'long', rip: BigInt(h.code32Start + ENTRY64_OFFSET), regs: { rsi: BigInt(LINUX_ZERO_PAGE_ADDR) }, gdt: LINUX_BOOT64_GDT }
      : { mode: 'protected', rip: BigInt(h.code32Start), regs: { rsi: BigInt(LINUX_ZERO_PAGE_ADDR), rbx: 0n, rbp: 0n, rdi: 0n } },
    extent: { start: BZIMAGE_LOAD_ADDR, end: kernelEnd },
  };
};

/** Builds struct boot_params at LINUX_ZERO_PAGE_ADDR. */
function writeZeroPage(
  image: Buffer, mem: GuestMemory, h: BzImageHeader, cmdlineAddr: number, ramdisk: { image: number; size: number },
): void {
  const zp = mem.view(LINUX_ZERO_PAGE_ADDR, BP.size);
  zp.fill(0);
  image.copy(zp, BP.hdr, BP.hdr, h.headerEnd);
  zp[BP.type_of_loader] = LOADER_TYPE_UNDEFINED;
  zp[BP.loadflags] = h.loadflags | CAN_USE_HEAP;
  zp.writeUInt16LE(HEAP_END_PTR, BP.heap_end_ptr);
  zp[BP.ext_loader_ver] = 0;
  zp[BP.ext_loader_type] = 0;
  zp.writeUInt32LE(cmdlineAddr, BP.cmd_line_ptr);
  zp.writeUInt32LE(ramdisk.image, BP.ramdisk_image);
  zp.writeUInt32LE(ramdisk.size, BP.ramdisk_size);
  if (h.headerEnd > BP.hardware_subarch) zp.fill(0, BP.hardware_subarch, Math.min(h.headerEnd, BP.hardware_subarch + 12));
  if (h.headerEnd > BP.setup_data) zp.fill(0, BP.setup_data, Math.min(h.headerEnd, BP.setup_data + 8));

  const lowTop = Math.min(mem.top, PCI_HOLE_START);
  zp.writeUInt32LE(Math.max(0, lowTop - BIOS_AREA_END) / 1024, BP.alt_mem_k);
  const map = memoryMap(mem).slice(0, E820_MAX_ENTRIES);
  zp[BP.e820_entries] = map.length;
  map.forEach((e, i) => {
    const at = BP.e820_table + E820_ENTRY_SIZE * i;
    zp.writeBigUInt64LE(BigInt(e.base), at);
    zp.writeBigUInt64LE(BigInt(e.length), at + 8);
    zp.writeUInt32LE(e.type, at + 16);
  });
}
