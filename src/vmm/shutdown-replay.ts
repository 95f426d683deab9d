// The state at a triple fault where KVM does not keep it. On SVM, shutdown_interception clears
// the VMCB and re-INITs the vCPU, so after KVM_EXIT_SHUTDOWN the registers are the reset state.
// The machine kept a checkpoint (checkpoint.ts): a base before the KVM_RUN that shut down or
// shortly before, and the exits since. The replay puts the base back, runs the guest through
// those exits, answering each as the monitor did, then single-steps from the last one until the
// step that shuts down; then it does it all again, to the step before, so that registers and
// memory are those at the faulting instruction (and the second pass checks the first).
//
// Why the replay is faithful: the guest touched no device between two exits (every port and
// MMIO access exits), and the exits since the base are answered from the log, so no device is
// asked anything. What can differ is asynchronous: an interrupt from the in-kernel LAPIC, PIC
// or IOAPIC, or a timer read (RDTSC, kvmclock), arrives without an exit. The INIT has reset the
// LAPIC, so no LAPIC interrupt comes during the replay, and the single steps hold interrupts off
// (KVM_GUESTDBG_BLOCKIRQ, where the host has it) whenever RFLAGS.IF is set: a run that took no
// interrupt between its last exit and the fault is reproduced exactly. (Not while IF is clear,
// where nothing can be delivered anyway.) Open defect, measured in the test VM (kvm_amd nested
// under QEMU): a real-mode guest put back after the INIT does not execute at all there, single
// step or not, BLOCKIRQ or not, PIC masked or not (KVM_RUN runs to the slice timer with RIP
// unchanged), so its replay ends at the time limit; long-mode guests replay exactly.
// A run that took an interrupt diverges: the replay then meets another exit or none, shuts down
// elsewhere, runs out of steps or time, or its second pass does not arrive at the state of the
// first. Each is reported as such, with the base's state as the best one known.
import * as abi from './kvm/abi.js';
import { EINTR, SysError } from './kvm/sys.js';
import { NO_DEBUGREGS, VCPU_STATE_BYTES, stateDifferences, type Vcpu } from './vcpu.js';
import type { Checkpoint } from './checkpoint.js';
import { GPR, RFLAGS_IF } from '../x86/registers.js';

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

/** Puts `cp` back on `v` and replays to the faulting instruction; on failure, leaves `cp`'s base. */
export function replayToShutdown(v: Vcpu, cp: Checkpoint, limits: ReplayLimits): ReplayResult {
  cp.rollBack(v);
  // A single step shut down: the state before it is the faulting instruction's.
  if (!cp.withMemory) return { ok: true, steps: 0 };
  const deadline = performance.now() + limits.maxMs;
  const atFault = Buffer.alloc(VCPU_STATE_BYTES);
  const first = replay(v, cp, limits.maxSteps, deadline, limits, atFault);
  if (first.kind !== 'shutdown') {
    cp.rollBack(v);
    return { ok: false, why: first.kind === 'failed' ? first.why : `no shutdown within ${limits.maxSteps} instructions after the last exit` };
  }
  // The shutdown wrote what it wrote (exception frames, say) before it reset the vCPU: go again,
  // to the step before, for memory as it was then; arriving at the same state checks the replay.
  cp.rollBack(v);
  const second = replay(v, cp, first.steps, deadline, limits);
  const now = Buffer.alloc(VCPU_STATE_BYTES);
  if (second.kind === 'done') v.captureState(now);
  // Registers and special registers; the events may differ in what waits to be injected.
  const differ = second.kind === 'done' ? stateDifferences(now, atFault) : [];
  if (second.kind !== 'done' || differ.length) {
    cp.rollBack(v);
    const how = second.kind === 'done' ? `${differ.join(', ')} differ` : 'it shut down earlier';
    return { ok: false, why: second.kind === 'failed' ? second.why : `a second replay did not arrive at the same state (${how}): the run was not reproducible` };
  }
  return { ok: true, steps: first.steps };
}

type Advance = { kind: 'shutdown'; steps: number } | { kind: 'done' } | { kind: 'failed'; why: string };

/** From the base: through the logged exits, then up to `count` single steps (see advance). */
function replay(v: Vcpu, cp: Checkpoint, count: number, deadline: number, limits: ReplayLimits, before?: Buffer): Advance {
  const through = throughExits(v, cp, deadline, limits);
  return through ?? advance(v, count, deadline, limits, before);
}

/**
 * Runs `v` (no single steps) through the checkpoint's logged exits, answering each; stops at the
 * last one, answered, before KVM_RUN completes it. Undefined when done, else why not.
 */
function throughExits(v: Vcpu, cp: Checkpoint, deadline: number, limits: ReplayLimits): Advance | undefined {
  if (cp.exits === 0) return undefined;
  v.setGuestDebug(abi.KVM_GUESTDBG_ENABLE | abi.KVM_GUESTDBG_USE_SW_BP, NO_DEBUGREGS);
  let inAt = 0;
  for (let i = 0; i < cp.exits;) {
    const rc = v.enter();
    if (rc < 0) {
      const why = interrupted(v, rc, deadline, limits, `${i} of the ${cp.exits} exits since the last checkpoint`);
      if (why) return { kind: 'failed', why };
      continue;
    }
    const reason = v.run.readUInt32LE(abi.kvm_run.exit_reason);
    const next = reason === abi.KVM_EXIT.IO || reason === abi.KVM_EXIT.MMIO ? cp.answer(v, i, inAt) : -1;
    if (next < 0) {
      return { kind: 'failed', why: `the replay met a ${exitName(reason)} exit where the run had met its exit ${i + 1} of ${cp.exits} since the last checkpoint` };
    }
    inAt = next;
    i++;
  }
  return undefined;
}

/**
 * Single-steps `v` up to `count` times: 'done' after them, 'shutdown' with the steps completed
 * before the one that shut down (`before` then holds the state before that one).
 */
function advance(v: Vcpu, count: number, deadline: number, limits: ReplayLimits, before?: Buffer): Advance {
  const run = v.run;
  const step = abi.KVM_GUESTDBG_ENABLE | abi.KVM_GUESTDBG_SINGLESTEP;
  const held = step | (limits.holdInterrupts ? abi.KVM_GUESTDBG_BLOCKIRQ : 0);
  let steps = 0;
  while (steps < count) {
    v.setGuestDebug(v.loadRegs()[GPR.rflags] & RFLAGS_IF ? held : step, NO_DEBUGREGS);
    if (before) v.captureState(before);
    const rc = v.enter();
    if (rc < 0) {
      const why = interrupted(v, rc, deadline, limits, `${steps} instructions after the last exit`);
      if (why) return { kind: 'failed', why };
      continue;
    }
    const reason = run.readUInt32LE(abi.kvm_run.exit_reason);
    if (reason === abi.KVM_EXIT.DEBUG) {
      steps++;
      if ((steps & 63) === 0 && performance.now() > deadline) {
        return { kind: 'failed', why: `no shutdown within ${limits.maxMs} ms of replay (${steps} instructions after the last exit)` };
      }
      continue;
    }
    if (reason === abi.KVM_EXIT.SHUTDOWN) return { kind: 'shutdown', steps };
    return { kind: 'failed', why: `the replay met a ${exitName(reason)} exit ${steps} instructions after the last exit, which the run had not met` };
  }
  return { kind: 'done' };
}

/** KVM_RUN returned `rc` < 0: why to give up (a pause, the time limit), or undefined to go on. */
function interrupted(v: Vcpu, rc: number, deadline: number, limits: ReplayLimits, where: string): string | undefined {
  if (rc !== -EINTR) throw new SysError('KVM_RUN', -rc);
  v.run[abi.kvm_run.immediate_exit] = 0;
  if (limits.pauseAsked()) return `a pause was asked for during the replay, at ${where}`;
  if (performance.now() > deadline) return `no shutdown within ${limits.maxMs} ms of replay (at ${where})`;
  return undefined;
}

function exitName(reason: number): string {
  const name = Object.entries(abi.KVM_EXIT).find(([, v]) => v === reason)?.[0];
  return name ? `KVM_EXIT_${name}` : `reason ${reason}`;
}

