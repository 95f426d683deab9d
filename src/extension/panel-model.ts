// Shapes the adapter's kvm.registerPanel and kvm.translate answers (src/dap/views/panel.ts)
// into what the register panel shows: register bit rows, segment, GDT and IDT tables, a page walk.
// No vscode import; the webview script (media/panel.js) only turns this model into elements.

import type { PanelField, PanelRegister, PanelSegment, RegisterPanelData, TranslateData } from '../protocol.js';
import type { PagingMode } from '../x86/pagewalk.js';

export type { RegisterPanelData, TranslateData };

// --- what the webview renders ----------------------------------------------------------------

export interface BitView {
  /** The field's name ('PG', 'IOPL'). */
  name: string;
  /** What the cell shows: the name for a flag, 'IOPL=3' or 'PDB=0x9000' for wider fields. */
  label: string;
  set: boolean;
  /** Hover text: bit position, description and value. */
  title: string;
}

export interface RegisterView {
  /** Lower case, as in element ids: 'cr0'. */
  id: string;
  /** As shown: 'CR0'. */
  name: string;
  value: string;
  /** Names of the set fields, highest bit first: 'PG ET PE'. */
  summary: string;
  /** Highest bit first, as the SDM draws registers. */
  bits: BitView[];
}

export interface RowView {
  /** Stable key for the row (data-key in the webview): 'cs', '3', '0x0e'. */
  key: string;
  cells: string[];
  classes: string[];
  title?: string;
}

export interface TableView {
  /** The table's element id in the webview. */
  id: string;
  caption: string;
  /** A line under the caption: base and limit, counts, why it is empty. */
  note: string;
  columns: string[];
  rows: RowView[];
}

export interface PanelModel {
  vcpu: number;
  mode: string;
  cpl: number;
  paging: string;
  pagingLabel: string;
  rip: string;
  /** Header facts, in order: [label, value, element id]. */
  facts: { id: string; label: string; value: string }[];
  registers: RegisterView[];
  segments: TableView;
  gdt: TableView;
  idt: TableView;
}

export interface WalkView {
  ok: boolean;
  address: string;
  /** One line: '0x7ff9 → 0x7ff9 (2 MiB page, 4-level paging)' or the reason it failed. */
  summary: string;
  /** Access rights of the page, when the walk succeeded: ['writable', 'supervisor', 'executable']. */
  access: string[];
  levels: TableView;
}

// --- shaping ---------------------------------------------------------------------------------

const hex = (v: number | bigint | string, digits = 0): string => {
  const n = typeof v === 'string' ? BigInt(v) : BigInt(v);
  return '0x' + n.toString(16).padStart(digits, '0');
};

const PAGING_LABELS: Record<PagingMode, string> = {
  none: 'paging off',
  '32-bit': '32-bit paging',
  pae: 'PAE paging',
  '4-level': '4-level paging',
  '5-level': '5-level paging',
};

export function pagingLabel(paging: PagingMode): string {
  return PAGING_LABELS[paging] ?? `${paging} paging`;
}

function bitRange(f: { lsb: number; width: number }): string {
  return f.width === 1 ? `bit ${f.lsb}` : `bits ${f.lsb + f.width - 1}:${f.lsb}`;
}

function bitView(f: PanelField): BitView {
  const label = f.width === 1 ? f.name : f.text;
  const value = f.width === 1 ? (f.set ? '1' : '0') : f.text + (f.valueName ? ` (${f.valueName})` : '');
  return { name: f.name, label, set: f.set, title: `${f.name} (${bitRange(f)}): ${f.description} = ${value}` };
}

export function registerView(r: PanelRegister): RegisterView {
  const fields = [...r.fields].sort((a, b) => b.lsb - a.lsb);
  return {
    id: r.name.toLowerCase(),
    name: r.name.toUpperCase(),
    value: r.value,
    summary: fields.filter((f) => f.set).map((f) => (f.width === 1 ? f.name : f.text)).join(' '),
    bits: fields.map(bitView),
  };
}

/** The GDT slot a selector names, if it is a GDT selector (TI = 0) other than the null one. */
function gdtIndex(selector: string): number | undefined {
  const s = Number(BigInt(selector));
  if (s & 4) return undefined;
  const i = s >> 3;
  return i === 0 ? undefined : i;
}

function segmentsTable(segs: PanelSegment[]): TableView {
  return {
    id: 'segments',
    caption: 'Segment registers',
    note: 'Descriptor caches as the CPU holds them (not re-read from the GDT)',
    columns: ['Register', 'Selector', 'Base', 'Limit', 'Type', 'Attributes', 'Decoded'],
    rows: segs.map((s) => {
      const unusable = s.attributes.some((a) => a.name === 'unusable' && a.set);
      const attrs = s.attributes.filter((a) => a.name !== 'Type' && (a.set || a.width > 1)).map((a) => (a.width === 1 ? a.name : a.text));
      return {
        key: s.name,
        cells: [s.name.toUpperCase(), hex(s.selector, 4), s.base, s.limit, s.typeName, attrs.join(' '), s.text],
        classes: ['segment', unusable ? 'unusable' : 'usable'],
        title: s.attributes.map((a) => `${a.name}: ${a.description} = ${a.width === 1 ? (a.set ? 1 : 0) : a.text}`).join('\n'),
      };
    }),
  };
}

function gdtTable(p: RegisterPanelData): TableView {
  const loaded = new Map<number, string[]>();
  for (const s of p.segments) {
    const i = gdtIndex(s.selector);
    if (i !== undefined) loaded.set(i, [...(loaded.get(i) ?? []), s.name.toUpperCase()]);
  }
  const entries = p.gdt.entries;
  const present = entries.filter((e) => e.present).length;
  const note = p.gdt.unreadable
    ? `base ${p.gdt.base} limit ${p.gdt.limit}: the table is not readable at its base`
    : `base ${p.gdt.base} limit ${p.gdt.limit} · ${entries.length} entries, ${present} present`;
  return {
    id: 'gdt',
    caption: 'Global descriptor table',
    note,
    columns: ['Index', 'Selector', 'Type', 'Base', 'Limit', 'DPL', 'Flags', 'Loaded in', 'Raw'],
    rows: entries.map((e) => {
      const flags = [
        e.present && 'P', e.s && 'S', e.l && 'L', e.db && 'D/B', e.g && 'G', e.avl && 'AVL', e.accessed && e.s && 'A',
      ].filter(Boolean).join(' ');
      const inUse = loaded.get(e.index) ?? [];
      return {
        key: String(e.index),
        cells: [
          String(e.index), hex(e.selector, 4), e.typeName, e.base ?? '', e.limit === undefined ? '' : hex(e.limit), String(e.dpl),
          flags, inUse.join(' '), e.rawHi ? `${e.rawHi} ${e.raw}` : e.raw,
        ],
        classes: ['gdt-entry', `kind-${e.kind}`, e.present ? 'present' : 'absent', ...(inUse.length ? ['loaded'] : [])],
        title: e.text,
      };
    }),
  };
}

function idtTable(p: RegisterPanelData): TableView {
  const entries = p.idt.entries;
  const real = entries.length > 0 && entries[0].gateType === 'ivt';
  const present = entries.filter((e) => e.present).length;
  const note = p.idt.unreadable
    ? `base ${p.idt.base} limit ${p.idt.limit}: the table is not readable at its base`
    : `base ${p.idt.base} limit ${p.idt.limit} · ${entries.length} ${real ? 'real-mode vectors (IVT)' : 'gates'}, ${present} present`;
  if (real) {
    return {
      id: 'idt',
      caption: 'Interrupt vector table',
      note,
      columns: ['Vector', 'Exception', 'Segment:Offset', 'Linear', 'Raw'],
      rows: entries.map((e) => ({
        key: hex(e.vector, 2),
        cells: [hex(e.vector, 2), e.exception ?? '', `${hex(e.selector, 4)}:${hex(e.offset, 4)}`, hex(e.linear ?? 0), e.raw],
        classes: ['idt-entry', 'present'],
        title: e.text,
      })),
    };
  }
  return {
    id: 'idt',
    caption: 'Interrupt descriptor table',
    note,
    columns: ['Vector', 'Exception', 'Type', 'Handler', 'DPL', 'IST', 'Raw'],
    rows: entries.map((e) => ({
      key: hex(e.vector, 2),
      cells: [
        hex(e.vector, 2), e.exception ?? '', e.typeName, e.present || e.gateType !== 'invalid' ? `${hex(e.selector, 4)}:${e.offset}` : '',
        String(e.dpl), e.ist ? String(e.ist) : '', e.raw,
      ],
      classes: ['idt-entry', e.present ? 'present' : 'absent', `gate-${e.gateType}`],
      title: e.text,
    })),
  };
}

/** The whole panel from one kvm.registerPanel answer. */
export function shapePanel(p: RegisterPanelData): PanelModel {
  const registers = p.registers.map(registerView);
  const control = Object.entries(p.control ?? {}).map(([name, value]): RegisterView => ({
    id: name.toLowerCase(), name: name.toUpperCase(), value, summary: '', bits: [],
  }));
  return {
    vcpu: p.vcpu,
    mode: p.mode,
    cpl: p.cpl,
    paging: p.paging,
    pagingLabel: pagingLabel(p.paging),
    rip: p.rip,
    facts: [
      { id: 'fact-vcpu', label: 'vCPU', value: String(p.vcpu) },
      { id: 'fact-mode', label: 'Mode', value: p.mode },
      { id: 'fact-cpl', label: 'CPL', value: String(p.cpl) },
      { id: 'fact-paging', label: 'Paging', value: pagingLabel(p.paging) },
      { id: 'fact-rip', label: 'RIP', value: p.rip },
    ],
    registers: [...registers, ...control],
    segments: segmentsTable(p.segments),
    gdt: gdtTable(p),
    idt: idtTable(p),
  };
}

export function sizeLabel(bytes: number): string {
  if (bytes >= 1 << 30 && bytes % (1 << 30) === 0) return `${bytes / (1 << 30)} GiB`;
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes / (1 << 20)} MiB`;
  if (bytes >= 1 << 10 && bytes % (1 << 10) === 0) return `${bytes / (1 << 10)} KiB`;
  return `${bytes} bytes`;
}

/** A kvm.translate answer as the page-walk box shows it. */
export function shapeWalk(t: TranslateData): WalkView {
  const paging = pagingLabel(t.mode);
  const wide = t.mode === '4-level' || t.mode === '5-level' || t.mode === 'pae';
  const levels: TableView = {
    id: 'walk-levels',
    caption: 'Page walk',
    note: t.levels.length ? `${t.levels.length} level${t.levels.length === 1 ? '' : 's'} read` : t.mode === 'none' ? 'paging is off: linear = physical' : 'no table entry was read',
    columns: ['Level', 'Index', 'Entry address', 'Entry', 'Flags'],
    rows: t.levels.map((l) => ({
      key: l.name,
      cells: [l.name, String(l.index), hex(l.entryAddress), hex(l.entry, wide ? 16 : 8), l.flags.join(' ')],
      classes: ['walk-level', l.present ? 'present' : 'not-present'],
    })),
  };
  if (!t.ok) {
    return { ok: false, address: t.linear, summary: `${t.linear}: ${t.reason}`, access: [], levels };
  }
  const access = [t.writable ? 'writable' : 'read-only', t.user ? 'user' : 'supervisor', t.executable ? 'executable' : 'no-execute'];
  return {
    ok: true,
    address: t.linear,
    summary: `${t.linear} → ${hex(t.physical)} (${sizeLabel(t.pageSize)} page, ${paging})`,
    access,
    levels,
  };
}

/** A failed request (the guest is running, no session, ...) in the page-walk box. */
export function walkError(address: string, message: string): WalkView {
  return {
    ok: false, address, summary: `${address}: ${message}`, access: [],
    levels: { id: 'walk-levels', caption: 'Page walk', note: '', columns: [], rows: [] },
  };
}

/**
 * What the user typed as an address, as the adapter's kvm.translate takes it ("0x..." or decimal).
 * Accepts 0x-hex, decimal, hex with an h suffix, and _ or ' or spaces between digits.
 */
export function parseAddress(text: string): { ok: true; address: string } | { ok: false; message: string } {
  const t = text.trim().replace(/[_'\s]/g, '');
  let v: bigint | undefined;
  if (/^0x[0-9a-f]+$/i.test(t)) v = BigInt(t);
  else if (/^[0-9a-f]+h$/i.test(t)) v = BigInt('0x' + t.slice(0, -1));
  else if (/^\d+$/.test(t)) v = BigInt(t);
  if (v === undefined) return { ok: false, message: 'Enter an address: 0x-prefixed hex (0xffffffff80000000) or decimal' };
  if (v >= 1n << 64n) return { ok: false, message: 'The address does not fit in 64 bits' };
  return { ok: true, address: '0x' + v.toString(16) };
}
