// Builds the DWARF variables test programs (vars.c, other.c, start.S; layout.c for the layout
// probe) with gcc, and with clang where it is installed: 64- and 32-bit, -O0 and -O2, DWARF 4
// and 5. Freestanding, linked with ld at 0x100000; start.S makes them runnable as Linux
// processes under gdb. Outputs go to test/guests/build/dwarf-vars/ and are rebuilt when a
// source is newer.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

export const VARS_SRC_DIR = __dirname;
export const VARS_BUILD_DIR = join(__dirname, '..', 'build', 'dwarf-vars');

export interface VarsFlavour {
  cc: 'gcc' | 'clang';
  bits: 32 | 64;
  opt: 0 | 2;
  dwarf: 4 | 5;
  /** The layout probe (layout.c) instead of the variables program. */
  layout?: boolean;
  /** Types in type units (-fdebug-types-section): .debug_types in DWARF 4, DW_UT_type units in 5. */
  typeUnits?: boolean;
}

export function varsFlavourName(f: VarsFlavour): string {
  return `${f.layout ? 'layout-' : ''}${f.cc}-m${f.bits}-O${f.opt}-d${f.dwarf}${f.typeUnits ? '-types' : ''}`;
}

const SOURCES = ['vars.c', 'other.c', 'start.S', 'layout.c', 'types.h'];

const toolChecked = new Map<string, boolean>();
/** Whether a host tool runs (`tool --version`). */
export function haveTool(name: string): boolean {
  let ok = toolChecked.get(name);
  if (ok === undefined) {
    try {
      execFileSync(name, ['--version'], { stdio: 'ignore' });
      ok = true;
    } catch {
      ok = false;
    }
    toolChecked.set(name, ok);
  }
  return ok;
}

/** Whether clang is installed, with llvm-dwarfdump (which the tests read clang's location lists with). */
export function haveClang(): boolean {
  return haveTool('clang') && haveTool('llvm-dwarfdump');
}

type Command = [cmd: string, args: string[]];

function elfPath(f: VarsFlavour): string {
  return join(VARS_BUILD_DIR, `${varsFlavourName(f)}.elf`);
}

function upToDate(elf: string): boolean {
  const inputs = [...SOURCES.map((s) => join(VARS_SRC_DIR, s)), __filename];
  return existsSync(elf) && inputs.every((s) => statSync(s).mtimeMs <= statSync(elf).mtimeMs);
}

function plan(f: VarsFlavour): { compile: Command[]; link: Command; objs: string[]; tmp: string; elf: string } {
  mkdirSync(VARS_BUILD_DIR, { recursive: true });
  const elf = elfPath(f);
  const tag = `${varsFlavourName(f)}.${process.pid}`;
  const cflags = [
    `-m${f.bits}`, '-g', `-gdwarf-${f.dwarf}`, `-O${f.opt}`, '-ffreestanding', '-nostdlib', '-fno-stack-protector',
    '-fno-pie', '-fno-pic', '-fno-builtin', '-I.', ...(f.cc === 'clang' ? ['-Wno-unknown-attributes'] : []),
    ...(f.typeUnits ? ['-fdebug-types-section'] : []),
  ];
  const srcs = f.layout ? ['start.S', 'layout.c'] : ['start.S', 'vars.c', 'other.c'];
  const objs = srcs.map((src) => join(VARS_BUILD_DIR, `${tag}-${src.replace(/\.\w+$/, '')}.o`));
  const compile = srcs.map((src, i): Command => [f.cc, [...(src.endsWith('.S') ? [`-m${f.bits}`] : cflags), '-c', src, '-o', objs[i]]]);
  const tmp = `${elf}.${process.pid}.tmp`;
  const link: Command = ['ld', [...(f.bits === 32 ? ['-m', 'elf_i386'] : []), '-nostdlib', '--build-id=none', '-Ttext=0x100000', '-e', '_start', '-o', tmp, ...objs]];
  return { compile, link, objs, tmp, elf };
}

function run([cmd, args]: Command): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: VARS_SRC_DIR }, (e, _out, err) => (e ? reject(new Error(`${cmd} ${args.join(' ')} failed:\n${err}`)) : resolve()));
  });
}

/** Builds the flavours that are out of date, compilers running in parallel; returns their ELF paths. */
export async function buildVarsGuests(flavours: VarsFlavour[]): Promise<string[]> {
  let active = 0;
  const waiting: (() => void)[] = [];
  const limit = Math.max(2, cpus().length);
  const limited = async (c: Command): Promise<void> => {
    if (active >= limit) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      await run(c);
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
  await Promise.all(flavours.filter((f) => !upToDate(elfPath(f))).map(async (f) => {
    const p = plan(f);
    try {
      await Promise.all(p.compile.map(limited));
      await limited(p.link);
      renameSync(p.tmp, p.elf);
    } finally {
      for (const o of p.objs) rmSync(o, { force: true });
      rmSync(p.tmp, { force: true });
    }
  }));
  return flavours.map(elfPath);
}

export function varsElfPath(f: VarsFlavour): string {
  return elfPath(f);
}

/** Runs a host tool and returns its standard output. */
export function tool(cmd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 << 20, env: env ? { ...process.env, ...env } : undefined }).toString();
}
