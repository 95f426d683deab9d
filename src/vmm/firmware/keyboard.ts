// The BIOS keyboard: int 09h's translation of set 1 scan codes (what the i8042 hands a PC guest
// on port 0x60) into the (scan << 8 | ASCII) words of the BDA's ring buffer, with the shift,
// Ctrl, Alt and lock states in the BDA's flag bytes 0417h/0418h/0496h, and the ring itself as
// int 16h reads it. Everything is kept in guest memory, as a BIOS keeps it: a guest that reads
// or edits the BDA sees the same state.
import { BDA, type FirmwareMemory } from './bda.js';

const F1 = { shiftLeft: 0x02, shiftRight: 0x01, ctrl: 0x04, alt: 0x08, scroll: 0x10, num: 0x20, caps: 0x40, insert: 0x80 };
const F3 = { e1: 0x01, e0: 0x02 };

// ASCII by set 1 make code, unshifted and shifted ('' = none).
const NORMAL = "\x00\x1b1234567890-=\b\tqwertyuiop[]\r\x00asdfghjkl;'`\x00\\zxcvbnm,./\x00*\x00 ";
const SHIFTED = '\x00\x1b!@#$%^&*()_+\b\tQWERTYUIOP{}\r\x00ASDFGHJKL:"~\x00|ZXCVBNM<>?\x00*\x00 ';
const KEYPAD_DIGITS = '789-456+1230.'; // make codes 0x47-0x53

function u16(mem: FirmwareMemory, addr: number): number {
  return mem.view(addr, 2).readUInt16LE(0);
}
function set16(mem: FirmwareMemory, addr: number, v: number): void {
  mem.view(addr, 2).writeUInt16LE(v & 0xffff, 0);
}

/** Appends a key word to the ring; false when the ring is full (the key is lost, as on a PC). */
export function pushKey(mem: FirmwareMemory, word: number): boolean {
  const head = u16(mem, BDA.kbdHead);
  const tail = u16(mem, BDA.kbdTail);
  let next = tail + 2;
  if (next >= u16(mem, BDA.kbdEnd)) next = u16(mem, BDA.kbdStart);
  if (next === head) return false;
  set16(mem, 0x400 + tail, word);
  set16(mem, BDA.kbdTail, next);
  return true;
}

/** The key word at the head of the ring (undefined when empty); `remove` takes it out. */
export function peekKey(mem: FirmwareMemory, remove: boolean): number | undefined {
  const head = u16(mem, BDA.kbdHead);
  if (head === u16(mem, BDA.kbdTail)) return undefined;
  const word = u16(mem, 0x400 + head);
  if (remove) {
    let next = head + 2;
    if (next >= u16(mem, BDA.kbdEnd)) next = u16(mem, BDA.kbdStart);
    set16(mem, BDA.kbdHead, next);
  }
  return word;
}

/** int 09h: one byte from port 0x60. Updates the BDA flags and queues the key it makes, if any. */
export function keyboardInterrupt(mem: FirmwareMemory, code: number): void {
  const flags = mem.view(BDA.kbdFlags1, 2); // 0417h, 0418h
  const f3 = mem.view(BDA.kbdFlags3, 1);
  if (code === 0xe0 || code === 0xe1) {
    f3[0] |= code === 0xe0 ? F3.e0 : F3.e1;
    return;
  }
  const e0 = (f3[0] & F3.e0) !== 0;
  if (f3[0] & F3.e1) {
    // Pause/Break sends E1 1D 45 E1 9D C5: nothing to queue.
    if ((code & 0x7f) === 0x45) f3[0] &= ~F3.e1;
    return;
  }
  f3[0] &= ~F3.e0;
  const make = (code & 0x80) === 0;
  const key = code & 0x7f;
  const modifier = (bit: number, bit2 = 0) => {
    if (make) { flags[0] |= bit; flags[1] |= bit2; } else { flags[0] &= ~bit; flags[1] &= ~bit2; }
  };
  switch (key) {
    case 0x2a: if (!e0) modifier(F1.shiftLeft); return; // E0 2A: a fake shift around Ins etc.
    case 0x36: if (!e0) modifier(F1.shiftRight); return;
    case 0x1d: modifier(F1.ctrl, e0 ? 0 : 0x01); return;
    case 0x38: modifier(F1.alt, e0 ? 0 : 0x02); return;
    case 0x3a: case 0x45: case 0x46: {
      const bit = key === 0x3a ? F1.caps : key === 0x45 ? F1.num : F1.scroll;
      const held = key === 0x3a ? 0x40 : key === 0x45 ? 0x20 : 0x10;
      if (!make) { flags[1] &= ~held; return; }
      if (!(flags[1] & held)) flags[0] ^= bit; // typematic repeats don't toggle again
      flags[1] |= held;
      return;
    }
  }
  if (!make) return;
  const word = keyWord(key, e0, flags[0]);
  if (word !== undefined) pushKey(mem, word);
}

/** The int 16h word of a key pressed (set 1 make code) with these 0417h flags. */
export function keyWord(key: number, e0: boolean, f: number): number | undefined {
  const shift = (f & (F1.shiftLeft | F1.shiftRight)) !== 0;
  const ctrl = (f & F1.ctrl) !== 0;
  const alt = (f & F1.alt) !== 0;
  const w = (scan: number, ascii: number) => ((scan << 8) | ascii) & 0xffff;
  if (e0) {
    if (key === 0x1c) return w(0xe0, ctrl ? 0x0a : 0x0d); // keypad Enter
    if (key === 0x35) return w(0xe0, 0x2f); // keypad /
    if (key >= 0x47 && key <= 0x53) return w(ctrl ? CTRL_NAV[key - 0x47] || key : alt ? key + 0x50 : key, ctrl || alt ? 0 : 0xe0);
    return undefined;
  }
  if (key >= 0x3b && key <= 0x44) { // F1-F10
    const n = key - 0x3b;
    return w(alt ? 0x68 + n : ctrl ? 0x5e + n : shift ? 0x54 + n : key, 0);
  }
  if (key === 0x57 || key === 0x58) { // F11, F12
    const n = key - 0x57;
    return w(alt ? 0x8b + n : ctrl ? 0x89 + n : shift ? 0x87 + n : 0x85 + n, 0);
  }
  if (key >= 0x47 && key <= 0x53) { // keypad
    if (key === 0x4a || key === 0x4e) return w(key, key === 0x4a ? 0x2d : 0x2b);
    if (alt) return undefined;
    if (ctrl) return w(CTRL_NAV[key - 0x47] || key, 0);
    const digits = ((f & F1.num) !== 0) !== shift;
    return digits ? w(key, KEYPAD_DIGITS.charCodeAt(key - 0x47)) : w(key, 0);
  }
  if (key >= NORMAL.length) return undefined;
  const plain = NORMAL.charCodeAt(key);
  if (!plain) return undefined;
  const letter = plain >= 0x61 && plain <= 0x7a;
  if (alt) return w(key, 0);
  if (ctrl) {
    if (letter) return w(key, plain - 0x60);
    const c: Record<number, number> = { 0x1c: 0x0a, 0x0e: 0x7f, 0x01: 0x1b, 0x1a: 0x1b, 0x2b: 0x1c, 0x1b: 0x1d, 0x0c: 0x1f, 0x39: 0x20 };
    return c[key] !== undefined ? w(key, c[key]) : undefined;
  }
  const upper = letter ? shift !== ((f & F1.caps) !== 0) : shift;
  return w(key, upper ? SHIFTED.charCodeAt(key) : plain);
}

// Ctrl with Home, Up, PgUp, -, Left, 5, Right, +, End, Down, PgDn, Ins, Del.
const CTRL_NAV = [0x77, 0x8d, 0x84, 0x8e, 0x73, 0x8f, 0x74, 0x90, 0x75, 0x91, 0x76, 0x92, 0x93];
