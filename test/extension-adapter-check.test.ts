// Where the debug adapter cannot run (macOS, Windows, Linux on ARM, koffi's native module missing
// or damaged), a session must end in a clear error naming what kvmdbg needs, not in an adapter
// that dies before `initialize` (F5 doing nothing). The extension's check (adapter-check.ts) with
// a real Node and a koffi made unloadable, and the adapter the session gets instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';
import { adapterProblem, failedAdapterReplies, platformProblem, PLATFORM_NEEDED } from '../src/extension/adapter-check.js';
import type { NodeRuntime } from '../src/extension/node-runtime.js';

const ROOT = join(__dirname, '..');
const KOFFI_ERROR = 'Cannot find the native Koffi module; did you bundle it correctly?';
const node: NodeRuntime = { command: process.execPath, env: {}, why: 'node v20 on PATH' };

/** An install whose node_modules/koffi throws as koffi does without its binary; returns the adapter path there. */
function brokenInstall(adapterSource = '// the adapter\n'): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvmdbg-nokoffi-'));
  mkdirSync(join(dir, 'dist'));
  mkdirSync(join(dir, 'node_modules', 'koffi'), { recursive: true });
  writeFileSync(join(dir, 'node_modules', 'koffi', 'package.json'), JSON.stringify({ name: 'koffi', main: 'index.cjs' }));
  writeFileSync(join(dir, 'node_modules', 'koffi', 'index.cjs'), `throw new Error(${JSON.stringify(KOFFI_ERROR)});\n`);
  writeFileSync(join(dir, 'dist', 'adapter.js'), adapterSource);
  return join(dir, 'dist', 'adapter.js');
}

test('platform: Linux x86-64 passes; macOS, Windows and Linux on ARM are told what kvmdbg needs', () => {
  assert.equal(platformProblem('linux', 'x64'), undefined);
  for (const [platform, arch, name] of [['darwin', 'arm64', 'macOS on arm64'], ['win32', 'x64', 'Windows on x86-64'], ['linux', 'arm64', 'Linux on arm64']]) {
    const p = platformProblem(platform, arch);
    assert.ok(p, `${platform}-${arch}`);
    assert.ok(p.includes(PLATFORM_NEEDED), p);
    assert.ok(p.includes(name), p);
    assert.match(p, /Remote-SSH/);
  }
  assert.match(PLATFORM_NEEDED, /Linux on x86-64.*\/dev\/kvm/);
});

test('the adapter check: no process started off Linux x86-64', async () => {
  let ran = false;
  const p = await adapterProblem(node, '/x/dist/adapter.js', { platform: 'darwin', arch: 'arm64', run: async () => { ran = true; return { stdout: '' }; } });
  assert.match(p ?? '', /macOS on arm64/);
  assert.equal(ran, false);
});

test('the adapter check: this checkout\'s koffi loads under this Node', async () => {
  if (process.platform !== 'linux' || process.arch !== 'x64') return;
  assert.equal(await adapterProblem(node, join(ROOT, 'dist', 'adapter.js')), undefined);
});

test('the adapter check: koffi\'s native module missing is a clear error naming the platform', async () => {
  const p = await adapterProblem(node, brokenInstall(), { platform: 'linux', arch: 'x64' });
  assert.ok(p, 'a problem');
  assert.ok(p.includes(KOFFI_ERROR), p);
  assert.ok(p.includes(PLATFORM_NEEDED), p);
  assert.match(p, /native module \(koffi\)/);
  if (process.platform === 'linux' && process.arch === 'x64') assert.match(p, /reinstall kvmdbg/);
});

test('the adapter check: a runtime that does not run, or is older than Node 20', async () => {
  const missing = await adapterProblem({ command: '/nonexistent/node', env: {}, why: 'the kvmdbg.nodePath setting' }, brokenInstall(), { platform: 'linux', arch: 'x64' });
  assert.match(missing ?? '', /\/nonexistent\/node \(the kvmdbg\.nodePath setting\) does not run as Node\.js/);
  assert.match(missing ?? '', /kvmdbg\.nodePath/);
  const dir = mkdtempSync(join(tmpdir(), 'kvmdbg-oldnode-'));
  const old = join(dir, 'node');
  writeFileSync(old, '#!/bin/sh\nprintf \'{"node":"18.19.0","platform":"linux","arch":"x64"}\'\n');
  chmodSync(old, 0o755);
  const p = await adapterProblem({ command: old, env: {}, why: 'the kvmdbg.nodePath setting' }, brokenInstall(), { platform: 'linux', arch: 'x64' });
  assert.match(p ?? '', /Node\.js 18\.19\.0.*needs Node\.js 20 or newer/);
});

test('the adapter a session gets instead: initialize succeeds, launch fails with the reason and the session ends', () => {
  let n = 1;
  const seq = () => n++;
  const problem = platformProblem('darwin', 'arm64')!;
  const [init] = failedAdapterReplies({ type: 'request', seq: 1, command: 'initialize' }, problem, seq);
  assert.deepEqual(init, { seq: 1, type: 'response', request_seq: 1, command: 'initialize', success: true, body: {} });
  const launch = failedAdapterReplies({ type: 'request', seq: 2, command: 'launch' }, problem, seq);
  assert.deepEqual(launch, [
    { seq: 2, type: 'response', request_seq: 2, command: 'launch', success: false, message: problem },
    { seq: 3, type: 'event', event: 'terminated', body: {} },
  ]);
  assert.equal(failedAdapterReplies({ type: 'request', seq: 3, command: 'attach' }, problem, seq)[0].success, false);
  assert.equal(failedAdapterReplies({ type: 'request', seq: 4, command: 'disconnect' }, problem, seq)[0].success, true);
  assert.equal(failedAdapterReplies({ type: 'request', seq: 5, command: 'threads' }, problem, seq)[0].success, false);
  assert.deepEqual(failedAdapterReplies({ type: 'event', seq: 6 }, problem, seq), []);
});

/** DAP over a child's stdio: sends requests, collects what comes back until it exits or `ms` pass. */
async function talk(adapter: string, requests: Record<string, unknown>[], ms: number): Promise<{ messages: Record<string, unknown>[]; stderr: string; code: number | null }> {
  const child = spawn(process.execPath, [adapter], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = Buffer.alloc(0);
  let stderr = '';
  const messages: Record<string, unknown>[] = [];
  child.stdout.on('data', (d: Buffer) => {
    out = Buffer.concat([out, d]);
    for (;;) {
      const head = out.indexOf('\r\n\r\n');
      if (head < 0) break;
      const len = Number(/Content-Length: (\d+)/i.exec(out.subarray(0, head).toString())?.[1]);
      if (out.length < head + 4 + len) break;
      messages.push(JSON.parse(out.subarray(head + 4, head + 4 + len).toString()));
      out = out.subarray(head + 4 + len);
    }
  });
  child.stderr.on('data', (d: Buffer) => { stderr += d; });
  child.stdin.on('error', () => {});
  for (const r of requests) {
    const body = JSON.stringify(r);
    child.stdin.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => { child.kill(); resolve(null); }, ms);
    child.on('exit', (c) => { clearTimeout(timer); resolve(c); });
  });
  return { messages, stderr, code };
}

test('the adapter itself, without koffi: answers initialize and fails launch naming the platform', { timeout: 60_000 }, async () => {
  // the adapter bundle beside an unloadable koffi, as the installed extension keeps them
  const adapter = brokenInstall();
  await build({
    entryPoints: [join(ROOT, 'src', 'dap', 'adapter.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs',
    outfile: adapter, allowOverwrite: true, external: ['koffi', 'vscode'], logLevel: 'silent',
  });
  copyFileSync(join(ROOT, 'node_modules', 'iced-x86', 'iced_x86_bg.wasm'), join(dirname(adapter), 'iced_x86_bg.wasm'));
  const r = await talk(adapter, [
    { seq: 1, type: 'request', command: 'initialize', arguments: { adapterID: 'kvm', pathFormat: 'path', linesStartAt1: true, columnsStartAt1: true } },
    { seq: 2, type: 'request', command: 'launch', arguments: { program: '/nonexistent.img' } },
  ], 10_000);
  const init = r.messages.find((m) => m.type === 'response' && m.command === 'initialize');
  assert.ok(init, `no answer to initialize (exit ${r.code}; stderr: ${r.stderr.split('\n')[0]})`);
  const launch = r.messages.find((m) => m.type === 'response' && m.command === 'launch');
  assert.equal(launch?.success, false);
  assert.match(String(launch?.message), /Linux/);
  assert.match(String(launch?.message), /x86-64|x64/);
  assert.match(String(launch?.message), /Cannot find the native Koffi module|koffi/i);
});
