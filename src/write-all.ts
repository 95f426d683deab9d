// The CLI's output path: stdout and the serial log take a guest's bytes as they come, and a pipe
// or terminal that a reader drains slowly must slow the run down, not make it spin.
import { openSync, writeSync, constants } from 'node:fs';

/** Blocking fds standing in for non-blocking ones that said EAGAIN (a pipe or a terminal node left O_NONBLOCK). */
const blockingFds = new Map<number, number>();

/**
 * Writes all of `b` to `fd`. Where the fd is non-blocking and full (EAGAIN) it waits for room
 * instead of spinning: the rest goes through a blocking fd for the same pipe or terminal
 * (/proc/self/fd/N opened anew, without O_NONBLOCK); where that can't be had (a socket), it
 * sleeps a millisecond between tries.
 */
export function writeAll(fd: number, b: Buffer): void {
  for (let off = 0; off < b.length;) {
    try {
      off += writeSync(blockingFds.get(fd) ?? fd, b, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      if (!blockingFds.has(fd)) {
        try {
          blockingFds.set(fd, openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NOCTTY));
          continue;
        } catch {
          blockingFds.set(fd, fd);
        }
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}
