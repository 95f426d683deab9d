// A flat binary: the bytes at --load-address, entered at --entry (default: the load address) in
// --mode real, protected or long (default real below 1 MiB, else protected).
import { GuestError, hex } from '../../errors.js';
import type { LoadedGuest, Loader } from './types.js';

export const loadFlat: Loader = (image, mem, opts): LoadedGuest => {
  const at = opts.loadAddress ?? 0x100000;
  const entry = opts.entry ?? at;
  const mode = opts.mode ?? (at + image.length <= 0x100000 ? 'real' : 'protected');
  if (!mem.contains(at, image.length)) {
    throw new GuestError(
      `${opts.fileName}: ${image.length} bytes at ${hex(at)} do not fit in guest memory (${mem.describe()}); ` +
      `give more --memory or another --load-address`,
    );
  }
  mem.write(at, image);
  if (mode === 'real') {
    if (entry > 0xfffff) throw new GuestError(`--entry ${hex(entry)} is beyond real mode's 1 MiB`);
    // CS:IP with the smallest offset, so code at any address below 1 MiB can run.
    const cs = (entry >> 4) & 0xf000;
    return {
      format: 'flat',
      entry: { mode, cs, rip: BigInt(entry - cs * 16) },
      extent: { start: at, end: at + image.length },
    };
  }
  return { format: 'flat', entry: { mode, rip: BigInt(entry) }, extent: { start: at, end: at + image.length } };
};
