// The end-to-end suite of test/e2e/vscode.e2e.test.ts, written against the `vscode` extension API
// alone (no DOM), so that it runs in any VS Code that loads it: a desktop VS Code under
// @vscode/test-electron (test/electron/run.ts, `npm run test:electron` with VSCODE_EXECUTABLE) or,
// through a throwaway extension, code-server (test/electron/codeserver.e2e.test.ts).
//
// It opens and copies nothing itself: the first workspace folder must be a prepared copy of
// examples/ with its build/ made (make -C examples), and the kvmdbg extension must be loaded.
//
// The steps: start the stop-on-entry configuration of the folder's launch.json; the top frame is
// _start at 0x7c00, the Registers scope says rip = 0x0000000000007c00; kvm.registerPanel decodes
// CR0 with ET set and PG clear; "KVM: Show Register Panel" runs; an instruction step moves rip to
// 0x7c01; a function breakpoint on kmain is hit after continue, with CR0.PG set, the guest's serial
// text sent and the serial terminal open; continue runs the guest to its exit (status 1) and the
// session ends.
import * as vscode from 'vscode';

const TIMEOUT = 60_000;

interface DapMessage {
  type: string;
  seq?: number;
  event?: string;
  command?: string;
  success?: boolean;
  message?: string;
  body?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

class AssertionError extends Error {}

function check(ok: unknown, what: string): asserts ok {
  if (!ok) throw new AssertionError(what);
}

function sameAddress(a: unknown, b: bigint): boolean {
  try {
    return typeof a === 'string' && BigInt(a) === b;
  } catch {
    return false;
  }
}

/** Everything the adapter of each kvm session sent, by session id, and waiters on it. */
class Recorder implements vscode.DebugAdapterTrackerFactory {
  readonly messages = new Map<string, DapMessage[]>();
  private readonly waiters = new Set<() => void>();

  createDebugAdapterTracker(session: vscode.DebugSession): vscode.DebugAdapterTracker {
    const list: DapMessage[] = [];
    this.messages.set(session.id, list);
    return {
      onDidSendMessage: (m: DapMessage) => {
        list.push(m);
        for (const w of [...this.waiters]) w();
      },
    };
  }

  of(session: vscode.DebugSession): DapMessage[] {
    return this.messages.get(session.id) ?? [];
  }

  /** Resolves with the first message at index >= from that matches. */
  waitFor(session: vscode.DebugSession, what: string, from: number, pred: (m: DapMessage) => boolean, ms = TIMEOUT): Promise<DapMessage> {
    return new Promise((resolve, reject) => {
      const look = () => {
        const list = this.of(session);
        for (let i = from; i < list.length; i++) {
          if (pred(list[i])) {
            done();
            resolve(list[i]);
            return true;
          }
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        const seen = this.of(session).slice(from).map((m) => m.event ?? m.command).join(', ');
        reject(new AssertionError(`timed out after ${ms} ms waiting for ${what} (since then the adapter sent: ${seen || 'nothing'})`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(look);
      };
      if (!look()) this.waiters.add(look);
    });
  }
}

function waitForEvent<T>(what: string, on: vscode.Event<T>, pred: (e: T) => boolean, ms = TIMEOUT): { promise: Promise<T>; dispose(): void } {
  let sub: vscode.Disposable | undefined;
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<T>((resolve, reject) => {
    sub = on((e) => {
      if (pred(e)) {
        sub?.dispose();
        clearTimeout(timer);
        resolve(e);
      }
    });
    timer = setTimeout(() => {
      sub?.dispose();
      reject(new AssertionError(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
  });
  return { promise, dispose: () => { sub?.dispose(); clearTimeout(timer); } };
}

async function until<T>(what: string, fn: () => T | undefined | false, ms = TIMEOUT): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new AssertionError(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface LaunchConfig { type?: string; request?: string; name?: string; stopOnEntry?: boolean }

export async function runSuite(log: (s: string) => void): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  check(folder, 'no workspace folder is open (open a prepared copy of examples/)');
  log(`VS Code ${vscode.version}, workspace ${folder.uri.fsPath}`);

  const kvmdbg = vscode.extensions.all.find((e) => e.packageJSON?.name === 'kvmdbg' && e.packageJSON?.publisher === 'kvmdbg');
  check(kvmdbg, 'the kvmdbg extension is not loaded');
  log(`kvmdbg ${kvmdbg.packageJSON.version} from ${kvmdbg.extensionPath}`);

  const configs = vscode.workspace.getConfiguration('launch', folder).get<LaunchConfig[]>('configurations') ?? [];
  const entryConfig = configs.find((c) => c.type === 'kvm' && c.request === 'launch' && c.stopOnEntry === true);
  check(entryConfig?.name, `the workspace's launch.json has no kvm launch configuration with stopOnEntry (has: ${configs.map((c) => c.name).join(', ')})`);
  const name = entryConfig.name;

  const recorder = new Recorder();
  const disposables: vscode.Disposable[] = [vscode.debug.registerDebugAdapterTrackerFactory('kvm', recorder)];
  const added: vscode.Breakpoint[] = [];
  let session: vscode.DebugSession | undefined;
  try {
    // 1. Start the stop-on-entry configuration.
    const started = waitForEvent('the kvm session to start', vscode.debug.onDidStartDebugSession, (s) => s.type === 'kvm' && s.name === name);
    disposables.push(started);
    check(await vscode.debug.startDebugging(folder, name), `vscode.debug.startDebugging(folder, ${JSON.stringify(name)}) returned false`);
    session = await started.promise;
    const s = session;
    log(`started "${s.name}" (session ${s.id})`);
    const terminated = waitForEvent('the session to end', vscode.debug.onDidTerminateDebugSession, (t) => t.id === s.id, 5 * TIMEOUT);
    disposables.push(terminated);
    terminated.promise.catch(() => {}); // awaited at the end

    // 2. Stopped on entry: _start at 0x7c00.
    const entry = await recorder.waitFor(s, 'the stopped event at entry', 0, (m) => m.type === 'event' && m.event === 'stopped');
    const threadId: number = entry.body.threadId;
    log(`stopped: reason ${entry.body.reason}, thread ${threadId}`);
    check(entry.body.reason === 'entry', `the first stop's reason is ${JSON.stringify(entry.body.reason)}, expected "entry"`);

    const topFrame = async () => {
      const st = await s.customRequest('stackTrace', { threadId, startFrame: 0, levels: 20 });
      check(Array.isArray(st?.stackFrames) && st.stackFrames.length > 0, `stackTrace answered no frames: ${JSON.stringify(st)}`);
      return st.stackFrames[0] as { id: number; name: string; instructionPointerReference?: string };
    };
    const rip = async (frameId: number): Promise<string> => {
      const sc = await s.customRequest('scopes', { frameId });
      const regs = (sc.scopes as { name: string; variablesReference: number }[]).find((x) => x.name === 'Registers');
      check(regs, `no Registers scope (scopes: ${(sc.scopes as { name: string }[]).map((x) => x.name).join(', ')})`);
      const vars = await s.customRequest('variables', { variablesReference: regs.variablesReference });
      const v = (vars.variables as { name: string; value: string }[]).find((x) => x.name === 'rip');
      check(v, 'no rip in the Registers scope');
      return v.value;
    };
    const cr0 = async () => {
      const p = await s.customRequest('kvm.registerPanel', {});
      const r = (p.registers as { name: string; value: string; fields: { name: string; set: boolean }[] }[]).find((x) => x.name.toLowerCase() === 'cr0');
      check(r, 'kvm.registerPanel has no cr0');
      return { value: r.value, set: r.fields.filter((f) => f.set).map((f) => f.name) };
    };

    let f = await topFrame();
    log(`top frame: ${f.name} at ${f.instructionPointerReference}`);
    check(f.name === '_start', `the top frame at entry is ${JSON.stringify(f.name)}, expected _start`);
    check(sameAddress(f.instructionPointerReference, 0x7c00n), `the top frame's instructionPointerReference is ${f.instructionPointerReference}, expected 0x7c00`);
    let r = await rip(f.id);
    log(`Registers: rip = ${r}`);
    check(r === '0x0000000000007c00', `rip at entry is ${r}, expected 0x0000000000007c00`);

    // 3. The register panel's data: real mode, CR0 = ET only.
    let c = await cr0();
    log(`CR0 at entry: ${c.value} [${c.set.join(' ')}]`);
    check(c.set.includes('ET') && !c.set.includes('PG') && !c.set.includes('PE'), `CR0 at entry: ${JSON.stringify(c)}, expected ET set, PE and PG clear`);
    await vscode.commands.executeCommand('kvmdbg.showRegisterPanel');
    log('kvmdbg.showRegisterPanel ran');

    // 4. One instruction: past the one-byte cli.
    let mark = recorder.of(s).length;
    await s.customRequest('stepIn', { threadId, granularity: 'instruction' });
    const stepped = await recorder.waitFor(s, 'the stopped event after stepIn', mark, (m) => m.type === 'event' && m.event === 'stopped');
    f = await topFrame();
    r = await rip(f.id);
    log(`after stepIn: reason ${stepped.body.reason}, ${f.name}, rip = ${r}`);
    check(stepped.body.reason === 'step', `the step stopped with reason ${JSON.stringify(stepped.body.reason)}`);
    check(r === '0x0000000000007c01', `rip after one instruction is ${r}, expected 0x0000000000007c01`);

    // 5. A function breakpoint on kmain; continue to it.
    mark = recorder.of(s).length;
    const bp = new vscode.FunctionBreakpoint('kmain');
    added.push(bp);
    vscode.debug.addBreakpoints([bp]);
    const set = await recorder.waitFor(s, 'the setFunctionBreakpoints response', mark, (m) => m.type === 'response' && m.command === 'setFunctionBreakpoints');
    log(`setFunctionBreakpoints: ${JSON.stringify(set.body?.breakpoints)}`);
    check(set.success && set.body?.breakpoints?.[0]?.verified === true, `the kmain function breakpoint is not verified: ${JSON.stringify(set)}`);

    mark = recorder.of(s).length;
    await s.customRequest('continue', { threadId });
    const hit = await recorder.waitFor(s, 'the stopped event at kmain', mark, (m) => m.type === 'event' && m.event === 'stopped');
    f = await topFrame();
    log(`stopped: reason ${hit.body.reason}, top frame ${f.name} at ${f.instructionPointerReference}`);
    check(hit.body.reason === 'function breakpoint', `continue stopped with reason ${JSON.stringify(hit.body.reason)}, expected "function breakpoint"`);
    // The breakpoint is past kmain's prologue: the frame reads kmain or kmain+0x<offset>.
    check(/^kmain(\+0x[0-9a-f]+)?$/.test(f.name), `the top frame at the breakpoint is ${JSON.stringify(f.name)}, expected kmain`);
    c = await cr0();
    log(`CR0 at kmain: ${c.value} [${c.set.join(' ')}]`);
    check(c.set.includes('PE') && c.set.includes('PG'), `CR0 at kmain: ${JSON.stringify(c)}, expected PE and PG set`);

    const serial = () => recorder.of(s).filter((m) => m.type === 'event' && m.event === 'kvm.serial')
      .map((m) => Buffer.from(String(m.body?.data ?? ''), 'base64').toString('latin1')).join('');
    const text = serial();
    check(/kvmdbg example: real mode[\s\S]*protected mode[\s\S]*long mode/.test(text), `the guest's serial output so far: ${JSON.stringify(text)}`);
    log('serial output has the real, protected and long mode lines');
    const termName = `KVM serial: ${s.name}`;
    await until(`a terminal named ${JSON.stringify(termName)}`, () => vscode.window.terminals.some((t) => t.name === termName));
    log(`terminal "${termName}" is open`);

    // 6. Continue to the guest's exit: status 1 ((0 << 1) | 1 from isa-debug-exit), the session ends.
    mark = recorder.of(s).length;
    await s.customRequest('continue', { threadId });
    await terminated.promise;
    const exited = recorder.of(s).find((m) => m.type === 'event' && m.event === 'exited');
    log(`session ended; exited event: ${JSON.stringify(exited?.body)}`);
    check(exited, 'the session ended without an exited event');
    check(exited.body?.exitCode === 1, `the guest exited with status ${exited.body?.exitCode}, expected 1`);
    check(/hello from C in 64-bit long mode/.test(serial()), `the guest's serial output: ${JSON.stringify(serial())}`);
    log('all checks passed');
  } finally {
    if (added.length) vscode.debug.removeBreakpoints(added);
    if (session && vscode.debug.activeDebugSession?.id === session.id) await vscode.debug.stopDebugging(session).then(undefined, () => {});
    for (const d of disposables) d.dispose();
  }
}

/** The @vscode/test-electron contract: resolves when every check passed, throws otherwise. */
export async function run(): Promise<void> {
  await runSuite((s) => console.log(`[kvmdbg suite] ${s}`));
}
