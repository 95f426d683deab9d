// Helpers the end-to-end tests share beyond code-server.ts: building and packaging kvmdbg, the
// workspace copy of examples/, and the parts of the workbench a test reads (the debug toolbar,
// Call Stack, Variables, Breakpoints, dialogs, terminals, the Output view). Most of these first
// lived in vscode.e2e.test.ts, which keeps its own copies.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { Locator, Page } from 'playwright-core';
import { ROOT, OUTPUT_DIR, dumpDom, runCommand, quickInput, screenshot, vscePackage, waitUntil, type CodeServerHandle } from './code-server.js';

export const LONG = 60_000;

/**
 * A test's temporary folder, and whether this machine has a read-write /dev/kvm of its own.
 * Without one the adapter runs in the test VM (adapter-vm.ts), which sees this machine's files
 * but not its /tmp: the folder then lives under test-output/.
 */
export function workspaceRoot(t: TestContext, name: string): { ownKvm: boolean; tmp: string } {
  let ownKvm = true;
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    ownKvm = false;
    t.diagnostic('no read-write /dev/kvm here: the adapter runs in the test VM (scripts/test-vm.sh), VS Code here');
  }
  mkdirSync(OUTPUT_DIR, { recursive: true });
  return { ownKvm, tmp: mkdtempSync(ownKvm ? join(tmpdir(), `kvmdbg-e2e-${name}-`) : join(OUTPUT_DIR, `ws-${name}-`)) };
}

/** Runs a command to completion; throws with its output when it fails. */
export function run(cmd: string, args: string[], cwd = ROOT): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (status ${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return `${r.stdout}${r.stderr}`;
}

/** npm run build, then the linux-x64 .vsix into `dir` (as `npm run package` makes it). */
export function buildAndPackage(dir: string): string {
  run('npm', ['run', 'build']);
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  return vscePackage(ROOT, join(dir, `kvmdbg-linux-x64-${version}.vsix`), ['--target', 'linux-x64']);
}

/** The entries of a .vsix (a zip). */
export function vsixEntries(vsix: string): string[] {
  return run('unzip', ['-Z1', vsix]).split('\n').filter(Boolean);
}

/**
 * Packages a throwaway extension from a package.json manifest (and optional files) in `dir`;
 * returns the .vsix path.
 */
export function packageThrowawayExtension(dir: string, manifest: Record<string, unknown>, files: Record<string, string> = {}): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ license: 'MIT', ...manifest }, null, 2));
  writeFileSync(join(dir, 'README.md'), `# ${String(manifest.name)}\n\nA throwaway extension an end-to-end test packages.\n`);
  writeFileSync(join(dir, 'LICENSE'), 'MIT\n');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return vscePackage(dir, join(dir, `${String(manifest.name)}.vsix`), ['--allow-missing-repository', '--no-dependencies']);
}

export interface LaunchConfig { type?: string; request?: string; name?: string; stopOnEntry?: boolean; [k: string]: unknown }

/** JSON with comments and trailing commas, as launch.json may be. */
export function parseJsonc(text: string): unknown {
  const noComments = text.replace(/("(?:[^"\\]|\\.)*")|\/\/[^\n]*|\/\*[\s\S]*?\*\//g, (_m, str: string | undefined) => str ?? '');
  return JSON.parse(noComments.replace(/,(\s*[\]}])/g, '$1'));
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// --- the page --------------------------------------------------------------------------------

export const callStack = (page: Page) => page.getByRole('treegrid', { name: 'Debug Call Stack' });
export const variables = (page: Page) => page.getByRole('tree', { name: 'Debug Variables' });
export const breakpointsTree = (page: Page) => page.getByRole('tree', { name: 'Breakpoints' });
export const debugToolbar = (page: Page) => page.locator('.debug-toolbar');
export const toolbarButton = (page: Page, name: string) => debugToolbar(page).getByRole('button', { name: new RegExp(`^${name}`) });
/** A modal dialog of the workbench (VS Code's own, in a browser). */
export const dialog = (page: Page) => page.locator('.monaco-dialog-box');

/** Brings the Run and Debug view forward unless `visible` (default: its Call Stack) is on screen. */
export async function showRunAndDebug(page: Page, visible: Locator = callStack(page)): Promise<void> {
  if (await visible.isVisible()) return;
  await runCommand(page, 'View: Show Run and Debug');
  await visible.waitFor({ state: 'visible', timeout: LONG });
}

/**
 * A row of a (virtualized) tree whose accessible name matches: the list renders only the rows on
 * screen, so scroll it with the mouse wheel until the row appears.
 */
export async function treeRow(page: Page, tree: Locator, role: 'treeitem' | 'row' | 'checkbox', name: RegExp, timeoutMs = LONG): Promise<Locator> {
  let dir = 1;
  let scrolls = 0;
  return waitUntil(`a ${role} named ${name}`, async () => {
    const row = tree.getByRole(role, { name }).first();
    if (await row.isVisible()) return row;
    const box = await tree.boundingBox();
    if (box) {
      await page.mouse.move(box.x + box.width / 2, box.y + Math.min(box.height / 2, 40));
      await page.mouse.wheel(0, dir * 120);
      if (++scrolls % 25 === 0) dir = -dir; // went past the end: come back up
    }
    return undefined;
  }, timeoutMs, 150);
}

/** The accessible names of a tree's rendered rows of one role. */
export async function rowNames(tree: Locator, role: 'treeitem' | 'row' | 'checkbox'): Promise<string[]> {
  return tree.getByRole(role).evaluateAll((es) => es.map((e) => e.getAttribute('aria-label') ?? (e as HTMLElement).innerText));
}

/** The text of the terminals in the panel (xterm's DOM renderer: set terminal.integrated.gpuAcceleration off). */
export async function terminalText(page: Page): Promise<string> {
  return (await page.locator('.terminal .xterm-rows').allInnerTexts()).join('\n');
}

/** Opens a workspace file by name with Quick Open, at a line when given. */
export async function openFile(page: Page, name: string, line?: number): Promise<void> {
  await waitUntil(`Quick Open to open ${name}`, async () => {
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+P');
    const input = quickInput(page);
    await input.waitFor({ state: 'visible', timeout: 3000 });
    await input.fill(name);
    const row = page.locator('.quick-input-list').getByRole('option', { name: new RegExp(`^${escapeRegExp(name)}\\b`) }).first();
    await row.waitFor({ state: 'visible', timeout: 5000 });
    await row.click();
    await page.getByRole('tab', { name: new RegExp(`^${escapeRegExp(name)}\\b`) }).first().waitFor({ state: 'visible', timeout: 5000 });
    return true;
  }, LONG, 500);
  if (line !== undefined) {
    // Quick Open's ":" mode: the line in the active editor, the cursor at its first column. Enter
    // can land before the pick has read ":line" (CI once saw the cursor stay on line 1), so it is
    // tried again until the status bar shows the line.
    await waitUntil(`the cursor on ${name}:${line}`, async () => {
      await page.keyboard.press('Escape');
      await page.keyboard.press('Control+P');
      const input = quickInput(page);
      await input.waitFor({ state: 'visible', timeout: 5000 });
      await input.fill(`:${line}`);
      await page.waitForTimeout(300);
      await page.keyboard.press('Enter');
      await input.waitFor({ state: 'hidden', timeout: 5000 }).catch(() => {});
      const at = await waitUntil('the status bar to show the line', async () => (await cursorPosition(page))?.line === line, 3000, 200).then(() => true, () => false);
      return at;
    }, LONG, 500);
  }
}

/** The status bar's "Ln x, Col y" of the active editor. */
export async function cursorPosition(page: Page): Promise<{ line: number; column: number } | undefined> {
  const text = await page.locator('#status\\.editor\\.selection').innerText().catch(() => '');
  const m = /Ln (\d+), Col (\d+)/.exec(text);
  return m ? { line: Number(m[1]), column: Number(m[2]) } : undefined;
}

/** The status bar's language mode of the active editor. */
export async function languageMode(page: Page): Promise<string> {
  return (await page.locator('#status\\.editor\\.mode').innerText().catch(() => '')).trim();
}

/**
 * The names of the open terminals, from "Terminal: Switch Active Terminal"'s quick pick (which
 * lists them even while the panel is closed). Closes the pick again.
 */
export async function terminalNames(page: Page): Promise<string[]> {
  await runCommand(page, 'Terminal: Switch Active Terminal');
  const input = quickInput(page);
  await input.waitFor({ state: 'visible', timeout: 5000 });
  await page.waitForTimeout(500); // the list fills in as the pick opens
  const names = await page.locator('.quick-input-list').getByRole('option').evaluateAll((es) => es.map((e) => e.getAttribute('aria-label') ?? ''));
  await page.keyboard.press('Escape');
  return names;
}

/**
 * The text of an Output channel, shown through "Output: Show Output Channels..." (the Output
 * view's editor renders its lines; spaces come back as no-break spaces).
 */
export async function outputChannelText(page: Page, channel: string): Promise<string> {
  await runCommand(page, 'Output: Show Output Channels...');
  const input = quickInput(page);
  await input.waitFor({ state: 'visible', timeout: 5000 });
  await input.fill(channel);
  const row = page.locator('.quick-input-list').getByRole('option', { name: new RegExp(`^${escapeRegExp(channel)}\\b`) }).first();
  await row.waitFor({ state: 'visible', timeout: 10_000 });
  await row.click();
  const lines = page.locator('.part.panel .output-view .view-lines, .part.panel [id="workbench.panel.output"] .view-lines').first();
  await lines.waitFor({ state: 'visible', timeout: LONG });
  return (await lines.innerText()).replace(/\u00a0/g, ' ');
}

/**
 * At a failing step: a screenshot, the page's DOM and accessibility tree (dumpDom), and the
 * last lines of code-server's log and of the page's console, so that one run says what was there.
 */
export async function dumpFailure(vs: CodeServerHandle, name: string, t: TestContext): Promise<void> {
  const file = `${name.replace(/\W+/g, '-')}-failure`;
  const png = await screenshot(vs.page, file).catch((e) => `(no screenshot: ${e})`);
  const html = await dumpDom(vs.page, file).catch((e) => `(no DOM: ${e})`);
  t.diagnostic(`failed at "${name}": screenshot ${png}; DOM ${html}; accessibility tree test-output/e2e/${file}.aria.txt`);
  console.error(`--- code-server log (last lines) ---\n${vs.logTail(60)}\n--- page console (last lines) ---\n${vs.consoleLines.slice(-30).join('\n')}`);
}
