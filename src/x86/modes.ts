// The x86 operating mode a vCPU is in, derived from its control registers and the cached CS
// descriptor, and what that means for decoding code (bitness) and privilege (CPL).
//
//   CR0.PE  EFER.LMA  RFLAGS.VM  CS.L  CS.D/B   mode
//     0        -         -         -     -      real          (16-bit code)
//     1        0         1         -     -      vm86          (16-bit code, CPL 3)
//     1        0         0         -     0      protected16
//     1        0         0         -     1      protected32
//     1        1         -         1     -      long64        (CS.L=1 CS.D=1 is reserved; treated as 64-bit)
//     1        1         -         0     0      compat16
//     1        1         -         0     1      compat32
//
// RFLAGS.VM is ignored in IA-32e mode (the processor cannot enter virtual-8086 mode there).
// Real mode is always reported as 16-bit even if the hidden CS descriptor has D/B set ("unreal"
// 32-bit code segments are vanishingly rare and KVM guests do not rely on them).
import { EFER_LMA } from './registers.js';

export type CpuMode = 'real' | 'vm86' | 'protected16' | 'protected32' | 'long64' | 'compat16' | 'compat32';

export const CR0_PE_BIT = 1n;
export const RFLAGS_VM_BIT = 1n << 17n;

export interface ModeState {
  cr0: bigint;
  efer: bigint;
  cs: { db: boolean; l: boolean };
  rflags?: bigint;
}

export function cpuMode(s: ModeState): CpuMode {
  if ((s.cr0 & CR0_PE_BIT) === 0n) return 'real';
  if ((s.efer & EFER_LMA) !== 0n) {
    if (s.cs.l) return 'long64';
    return s.cs.db ? 'compat32' : 'compat16';
  }
  if (s.rflags !== undefined && (s.rflags & RFLAGS_VM_BIT) !== 0n) return 'vm86';
  return s.cs.db ? 'protected32' : 'protected16';
}

/** Default operand/address size of code in this mode: the decoder's bitness. */
export function codeBitness(mode: CpuMode): 16 | 32 | 64 {
  switch (mode) {
    case 'long64': return 64;
    case 'protected32': case 'compat32': return 32;
    case 'real': case 'vm86': case 'protected16': case 'compat16': return 16;
  }
}

/**
 * Current privilege level. Real mode is always 0 (the selector's low bits are just part of a
 * paragraph number there) and virtual-8086 mode always 3; otherwise CPL is CS.RPL, which the
 * processor keeps equal to CPL on every CS load (also for conforming segments, whose DPL may
 * differ). `dpl` is accepted so callers can pass a whole Segment.
 */
export function cpl(s: { cs: { selector: number; dpl: number }; cr0: bigint; rflags?: bigint; efer?: bigint }): number {
  if ((s.cr0 & CR0_PE_BIT) === 0n) return 0;
  const lma = s.efer !== undefined && (s.efer & EFER_LMA) !== 0n;
  if (!lma && s.rflags !== undefined && (s.rflags & RFLAGS_VM_BIT) !== 0n) return 3;
  return s.cs.selector & 3;
}

const LABELS: Record<CpuMode, string> = {
  real: 'real mode',
  vm86: 'virtual-8086 mode',
  protected16: 'protected mode (16-bit)',
  protected32: 'protected mode (32-bit)',
  long64: 'long mode (64-bit)',
  compat16: 'compatibility mode (16-bit)',
  compat32: 'compatibility mode (32-bit)',
};

/** Human-readable name, e.g. "long mode (64-bit)". */
export function modeLabel(mode: CpuMode): string {
  return LABELS[mode];
}

/** The linear address of an instruction: RIP in 64-bit code, else CS base + RIP within 4 GiB. */
export function linearRip(rip: bigint, s: { efer: bigint; cs: { base: bigint; l: boolean } }): bigint {
  return s.efer & EFER_LMA && s.cs.l ? rip : BigInt.asUintN(32, s.cs.base + rip);
}
