// Descriptor decoding: hand-built GDT entries, TSS/LDT descriptors, IDT gates in every form, the
// real-mode IVT, TSS images, KVM segment caches, and random descriptors checked against an
// independent byte-level reassembly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeSegmentDescriptor, decodeSystemDescriptor, decodeGdt, decodeIdt, decodeGate, decodeTss,
  describeSegment, exceptionName, exceptionInfo, decodeSelector, systemTypeName, codeDataTypeName,
  isLongSystemType, TSS_SIZE, type GdtEntry,
} from '../src/x86/descriptors.js';
import { GDT_ENTRIES, descriptor, segmentFor, realModeSegment } from '../src/vmm/arch/gdt.js';
import type { Segment } from '../src/vmm/vcpu.js';
import { prngU32 as rng } from './support/prng.js';

/** A buffer of little-endian quadwords. */
function quads(...q: bigint[]): Buffer {
  const b = Buffer.alloc(q.length * 8);
  q.forEach((v, i) => b.writeBigUInt64LE(v, i * 8));
  return b;
}

const rand64 = (r: () => number): bigint => (BigInt(r()) << 32n) | BigInt(r());

test('0x00AF9B000000FFFF: 64-bit code, every field', () => {
  const d = decodeSegmentDescriptor(0x00af9b000000ffffn);
  assert.deepEqual(d, {
    raw: 0x00af9b000000ffffn, base: 0n, limit: 0xffffffff, rawLimit: 0xfffff, type: 0xb, access: 0x9b,
    s: true, dpl: 0, present: true, avl: false, l: true, db: false, g: true, accessed: true,
    kind: 'code', typeName: 'code 64-bit execute/read accessed',
  });
});

test('0x00CF9B000000FFFF: 32-bit code; 0x00CF93000000FFFF: 32-bit data', () => {
  const c = decodeSegmentDescriptor(0x00cf9b000000ffffn);
  assert.deepEqual(
    { base: c.base, limit: c.limit, type: c.type, s: c.s, dpl: c.dpl, p: c.present, avl: c.avl, l: c.l, db: c.db, g: c.g, kind: c.kind, name: c.typeName },
    { base: 0n, limit: 0xffffffff, type: 0xb, s: true, dpl: 0, p: true, avl: false, l: false, db: true, g: true, kind: 'code', name: 'code 32-bit execute/read accessed' },
  );
  const d = decodeSegmentDescriptor(0x00cf93000000ffffn);
  assert.deepEqual(
    { base: d.base, limit: d.limit, type: d.type, s: d.s, dpl: d.dpl, p: d.present, avl: d.avl, l: d.l, db: d.db, g: d.g, kind: d.kind, name: d.typeName, a: d.accessed },
    { base: 0n, limit: 0xffffffff, type: 0x3, s: true, dpl: 0, p: true, avl: false, l: false, db: true, g: true, kind: 'data', name: 'data read/write accessed', a: true },
  );
  // 16-bit, byte granular, with a base: real-mode-style code at 0xf0000.
  const r = decodeSegmentDescriptor(0x00009a0f0000ffffn);
  assert.equal(r.base, 0xf0000n);
  assert.equal(r.limit, 0xffff);
  assert.equal(r.typeName, 'code 16-bit execute/read');
  assert.equal(r.accessed, false);
  // Base spread over three pieces, AVL, DPL 2, not present, expand-down read-only data.
  const x = decodeSegmentDescriptor(0x12_1_5_54_345678_abcdn);
  assert.equal(x.base, 0x12345678n);
  assert.equal(x.rawLimit, 0x5abcd);
  assert.equal(x.limit, 0x5abcd);
  assert.equal(x.avl, true);
  assert.equal(x.dpl, 2);
  assert.equal(x.present, false);
  assert.equal(x.typeName, 'data read-only expand-down');
  assert.equal(decodeSegmentDescriptor(0n).kind, 'null');
  assert.equal(decodeSegmentDescriptor(0n).typeName, 'null');
  // L and D both set is reserved for code.
  assert.equal(decodeSegmentDescriptor(0x00ef9b000000ffffn).typeName, 'code invalid L+D execute/read accessed');
  assert.equal(decodeSegmentDescriptor(0x00cf9f000000ffffn).typeName, 'code 32-bit execute/read conforming accessed');
  assert.equal(decodeSegmentDescriptor(0x00cf98000000ffffn).typeName, 'code 32-bit execute-only');
  assert.equal(decodeSegmentDescriptor(0x00cf90000000ffffn).typeName, 'data read-only');
});

// Linux x86-64's per-CPU GDT (arch/x86/include/asm/segment.h), with the TSS loaded (busy) for a
// TSS in the CPU entry area, and the CPUNODE entry for CPU 3 on node 1.
const LINUX_GDT: bigint[] = [
  0n,
  0x00cf9b000000ffffn, // 0x08 KERNEL32_CS
  0x00af9b000000ffffn, // 0x10 KERNEL_CS
  0x00cf93000000ffffn, // 0x18 KERNEL_DS
  0x00cffb000000ffffn, // 0x20 DEFAULT_USER32_CS
  0x00cff3000000ffffn, // 0x28 DEFAULT_USER_DS
  0x00affb000000ffffn, // 0x30 DEFAULT_USER_CS
  0n,
  0x00008b0030004087n, 0x00000000fffffe00n, // 0x40 TSS, 16 bytes
  0n, 0n, // 0x50 LDT (none)
  0n, 0n, 0n, // 0x60.. TLS
  0x0040f50000001003n, // 0x78 CPUNODE: limit = node << 12 | cpu
];

test('Linux x86-64 GDT: every entry, TSS taking two slots', () => {
  const es = decodeGdt(quads(...LINUX_GDT), true);
  assert.deepEqual(es.map((e) => e.selector), [0, 8, 0x10, 0x18, 0x20, 0x28, 0x30, 0x38, 0x40, 0x50, 0x58, 0x60, 0x68, 0x70, 0x78]);
  const sel = (s: number): GdtEntry => es.find((e) => e.selector === s)!;
  assert.equal(sel(0).kind, 'null');
  assert.equal(sel(0).text, '0x0000 null');
  const flat = { base: 0n, limit: 0xffffffff, rawLimit: 0xfffff, present: true, s: true, g: true, avl: false, accessed: true, size: 8 };
  const want: [number, string, number, boolean, boolean, string][] = [
    [0x08, 'code 32-bit execute/read accessed', 0, false, true, '0x00cf9b000000ffff'],
    [0x10, 'code 64-bit execute/read accessed', 0, true, false, '0x00af9b000000ffff'],
    [0x18, 'data read/write accessed', 0, false, true, '0x00cf93000000ffff'],
    [0x20, 'code 32-bit execute/read accessed', 3, false, true, '0x00cffb000000ffff'],
    [0x28, 'data read/write accessed', 3, false, true, '0x00cff3000000ffff'],
    [0x30, 'code 64-bit execute/read accessed', 3, true, false, '0x00affb000000ffff'],
  ];
  for (const [s, typeName, dpl, l, db, raw] of want) {
    const e = sel(s);
    assert.deepEqual(
      { base: e.base, limit: e.limit, rawLimit: e.rawLimit, present: e.present, s: e.s, g: e.g, avl: e.avl, accessed: e.accessed, size: e.size },
      flat, `0x${s.toString(16)}`,
    );
    assert.equal(e.typeName, typeName);
    assert.equal(e.dpl, dpl);
    assert.equal(e.l, l);
    assert.equal(e.db, db);
    assert.equal(e.raw, raw);
    assert.equal(e.index, s >> 3);
    assert.equal(e.system, undefined);
  }
  assert.equal(sel(0x10).text, '0x0010 code 64-bit execute/read accessed base=0x0 limit=0xffffffff DPL0 P');
  assert.equal(sel(0x30).text, '0x0030 code 64-bit execute/read accessed base=0x0 limit=0xffffffff DPL3 P');

  const tss = sel(0x40);
  assert.equal(tss.size, 16);
  assert.equal(tss.kind, 'system');
  assert.equal(tss.typeName, '64-bit TSS (busy)');
  assert.equal(tss.raw, '0x00008b0030004087');
  assert.equal(tss.rawHi, '0x00000000fffffe00');
  assert.equal(tss.base, 0xfffffe0000003000n);
  assert.equal(tss.limit, 0x4087);
  assert.equal(tss.rawLimit, 0x4087);
  assert.equal(tss.type, 0xb);
  assert.equal(tss.dpl, 0);
  assert.equal(tss.present, true);
  assert.equal(tss.s, false);
  assert.equal(tss.g, false);
  assert.equal(tss.accessed, false);
  assert.equal(tss.system!.kind, 'tss');
  assert.equal(tss.system!.bits, 64);
  assert.equal(tss.system!.busy, true);
  assert.equal(tss.text, '0x0040 64-bit TSS (busy) base=0xfffffe0000003000 limit=0x4087 DPL0 P');

  const node = sel(0x78);
  assert.equal(node.typeName, 'data read-only expand-down accessed');
  assert.equal(node.limit, 0x1003);
  assert.equal(node.g, false);
  assert.equal(node.db, true);
  assert.equal(node.dpl, 3);
  assert.equal(node.limit! & 0xfff, 3); // CPU
  assert.equal(node.limit! >> 12, 1); // node

  // Read as a legacy table the TSS quadword is an 8-byte 32-bit TSS and the high half a null-ish
  // descriptor of its own.
  const legacy = decodeGdt(quads(...LINUX_GDT), false);
  assert.equal(legacy.length, 16);
  assert.equal(legacy[8].typeName, '32-bit TSS (busy)');
  assert.equal(legacy[8].size, 8);
  assert.equal(legacy[8].base, 0x3000n);
});

test("kvmdbg's own GDT (gdt.ts) decodes to the caches segmentFor() builds", () => {
  const es = decodeGdt(quads(...GDT_ENTRIES), true);
  assert.equal(es.length, GDT_ENTRIES.length);
  for (const e of es.slice(1)) {
    const seg = segmentFor(e.selector);
    assert.equal(e.base, seg.base);
    assert.equal(e.limit, seg.limit);
    assert.equal(e.type, seg.type);
    assert.equal(e.l, seg.l);
    assert.equal(e.db, seg.db);
    assert.equal(e.g, seg.g);
    assert.equal(e.dpl, seg.dpl);
    assert.equal(describeSegment(seg).typeName, e.typeName);
  }
  assert.deepEqual(es.map((e) => e.typeName), [
    'null', 'code 64-bit execute/read accessed', 'code 32-bit execute/read accessed', 'data read/write accessed',
    'code 16-bit execute/read accessed', 'data read/write accessed',
  ]);
});

test('system descriptors: 64-bit TSS, 32-bit TSS, LDTs, call gates', () => {
  const t64 = decodeSystemDescriptor(0x00008b0030004087n, 0x00000000fffffe00n, true);
  assert.deepEqual(t64, {
    lo: 0x00008b0030004087n, hi: 0x00000000fffffe00n, size: 16, type: 0xb, kind: 'tss', bits: 64,
    typeName: '64-bit TSS (busy)', dpl: 0, present: true, busy: true,
    base: 0xfffffe0000003000n, limit: 0x4087, rawLimit: 0x4087, g: false, avl: false,
  });
  const avail = decodeSystemDescriptor(0x0000890030004087n, 0x00000000fffffe00n, true);
  assert.equal(avail.typeName, '64-bit TSS (available)');
  assert.equal(avail.busy, false);
  const cut = decodeSystemDescriptor(0x0000890030004087n, undefined, true);
  assert.equal(cut.incomplete, true);
  assert.equal(cut.base, 0x3000n);

  // 32-bit TSS at 0x123480, limit 0x67.
  const t32 = decodeSystemDescriptor(0x0000891234800067n, undefined, false);
  assert.deepEqual(t32, {
    lo: 0x0000891234800067n, size: 8, type: 9, kind: 'tss', bits: 32, typeName: '32-bit TSS (available)',
    dpl: 0, present: true, busy: false, base: 0x123480n, limit: 0x67, rawLimit: 0x67, g: false, avl: false,
  });
  const t16 = decodeSystemDescriptor(0x00008b1234800067n, undefined, false);
  assert.equal(t16.typeName, '32-bit TSS (busy)');
  assert.equal(decodeSystemDescriptor(0x0000831234800067n, undefined, false).typeName, '16-bit TSS (busy)');
  assert.equal(decodeSystemDescriptor(0x0000831234800067n, undefined, false).bits, 16);

  // LDT at 0x200000, limit 0xff; in long mode with base bits 63:32 = 0xffff8880.
  const ldt = decodeSystemDescriptor(0x00008220000000ffn, undefined, false);
  assert.equal(ldt.kind, 'ldt');
  assert.equal(ldt.typeName, 'LDT');
  assert.equal(ldt.base, 0x200000n);
  assert.equal(ldt.limit, 0xff);
  assert.equal(ldt.bits, undefined);
  const ldt64 = decodeSystemDescriptor(0x00008220000000ffn, 0x00000000ffff8880n, true);
  assert.equal(ldt64.size, 16);
  assert.equal(ldt64.base, 0xffff888000200000n);

  // 32-bit call gate to 0x08:0x401000, DPL 3, 3 parameters.
  const cg = decodeSystemDescriptor(0x0040ec0300081000n, undefined, false);
  assert.deepEqual(cg, {
    lo: 0x0040ec0300081000n, size: 8, type: 0xc, kind: 'call-gate', bits: 32, typeName: '32-bit call gate',
    dpl: 3, present: true, selector: 8, offset: 0x401000n, paramCount: 3,
  });
  // 64-bit call gate to 0x10:0xffffffff80001234.
  const cg64 = decodeSystemDescriptor(0x8000ec0000101234n, 0x00000000ffffffffn, true);
  assert.equal(cg64.kind, 'call-gate');
  assert.equal(cg64.bits, 64);
  assert.equal(cg64.offset, 0xffffffff80001234n);
  assert.equal(cg64.selector, 0x10);
  assert.equal(cg64.paramCount, undefined);
  assert.equal(cg64.ist, undefined);
  // Types long mode lacks are reserved and 8 bytes.
  const r = decodeSystemDescriptor(0x0000810000000000n, 0n, true);
  assert.equal(r.kind, 'reserved');
  assert.equal(r.size, 8);
  assert.equal(r.typeName, 'reserved (type 0x1)');
  assert.equal(decodeSystemDescriptor(0x00cf9b000000ffffn, undefined, false).notSystem, true);
});

test('a 32-bit GDT with TSS, LDT and call gate', () => {
  const es = decodeGdt(quads(0n, 0x00cf9b000000ffffn, 0x0000891234800067n, 0x00008220000000ffn, 0x0040ec0300081000n), false);
  assert.equal(es.length, 5);
  assert.equal(es[2].text, '0x0010 32-bit TSS (available) base=0x123480 limit=0x67 DPL0 P');
  assert.equal(es[3].text, '0x0018 LDT base=0x200000 limit=0xff DPL0 P');
  assert.equal(es[4].typeName, '32-bit call gate');
  assert.equal(es[4].base, undefined);
  assert.equal(es[4].limit, undefined);
  assert.equal(es[4].system!.offset, 0x401000n);
  assert.equal(es[4].text, '0x0020 32-bit call gate selector=0x0008 offset=0x401000 params=3 DPL3 P');
  // A trailing partial descriptor is ignored; a 16-byte one cut off is marked.
  assert.equal(decodeGdt(Buffer.concat([quads(0n, 0x00cf9b000000ffffn), Buffer.alloc(7)]), false).length, 2);
  const cut = decodeGdt(quads(0n, 0x00008b0030004087n), true);
  assert.equal(cut.length, 2);
  assert.equal(cut[1].size, 16);
  assert.equal(cut[1].system!.incomplete, true);
  assert.equal(cut[1].rawHi, undefined);
  assert.match(cut[1].text, /\(truncated\)$/);
  assert.deepEqual(decodeGdt(Buffer.alloc(0), true), []);
});

test('protected-mode IDT: 32-bit interrupt and trap gates, task gate, 16-bit gates, invalid types', () => {
  const idt = Buffer.alloc(256 * 8);
  const put = (v: number, q: bigint): void => {
    idt.writeBigUInt64LE(q, v * 8);
  };
  put(0x0e, 0xc0108e0000601234n); // 32-bit interrupt gate, 0x60:0xc0101234
  put(0x80, 0x0010ef0000085678n); // 32-bit trap gate, DPL 3, 0x08:0x105678
  put(0x08, 0x0000850000280000n); // task gate, TSS 0x28
  put(0x20, 0x0000860000181234n); // 16-bit interrupt gate, 0x18:0x1234
  put(0x21, 0xffff870000185678n); // 16-bit trap gate: offset high bits ignored
  put(0x22, 0x0040ec0300081000n); // call gate: not allowed in an IDT
  put(0x23, 0x00cf9b000000ffffn); // a code segment: not a gate
  put(0x24, 0x0000000000081000n); // type 0, not present
  const es = decodeIdt(idt, 'protected');
  assert.equal(es.length, 256);
  assert.deepEqual(es[0x0e], {
    vector: 14, selector: 0x60, offset: 0xc0101234n, type: 0xe, gateType: 'interrupt', bits: 32,
    typeName: '32-bit interrupt gate', dpl: 0, present: true, exception: '#PF Page Fault',
    raw: '0xc0108e0000601234', text: '0x0e #PF Page Fault 32-bit interrupt gate 0x0060:0xc0101234 DPL0 P',
  });
  assert.deepEqual(es[0x80], {
    vector: 0x80, selector: 8, offset: 0x105678n, type: 0xf, gateType: 'trap', bits: 32,
    typeName: '32-bit trap gate', dpl: 3, present: true,
    raw: '0x0010ef0000085678', text: '0x80 32-bit trap gate 0x0008:0x105678 DPL3 P',
  });
  assert.equal(es[8].gateType, 'task');
  assert.equal(es[8].selector, 0x28);
  assert.equal(es[8].offset, 0n);
  assert.equal(es[8].typeName, 'task gate');
  assert.equal(es[8].bits, undefined);
  assert.equal(es[8].text, '0x08 #DF Double Fault task gate tss=0x0028 DPL0 P');
  assert.equal(es[0x20].typeName, '16-bit interrupt gate');
  assert.equal(es[0x20].bits, 16);
  assert.equal(es[0x20].offset, 0x1234n);
  assert.equal(es[0x20].selector, 0x18);
  assert.equal(es[0x21].gateType, 'trap');
  assert.equal(es[0x21].offset, 0x5678n);
  assert.equal(es[0x22].gateType, 'invalid');
  assert.equal(es[0x22].typeName, 'invalid (32-bit call gate)');
  assert.equal(es[0x23].typeName, 'invalid (S=1, type 0xb)');
  assert.equal(es[0x24].typeName, 'invalid (type 0x0)');
  assert.equal(es[0x24].present, false);
  assert.equal(es[1].typeName, 'empty');
  assert.equal(es[1].present, false);
  assert.equal(es[1].text, '0x01 #DB Debug empty');
  assert.equal(es[0x30].text, '0x30 empty');
  for (const e of es) assert.equal(e.ist, undefined);
  // IDTR.limit + 1 = 0x7ff + 1 covers 256 gates; a short table has fewer.
  assert.equal(decodeIdt(idt.subarray(0, 0x103), 'protected').length, 32);
});

test('long-mode IDT: 64-bit interrupt gate with IST, trap gate, legacy types invalid', () => {
  const idt = Buffer.alloc(256 * 16);
  const put = (v: number, lo: bigint, hi: bigint): void => {
    idt.writeBigUInt64LE(lo, v * 16);
    idt.writeBigUInt64LE(hi, v * 16 + 8);
  };
  put(14, 0x81a08e0200100b30n, 0x00000000ffffffffn); // 0x10:0xffffffff81a00b30, IST2
  put(3, 0x0040ef0000081000n, 0n); // trap gate DPL 3, 0x08:0x401000
  put(8, 0x0000850000280000n, 0n); // task gate: gone in long mode
  put(9, 0x0010ee0000081000n, 0x00000000ffff8000n); // interrupt gate DPL 3
  const es = decodeIdt(idt, 'long');
  assert.equal(es.length, 256);
  assert.deepEqual(es[14], {
    vector: 14, selector: 0x10, offset: 0xffffffff81a00b30n, type: 0xe, gateType: 'interrupt', bits: 64,
    typeName: '64-bit interrupt gate', dpl: 0, present: true, ist: 2, exception: '#PF Page Fault',
    raw: '0x00000000ffffffff81a08e0200100b30',
    text: '0x0e #PF Page Fault 64-bit interrupt gate 0x0010:0xffffffff81a00b30 DPL0 P IST2',
  });
  assert.deepEqual(es[3], {
    vector: 3, selector: 8, offset: 0x401000n, type: 0xf, gateType: 'trap', bits: 64,
    typeName: '64-bit trap gate', dpl: 3, present: true, ist: 0, exception: '#BP Breakpoint',
    raw: '0x00000000000000000040ef0000081000',
    text: '0x03 #BP Breakpoint 64-bit trap gate 0x0008:0x401000 DPL3 P',
  });
  assert.equal(es[8].gateType, 'invalid');
  assert.equal(es[8].typeName, 'invalid (type 0x5)');
  assert.equal(es[9].offset, 0xffff800000101000n);
  assert.equal(es[9].dpl, 3);
  assert.equal(es[0].typeName, 'empty');
  // decodeGate directly, and an IDT cut short.
  assert.equal(decodeGate(14, 0x81a08e0200100b30n, 0x00000000ffffffffn, true).ist, 2);
  assert.equal(decodeIdt(idt.subarray(0, 0x1f), 'long').length, 1);
});

test('real-mode IVT: seg:off vectors', () => {
  const ivt = Buffer.alloc(0x400);
  ivt.writeUInt32LE(0xf000ff53, 0); // INT 0 -> F000:FF53
  ivt.writeUInt32LE(0xf000fea5, 8 * 4); // INT 8 -> F000:FEA5 (timer)
  ivt.writeUInt32LE(0xc0000130, 0x10 * 4); // INT 10h -> C000:0130 (video BIOS)
  ivt.writeUInt32LE(0x12345678, 0xff * 4);
  const es = decodeIdt(ivt, 'real');
  assert.equal(es.length, 256);
  assert.deepEqual(es[0], {
    vector: 0, selector: 0xf000, offset: 0xff53n, linear: 0xfff53, type: 0, gateType: 'ivt', bits: 16,
    typeName: 'real-mode vector', dpl: 0, present: true, exception: '#DE Divide Error', raw: '0xf000ff53',
    text: '0x00 #DE Divide Error real-mode vector 0xf000:0xff53 (0xfff53)',
  });
  assert.equal(es[8].linear, 0xffea5);
  assert.equal(es[0x10].selector, 0xc000);
  assert.equal(es[0x10].offset, 0x130n);
  assert.equal(es[0x10].linear, 0xc0130);
  assert.equal(es[0x10].exception, '#MF x87 Floating-Point Error');
  assert.equal(es[0x10].text, '0x10 #MF x87 Floating-Point Error real-mode vector 0xc000:0x0130 (0xc0130)');
  assert.equal(es[0xff].linear, 0x1234 * 16 + 0x5678);
  assert.equal(es[0xff].exception, undefined);
  assert.equal(es[0xff].raw, '0x12345678');
  assert.equal(decodeIdt(ivt.subarray(0, 10), 'real').length, 2);
});

test('exception names, 0-31', () => {
  const want: Record<number, string> = {
    0: '#DE Divide Error', 1: '#DB Debug', 2: 'NMI Non-maskable Interrupt', 3: '#BP Breakpoint',
    4: '#OF Overflow', 5: '#BR BOUND Range Exceeded', 6: '#UD Invalid Opcode', 7: '#NM Device Not Available',
    8: '#DF Double Fault', 9: 'Coprocessor Segment Overrun', 10: '#TS Invalid TSS', 11: '#NP Segment Not Present',
    12: '#SS Stack-Segment Fault', 13: '#GP General Protection', 14: '#PF Page Fault', 15: 'Reserved',
    16: '#MF x87 Floating-Point Error', 17: '#AC Alignment Check', 18: '#MC Machine Check',
    19: '#XM SIMD Floating-Point Exception', 20: '#VE Virtualization Exception', 21: '#CP Control Protection Exception',
    22: 'Reserved', 27: 'Reserved', 28: '#HV Hypervisor Injection Exception', 29: '#VC VMM Communication Exception',
    30: '#SX Security Exception', 31: 'Reserved',
  };
  for (const [v, name] of Object.entries(want)) assert.equal(exceptionName(Number(v)), name);
  for (let v = 0; v < 32; v++) assert.ok(exceptionName(v));
  assert.equal(exceptionName(32), undefined);
  assert.equal(exceptionName(-1), undefined);
  assert.equal(exceptionName(1.5), undefined);
  const withCode = [...Array(32).keys()].filter((v) => exceptionInfo(v)!.errorCode);
  assert.deepEqual(withCode, [8, 10, 11, 12, 13, 14, 17, 21, 29, 30]);
  assert.equal(exceptionInfo(13)!.mnemonic, '#GP');
});

test('TSS images: 64-bit RSP0-2, IST1-7, I/O map base; 32-bit every field', () => {
  const b = Buffer.alloc(TSS_SIZE);
  b.writeBigUInt64LE(0xffffc90000004000n, 0x04);
  b.writeBigUInt64LE(0x1111n, 0x0c);
  b.writeBigUInt64LE(0x2222n, 0x14);
  for (let n = 1; n <= 7; n++) b.writeBigUInt64LE(0xfffffe0000000000n + BigInt(n) * 0x10000n, 0x1c + 8 * n);
  b.writeUInt16LE(0x68, 0x66);
  const t = decodeTss(b, true);
  assert.equal(t.kind, '64-bit');
  assert.deepEqual(t.rsp, [0xffffc90000004000n, 0x1111n, 0x2222n]);
  assert.deepEqual(t.ist, [1, 2, 3, 4, 5, 6, 7].map((n) => 0xfffffe0000000000n + BigInt(n) * 0x10000n));
  assert.equal(t.ist[0], 0xfffffe0000010000n); // IST1 at 0x24
  assert.equal(b.readBigUInt64LE(0x24), t.ist[0]);
  assert.equal(b.readBigUInt64LE(0x54), t.ist[6]); // IST7 at 0x54
  assert.equal(t.ioMapBase, 0x68);
  assert.deepEqual(t.fields.map((f) => [f.name, f.offset]), [
    ['rsp0', 4], ['rsp1', 0xc], ['rsp2', 0x14], ['ist1', 0x24], ['ist2', 0x2c], ['ist3', 0x34],
    ['ist4', 0x3c], ['ist5', 0x44], ['ist6', 0x4c], ['ist7', 0x54], ['ioMapBase', 0x66],
  ]);

  // 32-bit: fill each field with a recognisable value at its SDM offset.
  const c = Buffer.alloc(TSS_SIZE);
  const dwords: [string, number, number][] = [
    ['esp0', 0x04, 0x9000], ['esp1', 0x0c, 0x9100], ['esp2', 0x14, 0x9200], ['cr3', 0x1c, 0x1000],
    ['eip', 0x20, 0x100000], ['eflags', 0x24, 0x202], ['eax', 0x28, 0xaaaaaaaa], ['ecx', 0x2c, 0xcccccccc],
    ['edx', 0x30, 0xdddddddd], ['ebx', 0x34, 0xbbbbbbbb], ['esp', 0x38, 0x8ff0], ['ebp', 0x3c, 0x8ff8],
    ['esi', 0x40, 0x51], ['edi', 0x44, 0xd1],
  ];
  const words: [string, number, number][] = [
    ['link', 0x00, 0x30], ['ss0', 0x08, 0x10], ['ss1', 0x10, 0x19], ['ss2', 0x18, 0x22], ['es', 0x48, 0x23],
    ['cs', 0x4c, 0x1b], ['ss', 0x50, 0x2b], ['ds', 0x54, 0x33], ['fs', 0x58, 0x3b], ['gs', 0x5c, 0x43],
    ['ldt', 0x60, 0x48], ['ioMapBase', 0x66, 0x2000],
  ];
  for (const [, off, v] of dwords) c.writeUInt32LE(v, off);
  for (const [, off, v] of words) c.writeUInt16LE(v, off);
  c.writeUInt16LE(0xfffe, 0x1a); // reserved high half of SS2: not part of ss2
  c.writeUInt16LE(1, 0x64);
  const s = decodeTss(c, false);
  assert.equal(s.kind, '32-bit');
  const rec = s as unknown as Record<string, unknown>;
  for (const [name, , v] of [...dwords, ...words]) assert.equal(rec[name], v, name);
  assert.equal(s.t, true);
  assert.equal(s.fields.length, 27);
  assert.throws(() => decodeTss(Buffer.alloc(0x67), true), RangeError);
});

test('describeSegment: KVM caches in every mode', () => {
  const cs64 = describeSegment(segmentFor(0x08));
  assert.equal(cs64.text, 'code, execute/read, accessed, 64-bit, DPL 0');
  assert.equal(cs64.typeName, 'code 64-bit execute/read accessed');
  const a = new Map(cs64.attributes.map((f) => [f.name, f]));
  assert.deepEqual([...a.keys()], ['Type', 'S', 'DPL', 'P', 'AVL', 'L', 'D/B', 'G', 'unusable']);
  assert.equal(a.get('Type')!.value, 0xbn);
  assert.equal(a.get('Type')!.text, 'Type=code execute/read accessed');
  assert.equal(a.get('L')!.set, true);
  assert.equal(a.get('L')!.text, '1');
  assert.equal(a.get('D/B')!.set, false);
  assert.equal(a.get('G')!.set, true);
  assert.equal(a.get('P')!.set, true);
  assert.equal(a.get('DPL')!.text, 'DPL=0');
  assert.equal(a.get('unusable')!.set, false);
  // Access-rights positions as in the VMX segment AR word: 0xa09b for this segment.
  const ar = cs64.attributes.reduce((acc, f) => acc | (f.value << BigInt(f.lsb)), 0n);
  assert.equal(ar, 0xa09bn);

  assert.equal(describeSegment(segmentFor(0x10)).text, 'code, execute/read, accessed, 32-bit, DPL 0');
  assert.equal(describeSegment(segmentFor(0x18)).text, 'data, read/write, accessed, 32-bit, DPL 0');
  assert.equal(describeSegment(realModeSegment(0xf000, true)).text, 'code, execute/read, accessed, 16-bit, DPL 0');
  assert.equal(describeSegment(realModeSegment(0, false)).text, 'data, read/write, accessed, 16-bit, DPL 0');

  const tr: Segment = { base: 0xfffffe0000003000n, limit: 0x4087, selector: 0x40, type: 0xb, present: true, dpl: 0, db: false, s: false, l: false, g: false, avl: false, unusable: false };
  assert.equal(describeSegment(tr, true).text, '64-bit TSS (busy), DPL 0');
  assert.equal(describeSegment(tr, true).typeName, '64-bit TSS (busy)');
  assert.equal(describeSegment(tr).text, '32-bit TSS (busy), DPL 0');
  assert.equal(describeSegment({ ...tr, type: 2, present: false }, true).text, 'LDT, DPL 0, not present');
  const unusable: Segment = { ...realModeSegment(0, false), selector: 0, unusable: true, present: false, type: 0 };
  const u = describeSegment(unusable);
  assert.equal(u.typeName, 'unusable');
  assert.match(u.text, /^unusable, /);
  assert.equal(u.attributes.find((f) => f.name === 'unusable')!.set, true);
  const user = describeSegment({ ...segmentFor(0x08), dpl: 3, type: 0xf });
  assert.equal(user.text, 'code, execute/read, conforming, accessed, 64-bit, DPL 3');
  const down = describeSegment({ ...segmentFor(0x18), type: 0x5, db: false });
  assert.equal(down.text, 'data, read-only, expand-down, accessed, 16-bit, DPL 0');
});

test('selectors and type names', () => {
  assert.deepEqual(decodeSelector(0x2b), { index: 5, ti: false, rpl: 3, text: 'GDT[5] RPL3' });
  assert.deepEqual(decodeSelector(0x0f), { index: 1, ti: true, rpl: 3, text: 'LDT[1] RPL3' });
  assert.equal(decodeSelector(0).text, 'null');
  assert.equal(decodeSelector(3).text, 'null RPL3');
  assert.equal(codeDataTypeName(0xa, '64-bit'), 'code 64-bit execute/read');
  assert.equal(codeDataTypeName(0x7), 'data read/write expand-down accessed');
  assert.equal(systemTypeName(0xe, false), '32-bit interrupt gate');
  assert.equal(systemTypeName(0x6, true), 'reserved (type 0x6)');
  assert.deepEqual([...Array(16).keys()].filter(isLongSystemType), [2, 9, 0xb, 0xc, 0xe, 0xf]);
});

/** Independent reassembly of an 8-byte descriptor from its bytes, per SDM figure 3-8. */
function reassemble(raw: bigint): { base: number; rawLimit: number; limit: number; access: number; flags: number } {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(raw);
  const base = b[2] + b[3] * 0x100 + b[4] * 0x10000 + b[7] * 0x1000000;
  const rawLimit = b[0] + b[1] * 0x100 + (b[6] & 0xf) * 0x10000;
  const flags = b[6] >> 4;
  const limit = flags & 8 ? rawLimit * 4096 + 0xfff : rawLimit;
  return { base, rawLimit, limit, access: b[5], flags };
}

test('random descriptors: base/limit/attributes agree with an independent reassembly', () => {
  const r = rng(0x5eed1234);
  for (let i = 0; i < 500; i++) {
    const raw = rand64(r);
    const want = reassemble(raw);
    const d = decodeSegmentDescriptor(raw);
    assert.equal(d.base, BigInt(want.base), raw.toString(16));
    assert.equal(d.rawLimit, want.rawLimit);
    assert.equal(d.limit, want.limit);
    assert.equal(d.access, want.access);
    assert.equal(d.type, want.access & 0xf);
    assert.equal(d.s, (want.access & 0x10) !== 0);
    assert.equal(d.dpl, (want.access >> 5) & 3);
    assert.equal(d.present, (want.access & 0x80) !== 0);
    assert.deepEqual([d.g, d.db, d.l, d.avl], [8, 4, 2, 1].map((m) => (want.flags & m) !== 0));
    assert.ok(d.limit <= 0xffffffff && d.limit >= 0);
  }
  // Encode random fields with gdt.ts's encoder and decode them back.
  for (let i = 0; i < 300; i++) {
    const base = r(), limit = r() & 0xfffff, access = r() & 0xff, flags = r() & 0xf;
    const d = decodeSegmentDescriptor(descriptor(base, limit, access, flags));
    assert.equal(d.base, BigInt(base));
    assert.equal(d.rawLimit, limit);
    assert.equal(d.limit, flags & 8 ? limit * 4096 + 4095 : limit);
    assert.equal(d.access, access);
  }
});

test('random tables: decodeGdt, 16-byte TSS bases and 64-bit gate offsets', () => {
  const r = rng(42);
  // Protected mode: every slot is one entry, base/limit as reassembled except for gates.
  const raws = [...Array(300)].map(() => rand64(r));
  const es = decodeGdt(quads(...raws), false);
  assert.equal(es.length, raws.length);
  es.forEach((e, i) => {
    const want = reassemble(raws[i]);
    assert.equal(e.selector, i * 8);
    assert.equal(e.raw, '0x' + raws[i].toString(16).padStart(16, '0'));
    const s = (want.access & 0x10) !== 0, type = want.access & 0xf;
    // Code/data, TSS and LDT descriptors have a base and limit; gates a selector; reserved types neither.
    if (s || [1, 2, 3, 9, 0xb].includes(type)) {
      assert.equal(e.base, BigInt(want.base));
      assert.equal(e.limit, want.limit);
      assert.equal(e.rawLimit, want.rawLimit);
    } else {
      assert.equal(e.base, undefined);
      assert.equal(e.limit, undefined);
      const gate = [4, 5, 6, 7, 0xc, 0xe, 0xf].includes(type);
      assert.equal(e.system!.kind === 'reserved', !gate);
      if (gate) assert.equal(e.system!.selector, Number((raws[i] >> 16n) & 0xffffn));
    }
    assert.equal(e.dpl, (want.access >> 5) & 3);
    assert.equal(e.present, (want.access & 0x80) !== 0);
  });

  // Long mode: random 64-bit TSS descriptors, two slots each.
  const bases: bigint[] = [], limits: number[] = [], q: bigint[] = [0n];
  for (let i = 0; i < 200; i++) {
    const base = rand64(r), limit = r() & 0xfffff, g = r() & 1;
    bases.push(base);
    limits.push(g ? limit * 4096 + 4095 : limit);
    const lo = descriptor(Number(base & 0xffffffffn), limit, 0x89 | ((r() & 3) << 5), g ? 8 : 0);
    q.push(lo, (base >> 32n) | ((rand64(r) & 0xffffe0ffn) << 32n)); // upper reserved bits random, type 0
  }
  const ls = decodeGdt(quads(...q), true);
  assert.equal(ls.length, 201);
  ls.slice(1).forEach((e, i) => {
    assert.equal(e.selector, 8 + i * 16);
    assert.equal(e.size, 16);
    assert.equal(e.typeName, '64-bit TSS (available)');
    assert.equal(e.base, bases[i]);
    assert.equal(e.limit, limits[i]);
  });

  // Long-mode interrupt gates with random offsets, selectors, IST and DPL.
  const idt = Buffer.alloc(256 * 16);
  const want: { offset: bigint; sel: number; ist: number; dpl: number; trap: boolean }[] = [];
  for (let v = 0; v < 256; v++) {
    const offset = rand64(r), sel = r() & 0xffff, ist = r() & 7, dpl = r() & 3, trap = (r() & 1) === 1;
    want.push({ offset, sel, ist, dpl, trap });
    const b = idt.subarray(v * 16, v * 16 + 16);
    b.writeUInt16LE(Number(offset & 0xffffn), 0);
    b.writeUInt16LE(sel, 2);
    b[4] = ist;
    b[5] = 0x80 | (dpl << 5) | (trap ? 0xf : 0xe);
    b.writeUInt16LE(Number((offset >> 16n) & 0xffffn), 6);
    b.writeUInt32LE(Number(offset >> 32n), 8);
  }
  decodeIdt(idt, 'long').forEach((e, v) => {
    const w = want[v];
    assert.equal(e.offset, w.offset);
    assert.equal(e.selector, w.sel);
    assert.equal(e.ist, w.ist);
    assert.equal(e.dpl, w.dpl);
    assert.equal(e.gateType, w.trap ? 'trap' : 'interrupt');
    assert.equal(e.present, true);
  });
});
