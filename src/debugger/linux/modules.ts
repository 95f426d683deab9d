// lx-lsmod: the loaded modules, as scripts/gdb/linux/modules.py finds them: every struct module
// is on the `modules` list through its `list` member. Where its code lies: core_layout (base,
// size) before Linux 6.4, mem[] (one region per kind, text first) from 6.4. Its symbols: the
// module's own kallsyms (mod->kallsyms: ELF symbols at their load addresses, nm letters beside),
// which gdb's lx-symbols would read from the .ko file instead.
import { GuestError } from '../../errors.js';
import { letterSymbol } from '../../symbols/system-map.js';
import type { ElfSymbol } from '../../symbols/elf-parse.js';
import type { KernelData, Struct } from './kernel-data.js';

const WHAT = 'lx-lsmod';
const MAX_MODULES = 1 << 14;
const MODULE_NAME_LEN = 56;

export interface Module {
  address: bigint;
  name: string;
  /** Where its code starts, and the size of its core (text, data, read-only data). */
  base: bigint;
  size: number;
  /** The references held on it (refcnt less the module's own one), where the kernel counts them. */
  refs: number | undefined;
}

export function listModules(k: KernelData): Module[] {
  const mod = k.struct('module', WHAT);
  const link = k.memberAt(0n, mod, 'list', WHAT);
  const head = k.symbol('modules', WHAT);
  return [...k.listEntries(head, link, MAX_MODULES, WHAT)].map((m) =>
    ({ address: m, name: k.cString(k.memberAt(m, mod, 'name', WHAT), MODULE_NAME_LEN), ...where(k, mod, m), refs: refs(k, mod, m) }));
}

function where(k: KernelData, mod: Struct, m: bigint): { base: bigint; size: number } {
  if (k.hasField(mod, 'core_layout')) {
    const layout = k.struct('module_layout', WHAT);
    const at = k.memberAt(m, mod, 'core_layout', WHAT);
    return { base: k.u64(k.memberAt(at, layout, 'base', WHAT)), size: k.u32(k.memberAt(at, layout, 'size', WHAT)) };
  }
  const memory = k.struct('module_memory', WHAT);
  const regions = k.field(mod, 'mem', WHAT);
  const count = regions.type.kind === 'array' ? regions.type.count ?? 0 : 0;
  const stride = k.sizeOf(memory);
  const first = m + BigInt(regions.offset);
  const base = k.u64(k.memberAt(first, memory, 'base', WHAT));
  let size = 0;
  for (let i = 0; i < count; i++) size += k.u32(k.memberAt(first + BigInt(i * stride), memory, 'size', WHAT));
  return { base, size };
}

function refs(k: KernelData, mod: Struct, m: bigint): number | undefined {
  if (!k.hasField(mod, 'refcnt')) return undefined; // CONFIG_MODULE_UNLOAD off
  return k.u32(k.memberAt(m, mod, 'refcnt', WHAT)) - 1;
}

/** More symbols than this in one module is a table gone wrong. */
const MAX_MODULE_SYMBOLS = 1 << 20;
const ELF64_SYM = 24;
/** KSYM_NAME_LEN. */
const MAX_NAME = 512;

/** A module's symbols from its kallsyms, at their load addresses; empty without CONFIG_KALLSYMS. */
export function moduleSymbols(k: KernelData, m: Module): ElfSymbol[] {
  const mod = k.struct('module', WHAT);
  if (!k.hasField(mod, 'kallsyms')) return [];
  const table = k.u64(k.memberAt(m.address, mod, 'kallsyms', WHAT));
  if (!table) return [];
  const ks = k.struct('mod_kallsyms', WHAT);
  const at = (f: string) => k.memberAt(table, ks, f, WHAT);
  const count = k.u32(at('num_symtab'));
  if (count > MAX_MODULE_SYMBOLS) throw new GuestError(`${WHAT}: module ${m.name} claims ${count} symbols: its kallsyms look corrupt`);
  const syms = k.read(k.u64(at('symtab')), count * ELF64_SYM);
  const types = k.read(k.u64(at('typetab')), count);
  const strtab = k.u64(at('strtab'));
  // The names lie together: one read up to the last one's start, which is read on its own
  // (the page after the table may not be mapped).
  let last = 0;
  for (let i = 0; i < count; i++) last = Math.max(last, syms.readUInt32LE(i * ELF64_SYM));
  const names = k.read(strtab, last);
  const out: ElfSymbol[] = [];
  for (let i = 0; i < count; i++) {
    const letter = String.fromCharCode(types[i]);
    const value = syms.readBigUInt64LE(i * ELF64_SYM + 8);
    const off = syms.readUInt32LE(i * ELF64_SYM);
    const end = names.indexOf(0, off);
    const name = end < 0 ? k.cString(strtab + BigInt(off), MAX_NAME) : names.toString('latin1', off, end);
    if (!name || !value || letter === 'U' || !/[a-zA-Z]/.test(letter)) continue;
    out.push(letterSymbol(name, value, letter, syms.readBigUInt64LE(i * ELF64_SYM + 16)));
  }
  return out;
}

/** lx-lsmod's table, as lsmod prints it (with the module's address first, as the gdb script does). */
export function formatModules(mods: Module[]): string {
  const rows = mods.map((m) => `0x${m.base.toString(16)} ${m.name.padEnd(20)} ${String(m.size).padStart(8)}  ${m.refs ?? '-'}`);
  return [`${'Address'.padEnd(18)} ${'Module'.padEnd(20)} ${'Size'.padStart(8)}  Used by`, ...(rows.length ? rows : ['(no modules loaded)'])].join('\n');
}
