// The debug adapter's entry: DAP on stdin/stdout, or on a TCP port with --server=[ADDR:]PORT (to
// debug the adapter itself, or to serve an editor outside the test VM). A guest or a bad request
// never ends this process. The session (and through it the monitor and koffi's native module)
// is loaded here, not imported, so that a host where it can't load still gets an answer.
import { createServer } from 'node:net';
import type { DebugSession } from '@vscode/debugadapter';
import { UnsupportedHostSession, unsupportedHostReason } from './unsupported-host.js';

process.on('uncaughtException', (e) => process.stderr.write(`kvmdbg adapter: uncaught: ${e.stack ?? e}\n`));
process.on('unhandledRejection', (e) => process.stderr.write(`kvmdbg adapter: unhandled rejection: ${(e as Error)?.stack ?? e}\n`));

async function main(): Promise<void> {
  let newSession: () => DebugSession;
  try {
    const { KvmDebugSession } = await import('./session.js');
    newSession = () => new KvmDebugSession();
  } catch (e) {
    const reason = unsupportedHostReason(e);
    process.stderr.write(`kvmdbg adapter: ${reason}\n`);
    newSession = () => new UnsupportedHostSession(reason);
  }
  // --server=PORT listens on 127.0.0.1; --server=ADDR:PORT on ADDR (the test VM's own address,
  // where QEMU's port forwarding delivers connections).
  const server = process.argv.map((a) => /^--server=(?:([0-9.]+):)?(\d+)$/.exec(a)).find(Boolean);
  if (server) {
    createServer((socket) => {
      const session = newSession();
      session.setRunAsServer(true);
      session.start(socket, socket);
    }).listen(Number(server[2]), server[1] ?? '127.0.0.1');
  } else {
    const session = newSession();
    process.on('SIGTERM', () => session.shutdown());
    session.start(process.stdin, process.stdout);
  }
}

void main();
