// What it takes to bring back the machine as it was before its last KVM_RUN: where KVM
// re-initializes a vCPU at a triple fault (SVM), shutdown-replay.ts puts a checkpoint back and
// replays the guest to the faulting instruction. A checkpoint is a base plus an exit log:
// - the base, taken when a run or step begins, every few time slices, and wherever the monitor
//   changed the vCPU or wrote guest memory itself: the vCPU's registers, special registers and
//   events (copied out of kvm_run, where KVM syncs them: Vcpu.keepStateSynced), and guest
//   memory as a shadow copy brought up to date with only the pages written since the previous
//   base (KVM's dirty log plus the monitor's own writes). Before a single step the memory part is
//   skipped: a step that shuts down needs no replay (its state before is the fault's), and the
//   pages it dirtied are picked up by the next base with memory;
// - the log: each I/O or MMIO exit since the base, as the monitor answered it (the exit fields,
//   RIP, an IN's data), so that a replay meets the same exits and answers them alike without
//   asking a device again. A few bytes copied per exit: the normal path pays that, and one
//   KVM_GET_DIRTY_LOG per time slice.
// Not kept: the FPU/SSE/AVX state (an INIT leaves it, MPX aside, so a replay starts from the
// values at the fault), MSRs outside the special registers, and the local APIC (an INIT resets
// them; the replay then takes no LAPIC interrupt).
import * as abi from './kvm/abi.js';
import type { GuestMemory } from './memory.js';
import { VCPU_STATE_BYTES, type Vcpu } from './vcpu.js';
import { GPR } from '../x86/registers.js';

const PAGE = 4096;
/** A log entry: kvm_run from exit_reason to the end of the io/mmio union, then RIP. */
const EXIT_FROM = abi.kvm_run.exit_reason, EXIT_TO = abi.kvm_run.mmio_is_write + 4;
const ENTRY = { exit: 0, rip: EXIT_TO - EXIT_FROM, size: EXIT_TO - EXIT_FROM + 8 } as const;
/** A log this long is closed by a new base: its memory stays bounded (under 4 MiB). */
const MAX_EXITS = 65536;

export class Checkpoint {
  /** The vCPU it was taken for (-1: none yet). */
  vcpu = -1;
  /** Whether memory is part of the base (before a run), or only the vCPU (before a single step). */
  withMemory = false;
  /** The vCPU as captureState() lays it out. */
  readonly state = Buffer.alloc(VCPU_STATE_BYTES);
  /** The exits since the base: `exits` entries of ENTRY.size bytes. */
  private log: Buffer = Buffer.alloc(64 * ENTRY.size);
  exits = 0;
  /** The data of the INs among them, one after the other. */
  private inData: Buffer = Buffer.alloc(4096);
  private inBytes = 0;
  private seenWrites = -1;
  /** Guest RAM, region by region, as it was at the last base with memory. */
  private readonly shadow: Buffer[];
  private readonly save = (gpa: number) => this.copyPage(gpa, true);
  private readonly restore = (gpa: number) => this.copyPage(gpa, false);

  constructor(private readonly memory: GuestMemory) {
    memory.logDirtyPages();
    // Dirty bits count from here: the shadow starts as a whole copy.
    memory.takeDirtyPages(() => {});
    this.shadow = memory.regions.map((r) => Buffer.from(r.buf));
  }

  /** Before vCPU `v` enters KVM_RUN to begin a run (`withMemory`) or a single step. */
  base(v: Vcpu, withMemory: boolean): void {
    if (withMemory) this.memory.takeDirtyPages(this.save);
    this.withMemory = withMemory;
    this.vcpu = v.id;
    this.seenWrites = v.stateWrites;
    this.exits = 0;
    this.inBytes = 0;
    v.captureState(this.state);
    // An exit that this KVM_RUN completes first (RIP is still on its instruction): logged, so
    // that the replay answers it too.
    const reason = v.run.readUInt32LE(abi.kvm_run.exit_reason);
    if (reason === abi.KVM_EXIT.IO || reason === abi.KVM_EXIT.MMIO) this.append(v);
  }

  /**
   * Before `v` re-enters KVM_RUN within a run: the exit just handled joins the log, or where the
   * monitor did more than answer it (changed the vCPU, wrote memory, another kind of exit), a
   * new base is taken.
   */
  reenter(v: Vcpu): void {
    const run = v.run;
    const reason = run.readUInt32LE(abi.kvm_run.exit_reason);
    const answered = reason === abi.KVM_EXIT.IO || reason === abi.KVM_EXIT.MMIO || reason === abi.KVM_EXIT.INTR;
    if (!answered || v.id !== this.vcpu || v.stateWrites !== this.seenWrites || this.memory.monitorWrote || !this.withMemory ||
      this.exits >= MAX_EXITS) {
      this.base(v, true);
      return;
    }
    // The slice timer's EINTR needs no answer.
    if (reason !== abi.KVM_EXIT.INTR) this.append(v);
  }

  /** The I/O or MMIO exit in `v`'s kvm_run, as the monitor answered it, joins the log. */
  private append(v: Vcpu): void {
    const run = v.run;
    if ((this.exits + 1) * ENTRY.size > this.log.length) this.log = grow(this.log, this.log.length * 2);
    const at = this.exits++ * ENTRY.size;
    run.copy(this.log, at + ENTRY.exit, EXIT_FROM, EXIT_TO);
    this.log.writeBigUInt64LE(v.loadRegs()[GPR.rip], at + ENTRY.rip);
    if (run.readUInt32LE(abi.kvm_run.exit_reason) === abi.KVM_EXIT.IO && run[abi.kvm_run.io_direction] === abi.KVM_EXIT_IO_IN) {
      const off = Number(run.readBigUInt64LE(abi.kvm_run.io_data_offset));
      const len = run[abi.kvm_run.io_size] * run.readUInt32LE(abi.kvm_run.io_count);
      if (this.inBytes + len > this.inData.length) this.inData = grow(this.inData, Math.max(this.inData.length * 2, this.inBytes + len));
      run.copy(this.inData, this.inBytes, off, off + len);
      this.inBytes += len;
    }
  }

  /**
   * Whether the exit now in `v`'s kvm_run is the log's entry `i` (same kind, port or address,
   * size, direction, written data, RIP); if so, answers it as the monitor did. `inAt` is where
   * entry i's IN data begins; returns where the next begins, or -1 when it is not the same exit.
   */
  answer(v: Vcpu, i: number, inAt: number): number {
    const run = v.run, was = this.log, at = i * ENTRY.size, o = abi.kvm_run;
    const field = (off: number, len: number) => run.subarray(off, off + len).equals(was.subarray(at + off - EXIT_FROM, at + off - EXIT_FROM + len));
    if (!field(o.exit_reason, 4) || v.loadRegs()[GPR.rip] !== was.readBigUInt64LE(at + ENTRY.rip)) return -1;
    if (run.readUInt32LE(o.exit_reason) === abi.KVM_EXIT.IO) {
      // direction, size, port, count
      if (!field(o.io_direction, o.io_data_offset - o.io_direction)) return -1;
      if (run[o.io_direction] !== abi.KVM_EXIT_IO_IN) return inAt;
      const len = run[o.io_size] * run.readUInt32LE(o.io_count);
      this.inData.copy(run, Number(run.readBigUInt64LE(o.io_data_offset)), inAt, inAt + len);
      return inAt + len;
    }
    if (!field(o.mmio_phys_addr, 8) || !field(o.mmio_len, 4) || !field(o.mmio_is_write, 1)) return -1;
    if (run[o.mmio_is_write]) return field(o.mmio_data, 8) ? inAt : -1;
    was.copy(run, o.mmio_data, at + o.mmio_data - EXIT_FROM, at + o.mmio_data - EXIT_FROM + 8);
    return inAt;
  }

  /**
   * Puts the base back: the pages written since (by the guest or the monitor) get their contents
   * of then, where memory is part of it, and `v` its registers and events.
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

function grow(b: Buffer, size: number): Buffer {
  const n = Buffer.alloc(size);
  b.copy(n);
  return n;
}
