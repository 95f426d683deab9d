// Builds the screen, keyboard and clock guests (test/guests/screen/*.S) with the host's GNU
// toolchain: Multiboot kernels linked at 1 MiB, a boot sector at 0x7C00.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD_DIR, assembleAndLink, flatten, variant } from '../toolchain.js';

const OUT = join(BUILD_DIR, 'screen');

/** `define`: a macro defined for the preprocessor, to build a variant (toolchain.ts). */
function build(name: string, ldFlags: string[], define?: string): string {
  mkdirSync(OUT, { recursive: true });
  const { out, flags } = variant(name, define);
  const elf = join(OUT, `${out}.elf`);
  assembleAndLink({
    src: join(__dirname, `${name}.S`), obj: join(OUT, `${out}.o`), elf, asFlags: ['-m32', ...flags], ldFlags, inputs: [__filename],
  });
  return elf;
}

/**
 * A Multiboot 1 ELF kernel at 1 MiB: screen (text, colours, scrolling, cursor) or kbd (an IRQ 1
 * driver; with NO_IRET32 its handler returns without `iret`).
 */
export function buildScreenKernel(name: 'screen' | 'kbd', define?: 'NO_IRET32'): string {
  return build(name, ['-m', 'elf_i386', '-Ttext=0x100000', '-e', '_start'], define);
}

/** The boot sector that prints the CMOS clock. */
export function buildRtcBootSector(): string {
  const elf = build('rtc', ['-m', 'elf_i386', '-Ttext=0x7c00', '-e', '_start']);
  const bin = elf.replace(/\.elf$/, '.bin');
  flatten(elf, bin);
  return bin;
}
