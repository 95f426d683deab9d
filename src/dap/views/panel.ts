// The machine's tables and decoded registers as plain JSON, for the extension's register panel
// and the Translate Address command (custom requests kvm.registerPanel and kvm.translate).
// Values that may exceed 2^53 travel as 0x-hex strings.
import type { Machine } from '../../vmm/machine.js';
import { RFLAGS, CR0, CR4, EFER, cr3Fields, decodeBits, type BitField } from '../../x86/bits.js';
import { decodeGdt, decodeIdt, describeSegment } from '../../x86/descriptors.js';
import { cpuMode, modeLabel, cpl } from '../../x86/modes.js';
import { walk, pagingMode } from '../../x86/pagewalk.js';
import { SEGMENT_NAMES, EFER_LMA } from '../../x86/registers.js';
import type { PanelField, PanelGdtEntry, PanelIdtEntry, RegisterPanelData, TranslateData } from '../../protocol.js';

const hex = (v: bigint | number) => '0x' + v.toString(16);

/**
 * Bigints to hex strings, recursively, so the result is JSON: T is the shape protocol.ts declares
 * for it on the wire.
 */
function plain<T>(v: unknown): T {
  if (typeof v === 'bigint') return hex(v) as T;
  if (Buffer.isBuffer(v)) return v.toString('hex') as T;
  if (Array.isArray(v)) return v.map((x) => plain(x)) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)])) as T;
  return v as T;
}

function register(name: string, value: bigint, fields: BitField[]) {
  return { name, value: hex(value), fields: plain<PanelField[]>(decodeBits(value, fields)) };
}

/** At most this many table entries are decoded (a GDT can be 64 KiB). */
const MAX_ENTRIES = 256;

export function registerPanel(m: Machine, vcpu: number): RegisterPanelData {
  const v = m.vcpu(vcpu);
  const r = v.getRegs();
  const s = v.getSregs();
  const mode = cpuMode({ ...s, rflags: r.rflags });
  const long = (s.efer & EFER_LMA) !== 0n;
  const read = (base: bigint, len: number): Buffer | undefined => {
    try {
      return m.readLinear(vcpu, base, len);
    } catch {
      return undefined;
    }
  };
  const gdtBytes = read(s.gdt.base, Math.min(s.gdt.limit + 1, MAX_ENTRIES * 8));
  const idtEntry = mode === 'real' ? 4 : long ? 16 : 8;
  const idtBytes = read(s.idt.base, Math.min(s.idt.limit + 1, MAX_ENTRIES * idtEntry));
  return {
    vcpu,
    mode: modeLabel(mode),
    cpl: cpl({ cs: s.cs, cr0: s.cr0, rflags: r.rflags, efer: s.efer }),
    paging: pagingMode(s),
    rip: hex(r.rip),
    registers: [
      register('rflags', r.rflags, RFLAGS),
      register('cr0', s.cr0, CR0),
      register('cr3', s.cr3, cr3Fields(s.cr4)),
      register('cr4', s.cr4, CR4),
      register('efer', s.efer, EFER),
    ],
    control: { cr2: hex(s.cr2), cr8: hex(s.cr8) },
    segments: SEGMENT_NAMES.map((n) => {
      const seg = s[n];
      const d = describeSegment(seg, long);
      return {
        name: n, selector: hex(seg.selector), base: hex(seg.base), limit: hex(seg.limit),
        typeName: d.typeName, text: d.text, attributes: plain<PanelField[]>(d.attributes),
      };
    }),
    gdt: {
      base: hex(s.gdt.base), limit: hex(s.gdt.limit),
      entries: gdtBytes ? plain<PanelGdtEntry[]>(decodeGdt(gdtBytes, long)) : [], unreadable: !gdtBytes,
    },
    idt: {
      base: hex(s.idt.base), limit: hex(s.idt.limit),
      entries: idtBytes ? plain<PanelIdtEntry[]>(decodeIdt(idtBytes, mode === 'real' ? 'real' : long ? 'long' : 'protected')) : [],
      unreadable: !idtBytes,
    },
  };
}

export function translate(m: Machine, vcpu: number, address: bigint): TranslateData {
  const s = m.getSregs(vcpu);
  const r = walk(m.vm.memory, s, address);
  if (r.ok) {
    return plain<TranslateData>({
      ok: true, linear: address, physical: r.t.physical, pageSize: r.t.pageSize, mode: r.t.mode,
      writable: r.t.writable, user: r.t.user, executable: r.t.executable, levels: r.t.levels,
    });
  }
  return plain<TranslateData>({ ok: false, linear: address, mode: pagingMode(s), levels: r.levels, reason: r.reason });
}
