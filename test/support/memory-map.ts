// The memory map kvmdbg gives a guest (E820 for Linux, the Multiboot mmap), as the tests expect it.

const MiB = 1 << 20;

/** A guest with 16 MiB of RAM: conventional memory, the EBDA, the BIOS area, then RAM from 1 MiB. */
export const MAP_16M = [
  { base: 0, length: 0x9fc00, type: 1 },
  { base: 0x9fc00, length: 0x400, type: 2 },
  { base: 0xf0000, length: 0x10000, type: 2 },
  { base: 0x100000, length: 15 * MiB, type: 1 },
];
