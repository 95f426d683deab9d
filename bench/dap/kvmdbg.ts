// The kvmdbg side of the DAP benchmark: drives `node dist/adapter.js` over stdio the way VS Code
// does on every F11 in the Disassembly view, and times it.
//
// Stop cycle: stepIn {granularity: 'instruction'} -> stopped event -> stackTrace -> scopes ->
// variables(Registers). Timed per cycle; the rate is cycles / summed cycle time.
// Registers + memory: variables(Registers) then readMemory {rsp, 64 bytes}, at one stop, again and
// again (the figure gdb's `info registers` + `x/64xb $rsp` stands against), and once after each
// step ("fresh": the adapter's per-stop snapshot has to be read from KVM again).
//
// The guest is stepped from kmain to END (after the bump() loop: the same 152 instructions under
// QEMU), then rip/rsp/rbp are put back to their values at kmain and it goes again; the reset is
// not timed. Both sides step exactly the same instructions.
import { join } from 'node:path';
import { DapClient } from './client.js';

export interface KvmdbgOptions {
  adapter: string;
  img: string;
  elf: string;
  kmain: bigint;
  end: bigint;
  /** Milliseconds of stop cycles measured, after warmupMs of them. */
  durationMs: number;
  warmupMs: number;
  /** Milliseconds of the registers + memory loop. */
  memMs: number;
  /** Stop cycles for the fresh registers + memory variant. */
  freshCount: number;
  /** Extra node options for the adapter (--cpu-prof, -r preload, ...). */
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
  /** Only stop cycles (for profiling): no registers + memory loops. */
  cyclesOnly?: boolean;
}

export interface SideResult {
  /** Stop cycles per second. */
  cyclesPerSec: number;
  cycles: number;
  /** Instructions per pass from kmain to END (a check that both sides step the same path). */
  stepsPerPass: number;
  /** ms per registers + 64 bytes, repeated at one stop. */
  regsMemMs: number;
  /** ms per registers + 64 bytes, first requests after a step. */
  regsMemFreshMs: number;
  /** Per-request split of the stop cycle, ms (kvmdbg only). */
  split?: Record<string, number>;
  /**
   * kvmdbg only: cycles/s of four back-to-back `threads` requests, which touch neither KVM nor
   * guest memory: the most any four-request stop cycle can reach over this stdio link.
   */
  floorCyclesPerSec?: number;
  accel?: string;
}

const hex = (v: bigint) => '0x' + v.toString(16);
const now = () => performance.now();

export async function measureKvmdbg(o: KvmdbgOptions): Promise<SideResult> {
  for (let attempt = 1; ; attempt++) {
    const dap = DapClient.spawn(process.execPath, [...(o.nodeArgs ?? []), o.adapter], o.env);
    try {
      return await session(dap, o);
    } catch (e) {
      // Under --cpu-prof, the profiler's signal can interrupt the VM set-up ioctls, which the
      // monitor does not retry: launch again.
      if (attempt >= 10 || !/Interrupted system call/.test(String(e))) throw e;
    } finally {
      await dap.close();
    }
  }
}

async function session(dap: DapClient, o: KvmdbgOptions): Promise<SideResult> {
  await dap.request('initialize', { adapterID: 'kvm', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  const initialized = dap.event('initialized');
  const launched = dap.request('launch', { program: o.img, symbols: [o.elf] });
  launched.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
  await Promise.race([initialized, launched]);
  const bp = await dap.request('setInstructionBreakpoints', { breakpoints: [{ instructionReference: hex(o.kmain) }] });
  if (!bp.breakpoints?.[0]?.verified) throw new Error(`instruction breakpoint at kmain not verified: ${JSON.stringify(bp)}`);
  await dap.request('configurationDone');
  await launched;
  const first = await dap.event('stopped');
  if (first.reason !== 'instruction breakpoint') throw new Error(`first stop: ${JSON.stringify(first)}`);
  // Cleared once there, as on the gdb side (where a breakpoint at kmain would report itself again
  // on the first stepi after going back to kmain).
  await dap.request('setInstructionBreakpoints', { breakpoints: [] });

  const registersRef = async (frameId: number): Promise<number> => {
    const sc = await dap.request('scopes', { frameId });
    return sc.scopes.find((s: { name: string }) => s.name === 'Registers').variablesReference;
  };
  const regValue = (vars: { name: string; value: string }[], name: string) => BigInt(vars.find((v) => v.name === name)!.value);

  // The state at kmain, to go back to.
  let top = (await dap.request('stackTrace', { threadId: 1 })).stackFrames[0];
  if (BigInt(top.instructionPointerReference) !== o.kmain) throw new Error(`stopped at ${top.instructionPointerReference}, not kmain`);
  const vars0 = (await dap.request('variables', { variablesReference: await registersRef(top.id) })).variables;
  const start = { rip: o.kmain, rsp: regValue(vars0, 'rsp'), rbp: regValue(vars0, 'rbp') };

  const reset = async () => {
    // setVariable renumbers every variablesReference, so the scope is asked for before each one.
    for (const [name, value] of Object.entries(start)) {
      await dap.request('setVariable', { variablesReference: await registersRef(0), name, value: hex(value) });
    }
    dap.drop('invalidated');
  };

  const split = { stepIn: 0, stackTrace: 0, scopes: 0, variables: 0 };
  let stepsThisPass = 0;
  let stepsPerPass = 0;
  /** One stop cycle; returns its duration in ms, and resets after it when at END. */
  const cycle = async (): Promise<number> => {
    const t0 = now();
    const stopped = dap.event('stopped');
    await dap.request('stepIn', { threadId: 1, granularity: 'instruction' });
    const ev = await stopped;
    const t1 = now();
    const st = await dap.request('stackTrace', { threadId: 1 });
    const t2 = now();
    const f = st.stackFrames[0];
    const sc = await dap.request('scopes', { frameId: f.id });
    const t3 = now();
    const ref = sc.scopes.find((s: { name: string }) => s.name === 'Registers').variablesReference;
    await dap.request('variables', { variablesReference: ref });
    const t4 = now();
    split.stepIn += t1 - t0;
    split.stackTrace += t2 - t1;
    split.scopes += t3 - t2;
    split.variables += t4 - t3;
    if (ev.reason !== 'step') throw new Error(`step stopped with ${JSON.stringify(ev)}`);
    stepsThisPass++;
    if (BigInt(f.instructionPointerReference) === o.end) {
      if (stepsPerPass && stepsPerPass !== stepsThisPass) throw new Error(`pass of ${stepsThisPass} steps after one of ${stepsPerPass}`);
      stepsPerPass = stepsThisPass;
      stepsThisPass = 0;
      await reset();
    }
    dap.drop('kvm.mode');
    return t4 - t0;
  };

  // Warm-up, then the stop-cycle rate.
  for (const t = now(); now() - t < o.warmupMs;) await cycle();
  for (const k of Object.keys(split) as (keyof typeof split)[]) split[k] = 0;
  let busy = 0;
  let cycles = 0;
  while (busy < o.durationMs) {
    busy += await cycle();
    cycles++;
  }
  const result: SideResult = {
    cyclesPerSec: cycles / (busy / 1000),
    cycles,
    stepsPerPass,
    regsMemMs: NaN,
    regsMemFreshMs: NaN,
    split: Object.fromEntries(Object.entries(split).map(([k, v]) => [k, v / cycles])),
  };
  if (o.cyclesOnly) return result;

  // The protocol floor: four round trips that do nothing.
  for (let i = 0; i < 200; i++) await dap.request('threads');
  let floorCycles = 0;
  const tf = now();
  while (now() - tf < o.memMs / 2) {
    for (let i = 0; i < 4; i++) await dap.request('threads');
    floorCycles++;
  }
  result.floorCyclesPerSec = floorCycles / ((now() - tf) / 1000);

  // Registers + 64 bytes at the stack pointer, at one stop.
  top = (await dap.request('stackTrace', { threadId: 1 })).stackFrames[0];
  const ref = await registersRef(top.id);
  const regsMem = async (r: number) => {
    const vars = (await dap.request('variables', { variablesReference: r })).variables;
    const mem = await dap.request('readMemory', { memoryReference: hex(regValue(vars, 'rsp')), count: 64 });
    if (Buffer.from(mem.data, 'base64').length !== 64) throw new Error(`readMemory: ${JSON.stringify(mem)}`);
  };
  for (let i = 0; i < 50; i++) await regsMem(ref);
  let n = 0;
  const t = now();
  while (now() - t < o.memMs) {
    await regsMem(ref);
    n++;
  }
  result.regsMemMs = (now() - t) / n;

  // The same as the first requests after each step (untimed: the step and the scopes request).
  let fresh = 0;
  for (let i = 0; i < o.freshCount; i++) {
    const stopped = dap.event('stopped');
    await dap.request('stepIn', { threadId: 1, granularity: 'instruction' });
    await stopped;
    const r = await registersRef(0);
    const t0 = now();
    await regsMem(r);
    fresh += now() - t0;
    // Back to kmain at END, as in the cycle loop (the frame's pc is not asked for here).
    const vars = (await dap.request('variables', { variablesReference: r })).variables;
    if (regValue(vars, 'rip') === o.end) await reset();
  }
  result.regsMemFreshMs = fresh / o.freshCount;
  return result;
}

/** Standalone: node --import tsx bench/dap/kvmdbg.ts IMG ELF KMAIN END [node options for the adapter...] */
if (require.main === module) {
  const [img, elf, kmain, end, ...nodeArgs] = process.argv.slice(2);
  measureKvmdbg({
    adapter: join(__dirname, '..', '..', 'dist', 'adapter.js'), img, elf, kmain: BigInt(kmain), end: BigInt(end),
    durationMs: 2000, warmupMs: 300, memMs: 1000, freshCount: 300, nodeArgs,
  }).then((r) => console.log(JSON.stringify(r, null, 1)), (e) => {
    console.error(e);
    process.exit(1);
  });
}
