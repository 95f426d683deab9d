// The harness itself, apart from kvmdbg: a throwaway extension, packaged with vsce, installed into
// code-server, its command run from the command palette in chromium, its effect seen on disk and in
// the page. When this fails, the fault is in the setup or the harness, not in kvmdbg.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkSetup, runCommand, screenshot, startCodeServer, vscePackage, waitUntil } from './code-server.js';

const PROBE_EXTENSION = `
const vscode = require('vscode');
const fs = require('fs');
const path = require('path');
exports.activate = (context) => {
  context.subscriptions.push(vscode.commands.registerCommand('e2eProbe.writeFile', async () => {
    const folder = vscode.workspace.workspaceFolders[0].uri.fsPath;
    fs.writeFileSync(path.join(folder, 'probe.txt'), 'probe ran in VS Code ' + vscode.version + '\\n');
    vscode.window.showInformationMessage('E2E probe wrote probe.txt');
  }));
};
exports.deactivate = () => {};
`;

test('harness: a packaged extension runs its command in code-server through chromium', { timeout: 300_000 }, async () => {
  checkSetup(); // fails (not skips) with what to run when scripts/e2e-setup.sh was not run
  const tmp = mkdtempSync(join(tmpdir(), 'kvmdbg-e2e-probe-'));
  const ext = join(tmp, 'ext');
  const ws = join(tmp, 'workspace');
  mkdirSync(ext);
  mkdirSync(ws);
  writeFileSync(join(ws, 'hello.txt'), 'a workspace file\n');
  writeFileSync(join(ext, 'package.json'), JSON.stringify({
    name: 'e2e-probe', displayName: 'E2E Probe', publisher: 'kvmdbg-test', version: '0.0.1', license: 'MIT',
    engines: { vscode: '^1.90.0' }, main: './extension.js',
    contributes: { commands: [{ command: 'e2eProbe.writeFile', title: 'E2E Probe: Write File' }] },
  }, null, 2));
  writeFileSync(join(ext, 'extension.js'), PROBE_EXTENSION);
  writeFileSync(join(ext, 'README.md'), '# E2E probe\n\nA throwaway extension for the end-to-end harness test.\n');
  writeFileSync(join(ext, 'LICENSE'), 'MIT\n');
  const vsix = vscePackage(ext, join(tmp, 'e2e-probe.vsix'), ['--allow-missing-repository', '--no-dependencies']);

  const vs = await startCodeServer({ vsix: [vsix], folder: ws });
  try {
    const { page } = vs;
    // The explorer shows the workspace: the folder really is open.
    await page.getByRole('treeitem', { name: /hello\.txt/ }).first().waitFor({ timeout: 60_000 });
    await runCommand(page, 'E2E Probe: Write File');
    const text = await waitUntil('probe.txt', () => (existsSync(join(ws, 'probe.txt')) ? readFileSync(join(ws, 'probe.txt'), 'utf8') : ''), 30_000);
    assert.match(text, /^probe ran in VS Code 1\.\d+/);
    await page.getByText('E2E probe wrote probe.txt').first().waitFor({ timeout: 30_000 });
    await screenshot(page, 'harness-probe');
  } catch (e) {
    await screenshot(vs.page, 'harness-probe-failure').catch(() => {});
    console.error(`code-server log:\n${vs.logTail()}\npage console:\n${vs.consoleLines.slice(-40).join('\n')}`);
    throw e;
  } finally {
    await vs.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
});
