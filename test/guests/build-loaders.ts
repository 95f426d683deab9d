// Builds the loader test guests (ELF32, ELF64, Multiboot 1 ELF and a.out kludge, Multiboot 2 ELF
// and address tag) from their .S sources with loaders.ld. One source can be linked several ways
// (e.g. at a higher-half virtual address), so every build names its output. Outputs go to
// test/guests/build/ and are rebuilt when the source, a file it #includes, the linker script or
// this file is newer (toolchain.ts).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD_DIR, GUESTS_DIR, assembleAndLink, flatten } from './toolchain.js';

export { BUILD_DIR, GUESTS_DIR };
const LINKER_SCRIPT = join(__dirname, 'loaders.ld');

export interface LoaderGuestOptions {
  /** The source, test/guests/<src>.S. */
  src: string;
  /** The output's base name in test/guests/build/ (default: src). */
  out?: string;
  bits: 32 | 64;
  /** Physical load address (LOAD_BASE). */
  base?: number;
  /** Link this much above the load address (VIRT_OFFSET): p_vaddr = p_paddr + virt. */
  virt?: bigint;
  /** Also flatten with objcopy -O binary and return that instead of the ELF. */
  binary?: boolean;
}

/** Assembles and links a loader test guest; returns the path of the ELF (or flat binary). */
export function buildLoaderGuest(o: LoaderGuestOptions): string {
  const out = o.out ?? o.src;
  const elf = join(BUILD_DIR, `${out}.elf`);
  assembleAndLink({
    src: join(GUESTS_DIR, `${o.src}.S`),
    obj: join(BUILD_DIR, `${out}.o`),
    elf,
    asFlags: [o.bits === 32 ? '-m32' : '-m64'],
    ldFlags: [
      '-m', o.bits === 32 ? 'elf_i386' : 'elf_x86_64', '-T', LINKER_SCRIPT,
      '--defsym', `LOAD_BASE=0x${(o.base ?? 0x100000).toString(16)}`,
      '--defsym', `VIRT_OFFSET=0x${(o.virt ?? 0n).toString(16)}`,
    ],
    inputs: [LINKER_SCRIPT, __filename],
  });
  if (!o.binary) return elf;
  const bin = join(BUILD_DIR, `${out}.bin`);
  flatten(elf, bin);
  return bin;
}

/** The address of a global symbol in a built guest's ELF, from `nm`. */
export function symbolAddress(elfPath: string, name: string): bigint {
  const text = execFileSync('nm', [elfPath], { encoding: 'utf8' });
  for (const line of text.split('\n')) {
    const [addr, , sym] = line.trim().split(/\s+/);
    if (sym === name) return BigInt('0x' + addr);
  }
  throw new Error(`${elfPath}: no symbol ${name}`);
}

/** Every loader test guest, built; the file contents keyed by name. */
export function buildLoaderGuests(): Record<LoaderGuestName, { path: string; elf: string; image: Buffer }> {
  const specs: Record<LoaderGuestName, LoaderGuestOptions> = {
    elf32: { src: 'elf32-hello', bits: 32 },
    elf64: { src: 'elf64-bss', bits: 64, base: 0x200000 },
    elf64Higher: { src: 'elf64-bss', out: 'elf64-higher', bits: 64, virt: 0xffffffff80000000n },
    mb1: { src: 'mb1-elf', bits: 32 },
    mb1Higher: { src: 'mb1-elf', out: 'mb1-higher', bits: 32, virt: 0xc0000000n },
    mb1Aout: { src: 'mb1-aout', bits: 32, binary: true },
    mb1Elf64: { src: 'mb1-elf64', bits: 64 },
    mb2: { src: 'mb2-elf', bits: 32 },
    mb2Aout: { src: 'mb2-aout', bits: 32, binary: true },
  };
  const out = {} as Record<LoaderGuestName, { path: string; elf: string; image: Buffer }>;
  for (const [name, spec] of Object.entries(specs) as [LoaderGuestName, LoaderGuestOptions][]) {
    const path = buildLoaderGuest(spec);
    out[name] = { path, elf: join(BUILD_DIR, `${spec.out ?? spec.src}.elf`), image: readFileSync(path) };
  }
  return out;
}

export type LoaderGuestName =
  'elf32' | 'elf64' | 'elf64Higher' | 'mb1' | 'mb1Higher' | 'mb1Aout' | 'mb1Elf64' | 'mb2' | 'mb2Aout';
