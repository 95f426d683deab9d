// The debug target's handles (src/debugger/target.ts), which need no guest; the rest of the
// target is exercised over the protocol by the dap tests on real guests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DebugTarget } from '../src/debugger/target.js';

test('frame handles round-trip: vCPU and frame depth', () => {
  for (const [vcpu, frame] of [[0, 0], [0, 7], [3, 0], [3, 999], [63, 42]]) {
    const id = DebugTarget.frameId(vcpu, frame);
    assert.deepEqual(DebugTarget.frameRef(id), { vcpu, frame });
  }
  assert.notEqual(DebugTarget.frameId(1, 0), DebugTarget.frameId(0, 1));
});
