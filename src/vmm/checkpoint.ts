// The state of the machine before its last KVM_RUN, kept so that it can be put back: where KVM
// re-initializes a vCPU at a triple fault (SVM), shutdown-replay.ts puts it back and replays the
// guest to the faulting instruction. Taken before every KVM_RUN while enabled:
// - the vCPU's general and special registers and events: a copy out of kvm_run, where KVM
//   syncs them at every exit (Vcpu.keepStateSynced);
// - the exit KVM_RUN is about to complete (an IN's data, an MMIO read's), so that a replay can
//   complete it alike without asking a device again;
// - guest memory as a shadow copy, brought up to date with only the pages written since the
//   previous checkpoint (KVM's dirty log plus the monitor's own writes). Before a single step
//   the memory part is skipped: a step that shuts down needs no replay (its state before is the
//   fault's), and the pages it dirtied are picked up at the next full checkpoint.
// Not kept: the FPU/SSE/AVX state (an INIT leaves it, MPX aside, so a replay starts from the
// values at the fault), MSRs outside the special registers and the local APIC (an INIT resets
// them); a replay holds interrupts off, so the APIC is not consulted.
import * as abi from './kvm/abi.js';
import type { GuestMemory } from './memory.js';
import { VCPU_STATE_BYTES, type Vcpu } from './vcpu.js';

const PAGE = 4096;
/** kvm_run up to kvm_valid_regs: the exit reason and its union. */
const EXIT_BYTES = abi.kvm_run.kvm_valid_regs;

export class Checkpoint {
  /** The vCPU it was taken for (-1: none yet). */
  vcpu = -1;
  /** Whether memory is part of it (before a run), or only the vCPU (before a single step). */
  withMemory = false;
  /** The vCPU as captureState() lays it out. */
  readonly state = Buffer.alloc(VCPU_STATE_BYTES);
  /** kvm_run's exit fields as the KVM_RUN found them: an I/O or MMIO exit it completes first. */
  readonly exit = Buffer.alloc(EXIT_BYTES);
  /** An IN exit's data (size × count bytes from io.data_offset), as the monitor answered it. */
  pioData = Buffer.alloc(0);
  /** Guest RAM, region by region, as it was at the last checkpoint with memory. */
  private readonly shadow: Buffer[];
  private readonly save = (gpa: number) => this.copyPage(gpa, true);
  private readonly restore = (gpa: number) => this.copyPage(gpa, false);

  constructor(private readonly memory: GuestMemory) {
    memory.logDirtyPages();
    // Dirty bits count from here: the shadow starts as a whole copy.
    memory.takeDirtyPages(() => {});
    this.shadow = memory.regions.map((r) => Buffer.from(r.buf));
  }

  /** Before vCPU `v` enters KVM_RUN: `withMemory` before a run, not before a single step. */
  take(v: Vcpu, withMemory: boolean): void {
    if (withMemory) this.memory.takeDirtyPages(this.save);
    this.withMemory = withMemory;
    this.vcpu = v.id;
    v.captureState(this.state);
    const run = v.run;
    run.copy(this.exit, 0, 0, EXIT_BYTES);
    if (run.readUInt32LE(abi.kvm_run.exit_reason) === abi.KVM_EXIT.IO && run[abi.kvm_run.io_direction] === abi.KVM_EXIT_IO_IN) {
      const off = Number(run.readBigUInt64LE(abi.kvm_run.io_data_offset));
      const len = run[abi.kvm_run.io_size] * run.readUInt32LE(abi.kvm_run.io_count);
      if (this.pioData.length !== len) this.pioData = Buffer.alloc(len);
      run.copy(this.pioData, 0, off, off + len);
    }
  }

  /**
   * Puts the checkpoint back: the pages written since (by the guest or the monitor) get their
   * contents of then, where memory is part of it, and `v` its registers and events.
   */
  rollBack(v: Vcpu): void {
    if (this.withMemory) this.memory.takeDirtyPages(this.restore);
    v.restoreState(this.state);
  }

  private copyPage(gpa: number, save: boolean): void {
    const regions = this.memory.regions;
    for (let i = 0; i < regions.length; i++) {
      const off = gpa - regions[i].gpa;
      if (off < 0 || off >= regions[i].size) continue;
      const ram = regions[i].buf, copy = this.shadow[i];
      if (save) ram.copy(copy, off, off, off + PAGE);
      else copy.copy(ram, off, off, off + PAGE);
      return;
    }
  }
}
