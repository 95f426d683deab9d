// What a single step's trap flag leaves behind, put right after the step. KVM steps by setting
// RFLAGS.TF when guest debug is set, and hides it from KVM_GET_REGS, but the CPU itself copies it:
// - `syscall` saves RFLAGS, TF included, in R11, where the guest's `sysret` would take it back
//   and trap on its own;
// - an instruction that loads RFLAGS whole (`iret`, `popf`, `sysret`, `rsm`) takes TF from the
//   guest's image, which has none where the step's trap was kept out of it (an exception frame
//   pushed by KVM's own injection, or cleaned by the recorder): the next step, entered with the
//   trap flag of the last, would run on unstopped (measured in the test VM: from the iretq of a
//   #UD handler to the next exit). Guest debug is then set afresh for the next step.
import { Mnemonic } from 'iced-x86';
import type { Machine } from '../vmm/machine.js';
import { EFER_LMA, RFLAGS_TF } from '../x86/registers.js';

export interface StepFlags {
  /** `syscall`: R11 takes RFLAGS. */
  flagsToR11: boolean;
  /** Loads RFLAGS whole: the step's trap flag may be gone after it. */
  loadsFlags: boolean;
}

const LOADS_FLAGS = new Set([
  Mnemonic.Iret, Mnemonic.Iretd, Mnemonic.Iretq, Mnemonic.Popf, Mnemonic.Popfd, Mnemonic.Popfq, Mnemonic.Sysret, Mnemonic.Sysretq, Mnemonic.Rsm,
]);

/** The step flags of an instruction with mnemonic `mn`. */
export function stepFlags(mn: Mnemonic): StepFlags {
  return { flagsToR11: mn === Mnemonic.Syscall, loadsFlags: LOADS_FLAGS.has(mn) };
}

/** After a step of an instruction with `flags` on vCPU `vcpu`; `guestTf`: RFLAGS.TF was the guest's own before it. */
export function afterStep(m: Machine, vcpu: number, flags: StepFlags, guestTf = false): void {
  if (flags.flagsToR11 && !guestTf && m.getSregs(vcpu).efer & EFER_LMA) {
    const r11 = m.getRegs(vcpu).r11;
    if (r11 & RFLAGS_TF) m.setRegs(vcpu, { r11: r11 & ~RFLAGS_TF });
  }
  if (flags.loadsFlags) m.renewStepTrap();
}
