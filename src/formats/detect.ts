// Guest image formats told from a file's bytes: pure checks, no KVM, no DAP, no file system.
// The monitor picks a loader with them (src/vmm/loaders/detect.ts) and the extension guesses a
// launch configuration with them (src/extension/config-guess.ts), so neither reaches into the
// other. The loaders keep the loading and the header checks that come with it.
//
// Detection order: a Linux setup header (55 AA at 0x1FE and "HdrS" at 0x202: a bzImage whatever
// its boot protocol version, so an old kernel hears why it is refused), a valid Multiboot2 header,
// a valid Multiboot 1 header, then a Multiboot2 or Multiboot 1 magic with a bad checksum (so the
// user hears about the checksum rather than getting the kernel loaded some other way), ELF magic
// (an ELF with the Xen PVH entry note is pvh, as QEMU's -kernel picks it after Multiboot; else the
// class picks elf32 / elf64), a boot sector (55 AA at offset 510). A kernel with both Multiboot
// headers boots as Multiboot2, as under GRUB's multiboot2 command.
import { elfBits, elfNotes, isElf, parseElf } from '../symbols/elf-parse.js';

/** How a guest is loaded: each has its loader in src/vmm/loaders. */
export type GuestFormat = 'bootsector' | 'flat' | 'elf32' | 'elf64' | 'multiboot' | 'multiboot2' | 'bzimage' | 'pvh';
export const GUEST_FORMATS: GuestFormat[] = ['bootsector', 'flat', 'elf32', 'elf64', 'multiboot', 'multiboot2', 'bzimage', 'pvh'];

/** The owner and type of the note that gives an ELF kernel's PVH entry (xen/include/public/elfnote.h). */
export const XEN_ELFNOTE_OWNER = 'Xen';
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

export const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
/** Multiboot 1 headers lie 4-byte aligned in the file's first 8192 bytes. */
export const MULTIBOOT_SEARCH = 8192;
export const MULTIBOOT2_HEADER_MAGIC = 0xe85250d6;
/** Multiboot2 headers lie 8-byte aligned in the file's first 32768 bytes. */
export const MULTIBOOT2_SEARCH = 32768;
/** "HdrS" read as a little-endian 32-bit number, at BZIMAGE_HEADER_OFFSET. */
export const BZIMAGE_HEADER_MAGIC = 0x53726448;
export const BZIMAGE_HEADER_OFFSET = 0x202;
/** The setup header's boot_flag, at BZIMAGE_BOOT_FLAG_OFFSET: the boot-sector signature. */
export const BZIMAGE_BOOT_FLAG = 0xaa55;
export const BZIMAGE_BOOT_FLAG_OFFSET = 0x1fe;

/** Where a header was found, and whether its checksum holds. */
export interface HeaderAt {
  offset: number;
  valid: boolean;
}

/** 55 AA at offset 510 of at least 512 bytes. */
export function isBootSector(image: Buffer): boolean {
  return image.length >= 512 && image[510] === 0x55 && image[511] === 0xaa;
}

/** Whether the bytes carry a Linux setup header: boot_flag 0xAA55 at 0x1FE and "HdrS" at 0x202. */
export function isBzImage(image: Buffer): boolean {
  return image.length >= BZIMAGE_HEADER_OFFSET + 4 && image.readUInt16LE(BZIMAGE_BOOT_FLAG_OFFSET) === BZIMAGE_BOOT_FLAG &&
    image.readUInt32LE(BZIMAGE_HEADER_OFFSET) === BZIMAGE_HEADER_MAGIC;
}

/**
 * The first Multiboot header with a valid checksum in the first 8192 bytes; if there is none, the
 * first one whose magic matched (`valid: false`) so callers can report its bad checksum.
 */
export function findMultibootHeader(image: Buffer): HeaderAt | undefined {
  // magic, flags, checksum
  return findHeader(image, MULTIBOOT_HEADER_MAGIC, MULTIBOOT_SEARCH, 4, 3);
}

/** Like findMultibootHeader: the first valid header, else the first magic match, else undefined. */
export function findMultiboot2Header(image: Buffer): HeaderAt | undefined {
  // magic, architecture, header_length, checksum
  return findHeader(image, MULTIBOOT2_HEADER_MAGIC, MULTIBOOT2_SEARCH, 8, 4);
}

/** A header starting with `magic` at an `align` step in the first `search` bytes whose first `words` words sum to 0. */
function findHeader(image: Buffer, magic: number, search: number, align: number, words: number): HeaderAt | undefined {
  let bad: number | undefined;
  const limit = Math.min(image.length, search) - 4 * words;
  for (let off = 0; off <= limit; off += align) {
    if (image.readUInt32LE(off) !== magic) continue;
    let sum = 0;
    for (let i = 0; i < words; i++) sum += image.readUInt32LE(off + 4 * i);
    if (sum >>> 0 === 0) return { offset: off, valid: true };
    bad ??= off;
  }
  return bad === undefined ? undefined : { offset: bad, valid: false };
}

/**
 * The PVH entry of an ELF kernel: the physical address in its XEN_ELFNOTE_PHYS32_ENTRY note (4
 * bytes, or 8 as Linux writes it with _ASM_PTR), or undefined without one or for a file that
 * does not parse as ELF. An entry at or above 4 GiB is returned as is: the loader refuses it.
 */
export function pvhEntry(image: Buffer): bigint | undefined {
  if (!isElf(image)) return undefined;
  let notes;
  try {
    notes = elfNotes(image, parseElf(image, '<image>'));
  } catch {
    return undefined;
  }
  const n = notes.find((x) => x.name === XEN_ELFNOTE_OWNER && x.type === XEN_ELFNOTE_PHYS32_ENTRY);
  if (!n) return undefined;
  if (n.desc.length === 4) return BigInt(n.desc.readUInt32LE(0));
  if (n.desc.length === 8) return n.desc.readBigUInt64LE(0);
  return undefined;
}

/** The format the content says, or undefined when it is none kvmdbg recognises. Never throws. */
export function detectFormat(image: Buffer): GuestFormat | undefined {
  if (isBzImage(image)) return 'bzimage';
  const mb2 = findMultiboot2Header(image);
  const mb1 = findMultibootHeader(image);
  if (mb2?.valid) return 'multiboot2';
  if (mb1?.valid) return 'multiboot';
  if (mb2) return 'multiboot2';
  if (mb1) return 'multiboot';
  if (isElf(image)) {
    if (pvhEntry(image) !== undefined) return 'pvh';
    // An unknown class is reported by the ELF loader; ELF32 is the likelier guess.
    return elfBits(image) === 64 ? 'elf64' : 'elf32';
  }
  if (isBootSector(image)) return 'bootsector';
  return undefined;
}
