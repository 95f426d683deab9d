// The BIOS on /dev/kvm: boot sectors of our own (test/guests/bios) that use int 10h, 13h, 15h,
// 16h, 11h, 12h and 1Ah as tutorial kernels do, with what they printed (COM1) and drew (the text
// screen, read back from guest memory at 0xB8000, and the cursor from the BDA and the VGA) checked.
import './support/needs-kvm.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildBootSector } from './guests/build.js';
import { machineWithSerial, withMachine } from './support/machine.js';
import { memoryMap } from '../src/vmm/loaders/multiboot.js';
import type { Machine } from '../src/vmm/machine.js';

const exit = (v: number) => ({ kind: 'exit', status: (v << 1) | 1 });

function screenRow(m: Machine, row: number): string {
  const b = m.readPhysical(0xb8000 + row * 160, 160);
  let s = '';
  for (let i = 0; i < 80; i++) s += String.fromCharCode(b[2 * i]);
  return s.trimEnd();
}
const attrAt = (m: Machine, row: number, col: number) => m.readPhysical(0xb8000 + row * 160 + col * 2 + 1, 1)[0];
const hex = (v: number, digits: number) => v.toString(16).padStart(digits, '0');

test('int 10h: mode set, teletype, write char+attribute, scroll window, write string, get cursor and mode', async () => {
  const { m, serial } = machineWithSerial({ image: buildBootSector('bios/video') });
  await withMachine(m, async () => {
    assert.ok(m.firmware, 'a boot sector gets the BIOS');
    assert.deepEqual(await m.run(), exit(0x10));
    assert.equal(screenRow(m, 0), 'Hello, BIOS!');
    assert.equal(screenRow(m, 1), 'line 2x', 'BS went back over the X');
    assert.equal(attrAt(m, 0, 0), 0x07);
    assert.equal(screenRow(m, 5), ' '.repeat(10) + 'XXX');
    assert.deepEqual([10, 11, 12, 13].map((c) => attrAt(m, 5, c)), [0x1e, 0x1e, 0x1e, 0x07]);
    assert.equal(screenRow(m, 6), 'yy');
    assert.equal(attrAt(m, 6, 0), 0x07, 'AH=0Ah keeps the attribute');
    assert.deepEqual([19, 20, 29, 30].map((c) => attrAt(m, 10, c)), [0x07, 0x4f, 0x4f, 0x07]);
    assert.equal(attrAt(m, 11, 25), 0x4f);
    assert.equal(screenRow(m, 15), '   int13 str');
    assert.equal(attrAt(m, 15, 3), 0x0a);
    assert.equal(serial(), 'cursor 0f0c mode 5003\n');
    assert.deepEqual([...m.readPhysical(0x450, 2)], [12, 15], 'BDA cursor: column 12, row 15');
    assert.equal(m.vga.cursorOffset(), 15 * 80 + 12, 'the CRTC cursor');
  });
});

test('int 13h: a floppy boot sector loads stage 2 with CHS across a track and stage 3 with LBA across a cylinder', async () => {
  const image = buildBootSector('bios/stage2');
  const { m, serial } = machineWithSerial({ image, disk: 'floppy' });
  await withMachine(m, async () => {
    assert.equal(m.getRegs().rdx & 0xffn, 0x00n, 'DL = 00h, the first floppy');
    assert.equal(m.readPhysical(0x7c00 + 17 * 512, 4).readUInt32LE(0), 0, 'only sector 0 is loaded');
    assert.deepEqual(await m.run(), exit(0x13), serial());
    assert.equal(serial(), 'stage 2 (CHS) ok\r\nstage 3 (LBA) ok\r\n');
    assert.equal(screenRow(m, 0), 'stage 2 (CHS) ok');
    assert.equal(screenRow(m, 1), 'stage 3 (LBA) ok');
    assert.equal(m.readPhysical(0x410, 1)[0] & 1, 1, 'equipment: a diskette drive');
  });
  // The same image as a hard disk (80h, 63 sectors a track), and loaded whole as before.
  for (const extra of [{}, { loadWholeImage: true }]) {
    const hd = machineWithSerial({ image, ...extra });
    await withMachine(hd.m, async () => {
      assert.equal(hd.m.getRegs().rdx & 0xffn, 0x80n);
      const loaded = hd.m.readPhysical(0x7c00 + 17 * 512, 2).readUInt16LE(0) !== 0;
      assert.equal(loaded, 'loadWholeImage' in extra, 'whole image at 0x7C00 only when asked');
      assert.deepEqual(await hd.m.run(), exit(0x13), hd.serial());
      assert.equal(hd.serial(), 'stage 2 (CHS) ok\r\nstage 3 (LBA) ok\r\n');
    });
  }
});

test('int 16h: keys typed on the keyboard controller reach the guest through IRQ 1 and the BDA ring', async () => {
  const { m, serial } = machineWithSerial({ image: buildBootSector('bios/keys') });
  await withMachine(m, async () => {
    const fw = m.firmware!;
    const done = m.run();
    // Type once the guest waits in int 16h AH=00h (asleep in the ROM's sti; hlt).
    for (let i = 0; i < 6000 && !(fw.counts.get('int16')! >= 1); i++) await new Promise((r) => setTimeout(r, 5));
    m.keyboard.typeText('hI\r');
    assert.deepEqual(await done, exit(0x16), serial());
    assert.equal(serial(), 'key 2368\npeek 1749\nkey 1749\nkey 1c0d\nflags 00');
    assert.ok(fw.counts.get('irq1')! >= 8, 'make and break codes through the BIOS IRQ 1 handler');
  });
});

test('int 15h E820 walk, int 12h, int 11h, A20, int 15h AH=86h wait and int 1Ah ticks advancing', async () => {
  const { m, serial } = machineWithSerial({ image: buildBootSector('bios/sysinfo'), memory: 128 << 20 });
  await withMachine(m, async () => {
    assert.deepEqual(await m.run(), exit(0x15), serial());
    const e820 = memoryMap(m.vm.memory).map((e) =>
      `e820 ${hex(Math.floor(e.base / 2 ** 32), 8)}${hex(e.base >>> 0, 8)} ${hex(Math.floor(e.length / 2 ** 32), 8)}${hex(e.length >>> 0, 8)} ${hex(e.type, 2)}\n`);
    assert.equal(serial(), `${e820.join('')}mem 027f\nequip 0222\na20 01\nticks ok\n`);
    assert.ok(e820.some((l) => l.startsWith('e820 0000000000100000 0000000007f00000 01')), 'RAM from 1 MiB');
  });
});
