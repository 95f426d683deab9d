// The reads ahead of a stop (src/debugger/stop-prefetch.ts): one per turn of the event loop, so
// that a request or a guest exit waits for one read at most; each breakpoint address once, at
// most PREFETCH_ADDRESSES of them; nothing more after cancel; a read that throws leaves the rest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as turn } from 'node:timers/promises';
import { PREFETCH_ADDRESSES, StopPrefetch, breakpointReads } from '../src/debugger/stop-prefetch.js';

/** A DebugInfo's stopReads that logs each read as "pc:what", the "lines" read of 0x30 failing. */
function reader(log: string[]) {
  return {
    stopReads: (pc: bigint) => ['frames', 'lines'].map((what) => () => {
      log.push(`${pc.toString(16)}:${what}`);
      if (pc === 0x30n && what === 'lines') throw new Error('unreadable');
    }),
  };
}

test('reads run one per turn of the event loop, each address once, past a read that fails', async () => {
  const log: string[] = [];
  const p = new StopPrefetch();
  p.start(breakpointReads(reader(log), [0x10n, 0x30n, 0x10n, 0x20n]));
  assert.deepEqual(log, [], 'nothing is read before the event loop turns');
  await turn();
  assert.deepEqual(log, ['10:frames']);
  await turn();
  assert.deepEqual(log, ['10:frames', '10:lines']);
  for (let i = 0; i < 10; i++) await turn();
  assert.deepEqual(log, ['10:frames', '10:lines', '30:frames', '30:lines', '20:frames', '20:lines']);
});

test('cancel drops what is left; a new start replaces what the last one left', async () => {
  const log: string[] = [];
  const p = new StopPrefetch();
  p.start(breakpointReads(reader(log), [0x10n, 0x20n]));
  await turn();
  p.cancel();
  for (let i = 0; i < 5; i++) await turn();
  assert.deepEqual(log, ['10:frames']);
  p.start(breakpointReads(reader(log), [0x40n]));
  p.start(breakpointReads(reader(log), [0x50n]));
  for (let i = 0; i < 5; i++) await turn();
  assert.deepEqual(log, ['10:frames', '50:frames', '50:lines']);
});

test(`at most ${PREFETCH_ADDRESSES} addresses are read ahead`, async () => {
  const log: string[] = [];
  new StopPrefetch().start(breakpointReads(reader(log), Array.from({ length: PREFETCH_ADDRESSES + 5 }, (_, i) => BigInt(0x1000 + i))));
  for (let i = 0; i < 3 * PREFETCH_ADDRESSES; i++) await turn();
  assert.equal(log.length, 2 * PREFETCH_ADDRESSES);
  assert.equal(log.at(-1), `${(0x1000 + PREFETCH_ADDRESSES - 1).toString(16)}:lines`);
});
