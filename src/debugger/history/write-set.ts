// What one instruction may change, known before it runs: the linear ranges it may write (iced-x86's
// memory-access information evaluated with the registers of now) and whether it may touch the
// FPU/SSE state (saved only then: reading the XSAVE area costs an ioctl). No KVM, no DAP: a pure
// function of the instruction's bytes and the registers, tested on the host.
import {
  Code, Decoder, DecoderOptions, EncodingKind, FlowControl, type Instruction, InstructionInfoFactory, MemorySize, MemorySizeExt, Mnemonic, OpAccess, OpKind,
  Register, RegisterExt,
} from 'iced-x86';
import { RFLAGS_DF, type Regs, type Sregs } from '../../x86/registers.js';
import { stepFlags, type StepFlags } from '../step-flags.js';
import { dividendOf, type Division } from '../../x86/divide-error.js';
import { CR4_PCE, CR4_TSD, CR4_UMIP, isCanonical, type LoadedSegment, type ProtectionCheck } from '../../x86/protection-faults.js';

/** What an instruction of unknown size (xsave, fxsave, ...) is assumed to write: a page. */
const UNKNOWN_SIZE = 4096;
/** Bytes below the stack pointer an int/exception frame may take (a same-privilege frame, error code included). */
const FRAME_BYTES = 64;

export interface WriteRange {
  linear: bigint;
  length: number;
}

export interface WriteSet {
  ranges: WriteRange[];
  /** Every memory operand, read or written: translating them sets Accessed bits in the page tables. */
  accesses: WriteRange[];
  /** Loads a segment register (mov to one, a far jump, iret...): the CPU may set its descriptor's Accessed bit. */
  loadsSegment: boolean;
  /** May change x87/SSE/AVX state (or MXCSR): its XSAVE area is saved around it. */
  fpu: boolean;
  /** The RIP values the instruction can lead to by itself; undefined where anywhere is possible. */
  landings?: bigint[];
  /** Delivers an interrupt or exception (int n, int3, ud2...): its frame is a guess. */
  interrupt: boolean;
  /**
   * The vector it raises by itself: a software interrupt (int n, int3, into, int1) or #UD (ud0,
   * ud1, ud2). Its frame can be foreseen.
   */
  vector?: number;
  /**
   * A div or idiv: its dividend, and its divisor where that is a register (else the memory
   * operand's value, `accesses[0]`, is the divisor). Whether it raises #DE is known before it runs.
   */
  divide?: Division & { divisor?: bigint };
  /** What the step's trap flag leaves in R11 or takes from RFLAGS (step-flags.ts). */
  flags: StepFlags;
  /** Waits for an interrupt (hlt): it must be stepped with interrupts let through. */
  halts: boolean;
  /** `int n` or a 16-bit `iret`: in real mode the monitor performs them itself (real-mode-int.ts). */
  performed?: 'int' | 'iret16';
  /** The address of the next instruction. */
  next: bigint;
  /** Loads SS (mov, pop): the CPU holds the step's trap until after the next instruction too. */
  shadowsTrap: boolean;
  /** What may make it raise #GP, #SS or #NP itself (protection-faults.ts); undefined where nothing can. */
  protection?: ProtectionCheck;
}

/** #UD: what ud0, ud1 and ud2 raise, always. */
export const UD_VECTOR = 6;
const UNDEFINED_OPCODES = new Set([Mnemonic.Ud0, Mnemonic.Ud1, Mnemonic.Ud2]);
const WRITES = new Set([OpAccess.Write, OpAccess.CondWrite, OpAccess.ReadWrite, OpAccess.ReadCondWrite]);
const info = new InstructionInfoFactory();
/** iced's enums map numbers back to names (wasm-bindgen): x87 mnemonics all begin with F. */
const MNEMONIC_NAMES = Mnemonic as unknown as Record<number, string>;
const REGISTER_NAMES = Register as unknown as Record<number, string>;

/**
 * A general register as an operand names it (an address register, a divisor), resolved once at
 * decoding: its field of Regs, its width, and whether it is AH-DH (bits 8-15). Reading it is then
 * plain JavaScript; each of iced-x86's register queries is a call into WebAssembly, and a cached
 * write set made them for every operand of every recorded step.
 */
interface RegRef {
  name: keyof Regs;
  bits: number;
  high: boolean;
}

/** `r` as a RegRef; undefined for none, and for RIP (iced folds RIP-relative into the displacement). */
function regRef(r: Register): RegRef | undefined {
  if (r === Register.None || r === Register.RIP || r === Register.EIP) return undefined;
  return {
    name: REGISTER_NAMES[RegisterExt.fullRegister(r) as number].toLowerCase() as keyof Regs,
    bits: RegisterExt.size(r) * 8,
    high: r === Register.AH || r === Register.BH || r === Register.CH || r === Register.DH,
  };
}

function regValue(r: RegRef | undefined, regs: Regs): bigint {
  if (!r) return 0n;
  const v = regs[r.name];
  return BigInt.asUintN(r.bits, r.high ? v >> 8n : v);
}

/** A memory operand as decoded: its address is worked out with the registers of the step. */
interface Operand {
  base?: RegRef;
  index?: RegRef;
  scale: bigint;
  displacement: bigint;
  segment: Register;
  addrBits: 16 | 32 | 64;
  length: number;
  write: boolean;
  /** A rep string instruction's element size (0 otherwise): the operand spans rCX of them. */
  element: number;
}

/** What decoding tells of an instruction, whatever the registers: the write set without addresses. */
interface Decoded extends Omit<WriteSet, 'ranges' | 'accesses' | 'divide' | 'protection'> {
  /** A div or idiv: signed or not, its size, and its divisor register (None: in memory). */
  divides?: { signed: boolean; bytes: 1 | 2 | 4 | 8; by?: RegRef };
  /** The instruction's bytes and where it was decoded: a cached decode serves while they match. */
  bytes: Buffer;
  bits: number;
  rip: bigint;
  operands: Operand[];
  /** Its protection checks that hang on the privilege level and CR4 alone. */
  privilege?: Omit<ProtectionCheck, 'loads' | 'nonCanonical'>;
  /**
   * Loads DS, ES, FS, GS or SS: from a register, or from its first memory operand, `offset`
   * bytes in (a far pointer's selector follows its offset).
   */
  loads?: { sreg: LoadedSegment; from?: RegRef; offset: number };
}

/**
 * Decodes at most this many instructions' write sets are kept, by linear address: a recorded loop
 * decodes each of its instructions once (iced-x86's decoding and its info factory cost more than
 * the rest of a write set together).
 */
const CACHE_SIZE = 65536;
const cache = new Map<bigint, Decoded>();

/**
 * The write set of the instruction in `bytes` (at regs.rip, linear address `pc`), in code of
 * `bits` bits. A decode is reused for the same bytes at the same place.
 */
export function writeSet(bytes: Uint8Array, bits: 16 | 32 | 64, regs: Regs, sregs: Sregs, pc?: bigint): WriteSet {
  let d = pc === undefined ? undefined : cache.get(pc);
  if (!d || d.bits !== bits || d.rip !== regs.rip || !d.bytes.equals(bytes.subarray(0, d.bytes.length))) {
    d = decode(bytes, bits, regs.rip);
    if (pc !== undefined) {
      if (cache.size >= CACHE_SIZE) cache.clear();
      cache.set(pc, d);
    }
  }
  const ranges: WriteRange[] = [];
  const accesses: WriteRange[] = [];
  let nonCanonical: ProtectionCheck['nonCanonical'];
  for (const m of d.operands) {
    const offset = BigInt.asUintN(m.addrBits, m.displacement + regValue(m.base, regs) + regValue(m.index, regs) * m.scale);
    const segBase = bits === 64 && m.segment !== Register.FS && m.segment !== Register.GS ? 0n : segmentBase(m.segment, sregs);
    const linear = bits === 64 ? BigInt.asUintN(64, segBase + offset) : BigInt.asUintN(32, segBase + offset);
    const range = m.element ? repSpan(linear, m.element, m.addrBits, regs) : { linear, length: m.length };
    accesses.push(range);
    if (m.write) ranges.push(range);
    if (bits === 64 && !nonCanonical && !isCanonical(range.linear, range.length, sregs.cr4)) nonCanonical = m.segment === Register.SS ? 'stack' : 'other';
  }
  let protection: ProtectionCheck | undefined = d.privilege;
  if (d.loads || nonCanonical) {
    const l = d.loads;
    const loads = l && { sreg: l.sreg, selector: l.from && Number(regValue(l.from, regs) & 0xffffn), at: l.from ? undefined : accesses[0] && accesses[0].linear + BigInt(l.offset) };
    protection = { ...d.privilege, loads, nonCanonical };
  }
  if (d.interrupt) {
    const sp = BigInt.asUintN(bits === 64 ? 64 : 32, (bits === 64 ? 0n : sregs.ss.base) + (regs.rsp & ~15n) - BigInt(FRAME_BYTES));
    ranges.push({ linear: sp, length: FRAME_BYTES });
  }
  const { loadsSegment, vector, flags, fpu, landings, interrupt, halts, performed, next, shadowsTrap, divides } = d;
  const divide = divides && {
    signed: divides.signed, bytes: divides.bytes, dividend: dividendOf(divides.bytes, regs.rax, regs.rdx),
    divisor: divides.by && regValue(divides.by, regs),
  };
  return { ranges, accesses, loadsSegment, vector, divide, flags, fpu, landings, interrupt, halts, performed, next, shadowsTrap, protection };
}

/**
 * The vector an instruction raises by itself: a software interrupt's (int n, int3, into, int1)
 * or #UD (ud0, ud1, ud2). Undefined for any other.
 */
export function raisedVector(i: Instruction): number | undefined {
  switch (i.mnemonic) {
    case Mnemonic.Int: return i.immediate8;
    case Mnemonic.Int3: return 3;
    case Mnemonic.Into: return 4;
    case Mnemonic.Int1: return 1;
    default: return UNDEFINED_OPCODES.has(i.mnemonic) ? UD_VECTOR : undefined;
  }
}

function decode(bytes: Uint8Array, bits: 16 | 32 | 64, rip: bigint): Decoded {
  const d = new Decoder(bits, bytes, DecoderOptions.None);
  d.ip = rip;
  const i = d.decode();
  const ii = info.info(i);
  try {
    const operands: Operand[] = [];
    let loadsSegment = i.isJmpFar || i.isJmpFarIndirect || i.isCallFar || i.isCallFarIndirect ||
      /^(Iret|Retf|Int|Into|Syscall|Sysret|Sysenter|Sysexit)/.test(MNEMONIC_NAMES[i.mnemonic] ?? '');
    let fpu: boolean = i.encoding !== EncodingKind.Legacy || i.isSaveRestoreInstruction || i.fpuWritesTop ||
      /^(F|Ldmxcsr|Emms|Fxrstor|Xrstor)/.test((MNEMONIC_NAMES[i.mnemonic] ?? ''));
    for (const u of ii.usedRegisters()) {
      const r = u.register as Register;
      if (!RegisterExt.isGPR(r) && !RegisterExt.isSegmentRegister(r) && r !== Register.RIP && r !== Register.EIP) fpu = true;
      if (RegisterExt.isSegmentRegister(r) && WRITES.has(u.access)) loadsSegment = true;
      u.free();
    }
    // A rep string instruction's operands have no size: the count is in rCX (see writeSet).
    const element = i.isStringInstruction && (i.hasRepPrefix || i.hasRepePrefix || i.hasRepnePrefix) ? MemorySizeExt.size(i.memorySize) : 0;
    for (const m of ii.usedMemory()) {
      if (m.access !== OpAccess.NoMemAccess) {
        const size = m.memorySize === MemorySize.Unknown ? 0 : MemorySizeExt.size(m.memorySize);
        operands.push({
          base: regRef(m.base), index: regRef(m.index), scale: BigInt(m.scale), displacement: m.displacement, segment: m.segment as Register,
          addrBits: m.base !== Register.None && RegisterExt.isGPR16(m.base) ? 16 : m.base !== Register.None && RegisterExt.isGPR32(m.base) ? 32
            : bits === 64 ? 64 : bits === 32 ? 32 : 16,
          length: size || UNKNOWN_SIZE, write: WRITES.has(m.access), element: size ? 0 : element,
        });
      }
      m.free();
    }
    const flow = i.flowControl;
    const interrupt = flow === FlowControl.Interrupt || flow === FlowControl.Exception;
    // syscall and sysenter are calls to where an MSR says: they land anywhere.
    const fastCall = i.mnemonic === Mnemonic.Syscall || i.mnemonic === Mnemonic.Sysenter;
    let landings: bigint[] | undefined;
    if (flow === FlowControl.Next) landings = [i.nextIP];
    else if (flow === FlowControl.ConditionalBranch) landings = [i.nextIP, i.nearBranchTarget];
    else if ((flow === FlowControl.UnconditionalBranch || flow === FlowControl.Call) && !i.isJmpFar && !i.isCallFar && !fastCall) landings = [i.nearBranchTarget];
    const vector = raisedVector(i);
    const performed = i.mnemonic === Mnemonic.Int ? 'int' : i.code === Code.Iretw ? 'iret16' : undefined;
    const divides = i.mnemonic === Mnemonic.Div || i.mnemonic === Mnemonic.Idiv ? {
      signed: i.mnemonic === Mnemonic.Idiv, bytes: (i.op0Kind === OpKind.Register ? RegisterExt.size(i.op0Register) : MemorySizeExt.size(i.memorySize)) as 1 | 2 | 4 | 8,
      by: i.op0Kind === OpKind.Register ? regRef(i.op0Register) : undefined,
    } : undefined;
    return {
      bytes: Buffer.from(bytes.subarray(0, i.length)), bits, rip, operands, privilege: privilegeOf(i), loads: segmentLoad(i, operands[0]),
      loadsSegment, vector, divides, flags: stepFlags(i), fpu, landings, interrupt, halts: i.mnemonic === Mnemonic.Hlt || i.mnemonic === Mnemonic.Mwait,
      performed, next: i.nextIP, shadowsTrap: (i.mnemonic === Mnemonic.Mov || i.mnemonic === Mnemonic.Pop) && i.op0Register === Register.SS,
    };
  } finally {
    ii.free();
    i.free();
    d.free();
  }
}

/** The instructions whose privilege check is CPL <= IOPL; iced-x86 counts them as privileged. */
const IOPL_SENSITIVE = new Set([
  Mnemonic.Cli, Mnemonic.Sti, Mnemonic.In, Mnemonic.Out, Mnemonic.Insb, Mnemonic.Insw, Mnemonic.Insd, Mnemonic.Outsb, Mnemonic.Outsw, Mnemonic.Outsd,
]);
const UMIP_GUARDED = new Set([Mnemonic.Sgdt, Mnemonic.Sidt, Mnemonic.Sldt, Mnemonic.Smsw, Mnemonic.Str]);

/** The protection checks of `i` that hang on the privilege level and CR4 alone (protection-faults.ts). */
function privilegeOf(i: Instruction): Decoded['privilege'] {
  if (IOPL_SENSITIVE.has(i.mnemonic)) return { iopl: true };
  if (i.isPrivileged) return { ring0: true };
  if (i.mnemonic === Mnemonic.Rdtsc || i.mnemonic === Mnemonic.Rdtscp) return { cr4: { bit: CR4_TSD } };
  if (i.mnemonic === Mnemonic.Rdpmc) return { cr4: { bit: CR4_PCE, clear: true } };
  if (UMIP_GUARDED.has(i.mnemonic)) return { cr4: { bit: CR4_UMIP } };
  return undefined;
}

const FAR_POINTER_LOADS = new Map<Mnemonic, LoadedSegment>([[Mnemonic.Lds, 'ds'], [Mnemonic.Les, 'es'], [Mnemonic.Lfs, 'fs'], [Mnemonic.Lgs, 'gs'], [Mnemonic.Lss, 'ss']]);
const LOADED: Partial<Record<Register, LoadedSegment>> = { [Register.DS]: 'ds', [Register.ES]: 'es', [Register.FS]: 'fs', [Register.GS]: 'gs', [Register.SS]: 'ss' };

/**
 * Whether `i` may raise by itself an exception that a write set foresees from the registers:
 * #DE, or #GP, #SS or #NP (a privilege check, a selector, in 64-bit code any memory address).
 * The stepper makes a write set for these only.
 */
export function mayRaiseFault(i: Instruction, bits: 16 | 32 | 64): boolean {
  if (i.mnemonic === Mnemonic.Div || i.mnemonic === Mnemonic.Idiv || privilegeOf(i) || FAR_POINTER_LOADS.has(i.mnemonic)) return true;
  if ((i.mnemonic === Mnemonic.Mov || i.mnemonic === Mnemonic.Pop) && i.op0Kind === OpKind.Register && LOADED[i.op0Register]) return true;
  if (bits !== 64) return false;
  if (i.isStackInstruction) return true;
  for (let k = 0; k < i.opCount; k++) if (i.opKind(k) === OpKind.Memory) return true;
  return false;
}

/**
 * Where `i` takes the selector of the data or stack segment register it loads: `mov sreg, r/m`
 * and `pop sreg` from a register or the low 16 bits of their memory operand (`memory`), lds and
 * its kin from the end of their far pointer.
 */
function segmentLoad(i: Instruction, memory: Operand | undefined): Decoded['loads'] {
  const far = FAR_POINTER_LOADS.get(i.mnemonic);
  if (far) return memory && { sreg: far, offset: memory.length - 2 };
  if ((i.mnemonic !== Mnemonic.Mov && i.mnemonic !== Mnemonic.Pop) || i.op0Kind !== OpKind.Register) return undefined;
  const sreg = LOADED[i.op0Register];
  if (!sreg) return undefined;
  if (i.mnemonic === Mnemonic.Mov && i.op1Kind === OpKind.Register) return { sreg, from: regRef(i.op1Register), offset: 0 };
  return memory && { sreg, offset: 0 };
}

/**
 * The bytes a rep string instruction may reach from `linear` in one step: rCX elements (the
 * count register of its address size), downwards where RFLAGS.DF is set, at most UNKNOWN_SIZE
 * bytes. A hardware step runs one iteration; KVM's emulator (kvm_pvm's CPL0 code) may run many.
 * The recorder keeps only the bytes that changed of a span this long.
 */
function repSpan(linear: bigint, element: number, addrBits: 16 | 32 | 64, regs: Regs): WriteRange {
  const count = Number(BigInt.asUintN(addrBits, regs.rcx) > BigInt(UNKNOWN_SIZE) ? BigInt(UNKNOWN_SIZE) : BigInt.asUintN(addrBits, regs.rcx));
  const n = Math.max(1, Math.min(count, Math.floor(UNKNOWN_SIZE / element)));
  const down = (regs.rflags & RFLAGS_DF) !== 0n;
  return { linear: down ? BigInt.asUintN(addrBits === 64 ? 64 : 32, linear - BigInt((n - 1) * element)) : linear, length: n * element };
}

function segmentBase(seg: Register, s: Sregs): bigint {
  switch (seg) {
    case Register.ES: return s.es.base;
    case Register.CS: return s.cs.base;
    case Register.SS: return s.ss.base;
    case Register.FS: return s.fs.base;
    case Register.GS: return s.gs.base;
    default: return s.ds.base;
  }
}
