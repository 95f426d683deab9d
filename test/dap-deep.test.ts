// The adapter's deeper features over the protocol: data breakpoints, hit counts, conditions,
// logpoints, exception filters, several vCPUs.
import './support/needs-kvm.js';
import { detectNesting, openKvm } from '../src/vmm/host.js';
import { close as closeFd } from '../src/vmm/kvm/sys.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { cGuestPerFile, flat64Launch, hex, newClient, launch, topFrame, scope, stopped, markLine, nm, clientPerTest } from './support/dap.js';
import { buildFlat64 } from './guests/build.js';

const { guest, syms, base } = cGuestPerFile();
let dc: DebugClient;
clientPerTest(() => dc, (c) => (dc = c));

const flat = (name: string) => flat64Launch(buildFlat64(name).bin);

async function readU64(addr: bigint): Promise<bigint> {
  const r = await dc.customRequest('readMemory', { memoryReference: hex(addr), count: 8 });
  return Buffer.from(r.body.data, 'base64').readBigUInt64LE();
}

test('a data breakpoint on a global stops right after each write, showing the new value', async () => {
  await launch(dc, base(), async () => {
    const info = await dc.customRequest('dataBreakpointInfo', { name: hex(syms.counter), asAddress: true, bytes: 8 });
    assert.deepEqual(info.body.accessTypes, ['write', 'readWrite']);
    const r = await dc.customRequest('setDataBreakpoints', { breakpoints: [{ dataId: info.body.dataId, accessType: 'write' }] });
    assert.equal(r.body.breakpoints[0].verified, true);
  });
  const bumpLine = markLine(guest.source, 'bump');
  // first the boot code clearing .bss writes the variable (with zeros, 4 bytes a time, as gdb
  // would show too). An emulated CPU (QEMU TCG, /proc/cpuinfo) reports a data breakpoint in a
  // rep string instruction once, after the whole instruction, where hardware stops after each
  // iteration that wrote.
  const bssStops = detectNesting() === 'emulator' ? 1 : 2;
  let ev: DebugProtocol.StoppedEvent;
  for (let i = 0; i < bssStops; i++) {
    ev = await stopped(dc);
    assert.equal(ev.body.reason, 'data breakpoint');
    assert.equal(await readU64(syms.counter), 0n);
    assert.ok(BigInt((await topFrame(dc)).instructionPointerReference!) < syms.kmain, 'in the boot code');
    await dc.continueRequest({ threadId: 1 });
  }
  const exited = dc.waitForEvent('exited', 60000);
  for (let i = 1n; i <= 3n; i++) {
    ev = await stopped(dc);
    assert.equal(ev.body.reason, 'data breakpoint');
    assert.match(ev.body.description ?? '', new RegExp(`now 0x0*${i.toString(16)};`));
    assert.equal(await readU64(syms.counter), i);
    const f = await topFrame(dc);
    assert.equal(f.name.split('+')[0], 'bump');
    // right after the store, which ends the line: the next instruction is the closing brace's
    assert.equal(f.line, bumpLine + 1);
    await dc.continueRequest({ threadId: 1 });
  }
  assert.equal(((await exited) as DebugProtocol.ExitedEvent).body.exitCode, (0x2c << 1) | 1);
});

test('data breakpoints: read-only is refused with the reason; a fifth needs a debug register or a page trap', async () => {
  await launch(dc, { ...base(), stopOnEntry: true });
  await stopped(dc);
  const ids = [];
  for (let i = 0; i < 5; i++) {
    ids.push((await dc.customRequest('dataBreakpointInfo', { name: hex(0x9000n + BigInt(8 * i)), asAddress: true, bytes: 8 })).body.dataId);
  }
  let r = await dc.customRequest('setDataBreakpoints', {
    breakpoints: [...ids.map((dataId) => ({ dataId, accessType: 'readWrite' })), { dataId: ids[0], accessType: 'read' }],
  });
  let bps = r.body.breakpoints as DebugProtocol.Breakpoint[];
  assert.deepEqual(bps.map((b) => b.verified), [true, true, true, true, false, false]);
  assert.match(bps[4].message ?? '', /no free debug register/);
  assert.match(bps[5].message ?? '', /cannot watch reads alone/);
  // a fifth write watch falls back to trapping its page, and says so
  r = await dc.customRequest('setDataBreakpoints', { breakpoints: ids.map((dataId) => ({ dataId, accessType: 'write' })) });
  bps = r.body.breakpoints as DebugProtocol.Breakpoint[];
  assert.deepEqual(bps.map((b) => b.verified), [true, true, true, true, true]);
  assert.match(bps[4].message ?? "", /no free debug register.*: watching its page instead/);
  const regs = await dc.scopesRequest({ frameId: (await topFrame(dc)).id });
  const info = await dc.customRequest('dataBreakpointInfo', { name: 'rax', variablesReference: regs.body.scopes.find((s) => s.name === 'Registers')!.variablesReference });
  assert.equal(info.body.dataId, null);
  assert.match(info.body.description, /registers cannot be watched/);
});

test('hit counts and logpoints: the bump line logs each time; a function breakpoint there stops from the 3rd hit', async () => {
  const line = markLine(guest.source, 'bump');
  const logs: string[] = [];
  dc.on('output', (e: DebugProtocol.OutputEvent) => {
    if (e.body.output.startsWith('bump')) logs.push(e.body.output.trim());
  });
  await launch(dc, base(), async () => {
    await dc.setBreakpointsRequest({ source: { path: guest.source }, breakpoints: [{ line, logMessage: 'bump at {rip}' }] });
    await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'bump', hitCondition: '>= 3' }] });
  });
  const ev = await stopped(dc);
  assert.equal(ev.body.reason, 'function breakpoint');
  assert.equal(await readU64(syms.counter), 2n, 'the third call, before its increment');
  assert.equal(logs.length, 3, 'the logpoint logged every hit, the third included');
  const pc = (await topFrame(dc)).instructionPointerReference!;
  for (const l of logs) assert.ok(l.startsWith('bump at ') && l.includes(pc), l);
});

test('a bad hit condition is reported on the breakpoint', async () => {
  await launch(dc, { ...base(), stopOnEntry: true });
  await stopped(dc);
  const r = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'bump', hitCondition: 'sometimes' }] });
  assert.equal(r.body.breakpoints[0].verified, false);
  assert.match(r.body.breakpoints[0].message ?? '', /hit condition "sometimes" is not understood/);
});

test('exception filters: guest int3, port I/O with a range, exceptionInfo', async () => {
  // Measured here as the adapter measures it: whether this host reports a guest's int3 at all.
  const { fd, info: host } = openKvm();
  closeFd(fd);
  await launch(dc, flat('int3-64'), async () => {
    const r = await dc.setExceptionBreakpointsRequest({ filters: [], filterOptions: [{ filterId: 'guest-int3' }, { filterId: 'port-io', condition: '0x3f8-0x3ff' }] } as DebugProtocol.SetExceptionBreakpointsArguments);
    const [int3Filter, portFilter] = r.body!.breakpoints!;
    assert.equal(portFilter.verified, true);
    // Verified where the int3 reaches us in some mode; a message names the modes where it does not.
    assert.equal(int3Filter.verified, host.int3.real !== 'guest' || host.int3.long !== 'guest');
    if (host.int3.real === 'guest' && host.int3.long === 'guest') assert.match(int3Filter.message ?? '', /does not report a guest's int3/);
    else if (host.int3.real === 'guest') assert.match(int3Filter.message ?? '', /in real mode .* stops on it in long mode only/);
    else assert.equal(int3Filter.message, undefined);
  });
  let ev = await stopped(dc);
  if (host.int3.long !== 'guest') {
    assert.equal(ev.body.reason, 'exception');
    assert.match(ev.body.text ?? '', /Guest int3/);
    const int3 = nm(buildFlat64('int3-64').bin.replace(/\.bin$/, '.elf'));
    assert.equal((await topFrame(dc)).instructionPointerReference, hex(int3.guest_int3));
    await dc.continueRequest({ threadId: 1 });
    ev = await stopped(dc);
  }
  assert.match(ev.body.text ?? '', /Port I\/O: out 0x3f8 <- 0x69/, 'the handler prints "int3 handled": "i" first');
  const info = await dc.exceptionInfoRequest({ threadId: 1 });
  assert.match(info.body.description ?? '', /Port I\/O/);
  await assert.rejects(dc.setExceptionBreakpointsRequest({ filters: [], filterOptions: [{ filterId: 'port-io', condition: 'everything' }] } as DebugProtocol.SetExceptionBreakpointsArguments), /not a port or port range/);
});

test('the CPU mode switch filter stops after each switch, real → protected → long', async () => {
  await launch(dc, base(), async () => {
    await dc.setExceptionBreakpointsRequest({ filters: ['mode-switch', 'triple-fault'] });
  });
  let ev = await stopped(dc);
  assert.equal(ev.body.reason, 'exception');
  assert.equal(ev.body.text, 'CPU mode switch: real mode → protected mode (16-bit)');
  const sys = await scope(dc, 'System');
  assert.equal(BigInt(sys.get('cr0')!.value.split(' ')[0]) & 1n, 1n);
  await dc.continueRequest({ threadId: 1 });
  ev = await stopped(dc);
  assert.equal(ev.body.text, 'CPU mode switch: protected mode (32-bit) → compatibility mode (32-bit)',
    'CR0.PG with EFER.LME set activates long mode while CS is still a 32-bit segment');
  assert.equal((await scope(dc, 'System')).get('paging')!.value, '4-level');
  // no other switch: the guest runs to its end
  const exited = dc.waitForEvent('exited');
  await dc.continueRequest({ threadId: 1 });
  assert.equal(((await exited) as DebugProtocol.ExitedEvent).body.exitCode, (0x2c << 1) | 1);
});

test('halt with interrupts off: a stop by default, the end of the session when the filter is off', async () => {
  await launch(dc, flat('halt64'));
  const ev = await stopped(dc);
  assert.match(ev.body.text ?? '', /Halt with interrupts off/);
  await dc.stop();
  dc = newClient();
  await dc.start();
  const exited = dc.waitForEvent('exited');
  await launch(dc, flat('halt64'), () => dc.setExceptionBreakpointsRequest({ filters: ['triple-fault'] }));
  assert.equal(((await exited) as DebugProtocol.ExitedEvent).body.exitCode, 6);
});

test('several vCPUs: one thread each, all stop together, a step moves one vCPU', async () => {
  const s = nm(buildFlat64('smp64').bin.replace(/\.bin$/, '.elf'));
  await launch(dc, { ...flat('smp64'), smp: 2 }, async () => {
    // just past the BSP's wait loop: the AP has started and set its flag
    await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: `*${hex(s._start + 0x47n)}` }] });
  });
  const ev = await stopped(dc);
  assert.equal(ev.body.allThreadsStopped, true);
  const threads = await dc.threadsRequest();
  assert.deepEqual(threads.body.threads.map((t) => [t.id, t.name]), [[1, 'vCPU 0'], [2, 'vCPU 1']]);
  // each thread has its own registers: the BSP in long mode, the AP not
  assert.equal((await scope(dc, 'System', 1)).get('mode')!.value, 'long mode (64-bit)');
  assert.equal((await scope(dc, 'System', 2)).get('mode')!.value, 'real mode');
  assert.equal((await topFrame(dc, 2)).instructionPointerReference!.slice(0, 4), '0x80', 'the AP runs its trampoline at 0x8000');
  const apRip = BigInt((await scope(dc, 'Registers', 2)).get('rip')!.value);
  const bspRip = BigInt((await scope(dc, 'Registers', 1)).get('rip')!.value);
  await dc.stepInRequest({ threadId: 1, granularity: 'instruction' });
  assert.equal((await stopped(dc)).body.threadId, 1);
  assert.notEqual(BigInt((await scope(dc, 'Registers', 1)).get('rip')!.value), bspRip, 'the BSP moved');
  assert.equal(BigInt((await scope(dc, 'Registers', 2)).get('rip')!.value), apRip, 'the AP stayed');
});

test('evaluate: registers, memory casts and symbols in watch and hover; debug-console commands in the repl', async () => {
  await launch(dc, base(), () => dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'bump' }] }));
  await stopped(dc);
  const f = await topFrame(dc);
  const regs = await scope(dc, 'Registers');
  let r = await dc.evaluateRequest({ expression: '$rip', frameId: f.id, context: 'watch' });
  assert.equal(BigInt(r.body.result.split(' ').find((x) => x.startsWith('0x'))!), BigInt(regs.get('rip')!.value));
  r = await dc.evaluateRequest({ expression: 'rsp', frameId: f.id, context: 'hover' });
  assert.equal(BigInt(r.body.result.split(' ').find((x) => x.startsWith('0x'))!), BigInt(regs.get('rsp')!.value));
  r = await dc.evaluateRequest({ expression: `*(uint8_t *)0x7c00`, frameId: f.id, context: 'watch' });
  const first = Buffer.from((await dc.customRequest('readMemory', { memoryReference: '0x7c00', count: 1 })).body.data, 'base64')[0];
  assert.equal(Number(r.body.result.split(' ')[0]), first);
  r = await dc.evaluateRequest({ expression: `*(uint64_t *)${hex(syms.table)} + 1`, frameId: f.id, context: 'watch' });
  assert.equal(r.body.result, '11', 'table[0] is 10');
  r = await dc.evaluateRequest({ expression: `((uint64_t *)${hex(syms.table)})[3]`, frameId: f.id, context: 'watch' });
  assert.equal(r.body.result, '40');
  r = await dc.evaluateRequest({ expression: 'info mode', frameId: f.id, context: 'repl' });
  assert.match(r.body.result, /long mode \(64-bit\)/);
  r = await dc.evaluateRequest({ expression: 'xp/4xb 0x7c00', frameId: f.id, context: 'repl' });
  assert.match(r.body.result, new RegExp(`0x${first.toString(16).padStart(2, '0')}`));
  await assert.rejects(dc.evaluateRequest({ expression: 'no_such_thing + 1', frameId: f.id, context: 'watch' }), /no symbol "no_such_thing"/);
  // A Linux command on a guest that is not Linux says what it lacks, and the session goes on.
  await assert.rejects(dc.evaluateRequest({ expression: 'lx-ps', frameId: f.id, context: 'repl' }), /lx-ps needs the layout of struct task_struct, which this kernel's types do not have: add a vmlinux with DWARF or BTF/);
  await assert.rejects(dc.evaluateRequest({ expression: 'lx-dmesg', frameId: f.id, context: 'repl' }), /lx-dmesg needs the layout of struct printk_ringbuffer/);
  assert.match((await dc.evaluateRequest({ expression: 'lx-symbols', frameId: f.id, context: 'repl' })).body.result, /^no kernel module list here/);
  r = await dc.evaluateRequest({ expression: 'info mode', frameId: f.id, context: 'repl' });
  assert.match(r.body.result, /long mode \(64-bit\)/);
});

test('a breakpoint condition is evaluated at each hit; one that fails to evaluate stops and says why', async () => {
  await launch(dc, base(), async () => {
    await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'bump', condition: `*(uint64_t *)${hex(syms.counter)} == 1` }] });
  });
  await stopped(dc);
  assert.equal(await readU64(syms.counter), 1n, 'the second call, where the condition first holds');
  await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'bump', condition: 'no_such_var > 1' }] });
  await dc.continueRequest({ threadId: 1 });
  const ev = await stopped(dc);
  assert.match(ev.body.description ?? ev.body.text ?? '', /condition "no_such_var > 1" could not be evaluated: no symbol "no_such_var"/);
});

test('page-granular write watches: more than four, of any size, each stops right after a write to it', async () => {
  const targets = [syms.counter, syms.table, syms.table + 8n, syms.table + 16n, syms.table + 24n];
  await launch(dc, base(), async () => {
    await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'kmain' }] });
  });
  await stopped(dc);
  const ids = [];
  for (const a of targets.slice(1)) ids.push((await dc.customRequest('dataBreakpointInfo', { name: hex(a), asAddress: true, bytes: 8 })).body.dataId);
  // and a 3-byte watch, which no debug register can hold, on the counter
  ids.push((await dc.customRequest('dataBreakpointInfo', { name: hex(syms.counter), asAddress: true, bytes: 3 })).body.dataId);
  const r = await dc.customRequest('setDataBreakpoints', { breakpoints: ids.map((dataId) => ({ dataId, accessType: 'write' })) });
  assert.deepEqual((r.body.breakpoints as DebugProtocol.Breakpoint[]).map((b) => b.verified), [true, true, true, true, true]);
  await dc.setFunctionBreakpointsRequest({ breakpoints: [] });
  await dc.continueRequest({ threadId: 1 });
  const ev = await stopped(dc);
  assert.equal(ev.body.reason, 'data breakpoint');
  assert.match(ev.body.description ?? '', new RegExp(`0x${syms.counter.toString(16)}, 3 bytes\\), now 0x0*1;`));
  assert.equal(await readU64(syms.counter), 1n);
});

test('conditions and hit counts on data and instruction breakpoints too', async () => {
  await launch(dc, base(), async () => {
    const info = await dc.customRequest('dataBreakpointInfo', { name: hex(syms.counter), asAddress: true, bytes: 8 });
    await dc.customRequest('setDataBreakpoints', {
      breakpoints: [{ dataId: info.body.dataId, accessType: 'write', condition: `*(uint64_t *)${hex(syms.counter)} == 2` }],
    });
  });
  // the .bss clearing writes zeros and the first bump writes 1: the condition stops only at 2
  let ev = await stopped(dc);
  assert.equal(ev.body.reason, 'data breakpoint');
  assert.equal(await readU64(syms.counter), 2n);
  await dc.customRequest('setDataBreakpoints', { breakpoints: [] });
  await dc.stop();
  dc = newClient();
  await dc.start();
  await launch(dc, base(), async () => {
    await dc.customRequest('setInstructionBreakpoints', { breakpoints: [{ instructionReference: hex(syms.bump), hitCondition: '% 2' }] });
  });
  ev = await stopped(dc);
  assert.equal(ev.body.reason, 'instruction breakpoint');
  assert.equal(await readU64(syms.counter), 1n, 'the second call to bump');
});

test('the triple fault filter off: the session ends with a message', async () => {
  const out: string[] = [];
  dc.on('output', (e: DebugProtocol.OutputEvent) => out.push(e.body.output));
  const exited = dc.waitForEvent('exited');
  await launch(dc, flat('triple64'), () => dc.setExceptionBreakpointsRequest({ filters: ['halt'] }));
  assert.equal(((await exited) as DebugProtocol.ExitedEvent).body.exitCode, 4);
  assert.match(out.join(''), /triple fault on vCPU 0.*"Triple fault" exception filter is off/);
});
