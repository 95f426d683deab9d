// Decoding of the descriptor tables as they sit in guest memory (GDT, LDT, IDT, the real-mode
// IVT, the TSS) and of KVM's segment descriptor caches, as data for the debugger's register
// scopes and the register inspection panel. SDM vol. 3, 3.4.5 (segment descriptors), 3.5
// (system descriptors), 6.11 / 6.14.1 (IDT gates), 7.2 / 7.7 (TSS).
//
// Conventions: raw descriptors are little-endian quadwords as read from memory (bigint), bases
// and offsets are bigint, limits are numbers. `limit` is always the effective byte limit (the
// 20-bit field scaled by G: (raw << 12) | 0xfff); `rawLimit` is the 20-bit field.
import type { Segment, Sregs } from './registers.js';
import type { DecodedField } from './bits.js';
import { hex } from '../errors.js';

const bit = (v: bigint, n: number): boolean => ((v >> BigInt(n)) & 1n) !== 0n;
const field = (v: bigint, lsb: number, width: number): number => Number((v >> BigInt(lsb)) & ((1n << BigInt(width)) - 1n));

// ---------------------------------------------------------------------------------------------
// Exceptions

export interface ExceptionInfo {
  vector: number;
  /** '#DE', 'NMI', ... ('' for reserved vectors). */
  mnemonic: string;
  /** 'Divide Error', ... */
  description: string;
  /** Whether the CPU pushes an error code. */
  errorCode: boolean;
}

const EXC: [string, string, boolean][] = [
  ['#DE', 'Divide Error', false],
  ['#DB', 'Debug', false],
  ['NMI', 'Non-maskable Interrupt', false],
  ['#BP', 'Breakpoint', false],
  ['#OF', 'Overflow', false],
  ['#BR', 'BOUND Range Exceeded', false],
  ['#UD', 'Invalid Opcode', false],
  ['#NM', 'Device Not Available', false],
  ['#DF', 'Double Fault', true],
  ['', 'Coprocessor Segment Overrun', false],
  ['#TS', 'Invalid TSS', true],
  ['#NP', 'Segment Not Present', true],
  ['#SS', 'Stack-Segment Fault', true],
  ['#GP', 'General Protection', true],
  ['#PF', 'Page Fault', true],
  ['', 'Reserved', false],
  ['#MF', 'x87 Floating-Point Error', false],
  ['#AC', 'Alignment Check', true],
  ['#MC', 'Machine Check', false],
  ['#XM', 'SIMD Floating-Point Exception', false],
  ['#VE', 'Virtualization Exception', false],
  ['#CP', 'Control Protection Exception', true],
  ['', 'Reserved', false],
  ['', 'Reserved', false],
  ['', 'Reserved', false],
  ['', 'Reserved', false],
  ['', 'Reserved', false],
  ['', 'Reserved', false],
  ['#HV', 'Hypervisor Injection Exception', false],
  ['#VC', 'VMM Communication Exception', true],
  ['#SX', 'Security Exception', true],
  ['', 'Reserved', false],
];

/** The architectural exception for vectors 0-31; undefined for other vectors. */
export function exceptionInfo(vector: number): ExceptionInfo | undefined {
  const e = Number.isInteger(vector) && vector >= 0 ? EXC[vector] : undefined;
  return e && { vector, mnemonic: e[0], description: e[1], errorCode: e[2] };
}

/** '#DE Divide Error', 'NMI Non-maskable Interrupt', 'Reserved'; undefined for vectors >= 32. */
export function exceptionName(vector: number): string | undefined {
  const e = exceptionInfo(vector);
  return e && (e.mnemonic ? `${e.mnemonic} ${e.description}` : e.description);
}

// ---------------------------------------------------------------------------------------------
// Selectors

export interface SelectorInfo {
  index: number;
  /** Table indicator: true for the LDT. */
  ti: boolean;
  rpl: number;
  /** 'GDT[2] RPL0', 'LDT[1] RPL3', 'null'. */
  text: string;
}

export function decodeSelector(selector: number): SelectorInfo {
  const index = (selector & 0xffff) >> 3, ti = (selector & 4) !== 0, rpl = selector & 3;
  const text = index === 0 && !ti ? `null${rpl ? ` RPL${rpl}` : ''}` : `${ti ? 'LDT' : 'GDT'}[${index}] RPL${rpl}`;
  return { index, ti, rpl, text };
}

// ---------------------------------------------------------------------------------------------
// Type names

/** Name of a code or data segment type (S = 1): 'code execute/read accessed', 'data read/write'. */
export function codeDataTypeName(type: number, bitness?: '16-bit' | '32-bit' | '64-bit' | 'invalid L+D'): string {
  const parts: string[] = [];
  if (type & 8) {
    parts.push('code');
    if (bitness) parts.push(bitness);
    parts.push(type & 2 ? 'execute/read' : 'execute-only');
    if (type & 4) parts.push('conforming');
  } else {
    parts.push('data', type & 2 ? 'read/write' : 'read-only');
    if (type & 4) parts.push('expand-down');
  }
  if (type & 1) parts.push('accessed');
  return parts.join(' ');
}

const LEGACY_SYSTEM: (string | undefined)[] = [
  undefined, '16-bit TSS (available)', 'LDT', '16-bit TSS (busy)',
  '16-bit call gate', 'task gate', '16-bit interrupt gate', '16-bit trap gate',
  undefined, '32-bit TSS (available)', undefined, '32-bit TSS (busy)',
  '32-bit call gate', undefined, '32-bit interrupt gate', '32-bit trap gate',
];
const LONG_SYSTEM: (string | undefined)[] = [
  undefined, undefined, 'LDT', undefined, undefined, undefined, undefined, undefined,
  undefined, '64-bit TSS (available)', undefined, '64-bit TSS (busy)',
  '64-bit call gate', undefined, '64-bit interrupt gate', '64-bit trap gate',
];

/** Name of a system descriptor type (S = 0); 'reserved (type 0x8)' for undefined types. */
export function systemTypeName(type: number, long: boolean): string {
  return (long ? LONG_SYSTEM : LEGACY_SYSTEM)[type & 0xf] ?? `reserved (type ${hex(type & 0xf)})`;
}

/** Whether a system descriptor of this type takes 16 bytes (two GDT slots) in long mode. */
export function isLongSystemType(type: number): boolean {
  return LONG_SYSTEM[type & 0xf] !== undefined;
}

// ---------------------------------------------------------------------------------------------
// Segment (code/data) descriptors

export interface SegmentDescriptor {
  raw: bigint;
  base: bigint;
  /** Effective limit in bytes, scaled by G. */
  limit: number;
  /** The 20-bit limit field. */
  rawLimit: number;
  /** The 4-bit type field. */
  type: number;
  /** The access byte (bits 47:40): P, DPL, S, type. */
  access: number;
  /** Descriptor type: true for code/data, false for system. */
  s: boolean;
  dpl: number;
  present: boolean;
  avl: boolean;
  l: boolean;
  db: boolean;
  g: boolean;
  /** Type bit 0 (code/data only; false for system descriptors). */
  accessed: boolean;
  kind: 'null' | 'code' | 'data' | 'system';
  /**
   * 'code 64-bit execute/read accessed', 'data read/write accessed'; for S = 0 the legacy system
   * type name ('32-bit TSS (busy)'), which decodeSystemDescriptor refines for long mode.
   */
  typeName: string;
}

function codeBitness(l: boolean, db: boolean): '16-bit' | '32-bit' | '64-bit' | 'invalid L+D' {
  if (l) return db ? 'invalid L+D' : '64-bit';
  return db ? '32-bit' : '16-bit';
}

/** Decodes an 8-byte descriptor as a code/data segment descriptor (the fields every descriptor has). */
export function decodeSegmentDescriptor(raw: bigint): SegmentDescriptor {
  raw = BigInt.asUintN(64, raw);
  const base = BigInt(field(raw, 16, 24) + field(raw, 56, 8) * 0x1000000);
  const rawLimit = field(raw, 0, 16) | (field(raw, 48, 4) << 16);
  const access = field(raw, 40, 8);
  const type = access & 0xf, s = (access & 0x10) !== 0;
  const g = bit(raw, 55), db = bit(raw, 54), l = bit(raw, 53), avl = bit(raw, 52);
  const limit = g ? rawLimit * 4096 + 4095 : rawLimit;
  let kind: SegmentDescriptor['kind'], typeName: string;
  if (raw === 0n) {
    kind = 'null';
    typeName = 'null';
  } else if (s) {
    kind = type & 8 ? 'code' : 'data';
    typeName = codeDataTypeName(type, type & 8 ? codeBitness(l, db) : undefined);
  } else {
    kind = 'system';
    typeName = systemTypeName(type, false);
  }
  return {
    raw, base, limit, rawLimit, type, access, s, dpl: (access >> 5) & 3, present: (access & 0x80) !== 0,
    avl, l, db, g, accessed: s && (type & 1) !== 0, kind, typeName,
  };
}

// ---------------------------------------------------------------------------------------------
// System descriptors (TSS, LDT) and gates

export type SystemKind = 'tss' | 'ldt' | 'call-gate' | 'task-gate' | 'interrupt-gate' | 'trap-gate' | 'reserved';

export interface SystemDescriptor {
  lo: bigint;
  /** The upper quadword of a 16-byte long-mode descriptor. */
  hi?: bigint;
  /** 8 or 16 bytes. */
  size: 8 | 16;
  type: number;
  kind: SystemKind;
  /** Operand size of a TSS or gate; undefined for LDT, task gates and reserved types. */
  bits?: 16 | 32 | 64;
  typeName: string;
  dpl: number;
  present: boolean;
  /** For a TSS: whether it is marked busy. */
  busy?: boolean;
  /** TSS and LDT: base (64-bit in long mode), effective limit, raw limit, G and AVL. */
  base?: bigint;
  limit?: number;
  rawLimit?: number;
  g?: boolean;
  avl?: boolean;
  /** Gates: the target code-segment selector (for a task gate, the TSS selector). */
  selector?: number;
  /** Call/interrupt/trap gates: the entry point offset. */
  offset?: bigint;
  /** Legacy call gates: parameter (word/dword) count. */
  paramCount?: number;
  /** Long-mode interrupt/trap gates: interrupt stack table index (0 = none). */
  ist?: number;
  /** A 16-byte descriptor whose upper half was not available (the fields it holds read as 0). */
  incomplete?: boolean;
  /** The S bit was set: this is not a system descriptor at all. */
  notSystem?: boolean;
}

/**
 * Decodes a system descriptor. In long mode (long = true) LDT, TSS and gate descriptors are 16
 * bytes: pass the upper quadword as hi (undefined marks the result incomplete).
 */
export function decodeSystemDescriptor(lo: bigint, hi: bigint | undefined, long: boolean): SystemDescriptor {
  lo = BigInt.asUintN(64, lo);
  const access = field(lo, 40, 8), type = access & 0xf;
  const wide = long && isLongSystemType(type);
  const h = wide ? BigInt.asUintN(64, hi ?? 0n) : 0n;
  const d: SystemDescriptor = {
    lo, size: wide ? 16 : 8, type, kind: 'reserved', typeName: systemTypeName(type, long),
    dpl: (access >> 5) & 3, present: (access & 0x80) !== 0,
  };
  if (wide) {
    if (hi === undefined) d.incomplete = true;
    else d.hi = h;
  }
  if (access & 0x10) d.notSystem = true;
  const legacyBits = type & 8 ? 32 : 16;
  const bits = long ? 64 : legacyBits;
  switch (long && !isLongSystemType(type) ? -1 : type) {
    case 1: case 3: case 9: case 0xb: {
      d.kind = 'tss';
      d.bits = long ? 64 : legacyBits;
      d.busy = (type & 2) !== 0;
      break;
    }
    case 2:
      d.kind = 'ldt';
      break;
    case 4: case 0xc:
      d.kind = 'call-gate';
      d.bits = bits;
      break;
    case 5:
      d.kind = 'task-gate';
      break;
    case 6: case 0xe:
      d.kind = 'interrupt-gate';
      d.bits = bits;
      break;
    case 7: case 0xf:
      d.kind = 'trap-gate';
      d.bits = bits;
      break;
  }
  if (d.kind === 'tss' || d.kind === 'ldt') {
    const seg = decodeSegmentDescriptor(lo);
    d.base = seg.base | (field(h, 0, 32) ? BigInt(field(h, 0, 32)) << 32n : 0n);
    d.limit = seg.limit;
    d.rawLimit = seg.rawLimit;
    d.g = seg.g;
    d.avl = seg.avl;
  } else if (d.kind === 'task-gate') {
    d.selector = field(lo, 16, 16);
  } else if (d.kind !== 'reserved') {
    d.selector = field(lo, 16, 16);
    let offset = BigInt(field(lo, 0, 16));
    if (d.bits !== 16) offset |= BigInt(field(lo, 48, 16)) << 16n;
    if (d.bits === 64) offset |= BigInt(field(h, 0, 32)) << 32n;
    d.offset = offset;
    if (d.kind === 'call-gate' && !long) d.paramCount = field(lo, 32, 5);
    if (long && d.kind !== 'call-gate') d.ist = field(lo, 32, 3);
  }
  return d;
}

// ---------------------------------------------------------------------------------------------
// GDT / LDT

export interface GdtEntry {
  /** Slot index (selector >> 3). */
  index: number;
  /** The selector that names this entry with RPL 0 and TI 0 (index * 8). */
  selector: number;
  /** The descriptor's quadword in hex ('0x00af9b000000ffff'); for 16-byte descriptors the low one. */
  raw: string;
  /** The upper quadword of a 16-byte descriptor, in hex. */
  rawHi?: string;
  /** 8, or 16 for long-mode system descriptors (which take two slots). */
  size: 8 | 16;
  kind: 'null' | 'code' | 'data' | 'system';
  /** 'code 64-bit execute/read accessed', '64-bit TSS (busy)', 'null'. */
  typeName: string;
  type: number;
  /** Base and effective limit (scaled by G); undefined for gates, which have neither. */
  base?: bigint;
  limit?: number;
  rawLimit?: number;
  dpl: number;
  present: boolean;
  s: boolean;
  l: boolean;
  db: boolean;
  g: boolean;
  avl: boolean;
  accessed: boolean;
  /** The system descriptor decoded (S = 0, not null): TSS/LDT/gate details. */
  system?: SystemDescriptor;
  /** One line: '0x0010 code 64-bit execute/read accessed base=0x0 limit=0xffffffff DPL0 P'. */
  text: string;
}

/**
 * Decodes a GDT (or LDT) image: bytes is the table as read from guest memory, normally
 * GDTR.limit + 1 bytes. A trailing piece shorter than 8 bytes is ignored; in long mode a 16-byte
 * system descriptor cut off by the end of the table is returned with system.incomplete set.
 */
export function decodeGdt(bytes: Buffer, longMode: boolean): GdtEntry[] {
  const out: GdtEntry[] = [];
  const slots = Math.floor(bytes.length / 8);
  for (let i = 0; i < slots; i++) {
    const lo = bytes.readBigUInt64LE(i * 8);
    const seg = decodeSegmentDescriptor(lo);
    const e: GdtEntry = {
      index: i, selector: i * 8, raw: hex(lo, 16), size: 8, kind: seg.kind, typeName: seg.typeName,
      type: seg.type, dpl: seg.dpl, present: seg.present, s: seg.s, l: seg.l, db: seg.db, g: seg.g,
      avl: seg.avl, accessed: seg.accessed, text: '',
    };
    if (seg.kind === 'system') {
      const wide = longMode && isLongSystemType(seg.type);
      const hi = wide && i + 1 < slots ? bytes.readBigUInt64LE((i + 1) * 8) : undefined;
      const sys = decodeSystemDescriptor(lo, hi, longMode);
      e.system = sys;
      e.typeName = sys.typeName;
      if (wide) {
        e.size = 16;
        if (hi !== undefined) e.rawHi = hex(hi, 16);
        i++;
      }
      if (sys.base !== undefined) {
        e.base = sys.base;
        e.limit = sys.limit;
        e.rawLimit = sys.rawLimit;
      }
    } else {
      e.base = seg.base;
      e.limit = seg.limit;
      e.rawLimit = seg.rawLimit;
    }
    e.text = gdtEntryText(e);
    out.push(e);
  }
  return out;
}

function gdtEntryText(e: GdtEntry): string {
  const parts = [hex(e.selector, 4), e.typeName];
  if (e.kind === 'null') return parts.join(' ');
  if (e.base !== undefined) parts.push(`base=${hex(e.base)}`, `limit=${hex(e.limit!)}`);
  const sys = e.system;
  if (sys?.selector !== undefined) parts.push(`selector=${hex(sys.selector, 4)}`);
  if (sys?.offset !== undefined) parts.push(`offset=${hex(sys.offset)}`);
  if (sys?.paramCount) parts.push(`params=${sys.paramCount}`);
  parts.push(`DPL${e.dpl}`, e.present ? 'P' : 'not present');
  if (sys?.incomplete) parts.push('(truncated)');
  return parts.join(' ');
}

// ---------------------------------------------------------------------------------------------
// IDT / IVT

export interface IdtEntry {
  vector: number;
  /** Target code-segment selector (task gates: the TSS selector; real mode: the segment). */
  selector: number;
  /** Handler offset (task gates: 0). */
  offset: bigint;
  /** Real mode: segment * 16 + offset. */
  linear?: number;
  /** The 4-bit gate type (real mode: 0). */
  type: number;
  gateType: 'interrupt' | 'trap' | 'task' | 'ivt' | 'invalid';
  /** Gate size: 16, 32 or 64 (task gates and invalid types: undefined; real mode: 16). */
  bits?: 16 | 32 | 64;
  /** '64-bit interrupt gate', 'task gate', 'real-mode vector', 'empty', 'invalid (64-bit call gate)'. */
  typeName: string;
  dpl: number;
  present: boolean;
  /** Long mode: interrupt stack table index (0 = none). */
  ist?: number;
  /** Exception name for vectors 0-31 ('#PF Page Fault'). */
  exception?: string;
  /** The entry in hex: 8 hex digits (real mode), 16, or 32 (long mode, high quadword first). */
  raw: string;
  /** One line: '0x0e #PF Page Fault 64-bit interrupt gate 0x0010:0xffffffff81a00b30 DPL0 P IST2'. */
  text: string;
}

/**
 * Decodes an IDT image (IDTR.limit + 1 bytes) in the given mode: 'real' reads the IVT's 4-byte
 * offset:segment entries, 'protected' 8-byte gates, 'long' 16-byte gates. A trailing partial
 * entry is ignored.
 */
export function decodeIdt(bytes: Buffer, mode: 'real' | 'protected' | 'long'): IdtEntry[] {
  const size = mode === 'real' ? 4 : mode === 'protected' ? 8 : 16;
  const out: IdtEntry[] = [];
  for (let v = 0; (v + 1) * size <= bytes.length; v++) {
    const at = v * size;
    let e: IdtEntry;
    if (mode === 'real') {
      const offset = bytes.readUInt16LE(at), segment = bytes.readUInt16LE(at + 2);
      e = {
        vector: v, selector: segment, offset: BigInt(offset), linear: segment * 16 + offset, type: 0,
        gateType: 'ivt', bits: 16, typeName: 'real-mode vector', dpl: 0, present: true,
        raw: hex(bytes.readUInt32LE(at), 8), text: '',
      };
    } else {
      const lo = bytes.readBigUInt64LE(at);
      const hi = mode === 'long' ? bytes.readBigUInt64LE(at + 8) : undefined;
      e = decodeGate(v, lo, hi, mode === 'long');
    }
    const exc = exceptionName(v);
    if (exc !== undefined) e.exception = exc;
    e.text = idtEntryText(e);
    out.push(e);
  }
  return out;
}

/** Decodes one IDT gate (8 bytes, or 16 in long mode). Types a gate may not have are 'invalid'. */
export function decodeGate(vector: number, lo: bigint, hi: bigint | undefined, long: boolean): IdtEntry {
  lo = BigInt.asUintN(64, lo);
  const access = field(lo, 40, 8), type = access & 0xf;
  const valid = (access & 0x10) === 0 && (long ? type === 0xe || type === 0xf : [5, 6, 7, 0xe, 0xf].includes(type));
  const e: IdtEntry = {
    vector, selector: field(lo, 16, 16), offset: 0n, type, gateType: 'invalid',
    typeName: systemTypeName(type, long),
    dpl: (access >> 5) & 3, present: (access & 0x80) !== 0,
    raw: long ? hex(BigInt.asUintN(64, hi ?? 0n), 16) + lo.toString(16).padStart(16, '0') : hex(lo, 16), text: '',
  };
  if (!valid) {
    const name = (long ? LONG_SYSTEM : LEGACY_SYSTEM)[type];
    if (lo === 0n && !hi) e.typeName = 'empty';
    else if (access & 0x10) e.typeName = `invalid (S=1, type ${hex(type)})`;
    else e.typeName = `invalid (${name ?? `type ${hex(type)}`})`;
    return e;
  }
  if (long) e.ist = field(lo, 32, 3);
  if (type === 5) {
    e.gateType = 'task';
    return e;
  }
  const sys = decodeSystemDescriptor(lo, hi, long);
  e.gateType = sys.kind === 'trap-gate' ? 'trap' : 'interrupt';
  e.bits = sys.bits;
  e.offset = sys.offset!;
  return e;
}

function idtEntryText(e: IdtEntry): string {
  const parts = [hex(e.vector, 2)];
  if (e.exception) parts.push(e.exception);
  parts.push(e.typeName);
  if (e.typeName === 'empty') return parts.join(' ');
  if (e.gateType === 'ivt') {
    parts.push(`${hex(e.selector, 4)}:${hex(e.offset, 4)}`, `(${hex(e.linear!, 5)})`);
    return parts.join(' ');
  }
  if (e.gateType === 'task') parts.push(`tss=${hex(e.selector, 4)}`);
  else if (e.gateType !== 'invalid') parts.push(`${hex(e.selector, 4)}:${hex(e.offset)}`);
  parts.push(`DPL${e.dpl}`, e.present ? 'P' : 'not present');
  if (e.ist) parts.push(`IST${e.ist}`);
  return parts.join(' ');
}

// ---------------------------------------------------------------------------------------------
// TSS

export interface TssField {
  name: string;
  /** Byte offset in the TSS. */
  offset: number;
  /** Size in bytes of the value (2, 4 or 8). */
  size: number;
  value: bigint;
}

export interface Tss32 {
  kind: '32-bit';
  link: number;
  esp0: number; ss0: number;
  esp1: number; ss1: number;
  esp2: number; ss2: number;
  cr3: number; eip: number; eflags: number;
  eax: number; ecx: number; edx: number; ebx: number;
  esp: number; ebp: number; esi: number; edi: number;
  es: number; cs: number; ss: number; ds: number; fs: number; gs: number;
  ldt: number;
  /** The debug trap flag (byte 0x64 bit 0). */
  t: boolean;
  ioMapBase: number;
  /** Every field in TSS order, for generic rendering. */
  fields: TssField[];
}

export interface Tss64 {
  kind: '64-bit';
  /** RSP0, RSP1, RSP2. */
  rsp: bigint[];
  /** IST1..IST7 (ist[0] is IST1). */
  ist: bigint[];
  ioMapBase: number;
  fields: TssField[];
}

/** Bytes a TSS needs (both forms): 0x68. */
export const TSS_SIZE = 0x68;

const TSS32_LAYOUT: [string, number, number][] = [
  ['link', 0x00, 2], ['esp0', 0x04, 4], ['ss0', 0x08, 2], ['esp1', 0x0c, 4], ['ss1', 0x10, 2],
  ['esp2', 0x14, 4], ['ss2', 0x18, 2], ['cr3', 0x1c, 4], ['eip', 0x20, 4], ['eflags', 0x24, 4],
  ['eax', 0x28, 4], ['ecx', 0x2c, 4], ['edx', 0x30, 4], ['ebx', 0x34, 4], ['esp', 0x38, 4],
  ['ebp', 0x3c, 4], ['esi', 0x40, 4], ['edi', 0x44, 4], ['es', 0x48, 2], ['cs', 0x4c, 2],
  ['ss', 0x50, 2], ['ds', 0x54, 2], ['fs', 0x58, 2], ['gs', 0x5c, 2], ['ldt', 0x60, 2],
  ['t', 0x64, 2], ['ioMapBase', 0x66, 2],
];

const TSS64_LAYOUT: [string, number, number][] = [
  ['rsp0', 0x04, 8], ['rsp1', 0x0c, 8], ['rsp2', 0x14, 8],
  ...[1, 2, 3, 4, 5, 6, 7].map((n): [string, number, number] => [`ist${n}`, 0x1c + 8 * n, 8]),
  ['ioMapBase', 0x66, 2],
];

/** A little-endian word of 2, 4 or 8 bytes at `offset`: a TSS field, a stack frame's slot. */
export function readField(bytes: Buffer, offset: number, size: number): bigint {
  return size === 8 ? bytes.readBigUInt64LE(offset) : BigInt(size === 4 ? bytes.readUInt32LE(offset) : bytes.readUInt16LE(offset));
}

/** Decodes a 32-bit (long = false) or 64-bit TSS. Throws a RangeError below TSS_SIZE bytes. */
export function decodeTss(bytes: Buffer, long: false): Tss32;
export function decodeTss(bytes: Buffer, long: true): Tss64;
export function decodeTss(bytes: Buffer, long: boolean): Tss32 | Tss64;
export function decodeTss(bytes: Buffer, long: boolean): Tss32 | Tss64 {
  if (bytes.length < TSS_SIZE) throw new RangeError(`a TSS needs ${TSS_SIZE} bytes, got ${bytes.length}`);
  const layout = long ? TSS64_LAYOUT : TSS32_LAYOUT;
  const fields = layout.map(([name, offset, size]) => ({ name, offset, size, value: readField(bytes, offset, size) }));
  const get = (name: string): bigint => fields.find((f) => f.name === name)!.value;
  if (long) {
    return {
      kind: '64-bit',
      rsp: [get('rsp0'), get('rsp1'), get('rsp2')],
      ist: [1, 2, 3, 4, 5, 6, 7].map((n) => get(`ist${n}`)),
      ioMapBase: Number(get('ioMapBase')),
      fields,
    };
  }
  const n = (name: string): number => Number(get(name));
  return {
    kind: '32-bit', link: n('link'),
    esp0: n('esp0'), ss0: n('ss0'), esp1: n('esp1'), ss1: n('ss1'), esp2: n('esp2'), ss2: n('ss2'),
    cr3: n('cr3'), eip: n('eip'), eflags: n('eflags'),
    eax: n('eax'), ecx: n('ecx'), edx: n('edx'), ebx: n('ebx'),
    esp: n('esp'), ebp: n('ebp'), esi: n('esi'), edi: n('edi'),
    es: n('es'), cs: n('cs'), ss: n('ss'), ds: n('ds'), fs: n('fs'), gs: n('gs'),
    ldt: n('ldt'), t: (n('t') & 1) !== 0, ioMapBase: n('ioMapBase'), fields,
  };
}

// ---------------------------------------------------------------------------------------------
// KVM segment caches

export interface SegmentDescription {
  /** 'code 64-bit execute/read accessed', 'data read/write accessed', '64-bit TSS (busy)', 'unusable'. */
  typeName: string;
  /**
   * Type, S, DPL, P, AVL, L, D/B, G and unusable as decoded fields (flags have text '1'/'0'), with
   * lsb/width as in the VMX segment access-rights word.
   */
  attributes: DecodedField[];
  /** 'code, execute/read, accessed, 64-bit, DPL 0'. */
  text: string;
}

/**
 * Describes a descriptor cache as KVM reports it (src/vmm/vcpu.ts). For system segments (TR,
 * LDTR) longMode decides whether type 0xb reads as a 64-bit or a 32-bit TSS.
 */
export function describeSegment(seg: Segment, longMode = false): SegmentDescription {
  const type = seg.type & 0xf;
  const attr = (name: string, description: string, value: number | boolean, lsb: number, width = 1, text?: string): DecodedField => {
    const v = BigInt(typeof value === 'boolean' ? Number(value) : value);
    return { name, description, value: v, set: v !== 0n, text: text ?? (width === 1 ? String(v) : `${name}=${v}`), lsb, width };
  };
  let typeName: string;
  const words: string[] = [];
  if (seg.s) {
    const code = (type & 8) !== 0;
    const bitness = codeBitness(seg.l, seg.db);
    typeName = codeDataTypeName(type, code ? bitness : undefined);
    if (code) {
      words.push('code', type & 2 ? 'execute/read' : 'execute-only');
      if (type & 4) words.push('conforming');
    } else {
      words.push('data', type & 2 ? 'read/write' : 'read-only');
      if (type & 4) words.push('expand-down');
    }
    if (type & 1) words.push('accessed');
    // Data segments: B sets the stack width and the expand-down upper bound; L means nothing.
    words.push(code ? bitness : seg.db ? '32-bit' : '16-bit');
  } else {
    typeName = systemTypeName(type, longMode);
    words.push(typeName);
  }
  words.push(`DPL ${seg.dpl}`);
  if (!seg.present) words.push('not present');
  if (seg.unusable) {
    typeName = 'unusable';
    words.unshift('unusable');
  }
  const attributes = [
    attr('Type', 'Segment type', type, 0, 4, `Type=${seg.s ? codeDataTypeName(type) : systemTypeName(type, longMode)}`),
    attr('S', 'Descriptor type (1 = code/data, 0 = system)', seg.s, 4),
    attr('DPL', 'Descriptor privilege level', seg.dpl & 3, 5, 2),
    attr('P', 'Segment present', seg.present, 7),
    attr('AVL', 'Available for system software', seg.avl, 12),
    attr('L', '64-bit code segment', seg.l, 13),
    attr('D/B', 'Default operation size / big (1 = 32-bit)', seg.db, 14),
    attr('G', 'Granularity (limit in 4 KiB units)', seg.g, 15),
    attr('unusable', 'Segment unusable (e.g. a null selector was loaded)', seg.unusable, 16),
  ];
  return { typeName, attributes, text: words.join(', ') };
}

/**
 * The descriptor `selector` names (not null) in the GDT or the LDT, 'past the limit' where its
 * table is shorter (or the LDT unusable), undefined where it can't be read.
 */
export function readDescriptor(selector: number, sregs: Sregs, read: (linear: bigint, length: number) => Buffer):
  SegmentDescriptor | 'past the limit' | undefined {
  const index = selector & ~7;
  const local = (selector & 4) !== 0;
  const table = local ? sregs.ldt : sregs.gdt;
  if ((local && (sregs.ldt.unusable || !sregs.ldt.present)) || index + 7 > table.limit) return 'past the limit';
  try {
    return decodeSegmentDescriptor(read(table.base + BigInt(index), 8).readBigUInt64LE(0));
  } catch {
    return undefined;
  }
}
