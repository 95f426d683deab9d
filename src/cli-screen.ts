// `kvmdbg run`'s view of the guest's VGA text screen (typed keys: vmm/terminal-input.ts).
// On a terminal (ansi): the 80x25 screen drawn in the top 25 rows with the 16 VGA colours and
// the guest's cursor in reverse video, a rule under it, and the rows below a scroll region where
// the serial output goes on scrolling. Elsewhere (plain): each screen row whose text changed as a
// line "screen NN| text" (NN the row, 00-24, text without trailing spaces), and the cursor as
// "screen cursor| row R col C" (" hidden" added when it is off), so that the lines can't be
// taken for serial output. Nothing is shown until the guest uses the screen (screen.ts ScreenWatch).
import { CP437, rowText, type ScreenChange, type ScreenWatch, type TextScreen } from './vmm/screen.js';

export type DisplayMode = 'ansi' | 'plain';

/** VGA colour index → ANSI colour index (VGA: blue is 1 and red 4; ANSI the other way round). */
const ANSI_OF_VGA = [0, 4, 2, 6, 1, 5, 3, 7];
const ROWS = 25;
/** The terminal needs the screen, a rule, and a few rows of serial output. */
export const MIN_TERMINAL = { rows: ROWS + 4, cols: 80 };

function sgr(attr: number, blink: boolean, cursor: boolean): string {
  const fg = attr & 0x0f;
  let bg = (attr >> 4) & 0x0f;
  const codes = ['0'];
  if (blink && bg & 8) {
    codes.push('5');
    bg &= 7;
  }
  codes.push(String(fg < 8 ? 30 + ANSI_OF_VGA[fg] : 90 + ANSI_OF_VGA[fg - 8]));
  codes.push(String(bg < 8 ? 40 + ANSI_OF_VGA[bg] : 100 + ANSI_OF_VGA[bg - 8]));
  if (cursor) codes.push('7');
  return `\x1b[${codes.join(';')}m`;
}

/** One screen row with its colours as ANSI escapes; the cursor's cell in reverse video. */
export function ansiRow(s: TextScreen, row: number): string {
  let out = '';
  let last = '';
  for (let c = 0; c < s.cols; c++) {
    const i = (row * s.cols + c) * 2;
    const cursor = !s.cursor.hidden && s.cursor.row === row && s.cursor.col === c;
    const style = sgr(s.cells[i + 1], s.blink, cursor);
    if (style !== last) out += style;
    last = style;
    out += CP437[s.cells[i]];
  }
  return out + '\x1b[0m';
}

export class CliScreen {
  private mode: DisplayMode;
  private started = false;
  private printed: string[] = [];
  private cursorLine = '';
  private lastCursorRow = -1;

  /**
   * `write` puts text on the terminal (after the serial output written so far); `atLineStart`
   * says whether that output ended a line (plain lines never join a serial line); `size` is the
   * terminal's (ansi falls back to plain in a smaller one).
   */
  constructor(
    private readonly watch: ScreenWatch,
    mode: DisplayMode,
    private readonly write: (text: string) => void,
    private readonly atLineStart: () => boolean,
    private readonly size: () => { rows: number; cols: number } = () => ({ rows: 0, cols: 0 }),
  ) {
    this.mode = mode;
  }

  /** Whether the guest has used the screen (and so whether keys go to its keyboard in auto mode). */
  get inUse(): boolean {
    return this.watch.inUse;
  }

  /** Shows what changed since the last update (cheap when nothing did). */
  update(): void {
    const change = this.watch.poll();
    if (!change) return;
    if (this.mode === 'ansi') this.drawAnsi(change);
    else this.printPlain(change);
  }

  /** The last update, and the terminal's scroll region given back. */
  finish(): void {
    this.update();
    if (this.mode === 'ansi' && this.started) {
      const { rows } = this.size();
      this.write(`\x1b[r\x1b[${rows};1H\n`);
    }
  }

  private printPlain({ screen, rows }: ScreenChange): void {
    let out = '';
    for (const r of rows) {
      const text = rowText(screen, r).trimEnd();
      if (this.printed[r] === text) continue;
      if (this.printed[r] === undefined && text === '') {
        this.printed[r] = text;
        continue;
      }
      this.printed[r] = text;
      out += `screen ${String(r).padStart(2, '0')}| ${text}\n`;
    }
    const c = screen.cursor;
    const cursor = `screen cursor| row ${c.row} col ${c.col}${c.hidden ? ' hidden' : ''}\n`;
    if (cursor !== this.cursorLine) {
      this.cursorLine = cursor;
      out += cursor;
    }
    if (out) this.write((this.atLineStart() ? '' : '\n') + out);
  }

  private drawAnsi({ screen, rows }: ScreenChange): void {
    const size = this.size();
    if (!this.started) {
      if (size.rows < MIN_TERMINAL.rows || size.cols < MIN_TERMINAL.cols) {
        this.mode = 'plain';
        this.write(`${this.atLineStart() ? '' : '\n'}kvmdbg: the terminal is smaller than ${MIN_TERMINAL.cols}x${MIN_TERMINAL.rows}: the screen follows as text lines\n`);
        this.printPlain({ screen, rows });
        return;
      }
      this.started = true;
      // Clear, draw the rule, keep rows below it for the serial output.
      const rule = '\x1b[2m' + '─'.repeat(30) + ' serial (COM1) ' + '─'.repeat(35) + '\x1b[0m';
      this.write(`\x1b[2J\x1b[${ROWS + 1};1H${rule}\x1b[${ROWS + 2};${size.rows}r\x1b[${ROWS + 2};1H`);
    }
    const redraw = new Set(rows);
    if (this.lastCursorRow >= 0) redraw.add(this.lastCursorRow);
    redraw.add(screen.cursor.row);
    this.lastCursorRow = screen.cursor.row;
    let out = '\x1b7';
    for (const r of [...redraw].sort((a, b) => a - b)) out += `\x1b[${r + 1};1H${ansiRow(screen, r)}`;
    this.write(out + '\x1b8');
  }
}
