// The PVH loader (src/vmm/loaders/pvh.ts) on Debian's vmlinux (the ELF inside the test VM's
// bzImage, test/support/linux.ts; CONFIG_PVH=y): its note found, its segments at their physical
// addresses, and the hvm_start_info read back field by field (magic, version, modules, command
// line, ACPI RSDP, memory map); the errors. test/linux-boot.test.ts boots it to a shell.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { GuestMemory } from '../src/vmm/memory.js';
import { ACPI_TABLES_ADDR, BOOT_INFO_ADDR, BOOT_INFO_END } from '../src/vmm/layout.js';
import { detectFormat, loadGuest } from '../src/vmm/loaders/detect.js';
import { memoryMap } from '../src/vmm/loaders/multiboot.js';
import { MEMMAP_ENTRY_SIZE, MODLIST_ENTRY_SIZE, PVH_START_MAGIC, START_INFO } from '../src/vmm/loaders/pvh.js';
import { elfNotes, parseElf } from '../src/symbols/elf-parse.js';
import { pvhEntry, XEN_ELFNOTE_PHYS32_ENTRY } from '../src/formats/detect.js';
import { debianVmlinux } from './support/linux.js';
import { buildLoaderGuests } from './guests/build-loaders.js';
import { cString } from './support/c-string.js';
import { throwsGuest } from './support/guest-errors.js';

const MiB = 1 << 20;
let vmlinux: Buffer;
let mem: GuestMemory;

before(() => {
  vmlinux = readFileSync(debianVmlinux());
  mem = new GuestMemory(256 * MiB);
});
after(() => mem.destroy());

test('Debian\'s vmlinux carries the PVH note (owner Xen, type 18, 8 bytes as Linux writes it); detection picks pvh', () => {
  const notes = elfNotes(vmlinux, parseElf(vmlinux, 'vmlinux')).filter((n) => n.name === 'Xen' && n.type === XEN_ELFNOTE_PHYS32_ENTRY);
  assert.equal(notes.length, 1);
  assert.equal(notes[0].desc.length, 8);
  assert.equal(pvhEntry(vmlinux), 0x1000850n);
  assert.equal(detectFormat(vmlinux), 'pvh');
  // Plain ELF64 guests carry no such note.
  assert.equal(pvhEntry(buildLoaderGuests().elf64.image), undefined);
});

test('load: segments at their physical addresses, EBX the start info: magic, version 1, modules, cmdline, RSDP, memory map', () => {
  const initrd = Buffer.from('070701 an initramfs, for the modlist');
  const second = Buffer.from('a second module');
  const g = loadGuest(vmlinux, mem, {
    fileName: 'vmlinux', cmdline: 'console=ttyS0 quiet',
    modules: [{ path: 'initrd', args: 'initrd', data: initrd }, { path: 'm2', args: 'm2 arg', data: second }],
  });
  assert.equal(g.format, 'pvh');
  assert.equal(g.entry.mode, 'protected');
  assert.equal(g.entry.rip, 0x1000850n);
  const info = Number(g.entry.regs!.rbx);
  assert.ok(info >= BOOT_INFO_ADDR && info + START_INFO.size <= BOOT_INFO_END);
  // The first PT_LOAD (.text at physical 16 MiB) is in place.
  const text = parseElf(vmlinux, 'vmlinux').programHeaders[0];
  assert.equal(text.paddr, 0x1000000n);
  assert.ok(mem.view(0x1000000, 4096).equals(vmlinux.subarray(text.offset, text.offset + 4096)));
  assert.equal(g.extent.start, 0x1000000);

  const si = mem.view(info, START_INFO.size);
  assert.equal(si.readUInt32LE(START_INFO.magic), PVH_START_MAGIC);
  assert.equal(si.readUInt32LE(START_INFO.version), 1);
  assert.equal(si.readUInt32LE(START_INFO.flags), 0);
  assert.equal(si.readUInt32LE(START_INFO.nr_modules), 2);
  assert.equal(cString(mem, Number(si.readBigUInt64LE(START_INFO.cmdline_paddr))), 'console=ttyS0 quiet');
  assert.equal(si.readBigUInt64LE(START_INFO.rsdp_paddr), BigInt(ACPI_TABLES_ADDR));
  assert.equal(si.readUInt32LE(START_INFO.reserved), 0);

  const modlist = Number(si.readBigUInt64LE(START_INFO.modlist_paddr));
  let end = g.extent.end;
  for (const [i, [data, args]] of ([[initrd, 'initrd'], [second, 'm2 arg']] as const).entries()) {
    const e = mem.view(modlist + MODLIST_ENTRY_SIZE * i, MODLIST_ENTRY_SIZE);
    const at = Number(e.readBigUInt64LE(0));
    assert.equal(at % 4096, 0, 'page-aligned');
    assert.ok(at >= end, 'after the kernel and the module before');
    assert.equal(Number(e.readBigUInt64LE(8)), data.length);
    assert.ok(mem.view(at, data.length).equals(data));
    assert.equal(cString(mem, Number(e.readBigUInt64LE(16))), args);
    assert.equal(e.readBigUInt64LE(24), 0n);
    end = at + data.length;
  }

  const map = memoryMap(mem);
  assert.equal(si.readUInt32LE(START_INFO.memmap_entries), map.length);
  const memmap = Number(si.readBigUInt64LE(START_INFO.memmap_paddr));
  const read = map.map((_, i) => {
    const e = mem.view(memmap + MEMMAP_ENTRY_SIZE * i, MEMMAP_ENTRY_SIZE);
    assert.equal(e.readUInt32LE(20), 0, 'reserved');
    return { base: Number(e.readBigUInt64LE(0)), length: Number(e.readBigUInt64LE(8)), type: e.readUInt32LE(16) };
  });
  assert.deepEqual(read, map);
  assert.deepEqual(read.at(-1), { base: MiB, length: 255 * MiB, type: 1 });
});

test('load: no modules: nr_modules 0 and no list', () => {
  const g = loadGuest(vmlinux, mem, { fileName: 'vmlinux', cmdline: '', modules: [] });
  const si = mem.view(Number(g.entry.regs!.rbx), START_INFO.size);
  assert.equal(si.readUInt32LE(START_INFO.nr_modules), 0);
  assert.equal(si.readBigUInt64LE(START_INFO.modlist_paddr), 0n);
  assert.equal(cString(mem, Number(si.readBigUInt64LE(START_INFO.cmdline_paddr))), '');
});

test('errors: pvh forced on an ELF without the note; a kernel larger than guest memory', () => {
  throwsGuest(() => loadGuest(buildLoaderGuests().elf64.image, mem, { fileName: 'k.elf', cmdline: '', modules: [], format: 'pvh' }),
    'k.elf: no PVH entry', 'XEN_ELFNOTE_PHYS32_ENTRY', 'CONFIG_PVH');
  const small = new GuestMemory(32 * MiB);
  try {
    throwsGuest(() => loadGuest(vmlinux, small, { fileName: 'vmlinux', cmdline: '', modules: [] }), 'vmlinux: segment 0 (PT_LOAD)', 'give --memory');
  } finally {
    small.destroy();
  }
});
