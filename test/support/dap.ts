// Talking DAP to the real adapter (dist/adapter.js) from tests, with the guests they debug.
import { before, beforeEach, afterEach } from 'node:test';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './paths.js';

export { ROOT };
export const ADAPTER = join(ROOT, 'dist', 'adapter.js');
export const DAP_GUEST_DIR = join(ROOT, 'test', 'guests', 'dap');
export const DAP_BUILD = join(ROOT, 'test', 'guests', 'build', 'dap');

let built = false;
/** Builds the adapter bundle and the C test guest once per test process. */
export function buildAll(): { img: string; elf: string; source: string } {
  if (!built) {
    execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'inherit' });
    execFileSync(join(DAP_GUEST_DIR, 'build.sh'), [DAP_BUILD], { stdio: 'inherit' });
    built = true;
  }
  return { img: join(DAP_BUILD, 'kernel.img'), elf: join(DAP_BUILD, 'kernel.elf'), source: join(DAP_GUEST_DIR, 'kernel.c') };
}

/** The C test guest (buildAll) and its symbols. */
export interface CGuest {
  guest: { img: string; elf: string; source: string };
  syms: Record<string, bigint>;
  /** Launch arguments for the guest with its symbols. */
  base: () => { program: string; symbols: string[] };
}

/**
 * The C test guest for every test of the file, built in a `before` hook. The `guest` and `syms`
 * objects returned stay empty until that hook fills them in: read them in tests and later hooks,
 * not at the top level of the file.
 */
export function cGuestPerFile(): CGuest {
  const guest = { img: '', elf: '', source: '' };
  const syms: Record<string, bigint> = {};
  before(() => {
    Object.assign(guest, buildAll());
    Object.assign(syms, nm(guest.elf));
  });
  return { guest, syms, base: () => ({ program: guest.img, symbols: [guest.elf] }) };
}

/** Launch arguments for a flat 64-bit guest (test/guests/*64.S, built by buildFlat64): at 1 MiB, in long mode. */
export function flat64Launch(bin: string): { program: string; format: string; loadAddress: string; mode: string } {
  return { program: bin, format: 'flat', loadAddress: '0x100000', mode: 'long' };
}

/** An address as the protocol's memory references and instruction references spell it. */
export const hex = (v: bigint): string => '0x' + v.toString(16);

/** The same guest compiled with -O2. */
export function buildOptimized(): { img: string; elf: string; source: string } {
  buildAll();
  const out = join(DAP_BUILD, 'O2');
  execFileSync(join(DAP_GUEST_DIR, 'build.sh'), [out, '-O2'], { stdio: 'inherit' });
  return { img: join(out, 'kernel.img'), elf: join(out, 'kernel.elf'), source: join(DAP_GUEST_DIR, 'kernel.c') };
}

/** The line of the `MARK:name` comment in a source file. */
export function markLine(file: string, name: string): number {
  const lines = readFileSync(file, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(`MARK:${name} `) || l.endsWith(`MARK:${name} */`));
  if (i < 0) throw new Error(`no MARK:${name} in ${file}`);
  return i + 1;
}

const queues = new WeakMap<DebugClient, { events: DebugProtocol.StoppedEvent[]; waiters: ((e: DebugProtocol.StoppedEvent) => void)[] }>();

/** How long a client's stop waits for the adapter to answer disconnect (the test VM is slow). */
const STOP_LIMIT_MS = 60000;

/**
 * A client for a fresh adapter process (with `env` added to its environment); its stopped
 * events are queued, so none is missed.
 */
export function newClient(env?: Record<string, string>): DebugClient {
  // KVMDBG_TEST_ADAPTER_STDERR=1 shows the adapter's stderr (uncaught errors, its last words).
  const dc = new DebugClient('node', ADAPTER, 'kvm', env ? { env: { ...process.env, ...env } } : undefined, !!process.env.KVMDBG_TEST_ADAPTER_STDERR);
  dc.defaultTimeout = 20000;
  // DebugClient's requests have no time limit, and node:test's hooks (which stop clients) have
  // none either: an adapter that never answers disconnect would hang the whole run. It gets
  // STOP_LIMIT_MS, then its process is killed and the stop fails, naming what hung.
  // A test may disconnect itself: the adapter then leaves, and would never answer the hook's
  // second disconnect (sent as it exits, that request had no answer in CI). Such a client is
  // only ended.
  let disconnected = false;
  const disconnect = dc.disconnectRequest.bind(dc);
  dc.disconnectRequest = async (args) => {
    const response = await disconnect(args);
    disconnected = true;
    return response;
  };
  const end = () => (dc as unknown as { stopAdapter(): void }).stopAdapter(); // private in its typings, public in its JS
  const stop = dc.stop.bind(dc);
  dc.stop = () => disconnected ? Promise.resolve(end()) : new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      end();
      reject(new Error(`the adapter did not answer disconnect within ${STOP_LIMIT_MS} ms; its process was killed`));
    }, STOP_LIMIT_MS);
    void stop().then(() => { clearTimeout(t); resolve(); });
  });
  const q = { events: [] as DebugProtocol.StoppedEvent[], waiters: [] as ((e: DebugProtocol.StoppedEvent) => void)[] };
  queues.set(dc, q);
  dc.on('stopped', (e: DebugProtocol.StoppedEvent) => {
    const w = q.waiters.shift();
    if (w) w(e);
    else q.events.push(e);
  });
  return dc;
}

/**
 * A fresh adapter process for every test of the file: `set` receives each new client, and the
 * one `get` returns at the end of a test (a test may replace it) is stopped.
 */
export function clientPerTest(get: () => DebugClient, set: (dc: DebugClient) => void): void {
  beforeEach(async () => {
    const dc = newClient();
    set(dc);
    await dc.start();
  });
  afterEach(async () => {
    await get().stop();
  });
}

/** initialize, launch, then `setup` (breakpoints) before configurationDone, as VS Code does. */
export async function launch(dc: DebugClient, args: Record<string, unknown>, setup?: () => Promise<unknown>): Promise<void> {
  await dc.initializeRequest({ adapterID: 'kvm', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  const initialized = dc.waitForEvent('initialized');
  const launched = dc.launchRequest(args as DebugProtocol.LaunchRequestArguments);
  await initialized;
  await setup?.();
  await dc.configurationDoneRequest();
  await launched;
}

export async function topFrame(dc: DebugClient, threadId = 1): Promise<DebugProtocol.StackFrame> {
  const st = await dc.stackTraceRequest({ threadId });
  return st.body.stackFrames[0];
}

/** The variables of one scope of the top frame, by name. */
export async function scope(dc: DebugClient, name: string, threadId = 1): Promise<Map<string, DebugProtocol.Variable>> {
  const f = await topFrame(dc, threadId);
  const scopes = await dc.scopesRequest({ frameId: f.id });
  const s = scopes.body.scopes.find((x) => x.name === name);
  if (!s) throw new Error(`no scope ${name}`);
  const vars = await dc.variablesRequest({ variablesReference: s.variablesReference });
  return new Map(vars.body.variables.map((v) => [v.name, v]));
}

export async function children(dc: DebugClient, v: DebugProtocol.Variable): Promise<Map<string, string>> {
  const r = await dc.variablesRequest({ variablesReference: v.variablesReference });
  return new Map(r.body.variables.map((x) => [x.name, x.value]));
}

/** The next stopped event (possibly one that already arrived), within 20 s. */
export function stopped(dc: DebugClient, timeoutMs = 20000): Promise<DebugProtocol.StoppedEvent> {
  const q = queues.get(dc)!;
  const e = q.events.shift();
  if (e) return Promise.resolve(e);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no stopped event within ${timeoutMs} ms`)), timeoutMs);
    q.waiters.push((ev) => {
      clearTimeout(t);
      resolve(ev);
    });
  });
}

export function nm(elf: string): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  for (const line of execFileSync('nm', [elf]).toString().trim().split('\n')) {
    const [a, , n] = line.split(' ');
    if (n) out[n] = BigInt('0x' + a);
  }
  return out;
}
