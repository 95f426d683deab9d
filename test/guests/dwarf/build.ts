// Builds the DWARF test programs (main.c, util.c, include/util.h, start.S) in several flavours:
// 64- and 32-bit, -O0 and -O2, DWARF 4 and 5, with .eh_frame or .debug_frame, 64-bit DWARF.
// Compiled from this directory with relative names, so that file names in the line tables are
// relative to DW_AT_comp_dir and the include directory is a relative one; linked with ld at
// 0x100000. Outputs go to test/guests/build/dwarf/ and are rebuilt when a source is newer.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const DWARF_SRC_DIR = __dirname;
export const DWARF_BUILD_DIR = join(__dirname, '..', 'build', 'dwarf');
export const LINK_ADDRESS = 0x100000n;

export interface Flavour {
  bits: 32 | 64;
  opt: 0 | 2;
  dwarf: 4 | 5;
  /** Call frame information in .debug_frame instead of .eh_frame. */
  debugFrame?: boolean;
  /** 64-bit DWARF format (gcc -gdwarf64) for .debug_info. */
  dwarf64?: boolean;
}

export function flavourName(f: Flavour): string {
  return `m${f.bits}-O${f.opt}-d${f.dwarf}${f.debugFrame ? '-df' : ''}${f.dwarf64 ? '-dwarf64' : ''}`;
}

const SOURCES = ['main.c', 'util.c', 'start.S', 'include/util.h'];

function run(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { cwd: DWARF_SRC_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${err.stderr?.toString() ?? err.message}`);
  }
}

/** Builds one flavour (if out of date) and returns the ELF's path. */
export function buildDwarfGuest(f: Flavour): string {
  mkdirSync(DWARF_BUILD_DIR, { recursive: true });
  const name = flavourName(f);
  const elf = join(DWARF_BUILD_DIR, `${name}.elf`);
  const inputs = [...SOURCES.map((s) => join(DWARF_SRC_DIR, s)), __filename];
  if (existsSync(elf) && inputs.every((s) => statSync(s).mtimeMs <= statSync(elf).mtimeMs)) return elf;
  const tag = `${name}.${process.pid}`;
  const common = [`-m${f.bits}`, '-g', `-gdwarf-${f.dwarf}`, ...(f.dwarf64 ? ['-gdwarf64'] : [])];
  const cflags = [
    ...common, `-O${f.opt}`, '-ffreestanding', '-nostdlib', '-fno-pie', '-fno-stack-protector', '-fno-pic', '-Iinclude',
    ...(f.debugFrame ? ['-fno-asynchronous-unwind-tables', '-fno-unwind-tables'] : []),
  ];
  const objs: string[] = [];
  for (const src of ['start.S', 'main.c', 'util.c']) {
    const obj = join(DWARF_BUILD_DIR, `${tag}-${src.replace(/\.\w+$/, '')}.o`);
    const flags = src.endsWith('.S') ? [...common, ...(f.debugFrame ? ['-DDEBUG_FRAME'] : [])] : cflags;
    run('gcc', [...flags, '-c', src, '-o', obj]);
    objs.push(obj);
  }
  const tmp = `${elf}.${process.pid}.tmp`;
  run('ld', [...(f.bits === 32 ? ['-m', 'elf_i386'] : []), '-nostdlib', '--build-id=none', `-Ttext=0x${LINK_ADDRESS.toString(16)}`, '-e', '_start', '-o', tmp, ...objs]);
  renameSync(tmp, elf);
  return elf;
}

/** Runs a host tool on a built ELF and returns its standard output. */
export function tool(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 }).toString();
}
