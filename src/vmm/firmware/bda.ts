// What a BIOS leaves in low memory when it hands over to a boot sector, laid down by the monitor
// instead of by POST code: the interrupt vector table (0x000-0x3FF), the BIOS data area
// (0x400-0x4FF), the extended BIOS data area below 640 KiB, and the ROM (rom.ts) at 0xF0000.
import { LOW_MEMORY_END } from '../layout.js';
import { buildRom, DISKETTE_PARAMS, ROM_BASE, ROM_SEGMENT, SERVICE_VECTORS } from './rom.js';
import type { BootDisk } from './disk.js';

/** Guest memory as the firmware reads and writes it (GuestMemory fits; tests use a Buffer). */
export interface FirmwareMemory {
  view(gpa: number, len: number): Buffer;
}

/** BIOS data area fields, as linear addresses (segment 0040h). */
export const BDA = {
  com1: 0x400,
  ebdaSegment: 0x40e,
  equipment: 0x410,
  memoryKiB: 0x413,
  kbdFlags1: 0x417,
  kbdFlags2: 0x418,
  kbdHead: 0x41a,
  kbdTail: 0x41c,
  kbdRing: 0x41e,
  floppyStatus: 0x441,
  videoMode: 0x449,
  columns: 0x44a,
  pageSize: 0x44c,
  pageStart: 0x44e,
  cursorPos: 0x450, // 8 pages × (column, row)
  cursorShape: 0x460, // end line, then start line
  activePage: 0x462,
  crtcBase: 0x463,
  modeControl: 0x465,
  palette: 0x466,
  ticks: 0x46c,
  midnight: 0x470,
  diskStatus: 0x474,
  hardDisks: 0x475,
  kbdStart: 0x480,
  kbdEnd: 0x482,
  rowsMinus1: 0x484,
  charHeight: 0x485,
  videoFlags: 0x487,
  videoSwitches: 0x488,
  vgaFlags: 0x489,
  kbdFlags3: 0x496,
  kbdLeds: 0x497,
} as const;

/** The EBDA: 1 KiB just below 640 KiB, so conventional memory is 639 KiB. */
export const EBDA_ADDR = LOW_MEMORY_END - 1024;
export const CONVENTIONAL_KIB = EBDA_ADDR / 1024;
/** Ticks per day of the 18.2 Hz timer (0x1800B0), and per second. */
export const TICKS_PER_DAY = 0x1800b0;
export const TICKS_PER_SECOND = TICKS_PER_DAY / 86400;

/** A real-mode far pointer as the IVT holds it: offset, then segment. */
function far(mem: FirmwareMemory, at: number, seg: number, off: number): void {
  const b = mem.view(at, 4);
  b.writeUInt16LE(off, 0);
  b.writeUInt16LE(seg, 2);
}

export interface InstallOptions {
  /** The boot disk, if the guest has one (a boot sector); undefined for a flat real-mode image. */
  disk?: BootDisk;
  /** The host's time of day, for the tick count (default: now). */
  now?: Date;
}

/** Writes the ROM, IVT, BDA and EBDA into guest memory. */
export function installFirmware(mem: FirmwareMemory, opts: InstallOptions = {}): void {
  const rom = buildRom();
  mem.view(ROM_BASE, rom.image.length).set(rom.image);
  const o = rom.offsetOf;
  // IVT: every vector to an iret, then the ones with a handler.
  for (let v = 0; v < 256; v++) far(mem, v * 4, ROM_SEGMENT, o.bios_iret);
  far(mem, 0x08 * 4, ROM_SEGMENT, o.bios_irq0);
  far(mem, 0x09 * 4, ROM_SEGMENT, o.bios_irq1);
  for (let v = 0x0a; v <= 0x0f; v++) far(mem, v * 4, ROM_SEGMENT, o.bios_irq_master);
  for (let v = 0x70; v <= 0x77; v++) far(mem, v * 4, ROM_SEGMENT, o.bios_irq_slave);
  for (const [v] of SERVICE_VECTORS) far(mem, v * 4, ROM_SEGMENT, o[`bios_int${v.toString(16)}`]);
  // Data pointers, not code: video parameters (none), diskette parameters, graphics
  // characters (none), hard disk parameter tables (none).
  far(mem, 0x1d * 4, 0, 0);
  far(mem, 0x1e * 4, ROM_SEGMENT, DISKETTE_PARAMS);
  far(mem, 0x1f * 4, 0, 0);
  far(mem, 0x41 * 4, 0, 0);
  far(mem, 0x46 * 4, 0, 0);

  const bda = mem.view(0x400, 0x100);
  bda.fill(0);
  const w16 = (addr: number, v: number) => bda.writeUInt16LE(v, addr - 0x400);
  const w8 = (addr: number, v: number) => (bda[addr - 0x400] = v);
  w16(BDA.com1, 0x3f8);
  w16(BDA.ebdaSegment, EBDA_ADDR >> 4);
  const floppy = opts.disk?.kind === 'floppy';
  // Equipment: a diskette drive (bit 0, one drive: bits 6-7 = 0), x87 (bit 1), 80x25 colour
  // (bits 4-5 = 10b), one serial port (bits 9-11).
  w16(BDA.equipment, (floppy ? 0x0001 : 0) | 0x0002 | (2 << 4) | (1 << 9));
  w16(BDA.memoryKiB, CONVENTIONAL_KIB);
  w16(BDA.kbdHead, BDA.kbdRing - 0x400);
  w16(BDA.kbdTail, BDA.kbdRing - 0x400);
  w16(BDA.kbdStart, BDA.kbdRing - 0x400);
  w16(BDA.kbdEnd, BDA.kbdRing - 0x400 + 32);
  w8(BDA.videoMode, 0x03);
  w16(BDA.columns, 80);
  w16(BDA.pageSize, 0x1000);
  w16(BDA.cursorShape, 0x0607);
  w16(BDA.crtcBase, 0x3d4);
  w8(BDA.modeControl, 0x29);
  w8(BDA.palette, 0x30);
  const now = opts.now ?? new Date();
  const seconds = now.getHours() * 3600 + now.getMinutes() * 60 + now.getSeconds();
  bda.writeUInt32LE(Math.floor(seconds * TICKS_PER_SECOND) % TICKS_PER_DAY, BDA.ticks - 0x400);
  w8(BDA.hardDisks, opts.disk?.kind === 'hdd' ? 1 : 0);
  w8(BDA.rowsMinus1, 24);
  w16(BDA.charHeight, 16);
  w8(BDA.videoFlags, 0x60);
  w8(BDA.videoSwitches, 0x09);
  w8(BDA.vgaFlags, 0x11);
  w8(BDA.kbdFlags3, 0x10); // an enhanced (101/102-key) keyboard
  const ebda = mem.view(EBDA_ADDR, 1024);
  ebda.fill(0);
  ebda[0] = 1; // its size in KiB
  // The text screen starts blank (grey on black), as after a BIOS's mode set.
  const screen = mem.view(0xb8000, 0x8000);
  for (let i = 0; i < screen.length; i += 2) screen.writeUInt16LE(0x0720, i);
}

/** Whether a guest image at [start, end) leaves the IVT, BDA, EBDA and ROM alone (else no BIOS). */
export function firmwareFits(extent: { start: number; end: number }): boolean {
  return extent.start >= 0x500 && extent.end <= EBDA_ADDR;
}
