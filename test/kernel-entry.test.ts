// The monitor's kernel-entry stop (src/vmm/kernel-entry.ts) on a guest that starts as a 64-bit
// Linux kernel does: its GS-base write at a physical address goes through, the one at a virtual
// address in the kernel half stops the machine once, and both writes take effect, done by the
// monitor. test/dap-linux.test.ts finds a real kernel's KASLR slide this way.
import './support/needs-kvm.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildFlat64 } from './guests/build.js';
import { FLAT64, machineWithSerial, withMachine } from './support/machine.js';
import { MSR_GS_BASE } from '../src/vmm/kernel-entry.js';

const KERNEL_MAP = 0xffffffff80000000n;

test('a GS-base wrmsr at a kernel-half address is a kernel-entry stop, once; the monitor does the writes it traps', { timeout: 120_000 }, async (t) => {
  const { bin, syms } = buildFlat64('kernel-entry64');
  const { m, serial } = machineWithSerial({ image: bin, ...FLAT64 });
  await withMachine(m, async () => {
    // The host fact: whether KVM sends guest MSR writes to the monitor (KVM_CAP_X86_USER_SPACE_MSR
    // with an MSR filter, Linux 5.10+). Without it the guest runs through, untouched.
    const armed = m.watchKernelEntry();
    t.diagnostic(`this host ${armed ? 'traps' : 'cannot trap'} MSR writes`);
    if (armed) {
      // First at `high`: the physical-address write went through, done by the monitor.
      const bp = m.addHardwareBreakpoint(KERNEL_MAP + syms.high);
      assert.deepEqual(await m.run(), { kind: 'breakpoint', vcpu: 0, address: KERNEL_MAP + syms.high, id: bp });
      assert.equal(m.vcpu(0).getMsr(MSR_GS_BASE), 0x11112222n);
      m.removeBreakpoint(bp);
      const stop = await m.run();
      assert.deepEqual(stop, { kind: 'kernel-entry', vcpu: 0, address: KERNEL_MAP + syms.high_wrmsr });
      // Reported done: RIP past the wrmsr, and the GS base holds what the guest wrote there.
      assert.equal(m.getRegs(0).rip, KERNEL_MAP + syms.high_wrmsr + 2n);
      assert.equal(m.vcpu(0).getMsr(MSR_GS_BASE), 0xffff888833334444n);
    }
    const end = await m.run();
    assert.deepEqual(end, { kind: 'exit', status: (0x44 << 1) | 1 });
    assert.equal(serial(), 'ffff888833334444\n', 'the guest reads back its own write');
  });
});
