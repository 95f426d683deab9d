// Guessing a launch configuration when there is no launch.json: from the file in the active
// editor (a guest image, an ELF kernel, or a source file with build outputs nearby) or from the
// guest files found in the workspace. No vscode import: the provider (config-provider.ts) feeds
// it the file system through FileProbe, and the tests feed it real files.
import { basename, dirname, extname, join, relative, isAbsolute, sep } from 'node:path';
import { detectFormat, type GuestFormat } from '../formats/detect.js';
import { isElf } from '../symbols/elf-parse.js';

/** A launch configuration as the extension writes it (the adapter validates it: launch-args.ts). */
export interface KvmLaunchConfiguration {
  type: 'kvm';
  request: 'launch';
  name: string;
  program: string;
  cwd?: string;
  format?: string;
  symbols?: string[];
  modules?: string[];
  cmdline?: string;
  stopOnEntry?: boolean;
  serial?: string;
  [key: string]: unknown;
}

/** What the guesser may read. Paths are absolute. */
export interface FileProbe {
  /** The file's bytes, or undefined when it can't be read (or is a directory). */
  read(path: string): Buffer | undefined;
  /** The names (not paths) of the files in a directory; [] when it doesn't exist. */
  list(dir: string): string[];
}

export type Guess =
  /** One configuration fits. */
  | { kind: 'config'; config: KvmLaunchConfiguration; detected: GuestFormat; why: string }
  /** Several build outputs fit: let the user pick one. */
  | { kind: 'choose'; candidates: Candidate[]; why: string }
  /** Nothing fits: ask the user for the guest file. */
  | { kind: 'ask'; why: string };

/** A guest the user can run: the program, its format and the ELF with its symbols. */
export interface Candidate {
  program: string;
  detected: GuestFormat;
  /** An ELF beside a non-ELF image with the same stem (build/kernel.elf for build/kernel.img). */
  symbols?: string;
  /** Linux: an initrd found beside the kernel. */
  initrd?: string;
}

export interface GuessOptions {
  /** Whether the user has breakpoints: without any, the guess stops on entry. */
  hasBreakpoints?: boolean;
}

const FORMAT_LABELS: Record<GuestFormat, string> = {
  bootsector: 'boot sector',
  flat: 'flat binary',
  elf32: 'ELF32',
  elf64: 'ELF64',
  multiboot: 'Multiboot',
  multiboot2: 'Multiboot2',
  bzimage: 'Linux bzImage',
  pvh: 'PVH kernel (ELF)',
};

export function formatLabel(d: GuestFormat): string {
  return FORMAT_LABELS[d];
}

/** Files that are guest sources, not guests: a guess from one looks for its build outputs. */
export const SOURCE_EXTENSIONS = new Set([
  '.c', '.h', '.cc', '.cpp', '.cxx', '.hpp', '.hh', '.s', '.S', '.asm', '.nasm', '.inc', '.rs',
  '.ld', '.lds', '.zig', '.mk', '.txt', '.md',
]);

/** File names that may be guest images, when looking for build outputs. */
const IMAGE_NAME = /\.(img|bin|elf|kernel|efi|raw|x86_64|i386|sys)$|^(bzImage|vmlinuz.*|kernel)$/i;

/** Where build outputs of a source in `dir` usually are. */
function buildDirs(dir: string): string[] {
  const parent = dirname(dir);
  const dirs = [dir, join(dir, 'build'), join(dir, 'out'), join(dir, 'bin')];
  if (parent !== dir) dirs.push(parent, join(parent, 'build'), join(parent, 'out'), join(parent, 'bin'));
  return [...new Set(dirs)];
}

const isElfBytes = (b: Buffer | undefined) => !!b && isElf(b);

const stem = (p: string) => basename(p, extname(p));

/**
 * Groups guest files into candidates: a boot-sector (or Linux) image takes the same-stem ELF
 * beside it as its symbols (build/kernel.img + build/kernel.elf, as `objcopy -O binary` leaves
 * them); an ELF kernel is its own symbols; other images stand alone. Unrecognised files drop out.
 */
export function candidatesFrom(paths: string[], probe: FileProbe): Candidate[] {
  const found = new Map<string, GuestFormat>();
  for (const p of [...new Set(paths)].sort()) {
    const bytes = probe.read(p);
    const d = bytes && detectFormat(bytes);
    if (d) found.set(p, d);
  }
  const out: Candidate[] = [];
  const used = new Set<string>();
  const elfFor = (p: string) => {
    const key = join(dirname(p), stem(p));
    return [...found.keys()].find((q) => q !== p && join(dirname(q), stem(q)) === key && isElfBytes(probe.read(q)));
  };
  // Boot sectors and Linux images first: a boot sector claims its ELF.
  for (const [p, d] of found) {
    if (d !== 'bootsector' && d !== 'bzimage') continue;
    const elf = d === 'bootsector' ? elfFor(p) : undefined;
    if (elf) used.add(elf);
    out.push(candidate(p, d, probe, elf));
    used.add(p);
  }
  for (const [p, d] of found) {
    if (used.has(p)) continue;
    const elf = isElfBytes(probe.read(p));
    // A flat Multiboot image (a.out kludge) beside its own ELF: the ELF boots too, and has symbols.
    if (!elf && elfFor(p)) continue;
    out.push({ program: p, detected: d });
    used.add(p);
  }
  return out.sort((a, b) => a.program.localeCompare(b.program));
}

/** The candidate for one guest file, with its symbols; a Linux kernel takes the initrd beside it. */
function candidate(program: string, detected: GuestFormat, probe: FileProbe, symbols?: string): Candidate {
  const c: Candidate = { program, detected };
  if (symbols) c.symbols = symbols;
  if (detected === 'bzimage') {
    const initrd = findInitrd(dirname(program), probe);
    if (initrd) c.initrd = initrd;
  }
  return c;
}

function findInitrd(dir: string, probe: FileProbe): string | undefined {
  const name = probe.list(dir).sort().find((n) => /^(initrd|initramfs)/i.test(n));
  return name ? join(dir, name) : undefined;
}

/** The launch configuration for a candidate. */
export function configFor(c: Candidate, opts: GuessOptions = {}): KvmLaunchConfiguration {
  const config: KvmLaunchConfiguration = {
    type: 'kvm',
    request: 'launch',
    name: `KVM: ${basename(c.program)} (${formatLabel(c.detected)})`,
    program: c.program,
  };
  if (c.symbols) config.symbols = [c.symbols];
  if (c.detected === 'bzimage') {
    if (c.initrd) config.modules = [c.initrd];
    config.cmdline = 'console=ttyS0';
    config.memory = '512M';
  }
  config.stopOnEntry = !opts.hasBreakpoints;
  config.serial = 'terminal';
  return config;
}

/**
 * The guess for one file (the active editor's): an image or kernel is run as it is (with the
 * same-stem ELF's symbols for a boot sector); a source file leads to the build outputs near it.
 */
export function guessFromFile(path: string, probe: FileProbe, opts: GuessOptions = {}): Guess {
  const name = basename(path);
  if (SOURCE_EXTENSIONS.has(extname(path)) || SOURCE_EXTENSIONS.has(extname(path).toLowerCase())) {
    return guessFromSource(path, probe, opts);
  }
  const bytes = probe.read(path);
  if (!bytes) return { kind: 'ask', why: `${name} cannot be read` };
  if (bytes.length === 0) return { kind: 'ask', why: `${name} is empty` };
  const d = detectFormat(bytes);
  if (!d) {
    return {
      kind: 'ask',
      why: `${name} is not ELF, Multiboot or a boot sector (55 AA at offset 510); a flat binary needs ` +
        '"format": "flat" with "loadAddress", "entry" and "mode" in launch.json',
    };
  }
  const dir = dirname(path);
  const elf = d === 'bootsector'
    ? probe.list(dir).map((n) => join(dir, n)).find((q) => q !== path && stem(q) === stem(path) && isElfBytes(probe.read(q)))
    : undefined;
  const c = candidate(path, d, probe, elf);
  return { kind: 'config', config: configFor(c, opts), detected: d, why: `${name} is ${article(formatLabel(d))}` };
}

function article(s: string): string {
  return /^[aeiouAEIOU]/.test(s) ? `an ${s}` : `a ${s}`;
}

/** A source file: the guests built near it (build/, out/, bin/, here or one level up). */
export function guessFromSource(path: string, probe: FileProbe, opts: GuessOptions = {}): Guess {
  const files: string[] = [];
  for (const d of buildDirs(dirname(path))) {
    for (const n of probe.list(d)) if (IMAGE_NAME.test(n)) files.push(join(d, n));
  }
  const cands = candidatesFrom(files, probe);
  if (cands.length === 0) {
    return { kind: 'ask', why: `no guest image or ELF kernel found near ${basename(path)} (looked in build/, out/ and bin/)` };
  }
  if (cands.length === 1) {
    const c = cands[0];
    return { kind: 'config', config: configFor(c, opts), detected: c.detected, why: `${relative(dirname(path), c.program)} was built from the sources here` };
  }
  // Several: the one named like the source (kernel.c -> kernel.img) wins if it is the only one.
  const same = cands.filter((c) => stem(c.program) === stem(path));
  if (same.length === 1) {
    const c = same[0];
    return { kind: 'config', config: configFor(c, opts), detected: c.detected, why: `${relative(dirname(path), c.program)} is named like ${basename(path)}` };
  }
  return { kind: 'choose', candidates: cands, why: `${cands.length} guests found near ${basename(path)}` };
}

/** Paths inside the folder written as ${workspaceFolder}/..., for a launch.json. */
export function relativize<T extends Record<string, unknown>>(config: T, folder: string): T {
  const rel = (p: unknown): unknown => {
    if (typeof p !== 'string' || !isAbsolute(p)) return p;
    const r = relative(folder, p);
    if (r === '' ) return '${workspaceFolder}';
    if (r.startsWith('..') || isAbsolute(r)) return p;
    return '${workspaceFolder}/' + r.split(sep).join('/');
  };
  const out: Record<string, unknown> = { ...config };
  for (const k of ['program', 'cwd', 'trace'] as const) if (k in out) out[k] = rel(out[k]);
  for (const k of ['symbols', 'modules'] as const) if (Array.isArray(out[k])) out[k] = (out[k] as unknown[]).map(rel);
  return out as T;
}
