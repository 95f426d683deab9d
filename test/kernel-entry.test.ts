// The monitor's kernel-entry stop (src/vmm/kernel-entry.ts) on a guest that starts as a 64-bit
// Linux kernel does: its GS-base write at a physical address goes through, the one at a virtual
// address in the kernel half stops the machine once, and both writes take effect, done by the
// monitor. test/dap-linux.test.ts finds a real kernel's KASLR slide this way.
import './support/needs-kvm.js';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { buildFlat64 } from './guests/build.js';
import { FLAT64, machineWithSerial, withMachine } from './support/machine.js';
import { MSR_GS_BASE } from '../src/vmm/kernel-entry.js';
import type { Machine } from '../src/vmm/machine.js';
import { Recorder } from '../src/debugger/history/recorder.js';

const KERNEL_MAP = 0xffffffff80000000n;
/** The guest's last word: the GS base it read back, and its low byte as the exit status. */
const GUEST_SAYS = 'ffff888833334444\n';
const GUEST_EXIT = { kind: 'exit', status: (0x44 << 1) | 1 } as const;

/**
 * Runs `f` on the guest with the kernel-entry stop armed where the host can. The host fact:
 * whether KVM sends guest MSR writes to the monitor (KVM_CAP_X86_USER_SPACE_MSR with an MSR
 * filter, Linux 5.10+); without it the guest runs through, untouched.
 */
async function onGuest(t: TestContext, f: (m: Machine, armed: boolean, high: { wrmsr: bigint; label: bigint }) => Promise<void>): Promise<void> {
  const { bin, syms } = buildFlat64('kernel-entry64');
  const { m, serial } = machineWithSerial({ image: bin, ...FLAT64 });
  await withMachine(m, async () => {
    const armed = m.watchKernelEntry();
    t.diagnostic(`this host ${armed ? 'traps' : 'cannot trap'} MSR writes`);
    await f(m, armed, { wrmsr: KERNEL_MAP + syms.high_wrmsr, label: KERNEL_MAP + syms.high });
    assert.equal(serial(), GUEST_SAYS, 'the guest reads back its own write');
  });
}

test('a GS-base wrmsr at a kernel-half address is a kernel-entry stop, once; the monitor does the writes it traps', { timeout: 120_000 }, async (t) => {
  await onGuest(t, async (m, armed, high) => {
    if (armed) {
      // First at `high`: the physical-address write went through, done by the monitor.
      const bp = m.addHardwareBreakpoint(high.label);
      assert.deepEqual(await m.run(), { kind: 'breakpoint', vcpu: 0, address: high.label, id: bp });
      assert.equal(m.vcpu(0).getMsr(MSR_GS_BASE), 0x11112222n);
      m.removeBreakpoint(bp);
      assert.deepEqual(await m.run(), { kind: 'kernel-entry', vcpu: 0, address: high.wrmsr });
      // Reported done: RIP past the wrmsr, and the GS base holds what the guest wrote there.
      assert.equal(m.getRegs(0).rip, high.wrmsr + 2n);
      assert.equal(m.vcpu(0).getMsr(MSR_GS_BASE), 0xffff888833334444n);
    }
    assert.deepEqual(await m.run(), GUEST_EXIT);
  });
});

test('recorded, the kernel-entry stop is a step of the history: back over its wrmsr restores the GS base and RIP, forward does it again', { timeout: 240_000 }, async (t) => {
  await onGuest(t, async (m, armed, high) => {
    const history = new Recorder(m);
    history.start();
    if (armed) {
      assert.deepEqual(await history.run(), { kind: 'kernel-entry', vcpu: 0, address: high.wrmsr });
      const present = history.log.length;
      const gsBase = () => m.getSregs(0).gs.base;
      assert.equal(gsBase(), 0xffff888833334444n);
      history.goto(present - 1);
      assert.equal(m.getRegs(0).rip, high.wrmsr, 'back at the wrmsr');
      assert.equal(gsBase(), 0x11112222n, 'the GS base the physical-address write left');
      history.goto(present);
      assert.equal(m.getRegs(0).rip, high.wrmsr + 2n);
      assert.equal(gsBase(), 0xffff888833334444n);
    }
    assert.deepEqual(await history.run(), GUEST_EXIT);
  });
});
