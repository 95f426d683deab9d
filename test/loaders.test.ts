// The ELF, Multiboot 1 and Multiboot 2 loaders and format detection, on guests built from source
// (test/guests/*.S with loaders.ld): bytes in guest memory, entry states and the boot information
// read back field by field; and the errors for broken files, each with its message.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { GuestMemory } from '../src/vmm/memory.js';
import { BOOT_INFO_ADDR, BOOT_INFO_END, HIGH_MEMORY_START, PCI_HOLE_START } from '../src/vmm/layout.js';
import { detectFormat, loadGuest } from '../src/vmm/loaders/detect.js';
import { parseElf } from '../src/vmm/loaders/elf.js';
import { memoryMap } from '../src/vmm/loaders/multiboot.js';
import type { LoadOptions, Module } from '../src/vmm/loaders/types.js';
import { buildLoaderGuests, symbolAddress, type LoaderGuestName } from './guests/build-loaders.js';
import { cString } from './support/c-string.js';
import { throwsGuest } from './support/guest-errors.js';
import { MAP_16M } from './support/memory-map.js';

const MiB = 1 << 20;
let guests: ReturnType<typeof buildLoaderGuests>;
let mem: GuestMemory;

before(() => {
  guests = buildLoaderGuests();
  mem = new GuestMemory(16 * MiB);
});
after(() => mem.destroy());

/** Fills all guest memory with 0xAA, so zeroing and stray writes show. */
function dirty(): void {
  mem.view(0, 16 * MiB).fill(0xaa);
}

function opts(o: Partial<LoadOptions> = {}): LoadOptions {
  return { fileName: 'guest.elf', cmdline: '', modules: [], ...o };
}

function load(name: LoaderGuestName, o: Partial<LoadOptions> = {}) {
  dirty();
  return loadGuest(guests[name].image, mem, opts(o));
}

function sym(name: LoaderGuestName, s: string): number {
  return Number(symbolAddress(guests[name].elf, s));
}

function u32(gpa: number): number {
  return mem.view(gpa, 4).readUInt32LE(0);
}

function allBytes(gpa: number, len: number, value: number): boolean {
  return mem.view(gpa, len).every((b) => b === value);
}

test('detectFormat tells every guest apart', () => {
  assert.equal(detectFormat(guests.elf32.image), 'elf32');
  assert.equal(detectFormat(guests.elf64.image), 'elf64');
  assert.equal(detectFormat(guests.elf64Higher.image), 'elf64');
  assert.equal(detectFormat(guests.mb1.image), 'multiboot');
  assert.equal(detectFormat(guests.mb1Higher.image), 'multiboot');
  assert.equal(detectFormat(guests.mb1Aout.image), 'multiboot');
  assert.equal(detectFormat(guests.mb1Elf64.image), 'multiboot');
  assert.equal(detectFormat(guests.mb2.image), 'multiboot2');
  assert.equal(detectFormat(guests.mb2Aout.image), 'multiboot2');
  const boot = Buffer.alloc(512);
  boot[510] = 0x55;
  boot[511] = 0xaa;
  assert.equal(detectFormat(boot), 'bootsector');
  assert.equal(detectFormat(Buffer.alloc(600, 0x90)), undefined);
  // Both headers: Multiboot2 wins, as GRUB's multiboot2 command would boot it.
  const both = Buffer.concat([guests.mb1Aout.image.subarray(0, 0x24), Buffer.alloc(4), guests.mb2Aout.image.subarray(8, 0x50)]);
  assert.equal(detectFormat(both), 'multiboot2');
});

test('ELF32: segments at their physical addresses, .bss zeroed, protected-mode entry at e_entry', () => {
  const g = load('elf32');
  assert.equal(g.format, 'elf32');
  assert.deepEqual(g.entry, { mode: 'protected', rip: 0x100000n });
  const elf = parseElf(guests.elf32.image, 'elf32');
  const [text, data] = elf.programHeaders;
  assert.deepEqual(g.extent, { start: 0x100000, end: Number(data.paddr + data.memsz) });
  assert.deepEqual(mem.read(0x100000, text.filesz), guests.elf32.image.subarray(text.offset, text.offset + text.filesz));
  assert.equal(mem.read(sym('elf32', 'magic'), 4).toString('latin1'), 'EL32');
  assert.ok(allBytes(sym('elf32', 'zeroed'), 4096, 0), '.bss is zero');
  // Nothing written past the last segment or between the two segments' pages' tails.
  assert.ok(allBytes(g.extent.end, 0x1000, 0xaa));
  assert.ok(allBytes(0x100000 - 0x1000, 0x1000, 0xaa));
});

test('ELF64: .bss zeroed over pre-filled memory, long-mode entry, nothing written beyond p_memsz', () => {
  const g = load('elf64', { format: 'elf64' });
  assert.equal(g.format, 'elf64');
  assert.deepEqual(g.entry, { mode: 'long', rip: 0x200000n });
  const bssStart = sym('elf64', 'bss_start');
  const bssEnd = sym('elf64', 'bss_end');
  assert.equal(bssEnd - bssStart, 16384);
  assert.ok(allBytes(bssStart, bssEnd - bssStart, 0), '.bss is zero');
  assert.equal(mem.view(sym('elf64', 'magic'), 8).readBigUInt64LE(0), 0x3436464c45n);
  assert.equal(g.extent.start, 0x200000);
  assert.equal(g.extent.end, bssEnd);
  assert.ok(allBytes(g.extent.end, 0x1000, 0xaa));
  const text = parseElf(guests.elf64.image, 'x').programHeaders[0];
  assert.deepEqual(mem.read(0x200000, text.filesz), guests.elf64.image.subarray(0x1000, 0x1000 + text.filesz));
});

test('ELF64 linked in the higher half loads at p_paddr and keeps e_entry', () => {
  const g = load('elf64Higher');
  assert.deepEqual(g.entry, { mode: 'long', rip: 0xffffffff80100000n });
  assert.deepEqual(g.extent, { start: 0x100000, end: 0x100000 + 0x50 + 0x4010 });
  assert.equal(mem.view(0x100050, 8).readBigUInt64LE(0), 0x3436464c45n);
  assert.ok(allBytes(0x100060, 16384, 0));
});

test('parseElf: headers, sections and symbols agree with the toolchain', () => {
  const elf = parseElf(guests.elf32.image, 'elf32-hello.elf');
  assert.equal(elf.header.bits, 32);
  assert.equal(elf.header.machine, 3);
  assert.equal(elf.header.type, 2);
  assert.equal(elf.header.entry, 0x100000n);
  assert.equal(elf.programHeaders.length, 2);
  assert.equal(elf.programHeaders[1].filesz, 4);
  assert.equal(elf.programHeaders[1].memsz, 0x1010n);
  const names = elf.sections.map((s) => s.name);
  for (const n of ['', '.text', '.data', '.bss', '.symtab', '.strtab', '.shstrtab']) assert.ok(names.includes(n), n);
  const bss = elf.sections.find((s) => s.name === '.bss')!;
  assert.equal(bss.type, 8);
  assert.equal(bss.addr, BigInt(sym('elf32', 'zeroed')));
  assert.equal(bss.size, 4096n);
  const text = elf.sections.find((s) => s.name === '.text')!;
  assert.equal(text.addr, 0x100000n);
  assert.equal(text.offset, 0x1000);
  for (const name of ['_start', 'magic', 'zeroed', 'fail', 'msg']) {
    const s = elf.symbols.find((x) => x.name === name);
    assert.ok(s, name);
    assert.equal(s.value, symbolAddress(guests.elf32.elf, name), name);
  }
  assert.equal(elf.symbols.find((s) => s.name === '_start')!.bind, 'global');
  assert.equal(elf.symbols.find((s) => s.name === 'fail')!.bind, 'local');

  const e64 = parseElf(guests.elf64Higher.image, 'elf64-higher.elf');
  assert.equal(e64.header.bits, 64);
  assert.equal(e64.header.machine, 62);
  assert.equal(e64.programHeaders[0].vaddr, 0xffffffff80100000n);
  assert.equal(e64.programHeaders[0].paddr, 0x100000n);
  assert.equal(e64.symbols.find((s) => s.name === 'bss_start')!.value, 0xffffffff80100060n);
});

test('parseElf: symbol types and sizes from a C-like object', () => {
  // Give one symbol a type and size, as a compiler does, by patching the built file's .symtab.
  const image = Buffer.from(guests.elf32.image);
  const elf = parseElf(image, 'x');
  const symtab = elf.sections.find((s) => s.name === '.symtab')!;
  const index = elf.symbols.findIndex((s) => s.name === '_start') + 1; // the null symbol is skipped
  const o = symtab.offset + 16 * index;
  image.writeUInt32LE(0x41, o + 8); // st_size
  image[o + 12] = (1 << 4) | 2; // STB_GLOBAL, STT_FUNC
  const s = parseElf(image, 'x').symbols.find((x) => x.name === '_start')!;
  assert.deepEqual({ type: s.type, bind: s.bind, size: s.size }, { type: 'func', bind: 'global', size: 0x41n });
});

test('Multiboot 1 ELF: loaded, info structure field by field, modules, entry registers', () => {
  const modA: Module = { path: 'initrd.img', args: 'initrd.img root=/dev/ram0', data: Buffer.alloc(5000, 0x5a) };
  const modB: Module = { path: 'b.bin', args: '', data: Buffer.from('module B data') };
  const g = load('mb1', { cmdline: 'console=ttyS0 debug', modules: [modA, modB] });
  assert.equal(g.format, 'multiboot');
  assert.equal(g.entry.mode, 'protected');
  assert.equal(g.entry.rip, BigInt(sym('mb1', '_start')));
  assert.equal(g.entry.regs?.rax, 0x2badb002n);
  const info = Number(g.entry.regs!.rbx);
  assert.equal(info, BOOT_INFO_ADDR);
  assert.deepEqual(g.extent, { start: 0x100000, end: 0x101070 });
  assert.equal(mem.read(0x100000, 4).readUInt32LE(0), 0x1badb002);
  assert.equal(mem.read(sym('mb1', 'counter'), 4).toString('latin1'), 'K1BM');
  assert.ok(allBytes(0x100070, 0x1000, 0), '.bss is zero');

  const flags = u32(info);
  assert.equal(flags, (1 << 0) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9));
  assert.equal(u32(info + 4), 640, 'mem_lower');
  assert.equal(u32(info + 8), 15 * 1024, 'mem_upper');
  assert.equal(cString(mem, u32(info + 16)), 'console=ttyS0 debug');
  assert.equal(u32(info + 20), 2, 'mods_count');
  const mods = u32(info + 24);
  const [aStart, aEnd, aStr] = [u32(mods), u32(mods + 4), u32(mods + 8)];
  const [bStart, bEnd, bStr] = [u32(mods + 16), u32(mods + 20), u32(mods + 24)];
  assert.equal(aStart, 0x102000, 'first module page-aligned after the kernel');
  assert.equal(aEnd, aStart + 5000);
  assert.equal(bStart, 0x104000);
  assert.equal(bEnd, bStart + 13);
  assert.deepEqual(mem.read(aStart, 5000), modA.data);
  assert.deepEqual(mem.read(bStart, 13), modB.data);
  assert.equal(cString(mem, aStr), 'initrd.img root=/dev/ram0');
  assert.equal(cString(mem, bStr), '');
  assert.equal(u32(mods + 12), 0, 'reserved');

  const mmapLength = u32(info + 44);
  const mmapAddr = u32(info + 48);
  assert.equal(mmapLength, 24 * 4);
  const entries = [];
  for (let p = mmapAddr; p < mmapAddr + mmapLength; p += u32(p) + 4) {
    assert.equal(u32(p), 20, 'entry size field');
    const b = mem.view(p, 24);
    entries.push({ base: Number(b.readBigUInt64LE(4)), length: Number(b.readBigUInt64LE(12)), type: b.readUInt32LE(20) });
  }
  assert.deepEqual(entries, MAP_16M);
  assert.equal(cString(mem, u32(info + 64)), 'kvmdbg');
  // Everything the info points at lies in the boot information area.
  for (const p of [info, u32(info + 16), mods, aStr, bStr, mmapAddr, u32(info + 64)]) {
    assert.ok(p >= BOOT_INFO_ADDR && p < BOOT_INFO_END, `0x${p.toString(16)} in the boot info area`);
  }
});

test('Multiboot 1 without modules or command line', () => {
  const g = load('mb1');
  const info = Number(g.entry.regs!.rbx);
  assert.equal(u32(info + 20), 0);
  assert.equal(u32(info + 24), 0);
  assert.equal(cString(mem, u32(info + 16)), '');
});

test('Multiboot 1 higher-half ELF: loaded by p_paddr, entry translated to physical as GRUB does', () => {
  const g = load('mb1Higher');
  assert.equal(g.entry.rip, 0x10000cn);
  assert.deepEqual(g.extent, { start: 0x100000, end: 0x101070 });
  assert.deepEqual(mem.read(0x100000, 0x53), guests.mb1Higher.image.subarray(0x1000, 0x1053));
});

test('Multiboot 1 a.out kludge: loaded where the header says, .bss to bss_end_addr zeroed, entry_addr', () => {
  const g = load('mb1Aout', { fileName: 'kernel.bin', cmdline: 'x' });
  assert.equal(g.format, 'multiboot');
  assert.equal(g.entry.rip, BigInt(sym('mb1Aout', 'entry')));
  assert.equal(g.entry.regs?.rax, 0x2badb002n);
  assert.equal(g.entry.regs?.rbx, BigInt(BOOT_INFO_ADDR));
  const end = sym('mb1Aout', '_end');
  const edata = sym('mb1Aout', '_edata');
  assert.deepEqual(g.extent, { start: 0x100000, end });
  assert.deepEqual(mem.read(0x100000, guests.mb1Aout.image.length), guests.mb1Aout.image);
  assert.equal(edata - 0x100000, guests.mb1Aout.image.length);
  assert.equal(mem.read(sym('mb1Aout', 'value'), 4).toString('latin1'), 'AOUT');
  assert.ok(allBytes(edata, end - edata, 0));
  assert.ok(allBytes(end, 0x100, 0xaa));
  assert.equal(cString(mem, u32(BOOT_INFO_ADDR + 16)), 'x');
});

test('Multiboot 1 in an ELF64 file: loaded by physical address, entered in protected mode', () => {
  const g = load('mb1Elf64');
  assert.equal(g.format, 'multiboot');
  assert.equal(g.entry.mode, 'protected');
  assert.equal(g.entry.rip, BigInt(sym('mb1Elf64', '_start')));
  assert.equal(g.entry.regs?.rax, 0x2badb002n);
  assert.equal(mem.read(sym('mb1Elf64', 'value'), 4).toString('latin1'), 'MB64');
  assert.equal(parseElf(guests.mb1Elf64.image, 'x').header.bits, 64);
});

interface Mb2Tag { type: number; size: number; at: number }

function mb2Tags(info: number): Mb2Tag[] {
  const total = u32(info);
  const tags: Mb2Tag[] = [];
  for (let p = info + 8; p < info + total; p += Math.ceil(u32(p + 4) / 8) * 8) {
    assert.equal(p % 8, 0, 'tags are 8-byte aligned');
    tags.push({ type: u32(p), size: u32(p + 4), at: p });
    if (u32(p) === 0) break;
  }
  return tags;
}

test('Multiboot 2 ELF: boot information tags field by field', () => {
  const mod: Module = { path: 'm', args: 'mod arg', data: Buffer.alloc(3000, 7) };
  const g = load('mb2', { cmdline: 'quiet loglevel=3', modules: [mod] });
  assert.equal(g.format, 'multiboot2');
  assert.equal(g.entry.mode, 'protected');
  assert.equal(g.entry.rip, BigInt(sym('mb2', '_start')));
  assert.equal(g.entry.regs?.rax, 0x36d76289n);
  const info = Number(g.entry.regs!.rbx);
  assert.equal(info, BOOT_INFO_ADDR);
  assert.equal(mem.read(sym('mb2', 'value'), 4).toString('latin1'), 'MB2!');

  const tags = mb2Tags(info);
  assert.deepEqual(tags.map((t) => t.type), [1, 2, 3, 4, 6, 0]);
  const end = tags[tags.length - 1];
  assert.equal(end.size, 8);
  assert.equal(u32(info), end.at + 8 - info, 'total_size');
  assert.equal(u32(info + 4), 0, 'reserved');
  const [cmd, name, module, meminfo, mmap] = tags;
  assert.equal(cString(mem, cmd.at + 8), 'quiet loglevel=3');
  assert.equal(cmd.size, 8 + 'quiet loglevel=3'.length + 1);
  assert.equal(cString(mem, name.at + 8), 'kvmdbg');
  const modStart = u32(module.at + 8);
  assert.equal(modStart % 4096, 0);
  assert.ok(modStart >= g.extent.end);
  assert.equal(u32(module.at + 12), modStart + 3000);
  assert.equal(cString(mem, module.at + 16), 'mod arg');
  assert.deepEqual(mem.read(modStart, 3000), mod.data);
  assert.equal(meminfo.size, 16);
  assert.equal(u32(meminfo.at + 8), 640);
  assert.equal(u32(meminfo.at + 12), 15 * 1024);
  assert.equal(u32(mmap.at + 8), 24, 'entry_size');
  assert.equal(u32(mmap.at + 12), 0, 'entry_version');
  assert.equal(mmap.size, 16 + 24 * 4);
  const entries = [];
  for (let p = mmap.at + 16; p < mmap.at + mmap.size; p += 24) {
    const b = mem.view(p, 24);
    entries.push({ base: Number(b.readBigUInt64LE(0)), length: Number(b.readBigUInt64LE(8)), type: b.readUInt32LE(16) });
    assert.equal(b.readUInt32LE(20), 0, 'reserved');
  }
  assert.deepEqual(entries, MAP_16M);
});

test('Multiboot 2 address and entry tags: loaded like an a.out kludge, optional unknown tag skipped', () => {
  const g = load('mb2Aout', { fileName: 'k.bin' });
  assert.equal(g.format, 'multiboot2');
  assert.equal(g.entry.rip, BigInt(sym('mb2Aout', 'entry')));
  assert.equal(g.entry.regs?.rax, 0x36d76289n);
  const end = sym('mb2Aout', '_end');
  assert.deepEqual(g.extent, { start: 0x100000, end });
  assert.deepEqual(mem.read(0x100000, guests.mb2Aout.image.length), guests.mb2Aout.image);
  assert.ok(allBytes(sym('mb2Aout', '_edata'), end - sym('mb2Aout', '_edata'), 0));
  assert.deepEqual(mb2Tags(BOOT_INFO_ADDR).map((t) => t.type), [1, 2, 4, 6, 0]);
});

test('memory map and mem_upper with RAM above the PCI hole', () => {
  const big = new GuestMemory(PCI_HOLE_START + 256 * MiB);
  try {
    assert.deepEqual(memoryMap(big), [
      ...MAP_16M.slice(0, 3),
      { base: 0x100000, length: PCI_HOLE_START - 0x100000, type: 1 },
      { base: HIGH_MEMORY_START, length: 256 * MiB, type: 1 },
    ]);
    const g = loadGuest(guests.mb1.image, big, opts());
    const info = Number(g.entry.regs!.rbx);
    const v = big.view(info, 64);
    assert.equal(v.readUInt32LE(8), (PCI_HOLE_START - MiB) / 1024);
    assert.equal(v.readUInt32LE(44), 24 * 5);
  } finally {
    big.destroy();
  }
});

// ---- errors -------------------------------------------------------------------------------------

function patched(name: LoaderGuestName, patch: (b: Buffer) => void): Buffer {
  const b = Buffer.from(guests[name].image);
  patch(b);
  return b;
}

function loadBad(image: Buffer, o: Partial<LoadOptions> = {}): () => unknown {
  return () => loadGuest(image, mem, opts({ fileName: 'bad.elf', ...o }));
}

test('error: empty file', () => {
  throwsGuest(loadBad(Buffer.alloc(0)), 'bad.elf is empty');
});

test('error: unknown format', () => {
  throwsGuest(loadBad(Buffer.alloc(1000, 0x90), { fileName: 'blob' }),
    'blob: unknown format: not ELF, Multiboot or a boot sector (55 AA at offset 510); use --format flat with --load-address for a raw binary');
});

test('error: truncated ELF header', () => {
  throwsGuest(loadBad(guests.elf32.image.subarray(0, 40)), 'bad.elf: truncated ELF header', '40 bytes', 'needs 52');
  throwsGuest(loadBad(guests.elf64.image.subarray(0, 60)), 'truncated ELF header', 'needs 64');
  throwsGuest(loadBad(guests.elf64.image.subarray(0, 10)), 'truncated ELF header');
});

test('error: program headers past the end of the file', () => {
  const img = patched('elf32', (b) => b.writeUInt32LE(b.length - 40, 28)); // e_phoff
  throwsGuest(loadBad(img), 'bad.elf: program header table (2 entries of 32 bytes)', 'runs past the end of the file');
  const img64 = patched('elf64', (b) => b.writeBigUInt64LE(0xffffffffffffff00n, 32));
  throwsGuest(loadBad(img64), 'program header table', 'runs past the end of the file');
});

test('error: segment data past the end of the file', () => {
  const img = patched('elf32', (b) => b.writeUInt32LE(b.length - 2, 52 + 4)); // phdr 0 p_offset
  throwsGuest(loadBad(img), 'bad.elf: segment 0 (PT_LOAD) data', 'runs past the end of the file');
  const img64 = patched('elf64', (b) => b.writeBigUInt64LE(0xfffffffffffffff0n, 64 + 32)); // phdr 0 p_filesz
  throwsGuest(loadBad(img64), 'p_filesz 0xfffffffffffffff0 larger than p_memsz');
  const wrap = patched('elf64', (b) => {
    b.writeBigUInt64LE(0xfffffffffffffff0n, 64 + 8); // p_offset: offset + filesz overflows 64 bits
  });
  throwsGuest(loadBad(wrap), 'segment 0 (PT_LOAD) data', 'runs past the end');
});

test('error: ELF for another machine', () => {
  const img = patched('elf64', (b) => b.writeUInt16LE(183, 18));
  throwsGuest(loadBad(img), 'bad.elf: ELF for another machine (ARM aarch64, e_machine 183)');
  const x32 = patched('elf32', (b) => b.writeUInt16LE(62, 18));
  throwsGuest(loadBad(x32), 'ELF32 file for x86-64 (e_machine 62)');
  const be = patched('elf32', (b) => (b[5] = 2));
  throwsGuest(loadBad(be), 'big-endian');
});

test('error: not an executable', () => {
  throwsGuest(loadBad(patched('elf64', (b) => b.writeUInt16LE(3, 16))), 'ET_DYN', 'non-PIE');
  throwsGuest(loadBad(patched('elf64', (b) => b.writeUInt16LE(1, 16))), 'relocatable object');
});

test('error: segment outside guest memory says how much memory it needs', () => {
  const img = patched('elf32', (b) => b.writeUInt32LE(0x2000000, 52 + 12)); // phdr 0 p_paddr
  throwsGuest(loadBad(img), 'bad.elf: segment 0 (PT_LOAD) at 0x2000000..0x2000041 lies outside guest memory', 'give --memory 33M');
  const hole = patched('elf32', (b) => b.writeUInt32LE(0xd0000000, 52 + 12));
  throwsGuest(loadBad(hole), 'PCI hole');
  const high = patched('elf64', (b) => b.writeBigUInt64LE(0x100000000n, 64 + 24));
  throwsGuest(loadBad(high), 'give --memory 3073M');
});

test('error: segment in the reserved low memory', () => {
  const img = patched('elf32', (b) => b.writeUInt32LE(0x1000, 52 + 12));
  throwsGuest(loadBad(img), 'segment 0 (PT_LOAD) at 0x1000..0x1041 overlaps memory kvmdbg reserves below 0x7000');
  const info = patched('mb1', (b) => b.writeUInt32LE(0x8000, 52 + 12));
  throwsGuest(loadBad(info), 'overlaps the Multiboot information area 0x8000..0x10000');
});

test('error: bad Multiboot checksums and unsupported header requirements', () => {
  const mb1 = patched('mb1', (b) => b.writeUInt32LE(0x12345678, 0x1000 + 8));
  throwsGuest(loadBad(mb1), 'bad.elf: bad Multiboot checksum in the header at offset 0x1000');
  const aout = patched('mb1Aout', (b) => b.writeUInt32LE(b.readUInt32LE(12) + 1, 12));
  throwsGuest(loadBad(aout), 'bad Multiboot checksum');
  const mb2 = patched('mb2', (b) => b.writeUInt32LE(0, 0x1000 + 12));
  throwsGuest(loadBad(mb2), 'bad Multiboot2 checksum');
  const flag3 = patched('mb1', (b) => {
    b.writeUInt32LE(0x0000000b, 0x1004);
    b.writeUInt32LE((-(0x1badb002 + 0xb)) >>> 0, 0x1008);
  });
  throwsGuest(loadBad(flag3), 'requires features kvmdbg does not know (flag bit 3)');
  // Multiboot2 information request for tag 14 (ACPI RSDP), required: patch the request for 6.
  const req = patched('mb2', (b) => b.writeUInt32LE(14, 0x1000 + 16 + 8 + 16));
  throwsGuest(loadBad(req), 'requires boot information tag 14 (ACPI 1.0 RSDP)', 'mark the request optional');
  // Made optional, it loads.
  const opt = Buffer.from(req);
  opt.writeUInt16LE(1, 0x1000 + 16 + 2);
  assert.equal(loadGuest(opt, mem, opts()).format, 'multiboot2');
});

test('error: forced formats that do not match the file', () => {
  throwsGuest(loadBad(guests.elf32.image, { format: 'elf64' }), 'is ELF32, not ELF64');
  throwsGuest(loadBad(guests.elf32.image, { format: 'multiboot' }), 'no Multiboot header');
  throwsGuest(loadBad(guests.mb1.image, { format: 'multiboot2' }), 'no Multiboot2 header');
});

test('error: a module that does not fit', () => {
  const huge: Module = { path: 'big.img', args: '', data: Buffer.alloc(16 * MiB) };
  throwsGuest(loadBad(guests.mb1.image, { modules: [huge] }), 'big.img: module of 16777216 bytes does not fit', 'give --memory 18M');
});

test('error: a command line too long for the boot information area', () => {
  throwsGuest(loadBad(guests.mb2.image, { cmdline: 'x'.repeat(40000) }), 'does not fit in the 32 KiB at 0x8000');
});
