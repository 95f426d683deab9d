// The x86 register file as every layer names it, declared once: the general registers in the
// order of KVM's struct kvm_regs (index i lies at byte 8*i), their DWARF numbers (System V psABI,
// x86-64 and i386), and the shapes of segment and descriptor-table state.

export const GPR_NAMES = [
  'rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp',
  'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags',
] as const;
export type GprName = (typeof GPR_NAMES)[number];
export type Regs = Record<GprName, bigint>;

/** Index of a general register in GPR_NAMES (and in a kvm_regs view of 64-bit words). */
export const GPR = Object.fromEntries(GPR_NAMES.map((n, i) => [n, i])) as { readonly [K in GprName]: number };

/** Registers from kvm_regs as 64-bit words (GPR_NAMES order). */
export function regsOfWords(words: BigUint64Array): Regs {
  return Object.fromEntries(GPR_NAMES.map((n, r) => [n, words[r]])) as Regs;
}

export const SEGMENT_NAMES = ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt'] as const;
export type SegmentName = (typeof SEGMENT_NAMES)[number];

/** A segment register with its descriptor cache (KVM's struct kvm_segment). */
export interface Segment {
  base: bigint;
  limit: number;
  selector: number;
  type: number;
  present: boolean;
  dpl: number;
  db: boolean;
  s: boolean;
  l: boolean;
  g: boolean;
  avl: boolean;
  unusable: boolean;
}

/** GDTR or IDTR. */
export interface DTable {
  base: bigint;
  limit: number;
}

/** The special registers: segments, descriptor tables, control registers, EFER, APIC base. */
export type Sregs = Record<SegmentName, Segment> & {
  gdt: DTable;
  idt: DTable;
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  efer: bigint;
  apic_base: bigint;
};

export const RFLAGS_TF = 0x100n;
export const RFLAGS_IF = 0x200n;
export const RFLAGS_DF = 0x400n;
/** Resume flag: set on an instruction restarted after a fault, so its breakpoint does not fire again. */
export const RFLAGS_RF = 0x10000n;
/** Alignment check, and what lets ring 0 touch user pages under SMAP (stac/clac set and clear it). */
export const RFLAGS_AC = 0x40000n;
export const EFER_LMA = 0x400n;
/** DR6.BS, single step (a number: KVM reports DR6 in a 32-bit word of kvm_run). */
export const DR6_BS = 0x4000;

/** RFLAGS.IOPL (bits 13:12): the least privileged ring that may run cli, sti, in and out. */
export function ioplOf(rflags: bigint): number {
  return Number((rflags >> 12n) & 3n);
}

/** General registers by DWARF number: x86-64 (0-16) and i386 (0-9), as kvm_regs names. */
export const DWARF_GPRS: Record<32 | 64, readonly GprName[]> = {
  64: ['rax', 'rdx', 'rcx', 'rbx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip'],
  32: ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'rip', 'rflags'],
};

const range = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
/** Every DWARF register number's name as the debugger's `$name` knows it ('' where none). */
const DWARF_NAMES: Record<32 | 64, readonly string[]> = {
  64: [
    ...DWARF_GPRS[64], ...range('xmm', 16), ...range('st', 8), ...range('mm', 8),
    'rflags', 'es', 'cs', 'ss', 'ds', 'fs', 'gs', '', '', 'fs_base', 'gs_base', '', '', 'tr', 'ldtr', 'mxcsr', 'fcw', 'fsw',
  ],
  32: [
    'eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'eip', 'eflags', '',
    ...range('st', 8), '', '', ...range('xmm', 8), ...range('mm', 8),
    'fcw', 'fsw', 'mxcsr', 'es', 'cs', 'ss', 'ds', 'fs', 'gs', '', '', 'tr', 'ldtr',
  ],
};

/** The name of a DWARF register number ("rdi", "xmm0", "ebp"), or '' for none. */
export function dwarfRegisterName(reg: number, bits: 32 | 64): string {
  return DWARF_NAMES[bits][reg] ?? '';
}
