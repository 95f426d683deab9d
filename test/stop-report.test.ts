// How stops are told to the client (src/dap/stop-report.ts) and the exception filters' input
// (src/dap/exception-filters.ts): pure functions, driven with made-up stops; the dap tests see
// the same texts come from real guests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reportStop } from '../src/dap/stop-report.js';
import { ExceptionFilters, parsePortRanges } from '../src/dap/exception-filters.js';
import { GuestError } from '../src/errors.js';
import type { Machine } from '../src/vmm/machine.js';
import type { Int3Delivery } from '../src/vmm/host-probe.js';

const defaults = new ExceptionFilters();
const none = { has: () => false };

test('a breakpoint hit reports its ids and reason; a stepper\'s own breakpoint ends a step', () => {
  const stop = { kind: 'breakpoint', vcpu: 1, address: 0x1000n, id: 3 } as const;
  assert.deepEqual(reportStop(stop, { ids: [7], reason: 'function breakpoint', text: 'cond failed' }, defaults),
    { kind: 'stopped', reason: 'function breakpoint', text: 'cond failed', hit: [7] });
  assert.deepEqual(reportStop(stop, {}, defaults), { kind: 'stopped', reason: 'step' });
});

test('exits end the session with the guest\'s status; reset and power-off with 0 and a line', () => {
  assert.deepEqual(reportStop({ kind: 'exit', status: 3 }, {}, defaults), { kind: 'ended', code: 3 });
  const r = reportStop({ kind: 'poweroff', vcpu: 0 }, {}, defaults);
  assert.equal(r.kind, 'ended');
  assert.equal(r.kind === 'ended' && r.code, 0);
  assert.match(r.kind === 'ended' ? r.message ?? '' : '', /^kvmdbg: /);
});

test('a port I/O stop names the direction, port, value and size', () => {
  assert.deepEqual(reportStop({ kind: 'port-io', vcpu: 0, port: 0x3f8, write: true, size: 1, value: 0x41 }, {}, defaults),
    { kind: 'stopped', reason: 'exception', text: 'Port I/O: out 0x3f8 <- 0x41 (1 byte)' });
  assert.deepEqual(reportStop({ kind: 'port-io', vcpu: 0, port: 0x60, write: false, size: 2, value: 0x1234 }, {}, defaults),
    { kind: 'stopped', reason: 'exception', text: 'Port I/O: in 0x60 -> 0x1234 (2 bytes)' });
});

test('a triple fault or a dead halt stops when its filter is on, and ends the session when off', () => {
  const tf = { kind: 'triple-fault', vcpu: 0 } as const;
  const on = reportStop(tf, {}, defaults);
  assert.equal(on.kind === 'stopped' && on.reason, 'exception');
  assert.match(on.kind === 'stopped' ? on.text ?? '' : '', /state is kept/);
  const lost = reportStop({ ...tf, stateLost: 'the reason' }, {}, defaults);
  assert.doesNotMatch(lost.kind === 'stopped' ? lost.text ?? '' : '', /state is kept/);
  assert.match(lost.kind === 'stopped' ? lost.text ?? '' : '', /the reason/);
  const replayed = reportStop({ ...tf, replayed: 7 }, {}, defaults);
  assert.match(replayed.kind === 'stopped' ? replayed.text ?? '' : '', /faulting instruction's, recovered by replaying 7 instructions/);
  assert.equal(reportStop(tf, {}, none).kind === 'ended' && (reportStop(tf, {}, none) as { code: number }).code, 4);
  const halt = reportStop({ kind: 'halted', vcpu: 0 }, {}, none);
  assert.equal(halt.kind === 'ended' && halt.code, 6);
});

test('port filter conditions: single ports, ranges, lists; a bad one is refused with an example', () => {
  assert.deepEqual(parsePortRanges('0x3f8'), [{ from: 0x3f8, to: 0x3f8 }]);
  assert.deepEqual(parsePortRanges(' 0x3f8-0x3ff , 96 '), [{ from: 0x3f8, to: 0x3ff }, { from: 96, to: 96 }]);
  for (const bad of ['', 'com1', '0x3ff-0x3f8', '0x10000']) assert.throws(() => parsePortRanges(bad), GuestError);
});

test('setting filters refuses an unknown one or bad ports before changing anything', () => {
  const f = new ExceptionFilters();
  assert.throws(() => f.set([{ filterId: 'mode-switch' }, { filterId: 'nonsense' }], undefined), /unknown exception filter "nonsense"/);
  assert.throws(() => f.set([{ filterId: 'mode-switch' }, { filterId: 'port-io', condition: 'x' }], undefined), /not a port/);
  assert.equal(f.has('mode-switch'), false);
  assert.equal(f.has('triple-fault'), true);
  assert.deepEqual(f.set([{ filterId: 'mode-switch' }], undefined), [{ verified: true }]);
  assert.equal(f.has('mode-switch'), true);
  assert.equal(f.has('triple-fault'), false);
});

test('the guest int3 filter: verified where the int3 reaches KVM in some mode, with the modes where it does not', () => {
  // The probe's answers of each known host (host-probe.ts); applyTo only sets two fields.
  const on = (real: Int3Delivery, long: Int3Delivery) => {
    const m = { host: { int3: { real, long } }, stopOnGuestInt3: false, setPortWatches: () => {} } as unknown as Machine;
    return new ExceptionFilters().set([{ filterId: 'guest-int3' }], m)[0];
  };
  assert.deepEqual(on('debug-exit', 'debug-exit'), { verified: true });
  assert.deepEqual(on('emulation-failure', 'emulation-failure'), { verified: true });
  const pvmNative = on('guest', 'emulation-failure');
  assert.equal(pvmNative.verified, true);
  assert.match(pvmNative.message ?? '', /^in real mode this host sends .* stops on it in long mode only$/);
  const qemuSvm = on('guest', 'guest');
  assert.equal(qemuSvm.verified, false);
  assert.match(qemuSvm.message ?? '', /does not report a guest's int3/);
});
