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
import { linearRip } from '../src/x86/modes.js';
import { dividendOf, divideErrors } from '../src/x86/divide-error.js';
import { CR4_TSD, CR4_UMIP, GP_VECTOR, NP_VECTOR, SS_VECTOR, protectionFaults } from '../src/x86/protection-faults.js';
import { iretLanding } from '../src/debugger/handler-entry.js';
import type { Machine } from '../src/vmm/machine.js';

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
  // rep stos/movs: rCX elements from (%rdi), downwards with DF, a page at most (32-bit code: ES's base counts)
  const s32 = sregs({ es: seg(0x10000n) });
  assert.deepEqual(writeSet(Buffer.from([0xf3, 0xab]), 32, regs({ rdi: 0x2000n, rcx: 100n }), s32).ranges, [{ linear: 0x12000n, length: 400 }]);
  assert.deepEqual(writeSet(Buffer.from([0xf3, 0xab]), 32, regs({ rdi: 0x2000n, rcx: 100n, rflags: 0x400n }), s32).ranges, [{ linear: 0x12000n - 396n, length: 400 }]);
  assert.deepEqual(writeSet(Buffer.from([0xf3, 0x48, 0xa5]), 64, regs({ rdi: 0x2000n, rsi: 0x3000n, rcx: 1n << 40n }), s).ranges, [{ linear: 0x2000n, length: 4096 }]);
  assert.deepEqual(writeSet(Buffer.from([0xf3, 0x48, 0xa5]), 64, regs({ rdi: 0x2000n, rsi: 0x3000n, rcx: 0n }), s).ranges, [{ linear: 0x2000n, length: 8 }]);
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

test('divide errors: a zero divisor, an unsigned quotient too wide, a signed one out of range (-128 / -1)', () => {
  const u32 = { signed: false, bytes: 4 as const, dividend: dividendOf(4, 7n, 0n) };
  assert.equal(divideErrors(u32, 0n), true);
  assert.equal(divideErrors(u32, 2n), false);
  assert.equal(divideErrors(u32, 1n << 32n), true, 'only the operand\'s 32 bits count: 0');
  assert.equal(divideErrors({ ...u32, dividend: dividendOf(4, 0n, 2n) }, 2n), true, '2^33 / 2 needs 33 bits');
  assert.equal(divideErrors({ ...u32, dividend: dividendOf(4, 0n, 1n) }, 2n), false, '2^32 / 2 fits');
  assert.equal(dividendOf(2, 0xabcd1111n, 0x2222n), 0x22221111n, 'DX:AX');
  assert.equal(dividendOf(1, 0x1234n, 0xffffn), 0x1234n, 'AX alone');
  const i8 = { signed: true, bytes: 1 as const, dividend: dividendOf(1, 0xff80n, 0n) };
  assert.equal(divideErrors(i8, 0xffn), true, '-128 / -1 = 128');
  assert.equal(divideErrors({ ...i8, dividend: 0xff81n }, 0xffn), false, '-127 / -1');
  assert.equal(divideErrors({ ...i8, dividend: 0x00ffn }, 0x02n), false, '255 / 2 = 127');
  assert.equal(divideErrors({ ...i8, dividend: 0x0100n }, 0x02n), true, '256 / 2 = 128');
  assert.equal(divideErrors({ ...i8, dividend: 0xff00n }, 0x02n), false, '-256 / 2 = -128');
  const min64 = dividendOf(8, 1n << 63n, (1n << 64n) - 1n);
  assert.equal(divideErrors({ signed: true, bytes: 8, dividend: min64 }, (1n << 64n) - 1n), true, 'INT64_MIN / -1');
  assert.equal(divideErrors({ signed: true, bytes: 8, dividend: min64 }, 2n), false);
});

test('write set: div and idiv give their dividend and a register divisor (AH included); a memory divisor is the operand', () => {
  const s = sregs();
  const r = regs({ rax: 0x0000000300000007n, rdx: 0x5n, rcx: 0n, rdi: 0x2000n, rip: 0x100000n });
  assert.deepEqual(writeSet(Buffer.from([0xf7, 0xf1]), 64, r, s).divide, { signed: false, bytes: 4, dividend: 0x500000007n, divisor: 0n }); // div %ecx
  assert.deepEqual(writeSet(Buffer.from([0xf6, 0xfc]), 64, regs({ rax: 0x0320n }), s).divide, { signed: true, bytes: 1, dividend: 0x0320n, divisor: 3n }); // idiv %ah
  const mem = writeSet(Buffer.from([0x48, 0xf7, 0x37]), 64, r, s); // divq (%rdi)
  assert.deepEqual(mem.divide, { signed: false, bytes: 8, dividend: (5n << 64n) | 0x0000000300000007n, divisor: undefined });
  assert.deepEqual(mem.accesses, [{ linear: 0x2000n, length: 8 }]);
  assert.equal(writeSet(Buffer.from([0xf7, 0xe1]), 64, r, s).divide, undefined, 'mul');
});

test('write set: a decode is reused at the same address and bytes, and made again when the code or its place changes', () => {
  const s = sregs();
  const pc = 0x100000n;
  const store = Buffer.from([0x89, 0x04, 0x8f]); // mov %eax,(%rdi,%rcx,4)
  const r1 = regs({ rdi: 0x2000n, rcx: 5n, rip: pc });
  assert.deepEqual(writeSet(store, 64, r1, s, pc).ranges, [{ linear: 0x2014n, length: 4 }]);
  // the cached decode with other registers: the address follows them
  assert.deepEqual(writeSet(store, 64, regs({ rdi: 0x3000n, rcx: 1n, rip: pc }), s, pc).ranges, [{ linear: 0x3004n, length: 4 }]);
  // the code at pc rewritten (push %rbp): decoded again
  assert.deepEqual(writeSet(Buffer.from([0x55]), 64, regs({ rsp: 0x8000n, rip: pc }), s, pc).ranges, [{ linear: 0x7ff8n, length: 8 }]);
  // the same bytes in 16-bit code: another decode (add %ax,(%bx) style operands differ)
  assert.deepEqual(writeSet(Buffer.from([0x89, 0x07]), 16, regs({ rbx: 0xfffen, rip: pc }), sregs({ ds: seg(0x10000n) }), pc).ranges, [{ linear: 0x1fffen, length: 2 }]);
  // a jump's landings are relative to RIP: another RIP at the same linear address decodes again
  assert.deepEqual(writeSet(Buffer.from([0xeb, 0x10]), 64, regs({ rip: 0x5000n }), s, 0x5000n).landings, [0x5012n]);
  assert.deepEqual(writeSet(Buffer.from([0xeb, 0x10]), 32, regs({ rip: 0x1000n }), sregs({ cs: seg(0x4000n) }), 0x5000n).landings, [0x1012n]);
});

test('protection faults: privilege and IOPL outside ring 0, CR4-guarded instructions, non-canonical addresses (#SS through SS), selectors each check refuses', () => {
  // A GDT at 0x1000 in a flat buffer: null, ring-0 code, ring-0 data, ring-3 data, a not-present
  // data segment, execute-only code, a TSS, a read-only data segment; an LDT holds one ring-0 data.
  const mem = Buffer.alloc(0x3000);
  const gdt = [0n, 0x00af9b000000ffffn, 0x00cf93000000ffffn, 0x00cff3000000ffffn, 0x00cf13000000ffffn, 0x00af99000000ffffn, 0x0000890000000067n, 0x00cf91000000ffffn];
  gdt.forEach((d, k) => mem.writeBigUInt64LE(d, 0x1000 + 8 * k));
  mem.writeBigUInt64LE(0x00cf93000000ffffn, 0x2000);
  mem.writeUInt16LE(0x001b, 0x2800); // a selector in memory: ring-3 data
  const read = (l: bigint, n: number) => {
    if (l + BigInt(n) > BigInt(mem.length)) throw new Error('not mapped');
    return mem.subarray(Number(l), Number(l) + n);
  };
  const ring0 = sregs({ gdt: { base: 0x1000n, limit: gdt.length * 8 - 1 }, ldt: { ...seg(0x2000n), limit: 7, selector: 0x30 } });
  const ring3 = { ...ring0, cs: { ...ring0.cs, selector: 0x2b, dpl: 3 } };
  const at = (s: Sregs, rflags = 0x2n) => (bytes: number[], over: Partial<Regs> = {}) => {
    const r = regs({ rip: 0x100000n, rflags, ...over });
    const ws = writeSet(Buffer.from(bytes), 64, r, s);
    // the SDM's vector (a non-canonical address through SS may also give #GP: checked below)
    return ws.protection ? protectionFaults(ws.protection, r, s, read)[0] : undefined;
  };
  const k0 = at(ring0), k3 = at(ring3), k3io = at(ring3, 0x3002n);
  assert.equal(k0([0xf4]), undefined, 'hlt in ring 0');
  assert.equal(k3([0xf4]), GP_VECTOR, 'hlt in ring 3');
  assert.equal(k3([0x0f, 0x30]), GP_VECTOR, 'wrmsr in ring 3');
  assert.equal(k3([0xfa]), GP_VECTOR, 'cli in ring 3, IOPL 0');
  assert.equal(k3io([0xfa]), undefined, 'cli in ring 3, IOPL 3');
  assert.equal(k3io([0xe6, 0xf4]), undefined, 'out in ring 3, IOPL 3');
  assert.equal(k3([0xe6, 0xf4]), GP_VECTOR, 'out in ring 3, IOPL 0 (the I/O bitmap may allow it: the fault is foreseen)');
  assert.equal(k3([0x0f, 0x31]), undefined, 'rdtsc without CR4.TSD');
  assert.equal(at({ ...ring3, cr4: ring3.cr4 | CR4_TSD })([0x0f, 0x31]), GP_VECTOR, 'rdtsc with CR4.TSD');
  assert.equal(k3([0x0f, 0x33]), GP_VECTOR, 'rdpmc without CR4.PCE');
  assert.equal(at({ ...ring3, cr4: ring3.cr4 | CR4_UMIP })([0x0f, 0x01, 0x07]), GP_VECTOR, 'sgdt with CR4.UMIP');
  assert.equal(k3([0x0f, 0x01, 0x07]), undefined, 'sgdt without');
  // non-canonical: through DS #GP, through SS (push, an RBP base) #SS, in ring 0 too; LA57 widens
  const high = 0x8000000000000000n;
  assert.equal(k0([0x48, 0xc7, 0x00, 1, 0, 0, 0], { rax: high }), GP_VECTOR, 'movq $1,(%rax)');
  assert.equal(k0([0x48, 0xc7, 0x45, 0, 1, 0, 0, 0], { rbp: high }), SS_VECTOR, 'movq $1,0(%rbp)');
  assert.equal(k0([0x50], { rsp: high + 8n }), SS_VECTOR, 'push %rax');
  const push = writeSet(Buffer.from([0x50]), 64, regs({ rsp: high + 8n }), ring0);
  assert.deepEqual(protectionFaults(push.protection!, regs(), ring0, read), [SS_VECTOR, GP_VECTOR], 'QEMU\'s TCG raises #GP there: both handlers are foreseen');
  assert.equal(k0([0x48, 0x8b, 0x00], { rax: 0x00007ffffffffff8n }), undefined, 'the last canonical quadword');
  assert.equal(k0([0x48, 0x8b, 0x00], { rax: 0x00007ffffffffffcn }), GP_VECTOR, 'a quadword across the end of the lower half');
  assert.equal(k0([0x48, 0x8b, 0x00], { rax: 0xffff800000000000n }), undefined, 'the upper half');
  assert.equal(at({ ...ring0, cr4: ring0.cr4 | (1n << 12n) })([0x48, 0x8b, 0x00], { rax: 0x00ff000000000000n }), undefined, 'LA57');
  assert.equal(k0([0x48, 0x8d, 0x00], { rax: high }), undefined, 'lea reads no memory');
  // selectors: mov %ax,%ds / %ss, pop %fs, mov (%rdi),%es, lss (%rdi),%rsp
  const ds = [0x8e, 0xd8], ss = [0x8e, 0xd0];
  assert.equal(k0(ds, { rax: 0n }), undefined, 'a null DS');
  assert.equal(k0(ds, { rax: 0x10n }), undefined, 'ring-0 data');
  assert.equal(k0(ds, { rax: 0x40n }), GP_VECTOR, 'past the GDT\'s limit');
  assert.equal(k0(ds, { rax: 0x20n }), NP_VECTOR, 'not present');
  assert.equal(k0(ds, { rax: 0x28n }), GP_VECTOR, 'execute-only code');
  assert.equal(k0(ds, { rax: 0x08n }), undefined, 'readable code');
  assert.equal(k0(ds, { rax: 0x30n }), GP_VECTOR, 'a TSS');
  assert.equal(k3(ds, { rax: 0x13n }), GP_VECTOR, 'ring-0 data from ring 3');
  assert.equal(k0(ds, { rax: 0x04n }), undefined, 'the LDT\'s first entry');
  assert.equal(k0(ds, { rax: 0x0cn }), GP_VECTOR, 'past the LDT\'s limit');
  assert.equal(k0(ss, { rax: 0n }), undefined, 'a null SS in 64-bit ring 0');
  assert.equal(k3(ss, { rax: 3n }), GP_VECTOR, 'a null SS in ring 3');
  assert.equal(k0(ss, { rax: 0x18n }), GP_VECTOR, 'SS: a ring-3 segment in ring 0');
  assert.equal(k0(ss, { rax: 0x38n }), GP_VECTOR, 'SS: read-only');
  assert.equal(k0(ss, { rax: 0x20n }), SS_VECTOR, 'SS: not present');
  assert.equal(k0([0x0f, 0xa1], { rsp: 0x2800n }), undefined, 'pop %fs: ring-3 data (0x1b, from the stack) in ring 0');
  assert.equal(k0([0x8e, 0x07], { rdi: 0x2800n }), undefined, 'mov (%rdi),%es: 0x1b from memory');
  assert.equal(k0([0x48, 0x0f, 0xb2, 0x27], { rdi: 0x27f8n }), GP_VECTOR, 'lss (%rdi),%rsp: the selector after the 8-byte offset, 0x1b, RPL 3 in ring 0');
  assert.equal(k0([0x8e, 0x07], { rdi: 0x3000n }), undefined, 'a selector that cannot be read: not foreseen');
});

test('protection faults of far transfers: iretq and a far ret checked on their CS, their SS and where they land; a far jmp through a pointer or the instruction; gates and task returns not foreseen', () => {
  const mem = Buffer.alloc(0x3000);
  // null, ring-0 64-bit code, ring-0 data, ring-3 data, ring-3 64-bit code, ring-0 code not
  // present, a TSS, 32-bit ring-0 code, code with both L and D
  const gdt = [0n, 0x00af9b000000ffffn, 0x00cf93000000ffffn, 0x00cff3000000ffffn, 0x00affb000000ffffn, 0x00af1b000000ffffn, 0x0000890000000067n, 0x00cf9b000000ffffn, 0x00ef9b000000ffffn];
  gdt.forEach((d, k) => mem.writeBigUInt64LE(d, 0x1000 + 8 * k));
  const read = (l: bigint, n: number) => {
    if (l + BigInt(n) > BigInt(mem.length)) throw new Error('not mapped');
    return mem.subarray(Number(l), Number(l) + n);
  };
  const ring0 = sregs({ gdt: { base: 0x1000n, limit: gdt.length * 8 - 1 } });
  /** The vector of `bytes` run with RSP (and RAX) at 0x2800, where `words` are (8 bytes each, or `size`). */
  const run = (bytes: number[], words: bigint[], s = ring0, bits: 16 | 32 | 64 = 64, size = 8, rflags = 0x2n) => {
    words.forEach((w, k) => (size === 8 ? mem.writeBigUInt64LE(w, 0x2800 + 8 * k) : mem.writeUInt32LE(Number(w), 0x2800 + 4 * k)));
    const r = regs({ rip: 0x100000n, rsp: 0x2800n, rax: 0x2800n, rflags });
    const ws = writeSet(Buffer.from(bytes), bits, r, s);
    return ws.protection ? protectionFaults(ws.protection, r, s, read)[0] : undefined;
  };
  const iretq = (rip: bigint, cs: bigint, ss: bigint) => run([0x48, 0xcf], [rip, cs, 0x2n, 0x2000n, ss]);
  assert.equal(iretq(0x1000n, 0x23n, 0x1bn), undefined, 'to ring 3');
  assert.equal(iretq(0x1000n, 0x08n, 0x10n), undefined, 'to ring 0');
  assert.equal(iretq(0x1000n, 0x08n, 0n), undefined, 'to ring 0 with a null SS (64-bit code)');
  assert.equal(iretq(0x1000n, 0x10n, 0x10n), GP_VECTOR, 'CS a data segment');
  assert.equal(iretq(0x1000n, 0x20n, 0x10n), GP_VECTOR, 'ring-3 code with RPL 0');
  assert.equal(iretq(0x1000n, 0x50n, 0x10n), GP_VECTOR, 'CS past the GDT');
  assert.equal(iretq(0x1000n, 0n, 0x10n), GP_VECTOR, 'a null CS');
  assert.equal(iretq(0x1000n, 0x28n, 0x10n), NP_VECTOR, 'CS not present');
  assert.equal(iretq(0x1000n, 0x40n, 0x10n), GP_VECTOR, 'CS with L and D');
  assert.equal(iretq(0x1000n, 0x23n, 0x18n), GP_VECTOR, 'ring 3 with SS of RPL 0');
  assert.equal(iretq(0x1000n, 0x23n, 0x23n), GP_VECTOR, 'ring 3 with SS a code segment');
  assert.equal(iretq(0x1000n, 0x23n, 3n), GP_VECTOR, 'ring 3 with a null SS');
  assert.equal(iretq(0x8000000000000000n, 0x23n, 0x1bn), GP_VECTOR, 'to a non-canonical RIP');
  assert.equal(run([0x48, 0xcb], [0x1000n, 0x08n]), undefined, 'retfq in ring 0');
  assert.equal(run([0x48, 0xcb], [0x1000n, 0x10n]), GP_VECTOR, 'retfq to a data segment');
  assert.equal(run([0x48, 0xca, 8, 0], [0x1000n, 0x23n, 0n, 0x2000n, 0x1bn]), undefined, 'retfq $8 to ring 3: SS:RSP past the 8 bytes released');
  assert.equal(run([0x48, 0xca, 8, 0], [0x1000n, 0x23n, 0x1bn, 0x2000n, 0x10n]), GP_VECTOR, 'retfq $8 to ring 3 with a ring-0 SS');
  const jmpq = (offset: bigint, cs: bigint) => run([0x48, 0xff, 0x28], [offset, cs]);
  assert.equal(jmpq(0x1000n, 0x08n), undefined, 'ljmp *(%rax) to ring-0 code');
  assert.equal(jmpq(0x1000n, 0x23n), GP_VECTOR, 'ljmp *(%rax) to ring-3 code');
  assert.equal(jmpq(0x1000n, 0x28n), NP_VECTOR, 'ljmp *(%rax) to code not present');
  assert.equal(jmpq(0x1000n, 0x30n), undefined, 'ljmp *(%rax) to a TSS: a task switch, not foreseen');
  // 32-bit protected mode: a direct far jump, iretd (three words at the same ring), a task return
  const prot = { ...ring0, cs: { ...ring0.cs, l: false, db: true, selector: 0x38 }, efer: 0n };
  assert.equal(run([0xea, 0, 0x10, 0, 0, 0x38, 0], [], prot, 32), undefined, 'ljmp $0x38,$0x1000');
  assert.equal(run([0xea, 0, 0x10, 0, 0, 0x10, 0], [], prot, 32), GP_VECTOR, 'ljmp $0x10,$0x1000: a data segment');
  assert.equal(run([0xcf], [0x1000n, 0x38n, 0x2n], prot, 32, 4), undefined, 'iretd to ring 0');
  assert.equal(run([0xcf], [0x1000n, 0x10n, 0x2n], prot, 32, 4), GP_VECTOR, 'iretd to a data segment');
  assert.equal(run([0xcf], [0x1000n, 0x10n, 0x2n], prot, 32, 4, 0x4002n), undefined, 'iretd with NT: a task return, not foreseen');
});

/** A fake vCPU over a byte array: executes "instructions" that are (regs, memory writes) changes. */
function fake(memBytes = 64) {
  const mem = Buffer.alloc(memBytes);
  let cpu: CpuState = { regs: regs({ rsp: 0x8000n }), sregs: sregs(), xsave: Buffer.alloc(8) };
  const log = new UndoLog({
    read: () => ({ ...cpu, xsave: Buffer.from(cpu.xsave) }),
    write: (s) => (cpu = { regs: { ...s.regs }, sregs: s.sregs, xsave: Buffer.from(s.xsave) }),
    writePhysical: (gpa, data) => data.copy(mem, gpa),
  });
  /** The pc and rsp recorded for each entry, to compare with what the log reads back. */
  const recorded: { pc: bigint; rsp: bigint }[] = [];
  /**
   * Executes one step, recording it as the recorder does: old bytes, the step, new bytes. Step k
   * writes 0-2 places, changes a register by a small or a whole-width amount, now and then the
   * stack pointer; k = 5 switches CR3, k = 9 to real mode (CS base + RIP), k = 13 back; k = 11
   * has a pc that is not CS base + RIP.
   */
  const exec = (k: number, fpu: boolean) => {
    const before = { regs: { ...cpu.regs }, sregs: cpu.sregs };
    const writes = [];
    for (let w = 0; w < k % 3; w++) {
      const len = [1, 2, 4, 8, 16][(k + w) % 5];
      const gpa = (k * 7 + w * 13) % (memBytes - 16);
      const old = Buffer.from(mem.subarray(gpa, gpa + len));
      for (let b = 0; b < len; b++) mem[gpa + b] = (k * 31 + b) & 0xff;
      writes.push({ gpa, old, new: Buffer.from(mem.subarray(gpa, gpa + len)) });
    }
    const fpuBefore = fpu ? Buffer.from(cpu.xsave) : undefined;
    const rax = k % 7 === 0 ? BigInt.asUintN(64, BigInt(k) * 0x9e3779b97f4a7c15n) : BigInt(k);
    cpu = { ...cpu, regs: { ...cpu.regs, rax, rip: cpu.regs.rip + 3n, rsp: k % 4 === 0 ? BigInt.asUintN(64, cpu.regs.rsp - 8n) : cpu.regs.rsp } };
    if (fpu) cpu.xsave = Buffer.from([k, k, k, k, 0, 0, 0, 0]);
    if (k === 5) cpu.sregs = sregs({ cr3: 0x2000n });
    if (k === 9) cpu.sregs = sregs({ cr0: 0x10n, efer: 0n, cs: { ...seg(0xf0000n), selector: 0xf000, l: false, db: false } });
    if (k === 13) cpu.sregs = sregs();
    const pc = k === 11 ? 0x1234n : linearRip(before.regs.rip, before.sregs);
    recorded.push({ pc, rsp: before.regs.rsp });
    log.append({ pc, regs: before.regs, sregs: before.sregs, writes, fpu: fpuBefore && { before: fpuBefore, after: Buffer.from(cpu.xsave) } });
  };
  const snap = () => JSON.stringify({ mem: mem.toString('hex'), regs: cpu.regs, sregs: cpu.sregs, xsave: cpu.xsave.toString('hex') }, (_, v) => (typeof v === 'bigint' ? v.toString(16) : v));
  return { log, exec, snap, recorded };
}

test('undo log: back and forth at random gives exactly the state recorded at each position', () => {
  const { log, exec, snap, recorded } = fake();
  const states = [snap()];
  for (let k = 1; k <= 40; k++) {
    exec(k, k % 4 === 0);
    states.push(snap());
  }
  assert.equal(log.firstPc, recorded[0].pc);
  let seed = 12345;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  for (let t = 0; t < 300; t++) {
    const target = rand(41);
    while (log.position > target) log.back();
    while (log.position < target) log.forward();
    if (target < 40) {
      assert.equal(log.pc(), recorded[target].pc, `pc at position ${target}`);
      assert.equal(log.reg('rsp'), recorded[target].rsp, `rsp at position ${target}`);
    }
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

test('undo log: one special-register image per change; recording in the past is refused', () => {
  const { log, exec } = fake();
  exec(1, false);
  exec(2, false);
  assert.equal(log.sregsImages, 1);
  for (let k = 3; k <= 6; k++) exec(k, false);
  assert.equal(log.sregsImages, 2, 'CR3 changed after step 5');
  assert.equal(sameSregs(sregs(), sregs({ cr3: 0x2000n })), false);
  log.back();
  assert.throws(() => exec(7, false), /recording while in the past/);
});

test('undo log: 150,000 entries over several chunks, back to the start and forward, exact; their size', () => {
  const { log, exec, snap, recorded } = fake(4096);
  const N = 150_000;
  const states = new Map<number, string>([[0, snap()]]);
  const probe = (i: number) => i % 9973 === 0 || i === N || (i > 65530 && i < 65540);
  for (let k = 1; k <= N; k++) {
    exec(k, k % 1000 === 0);
    if (probe(k)) states.set(k, snap());
  }
  const perEntry = log.bytes / log.length;
  // Most steps change RIP and RAX by a byte or two and write 0-2 small places (about 20 bytes).
  assert.ok(perEntry < 40, `${perEntry.toFixed(1)} bytes an entry`);
  while (log.back()) {
    const i = log.position;
    assert.equal(log.pc(), recorded[i].pc, `pc at ${i}`);
    if (states.has(i)) {
      log.settle();
      assert.equal(snap(), states.get(i), `state at ${i} going back`);
    }
  }
  for (let i = 0; log.forward(); i++) {
    if (states.has(log.position)) {
      log.settle();
      assert.equal(snap(), states.get(log.position), `state at ${log.position} going forward`);
    }
  }
  assert.equal(log.position, N);
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
  // A gate whose selector lies past the GDT's limit, or in an LDT there is none of: the CPU
  // faults instead (#GP), so there is no entry to foresee, though memory there reads as a
  // 64-bit code descriptor (0x2020, 0x2028).
  mem.writeBigUInt64LE(0x00af9a000000ffffn, 0x2020);
  mem.writeBigUInt64LE(0x00af9a000000ffffn, 0x2028);
  gate(0x31, 0x101234, 0);
  mem.writeUInt16LE(0x20, 0x1000 + 0x31 * 16 + 2);
  assert.equal(interruptEntry(0x31, regs(), long, read), undefined, 'selector 0x20 past the GDT limit 0x1f');
  gate(0x32, 0x101234, 0);
  mem.writeUInt16LE(0x0c, 0x1000 + 0x32 * 16 + 2);
  assert.equal(interruptEntry(0x32, regs(), { ...long, ldt: { ...seg(0x2000n), unusable: true } }, read), undefined, 'an LDT selector, no LDT');
  // 32-bit protected mode: an interrupt gate to 0x10:0x2000 (base 0), same ring
  mem.writeBigUInt64LE(0x00cf9a000000ffffn, 0x2010);
  mem.writeUInt16LE(0x2000, 0x1000 + 0x21 * 8);
  mem.writeUInt16LE(0x10, 0x1000 + 0x21 * 8 + 2);
  mem[0x1000 + 0x21 * 8 + 5] = 0x8e;
  const prot = sregs({ efer: 0n, cr0: 0x11n, idt: { base: 0x1000n, limit: 0x7ff }, gdt: { base: 0x2000n, limit: 0x1f }, cs: { ...seg(), selector: 0x10 } });
  assert.deepEqual(interruptEntry(0x21, regs({ rsp: 0x8000n }), prot, read),
    { handler: 0x2000n, frame: { linear: 0x8000n - 12n, length: 12 }, flags: { linear: 0x8000n - 4n, size: 4 }, rsp: 0x8000n - 12n });
});

test('an iret\'s landing: the RIP of an iretq\'s or iretd\'s frame when it returns to ring 0 from 64-bit code; none to ring 3, from 32-bit code, for a far ret or an unreadable frame', () => {
  const mem = Buffer.alloc(0x3000);
  const m = { readLinear: (_v: number, l: bigint, n: number) => {
    if (l + BigInt(n) > BigInt(mem.length)) throw new Error('not mapped');
    return mem.subarray(Number(l), Number(l) + n);
  } } as unknown as Machine;
  const landing = (bytes: number[], words: bigint[], size: 4 | 8, s = sregs(), rsp = 0x2800n) => {
    words.forEach((w, k) => (size === 8 ? mem.writeBigUInt64LE(w, 0x2800 + 8 * k) : mem.writeUInt32LE(Number(w), 0x2800 + 4 * k)));
    const r = regs({ rip: 0x100000n, rsp });
    return iretLanding(m, 0, writeSet(Buffer.from(bytes), s.cs.l ? 64 : 32, r, s).protection?.far, r, s);
  };
  assert.equal(landing([0x48, 0xcf], [0x123456789n, 0x08n, 0x2n, 0x2000n, 0x10n], 8), 0x123456789n, 'iretq to ring 0');
  assert.equal(landing([0xcf], [0x1234n, 0x08n, 0x2n, 0x2000n, 0x10n], 4), 0x1234n, 'iretd to ring 0: 4-byte words');
  assert.equal(landing([0x48, 0xcf], [0x1000n, 0x23n, 0x2n, 0x2000n, 0x1bn], 8), undefined, 'to ring 3');
  assert.equal(landing([0x48, 0xcb], [0x1000n, 0x08n], 8), undefined, 'a far ret');
  assert.equal(landing([0x48, 0xcf], [], 8, sregs(), 0x2ff8n), undefined, 'the frame runs past what can be read');
  const protectedMode = sregs({ cs: { ...seg(), selector: 8, type: 0xb }, efer: 0n, cr4: 0n });
  assert.equal(landing([0xcf], [0x1234n, 0x08n, 0x2n], 4, protectedMode), undefined, 'from 32-bit code');
});
