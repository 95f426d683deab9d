// The extension's views and commands without KVM: the bundled extension activated against a small
// stand-in for `vscode`, its tracker fed DAP messages by hand. A launch the adapter refuses opens
// no serial terminal and logs its reason to the Output channel; a successful launch (or the
// guest's first serial output) opens the terminal; an adapter that dies is logged; where the
// adapter cannot run, the session gets an adapter that fails the launch with the reason; "KVM:
// Create launch.json" writes a kvm configuration. (test/extension-host.test.ts runs the whole
// extension against the real adapter, on KVM.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Module from 'node:module';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { disposable, lenient } from './support/vscode-lenient.js';

const ROOT = join(__dirname, '..');

type Listener<T> = (e: T) => unknown;
class EventEmitter<T> {
  private listeners = new Set<Listener<T>>();
  event = (l: Listener<T>) => {
    this.listeners.add(l);
    return { dispose: () => this.listeners.delete(l) };
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
  static file(p: string) { return new Uri('file', p); }
  static joinPath(u: Uri, ...parts: string[]) { return Uri.file(join(u.fsPath, ...parts)); }
}
class DebugAdapterExecutable {
  constructor(readonly command: string, readonly args: string[], readonly options?: unknown) {}
}
class DebugAdapterServer {
  constructor(readonly port: number) {}
}
class DebugAdapterInlineImplementation {
  constructor(readonly implementation: { handleMessage(m: unknown): void; onDidSendMessage: (l: Listener<Record<string, unknown>>) => unknown }) {}
}
class ThemeIcon {
  constructor(readonly id: string) {}
}
class RelativePattern {
  constructor(readonly base: { uri: Uri }, readonly pattern: string) {}
}
interface Tracker {
  onWillReceiveMessage?(m: unknown): void;
  onDidSendMessage?(m: unknown): void;
  onExit?(code?: number, signal?: string): void;
  onError?(e: Error): void;
}

const h = {
  log: [] as string[],
  terminals: [] as { name: string; shown: number }[],
  trackers: new Map<string, { createDebugAdapterTracker(s: unknown): Tracker }>(),
  factories: new Map<string, { createDebugAdapterDescriptor(s: unknown): unknown }>(),
  settings: {} as Record<string, unknown>,
  terminate: new EventEmitter<unknown>(),
  commands: new Map<string, (...a: unknown[]) => unknown>(),
  folders: [] as { uri: Uri; name: string; index: number }[],
  /** The folder's launch.json, as VS Code's configuration API would write it. */
  launch: {} as Record<string, unknown>,
  updates: [] as [string, unknown, number][],
  files: [] as string[],
  opened: [] as string[],
  errors: [] as string[],
};
const vscode = {
  EventEmitter, Uri, DebugAdapterExecutable, DebugAdapterServer, DebugAdapterInlineImplementation, ThemeIcon, RelativePattern,
  ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
  StatusBarAlignment: { Left: 1, Right: 2 },
  ViewColumn: { Active: -1, Beside: -2, One: 1 },
  DebugConfigurationProviderTriggerKind: { Initial: 1, Dynamic: 2 },
  commands: lenient({
    registerCommand(id: string, f: (...a: unknown[]) => unknown) {
      h.commands.set(id, f);
      return { dispose: () => h.commands.delete(id) };
    },
    executeCommand: async (id: string, ...args: unknown[]) => h.commands.get(id)!(...args),
  }),
  window: lenient({
    createOutputChannel: () => ({ appendLine: (l: string) => h.log.push(l), append() {}, dispose() {}, show() {} }),
    createStatusBarItem: () => ({ show() {}, hide() {}, dispose() {} }),
    createTerminal(opts: { name: string; pty: { open(): void } }) {
      const t = { name: opts.name, shown: 0 };
      h.terminals.push(t);
      setImmediate(() => opts.pty.open());
      return { name: opts.name, show() { t.shown++; }, dispose() {} };
    },
    onDidCloseTerminal: () => disposable,
    showErrorMessage: async (m: string) => {
      h.errors.push(m);
      return undefined;
    },
    showInformationMessage: async () => undefined,
    showTextDocument: async (u: Uri) => {
      h.opened.push(u.fsPath);
      return {};
    },
    showWorkspaceFolderPick: async () => h.folders[0],
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
    registerDebugConfigurationProvider: () => disposable,
    onDidTerminateDebugSession: h.terminate.event,
    onDidChangeActiveDebugSession: () => disposable,
    activeDebugSession: undefined,
    breakpoints: [],
  }),
  workspace: lenient({
    getConfiguration(section: string) {
      if (section !== 'launch') return { get: (k: string, byDefault?: unknown) => h.settings[k] ?? byDefault };
      return {
        inspect: (k: string) => ({ key: k, workspaceFolderValue: h.launch[k] }),
        update: async (k: string, v: unknown, target: number) => {
          h.updates.push([k, v, target]);
          h.launch[k] = v;
        },
      };
    },
    findFiles: async () => h.files.map((f) => Uri.file(f)),
    get workspaceFolders() {
      return h.folders.length ? h.folders : undefined;
    },
  }),
};

const M = Module as unknown as { _resolveFilename(r: string, ...rest: unknown[]): string; _cache: Record<string, unknown> };
const resolve = M._resolveFilename;
M._resolveFilename = function (request: string, ...rest: unknown[]) {
  return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
};
M._cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: vscode };

let ext: { activate(c: unknown): void; deactivate(): void };
const subscriptions: { dispose(): void }[] = [];

before(async () => {
  // the extension bundled as scripts/build.mjs does, into a folder of this test's own
  const out = join(mkdtempSync(join(tmpdir(), 'kvmdbg-ext-')), 'extension.js');
  await build({
    entryPoints: [join(ROOT, 'src', 'extension', 'extension.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs',
    outfile: out, external: ['vscode', 'koffi'], logLevel: 'silent',
  });
  ext = require(out);
  ext.activate({ subscriptions, extensionUri: Uri.file(ROOT), extensionPath: ROOT, asAbsolutePath: (p: string) => join(ROOT, p) });
});

after(() => {
  for (const d of subscriptions) d.dispose();
  ext.deactivate();
});

let n = 0;
function session(name: string, configuration: Record<string, unknown> = {}) {
  const s = { id: `s${++n}`, type: 'kvm', name, configuration: { type: 'kvm', request: 'launch', name, program: '/x.img', serial: 'terminal', ...configuration } };
  const tracker = h.trackers.get('kvm')!.createDebugAdapterTracker(s);
  return { s, tracker };
}
const tick = () => new Promise((r) => setImmediate(r));

test('a failed launch opens no serial terminal and logs why; the session ends', async () => {
  const { s, tracker } = session('Broken');
  tracker.onWillReceiveMessage!({ type: 'request', seq: 1, command: 'initialize' });
  tracker.onDidSendMessage!({ type: 'response', request_seq: 1, command: 'initialize', success: true });
  tracker.onWillReceiveMessage!({ type: 'request', seq: 2, command: 'launch', arguments: s.configuration });
  assert.equal(h.terminals.length, 0, 'no terminal before the launch answered');
  tracker.onDidSendMessage!({
    type: 'response', request_seq: 2, command: 'launch', success: false, message: 'program',
    body: { error: { id: 1, format: 'program: cannot read {path}: no such file', variables: { path: '/x.img' } } },
  });
  tracker.onDidSendMessage!({ type: 'event', event: 'terminated' });
  tracker.onExit!(0);
  h.terminate.fire(s);
  await tick();
  assert.equal(h.terminals.length, 0, 'a failed launch opens no terminal');
  assert.ok(h.log.includes('Broken: the launch failed: program: cannot read /x.img: no such file'), h.log.join('\n'));
});

test('a successful launch opens the terminal; so does serial output before the launch answers', async () => {
  const a = session('Good');
  a.tracker.onWillReceiveMessage!({ type: 'request', seq: 2, command: 'launch' });
  assert.equal(h.terminals.length, 0);
  a.tracker.onDidSendMessage!({ type: 'response', request_seq: 2, command: 'launch', success: true });
  assert.deepEqual(h.terminals.map((t) => t.name), ['KVM serial: Good']);
  assert.equal(h.terminals[0].shown, 1);
  const b = session('Chatty');
  b.tracker.onDidSendMessage!({ type: 'event', event: 'kvm.serial', body: { data: Buffer.from('hi').toString('base64') } });
  assert.deepEqual(h.terminals.map((t) => t.name), ['KVM serial: Good', 'KVM serial: Chatty']);
  b.tracker.onDidSendMessage!({ type: 'response', request_seq: 2, command: 'launch', success: true });
  assert.equal(h.terminals.length, 2, 'one terminal per session');
  // "serial": "console" gets none
  const c = session('Console', { serial: 'console' });
  c.tracker.onDidSendMessage!({ type: 'response', request_seq: 2, command: 'launch', success: true });
  assert.equal(h.terminals.length, 2);
  for (const x of [a, b, c]) x.tracker.onExit!(0);
});

test('an adapter that dies before answering the launch is logged', () => {
  const { tracker } = session('Dying');
  tracker.onWillReceiveMessage!({ type: 'request', seq: 1, command: 'initialize' });
  tracker.onExit!(1);
  assert.ok(h.log.includes('Dying: the debug adapter ended with status 1 before it answered the launch'), h.log.join('\n'));
  const other = session('Killed');
  other.tracker.onDidSendMessage!({ type: 'response', request_seq: 2, command: 'launch', success: true });
  other.tracker.onExit!(undefined, 'SIGKILL');
  assert.ok(h.log.includes('Killed: the debug adapter ended on signal SIGKILL'), h.log.join('\n'));
  assert.equal(h.log.filter((l) => l.startsWith('Good:') && /ended/.test(l)).length, 0, 'a clean exit is not logged');
});

test('where the adapter cannot start, the session gets one that fails the launch with the reason', async () => {
  h.settings.nodePath = '/nonexistent/node';
  try {
    const { s } = session('NoNode');
    const desc = await h.factories.get('kvm')!.createDebugAdapterDescriptor(s);
    assert.ok(desc instanceof DebugAdapterInlineImplementation, 'an inline adapter');
    const got: Record<string, unknown>[] = [];
    desc.implementation.onDidSendMessage((m) => got.push(m));
    desc.implementation.handleMessage({ type: 'request', seq: 1, command: 'initialize', arguments: { adapterID: 'kvm' } });
    desc.implementation.handleMessage({ type: 'request', seq: 2, command: 'launch', arguments: s.configuration });
    assert.equal(got[0].success, true);
    assert.equal(got[1].command, 'launch');
    assert.equal(got[1].success, false);
    assert.match(String(got[1].message), /\/nonexistent\/node \(the kvmdbg\.nodePath setting\) does not run as Node\.js/);
    assert.deepEqual(got[2], { seq: 3, type: 'event', event: 'terminated', body: {} });
    assert.ok(h.log.some((l) => l.startsWith('NoNode: not starting the adapter') && l.includes('/nonexistent/node')), h.log.join('\n'));
  } finally {
    delete h.settings.nodePath;
  }
  // with a working Node, the real adapter (this checkout's dist/adapter.js, whose koffi loads here)
  if (process.platform === 'linux' && process.arch === 'x64') {
    const { s } = session('Fine');
    const desc = await h.factories.get('kvm')!.createDebugAdapterDescriptor(s);
    assert.ok(desc instanceof DebugAdapterExecutable, `an executable, not ${(desc as object).constructor.name}; log:\n${h.log.join('\n')}`);
    assert.deepEqual(desc.args, [join(ROOT, 'dist', 'adapter.js')]);
  }
  const { s } = session('Remote', { debugServer: 4711 });
  const desc = await h.factories.get('kvm')!.createDebugAdapterDescriptor(s);
  assert.ok(desc instanceof DebugAdapterServer);
});

test('"KVM: Create launch.json": a kvm configuration for the guest in the folder, added to launch.json, which opens', async () => {
  const create = () => vscode.commands.executeCommand('kvmdbg.createLaunchJson');
  // no folder: nothing to write into
  assert.equal(await create(), undefined);
  assert.match(h.errors.at(-1) ?? '', /open a folder first/);
  const dir = mkdtempSync(join(tmpdir(), 'kvmdbg-ws-'));
  const boot = Buffer.alloc(512);
  boot[510] = 0x55;
  boot[511] = 0xaa;
  writeFileSync(join(dir, 'boot.img'), boot);
  h.folders = [{ uri: Uri.file(dir), name: 'ws', index: 0 }];
  h.files = [join(dir, 'boot.img')];
  // a launch.json with another debugger's configuration keeps it
  const other = { type: 'cppdbg', request: 'launch', name: 'other' };
  h.launch = { version: '0.2.0', configurations: [other] };
  const uri = (await create()) as Uri;
  assert.equal(uri.fsPath, join(dir, '.vscode', 'launch.json'));
  assert.deepEqual(h.opened, [join(dir, '.vscode', 'launch.json')]);
  const configs = h.launch.configurations as Record<string, unknown>[];
  assert.equal(configs.length, 2);
  assert.deepEqual(configs[0], other);
  assert.equal(configs[1].type, 'kvm');
  assert.equal(configs[1].request, 'launch');
  assert.equal(configs[1].program, '${workspaceFolder}/boot.img');
  assert.ok(h.updates.every(([, , target]) => target === vscode.ConfigurationTarget.WorkspaceFolder), 'the folder\'s .vscode/launch.json');
  // once there is one, the file only opens
  const n = h.updates.length;
  await create();
  assert.equal(h.updates.length, n);
  assert.equal(h.opened.length, 2);
  // no guest found: the usual build/kernel.img, and a version for a new file
  h.launch = {};
  h.files = [];
  await create();
  assert.equal(h.launch.version, '0.2.0');
  assert.deepEqual(h.launch.configurations, [{
    type: 'kvm', request: 'launch', name: 'KVM: Debug guest', program: '${workspaceFolder}/build/kernel.img', stopOnEntry: true, serial: 'terminal',
  }]);
  h.folders = [];
});
