// The recorded past of one vCPU as an undo log: per instruction, the registers before it and the
// old and new bytes of every location it may have written (both images, so going back and going
// forward are both exact copies and nothing is re-executed: device reads are not repeated and
// device writes not redone). Memory moves entry by entry; registers are set once, at the
// position where a move ends. No KVM, no DAP: the state is reached through `VcpuState`, which
// host tests fake.
import type { Regs, Sregs } from '../../x86/registers.js';

/** The bytes one instruction wrote at a guest-physical address: before and after. */
export interface Write {
  gpa: number;
  old: Buffer;
  new: Buffer;
}

/** One recorded instruction. */
export interface Entry {
  /** Linear address of the instruction. */
  pc: bigint;
  /** Registers before it. */
  regs: Regs;
  /** Special registers before it (the previous entry's object when unchanged). */
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

export class UndoLog {
  private readonly entries: Entry[] = [];
  /** How many entries lie before the vCPU's state: entries.length at the present. */
  private pos = 0;
  /** The live state, saved when the first step back leaves the present. */
  private head: CpuState | undefined;

  constructor(private readonly cpu: VcpuState) {}

  get length(): number {
    return this.entries.length;
  }

  get position(): number {
    return this.pos;
  }

  get atPresent(): boolean {
    return this.pos === this.entries.length;
  }

  get inexactCount(): number {
    return this.entries.filter((e) => e.inexact).length;
  }

  get deliveredCount(): number {
    return this.entries.filter((e) => e.delivered !== undefined).length;
  }

  /** The entry at index i (the instruction executed from position i to i + 1). */
  at(i: number): Entry {
    return this.entries[i];
  }

  /** The memory this log holds, roughly (register objects counted at a flat size). */
  get bytes(): number {
    let n = 0;
    for (const e of this.entries) {
      n += 200 + (e.fpu ? e.fpu.before.length * 2 : 0);
      for (const w of e.writes) n += 16 + w.old.length * 2;
    }
    return n;
  }

  /** Appends an instruction just executed at the present. */
  append(e: Entry): void {
    if (!this.atPresent) throw new Error('recording while in the past');
    const prev = this.entries[this.entries.length - 1];
    if (prev && sameSregs(prev.sregs, e.sregs)) e.sregs = prev.sregs;
    this.entries.push(e);
    this.pos = this.entries.length;
    this.head = undefined;
  }

  /** Undoes the memory writes of the entry before the position; false at the start of history. */
  back(): boolean {
    if (this.pos === 0) return false;
    if (this.atPresent) this.head ??= this.cpu.read();
    const e = this.entries[--this.pos];
    for (let k = e.writes.length - 1; k >= 0; k--) this.cpu.writePhysical(e.writes[k].gpa, e.writes[k].old);
    return true;
  }

  /** Redoes the memory writes of the entry at the position; false at the present. */
  forward(): boolean {
    if (this.atPresent) return false;
    const e = this.entries[this.pos++];
    for (const w of e.writes) this.cpu.writePhysical(w.gpa, w.new);
    return true;
  }

  /** Sets the vCPU's registers to those of the position (after back/forward moved the memory). */
  settle(): void {
    if (this.atPresent && !this.head) return; // never left the present
    const live = this.head!;
    const s = this.atPresent ? live : { regs: this.entries[this.pos].regs, sregs: this.entries[this.pos].sregs, xsave: this.fpuAt(this.pos) ?? live.xsave };
    this.cpu.write(s);
    if (this.atPresent) this.head = undefined;
  }

  /** The XSAVE area at a position: the first FPU-touching entry from there saved it. */
  private fpuAt(pos: number): Buffer | undefined {
    for (let i = pos; i < this.entries.length; i++) if (this.entries[i].fpu) return this.entries[i].fpu!.before;
    return undefined;
  }

  /** Drops the history (at the present only: the past's state would be left behind). */
  clear(): void {
    if (!this.atPresent) throw new Error('clearing history while in the past');
    this.entries.length = 0;
    this.pos = 0;
    this.head = undefined;
  }
}

/** Whether two special-register images are equal, field by field. */
export function sameSregs(a: Sregs, b: Sregs): boolean {
  if (a === b) return true;
  for (const k of Object.keys(a) as (keyof Sregs)[]) {
    const x = a[k];
    const y = b[k];
    if (typeof x === 'object' && x !== null) {
      for (const f of Object.keys(x) as (keyof typeof x)[]) if (x[f] !== (y as typeof x)[f]) return false;
    } else if (x !== y) return false;
  }
  return true;
}
