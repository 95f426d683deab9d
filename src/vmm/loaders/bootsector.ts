// A boot sector: 512 bytes ending 55 AA, entered as a BIOS would: real mode, CS:IP 0000:7C00,
// DL = the boot drive. The image is the boot disk (firmware/disk.ts: a floppy, 00h, when it has
// a diskette's size, else a hard disk, 80h): only its first sector is loaded, and the guest
// reads the rest through the BIOS's int 13h (firmware/). With `wholeImage` the whole image is
// loaded at 0x7C00 too, as kvmdbg did before it had a BIOS.
import { GuestError, hex } from '../../errors.js';
import { BOOT_SECTOR_ADDR, LOW_MEMORY_END } from '../layout.js';
import { BootDisk, SECTOR } from '../firmware/disk.js';
import { isBootSector } from '../../formats/detect.js';
import type { LoadedGuest, Loader } from './types.js';

export const loadBootSector: Loader = (image, mem, opts): LoadedGuest => {
  if (!isBootSector(image)) {
    throw new GuestError(`${opts.fileName}: not a boot sector (needs at least 512 bytes with 55 AA at offset 510)`);
  }
  const disk = new BootDisk(image, opts.disk, opts.fileName);
  const loaded = opts.wholeImage ? image : image.subarray(0, SECTOR);
  const end = BOOT_SECTOR_ADDR + loaded.length;
  if (end > LOW_MEMORY_END) {
    throw new GuestError(
      `${opts.fileName}: ${image.length} bytes loaded at ${hex(BOOT_SECTOR_ADDR)} would run past ` +
      `conventional memory (${hex(LOW_MEMORY_END)}); a boot image may be at most ${LOW_MEMORY_END - BOOT_SECTOR_ADDR} bytes ` +
      'to be loaded whole (without the whole-image option only its first sector is)',
    );
  }
  mem.write(BOOT_SECTOR_ADDR, loaded);
  return {
    format: 'bootsector',
    entry: { mode: 'real', cs: 0, rip: BigInt(BOOT_SECTOR_ADDR), regs: { rdx: BigInt(disk.drive), rsp: 0x7c00n } },
    extent: { start: BOOT_SECTOR_ADDR, end },
    disk,
  };
};
