// Picks the loader for a guest image: --format if given, else from the content.
// Detection order: a Linux setup header (55 AA at 0x1FE and "HdrS" at 0x202: a bzImage whatever
// its boot protocol version, so an old kernel hears why it is refused), a valid Multiboot2 header,
// a valid Multiboot 1 header, then a Multiboot2 or Multiboot 1 magic with a bad checksum (so the
// user hears about the checksum rather than getting the kernel loaded some other way), ELF magic
// (the class picks elf32 / elf64), a boot sector (55 AA at offset 510). A kernel with both
// Multiboot headers boots as Multiboot2, as under GRUB's multiboot2 command.
import { GuestError } from '../../errors.js';
import type { GuestMemory } from '../memory.js';
import { isBootSector, loadBootSector } from './bootsector.js';
import { isBzImage, loadBzImage } from './bzimage.js';
import { elfBits, isElf } from '../../symbols/elf-parse.js';
import { loadElf32, loadElf64 } from './elf.js';
import { loadFlat } from './flat.js';
import { findMultibootHeader, loadMultiboot } from './multiboot.js';
import { findMultiboot2Header, loadMultiboot2 } from './multiboot2.js';
import type { GuestFormat, LoadedGuest, Loader, LoadOptions } from './types.js';

export const LOADERS: Record<GuestFormat, Loader> = {
  bootsector: loadBootSector,
  flat: loadFlat,
  elf32: loadElf32,
  elf64: loadElf64,
  multiboot: loadMultiboot,
  multiboot2: loadMultiboot2,
  bzimage: loadBzImage,
};

/** The format the content says, or undefined when it is none kvmdbg recognises. */
export function detectFormat(image: Buffer): GuestFormat | undefined {
  if (isBzImage(image)) return 'bzimage';
  const mb2 = findMultiboot2Header(image);
  const mb1 = findMultibootHeader(image);
  if (mb2?.valid) return 'multiboot2';
  if (mb1?.valid) return 'multiboot';
  if (mb2) return 'multiboot2';
  if (mb1) return 'multiboot';
  if (isElf(image)) {
    // An unknown class is reported by the ELF loader; ELF32 is the likelier guess.
    return elfBits(image) === 64 ? 'elf64' : 'elf32';
  }
  if (isBootSector(image)) return 'bootsector';
  return undefined;
}

export function loadGuest(image: Buffer, mem: GuestMemory, opts: LoadOptions): LoadedGuest {
  if (image.length === 0) throw new GuestError(`${opts.fileName} is empty`);
  const format = opts.format ?? detectFormat(image);
  if (!format) {
    throw new GuestError(
      `${opts.fileName}: unknown format: not ELF, Multiboot or a boot sector (55 AA at offset 510); ` +
      'use --format flat with --load-address for a raw binary',
    );
  }
  return LOADERS[format](image, mem, opts);
}
