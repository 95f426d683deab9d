// Teardown leaves nothing behind: fds, mappings and threads counted over 200 full cycles.
import './support/needs-kvm.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { Machine } from '../src/vmm/machine.js';
import { buildBootSector } from './guests/build.js';
import { machineWithSerial, withMachine } from './support/machine.js';

/** A guest RAM size nothing else in the process maps, so its mappings can be counted exactly. */
const RAM = 47 << 20;

function counts() {
  const maps = readFileSync('/proc/self/maps', 'utf8').trim().split('\n');
  const size = (l: string) => {
    const [a, b] = l.split(' ')[0].split('-').map((x) => parseInt(x, 16));
    return b - a;
  };
  const fds = readdirSync('/proc/self/fd');
  const target = (fd: string) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return ''; // the directory's own fd, gone by now
    }
  };
  return {
    fds: fds.length,
    /** Fds on /dev/kvm, a VM or a vCPU: what a leak of ours would leave. */
    kvmFds: fds.map(target).filter((t) => t === '/dev/kvm' || t.startsWith('anon_inode:kvm')).length,
    threads: readdirSync('/proc/self/task').length,
    /** Mappings of kvm_run pages (anon_inode:kvm-vcpu). */
    kvmMaps: maps.filter((l) => l.includes('kvm-vcpu')).length,
    /** Bytes mapped in all: a leaked guest RAM would add RAM bytes per cycle. */
    mapped: maps.reduce((n, l) => n + size(l), 0),
    allMaps: maps.length,
  };
}

async function cycle(image: string): Promise<void> {
  const { m, serial } = machineWithSerial({ image, smp: 2, memory: RAM }, 'utf8');
  const stop = await withMachine(m, async () => {
    const live = counts();
    assert.equal(live.kvmMaps, 2, 'two kvm_run pages while the machine lives');
    assert.ok(live.mapped >= RAM, 'guest RAM is mapped while the machine lives');
    return m.run();
  });
  assert.deepEqual(stop, { kind: 'exit', status: 67 });
  assert.equal(serial(), 'hello from real mode\n');
}

test('200 create/run/destroy cycles leave no fd, mapping or thread behind', async () => {
  const image = buildBootSector('hello-boot');
  // Warm-up: the runtime creates some threads, fds and code pages lazily on first use.
  for (let i = 0; i < 3; i++) await cycle(image);
  await new Promise((r) => setTimeout(r, 100));
  const before = counts();
  for (let i = 0; i < 200; i++) await cycle(image);
  await new Promise((r) => setTimeout(r, 100));
  const after = counts();
  assert.equal(after.kvmFds, 0, 'fds on /dev/kvm, VMs or vCPUs');
  // The runtime's own fds come and go (tsx's esbuild service closes its pipes when idle): a leak
  // of ours would add at least one per cycle, 200 in all.
  assert.ok(after.fds <= before.fds, `file descriptors: ${before.fds} before, ${after.fds} after`);
  assert.equal(after.threads, before.threads, 'threads');
  assert.equal(before.kvmMaps, 0);
  assert.equal(after.kvmMaps, 0, 'kvm_run mappings');
  // V8's heap grows and shrinks (by up to 86 MB over this loop in the test VM, where node runs
  // slowly); a guest RAM leaked per cycle would add 47 MiB each time, 9 GiB in all.
  assert.ok(after.mapped - before.mapped < 10 * RAM, `mapped bytes: ${before.mapped} before, ${after.mapped} after`);
  // The rest of the mappings are V8's heap pages, which come and go with garbage collection;
  // a leak of ours would add 3 per cycle (RAM and two kvm_run pages), 600 in all.
  assert.ok(after.allMaps < before.allMaps + 200, `mappings: ${before.allMaps} before, ${after.allMaps} after`);
});

test('a machine whose creation fails releases what it took', async () => {
  const before = counts();
  for (let i = 0; i < 20; i++) {
    assert.throws(() => new Machine({ image: Buffer.alloc(1024, 0x90), serial: () => {} }), /unknown format/);
  }
  assert.equal(counts().fds, before.fds);
});
