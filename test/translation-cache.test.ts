// Translations kept while the guest stands still (src/vmm/translation-cache.ts): the cache alone,
// then on a real guest, reads by linear address that follow every change to the guest's page
// tables: a monitor write, the guest running, a new CR3.
import './support/needs-kvm.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Machine } from '../src/vmm/machine.js';
import { TranslationCache } from '../src/vmm/translation-cache.js';
import { walk } from '../src/x86/pagewalk.js';
import { buildFlat64 } from './guests/build.js';
import { FLAT64, withMachine } from './support/machine.js';

test('the cache keeps each vCPU\'s pages while its stamp is the same, and empties them all when it moves', () => {
  const c = new TranslationCache();
  const a = {}, b = {};
  c.pages(0, [1, a, b]).set(0x1000n, 0x5000);
  c.pages(1, [1, a, b]).set(0x1000n, 0x7000);
  assert.equal(c.pages(0, [1, a, b]).get(0x1000n), 0x5000);
  assert.equal(c.pages(1, [1, a, b]).get(0x1000n), 0x7000);
  assert.equal(c.pages(0, [1, a, {}]).get(0x1000n), undefined, 'another vCPU\'s registers changed');
  c.pages(0, [1, a, b]).set(0x1000n, 0x5000);
  assert.equal(c.pages(1, [2, a, b]).get(0x1000n), undefined, 'the monitor wrote memory');
  assert.equal(c.pages(0, [2, a, b]).get(0x1000n), undefined);
});

test('reads by linear address follow the guest\'s page tables: a monitor write, a step, a new CR3', async () => {
  const { bin } = buildFlat64('count64');
  const m = new Machine({ image: bin, ...FLAT64, serial: () => {} });
  await withMachine(m, async () => {
    const PAGE = 0x40_0000n; // a 2 MiB page of the identity tables kvmdbg builds for long-mode entry
    const mark = (at: number, byte: number) => m.writePhysical(at, Buffer.alloc(16, byte));
    mark(0x40_0000, 0x11);
    mark(0x60_0000, 0x22);
    mark(0x80_0000, 0x33);
    const s = m.getSregs();
    const w = walk(m.vm.memory, s, PAGE);
    assert.ok(w.ok && w.t.pageSize === 0x20_0000, 'a 2 MiB page');
    const pde = w.t.levels.at(-1)!;
    assert.equal(pde.name, 'PDE');
    const setPde = (physical: number, noted: boolean) => {
      const e = Buffer.alloc(8);
      e.writeBigUInt64LE(BigInt(physical) | (pde.entry & 0xfffn));
      if (noted) m.writePhysical(pde.entryAddress, e);
      else e.copy(m.vm.memory.view(pde.entryAddress, 8)); // as the guest itself would write it
    };
    assert.equal(m.readLinear(0, PAGE, 1)[0], 0x11);
    assert.equal(m.readLinear(0, PAGE + 8n, 1)[0], 0x11, 'read again through the kept page');
    setPde(0x60_0000, true);
    assert.equal(m.readLinear(0, PAGE + 1n, 1)[0], 0x22, 'a monitor write to the tables is seen at once');
    assert.equal(m.linearToPhysical(0, PAGE + 3n), 0x60_0003);
    setPde(0x80_0000, false);
    await m.step(0);
    assert.equal(m.readLinear(0, PAGE, 1)[0], 0x33, 'after the guest ran, the tables are walked again');
    // A write the monitor does not note is not seen until something moves the stamp: here a new
    // CR3, the root table copied to another page (its lower tables, the changed PDE's, shared).
    const root = Number(s.cr3 & ~0xfffn);
    const copyAt = 0x90_0000;
    m.writePhysical(copyAt, m.readPhysical(root, 4096));
    const before = m.readLinear(0, PAGE, 1)[0];
    setPde(0x40_0000, false);
    assert.equal(m.readLinear(0, PAGE, 1)[0], before, 'the kept page is used');
    m.vcpu(0).setSregs({ cr3: BigInt(copyAt) | (s.cr3 & 0xfffn) });
    assert.equal(m.readLinear(0, PAGE, 1)[0], 0x11, 'under a new CR3, walked again');
  });
});
