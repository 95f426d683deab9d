// What every loader takes and gives back.
import type { GuestMemory } from '../memory.js';
import type { Regs } from '../vcpu.js';
import type { GuestFormat } from '../../formats/detect.js';
import type { BootDisk, DiskKind } from '../firmware/disk.js';
import type { GdtLayout } from '../arch/gdt.js';

// The formats are told apart from the bytes in src/formats, which the extension shares.
export { GUEST_FORMATS, type GuestFormat } from '../../formats/detect.js';

export type CpuMode = 'real' | 'protected' | 'long';

/** The CPU state a loader's specification defines at entry. entry-state.ts turns it into registers. */
export interface EntryState {
  mode: CpuMode;
  /** Instruction pointer: an offset in CS for real mode, a linear address otherwise. */
  rip: bigint;
  /** Real mode only: the code segment (CS:IP). Data segments and SS start at 0. */
  cs?: number;
  /** Further general registers the specification sets (EAX magic, EBX info, DL drive, ...). */
  regs?: Partial<Regs>;
  /** A GDT the specification prescribes (Linux's 64-bit entry); kvmdbg's own (gdt.ts) otherwise. */
  gdt?: GdtLayout;
}

/** A Linux bzImage's entry points: the 32-bit one at code32_start, the 64-bit one 0x200 after it. */
export type BootEntry = 32 | 64;
export const BOOT_ENTRIES: readonly BootEntry[] = [32, 64];

export interface Module {
  path: string;
  args: string;
  data: Buffer;
}

export interface LoadOptions {
  /** Forces a format instead of detecting it from the content. */
  format?: GuestFormat;
  /** The file name, for error messages. */
  fileName: string;
  cmdline: string;
  modules: Module[];
  /** Flat binaries: where to load, where to enter, in which mode. */
  loadAddress?: number;
  entry?: number;
  mode?: CpuMode;
  /** Boot sectors: the disk int 13h serves (default by image size), and whether to load the whole image. */
  disk?: DiskKind;
  wholeImage?: boolean;
  /** Linux bzImage: which boot protocol entry (default 32, bzimage.ts says why). */
  bootEntry?: BootEntry;
}

export interface LoadedGuest {
  format: GuestFormat;
  entry: EntryState;
  /** Guest-physical ranges the image occupies, for messages and for placing modules. */
  extent: { start: number; end: number };
  /** A boot sector's disk: the image, read through the BIOS's int 13h. */
  disk?: BootDisk;
}

export type Loader = (image: Buffer, mem: GuestMemory, opts: LoadOptions) => LoadedGuest;
