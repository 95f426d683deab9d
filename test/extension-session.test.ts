// The extension's vscode-free pieces: a session's state from DAP messages (status bar text),
// serial bytes to terminal text, the Node runtime for the adapter, and the layering (only
// src/extension imports vscode; the extension bundle never pulls in the VM).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { initialState, fromAdapter, fromClient, adapterExited, statusText, statusTooltip, errorText, historyText } from '../src/extension/session-state.js';
import { SerialDecoder, serialInputArgs, exitLine } from '../src/extension/serial-decoder.js';
import { pickNodeRuntime, findOnPath } from '../src/extension/node-runtime.js';

const ROOT = join(__dirname, '..');
const ev = (event: string, body: Record<string, unknown> = {}) => ({ type: 'event', event, body });
const req = (command: string) => ({ type: 'request', command });
const res = (command: string, success = true) => ({ type: 'response', command, success });

test('session state: starting, host, running, a stop with its mode, running again, exit', () => {
  const s = initialState();
  assert.equal(statusText(s), 'KVM · starting');
  assert.deepEqual(fromAdapter(s, ev('kvm.host', { kind: 'kvm_pvm', label: 'kvm_pvm (software virtualization, shadow paging)' })), [{ kind: 'host' }]);
  assert.equal(statusText(s), 'KVM kvm_pvm · starting');
  assert.deepEqual(fromAdapter(s, res('launch')), [{ kind: 'launched' }, { kind: 'running' }]);
  assert.equal(statusText(s), 'KVM kvm_pvm · running');
  fromAdapter(s, ev('kvm.mode', { vcpu: 1, mode: 'long mode (64-bit)' }));
  assert.deepEqual(fromAdapter(s, ev('stopped', { reason: 'breakpoint', threadId: 2 })), [{ kind: 'stopped', reason: 'breakpoint' }]);
  assert.equal(s.vcpu, 1);
  assert.equal(s.stops, 1);
  assert.equal(statusText(s), 'KVM kvm_pvm · long mode (64-bit)');
  assert.match(statusTooltip(s, 'example'), /Host: kvm_pvm \(software virtualization, shadow paging\)\nCPU mode: long mode \(64-bit\) \(vCPU 1\)\nGuest: stopped/);
  // stepping and continuing run the guest; other requests don't
  assert.deepEqual(fromClient(s, req('stackTrace')), []);
  for (const c of ['continue', 'next', 'stepIn', 'stepOut']) {
    fromAdapter(s, ev('stopped', { reason: 'step', threadId: 1 }));
    assert.deepEqual(fromClient(s, req(c)), [{ kind: 'running' }], c);
    assert.equal(s.phase, 'running');
  }
  assert.match(statusTooltip(s, 'example'), /CPU mode at the last stop/);
  // kvm.mode comes per vCPU, only when that vCPU's mode changed: a stop shows its own vCPU's
  fromAdapter(s, ev('kvm.mode', { vcpu: 0, mode: 'real mode' }));
  fromAdapter(s, ev('stopped', { reason: 'pause', threadId: 1 }));
  assert.equal(statusText(s), 'KVM kvm_pvm · real mode');
  fromAdapter(s, ev('stopped', { reason: 'pause', threadId: 2 }));
  assert.equal(statusText(s), 'KVM kvm_pvm · long mode (64-bit)');
  fromAdapter(s, ev('stopped', { reason: 'step', threadId: 2 }));
  assert.equal(statusText(s), 'KVM kvm_pvm · long mode (64-bit)', 'no event: unchanged');
  fromClient(s, req('continue'));
  // serial output
  const [serial] = fromAdapter(s, ev('kvm.serial', { data: Buffer.from('hi\n').toString('base64') }));
  assert.equal(serial.kind, 'serial');
  assert.equal(serial.kind === 'serial' && serial.data.toString(), 'hi\n');
  // the end
  assert.deepEqual(fromAdapter(s, ev('exited', { exitCode: 1 })), [{ kind: 'exited', code: 1 }]);
  assert.deepEqual(fromAdapter(s, ev('terminated')), [{ kind: 'terminated' }]);
  assert.equal(statusText(s), 'KVM kvm_pvm · exited (1)');
  assert.deepEqual(adapterExited(s), [], 'ended once');
  assert.deepEqual(fromClient(s, req('continue')), []);
});

test('session state: a refused run request goes back to stopped; restart; the adapter dying ends it', () => {
  const s = initialState();
  fromAdapter(s, res('launch'));
  fromAdapter(s, ev('stopped', { reason: 'entry', threadId: 1 }));
  fromClient(s, req('next'));
  assert.equal(s.phase, 'running');
  assert.deepEqual(fromAdapter(s, res('next', false)), [{ kind: 'stopped', reason: 'refused' }]);
  assert.equal(s.phase, 'stopped');
  assert.deepEqual(fromClient(s, req('restart')), [{ kind: 'restarting' }, { kind: 'running' }]);
  fromAdapter(s, res('restart'));
  assert.equal(s.phase, 'running');
  fromAdapter(s, ev('continued', { threadId: 1 }));
  assert.equal(s.phase, 'running');
  assert.deepEqual(adapterExited(s), [{ kind: 'terminated' }]);
  assert.equal(statusText(s), 'KVM · ended');
});

test('session state: a failed launch is told with its reason (and opens no terminal); a stop before the launch answer still launches', () => {
  const s = initialState();
  const refused = { type: 'response', command: 'launch', success: false, message: 'launch failed', body: { error: { id: 1, format: 'program: {path} does not exist ({missing})', variables: { path: '/x.img' } } } };
  assert.deepEqual(fromAdapter(s, refused), [{ kind: 'launchFailed', message: 'program: /x.img does not exist ({missing})' }]);
  assert.equal(s.launched, false);
  assert.equal(s.phase, 'starting');
  assert.deepEqual(fromAdapter(s, ev('terminated')), [{ kind: 'terminated' }]);
  assert.equal(errorText({ type: 'response', success: false, message: 'no such file' }), 'no such file');
  assert.equal(errorText({ type: 'response', success: false }), 'the adapter gave no reason');
  // stopOnEntry: the entry stop may come before the launch response
  const e = initialState();
  fromAdapter(e, ev('stopped', { reason: 'entry', threadId: 1 }));
  assert.deepEqual(fromAdapter(e, res('launch')), [{ kind: 'launched' }]);
  assert.equal(e.phase, 'stopped');
  assert.deepEqual(fromAdapter(e, res('launch')), [], 'one launch per session');
});

test('serial text: \\n becomes \\r\\n (not \\r\\n twice), escapes and UTF-8 split across chunks survive', () => {
  const d = new SerialDecoder();
  assert.equal(d.push(Buffer.from('a\nb\r\nc\r')), 'a\r\nb\r\nc\r');
  assert.equal(d.push(Buffer.from('\nd')), '\nd', 'a \\r at the end of a chunk pairs with the next \\n');
  assert.equal(d.push(Buffer.from('\x1b[31mred\x1b[0m\n')), '\x1b[31mred\x1b[0m\r\n');
  const euro = Buffer.from('€\n');
  assert.equal(d.push(euro.subarray(0, 1)), '');
  assert.equal(d.push(euro.subarray(1, 2)), '');
  assert.equal(d.push(euro.subarray(2)), '€\r\n');
  assert.equal(d.push(Buffer.from([0xe2])), '');
  assert.equal(d.flush(), '\ufffd');
  assert.deepEqual(serialInputArgs('ls\r'), { data: Buffer.from('ls\r').toString('base64') });
  assert.match(exitLine(1, 'example'), /example: the guest exited with status 1/);
  assert.match(exitLine(undefined, 'example'), /example ended/);
  assert.ok(exitLine(0, 'x').startsWith('\r\n') && exitLine(0, 'x').endsWith('\r\n'));
});

test('the adapter\'s Node: the setting, node on PATH when 20 or newer, else the editor\'s runtime as Node', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvmdbg-node-'));
  const fake = join(dir, 'node');
  writeFileSync(fake, '#!/bin/sh\necho v18.19.0\n');
  chmodSync(fake, 0o755);
  assert.equal(findOnPath('node', `/nonexistent:${dir}`), fake);
  assert.equal(findOnPath('node', '/nonexistent'), undefined);
  assert.deepEqual(pickNodeRuntime({ setting: '/opt/node/bin/node' }), { command: '/opt/node/bin/node', env: {}, why: 'the kvmdbg.nodePath setting' });
  const old = pickNodeRuntime({ path: dir, execPath: '/usr/share/code/code' });
  assert.equal(old.command, '/usr/share/code/code');
  assert.deepEqual(old.env, { ELECTRON_RUN_AS_NODE: '1' });
  assert.match(old.why, /older than Node 20/);
  writeFileSync(fake, '#!/bin/sh\necho v22.3.0\n');
  assert.deepEqual(pickNodeRuntime({ path: dir, execPath: '/x' }), { command: fake, env: {}, why: 'node v22 on PATH' });
  assert.equal(pickNodeRuntime({ path: '/nonexistent', execPath: '/x' }).command, '/x');
  // this machine's
  const here = pickNodeRuntime();
  assert.ok(here.command.length > 0);
});

test('layering: only src/extension imports vscode; the extension bundle has no monitor, adapter or native code in it', async () => {
  const files = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? files(join(dir, d.name)) : [join(dir, d.name)]));
  const importsVscode = /from ['"]vscode['"]|require\(['"]vscode['"]\)/;
  for (const f of files(join(ROOT, 'src')).filter((f) => f.endsWith('.ts'))) {
    const inExtension = f.startsWith(join(ROOT, 'src', 'extension'));
    if (!inExtension) assert.ok(!importsVscode.test(readFileSync(f, 'utf8')), `${f} imports vscode`);
  }
  // the extension's pure modules (unit-tested without VS Code) stay vscode-free
  for (const f of ['config-guess', 'panel-model', 'session-state', 'serial-decoder', 'node-runtime', 'node-probe', 'adapter-check']) {
    assert.ok(!importsVscode.test(readFileSync(join(ROOT, 'src', 'extension', `${f}.ts`), 'utf8')), f);
  }
  const r = await build({
    entryPoints: [join(ROOT, 'src', 'extension', 'extension.ts')], bundle: true, platform: 'node', format: 'cjs',
    write: false, metafile: true, external: ['vscode', 'koffi'], logLevel: 'silent',
  });
  const inputs = Object.keys(r.metafile.inputs);
  assert.ok(inputs.some((i) => i.endsWith('src/formats/detect.ts')), 'format detection is shared with the loaders');
  for (const i of inputs) {
    assert.ok(!/src\/vmm\//.test(i), `the extension bundles ${i}`);
    assert.ok(!/src\/dap\/(session|adapter)/.test(i), `the extension bundles ${i}`);
  }
  const externals = Object.values(r.metafile.outputs).flatMap((o) => o.imports.filter((x) => x.external).map((x) => x.path));
  assert.deepEqual([...new Set(externals)].filter((x) => !x.startsWith('node:')).sort(), ['vscode']);
});

test('kvm.history: the history item shows the position in the past, the count at the present, nothing without a history', () => {
  const s = initialState();
  fromAdapter(s, res('launch'));
  fromAdapter(s, ev('stopped', { reason: 'entry', threadId: 1 }));
  assert.equal(historyText(s), undefined, 'no kvm.history yet');
  assert.deepEqual(fromAdapter(s, ev('kvm.history', { recording: true, length: 340, position: 340 })), [{ kind: 'history' }]);
  assert.equal(historyText(s)?.text, '$(record) 340');
  assert.match(historyText(s)!.tooltip, /recording, 340 instructions in the history\nAt the present/);
  fromAdapter(s, ev('kvm.history', { recording: true, length: 340, position: 12 }));
  assert.equal(historyText(s)?.text, '$(history) 12 / 340');
  assert.match(historyText(s)!.tooltip, /At position 12: 328 instructions before the present/);
  assert.deepEqual(fromAdapter(s, ev('kvm.history', { position: 'x' })), [], 'a malformed body changes nothing');
  fromAdapter(s, ev('kvm.history', { recording: false, length: 0, position: 0 }));
  assert.equal(historyText(s), undefined, 'record stop: nothing to show');
  fromAdapter(s, ev('kvm.history', { recording: true, length: 5, position: 2 }));
  fromAdapter(s, ev('terminated'));
  assert.equal(historyText(s), undefined, 'the session ended');
});
