// `kvmdbg run`'s screen view (src/cli-screen.ts) over a made-up video memory, no KVM: the plain
// "screen NN|" lines, the ANSI drawing (colours, cursor, scroll region), and terminal key bytes
// turned into key chords for the keyboard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VgaText, VGA_TEXT_BASE } from '../src/vmm/devices/vga.js';
import { ScreenWatch } from '../src/vmm/screen.js';
import { CliScreen, ansiRow } from '../src/cli-screen.js';
import { terminalKeys } from '../src/vmm/terminal-input.js';
import { chordBytes, parseChord } from '../src/vmm/devices/scancodes.js';

function setup(): { ram: Buffer; vga: VgaText; watch: ScreenWatch } {
  const ram = Buffer.alloc(0x8000);
  const vga = new VgaText();
  const watch = new ScreenWatch({ view: (gpa, len) => ram.subarray(gpa - VGA_TEXT_BASE, gpa - VGA_TEXT_BASE + len) }, vga);
  return { ram, vga, watch };
}

function put(ram: Buffer, row: number, col: number, text: string, attr: number): void {
  for (let i = 0; i < text.length; i++) ram.writeUInt16LE(text.charCodeAt(i) | (attr << 8), (row * 80 + col + i) * 2);
}

test('plain: nothing before the screen is used; then changed rows and the cursor, once each', () => {
  const { ram, vga, watch } = setup();
  let out = '';
  let lineStart = true;
  const s = new CliScreen(watch, 'plain', (t) => (out += t), () => lineStart);
  s.update();
  assert.equal(out, '');
  put(ram, 0, 0, 'top', 0x07);
  put(ram, 2, 4, '\xc4\xc4', 0x07);
  s.update();
  assert.equal(out, 'screen 00| top\nscreen 02|     ──\nscreen cursor| row 0 col 0\n');
  out = '';
  s.update();
  assert.equal(out, '');
  put(ram, 0, 0, 'TOP', 0x07);
  put(ram, 2, 4, '\xc4\xc4', 0x1f); // attributes only: no line
  vga.setCursorOffset(81);
  lineStart = false;
  s.finish();
  assert.equal(out, '\nscreen 00| TOP\nscreen cursor| row 1 col 1\n', 'a serial line in progress is ended first');
});

test('ansi: scroll region below the screen, colours as SGR, the cursor cell reversed', () => {
  const { ram, vga, watch } = setup();
  let out = '';
  const s = new CliScreen(watch, 'ansi', (t) => (out += t), () => true, () => ({ rows: 40, cols: 100 }));
  put(ram, 0, 0, 'Hi', 0x1f);
  vga.setCursorOffset(1);
  s.update();
  assert.match(out, /\x1b\[2J/);
  assert.match(out, /\x1b\[27;40r/, 'serial scrolls in rows 27-40');
  assert.ok(out.includes('\x1b[1;1H\x1b[0;97;44mH\x1b[0;97;44;7mi\x1b[0;30;40m'), JSON.stringify(out.slice(0, 400)));
  const row = ansiRow(watch.read(), 0);
  assert.ok(row.endsWith('\x1b[0m'));
  out = '';
  s.update();
  assert.equal(out, '', 'nothing changed');
  put(ram, 0, 0, 'x', 0xcf);
  s.finish();
  assert.ok(out.includes('\x1b[0;5;97;41mx'), 'blinking bright white on red');
  assert.ok(out.endsWith('\x1b[r\x1b[40;1H\n'), 'the scroll region given back');
  const small = new CliScreen(setup().watch, 'ansi', () => {}, () => true, () => ({ rows: 24, cols: 80 }));
  small.update();
});

test('terminal keys: text, control keys and escape sequences become chords with the right scan codes', () => {
  const keys = terminalKeys(Buffer.from('aZ{ \r\x7f\t\x03\x1b[A\x1bOP\x1b[24~\x1b[3~\x1b'));
  assert.deepEqual(keys, ['a', 'Z', '{', 'Space', 'Enter', 'Backspace', 'Tab', 'Ctrl+c', 'Up', 'F1', 'F12', 'Delete', 'Escape']);
  assert.deepEqual(keys.flatMap((k) => chordBytes(parseChord(k))).slice(0, 10), [0x1e, 0x9e, 0x2a, 0x2c, 0xac, 0xaa, 0x2a, 0x1a, 0x9a, 0xaa]);
});
