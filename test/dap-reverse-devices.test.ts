// Reverse execution over the protocol where the guest meets the machine: back across mode
// switches (real → protected → long: test/guests/reverse-boot.S) and across port input (the
// UART's RBR: replayed, never read again), and back and forth at random against a live run's
// state at the same instruction count (test/guests/reverse-random64.S), and back across an
// interrupt handler entered while recording, through the 8259s (test/guests/serial-irq64.S) and
// through the local APIC (test/guests/apic-timer64.S); exceptions the guest raises, with their
// frames on IST stacks (test/guests/exceptions64.S) or, from ring 3, on the TSS's
// (test/guests/user64.S), and the #GP, #NP and #SS of bad selectors and non-canonical addresses
// (test/guests/protection64.S), the #PF of a fetch (test/guests/fetch-fault64.S); a triple fault
// while recording (test/guests/triple64.S, and a boot sector's: test/guests/triple-fault.S).
import './support/needs-kvm.js';
import { before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { buildAll, clientPerTest, flat64Launch, hex, launch, scope, stopped } from './support/dap.js';
import { reverseClient, STOP_MS } from './support/reverse.js';
import { prng } from './support/prng.js';
import { FLAT64, withMachine } from './support/machine.js';
import { buildAsm, buildBootSector, buildFlat64, symbols } from './guests/build.js';
import { Machine } from '../src/vmm/machine.js';
import { detectNesting } from '../src/vmm/host.js';
import { iretqToDataSegmentPasses, ring3EventsFail, sseVariant } from './support/host-facts.js';

const boot = {
  bin: buildBootSector('reverse-boot'),
  syms: symbols(buildAsm('reverse-boot', { ldFlags: ['-m', 'elf_i386', '-Ttext=0x7c00', '-e', '_start'], asFlags: ['-m32'] })),
};
/** reverse-boot's stack and the first entries of the page tables it writes. */
const BOOT_DATA = [{ from: 0x7b00n, to: 0x7c00n }, { from: 0x20000n, to: 0x20008n }, { from: 0x21000n, to: 0x21008n }, { from: 0x22000n, to: 0x22008n }];
/** The two bytes reverse-boot reads from COM1: the first in real mode, the second (its exit status) in long mode. */
const INPUT = 'KZ';

before(() => buildAll()); // the adapter bundle
let dc: DebugClient;
clientPerTest(() => dc, (c) => (dc = c));
const { pc, reg, readMem, repl, state, stop, stepBack, stepForward, stepPcs, breakAt, runTo } = reverseClient(() => dc);

async function mode(): Promise<string> {
  return (await scope(dc, 'System')).get('mode')!.value;
}

/** A System or Segments register's value, its first word as a number. */
async function sys(scopeName: string, name: string): Promise<bigint> {
  return BigInt((await scope(dc, scopeName)).get(name)!.value.split(' ')[0]);
}

/** The Disassembly view's text of the instruction at `addr`, in the code bitness of the moment. */
async function disasm(addr: bigint): Promise<string> {
  const d = await dc.customRequest('disassemble', { memoryReference: hex(addr), instructionCount: 1 });
  return d.body.instructions[0].instruction;
}

/** reverse-boot recorded from its first instruction, COM1's input already sent. */
async function launchBoot(): Promise<void> {
  await launch(dc, { program: boot.bin, record: true, stopOnEntry: true });
  assert.equal((await stopped(dc, STOP_MS)).body.reason, 'entry');
  assert.equal(await pc(), 0x7c00n, 'the boot sector\'s first instruction');
  await dc.customRequest('kvm.serialInput', { text: INPUT });
}

/** Runs live to the guest's exit; its status is the second byte of COM1, read live. */
async function exitsWithSecondByte(): Promise<void> {
  const exited = dc.waitForEvent('exited', STOP_MS);
  await dc.customRequest('setInstructionBreakpoints', { breakpoints: [] });
  await dc.continueRequest({ threadId: 1 });
  assert.equal(((await exited) as DebugProtocol.ExitedEvent).body.exitCode, (INPUT.charCodeAt(1) << 1) | 1,
    'the second byte was still in the UART: going over the RBR read again did not read it');
}

test('step back across mode switches: long → protected → real mode, each with its bitness in the disassembly and its registers; forward again to the live state', async () => {
  await launchBoot();
  await runTo(boot.syms.long_pop);
  assert.equal(await mode(), 'long mode (64-bit)');
  assert.match(await disasm(boot.syms.long), /^push\s+%rbx$/);
  assert.equal(await sys('Segments', 'cs'), 0x18n);
  assert.equal(await sys('System', 'efer') & 0x500n, 0x500n, 'EFER.LME and LMA');
  assert.equal((await readMem(await reg('rsp'), 8)).readBigUInt64LE() & 0xffn, BigInt(INPUT.charCodeAt(0)), 'the pushed RBX');
  const live = await state(BOOT_DATA);

  await runTo(boot.syms.prot, true);
  assert.equal(await mode(), 'protected mode (32-bit)');
  assert.match(await disasm(boot.syms.prot), /^mov\s+\$0x10,%ax$/, '66 b8 10 00 decoded as 32-bit code');
  assert.equal(await sys('Segments', 'cs'), 0x08n);
  const cr0 = await sys('System', 'cr0');
  assert.deepEqual([cr0 & 1n, cr0 >> 31n], [1n, 0n], 'PE on, PG off');
  assert.equal(await sys('System', 'efer') & 0x500n, 0n, 'EFER.LME not yet set');
  assert.notEqual((await readMem(0x20000n, 8)).readBigUInt64LE(), 0x21003n, 'the PML4 entry not yet written');

  // back over the far jump and the write to CR0: a 16-bit protected mode, then real mode
  await stepBack();
  assert.equal(await pc(), boot.syms.to_protected + 3n);
  assert.equal(await mode(), 'protected mode (16-bit)');
  await stepBack();
  await stepBack();
  assert.equal(await pc(), boot.syms.or_pe);
  assert.equal(await mode(), 'real mode');
  assert.match(await disasm(boot.syms.or_pe), /^or\s+\$0x1,%eax$/, '66 83 c8 01 decoded as 16-bit code');
  assert.equal(await sys('System', 'cr0') & 1n, 0n);
  assert.equal(await sys('Segments', 'cs'), 0n);
  assert.equal(await reg('rbx') & 0xffn, BigInt(INPUT.charCodeAt(0)), 'the byte read in real mode');

  // forward through the history to where it was: the live state exactly
  await runTo(boot.syms.long_pop);
  assert.equal(await state(BOOT_DATA), live);
  assert.match(await repl('info record'), /\(the present\)/);
  await exitsWithSecondByte();
});

test('step back across port input: the RBR read of the UART, back and forward again, gives the same byte without reading the device', async () => {
  await launchBoot();
  await runTo(boot.syms.after_rbr);
  const K = BigInt(INPUT.charCodeAt(0));
  assert.equal(await reg('rax') & 0xffn, K);
  const read = await state(BOOT_DATA);
  for (let round = 0; round < 3; round++) {
    await stepBack();
    assert.equal(await pc(), boot.syms.rbr_read);
    const lsr = await reg('rax') & 0xffn;
    assert.equal(lsr & 1n, 1n, 'AL holds the LSR read before it, with DR set');
    await stepBack();
    assert.equal(await reg('rdx') & 0xffffn, 0x3fdn, 'before the port changed to RBR');
    await stepForward();
    await stepForward();
    assert.equal(await pc(), boot.syms.after_rbr);
    assert.equal(await reg('rax') & 0xffn, K, 'the byte the history holds');
    assert.equal(await state(BOOT_DATA), read);
  }
  // back over every LSR poll to the start, and forward to here again
  assert.match(await repl('goto 0'), /at position 0 of/);
  assert.equal(await pc(), 0x7c00n);
  await runTo(boot.syms.after_rbr);
  assert.equal(await state(BOOT_DATA), read);
  await exitsWithSecondByte();
});

test('back and forth 1000 times at random: each position has the registers and memory of the live run at that instruction count', async (t) => {
  const g = buildFlat64('reverse-random64', await sseVariant(t));
  const mem = { from: g.syms.table, to: g.syms.stack_top };
  const names = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r12', 'rip', 'eflags', 'xmm0', 'xmm1'] as const;
  // The live run: the monitor alone, one instruction at a time, the state after each count.
  const live: string[] = [];
  const m = new Machine({ image: g.bin, ...FLAT64 });
  await withMachine(m, async () => {
    for (;;) {
      const r = m.getRegs();
      const x = m.vcpu(0).getFpu().xmm;
      const v: Record<string, bigint> = { ...r, eflags: r.rflags, xmm0: x[0].readBigUInt64LE(0) | (x[0].readBigUInt64LE(8) << 64n), xmm1: x[1].readBigUInt64LE(0) | (x[1].readBigUInt64LE(8) << 64n) };
      const bytes = m.readLinear(0, mem.from, Number(mem.to - mem.from)).toString('hex');
      live.push(names.map((n) => `${n}=${hex(v[n])}`).join(' ') + ` mem=${bytes}`);
      if (r.rip === g.syms.done) break;
      assert.equal((await m.step()).kind, 'step');
    }
  });
  const N = live.length - 1;
  assert.ok(N > 2000, `a history of ${N} instructions`);

  const recorded = async (): Promise<string> => {
    const text = await repl(`info registers ${names.join(' ')}`);
    const v = new Map(text.split('\n').map((l) => l.trim().split(/\s+/) as [string, string]));
    const bytes = (await readMem(mem.from, Number(mem.to - mem.from))).toString('hex');
    return names.map((n) => `${n}=${hex(BigInt(v.get(n)!))}`).join(' ') + ` mem=${bytes}`;
  };
  await launch(dc, { ...flat64Launch(g.bin), record: true }, () =>
    dc.customRequest('setInstructionBreakpoints', { breakpoints: [{ instructionReference: hex(g.syms.done) }] }));
  await stopped(dc, STOP_MS);
  assert.match(await repl('info record'), new RegExp(`instructions recorded: ${N}\\n`));
  assert.equal(await recorded(), live[N], 'the present');
  await dc.customRequest('setInstructionBreakpoints', { breakpoints: [] });

  const SEED = 0x5eed15;
  const rand = prng(SEED);
  let pos = N;
  const counts = { goto: 0, back: 0, forward: 0 };
  for (let move = 0; move < 1000; move++) {
    const r = rand();
    if (r < 0.3) {
      pos = Math.floor(rand() * (N + 1));
      await repl(`goto ${pos}`);
      counts.goto++;
    } else if ((r < 0.65 && pos > 0) || pos === N) {
      await stepBack();
      pos--;
      counts.back++;
    } else {
      await stepForward();
      pos++;
      counts.forward++;
    }
    assert.equal(await recorded(), live[pos], `move ${move} (seed ${hex(BigInt(SEED))}): position ${pos}`);
  }
  console.log(`1000 moves over ${N} instructions: ${JSON.stringify(counts)}`);
  // back to the present, then on live to the guest's exit
  await repl(`goto ${N}`);
  const exited = dc.waitForEvent('exited', STOP_MS);
  await dc.continueRequest({ threadId: 1 });
  assert.equal(((await exited) as DebugProtocol.ExitedEvent).body.exitCode, (0x21 << 1) | 1);
});

/**
 * The 64-bit interrupt frame at `at` (RIP, CS, RFLAGS, RSP, SS) of an interrupt taken in the
 * guest's `wait: hlt` loop with its stack at 0x7000: RIP at the hlt or after it, IF on, TF off.
 */
async function frameFromHlt(at: bigint, wait: bigint): Promise<void> {
  const frame = await readMem(at, 40);
  const [rip, cs, rflags, rsp] = [0, 8, 16, 24].map((o) => frame.readBigUInt64LE(o));
  assert.ok(rip === wait || rip === wait + 1n, `interrupted at ${hex(rip)}`);
  assert.deepEqual([cs, rflags & 0x300n, rsp], [8n, 0x200n, 0x7000n], 'CS 8, IF on and TF off in the saved RFLAGS, the stack before it');
}

/** Steps back while the pc is in the handler; how many steps it took. */
async function backOutOf(inHandler: (pc: bigint) => boolean): Promise<number> {
  let steps = 0;
  while (inHandler(await pc())) {
    await stepBack();
    steps++;
  }
  return steps;
}

test('an interrupt that arrives while recording is part of the history: back across the UART\'s IRQ handler and forward again, exact', async () => {
  const g = buildFlat64('serial-irq64');
  const STACK = [{ from: 0x6f00n, to: 0x7000n }];
  const inHandler = (a: bigint) => a >= g.syms.handler && a < g.syms.idtr;
  await launch(dc, { ...flat64Launch(g.bin), record: true, stopOnEntry: true }, () => breakAt(g.syms.echo));
  await stop();
  const below = await readMem(0x6fd8n, 40); // where the frame will go
  // the guest halts with interrupts on; the recording waits with it for COM1's interrupt
  await dc.continueRequest({ threadId: 1 });
  await dc.customRequest('kvm.serialInput', { text: 'Q' });
  await stop();
  assert.equal(await pc(), g.syms.echo);
  assert.equal(await reg('rax') & 0xffn, 0x51n);
  assert.match(await repl('info record'), /interrupts delivered while recording: 1$/m);
  const there = await state(STACK);
  // the frame the CPU pushed, under the handler's two pushes
  await frameFromHlt(await reg('rsp') + 16n, g.syms.wait);

  // back to before the interrupt: out of the handler, the frame gone
  const steps = await backOutOf(inHandler);
  assert.equal(steps, 5, 'push, push, mov, in, then the delivery');
  assert.ok((await pc()) === g.syms.wait || (await pc()) === g.syms.wait + 1n);
  assert.equal(await reg('rsp'), 0x7000n);
  assert.deepEqual(await readMem(0x6fd8n, 40), below, 'the frame\'s bytes as they were');
  assert.equal(BigInt((await scope(dc, 'Registers')).get('rflags')!.value.split(' ')[0]) & 0x200n, 0x200n, 'IF on');
  // forward again into the handler: the same state, the byte the history holds
  for (let i = 0; i < steps; i++) await stepForward();
  assert.equal(await state(STACK), there);

  // live on: the handler returns and halts; a second byte arrives and is recorded the same way
  await dc.customRequest('kvm.serialInput', { text: 'R' });
  await dc.continueRequest({ threadId: 1 });
  await stop();
  assert.equal(await pc(), g.syms.echo);
  assert.equal(await reg('rax') & 0xffn, 0x52n);
  assert.match(await repl('info record'), /interrupts delivered while recording: 2$/m);
  // back to the first one's echo across the iretq, the hlt and the second delivery
  await dc.reverseContinueRequest({ threadId: 1 });
  await stop();
  assert.equal(await pc(), g.syms.echo);
  assert.equal(await state(STACK), there, 'the first handler\'s state exactly');
});

test('an interrupt through the local APIC (its timer) that arrives while recording is part of the history: back across its delivery and forward again, exact', async () => {
  const g = buildFlat64('apic-timer64');
  const STACK = [{ from: 0x6f00n, to: 0x7000n }, { from: g.syms.ticks, to: g.syms.ticks + 8n }];
  const inHandler = (a: bigint) => a >= g.syms.handler && a < g.syms.ticks;
  const ticks = async () => (await readMem(g.syms.ticks, 8)).readBigUInt64LE();
  await launch(dc, { ...flat64Launch(g.bin), record: true, stopOnEntry: true }, () => breakAt(g.syms.counted));
  await stop();
  const below = await readMem(0x6fd8n, 40); // where the frame will go
  // the guest halts with interrupts on; the recording waits with it for the APIC's timer
  await dc.continueRequest({ threadId: 1 });
  await stop();
  assert.equal(await pc(), g.syms.counted);
  assert.equal(await ticks(), 1n);
  assert.match(await repl('info record'), /interrupts delivered while recording: 1$/m);
  assert.doesNotMatch(await repl('info record'), /may not be restored exactly/, 'no entry is inexact');
  const there = await state(STACK);
  await frameFromHlt(await reg('rsp'), g.syms.wait);

  // back to before the interrupt: out of the handler, the frame gone, no tick counted
  const steps = await backOutOf(inHandler);
  assert.equal(steps, 2, 'incq, then the delivery');
  assert.ok((await pc()) === g.syms.wait || (await pc()) === g.syms.wait + 1n);
  assert.equal(await reg('rsp'), 0x7000n);
  assert.equal(await ticks(), 0n);
  assert.deepEqual(await readMem(0x6fd8n, 40), below, 'the frame\'s bytes as they were');
  // forward again into the handler: the same state
  for (let i = 0; i < steps; i++) await stepForward();
  assert.equal(await state(STACK), there);

  // live on: the handler returns and halts; the next tick is recorded the same way
  await dc.continueRequest({ threadId: 1 });
  await stop();
  assert.equal(await pc(), g.syms.counted);
  assert.equal(await ticks(), 2n);
  assert.match(await repl('info record'), /interrupts delivered while recording: 2$/m);
  // back to the first tick across the EOI, the iretq, the hlt and the second delivery
  await dc.reverseContinueRequest({ threadId: 1 });
  await stop();
  assert.equal(await pc(), g.syms.counted);
  assert.equal(await state(STACK), there, 'the first handler\'s state exactly');
});

type Span = { from: bigint; to: bigint };

/**
 * From the stop where it is called, recorded steps one instruction at a time up to `until`: the
 * pc, RSP and whole state (every register scope, the bytes of `data`) after each.
 */
async function recordStepwise(until: bigint, data: Span[]): Promise<{ at: { pc: bigint; rsp: bigint }[]; states: string[] }> {
  const states = [await state(data)];
  const at = [{ pc: await pc(), rsp: await reg('rsp') }];
  while (at[at.length - 1].pc !== until) {
    assert.ok(at.length < 64, `a few dozen steps: ${at.map((x) => hex(x.pc)).join(' ')}`);
    await stepForward();
    at.push({ pc: await pc(), rsp: await reg('rsp') });
    states.push(await state(data));
  }
  assert.doesNotMatch(await repl('info record'), /may not be restored exactly/, 'no entry is inexact');
  return { at, states };
}

/** Back to the first of `states`, then forward to the last, each position as it was live. */
async function backAndForth(run: { at: { pc: bigint }[]; states: string[] }, data: Span[]): Promise<void> {
  for (let k = run.states.length - 2; k >= 0; k--) {
    await stepBack();
    assert.equal(await state(data), run.states[k], `back at ${hex(run.at[k].pc)}`);
  }
  for (let k = 1; k < run.states.length; k++) {
    await stepForward();
    assert.equal(await state(data), run.states[k], `forward at ${hex(run.at[k].pc)}`);
  }
}

/** On, live, to the guest's exit through port 0xf4 with 0x21. */
async function exitsLive(): Promise<void> {
  const exited = dc.waitForEvent('exited', STOP_MS);
  await dc.customRequest('setInstructionBreakpoints', { breakpoints: [] });
  await dc.continueRequest({ threadId: 1 });
  assert.equal(((await exited) as DebugProtocol.ExitedEvent).body.exitCode, (0x21 << 1) | 1);
}

test('exceptions the guest raises while recording, their frames elsewhere: ud2 through IST1, a page fault through IST2, a division by zero on its own stack, a syscall (R11, no frame); back across each and forward again, exact', async () => {
  const g = buildFlat64('exceptions64');
  const s = g.syms;
  const DATA = [{ from: s.ist1, to: s.ist2_top }, { from: 0x6fc0n, to: 0x7000n }, { from: s.counts, to: s.counts_end }, { from: 0x3010n, to: 0x3018n }, { from: 0x400000n, to: 0x400008n }];
  await launch(dc, { ...flat64Launch(g.bin), record: true }, () => breakAt(s.recorded));
  await stop();
  const run = await recordStepwise(s.done, DATA);
  // each handler entered at its first instruction, on its own stack
  assert.equal(run.at.find((x) => x.pc === s.ud_handler)?.rsp, s.ist1_top - 40n, '#UD\'s frame on IST1');
  assert.equal(run.at.find((x) => x.pc === s.pf_handler)?.rsp, s.ist2_top - 48n, '#PF\'s frame and error code on IST2');
  assert.equal(run.at.find((x) => x.pc === s.de_handler)?.rsp, 0x7000n - 40n, '#DE\'s frame on the stack it ran on');
  assert.equal(run.at.find((x) => x.pc === s.sys_handler)?.rsp, 0x7000n, 'syscall pushes nothing');
  const counts = await readMem(s.counts, 40);
  assert.deepEqual([0, 8, 16, 24, 32].map((o) => counts.readBigUInt64LE(o)), [1n, 0x400000n, 2n, 1n, 1n], 'one #UD, a write fault at 4 MiB (error code 2), one syscall, one #DE');
  assert.equal(await reg('rdx') & 0x100n, 0n, 'R11 took RFLAGS without the step\'s trap flag');
  await backAndForth(run, DATA);
  await exitsLive();
});

test('ring 3 and back while recording: ud2 and int $0x80 from ring 3 enter ring-0 handlers on the TSS\'s RSP0 stack; back across both and forward again, exact', async (t) => {
  const g = buildFlat64('user64');
  const s = g.syms;
  /** int $0x80's frame where the TSS's RSP0 says, with ring 3's return state in it. */
  const ring3Frame = async () => {
    const frame = await readMem(s.kstack_top - 40n, 40);
    const [rip, cs, , rsp, ss] = [0, 8, 16, 24, 32].map((o) => frame.readBigUInt64LE(o));
    assert.deepEqual([rip, cs, rsp, ss].map(hex), [s.done, 0x23n, s.ustack_top, 0x1bn].map(hex), 'int $0x80\'s frame: ring 3\'s RIP, CS, RSP and SS');
    assert.equal(frame.readBigUInt64LE(16) & 0x100n, 0n, 'no trap flag in the saved RFLAGS');
  };
  const counts = async () => {
    const c = await readMem(s.counts, 16);
    return [c.readBigUInt64LE(0), c.readBigUInt64LE(8)];
  };
  // A host fact: with pvm_native, kvm_pvm enters no ring-0 handler from ring 3 as x86 does
  // (measured: the #UD handler ran three times, int $0x80's never, and the guest triple-faulted
  // at ring 3; README, Hosts). What is checked there is kvmdbg's side: the stop at the triple
  // fault, with a session that goes on answering.
  const ring3 = await ring3EventsFail();
  if (ring3 !== undefined) {
    t.diagnostic(`this host's KVM does not enter ring 0 from ring 3 as x86 does (${ring3}): checked is the stop at the guest's triple fault`);
    await launch(dc, flat64Launch(g.bin));
    const ev = await stopped(dc, STOP_MS);
    assert.equal(ev.body.reason, 'exception');
    assert.match(ev.body.description ?? '', /^Triple fault/);
    assert.equal((await dc.threadsRequest()).body.threads.length, 1);
    const at = await pc();
    assert.ok(at >= s._start && at < s.counts, `stopped in the guest's code (${hex(at)})`);
    return;
  }
  // The host fact: kvm_pvm hands a single step at CPL 3 to the guest (the developers' guide), so
  // ring 3 cannot be recorded there. The frames are checked live instead, at a breakpoint in
  // the ring-0 handler, which the debugger does catch there.
  if (existsSync('/sys/module/kvm_pvm')) {
    t.diagnostic('kvm_pvm: steps at CPL 3 go to the guest, so this host is checked live, not recorded');
    await launch(dc, flat64Launch(g.bin), () => breakAt(s.int_handler));
    await stop();
    assert.equal(await pc(), s.int_handler);
    assert.equal(await reg('rsp'), s.kstack_top - 40n, 'the frame on RSP0');
    await ring3Frame();
    assert.deepEqual(await counts(), [1n, 0n], 'the #UD handler ran, int $0x80\'s not yet');
    await exitsLive();
    return;
  }
  const DATA = [{ from: s.kstack, to: s.ustack_top }, { from: s.counts, to: s.counts_end }];
  await launch(dc, { ...flat64Launch(g.bin), record: true }, () => breakAt(s.to_user));
  await stop();
  const run = await recordStepwise(s.done, DATA);
  // both frames where the TSS's RSP0 says, with ring 3's return state in them
  for (const handler of [s.ud_handler, s.int_handler]) {
    assert.equal(run.at.find((x) => x.pc === handler)?.rsp, s.kstack_top - 40n, `${hex(handler)}: the frame on RSP0`);
  }
  assert.equal(await reg('rsp'), s.ustack_top, 'back on ring 3\'s stack');
  await ring3Frame();
  assert.deepEqual(await counts(), [1n, 1n]);
  await backAndForth(run, DATA);
  await exitsLive();
});

test('stepping by instruction, not recording: ud2 stops at its #UD handler on IST1, a division by zero at its #DE handler; after the handler\'s iretq each step is one instruction; a syscall leaves no trap flag in R11', async () => {
  const g = buildFlat64('exceptions64');
  const s = g.syms;
  await launch(dc, flat64Launch(g.bin), () => breakAt(s.recorded));
  await stop();
  await breakAt();
  // mov, ud2 into the handler, incq, addq, iretq (KVM's injected #UD pushed no trap flag to take back), andq, invlpg
  const pcs = await stepPcs(7, async (k) => {
    if (k === 1) assert.equal(await reg('rsp'), s.ist1_top - 40n, 'the #UD frame on IST1');
  });
  assert.deepEqual(pcs.map(hex), [s.recorded + 7n, s.ud_handler, s.ud_handler + 7n, s.ud_handler + 12n, s.after_ud, s.after_ud + 9n, s.faulting].map(hex));
  await runTo(s.dividing);
  // div into the handler (its frame on the stack in use), incq, addq, iretq, syscall
  const de = await stepPcs(5, async (k) => {
    if (k === 0) assert.equal(await reg('rsp'), 0x7000n - 40n, 'the #DE frame on the stack the div ran on');
  });
  assert.deepEqual(de.map(hex), [s.de_handler, s.de_handler + 7n, s.de_handler + 12n, s.after_de, s.sys_handler].map(hex));
  assert.equal(await reg('r11') & 0x100n, 0n, 'R11 holds the guest\'s RFLAGS, without the step\'s TF');
  // on to the exit: nothing traps on its own
  const exited = dc.waitForEvent('exited', STOP_MS);
  await dc.continueRequest({ threadId: 1 });
  assert.equal(((await exited) as DebugProtocol.ExitedEvent).body.exitCode, (0x21 << 1) | 1);
});

/** Where the #GP frame of protection64.S's iretq begins: below its own five words, aligned to 16 as 64-bit delivery does. */
const IRET_FRAME_TOP = (0x7000n - 40n) & ~15n;

/**
 * The handler test/guests/protection64.S enters for a store through SS at a non-canonical
 * address: #SS's, as the SDM says and hardware does. The host fact: under QEMU's TCG (the test
 * VM, where /proc/cpuinfo names a TCG CPU: detectNesting) the CPU raises #GP there instead.
 */
/**
 * The host fact for protection64.S's last fault: whether an iretq to a data segment raises #GP
 * (the SDM; VMX, SVM) or returns (kvm_pvm with pvm_native), measured live (host-facts.ts).
 */
async function iretqFaults(t: TestContext): Promise<boolean> {
  const passes = await iretqToDataSegmentPasses();
  t.diagnostic(passes ?? 'an iretq to a data segment raises #GP here, live');
  return passes === undefined;
}

function nonCanonicalStackHandler(t: TestContext, s: Record<string, bigint>): bigint {
  const tcg = detectNesting() === 'emulator';
  t.diagnostic(tcg ? 'under QEMU\'s TCG: #GP for a non-canonical address through SS' : 'the SDM\'s #SS for a non-canonical address through SS');
  return tcg ? s.gp_handler : s.ss_handler;
}

test('protection faults while recording: a selector past the GDT\'s limit (#GP), a segment not present (#NP), non-canonical stores through DS (#GP) and SS (#SS), an iretq to a data segment (#GP); each handler entered with its frame, back across each and forward again, exact', async (t) => {
  const g = buildFlat64('protection64');
  const s = g.syms;
  const DATA = [{ from: 0x6f80n, to: 0x7000n }, { from: s.counts, to: s.counts_end }];
  await launch(dc, { ...flat64Launch(g.bin), record: true }, () => breakAt(s.recorded));
  await stop();
  const run = await recordStepwise(s.done, DATA);
  const stackFault = nonCanonicalStackHandler(t, s);
  const iretFaults = await iretqFaults(t);
  const handlers = [s.gp_handler, s.np_handler, s.ss_handler];
  const entries = run.at.filter((x) => handlers.includes(x.pc)).map((x) => [hex(x.pc), hex(x.rsp)]);
  const frame = hex(0x7000n - 48n);
  const iretEntry = iretFaults ? [[s.gp_handler, hex(IRET_FRAME_TOP - 48n)]] : [];
  assert.deepEqual(entries, [[s.gp_handler, frame], [s.np_handler, frame], [s.gp_handler, frame], [stackFault, frame], ...iretEntry].map(([h, f]) => [hex(h as bigint), f]),
    'each handler at its first instruction, its frame and error code on the stack in use (below the iretq\'s own frame for its #GP)');
  const c = await readMem(s.counts, 48);
  const ss = stackFault === s.ss_handler ? 1n : 0n;
  const iret = iretFaults ? 1n : 0n;
  assert.deepEqual([0, 8, 16, 24, 32, 40].map((o) => c.readBigUInt64LE(o)), [3n + iret - ss, 0x20n + 0x10n * iret, 1n, 0x18n, ss, 0n], 'the #GPs (error codes 0x20, 0, 0x10...), one #NP (0x18), the #SS (0)');
  await backAndForth(run, DATA);
  await exitsLive();
});

test('stepping by instruction, not recording: a selector load that raises #GP, a store through SS at a non-canonical address (#SS) and an iretq to a data segment (#GP) each stop at their handler, the frame without the step\'s trap flag', async (t) => {
  const g = buildFlat64('protection64');
  const s = g.syms;
  await launch(dc, flat64Launch(g.bin), () => breakAt(s.bad_selector));
  await stop();
  await breakAt();
  const entered = async (handler: bigint, what: string, top = 0x7000n) => {
    await stepForward();
    assert.equal(await pc(), handler, what);
    assert.equal(await reg('rsp'), top - 48n, `${what}: the frame and error code on the stack in use`);
    assert.equal((await readMem(top - 24n, 8)).readBigUInt64LE(0) & 0x100n, 0n, `${what}: no trap flag in the saved RFLAGS`);
  };
  await entered(s.gp_handler, 'mov %ax,%ds with 0x20');
  assert.equal((await readMem(0x7000n - 48n, 8)).readBigUInt64LE(0), 0x20n, 'the error code: the selector');
  await runTo(s.non_canonical_stack);
  const handler = nonCanonicalStackHandler(t, s);
  await entered(handler, 'movq $1,(%rbp) at 0x8000000000000000');
  // incq, pop, add, mov, iretq: back where R12 said, one instruction a step
  const pcs = await stepPcs(5);
  assert.deepEqual(pcs.map(hex), [handler + 7n, handler + 8n, handler + 15n, handler + 19n, s.after_ss].map(hex));
  await runTo(s.bad_iret);
  if (await iretqFaults(t)) {
    await entered(s.gp_handler, 'iretq to a data segment', IRET_FRAME_TOP);
    assert.equal((await readMem(IRET_FRAME_TOP - 48n, 8)).readBigUInt64LE(0), 0x10n, 'the error code: the selector');
  } else {
    await stepForward();
    assert.equal(await pc(), s.done, 'the iretq returned, as it does live on this host');
  }
  await exitsLive();
});

test('page faults on a fetch while recording: a call into a page not present, then into one no-execute; the step at the fetch enters the handler with its frame, back across each and forward again, exact', async () => {
  const g = buildFlat64('fetch-fault64');
  const s = g.syms;
  const DATA = [{ from: 0x6f80n, to: 0x7000n }, { from: s.counts, to: s.counts_end }, { from: 0x3010n, to: 0x3018n }];
  await launch(dc, { ...flat64Launch(g.bin), record: true }, () => breakAt(s.recorded));
  await stop();
  const run = await recordStepwise(s.done, DATA);
  // call pushes its return address; the fetch at 4 MiB then faults: the frame below it, aligned to 16
  const frame = hex(((0x7000n - 8n) & ~15n) - 48n);
  assert.deepEqual(run.at.filter((x) => x.pc === s.pf_handler).map((x) => hex(x.rsp)), [frame, hex(((0x7000n - 16n) & ~15n) - 48n)], 'the handler entered at each fetch, its frame and error code below the call\'s');
  assert.deepEqual(run.at.filter((x) => x.pc === 0x400000n).length, 2, 'each fetch a position of its own, at 4 MiB');
  const c = await readMem(s.counts, 24);
  assert.deepEqual([0, 8, 16].map((o) => c.readBigUInt64LE(o)), [2n, 0x10n + 0x11n, 0x400000n], 'two #PF: an instruction fetch not present (0x10), one of a present page (0x11); CR2 the address');
  await backAndForth(run, DATA);
  await exitsLive();
});

test('stepping by instruction, not recording: a call into a page not present, then into one no-execute, steps to the #PF handler, the frame without the step\'s trap flag', async () => {
  const g = buildFlat64('fetch-fault64');
  const s = g.syms;
  await launch(dc, flat64Launch(g.bin), () => breakAt(s.recorded));
  await stop();
  await breakAt();
  const pcs = await stepPcs(4);
  assert.deepEqual(pcs.map(hex), [s.recorded + 7n, s.recorded + 14n, 0x400000n, s.pf_handler].map(hex), 'lea, mov, the call, the fetch\'s fault');
  const top = (0x7000n - 8n) & ~15n;
  assert.equal(await reg('rsp'), top - 48n, 'the frame and error code below the call\'s return address');
  const frame = await readMem(top - 48n, 48);
  assert.deepEqual([0, 8].map((o) => frame.readBigUInt64LE(o)), [0x10n, 0x400000n], 'error code 0x10 (an instruction fetch), RIP 4 MiB');
  assert.equal(frame.readBigUInt64LE(24) & 0x100n, 0n, 'RFLAGS without the trap flag');
  // the page present again but no-execute: its bytes read, its fetch faults all the same
  await runTo(s.nx_call);
  await stepForward();
  assert.equal(await pc(), 0x400000n);
  await stepForward();
  assert.equal(await pc(), s.pf_handler, 'the no-execute fetch\'s fault');
  assert.equal((await readMem(await reg('rsp'), 8)).readBigUInt64LE(0), 0x11n, 'error code 0x11: an instruction fetch from a present page');
  await exitsLive();
});

test('a triple fault while recording stops at the faulting instruction with its state (from the history where the host reset the vCPU); stepping back goes on from there', async () => {
  const g = buildFlat64('triple64');
  await launch(dc, { ...flat64Launch(g.bin), record: true, stopOnEntry: true });
  await stop();
  await dc.continueRequest({ threadId: 1 });
  const ev = await stop();
  assert.equal(ev.body.reason, 'exception');
  assert.match(ev.body.text ?? '', /Triple fault/);
  // The host fact the text depends on: KVM on SVM re-INITs the vCPU at a shutdown (kvm_amd
  // loaded, not kvm_pvm); elsewhere KVM keeps the state itself.
  const svm = existsSync('/sys/module/kvm_amd') && !existsSync('/sys/module/kvm_pvm');
  assert.match(ev.body.text ?? '', svm ? /faulting instruction's, from the recorded history/ : /its state is kept for inspection/);
  assert.equal(await pc(), g.syms.fault);
  assert.equal(await reg('rbx'), 0x1234n);
  assert.equal(await sys('System', 'efer') & 0x500n, 0x500n, 'long mode, not the reset state');
  assert.match(await repl('info record'), /instructions recorded: 2$/m);
  await stepBack();
  assert.equal(await pc(), g.syms.load_idt);
  await stepBack();
  assert.equal(await pc(), g.syms._start);
  assert.notEqual(await reg('rbx'), 0x1234n, 'before the mov');
});

test('a boot sector\'s triple fault while recording (real mode, then protected mode with no IDT) stops at the faulting ud2 with its state; back to real mode from there', async (t) => {
  const bin = buildBootSector('triple-fault');
  const syms = symbols(buildAsm('triple-fault', { ldFlags: ['-m', 'elf_i386', '-Ttext=0x7c00', '-e', '_start'], asFlags: ['-m32'] }));
  await launch(dc, { program: bin, record: true, stopOnEntry: true });
  await stop();
  await dc.continueRequest({ threadId: 1 });
  const ev = await stop();
  assert.equal(ev.body.reason, 'exception');
  // The host fact, as above: SVM re-INITs the vCPU at the shutdown, and the checkpoint's replay
  // cannot bring a real-mode start back there (DESIGN.md): the history does.
  const svm = existsSync('/sys/module/kvm_amd') && !existsSync('/sys/module/kvm_pvm');
  assert.match(ev.body.text ?? '', svm ? /faulting instruction's, from the recorded history/ : /its state is kept for inspection/);
  assert.equal(await pc(), syms.fault);
  assert.equal(await reg('rsp') & 0xffffffffn, 0x7c00n);
  assert.match(await mode(), /protected/);
  assert.equal(await disasm(syms.fault), 'ud2');
  await stepBack();
  // `mov %ax, %ss` and the `mov $0x7c00, %esp` after it are one step (a load of SS holds the trap),
  // except where the host's emulator does not hold it (kvm_pvm with pvm_native): the history
  // then has the two as steps of their own
  if (await pc() === syms.fault - 5n) {
    t.diagnostic('this host stepped `mov %ax, %ss` and the instruction after it one at a time: it does not hold the trap after a load of SS');
    await stepBack();
  }
  assert.equal(await pc(), syms.fault - 7n, 'mov %ax, %ss');
  assert.match(await disasm(syms.fault - 7n), /^mov\s+%e?ax,%ss$/);
  await repl('goto 0');
  assert.equal(await pc(), 0x7c00n);
  assert.match(await mode(), /real/);
});

test('the real-mode int and iret that the stepper (and a recorded run) performs itself are in the history: back out of the BIOS and in again', async () => {
  const bin = buildBootSector('bios/step');
  const s = symbols(buildAsm('bios/step', { ldFlags: ['-m', 'elf_i386', '-Ttext=0x7c00', '-e', '_start'], asFlags: ['-m32'] }));
  await launch(dc, { program: bin, record: true, stopOnEntry: true });
  await stop();
  await runTo(s.second_int);
  const before = await state(BOOT_DATA);
  const sp = await reg('rsp');
  // the first int and its iret, recorded by that run, were performed the same way: an entry each
  await runTo(s.after_int, true);
  await stepBack(); // iret
  assert.ok(await pc() >= 0xf0000n, `the BIOS's iret: ${hex(await pc())}`);
  assert.equal(await reg('rsp'), sp - 6n, 'the frame of the first int on the stack');
  await stepBack(); // out %al,$0xe5: the service
  await stepBack(); // int $0x10
  assert.equal(await pc(), s.before_int);
  assert.equal(await reg('rsp'), sp);
  await runTo(s.second_int);
  assert.equal(await state(BOOT_DATA), before);
  await stepForward(); // int $0x10, performed by the stepper
  const handler = await pc();
  assert.ok(handler >= 0xf0000n, `in the BIOS ROM: ${hex(handler)}`);
  assert.equal(await reg('rsp'), sp - 6n);
  const frame = await readMem(sp - 6n, 6);
  assert.deepEqual([frame.readUInt16LE(0), frame.readUInt16LE(2)], [Number(s.second_int + 2n), 0], 'IP and CS pushed');
  const entered = await state(BOOT_DATA);
  await stepForward(); // out %al,$0xe5: the service
  await stepForward(); // iret, performed by the stepper
  assert.equal(await pc(), s.second_int + 2n);
  const returned = await state(BOOT_DATA);
  assert.match(await repl('info record'), /\(the present\)/);

  await stepBack();
  await stepBack();
  assert.equal(await pc(), handler);
  assert.equal(await state(BOOT_DATA), entered, 'back over the iret: in the handler, the frame on the stack');
  await stepBack();
  assert.equal(await pc(), s.second_int);
  assert.equal(await state(BOOT_DATA), before, 'back over the int: the stack as it was');
  for (let i = 0; i < 3; i++) await stepForward();
  assert.equal(await pc(), s.second_int + 2n);
  assert.equal(await state(BOOT_DATA), returned);
});
