// The recorder's fast path (src/debugger/history/plain-step.ts) against its general path: the
// same guest (64-bit, then 32-bit protected mode) recorded with and without it gives the same history, entry by entry (the
// instruction's address, the registers before it, every write's address and both images, what
// may not be restored exactly), the same guest memory and the same end, a special register moved
// by the monitor midway included; and its address formulas, worked out in 32-bit halves, agree
// with BigInt arithmetic. (Each safeguard of the fast path was taken out in turn to see this
// test fail: the code's bytes compared, the page verdicts dropped with the walks, the kept
// special registers dropped on a state write, the Dirty bit asked for, a page crossed.)
import './support/needs-kvm.js';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { buildFlat32, buildFlat64 } from './guests/build.js';
import { FLAT64, withMachine } from './support/machine.js';
import { paging32Variant } from './support/host-facts.js';
import { Machine, type MachineConfig } from '../src/vmm/machine.js';
import { Recorder } from '../src/debugger/history/recorder.js';
import { SEGMENTS, operandAddress, type PlainOperand } from '../src/debugger/history/plain-step.js';
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

/** A guest of the test: its image, how the machine enters it, and where its FS-relative store is. */
interface Guest {
  config: MachineConfig;
  fsStore: bigint;
}

async function plain64(): Promise<Guest> {
  const { bin, syms } = buildFlat64('plain64');
  return { config: { image: bin, ...FLAT64, serial: () => {} }, fsStore: syms.fs_store };
}

/** plain32, without its paging part where this host can't turn paging on in 32-bit mode (said to `t`). */
async function plain32(t: TestContext): Promise<Guest> {
  const { bin, syms } = buildFlat32('plain32', await paging32Variant(t));
  return { config: { image: bin, format: 'flat', loadAddress: 0x100000, mode: 'protected', serial: () => {} }, fsStore: syms.fs_store };
}

/**
 * Records a guest to its exit, step by step, with the fast path on or off; then walks the history
 * back to its start. `meddle`: where the first round comes to its FS-relative store, the monitor
 * moves the FS base (as a user editing it would), which the fast path must take in at once.
 */
async function record(g: Guest, plainSteps: boolean, meddle?: bigint): Promise<Recorded> {
  const m = new Machine(g.config);
  return withMachine(m, async () => {
    const rec = new Recorder(m, 0, { plainSteps });
    rec.start();
    let end: Stop;
    for (let n = 0; ; n++) {
      assert.ok(n < 20_000, 'the guest ends within 20,000 instructions');
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

for (const [name, guest] of [['plain64', plain64], ['plain32', plain32]] as const) {
  test(`${name} recorded with the fast path and without it: the same history, entry by entry, the same memory and the same end`, { timeout: 300_000 }, async (t) => {
    const g = await guest(t);
    const m = new Machine(g.config);
    const live = await withMachine(m, async () => m.run());
    assert.equal(live.kind, 'exit', 'the guest runs to its exit unrecorded');
    const undisturbed = await record(g, true);
    assert.deepEqual(undisturbed.end, live, 'recorded, it ends as it does live (its checksum is its exit status)');
    // With the FS base moved midway by the monitor, both paths must still agree.
    const fast = await record(g, true, g.fsStore);
    const general = await record(g, false, g.fsStore);
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
}

test('operand addresses in 32-bit halves: carries, negative displacements and indexes, 32-bit wrap, segment bases', () => {
  const words = new Uint32Array(2 * GPR_NAMES.length);
  const set = (word: number, v: bigint) => {
    words[word] = Number(v & 0xffffffffn);
    words[word + 1] = Number(v >> 32n);
  };
  const fs = 0x7fff_1234_5000n;
  const es = 0xffff_f000n;
  const bases = new Array<number>(2 * SEGMENTS.length).fill(0);
  for (const [seg, b] of [['fs', fs], ['es', es]] as const) {
    bases[2 * SEGMENTS.indexOf(seg)] = Number(b & 0xffffffffn);
    bases[2 * SEGMENTS.indexOf(seg) + 1] = Number(b >> 32n);
  }
  const at = { lo: 0, hi: 0 };
  // base, index, scale, displacement, the code's bits and address size, segment
  const cases: [bigint, bigint, number, bigint, '64' | '64/addr32' | '32', 'fs' | 'es' | undefined][] = [
    [0x1000n, 0xffff_ffff_ffff_ffffn, 8, 8n, '64', undefined],
    [0xffff_ffffn, 0xffff_ffffn, 8, 0xffff_ffff_ffff_fff8n, '64', undefined],
    [0xffff_8000_ffff_fff0n, 0x20n, 1, 0n, '64', undefined],
    [0xffff_fffcn, 0n, 1, 12n, '64/addr32', undefined],
    [0xdead_0000_ffff_fff0n, 0x10n, 2, 0xffff_fff0n, '64/addr32', undefined],
    [0x10n, 0n, 1, 0x20n, '64', 'fs'],
    [0xffff_ffff_ffff_fff0n, 0n, 1, 0n, '64', 'fs'],
    [0xffff_fffcn, 0x4n, 4, 0xffff_fff0n, '32', undefined],
    [0x2000n, 0n, 1, 0x10n, '32', 'es'],
    [0xffff_fff0n, 0x4n, 8, 0x8n, '32', 'es'],
  ];
  for (const [base, index, scale, disp, bits, seg] of cases) {
    set(0, base);
    set(2, index);
    const wide = bits === '64';
    const op: PlainOperand = {
      base: 0, baseWide: wide, index: 2, indexWide: wide, scale, dispLo: Number(disp & 0xffffffffn), dispHi: Number(disp >> 32n),
      segment: seg ? SEGMENTS.indexOf(seg) : -1, addr32: bits === '64/addr32', linear32: bits === '32', length: 8, write: true,
    };
    const width = wide ? 64 : 32;
    const offset = BigInt.asUintN(width, BigInt.asUintN(width, base) + BigInt.asUintN(width, index) * BigInt(scale) + disp);
    const want = BigInt.asUintN(bits === '32' ? 32 : 64, offset + (seg === 'fs' ? fs : seg === 'es' ? es : 0n));
    operandAddress(op, words, bases, at);
    assert.equal((BigInt(at.hi) << 32n) | BigInt(at.lo), want, `${bits}: base ${base.toString(16)} index ${index.toString(16)} * ${scale} + ${disp.toString(16)}${seg ? ` ${seg}` : ''}`);
  }
});
