// Reading a KVM exit out of the kvm_run page: one function per exit kind, over the page alone,
// so tests drive them with hand-made pages (test/exits.test.ts) and machine.ts decides what each
// exit means. The hot ones allocate nothing: an I/O exit fills an object the caller keeps, and
// the fast paths of a step or a hit read a debug exit's words directly.
import * as abi from './kvm/abi.js';
import { DR6_BS } from '../x86/registers.js';

const W_REASON = abi.kvm_run.exit_reason / 4;
const W_IO = abi.kvm_run.io_direction / 4;
const W_DEBUG_EXCEPTION = abi.kvm_run.debug_exception / 4;
const W_DEBUG_DR6 = abi.kvm_run.debug_dr6 / 4;
const W_DEBUG_PC = abi.kvm_run.debug_pc / 4;

/** A view of a kvm_run page as 32-bit words (the exit fields sit at word boundaries). */
export function runWords(run: Buffer): Uint32Array {
  return new Uint32Array(run.buffer, run.byteOffset, 64);
}

export function exitReason(run32: Uint32Array): number {
  return run32[W_REASON];
}

export interface IoExit {
  out: boolean;
  size: number;
  port: number;
  /** Repetitions (rep ins/outs). */
  count: number;
  /** Where the data lies in the page, `size` bytes per repetition. */
  dataOffset: number;
}

/**
 * KVM_EXIT_IO as three word loads: { u8 direction, u8 size, u16 port, u32 count, u64
 * data_offset } at a word boundary, and the data offset lies within the page, so its low word is
 * all of it.
 */
export function readIoExit(run32: Uint32Array, into: IoExit): IoExit {
  const head = run32[W_IO];
  into.out = (head & 0xff) === abi.KVM_EXIT_IO_OUT;
  into.size = (head >>> 8) & 0xff;
  into.port = head >>> 16;
  into.count = run32[W_IO + 1];
  into.dataOffset = run32[W_IO + 2];
  return into;
}

export interface DebugTrap {
  /** 1 (#DB: a step or a debug register) or 3 (#BP: an int3). */
  exception: number;
  /** DR6's low word: B0-B3 (bits 0-3), BS (bit 14). */
  dr6: number;
}

export function readDebugExit(run32: Uint32Array, into: DebugTrap): DebugTrap {
  into.exception = run32[W_DEBUG_EXCEPTION];
  into.dr6 = run32[W_DEBUG_DR6];
  return into;
}

/** Whether the exit is a #DB (a step or a debug register; not a #BP). */
export function isDebugTrap(run32: Uint32Array): boolean {
  return run32[W_REASON] === abi.KVM_EXIT.DEBUG && run32[W_DEBUG_EXCEPTION] === 1;
}

/** DR6's low word at a debug exit. */
export function debugExitDr6(run32: Uint32Array): number {
  return run32[W_DEBUG_DR6];
}

/** Whether the exit is a #DB with DR6.BS set: a single step's trap. */
export function isStepTrap(run32: Uint32Array): boolean {
  return isDebugTrap(run32) && (run32[W_DEBUG_DR6] & DR6_BS) !== 0;
}

/** The linear address of the instruction at a debug exit. */
export function debugExitPc(run: Buffer): bigint {
  return run.readBigUInt64LE(abi.kvm_run.debug_pc);
}

/** Whether that address is `lo` + `hi` * 2^32, compared as two words: no BigInt on a hot path. */
export function debugExitPcIs(run32: Uint32Array, lo: number, hi: number): boolean {
  return run32[W_DEBUG_PC] === lo && run32[W_DEBUG_PC + 1] === hi;
}

export interface MmioExit {
  address: number;
  length: number;
  write: boolean;
  /** In the page: the bytes written, or where the bytes read go. */
  data: Buffer;
}

export function readMmioExit(run: Buffer): MmioExit {
  const o = abi.kvm_run;
  const length = run.readUInt32LE(o.mmio_len);
  return {
    address: Number(run.readBigUInt64LE(o.mmio_phys_addr)),
    length,
    write: run[o.mmio_is_write] !== 0,
    data: run.subarray(o.mmio_data, o.mmio_data + length),
  };
}

export interface InternalErrorExit {
  suberror: number;
  /** At most 16 words, as KVM documents. */
  data: bigint[];
}

export function readInternalError(run: Buffer): InternalErrorExit {
  const o = abi.kvm_run;
  const ndata = Math.min(run.readUInt32LE(o.internal_ndata), 16);
  return {
    suberror: run.readUInt32LE(o.internal_suberror),
    data: Array.from({ length: ndata }, (_, i) => run.readBigUInt64LE(o.internal_data + 8 * i)),
  };
}

/** KVM_EXIT_SYSTEM_EVENT's type: KVM_SYSTEM_EVENT.RESET, SHUTDOWN, ... */
export function readSystemEventType(run: Buffer): number {
  return run.readUInt32LE(abi.kvm_run.system_event_type);
}

/** KVM_EXIT_FAIL_ENTRY's hardware reason. */
export function readFailEntryReason(run: Buffer): bigint {
  return run.readBigUInt64LE(abi.kvm_run.fail_entry_reason);
}

/** KVM_EXIT_X86_WRMSR (a write the MSR filter sends to the monitor): which MSR, and the value. */
export function readMsrExit(run: Buffer): { index: number; data: bigint } {
  return { index: run.readUInt32LE(abi.kvm_run.msr_index), data: run.readBigUInt64LE(abi.kvm_run.msr_data) };
}
