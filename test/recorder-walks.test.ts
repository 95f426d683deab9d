// The recorder's page walks kept from step to step (src/debugger/history/walks.ts): a walk is
// served again while nothing it read moved, and read afresh once the paging registers change, the
// monitor writes guest memory, a step writes a page of the tables it read, or a step's writes are
// not known.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PagingRegs } from '../src/x86/pagewalk.js';
import { Walks, type WalkedMemory } from '../src/debugger/history/walks.js';

const P = 1, RW = 2, A = 32;
const PD = 0x1000, PT = 0x2000, OTHER_PT = 0x3000;
const LINEAR = 0x400000n; // PDE 1, PTE 0

/** 64 KiB of guest memory with 32-bit paging: LINEAR maps to `frame`. */
function memory(): WalkedMemory & { map(frame: number): void; monitorWrite(): void } {
  const buf = Buffer.alloc(0x10000);
  let writes = 0;
  buf.writeUInt32LE(PT | P | RW | A, PD + 4);
  return {
    view: (gpa, len) => buf.subarray(gpa, gpa + len),
    contains: (gpa, len) => gpa >= 0 && gpa + len <= buf.length,
    get monitorWrites() { return writes; },
    map: (frame) => buf.writeUInt32LE(frame | P | RW | A, PT),
    monitorWrite: () => writes++,
  };
}

const regs = (cr3 = PD): PagingRegs => ({ cr0: (1n << 31n) | 1n, cr3: BigInt(cr3), cr4: 0n, efer: 0n });

test('a kept walk serves until its tables are written; writes elsewhere keep it', { timeout: 5000 }, () => {
  const mem = memory();
  mem.map(0x8000);
  const walks = new Walks(mem, regs());
  assert.equal(walks.begin(regs()).physical(LINEAR + 0x10n), 0x8010);
  mem.map(0x9000); // the guest's step rewrote the PTE
  walks.end([{ gpa: OTHER_PT, old: new Uint8Array(8) }]);
  assert.equal(walks.begin(regs()).physical(LINEAR + 0x10n), 0x8010, 'kept: the write named was elsewhere');
  walks.end([{ gpa: PT - 4, old: new Uint8Array(8) }]); // a write that reaches into the PT's page
  assert.equal(walks.begin(regs()).physical(LINEAR + 0x10n), 0x9010, 'read again: the PT was written');
});

test('a kept walk is read again after new paging registers, a monitor write, or a step of unknown writes', { timeout: 5000 }, () => {
  const mem = memory();
  mem.map(0x8000);
  const walks = new Walks(mem, regs());
  const at = () => walks.begin(regs()).physical(LINEAR);
  assert.equal(at(), 0x8000);

  mem.map(0x9000);
  walks.end(undefined);
  assert.equal(at(), 0x9000, 'a step whose writes are not known');

  mem.map(0xa000);
  walks.end([]);
  mem.monitorWrite();
  assert.equal(at(), 0xa000, 'the monitor wrote guest memory');

  mem.map(0xb000);
  walks.end([]);
  assert.equal(walks.begin({ ...regs(), cr4: 1n << 7n }).physical(LINEAR), 0xb000, 'CR4 changed (PGE)');
  mem.map(0xc000);
  walks.end([]);
  assert.equal(at(), 0xc000, 'and back');
  mem.map(0xd000);
  walks.end([]);
  assert.equal(at(), 0xc000, 'nothing moved: kept');
});
