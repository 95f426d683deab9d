// Kernel C at -O2 over DAP, small enough for every run (issue 14's DWARF-level checks): the
// kernel-like guest (test/guests/kernel-like: built as Debian builds its vmlinux, linked in the
// kernel map, entered at its physical address as startup_64 is) with its vmlinux as "symbols".
// Source breakpoints bind in start_kernel and in list_add, inlined into it: a function inlined
// where the vCPU stands is a frame of its own, with its parameters, as gdb shows it, and a
// caller shows its call's line, with a frame for each call inlined there (spawn). The call stack unwinds through .debug_frame alone (no frame
// pointers, no .eh_frame) to the entry code; locals and globals at -O2 read back what the
// guest built (a list_head list of task_structs); step in, step by line and step out stay where
// gdb would; a parameter in a register is right on a function breakpoint; the run ends with the
// guest's own report on COM1 and through isa-debug-exit.
import './support/needs-kvm.js';
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { buildAll, children, clientPerTest, hex, launch, markLine, nm, scope, stopped, topFrame } from './support/dap.js';
import { buildKernelLike, KERNEL_LIKE_DIR, type KernelLike } from './guests/kernel-like/build.js';
import { join } from 'node:path';

let dc: DebugClient;
clientPerTest(() => dc, (c) => (dc = c));

let guest: KernelLike;
let syms: Record<string, bigint>;
before(() => {
  buildAll();
  guest = buildKernelLike();
  syms = nm(guest.vmlinux);
});

/** As a user debugs a kernel image with its vmlinux: the image where it loads, the vmlinux at its link addresses. */
const launchArgs = () => ({
  program: guest.bin, format: 'flat', loadAddress: '0x100000', mode: 'long', symbols: [{ path: guest.vmlinux, offset: '0x0' }],
});

/** The frames of vCPU 0: function, source base name, line and instruction pointer. */
async function frames(): Promise<{ name: string; file?: string; line: number; pc: bigint }[]> {
  const st = await dc.stackTraceRequest({ threadId: 1 });
  // A frame is named as its symbol and offset (start_kernel+0x50): the function is the symbol.
  return st.body.stackFrames.map((f) => ({ name: f.name.replace(/\+0x[0-9a-f]+$/, ''), file: f.source?.path?.split('/').pop(), line: f.line, pc: BigInt(f.instructionPointerReference!) }));
}

/** Frames for a message. */
const show = (x: unknown): string => JSON.stringify(x, (_, v) => (typeof v === 'bigint' ? hex(v) : v));

async function evaluate(expression: string): Promise<string> {
  const f = await topFrame(dc);
  return (await dc.evaluateRequest({ expression, frameId: f.id, context: 'watch' })).body.result;
}

/** The range of start_kernel's code (from the vmlinux's symbol table: the next symbol is _etext). */
const inFunction = (pc: bigint, name: string, next: string): boolean => pc >= syms[name] && pc < syms[next];

test('kernel C at -O2: source breakpoints in start_kernel and in an inlined list_add (a frame of its own), the stack through .debug_frame, locals and globals, step in, by line and out, a register parameter, the guest\'s report', { timeout: 300_000 }, async () => {
  const totalLine = markLine(guest.source, 'total');
  const out: string[] = [];
  dc.on('output', (e: DebugProtocol.OutputEvent) => {
    if (e.body.category === 'stdout') out.push(e.body.output);
  });
  const inlinedLine = markLine(guest.source, 'inlined');
  const listAddLine = markLine(guest.source, 'list_add');
  await launch(dc, launchArgs(), async () => {
    const r = await dc.setBreakpointsRequest({ source: { path: guest.source }, breakpoints: [{ line: inlinedLine }, { line: totalLine }] });
    assert.deepEqual(r.body.breakpoints.map((b) => [b.verified, b.line, b.message]), [[true, inlinedLine, undefined], [true, totalLine, undefined]]);
  });
  assert.equal((await stopped(dc, 60_000)).body.reason, 'breakpoint');

  // In list_add, inlined into start_kernel's loop: a frame for each, as gdb shows them, one
  // machine frame; list_add's own parameters in its frame, start_kernel's locals in the next.
  let fs = await frames();
  assert.deepEqual(fs.slice(0, 3).map((f) => [f.name, f.file, f.line]),
    [['list_add', 'main.c', inlinedLine], ['start_kernel', 'main.c', listAddLine], ['high', 'head.S', markLine(join(KERNEL_LIKE_DIR, 'head.S'), 'call')]]);
  assert.equal(fs[0].pc, fs[1].pc, 'one machine frame');
  const st = await dc.stackTraceRequest({ threadId: 1 });
  const localsOf = async (frameId: number) => {
    const sc = (await dc.scopesRequest({ frameId })).body.scopes.find((x) => x.name === 'Locals');
    return sc ? new Map((await dc.variablesRequest({ variablesReference: sc.variablesReference })).body.variables.map((v) => [v.name, v.value])) : new Map();
  };
  const inner = await localsOf(st.body.stackFrames[0].id);
  const outer = await localsOf(st.body.stackFrames[1].id);
  assert.match(inner.get('new') ?? '', new RegExp(`^\\(struct list_head \\*\\) ${hex(syms.tasks + 32n)} <tasks\\+0x20>$`), 'new: &tasks[0].tasks');
  assert.match(inner.get('head') ?? '', /^\(struct list_head \*\) 0xffffffff811\w+ <stack\+0x\w+>$/, 'head: start_kernel\'s, on the stack');
  assert.deepEqual([...outer.keys()], ['names', 'head', 'total', 'i'], 'start_kernel\'s own, its loop\'s i too');
  assert.equal(outer.get('i'), '0', 'the first time round');
  assert.match(outer.get('names') ?? '', /"swapper".*"init".*"kthreadd"/);
  // Step out of the inlined list_add: out of its code, into the loop it was inlined into (not
  // out of start_kernel, whose machine frame it shares).
  await dc.stepOutRequest({ threadId: 1 });
  await stopped(dc, 60_000);
  fs = await frames();
  assert.equal(fs[0].name, 'start_kernel', show(fs));
  assert.equal(fs[1].name, 'high');
  assert.ok(fs[0].pc > BigInt(st.body.stackFrames[0].instructionPointerReference!), 'forward, past list_add\'s code');
  assert.equal(fs[0].line, markLine(guest.source, 'loop'), 'the loop\'s test, after the inlined code');
  // Next through the loop: over init_task's call and over the inlined list_add, as gdb's next
  // does: start_kernel's own lines only.
  const loopLines: [string, number][] = [];
  for (let i = 0; i < 6; i++) {
    await dc.nextRequest({ threadId: 1 });
    await stopped(dc, 60_000);
    fs = await frames();
    loopLines.push([fs[0].name, fs[0].line]);
  }
  const loopLine = markLine(guest.source, 'loop');
  assert.ok(loopLines.every(([name, line]) => name === 'start_kernel' && line >= loopLine && line <= listAddLine), show(loopLines));
  assert.ok(loopLines.some(([, line]) => line === listAddLine), `the inlined call's own line: ${show(loopLines)}`);
  await dc.setBreakpointsRequest({ source: { path: guest.source }, breakpoints: [{ line: totalLine }] });
  await dc.continueRequest({ threadId: 1 });
  assert.equal((await stopped(dc, 60_000)).body.reason, 'breakpoint');

  // The stack: start_kernel at the line, called from head.S's entry code at its virtual address.
  fs = await frames();
  assert.deepEqual(fs[0], { name: 'start_kernel', file: 'main.c', line: totalLine, pc: fs[0].pc });
  assert.ok(inFunction(fs[0].pc, 'start_kernel', '_etext'), hex(fs[0].pc));
  // A caller's line and function are its call's (gdb's too); its instruction pointer is the return address.
  const headS = join(KERNEL_LIKE_DIR, 'head.S');
  assert.deepEqual(fs[1], { name: 'high', file: 'head.S', line: markLine(headS, 'call'), pc: syms.high + 12n }, show(fs));

  // What the loop built, read back: the list through the stack's list_head, the tasks' fields.
  const locals = await scope(dc, 'Locals');
  const list = locals.get('head') ?? assert.fail(`no head among ${[...locals.keys()]}`);
  const link = await children(dc, list);
  assert.equal(BigInt(link.get('next')!.split(' ')[0]), syms.tasks + 2n * 48n + 32n, `head.next: ${link.get('next')}`);
  assert.equal(BigInt(link.get('prev')!.split(' ')[0]), syms.tasks + 32n, `head.prev: ${link.get('prev')}`);
  assert.equal(await evaluate('tasks[2].pid'), '3');
  assert.deepEqual([...locals.keys()], ['names', 'head', 'total'], 'the static, the list head and the result to come');
  assert.equal(await evaluate('tasks[1].comm'), '"init"');
  assert.equal(await evaluate('head.next->next == &tasks[1].tasks'), '1');
  assert.equal(await evaluate('jiffies'), '0', 'not yet');

  // Step in: sum_pids, called from start_kernel's line; the caller unwound by CFI alone.
  await dc.stepInRequest({ threadId: 1 });
  await stopped(dc, 60_000);
  fs = await frames();
  assert.equal(fs[0].name, 'sum_pids', show(fs));
  assert.ok(inFunction(fs[0].pc, 'sum_pids', 'report'), hex(fs[0].pc));
  assert.deepEqual([fs[1].name, fs[1].line], ['start_kernel', totalLine]);
  assert.equal(fs[2]?.name, 'high');

  // By line through the loop: every stop in sum_pids, at a line of its body, until it returns.
  const sumLine = markLine(guest.source, 'sum');
  const seen = new Set<number>();
  for (let i = 0; i < 24 && (fs = await frames())[0].name === 'sum_pids'; i++) {
    seen.add(fs[0].line);
    await dc.nextRequest({ threadId: 1 });
    await stopped(dc, 60_000);
  }
  assert.ok(seen.has(sumLine), `the loop's line ${sumLine} among ${[...seen]}`);
  assert.ok([...seen].every((l) => l >= sumLine - 6 && l <= sumLine + 3), `lines of sum_pids only: ${[...seen]}`);
  fs = await frames();
  assert.equal(fs[0].name, 'start_kernel', `back in the caller after the return: ${show(fs[0])}`);

  // A function breakpoint on report: its parameter in a register (a location list at -O2).
  await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'report' }] });
  await dc.continueRequest({ threadId: 1 });
  assert.equal((await stopped(dc, 60_000)).body.reason, 'function breakpoint');
  fs = await frames();
  assert.equal(fs[0].name, 'report');
  assert.deepEqual([fs[1].name, fs[1].line], ['start_kernel', markLine(guest.source, 'report_call')], 'the call\'s line, not the inlined outb\'s after it');
  assert.equal((await scope(dc, 'Locals')).get('total')?.value, '60');
  assert.equal(await evaluate('jiffies'), '60', 'start_kernel stored it before the call');

  // Step out: back in start_kernel past the call, where outb is inlined; then the guest reports and exits.
  await dc.stepOutRequest({ threadId: 1 });
  await stopped(dc, 60_000);
  fs = await frames();
  assert.deepEqual(fs.slice(0, 2).map((f) => f.name), ['outb', 'start_kernel'], show(fs));
  assert.equal(fs[1].line, markLine(guest.source, 'exit'), 'the inlined call\'s line');
  assert.ok(fs[0].pc === fs[1].pc && fs[0].pc > syms.report && inFunction(fs[0].pc, 'start_kernel', '_etext'), hex(fs[0].pc));
  const exited = dc.waitForEvent('exited', 60_000);
  await dc.continueRequest({ threadId: 1 });
  assert.equal(((await exited) as DebugProtocol.ExitedEvent).body.exitCode, (60 << 1) | 1);
  assert.equal(out.join(''), '60\n', 'what report printed');
});

test('a caller\'s inlined call is a frame of its own: init_task, called from spawn, inlined into start_kernel; the stack loaded a part at a time as VS Code loads it', { timeout: 300_000 }, async () => {
  await launch(dc, launchArgs(), async () => {
    await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'init_task' }] });
  });
  assert.equal((await stopped(dc, 60_000)).body.reason, 'function breakpoint');
  // VS Code with supportsDelayedStackTraceLoading: the top frame first, then the next 19.
  const top = await dc.stackTraceRequest({ threadId: 1, startFrame: 0, levels: 1 });
  assert.equal(top.body.stackFrames.length, 1);
  const rest = await dc.stackTraceRequest({ threadId: 1, startFrame: 1, levels: 19 });
  const all = await dc.stackTraceRequest({ threadId: 1 });
  assert.deepEqual([...top.body.stackFrames, ...rest.body.stackFrames], all.body.stackFrames, 'the parts are the whole');
  assert.equal(all.body.totalFrames, all.body.stackFrames.length);
  const fs = await frames();
  const headS = join(KERNEL_LIKE_DIR, 'head.S');
  assert.deepEqual(fs.map((f) => [f.name, f.file, f.line]), [
    ['init_task', 'main.c', markLine(guest.source, 'init_task')],
    ['spawn', 'main.c', markLine(guest.source, 'spawn_call')],
    ['start_kernel', 'main.c', markLine(guest.source, 'spawn')],
    ['high', 'head.S', markLine(headS, 'call')],
  ], show(fs));
  assert.equal(fs[1].pc, fs[2].pc, 'spawn shares start_kernel\'s machine frame: its return address');
  assert.ok(inFunction(fs[1].pc, 'start_kernel', '_etext'), hex(fs[1].pc));
  // start_kernel's own locals in its frame, the loop's i among them: the first time round.
  const sc = (await dc.scopesRequest({ frameId: all.body.stackFrames[2].id })).body.scopes.find((x) => x.name === 'Locals')!;
  const locals = new Map((await dc.variablesRequest({ variablesReference: sc.variablesReference })).body.variables.map((v) => [v.name, v.value]));
  assert.deepEqual([...locals.keys()], ['names', 'head', 'total', 'i']);
  assert.equal(locals.get('i'), '0');
});
