// The DAP breakpoints (source, function, instruction) and the software breakpoints they become
// in the monitor. Several DAP breakpoints may share an address, and stepping adds temporary
// ones; the monitor gets one breakpoint per address, counted so that removing one user never
// removes another's.
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { Machine } from '../vmm/machine.js';
import type { DebugInfo } from './debug-info.js';

export type BreakpointKind = 'source' | 'function' | 'instruction';

interface UserBreakpoint {
  id: number;
  kind: BreakpointKind;
  addresses: bigint[];
  /** Where it is bound, as reported to the client. */
  source?: string;
  line?: number;
  message?: string;
}

export class Breakpoints {
  private nextId = 1;
  private readonly bySource = new Map<string, UserBreakpoint[]>();
  private functions: UserBreakpoint[] = [];
  private instructions: UserBreakpoint[] = [];
  private temporary: bigint[] = [];
  /** What the monitor holds now: address → monitor id. */
  private readonly placed = new Map<bigint, number>();
  machine: Machine | undefined;

  constructor(private readonly info: () => DebugInfo | undefined) {}

  setSource(path: string, lines: number[]): DebugProtocol.Breakpoint[] {
    const info = this.info();
    const bps = lines.map((line): UserBreakpoint => {
      const r = info?.resolveLine(path, line);
      if (!r) return { id: this.nextId++, kind: 'source', addresses: [], source: path, line, message: 'no code at or after this line in the symbols' };
      return { id: this.nextId++, kind: 'source', addresses: r.addresses, source: path, line: r.line };
    });
    this.bySource.set(path, bps);
    this.sync();
    return bps.map((b) => this.describe(b));
  }

  setFunctions(names: string[]): DebugProtocol.Breakpoint[] {
    const info = this.info();
    this.functions = names.map((name): UserBreakpoint => {
      const id = this.nextId++;
      const exact = /^\*\s*(0x[0-9a-f]+|\d+)$/i.exec(name.trim());
      if (exact) return { id, kind: 'function', addresses: [BigInt(exact[1])] };
      const f = info?.functionAddress(name.trim());
      if (!f) return { id, kind: 'function', addresses: [], message: `no function "${name}" in the symbols` };
      const body = (f.compiled && info!.afterPrologue(f.address, f.size ? f.address + f.size : undefined)) || f.address;
      return { id, kind: 'function', addresses: [body] };
    });
    this.sync();
    return this.functions.map((b) => this.describe(b));
  }

  setInstructions(refs: DebugProtocol.InstructionBreakpoint[]): DebugProtocol.Breakpoint[] {
    this.instructions = refs.map((r): UserBreakpoint => {
      const id = this.nextId++;
      try {
        return { id, kind: 'instruction', addresses: [BigInt(r.instructionReference) + BigInt(r.offset ?? 0)] };
      } catch {
        return { id, kind: 'instruction', addresses: [], message: `"${r.instructionReference}" is not an address` };
      }
    });
    this.sync();
    return this.instructions.map((b) => this.describe(b));
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

  /** The user breakpoints at an address where the guest stopped, and the stop reason they give. */
  hitAt(address: bigint): { ids: number[]; reason: string } | undefined {
    const hits = this.all().filter((b) => b.addresses.includes(address));
    if (!hits.length) return undefined;
    const reason = { source: 'breakpoint', function: 'function breakpoint', instruction: 'instruction breakpoint' }[hits[0].kind];
    return { ids: hits.map((b) => b.id), reason };
  }

  /** Makes the monitor's software breakpoints match what is wanted now. */
  sync(): void {
    const m = this.machine;
    if (!m) return;
    const wanted = new Set<bigint>([...this.all().flatMap((b) => b.addresses), ...this.temporary]);
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

  /** A new machine (launch or restart): everything is placed again. */
  attach(m: Machine): void {
    this.machine = m;
    this.placed.clear();
    this.sync();
  }

  private all(): UserBreakpoint[] {
    return [...[...this.bySource.values()].flat(), ...this.functions, ...this.instructions];
  }

  private describe(b: UserBreakpoint): DebugProtocol.Breakpoint {
    const verified = b.addresses.length > 0;
    const out: DebugProtocol.Breakpoint = { id: b.id, verified };
    if (b.line !== undefined) out.line = b.line;
    if (b.source) out.source = { path: b.source };
    if (verified) out.instructionReference = '0x' + b.addresses[0].toString(16);
    if (b.message) out.message = b.message;
    return out;
  }
}
