// The state at a triple fault where KVM does not keep it. On SVM, shutdown_interception clears
// the VMCB and re-INITs the vCPU, so after KVM_EXIT_SHUTDOWN the registers are the reset state.
// The machine took a checkpoint before the KVM_RUN that shut down (checkpoint.ts); from it the
// guest is replayed by single steps until the step that shuts down, then replayed again to just
// before that step, so that registers and memory are those at the faulting instruction.
//
// Why a replay from the last exit is faithful: between two exits the guest touched no device
// (every port and MMIO access exits), so the replay asks no device anything: the exit the KVM_RUN
// began by completing (an IN, an MMIO read) is answered from the checkpoint, and any other exit
// means the replay went elsewhere. What can differ is asynchronous: an interrupt from the
// in-kernel LAPIC, PIC or IOAPIC, or a timer read (RDTSC, kvmclock), arrives without an exit.
// The replay holds interrupts off (KVM_GUESTDBG_BLOCKIRQ, where the host has it; the INIT has
// reset the LAPIC anyway), so it reproduces a run that took no interrupt between its last exit
// and the fault, exactly. A run that took one diverges: it then meets an exit, runs out of
// steps or time, or the second pass does not arrive at the state of the first. Each is reported
// as such, with the checkpoint's state (the last exit's) as the best one known.
// One exception to holding interrupts off: in the test VM (kvm_amd nested under QEMU), a step
// with BLOCKIRQ while the PIC has an interrupt pending and RFLAGS.IF is clear never completes
// (KVM_RUN runs on without an exit; measured: no step in 5 s, where the same step without
// BLOCKIRQ takes microseconds). A step that has made no progress over two slice-timer ticks is
// therefore taken again without BLOCKIRQ; with IF clear nothing can be delivered anyway, and
// with IF set an interrupt taken shows up as a divergence in the second pass.
import * as abi from './kvm/abi.js';
import { EINTR, SysError } from './kvm/sys.js';
import { VCPU_EVENTS_AT, VCPU_STATE_BYTES, type Vcpu } from './vcpu.js';
import type { Checkpoint } from './checkpoint.js';

export interface ReplayLimits {
  /** Single steps at most, per pass. */
  maxSteps: number;
  /** Milliseconds at most, both passes together: the adapter waits meanwhile. */
  maxMs: number;
  /** KVM_GUESTDBG_BLOCKIRQ is available. */
  holdInterrupts: boolean;
  /** A pause asked for: the replay gives up rather than keep the user waiting. */
  pauseAsked: () => boolean;
}

export type ReplayResult = { ok: true; steps: number } | { ok: false; why: string };

/** Puts `cp` back on `v` and replays to the faulting instruction; on failure, leaves `cp`'s state. */
export function replayToShutdown(v: Vcpu, cp: Checkpoint, limits: ReplayLimits): ReplayResult {
  cp.rollBack(v);
  // A single step shut down: the state before it is the faulting instruction's.
  if (!cp.withMemory) return { ok: true, steps: 0 };
  const deadline = performance.now() + limits.maxMs;
  const atFault = Buffer.alloc(VCPU_STATE_BYTES);
  const first = advance(v, cp, limits.maxSteps, deadline, limits, atFault);
  if (first.kind !== 'shutdown') {
    cp.rollBack(v);
    return { ok: false, why: first.kind === 'failed' ? first.why : `no shutdown within ${limits.maxSteps} instructions` };
  }
  // The shutdown wrote what it wrote (exception frames, say) before it reset the vCPU: go again,
  // to the step before, for memory as it was then; arriving at the same state checks the replay.
  cp.rollBack(v);
  const second = advance(v, cp, first.steps, deadline, limits);
  const now = Buffer.alloc(VCPU_STATE_BYTES);
  if (second.kind === 'done') v.captureState(now);
  // Registers and special registers; the events may differ in what waits to be injected.
  if (second.kind !== 'done' || !now.subarray(0, VCPU_EVENTS_AT).equals(atFault.subarray(0, VCPU_EVENTS_AT))) {
    cp.rollBack(v);
    return { ok: false, why: second.kind === 'failed' ? second.why : `a second replay did not arrive at the same state (${second.kind === 'done' ? 'the registers differ' : 'it shut down earlier'}): the run was not reproducible` };
  }
  return { ok: true, steps: first.steps };
}

type Advance = { kind: 'shutdown'; steps: number } | { kind: 'done' } | { kind: 'failed'; why: string };

/**
 * Single-steps `v` up to `count` times: 'done' after them, 'shutdown' with the steps completed
 * before the one that shut down (`before` then holds the state before that one).
 */
function advance(v: Vcpu, cp: Checkpoint, count: number, deadline: number, limits: ReplayLimits, before?: Buffer): Advance {
  const run = v.run;
  const control = abi.KVM_GUESTDBG_ENABLE | abi.KVM_GUESTDBG_SINGLESTEP;
  const held = control | (limits.holdInterrupts ? abi.KVM_GUESTDBG_BLOCKIRQ : 0);
  v.setGuestDebug(held, NO_DEBUGREGS);
  let steps = 0;
  let resumed = false;
  /** Slice-timer ticks since the last exit: two, and the step goes on without BLOCKIRQ. */
  let ticks = 0;
  while (steps < count) {
    if (before && ticks === 0) v.captureState(before);
    const rc = v.enter();
    if (rc < 0) {
      if (rc !== -EINTR) throw new SysError('KVM_RUN', -rc);
      run[abi.kvm_run.immediate_exit] = 0;
      if (limits.pauseAsked()) return { kind: 'failed', why: `a pause was asked for after ${steps} instructions of replay` };
      if (performance.now() > deadline) return { kind: 'failed', why: `no shutdown within ${limits.maxMs} ms of replay (${steps} instructions)` };
      if (++ticks === 2 && held !== control) v.setGuestDebug(control, NO_DEBUGREGS);
      continue;
    }
    if (ticks >= 2 && held !== control) v.setGuestDebug(held, NO_DEBUGREGS);
    ticks = 0;
    const reason = run.readUInt32LE(abi.kvm_run.exit_reason);
    if (reason === abi.KVM_EXIT.DEBUG) {
      steps++;
      if ((steps & 63) === 0 && performance.now() > deadline) {
        return { kind: 'failed', why: `no shutdown within ${limits.maxMs} ms of replay (${steps} instructions)` };
      }
      continue;
    }
    if (reason === abi.KVM_EXIT.SHUTDOWN) return { kind: 'shutdown', steps };
    // The exit the checkpoint's KVM_RUN began by completing comes first, once: answer it as then.
    if (!resumed && steps === 0 && answerAsAtCheckpoint(run, cp)) {
      resumed = true;
      continue;
    }
    return { kind: 'failed', why: `the replay met a ${exitName(reason)} exit after ${steps} instructions, which the run had not met` };
  }
  return { kind: 'done' };
}

/** Whether the exit in `run` is the one the checkpoint was taken at; if so, answers it the same way. */
function answerAsAtCheckpoint(run: Buffer, cp: Checkpoint): boolean {
  const was = cp.exit;
  const reason = run.readUInt32LE(abi.kvm_run.exit_reason);
  if (reason !== was.readUInt32LE(abi.kvm_run.exit_reason)) return false;
  const o = abi.kvm_run;
  if (reason === abi.KVM_EXIT.IO) {
    // direction, size, port and count: the 8 bytes from io_direction
    if (!run.subarray(o.io_direction, o.io_data_offset).equals(was.subarray(o.io_direction, o.io_data_offset))) return false;
    if (run[o.io_direction] === abi.KVM_EXIT_IO_IN) cp.pioData.copy(run, Number(run.readBigUInt64LE(o.io_data_offset)));
    return true;
  }
  if (reason === abi.KVM_EXIT.MMIO) {
    const same = run.readBigUInt64LE(o.mmio_phys_addr) === was.readBigUInt64LE(o.mmio_phys_addr) &&
      run.readUInt32LE(o.mmio_len) === was.readUInt32LE(o.mmio_len) && run[o.mmio_is_write] === was[o.mmio_is_write];
    if (!same) return false;
    if (!run[o.mmio_is_write]) was.copy(run, o.mmio_data, o.mmio_data, o.mmio_data + 8);
    return true;
  }
  return false;
}

function exitName(reason: number): string {
  const name = Object.entries(abi.KVM_EXIT).find(([, v]) => v === reason)?.[0];
  return name ? `KVM_EXIT_${name}` : `reason ${reason}`;
}

const NO_DEBUGREGS: readonly bigint[] = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];
