// Running the built command line (dist/cli.js) from tests in a child process, as a user would.
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './paths.js';

export const CLI = join(ROOT, 'dist', 'cli.js');
/** Generous: node startup plus a guest emulated at a few million instructions a second. */
export const RUN_TIMEOUT_MS = 60_000;

/** Builds dist/ (the CLI and the adapter bundles). */
export function buildDist(): void {
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe' });
}

/**
 * `kvmdbg ARGS` run to its end (within RUN_TIMEOUT_MS) from the repository root, with `input` on
 * its stdin (none by default) and `env` added to its environment.
 */
export function cli(args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: ROOT, input: opts.input ?? '', encoding: 'utf8', timeout: RUN_TIMEOUT_MS, env: { ...process.env, ...opts.env },
  });
  if (r.error) throw r.error;
  return r;
}

/** What a run said, for assertion messages. */
export function said(r: SpawnSyncReturns<string>): string {
  return `status ${r.status} signal ${r.signal}\n--- stdout:\n${r.stdout}\n--- stderr:\n${r.stderr}`;
}
