// The page walks of recorded steps, by linear page. Within a step the tables cannot change before
// it runs. Across steps a walk is kept while nothing it read can have changed: the paging
// registers, guest memory as the monitor writes it (GuestMemory.monitorWrites), and the pages of
// the table entries it read, which a step writes only where its history entry says so (the
// Accessed and Dirty bits the CPU sets included: the recorder saves those entries too). A step
// whose entry is not exact drops them all. In a loop, every walk after its first round is kept:
// before, a recorded step walked its code's page and each operand's afresh, a seventh of its
// time in the test VM.
import { walk, type PagingRegs, type PhysReader, type WalkResult } from '../../x86/pagewalk.js';

/** Guest memory as the walks read it, with the count of the monitor's writes to it. */
export interface WalkedMemory extends PhysReader {
  readonly monitorWrites: number;
}

export class Walks {
  private readonly memo = new Map<bigint, WalkResult>();
  /** Guest-physical page numbers of the table entries that the kept walks read. */
  private readonly tables = new Set<number>();
  private monitorWrites: number;
  /** Moves on each time the kept walks are dropped: what was found under them (plain-step.ts) is stale then. */
  generation = 0;

  constructor(private readonly mem: WalkedMemory, public regs: PagingRegs) {
    this.monitorWrites = mem.monitorWrites;
  }

  /** The walks for a step under `regs`: those kept, unless the paging registers or the monitor's writes moved. */
  begin(regs: PagingRegs): this {
    const r = this.regs;
    if (regs.cr3 !== r.cr3 || regs.cr0 !== r.cr0 || regs.cr4 !== r.cr4 || regs.efer !== r.efer || this.mem.monitorWrites !== this.monitorWrites) this.forget();
    this.regs = regs;
    this.monitorWrites = this.mem.monitorWrites;
    return this;
  }

  /** After a step: `writes`, all it wrote (a history entry's), drop the walks only where they touch the tables read; undefined (not known) drops every walk. */
  end(writes: readonly { gpa: number; old: Uint8Array }[] | undefined): void {
    if (!writes) return this.forget();
    for (const w of writes) {
      for (let page = Math.floor(w.gpa / 4096); page <= Math.floor((w.gpa + Math.max(w.old.length, 1) - 1) / 4096); page++) {
        if (this.tables.has(page)) return this.forget();
      }
    }
  }

  forget(): void {
    this.generation++;
    this.memo.clear();
    this.tables.clear();
  }

  at(linear: bigint): WalkResult {
    const page = linear >> 12n;
    let r = this.memo.get(page);
    if (!r) {
      r = walk(this.mem, this.regs, linear);
      this.memo.set(page, r);
      for (const l of r.ok ? r.t.levels : r.levels) this.tables.add(Math.floor(l.entryAddress / 4096));
    }
    return r;
  }

  /** The guest-physical address of `linear`, undefined where it is not mapped. */
  physical(linear: bigint): number | undefined {
    const r = this.at(linear);
    return r.ok ? r.t.physical - Number(r.t.linear & 0xfffn) + Number(linear & 0xfffn) : undefined;
  }
}
