// kvm.liveWatch: expressions read while the guest runs, without stopping it, and at a stop the
// same values as evaluate. The guest (count64.S) counts in memory forever without an exit.
import './support/needs-kvm.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import { flat64Launch, launch, stopped, clientPerTest } from './support/dap.js';
import { buildAsm } from './guests/build.js';
import { buildFlat64 } from './guests/build.js';
import { KvmRequest, type LiveWatchArgs, type LiveWatchBody } from '../src/protocol.js';

const { bin } = buildFlat64('count64');
const elf = buildAsm('count64', { ldFlags: ['-Ttext=0x100000', '-e', '_start'] });
let dc: DebugClient;
clientPerTest(() => dc, (c) => (dc = c));

async function liveWatch(expressions: string[]): Promise<LiveWatchBody['values']> {
  const r = await dc.customRequest(KvmRequest.liveWatch, { expressions } satisfies LiveWatchArgs);
  return (r.body as LiveWatchBody).values;
}

function valueOf(v: LiveWatchBody['values'][number]): bigint {
  assert.ok('value' in v, `a value, not ${JSON.stringify(v)}`);
  return BigInt(v.value);
}

/** Until the counter has moved past `after` (the guest runs in slices; each request sees the last one's end). */
async function counterPast(after: bigint): Promise<bigint> {
  for (;;) {
    const n = valueOf((await liveWatch(['*(uint64_t *)count']))[0]);
    if (n > after) return n;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('kvm.liveWatch while the guest runs: the counter grows, no stop; an error is that expression\'s own; at a stop it matches evaluate', { timeout: 120_000 }, async () => {
  const stops: string[] = [];
  dc.on('stopped', (e) => stops.push(e.body.reason));
  await launch(dc, { ...flat64Launch(bin), symbols: [elf] });

  const first = await liveWatch(['*(uint64_t *)count', 'nosuchname', '*(uint32_t *)0x7fff00000000', '(unsigned long)count', '$rax']);
  const a = valueOf(first[0]);
  assert.ok('error' in first[1] && /nosuchname/.test(first[1].error), JSON.stringify(first[1]));
  assert.ok('error' in first[2] && /not mapped/.test(first[2].error), JSON.stringify(first[2]));
  assert.ok('value' in first[3] && first[3].type === 'unsigned long', JSON.stringify(first[3]));
  assert.ok('value' in first[4], JSON.stringify(first[4]));
  const b = await counterPast(a);
  const c = await counterPast(b);
  assert.ok(a < b && b < c);
  assert.deepEqual(stops, [], 'the guest was never stopped');

  // bounded: more than 100 expressions are refused as a whole
  await assert.rejects(liveWatch(Array.from({ length: 101 }, () => '1')), /at most 100/);

  await dc.pauseRequest({ threadId: 1 });
  assert.equal((await stopped(dc)).body.reason, 'pause');
  const exprs = ['*(uint64_t *)count', '$rax', 'count', '(char)count'];
  const live = await liveWatch(exprs);
  for (const [i, expr] of exprs.entries()) {
    const ev = await dc.evaluateRequest({ expression: expr, context: 'watch' });
    assert.deepEqual(live[i], { value: ev.body.result, type: ev.body.type }, expr);
  }
  assert.ok(valueOf(live[0]) >= c);
  // stopped, the values stay put
  assert.deepEqual(await liveWatch(exprs), live);
});
