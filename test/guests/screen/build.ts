// Builds the screen, keyboard and clock guests (test/guests/screen/*.S) with the host's GNU
// toolchain: Multiboot kernels linked at 1 MiB, a boot sector at 0x7C00.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD_DIR, assembleAndLink, flatten } from '../toolchain.js';

const OUT = join(BUILD_DIR, 'screen');

function build(name: string, ldFlags: string[]): string {
  mkdirSync(OUT, { recursive: true });
  const elf = join(OUT, `${name}.elf`);
  assembleAndLink({
    src: join(__dirname, `${name}.S`), obj: join(OUT, `${name}.o`), elf, asFlags: ['-m32'], ldFlags, inputs: [__filename],
  });
  return elf;
}

/** A Multiboot 1 ELF kernel at 1 MiB: screen (text, colours, scrolling, cursor) or kbd (an IRQ 1 driver). */
export function buildScreenKernel(name: 'screen' | 'kbd'): string {
  return build(name, ['-m', 'elf_i386', '-Ttext=0x100000', '-e', '_start']);
}

/** The boot sector that prints the CMOS clock. */
export function buildRtcBootSector(): string {
  const elf = build('rtc', ['-m', 'elf_i386', '-Ttext=0x7c00', '-e', '_start']);
  const bin = elf.replace(/\.elf$/, '.bin');
  flatten(elf, bin);
  return bin;
}
