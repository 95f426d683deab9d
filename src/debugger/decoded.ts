// What decoding tells of one instruction, whatever the registers: its flow, what its step's trap
// flag does, the interrupt or fault it may raise, its memory operands as formulas over the
// registers. Kept by linear address: the stepper and the recorder's write sets (history/
// write-set.ts) share one decode of each instruction, reused while the bytes, the code's bitness
// and RIP at that address stay the same. No KVM, no DAP.
import {
  Code, Decoder, DecoderOptions, EncodingKind, FlowControl, type Instruction, InstructionInfoFactory, MemorySize, MemorySizeExt, Mnemonic, OpAccess, OpKind,
  Register, RegisterExt, RflagsBits,
} from 'iced-x86';
import type { Regs } from '../x86/registers.js';
import { stepFlags, type StepFlags } from './step-flags.js';
import { CR4_PCE, CR4_TSD, CR4_UMIP, type LoadedSegment, type ProtectionCheck } from '../x86/protection-faults.js';

/** #UD: what ud0, ud1 and ud2 raise, always. */
export const UD_VECTOR = 6;
/** What an instruction of unknown size (xsave, fxsave, ...) is assumed to access: a page. */
export const UNKNOWN_SIZE = 4096;

/**
 * A general register as an operand names it (an address register, a divisor), resolved once at
 * decoding: its field of Regs, its width, and whether it is AH-DH (bits 8-15). Reading it is then
 * plain JavaScript; each of iced-x86's register queries is a call into WebAssembly, and a cached
 * write set made them for every operand of every recorded step.
 */
export interface RegRef {
  name: keyof Regs;
  bits: number;
  high: boolean;
}

/** The value of `r` in `regs` (0 for none). */
export function regValue(r: RegRef | undefined, regs: Regs): bigint {
  if (!r) return 0n;
  const v = regs[r.name];
  return BigInt.asUintN(r.bits, r.high ? v >> 8n : v);
}

/** A memory operand as decoded: its address is worked out with the registers of the step. */
export interface Operand {
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

export interface Decoded {
  /** The instruction's bytes (its length) and where it was decoded: a kept decode serves while they match. */
  bytes: Buffer;
  bits: 16 | 32 | 64;
  rip: bigint;
  flow: FlowControl;
  /** The RIP after it, and a direct branch's target (RIP values, as `rip`). */
  next: bigint;
  target?: bigint;
  /** The RIP values it can lead to by itself; undefined where anywhere is possible. */
  landings?: bigint[];
  /** Every memory operand, read or written. */
  operands: Operand[];
  /** Loads a segment register (mov to one, a far jump, iret...): the CPU may set its descriptor's Accessed bit. */
  loadsSegment: boolean;
  /** May change x87/SSE/AVX state (or MXCSR): its XSAVE area is saved around it. */
  fpu: boolean;
  /** Delivers an interrupt or exception (int n, int3, ud2...). */
  interrupt: boolean;
  /**
   * The vector it raises by itself: a software interrupt's (int n, int3, into, int1) or #UD
   * (ud0, ud1, ud2). Its frame can be foreseen.
   */
  vector?: number;
  /** A div or idiv: signed or not, its size, and its divisor register (none: in memory). */
  divides?: { signed: boolean; bytes: 1 | 2 | 4 | 8; by?: RegRef };
  /** What the step's trap flag leaves in R11 or takes from RFLAGS (step-flags.ts). */
  flags: StepFlags;
  /** Waits for an interrupt (hlt, mwait): it must be stepped with interrupts let through. */
  halts: boolean;
  /** wrfsbase or wrgsbase: a segment base changes with no segment load. */
  writesBase: boolean;
  /** Reads or writes RFLAGS.IF (cli, sti, pushf, popf, iret, int, ...), or halts. */
  touchesIf: boolean;
  /** `int n` or a 16-bit `iret`: in real mode the monitor performs them itself (real-mode-int.ts). */
  performed?: 'int' | 'iret16';
  /** Loads SS (mov, pop): the CPU holds the step's trap until after the next instruction too. */
  shadowsTrap: boolean;
  /**
   * May raise by itself a #DE, or a #GP, #SS or #NP (a privilege check, a selector, in 64-bit
   * code any memory address): the stepper makes a write set for these only.
   */
  mayFault: boolean;
  /** Its protection checks that hang on the privilege level and CR4 alone. */
  privilege?: Omit<ProtectionCheck, 'loads' | 'nonCanonical'>;
  /**
   * Loads DS, ES, FS, GS or SS: from a register, or from its first memory operand, `offset`
   * bytes in (a far pointer's selector follows its offset).
   */
  loads?: { sreg: LoadedSegment; from?: RegRef; offset: number };
  /** A far transfer (iret, retf, a far jmp or call), as ProtectionCheck's `far` but for where its frame or pointer is. */
  far?: Omit<NonNullable<ProtectionCheck['far']>, 'at'>;
}

/**
 * Decodes kept, by linear address: a loop stepped through or recorded decodes each of its
 * instructions once (iced-x86's decoder and its info factory, calls into WebAssembly, cost more
 * than the rest of a step's own work where Node runs slowly).
 */
const KEPT = 65536;
const kept = new Map<bigint, Decoded>();

/**
 * The instruction in `bytes`, in code of `bits` bits at `rip`; `pc`, its linear address, keeps
 * the decode for the next time the same bytes run there with the same RIP.
 */
export function decodedAt(bytes: Uint8Array, bits: 16 | 32 | 64, rip: bigint, pc?: bigint): Decoded {
  let d = pc === undefined ? undefined : kept.get(pc);
  if (!d || d.bits !== bits || d.rip !== rip || !d.bytes.equals(bytes.subarray(0, d.bytes.length))) {
    d = decode(bytes, bits, rip);
    if (pc !== undefined && d.bytes.length > 0) {
      if (kept.size >= KEPT) kept.clear();
      kept.set(pc, d);
    }
  }
  return d;
}

const UNDEFINED_OPCODES = new Set([Mnemonic.Ud0, Mnemonic.Ud1, Mnemonic.Ud2]);
const WRITES = new Set([OpAccess.Write, OpAccess.CondWrite, OpAccess.ReadWrite, OpAccess.ReadCondWrite]);
const info = new InstructionInfoFactory();
/** iced's enums map numbers back to names (wasm-bindgen): x87 mnemonics all begin with F. */
const MNEMONIC_NAMES = Mnemonic as unknown as Record<number, string>;
const REGISTER_NAMES = Register as unknown as Record<number, string>;

/** `r` as a RegRef; undefined for none, and for RIP (iced folds RIP-relative into the displacement). */
function regRef(r: Register): RegRef | undefined {
  if (r === Register.None || r === Register.RIP || r === Register.EIP) return undefined;
  return {
    name: REGISTER_NAMES[RegisterExt.fullRegister(r) as number].toLowerCase() as keyof Regs,
    bits: RegisterExt.size(r) * 8,
    high: r === Register.AH || r === Register.BH || r === Register.CH || r === Register.DH,
  };
}

/**
 * The vector an instruction raises by itself: a software interrupt's (int n, int3, into, int1)
 * or #UD (ud0, ud1, ud2). Undefined for any other.
 */
function raisedVector(i: Instruction, mn: Mnemonic): number | undefined {
  switch (mn) {
    case Mnemonic.Int: return i.immediate8;
    case Mnemonic.Int3: return 3;
    case Mnemonic.Into: return 4;
    case Mnemonic.Int1: return 1;
    default: return UNDEFINED_OPCODES.has(mn) ? UD_VECTOR : undefined;
  }
}

function decode(bytes: Uint8Array, bits: 16 | 32 | 64, rip: bigint): Decoded {
  const d = new Decoder(bits, bytes, DecoderOptions.None);
  d.ip = rip;
  const i = d.decode();
  const ii = info.info(i);
  try {
    // Each property of an iced-x86 instruction is a call into WebAssembly: the mnemonic is read once.
    const mn = i.mnemonic;
    const operands: Operand[] = [];
    let loadsSegment = i.isJmpFar || i.isJmpFarIndirect || i.isCallFar || i.isCallFarIndirect ||
      /^(Iret|Retf|Int|Into|Syscall|Sysret|Sysenter|Sysexit)/.test(MNEMONIC_NAMES[mn] ?? '');
    let fpu: boolean = i.encoding !== EncodingKind.Legacy || i.isSaveRestoreInstruction || i.fpuWritesTop ||
      /^(F|Ldmxcsr|Emms|Fxrstor|Xrstor)/.test((MNEMONIC_NAMES[mn] ?? ''));
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
    const direct = flow === FlowControl.Call || flow === FlowControl.UnconditionalBranch || flow === FlowControl.ConditionalBranch;
    const target = direct ? i.nearBranchTarget : undefined;
    // syscall and sysenter are calls to where an MSR says: they land anywhere.
    const fastCall = mn === Mnemonic.Syscall || mn === Mnemonic.Sysenter;
    let landings: bigint[] | undefined;
    if (flow === FlowControl.Next) landings = [i.nextIP];
    else if (flow === FlowControl.ConditionalBranch) landings = [i.nextIP, i.nearBranchTarget];
    else if ((flow === FlowControl.UnconditionalBranch || flow === FlowControl.Call) && !i.isJmpFar && !i.isCallFar && !fastCall) landings = [i.nearBranchTarget];
    const halts = mn === Mnemonic.Hlt || mn === Mnemonic.Mwait || mn === Mnemonic.Mwaitx;
    const divides = mn === Mnemonic.Div || mn === Mnemonic.Idiv ? {
      signed: mn === Mnemonic.Idiv, bytes: (i.op0Kind === OpKind.Register ? RegisterExt.size(i.op0Register) : MemorySizeExt.size(i.memorySize)) as 1 | 2 | 4 | 8,
      by: i.op0Kind === OpKind.Register ? regRef(i.op0Register) : undefined,
    } : undefined;
    const privilege = privilegeOf(i, mn);
    const loads = segmentLoad(i, mn, operands[0]);
    const far = farTransfer(i, mn, operands[0]);
    return {
      bytes: Buffer.from(bytes.subarray(0, i.length)), bits, rip, flow, next: i.nextIP, target, landings, operands,
      loadsSegment, fpu, interrupt, vector: raisedVector(i, mn), divides, flags: stepFlags(mn), halts,
      writesBase: mn === Mnemonic.Wrfsbase || mn === Mnemonic.Wrgsbase,
      touchesIf: ((i.rflagsRead | i.rflagsModified) & RflagsBits.IF) !== 0 || halts || interrupt,
      performed: mn === Mnemonic.Int ? 'int' : i.code === Code.Iretw ? 'iret16' : undefined,
      shadowsTrap: (mn === Mnemonic.Mov || mn === Mnemonic.Pop) && i.op0Register === Register.SS,
      mayFault: divides !== undefined || privilege !== undefined || loads !== undefined || far !== undefined || (bits === 64 && operands.length > 0),
      privilege, loads, far,
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
function privilegeOf(i: Instruction, mn: Mnemonic): Decoded['privilege'] {
  if (IOPL_SENSITIVE.has(mn)) return { iopl: true };
  if (i.isPrivileged) return { ring0: true };
  if (mn === Mnemonic.Rdtsc || mn === Mnemonic.Rdtscp) return { cr4: { bit: CR4_TSD } };
  if (mn === Mnemonic.Rdpmc) return { cr4: { bit: CR4_PCE, clear: true } };
  if (UMIP_GUARDED.has(mn)) return { cr4: { bit: CR4_UMIP } };
  return undefined;
}

const FAR_POINTER_LOADS = new Map<Mnemonic, LoadedSegment>([[Mnemonic.Lds, 'ds'], [Mnemonic.Les, 'es'], [Mnemonic.Lfs, 'fs'], [Mnemonic.Lgs, 'gs'], [Mnemonic.Lss, 'ss']]);
const LOADED: Partial<Record<Register, LoadedSegment>> = { [Register.DS]: 'ds', [Register.ES]: 'es', [Register.FS]: 'fs', [Register.GS]: 'gs', [Register.SS]: 'ss' };

/**
 * Where `i` takes the selector of the data or stack segment register it loads: `mov sreg, r/m`
 * and `pop sreg` from a register or the low 16 bits of their memory operand (`memory`), lds and
 * its kin from the end of their far pointer.
 */
function segmentLoad(i: Instruction, mn: Mnemonic, memory: Operand | undefined): Decoded['loads'] {
  const far = FAR_POINTER_LOADS.get(mn);
  if (far) return memory && { sreg: far, offset: memory.length - 2 };
  if ((mn !== Mnemonic.Mov && mn !== Mnemonic.Pop) || i.op0Kind !== OpKind.Register) return undefined;
  const sreg = LOADED[i.op0Register];
  if (!sreg) return undefined;
  if (mn === Mnemonic.Mov && i.op1Kind === OpKind.Register) return { sreg, from: regRef(i.op1Register), offset: 0 };
  return memory && { sreg, offset: 0 };
}

const IRETS = new Set([Mnemonic.Iret, Mnemonic.Iretd, Mnemonic.Iretq]);

/**
 * `i` as a far transfer whose new CS may fault: iret and a far ret (their frame is `memory`, the
 * stack, in words of its size), a far jmp or call through a pointer in memory (offset, then
 * selector) or in the instruction.
 */
function farTransfer(i: Instruction, mn: Mnemonic, memory: Operand | undefined): Decoded['far'] {
  if ((IRETS.has(mn) || mn === Mnemonic.Retf) && memory) {
    return { kind: mn === Mnemonic.Retf ? 'retf' : 'iret', slot: memory.length, imm: i.op0Kind === OpKind.Immediate16 ? i.immediate16 : 0 };
  }
  if ((i.isJmpFarIndirect || i.isCallFarIndirect) && memory) return { kind: 'jmp', slot: memory.length - 2, imm: 0 };
  if (i.isJmpFar || i.isCallFar) {
    return { kind: 'jmp', slot: 0, imm: 0, selector: i.farBranchSelector, offset: BigInt(i.op0Kind === OpKind.FarBranch16 ? i.farBranch16 : i.farBranch32) };
  }
  return undefined;
}
