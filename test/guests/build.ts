// Builds test guests from source with the host's GNU toolchain, once per test process.
// A guest is described by its source files and the commands that make the final image; outputs
// go to test/guests/build/ and are rebuilt when a source (or a file it #includes) is newer than
// the output (toolchain.ts).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { BUILD_DIR, GUESTS_DIR, assembleAndLink, flatten, variant } from './toolchain.js';

export { BUILD_DIR, GUESTS_DIR };

/**
 * Assembles `name.S` (GNU as via gcc, so the C preprocessor runs) and links it with `ld` using
 * the given flags. Returns the ELF path. `binary` also makes a flat image with objcopy;
 * `define` builds a variant (toolchain.ts).
 */
export function buildAsm(name: string, opts: { ldFlags: string[]; asFlags?: string[]; binary?: boolean; define?: string }): string {
  const src = join(GUESTS_DIR, `${name}.S`);
  const { out, flags } = variant(name, opts.define);
  const elf = join(BUILD_DIR, `${out}.elf`);
  assembleAndLink({
    src, obj: join(BUILD_DIR, `${out}.o`), elf, asFlags: [...opts.asFlags ?? [], ...flags], ldFlags: opts.ldFlags, inputs: [__filename],
  });
  if (!opts.binary) return elf;
  const bin = join(BUILD_DIR, `${out}.bin`);
  flatten(elf, bin);
  return bin;
}

/** A 16-bit boot sector from `name.S`: linked at 0x7C00, flattened; the source ends with 55 AA. */
export function buildBootSector(name: string): string {
  return buildAsm(name, { ldFlags: ['-m', 'elf_i386', '-Ttext=0x7c00', '-e', '_start'], asFlags: ['-m32'], binary: true });
}

/** The symbol table of an ELF we built, from nm: name → address. */
export function symbols(elf: string): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const line of execFileSync('nm', [elf]).toString().trim().split('\n')) {
    const [addr, , name] = line.split(' ');
    if (name && addr) out[name] = BigInt('0x' + addr);
  }
  return out;
}

/**
 * A 32-bit flat guest linked at 0x100000, for `--format flat --mode protected`: image path and
 * symbols. `define`: a macro defined for the preprocessor, to build a variant of the source.
 */
export function buildFlat32(name: string, define?: string): { bin: string; syms: Record<string, bigint> } {
  const opts = { ldFlags: ['-m', 'elf_i386', '-Ttext=0x100000', '-e', '_start'], asFlags: ['-m32'], define };
  const elf = buildAsm(name, opts);
  return { bin: buildAsm(name, { ...opts, binary: true }), syms: symbols(elf) };
}

/**
 * A 64-bit flat guest linked at 0x100000, for `--format flat --mode long`: image path and symbols.
 * `define`: a macro defined for the preprocessor, to build a variant of the source.
 */
export function buildFlat64(name: string, define?: string): { bin: string; syms: Record<string, bigint> } {
  const opts = { ldFlags: ['-Ttext=0x100000', '-e', '_start'], define };
  const elf = buildAsm(name, opts);
  return { bin: buildAsm(name, { ...opts, binary: true }), syms: symbols(elf) };
}
