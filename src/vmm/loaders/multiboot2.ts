// Multiboot 2 (specification 2.0). The header lies 8-byte aligned, whole, in the first 32768 bytes:
// magic 0xE85250D6, architecture (0: i386 protected mode), header_length, checksum (the four sum
// to zero), then 8-byte-aligned tags up to an end tag. The kernel starts like a Multiboot 1 kernel
// (32-bit protected mode, paging off) with EAX = 0x36D76289 and EBX = the boot information.
//
// Header tags kvmdbg understands:
//   1 information request: the boot information always holds tags 1, 2, 3, 4 and 6; a required
//     request for another tag is an error, an optional one is ignored.
//   2 address: load like Multiboot 1's a.out kludge (load_addr 0xFFFFFFFF: from the file's start).
//   3 entry address: where to start (required with the address tag, overrides e_entry for ELF).
//   4 console flags, 5 framebuffer: accepted and ignored (no framebuffer; the guest has text mode).
//   6 module alignment: modules are page-aligned anyway.
//   7 EFI boot services, 8/9 EFI entry points, 10 relocatable: meaningless without EFI or for a
//     load at the linked address; ignored.
// Any other tag is an error unless its flags mark it optional.
// Boot information built at BOOT_INFO_ADDR: total_size, reserved, then the tags cmdline (1),
// boot loader name (2), one module tag (3) per module, basic meminfo (4), memory map (6, entries of
// 24 bytes, version 0) and the end tag, each 8-byte aligned. cmdline and module strings are as
// for Multiboot 1 (see multiboot.ts): the command line and the module args alone.
import { GuestError, hex } from '../../errors.js';
import type { GuestMemory } from '../memory.js';
import {
  basicMemory, BOOT_LOADER_NAME, BootInfoWriter, loadByAddressFields, loadElfForMultiboot, memoryMap, placeModules,
} from './multiboot.js';
import type { LoadedGuest, Loader, LoadOptions } from './types.js';
import { findMultiboot2Header, MULTIBOOT2_HEADER_MAGIC, MULTIBOOT2_SEARCH } from '../../formats/detect.js';

export const MULTIBOOT2_BOOTLOADER_MAGIC = 0x36d76289;
export const MULTIBOOT2_ARCH_I386 = 0;

/** Header tag types. */
export const HT = {
  end: 0, informationRequest: 1, address: 2, entryAddress: 3, consoleFlags: 4, framebuffer: 5,
  moduleAlign: 6, efiBootServices: 7, efiI386Entry: 8, efiAmd64Entry: 9, relocatable: 10,
} as const;
const HEADER_TAG_OPTIONAL = 1;

/** Boot information tag types. */
export const BT = { end: 0, cmdline: 1, bootLoaderName: 2, module: 3, basicMeminfo: 4, mmap: 6 } as const;
const PROVIDED_TAGS: ReadonlySet<number> = new Set([BT.cmdline, BT.bootLoaderName, BT.module, BT.basicMeminfo, BT.mmap]);
const INFO_TAG_NAMES: Record<number, string> = {
  5: 'BIOS boot device', 7: 'VBE info', 8: 'framebuffer info', 9: 'ELF sections', 10: 'APM table',
  11: 'EFI 32-bit system table', 12: 'EFI 64-bit system table', 13: 'SMBIOS tables', 14: 'ACPI 1.0 RSDP',
  15: 'ACPI 2.0 RSDP', 16: 'networking information', 17: 'EFI memory map', 18: 'EFI boot services not terminated',
  19: 'EFI 32-bit image handle', 20: 'EFI 64-bit image handle', 21: 'image load base physical address',
};

export interface Multiboot2Header {
  offset: number;
  architecture: number;
  headerLength: number;
  checksum: number;
  /** Boot information tags requested (all, required or not). */
  requested: number[];
  address?: { header: number; load: number; loadEnd: number; bssEnd: number };
  entry?: number;
  moduleAlign: boolean;
}

export function parseMultiboot2Header(image: Buffer, file: string): Multiboot2Header {
  const found = findMultiboot2Header(image);
  if (!found) {
    throw new GuestError(`${file}: no Multiboot2 header (magic ${hex(MULTIBOOT2_HEADER_MAGIC)}, 8-byte aligned) in the first ${MULTIBOOT2_SEARCH} bytes`);
  }
  const off = found.offset;
  const architecture = image.readUInt32LE(off + 4);
  const headerLength = image.readUInt32LE(off + 8);
  const checksum = image.readUInt32LE(off + 12);
  if (!found.valid) {
    const sum = (MULTIBOOT2_HEADER_MAGIC + architecture + headerLength + checksum) >>> 0;
    throw new GuestError(
      `${file}: bad Multiboot2 checksum in the header at offset ${hex(off)}: magic + architecture + header_length + checksum = ${hex(sum)}, must be 0`,
    );
  }
  if (architecture !== MULTIBOOT2_ARCH_I386) {
    throw new GuestError(
      `${file}: the Multiboot2 header is for architecture ${architecture}${architecture === 4 ? ' (MIPS)' : ''}; kvmdbg boots architecture 0 (i386)`,
    );
  }
  if (headerLength < 16 || off + headerLength > image.length || off + headerLength > MULTIBOOT2_SEARCH) {
    throw new GuestError(
      `${file}: the Multiboot2 header at offset ${hex(off)} has header_length ${headerLength}, which does not fit ` +
      `(at least 16, within the file of ${image.length} bytes and its first ${MULTIBOOT2_SEARCH} bytes)`,
    );
  }
  const header: Multiboot2Header = { offset: off, architecture, headerLength, checksum, requested: [], moduleAlign: false };
  const end = off + headerLength;
  let sawEnd = false;
  // Every tag is at least 8 bytes, so this runs at most header_length / 8 times.
  for (let t = off + 16; t + 8 <= end; t = t + Math.ceil(image.readUInt32LE(t + 4) / 8) * 8) {
    const type = image.readUInt16LE(t);
    const flags = image.readUInt16LE(t + 2);
    const size = image.readUInt32LE(t + 4);
    const optional = (flags & HEADER_TAG_OPTIONAL) !== 0;
    const where = `Multiboot2 header tag ${type} at offset ${hex(t)}`;
    if (size < 8 || t + size > end) {
      throw new GuestError(`${file}: ${where} has size ${size}, which does not fit in the header (header_length ${headerLength})`);
    }
    const need = (n: number): void => {
      if (size < n) throw new GuestError(`${file}: ${where} has size ${size}, needs at least ${n}`);
    };
    if (type === HT.end) {
      sawEnd = true;
      break;
    }
    switch (type) {
      case HT.informationRequest:
        for (let i = t + 8; i + 4 <= t + size; i += 4) {
          const want = image.readUInt32LE(i);
          header.requested.push(want);
          if (!optional && !PROVIDED_TAGS.has(want)) {
            throw new GuestError(
              `${file}: the Multiboot2 header requires boot information tag ${want}` +
              `${INFO_TAG_NAMES[want] ? ` (${INFO_TAG_NAMES[want]})` : ''}, which kvmdbg cannot provide ` +
              '(it provides 1 cmdline, 2 boot loader name, 3 modules, 4 basic meminfo, 6 memory map); mark the request optional',
            );
          }
        }
        break;
      case HT.address:
        need(24);
        header.address = {
          header: image.readUInt32LE(t + 8),
          load: image.readUInt32LE(t + 12),
          loadEnd: image.readUInt32LE(t + 16),
          bssEnd: image.readUInt32LE(t + 20),
        };
        break;
      case HT.entryAddress:
        need(12);
        header.entry = image.readUInt32LE(t + 8);
        break;
      case HT.moduleAlign:
        header.moduleAlign = true;
        break;
      case HT.consoleFlags:
      case HT.framebuffer:
      case HT.efiBootServices:
      case HT.efiI386Entry:
      case HT.efiAmd64Entry:
      case HT.relocatable:
        break;
      default:
        if (!optional) {
          throw new GuestError(`${file}: ${where} is a required tag kvmdbg does not know; mark it optional or remove it`);
        }
    }
  }
  if (!sawEnd) throw new GuestError(`${file}: the Multiboot2 header at offset ${hex(off)} has no end tag within its header_length ${headerLength}`);
  return header;
}

export const loadMultiboot2: Loader = (image, mem, opts): LoadedGuest => {
  const file = opts.fileName;
  const header = parseMultiboot2Header(image, file);
  let extent: { start: number; end: number };
  let entry: number;
  if (header.address) {
    const a = header.address;
    // load_addr -1: load from the start of the file, header_addr tells where the header lands.
    const fields = a.load === 0xffffffff ? { ...a, load: a.header - header.offset } : a;
    if (fields.load < 0) {
      throw new GuestError(`${file}: Multiboot2 header_addr ${hex(a.header)} is less than the header's file offset ${hex(header.offset)}`);
    }
    extent = loadByAddressFields(image, mem, file, 'Multiboot2 address tag', header.offset, fields);
    if (header.entry === undefined) {
      throw new GuestError(`${file}: the Multiboot2 header has an address tag but no entry address tag (type 3)`);
    }
    entry = header.entry;
  } else {
    ({ extent, entry } = loadElfForMultiboot(image, mem, file, 'Multiboot2'));
    if (header.entry !== undefined) entry = header.entry;
  }
  const infoAddr = writeMultiboot2Info(mem, opts, extent.end);
  return {
    format: 'multiboot2',
    entry: { mode: 'protected', rip: BigInt(entry), regs: { rax: BigInt(MULTIBOOT2_BOOTLOADER_MAGIC), rbx: BigInt(infoAddr) } },
    extent,
  };
};

/** Loads the modules and builds the Multiboot 2 boot information; returns its address. */
export function writeMultiboot2Info(mem: GuestMemory, opts: LoadOptions, kernelEnd: number): number {
  const modules = placeModules(opts, mem, kernelEnd);
  const w = new BootInfoWriter(mem, opts.fileName);
  const info = w.alloc(8, 8);
  const tag = (type: number, size: number): Buffer => {
    const at = w.alloc(size, 8);
    const b = w.view(at, size);
    b.writeUInt32LE(type, 0);
    b.writeUInt32LE(size, 4);
    return b;
  };
  const stringTag = (type: number, fixed: Buffer, s: string): void => {
    const bytes = Buffer.from(s, 'utf8');
    const b = tag(type, 8 + fixed.length + bytes.length + 1);
    fixed.copy(b, 8);
    bytes.copy(b, 8 + fixed.length);
  };
  stringTag(BT.cmdline, Buffer.alloc(0), opts.cmdline);
  stringTag(BT.bootLoaderName, Buffer.alloc(0), BOOT_LOADER_NAME);
  for (const m of modules) {
    const range = Buffer.alloc(8);
    range.writeUInt32LE(m.start, 0);
    range.writeUInt32LE(m.end, 4);
    stringTag(BT.module, range, m.args);
  }
  const { lower, upper } = basicMemory(mem);
  const meminfo = tag(BT.basicMeminfo, 16);
  meminfo.writeUInt32LE(lower, 8);
  meminfo.writeUInt32LE(upper, 12);
  const map = memoryMap(mem);
  const mmap = tag(BT.mmap, 16 + 24 * map.length);
  mmap.writeUInt32LE(24, 8); // entry_size
  mmap.writeUInt32LE(0, 12); // entry_version
  map.forEach((e, i) => {
    mmap.writeBigUInt64LE(BigInt(e.base), 16 + 24 * i);
    mmap.writeBigUInt64LE(BigInt(e.length), 24 + 24 * i);
    mmap.writeUInt32LE(e.type, 32 + 24 * i);
  });
  tag(BT.end, 8);
  const head = w.view(info, 8);
  head.writeUInt32LE(w.end - info, 0);
  head.writeUInt32LE(0, 4);
  return info;
}
