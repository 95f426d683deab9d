// Keys as a PC keyboard sends them: scan code set 1 (what a PC's guest reads from port 0x60
// with the controller translating) and set 2 (what the keyboard itself sends), make and break.
// Text and named keys become key strokes here; the i8042 (i8042.ts) delivers the bytes.
import { GuestError } from '../../errors.js';

interface Key {
  /** Set 1 make code (break: | 0x80). */
  set1: number;
  /** Set 2 make code (break: 0xF0 then the code). */
  set2: number;
  /** Both sets prefix make and break with 0xE0. */
  e0?: boolean;
}

const k = (set1: number, set2: number, e0 = false): Key => ({ set1, set2, e0 });

/** Every key by its canonical lower-case name. */
const KEYS: Record<string, Key> = {
  escape: k(0x01, 0x76), '1': k(0x02, 0x16), '2': k(0x03, 0x1e), '3': k(0x04, 0x26), '4': k(0x05, 0x25),
  '5': k(0x06, 0x2e), '6': k(0x07, 0x36), '7': k(0x08, 0x3d), '8': k(0x09, 0x3e), '9': k(0x0a, 0x46),
  '0': k(0x0b, 0x45), '-': k(0x0c, 0x4e), '=': k(0x0d, 0x55), backspace: k(0x0e, 0x66), tab: k(0x0f, 0x0d),
  q: k(0x10, 0x15), w: k(0x11, 0x1d), e: k(0x12, 0x24), r: k(0x13, 0x2d), t: k(0x14, 0x2c), y: k(0x15, 0x35),
  u: k(0x16, 0x3c), i: k(0x17, 0x43), o: k(0x18, 0x44), p: k(0x19, 0x4d), '[': k(0x1a, 0x54), ']': k(0x1b, 0x5b),
  enter: k(0x1c, 0x5a), ctrl: k(0x1d, 0x14), a: k(0x1e, 0x1c), s: k(0x1f, 0x1b), d: k(0x20, 0x23),
  f: k(0x21, 0x2b), g: k(0x22, 0x34), h: k(0x23, 0x33), j: k(0x24, 0x3b), k: k(0x25, 0x42), l: k(0x26, 0x4b),
  ';': k(0x27, 0x4c), "'": k(0x28, 0x52), '`': k(0x29, 0x0e), shift: k(0x2a, 0x12), '\\': k(0x2b, 0x5d),
  z: k(0x2c, 0x1a), x: k(0x2d, 0x22), c: k(0x2e, 0x21), v: k(0x2f, 0x2a), b: k(0x30, 0x32), n: k(0x31, 0x31),
  m: k(0x32, 0x3a), ',': k(0x33, 0x41), '.': k(0x34, 0x49), '/': k(0x35, 0x4a), rshift: k(0x36, 0x59),
  'kp*': k(0x37, 0x7c), alt: k(0x38, 0x11), space: k(0x39, 0x29), capslock: k(0x3a, 0x58),
  f1: k(0x3b, 0x05), f2: k(0x3c, 0x06), f3: k(0x3d, 0x04), f4: k(0x3e, 0x0c), f5: k(0x3f, 0x03),
  f6: k(0x40, 0x0b), f7: k(0x41, 0x83), f8: k(0x42, 0x0a), f9: k(0x43, 0x01), f10: k(0x44, 0x09),
  numlock: k(0x45, 0x77), scrolllock: k(0x46, 0x7e), kp7: k(0x47, 0x6c), kp8: k(0x48, 0x75), kp9: k(0x49, 0x7d),
  'kp-': k(0x4a, 0x7b), kp4: k(0x4b, 0x6b), kp5: k(0x4c, 0x73), kp6: k(0x4d, 0x74), 'kp+': k(0x4e, 0x79),
  kp1: k(0x4f, 0x69), kp2: k(0x50, 0x72), kp3: k(0x51, 0x7a), kp0: k(0x52, 0x70), 'kp.': k(0x53, 0x71),
  f11: k(0x57, 0x78), f12: k(0x58, 0x07),
  up: k(0x48, 0x75, true), down: k(0x50, 0x72, true), left: k(0x4b, 0x6b, true), right: k(0x4d, 0x74, true),
  home: k(0x47, 0x6c, true), end: k(0x4f, 0x69, true), pageup: k(0x49, 0x7d, true), pagedown: k(0x51, 0x7a, true),
  insert: k(0x52, 0x70, true), delete: k(0x53, 0x71, true), rctrl: k(0x1d, 0x14, true), ralt: k(0x38, 0x11, true),
  kpenter: k(0x1c, 0x5a, true), 'kp/': k(0x35, 0x4a, true), win: k(0x5b, 0x1f, true), rwin: k(0x5c, 0x27, true),
  menu: k(0x5d, 0x2f, true),
};

const ALIASES: Record<string, string> = {
  esc: 'escape', return: 'enter', bs: 'backspace', del: 'delete', ins: 'insert', pgup: 'pageup', pgdn: 'pagedown',
  control: 'ctrl', lctrl: 'ctrl', lshift: 'shift', lalt: 'alt', altgr: 'ralt', ' ': 'space', lwin: 'win',
  meta: 'win', super: 'win', minus: '-', plus: '=', comma: ',', period: '.', slash: '/',
};

/** Characters typed with shift held, by the key that types them. */
const SHIFTED: Record<string, string> = {
  '!': '1', '@': '2', '#': '3', $: '4', '%': '5', '^': '6', '&': '7', '*': '8', '(': '9', ')': '0',
  _: '-', '+': '=', '{': '[', '}': ']', ':': ';', '"': "'", '~': '`', '|': '\\', '<': ',', '>': '.', '?': '/',
};

/** One key press: the keys held (modifiers first) and released in reverse order. */
export type Chord = readonly string[];

function keyName(name: string): string {
  const low = name.toLowerCase();
  const n = ALIASES[low] ?? low;
  if (!KEYS[n]) throw new GuestError(`unknown key "${name}" (names: letters, digits, punctuation, Enter, Escape, Backspace, Tab, Space, Up, Down, Left, Right, Home, End, PageUp, PageDown, Insert, Delete, F1-F12, Ctrl, Shift, Alt)`);
  return n;
}

/** "Ctrl+Alt+Delete", "Up", "a", "A" (shift+a), "!" → the keys of the chord, modifiers first. */
export function parseChord(text: string): Chord {
  // A lone "+" is the key itself; "Ctrl++" is Ctrl and "+".
  const parts = text === '+' ? ['+'] : text.endsWith('++') ? [...text.slice(0, -2).split('+'), '+'] : text.split('+');
  const keys: string[] = [];
  for (const [i, p] of parts.entries()) {
    if (i < parts.length - 1) keys.push(keyName(p));
    // After a modifier a letter names its key ("Ctrl+C" is Ctrl and c); alone, "C" is Shift+c.
    else keys.push(...(parts.length > 1 && /^[a-z]$/i.test(p) ? [p.toLowerCase()] : charChord(p)));
  }
  return keys;
}

/** A key name or a single printable character, with shift added where the character needs it. */
function charChord(p: string): string[] {
  if (p.length === 1) {
    if (p >= 'A' && p <= 'Z') return ['shift', p.toLowerCase()];
    if (SHIFTED[p]) return ['shift', SHIFTED[p]];
  }
  return [keyName(p)];
}

/**
 * Text as chords: printable ASCII as the keys that type it, \n and \r Enter, \b Backspace, \t Tab,
 * \x1b Escape, other control characters Ctrl+letter; `{Name}` a named key or chord ("{Up}",
 * "{F1}", "{Ctrl+C}"). A "{" that does not start a known key name is typed as itself.
 */
export function textChords(text: string): Chord[] {
  const out: Chord[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '{') {
      const end = text.indexOf('}', i + 2);
      if (end > 0) {
        try {
          out.push(parseChord(text.slice(i + 1, end)));
          i = end;
          continue;
        } catch {
          // not a key name: type the brace itself
        }
      }
    }
    out.push(charToChord(ch));
  }
  return out;
}

function charToChord(ch: string): Chord {
  const code = ch.charCodeAt(0);
  if (ch === '\n' || ch === '\r') return ['enter'];
  if (ch === '\b' || code === 0x7f) return ['backspace'];
  if (ch === '\t') return ['tab'];
  if (code === 0x1b) return ['escape'];
  if (code === 0x20) return ['space'];
  if (code >= 1 && code <= 26) return ['ctrl', String.fromCharCode(code + 0x60)];
  if (code > 0x20 && code < 0x7f) return charChord(ch);
  throw new GuestError(`cannot type ${JSON.stringify(ch)}: only ASCII and named keys ({Up}, {F1}, {Ctrl+C}) reach the keyboard`);
}

function makeBytes(key: Key, set: 1 | 2, up: boolean): number[] {
  const b: number[] = key.e0 ? [0xe0] : [];
  if (set === 1) b.push(up ? key.set1 | 0x80 : key.set1);
  else b.push(...(up ? [0xf0, key.set2] : [key.set2]));
  return b;
}

/** The bytes of pressing and releasing one chord in scan code set 1 or 2. */
export function chordBytes(chord: Chord, set: 1 | 2 = 1): number[] {
  const keys = chord.map((n) => KEYS[n]);
  const out: number[] = [];
  for (const key of keys) out.push(...makeBytes(key, set, false));
  for (const key of [...keys].reverse()) out.push(...makeBytes(key, set, true));
  return out;
}

/** Scan codes (set 1 unless told) of typing `text` (textChords' syntax). */
export function textScanCodes(text: string, set: 1 | 2 = 1): number[] {
  return textChords(text).flatMap((c) => chordBytes(c, set));
}
