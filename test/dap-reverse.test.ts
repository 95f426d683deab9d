// Reverse execution over the protocol, on a guest that fills an array and then overwrites one
// element (test/guests/reverse64.S): step back and forward against the live run, reverse-continue
// to breakpoints and to the write that made a value ("who wrote this?"), the start of history,
// the console's record/info record/goto, and the refusal on several vCPUs.
import './support/needs-kvm.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { flat64Launch, hex, launch, topFrame, scope, stopped, clientPerTest, newClient, cGuestPerFile, markLine } from './support/dap.js';
import { reverseClient, STOP_MS } from './support/reverse.js';
import { buildFlat64 } from './guests/build.js';
import { sseVariant } from './support/host-facts.js';

/** reverse64.S as written, or its NO_SSE variant: symbols and the launch that runs it. */
function reverse64(variant?: 'NO_SSE') {
  const { bin, syms } = buildFlat64('reverse64', variant);
  return { syms, base: flat64Launch(bin) };
}
const { syms, base } = reverse64();
const c = cGuestPerFile();
let dc: DebugClient;
clientPerTest(() => dc, (c) => (dc = c));

const r = reverseClient(() => dc);
const { pc, reg, readMem, repl, stepBack, stepForward } = r;
/** The state of the registers and of the array, its total and the stack the guest uses. */
const stateOf = (syms: Record<string, bigint>) => () => r.state([{ from: syms.array, to: syms.stack_top }]);

/** Launches recording, stopped on entry, with an instruction breakpoint at `done`, and runs there. */
async function recordToDone({ syms, base }: ReturnType<typeof reverse64>): Promise<void> {
  await launch(dc, { ...base, record: true, stopOnEntry: true }, () =>
    dc.customRequest('setInstructionBreakpoints', { breakpoints: [{ instructionReference: hex(syms.done) }] }));
  assert.equal((await stopped(dc, STOP_MS)).body.reason, 'entry');
  await dc.continueRequest({ threadId: 1 });
  assert.equal((await stopped(dc, STOP_MS)).body.reason, 'instruction breakpoint');
  assert.equal(await pc(), syms.done);
}

test('step back N then forward N gives exactly the state of the live run; FPU/SSE and the stack come back too', async (t) => {
  const g = reverse64(await sseVariant(t));
  const { syms, base } = g;
  const state = stateOf(syms);
  // The live run without recording: the state at `done`.
  await launch(dc, base, () => dc.customRequest('setInstructionBreakpoints', { breakpoints: [{ instructionReference: hex(syms.done) }] }));
  await stopped(dc, STOP_MS);
  assert.equal(await pc(), syms.done);
  const live = await state();
  await dc.stop();

  dc = newClient();
  await dc.start();
  await recordToDone(g);
  assert.equal(await state(), live, 'recording changes nothing');
  // sum adds 16 elements in 4 instructions each: 40 steps back lie inside the sum loop
  const N = 40;
  for (let i = 0; i < N; i++) assert.equal((await stepBack()).body.reason, 'step');
  assert.notEqual(await pc(), syms.done);
  const mid = await state();
  for (let i = 0; i < N; i++) await stepForward();
  assert.equal(await pc(), syms.done);
  assert.equal(await state(), live, 'back and forward again: the live run exactly');
  for (let i = 0; i < N; i++) await stepBack();
  assert.equal(await state(), mid, 'back again: the same point of the past');

  // Back across the SSE instructions and the call: xmm0 and rbx as they were before after_bug.
  await dc.customRequest('setInstructionBreakpoints', { breakpoints: [{ instructionReference: hex(syms.after_bug) }] });
  await dc.reverseContinueRequest({ threadId: 1 });
  const ev = await stopped(dc, STOP_MS);
  assert.equal(ev.body.reason, 'instruction breakpoint');
  assert.equal(await pc(), syms.after_bug);
  assert.equal(await reg('rbx'), 0n);
  assert.equal(BigInt((await scope(dc, 'FPU/SSE')).get('xmm0')!.value), 0n);
  assert.equal((await readMem(syms.array + 20n, 4)).readUInt32LE(), 0xdead);
  // one more back: the clobber's ret, with the return address still on the stack
  await stepBack();
  assert.equal(await pc(), syms.bad_store + 8n);
  assert.equal((await readMem(await reg('rsp'), 8)).readBigUInt64LE(), syms.after_bug);

  // Forward through the history to the breakpoint at done, then live to the guest's exit.
  await dc.customRequest('setInstructionBreakpoints', { breakpoints: [{ instructionReference: hex(syms.done) }] });
  await dc.continueRequest({ threadId: 1 });
  await stopped(dc, STOP_MS);
  assert.equal(await pc(), syms.done);
  assert.equal(await state(), live);
  const exited = dc.waitForEvent('exited', STOP_MS);
  await dc.continueRequest({ threadId: 1 });
  assert.equal(((await exited) as DebugProtocol.ExitedEvent).body.exitCode, (0x10 << 1) | 1);
});

test('who wrote this: reverse-continue with a data breakpoint stops at the overwriting instruction, then at the loop\'s write, then at the start of history; forward again, after each write', async (t) => {
  const g = reverse64(await sseVariant(t));
  const { syms, base } = g;
  await recordToDone(g);
  assert.equal((await readMem(syms.array + 20n, 4)).readUInt32LE(), 0xdead);
  const info = await dc.customRequest('dataBreakpointInfo', { name: hex(syms.array + 20n), asAddress: true, bytes: 4 });
  await dc.customRequest('setDataBreakpoints', { breakpoints: [{ dataId: info.body.dataId, accessType: 'write' }] });
  await dc.customRequest('setInstructionBreakpoints', { breakpoints: [] });

  await dc.reverseContinueRequest({ threadId: 1 });
  let ev = await stopped(dc, STOP_MS);
  assert.equal(ev.body.reason, 'data breakpoint');
  assert.equal(await pc(), syms.bad_store, 'stopped before the writing instruction');
  assert.match(ev.body.description ?? '', new RegExp(`written by the instruction at ${hex(syms.bad_store)}: 0x0000000f -> 0x0000dead`));
  assert.equal((await readMem(syms.array + 20n, 4)).readUInt32LE(), 15, 'the old value, 3 * 5');

  await dc.reverseContinueRequest({ threadId: 1 });
  ev = await stopped(dc, STOP_MS);
  assert.equal(ev.body.reason, 'data breakpoint');
  assert.equal(await pc(), syms.fill_store);
  assert.equal(await reg('rcx'), 5n);
  assert.match(ev.body.description ?? '', /0x00000000 -> 0x0000000f/);

  await dc.reverseContinueRequest({ threadId: 1 });
  ev = await stopped(dc, STOP_MS);
  assert.match(ev.body.description ?? '', /start of the recorded history/);
  assert.equal(await pc(), BigInt(base.loadAddress), 'at the first recorded instruction');
  // again: the same answer, and the session goes on
  ev = await stepBack();
  assert.match(ev.body.description ?? '', /start of the recorded history/);
  ev = await stepBack('line');
  assert.match(ev.body.description ?? '', /start of the recorded history/);
  assert.equal((await dc.threadsRequest()).body.threads.length, 1);

  // Forward inside the history the same data breakpoint stops after each write, as live.
  await dc.continueRequest({ threadId: 1 });
  ev = await stopped(dc, STOP_MS);
  assert.equal(ev.body.reason, 'data breakpoint');
  assert.equal(await pc(), syms.fill_store + 3n, 'after the loop\'s store');
  assert.equal(await reg('rcx'), 5n);
  assert.equal((await readMem(syms.array + 20n, 4)).readUInt32LE(), 15);
  assert.match(ev.body.description ?? '', /now 0x0000000f/);
  await dc.continueRequest({ threadId: 1 });
  ev = await stopped(dc, STOP_MS);
  assert.equal(ev.body.reason, 'data breakpoint');
  assert.equal(await pc(), syms.bad_store + 7n, 'after the overwriting store');
  assert.match(ev.body.description ?? '', /now 0x0000dead/);
  assert.match(await repl('info record'), /position: \d+\n/, 'still in the past');
});

test('console: record start, info record, goto N (told as kvm.history); a step back with nothing recorded is refused, not fatal', async () => {
  await launch(dc, { ...base, stopOnEntry: true }, () =>
    dc.customRequest('setInstructionBreakpoints', { breakpoints: [{ instructionReference: hex(syms.after_bug) }] }));
  await stopped(dc, STOP_MS);
  await assert.rejects(dc.stepBackRequest({ threadId: 1 }), /nothing was recorded/);
  assert.match(await repl('record status'), /recording: off/);
  assert.match(await repl('record start'), /recording/);
  await dc.continueRequest({ threadId: 1 });
  await stopped(dc, STOP_MS);
  assert.equal(await pc(), syms.after_bug);
  const text = await repl('info record');
  const n = Number(/instructions recorded: (\d+)/.exec(text)![1]);
  // 3 set-up instructions, 16 rounds of 6 in the loop, the call and clobber's 5
  assert.equal(n, 3 + 16 * 6 + 1 + 5, text);
  assert.match(text, new RegExp(`position: ${n} \\(the present\\)`));
  const told = dc.waitForEvent('kvm.history', STOP_MS); // the status bar item's position
  assert.match(await repl('goto 0'), /at position 0 of/);
  assert.deepEqual((await told).body, { recording: true, length: n, position: 0 });
  assert.equal(await pc(), BigInt(base.loadAddress));
  assert.equal((await readMem(syms.array, 64)).every((b) => b === 0), true, 'the array before the loop');
  await repl('goto 9');
  assert.equal(await pc(), syms.fill, 'after 3 set-up instructions and one loop round of 6');
  await repl(`goto ${n}`);
  assert.equal(await pc(), syms.after_bug);
  assert.equal((await readMem(syms.array + 20n, 4)).readUInt32LE(), 0xdead);
  assert.match(await repl('record stop'), /recording stopped/);
  assert.match(await repl('info record'), /instructions recorded: 0/);
});

test('several vCPUs: recording is refused at launch, saying why', async () => {
  const init = await dc.initializeRequest({ adapterID: 'kvm', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  assert.equal(init.body?.supportsStepBack, true);
  await assert.rejects(dc.launchRequest({ ...base, smp: 2, record: true } as DebugProtocol.LaunchRequestArguments), /recording needs a machine with one vCPU/);
});

test('step back by source line over C code: back over a call to the line before, as reverse-next; start of history at the first', async () => {
  const first = markLine(c.guest.source, 'kmain-first');
  await launch(dc, c.base(), () => dc.setBreakpointsRequest({ source: { path: c.guest.source }, breakpoints: [{ line: first }] }));
  await stopped(dc, STOP_MS);
  assert.equal((await topFrame(dc)).line, first);
  await repl('record start');
  await dc.setBreakpointsRequest({ source: { path: c.guest.source }, breakpoints: [] });
  const lines = [first];
  for (const mark of ['kmain-twice', 'kmain-fact']) {
    await dc.nextRequest({ threadId: 1 });
    await stopped(dc, STOP_MS);
    lines.push(markLine(c.guest.source, mark));
    assert.equal((await topFrame(dc)).line, lines[lines.length - 1]);
  }
  await dc.nextRequest({ threadId: 1 }); // over fact(5): about 100 recorded instructions of recursion
  await stopped(dc, STOP_MS);
  const f = (await dc.evaluateRequest({ expression: 'f', frameId: (await topFrame(dc)).id })).body.result;
  assert.match(f, /^120\b/);
  for (let i = lines.length - 1; i >= 0; i--) {
    assert.equal((await stepBack('line')).body.reason, 'step');
    const top = await topFrame(dc);
    assert.equal(top.line, lines[i], 'back to the previous line of kmain, never into twice() or fact()');
    assert.equal(top.name.split('+')[0], 'kmain');
  }
  const b = (await dc.evaluateRequest({ expression: 'a', frameId: (await topFrame(dc)).id })).body.result;
  assert.doesNotMatch(b, /^2\b/, 'before its first line ran, a is not 2 yet');
  assert.match((await stepBack('line')).body.description ?? '', /start of the recorded history/);
});
