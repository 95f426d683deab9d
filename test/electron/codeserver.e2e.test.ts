// test/electron/suite.ts run for real in code-server, which has the same extension API as the
// desktop VS Code that test/electron/run.ts (@vscode/test-electron) needs and which cannot be had
// here. A throwaway extension activated on startup requires the bundled suite, calls runSuite and
// writes PASS or FAIL with the suite's log to a file; it is installed next to the kvmdbg .vsix in
// code-server (test/e2e/code-server.ts), opened on a copy of examples/ with build/, in chromium.
//
//   bash scripts/e2e-setup.sh                         (once)
//   node --import tsx --test test/electron/codeserver.e2e.test.ts
import assert from 'node:assert/strict';
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, checkSetup, screenshot, startCodeServer, vscePackage, waitUntil, type CodeServerHandle } from '../e2e/code-server.js';
import { buildAll, bundleSuite, prepareWorkspace } from './run.js';

const RUNNER_EXTENSION = (resultFile: string) => `
const vscode = require('vscode');
const fs = require('fs');
const RESULT = ${JSON.stringify(resultFile)};
exports.activate = () => {
  const lines = [];
  const log = (s) => { lines.push(s); fs.writeFileSync(RESULT + '.log', lines.join('\\n') + '\\n'); };
  // After activation returns: the suite starts sessions and waits on events.
  setTimeout(async () => {
    try {
      await require('./suite.js').runSuite(log);
      fs.writeFileSync(RESULT, 'PASS\\n' + lines.join('\\n') + '\\n');
    } catch (e) {
      fs.writeFileSync(RESULT, 'FAIL ' + (e && e.stack || String(e)) + '\\n' + lines.join('\\n') + '\\n');
    }
  }, 0);
};
exports.deactivate = () => {};
`;

test('test/electron/suite.ts passes in code-server (the vscode API, no DOM)', { timeout: 900_000 }, async (t) => {
  checkSetup(); // fails, naming scripts/e2e-setup.sh, when the setup was not run
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    assert.fail('this test needs read-write /dev/kvm');
  }
  const tmp = mkdtempSync(join(tmpdir(), 'kvmdbg-electron-cs-'));
  let vs: CodeServerHandle | undefined;
  let ws: string | undefined;
  const result = join(tmp, 'result.txt');
  try {
    buildAll();
    const { suite } = await bundleSuite();

    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const kvmdbgVsix = vscePackage(ROOT, join(tmp, `kvmdbg-${version}.vsix`), ['--no-rewrite-relative-links']);

    const ext = join(tmp, 'runner');
    mkdirSync(ext);
    writeFileSync(join(ext, 'package.json'), JSON.stringify({
      name: 'kvmdbg-suite-runner', displayName: 'kvmdbg suite runner', publisher: 'kvmdbg-test', version: '0.0.1', license: 'MIT',
      engines: { vscode: '^1.90.0' }, main: './extension.js', activationEvents: ['onStartupFinished'],
      extensionDependencies: ['kvmdbg.kvmdbg'],
    }, null, 2));
    writeFileSync(join(ext, 'extension.js'), RUNNER_EXTENSION(result));
    copyFileSync(suite, join(ext, 'suite.js'));
    writeFileSync(join(ext, 'README.md'), '# kvmdbg suite runner\n\nRuns test/electron/suite.ts on startup; a throwaway extension.\n');
    writeFileSync(join(ext, 'LICENSE'), 'MIT\n');
    const runnerVsix = vscePackage(ext, join(tmp, 'kvmdbg-suite-runner.vsix'), ['--allow-missing-repository', '--no-dependencies']);

    ws = prepareWorkspace();
    vs = await startCodeServer({ vsix: [kvmdbgVsix, runnerVsix], folder: ws, settings: { 'terminal.integrated.gpuAcceleration': 'off' } });
    const text = await waitUntil('the suite\'s result file', () => (existsSync(result) ? readFileSync(result, 'utf8') : ''), 600_000, 500);
    for (const line of text.split('\n')) if (line) t.diagnostic(line);
    await screenshot(vs.page, 'electron-suite-in-code-server').catch(() => {});
    assert.match(text, /^PASS\n/, text);
  } catch (e) {
    if (existsSync(`${result}.log`)) console.error(`--- suite log so far ---\n${readFileSync(`${result}.log`, 'utf8')}`);
    if (vs) {
      await screenshot(vs.page, 'electron-suite-failure').catch(() => {});
      console.error(`--- code-server log (last lines) ---\n${vs.logTail(60)}`);
    }
    throw e;
  } finally {
    await vs?.stop();
    if (ws) rmSync(join(ws, '..'), { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
});
