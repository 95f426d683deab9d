// What is typed on a terminal (the CLI's, or VS Code's serial terminal) and where it goes: the
// guest's UART as bytes, or its keyboard (i8042, IRQ 1) as scan codes of the keys those bytes
// stand for. A guest that uses the text screen reads the keyboard, one that prints on COM1 reads
// the serial port, so by default the keys follow the screen once the guest writes there.
import type { Machine } from './machine.js';

/** Where typed keys go: `auto` is the keyboard once the guest uses the text screen, else serial. */
export type KeysRoute = 'auto' | 'keyboard' | 'serial' | 'both';
export const KEYS_ROUTES: readonly KeysRoute[] = ['auto', 'keyboard', 'serial', 'both'];

/** Hands typed bytes to the guest as `route` says; `screenInUse`: the guest wrote the text screen. */
export function typeOnTerminal(machine: Machine, bytes: Uint8Array, route: KeysRoute, screenInUse: boolean): void {
  const toKeyboard = route === 'keyboard' || route === 'both' || (route === 'auto' && screenInUse);
  if (toKeyboard) machine.keyboard.pressKeys(...terminalKeys(bytes));
  if (!toKeyboard || route === 'both') machine.sendSerialInput(Buffer.from(bytes));
}

/** Escape sequences a terminal sends for keys, as key names (xterm and VT220 forms). */
const SEQUENCES: Record<string, string> = {
  '[A': 'Up', '[B': 'Down', '[C': 'Right', '[D': 'Left', '[H': 'Home', '[F': 'End', OH: 'Home', OF: 'End',
  OA: 'Up', OB: 'Down', OC: 'Right', OD: 'Left',
  '[1~': 'Home', '[2~': 'Insert', '[3~': 'Delete', '[4~': 'End', '[5~': 'PageUp', '[6~': 'PageDown',
  OP: 'F1', OQ: 'F2', OR: 'F3', OS: 'F4', '[11~': 'F1', '[12~': 'F2', '[13~': 'F3', '[14~': 'F4',
  '[15~': 'F5', '[17~': 'F6', '[18~': 'F7', '[19~': 'F8', '[20~': 'F9', '[21~': 'F10', '[23~': 'F11', '[24~': 'F12',
};

/**
 * Bytes typed on a terminal as key chords for I8042.pressKeys: printable ASCII as itself,
 * Enter, Tab, Backspace (DEL or BS), Escape, Ctrl+letter, arrows, Home/End, PageUp/PageDown,
 * Insert/Delete and F1-F12 from their escape sequences. Other bytes (UTF-8) are dropped.
 */
export function terminalKeys(bytes: Uint8Array): string[] {
  const keys: string[] = [];
  const text = Buffer.from(bytes).toString('latin1');
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    const code = ch.charCodeAt(0);
    if (code === 0x1b) {
      const rest = text.slice(i + 1);
      const seq = /^(\[\d*~|\[[A-H]|O[A-HP-S])/.exec(rest)?.[1];
      if (seq && SEQUENCES[seq]) {
        keys.push(SEQUENCES[seq]);
        i += seq.length;
      } else {
        keys.push('Escape');
      }
      continue;
    }
    if (code === 0x0d || code === 0x0a) keys.push('Enter');
    else if (code === 0x09) keys.push('Tab');
    else if (code === 0x7f || code === 0x08) keys.push('Backspace');
    else if (code === 0x20) keys.push('Space');
    else if (code >= 1 && code <= 26) keys.push(`Ctrl+${String.fromCharCode(code + 0x60)}`);
    else if (code > 0x20 && code < 0x7f) keys.push(ch);
  }
  return keys;
}
