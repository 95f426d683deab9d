// The register scopes as DAP variables: lower-case names, hex values, decoded bits as children.
// Everything here is a pure function of a snapshot of the vCPU, so it is tested without a guest.
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { Segment } from '../../vmm/vcpu.js';
import { REGISTER_GROUPS, type RegisterGroup, type Snapshot } from '../../debugger/target.js';
import { GPR_NAMES } from '../../x86/registers.js';
import { RFLAGS, CR0, CR4, EFER, DR6, DR7, MXCSR, cr3Fields, decodeBits, flagString, type BitField } from '../../x86/bits.js';
import { cpuMode, modeLabel, cpl } from '../../x86/modes.js';
import { pagingMode } from '../../x86/pagewalk.js';

/** The register scopes are the target's register groups. */
export const SCOPES = REGISTER_GROUPS;
export type ScopeName = RegisterGroup;
export type { Snapshot };

/** A node that can be expanded: its children, computed on demand. */
export type Expand = () => DebugProtocol.Variable[];
/** Registers an expandable node and returns its variablesReference. */
export type Alloc = (children: Expand) => number;

export const hex64 = (v: bigint) => '0x' + v.toString(16).padStart(16, '0');
const hexN = (v: bigint, digits: number) => '0x' + v.toString(16).padStart(digits, '0');

function bitsNode(name: string, value: bigint, fields: BitField[], alloc: Alloc, digits = 16): DebugProtocol.Variable {
  return {
    name,
    value: `${hexN(value, digits)} ${flagString(value, fields)}`,
    variablesReference: alloc(() => decodeBits(value, fields).map((f) => ({
      name: f.name,
      value: f.width === 1 && !f.valueName ? f.text : f.text.slice(f.text.indexOf('=') + 1),
      type: f.description,
      variablesReference: 0,
    }))),
    presentationHint: { kind: 'property' },
  };
}

export function registersScope(s: Snapshot, alloc: Alloc): DebugProtocol.Variable[] {
  const out: DebugProtocol.Variable[] = [];
  for (const n of GPR_NAMES) {
    if (n === 'rflags') continue;
    out.push({ name: n, value: hex64(s.regs[n]), variablesReference: 0, memoryReference: '0x' + s.regs[n].toString(16) });
  }
  out.push(bitsNode('rflags', s.regs.rflags, RFLAGS, alloc));
  return out;
}

export function describeSegmentType(seg: Segment): string {
  if (!seg.s) {
    const sys: Record<number, string> = {
      1: 'TSS (16-bit, available)', 2: 'LDT', 3: 'TSS (16-bit, busy)', 9: 'TSS (available)', 11: 'TSS (busy)',
    };
    return sys[seg.type] ?? `system type ${seg.type}`;
  }
  const code = (seg.type & 8) !== 0;
  const parts = [code ? 'code' : 'data'];
  if (code) parts.push(seg.type & 2 ? 'execute/read' : 'execute-only', ...(seg.type & 4 ? ['conforming'] : []));
  else parts.push(seg.type & 2 ? 'read/write' : 'read-only', ...(seg.type & 4 ? ['expand-down'] : []));
  if (seg.type & 1) parts.push('accessed');
  return parts.join(', ');
}

function segmentNode(name: string, seg: Segment, alloc: Alloc): DebugProtocol.Variable {
  const bits = seg.l ? '64-bit' : seg.db ? '32-bit' : '16-bit';
  return {
    name,
    value: `${hexN(BigInt(seg.selector), 4)} base=${hex64(seg.base)} limit=${hexN(BigInt(seg.limit), 8)}`,
    memoryReference: '0x' + seg.base.toString(16),
    variablesReference: alloc(() => [
      { name: 'selector', value: hexN(BigInt(seg.selector), 4), variablesReference: 0 },
      { name: 'index', value: String(seg.selector >> 3), variablesReference: 0 },
      { name: 'ti', value: seg.selector & 4 ? 'LDT' : 'GDT', variablesReference: 0 },
      { name: 'rpl', value: String(seg.selector & 3), variablesReference: 0 },
      { name: 'base', value: hex64(seg.base), variablesReference: 0, memoryReference: '0x' + seg.base.toString(16) },
      { name: 'limit', value: hexN(BigInt(seg.limit), 8), variablesReference: 0 },
      { name: 'type', value: `${seg.type} (${describeSegmentType(seg)})`, variablesReference: 0 },
      { name: 'present', value: String(seg.present), variablesReference: 0 },
      { name: 'dpl', value: String(seg.dpl), variablesReference: 0 },
      { name: 's', value: seg.s ? '1 (code/data)' : '0 (system)', variablesReference: 0 },
      { name: 'size', value: seg.s ? bits : '-', variablesReference: 0 },
      { name: 'l', value: seg.l ? '1' : '0', variablesReference: 0 },
      { name: 'db', value: seg.db ? '1' : '0', variablesReference: 0 },
      { name: 'g', value: seg.g ? '1 (4 KiB units)' : '0 (bytes)', variablesReference: 0 },
      { name: 'avl', value: seg.avl ? '1' : '0', variablesReference: 0 },
      { name: 'unusable', value: String(seg.unusable), variablesReference: 0 },
    ]),
  };
}

export function segmentsScope(s: Snapshot, alloc: Alloc): DebugProtocol.Variable[] {
  return (['cs', 'ds', 'es', 'fs', 'gs', 'ss'] as const).map((n) => segmentNode(n, s.sregs[n], alloc));
}

export function systemScope(s: Snapshot, alloc: Alloc): DebugProtocol.Variable[] {
  const r = s.sregs;
  const mode = cpuMode({ ...r, rflags: s.regs.rflags });
  const table = (name: string, t: { base: bigint; limit: number }): DebugProtocol.Variable => ({
    name, value: `base=${hex64(t.base)} limit=${hexN(BigInt(t.limit), 4)}`, variablesReference: 0,
    memoryReference: '0x' + t.base.toString(16),
  });
  return [
    bitsNode('cr0', r.cr0, CR0, alloc),
    { name: 'cr2', value: hex64(r.cr2), variablesReference: 0, memoryReference: '0x' + r.cr2.toString(16) },
    bitsNode('cr3', r.cr3, cr3Fields(r.cr4), alloc),
    bitsNode('cr4', r.cr4, CR4, alloc),
    { name: 'cr8', value: hex64(r.cr8), variablesReference: 0 },
    bitsNode('efer', r.efer, EFER, alloc),
    table('gdtr', r.gdt),
    table('idtr', r.idt),
    segmentNode('ldtr', r.ldt, alloc),
    segmentNode('tr', r.tr, alloc),
    { name: 'mode', value: modeLabel(mode), variablesReference: 0 },
    { name: 'cpl', value: String(cpl({ cs: r.cs, cr0: r.cr0, rflags: s.regs.rflags })), variablesReference: 0 },
    { name: 'paging', value: pagingMode(r), variablesReference: 0 },
  ];
}

export function debugScope(s: Snapshot, alloc: Alloc): DebugProtocol.Variable[] {
  return [
    ...s.debug.dr.map((v, i) => ({ name: `dr${i}`, value: hex64(v), variablesReference: 0, memoryReference: '0x' + v.toString(16) })),
    bitsNode('dr6', s.debug.dr6, DR6, alloc),
    bitsNode('dr7', s.debug.dr7, DR7, alloc),
  ];
}

/** An 80-bit x87 register as a number (JS double precision) and its raw bytes. */
export function float80(b: Buffer): string {
  const mant = b.readBigUInt64LE(0);
  const se = b.readUInt16LE(8);
  const sign = se & 0x8000 ? -1 : 1;
  const exp = se & 0x7fff;
  const raw = '0x' + Buffer.from(b).reverse().toString('hex');
  if (exp === 0 && mant === 0n) return `${sign < 0 ? '-' : ''}0 (raw ${raw})`;
  if (exp === 0x7fff) return `${mant << 1n ? 'nan' : sign < 0 ? '-inf' : 'inf'} (raw ${raw})`;
  const value = sign * Number(mant) * 2 ** (exp - 16383 - 63);
  return `${value} (raw ${raw})`;
}

export function fpuScope(s: Snapshot, alloc: Alloc): DebugProtocol.Variable[] {
  const f = s.fpu;
  const out: DebugProtocol.Variable[] = f.st.map((b, i) => ({ name: `st${i}`, value: float80(b), variablesReference: 0 }));
  f.xmm.forEach((b, i) => {
    out.push({
      name: `xmm${i}`,
      value: '0x' + Buffer.from(b).reverse().toString('hex'),
      variablesReference: alloc(() => [
        { name: 'v4_float', value: `{${[0, 1, 2, 3].map((k) => b.readFloatLE(4 * k)).join(', ')}}`, variablesReference: 0 },
        { name: 'v2_double', value: `{${[0, 1].map((k) => b.readDoubleLE(8 * k)).join(', ')}}`, variablesReference: 0 },
        { name: 'v4_int32', value: `{${[0, 1, 2, 3].map((k) => '0x' + b.readUInt32LE(4 * k).toString(16)).join(', ')}}`, variablesReference: 0 },
        { name: 'v2_int64', value: `{${[0, 1].map((k) => '0x' + b.readBigUInt64LE(8 * k).toString(16)).join(', ')}}`, variablesReference: 0 },
      ]),
    });
  });
  out.push(bitsNode('mxcsr', BigInt(f.mxcsr), MXCSR, alloc, 8));
  out.push({ name: 'fcw', value: hexN(BigInt(f.fcw), 4), variablesReference: 0 });
  out.push({ name: 'fsw', value: hexN(BigInt(f.fsw), 4), variablesReference: 0 });
  return out;
}

export function scopeVariables(scope: ScopeName, s: Snapshot, alloc: Alloc): DebugProtocol.Variable[] {
  switch (scope) {
    case 'Registers': return registersScope(s, alloc);
    case 'Segments': return segmentsScope(s, alloc);
    case 'System': return systemScope(s, alloc);
    case 'Debug': return debugScope(s, alloc);
    case 'FPU/SSE': return fpuScope(s, alloc);
  }
}

/** Parses a value typed into the Variables view: hex (0x...), decimal, or negative decimal. */
export function parseRegisterValue(text: string): bigint {
  const t = text.trim().split(/\s+/)[0];
  if (!/^-?(0x[0-9a-f]+|\d+)$/i.test(t)) throw new Error(`"${text}" is not a number (use decimal or 0x hex)`);
  const neg = t.startsWith('-');
  const v = BigInt(neg ? t.slice(1) : t);
  return BigInt.asUintN(64, neg ? -v : v);
}
