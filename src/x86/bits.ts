// Named bit fields of the x86 flag and control registers, and a decoder that turns a register
// value into data (one record per field) for the debugger's register scopes and the register
// inspection panel. Names are the SDM's short names (vol. 1 ch. 3, 8, 10; vol. 3 ch. 2, 17;
// AMD APM vol. 2 for EFER).
//
// Every table lists its fields from the least significant bit up. Bits a table does not name
// (reserved, or always-one like RFLAGS bit 1) can be found with unknownBits().

export interface BitField {
  /** The SDM's short name: 'IF', 'PG', 'R/W0'. */
  name: string;
  /** Position of the field's least significant bit. */
  lsb: number;
  /** Width in bits (1 for a flag). */
  width: number;
  description: string;
  /** Names of the field's values, for enumerations (DR7 R/W and LEN, MXCSR RC, ...). */
  values?: Record<number, string>;
  /**
   * How a multi-bit value is shown: 'dec' (the default), 'hex', or 'address' (the field is an
   * address whose bits stay in place, e.g. the CR3 page-directory base: value is value & mask,
   * not shifted down).
   */
  format?: 'dec' | 'hex' | 'address';
}

export interface DecodedField {
  name: string;
  description: string;
  /** The field's value, shifted down to bit 0 (unless the field's format is 'address'). */
  value: bigint;
  /** value != 0. */
  set: boolean;
  /** '1' or '0' for a flag; 'IOPL=3', 'R/W0=write', 'PDB=0x1000' for wider fields. */
  text: string;
  /** Where the field sits, for drawing bit diagrams. */
  lsb: number;
  width: number;
  /** The name of the value when the field has named values. */
  valueName?: string;
}

const flag = (name: string, lsb: number, description: string): BitField => ({ name, lsb, width: 1, description });

// ---- RFLAGS (SDM vol. 1, 3.4.3) ----

export const RFLAGS: BitField[] = [
  flag('CF', 0, 'Carry flag'),
  flag('PF', 2, 'Parity flag'),
  flag('AF', 4, 'Auxiliary carry flag'),
  flag('ZF', 6, 'Zero flag'),
  flag('SF', 7, 'Sign flag'),
  flag('TF', 8, 'Trap flag (single-step)'),
  flag('IF', 9, 'Interrupt enable flag'),
  flag('DF', 10, 'Direction flag'),
  flag('OF', 11, 'Overflow flag'),
  { name: 'IOPL', lsb: 12, width: 2, description: 'I/O privilege level' },
  flag('NT', 14, 'Nested task'),
  flag('RF', 16, 'Resume flag'),
  flag('VM', 17, 'Virtual-8086 mode'),
  flag('AC', 18, 'Alignment check / access control'),
  flag('VIF', 19, 'Virtual interrupt flag'),
  flag('VIP', 20, 'Virtual interrupt pending'),
  flag('ID', 21, 'ID flag (CPUID available)'),
];

// ---- Control registers (SDM vol. 3, 2.5) ----

export const CR0: BitField[] = [
  flag('PE', 0, 'Protection enable'),
  flag('MP', 1, 'Monitor coprocessor'),
  flag('EM', 2, 'x87 emulation'),
  flag('TS', 3, 'Task switched'),
  flag('ET', 4, 'Extension type'),
  flag('NE', 5, 'Numeric error (native x87 error reporting)'),
  flag('WP', 16, 'Write protect (supervisor writes honour read-only pages)'),
  flag('AM', 18, 'Alignment mask'),
  flag('NW', 29, 'Not write-through'),
  flag('CD', 30, 'Cache disable'),
  flag('PG', 31, 'Paging'),
];

/** CR3 with CR4.PCIDE = 0. */
export const CR3: BitField[] = [
  flag('PWT', 3, 'Page-level write-through (for the top-level table)'),
  flag('PCD', 4, 'Page-level cache disable (for the top-level table)'),
  { name: 'PDB', lsb: 12, width: 40, description: 'Page-directory base: physical address of the top-level paging table', format: 'address' },
  flag('LAM_U57', 61, 'Linear-address masking for user pointers, 57-bit (bits 62:57 masked)'),
  flag('LAM_U48', 62, 'Linear-address masking for user pointers, 48-bit (bits 62:48 masked)'),
];

/** CR3 with CR4.PCIDE = 1: bits 11:0 are the process-context identifier, PWT and PCD are gone. */
export const CR3_PCID: BitField[] = [
  { name: 'PCID', lsb: 0, width: 12, description: 'Process-context identifier', format: 'hex' },
  ...CR3.filter((f) => f.name !== 'PWT' && f.name !== 'PCD'),
];

/** The CR3 layout that applies for the given CR4 (CR4.PCIDE chooses). */
export function cr3Fields(cr4: bigint = 0n): BitField[] {
  return (cr4 >> 17n) & 1n ? CR3_PCID : CR3;
}

export const CR4: BitField[] = [
  flag('VME', 0, 'Virtual-8086 mode extensions'),
  flag('PVI', 1, 'Protected-mode virtual interrupts'),
  flag('TSD', 2, 'Time stamp disable (RDTSC at CPL 0 only)'),
  flag('DE', 3, 'Debugging extensions (I/O breakpoints)'),
  flag('PSE', 4, 'Page size extensions (4 MiB pages in 32-bit paging)'),
  flag('PAE', 5, 'Physical address extension'),
  flag('MCE', 6, 'Machine-check enable'),
  flag('PGE', 7, 'Page global enable'),
  flag('PCE', 8, 'Performance-monitoring counter enable (RDPMC at any CPL)'),
  flag('OSFXSR', 9, 'OS support for FXSAVE/FXRSTOR'),
  flag('OSXMMEXCPT', 10, 'OS support for unmasked SIMD floating-point exceptions'),
  flag('UMIP', 11, 'User-mode instruction prevention'),
  flag('LA57', 12, '57-bit linear addresses (5-level paging)'),
  flag('VMXE', 13, 'VMX enable'),
  flag('SMXE', 14, 'SMX enable'),
  flag('FSGSBASE', 16, 'RDFSBASE/RDGSBASE/WRFSBASE/WRGSBASE enable'),
  flag('PCIDE', 17, 'PCID enable'),
  flag('OSXSAVE', 18, 'XSAVE and processor extended states enable'),
  flag('KL', 19, 'Key Locker enable'),
  flag('SMEP', 20, 'Supervisor-mode execution prevention'),
  flag('SMAP', 21, 'Supervisor-mode access prevention'),
  flag('PKE', 22, 'Protection keys for user-mode pages'),
  flag('CET', 23, 'Control-flow enforcement technology'),
  flag('PKS', 24, 'Protection keys for supervisor-mode pages'),
  flag('UINTR', 25, 'User interrupts enable'),
  flag('LAM_SUP', 28, 'Linear-address masking for supervisor pointers'),
  flag('FRED', 32, 'Flexible return and event delivery'),
];

// ---- EFER (MSR C000_0080; AMD APM vol. 2, 3.1.7) ----

export const EFER: BitField[] = [
  flag('SCE', 0, 'System-call extensions (SYSCALL/SYSRET)'),
  flag('LME', 8, 'Long mode enable'),
  flag('LMA', 10, 'Long mode active'),
  flag('NXE', 11, 'No-execute enable'),
  flag('SVME', 12, 'Secure virtual machine enable (AMD)'),
  flag('LMSLE', 13, 'Long mode segment limit enable (AMD)'),
  flag('FFXSR', 14, 'Fast FXSAVE/FXRSTOR (AMD)'),
  flag('TCE', 15, 'Translation cache extension (AMD)'),
];

// ---- Debug registers (SDM vol. 3, 17.2) ----

export const DR6: BitField[] = [
  flag('B0', 0, 'Breakpoint 0 condition detected'),
  flag('B1', 1, 'Breakpoint 1 condition detected'),
  flag('B2', 2, 'Breakpoint 2 condition detected'),
  flag('B3', 3, 'Breakpoint 3 condition detected'),
  flag('BLD', 11, 'Bus-lock detected (active low: 0 means a bus-lock #DB)'),
  flag('BD', 13, 'Debug register access detected (DR7.GD)'),
  flag('BS', 14, 'Single step'),
  flag('BT', 15, 'Task switch (TSS T flag)'),
  flag('RTM', 16, 'Not in an RTM region (active low: 0 means #DB inside a transaction)'),
];

/** Names of the DR7 R/Wn values. I/O (2) needs CR4.DE; without it the encoding is undefined. */
export const DR7_RW_VALUES: Record<number, string> = { 0: 'execute', 1: 'write', 2: 'I/O', 3: 'read/write' };
/** Names of the DR7 LENn values (2 = 8 bytes is defined in 64-bit mode and on recent CPUs). */
export const DR7_LEN_VALUES: Record<number, string> = { 0: '1 byte', 1: '2 bytes', 2: '8 bytes', 3: '4 bytes' };
const LEN_BYTES = [1, 2, 8, 4];

export const DR7: BitField[] = [
  ...[0, 1, 2, 3].flatMap((n) => [
    flag(`L${n}`, 2 * n, `Breakpoint ${n} enabled for the current task (local)`),
    flag(`G${n}`, 2 * n + 1, `Breakpoint ${n} enabled for all tasks (global)`),
  ]),
  flag('LE', 8, 'Local exact breakpoint enable'),
  flag('GE', 9, 'Global exact breakpoint enable'),
  flag('RTM', 11, 'Restricted transactional memory debugging'),
  flag('GD', 13, 'General detect (#DB on debug register access)'),
  ...[0, 1, 2, 3].flatMap((n): BitField[] => [
    { name: `R/W${n}`, lsb: 16 + 4 * n, width: 2, description: `Breakpoint ${n} condition`, values: DR7_RW_VALUES },
    { name: `LEN${n}`, lsb: 18 + 4 * n, width: 2, description: `Breakpoint ${n} length`, values: DR7_LEN_VALUES },
  ]),
];

export interface Dr7Slot {
  slot: number;
  local: boolean;
  global: boolean;
  /** local || global. */
  enabled: boolean;
  rw: 'execute' | 'write' | 'I/O' | 'read/write';
  /** Breakpoint length in bytes: 1, 2, 4 or 8. */
  len: number;
}

/** The four DR7 breakpoint slots, decoded. */
export function dr7Slots(dr7: bigint): Dr7Slot[] {
  const v = Number(dr7 & 0xffffffffn);
  return [0, 1, 2, 3].map((slot) => {
    const local = ((v >>> (2 * slot)) & 1) !== 0;
    const global = ((v >>> (2 * slot + 1)) & 1) !== 0;
    return {
      slot, local, global, enabled: local || global,
      rw: DR7_RW_VALUES[(v >>> (16 + 4 * slot)) & 3] as Dr7Slot['rw'],
      len: LEN_BYTES[(v >>> (18 + 4 * slot)) & 3],
    };
  });
}

// ---- SSE and x87 control/status (SDM vol. 1, 10.2.3 and 8.1.3, 8.1.5) ----

const RC_VALUES: Record<number, string> = { 0: 'nearest', 1: 'down', 2: 'up', 3: 'toward zero' };

export const MXCSR: BitField[] = [
  flag('IE', 0, 'Invalid operation flag'),
  flag('DE', 1, 'Denormal flag'),
  flag('ZE', 2, 'Divide-by-zero flag'),
  flag('OE', 3, 'Overflow flag'),
  flag('UE', 4, 'Underflow flag'),
  flag('PE', 5, 'Precision flag'),
  flag('DAZ', 6, 'Denormals are zeros'),
  flag('IM', 7, 'Invalid operation mask'),
  flag('DM', 8, 'Denormal operation mask'),
  flag('ZM', 9, 'Divide-by-zero mask'),
  flag('OM', 10, 'Overflow mask'),
  flag('UM', 11, 'Underflow mask'),
  flag('PM', 12, 'Precision mask'),
  { name: 'RC', lsb: 13, width: 2, description: 'Rounding control', values: RC_VALUES },
  flag('FZ', 15, 'Flush to zero'),
];

/** x87 FPU status word. */
export const FSW: BitField[] = [
  flag('IE', 0, 'Invalid operation'),
  flag('DE', 1, 'Denormalized operand'),
  flag('ZE', 2, 'Zero divide'),
  flag('OE', 3, 'Overflow'),
  flag('UE', 4, 'Underflow'),
  flag('PE', 5, 'Precision'),
  flag('SF', 6, 'Stack fault'),
  flag('ES', 7, 'Exception summary status'),
  flag('C0', 8, 'Condition code 0'),
  flag('C1', 9, 'Condition code 1'),
  flag('C2', 10, 'Condition code 2'),
  { name: 'TOP', lsb: 11, width: 3, description: 'Top of stack pointer' },
  flag('C3', 14, 'Condition code 3'),
  flag('B', 15, 'FPU busy'),
];

/** x87 FPU control word. */
export const FCW: BitField[] = [
  flag('IM', 0, 'Invalid operation mask'),
  flag('DM', 1, 'Denormal operand mask'),
  flag('ZM', 2, 'Zero divide mask'),
  flag('OM', 3, 'Overflow mask'),
  flag('UM', 4, 'Underflow mask'),
  flag('PM', 5, 'Precision mask'),
  {
    name: 'PC', lsb: 8, width: 2, description: 'Precision control',
    values: { 0: 'single (24 bits)', 1: 'reserved', 2: 'double (53 bits)', 3: 'extended (64 bits)' },
  },
  { name: 'RC', lsb: 10, width: 2, description: 'Rounding control', values: RC_VALUES },
  flag('X', 12, 'Infinity control (ignored since the 80387)'),
];

// ---- XCR0 (SDM vol. 1, 13.1) ----

export const XCR0: BitField[] = [
  flag('x87', 0, 'x87 FPU state'),
  flag('SSE', 1, 'SSE state (XMM registers, MXCSR)'),
  flag('AVX', 2, 'AVX state (upper halves of YMM0-15)'),
  flag('BNDREG', 3, 'MPX bound registers'),
  flag('BNDCSR', 4, 'MPX BNDCFGU and BNDSTATUS'),
  flag('opmask', 5, 'AVX-512 opmask registers k0-k7'),
  flag('ZMM_Hi256', 6, 'AVX-512 upper halves of ZMM0-15'),
  flag('Hi16_ZMM', 7, 'AVX-512 ZMM16-31'),
  flag('PKRU', 9, 'Protection-key rights register'),
  flag('XTILECFG', 17, 'AMX tile configuration (TILECFG)'),
  flag('XTILEDATA', 18, 'AMX tile data'),
  flag('APX', 19, 'APX extended GPRs R16-R31'),
];

/** Bit-field tables by lower-case register name (CR3 without PCIDs; see cr3Fields()). */
export const REGISTER_BITS: Readonly<Record<string, BitField[]>> = {
  rflags: RFLAGS, eflags: RFLAGS, cr0: CR0, cr3: CR3, cr4: CR4, efer: EFER, dr6: DR6, dr7: DR7,
  mxcsr: MXCSR, fsw: FSW, fcw: FCW, xcr0: XCR0,
};

// ---- Decoding ----

const mask = (width: number): bigint => (1n << BigInt(width)) - 1n;

/** Decodes one field of value. */
export function decodeField(value: bigint, f: BitField): DecodedField {
  const raw = (value >> BigInt(f.lsb)) & mask(f.width);
  const v = f.format === 'address' ? raw << BigInt(f.lsb) : raw;
  const valueName = f.values?.[Number(raw)];
  let text: string;
  if (f.width === 1 && !f.values) text = raw ? '1' : '0';
  else if (valueName !== undefined) text = `${f.name}=${valueName}`;
  else if (f.format === 'hex' || f.format === 'address') text = `${f.name}=0x${v.toString(16)}`;
  else text = `${f.name}=${v}`;
  const d: DecodedField = { name: f.name, description: f.description, value: v, set: raw !== 0n, text, lsb: f.lsb, width: f.width };
  if (valueName !== undefined) d.valueName = valueName;
  return d;
}

/** Decodes every field of the table, in table order. */
export function decodeBits(value: bigint, fields: BitField[]): DecodedField[] {
  return fields.map((f) => decodeField(value, f));
}

/**
 * The set one-bit flags, most significant first, gdb-style: RFLAGS 0x246 gives "[ IF ZF PF ]",
 * nothing set gives "[ ]". Multi-bit fields (IOPL, R/Wn, ...) are left out.
 */
export function flagString(value: bigint, fields: BitField[]): string {
  const names = fields
    .filter((f) => f.width === 1 && ((value >> BigInt(f.lsb)) & 1n) !== 0n)
    .sort((a, b) => b.lsb - a.lsb)
    .map((f) => f.name);
  return names.length ? `[ ${names.join(' ')} ]` : '[ ]';
}

/** The bits of value that no field of the table covers (reserved or fixed bits that are set). */
export function unknownBits(value: bigint, fields: BitField[]): bigint {
  let covered = 0n;
  for (const f of fields) covered |= mask(f.width) << BigInt(f.lsb);
  return value & ~covered;
}
