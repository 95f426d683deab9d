// TEMPORARY minimal detection (boot sector / flat); the full version replaces this file.
import { GuestError } from '../errors.js';
import type { GuestMemory } from '../memory.js';
import type { LoadOptions, LoadedGuest } from './types.js';
import { isBootSector, loadBootSector } from './bootsector.js';
import { loadFlat } from './flat.js';

export function loadGuest(image: Buffer, mem: GuestMemory, opts: LoadOptions): LoadedGuest {
  if (opts.format === 'flat') return loadFlat(image, mem, opts);
  if (isBootSector(image)) return loadBootSector(image, mem, opts);
  throw new GuestError(`${opts.fileName}: unknown format`);
}
