// The breakpoint table's answers that the run loop acts on, without KVM: which execute
// breakpoints lie just after an address (machine.ts keeps the single step off a breakpoint
// there, since an RF that KVM leaves set would pass over them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BreakpointTable } from '../src/vmm/debug/breakpoints.js';

test('an execute breakpoint within the 15 bytes after an address, a slot\'s or a software one\'s; data watches and the address itself do not count', () => {
  const t = new BreakpointTable();
  const at = 0x100000n;
  assert.equal(t.executeBreakpointAfter(at), false, 'an empty table');
  const self = t.addHardware(at, 'execute');
  const before = t.addSoftware(at - 1n);
  t.addHardware(at + 8n, 'write', 8);
  assert.equal(t.executeBreakpointAfter(at), false, 'the address itself, one before it, a write watch after it');
  const far = t.addHardware(at + 16n, 'execute');
  assert.equal(t.executeBreakpointAfter(at), false, '16 bytes on: past the longest instruction');
  const last = t.addSoftware(at + 15n);
  assert.equal(t.executeBreakpointAfter(at), true, 'a software breakpoint 15 bytes on');
  t.remove(last);
  const next = t.addHardware(at + 1n, 'execute');
  assert.equal(t.executeBreakpointAfter(at), true, 'a slot one byte on');
  t.remove(next);
  assert.equal(t.executeBreakpointAfter(at), false);
  assert.equal(t.executeBreakpointAfter(at - 2n), true, 'from two bytes before: the slot at the address and the one before it');
  for (const id of [self, before, far]) t.remove(id);
  assert.equal(t.executeBreakpointAfter(at - 2n), false);
});
