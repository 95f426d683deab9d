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

/** What changed since the last poll: the screen now and the rows that differ (all of them the first time). */
export interface ScreenChange {
  screen: TextScreen;
  rows: number[];
}

/**
 * Follows one machine's screen: `poll()` reads the page and the cursor and, when either differs
 * from the last poll, says what changed; the compare is one 4000-byte Buffer.equals. `inUse`
 * turns true for good once the page differs from what it held when the watch began, or the VGA
 * says firmware or the guest used it (a cursor write); until then poll() reports nothing.
 */
export class ScreenWatch {
  private readonly baseline = Buffer.alloc(VGA_PAGE_BYTES);
  private readonly page = Buffer.alloc(VGA_PAGE_BYTES);
  private last: TextScreen | undefined;
  private used = false;

  constructor(private readonly memory: ScreenMemory, private readonly vga: VgaText) {
    copyPage(memory, vga, this.baseline);
  }

  get inUse(): boolean {
    if (!this.used) {
      copyPage(this.memory, this.vga, this.page);
      this.used = this.vga.used || !this.page.equals(this.baseline);
    }
    return this.used;
  }

  /** The change since the last poll, or undefined when nothing changed (or the screen is unused). */
  poll(): ScreenChange | undefined {
    if (!this.inUse) return undefined;
    copyPage(this.memory, this.vga, this.page);
    const cursor = cursorOf(this.vga);
    const blink = this.vga.blinkEnabled();
    const last = this.last;
    if (last && this.page.equals(last.cells) && blink === last.blink && cursor.row === last.cursor.row &&
      cursor.col === last.cursor.col && cursor.hidden === last.cursor.hidden) return undefined;
    const screen: TextScreen = { cols: VGA_COLS, rows: VGA_ROWS, cells: Buffer.from(this.page), cursor, blink };
    const rows: number[] = [];
    const rowBytes = VGA_COLS * 2;
    for (let r = 0; r < VGA_ROWS; r++) {
      const a = r * rowBytes;
      if (!last || last.blink !== blink || this.page.compare(last.cells, a, a + rowBytes, a, a + rowBytes) !== 0) rows.push(r);
    }
    this.last = screen;
    return { screen, rows };
  }

  /** Forgets what was reported, so the next poll reports every row (a new viewer). */
  reset(): void {
    this.last = undefined;
  }

  /** The screen now. */
  read(): TextScreen {
    return readTextScreen(this.memory, this.vga);
  }
}
