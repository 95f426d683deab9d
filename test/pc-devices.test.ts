// The PC devices driven directly, no KVM: the VGA's registers (vga.ts) and the text screen read
// from memory (screen.ts), the keyboard controller (i8042.ts: commands, scan codes, IRQ 1 edges,
// the empty aux port, reset) and the CMOS clock (cmos-rtc.ts: BCD/binary, 12/24 h, UIP, a guest setting the time,
// memory sizes), each through its ports as a guest would use them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VgaText, VGA_TEXT_BASE } from '../src/vmm/devices/vga.js';
import { readTextScreen, screenText, cellAt, CP437, ScreenWatch, type ScreenMemory } from '../src/vmm/screen.js';
import { I8042, KBD_DATA_PORT as DATA, KBD_STATUS_PORT as CMD } from '../src/vmm/devices/i8042.js';
import { textScanCodes, chordBytes, parseChord } from '../src/vmm/devices/scancodes.js';
import { CmosRtc, CMOS_INDEX_PORT, CMOS_DATA_PORT, STATUS_A_UIP } from '../src/vmm/devices/cmos-rtc.js';
import type { DeviceHost } from '../src/vmm/devices/bus.js';
import type { Stop } from '../src/vmm/debug/stops.js';

// --- VGA ---------------------------------------------------------------------------------------

test('VGA: CRTC index/data at 0x3D4/0x3D5 hold the cursor, shape and start address; the API reads them', () => {
  const vga = new VgaText();
  vga.write(0x3d4, 1, 0x0e);
  vga.write(0x3d5, 1, 0x01);
  vga.write(0x3d4, 1, 0x0f);
  vga.write(0x3d5, 1, 0x42);
  assert.equal(vga.cursorOffset(), 0x142);
  vga.write(0x3d4, 2, 0x0a | (0x2e << 8)); // out dx, ax: index then data
  assert.deepEqual(vga.cursorShape(), { start: 0x0e, end: 0x0e, hidden: true });
  vga.setCursorShape(6, 7);
  assert.deepEqual(vga.cursorShape(), { start: 6, end: 7, hidden: false });
  vga.write(0x3d4, 1, 0x0a);
  assert.equal(vga.read(0x3d5, 1), 6);
  vga.setCursorOffset(0x7cf);
  vga.write(0x3d4, 1, 0x0e);
  assert.equal(vga.read(0x3d5, 1), 0x07);
  assert.equal(vga.read(0x3d4, 1), 0x0e, 'the index reads back');
  vga.write(0x3d4, 1, 0x13); // offset register: stored, read back
  vga.write(0x3d5, 1, 0x55);
  assert.equal(vga.read(0x3d5, 1), 0x55);
  assert.equal(vga.used, true, 'a cursor write marks the screen used');
});

test('VGA: input status 1 toggles retrace and display enable, resets the attribute flip-flop', () => {
  const vga = new VgaText();
  const seen = new Set<number>();
  for (let i = 0; i < 8; i++) seen.add(vga.read(0x3da, 1));
  assert.ok([...seen].some((v) => v & 0x08) && [...seen].some((v) => !(v & 0x08)), 'bit 3 both ways');
  assert.ok([...seen].some((v) => v & 0x01) && [...seen].some((v) => !(v & 0x01)), 'bit 0 both ways');
  vga.read(0x3da, 1);
  vga.write(0x3c0, 1, 0x10); // index: mode control
  vga.write(0x3c0, 1, 0x00); // data: blink off
  assert.equal(vga.blinkEnabled(), false);
  vga.write(0x3c0, 1, 0x31); // the flip-flop is back at "index": overscan (0x11) with PAS
  assert.equal(vga.read(0x3c0, 1), 0x31);
  vga.read(0x3da, 1);
  vga.write(0x3c0, 1, 0x10);
  vga.write(0x3c0, 1, 0x08);
  assert.equal(vga.blinkEnabled(), true);
  vga.write(0x3c0, 1, 0x12);
  assert.equal(vga.read(0x3c1, 1), 0x0f, 'colour plane enable as mode 03h leaves it');
});

test('VGA: misc output selects the colour or monochrome CRTC; sequencer, graphics and DAC read back', () => {
  const vga = new VgaText();
  assert.equal(vga.read(0x3cc, 1), 0x67);
  assert.equal(vga.read(0x3b5, 1), 0xff, 'no mono CRTC in colour mode');
  vga.write(0x3c2, 1, 0x66);
  vga.write(0x3b4, 1, 0x0f);
  vga.write(0x3b5, 1, 0x21);
  assert.equal(vga.cursorOffset() & 0xff, 0x21);
  assert.equal(vga.read(0x3d5, 1), 0xff, 'the colour CRTC is off in mono mode');
  vga.write(0x3c2, 1, 0x67);
  vga.write(0x3c4, 1, 0x02);
  vga.write(0x3c5, 1, 0x0f);
  assert.equal(vga.read(0x3c5, 1), 0x0f);
  vga.write(0x3ce, 1, 0x06);
  assert.equal(vga.read(0x3cf, 1), 0x0e);
  vga.write(0x3c8, 1, 5);
  for (const c of [0x3f, 0x20, 0x01, 0x11]) vga.write(0x3c9, 1, c);
  vga.write(0x3c7, 1, 5);
  assert.deepEqual([0, 1, 2, 3].map(() => vga.read(0x3c9, 1)), [0x3f, 0x20, 0x01, 0x11]);
  assert.equal(vga.dac[18], 0x11);
  assert.equal(vga.read(0x3c7, 1), 0x03, 'DAC state: reading');
});

function fakeMemory(): { mem: ScreenMemory; ram: Buffer } {
  const ram = Buffer.alloc(0x8000);
  return { ram, mem: { view: (gpa, len) => ram.subarray(gpa - VGA_TEXT_BASE, gpa - VGA_TEXT_BASE + len) } };
}

function put(ram: Buffer, row: number, col: number, text: string, attr: number): void {
  for (let i = 0; i < text.length; i++) {
    ram[(row * 80 + col + i) * 2] = text.charCodeAt(i);
    ram[(row * 80 + col + i) * 2 + 1] = attr;
  }
}

test('screen: cells, attributes, cursor and CP437 text read back, start address honoured', () => {
  const { mem, ram } = fakeMemory();
  const vga = new VgaText();
  put(ram, 0, 0, 'Hello', 0x1f);
  put(ram, 24, 78, '\xc9\xcd', 0x4e);
  vga.setCursorOffset(24 * 80 + 5);
  const s = readTextScreen(mem, vga);
  assert.equal(s.cols, 80);
  assert.equal(s.rows, 25);
  assert.deepEqual(cellAt(s, 0, 1), { char: 0x65, attr: 0x1f });
  assert.deepEqual(s.cursor, { row: 24, col: 5, hidden: false });
  const lines = screenText(s);
  assert.equal(lines.length, 25);
  assert.equal(lines[0], 'Hello');
  assert.equal(lines[24], ' '.repeat(78) + '╔═');
  assert.equal(CP437.length, 256);
  // Scrolled by the start address: row 1 of memory is row 0 on the screen.
  put(ram, 1, 0, 'second', 0x07);
  vga.write(0x3d4, 1, 0x0d);
  vga.write(0x3d5, 1, 80);
  const t = readTextScreen(mem, vga);
  assert.equal(screenText(t)[0], 'second');
  assert.deepEqual(t.cursor, { row: 23, col: 5, hidden: false });
});

test('screen watch: unused until the page changes, then the changed rows once per change', () => {
  const { mem, ram } = fakeMemory();
  const vga = new VgaText();
  const w = new ScreenWatch(mem, vga);
  assert.equal(w.inUse, false);
  assert.equal(w.poll(), undefined);
  put(ram, 3, 0, 'x', 7);
  assert.equal(w.inUse, true);
  assert.deepEqual(w.poll()?.rows, [...Array(25).keys()], 'every row the first time');
  assert.equal(w.poll(), undefined);
  put(ram, 7, 5, 'y', 7);
  put(ram, 9, 0, 'z', 7);
  const c = w.poll();
  assert.deepEqual(c?.rows, [7, 9]);
  assert.equal(screenText(c!.screen)[9], 'z');
  vga.setCursorOffset(1);
  assert.deepEqual(w.poll()?.rows, [], 'a cursor move is a change with no rows');
  w.reset();
  assert.equal(w.poll()?.rows.length, 25);
  const w2 = new ScreenWatch(mem, new VgaText());
  assert.equal(w2.inUse, false, 'what was there when the watch began is not use');
});

// --- i8042 -------------------------------------------------------------------------------------

function kbdHost(): { host: DeviceHost; irqs: string[]; stops: Stop[] } {
  const irqs: string[] = [];
  const stops: Stop[] = [];
  return { irqs, stops, host: { stop: (s) => stops.push(s), setIrq: (irq, level) => irqs.push(`${irq}:${level ? 1 : 0}`) } };
}

/** Reads port 0x60 while the status says a byte is there. */
function drain(k: I8042): number[] {
  const out: number[] = [];
  while (k.read(CMD, 1) & 1) out.push(k.read(DATA, 1));
  return out;
}

test('i8042: controller commands: self tests, command byte, output port, enable/disable', () => {
  const { host } = kbdHost();
  const k = new I8042(host);
  assert.equal(k.read(CMD, 1) & 0x03, 0, 'nothing to read, input buffer empty');
  k.write(CMD, 1, 0xaa);
  assert.equal(k.read(CMD, 1) & 0x0d, 0x0d, 'OBF, system flag, last write a command');
  assert.deepEqual(drain(k), [0x55]);
  k.write(CMD, 1, 0xab);
  assert.deepEqual(drain(k), [0x00]);
  k.write(CMD, 1, 0x20);
  assert.deepEqual(drain(k), [0x45], 'IRQ1, system, translation');
  k.write(CMD, 1, 0x60);
  k.write(DATA, 1, 0x74);
  assert.equal(k.read(CMD, 1) & 0x08, 0, 'last write was data');
  k.write(CMD, 1, 0x20);
  assert.deepEqual(drain(k), [0x74]);
  k.write(CMD, 1, 0xa8);
  k.write(CMD, 1, 0x20);
  assert.deepEqual(drain(k), [0x54], '0xA8 cleared the aux disable bit');
  k.write(CMD, 1, 0xa7);
  k.write(CMD, 1, 0xad);
  k.write(CMD, 1, 0x20);
  assert.deepEqual(drain(k), [0x74], '0xA7 and 0xAD set their disable bits');
  k.write(CMD, 1, 0xae);
  k.write(CMD, 1, 0xd0);
  assert.deepEqual(drain(k), [0x03], 'output port: reset line high, A20 on');
  k.write(CMD, 1, 0xd1);
  k.write(DATA, 1, 0x01);
  k.write(CMD, 1, 0xd0);
  assert.deepEqual(drain(k), [0x01], 'A20 off as written');
});

test('i8042: the aux port with no mouse: loopback (0xD3) on IRQ 12 with status bit 5; a byte for the mouse (0xD4) times out', () => {
  const { host, irqs } = kbdHost();
  const k = new I8042(host);
  k.write(CMD, 1, 0x60);
  k.write(DATA, 1, 0x47); // both ports' interrupts on, translation
  k.write(CMD, 1, 0xd3);
  k.write(DATA, 1, 0x5a);
  assert.equal(k.read(CMD, 1) & 0x61, 0x21, 'a byte from the aux port, no timeout');
  assert.deepEqual(irqs, ['12:1'], 'IRQ 12 raised, IRQ 1 not');
  assert.equal(k.read(DATA, 1), 0x5a, 'the byte looped back');
  assert.deepEqual(irqs, ['12:1', '12:0']);
  assert.equal(k.read(CMD, 1) & 0x21, 0, 'buffer empty, aux bit clear');
  k.write(CMD, 1, 0xd4);
  k.write(DATA, 1, 0xff); // reset the mouse: nobody answers
  assert.equal(k.read(CMD, 1) & 0x61, 0x61, 'aux byte with the timeout bit');
  assert.deepEqual(drain(k), [0xfe]);
  assert.equal(k.read(CMD, 1) & 0x40, 0, 'the timeout bit goes with its byte');
  k.write(CMD, 1, 0x20);
  assert.equal(k.read(CMD, 1) & 0x20, 0, 'a controller reply is not the aux port\'s');
  assert.deepEqual(drain(k), [0x47]);
  k.write(CMD, 1, 0x60);
  k.write(DATA, 1, 0x45); // aux interrupt off
  irqs.length = 0;
  k.write(CMD, 1, 0xd3);
  k.write(DATA, 1, 0xa5);
  assert.deepEqual(irqs, [], 'no IRQ 12 while its enable bit is clear');
  assert.deepEqual(drain(k), [0xa5]);
  k.typeText('a');
  assert.equal(k.read(CMD, 1) & 0x21, 0x01, 'a key is the keyboard\'s byte');
  assert.deepEqual(irqs, ['1:1']);
});

test('i8042: pulse reset (0xFE) and an output port with the reset bit clear reset the machine', () => {
  const { host, stops } = kbdHost();
  const k = new I8042(host, () => 2);
  k.write(CMD, 1, 0xff); // pulse nothing
  assert.equal(stops.length, 0);
  k.write(CMD, 1, 0xfe);
  assert.deepEqual(stops, [{ kind: 'reset', vcpu: 2, how: 'port 0x64 command 0xFE' }]);
  k.write(CMD, 1, 0xd1);
  k.write(DATA, 1, 0x02);
  assert.equal(stops.length, 2);
  assert.equal(stops[1].kind, 'reset');
});

test('i8042: keyboard commands: reset, enable, LEDs, scan code set, identify, echo', () => {
  const { host } = kbdHost();
  const k = new I8042(host);
  k.write(DATA, 1, 0xff);
  assert.deepEqual(drain(k), [0xfa, 0xaa]);
  k.write(DATA, 1, 0xf4);
  assert.deepEqual(drain(k), [0xfa]);
  k.write(DATA, 1, 0xed);
  assert.deepEqual(drain(k), [0xfa]);
  k.write(DATA, 1, 0x07);
  assert.deepEqual(drain(k), [0xfa]);
  assert.equal(k.ledState, 7);
  k.write(DATA, 1, 0xee);
  assert.deepEqual(drain(k), [0xee]);
  k.write(DATA, 1, 0xf0);
  k.write(DATA, 1, 0x00);
  assert.deepEqual(drain(k), [0xfa, 0xfa, 0x41], 'set 2, as translated');
  k.write(DATA, 1, 0xf2);
  assert.deepEqual(drain(k), [0xfa, 0xab, 0x41], 'identify, 0x83 translated to 0x41 as a PC gives it');
  k.write(CMD, 1, 0x60);
  k.write(DATA, 1, 0x05); // translation off
  k.write(DATA, 1, 0xf2);
  assert.deepEqual(drain(k), [0xfa, 0xab, 0x83], 'identify untranslated');
  k.write(DATA, 1, 0xf5);
  assert.deepEqual(drain(k), [0xfa]);
  k.typeText('a');
  assert.deepEqual(drain(k), [], 'scanning disabled: keys dropped');
  k.write(DATA, 1, 0xf4);
  drain(k);
  k.typeText('a');
  assert.deepEqual(drain(k), [0x1c, 0xf0, 0x1c], 'set 2 without translation');
});

test('scan codes: text, shifted punctuation, control keys, named keys with 0xE0, chords', () => {
  assert.deepEqual(textScanCodes('hi'), [0x23, 0xa3, 0x17, 0x97]);
  assert.deepEqual(textScanCodes('A!'), [0x2a, 0x1e, 0x9e, 0xaa, 0x2a, 0x02, 0x82, 0xaa]);
  assert.deepEqual(textScanCodes('\n\b\t\x1b '), [0x1c, 0x9c, 0x0e, 0x8e, 0x0f, 0x8f, 0x01, 0x81, 0x39, 0xb9]);
  assert.deepEqual(textScanCodes('{Up}{F1}{F12}'), [0xe0, 0x48, 0xe0, 0xc8, 0x3b, 0xbb, 0x58, 0xd8]);
  assert.deepEqual(textScanCodes('{Ctrl+C}'), [0x1d, 0x2e, 0xae, 0x9d]);
  assert.deepEqual(textScanCodes('\x03'), [0x1d, 0x2e, 0xae, 0x9d], 'a control character is Ctrl+letter');
  assert.deepEqual(textScanCodes('{x'), [0x2a, 0x1a, 0x9a, 0xaa, 0x2d, 0xad], 'a brace that names no key is typed');
  assert.deepEqual(chordBytes(parseChord('Ctrl+Alt+Delete')), [0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d]);
  assert.deepEqual(chordBytes(parseChord('Up'), 2), [0xe0, 0x75, 0xe0, 0xf0, 0x75]);
  assert.throws(() => textScanCodes('é'), /cannot type/);
  assert.throws(() => parseChord('Hyper+x'), /unknown key/);
});

test('i8042: typed keys: one byte per read of 0x60, IRQ 1 lowered and raised per byte', () => {
  const { host, irqs } = kbdHost();
  const k = new I8042(host);
  k.typeText('ok');
  assert.deepEqual(irqs, ['1:1'], 'raised as the first byte arrives');
  assert.equal(k.read(CMD, 1) & 1, 1);
  const got: number[] = [];
  for (let i = 0; i < 4; i++) got.push(k.read(DATA, 1));
  assert.deepEqual(got, [0x18, 0x98, 0x25, 0xa5]);
  assert.deepEqual(irqs, ['1:1', '1:0', '1:1', '1:0', '1:1', '1:0', '1:1', '1:0']);
  assert.equal(k.read(CMD, 1) & 1, 0);
  assert.equal(k.read(DATA, 1), 0xa5, 'an empty buffer reads its last byte again');
  assert.equal(irqs.length, 8, 'and raises nothing');
  k.pressKeys('Left');
  assert.deepEqual(drain(k), [0xe0, 0x4b, 0xe0, 0xcb]);
  // IRQ1 disabled in the command byte: bytes still arrive, the line stays low.
  k.write(CMD, 1, 0x60);
  k.write(DATA, 1, 0x44);
  irqs.length = 0;
  k.typeText('x');
  assert.deepEqual(drain(k), [0x2d, 0xad]);
  assert.deepEqual(irqs, []);
  // Keyboard interface disabled: bytes wait until it is enabled again.
  k.write(CMD, 1, 0xad);
  k.typeText('x');
  assert.equal(k.read(CMD, 1) & 1, 0);
  k.write(CMD, 1, 0xae);
  assert.deepEqual(drain(k), [0x2d, 0xad]);
});

// --- CMOS RTC ----------------------------------------------------------------------------------

function cmos(rtc: CmosRtc, reg: number, value?: number): number {
  rtc.write(CMOS_INDEX_PORT, 1, reg | 0x80); // NMI mask bit: ignored
  if (value === undefined) return rtc.read(CMOS_DATA_PORT, 1);
  rtc.write(CMOS_DATA_PORT, 1, value);
  return value;
}

// 2024-02-29 23:59:58.500 UTC, a Thursday.
const T0 = Date.UTC(2024, 1, 29, 23, 59, 58, 500);

test('RTC: the host clock in BCD, 24 h by default; binary and 12 h per status B', () => {
  let now = T0;
  const rtc = new CmosRtc(64 << 20, () => now);
  assert.equal(cmos(rtc, 0x0b), 0x02);
  assert.equal(cmos(rtc, 0x0d), 0x80);
  assert.deepEqual([0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32].map((r) => cmos(rtc, r)),
    [0x58, 0x59, 0x23, 0x05, 0x29, 0x02, 0x24, 0x20]);
  cmos(rtc, 0x0b, 0x06); // binary
  assert.deepEqual([0x00, 0x04, 0x07, 0x09, 0x32].map((r) => cmos(rtc, r)), [58, 23, 29, 24, 20]);
  cmos(rtc, 0x0b, 0x00); // BCD, 12 h
  assert.equal(cmos(rtc, 0x04), 0x80 | 0x11, '11 PM');
  now = Date.UTC(2024, 2, 1, 0, 30);
  assert.equal(cmos(rtc, 0x04), 0x12, '12 AM');
  assert.deepEqual([0x07, 0x08].map((r) => cmos(rtc, r)), [0x01, 0x03]);
});

test('RTC: UIP is set only just before a second ends, so a guest waiting for it to clear goes on', () => {
  let now = T0;
  const rtc = new CmosRtc(64 << 20, () => now);
  assert.equal(cmos(rtc, 0x0a) & STATUS_A_UIP, 0);
  now = T0 + 499; // 999 ms into the second
  assert.equal(cmos(rtc, 0x0a), STATUS_A_UIP | 0x26);
  now += 1;
  assert.equal(cmos(rtc, 0x0a), 0x26);
  // A real clock: wait for UIP to rise and fall, as a guest syncing to a second does.
  const live = new CmosRtc(64 << 20);
  let reads = 0;
  while (!(cmos(live, 0x0a) & STATUS_A_UIP)) reads++;
  while (cmos(live, 0x0a) & STATUS_A_UIP) reads++;
  assert.ok(reads > 0);
  assert.equal(cmos(rtc, 0x0c) & 0x10, 0x10, 'update-ended once');
  assert.equal(cmos(rtc, 0x0c), 0);
});

test('RTC: a guest that sets the time keeps it (offset), field by field or under the SET bit', () => {
  let now = T0;
  const rtc = new CmosRtc(64 << 20, () => now);
  cmos(rtc, 0x0b, 0x82); // SET: updates stop
  cmos(rtc, 0x09, 0x99);
  cmos(rtc, 0x32, 0x19);
  cmos(rtc, 0x08, 0x12);
  cmos(rtc, 0x07, 0x31);
  cmos(rtc, 0x04, 0x22);
  cmos(rtc, 0x02, 0x00);
  cmos(rtc, 0x00, 0x00);
  now += 5000;
  assert.equal(cmos(rtc, 0x00), 0x00, 'frozen while SET');
  cmos(rtc, 0x0b, 0x02);
  now += 3000;
  assert.deepEqual([0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32].map((r) => cmos(rtc, r)), [0x03, 0x00, 0x22, 0x31, 0x12, 0x99, 0x19]);
  cmos(rtc, 0x0b, 0x00); // 12 h: write 1 PM
  cmos(rtc, 0x04, 0x81);
  cmos(rtc, 0x0b, 0x02);
  assert.equal(cmos(rtc, 0x04), 0x13);
  assert.equal(cmos(rtc, 0x09), 0x99, 'the rest kept');
  cmos(rtc, 0x50, 0xa5);
  assert.equal(cmos(rtc, 0x50), 0xa5, 'plain CMOS RAM');
});

test('RTC: memory sizes from the machine (base, extended, above 16 MiB, above 4 GiB), checksum', () => {
  const rtc = new CmosRtc(64 << 20);
  const word = (r: number) => cmos(rtc, r) | (cmos(rtc, r + 1) << 8);
  assert.equal(word(0x15), 640);
  assert.equal(word(0x17), 63 * 1024);
  assert.equal(word(0x30), 63 * 1024);
  assert.equal(word(0x34), (48 << 20) / 65536);
  assert.equal(cmos(rtc, 0x14), 0x06);
  let sum = 0;
  for (let r = 0x10; r <= 0x2d; r++) sum += cmos(rtc, r);
  assert.equal(word(0x2e), ((sum & 0xff) << 8) | (sum >> 8), 'big-endian checksum');
  const big = new CmosRtc(4 * 2 ** 30);
  const bw = (r: number) => cmos(big, r) | (cmos(big, r + 1) << 8);
  assert.equal(bw(0x17), 0xffff, 'capped');
  assert.equal(bw(0x34), (0xc000_0000 - (16 << 20)) / 65536);
  assert.equal(cmos(big, 0x5b) | (cmos(big, 0x5c) << 8), (2 ** 30) / 65536, '1 GiB above 4 GiB');
});
