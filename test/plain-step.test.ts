// The recorder's fast path (src/debugger/history/plain-step.ts) against its general path: the
// same guest recorded with and without it gives the same history, entry by entry (the
// instruction's address, the registers before it, every write's address and both images, what
// may not be restored exactly), the same guest memory and the same end, a special register moved
// by the monitor midway included; and its address formulas, worked out in 32-bit halves, agree
// with BigInt arithmetic. (Each safeguard of the fast path was taken out in turn to see this
// test fail: the code's bytes compared, the page verdicts dropped with the walks, the kept
// special registers dropped on a state write, the Dirty bit asked for, a page crossed.)
import './support/needs-kvm.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildFlat64 } from './guests/build.js';
import { FLAT64, withMachine } from './support/machine.js';
import { Machine } from '../src/vmm/machine.js';
import { Recorder } from '../src/debugger/history/recorder.js';
import { operandAddress, type PlainOperand } from '../src/debugger/history/plain-step.js';
import { GPR_NAMES, type Regs } from '../src/x86/registers.js';
import type { Stop } from '../src/vmm/debug/stops.js';

/** What a recorded run left: its stops, every entry as seen going back, memory and registers at the end. */
interface Recorded {
  end: Stop;
  entries: string[];
  inexact: [number, string][];
  memory: Buffer;
  regs: Regs;
  plain: number;
}

/**
 * Records plain64 to its exit, step by step, with the fast path on or off; then walks the history
 * back to its start. `meddle`: where the first round comes to its FS-relative store, the monitor
 * moves the FS base (as a user editing it would), which the fast path must take in at once.
 */
async function record(bin: string, plainSteps: boolean, meddle?: bigint): Promise<Recorded> {
  const m = new Machine({ image: bin, ...FLAT64, serial: () => {} });
  return withMachine(m, async () => {
    const rec = new Recorder(m, 0, { plainSteps });
    rec.start();
    let end: Stop;
    for (let n = 0; ; n++) {
      assert.ok(n < 20_000, 'plain64 ends within 20,000 instructions');
      end = await rec.step(0, { holdInterrupts: m.canHoldInterrupts });
      if (end.kind !== 'step') break;
      if (m.getRegs(0).rip === meddle) {
        m.vcpu(0).setSregs({ fs: { ...m.getSregs(0).fs, base: m.getSregs(0).fs.base + 0x40n } });
        meddle = undefined;
      }
    }
    const memory = m.readPhysical(0, 16 << 20);
    const regs = m.getRegs(0);
    const entries: string[] = [];
    const log = rec.log;
    const inexact = log.inexactEntries(log.inexactCount);
    while (log.back()) {
      const writes = log.writes().map((w) => `${w.gpa.toString(16)}:${w.old.toString('hex')}>${w.new.toString('hex')}`);
      entries.push(`${log.position} pc=${log.pc().toString(16)} ${GPR_NAMES.map((r) => log.reg(r).toString(16)).join(',')} ${writes.join(' ')}`);
    }
    log.settle();
    rec.goto(log.length);
    return { end, entries, inexact, memory, regs, plain: rec.plainRecorded };
  });
}

test('plain64 recorded with the fast path and without it: the same history, entry by entry, the same memory and the same end', { timeout: 300_000 }, async (t) => {
  const { bin, syms } = buildFlat64('plain64');
  const m = new Machine({ image: bin, ...FLAT64, serial: () => {} });
  const live = await withMachine(m, async () => m.run());
  assert.equal(live.kind, 'exit', 'the guest runs to its exit unrecorded');
  const undisturbed = await record(bin, true);
  assert.deepEqual(undisturbed.end, live, 'recorded, it ends as it does live (its checksum is its exit status)');
  // With the FS base moved midway by the monitor, both paths must still agree.
  const fast = await record(bin, true, syms.fs_store);
  const general = await record(bin, false, syms.fs_store);
  t.diagnostic(`${fast.entries.length} instructions, ${fast.plain} on the fast path`);
  assert.ok(!fast.memory.equals(undisturbed.memory), 'the moved FS base changed what the guest stored');
  assert.deepEqual(fast.end, general.end);
  assert.equal(general.plain, 0);
  assert.ok(fast.plain > fast.entries.length / 2, `most instructions take the fast path (${fast.plain} of ${fast.entries.length})`);
  assert.ok(fast.plain < fast.entries.length, 'and some the general one');
  assert.equal(fast.entries.length, general.entries.length);
  for (let k = 0; k < fast.entries.length; k++) assert.equal(fast.entries[k], general.entries[k], `entry ${fast.entries.length - 1 - k}`);
  assert.deepEqual(fast.inexact, general.inexact);
  assert.deepEqual(fast.regs, general.regs);
  assert.ok(fast.memory.equals(general.memory), 'guest memory at the end');
});

test('operand addresses in 32-bit halves: carries, negative displacements and indexes, 32-bit wrap, an FS base', () => {
  const words = new Uint32Array(2 * GPR_NAMES.length);
  const set = (word: number, v: bigint) => {
    words[word] = Number(v & 0xffffffffn);
    words[word + 1] = Number(v >> 32n);
  };
  const fs = 0x7fff_1234_5000n;
  const seg = { fs: [Number(fs & 0xffffffffn), Number(fs >> 32n)], gs: [0, 0] };
  const at = { lo: 0, hi: 0 };
  const cases: [bigint, bigint, number, bigint, boolean, 'fs' | undefined][] = [
    // base, index, scale, displacement, 32-bit addressing, segment
    [0x1000n, 0xffff_ffff_ffff_ffffn, 8, 8n, false, undefined],
    [0xffff_ffffn, 0xffff_ffffn, 8, 0xffff_ffff_ffff_fff8n, false, undefined],
    [0xffff_8000_ffff_fff0n, 0x20n, 1, 0n, false, undefined],
    [0xffff_fffcn, 0n, 1, 12n, true, undefined],
    [0xdead_0000_ffff_fff0n, 0x10n, 2, 0xffff_fff0n, true, undefined],
    [0x10n, 0n, 1, 0x20n, false, 'fs'],
    [0xffff_ffff_ffff_fff0n, 0n, 1, 0n, false, 'fs'],
  ];
  for (const [base, index, scale, disp, addr32, fsgs] of cases) {
    set(0, base);
    set(2, index);
    const op: PlainOperand = {
      base: 0, baseWide: true, index: 2, indexWide: true, scale, dispLo: Number(disp & 0xffffffffn), dispHi: Number(disp >> 32n),
      fsgs, addr32, length: 8, write: true,
    };
    const offset = BigInt.asUintN(addr32 ? 32 : 64, (addr32 ? BigInt.asUintN(32, base) : base) + (addr32 ? BigInt.asUintN(32, index) : index) * BigInt(scale) + disp);
    const want = BigInt.asUintN(64, offset + (fsgs ? fs : 0n));
    if (addr32) {
      op.baseWide = false;
      op.indexWide = false;
    }
    operandAddress(op, words, seg, at);
    assert.equal((BigInt(at.hi) << 32n) | BigInt(at.lo), want, `base ${base.toString(16)} index ${index.toString(16)} * ${scale} + ${disp.toString(16)}${addr32 ? ' (32-bit)' : ''}${fsgs ? ' fs' : ''}`);
  }
});
