// The bundled extension (dist/extension.js) activated against a stand-in for the `vscode` module,
// with its debug session wired to the real adapter on the example guest: the configuration guessed
// from examples/kernel.c, the adapter executable, the status bar text, the serial terminal (output,
// input, exit status), the register panel's HTML and messages, and the Translate Address command.
// The stand-in implements only what the extension calls; a real VS Code run is the e2e tests' job.
import './support/needs-kvm.js';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Module from 'node:module';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { buildAll, ROOT } from './support/dap.js';
import { nm } from './support/dap.js';
import { disposable, lenient } from './support/vscode-lenient.js';

// --- the stand-in -----------------------------------------------------------------------------

type Listener<T> = (e: T) => unknown;
class EventEmitter<T> {
  private listeners = new Set<Listener<T>>();
  event = (l: Listener<T>, thisArg?: unknown, disposables?: { dispose(): void }[]) => {
    const f = thisArg ? l.bind(thisArg) : l;
    this.listeners.add(f);
    const d = { dispose: () => this.listeners.delete(f) };
    disposables?.push(d);
    return d;
  };
  fire(e: T) {
    for (const l of [...this.listeners]) l(e);
  }
  dispose() {
    this.listeners.clear();
  }
}

class Uri {
  constructor(readonly scheme: string, readonly fsPath: string) {}
  static file(p: string) {
    return new Uri('file', p);
  }
  static joinPath(u: Uri, ...parts: string[]) {
    return Uri.file(join(u.fsPath, ...parts));
  }
  get path() {
    return this.fsPath;
  }
  toString() {
    return `file://${this.fsPath}`;
  }
}

class DebugAdapterExecutable {
  constructor(readonly command: string, readonly args: string[], readonly options?: { env?: Record<string, string>; cwd?: string }) {}
}
class DebugAdapterServer {
  constructor(readonly port: number) {}
}
class DebugAdapterInlineImplementation {
  constructor(readonly implementation: unknown) {}
}
class ThemeIcon {
  constructor(readonly id: string) {}
}
class RelativePattern {
  constructor(readonly base: unknown, readonly pattern: string) {}
}

interface FakeTerminal {
  name: string;
  pty: { open(): void; handleInput(d: string): void; onDidWrite: (l: Listener<string>) => unknown };
  output: string;
  shown: number;
}
interface FakeStatusItem {
  id: string;
  text: string;
  tooltip: string;
  command: string;
  visible: boolean;
}
interface FakePanel {
  viewType: string;
  title: string;
  options: { enableScripts: boolean; localResourceRoots: Uri[] };
  html: string;
  posted: { type: string; [k: string]: unknown }[];
  receive: EventEmitter<unknown>;
}

const h = {
  commands: new Map<string, (...a: unknown[]) => unknown>(),
  trackers: new Map<string, { createDebugAdapterTracker(s: unknown): Tracker }>(),
  factories: new Map<string, { createDebugAdapterDescriptor(s: unknown): unknown }>(),
  providers: [] as { type: string; provider: Record<string, (...a: unknown[]) => unknown>; trigger: number }[],
  terminals: [] as FakeTerminal[],
  statusItems: [] as FakeStatusItem[],
  panels: [] as FakePanel[],
  errors: [] as string[],
  inputBoxAnswer: undefined as string | undefined,
  activeTab: undefined as Uri | undefined,
  activeDebugSession: undefined as unknown,
  terminate: new EventEmitter<unknown>(),
  activeChange: new EventEmitter<unknown>(),
  closeTerminal: new EventEmitter<unknown>(),
};

interface Tracker {
  onWillReceiveMessage?(m: unknown): void;
  onDidSendMessage?(m: unknown): void;
  onExit?(code?: number, signal?: string): void;
}


const vscode = {
  EventEmitter, Uri, DebugAdapterExecutable, DebugAdapterServer, DebugAdapterInlineImplementation, ThemeIcon, RelativePattern,
  StatusBarAlignment: { Left: 1, Right: 2 },
  ViewColumn: { Active: -1, Beside: -2, One: 1 },
  DebugConfigurationProviderTriggerKind: { Initial: 1, Dynamic: 2 },
  commands: lenient({
    registerCommand(id: string, f: (...a: unknown[]) => unknown) {
      h.commands.set(id, f);
      return { dispose: () => h.commands.delete(id) };
    },
    executeCommand(id: string, ...args: unknown[]) {
      return Promise.resolve(h.commands.get(id)!(...args));
    },
  }),
  window: lenient({
    createOutputChannel: () => ({ appendLine() {}, append() {}, dispose() {}, show() {} }),
    createStatusBarItem(id: string) {
      const item: FakeStatusItem & { show(): void; hide(): void; dispose(): void; name?: string } = {
        id, text: '', tooltip: '', command: '', visible: false,
        show() { item.visible = true; }, hide() { item.visible = false; }, dispose() { item.visible = false; },
      };
      h.statusItems.push(item);
      return item;
    },
    createTerminal(opts: { name: string; pty: FakeTerminal['pty'] }) {
      const t: FakeTerminal = { name: opts.name, pty: opts.pty, output: '', shown: 0 };
      opts.pty.onDidWrite((d: string) => (t.output += d));
      h.terminals.push(t);
      setImmediate(() => opts.pty.open());
      return { name: opts.name, show() { t.shown++; }, dispose() {} };
    },
    onDidCloseTerminal: h.closeTerminal.event,
    createWebviewPanel(viewType: string, title: string, _col: unknown, options: FakePanel['options']) {
      const receive = new EventEmitter<unknown>();
      const dispose = new EventEmitter<void>();
      const p: FakePanel = { viewType, title, options, html: '', posted: [], receive };
      h.panels.push(p);
      return {
        webview: {
          cspSource: 'https://webview.test',
          asWebviewUri: (u: Uri) => `https://webview.test${u.fsPath}`,
          set html(v: string) { p.html = v; },
          get html() { return p.html; },
          postMessage: (m: FakePanel['posted'][number]) => {
            p.posted.push(m);
            return Promise.resolve(true);
          },
          onDidReceiveMessage: receive.event,
        },
        reveal() {},
        onDidDispose: dispose.event,
        dispose: () => dispose.fire(),
      };
    },
    showInputBox: async (o: { validateInput(t: string): string | undefined }) => {
      const a = h.inputBoxAnswer;
      if (a !== undefined) assert.equal(o.validateInput(a), undefined);
      return a;
    },
    showQuickPick: async () => undefined,
    showOpenDialog: async () => undefined,
    showErrorMessage: async (m: string) => {
      h.errors.push(m);
      return undefined;
    },
    get tabGroups() {
      return { activeTabGroup: { activeTab: h.activeTab ? { input: { uri: h.activeTab } } : undefined } };
    },
    activeTextEditor: undefined,
  }),
  debug: lenient({
    registerDebugAdapterTrackerFactory(type: string, f: { createDebugAdapterTracker(s: unknown): Tracker }) {
      h.trackers.set(type, f);
      return disposable;
    },
    registerDebugAdapterDescriptorFactory(type: string, f: { createDebugAdapterDescriptor(s: unknown): unknown }) {
      h.factories.set(type, f);
      return disposable;
    },
    registerDebugConfigurationProvider(type: string, provider: Record<string, (...a: unknown[]) => unknown>, trigger = 1) {
      h.providers.push({ type, provider, trigger });
      return disposable;
    },
    onDidTerminateDebugSession: h.terminate.event,
    onDidChangeActiveDebugSession: h.activeChange.event,
    onDidReceiveDebugSessionCustomEvent: () => disposable,
    get activeDebugSession() {
      return h.activeDebugSession;
    },
    breakpoints: [] as unknown[],
  }),
  workspace: lenient({
    getConfiguration: () => ({ get: (_key: string, byDefault?: unknown) => byDefault }),
    findFiles: async () => [],
  }),
};

// `require('vscode')` in the bundle gets the stand-in.
const M = Module as unknown as { _resolveFilename(r: string, ...rest: unknown[]): string; _cache: Record<string, unknown> };
const resolve = M._resolveFilename;
M._resolveFilename = function (request: string, ...rest: unknown[]) {
  return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
};
M._cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: vscode };

// --- the test -------------------------------------------------------------------------------

const EXAMPLES = join(ROOT, 'examples');
let ext: { activate(c: unknown): void; deactivate(): void };
const subscriptions: { dispose(): void }[] = [];

before(() => {
  buildAll();
  execFileSync('make', ['-s', '-C', EXAMPLES], { stdio: ['ignore', 'ignore', 'inherit'] });
  ext = require(join(ROOT, 'dist', 'extension.js'));
  ext.activate({
    subscriptions,
    extensionUri: Uri.file(ROOT),
    extensionPath: ROOT,
    asAbsolutePath: (p: string) => join(ROOT, p),
  });
});

after(() => {
  for (const d of subscriptions) d.dispose();
  ext.deactivate();
});

async function until(what: string, f: () => boolean, ms = 20000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('activation registers the kvm debugger pieces and both commands', () => {
  assert.ok(h.factories.has('kvm'));
  assert.ok(h.trackers.has('kvm'));
  assert.deepEqual(h.providers.map((p) => [p.type, p.trigger]).sort(), [['kvm', 1], ['kvm', 2]]);
  assert.ok(h.commands.has('kvmdbg.showRegisterPanel'));
  assert.ok(h.commands.has('kvmdbg.translateAddress'));
  assert.deepEqual(h.statusItems.map((i) => [i.id, i.visible]), [['kvmdbg.status', false], ['kvmdbg.history', false]]);
});

test('a session of the example: configuration, adapter, status bar, serial terminal, register panel', async (t) => {
  // F5 without launch.json, with examples/kernel.c open
  const folder = { uri: Uri.file(EXAMPLES), name: 'examples', index: 0 };
  h.activeTab = Uri.file(join(EXAMPLES, 'kernel.c'));
  const initial = h.providers.find((p) => p.trigger === 1)!.provider;
  const config = (await initial.resolveDebugConfiguration(folder, {})) as Record<string, unknown>;
  assert.equal(config.type, 'kvm');
  assert.equal(config.request, 'launch');
  assert.equal(config.program, join(EXAMPLES, 'build', 'kernel.img'));
  assert.deepEqual(config.symbols, [join(EXAMPLES, 'build', 'kernel.elf')]);
  assert.equal(config.serial, 'terminal');
  assert.equal(config.cwd, EXAMPLES);
  assert.equal(config.stopOnEntry, true);
  // a launch.json configuration keeps its serial; gets cwd
  const kept = (await initial.resolveDebugConfiguration(folder, { type: 'kvm', request: 'launch', name: 'x', program: 'build/kernel.img', serial: 'console' })) as Record<string, unknown>;
  assert.equal(kept.serial, 'console');
  assert.equal(kept.cwd, EXAMPLES);

  const sent: [string, unknown][] = [];
  let dc!: DebugClient;
  const session = {
    id: 'session-1', type: 'kvm', name: config.name as string, configuration: config, workspaceFolder: folder,
    customRequest: async (command: string, args?: unknown) => {
      sent.push([command, args]);
      return (await dc.customRequest(command, args)).body;
    },
  };
  h.activeDebugSession = session;

  // the adapter: dist/adapter.js of the extension, run by a Node 20+
  // (after a check that it can run here: adapter-check.ts)
  const desc = (await h.factories.get('kvm')!.createDebugAdapterDescriptor(session)) as DebugAdapterExecutable;
  assert.ok(desc instanceof DebugAdapterExecutable, `an executable, not ${(desc as object).constructor.name}`);
  assert.deepEqual(desc.args, [join(ROOT, 'dist', 'adapter.js')]);
  assert.equal(desc.options?.cwd, EXAMPLES);
  const major = Number(/^v(\d+)/.exec(execFileSync(desc.command, ['--version'], { env: { ...process.env, ...desc.options?.env }, encoding: 'utf8' }))![1]);
  assert.ok(major >= 20);
  dc = new DebugClient(desc.command, desc.args[0], 'kvm', { env: { ...process.env, ...desc.options?.env }, cwd: desc.options?.cwd });
  dc.defaultTimeout = 20000;
  await dc.start();
  t.after(() => dc.stop()); // on every path: the adapter and its VM end with the test

  // VS Code makes the tracker before the adapter speaks, and passes it every message
  const tracker = h.trackers.get('kvm')!.createDebugAdapterTracker(session);
  for (const e of ['kvm.host', 'kvm.mode', 'kvm.serial', 'stopped', 'continued', 'exited', 'terminated', 'output']) {
    dc.on(e, (m: DebugProtocol.Event) => tracker.onDidSendMessage!(m));
  }
  const request = async <T>(command: string, args: unknown, go: () => Promise<T>): Promise<T> => {
    tracker.onWillReceiveMessage!({ type: 'request', command, arguments: args });
    const r = await go();
    tracker.onDidSendMessage!({ type: 'response', command, success: true });
    return r;
  };

  // the serial terminal opens once the launch succeeded, not before
  assert.equal(h.terminals.length, 0);

  const status = h.statusItems[0];
  const syms = nm(join(EXAMPLES, 'build', 'kernel.elf'));
  await dc.initializeRequest({ adapterID: 'kvm', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  const initialized = dc.waitForEvent('initialized');
  const launched = request('launch', config, () => dc.launchRequest(config as DebugProtocol.LaunchRequestArguments));
  await initialized;
  await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'kmain' }] });
  await dc.configurationDoneRequest();
  await launched;
  assert.equal(h.terminals.length, 1);
  const term = h.terminals[0];
  assert.equal(term.name, `KVM serial: ${config.name}`);
  assert.equal(term.shown, 1);
  await until('the entry stop in the status bar', () => status.visible && status.text.endsWith('real mode'));
  assert.match(status.text, /^KVM (kvm_pvm|vmx|svm|unknown) · real mode$/);
  assert.equal(status.command, 'kvmdbg.showRegisterPanel');
  assert.match(status.tooltip, /Host: .+\n/);
  assert.equal(term.output, '', 'nothing printed before the first instruction');

  // typing in the terminal goes to the guest's UART
  term.pty.handleInput('x\r');
  await until('kvm.serialInput', () => sent.some(([c]) => c === 'kvm.serialInput'));
  assert.deepEqual(sent.find(([c]) => c === 'kvm.serialInput')![1], { data: Buffer.from('x\r').toString('base64') });

  // the register panel at the entry: strict CSP, scripts and styles only from media/
  await vscode.commands.executeCommand('kvmdbg.showRegisterPanel');
  assert.equal(h.panels.length, 1);
  const panel = h.panels[0];
  assert.equal(panel.title, 'KVM Registers');
  assert.equal(panel.viewType, 'kvmdbg.registerPanel');
  assert.equal(panel.options.enableScripts, true);
  assert.deepEqual(panel.options.localResourceRoots.map((u) => u.fsPath), [join(ROOT, 'media')]);
  const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(panel.html)![1];
  const nonce = /'nonce-([A-Za-z0-9]+)'/.exec(csp)![1];
  assert.equal(csp, `default-src 'none'; script-src https://webview.test 'nonce-${nonce}'; style-src https://webview.test; font-src https://webview.test; img-src https://webview.test`);
  assert.ok(panel.html.includes(`<script nonce="${nonce}" src="https://webview.test${join(ROOT, 'media', 'panel.js')}"></script>`));
  assert.ok(panel.html.includes(`<link rel="stylesheet" href="https://webview.test${join(ROOT, 'media', 'panel.css')}">`));
  assert.ok(!/<script>|style="/.test(panel.html), 'no inline script or style');
  for (const id of ['status', 'refresh', 'facts', 'walk-form', 'walk-address', 'walk-submit', 'walk-result', 'registers', 'segments-table', 'gdt-table', 'idt-table', 'idt-show-empty']) {
    assert.ok(panel.html.includes(`id="${id}"`), id);
  }
  const models = () => panel.posted.filter((m) => m.type === 'model') as unknown as { model: { mode: string; rip: string } }[];
  const states = () => panel.posted.filter((m) => m.type === 'state') as unknown as { phase: string; text: string }[];
  await until('the model at the entry', () => models().length === 1);
  assert.equal(models()[0].model.mode, 'real mode');
  assert.equal(states().at(-1)!.phase, 'stopped');
  // a webview (re)loading asks for everything again
  panel.receive.fire({ type: 'ready' });
  await until('the model again', () => models().length === 2);

  // Translate Address with an argument (and the input box without one)
  await vscode.commands.executeCommand('kvmdbg.translateAddress', '0x7c00');
  const walks = () => panel.posted.filter((m) => m.type === 'walk') as unknown as { address: string; view: { ok: boolean; summary: string } }[];
  assert.equal(walks().at(-1)!.view.summary, '0x7c00 → 0x7c00 (4 KiB page, paging off)');
  h.inputBoxAnswer = '0xB8000';
  await vscode.commands.executeCommand('kvmdbg.translateAddress');
  assert.equal(walks().at(-1)!.address, '0xb8000');
  // the webview's own box, with a bad address
  panel.receive.fire({ type: 'translate', address: 'nowhere' });
  assert.match(walks().at(-1)!.view.summary, /^nowhere: Enter an address/);
  panel.receive.fire({ type: 'translate', address: '0x7c00' });
  await until('the walk from the webview', () => walks().at(-1)!.address === '0x7c00' && walks().at(-1)!.view.ok);

  // run to kmain: greyed while running, then long mode; the last walk is walked again
  const before = walks().length;
  await request('continue', { threadId: 1 }, () => dc.continueRequest({ threadId: 1 }));
  assert.ok(states().some((s) => s.phase === 'running'));
  await until('the kmain stop', () => status.text.endsWith('long mode (64-bit)'));
  await until('the model at kmain', () => models().at(-1)!.model.mode === 'long mode (64-bit)');
  const rip = BigInt(models().at(-1)!.model.rip);
  assert.ok(rip >= syms.kmain && rip < syms.kmain + 32n, 'in kmain, after its prologue');
  await until('the serial output so far', () => term.output.includes('kvmdbg example: long mode\r\n'));
  assert.ok(term.output.startsWith('kvmdbg example: real mode\r\nkvmdbg example: protected mode\r\n'), JSON.stringify(term.output));
  await until('the re-walk', () => walks().length > before && walks().at(-1)!.view.summary.includes('4-level paging'));
  assert.equal(walks().at(-1)!.view.summary, '0x7c00 → 0x7c00 (2 MiB page, 4-level paging)');

  // run to the end: the terminal keeps the output and says how the guest exited
  await request('continue', { threadId: 1 }, () => dc.continueRequest({ threadId: 1 }));
  assert.equal(status.text.replace(/^KVM \S+ /, 'KVM * '), 'KVM * · running');
  await until('the exit', () => term.output.includes('the guest exited with status 1'));
  h.terminate.fire(session);
  h.activeDebugSession = undefined;
  assert.ok(term.output.includes('kvmdbg example: hello from C in 64-bit long mode\r\n'));
  assert.ok(!/[^\r]\n/.test(term.output), 'every \\n is preceded by \\r');
  assert.equal(status.visible, false);
  assert.equal(states().at(-1)!.phase, 'ended');
  assert.equal(h.terminals.length, 1);
  await dc.stop();

  // the next session of the same name reuses the terminal once it launched
  const session2 = { ...session, id: 'session-2' };
  const tracker2 = h.trackers.get('kvm')!.createDebugAdapterTracker(session2);
  tracker2.onDidSendMessage!({ type: 'response', command: 'launch', success: true });
  assert.equal(h.terminals.length, 1);
  await until('the new-session line', () => term.output.includes('[kvmdbg] new session'));
  assert.equal(h.errors.length, 0, h.errors.join('\n'));
});
