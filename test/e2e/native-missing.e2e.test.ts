// A damaged install, as a user meets it: the linux-x64 .vsix without koffi's native binary (as on
// macOS, Windows or linux-arm64, where no binary of this machine's kind ships). F5 must not do
// nothing: the extension checks before it starts the adapter (src/extension/adapter-check.ts),
// the launch fails with the reason in VS Code's error dialog, and the "KVM Debugger" Output
// channel says why. No debug session stays (no debug toolbar) and no serial terminal opens.
// No guest runs, so this needs no /dev/kvm and no test VM.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, checkSetup, screenshot, startCodeServer, type CodeServerHandle } from './code-server.js';
import {
  LONG, buildAndPackage, debugToolbar, dialog, dumpFailure, outputChannelText, run, terminalNames, vsixEntries,
} from './workbench.js';

const KOFFI_BINARY = 'extension/node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node';

test('kvmdbg in VS Code with koffi\'s native module missing: F5 shows why, starts nothing', { timeout: 600_000 }, async (t) => {
  checkSetup();
  const tmp = mkdtempSync(join(tmpdir(), 'kvmdbg-e2e-native-'));
  let vs: CodeServerHandle | undefined;
  let stepName = 'build and package';
  try {
    // 1. The .vsix as packaged, then damaged: koffi's binary for linux-x64 removed.
    const vsix = buildAndPackage(tmp);
    run('make', ['-C', 'examples']);
    assert.ok(vsixEntries(vsix).includes(KOFFI_BINARY), `the .vsix as packaged lacks ${KOFFI_BINARY}`);
    run('zip', ['-d', vsix, KOFFI_BINARY]);
    const left = vsixEntries(vsix);
    assert.ok(!left.includes(KOFFI_BINARY), 'zip -d left koffi.node in the .vsix');
    assert.ok(left.includes('extension/node_modules/koffi/package.json') && left.includes('extension/dist/adapter.js'), 'the rest of the .vsix is there');
    t.diagnostic(`${vsix}: ${left.length} entries, without ${KOFFI_BINARY}`);

    // 2. code-server with the damaged extension on a copy of examples/ (its launch.json as it
    //    ships: the first configuration stops on entry, after the "make" task).
    stepName = 'start code-server';
    const ws = join(tmp, 'examples');
    cpSync(join(ROOT, 'examples'), ws, { recursive: true });
    vs = await startCodeServer({ vsix: [vsix], folder: ws });
    const { page } = vs;
    await page.getByRole('treeitem', { name: /kernel\.c/ }).first().waitFor({ timeout: LONG });

    // 3. F5: VS Code's error dialog names the problem and what to do. Keys pressed while the
    //    workbench starts are dropped, so press again while nothing has happened.
    stepName = 'F5 shows the error';
    let presses = 0;
    const end = Date.now() + 120_000;
    while (!(await dialog(page).isVisible())) {
      if (Date.now() > end) throw new Error(`F5 (${presses} presses) showed no dialog in 120 s`);
      await page.keyboard.press('F5');
      presses++;
      await dialog(page).waitFor({ state: 'visible', timeout: 10_000 }).catch(() => {});
    }
    t.diagnostic(`F5 pressed ${presses} time(s) before the dialog showed`);
    const text = (await dialog(page).innerText()).replace(/\s+/g, ' ');
    t.diagnostic(`the dialog: ${text}`);
    await screenshot(page, 'native-missing-1-dialog');
    assert.equal(await dialog(page).locator('.dialog-icon.codicon-dialog-error').count(), 1, 'the dialog is not an error');
    assert.match(text, /kvmdbg cannot start its debug adapter: its native module \(koffi\) does not load under \S+ on Linux on x86-64/);
    assert.match(text, /Cannot find module '\.\/linux_x64\/koffi\.node'/, 'the dialog names the missing binary');
    assert.match(text, /The extension's install looks damaged: reinstall kvmdbg \(its linux-x64 package carries koffi's binary for this machine\)\./, 'the dialog says what to do');

    // 4. Dismissed, nothing is left running: no debug toolbar (the session ended with the
    //    failed launch), and it stays away.
    stepName = 'no session after the dialog';
    const cancel = dialog(page).getByRole('button', { name: /^Cancel$/ });
    if (await cancel.isVisible()) await cancel.click();
    else await page.keyboard.press('Escape');
    await dialog(page).waitFor({ state: 'hidden', timeout: LONG });
    await debugToolbar(page).waitFor({ state: 'hidden', timeout: LONG });
    await sleep(2000);
    assert.equal(await debugToolbar(page).isVisible(), false, 'the debug toolbar came back: a session is running');
    assert.equal(await dialog(page).isVisible(), false, 'a second error dialog showed');

    // 5. No serial terminal: of the open terminals only the "make" task's.
    stepName = 'no serial terminal';
    const terms = await terminalNames(page);
    t.diagnostic(`open terminals: ${JSON.stringify(terms)}`);
    assert.ok(terms.some((n) => /make/.test(n)), `the preLaunchTask's terminal is not listed (is the list read right?): ${JSON.stringify(terms)}`);
    assert.deepEqual(terms.filter((n) => /KVM serial/i.test(n)), [], 'a serial terminal opened');

    // 6. The Output channel says why, and that the adapter was not started.
    stepName = 'the Output channel';
    const out = (await outputChannelText(page, 'KVM Debugger')).replace(/\s+/g, ' ');
    t.diagnostic(`KVM Debugger output: ${out}`);
    await screenshot(page, 'native-missing-2-output');
    assert.match(out, /KVM: example \(stop on entry\): not starting the adapter \(/);
    assert.match(out, /its native module \(koffi\) does not load/);
    assert.match(out, /reinstall kvmdbg/);
  } catch (e) {
    if (vs) await dumpFailure(vs, `native-missing-${stepName}`, t);
    throw e;
  } finally {
    await vs?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
});
