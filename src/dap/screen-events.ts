// The guest's VGA text screen as kvm.screen events: the rows that changed since the last event
// and the cursor, checked every 50 ms while the session lives (the run loop yields to the event
// loop between time slices, so this runs while the guest does) and at every stop. A check is
// one 4000-byte compare (screen.ts ScreenWatch); nothing is sent until the guest uses the screen.
import type { Machine } from '../vmm/machine.js';
import { ScreenWatch, rowText, type TextScreen } from '../vmm/screen.js';
import type { ScreenBody, ScreenRow } from '../protocol.js';

export const SCREEN_INTERVAL_MS = 50;

function row(s: TextScreen, r: number): ScreenRow {
  const at = r * s.cols * 2;
  const attrs = Buffer.alloc(s.cols);
  for (let c = 0; c < s.cols; c++) attrs[c] = s.cells[at + c * 2 + 1];
  return { row: r, text: rowText(s, r), attrs: attrs.toString('base64') };
}

/** A screen as the wire carries it, with the rows named (all of them by default). */
export function screenBody(s: TextScreen, rows: readonly number[] = [...Array(s.rows).keys()]): ScreenBody {
  return { cols: s.cols, rows: s.rows, changed: rows.map((r) => row(s, r)), cursor: { ...s.cursor }, blink: s.blink };
}

export class ScreenEvents {
  private readonly watch: ScreenWatch;
  private readonly timer: NodeJS.Timeout;

  constructor(machine: Machine, private readonly send: (body: ScreenBody) => void) {
    this.watch = new ScreenWatch(machine.vm.memory, machine.vga);
    this.timer = setInterval(() => this.check(), SCREEN_INTERVAL_MS);
    this.timer.unref();
  }

  /** Sends what changed, if anything did (at a stop, and from the timer). */
  check(): void {
    const change = this.watch.poll();
    if (change) this.send(screenBody(change.screen, change.rows));
  }

  /** The whole screen (for a view that opens late). */
  full(): ScreenBody {
    return screenBody(this.watch.read());
  }

  get inUse(): boolean {
    return this.watch.inUse;
  }

  dispose(): void {
    clearInterval(this.timer);
  }
}
