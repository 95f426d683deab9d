// Builds the fake bzImage (fake-bzimage.S): assembled, linked at 0 as one section and flattened,
// so the file is the setup area followed by the protected-mode kernel. Outputs go to
// test/guests/build/bzimage/ and are rebuilt when the source or this file is newer; temporary
// names and a rename keep test files building at the same time from seeing half a file.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';

const SRC_DIR = __dirname;
export const BZIMAGE_BUILD_DIR = join(__dirname, '..', 'build', 'bzimage');

function newer(src: string, out: string): boolean {
  return !existsSync(out) || statSync(src).mtimeMs > statSync(out).mtimeMs;
}

function run(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { cwd: SRC_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${err.stderr?.toString() ?? err.message}`);
  }
}

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
  mkdirSync(BZIMAGE_BUILD_DIR, { recursive: true });
  const src = join(SRC_DIR, `${name}.S`);
  const obj = join(BZIMAGE_BUILD_DIR, `${name}.o`);
  const elf = join(BZIMAGE_BUILD_DIR, `${name}.elf`);
  const bin = join(BZIMAGE_BUILD_DIR, `${name}.bzImage`);
  if (newer(src, bin) || newer(__filename, bin)) {
    const tmp = (p: string) => `${p}.${process.pid}`;
    run('gcc', ['-c', '-m32', '-nostdlib', '-ffreestanding', '-o', tmp(obj), src]);
    run('ld', ['-m', 'elf_i386', '-nostdlib', '--build-id=none', '-Ttext=0', '-e', '_start', '-o', tmp(elf), tmp(obj)]);
    run('objcopy', ['-O', 'binary', '-j', '.text', tmp(elf), tmp(bin)]);
    renameSync(tmp(obj), obj);
    renameSync(tmp(elf), elf);
    renameSync(tmp(bin), bin);
  }
  return { path: bin, image: readFileSync(bin), offsets: symbols(elf) };
}
