// Why a run stopped: the typed events the monitor hands to the CLI and the debug adapter.

export type WatchKind = 'execute' | 'write' | 'readwrite';

export type Stop =
  /** The guest wrote to the debug-exit port; status is QEMU's (v << 1) | 1. */
  | { kind: 'exit'; status: number }
  /** The guest reset the machine (port 0x64 command 0xFE, port 0xCF9, or a KVM reset event). */
  | { kind: 'reset'; vcpu: number; how: string }
  /** The guest powered the machine off through a KVM system event. */
  | { kind: 'poweroff'; vcpu: number }
  /**
   * KVM_EXIT_SHUTDOWN: a triple fault. The vCPU's state is the faulting instruction's: kept by the
   * host (VMX, kvm_pvm), or where KVM re-initialized the vCPU at the shutdown (SVM: the VMCB is
   * undefined after a SHUTDOWN intercept) recovered by replaying `replayed` instructions from
   * the last exit (shutdown-replay.ts), or put back by the recorder of reverse execution, which
   * saved it before the step (`fromHistory`). `stateLost` says why it is not, and what is shown instead.
   */
  | { kind: 'triple-fault'; vcpu: number; replayed?: number; stateLost?: string; fromHistory?: boolean }
  /** HLT with RFLAGS.IF clear: nothing can wake the vCPU, so we stop instead of hanging. */
  | { kind: 'halted'; vcpu: number }
  /** KVM could not run or emulate the guest. */
  | { kind: 'internal-error'; vcpu: number; suberror: number; description: string; data: bigint[] }
  | { kind: 'fail-entry'; vcpu: number; reason: bigint }
  /** A breakpoint we placed (software 0xCC or a DR0-DR3 execute breakpoint). */
  | { kind: 'breakpoint'; vcpu: number; address: bigint; id: number }
  /** The guest executed an int3 of its own while `stopOnGuestInt3` is set. */
  | { kind: 'guest-int3'; vcpu: number; address: bigint }
  /** A single step finished. */
  | { kind: 'step'; vcpu: number }
  /** A data watchpoint fired after the access; `address` is the watched address. */
  | { kind: 'watchpoint'; vcpu: number; id: number; slot: number; address: bigint; access: WatchKind }
  /** pause() took effect. */
  | { kind: 'pause'; vcpu: number }
  /** A port access matched a port watch. */
  | { kind: 'port-io'; vcpu: number; port: number; write: boolean; size: number; value: number }
  /**
   * A 64-bit Linux kernel ran its first instruction at a virtual address (Machine.watchKernelEntry):
   * `address`, its `wrmsr` of the GS base, done when the stop is reported.
   */
  | { kind: 'kernel-entry'; vcpu: number; address: bigint };

export function describeStop(s: Stop): string {
  switch (s.kind) {
    case 'exit': return `guest exited with status ${s.status}`;
    case 'reset': return `guest reset the machine (${s.how})`;
    case 'poweroff': return 'guest powered off';
    case 'triple-fault': return `triple fault on vCPU ${s.vcpu} (KVM_EXIT_SHUTDOWN)${s.stateLost || s.replayed !== undefined ? `; ${tripleFaultState(s)}` : ''}`;
    case 'halted': return `vCPU ${s.vcpu} halted with interrupts off: nothing can wake it`;
    case 'internal-error': return `KVM internal error on vCPU ${s.vcpu}: ${s.description}`;
    case 'fail-entry': return `KVM could not enter the guest on vCPU ${s.vcpu} (hardware reason 0x${s.reason.toString(16)})`;
    case 'breakpoint': return `breakpoint ${s.id} at 0x${s.address.toString(16)} on vCPU ${s.vcpu}`;
    case 'guest-int3': return `guest int3 at 0x${s.address.toString(16)} on vCPU ${s.vcpu}`;
    case 'step': return `step on vCPU ${s.vcpu}`;
    case 'watchpoint': return `${s.access} watchpoint ${s.id} on 0x${s.address.toString(16)} (${s.slot < 0 ? 'page trap' : `DR${s.slot}`}) on vCPU ${s.vcpu}`;
    case 'pause': return `paused vCPU ${s.vcpu}`;
    case 'port-io': return `port ${s.write ? 'write' : 'read'} 0x${s.port.toString(16)} on vCPU ${s.vcpu}`;
    case 'kernel-entry': return `the Linux kernel runs at its virtual address 0x${s.address.toString(16)} on vCPU ${s.vcpu}`;
  }
}

export const TRIPLE_FAULT_STATE_LOST = 'this host reset the vCPU at the shutdown (KVM on SVM does), so its registers ' +
  'are the reset state (F000:FFF0), not the faulting instruction\'s; to see those, run again with triple-fault ' +
  'recovery (launch.json "recoverTripleFault": true, kvmdbg run --recover-triple-fault)';

/** stateLost where the replay to the fault failed: the checkpoint's state is shown. */
export function replayFailed(why: string): string {
  return `this host reset the vCPU at the shutdown (KVM on SVM does) and its state could not be recovered by replay ` +
    `(${why}), so its registers are those before the last KVM_RUN, at the last exit before the fault`;
}

/** What the state of a triple-fault stop is: kept, recovered by replay, or lost and why. */
export function tripleFaultState(s: Extract<Stop, { kind: 'triple-fault' }>): string {
  if (s.stateLost) return s.stateLost;
  if (s.fromHistory) {
    return 'this host reset the vCPU at the shutdown (KVM on SVM does); the state shown is the faulting instruction\'s, ' +
      'from the recorded history';
  }
  if (s.replayed === undefined) return 'its state is kept for inspection';
  return `this host reset the vCPU at the shutdown (KVM on SVM does); the state shown is the faulting instruction's, ` +
    `recovered by replaying ${s.replayed} instruction${s.replayed === 1 ? '' : 's'} from the last exit`;
}
