// The 16550 at COM1, register by register, as a guest sees it: test/guests/uart-regs.S steps
// through a table of writes and checked reads, and exits with the number of the first check
// that read something a 16550 would not give.
import './support/needs-kvm.js';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { Machine } from '../src/vmm/machine.js';
import { buildBootSector } from './guests/build.js';
import { withMachine } from './support/machine.js';

/** The guest's check numbers (its exit value on failure), in the order of its table. */
const CHECKS: Record<number, string> = {
  1: 'SCR reads back 0x5a',
  2: 'SCR reads back 0xa5',
  3: 'LCR reads back 0x1b',
  4: 'DLAB=1: DLL reads back 0x34',
  5: 'DLAB=1: DLM reads back 0x12',
  6: 'LCR reads back 0x83 (DLAB set)',
  7: 'LCR reads back 0x03 (DLAB clear)',
  8: 'DLAB=0: IER is 0, untouched by the DLM write',
  9: 'MCR reads back 0x0b',
  10: 'MSR without loopback is 0xb0 (CTS, DSR, DCD)',
  11: 'IER keeps the low 4 bits of 0xff',
  12: 'IER reads back 0',
  13: 'LSR with nothing received is 0x60 (THRE | TEMT)',
  14: 'IIR with FIFOs enabled and IER=0 is 0xc1',
  15: 'IIR with IER=THRE is 0xc2 (THRE, id 2)',
  16: 'reading IIR acknowledged THRE: 0xc1',
  17: 'IIR with FIFOs disabled is 0x01',
  18: 'loopback with all outputs off: MSR high nibble 0',
  19: 'loopback: LSR after a THR write is 0x61 (DR set)',
  20: 'loopback: RBR holds the byte written to THR',
  21: 'loopback: LSR after reading RBR is 0x60',
  22: 'loopback, IER=RDA: IIR is 0x04 with a byte received',
  23: 'loopback: RBR holds the second byte',
  24: 'loopback: IIR is 0x01 once RBR is read',
  25: 'loopback: MSR high nibble 0 before the outputs change',
  26: 'loopback: RTS -> CTS',
  27: 'loopback: DTR -> DSR',
  28: 'loopback: OUT1 -> RI',
  29: 'loopback: OUT2 -> DCD',
  30: 'loopback: all outputs -> 0xf0',
  31: 'loopback: all four outputs off -> MSR deltas 0x0f (DCTS, DDSR, TERI, DDCD)',
  32: 'reading MSR clears the deltas',
  33: 'loopback: RTS on -> CTS | DCTS (0x11)',
  34: 'loopback: MSR 0x10 once the delta is read',
  35: 'loopback: RTS off, DTR on -> DSR | DDSR | DCTS (0x23)',
  36: 'loopback: DTR off, OUT1 on -> RI | DDSR, no TERI on a rising RI (0x42)',
  37: 'loopback: OUT1 off, OUT2 on -> DCD | DDCD | TERI (0x8c)',
  38: 'loopback, IER=MS: IIR is 0x00 (modem status) after DTR changes',
  39: 'loopback: MSR is DCD | DSR | DDSR (0xa2)',
  40: 'loopback: IIR is 0x01 once MSR is read',
  41: 'out of loopback: MSR high nibble 0xb0',
  42: 'out of loopback: MSR is 0xb0',
  43: 'out of loopback: MCR reads back 0x0b',
  44: 'out of loopback: LSR is 0x60',
};

const OK_STATUS = (0x50 << 1) | 1;

let image = '';
before(() => {
  image = buildBootSector('uart-regs');
});

test('every 16550 register reads back as a 16550 gives it', async () => {
  const serial: Buffer[] = [];
  const debugcon: Buffer[] = [];
  const m = new Machine({ image, serial: (b) => serial.push(b), debugcon: (b) => debugcon.push(b) });
  await withMachine(m, async () => {
    const stop = await m.run();
    const out = Buffer.concat(serial).toString('latin1');
    const failure = Buffer.concat(debugcon).toString('latin1');
    assert.equal(stop.kind, 'exit', `the guest did not exit through port 0xF4: ${JSON.stringify(stop)}`);
    if (stop.kind !== 'exit') return;
    const check = stop.status >> 1;
    assert.equal(
      stop.status, OK_STATUS,
      `check ${check} failed: ${CHECKS[check] ?? 'unknown check'} (the guest said ${JSON.stringify(failure)})`,
    );
    assert.equal(out, 'uart ok\n', 'COM1 output: nothing but the verdict (no loopback byte, no divisor write)');
    assert.equal(failure, '');
  });
});
