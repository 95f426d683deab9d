// Guest RAM's host mapping (src/vmm/memory.ts), without KVM: 2 MiB-aligned and advised for
// transparent huge pages, as QEMU's RAM is (bench/guest-ram.ts measures what that buys), below
// and above the PCI hole, and gone from the process at destroy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { GuestMemory } from '../src/vmm/memory.js';
import { PCI_HOLE_START } from '../src/vmm/layout.js';

const MiB = 1 << 20;

/** The VmFlags of the mapping that starts at `addr` in /proc/self/smaps, or undefined if none does. */
function vmFlags(addr: bigint): string[] | undefined {
  const smaps = readFileSync('/proc/self/smaps', 'utf8');
  const at = smaps.indexOf(`\n${addr.toString(16)}-`);
  if (at < 0 && !smaps.startsWith(`${addr.toString(16)}-`)) return undefined;
  const flags = /^VmFlags:(.*)$/m.exec(smaps.slice(at + 1));
  return flags ? flags[1].trim().split(/\s+/) : [];
}

test('guest RAM: each region 2 MiB-aligned, advised for huge pages (VmFlags "hg"), its size exactly, and unmapped at destroy', (t) => {
  // The host fact: a kernel built without THP refuses the advice (EINVAL), and RAM works without.
  const thp = existsSync('/sys/kernel/mm/transparent_hugepage/enabled');
  t.diagnostic(thp ? `THP: ${readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8').trim()}` : 'this kernel has no THP: no advice taken');
  const mem = new GuestMemory(PCI_HOLE_START + 10 * MiB);
  const regions = mem.regions.map((r) => ({ addr: r.addr as bigint, size: r.size }));
  try {
    assert.equal(regions.length, 2, 'below and above the PCI hole');
    for (const r of regions) {
      assert.equal(r.addr % BigInt(2 * MiB), 0n, `0x${r.addr.toString(16)} is 2 MiB-aligned`);
      const flags = vmFlags(r.addr) ?? assert.fail(`no mapping at 0x${r.addr.toString(16)}`);
      assert.equal(flags.includes('hg'), thp, `advised MADV_HUGEPAGE where the kernel has THP: VmFlags ${flags.join(' ')}`);
      const line = readFileSync('/proc/self/maps', 'utf8').split('\n').find((l) => l.startsWith(`${r.addr.toString(16)}-`))!;
      const [from, to] = line.split(' ')[0].split('-').map((x) => BigInt('0x' + x));
      assert.equal(Number(to - from), r.size, 'no slack left mapped after it');
    }
    mem.write(PCI_HOLE_START - 1, Buffer.from([0xa5]));
    assert.equal(mem.read(PCI_HOLE_START - 1, 1)[0], 0xa5);
  } finally {
    mem.destroy();
  }
  for (const r of regions) assert.equal(vmFlags(r.addr), undefined, 'unmapped');
});
