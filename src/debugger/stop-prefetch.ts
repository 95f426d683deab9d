// While the guest runs toward its breakpoints, reads what a stop at one of them will show: the
// call frame information, the symbol, the source line, the DWARF scopes and locals there, and
// for a Linux kernel the layouts that name each vCPU's task in the Threads view. Each is kept
// once read, so the first stop's threads, stack and locals come from memory. For a
// kernel this is most of the wait at the first stop (its .debug_frame index and the top level
// of one unit's DIEs: about 0.1 s on a 2-CPU host, a second in the test VM), and the guest's
// boot gives the adapter seconds of idle time. gdb reads such things eagerly at start; kvmdbg
// reads them lazily, ahead of the likeliest need.
import type { DebugInfo } from './debug-info.js';

/**
 * At most this many breakpoint addresses are prepared per run: each can read a unit's DIEs,
 * so a long list would make the adapter hold the DWARF of units it may never stop in.
 */
export const PREFETCH_ADDRESSES = 16;

export class StopPrefetch {
  private pending: (() => void)[] = [];
  private timer: NodeJS.Immediate | undefined;

  /**
   * Runs `reads`, one per turn of the event loop so that a request or a guest exit waits for one
   * read at most; what a previous start left is dropped.
   */
  start(reads: (() => void)[]): void {
    this.cancel();
    this.pending = [...reads];
    if (this.pending.length) this.timer = setImmediate(() => this.next());
  }

  /** Stops preparing: the guest stopped, and what a stop needs is read on demand from here. */
  cancel(): void {
    if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
    this.pending = [];
  }

  private next(): void {
    this.timer = undefined;
    const read = this.pending.shift();
    if (!read) return;
    try {
      read();
    } catch {
      // Debug information that can't be read here fails the same way at the stop, which says so.
    }
    if (this.pending.length) this.timer = setImmediate(() => this.next());
  }
}

/** What stops at breakpoints at `addresses` read (DebugInfo.stopReads): each address once, the first PREFETCH_ADDRESSES. */
export function breakpointReads(info: Pick<DebugInfo, 'stopReads'>, addresses: readonly bigint[]): (() => void)[] {
  return [...new Set(addresses)].slice(0, PREFETCH_ADDRESSES).flatMap((pc) => info.stopReads(pc));
}
