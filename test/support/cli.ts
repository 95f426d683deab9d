// Running the built command line (dist/cli.js) from tests in a child process, as a user would.
import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './paths.js';
import { waitForText } from './wait-for-text.js';

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

/**
 * `kvmdbg ARGS` running in a child process, driven like a terminal session: type on its stdin,
 * wait (on its output events, never polling) until stdout shows a pattern, then wait for its end.
 * close() kills what is still running; every test that makes one ends it.
 */
export class CliSession {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  /** Resolves once the process has ended and its pipes are closed. */
  readonly ended: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;
  private readonly listeners = new Set<() => void>();

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d: Buffer) => {
      this.stdout += d.toString('latin1');
      for (const f of this.listeners) f();
    });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString('latin1')));
    this.ended = new Promise((resolve) => this.child.on('close', (status, signal) => {
      for (const f of this.listeners) f();
      resolve({ status, signal });
    }));
  }

  /**
   * Resolves with the first match of `pattern` in stdout at or after offset `from`; rejects after
   * `ms` or when the process ends first, with what it said.
   */
  waitFor(pattern: RegExp, ms: number, from = 0): Promise<RegExpExecArray> {
    const source = { text: () => this.stdout, listeners: this.listeners, said: () => this.said() };
    return waitForText(source, pattern, ms, from, () => this.child.exitCode !== null || this.child.signalCode !== null
      ? new Error(`the run ended before ${pattern} appeared\n${this.said()}`) : undefined);
  }

  type(text: string): void {
    this.child.stdin.write(text);
  }

  /** The exit status within `ms`, or a rejection with what the run said (the process is then killed). */
  async exit(ms: number): Promise<{ status: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the run did not end within ${ms} ms\n${this.said()}`)), ms);
    });
    try {
      return await Promise.race([this.ended, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the process if it still runs and waits for it. */
  async close(): Promise<void> {
    this.child.stdin.destroy();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.ended;
  }

  said(): string {
    return `--- stdout:\n${this.stdout}\n--- stderr:\n${this.stderr}`;
  }
}
