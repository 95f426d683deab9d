// A location or range list section, read where a list lies rather than whole: a kernel's
// .debug_loclists is 24 MB, and the locals at a stop read a few lists of some bytes each
// (reading it whole took 0.1 s on a 2-CPU host and 0.27 s in the test VM, at the first stop).
import type { ElfImage } from '../elf-file.js';
import { DwarfError } from './reader.js';

/** The first read around a list: lists are tens to hundreds of bytes. */
const FIRST_WINDOW = 4096;

export class ListSection {
  private constructor(private readonly data: Buffer, private readonly fill?: (start: number, end: number) => void) {}

  /** The section of that name, undefined where the file has none. */
  static of(elf: ElfImage, name: string): ListSection | undefined {
    const p = elf.sectionInPieces(name);
    return p && new ListSection(p.data, p.fill);
  }

  /**
   * `read(data)`, where `data` is the section from its start, holding what was read from the
   * file from `at` on. Lists have no length: where the read runs past what `data` holds (a
   * DwarfError), it is tried again over a window four times larger, up to the whole section, so
   * that an entry cut by the window is never taken for the section's end.
   */
  readAt<T>(at: number, read: (data: Buffer) => T): T {
    const fill = this.fill;
    if (!fill) return read(this.data);
    for (let n = FIRST_WINDOW; ; n *= 4) {
      const end = Math.min(this.data.length, at + n);
      fill(at, end);
      try {
        return read(this.data.subarray(0, end));
      } catch (e) {
        if (!(e instanceof DwarfError) || end === this.data.length) throw e;
      }
    }
  }
}
