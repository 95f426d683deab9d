// Runs test/electron/suite.ts in a local desktop VS Code through @vscode/test-electron:
//
//   VSCODE_EXECUTABLE=/path/to/code npm run test:electron
//
// VSCODE_EXECUTABLE is the VS Code binary (Linux: .../VSCode-linux-x64/code, or /usr/share/code/code;
// macOS: .../Visual Studio Code.app/Contents/MacOS/Electron). Nothing is downloaded: without it this
// exits 1. The steps: npm run build, make -C examples, bundle suite + index with esbuild into
// test/electron/build/, copy examples/ (with build/) to a temporary folder, and start VS Code on it
// with this repository as the extension under development and --disable-extensions.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../..');
export const BUILD = join(ROOT, 'test/electron/build');

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (status ${r.status ?? r.signal})`);
}

/** npm run build, make -C examples. */
export function buildAll(): void {
  sh('npm', ['run', 'build']);
  sh('make', ['-C', 'examples']);
}

/** Bundles suite.ts and index.ts (vscode external, CommonJS) into test/electron/build/. */
export async function bundleSuite(): Promise<{ suite: string; index: string }> {
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: { suite: join(ROOT, 'test/electron/suite.ts'), index: join(ROOT, 'test/electron/index.ts') },
    outdir: BUILD,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node18',
    external: ['vscode'],
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  return { suite: join(BUILD, 'suite.js'), index: join(BUILD, 'index.js') };
}

/** A temporary copy of examples/ (with build/ and .vscode/launch.json). */
export function prepareWorkspace(): string {
  if (!existsSync(join(ROOT, 'examples/build/kernel.img'))) throw new Error('examples/build/kernel.img is missing: run make -C examples');
  const dir = join(mkdtempSync(join(tmpdir(), 'kvmdbg-electron-')), 'examples');
  cpSync(join(ROOT, 'examples'), dir, { recursive: true });
  return dir;
}

async function main(): Promise<number> {
  const exe = process.env.VSCODE_EXECUTABLE;
  if (!exe) {
    console.error('test:electron runs the suite in a local VS Code and downloads none: set VSCODE_EXECUTABLE to the VS Code\n'
      + 'executable, e.g. VSCODE_EXECUTABLE=/usr/share/code/code npm run test:electron');
    return 1;
  }
  if (!existsSync(exe)) {
    console.error(`VSCODE_EXECUTABLE=${exe} does not exist`);
    return 1;
  }
  buildAll();
  const { index } = await bundleSuite();
  const ws = prepareWorkspace();
  const { runTests } = await import('@vscode/test-electron');
  try {
    await runTests({
      vscodeExecutablePath: exe,
      extensionDevelopmentPath: ROOT,
      extensionTestsPath: index,
      launchArgs: [ws, '--disable-extensions', '--disable-workspace-trust'],
    });
    console.log('test:electron: the suite passed');
    return 0;
  } catch (e) {
    console.error(`test:electron: the suite failed: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    rmSync(resolve(ws, '..'), { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().then((code) => process.exit(code), (e) => {
    console.error(e);
    process.exit(1);
  });
}
