// Builds the kernel-like guest (head.S, main.c, vmlinux.ld) as Debian builds its vmlinux: the C
// with gcc -O2 and the kernel's code model, no frame pointers, call frames in .debug_frame only,
// DWARF 5; linked in the kernel map, then flattened to the image kvmdbg loads at 1 MiB. Outputs
// go to test/guests/build/kernel-like/ and are rebuilt when a source is newer.
import { mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD_DIR, inTemporaryDir, outOfDate, run } from '../toolchain.js';

export const KERNEL_LIKE_DIR = __dirname;
const OUT = join(BUILD_DIR, 'kernel-like');
/** The kernel's own flags that shape its code and its DWARF (arch/x86/Makefile, Debian's config). */
const CFLAGS = [
  '-O2', '-g', '-gdwarf-5', '-mcmodel=kernel', '-mno-red-zone', '-fno-pic', '-fno-pie', '-ffreestanding', '-fno-builtin',
  '-nostdlib', '-fno-stack-protector', '-fcf-protection=none', '-mgeneral-regs-only', '-fno-asynchronous-unwind-tables',
  '-fomit-frame-pointer',
];

export interface KernelLike {
  /** The flat image, loaded at 1 MiB in long mode. */
  bin: string;
  /** The vmlinux: the same code with its symbols and DWARF, linked in the kernel map. */
  vmlinux: string;
  /** main.c, as the line table names it. */
  source: string;
}

export function buildKernelLike(): KernelLike {
  const src = (f: string) => join(KERNEL_LIKE_DIR, f);
  const out = { bin: join(OUT, 'kernel.bin'), vmlinux: join(OUT, 'vmlinux'), source: src('main.c') };
  if (!outOfDate(out.bin, ['head.S', 'main.c', 'vmlinux.ld', 'build.ts'].map(src))) return out;
  mkdirSync(OUT, { recursive: true });
  inTemporaryDir(OUT, (tmp) => {
    run('gcc', ['-g', '-c', '-o', join(tmp, 'head.o'), src('head.S')], KERNEL_LIKE_DIR);
    run('gcc', [...CFLAGS, '-c', '-o', join(tmp, 'main.o'), src('main.c')], KERNEL_LIKE_DIR);
    run('ld', ['-m', 'elf_x86_64', '-nostdlib', '-static', '--build-id=none', '-T', src('vmlinux.ld'), '-o', join(tmp, 'vmlinux'),
      join(tmp, 'head.o'), join(tmp, 'main.o')], KERNEL_LIKE_DIR);
    run('objcopy', ['-O', 'binary', join(tmp, 'vmlinux'), join(tmp, 'kernel.bin')], KERNEL_LIKE_DIR);
    // The image last: once it is in place, its vmlinux is too.
    renameSync(join(tmp, 'vmlinux'), out.vmlinux);
    renameSync(join(tmp, 'kernel.bin'), out.bin);
  });
  return out;
}
