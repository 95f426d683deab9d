// The VGA text screen as a value: the 80x25 cells shown (from guest RAM at 0xB8000, from the
// CRTC start address on) and the cursor, read without stopping the guest. ScreenWatch tells cheaply
// (one 4000-byte compare) whether it changed since last asked, and whether the guest uses the
// screen at all. screenText turns it into lines of Unicode (code page 437).
import {
  VGA_COLS, VGA_ROWS, VGA_PAGE_BYTES, VGA_TEXT_BASE, VGA_TEXT_WINDOW, type VgaText,
} from './devices/vga.js';

/** Guest memory as the screen reads it (GuestMemory fits). */
export interface ScreenMemory {
  view(gpa: number, len: number): Buffer;
}

export interface TextScreen {
  cols: number;
  rows: number;
  /** cols*rows cells as in video memory: character (code page 437) at 2i, attribute at 2i+1. */
  cells: Buffer;
  /** Where the cursor is on the screen; hidden when switched off or outside the shown page. */
  cursor: { row: number; col: number; hidden: boolean };
  /** Attribute bit 7 blinks (true) or selects a bright background (false). */
  blink: boolean;
}

/** A copy of the screen the guest shows now. */
export function readTextScreen(memory: ScreenMemory, vga: VgaText): TextScreen {
  const cells = Buffer.alloc(VGA_PAGE_BYTES);
  copyPage(memory, vga, cells);
  return { cols: VGA_COLS, rows: VGA_ROWS, cells, cursor: cursorOf(vga), blink: vga.blinkEnabled() };
}

function copyPage(memory: ScreenMemory, vga: VgaText, into: Buffer): void {
  const start = (vga.startAddress() * 2) % VGA_TEXT_WINDOW;
  const first = Math.min(VGA_PAGE_BYTES, VGA_TEXT_WINDOW - start);
  memory.view(VGA_TEXT_BASE + start, first).copy(into, 0);
  // A start address near the window's end wraps around to its beginning, as the CRTC counts.
  if (first < VGA_PAGE_BYTES) memory.view(VGA_TEXT_BASE, VGA_PAGE_BYTES - first).copy(into, first);
}

function cursorOf(vga: VgaText): TextScreen['cursor'] {
  const at = vga.cursorOffset() - vga.startAddress();
  const inside = at >= 0 && at < VGA_COLS * VGA_ROWS;
  const pos = inside ? at : 0;
  return { row: Math.floor(pos / VGA_COLS), col: pos % VGA_COLS, hidden: !inside || vga.cursorShape().hidden };
}

/** The character code and attribute at (row, col). */
export function cellAt(s: TextScreen, row: number, col: number): { char: number; attr: number } {
  const i = (row * s.cols + col) * 2;
  return { char: s.cells[i], attr: s.cells[i + 1] };
}

/** Code page 437 as Unicode; NUL and 0xFF read as spaces. */
export const CP437 =
  ' ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼' +
  ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~⌂' +
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»' +
  '░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀' +
  'αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■ ';

/** One row as Unicode text, all `cols` characters. */
export function rowText(s: TextScreen, row: number): string {
  let t = '';
  for (let c = 0; c < s.cols; c++) t += CP437[s.cells[(row * s.cols + c) * 2]];
  return t;
}

/** The screen as `rows` lines of Unicode text, trailing spaces removed. */
export function screenText(s: TextScreen): string[] {
  const lines: string[] = [];
  for (let r = 0; r < s.rows; r++) lines.push(rowText(s, r).trimEnd());
  return lines;
}

/**
 * Follows one machine's screen: `changed()` reads the page into a buffer kept for it and says
 * whether it (or the cursor) differs from the last call's; `inUse` turns true for good once the
 * page differs from what it held when the watch began, or the VGA says firmware or the guest used it.
 */
export class ScreenWatch {
  private readonly baseline: Buffer;
  private readonly page = Buffer.alloc(VGA_PAGE_BYTES);
  private last: Buffer | undefined;
  private lastCursor = '';
  private used = false;

  constructor(private readonly memory: ScreenMemory, private readonly vga: VgaText) {
    this.baseline = Buffer.alloc(VGA_PAGE_BYTES);
    copyPage(memory, vga, this.baseline);
  }

  get inUse(): boolean {
    if (!this.used) {
      copyPage(this.memory, this.vga, this.page);
      this.used = this.vga.used || !this.page.equals(this.baseline);
    }
    return this.used;
  }

  /** Whether the screen changed since the last call (the first call: whether it is in use). */
  changed(): boolean {
    if (!this.inUse) return false;
    copyPage(this.memory, this.vga, this.page);
    const c = cursorOf(this.vga);
    const cursor = `${c.row},${c.col},${c.hidden},${this.vga.blinkEnabled()}`;
    if (this.last && this.page.equals(this.last) && cursor === this.lastCursor) return false;
    this.last = Buffer.from(this.page);
    this.lastCursor = cursor;
    return true;
  }

  /** The screen now. */
  read(): TextScreen {
    return readTextScreen(this.memory, this.vga);
  }
}
