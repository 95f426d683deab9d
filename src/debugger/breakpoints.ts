// The breakpoint table: the user's breakpoints (source, function, instruction, data) and what
// they become in the monitor. Its request and answer shapes are DAP's (structurally, without
// importing the protocol), so the session passes them through unchanged. Code breakpoints share one software breakpoint per address (stepping adds temporary
// ones), counted so that removing one never removes another's. Data breakpoints take debug
// registers (or trapped pages, see the monitor's watch backends). Hit counts, conditions and
// logpoints are judged here, the same way for every kind.
import type { Machine } from '../vmm/machine.js';
import type { HwLength } from '../vmm/debug/breakpoints.js';
import type { DebugInfo, SymbolsMove } from './debug-info.js';

export type BreakpointKind = 'source' | 'function' | 'instruction' | 'data';

/** What every kind of breakpoint may carry. */
export interface BreakpointOptions {
  condition?: string;
  hitCondition?: string;
  logMessage?: string;
}

/** A breakpoint as the user set it, and how it was placed (DAP's Breakpoint has this shape). */
export interface BreakpointState {
  id: number;
  verified: boolean;
  line?: number;
  source?: { path: string };
  instructionReference?: string;
  message?: string;
}

export interface DataTarget {
  address: bigint;
  length: number;
  access: 'write' | 'readwrite';
  description: string;
}

interface UserBreakpoint extends BreakpointOptions {
  id: number;
  kind: BreakpointKind;
  addresses: bigint[];
  source?: string;
  line?: number;
  message?: string;
  hits: number;
  data?: DataTarget & { monitorId?: number };
  /** A function breakpoint's name as the user wrote it (resolved again when symbols move). */
  name?: string;
}

/** A kernel's breakpoint placed before the running kernel's slide is known. */
const WAITS_FOR_SLIDE = 'at its link address until the running kernel\'s KASLR slide is known (when the kernel starts running at its virtual addresses), then moved by it';

const REASONS: Record<BreakpointKind, string> = {
  source: 'breakpoint', function: 'function breakpoint', instruction: 'instruction breakpoint', data: 'data breakpoint',
};

/** A hit condition: "5" or ">= 5" (from the 5th hit on), "> 5", "== 5", "< 5", "<= 5", "% 3" (every 3rd). */
export function parseHitCondition(text: string): ((hits: number) => boolean) | undefined {
  const m = /^\s*(>=|<=|==|=|>|<|%)?\s*(\d+)\s*$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[2]);
  switch (m[1]) {
    case '>': return (h) => h > n;
    case '<': return (h) => h < n;
    case '<=': return (h) => h <= n;
    case '==': case '=': return (h) => h === n;
    case '%': return (h) => n > 0 && h % n === 0;
    default: return (h) => h >= n;
  }
}

/** Parses a data breakpoint id made by dataId(). */
export function parseDataId(id: string): DataTarget | undefined {
  const m = /^mem:(0x[0-9a-f]+):(\d+):(.*)$/i.exec(id);
  return m ? { address: BigInt(m[1]), length: Number(m[2]), access: 'write', description: m[3] } : undefined;
}

export function dataId(address: bigint, length: number, description: string): string {
  return `mem:0x${address.toString(16)}:${length}:${description}`;
}

export class Breakpoints {
  private nextId = 1;
  private readonly bySource = new Map<string, UserBreakpoint[]>();
  private functions: UserBreakpoint[] = [];
  private instructions: UserBreakpoint[] = [];
  private data: UserBreakpoint[] = [];
  private temporary: bigint[] = [];
  /** What the monitor holds now: address → monitor id. */
  private readonly placed = new Map<bigint, number>();
  machine: Machine | undefined;

  constructor(private readonly info: () => DebugInfo | undefined) {}

  setSource(path: string, requested: (BreakpointOptions & { line: number })[]): BreakpointState[] {
    const info = this.info();
    const bps = requested.map((b): UserBreakpoint => {
      const r = info?.resolveLine(path, b.line);
      const base = this.make('source', b, r?.addresses ?? [], { source: path, line: r?.line ?? b.line });
      if (!r) base.message = 'no code at or after this line in the symbols';
      else if (!base.message && info!.waitsForSlideAt(r.addresses[0])) base.message = WAITS_FOR_SLIDE;
      return base;
    });
    this.bySource.set(path, bps);
    this.sync();
    return bps.map((b) => this.describe(b));
  }

  setFunctions(requested: (BreakpointOptions & { name: string })[]): BreakpointState[] {
    this.functions = requested.map((b) => {
      const bp = this.make('function', b, [], { name: b.name.trim() });
      return bp.message ? bp : this.resolveFunction(bp); // a hit condition not understood
    });
    this.sync();
    return this.functions.map((b) => this.describe(b));
  }

  /** A function breakpoint's address from its name: an exact `*ADDRESS`, or a symbol. */
  private resolveFunction(bp: UserBreakpoint): UserBreakpoint {
    const info = this.info();
    const name = bp.name!;
    const exact = /^\*\s*(0x[0-9a-f]+|\d+)$/i.exec(name);
    if (exact) return { ...bp, addresses: [BigInt(exact[1])] };
    const f = info?.functionAddress(name);
    if (!f) return { ...bp, addresses: [], message: `no function "${name}" in the symbols` };
    const body = (f.compiled && info!.afterPrologue(f.address, f.size ? f.address + f.size : undefined)) || f.address;
    const message = info!.waitsForSlide(name) ? WAITS_FOR_SLIDE : undefined;
    return { ...bp, addresses: [body], message };
  }

  /**
   * The symbols moved (a kernel's slide became known, or a restart forgot it, or modules came):
   * source breakpoints in the moved ranges move with them, function breakpoints are resolved
   * again, and all are placed; those whose address changed are returned, to be told to the client.
   */
  symbolsMoved(moves: readonly SymbolsMove[] = []): BreakpointState[] {
    const changed: BreakpointState[] = [];
    for (const [path, bps] of this.bySource) {
      this.bySource.set(path, bps.map((b) => {
        const m = b.addresses.length ? moves.find((x) => b.addresses.every((a) => a >= x.from && a < x.to)) : undefined;
        if (!m) return b;
        const addresses = b.addresses.map((a) => a + m.by);
        const waits = this.info()?.waitsForSlideAt(addresses[0]);
        const moved = { ...b, addresses, message: waits ? WAITS_FOR_SLIDE : b.message === WAITS_FOR_SLIDE ? undefined : b.message };
        changed.push(this.describe(moved));
        return moved;
      }));
    }
    this.functions = this.functions.map((b) => {
      if (b.hitCondition && !parseHitCondition(b.hitCondition)) return b;
      const r = this.resolveFunction(b);
      if (r.addresses[0] !== b.addresses[0] || r.message !== b.message) changed.push(this.describe(r));
      return r;
    });
    this.sync();
    return changed;
  }

  setInstructions(requested: (BreakpointOptions & { instructionReference: string; offset?: number })[]): BreakpointState[] {
    this.instructions = requested.map((b): UserBreakpoint => {
      try {
        return this.make('instruction', b, [BigInt(b.instructionReference) + BigInt(b.offset ?? 0)]);
      } catch {
        return { ...this.make('instruction', b, []), message: `"${b.instructionReference}" is not an address` };
      }
    });
    this.sync();
    return this.instructions.map((b) => this.describe(b));
  }

  /** Data breakpoints: each takes a debug register (DR0-DR3, shared with hardware breakpoints). */
  setData(requested: (BreakpointOptions & { dataId: string; accessType?: 'read' | 'write' | 'readWrite' })[]): BreakpointState[] {
    this.releaseData();
    this.data = requested.map((b): UserBreakpoint => {
      const bp = this.make('data', b, []);
      const target = parseDataId(b.dataId);
      if (!target) return { ...bp, message: `"${b.dataId}" is not a data breakpoint this adapter made` };
      if (b.accessType === 'read') {
        return { ...bp, message: 'x86 cannot watch reads alone: its debug registers break on writes, or on reads and writes (use "read/write")' };
      }
      bp.data = { ...target, access: b.accessType === 'readWrite' ? 'readwrite' : 'write' };
      return bp;
    });
    this.placeData();
    return this.data.map((b) => this.describe(b));
  }

  private placeData(): void {
    const m = this.machine;
    if (!m) return;
    for (const b of this.data) {
      if (!b.data) continue;
      try {
        b.data.monitorId = m.addHardwareBreakpoint(b.data.address, b.data.access, b.data.length as HwLength);
        b.message = undefined;
      } catch (e) {
        b.data.monitorId = undefined;
        b.message = (e as Error).message;
        if (b.data.access === 'write') {
          // Four debug registers are not enough, or the size is not 1, 2, 4 or 8 aligned:
          // watch the pages instead.
          b.data.monitorId = m.addPageWatch(b.data.address, b.data.length);
          b.message = `${b.message}: watching its page instead (every write to that 4 KiB page stops the guest briefly, so it runs slower there)`;
        }
      }
    }
  }

  private releaseData(): void {
    for (const b of this.data) {
      if (b.data?.monitorId !== undefined) this.machine?.removeBreakpoint(b.data.monitorId);
    }
  }

  /** Runs `f` with extra breakpoints at `addresses` (for stepping), removed afterwards. */
  async withTemporary<T>(addresses: bigint[], f: () => Promise<T>): Promise<T> {
    this.temporary = addresses;
    this.sync();
    try {
      return await f();
    } finally {
      this.temporary = [];
      this.sync();
    }
  }

  /** The user code breakpoints at an address where the guest stopped. */
  hitAt(address: bigint): { ids: number[]; reason: string } | undefined {
    const hits = this.codeBreakpoints().filter((b) => b.addresses.includes(address));
    return hits.length ? { ids: hits.map((b) => b.id), reason: REASONS[hits[0].kind] } : undefined;
  }

  /** The addresses of the code breakpoints: where a run is likeliest to stop (StopPrefetch). */
  codeAddresses(): bigint[] {
    return this.codeBreakpoints().flatMap((b) => b.addresses);
  }

  /** The data breakpoint behind a monitor watchpoint. */
  dataHit(monitorId: number): { id: number; target: DataTarget } | undefined {
    const b = this.data.find((x) => x.data?.monitorId === monitorId);
    return b && { id: b.id, target: b.data! };
  }

  /** The enabled data breakpoints (for reverse execution, which searches the history for their writes). */
  dataTargets(): { id: number; target: DataTarget }[] {
    return this.data.filter((b) => b.data).map((b) => ({ id: b.id, target: b.data! }));
  }

  /**
   * Counts a hit on each breakpoint in `ids` and decides whether to stop: every breakpoint
   * whose hit condition and condition hold stops, unless it is a logpoint (which logs). A
   * condition that can't be evaluated stops, with the error.
   */
  judge(ids: number[], evaluate: (expr: string) => string): { stop: boolean; logs: string[]; error?: string; ids: number[]; reason?: string } {
    const logs: string[] = [];
    const stopping: UserBreakpoint[] = [];
    let stop = false;
    let error: string | undefined;
    for (const b of this.all().filter((x) => ids.includes(x.id))) {
      b.hits++;
      if (b.hitCondition && !parseHitCondition(b.hitCondition)?.(b.hits)) continue;
      if (b.condition) {
        let v: string;
        try {
          v = evaluate(b.condition);
        } catch (e) {
          error = `breakpoint condition "${b.condition}" could not be evaluated: ${(e as Error).message}`;
          stop = true;
          stopping.push(b);
          continue;
        }
        if (!truthy(v)) continue;
      }
      if (b.logMessage !== undefined) {
        logs.push(b.logMessage.replace(/\{([^{}]+)\}/g, (_, expr: string) => {
          try {
            return evaluate(expr);
          } catch (e) {
            return `<${(e as Error).message}>`;
          }
        }));
        continue;
      }
      stop = true;
      stopping.push(b);
    }
    return { stop, logs, error, ids: stopping.map((b) => b.id), reason: stopping[0] && REASONS[stopping[0].kind] };
  }

  /** Makes the monitor's software breakpoints match what is wanted now. */
  sync(): void {
    const m = this.machine;
    if (!m) return;
    const wanted = new Set<bigint>([...this.codeBreakpoints().flatMap((b) => b.addresses), ...this.temporary]);
    for (const [addr, id] of this.placed) {
      if (!wanted.has(addr)) {
        m.removeBreakpoint(id);
        this.placed.delete(addr);
      }
    }
    for (const addr of wanted) {
      if (!this.placed.has(addr)) this.placed.set(addr, m.addSoftwareBreakpoint(addr));
    }
  }

  /** A new machine (launch or restart): everything is placed again and hit counts restart. */
  attach(m: Machine): void {
    this.machine = m;
    this.placed.clear();
    for (const b of this.all()) b.hits = 0;
    this.sync();
    this.placeData();
  }

  private make(kind: BreakpointKind, b: BreakpointOptions, addresses: bigint[], extra: Partial<UserBreakpoint> = {}): UserBreakpoint {
    const bp: UserBreakpoint = {
      id: this.nextId++, kind, addresses, hits: 0, ...extra,
      condition: b.condition || undefined, hitCondition: b.hitCondition || undefined, logMessage: b.logMessage,
    };
    if (bp.hitCondition && !parseHitCondition(bp.hitCondition)) {
      bp.message = `hit condition "${bp.hitCondition}" is not understood: use N, >= N, > N, == N, < N, <= N or % N`;
      bp.addresses = [];
    }
    return bp;
  }

  private codeBreakpoints(): UserBreakpoint[] {
    return [...[...this.bySource.values()].flat(), ...this.functions, ...this.instructions];
  }

  private all(): UserBreakpoint[] {
    return [...this.codeBreakpoints(), ...this.data];
  }

  private describe(b: UserBreakpoint): BreakpointState {
    const verified = b.kind === 'data' ? b.data?.monitorId !== undefined : b.addresses.length > 0;
    const out: BreakpointState = { id: b.id, verified };
    if (b.line !== undefined) out.line = b.line;
    if (b.source) out.source = { path: b.source };
    if (verified && b.kind !== 'data') out.instructionReference = '0x' + b.addresses[0].toString(16);
    if (b.message) out.message = b.message;
    return out;
  }
}

/** C truthiness of an evaluated value's text: "0", "false", "0x0", "0.0" and null pointers are false. */
function truthy(v: string): boolean {
  const t = v.trim().split(/\s+/)[0].replace(/^\(.*\)$/, '');
  if (/^(false|0|0x0+|0\.0*|-0|\(nil\)|NULL)$/i.test(t)) return false;
  if (/^\(.*\)\s*0x0+$/.test(v.trim())) return false;
  return true;
}
