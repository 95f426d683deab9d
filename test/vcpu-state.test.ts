// How two captured vCPU states are compared (a replay's check that it arrived where it had been
// before): by register, with RFLAGS.RF set aside. Runs without KVM: the layout is kvm_sync_regs'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as abi from '../src/vmm/kvm/abi.js';
import { VCPU_STATE_BYTES, stateDifferences } from '../src/vmm/vcpu.js';

const SREGS = abi.kvm_regs.size;

function state(): Buffer {
  const s = Buffer.alloc(VCPU_STATE_BYTES);
  s.writeBigUInt64LE(0x100020n, abi.kvm_regs.rip);
  s.writeBigUInt64LE(0x46n, abi.kvm_regs.rflags);
  s.writeBigUInt64LE(0x80000011n, SREGS + abi.kvm_sregs.cr0);
  return s;
}

test('two equal states have no differences; the events after the registers do not count', () => {
  const a = state(), b = state();
  b[VCPU_STATE_BYTES - 1] = 1;
  assert.deepEqual(stateDifferences(a, b), []);
});

test('RFLAGS.RF alone is no difference; any other flag is, with both values', () => {
  const a = state(), b = state();
  b.writeBigUInt64LE(0x10046n, abi.kvm_regs.rflags);
  assert.deepEqual(stateDifferences(a, b), []);
  b.writeBigUInt64LE(0x10146n, abi.kvm_regs.rflags);
  assert.deepEqual(stateDifferences(a, b), ['rflags (0x46 against 0x10146)']);
});

test('registers, control registers and segments that differ are named, in layout order', () => {
  const a = state(), b = state();
  b.writeBigUInt64LE(0x100023n, abi.kvm_regs.rip);
  b.writeBigUInt64LE(0x5000n, SREGS + abi.kvm_sregs.cr3);
  b[SREGS + abi.kvm_sregs.cs + abi.kvm_segment.l] = 1;
  b.writeBigUInt64LE(1n, SREGS + abi.kvm_sregs.interrupt_bitmap + 8);
  assert.deepEqual(stateDifferences(a, b),
    ['rip (0x100020 against 0x100023)', 'cs', 'cr3 (0x0 against 0x5000)', 'interrupt_bitmap']);
});
