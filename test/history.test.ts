// Reverse execution's host-side logic: what an instruction may write (write-set.ts) and the undo
// log's moves (undo-log.ts) over a fake vCPU and memory, checked against a replay of the same
// changes; the 8259 pair's next vector (vmm/pic.ts) and where an interrupt's frame goes
// (x86/interrupt-frame.ts). The guest-side behaviour is test/dap-reverse*.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeSet } from '../src/debugger/history/write-set.js';
import { UndoLog, sameSregs, type CpuState } from '../src/debugger/history/undo-log.js';
import { GPR_NAMES, type Regs, type Sregs } from '../src/x86/registers.js';
import { nextPicVector, type PicState } from '../src/vmm/pic.js';
import { interruptEntry } from '../src/x86/interrupt-frame.js';

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

test('write set: FPU/SSE instructions are told apart from integer ones; landings, halts, what real mode performs', () => {
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
  // what real mode's monitor performs itself: int n (not int3) and the 16-bit iret (not iretd)
  const r16 = regs({ rip: 0x7c10n });
  assert.deepEqual([writeSet(Buffer.from([0xcd, 0x10]), 16, r16, s).performed, writeSet(Buffer.from([0xcd, 0x10]), 16, r16, s).next], ['int', 0x7c12n]);
  assert.equal(writeSet(Buffer.from([0xcc]), 16, r16, s).performed, undefined);
  assert.equal(writeSet(Buffer.from([0xcf]), 16, r16, s).performed, 'iret16');
  assert.equal(writeSet(Buffer.from([0x66, 0xcf]), 16, r16, s).performed, undefined);
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

test('the 8259 pair\'s next vector: priority, masks, lines in service, the slave through line 2', () => {
  const pic = (over: Partial<PicState> = {}): PicState => ({ irr: 0, imr: 0, isr: 0, priorityAdd: 0, irqBase: 0x20, specialFullyNested: false, ...over });
  const slave = pic({ irqBase: 0x28 });
  assert.equal(nextPicVector(pic(), slave), undefined, 'nothing requested');
  assert.equal(nextPicVector(pic({ irr: 0x11 }), slave), 0x20, 'IRQ 0 before IRQ 4');
  assert.equal(nextPicVector(pic({ irr: 0x11, imr: 0x01 }), slave), 0x24, 'IRQ 0 masked');
  assert.equal(nextPicVector(pic({ irr: 0x10, isr: 0x01 }), slave), undefined, 'IRQ 0 in service blocks IRQ 4');
  assert.equal(nextPicVector(pic({ irr: 0x01, isr: 0x10 }), slave), 0x20, 'a higher priority than the one in service');
  assert.equal(nextPicVector(pic({ irr: 0x04 }), pic({ irqBase: 0x28, irr: 0x10 })), 0x2c, 'IRQ 12 through the cascade');
  assert.equal(nextPicVector(pic({ irr: 0x03, priorityAdd: 1 }), slave), 0x21, 'rotated: IRQ 1 first');
});

test('interrupt entry: real mode\'s IVT, a long-mode gate on the same stack and on an IST stack, a 32-bit gate', () => {
  const mem = Buffer.alloc(0x10000);
  const read = (l: bigint, n: number) => mem.subarray(Number(l), Number(l) + n);
  // real mode: vector 0x10 at 0xf000:0x1234, SS 0x0000, SP 0x7c00
  mem.writeUInt16LE(0x1234, 0x40);
  mem.writeUInt16LE(0xf000, 0x42);
  const real = sregs({ cr0: 0x10n, efer: 0n, idt: { base: 0n, limit: 0x3ff }, ss: { ...seg(), selector: 0 } });
  assert.deepEqual(interruptEntry(0x10, regs({ rsp: 0x7c00n }), real, read),
    { handler: 0xf1234n, frame: { linear: 0x7bfan, length: 6 }, flags: { linear: 0x7bfen, size: 2 }, rsp: 0x7bfan });
  // long mode: IDT at 0x1000, GDT at 0x2000 (0x08: 64-bit code, DPL 0), TSS at 0x3000 with IST1 = 0x9000
  mem.writeBigUInt64LE(0x00af9a000000ffffn, 0x2008);
  const gate = (v: number, offset: number, ist: number) => {
    const at = 0x1000 + v * 16;
    mem.writeUInt16LE(offset & 0xffff, at);
    mem.writeUInt16LE(0x08, at + 2);
    mem[at + 4] = ist;
    mem[at + 5] = 0x8e;
    mem.writeUInt16LE(offset >>> 16, at + 6);
  };
  gate(0x24, 0x101234, 0);
  gate(0x08, 0x105678, 1);
  mem.writeBigUInt64LE(0x9000n, 0x3000 + 0x24);
  const long = sregs({ idt: { base: 0x1000n, limit: 0xfff }, gdt: { base: 0x2000n, limit: 0x1f }, tr: { ...seg(0x3000n), selector: 0x28 } });
  assert.deepEqual(interruptEntry(0x24, regs({ rsp: 0x7008n }), long, read),
    { handler: 0x101234n, frame: { linear: 0x7000n - 40n, length: 40 }, flags: { linear: 0x7000n - 24n, size: 8 }, rsp: 0x7000n - 40n });
  assert.deepEqual(interruptEntry(0x08, regs({ rsp: 0x7008n }), long, read, true),
    { handler: 0x105678n, frame: { linear: 0x9000n - 48n, length: 48 }, flags: { linear: 0x9000n - 24n, size: 8 }, rsp: 0x9000n - 48n }, 'IST1, with an error code');
  assert.equal(interruptEntry(0x30, regs(), long, read), undefined, 'an empty gate');
  // 32-bit protected mode: an interrupt gate to 0x10:0x2000 (base 0), same ring
  mem.writeBigUInt64LE(0x00cf9a000000ffffn, 0x2010);
  mem.writeUInt16LE(0x2000, 0x1000 + 0x21 * 8);
  mem.writeUInt16LE(0x10, 0x1000 + 0x21 * 8 + 2);
  mem[0x1000 + 0x21 * 8 + 5] = 0x8e;
  const prot = sregs({ efer: 0n, cr0: 0x11n, idt: { base: 0x1000n, limit: 0x7ff }, gdt: { base: 0x2000n, limit: 0x1f }, cs: { ...seg(), selector: 0x10 } });
  assert.deepEqual(interruptEntry(0x21, regs({ rsp: 0x8000n }), prot, read),
    { handler: 0x2000n, frame: { linear: 0x8000n - 12n, length: 12 }, flags: { linear: 0x8000n - 4n, size: 4 }, rsp: 0x8000n - 12n });
});
