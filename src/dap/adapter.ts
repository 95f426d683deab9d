// The debug adapter's entry: DAP on stdin/stdout, or on a TCP port with --server=PORT (to debug
// the adapter itself). A guest or a bad request never ends this process.
import { createServer } from 'node:net';
import { KvmDebugSession } from './session.js';

process.on('uncaughtException', (e) => process.stderr.write(`kvmdbg adapter: uncaught: ${e.stack ?? e}\n`));
process.on('unhandledRejection', (e) => process.stderr.write(`kvmdbg adapter: unhandled rejection: ${(e as Error)?.stack ?? e}\n`));

const port = process.argv.map((a) => /^--server=(\d+)$/.exec(a)?.[1]).find(Boolean);
if (port) {
  createServer((socket) => {
    const session = new KvmDebugSession();
    session.setRunAsServer(true);
    session.start(socket, socket);
  }).listen(Number(port), '127.0.0.1');
} else {
  const session = new KvmDebugSession();
  process.on('SIGTERM', () => session.shutdown());
  session.start(process.stdin, process.stdout);
}
