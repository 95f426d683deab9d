// lx-lsmod: the loaded modules, as scripts/gdb/linux/modules.py finds them: every struct module
// is on the `modules` list through its `list` member. Where its code lies: core_layout (base,
// size) before Linux 6.4, mem[] (one region per kind, text first) from 6.4.
import { GuestError } from '../../errors.js';
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
  const link = BigInt(k.field(mod, 'list', WHAT).offset);
  const nameAt = BigInt(k.field(mod, 'name', WHAT).offset);
  const head = k.symbol('modules', WHAT);
  const out: Module[] = [];
  for (let node = k.u64(head); node !== head; node = k.u64(node)) {
    if (out.length >= MAX_MODULES) throw new GuestError(`${WHAT}: more than ${MAX_MODULES} modules: the module list looks corrupt`);
    const m = node - link;
    out.push({ address: m, name: k.cString(m + nameAt, MODULE_NAME_LEN), ...where(k, mod, m), refs: refs(k, mod, m) });
  }
  return out;
}

function where(k: KernelData, mod: Struct, m: bigint): { base: bigint; size: number } {
  if (k.hasField(mod, 'core_layout')) {
    const layout = k.struct('module_layout', WHAT);
    const at = m + BigInt(k.field(mod, 'core_layout', WHAT).offset);
    return { base: k.u64(at + BigInt(k.field(layout, 'base', WHAT).offset)), size: k.u32(at + BigInt(k.field(layout, 'size', WHAT).offset)) };
  }
  const memory = k.struct('module_memory', WHAT);
  const regions = k.field(mod, 'mem', WHAT);
  const count = regions.type.kind === 'array' ? regions.type.count ?? 0 : 0;
  const stride = k.sizeOf(memory);
  const base = k.u64(m + BigInt(regions.offset + k.field(memory, 'base', WHAT).offset));
  let size = 0;
  for (let i = 0; i < count; i++) size += k.u32(m + BigInt(regions.offset + i * stride + k.field(memory, 'size', WHAT).offset));
  return { base, size };
}

function refs(k: KernelData, mod: Struct, m: bigint): number | undefined {
  if (!k.hasField(mod, 'refcnt')) return undefined; // CONFIG_MODULE_UNLOAD off
  return k.u32(m + BigInt(k.field(mod, 'refcnt', WHAT).offset)) - 1;
}

/** lx-lsmod's table, as lsmod prints it (with the module's address first, as the gdb script does). */
export function formatModules(mods: Module[]): string {
  const rows = mods.map((m) => `0x${m.base.toString(16)} ${m.name.padEnd(20)} ${String(m.size).padStart(8)}  ${m.refs ?? '-'}`);
  return [`${'Address'.padEnd(18)} ${'Module'.padEnd(20)} ${'Size'.padStart(8)}  Used by`, ...(rows.length ? rows : ['(no modules loaded)'])].join('\n');
}
