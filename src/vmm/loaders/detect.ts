// Picks the loader for a guest image: --format if given, else from the content (src/formats/detect.ts
// tells the format from the bytes, in the order it documents).
import { GuestError } from '../../errors.js';
import type { GuestMemory } from '../memory.js';
import { detectFormat, type GuestFormat } from '../../formats/detect.js';
import { loadBootSector } from './bootsector.js';
import { loadBzImage } from './bzimage.js';
import { loadElf32, loadElf64 } from './elf.js';
import { loadFlat } from './flat.js';
import { loadMultiboot } from './multiboot.js';
import { loadMultiboot2 } from './multiboot2.js';
import { loadPvh } from './pvh.js';
import type { LoadedGuest, Loader, LoadOptions } from './types.js';

export { detectFormat };

export const LOADERS: Record<GuestFormat, Loader> = {
  bootsector: loadBootSector,
  flat: loadFlat,
  elf32: loadElf32,
  elf64: loadElf64,
  multiboot: loadMultiboot,
  multiboot2: loadMultiboot2,
  bzimage: loadBzImage,
  pvh: loadPvh,
};

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
