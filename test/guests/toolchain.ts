// The host-toolchain steps the assembly guest builders share (build.ts, build-loaders.ts,
// bzimage/build.ts): running a tool with its stderr in the error, assembling a .S through gcc
// and linking it with ld, and flattening an ELF with objcopy. An output is rebuilt when it is
// missing or older than any of its inputs: the .S, every file it #includes (gcc -MD records
// them in a .d file beside the object), the builder that asked and this file. Outputs are
// written under a temporary directory and renamed into place, so test files building the same
// guest at the same time never see half a file.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export const GUESTS_DIR = __dirname;
export const BUILD_DIR = join(__dirname, 'build');

/** Runs a tool in `cwd`; a failure throws with the command line and the tool's stderr. */
export function run(cmd: string, args: string[], cwd = GUESTS_DIR): void {
  try {
    execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed:\n${err.stderr?.toString() ?? err.message}`);
  }
}

/** Whether `out` is missing or older than one of `inputs` (a missing input counts as newer). */
export function outOfDate(out: string, inputs: string[]): boolean {
  if (!existsSync(out)) return true;
  const built = statSync(out).mtimeMs;
  return inputs.some((i) => !existsSync(i) || statSync(i).mtimeMs > built);
}

/**
 * The files the preprocessor read to make an object (the source and what it #includes), from
 * the make rule `gcc -MD` wrote; undefined when there is no such file (an object built before
 * the builders recorded them). `.include` is not seen by the preprocessor: guests use #include.
 */
function dependencies(depFile: string): string[] | undefined {
  if (!existsSync(depFile)) return undefined;
  // "target: prerequisite ... \<newline> prerequisite ...", with spaces in names escaped as "\ ".
  const rule = readFileSync(depFile, 'utf8').replace(/\\\n/g, ' ');
  return rule.slice(rule.indexOf(': ') + 2).trim().split(/(?<!\\)\s+/).filter(Boolean).map((p) => p.replace(/\\ /g, ' '));
}

export interface AsmBuild {
  /** The .S source; it goes through gcc, so the C preprocessor runs on it. */
  src: string;
  /** Where the object and the linked ELF go (the .d file goes beside the object). */
  obj: string;
  elf: string;
  /** gcc flags after -c -nostdlib -ffreestanding (e.g. -m32). */
  asFlags: string[];
  /** ld flags after -nostdlib --build-id=none (e.g. -m elf_i386 -Ttext=0x7c00 -e _start). */
  ldFlags: string[];
  /** Other files the ELF depends on: the builder that asks (its __filename), a linker script. */
  inputs: string[];
}

/**
 * A variant of the guest `name`: its source built with the macro `define` defined, its outputs
 * named `name.DEFINE.*`; without `define`, the guest as written.
 */
export function variant(name: string, define?: string): { out: string; flags: string[] } {
  return define ? { out: `${name}.${define}`, flags: [`-D${define}`] } : { out: name, flags: [] };
}

/** Assembles and links `b.src` into `b.elf` unless the ELF is newer than all its inputs. */
export function assembleAndLink(b: AsmBuild): void {
  const dep = b.obj.replace(/\.o$/, '') + '.d';
  const included = dependencies(dep);
  if (included && !outOfDate(b.elf, [b.src, ...included, ...b.inputs, __filename])) return;
  inTemporaryDir(dirname(b.elf), (tmp) => {
    const [obj, d, elf] = [b.obj, dep, b.elf].map((p) => join(tmp, basename(p)));
    run('gcc', ['-c', '-nostdlib', '-ffreestanding', ...b.asFlags, '-MD', '-MF', d, '-o', obj, b.src], dirname(b.src));
    run('ld', ['-nostdlib', '--build-id=none', ...b.ldFlags, '-o', elf, obj], dirname(b.src));
    // The ELF last: once it is in place, its object and dependency list are too.
    mkdirSync(dirname(b.obj), { recursive: true });
    renameSync(obj, b.obj);
    renameSync(d, dep);
    renameSync(elf, b.elf);
  });
}

/** `objcopy -O binary [args] elf bin` unless the flat image is newer than the ELF. */
export function flatten(elf: string, bin: string, args: string[] = []): void {
  if (!outOfDate(bin, [elf])) return;
  inTemporaryDir(dirname(bin), (tmp) => {
    const out = join(tmp, basename(bin));
    run('objcopy', ['-O', 'binary', ...args, elf, out], dirname(elf));
    renameSync(out, bin);
  });
}

/**
 * Calls `f` with a new temporary directory inside `dir` (so a rename from it to `dir` stays on
 * one file system); removes it afterwards. The outputs keep their own names in it, so what ld
 * records of its input's name (the object's FILE symbol) is the same however many build at once.
 */
export function inTemporaryDir(dir: string, f: (tmp: string) => void): void {
  mkdirSync(dir, { recursive: true });
  const tmp = mkdtempSync(join(dir, '.tmp-'));
  try {
    f(tmp);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
