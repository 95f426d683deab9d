// The KVM Screen view (a webview: the guest's VGA text screen, keys typed into it go to the guest's
// keyboard) in a real VS Code (code-server + chromium), on two guests of test/guests/screen:
//   1. kbd.elf, an IRQ 1 keyboard driver that prints each scan code in hex at the top of the
//      screen (and on COM1) and exits on Escape's break code: "KVM: Show Screen" opened while it
//      runs, "ok" typed into the view shows 18 98 25 a5 on the view's first row and Escape ends
//      the guest (status 33 in the serial terminal), the view keeping the last screen;
//   2. screen.elf, which fills the screen in colours and places the cursor, stopped by a function
//      breakpoint on `done`: the same view follows the new session and shows its rows, colours
//      and cursor.
// The webview is two iframes deep; its rows carry their text in data-text (trailing blanks cut).
// Screenshots (and on failure the DOM of every frame) go to test-output/e2e/screen-*.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Frame, Page } from 'playwright-core';
import {
  checkSetup, freePort, runCommand, screenshot, startCodeServer, waitUntil, type CodeServerHandle,
} from './code-server.js';
import { startAdapterInTestVm, type AdapterVm } from './adapter-vm.js';
import { LONG, debugToolbar, dumpFailure, terminalText, toolbarButton, workspaceRoot, buildAndPackage } from './workbench.js';
import { buildScreenKernel } from '../guests/screen/build.js';
import { iret32Fails } from '../support/host-facts.js';





/** The KVM Screen webview's inner frame (VS Code nests it two iframes deep). */
async function screenFrame(page: Page): Promise<Frame> {
  return waitUntil('the KVM Screen webview', async () => {
    for (const f of page.frames()) {
      if (await f.locator('#screen > #row-0').count().catch(() => 0)) return f;
    }
    return undefined;
  }, LONG, 300);
}

/** What the view shows: its status line, every row's text, the cursor, the classes of row cells. */
async function shown(f: Frame): Promise<{ status: string; rows: string[]; cursor: string; classes: string[][] }> {
  return f.locator('body').evaluate(() => {
    const rows = [...document.querySelectorAll('#screen > .row')];
    return {
      status: document.getElementById('status')?.textContent ?? '',
      rows: rows.map((r) => r.getAttribute('data-text') ?? ''),
      cursor: document.getElementById('screen')?.getAttribute('data-cursor') ?? '',
      // a run's colours (f<fg> b<bg>); the cursor's cell is a span of its own, marked `cursor`
      classes: rows.map((r) => [...r.querySelectorAll('span')].map((s) => s.className.replace(/ cursor$/, ''))),
    };
  });
}

/** Waits until the view shows what `ok` accepts; returns that. */
async function until(f: Frame, what: string, ok: (s: Awaited<ReturnType<typeof shown>>) => boolean, timeoutMs = LONG) {
  let last: Awaited<ReturnType<typeof shown>> | undefined;
  try {
    return await waitUntil(what, async () => {
      last = await shown(f);
      return ok(last) ? last : undefined;
    }, timeoutMs, 200);
  } catch (e) {
    throw new Error(`${(e as Error).message}; the view showed status ${JSON.stringify(last?.status)}, rows 0-2 ${JSON.stringify(last?.rows.slice(0, 3))}, cursor ${last?.cursor}`);
  }
}

test('KVM Screen in VS Code: the guest\'s text screen in the webview, keys typed into it reach the guest', { timeout: 900_000 }, async (t) => {
  checkSetup();
  const { ownKvm: hostKvm, tmp } = workspaceRoot(t, 'screen');
  // The keyboard guest's 32-bit interrupt handler returns with `iret`, which some hosts' KVM can't
  // run (test/support/host-facts.ts): there the adapter runs in the test VM, as without /dev/kvm.
  const ownKvm = hostKvm && (await iret32Fails()) === undefined;
  let adapterVm: AdapterVm | undefined;
  let vs: CodeServerHandle | undefined;
  let stepName = 'build';
  try {
    const vsix = buildAndPackage(tmp);
    // the workspace: both guests (Multiboot ELF kernels) and a configuration for each, Keyboard
    // first (F5 starts it)
    const ws = join(tmp, 'screen');
    mkdirSync(join(ws, '.vscode'), { recursive: true });
    copyFileSync(buildScreenKernel('kbd'), join(ws, 'kbd.elf'));
    copyFileSync(buildScreenKernel('screen'), join(ws, 'screen.elf'));
    const vmPort = ownKvm ? undefined : await freePort();
    const server = vmPort !== undefined ? { debugServer: vmPort } : {};
    writeFileSync(join(ws, '.vscode', 'launch.json'), JSON.stringify({
      version: '0.2.0',
      configurations: [
        { type: 'kvm', request: 'launch', name: 'Keyboard', program: '${workspaceFolder}/kbd.elf', serial: 'terminal', ...server },
        { type: 'kvm', request: 'launch', name: 'Screen', program: '${workspaceFolder}/screen.elf', serial: 'terminal', ...server },
      ],
    }, null, 2));
    const vmStarting = vmPort === undefined ? undefined : startAdapterInTestVm(vmPort);
    vmStarting?.catch(() => {});
    stepName = 'start code-server';
    vs = await startCodeServer({
      vsix: [vsix], folder: ws, settings: { 'terminal.integrated.gpuAcceleration': 'off' }, viewport: { width: 1600, height: 1100 },
    });
    stepName = 'the adapter in the test VM';
    if (vmStarting) adapterVm = await vmStarting;
    const { page } = vs;
    await page.getByRole('treeitem', { name: /kbd\.elf/ }).first().waitFor({ timeout: LONG });

    // 1. The keyboard guest: running, waiting for keys.
    stepName = 'F5 (Keyboard, running)';
    await waitUntil('F5 to start the session (the debug toolbar)', async () => {
      await page.keyboard.press('F5');
      return debugToolbar(page).waitFor({ state: 'visible', timeout: 3000 }).then(() => true, () => false);
    }, 90_000, 0);
    await toolbarButton(page, 'Pause').waitFor({ state: 'visible', timeout: LONG });
    await waitUntil('the guest\'s "ready" in the serial terminal', async () => /\bready\b/.test(await terminalText(page)), LONG);

    stepName = 'open the screen view';
    await runCommand(page, 'KVM: Show Screen');
    const f = await screenFrame(page);
    // The guest has not written to the screen: a blank one, from the session (kvm.screen request).
    const blank = await until(f, 'the view to follow the Keyboard session', (s) => s.status === 'Keyboard: click the screen and type to send keys');
    assert.deepEqual(blank.rows, Array(25).fill(''), 'the keyboard guest\'s screen before any key');
    await screenshot(page, 'screen-1-keyboard-blank');

    stepName = 'type into the view';
    await f.locator('#screen').click();
    await page.keyboard.type('ok');
    // o: make 0x18, break 0x98; k: 0x25, 0xa5. The guest writes each in white on black (0x0f).
    const typed = await until(f, 'the scan codes of "ok" on the view\'s first row', (s) => s.rows[0] === '18 98 25 a5');
    assert.deepEqual(typed.classes[0][0], 'f15 b0', `row 0's first run: ${JSON.stringify(typed.classes[0])}`);
    assert.ok(await toolbarButton(page, 'Pause').isVisible(), 'the guest still runs (the toolbar offers Pause)');
    await screenshot(page, 'screen-2-keyboard-typed');

    stepName = 'Escape ends the keyboard guest';
    await page.keyboard.press('Escape');
    await waitUntil('the exit line in the serial terminal', async () => /Keyboard: the guest exited with status 33\b/.test(await terminalText(page)), LONG);
    assert.match(await terminalText(page), /ready\s*18 98 25 a5 01 81/);
    await debugToolbar(page).waitFor({ state: 'hidden', timeout: LONG });
    const ended = await until(f, 'the view to keep the last screen', (s) => s.status === 'Keyboard: session ended (the last screen)');
    assert.equal(ended.rows[0], '18 98 25 a5 01 81');
    await screenshot(page, 'screen-3-keyboard-ended');

    // 2. The screen guest, stopped at `done` once it has drawn: the view follows it.
    stepName = 'function breakpoint on done';
    await runCommand(page, 'Add Function Breakpoint');
    await waitUntil('the function breakpoint input to have the focus', () => page.evaluate(() => {
      const a = document.activeElement;
      return a?.tagName === 'INPUT' && !a.closest('.quick-input-widget') && !!a.closest('.pane-body');
    }), LONG);
    await page.keyboard.type('done');
    await page.keyboard.press('Enter');
    await page.getByRole('tree', { name: 'Breakpoints' }).getByRole('checkbox', { name: /^done, Function Breakpoint/ }).first().waitFor({ timeout: LONG });

    stepName = 'start Screen, stopped at done';
    await runCommand(page, 'Debug: Select and Start Debugging');
    const pick = page.locator('.quick-input-list').getByRole('option', { name: /^Screen(,|$)/ }).first();
    await pick.waitFor({ state: 'visible', timeout: LONG });
    await pick.click();
    await toolbarButton(page, 'Continue').waitFor({ state: 'visible', timeout: LONG });
    const drawn = await until(f, 'the Screen guest\'s screen in the view', (s) => s.status === 'Screen: click the screen and type to send keys' && s.rows[0] === 'Hello, screen');
    assert.deepEqual(drawn.rows, ['Hello, screen', 'line 06   ╔═╗', ...Array.from({ length: 23 }, (_, i) => `line ${String(i + 7).padStart(2, '0')}`)]);
    // "Hello, screen" white on blue (0x1f); the box characters yellow on red (0x4e); the cursor at
    // row 24, column 7 (the guest's CRTC writes).
    assert.equal(drawn.classes[0][0], 'f15 b1', `row 0: ${JSON.stringify(drawn.classes[0])}`);
    assert.ok(drawn.classes[1].includes('f14 b4'), `row 1: ${JSON.stringify(drawn.classes[1])}`);
    assert.equal(drawn.cursor, '24,7');
    assert.equal(await f.locator('#cursor').textContent(), ' ');
    await screenshot(page, 'screen-4-screen-at-done');
    t.diagnostic(`the view: ${JSON.stringify(drawn.rows.slice(0, 3))} ... ${JSON.stringify(drawn.rows[24])}, cursor ${drawn.cursor}`);

    stepName = 'continue to the Screen guest\'s exit';
    await toolbarButton(page, 'Continue').click();
    await waitUntil('the exit line in the serial terminal', async () => /Screen: the guest exited with status 33\b/.test(await terminalText(page)), LONG);
    await debugToolbar(page).waitFor({ state: 'hidden', timeout: LONG });
    const last = await until(f, 'the view to keep the Screen guest\'s last screen', (s) => s.status === 'Screen: session ended (the last screen)');
    assert.equal(last.rows[0], 'Hello, screen');
  } catch (e) {
    if (vs) await dumpFailure(vs, `screen-${stepName}`, t);
    throw e;
  } finally {
    await vs?.stop();
    await adapterVm?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
});
