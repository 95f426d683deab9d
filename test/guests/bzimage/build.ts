// Builds the fake bzImage (fake-bzimage.S): assembled, linked at 0 as one section and flattened,
// so the file is the setup area followed by the protected-mode kernel. Outputs go to
// test/guests/build/bzimage/ and are rebuilt when the source (or a file it #includes) or this
// file is newer (../toolchain.ts, which also keeps test files building at the same time from
// seeing half a file).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD_DIR, assembleAndLink, flatten } from '../toolchain.js';

const SRC_DIR = __dirname;
export const BZIMAGE_BUILD_DIR = join(BUILD_DIR, 'bzimage');

/** The symbols of the built ELF (link address = file offset): name → value. */
function symbols(elf: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of execFileSync('nm', [elf], { encoding: 'utf8' }).split('\n')) {
    const [addr, , name] = line.trim().split(/\s+/);
    if (name && addr) out[name] = parseInt(addr, 16);
  }
  return out;
}

export interface FakeBzImage {
  path: string;
  image: Buffer;
  /** File offsets of the labels in the source (setup header fields, kernel_start, kernel_end). */
  offsets: Record<string, number>;
}

/** Builds test/guests/bzimage/<name>.S into a flat bzImage. */
export function buildFakeBzImage(name = 'fake-bzimage'): FakeBzImage {
  const elf = join(BZIMAGE_BUILD_DIR, `${name}.elf`);
  const bin = join(BZIMAGE_BUILD_DIR, `${name}.bzImage`);
  assembleAndLink({
    src: join(SRC_DIR, `${name}.S`),
    obj: join(BZIMAGE_BUILD_DIR, `${name}.o`),
    elf,
    asFlags: ['-m32'],
    ldFlags: ['-m', 'elf_i386', '-Ttext=0', '-e', '_start'],
    inputs: [__filename],
  });
  flatten(elf, bin, ['-j', '.text']);
  return { path: bin, image: readFileSync(bin), offsets: symbols(elf) };
}
