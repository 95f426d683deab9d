// The boot disk behind int 13h: a copy of the program image in memory (the guest's writes change
// the copy, never the file), with the geometry a BIOS would give it. A floppy (drive 00h) when the
// image has a standard diskette size or when asked for; otherwise a hard disk (drive 80h) of
// 16 heads and 63 sectors per track, with as many cylinders as the image needs.
import { GuestError } from '../../errors.js';

export type DiskKind = 'floppy' | 'hdd';

export interface Geometry {
  cylinders: number;
  heads: number;
  sectors: number;
}

export const SECTOR = 512;

/** Standard diskettes by size: geometry and the drive type int 13h AH=08h reports in BL. */
const FLOPPIES: readonly { bytes: number; g: Geometry; type: number }[] = [
  { bytes: 163840, g: { cylinders: 40, heads: 1, sectors: 8 }, type: 1 },
  { bytes: 184320, g: { cylinders: 40, heads: 1, sectors: 9 }, type: 1 },
  { bytes: 327680, g: { cylinders: 40, heads: 2, sectors: 8 }, type: 1 },
  { bytes: 368640, g: { cylinders: 40, heads: 2, sectors: 9 }, type: 1 },
  { bytes: 737280, g: { cylinders: 80, heads: 2, sectors: 9 }, type: 3 },
  { bytes: 1228800, g: { cylinders: 80, heads: 2, sectors: 15 }, type: 2 },
  { bytes: 1474560, g: { cylinders: 80, heads: 2, sectors: 18 }, type: 4 },
  { bytes: 2949120, g: { cylinders: 80, heads: 2, sectors: 36 }, type: 6 },
];
const FLOPPY_144 = FLOPPIES[6];
const FLOPPY_288 = FLOPPIES[7];
const HDD_HEADS = 16;
const HDD_SECTORS = 63;

export class BootDisk {
  readonly kind: DiskKind;
  /** The BIOS drive number: 00h (first floppy) or 80h (first hard disk). */
  readonly drive: number;
  readonly geometry: Geometry;
  /** Floppy drive type for int 13h AH=08h BL (0 for a hard disk). */
  readonly floppyType: number;
  /**
   * The disk's contents: a copy of the image; the rest of the geometry reads as zeros, and is
   * allocated only when the guest writes there.
   */
  private bytes: Buffer;

  constructor(image: Uint8Array, kind?: DiskKind, fileName = 'the image') {
    this.kind = kind ?? (FLOPPIES.some((f) => f.bytes === image.length) ? 'floppy' : 'hdd');
    if (this.kind === 'floppy') {
      const f = FLOPPIES.find((x) => x.bytes === image.length) ??
        (image.length <= FLOPPY_144.bytes ? FLOPPY_144 : image.length <= FLOPPY_288.bytes ? FLOPPY_288 : undefined);
      if (!f) throw new GuestError(`${fileName}: ${image.length} bytes do not fit on a floppy (2.88 MB at most); use --disk hdd`);
      this.geometry = f.g;
      this.floppyType = f.type;
      this.drive = 0x00;
    } else {
      const perCylinder = HDD_HEADS * HDD_SECTORS * SECTOR;
      const cylinders = Math.max(1, Math.ceil(image.length / perCylinder));
      this.geometry = { cylinders, heads: HDD_HEADS, sectors: HDD_SECTORS };
      this.floppyType = 0;
      this.drive = 0x80;
    }
    this.bytes = Buffer.alloc(Math.ceil(image.length / SECTOR) * SECTOR);
    this.bytes.set(image);
  }

  /** `count` sectors from `lba` (within the disk), as a copy. */
  read(lba: number, count: number): Buffer {
    const out = Buffer.alloc(count * SECTOR);
    this.bytes.copy(out, 0, Math.min(lba * SECTOR, this.bytes.length), Math.min((lba + count) * SECTOR, this.bytes.length));
    return out;
  }

  /** Writes whole sectors at `lba` (within the disk) into the copy. */
  write(lba: number, data: Uint8Array): void {
    const end = lba * SECTOR + data.length;
    if (end > this.bytes.length) {
      const grown = Buffer.alloc(this.totalSectors * SECTOR);
      this.bytes.copy(grown);
      this.bytes = grown;
    }
    this.bytes.set(data, lba * SECTOR);
  }

  /** Sectors on the disk. */
  get totalSectors(): number {
    const g = this.geometry;
    return g.cylinders * g.heads * g.sectors;
  }

  /** The LBA of a CHS address, or undefined outside the geometry (sector numbers start at 1). */
  lba(c: number, h: number, s: number): number | undefined {
    const g = this.geometry;
    if (s < 1 || s > g.sectors || h >= g.heads || c >= g.cylinders) return undefined;
    return (c * g.heads + h) * g.sectors + s - 1;
  }

  sector(lba: number): Buffer {
    return this.read(lba, 1);
  }
}
