// What this host's KVM does with two things the monitor relies on, asked once per process of a
// scratch VM, because the answers are properties of the host, not of the guest, and asked in
// real mode and in long mode, because hosts differ by mode.
//
// Does a guest's int3 reach the monitor?
//   - hardware VMX/SVM: KVM intercepts #BP and reports a debug exit (exception 3), in any mode;
//   - kvm_pvm: its CPL0 emulator fails on int3 and reports an emulation failure, in any mode;
//     except with its pvm_native parameter set (a 6.18 build has it), whose real mode sends the
//     int3 to the guest's IVT, while long mode still reports the failure;
//   - KVM on QEMU's emulated SVM (a nested test VM): QEMU checks INT3 against the software-
//     interrupt intercept, not KVM's #BP exception intercept, so the int3 goes straight to the
//     guest's own handler and KVM never sees it, in any mode.
// Where it does not reach us, a planted 0xCC would run in the guest as its own #BP, so software
// breakpoints must be placed some other way (machine.ts: debug registers, then page traps).
//
// Does RFLAGS.RF, set by the monitor, keep the monitor's own instruction breakpoint (a debug
// register) from firing on the first instruction run? The CPU honours it (hardware VMX/SVM, and
// QEMU's emulated SVM); KVM's instruction emulator, which runs all CPL0 code on kvm_pvm, checks
// the debugger's breakpoints without looking at it. Where it is honoured, continuing from a
// breakpoint is one KVM_RUN; elsewhere the breakpoint is lifted for a single step first.
//
// Real mode starts from the reset state (CS base 0xffff0000, RIP 0xfff0), SP moved into RAM:
// 0xfffffff0 holds `int3; hlt`, and IVT entry 3 points at 0000:0100. Long mode, on a second
// vCPU, runs `int3; hlt` at 0x200 with identity paging of the low 2 MiB, and IDT entry 3 points
// at 0x100 too. There, `out 0x80, al; hlt` decodes the same in both modes. The RF probe runs two
// more vCPUs, one per mode, at `out 0x81, al; hlt` at 0x210, under a debug register.
// There is no in-kernel irqchip, so hlt exits to us too: every outcome ends KVM_RUN at once.
import * as sys from './kvm/sys.js';
import * as abi from './kvm/abi.js';
import { NO_DEBUGREGS, Vcpu } from './vcpu.js';
import { debugExitPc } from './exits.js';
import { BreakpointTable } from './debug/breakpoints.js';
import { setMemorySlot } from './memory.js';
import { supportedCpuid, cpuidForVcpu } from './arch/cpuid.js';
import { gdtBytes, segmentFor, realModeSegment, GDT_SELECTOR } from './arch/gdt.js';
import { CR0_PE, CR0_ET, CR0_NE, CR0_PG, CR4_PAE, EFER_LME } from './arch/entry-state.js';
import { EFER_LMA, GPR } from '../x86/registers.js';
import { PTE_PRESENT as P, PTE_WRITABLE as RW, PTE_LARGE as PS } from '../x86/pagewalk.js';

export type Int3Delivery = 'debug-exit' | 'emulation-failure' | 'guest';
/** The probe's answers, by the mode the guest's int3 ran in. */
export interface Int3Deliveries {
  real: Int3Delivery;
  long: Int3Delivery;
}

export interface HostProbe {
  int3: Int3Deliveries;
  /** RFLAGS.RF skips the monitor's instruction breakpoint for one instruction, in both modes. */
  resumeFlag: boolean;
}

const PAGE = 4096;
const HIGH_PAGE = 0xfffff000;
const PROBE_PORT = 0x80, RF_PORT = 0x81;
/** The low pages: IVT and handler, long-mode code, IDT and GDT in the first; PML4, PDPT, PD. */
const LOW_SIZE = 4 * PAGE;
const HANDLER = 0x100, LONG_CODE = 0x200, RF_CODE = 0x210, IDT = 0x400, GDT = 0x500, STACK_TOP = 0x1000;
const PML4 = 0x1000, PDPT = 0x2000, PD = 0x3000;

/** `sync`: the KVM_SYNC_X86 sets the host syncs, so that RF is set the way the machine sets it. */
export function probeHost(kvmFd: number, vcpuMmapSize: number, sync: number): HostProbe {
  const vmFd = sys.ioctlInt(kvmFd, abi.KVM_CREATE_VM, 0, 'KVM_CREATE_VM');
  const low = sys.mmap(LOW_SIZE, sys.PROT_READ | sys.PROT_WRITE, sys.MAP_PRIVATE | sys.MAP_ANONYMOUS, -1, 'probe memory');
  const high = sys.mmap(PAGE, sys.PROT_READ | sys.PROT_WRITE, sys.MAP_PRIVATE | sys.MAP_ANONYMOUS, -1, 'probe memory');
  const vcpus: Vcpu[] = [];
  try {
    layOut(low.buf, high.buf);
    setMemorySlot(vmFd, 0, 0, LOW_SIZE, low.addr);
    setMemorySlot(vmFd, 1, HIGH_PAGE, PAGE, high.addr);
    // Real mode on VMX without unrestricted guest needs the TSS pages; harmless elsewhere.
    sys.ioctlInt(vmFd, abi.KVM_SET_TSS_ADDR, 0xfffbd000, 'KVM_SET_TSS_ADDR');
    const vcpu = (id: number) => {
      const v = new Vcpu(id, sys.ioctlInt(vmFd, abi.KVM_CREATE_VCPU, id, 'KVM_CREATE_VCPU'), vcpuMmapSize, sync);
      vcpus.push(v);
      return v;
    };
    const realVcpu = (id: number) => {
      const v = vcpu(id);
      v.setRegs({ rsp: BigInt(STACK_TOP) }); // SS:SP for the #BP frame: 0000:1000, in RAM
      return v;
    };
    const longVcpu = (id: number, rip: number) => {
      const v = vcpu(id);
      // KVM takes EFER.LME only from a vCPU whose CPUID offers long mode.
      v.setCpuid(cpuidForVcpu(supportedCpuid(kvmFd), id, 4));
      const data = segmentFor(GDT_SELECTOR.data);
      v.setSregs({
        cs: segmentFor(GDT_SELECTOR.code64), ds: data, es: data, fs: data, gs: data, ss: data,
        gdt: { base: BigInt(GDT), limit: gdtBytes().length - 1 }, idt: { base: BigInt(IDT), limit: 4 * 16 - 1 },
        cr0: CR0_PE | CR0_ET | CR0_NE | CR0_PG, cr3: BigInt(PML4), cr4: CR4_PAE, efer: EFER_LME | EFER_LMA,
      });
      v.setRegs({ rip: BigInt(rip), rsp: BigInt(STACK_TOP), rflags: 2n });
      return v;
    };
    const int3 = { real: probeInt3(realVcpu(0)), long: probeInt3(longVcpu(1, LONG_CODE)) };
    // Real mode at 0000:0210: a breakpoint at 0xffffffe0, under the reset CS, crashes QEMU 10's
    // emulated SVM (a nested test VM) as RF passes over it.
    const real = realVcpu(2);
    real.setSregs({ cs: realModeSegment(0, true) });
    real.setRegs({ rip: BigInt(RF_CODE) });
    const resumeFlag = probeResumeFlag(real, RF_CODE) && probeResumeFlag(longVcpu(3, RF_CODE), RF_CODE);
    return { int3, resumeFlag };
  } finally {
    for (const v of vcpus) v.destroy();
    sys.close(vmFd);
    sys.munmap(low.addr, LOW_SIZE);
    sys.munmap(high.addr, PAGE);
  }
}

function layOut(low: Buffer, high: Buffer): void {
  low.writeUInt32LE(HANDLER, 3 * 4); // IVT[3] = 0000:0100
  low.set([0xe6, PROBE_PORT, 0xf4], HANDLER); // out 0x80, al; hlt
  high.set([0xcc, 0xf4], 0xff0); // int3; hlt
  low.set([0xcc, 0xf4], LONG_CODE);
  low.set([0xe6, RF_PORT, 0xf4], RF_CODE); // out 0x81, al; hlt
  // IDT[3]: a present DPL-0 64-bit interrupt gate to 0x100 through the 64-bit code selector.
  low.writeUInt16LE(HANDLER, IDT + 3 * 16);
  low.writeUInt16LE(GDT_SELECTOR.code64, IDT + 3 * 16 + 2);
  low[IDT + 3 * 16 + 5] = 0x8e;
  gdtBytes().copy(low, GDT);
  low.writeBigUInt64LE(BigInt(PDPT) | P | RW, PML4);
  low.writeBigUInt64LE(BigInt(PD) | P | RW, PDPT);
  low.writeBigUInt64LE(P | RW | PS, PD); // 0-2 MiB
}

function probeInt3(vcpu: Vcpu): Int3Delivery {
  vcpu.setGuestDebug(abi.KVM_GUESTDBG_ENABLE | abi.KVM_GUESTDBG_USE_SW_BP, NO_DEBUGREGS);
  enter(vcpu, 'int3');
  const reason = vcpu.exitReason;
  if (reason === abi.KVM_EXIT.DEBUG && vcpu.run.readUInt32LE(abi.kvm_run.debug_exception) === 3) return 'debug-exit';
  if (reason === abi.KVM_EXIT.INTERNAL_ERROR) return 'emulation-failure';
  // The guest's handler ran (an I/O exit on the probe port), or something unforeseen: either
  // way a planted byte is not safe.
  return 'guest';
}

/**
 * An execute breakpoint in DR0 on `out 0x81, al` at `linear`: the first KVM_RUN must stop on it;
 * the second, with RF set, must run the out (an I/O exit on port 0x81, RIP still on it).
 */
function probeResumeFlag(vcpu: Vcpu, linear: number): boolean {
  // DR0-DR7 as the machine arranges them for one execute breakpoint.
  const breakpoint = new BreakpointTable();
  breakpoint.addHardware(BigInt(linear), 'execute');
  vcpu.setGuestDebug(abi.KVM_GUESTDBG_ENABLE | abi.KVM_GUESTDBG_USE_HW_BP, breakpoint.debugRegisters());
  enter(vcpu, 'RF');
  if (vcpu.exitReason !== abi.KVM_EXIT.DEBUG || debugExitPc(vcpu.run) !== BigInt(linear)) return false;
  const ip = vcpu.loadRegs()[GPR.rip];
  vcpu.setResumeFlag();
  enter(vcpu, 'RF');
  const reason: number = vcpu.exitReason; // (the narrowing of the first exit's reason no longer holds)
  return reason === abi.KVM_EXIT.IO && vcpu.run.readUInt16LE(abi.kvm_run.io_port) === RF_PORT &&
    vcpu.loadRegs()[GPR.rip] === ip;
}

/** KVM_RUN once: a signal (a profiler's SIGPROF, say) may end it before the guest ran, so again. */
function enter(vcpu: Vcpu, probe: string): void {
  let rc: number;
  do rc = vcpu.enter();
  while (rc === -sys.EINTR);
  if (rc < 0) throw new sys.SysError(`KVM_RUN (${probe} probe)`, -rc);
}
