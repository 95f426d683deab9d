// What the benchmarks build into bench/build/ (git ignores it), each only when its source is
// newer: the C reference (ref.c) and the flat 64-bit guests of bench/guests/.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const BENCH_DIR = __dirname;
export const BUILD_DIR = join(BENCH_DIR, 'build');
export const ROOT = join(BENCH_DIR, '..');
const GUESTS_DIR = join(BENCH_DIR, 'guests');

function newer(src: string, out: string): boolean {
  return !existsSync(out) || statSync(src).mtimeMs > statSync(out).mtimeMs;
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { cwd: BENCH_DIR, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${err.stderr?.toString() || err.message}`);
  }
}

/** Assembles and links a flat 64-bit guest at 0x100000; returns its image and symbol table. */
export function buildGuest(name: string, defines: string[] = []): { bin: string; syms: Map<string, bigint> } {
  const src = join(GUESTS_DIR, `${name}.S`);
  const tag = defines.map((d) => d.replace(/[^A-Za-z0-9]/g, '_')).join('-');
  const base = join(BUILD_DIR, tag ? `${name}-${tag}` : name);
  const obj = `${base}.o`, elf = `${base}.elf`, bin = `${base}.bin`;
  mkdirSync(BUILD_DIR, { recursive: true });
  if (newer(src, elf) || newer(__filename, elf)) {
    sh('gcc', ['-c', '-nostdlib', '-ffreestanding', ...defines.map((d) => `-D${d}`), '-o', obj, src]);
    sh('ld', ['-nostdlib', '--build-id=none', '-Ttext=0x100000', '-e', '_start', '-o', elf, obj]);
  }
  if (newer(elf, bin)) sh('objcopy', ['-O', 'binary', elf, bin]);
  const syms = new Map<string, bigint>();
  for (const line of sh('nm', [elf]).trim().split('\n')) {
    const [addr, , name] = line.split(' ');
    if (name) syms.set(name, BigInt(`0x${addr}`));
  }
  return { bin, syms };
}

/** bench/ref.c, built with gcc -O2: its path. */
export function buildRef(): string {
  const src = join(BENCH_DIR, 'ref.c'), exe = join(BUILD_DIR, 'ref');
  mkdirSync(BUILD_DIR, { recursive: true });
  if (newer(src, exe)) sh('gcc', ['-O2', '-Wall', '-o', exe, src]);
  return exe;
}
