// Exit decoding (src/vmm/exits.ts) on hand-made kvm_run pages: every field where KVM puts it,
// no KVM needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as abi from '../src/vmm/kvm/abi.js';
import {
  debugExitDr6, debugExitPc, debugExitPcIs, exitReason, isDebugTrap, isStepTrap, readDebugExit, readFailEntryReason, readInternalError, readIoExit, readMmioExit,
  readSystemEventType, runWords, type DebugTrap, type IoExit,
} from '../src/vmm/exits.js';

const o = abi.kvm_run;
function page(reason: number): Buffer {
  // A kvm_run page is page-aligned: a fresh ArrayBuffer keeps the word view aligned too.
  const b = Buffer.from(new ArrayBuffer(4096));
  b.writeUInt32LE(reason, o.exit_reason);
  return b;
}
const io = (): IoExit => ({ out: false, size: 0, port: 0, count: 0, dataOffset: 0 });

/** An I/O exit's page, with `e` where KVM puts each field. */
function ioPage(e: IoExit): Buffer {
  const p = page(abi.KVM_EXIT.IO);
  p[o.io_direction] = e.out ? abi.KVM_EXIT_IO_OUT : abi.KVM_EXIT_IO_IN;
  p[o.io_size] = e.size;
  p.writeUInt16LE(e.port, o.io_port);
  p.writeUInt32LE(e.count, o.io_count);
  p.writeBigUInt64LE(BigInt(e.dataOffset), o.io_data_offset);
  return p;
}

test('I/O out: direction, size, port, count and where the data lies', () => {
  const w = runWords(ioPage({ out: true, size: 2, port: 0x3f8, count: 3, dataOffset: 0x1000 }));
  assert.equal(exitReason(w), abi.KVM_EXIT.IO);
  assert.deepEqual(readIoExit(w, io()), { out: true, size: 2, port: 0x3f8, count: 3, dataOffset: 0x1000 });
});

test('I/O in: a 4-byte read of port 0xcfc', () => {
  const p = ioPage({ out: false, size: 4, port: 0xcfc, count: 1, dataOffset: 0x800 });
  const into = io();
  assert.equal(readIoExit(runWords(p), into), into, 'the caller\'s object, filled in place');
  assert.deepEqual(into, { out: false, size: 4, port: 0xcfc, count: 1, dataOffset: 0x800 });
});

test('MMIO: address, length, direction, and the data as a view into the page', () => {
  const p = page(abi.KVM_EXIT.MMIO);
  p.writeBigUInt64LE(0xfee000b0n, o.mmio_phys_addr);
  p.writeUInt32LE(4, o.mmio_len);
  p[o.mmio_is_write] = 1;
  p.writeUInt32LE(0xdeadbeef, o.mmio_data);
  const m = readMmioExit(p);
  assert.equal(m.address, 0xfee000b0);
  assert.equal(m.length, 4);
  assert.equal(m.write, true);
  assert.equal(m.data.readUInt32LE(), 0xdeadbeef);
  m.data.writeUInt32LE(0x12345678);
  assert.equal(p.readUInt32LE(o.mmio_data), 0x12345678, 'a read is answered in the page');
});

test('debug: #DB with BS, #BP, and the PC', () => {
  const p = page(abi.KVM_EXIT.DEBUG);
  p.writeUInt32LE(1, o.debug_exception);
  p.writeBigUInt64LE(0x4000n | 0xffff0ff0n, o.debug_dr6);
  p.writeBigUInt64LE(0xffffffff81000000n, o.debug_pc);
  const d: DebugTrap = { exception: 0, dr6: 0 };
  assert.deepEqual(readDebugExit(runWords(p), d), { exception: 1, dr6: 0xffff4ff0 });
  assert.equal(debugExitPc(p), 0xffffffff81000000n);
  assert.equal(debugExitPcIs(runWords(p), 0x81000000, 0xffffffff), true);
  assert.equal(debugExitPcIs(runWords(p), 0x81000000, 0), false);
  assert.equal(debugExitPcIs(runWords(p), 0x81000001, 0xffffffff), false);
  assert.equal(isDebugTrap(runWords(p)), true);
  assert.equal(isStepTrap(runWords(p)), true);
  assert.equal(debugExitDr6(runWords(p)), 0xffff4ff0);
  p.writeUInt32LE(0xffff0ff1, o.debug_dr6);
  assert.equal(isStepTrap(runWords(p)), false, 'B0 without BS: a breakpoint, not a step');
  assert.equal(isDebugTrap(runWords(p)), true);
  p.writeUInt32LE(3, o.debug_exception);
  assert.equal(readDebugExit(runWords(p), d).exception, 3);
  assert.equal(isDebugTrap(runWords(p)), false, '#BP is not a #DB');
  p.writeUInt32LE(0xffff4ff0, o.debug_dr6);
  p.writeUInt32LE(1, o.debug_exception);
  p.writeUInt32LE(abi.KVM_EXIT.IO, o.exit_reason);
  assert.equal(isStepTrap(runWords(p)), false, 'not a debug exit');
  assert.equal(isDebugTrap(runWords(p)), false);
});

test('shutdown, internal error (at most 16 data words), system event, failed entry', () => {
  assert.equal(exitReason(runWords(page(abi.KVM_EXIT.SHUTDOWN))), abi.KVM_EXIT.SHUTDOWN);
  const p = page(abi.KVM_EXIT.INTERNAL_ERROR);
  p.writeUInt32LE(abi.KVM_INTERNAL_ERROR.EMULATION, o.internal_suberror);
  p.writeUInt32LE(2, o.internal_ndata);
  p.writeBigUInt64LE(0x11n, o.internal_data);
  p.writeBigUInt64LE(0x22n, o.internal_data + 8);
  assert.deepEqual(readInternalError(p), { suberror: abi.KVM_INTERNAL_ERROR.EMULATION, data: [0x11n, 0x22n] });
  p.writeUInt32LE(1000, o.internal_ndata);
  assert.equal(readInternalError(p).data.length, 16, 'a bad count reads no further than KVM documents');
  const e = page(abi.KVM_EXIT.SYSTEM_EVENT);
  e.writeUInt32LE(abi.KVM_SYSTEM_EVENT.RESET, o.system_event_type);
  assert.equal(readSystemEventType(e), abi.KVM_SYSTEM_EVENT.RESET);
  const f = page(abi.KVM_EXIT.FAIL_ENTRY);
  f.writeBigUInt64LE(0x80000021n, o.fail_entry_reason);
  assert.equal(readFailEntryReason(f), 0x80000021n);
});
