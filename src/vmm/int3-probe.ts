// Does a guest's int3 reach the monitor on this host? Asked once per process of a scratch VM of
// two pages, because the answer is a property of the host, not of the guest:
//   - hardware VMX/SVM: KVM intercepts #BP and reports a debug exit (exception 3);
//   - kvm_pvm: its CPL0 emulator fails on int3 and reports an emulation failure;
//   - KVM on QEMU's emulated SVM (a nested test VM): QEMU checks INT3 against the software-
//     interrupt intercept, not KVM's #BP exception intercept, so the int3 goes straight to the
//     guest's own handler and KVM never sees it.
// Where it does not reach us, a planted 0xCC would run in the guest as its own #BP, so software
// breakpoints must be placed some other way (machine.ts: debug registers, then page traps).
//
// The scratch guest starts in the reset state (CS base 0xffff0000, RIP 0xfff0, real mode):
// 0xfffffff0 holds `int3; hlt`, and IVT entry 3 points at 0000:0100, `out 0x80, al; hlt`. There is
// no in-kernel irqchip, so hlt exits to us too: every outcome ends KVM_RUN at once.
import * as sys from './kvm/sys.js';
import * as abi from './kvm/abi.js';
import { Vcpu } from './vcpu.js';
import { setMemorySlot } from './memory.js';

export type Int3Delivery = 'debug-exit' | 'emulation-failure' | 'guest';

const PAGE = 4096;
const HIGH_PAGE = 0xfffff000;
const PROBE_PORT = 0x80;

export function probeInt3(kvmFd: number, vcpuMmapSize: number): Int3Delivery {
  const vmFd = sys.ioctlInt(kvmFd, abi.KVM_CREATE_VM, 0, 'KVM_CREATE_VM');
  const low = sys.mmap(PAGE, sys.PROT_READ | sys.PROT_WRITE, sys.MAP_PRIVATE | sys.MAP_ANONYMOUS, -1, 'probe memory');
  const high = sys.mmap(PAGE, sys.PROT_READ | sys.PROT_WRITE, sys.MAP_PRIVATE | sys.MAP_ANONYMOUS, -1, 'probe memory');
  let vcpu: Vcpu | undefined;
  try {
    low.buf.writeUInt32LE(0x0000_0100, 3 * 4); // IVT[3] = 0000:0100
    low.buf.set([0xe6, PROBE_PORT, 0xf4], 0x100); // out 0x80, al; hlt
    high.buf.set([0xcc, 0xf4], 0xff0); // int3; hlt
    setMemorySlot(vmFd, 0, 0, PAGE, low.addr);
    setMemorySlot(vmFd, 1, HIGH_PAGE, PAGE, high.addr);
    // Real mode on VMX without unrestricted guest needs the TSS pages; harmless elsewhere.
    sys.ioctlInt(vmFd, abi.KVM_SET_TSS_ADDR, 0xfffbd000, 'KVM_SET_TSS_ADDR');
    const cpuFd = sys.ioctlInt(vmFd, abi.KVM_CREATE_VCPU, 0, 'KVM_CREATE_VCPU');
    vcpu = new Vcpu(0, cpuFd, vcpuMmapSize);
    vcpu.setGuestDebug(abi.KVM_GUESTDBG_ENABLE | abi.KVM_GUESTDBG_USE_SW_BP, [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
    // A signal (a profiler's SIGPROF, say) may end KVM_RUN before the guest ran: enter again.
    let rc: number;
    do rc = vcpu.enter();
    while (rc === -sys.EINTR);
    if (rc < 0) throw new sys.SysError('KVM_RUN (int3 probe)', -rc);
    const reason = vcpu.exitReason;
    if (reason === abi.KVM_EXIT.DEBUG && vcpu.run.readUInt32LE(abi.kvm_run.debug_exception) === 3) return 'debug-exit';
    if (reason === abi.KVM_EXIT.INTERNAL_ERROR) return 'emulation-failure';
    // The guest's handler ran (an I/O exit on the probe port), or something unforeseen: either
    // way a planted byte is not safe.
    return 'guest';
  } finally {
    vcpu?.destroy();
    sys.close(vmFd);
    sys.munmap(low.addr, PAGE);
    sys.munmap(high.addr, PAGE);
  }
}
