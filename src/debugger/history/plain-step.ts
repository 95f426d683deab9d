// The recorder's fast path: a plain instruction of 64-bit or 32-bit code, recorded with numbers
// instead of BigInts and objects. "Plain": it cannot change the special registers, raise an
// exception by itself, touch the FPU, halt or load RFLAGS, and its memory operands are
// general-register formulas of at most KEEP_WHOLE bytes each, none of which crosses a page. For
// such an instruction the general path (recorder.ts recordStep) foresees no handler entry, saves
// no page-table entry and no descriptor, and keeps each written operand's bytes whole: the entry
// is the registers before it and its operands' old and new bytes. This module finds that out
// from a decode kept by RIP and page verdicts kept by page, so that a recorded step of a loop
// costs little more than the step itself (a profile put the general path's JavaScript at about
// 12 µs a step on kvm_pvm, where the step's KVM_RUN takes 9). No KVM, no DAP.
import { Register } from 'iced-x86';
import type { Decoded, RegRef } from '../decoded.js';
import { GPR } from '../../x86/registers.js';
import { faults, fetchFaults, marksEntry, type PhysReader, type WalkResult } from '../../x86/pagewalk.js';
import type { Walks } from './walks.js';

/** Spans up to this long are kept whole in the history; longer ones only where they changed (recorder.ts changed()). */
export const KEEP_WHOLE = 16;
const TWO32 = 2 ** 32;
/** The longest instruction: the general path reads this much code at RIP, and marks its pages. */
const MAX_INSN = 15;

/** A memory operand as word indices into kvm_regs (two 32-bit words a register, low first). */
export interface PlainOperand {
  /** The base and index registers' low word (-1: none), and whether their high word counts (a 64-bit register). */
  base: number;
  baseWide: boolean;
  index: number;
  indexWide: boolean;
  scale: number;
  dispLo: number;
  dispHi: number;
  /** The segment whose base is added, as an index into SEGMENTS (-1: none; in 64-bit code only FS and GS have one). */
  segment: number;
  /** 32-bit addressing (an address-size prefix in 64-bit code): the offset wraps at 4 GiB. */
  addr32: boolean;
  /** In 32-bit code: the linear address wraps at 4 GiB too. */
  linear32: boolean;
  length: number;
  write: boolean;
}

/** The segment registers whose bases an operand may add, in the order plain steps keep them. */
export const SEGMENTS = ['es', 'cs', 'ss', 'ds', 'fs', 'gs'] as const;
/** CS's place in SEGMENTS. */
const CS = 1;
const SEGMENT_OF: Partial<Record<Register, number>> = {
  [Register.ES]: 0, [Register.CS]: 1, [Register.SS]: 2, [Register.DS]: 3, [Register.FS]: 4, [Register.GS]: 5,
};

/** A plain instruction: its operands, and the RIP values it can end at (undefined: anywhere, as Decoded's landings). */
export interface PlainInstruction {
  operands: PlainOperand[];
  landingsLo?: number[];
  landingsHi?: number[];
}

/** An instruction kept by RIP: its bytes, where they lie in RAM, and what it is. */
export interface KeptInstruction {
  ripHi: number;
  /** The code's bitness and CS base it was decoded under. */
  bits: 32 | 64;
  csBase: number;
  pc: bigint;
  bytes: Uint8Array;
  /** The walks' generation at which `buf` (its page of RAM), `off` and the fetch verdict were found. */
  generation: number;
  buf: Buffer;
  off: number;
  plain: PlainInstruction | undefined;
}

/** A linear page's verdict for plain steps, under the paging state of a walks generation. */
interface PageVerdict {
  /** A read (write) of it neither faults nor sets an Accessed (Dirty) bit. */
  read: boolean;
  write: boolean;
  fetch: boolean;
  /** Its guest-physical address, and its bytes in RAM (undefined: not RAM, or not mapped). */
  gpa: number;
  page: Buffer | undefined;
}

/** One written operand of a step being recorded: where it lies (in `buf`, a page of RAM, at `off`), and its bytes before. */
export interface PlainWrite {
  gpa: number;
  buf: Buffer;
  off: number;
  old: Buffer;
}

/**
 * What makes `d` (decoded in 64-bit or 32-bit code) a plain instruction, or undefined where it is
 * not one. The flags Decoded carries cover every way an instruction changes the special registers
 * (segment loads, far transfers, interrupts, wrfsbase and wrgsbase, the privileged ones: mov
 * to CR, lgdt, wrmsr, swapgs...).
 */
export function plainInstruction(d: Decoded): PlainInstruction | undefined {
  if (d.bits === 16 || d.loadsSegment || d.fpu || d.interrupt || d.vector !== undefined || d.divides || d.halts || d.performed ||
    d.shadowsTrap || d.privilege || d.loads || d.far || d.flags.loadsFlags || d.flags.flagsToR11 || d.writesBase) return undefined;
  const operands: PlainOperand[] = [];
  for (const m of d.operands) {
    const segment = SEGMENT_OF[m.segment];
    if (m.element || m.length > KEEP_WHOLE || m.addrBits === 16 || segment === undefined) return undefined;
    const base = wordOf(m.base);
    const index = wordOf(m.index);
    if (base === undefined || index === undefined) return undefined;
    const disp = BigInt.asUintN(64, m.displacement);
    operands.push({
      base: base.word, baseWide: base.wide, index: index.word, indexWide: index.wide, scale: Number(m.scale),
      dispLo: Number(disp & 0xffffffffn), dispHi: Number(disp >> 32n),
      segment: d.bits === 32 || m.segment === Register.FS || m.segment === Register.GS ? segment : -1,
      addr32: d.bits === 64 && m.addrBits === 32, linear32: d.bits === 32, length: m.length, write: m.write,
    });
  }
  const out: PlainInstruction = { operands };
  if (d.landings) {
    out.landingsLo = d.landings.map((r) => Number(r & 0xffffffffn));
    out.landingsHi = d.landings.map((r) => Number((r >> 32n) & 0xffffffffn));
  }
  return out;
}

/** An address register as a word index; undefined where plain steps do not take it (16 or 8 bits). */
function wordOf(r: RegRef | undefined): { word: number; wide: boolean } | undefined {
  if (!r) return { word: -1, wide: false };
  if (r.high || (r.bits !== 64 && r.bits !== 32)) return undefined;
  return { word: 2 * GPR[r.name as keyof typeof GPR], wide: r.bits === 64 };
}

/**
 * The linear address of `op` with the registers in `w` (kvm_regs as 32-bit words), as write-set.ts
 * works it out: offset = base + index * scale + displacement at the address size, plus its
 * segment's base (`bases`: low and high word of each of SEGMENTS), at 64 bits or, in 32-bit
 * code, 32. Left in `at.lo`/`at.hi`.
 */
export function operandAddress(op: PlainOperand, w: Uint32Array, bases: readonly number[], at: { lo: number; hi: number }): void {
  let lo = op.dispLo;
  let hi = op.dispHi;
  if (op.base >= 0) {
    lo += w[op.base];
    if (op.baseWide) hi += w[op.base + 1];
  }
  if (op.index >= 0) {
    lo += w[op.index] * op.scale;
    if (op.indexWide) hi += w[op.index + 1] * op.scale;
  }
  let carry = Math.floor(lo / TWO32);
  lo -= carry * TWO32;
  hi = op.addr32 || op.linear32 ? 0 : (hi + carry) % TWO32;
  if (op.segment >= 0) {
    lo += bases[2 * op.segment];
    carry = Math.floor(lo / TWO32);
    lo -= carry * TWO32;
    hi = op.linear32 ? 0 : (hi + bases[2 * op.segment + 1] + carry) % TWO32;
  }
  at.lo = lo;
  at.hi = hi;
}

/**
 * The caches of plain steps for one vCPU: instructions by RIP, page verdicts by linear page. Both
 * hang on the walks (walks.ts): a page verdict, and where an instruction's bytes lie, hold for one
 * generation of them.
 */
export class PlainSteps {
  private readonly kept = new Map<number, KeptInstruction>();
  private readonly verdicts = new Map<number, PageVerdict>();
  private generation = -1;
  /** The privilege level and the canonical check the verdicts and checks were made for. */
  private ring = 0;
  private la57 = false;
  /** The code's bitness, and the segment bases (low and high word of each of SEGMENTS). */
  private bits: 32 | 64 = 64;
  private readonly bases = new Array<number>(2 * SEGMENTS.length).fill(0);
  private readonly at = { lo: 0, hi: 0 };

  constructor(private readonly mem: PhysReader) {}

  /**
   * The state plain steps take as it is, set by the recorder from special registers it read:
   * code of `bits` bits at privilege level `ring`, LA57, the bases of SEGMENTS.
   */
  setState(bits: 32 | 64, ring: number, la57: boolean, bases: readonly bigint[]): void {
    if (ring !== this.ring || la57 !== this.la57) this.verdicts.clear();
    this.bits = bits;
    this.ring = ring;
    this.la57 = la57;
    bases.forEach((b, k) => {
      this.bases[2 * k] = Number(b & 0xffffffffn);
      this.bases[2 * k + 1] = Number((b >> 32n) & 0xffffffffn);
    });
  }

  /** CS base's low word: 32-bit code's linear addresses are CS base + EIP. */
  private get csBase(): number {
    return this.bases[2 * CS];
  }

  /**
   * The instruction at RIP in `w` where it is plain and its code, operands and pages let a plain
   * step record it; undefined otherwise. `decode` reads and decodes the code at a linear
   * address, RIP and bitness (a miss only).
   */
  instruction(w: Uint32Array, walks: Walks, decode: (pc: bigint, rip: bigint, bits: 32 | 64) => { bytes: Uint8Array; plain: PlainInstruction | undefined } | undefined): KeptInstruction | undefined {
    this.sync(walks);
    const lo = w[2 * GPR.rip];
    const hi = w[2 * GPR.rip + 1];
    let k = this.kept.get(lo);
    if (!k || k.ripHi !== hi || k.bits !== this.bits || k.csBase !== this.csBase || k.generation !== this.generation || !sameBytes(k)) {
      // The linear address: CS base + EIP in 32-bit code.
      const pcLo = this.bits === 64 ? lo : (this.csBase + lo) % TWO32;
      const pcHi = this.bits === 64 ? hi : 0;
      // In-page only: the general path also reads and marks the page after the 15 bytes.
      if ((pcLo & 0xfff) > 4096 - MAX_INSN) return undefined;
      const v = this.verdict(walks, pcHi * 0x100000 + Math.floor(pcLo / 4096));
      if (!v.fetch || !v.page) return undefined;
      const pc = (BigInt(pcHi) << 32n) | BigInt(pcLo);
      const d = decode(pc, (BigInt(hi) << 32n) | BigInt(lo), this.bits);
      if (!d) return undefined;
      k = { ripHi: hi, bits: this.bits, csBase: this.csBase, pc, bytes: d.bytes, generation: this.generation, buf: v.page, off: pcLo & 0xfff, plain: d.plain };
      if (this.kept.size >= 65536) this.kept.clear();
      this.kept.set(lo, k);
    }
    return k.plain ? k : undefined;
  }

  /**
   * Where the operands of `p` lie with the registers of `w`, the bytes of those it writes read
   * into `writes`: true where every operand is canonical, within a page, and reached without a
   * fault or a page-table bit to set (and written ones in RAM).
   */
  operands(p: PlainInstruction, w: Uint32Array, walks: Walks, writes: PlainWrite[]): boolean {
    writes.length = 0;
    const at = this.at;
    for (const op of p.operands) {
      operandAddress(op, w, this.bases, at);
      const top = this.la57 ? at.hi >>> 24 : at.hi >>> 15;
      if ((top !== 0 && top !== (this.la57 ? 0xff : 0x1ffff)) || (at.lo & 0xfff) + op.length > 4096) return false;
      const v = this.verdict(walks, at.hi * 0x100000 + Math.floor(at.lo / 4096));
      if (!(op.write ? v.write && v.page : v.read)) return false;
      if (op.write) {
        const off = at.lo & 0xfff;
        const old = Buffer.allocUnsafe(op.length);
        for (let k = 0; k < op.length; k++) old[k] = v.page![off + k];
        writes.push({ gpa: v.gpa + off, buf: v.page!, off, old });
      }
    }
    return true;
  }

  /** Drops what was found under older walks. */
  private sync(walks: Walks): void {
    if (walks.generation === this.generation) return;
    this.generation = walks.generation;
    this.verdicts.clear();
  }

  private verdict(walks: Walks, page: number): PageVerdict {
    let v = this.verdicts.get(page);
    if (!v) {
      const linear = BigInt(page) << 12n;
      const r = walks.at(linear);
      const ring = this.ring;
      const gpa = r.ok ? walks.physical(linear) : undefined;
      v = {
        read: r.ok && !faults(r, walks.regs, { write: false, ring, ac: false }) && marked(r, false),
        write: r.ok && !faults(r, walks.regs, { write: true, ring, ac: false }) && marked(r, true),
        fetch: r.ok && !fetchFaults(r, walks.regs, ring) && marked(r, false),
        gpa: gpa ?? -1, page: gpa !== undefined && this.mem.contains(gpa, 4096) ? this.mem.view(gpa, 4096) : undefined,
      };
      this.verdicts.set(page, v);
    }
    return v;
  }
}

/** Whether a walk leaves nothing for the CPU to mark: every level Accessed, and for a write the leaf Dirty. */
function marked(r: WalkResult & { ok: true }, write: boolean): boolean {
  const levels = r.t.levels;
  return !levels.some((l, k) => marksEntry(l, k === levels.length - 1, write));
}

/** Whether the bytes a kept instruction was decoded from are still there. */
function sameBytes(k: KeptInstruction): boolean {
  const { bytes, buf, off } = k;
  for (let i = 0; i < bytes.length; i++) if (buf[off + i] !== bytes[i]) return false;
  return true;
}
