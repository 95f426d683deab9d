// The BIOS (src/vmm/firmware) without KVM: the ROM's bytes against their assembly (iced-x86),
// the IVT and BDA it leaves, and each service run on made-up registers and a 1 MiB guest memory,
// the values read back: int 13h CHS across a track and a head boundary, LBA packets, the error
// codes; the E820 walk; int 10h teletype, scrolling, write string, write char; int 16h with keys
// queued by the int 09h translation; int 1Ah; int 15h waits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { disassemble } from '../src/x86/disasm.js';
import { buildRom, ROM_BASE, BIOS_TRAP_PORT } from '../src/vmm/firmware/rom.js';
import { installFirmware, BDA, type FirmwareMemory } from '../src/vmm/firmware/bda.js';
import { BootDisk } from '../src/vmm/firmware/disk.js';
import { keyboardInterrupt, peekKey } from '../src/vmm/firmware/keyboard.js';
import { service, type BiosContext, type BiosRegs, type VideoHooks } from '../src/vmm/firmware/services.js';
import type { TrapId } from '../src/vmm/firmware/rom.js';

class Ram implements FirmwareMemory {
  readonly buf = Buffer.alloc(0x110000);
  view(gpa: number, len: number): Buffer {
    if (gpa < 0 || gpa + len > this.buf.length) throw new Error(`outside: ${gpa.toString(16)}+${len}`);
    return this.buf.subarray(gpa, gpa + len);
  }
}

function regs(r: Partial<BiosRegs> = {}): BiosRegs {
  return { eax: 0, ebx: 0, ecx: 0, edx: 0, esi: 0, edi: 0, ebp: 0, esp: 0, es: 0, ds: 0, ss: 0, esBase: 0, dsBase: 0, ssBase: 0, ...r };
}

/** A disk image whose every sector starts with its LBA (u32) and is filled with its low byte. */
function patternImage(sectors: number): Buffer {
  const b = Buffer.alloc(sectors * 512);
  for (let i = 0; i < sectors; i++) {
    b.fill(i & 0xff, i * 512, (i + 1) * 512);
    b.writeUInt32LE(i, i * 512);
  }
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

function machine(opts: { disk?: BootDisk; now?: Date; map?: BiosContext['memoryMap'] } = {}) {
  const mem = new Ram();
  installFirmware(mem, { disk: opts.disk, now: opts.now ?? new Date(2024, 0, 1, 12, 0, 0) });
  const cursor: number[] = [];
  const shapes: [number, number][] = [];
  const video: VideoHooks = { setCursorOffset: (o) => cursor.push(o), setCursorShape: (s, e) => shapes.push([s, e]) };
  let clock = 1000;
  const ctx: BiosContext = {
    mem,
    readGuest: (gpa, len) => Buffer.from(mem.view(gpa, len)),
    writeGuest: (gpa, data) => mem.view(gpa, data.length).set(data),
    disk: opts.disk,
    memoryMap: opts.map ?? [
      { base: 0, length: 0x9fc00, type: 1 }, { base: 0x9fc00, length: 0x400, type: 2 },
      { base: 0xf0000, length: 0x10000, type: 2 }, { base: 0x100000, length: 0x3f00000, type: 1 },
    ],
    now: () => opts.now ?? new Date(2024, 0, 1, 12, 0, 0),
    monotonic: () => clock,
    video,
    state: {},
  };
  const call = (id: TrapId, r: BiosRegs) => service(id, r, ctx);
  const screenLine = (row: number, page = 0) => {
    let s = '';
    for (let c = 0; c < 80; c++) s += String.fromCharCode(mem.buf[0xb8000 + page * 0x1000 + (row * 80 + c) * 2]);
    return s.trimEnd();
  };
  const attr = (row: number, col: number) => mem.buf[0xb8000 + (row * 80 + col) * 2 + 1];
  return { mem, ctx, call, screenLine, attr, cursor, shapes, tick: (ms: number) => (clock += ms) };
}

test('the ROM disassembles to the assembly each routine is written as; trap points by address', () => {
  const rom = buildRom();
  const read = (a: bigint, n: number) => rom.image.subarray(Number(a) - ROM_BASE, Number(a) - ROM_BASE + n);
  for (const r of rom.listing) {
    const lines = disassemble(read, 16, BigInt(ROM_BASE + r.offset), 0, r.lines.length, undefined, { csBase: BigInt(ROM_BASE) });
    lines.forEach((l, i) => {
      assert.equal(l.text.replace(/\s+/g, ' '), r.lines[i].asm, `${r.name} line ${i}`);
      assert.deepEqual([...l.bytes], r.lines[i].bytes, `${r.name} line ${i} bytes`);
    });
  }
  const o = rom.offsetOf;
  assert.deepEqual(rom.trapAt(o.bios_int10), { id: 'int10', atOut: true });
  assert.deepEqual(rom.trapAt(o.bios_int10 + 2), { id: 'int10', atOut: false }, 'RIP past the out (an emulated out)');
  assert.deepEqual(rom.trapAt(o.bios_irq1 + 3), { id: 'irq1', atOut: true });
  assert.equal(rom.trapAt(o.bios_irq0 + 2), undefined);
  assert.equal(rom.image[o.bios_int13 + 1], BIOS_TRAP_PORT);
  // The reset vector, the date and the model byte where PC software looks.
  assert.deepEqual([...rom.image.subarray(0xfff0, 0xfff5)], [0xea, o.bios_reset & 0xff, o.bios_reset >> 8, 0x00, 0xf0]);
  assert.match(rom.image.toString('latin1', 0xfff5, 0xfffd), /^\d\d\/\d\d\/\d\d$/);
  assert.equal(rom.image[0xfffe], 0xfc);
  for (const name of ['bios_int10', 'bios_int13', 'bios_int16', 'bios_irq0', 'bios_irq1']) {
    assert.ok(rom.symbols.some((s) => s.name === name && s.address === ROM_BASE + o[name] && s.size > 0), name);
  }
});

test('IVT and BDA as a BIOS leaves them', () => {
  const disk = new BootDisk(patternImage(2880), undefined); // 1.44 MB: a floppy
  const { mem } = machine({ disk, now: new Date(2024, 0, 1, 1, 0, 0) });
  const rom = buildRom();
  const vec = (v: number) => [mem.buf.readUInt16LE(v * 4 + 2), mem.buf.readUInt16LE(v * 4)];
  assert.deepEqual(vec(0x10), [0xf000, rom.offsetOf.bios_int10]);
  assert.deepEqual(vec(0x13), [0xf000, rom.offsetOf.bios_int13]);
  assert.deepEqual(vec(0x08), [0xf000, rom.offsetOf.bios_irq0]);
  assert.deepEqual(vec(0x09), [0xf000, rom.offsetOf.bios_irq1]);
  assert.deepEqual(vec(0x00), [0xf000, rom.offsetOf.bios_iret]);
  assert.deepEqual(vec(0x1c), [0xf000, rom.offsetOf.bios_iret]);
  assert.deepEqual(vec(0x1e), [0xf000, 0xefc7]);
  assert.deepEqual(vec(0x70), [0xf000, rom.offsetOf.bios_irq_slave]);
  assert.equal(mem.buf.readUInt16LE(0x400), 0x3f8);
  assert.equal(mem.buf.readUInt16LE(0x40e), 0x9fc0);
  assert.equal(mem.buf.readUInt16LE(0x410) & 1, 1, 'a diskette drive');
  assert.equal(mem.buf.readUInt16LE(0x413), 639);
  assert.equal(mem.buf[0x449], 3);
  assert.equal(mem.buf.readUInt16LE(0x44a), 80);
  assert.equal(mem.buf.readUInt16LE(0x460), 0x0607);
  assert.equal(mem.buf.readUInt16LE(0x463), 0x3d4);
  assert.equal(mem.buf[0x484], 24);
  assert.equal(mem.buf[0x475], 0, 'no hard disk');
  assert.equal(mem.buf.readUInt32LE(0x46c), Math.floor(3600 * 0x1800b0 / 86400), 'ticks at 01:00');
  assert.equal(mem.buf.readUInt16LE(0x41a), 0x1e);
  assert.equal(mem.buf.readUInt16LE(0x482), 0x3e);
  assert.equal(mem.buf[0x9fc00], 1, 'EBDA size');
  assert.equal(mem.buf.readUInt16LE(0xb8000), 0x0720, 'a blank screen');
});

test('disk geometry by image size and by choice', () => {
  assert.deepEqual(new BootDisk(patternImage(2880)).geometry, { cylinders: 80, heads: 2, sectors: 18 });
  assert.equal(new BootDisk(patternImage(2880)).drive, 0);
  assert.deepEqual(new BootDisk(patternImage(720)).geometry, { cylinders: 40, heads: 2, sectors: 9 });
  assert.deepEqual(new BootDisk(patternImage(2400)).geometry, { cylinders: 80, heads: 2, sectors: 15 });
  const small = new BootDisk(patternImage(3));
  assert.equal(small.kind, 'hdd');
  assert.equal(small.drive, 0x80);
  assert.deepEqual(small.geometry, { cylinders: 1, heads: 16, sectors: 63 });
  assert.deepEqual(new BootDisk(patternImage(3), 'floppy').geometry, { cylinders: 80, heads: 2, sectors: 18 });
  assert.equal(new BootDisk(patternImage(16 * 63 * 3 + 1)).geometry.cylinders, 4);
  assert.throws(() => new BootDisk(Buffer.alloc(3 << 20), 'floppy'), /floppy/);
});

test('int 13h AH=02h reads across a track and a head boundary; AH=03h writes the copy, not the image', () => {
  const image = patternImage(2880);
  const disk = new BootDisk(image);
  const { mem, call } = machine({ disk });
  // C0 H0 S17: sectors 16 and 17 of track 0 head 0, then head 1 (LBA 18..21), then cylinder 1 (LBA 36).
  let r = regs({ eax: 0x0214, ebx: 0x0000, ecx: 0x0011, edx: 0x0000, es: 0x1000, esBase: 0x10000 });
  let res = call('int13', r);
  assert.equal(res.cf, false);
  assert.equal(r.eax & 0xffff, 0x0014, 'AH=0, AL=20 sectors');
  for (let i = 0; i < 20; i++) assert.equal(mem.buf.readUInt32LE(0x10000 + i * 512), 16 + i, `sector ${i}`);
  // Cylinder 1, head 1, sector 18: LBA (1*2+1)*18+17 = 71, and on into cylinder 2.
  r = regs({ eax: 0x0202, ebx: 0x0200, ecx: 0x0112, edx: 0x0100, esBase: 0x20000 });
  assert.equal(call('int13', r).cf, false);
  assert.equal(mem.buf.readUInt32LE(0x20200), 71);
  assert.equal(mem.buf.readUInt32LE(0x20400), 72);
  // Write one sector back from memory: the disk copy changes, the caller's image does not.
  mem.buf.fill(0xab, 0x30000, 0x30200);
  r = regs({ eax: 0x0301, ecx: 0x0005, edx: 0x0000, esBase: 0x30000 });
  assert.equal(call('int13', r).cf, false);
  assert.equal(disk.read(4, 1)[7], 0xab);
  assert.equal(image[4 * 512 + 7], 4, 'the image file bytes are untouched');
});

test('int 13h errors: sector out of range (04h), bad command (01h), other drives; status in the BDA', () => {
  const disk = new BootDisk(patternImage(2880));
  const { mem, call } = machine({ disk });
  let r = regs({ eax: 0x0201, ecx: 0x0013, edx: 0x0000, esBase: 0x10000 }); // sector 19 of 18
  let res = call('int13', r);
  assert.equal(res.cf, true);
  assert.equal((r.eax >> 8) & 0xff, 0x04);
  assert.equal(r.eax & 0xff, 0, 'no sectors transferred');
  assert.equal(mem.buf[0x441], 0x04, 'last status in the BDA');
  r = regs({ eax: 0x0100, edx: 0 });
  res = call('int13', r);
  assert.equal(res.cf, true);
  assert.equal((r.eax >> 8) & 0xff, 0x04, 'AH=01h returns the last status');
  r = regs({ eax: 0x0201, ecx: 0x5001, edx: 0x0000, esBase: 0x10000 }); // cylinder 80
  assert.equal(call('int13', r).cf, true);
  assert.equal((r.eax >> 8) & 0xff, 0x04);
  // A read that starts inside the disk but runs past its end: what fits, then 04h.
  r = regs({ eax: 0x0204, ecx: 0x4f12, edx: 0x0100, esBase: 0x10000 }); // the last sector, 4 asked
  assert.equal(call('int13', r).cf, true);
  assert.equal(r.eax & 0xffff, 0x0401);
  r = regs({ eax: 0x0200, ecx: 0x0001, edx: 0x0000 }); // AL=0
  assert.equal(call('int13', r).cf, true);
  assert.equal((r.eax >> 8) & 0xff, 0x01);
  r = regs({ eax: 0x7700, edx: 0x0000 });
  assert.equal(call('int13', r).cf, true);
  assert.equal((r.eax >> 8) & 0xff, 0x01, 'unknown function');
  r = regs({ eax: 0x0201, ecx: 0x0001, edx: 0x0080 }); // no hard disk here
  assert.equal(call('int13', r).cf, true);
  r = regs({ eax: 0x0000, edx: 0x0000 });
  assert.equal(call('int13', r).cf, false, 'reset');
  assert.equal(mem.buf[0x441], 0);
});

test('int 13h AH=41h/42h/43h/48h: LBA packets on a hard disk, count written back', () => {
  const disk = new BootDisk(patternImage(100));
  const { mem, call } = machine({ disk });
  let r = regs({ eax: 0x4100, ebx: 0x55aa, edx: 0x80 });
  assert.equal(call('int13', r).cf, false);
  assert.equal(r.ebx & 0xffff, 0xaa55);
  assert.equal(r.ecx & 1, 1);
  // Packet at 0000:0600: 16 bytes, 70 sectors (across the 63-sector track) to 2000:0000 from LBA 5.
  const p = mem.view(0x600, 16);
  p.fill(0);
  p[0] = 0x10;
  p.writeUInt16LE(70, 2);
  p.writeUInt16LE(0x0000, 4);
  p.writeUInt16LE(0x2000, 6);
  p.writeBigUInt64LE(5n, 8);
  r = regs({ eax: 0x4200, edx: 0x80, esi: 0x600 });
  assert.equal(call('int13', r).cf, false);
  for (const i of [0, 57, 58, 69]) assert.equal(mem.buf.readUInt32LE(0x20000 + i * 512), 5 + i);
  assert.equal(p.readUInt16LE(2), 70);
  // Past the end of the disk (16*63 sectors): 04h, count = what was transferred.
  p.writeBigUInt64LE(BigInt(16 * 63 - 2), 8);
  p.writeUInt16LE(5, 2);
  r = regs({ eax: 0x4200, edx: 0x80, esi: 0x600 });
  assert.equal(call('int13', r).cf, true);
  assert.equal((r.eax >> 8) & 0xff, 0x04);
  assert.equal(p.readUInt16LE(2), 2);
  // LBA write.
  mem.buf.fill(0x5a, 0x30000, 0x30400);
  p.writeUInt16LE(2, 2); p.writeUInt16LE(0, 4); p.writeUInt16LE(0x3000, 6); p.writeBigUInt64LE(10n, 8);
  r = regs({ eax: 0x4300, edx: 0x80, esi: 0x600 });
  assert.equal(call('int13', r).cf, false);
  assert.equal(disk.read(11, 1)[100], 0x5a);
  // Beyond the image (100 sectors) the disk reads zeros, and takes writes.
  assert.equal(disk.read(500, 1).readUInt32LE(0), 0);
  p.writeBigUInt64LE(900n, 8);
  r = regs({ eax: 0x4300, edx: 0x80, esi: 0x600 });
  assert.equal(call('int13', r).cf, false);
  assert.equal(disk.read(901, 1)[100], 0x5a);
  // AH=08h and AH=48h: the geometry.
  r = regs({ eax: 0x0800, edx: 0x80 });
  assert.equal(call('int13', r).cf, false);
  assert.equal(r.ecx & 0xffff, 0x003f, 'one cylinder (max 0), 63 sectors');
  assert.equal(r.edx & 0xffff, 0x0f01, '16 heads (max 15), one drive');
  mem.view(0x700, 2).writeUInt16LE(0x1e);
  r = regs({ eax: 0x4800, edx: 0x80, esi: 0x700 });
  assert.equal(call('int13', r).cf, false);
  assert.equal(mem.buf.readUInt32LE(0x708), 16);
  assert.equal(mem.buf.readBigUInt64LE(0x710), 1008n);
  assert.equal(mem.buf.readUInt16LE(0x718), 512);
});

test('int 13h AH=08h on a floppy: drive type, geometry and ES:DI to the diskette parameter table', () => {
  const { call } = machine({ disk: new BootDisk(patternImage(2880)) });
  const r = regs({ eax: 0x0800, edx: 0x00 });
  const res = call('int13', r);
  assert.equal(res.cf, false);
  assert.equal(res.es, 0xf000);
  assert.equal(r.edi & 0xffff, 0xefc7);
  assert.equal(r.ebx & 0xff, 4, '1.44 MB');
  assert.equal(r.ecx & 0xffff, 0x4f12, '80 cylinders (max 79), 18 sectors');
  assert.equal(r.edx & 0xffff, 0x0101, '2 heads (max 1), one drive');
});

test('int 15h E820 walk: every entry of the map, EBX continuation, 24-byte entries, SMAP', () => {
  const map = [
    { base: 0, length: 0x9fc00, type: 1 }, { base: 0x9fc00, length: 0x400, type: 2 },
    { base: 0xf0000, length: 0x10000, type: 2 }, { base: 0x100000, length: 0xbff00000, type: 1 },
    { base: 0x1_0000_0000, length: 0x4000_0000, type: 1 },
  ];
  const { mem, call } = machine({ map });
  const seen: { base: number; length: number; type: number }[] = [];
  let ebx = 0;
  do {
    const r = regs({ eax: 0xe820, ebx, ecx: 24, edx: 0x534d4150, edi: 0x800 });
    assert.equal(call('int15', r).cf, false);
    assert.equal(r.eax, 0x534d4150);
    assert.equal(r.ecx, 24);
    assert.equal(mem.buf.readUInt32LE(0x814), 1, 'extended attributes');
    seen.push({ base: Number(mem.buf.readBigUInt64LE(0x800)), length: Number(mem.buf.readBigUInt64LE(0x808)), type: mem.buf.readUInt32LE(0x810) });
    ebx = r.ebx;
  } while (ebx !== 0 && seen.length < 10);
  assert.deepEqual(seen, map);
  let r = regs({ eax: 0xe820, ebx: 0, ecx: 20, edx: 0x12345678, edi: 0x800 });
  assert.equal(call('int15', r).cf, true, 'no SMAP signature');
  r = regs({ eax: 0xe801 });
  assert.equal(call('int15', r).cf, false);
  assert.equal(r.eax & 0xffff, 0x3c00, '15 MiB between 1 and 16 MiB');
  assert.equal(r.ebx & 0xffff, (0xc0000000 - 0x1000000) / 65536, '64K blocks from 16 MiB to the PCI hole');
  r = regs({ eax: 0x8800 });
  call('int15', r);
  assert.equal(r.eax & 0xffff, 0xffff);
  r = regs({ eax: 0x2402 });
  assert.equal(call('int15', r).cf, false);
  assert.equal(r.eax & 0xffff, 0x0001, 'A20 on');
  r = regs({ eax: 0x2400 });
  assert.equal(call('int15', r).cf, true, 'A20 cannot be turned off');
  r = regs({ eax: 0x9900 });
  assert.equal(call('int15', r).cf, true);
  assert.equal((r.eax >> 8) & 0xff, 0x86);
  r = regs({ eax: 0xc000 });
  const res = call('int15', r);
  assert.equal(res.es, 0xf000);
  assert.equal(r.ebx & 0xffff, 0xe6f5);
});

test('int 15h AH=86h sleeps in the ROM until the time is up', () => {
  const { call, tick } = machine();
  const r = regs({ eax: 0x8600, ecx: 0x0000, edx: 50000 }); // 50 ms
  assert.deepEqual(call('int15', r), { redirect: 'bios_wait_us' });
  tick(20);
  assert.deepEqual(call('wait-us', r), { redirect: 'bios_wait_us' });
  tick(40);
  assert.deepEqual(call('wait-us', r), { cf: false });
});

test('int 10h: teletype with CR, LF, BS and BEL, wrap and scroll at the bottom; the CRTC cursor follows', () => {
  const { mem, call, screenLine, cursor } = machine();
  const tty = (s: string) => { for (const ch of Buffer.from(s, 'latin1')) call('int10', regs({ eax: 0x0e00 | ch })); };
  tty('Hello\r\nWorlX\bd\x07');
  assert.equal(screenLine(0), 'Hello');
  assert.equal(screenLine(1), 'World');
  assert.deepEqual([mem.buf[0x450], mem.buf[0x451]], [5, 1], 'cursor column 5, row 1');
  assert.equal(cursor.at(-1), 80 + 5);
  let r = regs({ eax: 0x0300 });
  call('int10', r);
  assert.equal(r.edx & 0xffff, 0x0105);
  assert.equal(r.ecx & 0xffff, 0x0607);
  // Fill to the bottom and one more line: everything moves up one row.
  call('int10', regs({ eax: 0x0200, edx: 0x1800 })); // row 24, column 0
  tty('bottom\r\nnext');
  assert.equal(screenLine(0), 'World', 'row 0 scrolled away');
  assert.equal(screenLine(23), 'bottom');
  assert.equal(screenLine(24), 'next');
  assert.deepEqual([mem.buf[0x450], mem.buf[0x451]], [4, 24]);
  // Wrap at column 80.
  call('int10', regs({ eax: 0x0200, edx: 0x054e })); // row 5, column 78
  tty('abc');
  assert.equal(screenLine(5).slice(78), 'ab');
  assert.equal(screenLine(6), 'c');
});

test('int 10h: scroll window, write char+attribute CX times, write string with attributes, modes', () => {
  const { mem, call, screenLine, attr, shapes } = machine();
  for (let row = 0; row < 25; row++) {
    call('int10', regs({ eax: 0x0200, edx: row << 8 }));
    call('int10', regs({ eax: 0x0a00 | (0x41 + row), ecx: 80 })); // AH=0Ah: char only, 80 times
  }
  assert.equal(screenLine(3), 'D'.repeat(80));
  // Scroll rows 2-4, columns 10-19 up by one with attribute 0x1f.
  call('int10', regs({ eax: 0x0601, ebx: 0x1f00, ecx: 0x020a, edx: 0x0413 }));
  assert.equal(screenLine(2), 'CCCCCCCCCC' + 'DDDDDDDDDD' + 'C'.repeat(60));
  assert.equal(screenLine(4).slice(10, 20), '          ');
  assert.equal(attr(4, 10), 0x1f);
  // Down by two over the whole screen.
  call('int10', regs({ eax: 0x0702, ebx: 0x0700, ecx: 0x0000, edx: 0x184f }));
  assert.equal(screenLine(0), '');
  assert.equal(screenLine(2), 'A'.repeat(80));
  // AH=09h: char and attribute CX times, cursor unmoved.
  call('int10', regs({ eax: 0x0200, edx: 0x0a05 }));
  call('int10', regs({ eax: 0x092a, ebx: 0x004e, ecx: 3 }));
  assert.equal(screenLine(10).slice(5, 9), '***' + String.fromCharCode(0x41 + 8));
  assert.equal(attr(10, 6), 0x4e);
  assert.deepEqual([mem.buf[0x450], mem.buf[0x451]], [5, 10]);
  let r = regs({ eax: 0x0800 });
  call('int10', r);
  assert.equal(r.eax & 0xffff, 0x4e2a, 'AH=08h reads it back');
  // AH=13h AL=1: a string in attribute BL at DH,DL, cursor moved to its end.
  mem.buf.write('Hi\r\nyou', 0x5000, 'latin1');
  call('int10', regs({ eax: 0x1301, ebx: 0x002f, ecx: 7, edx: 0x0c02, ebp: 0x5000 }));
  assert.equal(screenLine(12).slice(2, 4), 'Hi');
  assert.equal(screenLine(13).slice(0, 3), 'you');
  assert.equal(attr(13, 0), 0x2f);
  assert.deepEqual([mem.buf[0x450], mem.buf[0x451]], [3, 13]);
  // AL=2: char,attr pairs, cursor left where it was.
  mem.buf.set([0x58, 0x1e, 0x59, 0x4f], 0x5100);
  call('int10', regs({ eax: 0x1302, ecx: 2, edx: 0x1400, ebp: 0x5100 }));
  assert.equal(screenLine(20).slice(0, 2), 'XY');
  assert.deepEqual([attr(20, 0), attr(20, 1)], [0x1e, 0x4f]);
  assert.deepEqual([mem.buf[0x450], mem.buf[0x451]], [3, 13]);
  // Cursor shape, get mode, set mode 03h (clears), mode 13h refused.
  call('int10', regs({ eax: 0x0100, ecx: 0x0d0e }));
  assert.deepEqual(shapes.at(-1), [0x0d, 0x0e]);
  r = regs({ eax: 0x0f00 });
  call('int10', r);
  assert.equal(r.eax & 0xffff, 0x5003);
  assert.equal((r.ebx >> 8) & 0xff, 0);
  call('int10', regs({ eax: 0x0013 }));
  assert.equal(mem.buf[0x449], 3, 'mode 13h refused: still text');
  assert.equal(screenLine(2), 'A'.repeat(80), 'nothing cleared');
  call('int10', regs({ eax: 0x0003 }));
  assert.equal(screenLine(2), '');
  assert.equal(mem.buf.readUInt16LE(0xb8000 + 2 * 162), 0x0720);
  assert.deepEqual([mem.buf[0x450], mem.buf[0x451]], [0, 0]);
});

test('int 09h translation into the BDA ring, read back through int 16h', () => {
  const { mem, call } = machine();
  const key = (...codes: number[]) => codes.forEach((c) => keyboardInterrupt(mem, c));
  let r = regs({ eax: 0x0100 });
  assert.deepEqual(call('int16', r), { zf: true }, 'nothing waiting');
  r = regs({ eax: 0x0000 });
  assert.deepEqual(call('int16', r), { redirect: 'bios_wait_key' }, 'AH=00h with no key waits in the ROM');
  key(0x1e, 0x9e); // a
  key(0x2a, 0x1e, 0x9e, 0xaa); // Shift+a
  key(0x1d, 0x2e, 0xae, 0x9d); // Ctrl+c
  key(0x1c, 0x9c); // Enter
  key(0xe0, 0x48, 0xe0, 0xc8); // Up (E0)
  key(0x3b, 0xbb); // F1
  key(0x3a, 0xba, 0x10, 0x90); // Caps Lock, q
  r = regs({ eax: 0x0100 });
  assert.deepEqual(call('int16', r), { zf: false });
  assert.equal(r.eax & 0xffff, 0x1e61, 'peek: a, still queued');
  const words: number[] = [];
  for (let i = 0; i < 7; i++) {
    r = regs({ eax: i === 4 ? 0x1000 : 0x0000 });
    assert.deepEqual(call('int16', r), {});
    words.push(r.eax & 0xffff);
  }
  assert.deepEqual(words, [0x1e61, 0x1e41, 0x2e03, 0x1c0d, 0x48e0, 0x3b00, 0x1051]);
  assert.equal(peekKey(mem, false), undefined);
  assert.equal(mem.buf[BDA.kbdFlags1] & 0x40, 0x40, 'Caps Lock on');
  r = regs({ eax: 0x0200 });
  call('int16', r);
  assert.equal(r.eax & 0xff, 0x40);
  // AH=05h stores a key; AH=00h reports an E0 key's AL as 0.
  call('int16', regs({ eax: 0x0500, ecx: 0x48e0 }));
  r = regs({ eax: 0x0000 });
  call('int16', r);
  assert.equal(r.eax & 0xffff, 0x4800);
  // The ring holds 15 keys; the 16th is lost.
  for (let i = 0; i < 16; i++) key(0x02, 0x82);
  let n = 0;
  while (peekKey(mem, true) !== undefined) n++;
  assert.equal(n, 15);
});

test('int 1Ah ticks and RTC time and date in BCD; int 11h, 12h; int 19h reboots from sector 0, 18h halts', () => {
  const disk = new BootDisk(patternImage(3));
  const { mem, call, screenLine } = machine({ disk, now: new Date(2024, 6, 14, 13, 45, 30) });
  mem.buf.writeUInt32LE(0x0012abcd, 0x46c);
  mem.buf[0x470] = 1;
  let r = regs({ eax: 0x0000 });
  call('int1a', r);
  assert.deepEqual([r.ecx & 0xffff, r.edx & 0xffff, r.eax & 0xff], [0x0012, 0xabcd, 1]);
  assert.equal(mem.buf[0x470], 0, 'midnight flag cleared by the read');
  r = regs({ eax: 0x0200 });
  assert.equal(call('int1a', r).cf, false);
  assert.deepEqual([r.ecx & 0xffff, (r.edx >> 8) & 0xff], [0x1345, 0x30]);
  r = regs({ eax: 0x0400 });
  call('int1a', r);
  assert.deepEqual([r.ecx & 0xffff, r.edx & 0xffff], [0x2024, 0x0714]);
  r = regs({ eax: 0x0100, ecx: 1, edx: 2 });
  call('int1a', r);
  assert.equal(mem.buf.readUInt32LE(0x46c), 0x10002);
  r = regs();
  call('int12', r);
  assert.equal(r.eax, 639);
  r = regs();
  call('int11', r);
  assert.equal(r.eax & 1, 0, 'no diskette drive with a hard disk image');
  assert.equal(r.eax & 0x30, 0x20, '80x25 colour');
  mem.buf.fill(0, 0x7c00, 0x7e00);
  r = regs({ edx: 0 });
  assert.deepEqual(call('int19', r), { redirect: 'bios_boot' });
  assert.equal(mem.buf[0x7dfe], 0x55);
  assert.equal(r.edx & 0xff, 0x80);
  assert.deepEqual(call('int18', regs()), { redirect: 'bios_halt' });
  assert.equal(screenLine(0), 'No bootable device');
});
