// The debugger over the BIOS: `next` at instruction granularity steps over `int 0x10` like a
// call (the stop is the next instruction, the character already on the screen), and `stepIn`
// enters the BIOS ROM, whose routine the call stack names (bios_int10), and steps on through it
// one instruction at a time.
import './support/needs-kvm.js';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import { buildAll, clientPerTest, hex, launch, nm, stopped as stoppedEvent, topFrame } from './support/dap.js';
import { buildAsm, buildBootSector } from './guests/build.js';

let dc: DebugClient;
clientPerTest(() => dc, (c) => (dc = c));
const guest = { bin: '', elf: '' };
let syms: Record<string, bigint> = {};
before(() => {
  buildAll(); // the adapter bundle
  guest.bin = buildBootSector('bios/step');
  guest.elf = buildAsm('bios/step', { ldFlags: ['-m', 'elf_i386', '-Ttext=0x7c00', '-e', '_start'], asFlags: ['-m32'] });
  syms = nm(guest.elf);
});

let waits = 0;
/** The next stop, naming which of the test's waits timed out. */
async function stopped(d: DebugClient) {
  const n = ++waits;
  try {
    return await stoppedEvent(d);
  } catch (e) {
    throw new Error(`stop ${n}: ${(e as Error).message} (at ${(await topFrame(d).catch(() => undefined))?.instructionPointerReference})`);
  }
}

async function screenChar(offset: number): Promise<number> {
  const r = await dc.customRequest('readMemory', { memoryReference: hex(0xb8000n + BigInt(offset * 2)), count: 1 });
  return Buffer.from(r.body.data, 'base64')[0];
}

/** Launches the guest and runs it to an instruction breakpoint at before_int. */
async function toBeforeInt(): Promise<void> {
  await launch(dc, { program: guest.bin, symbols: [guest.elf], stopOnEntry: true });
  assert.equal((await stopped(dc)).body.reason, 'entry');
  await dc.customRequest('setInstructionBreakpoints', { breakpoints: [{ instructionReference: hex(syms.before_int) }] });
  await dc.continueRequest({ threadId: 1 });
  assert.equal((await stopped(dc)).body.reason, 'instruction breakpoint');
}

test('next over int 0x10 lands on the following instruction with the character on the screen; stepIn enters bios_int10', async () => {
  await toBeforeInt();
  assert.equal((await topFrame(dc)).instructionPointerReference, hex(syms.before_int));
  assert.equal(await screenChar(0), 0x20, 'nothing printed yet');
  await dc.nextRequest({ threadId: 1, granularity: 'instruction' });
  assert.equal((await stopped(dc)).body.reason, 'step');
  assert.equal((await topFrame(dc)).instructionPointerReference, hex(syms.after_int), 'over the int, as over a call');
  assert.equal(await screenChar(0), 0x41, "the BIOS's 'A'");
  await dc.nextRequest({ threadId: 1, granularity: 'instruction' });
  await stopped(dc);
  assert.equal((await topFrame(dc)).instructionPointerReference, hex(syms.second_int));
  await dc.stepInRequest({ threadId: 1, granularity: 'instruction' });
  assert.equal((await stopped(dc)).body.reason, 'step');
  const f = await topFrame(dc);
  assert.equal(f.name, 'bios_int10', 'the ROM routine by its symbol');
  assert.equal(BigInt(f.instructionPointerReference!) >= 0xf0000n, true);
  const d = await dc.customRequest('disassemble', { memoryReference: f.instructionPointerReference, instructionCount: 2 });
  assert.match(d.body.instructions[0].instruction, /^out\s+%al,\$0xe5/);
  assert.match(d.body.instructions[1].instruction, /^iret/);
  // Single steps inside the stub: over the `out` (the service runs, the character appears),
  // then the iret back to the instruction after the int. The register writes that entered the
  // handler and that answer the service must not let a step run on (KVM keeps the step's trap
  // flag only at the RIP it last saw set).
  const out = BigInt(f.instructionPointerReference!);
  await dc.stepInRequest({ threadId: 1, granularity: 'instruction' });
  assert.equal((await stopped(dc)).body.reason, 'step');
  assert.equal((await topFrame(dc)).instructionPointerReference, hex(out + 2n), 'one instruction: the out');
  assert.equal(await screenChar(1), 0x42, "the service ran inside the step: the BIOS's 'B'");
  await dc.stepInRequest({ threadId: 1, granularity: 'instruction' });
  assert.equal((await stopped(dc)).body.reason, 'step');
  assert.equal((await topFrame(dc)).instructionPointerReference, hex(syms.second_int + 2n), 'the iret: back after the int');
});

test('an instruction written over one already stepped is decoded again: nops over the int 0x10 step as nops', async () => {
  await toBeforeInt();
  await dc.customRequest('setInstructionBreakpoints', { breakpoints: [] });
  await dc.nextRequest({ threadId: 1, granularity: 'instruction' });
  await stopped(dc);
  assert.equal((await topFrame(dc)).instructionPointerReference, hex(syms.after_int), 'the int 0x10, stepped over');
  // Back to the int, now two nops (its two bytes, 0xcd 0x10, overwritten).
  const ref = (await dc.scopesRequest({ frameId: (await topFrame(dc)).id })).body.scopes.find((s) => s.name === 'Registers')!.variablesReference;
  await dc.setVariableRequest({ variablesReference: ref, name: 'rip', value: hex(syms.before_int) });
  await dc.customRequest('writeMemory', { memoryReference: hex(syms.before_int), data: Buffer.from([0x90, 0x90]).toString('base64') });
  await dc.nextRequest({ threadId: 1, granularity: 'instruction' });
  assert.equal((await stopped(dc)).body.reason, 'step');
  assert.equal((await topFrame(dc)).instructionPointerReference, hex(syms.before_int + 1n), 'one nop, not the int kept from before');
  assert.equal(await screenChar(1), 0x20, 'no second character from the BIOS');
});
