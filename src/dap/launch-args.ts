// launch.json validation, in one place: every field's type, and a message naming the field and
// the value when it is wrong. The extension's package.json schema is checked against
// LAUNCH_FIELDS by a test, so the two cannot drift apart.
import { isAbsolute, resolve } from 'node:path';
import { parseSize } from '../vmm/memory.js';
import { BOOT_ENTRIES, GUEST_FORMATS, type BootEntry, type CpuMode, type GuestFormat } from '../vmm/loaders/types.js';
import { LaunchError } from '../errors.js';
import type { SymbolFile } from '../debugger/debug-info.js';
import { ASM_SYNTAXES, type AsmSyntax } from '../x86/disasm.js';
import { KEYS_ROUTES, type KeysRoute } from '../vmm/terminal-input.js';


export type SerialTarget = { kind: 'console' } | { kind: 'terminal' } | { kind: 'file'; path: string };

export interface LaunchConfig {
  program: string;
  format?: GuestFormat;
  memory: number;
  smp: number;
  cmdline: string;
  modules: { path: string; args?: string }[];
  loadAddress?: number;
  entry?: number;
  mode?: CpuMode;
  /** A boot sector's disk behind int 13h (default by the image's size). */
  disk?: 'floppy' | 'hdd';
  /** Load a boot sector's whole image at 0x7C00, not only its first sector. */
  loadWholeImage: boolean;
  /** A Linux bzImage's boot protocol entry (default 32). */
  bootEntry?: BootEntry;
  /** Where KVM resets the vCPU at a triple fault (SVM), replay to it (MachineConfig.recoverShutdown). */
  recoverTripleFault: boolean;
  stopOnEntry: boolean;
  /** Record from the start, for reverse execution (src/debugger/history). */
  record: boolean;
  symbols: SymbolFile[];
  serial: SerialTarget;
  /** How instructions are shown: the Disassembly view, x/i in the Debug Console. */
  disassemblySyntax: AsmSyntax;
  /** Where keys typed into the serial terminal go (src/vmm/terminal-input.ts). */
  keys: KeysRoute;
  /** Log the protocol to this file. */
  trace?: string;
}

/** The launch fields with their JSON types, for the schema test. */
export const LAUNCH_FIELDS: Record<string, string[]> = {
  program: ['string'],
  cwd: ['string'],
  format: ['string'],
  memory: ['string', 'integer'],
  smp: ['integer'],
  cmdline: ['string'],
  initrd: ['string', 'array'],
  modules: ['array'],
  loadAddress: ['string', 'integer'],
  entry: ['string', 'integer'],
  mode: ['string'],
  disk: ['string'],
  loadWholeImage: ['boolean'],
  bootEntry: ['integer'],
  recoverTripleFault: ['boolean'],
  stopOnEntry: ['boolean'],
  record: ['boolean'],
  symbols: ['array'],
  serial: ['string'],
  trace: ['boolean', 'string'],
  disassemblySyntax: ['string'],
  keys: ['string'],
};

/** Fields VS Code itself adds to every configuration. */
const HOST_FIELDS = new Set(['type', 'request', 'name', '__sessionId', '__configurationTarget', 'noDebug',
  '__restart', 'internalConsoleOptions', 'preLaunchTask', 'postDebugTask', 'debugServer', 'presentation',
  '__parentId', 'suppressMultipleSessionWarning']);

export { LaunchError };

function fail(field: string, value: unknown, why: string): never {
  throw new LaunchError(`launch.json: "${field}": ${JSON.stringify(value)} ${why}`);
}

function address(field: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v.trim())) {
    const a = BigInt(v.trim());
    if (a <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(a);
    fail(field, v, `is too large (at most 0x${Number.MAX_SAFE_INTEGER.toString(16)}, 2^53 - 1)`);
  }
  if (typeof v === 'number' && v > Number.MAX_SAFE_INTEGER) fail(field, v, `is too large (at most 0x${Number.MAX_SAFE_INTEGER.toString(16)}, 2^53 - 1)`);
  fail(field, v, 'is not an address (a number, or a string such as "0x100000")');
}

export function parseLaunchArgs(raw: Record<string, unknown> = {}): LaunchConfig {
  for (const k of Object.keys(raw)) {
    if (!(k in LAUNCH_FIELDS) && !HOST_FIELDS.has(k)) {
      throw new LaunchError(`launch.json: unknown field "${k}" (known: ${Object.keys(LAUNCH_FIELDS).join(', ')})`);
    }
  }
  const cwd = raw.cwd === undefined ? process.cwd() : typeof raw.cwd === 'string' ? raw.cwd : fail('cwd', raw.cwd, 'is not a string');
  const path = (field: string, v: unknown) => {
    if (typeof v !== 'string' || v === '') fail(field, v, 'must be a file path');
    return isAbsolute(v) ? v : resolve(cwd, v);
  };
  if (raw.program === undefined) throw new LaunchError('launch.json: "program" is required: the guest image to run');
  const program = path('program', raw.program);

  let format: GuestFormat | undefined;
  if (raw.format !== undefined && raw.format !== 'auto') {
    if (!GUEST_FORMATS.includes(raw.format as GuestFormat)) fail('format', raw.format, `is not one of auto, ${GUEST_FORMATS.join(', ')}`);
    format = raw.format as GuestFormat;
  }

  let memory = 64 << 20;
  if (raw.memory !== undefined) {
    if (typeof raw.memory === 'number' && Number.isSafeInteger(raw.memory) && raw.memory > 0) memory = raw.memory * (1 << 20);
    else if (typeof raw.memory === 'string') {
      try {
        memory = parseSize(raw.memory);
      } catch {
        fail('memory', raw.memory, 'is not a size (such as "64M" or "1G")');
      }
    } else fail('memory', raw.memory, 'is not a size (such as "64M" or "1G")');
  }

  const smp = raw.smp ?? 1;
  if (typeof smp !== 'number' || !Number.isInteger(smp) || smp < 1 || smp > 64) fail('smp', smp, 'must be a whole number from 1 to 64');

  const cmdline = raw.cmdline ?? '';
  if (typeof cmdline !== 'string') fail('cmdline', cmdline, 'must be a string');

  const modules = (() => {
    if (raw.initrd !== undefined) {
      // A Linux kernel's initrd is its first module (bzimage.ts); several files are concatenated.
      if (raw.modules !== undefined) fail('initrd', raw.initrd, 'and "modules" are both given: a Linux initrd is the first module; give one of them');
      const files = typeof raw.initrd === 'string' ? [raw.initrd] : raw.initrd;
      if (!Array.isArray(files) || files.length === 0) fail('initrd', raw.initrd, 'must be a file path or a non-empty list of file paths');
      return files.map((f, i) => ({ path: path(typeof raw.initrd === 'string' ? 'initrd' : `initrd[${i}]`, f) }));
    }
    if (raw.modules === undefined) return [];
    if (!Array.isArray(raw.modules)) fail('modules', raw.modules, 'must be a list of files or { "path", "args" } objects');
    return raw.modules.map((m, i) => {
      if (typeof m === 'string') return { path: path(`modules[${i}]`, m) };
      if (m && typeof m === 'object' && typeof (m as { path?: unknown }).path === 'string') {
        const args = (m as { args?: unknown }).args;
        if (args !== undefined && typeof args !== 'string') fail(`modules[${i}].args`, args, 'must be a string');
        return { path: path(`modules[${i}].path`, (m as { path: string }).path), args };
      }
      fail(`modules[${i}]`, m, 'must be a file path or { "path": ..., "args": ... }');
    });
  })();

  let mode: CpuMode | undefined;
  if (raw.mode !== undefined) {
    if (!['real', 'protected', 'long'].includes(raw.mode as string)) fail('mode', raw.mode, 'must be "real", "protected" or "long"');
    mode = raw.mode as CpuMode;
  }

  if (raw.disk !== undefined && !['auto', 'floppy', 'hdd'].includes(raw.disk as string)) fail('disk', raw.disk, 'must be "auto", "floppy" or "hdd"');
  const disk = raw.disk === 'auto' ? undefined : raw.disk as 'floppy' | 'hdd' | undefined;
  const loadWholeImage = raw.loadWholeImage ?? false;
  if (typeof loadWholeImage !== 'boolean') fail('loadWholeImage', loadWholeImage, 'must be true or false');

  if (raw.bootEntry !== undefined && !BOOT_ENTRIES.includes(raw.bootEntry as BootEntry)) fail('bootEntry', raw.bootEntry, 'must be 32 or 64');
  const bootEntry = raw.bootEntry as BootEntry | undefined;
  const recoverTripleFault = raw.recoverTripleFault ?? false;
  if (typeof recoverTripleFault !== 'boolean') fail('recoverTripleFault', recoverTripleFault, 'must be true or false');

  const stopOnEntry = raw.stopOnEntry ?? false;
  if (typeof stopOnEntry !== 'boolean') fail('stopOnEntry', stopOnEntry, 'must be true or false');

  const record = raw.record ?? false;
  if (typeof record !== 'boolean') fail('record', record, 'must be true or false');

  const symbols = (() => {
    if (raw.symbols === undefined) return [];
    if (!Array.isArray(raw.symbols)) fail('symbols', raw.symbols, 'must be a list of ELF files or { "path", "offset" } objects');
    return raw.symbols.map((s, i): SymbolFile => {
      if (typeof s === 'string') return { path: path(`symbols[${i}]`, s) };
      if (s && typeof s === 'object' && typeof (s as { path?: unknown }).path === 'string') {
        const off = (s as { offset?: unknown }).offset;
        const offset = off === undefined ? undefined : BigInt(address(`symbols[${i}].offset`, off)!);
        return { path: path(`symbols[${i}].path`, (s as { path: string }).path), offset };
      }
      fail(`symbols[${i}]`, s, 'must be an ELF file path or { "path": ..., "offset": ... }');
    });
  })();

  let serial: SerialTarget = { kind: 'console' };
  if (raw.serial !== undefined) {
    if (raw.serial === 'console') serial = { kind: 'console' };
    else if (raw.serial === 'terminal') serial = { kind: 'terminal' };
    else if (typeof raw.serial === 'string' && raw.serial !== '') serial = { kind: 'file', path: path('serial', raw.serial) };
    else fail('serial', raw.serial, 'must be "console", "terminal" or a file path');
  }

  const disassemblySyntax = (raw.disassemblySyntax ?? 'att') as AsmSyntax;
  if (!ASM_SYNTAXES.includes(disassemblySyntax)) fail('disassemblySyntax', raw.disassemblySyntax, 'must be "att" or "intel"');

  const keys = (raw.keys ?? 'auto') as KeysRoute;
  if (!KEYS_ROUTES.includes(keys)) fail('keys', raw.keys, 'must be "auto", "keyboard", "serial" or "both"');

  let trace: string | undefined;
  if (raw.trace === true) trace = resolve(cwd, 'kvmdbg-dap.log');
  else if (typeof raw.trace === 'string') trace = path('trace', raw.trace);
  else if (raw.trace !== undefined && raw.trace !== false) fail('trace', raw.trace, 'must be true, false or a file path');

  return {
    program, format, memory, smp, cmdline, modules, mode, disk, loadWholeImage, bootEntry, recoverTripleFault, stopOnEntry, record, symbols, serial, trace, disassemblySyntax, keys,
    loadAddress: address('loadAddress', raw.loadAddress),
    entry: address('entry', raw.entry),
  };
}
