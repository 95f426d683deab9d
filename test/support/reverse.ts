// The reverse-execution tests' moves and reads over DAP (test/dap-reverse*.test.ts): the top
// frame's pc, registers, memory, the state a position must reproduce, and the steps each way.
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { hex, scope, stopped, topFrame } from './dap.js';

/** The stop of each request in the test VM, where a step of node is slow. */
export const STOP_MS = 60000;

/** The helpers over the client `get` returns (each test has its own). */
export function reverseClient(get: () => DebugClient) {
  const pc = async (): Promise<bigint> => BigInt((await topFrame(get())).instructionPointerReference!);
  const reg = async (name: string): Promise<bigint> => BigInt((await scope(get(), 'Registers')).get(name)!.value);
  const readMem = async (addr: bigint, count: number): Promise<Buffer> => {
    const r = await get().customRequest('readMemory', { memoryReference: hex(addr), count });
    return Buffer.from(r.body.data, 'base64');
  };
  const repl = async (expression: string): Promise<string> => (await get().evaluateRequest({ expression, context: 'repl' })).body.result;
  /** Every register the views show (general, segment, system, FPU/SSE) and the bytes of `data`, as text. */
  const state = async (data: { from: bigint; to: bigint }[]): Promise<string> => {
    const parts: string[] = [];
    for (const s of ['Registers', 'Segments', 'System', 'FPU/SSE']) {
      for (const [k, v] of await scope(get(), s)) parts.push(`${s}.${k}=${v.value}`);
    }
    for (const d of data) parts.push(`${hex(d.from)}=` + (await readMem(d.from, Number(d.to - d.from))).toString('hex'));
    return parts.join('\n');
  };
  /** The next stop; a timeout names where the vCPU is and the history's position. */
  const stop = async (): Promise<DebugProtocol.StoppedEvent> => {
    try {
      return await stopped(get(), STOP_MS);
    } catch (e) {
      const where = await pc().then(hex, (x: Error) => x.message);
      const pos = await repl('info record').then((t) => /position: .*/.exec(t)?.[0], (x: Error) => x.message);
      throw new Error(`${(e as Error).message} (at ${where}, ${pos})`);
    }
  };
  const stepBack = async (granularity: DebugProtocol.SteppingGranularity = 'instruction'): Promise<DebugProtocol.StoppedEvent> => {
    await get().stepBackRequest({ threadId: 1, granularity });
    return stop();
  };
  const stepForward = async (): Promise<DebugProtocol.StoppedEvent> => {
    await get().stepInRequest({ threadId: 1, granularity: 'instruction' });
    return stop();
  };
  /** `n` instruction steps forward: the pc after each; `after(k)` looks at the state after step k. */
  const stepPcs = async (n: number, after?: (k: number) => Promise<void>): Promise<bigint[]> => {
    const pcs: bigint[] = [];
    for (let k = 0; k < n; k++) {
      await stepForward();
      pcs.push(await pc());
      await after?.(k);
    }
    return pcs;
  };
  /** Instruction breakpoints at `addrs` only. */
  const breakAt = (...addrs: bigint[]) =>
    get().customRequest('setInstructionBreakpoints', { breakpoints: addrs.map((a) => ({ instructionReference: hex(a) })) });
  /** Continues (forward) or reverse-continues to the instruction breakpoint at `addr`, the only one. */
  const runTo = async (addr: bigint, reverse = false): Promise<DebugProtocol.StoppedEvent> => {
    await breakAt(addr);
    if (reverse) await get().reverseContinueRequest({ threadId: 1 });
    else await get().continueRequest({ threadId: 1 });
    const ev = await stop();
    if ((await pc()) !== addr) throw new Error(`stopped at ${hex(await pc())} (${ev.body.reason}: ${ev.body.description ?? ''}), not at ${hex(addr)}`);
    return ev;
  };
  return { pc, reg, readMem, repl, state, stop, stepBack, stepForward, stepPcs, breakAt, runTo };
}
