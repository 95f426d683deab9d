// The KVM Live Watch view in a real VS Code (code-server + chromium), as vscode.e2e.test.ts runs
// it: a guest that counts in memory forever (test/guests/count64.S) is started without stopping,
// "KVM: Add Live Watch Expression" adds *(uint64_t *)count, and the view shows the value grow
// while the guest runs (the debug toolbar still offers Pause: no stop happened). Screenshots go to
// test-output/e2e/live-watch-*.png.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import {
  checkSetup, freePort, quickInput, runCommand, screenshot, startCodeServer, waitUntil, type CodeServerHandle,
} from './code-server.js';
import { startAdapterInTestVm, type AdapterVm } from './adapter-vm.js';
import { LONG, debugToolbar, dumpFailure, workspaceRoot, buildAndPackage } from './workbench.js';
import { buildAsm, buildFlat64 } from '../guests/build.js';

const EXPRESSION = '*(uint64_t *)count';



/**
 * The view's row for the expression, as the tree renders it: the label (the expression) and the
 * description (the value, with a dot when it changed at the last refresh), each its own element.
 * The row's innerText runs the two together ("*(uint64_t *)count201853940 ●": the gap between
 * them is CSS margin, not text), and its aria-label is the item's tooltip, so each part is read
 * from its own element.
 */
async function watchRow(page: Page): Promise<{ label: string; description: string; ariaLabel: string } | undefined> {
  const row = page.getByRole('tree', { name: 'KVM Live Watch' }).getByRole('treeitem')
    .filter({ has: page.locator('.label-name', { hasText: EXPRESSION }) }).first();
  return row.evaluate((el) => ({
    label: el.querySelector('.label-name')?.textContent?.trim() ?? '',
    description: el.querySelector('.label-description')?.textContent?.trim() ?? '',
    ariaLabel: el.getAttribute('aria-label') ?? '',
  }), undefined, { timeout: 2000 }).catch(() => undefined);
}

/** The counter's value as the view shows it now (decimal or 0x hex, a change mark after it). */
async function shownCount(page: Page): Promise<bigint | undefined> {
  const r = await watchRow(page);
  if (r?.label !== EXPRESSION) return undefined;
  const m = /^(0x[0-9a-f]+|\d+)\b/i.exec(r.description);
  return m ? BigInt(m[1]) : undefined;
}

test('KVM Live Watch in VS Code: an expression added while the guest runs shows its value change, without a stop', { timeout: 900_000 }, async (t) => {
  checkSetup();
  const { ownKvm, tmp } = workspaceRoot(t, 'livewatch');
  let adapterVm: AdapterVm | undefined;
  let vs: CodeServerHandle | undefined;
  let stepName = 'build';
  try {
    const vsix = buildAndPackage(tmp);
    // the workspace: the counting guest and a launch configuration that runs it without stopping
    const ws = join(tmp, 'count');
    mkdirSync(join(ws, '.vscode'), { recursive: true });
    copyFileSync(buildFlat64('count64').bin, join(ws, 'count64.bin'));
    copyFileSync(buildAsm('count64', { ldFlags: ['-Ttext=0x100000', '-e', '_start'] }), join(ws, 'count64.elf'));
    const vmPort = ownKvm ? undefined : await freePort();
    writeFileSync(join(ws, '.vscode', 'launch.json'), JSON.stringify({
      version: '0.2.0',
      configurations: [{
        type: 'kvm', request: 'launch', name: 'Count', program: '${workspaceFolder}/count64.bin', format: 'flat', loadAddress: '0x100000',
        mode: 'long', symbols: ['${workspaceFolder}/count64.elf'], ...(vmPort !== undefined ? { debugServer: vmPort } : {}),
      }],
    }, null, 2));
    const vmStarting = vmPort === undefined ? undefined : startAdapterInTestVm(vmPort);
    vmStarting?.catch(() => {});
    stepName = 'start code-server';
    vs = await startCodeServer({ vsix: [vsix], folder: ws, settings: { 'kvmdbg.liveWatch.refreshInterval': 200 }, viewport: { width: 1600, height: 1100 } });
    stepName = 'the adapter in the test VM';
    if (vmStarting) adapterVm = await vmStarting;
    const { page } = vs;
    await page.getByRole('treeitem', { name: /count64\.bin/ }).first().waitFor({ timeout: LONG });

    stepName = 'F5 (running, no stop)';
    await waitUntil('F5 to start the session (the debug toolbar)', async () => {
      await page.keyboard.press('F5');
      return debugToolbar(page).waitFor({ state: 'visible', timeout: 3000 }).then(() => true, () => false);
    }, 90_000, 0);
    await debugToolbar(page).getByRole('button', { name: /^Pause/ }).waitFor({ state: 'visible', timeout: LONG });

    stepName = 'add the expression';
    // As a user would: Run and Debug, open the view (collapsed below Breakpoints at first), its
    // Add Expression button, the input box that asks for the expression.
    await runCommand(page, 'View: Show Run and Debug');
    const header = page.locator('.pane-header', { hasText: 'KVM Live Watch' });
    await header.waitFor({ state: 'visible', timeout: LONG });
    if ((await header.getAttribute('aria-expanded')) !== 'true') await header.click();
    await page.getByRole('button', { name: 'Add Expression' }).click({ timeout: LONG });
    await page.locator('.quick-input-widget', { hasText: 'KVM Live Watch' }).waitFor({ state: 'visible', timeout: LONG });
    const input = quickInput(page);
    await input.fill(EXPRESSION);
    await page.keyboard.press('Enter');
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: LONG });

    stepName = 'the value changes while the guest runs';
    const first = await waitUntil('a value in the KVM Live Watch view', () => shownCount(page), LONG, 100);
    await screenshot(page, 'live-watch-1');
    const second = await waitUntil('a larger value in the view', async () => {
      const n = await shownCount(page);
      return n !== undefined && n > first ? n : undefined;
    }, LONG, 100);
    await screenshot(page, 'live-watch-2');
    t.diagnostic(`count shown: ${first}, then ${second}; row: ${JSON.stringify(await watchRow(page))}`);
    assert.ok(second > first);
    // still running: the toolbar offers Pause, not Continue
    assert.ok(await debugToolbar(page).getByRole('button', { name: /^Pause/ }).isVisible(), 'the guest still runs');

    stepName = 'stop';
    await debugToolbar(page).getByRole('button', { name: /^Stop/ }).click();
    await debugToolbar(page).waitFor({ state: 'hidden', timeout: LONG });
  } catch (e) {
    if (vs) await dumpFailure(vs, `live-watch-${stepName}`, t);
    throw e;
  } finally {
    await vs?.stop();
    await adapterVm?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
});
