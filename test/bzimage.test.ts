// The Linux bzImage loader (32-bit boot protocol) on a fake bzImage built from
// test/guests/bzimage/fake-bzimage.S: a protocol 2.15 setup header and a small protected-mode
// kernel that checks its entry state and prints the command line, the initrd and the E820 map
// from the zero page. Detection; the zero page, command line and initrd read back field by field;
// the entry registers; runs through the Machine API and the CLI; each error with its message;
// and mutated headers, which must load (and run) or fail with a GuestError.
import './support/needs-kvm.js';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestMemory } from '../src/vmm/memory.js';
import { GuestError } from '../src/errors.js';
import { LINUX_CMDLINE_ADDR, LINUX_ZERO_PAGE_ADDR, PCI_HOLE_START } from '../src/vmm/layout.js';
import { detectFormat, loadGuest } from '../src/vmm/loaders/detect.js';
import { BP, isBzImage, parseBzImageHeader, XLF_KERNEL_64 } from '../src/vmm/loaders/bzimage.js';
import { LINUX_BOOT64_GDT, segmentFor } from '../src/vmm/arch/gdt.js';
import { memoryMap } from '../src/vmm/loaders/multiboot.js';
import { GUEST_FORMATS, type GuestFormat, type LoadOptions, type Module } from '../src/vmm/loaders/types.js';
import { Machine, type MachineConfig } from '../src/vmm/machine.js';
import type { Stop } from '../src/vmm/debug/stops.js';
import { buildLoaderGuests } from './guests/build-loaders.js';
import { buildFakeBzImage, type FakeBzImage } from './guests/bzimage/build.js';
import { prng } from './support/prng.js';
import { buildDist, cli, said } from './support/cli.js';
import { cString } from './support/c-string.js';
import { throwsGuest } from './support/guest-errors.js';
import { machineWithSerial, withMachine } from './support/machine.js';
import { MAP_16M } from './support/memory-map.js';

const MiB = 1 << 20;
const GiB = 2 ** 30;
const KERNEL = 0x100000;
const EXIT_OK = (0x2a << 1) | 1;

let fake: FakeBzImage;
let mem: GuestMemory;
let tmp = '';
const initrdData = Buffer.from('INITRD:cpio-archive-bytes:'.repeat(200)); // 5200 bytes
const initrdPath = () => join(tmp, 'initrd.img');

before(() => {
  fake = buildFakeBzImage();
  mem = new GuestMemory(16 * MiB);
  tmp = mkdtempSync(join(tmpdir(), 'kvmdbg-bzimage-'));
  writeFileSync(initrdPath(), initrdData);
});
after(() => {
  mem.destroy();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function opts(o: Partial<LoadOptions> = {}): LoadOptions {
  return { fileName: 'bzImage', cmdline: '', modules: [], ...o };
}

function mod(data: Buffer, path = 'initrd.img'): Module {
  return { path, args: 'ignored for a bzImage', data };
}

/** Fills guest memory with 0xAA first, so zeroing and stray writes show. */
function load(image: Buffer, o: Partial<LoadOptions> = {}, m = mem) {
  m.view(0, Math.min(m.top, 16 * MiB)).fill(0xaa);
  return loadGuest(image, m, opts(o));
}

/** A copy of the fake bzImage with header fields changed: [offset, size, value]. */
function patched(...fields: [number, 1 | 2 | 4 | 8, number | bigint][]): Buffer {
  const b = Buffer.from(fake.image);
  for (const [off, size, v] of fields) {
    if (size === 1) b[off] = Number(v);
    else if (size === 2) b.writeUInt16LE(Number(v), off);
    else if (size === 4) b.writeUInt32LE(Number(v), off);
    else b.writeBigUInt64LE(BigInt(v), off);
  }
  return b;
}

/** The E820 table in a zero page, as the guest sees it. */
function e820(zp: Buffer): { base: number; length: number; type: number }[] {
  return Array.from({ length: zp[BP.e820_entries] }, (_, i) => {
    const at = BP.e820_table + 20 * i;
    return { base: Number(zp.readBigUInt64LE(at)), length: Number(zp.readBigUInt64LE(at + 8)), type: zp.readUInt32LE(at + 16) };
  });
}

/** The lines the fake kernel prints for a memory map. */
function e820Lines(map: { base: number; length: number; type: number }[]): string {
  const h = (v: number, n: number) => v.toString(16).padStart(n, '0');
  return `e820 ${h(map.length, 2)}\n` + map.map((e) => `${h(e.base, 16)} ${h(e.length, 16)} ${h(e.type, 8)}\n`).join('');
}

// --- detection and the header ----------------------------------------------------------------

test('detectFormat: a Linux setup header makes a bzImage, before the boot-sector signature it also has', () => {
  assert.ok(GUEST_FORMATS.includes('bzimage'));
  assert.ok(isBzImage(fake.image));
  assert.equal(detectFormat(fake.image), 'bzimage');
  // Old protocol versions are still detected, so the loader can say why it refuses them.
  assert.equal(detectFormat(patched([BP.version, 2, 0x0201])), 'bzimage');
  // Without "HdrS" the same bytes are just a boot sector (55 AA at 510); without 55 AA, nothing.
  const noMagic = patched([BP.header, 4, 0]);
  assert.ok(!isBzImage(noMagic));
  assert.equal(detectFormat(noMagic), 'bootsector');
  assert.equal(detectFormat(patched([BP.boot_flag, 2, 0])), undefined);
  assert.ok(!isBzImage(fake.image.subarray(0, 0x205)), 'too short for the magic');
  // The other loaders' guests are not mistaken for one.
  const g = buildLoaderGuests();
  for (const [name, x] of Object.entries(g)) assert.notEqual(detectFormat(x.image), 'bzimage', name);
});

test('parseBzImageHeader reads the fake kernel\'s setup header', () => {
  const h = parseBzImageHeader(fake.image, 'bzImage');
  const kernelSize = fake.image.length - 5 * 512;
  assert.deepEqual(h, {
    version: 0x020f, setupSects: 4, kernelOffset: 0xa00, kernelSize, headerEnd: fake.offsets.start_of_setup,
    loadflags: 0x01, code32Start: KERNEL, initrdAddrMax: 0x7fffffff, kernelAlignment: 0x200000, relocatable: false,
    cmdlineSize: 2047, xloadflags: 0, prefAddress: BigInt(KERNEL), initSize: 0x20000,
  });
  assert.equal(fake.offsets.kernel_start, 0xa00, 'the kernel follows (setup_sects + 1) sectors');
  assert.equal(fake.offsets.start_of_setup, 0x26c, 'a 2.15 header ends at 0x26c (kernel_info_offset)');
  // setup_sects 0 means 4: the same layout.
  assert.equal(parseBzImageHeader(patched([BP.setup_sects, 1, 0]), 'x').kernelOffset, 0xa00);
  // syssize (16-byte paragraphs) agrees with the file.
  assert.equal(fake.image.readUInt32LE(BP.syssize), Math.ceil(kernelSize / 16));
});

// --- loading ---------------------------------------------------------------------------------

test('load: kernel at 1 MiB, zero page and command line at their fixed addresses, initrd at the top of RAM', () => {
  const cmdline = 'console=ttyS0 root=/dev/ram0 rdinit=/init';
  const g = load(fake.image, { cmdline, modules: [mod(initrdData)] });
  assert.equal(g.format, 'bzimage');
  assert.deepEqual(g.entry, {
    mode: 'protected', rip: BigInt(KERNEL),
    regs: { rsi: BigInt(LINUX_ZERO_PAGE_ADDR), rbx: 0n, rbp: 0n, rdi: 0n },
  });
  // init_size (0x20000) is more than the file's kernel part: the kernel claims that much.
  assert.deepEqual(g.extent, { start: KERNEL, end: KERNEL + 0x20000 });
  const kernel = fake.image.subarray(0xa00);
  assert.deepEqual(mem.read(KERNEL, kernel.length), kernel);
  assert.ok(mem.view(KERNEL + kernel.length, 0x100).every((b) => b === 0xaa), 'nothing written past the file');

  const zp = mem.read(LINUX_ZERO_PAGE_ADDR, 4096);
  // The setup header, copied from the file but for the fields the loader writes.
  const hdr = Buffer.from(fake.image.subarray(BP.hdr, 0x26c));
  const written = Buffer.from(zp.subarray(BP.hdr, 0x26c));
  for (const [off, len] of [[BP.type_of_loader, 2], [BP.ramdisk_image, 8], [BP.heap_end_ptr, 2], [BP.cmd_line_ptr, 4]]) {
    hdr.fill(0, off - BP.hdr, off - BP.hdr + len);
    written.fill(0, off - BP.hdr, off - BP.hdr + len);
  }
  assert.deepEqual(written, hdr, 'boot_params.hdr is the file\'s setup header');
  assert.equal(zp.readUInt32LE(BP.header), 0x53726448, '"HdrS"');
  assert.equal(zp[BP.type_of_loader], 0xff);
  assert.equal(zp[BP.loadflags], 0x81, 'LOADED_HIGH kept, CAN_USE_HEAP set');
  assert.equal(zp.readUInt16LE(BP.heap_end_ptr), 0xfe00);
  assert.equal(zp.readUInt32LE(BP.cmd_line_ptr), LINUX_CMDLINE_ADDR);
  assert.equal(cString(mem, LINUX_CMDLINE_ADDR, 65536), cmdline);
  // Everything outside the header and the fields below is zero (no video, no EDD, no APM).
  assert.ok(zp.subarray(0, BP.alt_mem_k).every((b) => b === 0), 'screen_info .. efi_info zero');
  assert.equal(zp[BP.sentinel], 0, 'sentinel zero: the header was not copied from a whole sector');
  assert.ok(zp.subarray(0x26c, BP.e820_table).every((b) => b === 0));
  assert.ok(zp.subarray(BP.e820_table + 20 * 4).every((b) => b === 0));
  assert.equal(zp.readUInt32LE(BP.alt_mem_k), 15 * 1024, 'alt_mem_k: KiB above 1 MiB');
  assert.deepEqual(e820(zp), MAP_16M);
  assert.deepEqual(e820(zp), memoryMap(mem), 'the same map as Multiboot\'s');

  // The initrd: page-aligned, as high as RAM allows, intact.
  const image = zp.readUInt32LE(BP.ramdisk_image);
  const size = zp.readUInt32LE(BP.ramdisk_size);
  assert.equal(size, initrdData.length);
  assert.equal(image % 4096, 0);
  assert.equal(image, Math.floor((16 * MiB - size) / 4096) * 4096);
  assert.deepEqual(mem.read(image, size), initrdData);
  assert.ok(image >= g.extent.end);
});

test('load: no initrd and an empty command line give ramdisk 0/0 and an empty string', () => {
  load(fake.image);
  const zp = mem.read(LINUX_ZERO_PAGE_ADDR, 4096);
  assert.equal(zp.readUInt32LE(BP.ramdisk_image), 0);
  assert.equal(zp.readUInt32LE(BP.ramdisk_size), 0);
  assert.equal(mem.read(zp.readUInt32LE(BP.cmd_line_ptr), 1)[0], 0);
  // An empty module file is no initrd either.
  load(fake.image, { modules: [mod(Buffer.alloc(0))] });
  assert.equal(mem.read(LINUX_ZERO_PAGE_ADDR + BP.ramdisk_size, 4).readUInt32LE(0), 0);
});

test('load: several modules make one initrd, concatenated, each padded to 4 bytes (as GRUB\'s initrd a b)', () => {
  const a5 = Buffer.from('ABCDE'), b = Buffer.from('cpio-two'), c = Buffer.from('!');
  load(fake.image, { modules: [mod(a5, 'a'), mod(b, 'b'), mod(c, 'c')] });
  const zp = mem.read(LINUX_ZERO_PAGE_ADDR, 4096);
  const size = zp.readUInt32LE(BP.ramdisk_size);
  assert.equal(size, 8 + 8 + 1);
  assert.deepEqual(mem.read(zp.readUInt32LE(BP.ramdisk_image), size), Buffer.concat([a5, Buffer.alloc(3), b, c]));
});

test('load: the initrd stays below initrd_addr_max', () => {
  const g = load(patched([BP.initrd_addr_max, 4, 0x7fffff]), { modules: [mod(initrdData)] });
  const zp = mem.read(LINUX_ZERO_PAGE_ADDR, 4096);
  const image = zp.readUInt32LE(BP.ramdisk_image);
  assert.equal(image, Math.floor((0x800000 - initrdData.length) / 4096) * 4096);
  assert.ok(image + initrdData.length <= 0x800000 && image >= g.extent.end);
});

test('load: a relocatable kernel decompresses at pref_address or the aligned load address, and needs init_size there', () => {
  // Like an x86_64 kernel: relocatable, 2 MiB alignment, pref_address 16 MiB, init_size 16 MiB.
  const k = patched([BP.relocatable_kernel, 1, 1], [BP.pref_address, 8, 0x1000000], [BP.init_size, 4, 0x1000000]);
  throwsGuest(() => load(k), 'bzImage:', 'init_size 0x1000000 from 0x1000000', '0x1000000..0x2000000', /give --memory 32M or more/);
  const big = new GuestMemory(64 * MiB);
  try {
    const g = load(k, { modules: [mod(initrdData)] }, big);
    assert.deepEqual(g.extent, { start: KERNEL, end: 0x2000000 });
    const image = big.read(LINUX_ZERO_PAGE_ADDR + BP.ramdisk_image, 4).readUInt32LE(0);
    assert.ok(image >= 0x2000000 && image + initrdData.length <= 64 * MiB);
    // A pref_address below the aligned load address: the kernel runs from the aligned address.
    const low = patched([BP.relocatable_kernel, 1, 1], [BP.pref_address, 8, 0x100000], [BP.kernel_alignment, 4, 0x400000]);
    assert.deepEqual(load(low, {}, big).extent, { start: KERNEL, end: 0x400000 + 0x20000 });
  } finally {
    big.destroy();
  }
});

// --- errors ----------------------------------------------------------------------------------

test('error: truncated files', () => {
  throwsGuest(() => load(fake.image.subarray(0, 0x280)), 'bzImage: truncated', 'inside the Linux setup header');
  throwsGuest(() => load(fake.image.subarray(0, 0xa00)), 'bzImage: truncated', 'setup area of 2560 (setup_sects 4)', 'protected-mode kernel is missing');
  throwsGuest(() => load(fake.image.subarray(0, 0x600)), 'truncated', 'the file has 1536 bytes');
  const kernelSize = fake.image.length - 0xa00;
  const cut = fake.image.subarray(0, fake.image.length - 64);
  throwsGuest(() => load(cut), 'bzImage: truncated', `syssize says ${Math.ceil(kernelSize / 16) * 16} bytes`, `only ${kernelSize - 64}`);
  // Rounding: syssize may be up to 15 bytes more than the file has.
  assert.equal(load(fake.image.subarray(0, fake.image.length - (kernelSize % 16 || 16) + 1)).format, 'bzimage');
});

test('load: the 64-bit entry: long mode at code32_start + 0x200, RSI the zero page, a GDT with 64-bit __BOOT_CS; refused without XLF_KERNEL_64', () => {
  const withEntry64 = patched([BP.xloadflags, 2, XLF_KERNEL_64]);
  assert.equal(parseBzImageHeader(withEntry64, 'x').xloadflags, XLF_KERNEL_64);
  const g = load(withEntry64, { bootEntry: 64 });
  assert.deepEqual(g.entry, { mode: 'long', rip: BigInt(KERNEL + 0x200), regs: { rsi: BigInt(LINUX_ZERO_PAGE_ADDR) }, gdt: LINUX_BOOT64_GDT });
  const cs = segmentFor(LINUX_BOOT64_GDT.code, LINUX_BOOT64_GDT.entries);
  assert.deepEqual({ selector: cs.selector, l: cs.l, db: cs.db, type: cs.type }, { selector: 0x10, l: true, db: false, type: 0xb });
  const ds = segmentFor(LINUX_BOOT64_GDT.data, LINUX_BOOT64_GDT.entries);
  assert.deepEqual({ selector: ds.selector, limit: ds.limit, type: ds.type }, { selector: 0x18, limit: 0xffffffff, type: 0x3 });
  // The same image loads through the 32-bit entry by default and with 32.
  assert.equal(load(withEntry64).entry.mode, 'protected');
  assert.equal(load(withEntry64, { bootEntry: 32 }).entry.rip, BigInt(KERNEL));
  throwsGuest(() => load(fake.image, { bootEntry: 64 }), 'bzImage: this kernel has no 64-bit entry', 'XLF_KERNEL_64 is clear', '--boot-entry 32');
  // Before protocol 2.12 xloadflags is not a field: the bits there are not read.
  throwsGuest(() => load(patched([BP.xloadflags, 2, XLF_KERNEL_64], [BP.version, 2, 0x020b]), { bootEntry: 64 }), 'boot protocol 2.11', 'no 64-bit entry');
});

test('error: an old boot protocol, a zImage', () => {
  throwsGuest(() => load(patched([BP.version, 2, 0x0201])),
    'bzImage: Linux boot protocol 2.01 is too old', 'protocol 2.06 or later', 'Linux 2.6.22');
  throwsGuest(() => load(patched([BP.version, 2, 0x0205])), 'protocol 2.05 is too old');
  assert.equal(load(patched([BP.version, 2, 0x0206])).format, 'bzimage', '2.06 is enough');
  throwsGuest(() => load(patched([BP.loadflags, 1, 0])), 'a zImage', 'LOADED_HIGH', 'only bzImage');
});

test('error: a kernel too large for guest memory', () => {
  throwsGuest(() => load(patched([BP.init_size, 4, 0x4000000])),
    "bzImage: the kernel's decompression area (init_size 0x4000000 from 0x100000) needs 0x100000..0x4100000",
    'guest memory is 0x0..0x1000000', /give --memory 65M or more/);
  // The file itself larger than memory.
  const huge = Buffer.concat([fake.image, Buffer.alloc(16 * MiB)]);
  huge.writeUInt32LE((huge.length - 0xa00) / 16, BP.syssize);
  throwsGuest(() => load(huge), /the protected-mode kernel \(\d+ bytes\) needs 0x100000\.\./, /give --memory 18M or more/);
  // Reaching into the PCI hole: more memory would not help.
  throwsGuest(() => load(patched([BP.pref_address, 8, 0xbfff0000])), /PCI hole/);
  throwsGuest(() => load(patched([BP.pref_address, 8, 0x100000000n])), 'pref_address 0x100000000 is above 4 GiB');
  throwsGuest(() => load(patched([BP.pref_address, 8, 0x8000])), 'pref_address 0x8000 is below 1 MiB');
  throwsGuest(() => load(patched([BP.relocatable_kernel, 1, 1], [BP.kernel_alignment, 4, 0x3000])),
    'kernel_alignment 0x3000 is not a power of two');
  throwsGuest(() => load(patched([BP.code32_start, 4, 0x90000])), 'code32_start 0x90000 is not inside the protected-mode kernel');
});

test('error: an initrd too large', () => {
  const big = mod(Buffer.alloc(16 * MiB), 'big-initrd.img');
  throwsGuest(() => load(fake.image, { modules: [big] }),
    'big-initrd.img: an initrd of 16777216 bytes does not fit between the kernel\'s end 0x120000 and 0x1000000',
    /give --memory 18M or more/);
  // initrd_addr_max is the kernel's limit, whatever the memory.
  throwsGuest(() => load(patched([BP.initrd_addr_max, 4, 0x120fff]), { modules: [mod(initrdData)] }),
    'initrd.img: an initrd of 5200 bytes', 'initrd_addr_max 0x120fff leaves 4096 bytes above the kernel', 'however much memory');
  // Several modules are named together.
  throwsGuest(() => load(fake.image, { modules: [mod(initrdData, 'a.cpio'), big] }), 'the initrd (a.cpio + big-initrd.img)');
});

test('error: a command line longer than cmdline_size, forcing bzimage on another format', () => {
  throwsGuest(() => load(patched([BP.cmdline_size, 4, 8]), { cmdline: 'console=ttyS0' }),
    'the command line is 13 bytes; this kernel takes at most 8 (cmdline_size)');
  assert.equal(load(patched([BP.cmdline_size, 4, 13]), { cmdline: 'console=ttyS0' }).format, 'bzimage');
  throwsGuest(() => load(fake.image, { cmdline: 'x'.repeat(2048) }), 'at most 2047');
  throwsGuest(() => load(patched([BP.cmdline_size, 4, 0xffffffff]), { cmdline: 'x'.repeat(40000) }), 'kvmdbg has room for 28671');
  const g = buildLoaderGuests();
  throwsGuest(() => load(g.elf32.image, { format: 'bzimage', fileName: 'k.elf' }), 'k.elf: not a Linux bzImage', 'HdrS');
});

// --- on /dev/kvm -----------------------------------------------------------------------------

/** A machine booting the fake bzImage, its COM1 output collected. */
function machine(config: Partial<MachineConfig> = {}) {
  return machineWithSerial({ image: fake.path, ...config });
}

test('Machine: entry registers, the zero page read back, then the kernel prints what it found and exits 0x2a', async () => {
  const cmdline = 'console=ttyS0 root=/dev/ram0 init=/sbin/init';
  const { m, serial } = machine({ cmdline, modules: [{ path: initrdPath() }] });
  await withMachine(m, async () => {
    assert.equal(m.guest.format, 'bzimage');
    const r = m.getRegs();
    const s = m.getSregs();
    assert.equal(r.rip, BigInt(KERNEL), 'EIP = code32_start');
    assert.equal(r.rsi, BigInt(LINUX_ZERO_PAGE_ADDR), 'ESI = the zero page');
    assert.deepEqual([r.rbx, r.rbp, r.rdi], [0n, 0n, 0n], 'EBX = EBP = EDI = 0');
    assert.equal(r.rflags & 0x200n, 0n, 'interrupts off');
    assert.equal(s.cs.selector, 0x10, '__BOOT_CS');
    for (const seg of [s.ds, s.es, s.ss]) assert.equal(seg.selector, 0x18, '__BOOT_DS');
    assert.ok(s.cs.db && !s.cs.l && s.cs.base === 0n && s.cs.limit >>> 0 === 0xffffffff, 'flat 32-bit code');
    assert.ok(s.ds.base === 0n && s.ds.limit >>> 0 === 0xffffffff, 'flat data');
    assert.equal(s.cr0 & 1n, 1n, 'CR0.PE');
    assert.equal(s.cr0 & 0x80000000n, 0n, 'CR0.PG off');
    assert.equal(s.efer & 0x400n, 0n, 'not long mode');

    const zp = m.readPhysical(LINUX_ZERO_PAGE_ADDR, 4096);
    assert.equal(zp[BP.type_of_loader], 0xff);
    assert.equal(cString(m, zp.readUInt32LE(BP.cmd_line_ptr), 65536), cmdline);
    const image = zp.readUInt32LE(BP.ramdisk_image);
    assert.equal(zp.readUInt32LE(BP.ramdisk_size), initrdData.length);
    assert.equal(image, Math.floor((64 * MiB - initrdData.length) / 4096) * 4096, 'at the top of the default 64 MiB');
    assert.deepEqual(m.readPhysical(image, initrdData.length), initrdData);
    const map = [...MAP_16M.slice(0, 3), { base: 0x100000, length: 63 * MiB, type: 1 }];
    assert.deepEqual(e820(zp), map);

    const stop: Stop = await m.run();
    assert.deepEqual(stop, { kind: 'exit', status: EXIT_OK });
    assert.equal(serial(),
      `cmdline [${cmdline}]\n` +
      `initrd ${initrdData.length.toString(16).padStart(8, '0')} [${initrdData.subarray(0, 16).toString('latin1')}]\n` +
      e820Lines(map) + 'bzimage ok\n');
  });
});

test('Machine: no initrd, no command line', async () => {
  const { m, serial } = machine({ memory: 16 * MiB });
  await withMachine(m, async () => {
    assert.deepEqual(await m.run(), { kind: 'exit', status: EXIT_OK });
    assert.equal(serial(), 'cmdline []\ninitrd none\n' + e820Lines(MAP_16M) + 'bzimage ok\n');
  });
});

test('Machine: 4 GiB of RAM: E820 has RAM up to the PCI hole and above 4 GiB; the initrd stays below initrd_addr_max', async () => {
  const { m, serial } = machine({ memory: 4 * GiB, cmdline: 'mem=4G', modules: [{ path: initrdPath() }] });
  await withMachine(m, async () => {
    const zp = m.readPhysical(LINUX_ZERO_PAGE_ADDR, 4096);
    const map = [
      ...MAP_16M.slice(0, 3),
      { base: 0x100000, length: PCI_HOLE_START - 0x100000, type: 1 },
      { base: 4 * GiB, length: GiB, type: 1 },
    ];
    assert.deepEqual(e820(zp), map);
    const image = zp.readUInt32LE(BP.ramdisk_image);
    assert.equal(image, Math.floor((0x80000000 - initrdData.length) / 4096) * 4096, 'just below initrd_addr_max 0x7fffffff');
    assert.deepEqual(m.readPhysical(image, 16), initrdData.subarray(0, 16));
    assert.deepEqual(await m.run(), { kind: 'exit', status: EXIT_OK });
    assert.equal(serial(), `cmdline [mem=4G]\ninitrd 00001450 [${initrdData.subarray(0, 16).toString('latin1')}]\n` +
      e820Lines(map) + 'bzimage ok\n');
  });
});

test('CLI: kvmdbg run --cmdline ... --module INITRD bzImage detects the format and runs it', () => {
  buildDist();
  const cmdline = 'console=ttyS0 quiet';
  const r = cli(['run', '--cmdline', cmdline, '--module', initrdPath(), fake.path]);
  assert.equal(r.status, EXIT_OK, said(r));
  assert.equal(r.stderr, '', said(r));
  assert.ok(r.stdout.startsWith(`cmdline [${cmdline}]\ninitrd 00001450 [INITRD:cpio-arch]\ne820 04\n`), said(r));
  assert.ok(r.stdout.endsWith('bzimage ok\n'), said(r));
  // --format bzimage names the format; an old protocol is refused with status 2 and one line.
  const old = join(tmp, 'old-bzImage');
  writeFileSync(old, patched([BP.version, 2, 0x0204]));
  const o = cli(['run', '--format', 'bzimage', old]);
  assert.equal(o.status, 2, `status ${o.status}: ${o.stderr}`);
  assert.equal(o.stdout, '');
  assert.match(o.stderr, /^kvmdbg: .*old-bzImage: Linux boot protocol 2\.04 is too old/);
  assert.ok(o.stderr.trimEnd().split('\n').length <= 2, o.stderr);
});

// --- mutated headers -------------------------------------------------------------------------


const HEADER_FIELDS: [number, 1 | 2 | 4 | 8][] = [
  [BP.setup_sects, 1], [BP.syssize, 4], [BP.boot_flag, 2], [BP.jump + 1, 1], [BP.header, 4], [BP.version, 2],
  [BP.loadflags, 1], [BP.code32_start, 4], [BP.initrd_addr_max, 4], [BP.kernel_alignment, 4],
  [BP.relocatable_kernel, 1], [BP.xloadflags, 2], [BP.cmdline_size, 4], [BP.hardware_subarch, 4],
  [BP.setup_data, 8], [BP.pref_address, 8], [BP.init_size, 4], [0x264, 4], [0x268, 4],
];

test('mutated bzImage headers load (and run, or stop) or fail with a GuestError, never another exception', async () => {
  const seed = 0x627a696d; // "bzim"
  const rand = prng(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const boundary = [
    0n, 1n, 2n, 0x0201n, 0x0206n, 0x020an, 0x020fn, 0xffn, 0x100n, 0xfffn, 0x1000n, 0x8000n, 0x9000n, 0x100000n,
    0x1000000n, 0x7fffffffn, 0x80000000n, 0xc0000000n, 0xfffff000n, 0xffffffffn, 0x100000000n, BigInt(fake.image.length),
    BigInt(fake.image.length - 0xa00), (1n << 64n) - 1n,
  ];
  const tally = { loaded: 0, rejected: 0, ran: 0 };
  const runnable: { data: Buffer; label: string }[] = [];
  const started = performance.now();
  for (let i = 0; i < 400; i++) {
    const b = Buffer.from(fake.image);
    const steps: string[] = [];
    for (let n = 1 + int(3); n > 0; n--) {
      const kind = int(10);
      if (kind < 6) {
        const [off, size] = HEADER_FIELDS[int(HEADER_FIELDS.length)];
        const max = (1n << BigInt(8 * size)) - 1n;
        const v = (rand() < 0.7 ? boundary[int(boundary.length)] : BigInt(int(0x100000000))) & max;
        if (size === 1) b[off] = Number(v);
        else if (size === 2) b.writeUInt16LE(Number(v), off);
        else if (size === 4) b.writeUInt32LE(Number(v), off);
        else b.writeBigUInt64LE(v, off);
        steps.push(`${off.toString(16)}=${v.toString(16)}`);
      } else if (kind < 9) {
        for (let k = 1 + int(4); k > 0; k--) b[0x1f1 + int(0x290 - 0x1f1)] = int(256);
        steps.push('bytes');
      } else {
        steps.push('truncate');
        break;
      }
    }
    const data = steps.at(-1) === 'truncate' ? b.subarray(0, int(b.length)) : b;
    const format: GuestFormat | undefined = rand() < 0.15 ? 'bzimage' : undefined;
    const modules = rand() < 0.5 ? [mod(Buffer.alloc(1 + int(300000), 0x5a))] : [];
    const label = `seed ${seed.toString(16)} iteration ${i} (${steps.join(' ')})${format ? ' --format bzimage' : ''}`;
    assert.doesNotThrow(() => detectFormat(data), label);
    try {
      const g = loadGuest(data, mem, opts({ format, modules, cmdline: 'fuzz' }));
      const { start, end } = g.extent;
      assert.ok(Number.isSafeInteger(start) && Number.isSafeInteger(end) && end >= start, `${label}: extent`);
      assert.ok(mem.contains(start, end - start), `${label}: extent outside guest memory`);
      tally.loaded++;
      if (g.format === 'bzimage' && runnable.length < 12) runnable.push({ data, label });
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      assert.ok(e instanceof GuestError, `${label}: threw ${(e as Error)?.name}: ${(e as Error)?.message}\n${(e as Error)?.stack}`);
      assert.ok(e.message.length > 0 && !e.message.includes('\n'), `${label}: "${e.message}"`);
      tally.rejected++;
    }
  }
  assert.ok(tally.loaded >= 20 && tally.rejected >= 20, JSON.stringify(tally));
  // A dozen of the mutants that loaded, run on KVM: any stop will do, within a time limit.
  for (const { data, label } of runnable) {
    const m = new Machine({ image: data, memory: 16 * MiB, cmdline: 'fuzz', serial: () => {} });
    await withMachine(m, async () => {
      const timer = setTimeout(() => m.pause(), 300);
      const s = await m.run();
      clearTimeout(timer);
      assert.ok(typeof s.kind === 'string', label);
      tally.ran++;
    });
  }
  const ms = performance.now() - started;
  assert.ok(ms < 30000, `took ${ms.toFixed(0)} ms`);
  console.log(`bzImage fuzz: ${JSON.stringify(tally)} in ${ms.toFixed(0)} ms`);
});
