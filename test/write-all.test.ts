// The CLI's writeAll on a non-blocking stdout that its reader leaves full: all bytes arrive, in
// order, and the writer waits for room instead of spinning on EAGAIN (before, a run whose
// terminal or pipe was not drained took a whole CPU). Both kinds of stdout node gives a child:
// a pipe (a shell pipeline) and a socket (node's own child_process pipes are socketpairs, where
// /proc/self/fd/N can't be reopened blocking, so writeAll sleeps between tries).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CHILD = join(__dirname, 'support', 'write-flood.ts');
/** Far more than a pipe (64 KiB) or a socket's buffer holds. */
const SIZE = 4 << 20;
const STALL_MS = 1500;

interface Report { nonblocking: boolean; wallMs: number; cpuMs: number }

/**
 * Runs the child; its stdout is read only STALL_MS after it says it begins writing (by the
 * shell's reader, once GO exists, or by us). Timed from the child's word, not its start, which
 * a loaded host can stretch past any fixed stall.
 */
async function flood(throughShellPipe: boolean): Promise<{ out: Buffer; report: Report }> {
  const tmp = mkdtempSync(join(tmpdir(), 'kvmdbg-write-all-'));
  const go = join(tmp, 'go');
  const node = `${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(CHILD)} ${SIZE}`;
  const child = throughShellPipe
    ? spawn('bash', ['-c', `${node} | { until [ -e ${JSON.stringify(go)} ]; do sleep 0.05; done; cat; }`], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, ['--import', 'tsx', CHILD, String(SIZE)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let err = '';
  let stall: NodeJS.Timeout | undefined;
  if (!throughShellPipe) child.stdout.pause();
  child.stderr.on('data', (d) => {
    err += d;
    if (stall || !err.startsWith('ready\n')) return;
    stall = setTimeout(() => (throughShellPipe ? writeFileSync(go, '') : child.stdout.resume()), STALL_MS);
  });
  const done = new Promise<number | null>((r) => child.on('close', r));
  child.stdout.on('data', (d: Buffer) => chunks.push(d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
  try {
    assert.equal(await done, 0, `the writer failed: ${err}`);
  } finally {
    clearTimeout(timer);
    clearTimeout(stall);
    rmSync(tmp, { recursive: true, force: true });
  }
  return { out: Buffer.concat(chunks), report: JSON.parse(err.slice('ready\n'.length)) as Report };
}

for (const [name, viaPipe] of [['a pipe', true], ['a socket', false]] as const) {
  test(`writeAll to ${name} left full: every byte in order, and no spinning while it waits`, { timeout: 90000 }, async () => {
    const { out, report } = await flood(viaPipe);
    assert.equal(report.nonblocking, true, 'the child\'s stdout was non-blocking (the case under test)');
    assert.equal(out.length, SIZE);
    assert.ok(out.equals(Buffer.alloc(SIZE, 'kvmdbg-')), 'the bytes arrived as written');
    // The reader held off STALL_MS, so the write waited most of that; spinning would have spent
    // about as much CPU as it waited (a spinning writeAll measured 941 ms of CPU in 928 ms).
    assert.ok(report.wallMs >= STALL_MS / 2, `the write waited for the reader (${report.wallMs.toFixed(0)} ms)`);
    assert.ok(report.cpuMs < report.wallMs / 4,
      `${report.cpuMs.toFixed(0)} ms of CPU in ${report.wallMs.toFixed(0)} ms of waiting`);
  });
}
