// Builds the DWARF test programs (main.c, util.c, include/util.h, start.S) in several flavours:
// 64- and 32-bit, -O0 and -O2, DWARF 4 and 5, with .eh_frame or .debug_frame, 64-bit DWARF.
// Compiled from this directory with relative names, so that file names in the line tables are
// relative to DW_AT_comp_dir and the include directory is a relative one; linked with ld at
// 0x100000. Outputs go to test/guests/build/dwarf/ and are rebuilt when a source is newer.
import { execFile, execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
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
  /** A position-independent executable (ET_DYN, linked at 0) instead of ld -Ttext. */
  pie?: boolean;
}

export function flavourName(f: Flavour): string {
  return `m${f.bits}-O${f.opt}-d${f.dwarf}${f.debugFrame ? '-df' : ''}${f.dwarf64 ? '-dwarf64' : ''}${f.pie ? '-pie' : ''}`;
}

const SOURCES = ['main.c', 'util.c', 'start.S', 'include/util.h'];

type Command = [cmd: string, args: string[]];

function runSync([cmd, args]: Command): void {
  try {
    execFileSync(cmd, args, { cwd: DWARF_SRC_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${err.stderr?.toString() ?? err.message}`);
  }
}

/** Runs commands in the background, as many at once as there are CPUs. */
function parallelRunner(): (c: Command) => Promise<void> {
  let active = 0;
  const waiting: (() => void)[] = [];
  const limit = Math.max(2, cpus().length);
  return async ([cmd, args]) => {
    if (active >= limit) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      await new Promise<void>((resolve, reject) => {
        execFile(cmd, args, { cwd: DWARF_SRC_DIR }, (e, _out, err) => (e ? reject(new Error(`${cmd} ${args.join(' ')} failed:\n${err}`)) : resolve()));
      });
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

function elfPath(f: Flavour): string {
  return join(DWARF_BUILD_DIR, `${flavourName(f)}.elf`);
}

function upToDate(elf: string): boolean {
  const inputs = [...SOURCES.map((s) => join(DWARF_SRC_DIR, s)), __filename];
  return existsSync(elf) && inputs.every((s) => statSync(s).mtimeMs <= statSync(elf).mtimeMs);
}

/** What building a flavour takes: compilations (independent of each other), then the link. */
function plan(f: Flavour): { compile: Command[]; link: Command; objs: string[]; tmp: string; elf: string } {
  mkdirSync(DWARF_BUILD_DIR, { recursive: true });
  const name = flavourName(f);
  const elf = elfPath(f);
  const tag = `${name}.${process.pid}`;
  const common = [`-m${f.bits}`, '-g', `-gdwarf-${f.dwarf}`, ...(f.dwarf64 ? ['-gdwarf64'] : [])];
  const cflags = [
    ...common, `-O${f.opt}`, '-ffreestanding', '-nostdlib', '-fno-stack-protector', '-Iinclude',
    ...(f.pie ? ['-fPIE'] : ['-fno-pie', '-fno-pic']),
    ...(f.debugFrame ? ['-fno-asynchronous-unwind-tables', '-fno-unwind-tables'] : []),
  ];
  const srcs = ['start.S', 'main.c', 'util.c'];
  const objs = srcs.map((src) => join(DWARF_BUILD_DIR, `${tag}-${src.replace(/\.\w+$/, '')}.o`));
  const compile = srcs.map((src, i): Command => {
    const flags = src.endsWith('.S') ? [...common, ...(f.debugFrame ? ['-DDEBUG_FRAME'] : [])] : cflags;
    return ['gcc', [...flags, '-c', src, '-o', objs[i]]];
  });
  const tmp = `${elf}.${process.pid}.tmp`;
  const link: Command = f.pie
    ? ['gcc', [`-m${f.bits}`, '-pie', '-nostdlib', '-Wl,--build-id=none', '-Wl,-e,_start', '-o', tmp, ...objs]]
    : ['ld', [...(f.bits === 32 ? ['-m', 'elf_i386'] : []), '-nostdlib', '--build-id=none', `-Ttext=0x${LINK_ADDRESS.toString(16)}`, '-e', '_start', '-o', tmp, ...objs]];
  return { compile, link, objs, tmp, elf };
}

/** Builds one flavour (if out of date) and returns the ELF's path. */
export function buildDwarfGuest(f: Flavour): string {
  const elf = elfPath(f);
  if (upToDate(elf)) return elf;
  const p = plan(f);
  try {
    p.compile.forEach(runSync);
    runSync(p.link);
    renameSync(p.tmp, elf);
  } finally {
    for (const o of p.objs) rmSync(o, { force: true });
  }
  return elf;
}

/** Builds several flavours at once, compilers running in parallel: for a test file's before() hook. */
export async function buildDwarfGuests(flavours: Flavour[]): Promise<void> {
  const run = parallelRunner();
  await Promise.all(flavours.filter((f) => !upToDate(elfPath(f))).map(async (f) => {
    const p = plan(f);
    try {
      await Promise.all(p.compile.map(run));
      await run(p.link);
      renameSync(p.tmp, p.elf);
    } finally {
      for (const o of p.objs) rmSync(o, { force: true });
    }
  }));
}

/** Runs a host tool on a built ELF and returns its standard output. */
export function tool(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 }).toString();
}
