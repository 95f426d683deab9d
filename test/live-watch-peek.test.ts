// DebugTarget.peek (kvm.liveWatch) over a stand-in machine, without KVM: each expression's error
// its own, the bounds, nothing written, and no per-stop cache read or filled while running (the
// next stop must see its own registers). test/dap-live-watch.test.ts runs it on a real guest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DebugTarget, PEEK_MAX_EXPRESSIONS } from '../src/debugger/target.js';
import type { Machine } from '../src/vmm/machine.js';
import type { Breakpoints } from '../src/debugger/breakpoints.js';

/** A real-mode machine with 64 KiB of memory and general registers that a test changes. */
function standIn() {
  const mem = Buffer.alloc(0x10000);
  const regs: Record<string, bigint> = { rax: 1n, rbx: 0n, rcx: 0n, rdx: 0n, rsi: 0n, rdi: 0n, rsp: 0x8000n, rbp: 0n, rip: 0x7c00n, rflags: 2n };
  for (let i = 8; i < 16; i++) regs[`r${i}`] = 0n;
  const seg = { base: 0n, limit: 0xffff, selector: 0, type: 3, present: 1, dpl: 0, db: 0, s: 1, l: 0, g: 0, avl: 0 };
  const sregs = { cs: seg, ds: seg, es: seg, fs: seg, gs: seg, ss: seg, tr: seg, ldt: seg, gdt: { base: 0n, limit: 0 }, idt: { base: 0n, limit: 0 }, cr0: 0x10n, cr2: 0n, cr3: 0n, cr4: 0n, cr8: 0n, efer: 0n, apic_base: 0n };
  const writes: string[] = [];
  const read = (a: bigint | number, n: number) => {
    const at = Number(a);
    if (at + n > mem.length) throw new Error(`linear address 0x${at.toString(16)} is not mapped: outside RAM`);
    return Buffer.from(mem.subarray(at, at + n));
  };
  const vcpu = {
    getRegs: () => ({ ...regs }), getSregs: () => sregs,
    getDebugRegs: () => ({ dr: [0n, 0n, 0n, 0n], dr6: 0n, dr7: 0n }), getFpu: () => ({ mxcsr: 0x1f80, xmm: [] }),
    setRegs: () => writes.push('setRegs'), setSregs: () => writes.push('setSregs'),
  };
  const m = {
    vcpus: [vcpu],
    vcpu: (i: number) => {
      if (i !== 0) throw new Error(`there is no vCPU ${i}`);
      return vcpu;
    },
    getRegs: () => ({ ...regs }), getSregs: () => sregs, linearRip: () => regs.rip,
    readLinear: (_i: number, a: bigint, n: number) => read(a, n), readPhysical: (a: number, n: number) => read(a, n),
    writeLinear: () => writes.push('writeLinear'), writePhysical: () => writes.push('writePhysical'), setRegs: () => writes.push('setRegs'),
    vm: { memory: { contains: () => true } },
    isRunning: true,
  };
  const target = new DebugTarget(m as unknown as Machine, undefined, {} as Breakpoints, () => {});
  return { mem, regs, writes, target };
}

test('peek: values read now, each error its own, nothing written', () => {
  const { mem, regs, writes, target } = standIn();
  mem.writeUInt32LE(41, 0x1000);
  const exprs = ['*(uint32_t *)0x1000', 'nosuch', '*(uint32_t *)0x20000', '$rax + 1', '$rax = 5', '(char)65'];
  let v = target.peek(exprs, 0, true);
  assert.deepEqual(v[0], { value: '41', type: 'uint32_t' });
  assert.ok('error' in v[1] && /nosuch/.test(v[1].error), JSON.stringify(v[1]));
  assert.ok('error' in v[2] && /not mapped/.test(v[2].error), JSON.stringify(v[2]));
  assert.ok('value' in v[3] && v[3].value === '2', JSON.stringify(v[3]));
  assert.ok('error' in v[4], `an assignment is refused: ${JSON.stringify(v[4])}`);
  assert.ok('value' in v[5] && v[5].value === "65 'A'", JSON.stringify(v[5]));
  mem.writeUInt32LE(42, 0x1000);
  regs.rax = 7n;
  v = target.peek(exprs, 0, true);
  assert.deepEqual(v[0], { value: '42', type: 'uint32_t' });
  assert.ok('value' in v[3] && v[3].value === '8');
  assert.deepEqual(writes, []);
});

test('peek while running fills no per-stop cache: the next stop sees its own registers', () => {
  const { regs, target } = standIn();
  target.peek(['$rax', '$rsp'], 0, true);
  regs.rax = 99n;
  assert.equal(target.frame(0, 0)!.regs.rax, 99n);
  assert.equal(target.snapshot(0, 0).regs.rax, 99n);
  // stopped, it is evaluate's context (the per-stop model) and so its values
  assert.deepEqual(target.peek(['$rax'], 0, false), [{ value: '99', type: 'int64_t' }]);
});

test('peek: bounded (expressions per request, characters per expression); a bad vCPU is every expression\'s error', () => {
  const { target } = standIn();
  assert.equal(target.peek(Array.from({ length: PEEK_MAX_EXPRESSIONS }, () => '1'), 0, true).length, PEEK_MAX_EXPRESSIONS);
  assert.throws(() => target.peek(Array.from({ length: PEEK_MAX_EXPRESSIONS + 1 }, () => '1'), 0, true), /at most 100/);
  const [long] = target.peek(['1+'.repeat(600) + '1'], 0, true);
  assert.ok('error' in long && /longer than 1000/.test(long.error));
  const bad = target.peek(['1', '2'], 3, true);
  assert.ok(bad.every((x) => 'error' in x && /no vCPU 3/.test(x.error)), JSON.stringify(bad));
});
