// A child for test/write-all.test.ts: writes SIZE bytes of a known pattern to its stdout through
// the CLI's writeAll, with stdout made non-blocking the way node makes it (touching
// process.stdout opens a libuv handle, which sets O_NONBLOCK), then reports on stderr as JSON
// whether it was non-blocking, and the wall and CPU time the write took. "ready" on stderr first
// says the write begins: the reader's stall is timed from there.
import { readFileSync } from 'node:fs';
import { writeAll } from '../../src/write-all.js';

const size = Number(process.argv[2]);
void process.stdout.writableLength;
const flags = Number.parseInt(/^flags:\s+([0-7]+)/m.exec(readFileSync('/proc/self/fdinfo/1', 'utf8'))![1], 8);
const data = Buffer.alloc(size, 'kvmdbg-');
process.stderr.write('ready\n');
const t0 = process.hrtime.bigint();
const c0 = process.cpuUsage();
writeAll(1, data);
const c = process.cpuUsage(c0);
process.stderr.write(JSON.stringify({
  nonblocking: (flags & 0o4000) !== 0,
  wallMs: Number(process.hrtime.bigint() - t0) / 1e6,
  cpuMs: (c.user + c.system) / 1000,
}));
