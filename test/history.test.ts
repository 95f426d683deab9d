// Reverse execution's host-side logic: what an instruction may write (write-set.ts) and the undo
// log's moves (undo-log.ts) over a fake vCPU and memory, checked against a replay of the same
// changes. The guest-side behaviour is test/dap-reverse.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeSet } from '../src/debugger/history/write-set.js';
import { UndoLog, sameSregs, type CpuState } from '../src/debugger/history/undo-log.js';
import { GPR_NAMES, type Regs, type Sregs } from '../src/x86/registers.js';

function regs(over: Partial<Regs> = {}): Regs {
  const r = Object.fromEntries(GPR_NAMES.map((n) => [n, 0n])) as Regs;
  return { ...r, ...over };
}

const seg = (base = 0n) => ({ base, limit: 0xffffffff, selector: 0x10, type: 3, present: true, dpl: 0, db: true, s: true, l: false, g: true, avl: false, unusable: false });
function sregs(over: Partial<Sregs> = {}): Sregs {
  return {
    cs: { ...seg(), l: true, db: false, selector: 8 }, ds: seg(), es: seg(), fs: seg(0x7000n), gs: seg(0x9000n), ss: seg(), tr: seg(), ldt: seg(),
    gdt: { base: 0n, limit: 0 }, idt: { base: 0n, limit: 0 }, cr0: 0x80000011n, cr2: 0n, cr3: 0x1000n, cr4: 0x220n, cr8: 0n, efer: 0x500n, apic_base: 0xfee00900n,
    ...over,
  } as Sregs;
}

test('write set: stores, read-modify-writes, pushes, RIP-relative, FS-relative; reads write nothing', () => {
  const r = regs({ rdi: 0x2000n, rcx: 5n, rsp: 0x8000n, rip: 0x100000n, rax: 0x1234n });
  const s = sregs();
  // mov %eax,(%rdi,%rcx,4)
  assert.deepEqual(writeSet(Buffer.from([0x89, 0x04, 0x8f]), 64, r, s).ranges, [{ linear: 0x2014n, length: 4 }]);
  // push %rbp
  assert.deepEqual(writeSet(Buffer.from([0x55]), 64, r, s).ranges, [{ linear: 0x7ff8n, length: 8 }]);
  // call rel32 (0): the return address below rsp
  assert.deepEqual(writeSet(Buffer.from([0xe8, 0, 0, 0, 0]), 64, r, s).ranges, [{ linear: 0x7ff8n, length: 8 }]);
  // incl 0x10(%rip): RIP-relative from the next instruction
  assert.deepEqual(writeSet(Buffer.from([0xff, 0x05, 0x10, 0, 0, 0]), 64, r, s).ranges, [{ linear: 0x100016n, length: 4 }]);
  // mov %eax,%fs:0x10: FS's base counts in long mode
  assert.deepEqual(writeSet(Buffer.from([0x64, 0x89, 0x04, 0x25, 0x10, 0, 0, 0]), 64, r, s).ranges, [{ linear: 0x7010n, length: 4 }]);
  // mov (%rdi),%eax: a read
  assert.deepEqual(writeSet(Buffer.from([0x8b, 0x07]), 64, r, s).ranges, []);
  // 16-bit code: DS's base and 16-bit wrap (mov %ax,(%bx) with bx=0xfffe, ds base 0x10000)
  const s16 = sregs({ ds: seg(0x10000n) });
  assert.deepEqual(writeSet(Buffer.from([0x89, 0x07]), 16, regs({ rbx: 0xfffen }), s16).ranges, [{ linear: 0x1fffen, length: 2 }]);
});

test('write set: FPU/SSE instructions are told apart from integer ones; landings and halts', () => {
  const r = regs({ rip: 0x100000n });
  const s = sregs();
  assert.equal(writeSet(Buffer.from([0x66, 0x48, 0x0f, 0x6e, 0xc7]), 64, r, s).fpu, true); // movq %rdi,%xmm0
  assert.equal(writeSet(Buffer.from([0xd9, 0xe8]), 64, r, s).fpu, true); // fld1
  assert.equal(writeSet(Buffer.from([0x0f, 0xae, 0x17]), 64, r, s).fpu, true); // ldmxcsr (%rdi)
  assert.equal(writeSet(Buffer.from([0x01, 0xc8]), 64, r, s).fpu, false); // add %ecx,%eax
  assert.deepEqual(writeSet(Buffer.from([0x75, 0x02]), 64, r, s).landings, [0x100002n, 0x100004n]); // jne
  assert.equal(writeSet(Buffer.from([0xc3]), 64, r, s).landings, undefined); // ret: anywhere
  assert.equal(writeSet(Buffer.from([0xf4]), 64, r, s).halts, true);
  const int = writeSet(Buffer.from([0xcd, 0x80]), 64, regs({ rsp: 0x8008n }), s);
  assert.equal(int.interrupt, true);
  assert.deepEqual(int.ranges, [{ linear: 0x8000n - 64n, length: 64 }]);
});

/** A fake vCPU over a byte array: executes "instructions" that are (regs, memory writes) changes. */
function fake() {
  const mem = Buffer.alloc(64);
  let cpu: CpuState = { regs: regs(), sregs: sregs(), xsave: Buffer.alloc(8) };
  const log = new UndoLog({
    read: () => ({ ...cpu, xsave: Buffer.from(cpu.xsave) }),
    write: (s) => (cpu = { regs: { ...s.regs }, sregs: s.sregs, xsave: Buffer.from(s.xsave) }),
    writePhysical: (gpa, data) => data.copy(mem, gpa),
  });
  /** Executes one step, recording it as the recorder does: old bytes, the step, new bytes. */
  const exec = (k: number, fpu: boolean) => {
    const gpa = (k * 7) % 60;
    const before = { regs: { ...cpu.regs }, sregs: cpu.sregs };
    const old = Buffer.from(mem.subarray(gpa, gpa + 4));
    const fpuBefore = fpu ? Buffer.from(cpu.xsave) : undefined;
    mem.writeUInt32LE(k * 0x01010101 >>> 0, gpa);
    cpu = { ...cpu, regs: { ...cpu.regs, rax: BigInt(k), rip: cpu.regs.rip + 3n } };
    if (fpu) cpu.xsave = Buffer.from([k, k, k, k, 0, 0, 0, 0]);
    if (k === 5) cpu.sregs = sregs({ cr3: 0x2000n });
    log.append({ pc: before.regs.rip, regs: before.regs, sregs: before.sregs, writes: [{ gpa, old, new: Buffer.from(mem.subarray(gpa, gpa + 4)) }], fpu: fpuBefore && { before: fpuBefore, after: Buffer.from(cpu.xsave) } });
  };
  const snap = () => JSON.stringify({ mem: mem.toString('hex'), regs: cpu.regs, cr3: cpu.sregs.cr3, xsave: cpu.xsave.toString('hex') }, (_, v) => (typeof v === 'bigint' ? v.toString(16) : v));
  return { log, exec, snap };
}

test('undo log: back and forth at random gives exactly the state recorded at each position', () => {
  const { log, exec, snap } = fake();
  const states = [snap()];
  for (let k = 1; k <= 40; k++) {
    exec(k, k % 4 === 0);
    states.push(snap());
  }
  let seed = 12345;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  for (let t = 0; t < 300; t++) {
    const target = rand(41);
    while (log.position > target) log.back();
    while (log.position < target) log.forward();
    log.settle();
    assert.equal(snap(), states[target], `position ${target}`);
  }
  while (log.forward());
  log.settle();
  assert.equal(snap(), states[40]);
  assert.equal(log.atPresent, true);
  assert.equal(log.back(), true);
  while (log.back());
  assert.equal(log.position, 0);
  assert.equal(log.back(), false, 'no step before the start of history');
});

test('undo log: unchanged special registers are shared between entries; recording in the past is refused', () => {
  const { log, exec } = fake();
  exec(1, false);
  exec(2, false);
  assert.equal(log.at(0).sregs, log.at(1).sregs);
  assert.equal(sameSregs(sregs(), sregs({ cr3: 0x2000n })), false);
  log.back();
  assert.throws(() => exec(3, false), /recording while in the past/);
});
