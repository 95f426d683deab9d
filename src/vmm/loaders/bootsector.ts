// A boot sector: 512 bytes ending 55 AA, entered as a BIOS would: real mode, CS:IP 0000:7C00,
// DL = 0x80 (first hard disk). kvmdbg has no BIOS disk services, so an image longer than one
// sector is loaded whole at 0x7C00, as if the BIOS (or a first-stage loader) had read it.
import { GuestError, hex } from '../../errors.js';
import { BOOT_SECTOR_ADDR, LOW_MEMORY_END } from '../layout.js';
import type { LoadedGuest, Loader } from './types.js';

export function isBootSector(image: Buffer): boolean {
  return image.length >= 512 && image[510] === 0x55 && image[511] === 0xaa;
}

export const loadBootSector: Loader = (image, mem, opts): LoadedGuest => {
  if (!isBootSector(image)) {
    throw new GuestError(`${opts.fileName}: not a boot sector (needs at least 512 bytes with 55 AA at offset 510)`);
  }
  const end = BOOT_SECTOR_ADDR + image.length;
  if (end > LOW_MEMORY_END) {
    throw new GuestError(
      `${opts.fileName}: ${image.length} bytes loaded at ${hex(BOOT_SECTOR_ADDR)} would run past ` +
      `conventional memory (${hex(LOW_MEMORY_END)}); a boot image may be at most ${LOW_MEMORY_END - BOOT_SECTOR_ADDR} bytes`,
    );
  }
  mem.write(BOOT_SECTOR_ADDR, image);
  return {
    format: 'bootsector',
    entry: { mode: 'real', cs: 0, rip: BigInt(BOOT_SECTOR_ADDR), regs: { rdx: 0x80n, rsp: 0x7c00n } },
    extent: { start: BOOT_SECTOR_ADDR, end },
  };
};
