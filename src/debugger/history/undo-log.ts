// The recorded past of one vCPU as an undo log: per instruction, the registers before it and the
// old and new bytes of every location it may have written (both images, so going back and going
// forward are both exact copies and nothing is re-executed: device reads are not repeated and
// device writes not redone). Memory moves entry by entry; registers are set once, at the
// position where a move ends. The entries are packed (packed-entries.ts): registers as a delta to
// the next entry's, which a move applies to a register image kept at the position; the special
// registers, FPU images and the rare marks live in side tables indexed by position. No KVM, no
// DAP: the state is reached through `VcpuState`, which host tests fake.
import { GPR, GPR_NAMES, regsOfWords, type Regs, type Sregs } from '../../x86/registers.js';
import { linearRip } from '../../x86/modes.js';
import { PackedEntries, REGS_BYTES, type PackedWrite } from './packed-entries.js';

/** The bytes one instruction wrote at a guest-physical address: before and after. */
export type Write = PackedWrite;

/** One recorded instruction, as the recorder hands it over. */
export interface Entry {
  /** Linear address of the instruction. */
  pc: bigint;
  /** Registers before it. */
  regs: Regs;
  /** Special registers before it. */
  sregs: Sregs;
  /** The XSAVE area around it, when it may change x87/SSE/AVX state. */
  fpu?: { before: Buffer; after: Buffer };
  writes: Write[];
  /** The vector of an interrupt this step delivered (the step ended at its handler; the frame is among the writes). */
  delivered?: number;
  /** Why going back over it may not restore everything (an exception frame on another stack...). */
  inexact?: string;
}

/** The vCPU state a position sets: what `VcpuState` reads and writes. */
export interface CpuState {
  regs: Regs;
  sregs: Sregs;
  xsave: Buffer;
}

export interface VcpuState {
  read(): CpuState;
  /** Sets registers; `sregs` only when they differ from the vCPU's now. */
  write(s: { regs: Regs; sregs: Sregs; xsave: Buffer }): void;
  writePhysical(gpa: number, data: Buffer): void;
}

const NOT_READ = Symbol('not read');

/** Rough heap sizes of what the side tables hold, for `bytes`: a special-register object, a map entry. */
const SREGS_BYTES = 600;
const MARK_BYTES = 64;

export class UndoLog {
  /** Every entry but the last, packed. */
  private readonly packed = new PackedEntries();
  /**
   * The last entry, not packed yet: its register delta needs the registers before the next one.
   * `pcFollows`: its pc is not CS base + RIP (packed-entries.ts PC_FOLLOWS).
   */
  private last: { pc: bigint; pcFollows: boolean; writes: Write[] } | undefined;
  /** Its registers as kvm_regs bytes. */
  private lastRegs: Uint8Array | undefined;
  /** How many entries lie before the vCPU's state: length at the present. */
  private pos = 0;
  /** The live state, saved when the first step back leaves the present. */
  private head: CpuState | undefined;
  /** The registers at the position (kvm_regs layout), kept by the moves away from the present. */
  private readonly cursor = new BigUint64Array(GPR_NAMES.length);
  private readonly cursorBytes = new Uint8Array(this.cursor.buffer);
  /** The special registers, one image per change: sregs[k] holds from entry sregsFrom[k] on. */
  private readonly sregsFrom: number[] = [];
  private readonly sregs: Sregs[] = [];
  /** The index into `sregs` of the position's. */
  private seg = 0;
  /** The entries that saved the FPU state (ascending), and their images. */
  private readonly fpuFrom: number[] = [];
  private readonly fpu: { before: Buffer; after: Buffer }[] = [];
  /** The stored pc of the entry at the position, as the last move back parsed it (NOT_READ: not yet). */
  private pcHere: bigint | undefined | typeof NOT_READ = NOT_READ;
  private readonly write = (gpa: number, data: Buffer) => this.cpu.writePhysical(gpa, data);
  private readonly delivered = new Map<number, number>();
  private readonly inexact = new Map<number, string>();
  private first: bigint | undefined;

  constructor(private readonly cpu: VcpuState) {}

  get length(): number {
    return this.packed.length + (this.last ? 1 : 0);
  }

  get position(): number {
    return this.pos;
  }

  get atPresent(): boolean {
    return this.pos === this.length;
  }

  get inexactCount(): number {
    return this.inexact.size;
  }

  /** The first `n` entries that may not be restored exactly: their positions and why. */
  inexactEntries(n: number): [number, string][] {
    return [...this.inexact].sort((a, b) => a[0] - b[0]).slice(0, n);
  }

  get deliveredCount(): number {
    return this.delivered.size;
  }

  /** The linear address of the first instruction recorded. */
  get firstPc(): bigint | undefined {
    return this.first;
  }

  /** The memory this log holds: the packed entries exactly, the side tables roughly. */
  get bytes(): number {
    let n = this.packed.bytes + this.sregs.length * SREGS_BYTES + (this.delivered.size + this.inexact.size) * MARK_BYTES;
    for (const f of this.fpu) n += f.before.length + f.after.length;
    if (this.last) n += REGS_BYTES + SREGS_BYTES;
    return n;
  }

  /** Appends an instruction just executed at the present. */
  append(e: Entry): void {
    const i = this.add(e.pc, linearRip(e.regs.rip, e.sregs) !== e.pc, regsBytes(e.regs), e.sregs, e.writes);
    if (e.fpu) {
      this.fpuFrom.push(i);
      this.fpu.push(e.fpu);
    }
    if (e.delivered !== undefined) this.delivered.set(i, e.delivered);
    if (e.inexact !== undefined) this.inexact.set(i, e.inexact);
  }

  /**
   * Appends a plain instruction (history/plain-step.ts) just executed at the present: at `pc`,
   * CS base + RIP of `regs` (kvm_regs bytes, kept), with nothing but `writes` to note, unless
   * `inexact` says why it may not be restored exactly.
   */
  appendPlain(pc: bigint, regs: Uint8Array, sregs: Sregs, writes: Write[], inexact?: string): void {
    const i = this.add(pc, false, regs, sregs, writes);
    if (inexact !== undefined) this.inexact.set(i, inexact);
  }

  /** Packs the entry before, then makes this one the last: its index. */
  private add(pc: bigint, pcFollows: boolean, regs: Uint8Array, sregs: Sregs, writes: Write[]): number {
    if (!this.atPresent) throw new Error('recording while in the past');
    const i = this.length;
    const l = this.last;
    if (l) this.packed.push(l.pcFollows ? l.pc : undefined, this.lastRegs!, regs, l.writes);
    if (!this.sregs.length || !sameSregs(this.sregs[this.sregs.length - 1], sregs)) {
      this.sregsFrom.push(i);
      this.sregs.push(sregs);
    }
    this.first ??= pc;
    this.last = { pc, pcFollows, writes };
    this.lastRegs = regs;
    this.pos = i + 1;
    this.head = undefined;
    return i;
  }

  /** Undoes the memory writes of the entry before the position; false at the start of history. */
  back(): boolean {
    if (this.pos === 0) return false;
    const i = --this.pos;
    if (i === this.packed.length) {
      // Leaving the present: the last entry's registers are whole.
      this.head ??= this.cpu.read();
      this.cursorBytes.set(this.lastRegs!);
      this.seg = this.sregs.length - 1;
      this.undo(this.last!.writes);
      return true;
    }
    this.pcHere = this.packed.undo(i, this.cursorBytes, this.write);
    while (this.sregsFrom[this.seg] > i) this.seg--;
    return true;
  }

  /** Redoes the memory writes of the entry at the position; false at the present. */
  forward(): boolean {
    if (this.atPresent) return false;
    const i = this.pos++;
    if (i === this.packed.length) {
      for (const w of this.last!.writes) this.cpu.writePhysical(w.gpa, w.new);
      return true;
    }
    this.packed.redo(i, this.cursorBytes, this.write);
    this.pcHere = NOT_READ;
    if (this.seg + 1 < this.sregs.length && this.sregsFrom[this.seg + 1] <= this.pos) this.seg++;
    return true;
  }

  /** The linear address of the instruction at the position (in the past only). */
  pc(): bigint {
    if (this.pos === this.packed.length) return this.last!.pc;
    if (this.pcHere === NOT_READ) this.pcHere = this.packed.pc(this.pos);
    return this.pcHere ?? linearRip(this.cursor[GPR.rip], this.sregs[this.seg]);
  }

  /** A general register at the position (in the past only), as it was before the instruction there. */
  reg(name: keyof Regs): bigint {
    return this.cursor[GPR[name]];
  }

  /** The writes of the instruction at the position (in the past only). */
  writes(): Write[] {
    return this.pos === this.packed.length ? this.last!.writes : this.packed.writes(this.pos);
  }

  /** Sets the vCPU's registers to those of the position (after back/forward moved the memory). */
  settle(): void {
    if (this.atPresent && !this.head) return; // never left the present
    const live = this.head!;
    const s = this.atPresent ? live : { regs: this.registers(), sregs: this.sregs[this.seg], xsave: this.fpuAt(this.pos) ?? live.xsave };
    this.cpu.write(s);
    if (this.atPresent) this.head = undefined;
  }

  /** Drops the history (at the present only: the past's state would be left behind). */
  clear(): void {
    if (!this.atPresent) throw new Error('clearing history while in the past');
    this.packed.clear();
    this.last = undefined;
    this.lastRegs = undefined;
    this.pcHere = NOT_READ;
    this.pos = 0;
    this.head = undefined;
    for (const a of [this.sregsFrom, this.sregs, this.fpuFrom, this.fpu]) a.length = 0;
    this.delivered.clear();
    this.inexact.clear();
    this.first = undefined;
  }

  /** How many special-register images the log keeps: one per change. */
  get sregsImages(): number {
    return this.sregs.length;
  }

  private undo(writes: readonly Write[]): void {
    for (let k = writes.length - 1; k >= 0; k--) this.cpu.writePhysical(writes[k].gpa, writes[k].old);
  }

  private registers(): Regs {
    return regsOfWords(this.cursor);
  }

  /** The XSAVE area at a position: the first FPU-touching entry from there saved it. */
  private fpuAt(pos: number): Buffer | undefined {
    let lo = 0;
    let hi = this.fpuFrom.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.fpuFrom[mid] < pos) lo = mid + 1;
      else hi = mid;
    }
    return this.fpu[lo]?.before;
  }
}

/** Registers as kvm_regs bytes. */
function regsBytes(r: Regs): Uint8Array {
  const words = new BigUint64Array(GPR_NAMES.length);
  for (let k = 0; k < GPR_NAMES.length; k++) words[k] = r[GPR_NAMES[k]];
  return new Uint8Array(words.buffer);
}

/** Whether two special-register images are equal, field by field. */
export function sameSregs(a: Sregs, b: Sregs): boolean {
  if (a === b) return true;
  for (const k of Object.keys(a) as (keyof Sregs)[]) {
    const x = a[k];
    const y = b[k];
    if (x === y) continue; // a segment shared by both (Vcpu.getSregs), or an equal value
    if (typeof x === 'object' && x !== null) {
      for (const f of Object.keys(x) as (keyof typeof x)[]) if (x[f] !== (y as typeof x)[f]) return false;
    } else return false;
  }
  return true;
}
