// The PC devices under real guests (test/guests/screen): a protected-mode kernel that writes the
// VGA text screen (colours, scrolling, the cursor through the CRTC), a keyboard IRQ driver that
// echoes the scan codes it receives, and a boot sector that reads the CMOS clock; each through
// the Machine API and through `kvmdbg run`'s plain screen output.
import './support/needs-kvm.js';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { Machine } from '../src/vmm/machine.js';
import { readTextScreen, screenText, cellAt } from '../src/vmm/screen.js';
import { buildScreenKernel, buildRtcBootSector } from './guests/screen/build.js';
import { machineWithSerial, withMachine } from './support/machine.js';
import { iret32Variant } from './support/host-facts.js';
import { buildDist, cli, said } from './support/cli.js';

let screen = '', rtc = '';

before(() => {
  screen = buildScreenKernel('screen');
  rtc = buildRtcBootSector();
  buildDist();
});

/** What test/guests/screen/screen.S leaves on the screen. */
const EXPECTED_LINES = [
  'Hello, screen', 'line 06   ╔═╗',
  ...Array.from({ length: 23 }, (_, i) => `line ${String(i + 7).padStart(2, '0')}`),
];

test('a protected-mode kernel writes the text screen: text, colours, scrolling and cursor read back', async () => {
  const m = new Machine({ image: screen, serial: () => {} });
  await withMachine(m, async () => {
    assert.deepEqual(await m.run(), { kind: 'exit', status: 0x21 });
    const s = readTextScreen(m.vm.memory, m.vga);
    assert.deepEqual(screenText(s), EXPECTED_LINES);
    assert.deepEqual(cellAt(s, 0, 0), { char: 0x48, attr: 0x1f }, 'white on blue');
    assert.deepEqual(cellAt(s, 1, 10), { char: 0xc9, attr: 0x4e }, 'yellow on red');
    assert.deepEqual(cellAt(s, 24, 0), { char: 0x6c, attr: 0x07 }, 'grey on black');
    assert.deepEqual(cellAt(s, 24, 79), { char: 0x20, attr: 0x07 }, 'the scrolled-in row blanked');
    assert.deepEqual(s.cursor, { row: 24, col: 7, hidden: false });
    assert.equal(m.vga.cursorOffset(), 0x787);
  });
});

test('kvmdbg run without a terminal prints the changed screen lines and the cursor as "screen" lines', () => {
  const r = cli(['run', screen]);
  assert.equal(r.status, 0x21, said(r));
  const rows = new Map<number, string>();
  let cursor = '';
  for (const line of r.stdout.split('\n')) {
    const m = /^screen (\d\d)\| ?(.*)$/.exec(line);
    if (m) rows.set(Number(m[1]), m[2]);
    const c = /^screen cursor\| (.*)$/.exec(line);
    if (c) cursor = c[1];
  }
  assert.deepEqual([...Array(25).keys()].map((i) => rows.get(i) ?? ''), EXPECTED_LINES, said(r));
  assert.equal(cursor, 'row 24 col 7', said(r));
});

test('a keyboard IRQ driver receives the scan codes of typed text, named keys and Ctrl chords', async (t) => {
  const { m, serial } = machineWithSerial({ image: buildScreenKernel('kbd', await iret32Variant(t)) });
  await withMachine(m, async () => {
    let typed = false;
    const timer = setInterval(() => {
      if (!typed && serial().includes('ready\n')) {
        typed = true;
        m.keyboard.typeText('Hi!{Up}{Ctrl+C}{F1}\x1b');
      }
    }, 5);
    try {
      assert.deepEqual(await m.run(), { kind: 'exit', status: 0x21 }, serial());
    } finally {
      clearInterval(timer);
    }
    assert.equal(serial(),
      'ready\n' +
      '2a 23 a3 aa 17 97 2a 02 82 aa ' + // H i !
      'e0 48 e0 c8 ' + // Up
      '1d 2e ae 9d ' + // Ctrl+C
      '3b bb ' + // F1
      '01 81 \n');
    assert.equal(m.keyboard.pending, 0);
  });
});

test('a boot sector reads the CMOS clock: the host\'s date and time (UTC), BCD, extended memory', async () => {
  const before = new Date();
  const { m, serial } = machineWithSerial({ image: rtc, memory: 32 << 20 });
  await withMachine(m, async () => {
    assert.deepEqual(await m.run(), { kind: 'exit', status: 0x21 }, serial());
  });
  const after = new Date();
  const r = /^RTC (\d\d) (\d\d)-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d) (\w\w) (\w{4})\n$/.exec(serial());
  assert.ok(r, serial());
  const [cc, yy, mo, dd, hh, mi, ss] = r.slice(1, 8).map(Number);
  const t = Date.UTC(cc * 100 + yy, mo - 1, dd, hh, mi, ss);
  assert.ok(t >= Math.floor(before.getTime() / 1000) * 1000 - 1000 && t <= after.getTime() + 1000,
    `${new Date(t).toISOString()} between ${before.toISOString()} and ${after.toISOString()}`);
  assert.equal(r[8], '02', 'status B: 24 h, BCD');
  assert.equal(parseInt(r[9], 16), 31 * 1024, 'extended memory in KiB');
});
