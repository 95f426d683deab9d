// The moment a 64-bit Linux kernel starts running at its own virtual addresses, which KASLR
// moves: the debugger needs it to move a vmlinux's symbols before start_kernel runs, and nothing
// else exits to the monitor in between. Its head code (arch/x86/kernel/head_64.S) loads the
// GS base with `wrmsr` twice: first in startup_64 at its physical address, then, once it runs
// from the kernel's own page tables, in secondary_startup_64 (common_startup_64 in later
// kernels) at its virtual address, before x86_64_start_kernel. With that MSR's writes trapped
// (Vm.trapMsrWrites), the second write is a stop whose RIP, against where the symbols put that
// code, is the slide. A trapped write is the monitor's to do: KVM leaves the MSR unchanged.
import type { Vm } from './vm.js';
import type { Vcpu } from './vcpu.js';
import type { Stop } from './debug/stops.js';
import { GPR } from '../x86/registers.js';

export const MSR_GS_BASE = 0xc0000101;

/** Linear addresses from here up are the kernel half of a 64-bit address space. */
const KERNEL_HALF = 0xffff800000000000n;

export class KernelEntryWatch {
  private armed = false;

  constructor(private readonly vm: Vm) {}

  /** Traps the GS base's writes until the kernel's virtual one; false where the host can't. */
  arm(): boolean {
    this.armed = this.vm.trapMsrWrites([MSR_GS_BASE]);
    return this.armed;
  }

  /**
   * A trapped MSR write (KVM_EXIT_X86_WRMSR, RIP still at the `wrmsr`): does it, and returns the
   * kernel-entry stop where it is the kernel's at its virtual address, trapping nothing more.
   */
  onWrite(v: Vcpu, index: number, data: bigint): Stop | undefined {
    v.setMsrs(new Map([[index, data]]));
    const rip = v.loadRegs()[GPR.rip];
    if (!this.armed || index !== MSR_GS_BASE || rip < KERNEL_HALF) return undefined;
    this.armed = false;
    this.vm.trapMsrWrites([]);
    return { kind: 'kernel-entry', vcpu: v.id, address: rip };
  }
}
