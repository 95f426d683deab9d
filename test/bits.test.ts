// Named bit fields of the flag and control registers: known values decoded field by field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RFLAGS, CR0, CR3, CR3_PCID, CR4, EFER, DR6, DR7, MXCSR, FSW, FCW, XCR0, REGISTER_BITS,
  decodeBits, decodeField, flagString, unknownBits, cr3Fields, dr7Slots,
  type BitField, type DecodedField,
} from '../src/x86/bits.js';

const byName = (d: DecodedField[]): Map<string, DecodedField> => new Map(d.map((f) => [f.name, f]));
const setFlags = (v: bigint, fields: BitField[]): string[] =>
  decodeBits(v, fields).filter((f) => f.width === 1 && f.set).map((f) => f.name);

test('tables: fields fit, do not overlap, names are unique, listed from bit 0 up', () => {
  for (const [reg, fields] of Object.entries({ RFLAGS, CR0, CR3, CR3_PCID, CR4, EFER, DR6, DR7, MXCSR, FSW, FCW, XCR0 })) {
    let used = 0n;
    const names = new Set<string>();
    let last = -1;
    for (const f of fields) {
      assert.ok(f.width >= 1 && f.lsb >= 0 && f.lsb + f.width <= 64, `${reg}.${f.name} position`);
      const m = ((1n << BigInt(f.width)) - 1n) << BigInt(f.lsb);
      assert.equal(used & m, 0n, `${reg}.${f.name} overlaps`);
      used |= m;
      assert.ok(!names.has(f.name), `${reg}.${f.name} duplicated`);
      names.add(f.name);
      assert.ok(f.lsb > last, `${reg}.${f.name} out of order`);
      last = f.lsb;
      assert.ok(f.description.length > 0);
    }
  }
  // Registers' widths: 32-bit ones stay below bit 32, the x87 words below 16.
  for (const f of [...RFLAGS, ...CR0, ...DR6, ...DR7, ...MXCSR]) assert.ok(f.lsb + f.width <= 32, f.name);
  for (const f of [...FSW, ...FCW]) assert.ok(f.lsb + f.width <= 16, f.name);
});

test('RFLAGS 0x246: IF ZF PF, every field decoded', () => {
  assert.equal(flagString(0x246n, RFLAGS), '[ IF ZF PF ]');
  assert.deepEqual(setFlags(0x246n, RFLAGS), ['PF', 'ZF', 'IF']);
  const d = decodeBits(0x246n, RFLAGS);
  assert.equal(d.length, RFLAGS.length);
  const m = byName(d);
  for (const f of d) {
    if (f.name === 'IOPL') continue;
    const expected = ['PF', 'ZF', 'IF'].includes(f.name);
    assert.equal(f.set, expected, f.name);
    assert.equal(f.value, expected ? 1n : 0n, f.name);
    assert.equal(f.text, expected ? '1' : '0', f.name);
    assert.equal(f.width, 1);
  }
  const iopl = m.get('IOPL')!;
  assert.deepEqual(iopl, { name: 'IOPL', description: 'I/O privilege level', value: 0n, set: false, text: 'IOPL=0', lsb: 12, width: 2 });
  assert.equal(m.get('ZF')!.lsb, 6);
  assert.equal(m.get('ZF')!.description, 'Zero flag');
  // Bit 1 is fixed at one and named by no field.
  assert.equal(unknownBits(0x246n, RFLAGS), 2n);
});

test('RFLAGS: IOPL=3 and the high flags', () => {
  const v = 0x3000n | (1n << 21n) | (1n << 18n) | (1n << 17n) | (1n << 16n) | (1n << 14n) | 0x801n | 2n;
  const m = byName(decodeBits(v, RFLAGS));
  assert.equal(m.get('IOPL')!.text, 'IOPL=3');
  assert.equal(m.get('IOPL')!.value, 3n);
  assert.equal(m.get('IOPL')!.set, true);
  assert.equal(flagString(v, RFLAGS), '[ ID AC VM RF NT OF CF ]');
  assert.equal(flagString(0x2n, RFLAGS), '[ ]');
  assert.equal(unknownBits(v, RFLAGS), 2n);
});

test('CR0 0x80000011: PG ET PE; 0x80050033 with WP AM NE MP', () => {
  assert.equal(flagString(0x80000011n, CR0), '[ PG ET PE ]');
  const m = byName(decodeBits(0x80000011n, CR0));
  assert.equal(m.get('PG')!.set, true);
  assert.equal(m.get('PG')!.lsb, 31);
  assert.equal(m.get('ET')!.set, true);
  assert.equal(m.get('PE')!.set, true);
  for (const n of ['MP', 'EM', 'TS', 'NE', 'WP', 'AM', 'NW', 'CD']) assert.equal(m.get(n)!.set, false, n);
  assert.equal(flagString(0x80050033n, CR0), '[ PG AM WP NE ET MP PE ]');
  assert.equal(flagString(0x60000010n, CR0), '[ CD NW ET ]'); // reset value
  assert.equal(unknownBits(0x80000011n, CR0), 0n);
});

test('CR4: 0x6f0 and every architectural bit by position', () => {
  assert.equal(flagString(0x6f0n, CR4), '[ OSXMMEXCPT OSFXSR PGE MCE PAE PSE ]');
  assert.deepEqual(setFlags(0x6f0n, CR4), ['PSE', 'PAE', 'MCE', 'PGE', 'OSFXSR', 'OSXMMEXCPT']);
  const expected: Record<string, number> = {
    VME: 0, PVI: 1, TSD: 2, DE: 3, PSE: 4, PAE: 5, MCE: 6, PGE: 7, PCE: 8, OSFXSR: 9, OSXMMEXCPT: 10,
    UMIP: 11, LA57: 12, VMXE: 13, SMXE: 14, FSGSBASE: 16, PCIDE: 17, OSXSAVE: 18, KL: 19, SMEP: 20,
    SMAP: 21, PKE: 22, CET: 23, PKS: 24, UINTR: 25, LAM_SUP: 28, FRED: 32,
  };
  assert.deepEqual(Object.fromEntries(CR4.map((f) => [f.name, f.lsb])), expected);
  for (const [name, lsb] of Object.entries(expected)) {
    assert.equal(flagString(1n << BigInt(lsb), CR4), `[ ${name} ]`);
  }
  // A Linux x86-64 guest with LA57 off: 0x3506f0 = SMAP SMEP OSXSAVE FSGSBASE + the above.
  assert.equal(flagString(0x3506f0n, CR4), '[ SMAP SMEP OSXSAVE FSGSBASE OSXMMEXCPT OSFXSR PGE MCE PAE PSE ]');
  assert.equal(unknownBits(1n << 15n, CR4), 1n << 15n);
});

test('CR3: PWT, PCD and base without PCIDs; PCID with CR4.PCIDE', () => {
  const v = 0x1234_5000n | 0x18n;
  const m = byName(decodeBits(v, CR3));
  assert.equal(m.get('PWT')!.set, true);
  assert.equal(m.get('PCD')!.set, true);
  assert.equal(m.get('PDB')!.value, 0x1234_5000n);
  assert.equal(m.get('PDB')!.text, 'PDB=0x12345000');
  assert.equal(m.get('PDB')!.set, true);
  assert.equal(flagString(v, CR3), '[ PCD PWT ]');
  assert.equal(cr3Fields(0n), CR3);
  assert.equal(cr3Fields(1n << 17n), CR3_PCID);
  const p = 0xf_ffff_f000n | 0x5an | (1n << 62n);
  const pm = byName(decodeBits(p, cr3Fields(0x206f0n)));
  assert.equal(pm.get('PCID')!.value, 0x5an);
  assert.equal(pm.get('PCID')!.text, 'PCID=0x5a');
  assert.equal(pm.get('PDB')!.value, 0xf_ffff_f000n);
  assert.equal(pm.get('LAM_U48')!.set, true);
  assert.equal(pm.has('PWT'), false);
  assert.equal(unknownBits(p, CR3_PCID), 0n);
});

test('EFER 0xd01: NXE LMA LME SCE', () => {
  assert.equal(flagString(0xd01n, EFER), '[ NXE LMA LME SCE ]');
  const expected: Record<string, number> = { SCE: 0, LME: 8, LMA: 10, NXE: 11, SVME: 12, LMSLE: 13, FFXSR: 14, TCE: 15 };
  assert.deepEqual(Object.fromEntries(EFER.map((f) => [f.name, f.lsb])), expected);
  const m = byName(decodeBits(0xd01n, EFER));
  for (const [n, on] of Object.entries({ SCE: true, LME: true, LMA: true, NXE: true, SVME: false, LMSLE: false, FFXSR: false, TCE: false })) {
    assert.equal(m.get(n)!.set, on, n);
    assert.equal(m.get(n)!.text, on ? '1' : '0', n);
  }
  assert.equal(flagString(0xf000n, EFER), '[ TCE FFXSR LMSLE SVME ]');
});

test('DR7: L0 with R/W0=write LEN0=4 bytes; slots decoded', () => {
  const dr7 = 0x400n | 1n | (1n << 16n) | (3n << 18n); // bit 10 reads as one
  const m = byName(decodeBits(dr7, DR7));
  assert.equal(m.get('L0')!.set, true);
  assert.equal(m.get('G0')!.set, false);
  assert.equal(m.get('R/W0')!.text, 'R/W0=write');
  assert.equal(m.get('R/W0')!.value, 1n);
  assert.equal(m.get('R/W0')!.valueName, 'write');
  assert.equal(m.get('LEN0')!.text, 'LEN0=4 bytes');
  assert.equal(m.get('LEN0')!.value, 3n);
  assert.equal(m.get('R/W1')!.text, 'R/W1=execute');
  assert.equal(m.get('R/W1')!.set, false);
  assert.equal(m.get('LEN1')!.text, 'LEN1=1 byte');
  assert.equal(flagString(dr7, DR7), '[ L0 ]');
  assert.equal(unknownBits(dr7, DR7), 0x400n);
  const slots = dr7Slots(dr7);
  assert.deepEqual(slots[0], { slot: 0, local: true, global: false, enabled: true, rw: 'write', len: 4 });
  assert.deepEqual(slots[1], { slot: 1, local: false, global: false, enabled: false, rw: 'execute', len: 1 });

  // Every slot, every R/W and LEN: G3 with R/W3=read/write LEN3=8 bytes, G2 R/W2=I/O LEN2=2 bytes.
  const v = (1n << 7n) | (3n << 28n) | (2n << 30n) | (1n << 5n) | (2n << 24n) | (1n << 26n) | (1n << 13n) | (1n << 9n);
  const n = byName(decodeBits(v, DR7));
  assert.equal(n.get('R/W3')!.text, 'R/W3=read/write');
  assert.equal(n.get('LEN3')!.text, 'LEN3=8 bytes');
  assert.equal(n.get('R/W2')!.text, 'R/W2=I/O');
  assert.equal(n.get('LEN2')!.text, 'LEN2=2 bytes');
  assert.equal(flagString(v, DR7), '[ GD GE G3 G2 ]');
  assert.deepEqual(dr7Slots(v).map((s) => [s.enabled, s.global, s.rw, s.len]), [
    [false, false, 'execute', 1], [false, false, 'execute', 1], [true, true, 'I/O', 2], [true, true, 'read/write', 8],
  ]);
});

test('DR6: reset value and hit bits', () => {
  // 0xffff0ff0: the architectural reset value; BLD and RTM read one (active low, nothing detected).
  assert.equal(flagString(0xffff0ff0n, DR6), '[ RTM BLD ]');
  assert.equal(flagString(0xffff4ff1n, DR6), '[ RTM BS BLD B0 ]');
  assert.equal(flagString(0x200fn, DR6), '[ BD B3 B2 B1 B0 ]');
  assert.equal(flagString(0x8000n, DR6), '[ BT ]');
});

test('MXCSR 0x1f80 default, RC enumerated', () => {
  assert.equal(flagString(0x1f80n, MXCSR), '[ PM UM OM ZM DM IM ]');
  const m = byName(decodeBits(0x1f80n, MXCSR));
  assert.equal(m.get('RC')!.text, 'RC=nearest');
  assert.equal(m.get('RC')!.set, false);
  const t = byName(decodeBits(0x7fa1n, MXCSR)); // RC=11, FZ, masks, PE, IE
  assert.equal(t.get('RC')!.text, 'RC=toward zero');
  assert.equal(t.get('RC')!.value, 3n);
  assert.equal(t.get('FZ')!.set, false);
  assert.equal(flagString(0xffa1n, MXCSR), '[ FZ PM UM OM ZM DM IM PE IE ]');
  assert.equal(byName(decodeBits(0x3f80n, MXCSR)).get('RC')!.text, 'RC=down');
  assert.equal(byName(decodeBits(0x5f80n, MXCSR)).get('RC')!.text, 'RC=up');
});

test('x87 FCW 0x37f and FSW with TOP and condition codes', () => {
  const c = byName(decodeBits(0x37fn, FCW));
  assert.equal(c.get('PC')!.text, 'PC=extended (64 bits)');
  assert.equal(c.get('RC')!.text, 'RC=nearest');
  assert.equal(flagString(0x37fn, FCW), '[ PM UM OM ZM DM IM ]');
  assert.equal(byName(decodeBits(0x27fn, FCW)).get('PC')!.text, 'PC=double (53 bits)');
  assert.equal(byName(decodeBits(0xc7fn, FCW)).get('RC')!.text, 'RC=toward zero');
  // FSW: TOP=5, C3, C0, ES, IE.
  const fsw = (5n << 11n) | (1n << 14n) | (1n << 8n) | 0x81n;
  const s = byName(decodeBits(fsw, FSW));
  assert.equal(s.get('TOP')!.text, 'TOP=5');
  assert.equal(s.get('TOP')!.value, 5n);
  assert.equal(flagString(fsw, FSW), '[ C3 C0 ES IE ]');
  assert.equal(unknownBits(0xffffn, FSW), 0n);
});

test('XCR0: x87 SSE AVX and AVX-512, AMX', () => {
  assert.equal(flagString(0x7n, XCR0), '[ AVX SSE x87 ]');
  assert.equal(flagString(0x2e7n, XCR0), '[ PKRU Hi16_ZMM ZMM_Hi256 opmask AVX SSE x87 ]');
  assert.equal(flagString(0x60000n, XCR0), '[ XTILEDATA XTILECFG ]');
});

test('decodeField formats: dec, hex, address, enumerations', () => {
  const f: BitField = { name: 'N', lsb: 4, width: 8, description: 'n' };
  assert.equal(decodeField(0xab0n, f).text, 'N=171');
  assert.equal(decodeField(0xab0n, { ...f, format: 'hex' }).text, 'N=0xab');
  assert.equal(decodeField(0xab0n, { ...f, format: 'address' }).value, 0xab0n);
  assert.equal(decodeField(0xab0n, { ...f, format: 'address' }).text, 'N=0xab0');
  assert.equal(decodeField(0x10n, { ...f, values: { 1: 'one' } }).text, 'N=one');
  assert.equal(decodeField(0x20n, { ...f, values: { 1: 'one' } }).text, 'N=2'); // unnamed value
  // A one-bit field with named values shows the name.
  assert.equal(decodeField(1n, { name: 'B', lsb: 0, width: 1, description: 'b', values: { 0: 'off', 1: 'on' } }).text, 'B=on');
  // Bits above 64 or of wide values do not leak into a field.
  assert.equal(decodeField(~0n & ((1n << 64n) - 1n), f).value, 0xffn);
});

test('REGISTER_BITS maps register names to tables', () => {
  assert.equal(REGISTER_BITS.rflags, RFLAGS);
  assert.equal(REGISTER_BITS.eflags, RFLAGS);
  assert.equal(REGISTER_BITS.cr4, CR4);
  assert.equal(REGISTER_BITS.dr7, DR7);
  assert.equal(REGISTER_BITS.xcr0, XCR0);
  for (const name of ['cr0', 'cr3', 'efer', 'dr6', 'mxcsr', 'fsw', 'fcw']) assert.ok(REGISTER_BITS[name], name);
});
