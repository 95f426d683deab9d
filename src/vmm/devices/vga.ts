// A VGA card's registers in text mode 03h (80x25, 16 colours). The text itself is guest RAM at
// 0xB8000 (memory.ts maps the whole first MiB as RAM), read by screen.ts; this device holds what a
// guest programs through ports: the CRT controller (cursor shape and location, start address),
// the sequencer, the graphics controller, the attribute controller, the DAC and the misc output
// register, each stored and read back. Input status 1 (0x3DA) runs through display-enable and
// vertical-retrace phases read by read, so a guest that waits for the retrace makes progress.
// With the misc output register's I/O address select bit clear the CRTC and input status 1
// answer at 0x3B4/0x3B5/0x3BA (monochrome) instead of 0x3D4/0x3D5/0x3DA, as on a real card.
import type { PioDevice } from './bus.js';

/** Guest-physical address of the colour text buffer (32 KiB window 0xB8000-0xBFFFF). */
export const VGA_TEXT_BASE = 0xb8000;
export const VGA_TEXT_WINDOW = 0x8000;
export const VGA_COLS = 80;
export const VGA_ROWS = 25;
/** Bytes of one 80x25 page: a character and an attribute per cell. */
export const VGA_PAGE_BYTES = VGA_COLS * VGA_ROWS * 2;

/** The port ranges a VGA card decodes: [first port, count]. */
export const VGA_PORT_RANGES: readonly (readonly [number, number])[] = [
  [0x3b4, 2], [0x3ba, 1], [0x3c0, 16], [0x3d4, 2], [0x3da, 1],
];

export const CRTC = {
  cursorStart: 0x0a,
  cursorEnd: 0x0b,
  startHigh: 0x0c,
  startLow: 0x0d,
  cursorHigh: 0x0e,
  cursorLow: 0x0f,
} as const;
/** CRTC register 0x0A bit 5: the cursor is off. */
export const CURSOR_DISABLE = 0x20;
/** Attribute controller mode register (0x10) bit 3: attribute bit 7 blinks (else: bright background). */
export const ATTR_MODE_BLINK = 0x08;

/** Mode 03h as the VGA BIOS programs it. */
const CRTC_03H = [
  0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00, 0x00, 0x00, 0x00,
  0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff,
];
const SEQ_03H = [0x03, 0x00, 0x03, 0x00, 0x02];
const GC_03H = [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff];
const ATTR_03H = [
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f,
  0x0c, 0x00, 0x0f, 0x08, 0x00,
];
const MISC_03H = 0x67;
const MISC_IO_COLOR = 0x01;

export class VgaText implements PioDevice {
  readonly name = 'vga';
  private crtcIndex = 0;
  readonly crtc = new Uint8Array(256);
  private seqIndex = 0;
  readonly seq = new Uint8Array(8);
  private gcIndex = 0;
  readonly gc = new Uint8Array(16);
  /** Attribute controller: index (with the palette-address-source bit 5) and 32 registers. */
  private attrIndex = 0x20;
  readonly attr = new Uint8Array(32);
  /** false: the next 0x3C0 write is an index; true: data. Reset by reading input status 1. */
  private attrFlipFlop = false;
  private misc = MISC_03H;
  private featureControl = 0;
  private vgaEnable = 1;
  private pelMask = 0xff;
  /** DAC: 256 entries of 6-bit R, G, B. */
  readonly dac = new Uint8Array(256 * 3);
  private dacReadIndex = 0;
  private dacWriteIndex = 0;
  /** Which of R, G, B the next 0x3C9 access is. */
  private dacComponent = 0;
  private dacReading = false;
  private statusReads = 0;
  /** Set by a guest writing the cursor location, or by firmware (markUsed): the screen is in use. */
  used = false;

  constructor() {
    this.crtc.set(CRTC_03H);
    this.seq.set(SEQ_03H);
    this.gc.set(GC_03H);
    this.attr.set(ATTR_03H);
    // The EGA palette in the first 64 DAC entries (what the attribute registers index).
    for (let i = 0; i < 64; i++) {
      this.dac[i * 3] = ((i >> 2) & 1) * 0x2a + ((i >> 5) & 1) * 0x15;
      this.dac[i * 3 + 1] = ((i >> 1) & 1) * 0x2a + ((i >> 4) & 1) * 0x15;
      this.dac[i * 3 + 2] = (i & 1) * 0x2a + ((i >> 3) & 1) * 0x15;
    }
  }

  // --- the API firmware and the screen snapshot use ----------------------------------------

  /** The cursor location: a character offset from the start of video memory (CRTC 0x0E/0x0F). */
  cursorOffset(): number {
    return (this.crtc[CRTC.cursorHigh] << 8) | this.crtc[CRTC.cursorLow];
  }

  setCursorOffset(offset: number): void {
    this.crtc[CRTC.cursorHigh] = (offset >> 8) & 0xff;
    this.crtc[CRTC.cursorLow] = offset & 0xff;
  }

  /** Scan lines of the cursor (CRTC 0x0A/0x0B, 0-31) and whether it is off (0x0A bit 5). */
  cursorShape(): { start: number; end: number; hidden: boolean } {
    return {
      start: this.crtc[CRTC.cursorStart] & 0x1f,
      end: this.crtc[CRTC.cursorEnd] & 0x1f,
      hidden: (this.crtc[CRTC.cursorStart] & CURSOR_DISABLE) !== 0,
    };
  }

  /** As INT 10h AH=01h: `start` is CH (bit 5 hides the cursor), `end` is CL. */
  setCursorShape(start: number, end: number): void {
    this.crtc[CRTC.cursorStart] = (this.crtc[CRTC.cursorStart] & 0xc0) | (start & 0x3f);
    this.crtc[CRTC.cursorEnd] = (this.crtc[CRTC.cursorEnd] & 0xe0) | (end & 0x1f);
  }

  /** The first character shown, as an offset in characters (CRTC 0x0C/0x0D). */
  startAddress(): number {
    return (this.crtc[CRTC.startHigh] << 8) | this.crtc[CRTC.startLow];
  }

  /** Whether attribute bit 7 means blink (the default) rather than a bright background. */
  blinkEnabled(): boolean {
    return (this.attr[0x10] & ATTR_MODE_BLINK) !== 0;
  }

  /** Firmware that writes the screen says so: the CLI and the debugger then show it. */
  markUsed(): void {
    this.used = true;
  }

  // --- ports ---------------------------------------------------------------------------------

  read(port: number, size: number): number {
    let v = 0;
    for (let i = 0; i < size; i++) v |= this.readByte(port + i) << (8 * i);
    return v >>> 0;
  }

  write(port: number, size: number, value: number): void {
    for (let i = 0; i < size; i++) this.writeByte(port + i, (value >>> (8 * i)) & 0xff);
  }

  private get color(): boolean {
    return (this.misc & MISC_IO_COLOR) !== 0;
  }

  /** The CRTC and input status 1 answer at 0x3Dx in colour mode, 0x3Bx in monochrome mode. */
  private crtcBlock(port: number): number | undefined {
    if (port >= 0x3d0 && port <= 0x3df) return this.color ? port - 0x3d0 : undefined;
    if (port >= 0x3b0 && port <= 0x3bf) return this.color ? undefined : port - 0x3b0;
    return undefined;
  }

  private readByte(port: number): number {
    const block = this.crtcBlock(port);
    if (block !== undefined) {
      if (block === 4) return this.crtcIndex;
      if (block === 5) return this.crtc[this.crtcIndex];
      if (block === 0x0a) return this.inputStatus1();
      return 0xff;
    }
    switch (port) {
      case 0x3c0: return this.attrIndex;
      case 0x3c1: return this.attr[this.attrIndex & 0x1f];
      case 0x3c2: return 0x10; // input status 0: switch sense
      case 0x3c3: return this.vgaEnable;
      case 0x3c4: return this.seqIndex;
      case 0x3c5: return this.seq[this.seqIndex];
      case 0x3c6: return this.pelMask;
      case 0x3c7: return this.dacReading ? 0x03 : 0x00;
      case 0x3c8: return this.dacWriteIndex;
      case 0x3c9: {
        const v = this.dac[this.dacReadIndex * 3 + this.dacComponent];
        if (++this.dacComponent === 3) {
          this.dacComponent = 0;
          this.dacReadIndex = (this.dacReadIndex + 1) & 0xff;
        }
        return v;
      }
      case 0x3ca: return this.featureControl;
      case 0x3cc: return this.misc;
      case 0x3ce: return this.gcIndex;
      case 0x3cf: return this.gc[this.gcIndex];
    }
    return 0xff;
  }

  private writeByte(port: number, v: number): void {
    const block = this.crtcBlock(port);
    if (block !== undefined) {
      if (block === 4) this.crtcIndex = v;
      else if (block === 5) {
        this.crtc[this.crtcIndex] = v;
        if (this.crtcIndex === CRTC.cursorHigh || this.crtcIndex === CRTC.cursorLow) this.used = true;
      } else if (block === 0x0a) this.featureControl = v;
      return;
    }
    switch (port) {
      case 0x3c0:
        if (!this.attrFlipFlop) this.attrIndex = v & 0x3f;
        else this.attr[this.attrIndex & 0x1f] = v;
        this.attrFlipFlop = !this.attrFlipFlop;
        return;
      case 0x3c2: this.misc = v; return;
      case 0x3c3: this.vgaEnable = v & 1; return;
      case 0x3c4: this.seqIndex = v & 0x07; return;
      case 0x3c5: this.seq[this.seqIndex] = v; return;
      case 0x3c6: this.pelMask = v; return;
      case 0x3c7: this.dacReadIndex = v; this.dacComponent = 0; this.dacReading = true; return;
      case 0x3c8: this.dacWriteIndex = v; this.dacComponent = 0; this.dacReading = false; return;
      case 0x3c9:
        this.dac[this.dacWriteIndex * 3 + this.dacComponent] = v & 0x3f;
        if (++this.dacComponent === 3) {
          this.dacComponent = 0;
          this.dacWriteIndex = (this.dacWriteIndex + 1) & 0xff;
        }
        return;
      case 0x3ce: this.gcIndex = v & 0x0f; return;
      case 0x3cf: this.gc[this.gcIndex] = v; return;
    }
  }

  /**
   * Input status 1: bit 0 (display disabled: blanking) and bit 3 (vertical retrace) run through
   * active display, horizontal blank, vertical retrace, blank, one phase per read. Reading it
   * also resets the attribute controller's flip-flop to "index".
   */
  private inputStatus1(): number {
    this.attrFlipFlop = false;
    const phase = this.statusReads++ & 3;
    return phase === 0 ? 0x00 : phase === 2 ? 0x09 : 0x01;
  }
}
