// Walks of hand-built guest page tables in every paging mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  walk, translate, pagingMode, describeFlags, realModeLinear, faults, fetchFaults,
  type PhysReader, type PagingRegs, type Translation, type WalkLevel,
} from '../src/x86/pagewalk.js';
import { GuestError } from '../src/errors.js';
import { prng } from './support/prng.js';

/** Plain Buffer-backed guest-physical memory at [base, base+size). */
class Mem implements PhysReader {
  readonly buf: Buffer;
  private next: number;
  constructor(readonly size = 1 << 20, readonly base = 0) {
    this.buf = Buffer.alloc(size);
    this.next = base; // alloc() hands out pages from base+0x1000 up
  }
  contains(gpa: number, len: number): boolean {
    return gpa >= this.base && gpa + len <= this.base + this.size;
  }
  view(gpa: number, len: number): Buffer {
    if (!this.contains(gpa, len)) throw new Error(`view outside test memory: ${gpa.toString(16)}`);
    return this.buf.subarray(gpa - this.base, gpa - this.base + len);
  }
  w32(gpa: number, v: number): void {
    this.view(gpa, 4).writeUInt32LE(v >>> 0, 0);
  }
  w64(gpa: number, v: bigint): void {
    this.view(gpa, 8).writeBigUInt64LE(v, 0);
  }
  r64(gpa: number): bigint {
    return this.view(gpa, 8).readBigUInt64LE(0);
  }
  /** A fresh zeroed 4 KiB page, for tables. */
  alloc(): number {
    this.next += 0x1000;
    if (this.next + 0x1000 > this.base + this.size) throw new Error('test memory full');
    return this.next;
  }
}

const P = 1n, RW = 2n, US = 4n, PWT = 8n, PCD = 16n, A = 32n, D = 64n, PS = 128n, G = 256n, NX = 1n << 63n;
const CR0_PG = 1n << 31n, CR0_PE = 1n;
const CR4_PSE = 1n << 4n, CR4_PAE = 1n << 5n, CR4_LA57 = 1n << 12n;
const EFER_LME = 1n << 8n, EFER_LMA = 1n << 10n, EFER_NXE = 1n << 11n;

const regs32 = (cr3: number, pse = false): PagingRegs =>
  ({ cr0: CR0_PG | CR0_PE, cr3: BigInt(cr3), cr4: pse ? CR4_PSE : 0n, efer: 0n });
const regsPae = (cr3: number, nxe = false): PagingRegs =>
  ({ cr0: CR0_PG | CR0_PE, cr3: BigInt(cr3), cr4: CR4_PAE, efer: nxe ? EFER_NXE : 0n });
const regsLong = (cr3: bigint, la57 = false, nxe = true): PagingRegs => ({
  cr0: CR0_PG | CR0_PE, cr3, cr4: CR4_PAE | (la57 ? CR4_LA57 : 0n),
  efer: EFER_LME | EFER_LMA | (nxe ? EFER_NXE : 0n),
});

function ok(mem: PhysReader, regs: PagingRegs, lin: bigint): Translation {
  const r = walk(mem, regs, lin);
  if (!r.ok) assert.fail(`walk of 0x${lin.toString(16)} failed: ${r.reason}`);
  return r.t;
}

function fail(mem: PhysReader, regs: PagingRegs, lin: bigint): { levels: WalkLevel[]; reason: string } {
  const r = walk(mem, regs, lin);
  if (r.ok) assert.fail(`walk of 0x${lin.toString(16)} unexpectedly gave 0x${r.t.physical.toString(16)}`);
  return r;
}

test('pagingMode follows CR0.PG, CR4.PAE, EFER.LMA and CR4.LA57', () => {
  assert.equal(pagingMode({ cr0: CR0_PE, cr3: 0n, cr4: CR4_PAE, efer: EFER_LME }), 'none');
  assert.equal(pagingMode(regs32(0)), '32-bit');
  assert.equal(pagingMode(regs32(0, true)), '32-bit');
  assert.equal(pagingMode(regsPae(0)), 'pae');
  // LME without LMA is still PAE (long mode not yet active).
  assert.equal(pagingMode({ ...regsPae(0), efer: EFER_LME }), 'pae');
  assert.equal(pagingMode(regsLong(0n)), '4-level');
  assert.equal(pagingMode(regsLong(0n, true)), '5-level');
  // LA57 means nothing outside long mode.
  assert.equal(pagingMode({ ...regsPae(0), cr4: CR4_PAE | CR4_LA57 }), 'pae');
});

test('paging off: physical is linear, truncated to 32 bits', () => {
  const mem = new Mem();
  const regs: PagingRegs = { cr0: CR0_PE, cr3: 0x1234_5000n, cr4: 0n, efer: 0n };
  const t = ok(mem, regs, 0x7c00n);
  assert.equal(t.physical, 0x7c00);
  assert.equal(t.mode, 'none');
  assert.deepEqual(t.levels, []);
  assert.equal(t.writable && t.user && t.executable, true);
  assert.equal(ok(mem, regs, 0x1_fee0_0010n).physical, 0xfee0_0010);
  assert.equal(translate(mem, regs, 0xffff_fff0n), 0xffff_fff0);
});

test('32-bit paging, 4 KiB pages', () => {
  const mem = new Mem();
  const pd = 0x1000, pt = 0x2000;
  mem.w32(pd + 1 * 4, pt | Number(P | RW | US | A));
  mem.w32(pt + 0x23 * 4, 0x0034_5000 | Number(P | RW | A | D));
  mem.w32(pt + 0x25 * 4, 0x0077_7000 | Number(P | US)); // read-only user page
  const regs = regs32(pd | 0x18); // PWT/PCD bits in CR3 are not part of the address

  const t = ok(mem, regs, 0x0042_3abcn);
  assert.equal(t.physical, 0x0034_5abc);
  assert.equal(t.pageSize, 0x1000);
  assert.equal(t.mode, '32-bit');
  assert.equal(t.linear, 0x0042_3abcn);
  assert.equal(t.levels.length, 2);
  assert.deepEqual(t.levels[0], {
    name: 'PDE', index: 1, entryAddress: 0x1004, entry: BigInt(pt) | P | RW | US | A,
    present: true, flags: ['P', 'RW', 'US', 'A'],
  });
  assert.deepEqual(t.levels[1], {
    name: 'PTE', index: 0x23, entryAddress: 0x2000 + 0x23 * 4, entry: 0x0034_5000n | P | RW | A | D,
    present: true, flags: ['P', 'RW', 'A', 'D'],
  });
  assert.equal(t.writable, true);
  assert.equal(t.user, false); // the PTE lacks US
  assert.equal(t.executable, true); // no NX in 32-bit paging

  const ro = ok(mem, regs, 0x0042_5ffcn);
  assert.equal(ro.physical, 0x0077_7ffc);
  assert.equal(ro.writable, false);
  assert.equal(ro.user, true);

  // Linear addresses are 32 bits wide here.
  assert.equal(ok(mem, regs, 0x1_0042_3abcn).physical, 0x0034_5abc);

  const noPte = fail(mem, regs, 0x0042_4000n);
  assert.equal(noPte.reason, 'PTE[36] at 0x2090 is not present');
  assert.equal(noPte.levels.length, 2);
  assert.equal(noPte.levels[1].present, false);
  assert.equal(noPte.levels[1].entry, 0n);

  const noPde = fail(mem, regs, 0x0080_0000n);
  assert.equal(noPde.reason, 'PDE[2] at 0x1008 is not present');
  assert.equal(noPde.levels.length, 1);

  assert.throws(() => translate(mem, regs, 0x0080_0000n), (e: unknown) => {
    assert.ok(e instanceof GuestError);
    assert.equal(e.message, 'linear address 0x800000 is not mapped: PDE[2] at 0x1008 is not present');
    return true;
  });
});

test('32-bit paging with PSE: 4 MiB pages and PSE-36 high bits', () => {
  const mem = new Mem();
  const pd = 0x3000;
  mem.w32(pd + 3 * 4, 0x00c0_0000 | Number(P | RW | US | A | D | PS | G));
  // PSE-36: PDE bits 20:13 = physical bits 39:32, here 0x5a.
  mem.w32(pd + 4 * 4, 0xffc0_0000 | (0x5a << 13) | Number(P | PS));
  const regs = regs32(pd, true);

  const t = ok(mem, regs, 0x00d2_3456n);
  assert.equal(t.physical, 0x00d2_3456);
  assert.equal(t.pageSize, 4 << 20);
  assert.equal(t.levels.length, 1);
  assert.deepEqual(t.levels[0].flags, ['P', 'RW', 'US', 'A', 'D', 'PS', 'G']);
  assert.equal(t.writable && t.user, true);

  const hi = ok(mem, regs, 0x0100_1234n);
  assert.equal(hi.physical, 0x5a * 2 ** 32 + 0xffc0_0000 + 0x1234);
  assert.equal(hi.writable, false);
  assert.equal(hi.user, false);

  // Without CR4.PSE the PS bit is ignored: the PDE points to a page table, here at 0xc00000,
  // which is outside the 1 MiB of test memory.
  const r = fail(mem, regs32(pd, false), 0x00d2_3456n);
  assert.match(r.reason, /^PTE\[291\] at 0xc0048c is outside guest memory/);
  assert.match(r.reason, /PDE\[3\] at 0x300c/);
  assert.equal(r.levels.length, 1);
  assert.deepEqual(r.levels[0].flags, ['P', 'RW', 'US', 'A']); // PS, D, G mean nothing there
});

test('PAE paging: 4 KiB and 2 MiB pages, NX with EFER.NXE', () => {
  const mem = new Mem();
  const pdpt = 0x3020; // 32-byte aligned, not page aligned
  const pd = 0x4000, pt = 0x5000;
  mem.w64(pdpt + 1 * 8, BigInt(pd) | P);
  mem.w64(pd + 5 * 8, BigInt(pt) | P | RW | US | A);
  mem.w64(pt + 7 * 8, 0x1_2345_6000n | P | RW | US | A | D | NX);
  mem.w64(pd + 6 * 8, 0x0060_0000n | P | RW | PS | A | G);
  const lin4k = (1n << 30n) + (5n << 21n) + (7n << 12n) + 0x123n;
  const lin2m = (1n << 30n) + (6n << 21n) + 0x5_4321n;

  const t = ok(mem, regsPae(pdpt, true), lin4k);
  assert.equal(t.mode, 'pae');
  assert.equal(t.physical, 0x1_2345_6123);
  assert.equal(t.pageSize, 4096);
  assert.deepEqual(t.levels.map((l) => [l.name, l.index, l.entryAddress]), [
    ['PDPTE', 1, 0x3028], ['PDE', 5, 0x4028], ['PTE', 7, 0x5038],
  ]);
  assert.deepEqual(t.levels[0].flags, ['P']);
  assert.deepEqual(t.levels[2].flags, ['P', 'RW', 'US', 'A', 'D', 'NX']);
  assert.equal(t.writable, true);
  assert.equal(t.user, true); // the PDPTE carries no US bit, and does not count
  assert.equal(t.executable, false);
  // Without EFER.NXE bit 63 does not forbid execution.
  assert.equal(ok(mem, regsPae(pdpt, false), lin4k).executable, true);

  const big = ok(mem, regsPae(pdpt), lin2m);
  assert.equal(big.physical, 0x0060_0000 + 0x5_4321);
  assert.equal(big.pageSize, 2 << 20);
  assert.equal(big.levels.length, 2);
  assert.deepEqual(big.levels[1].flags, ['P', 'RW', 'A', 'PS', 'G']);
  assert.equal(big.user, false);

  assert.equal(fail(mem, regsPae(pdpt), 0n).reason, 'PDPTE[0] at 0x3020 is not present');
  assert.equal(fail(mem, regsPae(pdpt), (1n << 30n) + (4n << 21n)).reason, 'PDE[4] at 0x4020 is not present');
  assert.equal(fail(mem, regsPae(pdpt), (1n << 30n) + (5n << 21n)).reason, 'PTE[0] at 0x5000 is not present');
  // The PDPT itself outside memory.
  assert.match(fail(mem, regsPae(0xfff0_0000), 0n).reason, /^PDPTE\[0\] at 0xfff00000 is outside guest memory.*CR3/);
});

/** 4-level tables at CR3 0x10000 mapping three kinds of page in the higher half. */
function longModeTables(mem: Mem) {
  const pml4 = 0x10000, pdpt = 0x11000, pd = 0x12000, pt = 0x13000;
  mem.w64(pml4 + 256 * 8, BigInt(pdpt) | P | RW | US | A);
  mem.w64(pdpt + 1 * 8, BigInt(pd) | P | RW | US | A);
  mem.w64(pdpt + 2 * 8, 0x8000_0000n | P | RW | PS | A | D | G); // 1 GiB, supervisor
  mem.w64(pdpt + 3 * 8, 0x7000_0000n | P | RW); // page directory outside memory
  mem.w64(pd + 1 * 8, BigInt(pt) | P | RW | US | A);
  mem.w64(pd + 2 * 8, 0xa_bcc0_0000n | P | US | PS | NX); // 2 MiB, read-only, no-execute
  mem.w64(pt + 3 * 8, 0x000f_ffff_ffff_f000n | P | RW | US | A | D); // highest 4 KiB frame
  mem.w64(pt + 4 * 8, 0x0000_0000_0042_1000n | P | RW | US | (0x7ffn << 52n)); // software bits 62:52 set
  return { pml4, pdpt, pd, pt };
}

const HIGH = 0xffff_8000_0000_0000n; // PML4 index 256

test('4-level paging: 4 KiB, 2 MiB and 1 GiB pages', () => {
  const mem = new Mem();
  const { pml4, pdpt, pd, pt } = longModeTables(mem);
  const regs = regsLong(BigInt(pml4) | 0x5n | (1n << 63n)); // PCID and no-flush bits are not the address

  const lin4k = HIGH + (1n << 30n) + (1n << 21n) + (3n << 12n) + 0x456n;
  const t = ok(mem, regs, lin4k);
  assert.equal(t.mode, '4-level');
  assert.equal(t.linear, lin4k);
  assert.equal(t.physical, 0x000f_ffff_ffff_f456);
  assert.equal(t.pageSize, 4096);
  assert.deepEqual(t.levels.map((l) => [l.name, l.index, l.entryAddress]), [
    ['PML4E', 256, pml4 + 256 * 8], ['PDPTE', 1, pdpt + 8], ['PDE', 1, pd + 8], ['PTE', 3, pt + 24],
  ]);
  assert.deepEqual(t.levels.map((l) => l.flags), [
    ['P', 'RW', 'US', 'A'], ['P', 'RW', 'US', 'A'], ['P', 'RW', 'US', 'A'], ['P', 'RW', 'US', 'A', 'D'],
  ]);
  assert.equal(t.writable && t.user && t.executable, true);
  // A negative bigint is the same sign-extended address.
  assert.equal(ok(mem, regs, lin4k - (1n << 64n)).physical, 0x000f_ffff_ffff_f456);

  // Bits 62:52 of the entry are not address bits.
  assert.equal(ok(mem, regs, HIGH + (1n << 30n) + (1n << 21n) + (4n << 12n) + 0xabcn).physical, 0x42_1abc);

  const lin2m = HIGH + (1n << 30n) + (2n << 21n) + 0x1_2345n;
  const m = ok(mem, regs, lin2m);
  assert.equal(m.physical, 0xa_bcc0_0000 + 0x1_2345);
  assert.equal(m.pageSize, 2 << 20);
  assert.equal(m.levels.length, 3);
  assert.deepEqual(m.levels[2].flags, ['P', 'US', 'PS', 'NX']);
  assert.equal(m.writable, false);
  assert.equal(m.user, true);
  assert.equal(m.executable, false);
  assert.equal(ok(mem, regsLong(BigInt(pml4), false, false), lin2m).executable, true);

  const lin1g = HIGH + (2n << 30n) + 0x3456_789an;
  const g = ok(mem, regs, lin1g);
  assert.equal(g.physical, 0x8000_0000 + 0x3456_789a);
  assert.equal(g.pageSize, 1 << 30);
  assert.equal(g.levels.length, 2);
  assert.deepEqual(g.levels[1].flags, ['P', 'RW', 'A', 'D', 'PS', 'G']);
  assert.equal(g.user, false);

  // Not present at each level.
  assert.equal(fail(mem, regs, 0n).reason, `PML4E[0] at 0x10000 is not present`);
  assert.equal(fail(mem, regs, HIGH).reason, `PDPTE[0] at 0x11000 is not present`);
  assert.equal(fail(mem, regs, HIGH + (1n << 30n)).reason, `PDE[0] at 0x12000 is not present`);
  const np = fail(mem, regs, HIGH + (1n << 30n) + (1n << 21n) + (9n << 12n));
  assert.equal(np.reason, `PTE[9] at 0x13048 is not present`);
  assert.equal(np.levels.length, 4);
  assert.deepEqual(np.levels.map((l) => l.present), [true, true, true, false]);

  // The page directory lies outside guest memory.
  const out = fail(mem, regs, HIGH + (3n << 30n) + (7n << 21n));
  assert.equal(out.reason,
    'PDE[7] at 0x70000038 is outside guest memory (the table at 0x70000000 comes from PDPTE[3] at 0x11018)');
  assert.equal(out.levels.length, 2);
  assert.throws(() => translate(mem, regs, HIGH + (3n << 30n)), /is not mapped: PDE\[0\] at 0x70000000 is outside guest memory/);

  // A PML4 outside memory: CR3 itself is bad.
  assert.match(fail(mem, regsLong(0x4000_0000n), HIGH).reason, /^PML4E\[256\] at 0x40000800 is outside guest memory .*CR3 0x40000000/);
});

test('fetchFaults and faults: not present, no-execute, a supervisor page from ring 3, a user page below ring 3 under CR4.SMEP (fetch) and CR4.SMAP (data, unless RFLAGS.AC)', () => {
  const mem = new Mem();
  const { pml4 } = longModeTables(mem);
  const r = regsLong(BigInt(pml4));
  const smep = { ...r, cr4: r.cr4 | (1n << 20n) };
  const user = HIGH + (1n << 30n) + (1n << 21n) + (3n << 12n); // 4 KiB, user, executable
  const nx = HIGH + (1n << 30n) + (2n << 21n); // 2 MiB, user, no-execute
  const supervisor = HIGH + (2n << 30n); // 1 GiB, supervisor
  const fetch = (regs: PagingRegs, lin: bigint, ring: number) => fetchFaults(walk(mem, regs, lin), regs, ring);
  assert.equal(fetch(r, user, 0), false);
  assert.equal(fetch(r, user, 3), false);
  assert.equal(fetch(smep, user, 0), true, 'SMEP: a user page fetched in ring 0');
  assert.equal(fetch(smep, user, 3), false);
  assert.equal(fetch(r, nx, 3), true, 'no-execute');
  assert.equal(fetch(regsLong(BigInt(pml4), false, false), nx, 3), false, 'NX means nothing without EFER.NXE');
  assert.equal(fetch(r, supervisor, 0), false);
  assert.equal(fetch(r, supervisor, 3), true, 'a supervisor page from ring 3');
  assert.equal(fetch(r, HIGH + (4n << 30n), 0), true, 'not present');
  // data accesses: SMAP (CR4 bit 21) guards user pages below ring 3 unless RFLAGS.AC
  const smap = { ...r, cr4: r.cr4 | (1n << 21n) };
  const data = (regs: PagingRegs, lin: bigint, ring: number, write = false, ac = false) => faults(walk(mem, regs, lin), regs, { write, ring, ac });
  assert.equal(data(r, user, 0), false);
  assert.equal(data(smap, user, 0), true, 'SMAP: a user page read in ring 0');
  assert.equal(data(smap, user, 0, false, true), false, 'SMAP with RFLAGS.AC (stac)');
  assert.equal(data(smap, user, 3), false);
  assert.equal(data(smap, supervisor, 0, true), false);
  assert.equal(data(r, nx, 3, true), true, 'a write to a read-only page from ring 3');
  assert.equal(data(r, supervisor, 3), true, 'a supervisor page from ring 3');
});

test('long mode rejects non-canonical addresses', () => {
  const mem = new Mem();
  longModeTables(mem);
  const regs = regsLong(0x10000n);
  for (const lin of [0x0000_8000_0000_0000n, 0xffff_7fff_ffff_ffffn, 0x8000_0000_0000_0000n, 0x0001_0000_0000_0000n]) {
    const r = fail(mem, regs, lin);
    assert.match(r.reason, /non-canonical/);
    assert.equal(r.levels.length, 0);
    assert.throws(() => translate(mem, regs, lin), (e: unknown) => e instanceof GuestError && /non-canonical/.test(e.message));
  }
  // The edges of the canonical halves walk (and are not present here, or are).
  assert.equal(fail(mem, regs, 0x0000_7fff_ffff_ffffn).reason, 'PML4E[255] at 0x107f8 is not present');
  assert.equal(fail(mem, regs, 0xffff_ffff_ffff_ffffn).reason, 'PML4E[511] at 0x10ff8 is not present');
});

test('5-level paging (LA57): 4 KiB page and 57-bit canonical addresses', () => {
  const mem = new Mem();
  const pml5 = 0x20000, pml4 = 0x21000, pdpt = 0x22000, pd = 0x23000, pt = 0x24000;
  // lin = 0x0012_3456_789a_bcde: PML5 0x12, PML4 0x68, PDPT 0x159, PD 0x1c4, PT 0x1ab, offset 0xcde.
  const lin = 0x0012_3456_789a_bcden;
  const idx = (shift: number) => Number(lin / 2n ** BigInt(shift)) % 512; // by division, not by the walker's masks
  assert.deepEqual([48, 39, 30, 21, 12].map(idx), [0x12, 0x68, 0x159, 0x1c4, 0x1ab]);
  mem.w64(pml5 + 0x12 * 8, BigInt(pml4) | P | RW | US);
  mem.w64(pml4 + 0x68 * 8, BigInt(pdpt) | P | RW | US);
  mem.w64(pdpt + 0x159 * 8, BigInt(pd) | P | RW | US);
  mem.w64(pd + 0x1c4 * 8, BigInt(pt) | P | RW | US);
  mem.w64(pt + 0x1ab * 8, 0x3_2100_0000n | P | RW | US | A | D | G);
  const regs = regsLong(BigInt(pml5), true);

  const t = ok(mem, regs, lin);
  assert.equal(t.mode, '5-level');
  assert.equal(t.physical, 0x3_2100_0cde);
  assert.equal(t.pageSize, 4096);
  assert.deepEqual(t.levels.map((l) => [l.name, l.index, l.entryAddress]), [
    ['PML5E', 0x12, pml5 + 0x12 * 8], ['PML4E', 0x68, pml4 + 0x68 * 8], ['PDPTE', 0x159, pdpt + 0x159 * 8],
    ['PDE', 0x1c4, pd + 0x1c4 * 8], ['PTE', 0x1ab, pt + 0x1ab * 8],
  ]);
  assert.deepEqual(t.levels[4].flags, ['P', 'RW', 'US', 'A', 'D', 'G']);

  // Non-canonical under 4-level but fine under 5-level; non-canonical under 5-level.
  assert.match(fail(mem, regsLong(BigInt(pml5), false), lin).reason, /non-canonical/);
  assert.equal(fail(mem, regs, 0x0000_8000_0000_0000n).reason, 'PML5E[0] at 0x20000 is not present');
  assert.equal(fail(mem, regs, 0xff00_0000_0000_0000n).reason, 'PML5E[256] at 0x20800 is not present');
  assert.match(fail(mem, regs, 0x0100_0000_0000_0000n).reason, /non-canonical: with 5-level paging bits 63:56/);
});

test('random 4-level mappings agree with independent arithmetic', () => {
  const mem = new Mem(4 << 20);
  const rand = prng(12345);
  const pml4 = mem.alloc();
  // Builds tables with plain Number arithmetic on the lower canonical half (< 2^47).
  const map = (linear: number, frame: number, size: 4096 | 0x20_0000 | 0x4000_0000) => {
    let table = pml4;
    const shifts = [39, 30, 21, 12];
    const leafAt = size === 4096 ? 12 : size === 0x20_0000 ? 21 : 30;
    for (const s of shifts) {
      const i = Math.floor(linear / 2 ** s) % 512;
      const at = table + i * 8;
      if (s === leafAt) {
        mem.w64(at, BigInt(frame) | P | RW | (s === 12 ? 0n : PS));
        return;
      }
      let e = mem.r64(at);
      if (e === 0n) {
        e = BigInt(mem.alloc()) | P | RW | US;
        mem.w64(at, e);
      }
      assert.equal(e & PS, 0n, 'test mapping collides with a large page');
      table = Number(e & 0x000f_ffff_ffff_f000n);
    }
  };
  const pages: { linear: number; frame: number; size: number }[] = [];
  const used = new Set<number>();
  const sizes = [4096, 0x20_0000, 0x4000_0000] as const;
  while (pages.length < 300) {
    const kind = rand() < 0.7 ? 0 : rand() < 0.6 ? 1 : 2;
    const size = sizes[kind];
    // Each page size gets its own eight PML4 slots, so large and small pages never collide.
    const pml4i = kind * 8 + Math.floor(rand() * 8);
    const below = pml4i * 2 ** 39 + Math.floor(rand() * 64) * 2 ** 30;
    const linear = below + Math.floor(rand() * (0x4000_0000 / size)) * size;
    if (used.has(linear)) continue;
    used.add(linear);
    const frame = Math.floor(rand() * 2 ** 40 / size) * size; // aligned frames below 1 TiB
    map(linear, frame, size);
    pages.push({ linear, frame, size });
  }
  assert.ok(pages.some((p) => p.size === 0x4000_0000) && pages.some((p) => p.size === 0x20_0000));
  const regs = regsLong(BigInt(pml4));
  for (const p of pages) {
    for (const off of [0, p.size - 1, Math.floor(rand() * p.size)]) {
      const t = ok(mem, regs, BigInt(p.linear + off));
      assert.equal(t.physical, p.frame + off);
      assert.equal(t.pageSize, p.size);
      assert.equal(translate(mem, regs, BigInt(p.linear + off)), p.frame + off);
      assert.equal(t.levels.length, p.size === 4096 ? 4 : p.size === 0x20_0000 ? 3 : 2);
      assert.equal(t.user, false); // leaves were made without US
      assert.equal(t.writable, true);
    }
  }
});

test('random 32-bit PSE mappings agree with independent arithmetic', () => {
  const mem = new Mem(2 << 20);
  const rand = prng(777);
  const pd = mem.alloc();
  const pages: { linear: number; frame: number; size: number }[] = [];
  const usedPde = new Map<number, 'table' | 'big'>();
  while (pages.length < 200) {
    const big = rand() < 0.25;
    const linear = big ? Math.floor(rand() * 1024) * 0x40_0000 : Math.floor(rand() * 0x10_0000) * 0x1000;
    const pdi = Math.floor(linear / 0x40_0000);
    const kind = usedPde.get(pdi);
    if (big) {
      if (kind) continue;
      usedPde.set(pdi, 'big');
      const frame = Math.floor(rand() * 2 ** 14) * 0x40_0000; // up to 64 GiB: uses PSE-36 bits
      const pde = (frame % 2 ** 32) + Math.floor(frame / 2 ** 32) * 2 ** 13 + Number(P | RW | PS);
      mem.w32(pd + pdi * 4, pde);
      pages.push({ linear, frame, size: 0x40_0000 });
    } else {
      if (kind === 'big') continue;
      if (!kind) {
        usedPde.set(pdi, 'table');
        mem.w32(pd + pdi * 4, mem.alloc() + Number(P | RW | US));
      }
      const pt = mem.view(pd + pdi * 4, 4).readUInt32LE(0) - Number(P | RW | US);
      const pti = Math.floor(linear / 0x1000) % 1024;
      if (mem.view(pt + pti * 4, 4).readUInt32LE(0) !== 0) continue;
      const frame = Math.floor(rand() * 2 ** 20) * 0x1000;
      mem.w32(pt + pti * 4, frame + Number(P | US));
      pages.push({ linear, frame, size: 0x1000 });
    }
  }
  const regs = regs32(pd, true);
  for (const p of pages) {
    for (const off of [0, p.size - 1, Math.floor(rand() * p.size)]) {
      const t = ok(mem, regs, BigInt(p.linear + off));
      assert.equal(t.physical, p.frame + off);
      assert.equal(t.pageSize, p.size);
      assert.equal(t.writable, p.size !== 0x1000);
      assert.equal(t.user, p.size === 0x1000);
    }
  }
});

test('describeFlags names the bits that matter at each level', () => {
  assert.deepEqual(describeFlags(P | RW | US | PWT | PCD | A | D | PS | G | NX, 'PTE'),
    ['P', 'RW', 'US', 'PWT', 'PCD', 'A', 'D', 'PAT', 'G', 'NX']);
  assert.deepEqual(describeFlags(P | RW | A | D | PS | G | (1n << 12n), 'PDE'),
    ['P', 'RW', 'A', 'D', 'PS', 'G', 'PAT']);
  assert.deepEqual(describeFlags(P | RW | A | D | G, 'PDE'), ['P', 'RW', 'A']); // points to a table
  assert.deepEqual(describeFlags(P | PS | D, 'PDPTE'), ['P', 'D', 'PS']);
  assert.deepEqual(describeFlags(P | RW | US | A | NX | D | G, 'PML4E'), ['P', 'RW', 'US', 'A', 'NX']);
  assert.deepEqual(describeFlags(0x1234_5000n, 'PML5E'), []);
});

test('realModeLinear: segment*16 + offset within 21 bits', () => {
  assert.equal(realModeLinear(0x07c0, 0), 0x7c00);
  assert.equal(realModeLinear(0, 0x7c00), 0x7c00);
  assert.equal(realModeLinear(0xf000, 0xfff0), 0xffff0);
  assert.equal(realModeLinear(0xffff, 0xffff), 0x10ffef); // A20 on: no wrap at 1 MiB
  assert.equal(realModeLinear(0xb800, 0x0a0), 0xb80a0);
});
