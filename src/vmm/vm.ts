// One KVM virtual machine: its fd, memory slots, interrupt controllers and vCPUs.
import * as sys from './kvm/sys.js';
import * as abi from './kvm/abi.js';
import { picState, type PicState } from './pic.js';
import { GuestMemory, formatSize } from './memory.js';
import { Vcpu } from './vcpu.js';
import { openKvm, type HostInfo } from './host.js';
import { GuestError } from '../errors.js';
import { KVM_TSS_ADDR, KVM_IDENTITY_MAP_ADDR } from './layout.js';
import { supportedCpuid, cpuidForVcpu } from './arch/cpuid.js';

export class Vm {
  readonly kvmFd: number;
  readonly fd: number;
  readonly host: HostInfo;
  readonly memory: GuestMemory;
  readonly vcpus: Vcpu[] = [];
  private destroyed = false;
  /** Whether KVM_CAP_X86_USER_SPACE_MSR is on (trapMsrWrites). */
  private msrExitsOn = false;

  /**
   * `memory`: a size to map, or RAM already mapped (and loaded: plan.ts), which the VM then owns
   * and unmaps at destroy, or at once when the VM can't be made.
   */
  constructor(memory: number | GuestMemory, vcpuCount: number, device = '/dev/kvm') {
    const memorySize = typeof memory === 'number' ? memory : memory.size;
    let opened: ReturnType<typeof openKvm>;
    try {
      opened = openKvm(device);
    } catch (e) {
      if (typeof memory !== 'number') memory.destroy();
      throw e;
    }
    const { fd: kvmFd, info } = opened;
    this.kvmFd = kvmFd;
    this.host = info;
    if (vcpuCount < 1 || vcpuCount > info.maxVcpus) {
      sys.close(kvmFd);
      if (typeof memory !== 'number') memory.destroy();
      throw new GuestError(`--smp ${vcpuCount} is out of range: this host allows 1 to ${info.maxVcpus} vCPUs`);
    }
    let vmFd = -1;
    let ram = typeof memory === 'number' ? undefined : memory;
    try {
      vmFd = sys.ioctlInt(kvmFd, abi.KVM_CREATE_VM, 0, 'KVM_CREATE_VM');
      sys.ioctlInt(vmFd, abi.KVM_SET_TSS_ADDR, KVM_TSS_ADDR, 'KVM_SET_TSS_ADDR');
      const idmap = Buffer.alloc(8);
      idmap.writeBigUInt64LE(BigInt(KVM_IDENTITY_MAP_ADDR));
      sys.ioctlPtr(vmFd, abi.KVM_SET_IDENTITY_MAP_ADDR, idmap, 'KVM_SET_IDENTITY_MAP_ADDR');
      // The in-kernel PIC, IOAPIC and LAPICs (and a PIT): SMP start-up (INIT/SIPI) and timer
      // interrupts work as on a PC without the monitor emulating them.
      sys.ioctlInt(vmFd, abi.KVM_CREATE_IRQCHIP, 0, 'KVM_CREATE_IRQCHIP');
      sys.ioctlPtr(vmFd, abi.KVM_CREATE_PIT2, Buffer.alloc(abi.kvm_pit_config.size), 'KVM_CREATE_PIT2');
      ram ??= new GuestMemory(memorySize);
      ram.attach(vmFd);
      const cpuid = supportedCpuid(kvmFd);
      for (let i = 0; i < vcpuCount; i++) {
        const cpuFd = sys.ioctlInt(vmFd, abi.KVM_CREATE_VCPU, i, 'KVM_CREATE_VCPU');
        const vcpu = new Vcpu(i, cpuFd, info.vcpuMmapSize, info.syncRegs);
        this.vcpus.push(vcpu);
        vcpu.setCpuid(cpuidForVcpu(cpuid, i, vcpuCount));
      }
    } catch (e) {
      for (const v of this.vcpus) v.destroy();
      ram?.destroy();
      if (vmFd >= 0) sys.close(vmFd);
      sys.close(kvmFd);
      if (e instanceof sys.SysError && e.errno === 12) {
        throw new GuestError(`not enough host memory for a ${formatSize(memorySize)} guest (${e.message})`);
      }
      throw e;
    }
    this.fd = vmFd;
    this.memory = ram;
  }

  /** Drives an interrupt line of the in-kernel PIC/IOAPIC. */
  setIrqLine(irq: number, level: boolean): void {
    const b = Buffer.alloc(abi.kvm_irq_level.size);
    b.writeUInt32LE(irq, abi.kvm_irq_level.irq);
    b.writeUInt32LE(level ? 1 : 0, abi.kvm_irq_level.level);
    sys.ioctlPtr(this.fd, abi.KVM_IRQ_LINE, b, 'KVM_IRQ_LINE');
  }

  /** The in-kernel PIC `chip` (abi.KVM_IRQCHIP_PIC_MASTER or _SLAVE) as KVM_GET_IRQCHIP reads it. */
  pic(chip: number): PicState {
    const b = Buffer.alloc(abi.kvm_irqchip.size);
    b.writeUInt32LE(chip, abi.kvm_irqchip.chip_id);
    sys.ioctlPtr(this.fd, abi.KVM_GET_IRQCHIP, b, 'KVM_GET_IRQCHIP');
    return picState(b);
  }

  /**
   * Makes the guest's writes to these MSRs exit to the monitor (KVM_EXIT_X86_WRMSR) instead of
   * taking effect: the monitor then does the write. An empty list lets every write through again.
   * False, with nothing changed, where the host has no MSR filter (KVM before 5.10, or a KVM
   * that leaves it out).
   */
  trapMsrWrites(indices: number[]): boolean {
    const check = (cap: number) => sys.ioctlRaw(this.fd, abi.KVM_CHECK_EXTENSION, cap);
    if (!this.msrExitsOn) {
      // Both answer 1 where they exist; KVM_ENABLE_CAP refuses an exit reason it lacks.
      if (check(abi.KVM_CAP.X86_USER_SPACE_MSR) <= 0 || check(abi.KVM_CAP.X86_MSR_FILTER) <= 0) return false;
      const cap = Buffer.alloc(abi.kvm_enable_cap.size);
      cap.writeUInt32LE(abi.KVM_CAP.X86_USER_SPACE_MSR, abi.kvm_enable_cap.cap);
      cap.writeBigUInt64LE(BigInt(abi.KVM_MSR_EXIT_REASON_FILTER), abi.kvm_enable_cap.args);
      try {
        sys.ioctlPtr(this.fd, abi.KVM_ENABLE_CAP, cap, 'KVM_ENABLE_CAP');
      } catch {
        return false;
      }
      this.msrExitsOn = true;
    }
    if (indices.length > abi.KVM_MSR_FILTER_MAX_RANGES) throw new Error(`at most ${abi.KVM_MSR_FILTER_MAX_RANGES} MSRs can be trapped`);
    // One range per MSR, each with a one-byte bitmap of 0: denied, so it exits to the monitor.
    // KVM copies the bitmaps during the call.
    const filter = Buffer.alloc(abi.kvm_msr_filter.size);
    const denied = Buffer.alloc(1);
    filter.writeUInt32LE(abi.KVM_MSR_FILTER_DEFAULT_ALLOW, abi.kvm_msr_filter.flags);
    indices.forEach((index, i) => {
      const r = abi.kvm_msr_filter.ranges + i * abi.kvm_msr_filter_range.size;
      filter.writeUInt32LE(abi.KVM_MSR_FILTER_WRITE, r + abi.kvm_msr_filter_range.flags);
      filter.writeUInt32LE(1, r + abi.kvm_msr_filter_range.nmsrs);
      filter.writeUInt32LE(index, r + abi.kvm_msr_filter_range.base);
      filter.writeBigUInt64LE(sys.bufferAddress(denied), r + abi.kvm_msr_filter_range.bitmap);
    });
    sys.ioctlPtr(this.fd, abi.KVM_X86_SET_MSR_FILTER, filter, 'KVM_X86_SET_MSR_FILTER');
    return true;
  }

  /** Closes every fd and unmaps every mapping of this VM. Safe to call twice. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const v of this.vcpus) v.destroy();
    this.vcpus.length = 0;
    sys.close(this.fd);
    this.memory.destroy();
    sys.close(this.kvmFd);
  }
}
