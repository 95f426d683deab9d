// One KVM vCPU: its fd, its kvm_run page, and typed access to its state. Buffers for the hot
// ioctls (regs, guest debug) are allocated once so that stepping makes no garbage.
import * as sys from './kvm/sys.js';
import * as abi from './kvm/abi.js';
import { debugExitPc } from './exits.js';
import { GPR, GPR_NAMES, SEGMENT_NAMES, type Regs, type Segment, type DTable, type Sregs, RFLAGS_RF } from '../x86/registers.js';

export type { Regs, Segment, DTable, Sregs };


export interface Fpu {
  /** st0..st7 as 80-bit values, 10 bytes each (little-endian, as FXSAVE stores them). */
  st: Buffer[];
  fcw: number;
  fsw: number;
  /** Abridged tag word as FXSAVE stores it (one bit per register, 1 = valid). */
  ftwx: number;
  lastOpcode: number;
  lastIp: bigint;
  lastDp: bigint;
  /** xmm0..xmm15, 16 bytes each. */
  xmm: Buffer[];
  mxcsr: number;
}

export interface DebugRegs {
  dr: [bigint, bigint, bigint, bigint];
  dr6: bigint;
  dr7: bigint;
}

export interface VcpuEvents {
  exception: { injected: boolean; nr: number; hasErrorCode: boolean; pending: boolean; errorCode: number };
  interrupt: { injected: boolean; nr: number; soft: boolean; shadow: number };
  nmi: { injected: boolean; pending: boolean; masked: boolean };
}

/** The XSAVE area: the FXSAVE legacy image, the XSAVE header, AVX's upper halves (SDM vol. 1, 13.4). */
const FX = { fcw: 0, fsw: 2, ftw: 4, fop: 6, fip: 8, fdp: 16, mxcsr: 24, st: 32, xmm: 160, xstateBv: 512, ymmHi: 576 } as const;

const EMPTY: Buffer = Buffer.alloc(0);
/** #UD, the exception KVM queues when it fails to emulate at CPL0. */
const UD_VECTOR = 6;

/** captureState's layout: struct kvm_sync_regs (regs, sregs, events). */
const STATE = { regs: 0, sregs: abi.kvm_regs.size, events: abi.kvm_regs.size + abi.kvm_sregs.size } as const;
/** The bytes of a captured vCPU state. */
export const VCPU_STATE_BYTES = STATE.events + abi.kvm_vcpu_events.size;

const hex = (buf: Buffer, at: number): string => `0x${buf.readBigUInt64LE(at).toString(16)}`;

/**
 * The registers and special registers (not the events) in which two captured states differ, by
 * name, empty where they are the same: whether a replay arrived at the state it had met before.
 * RFLAGS.RF does not count. The CPU sets it when an instruction is restarted after an exit that
 * interrupted it and clears it when the next one completes, so it says where the host broke in,
 * not what the guest did: measured in the test VM, about 1 replay in 300 under load met a state
 * that differed from the first pass in RF alone.
 */
export function stateDifferences(a: Buffer, b: Buffer): string[] {
  const out: string[] = [];
  const flags = STATE.regs + abi.kvm_regs.rflags;
  const fields = (layout: Record<string, number>, at: number, end: number): void => {
    const starts = Object.entries(layout).filter(([k]) => k !== 'size').sort((x, y) => x[1] - y[1]);
    starts.forEach(([name, off], i) => {
      const from = at + off, to = at + (starts[i + 1]?.[1] ?? end - at);
      if (from === flags && ((a.readBigUInt64LE(from) ^ b.readBigUInt64LE(from)) & ~RFLAGS_RF) === 0n) return;
      if (a.subarray(from, to).equals(b.subarray(from, to))) return;
      // A register's two values say what went astray (a flag, an address); a segment's would not fit.
      out.push(to - from === 8 ? `${name} (${hex(a, from)} against ${hex(b, from)})` : name);
    });
  };
  fields(abi.kvm_regs, STATE.regs, STATE.sregs);
  fields(abi.kvm_sregs, STATE.sregs, STATE.events);
  return out;
}

/** RFLAGS.RF (bit 16) as a bit of one byte of struct kvm_regs. */
const RF_BYTE = abi.kvm_regs.rflags + 2;
const RF_BIT = Number(RFLAGS_RF >> 16n);

/**
 * KVM_SET_GUEST_DEBUG's DR0-DR7 with no debug register in use: one array for every caller, since
 * setGuestDebug tells an unchanged request by the array's identity.
 */
export const NO_DEBUGREGS: readonly bigint[] = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n];

export class Vcpu {
  /** The kvm_run page, mapped: exit information is read here in place. */
  readonly run: Buffer;
  private readonly runAddr: bigint;
  private readonly runSize: number;
  /** struct kvm_regs: inside kvm_run where KVM syncs the registers there, else a buffer of ours. */
  private readonly regsBuf: Buffer;
  private readonly regsView: BigUint64Array;
  private readonly sregsBuf = Buffer.alloc(abi.kvm_sregs.size);
  private lastControl = -1;
  private lastDebugRegs: readonly bigint[] = [];
  private lastDebugStruct = EMPTY;
  private prevControl = -1;
  private prevDebugRegs: readonly bigint[] = [];
  private prevDebugStruct = EMPTY;
  /**
   * Set after a debug exit: kvm_run.debug.arch.pc is then the linear RIP, valid until the vCPU
   * runs again or its registers are written. It saves two ioctls per breakpoint hit.
   */
  debugPcValid = false;
  /** Counts the monitor's writes to the vCPU's state (registers, events, MSRs, XSAVE, MP state). */
  stateWrites = 0;
  /** Counts KVM_RUN calls: with stateWrites, it tells a caller that kept the special registers whether anything ran since. */
  runs = 0;

  get debugPc(): bigint | undefined {
    return this.debugPcValid ? debugExitPc(this.run) : undefined;
  }

  /** The kvm_run page as 32-bit words, for the exit fields read on every step. */
  readonly run32: Uint32Array;

  /**
   * With KVM_CAP_SYNC_REGS (`sync`: the KVM_SYNC_X86_* sets the host can sync), KVM copies
   * register sets into the kvm_run page as KVM_RUN returns, so that a stop reads them with no
   * ioctl (5 µs and more each on kvm_pvm):
   * - the general registers at every exit, at no measurable cost (bench/README.md); that copy
   *   is where we keep them. Writes still go through KVM_SET_REGS, from the same place (KVM
   *   reads it only when told to, through kvm_dirty_regs);
   * - the special registers only on a KVM_RUN that follows a stop where they were read: copying
   *   them costs about 2.5% of every exit, worth it only where a debugger reads them each stop;
   * - all three sets (events too) at every exit while `syncState` is set, for checkpoints.
   */
  constructor(readonly id: number, readonly fd: number, mmapSize: number, sync = 0) {
    const m = sys.mmap(mmapSize, sys.PROT_READ | sys.PROT_WRITE, sys.MAP_SHARED, fd, 'mmap kvm_run');
    this.run = m.buf;
    this.run32 = new Uint32Array(m.buf.buffer, m.buf.byteOffset, 64);
    this.runAddr = m.addr;
    this.runSize = mmapSize;
    this.syncRegs = (sync & abi.KVM_SYNC_X86.REGS) !== 0;
    this.syncSregs = (sync & abi.KVM_SYNC_X86.SREGS) !== 0;
    this.syncEvents = (sync & abi.KVM_SYNC_X86.EVENTS) !== 0;
    this.setValidRegs(false, false);
    this.regsBuf = this.syncRegs
      ? this.run.subarray(abi.kvm_run.sync_regs, abi.kvm_run.sync_regs + abi.kvm_regs.size)
      : Buffer.alloc(abi.kvm_regs.size);
    this.regsView = new BigUint64Array(this.regsBuf.buffer, this.regsBuf.byteOffset, 18);
    this.runSregs = this.run.subarray(abi.kvm_run.sync_sregs, abi.kvm_run.sync_sregs + abi.kvm_sregs.size);
  }

  private readonly syncRegs: boolean;
  private readonly syncSregs: boolean;
  private readonly syncEvents: boolean;
  /** KVM_SYNC_X86_SREGS is set in kvm_valid_regs. */
  private sregsSynced = false;
  /** The last KVM_RUN stored the special registers in kvm_run, and nothing has changed them since. */
  private sregsInRun = false;
  private readonly runSregs: Buffer;
  private syncAll = false;
  /** KVM_SYNC_X86_EVENTS is set in kvm_valid_regs. */
  private eventsSynced = false;
  /** The last KVM_RUN stored the events in kvm_run, and nothing has changed them since. */
  private eventsInRun = false;

  /** A held step looked at the events at this stop (setAsideInjectedInterrupt): the next is likely to as well. */
  private eventsReadHere = false;

  private setValidRegs(sregs: boolean, events: boolean): void {
    const valid = (this.syncRegs ? abi.KVM_SYNC_X86.REGS : 0) | (sregs ? abi.KVM_SYNC_X86.SREGS : 0) |
      (events ? abi.KVM_SYNC_X86.EVENTS : 0);
    this.run.writeBigUInt64LE(BigInt(valid), abi.kvm_run.kvm_valid_regs);
    this.sregsSynced = sregs;
    this.eventsSynced = events;
  }

  /**
   * Whether KVM copies the special registers and the events into kvm_run too at every exit,
   * where the host can (all three KVM_SYNC_X86 sets), so that a captureState() before the next
   * KVM_RUN is a copy, not two more ioctls: worth it where that comes after every exit (steps
   * under checkpoints), not where it comes once a time slice.
   */
  get syncState(): boolean {
    return this.syncAll;
  }

  set syncState(on: boolean) {
    this.syncAll = on && this.syncRegs && this.syncSregs && this.syncEvents;
  }

  /**
   * The vCPU's state as KVM_SET_* takes it back (restoreState): the layout of kvm_sync_regs,
   * general registers, special registers, events. From kvm_run where the last exit left them
   * and nothing changed them since, else through the GET ioctls.
   */
  captureState(into: Buffer): void {
    this.loadRegs();
    this.regsBuf.copy(into, STATE.regs);
    if (this.sregsInRun) {
      this.runSregs.copy(into, STATE.sregs);
    } else {
      sys.ioctlPtr(this.fd, abi.KVM_GET_SREGS, this.sregsBuf, 'KVM_GET_SREGS');
      this.sregsBuf.copy(into, STATE.sregs);
    }
    if (this.eventsInRun) {
      this.run.copy(into, STATE.events, abi.kvm_run.sync_events, abi.kvm_run.sync_events + abi.kvm_vcpu_events.size);
    } else {
      this.readEvents().copy(into, STATE.events);
    }
  }

  /** Puts back a state captureState() took: special registers first (the mode), then the rest. */
  restoreState(from: Buffer): void {
    from.copy(this.sregsBuf, 0, STATE.sregs, STATE.sregs + abi.kvm_sregs.size);
    this.invalidate();
    sys.ioctlPtr(this.fd, abi.KVM_SET_SREGS, this.sregsBuf, 'KVM_SET_SREGS');
    from.copy(this.regsBuf, 0, STATE.regs, STATE.regs + abi.kvm_regs.size);
    sys.ioctlPtr(this.fd, abi.KVM_SET_REGS, this.regsBuf, 'KVM_SET_REGS');
    this.regsValid = true;
    sys.ioctlPtr(this.fd, abi.KVM_SET_VCPU_EVENTS, Buffer.from(from.subarray(STATE.events, VCPU_STATE_BYTES)), 'KVM_SET_VCPU_EVENTS');
  }

  /** The address of the kvm_run page, for a thread that sets immediate_exit to pause us. */
  get runPageAddress(): bigint {
    return this.runAddr;
  }

  /** KVM_RUN once. Returns 0, or -errno (EINTR when kicked). */
  enter(): number {
    // Special registers (events) read at this stop will likely be read at the next one too.
    const sregs = this.syncAll || (this.syncSregs && this.sregsCache !== undefined);
    const events = this.syncAll || (this.syncEvents && this.eventsReadHere);
    if (sregs !== this.sregsSynced || events !== this.eventsSynced) this.setValidRegs(sregs, events);
    this.invalidate();
    this.eventsReadHere = false;
    this.runs++;
    const rc = sys.ioctlRaw(this.fd, abi.KVM_RUN, 0);
    // KVM stores the registers on every way out of KVM_RUN, EINTR included.
    this.regsValid = this.syncRegs;
    this.sregsInRun = sregs;
    this.eventsInRun = events;
    return rc;
  }

  /**
   * KVM_RUN again after one that the slice timer interrupted before the guest stopped: nothing
   * was read in between, so the special registers stay synced if they were.
   */
  reenter(): number {
    const sregs = this.sregsInRun;
    const events = this.eventsSynced;
    this.invalidate();
    this.runs++;
    const rc = sys.ioctlRaw(this.fd, abi.KVM_RUN, 0);
    this.regsValid = this.syncRegs;
    this.sregsInRun = sregs;
    this.eventsInRun = events;
    return rc;
  }

  // Register reads are cached until the vCPU runs or its state is written: a debugger stop
  // asks for the same registers many times, and each ioctl costs microseconds (5 µs and more
  // on kvm_pvm, where every vCPU ioctl reloads MSRs).
  private regsValid = false;
  private sregsCache: Sregs | undefined;
  /** The last special registers decoded, and the kvm_sregs bytes they came from. */
  private sregsDecoded: Sregs | undefined;
  private readonly sregsDecodedFrom = Buffer.alloc(abi.kvm_sregs.size);

  private invalidate(): void {
    this.regsValid = false;
    this.sregsInRun = false;
    this.eventsInRun = false;
    this.sregsCache = undefined;
    this.debugPcValid = false;
  }

  get exitReason(): number {
    return this.run.readUInt32LE(abi.kvm_run.exit_reason);
  }

  // --- general registers -------------------------------------------------------------------

  /**
   * The registers in the shared view (index = position in GPR_NAMES), read from KVM once per
   * stop. A caller that changes the view must storeRegs() it.
   */
  loadRegs(): BigUint64Array {
    if (!this.regsValid) {
      sys.ioctlPtr(this.fd, abi.KVM_GET_REGS, this.regsBuf, 'KVM_GET_REGS');
      this.regsValid = true;
    }
    return this.regsView;
  }

  /** Writes the shared view back. */
  storeRegs(): void {
    this.stateWrites++;
    this.debugPcValid = false;
    this.regsValid = false;
    sys.ioctlPtr(this.fd, abi.KVM_SET_REGS, this.regsBuf, 'KVM_SET_REGS');
    this.regsValid = true;
    this.rearmStep();
  }

  /**
   * KVM keeps a single step's trap flag across a register write only while the linear RIP is
   * the one it saw at KVM_SET_GUEST_DEBUG (kvm_set_rflags compares it with singlestep_rip). A
   * write while stepping (a step into `int n`, a BIOS service answering inside a step) would
   * otherwise let the step run on: guest debug is set again, which takes the RIP of now. KVM's
   * own writes drop the flag the same way (an emulated MMIO write): the machine calls it then.
   */
  rearmStep(): void {
    if (this.lastControl !== -1 && this.lastControl & abi.KVM_GUESTDBG_SINGLESTEP) {
      sys.ioctlPtr(this.fd, abi.KVM_SET_GUEST_DEBUG, this.lastDebugStruct, 'KVM_SET_GUEST_DEBUG');
    }
  }

  /**
   * Sets RFLAGS.RF for the next KVM_RUN, so that the CPU does not stop on an instruction
   * breakpoint of ours at the first instruction it runs (where the host honours it:
   * HostInfo.resumeFlag). With synced registers KVM takes the change from kvm_run as it enters,
   * so it costs no ioctl of its own.
   */
  setResumeFlag(): void {
    this.loadRegs();
    // RF is bit 16: a byte operation, where the BigInt one allocates (this runs at every continue).
    this.regsBuf[RF_BYTE] |= RF_BIT;
    this.resumeFlagSet = true;
    this.writeBackRegs();
  }

  /**
   * Set by setResumeFlag until the next exit, which ends it (takeResumeFlag): the CPU clears RF
   * once an instruction completes, but not where KVM completes it for us, an I/O instruction
   * answered in user space.
   */
  private resumeFlagSet = false;

  /**
   * At the first exit after setResumeFlag (resumeFlagPending). An I/O exit with RF still set
   * stopped on the instruction RF was meant for, which KVM will skip without clearing RF: it is
   * cleared now, or a breakpoint on the next instruction would be passed over.
   */
  takeResumeFlag(io: boolean): void {
    this.resumeFlagSet = false;
    if (!io) return;
    this.loadRegs();
    if ((this.regsBuf[RF_BYTE] & RF_BIT) === 0) return;
    this.regsBuf[RF_BYTE] &= ~RF_BIT;
    this.writeBackRegs();
  }

  get resumeFlagPending(): boolean {
    return this.resumeFlagSet;
  }

  /** The shared view back to KVM: through kvm_dirty_regs where KVM syncs registers, else storeRegs(). */
  private writeBackRegs(): void {
    if (!this.syncRegs) {
      this.storeRegs();
      return;
    }
    this.stateWrites++;
    this.debugPcValid = false;
    // The low half of the 64-bit field holds every KVM_SYNC_X86 bit; KVM clears what it takes.
    this.run.writeUInt32LE(abi.KVM_SYNC_X86.REGS, abi.kvm_run.kvm_dirty_regs);
  }

  getRegs(): Regs {
    const v = this.loadRegs();
    const r = {} as Regs;
    GPR_NAMES.forEach((n, i) => (r[n] = v[i]));
    return r;
  }

  setRegs(regs: Partial<Regs>): void {
    const v = this.loadRegs();
    GPR_NAMES.forEach((n, i) => {
      const x = regs[n];
      if (x !== undefined) v[i] = BigInt.asUintN(64, x);
    });
    this.storeRegs();
  }

  getRip(): bigint {
    return this.loadRegs()[GPR.rip];
  }

  // --- segment and control registers -------------------------------------------------------

  /** The special registers; the object is shared until the next change: treat it as read-only. */
  getSregs(): Sregs {
    if (this.sregsCache) return this.sregsCache;
    let b: Buffer = this.sregsBuf;
    if (this.sregsInRun) b = this.runSregs;
    else sys.ioctlPtr(this.fd, abi.KVM_GET_SREGS, b, 'KVM_GET_SREGS');
    // Unchanged since the last decode (most steps): a new object (its identity stamps this stop,
    // translation-cache.ts) sharing the last one's segments and tables, which a recorder
    // comparing every step's special registers then finds equal at once (undo-log.ts sameSregs).
    if (this.sregsDecoded && b.equals(this.sregsDecodedFrom)) return (this.sregsCache = { ...this.sregsDecoded });
    b.copy(this.sregsDecodedFrom);
    const s = {} as Sregs;
    for (const n of SEGMENT_NAMES) s[n] = readSegment(b, abi.kvm_sregs[n]);
    s.gdt = readDtable(b, abi.kvm_sregs.gdt);
    s.idt = readDtable(b, abi.kvm_sregs.idt);
    for (const n of ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer', 'apic_base'] as const) {
      s[n] = b.readBigUInt64LE(abi.kvm_sregs[n]);
    }
    this.sregsCache = this.sregsDecoded = s;
    return s;
  }

  /** Writes the given fields over the current special registers. */
  setSregs(changes: Partial<Sregs>): void {
    this.stateWrites++;
    const b = this.sregsBuf;
    sys.ioctlPtr(this.fd, abi.KVM_GET_SREGS, b, 'KVM_GET_SREGS');
    for (const n of SEGMENT_NAMES) {
      const seg = changes[n];
      if (seg) writeSegment(b, abi.kvm_sregs[n], seg);
    }
    if (changes.gdt) writeDtable(b, abi.kvm_sregs.gdt, changes.gdt);
    if (changes.idt) writeDtable(b, abi.kvm_sregs.idt, changes.idt);
    for (const n of ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer', 'apic_base'] as const) {
      const v = changes[n];
      if (v !== undefined) b.writeBigUInt64LE(BigInt.asUintN(64, v), abi.kvm_sregs[n]);
    }
    this.invalidate();
    sys.ioctlPtr(this.fd, abi.KVM_SET_SREGS, b, 'KVM_SET_SREGS');
    this.rearmStep();
  }

  // --- FPU / SSE / AVX ---------------------------------------------------------------------

  // FPU and SSE state go through XSAVE, whose legacy region is the FXSAVE image: on some
  // kernels KVM_GET_FPU reports MXCSR as 0 while the guest's real value sits in XSAVE.

  getFpu(): Fpu {
    const x = this.getXsave();
    return {
      st: Array.from({ length: 8 }, (_, i) => Buffer.from(x.subarray(FX.st + 16 * i, FX.st + 16 * i + 10))),
      fcw: x.readUInt16LE(FX.fcw),
      fsw: x.readUInt16LE(FX.fsw),
      ftwx: x[FX.ftw],
      lastOpcode: x.readUInt16LE(FX.fop),
      lastIp: x.readBigUInt64LE(FX.fip),
      lastDp: x.readBigUInt64LE(FX.fdp),
      xmm: Array.from({ length: 16 }, (_, i) => Buffer.from(x.subarray(FX.xmm + 16 * i, FX.xmm + 16 * i + 16))),
      mxcsr: x.readUInt32LE(FX.mxcsr),
    };
  }

  setFpu(f: Partial<Fpu>): void {
    const x = this.getXsave();
    f.st?.forEach((v, i) => v.copy(x, FX.st + 16 * i, 0, 10));
    f.xmm?.forEach((v, i) => v.copy(x, FX.xmm + 16 * i, 0, 16));
    if (f.fcw !== undefined) x.writeUInt16LE(f.fcw, FX.fcw);
    if (f.fsw !== undefined) x.writeUInt16LE(f.fsw, FX.fsw);
    if (f.ftwx !== undefined) x[FX.ftw] = f.ftwx;
    if (f.mxcsr !== undefined) x.writeUInt32LE(f.mxcsr, FX.mxcsr);
    // XSTATE_BV: x87 and SSE state are now in use, or XRSTOR would load their init values.
    x.writeBigUInt64LE(x.readBigUInt64LE(FX.xstateBv) | 3n, FX.xstateBv);
    this.setXsave(x);
  }

  /** The raw XSAVE area (legacy region, header, then extended components such as AVX). */
  getXsave(): Buffer {
    const b = Buffer.alloc(abi.kvm_xsave.size);
    sys.ioctlPtr(this.fd, abi.KVM_GET_XSAVE, b, 'KVM_GET_XSAVE');
    return b;
  }

  setXsave(b: Buffer): void {
    this.stateWrites++;
    sys.ioctlPtr(this.fd, abi.KVM_SET_XSAVE, b, 'KVM_SET_XSAVE');
  }

  /** ymm0..15 when the guest's XSAVE state has AVX (component 2), else undefined. */
  getYmm(): Buffer[] | undefined {
    const x = this.getXsave();
    if (!(x.readBigUInt64LE(FX.xstateBv) & 4n)) return undefined;
    return Array.from({ length: 16 }, (_, i) =>
      Buffer.concat([x.subarray(FX.xmm + 16 * i, FX.xmm + 16 * (i + 1)), x.subarray(FX.ymmHi + 16 * i, FX.ymmHi + 16 * (i + 1))]));
  }

  // --- MSRs --------------------------------------------------------------------------------

  getMsrs(indices: number[]): Map<number, bigint> {
    const b = this.msrsBuffer(indices);
    const n = sys.ioctlPtr(this.fd, abi.KVM_GET_MSRS, b, 'KVM_GET_MSRS');
    const out = new Map<number, bigint>();
    for (let i = 0; i < n; i++) {
      const e = abi.kvm_msrs.entries + i * abi.kvm_msr_entry.size;
      out.set(b.readUInt32LE(e + abi.kvm_msr_entry.index), b.readBigUInt64LE(e + abi.kvm_msr_entry.data));
    }
    return out;
  }

  getMsr(index: number): bigint {
    const v = this.getMsrs([index]).get(index);
    if (v === undefined) throw new Error(`MSR 0x${index.toString(16)} cannot be read`);
    return v;
  }

  setMsrs(values: Map<number, bigint>): void {
    this.stateWrites++;
    const indices = [...values.keys()];
    const b = this.msrsBuffer(indices);
    indices.forEach((idx, i) => {
      b.writeBigUInt64LE(BigInt.asUintN(64, values.get(idx)!),
        abi.kvm_msrs.entries + i * abi.kvm_msr_entry.size + abi.kvm_msr_entry.data);
    });
    this.invalidate(); // EFER, among others, is also a special register
    const n = sys.ioctlPtr(this.fd, abi.KVM_SET_MSRS, b, 'KVM_SET_MSRS');
    if (n !== indices.length) {
      throw new Error(`MSR 0x${indices[n].toString(16)} cannot be written`);
    }
  }

  private msrsBuffer(indices: number[]): Buffer {
    const b = Buffer.alloc(abi.kvm_msrs.size + indices.length * abi.kvm_msr_entry.size);
    b.writeUInt32LE(indices.length, abi.kvm_msrs.nmsrs);
    indices.forEach((idx, i) =>
      b.writeUInt32LE(idx, abi.kvm_msrs.entries + i * abi.kvm_msr_entry.size + abi.kvm_msr_entry.index));
    return b;
  }

  // --- debug registers and guest debug -----------------------------------------------------

  getDebugRegs(): DebugRegs {
    const b = Buffer.alloc(abi.kvm_debugregs.size);
    sys.ioctlPtr(this.fd, abi.KVM_GET_DEBUGREGS, b, 'KVM_GET_DEBUGREGS');
    return {
      dr: [0, 1, 2, 3].map((i) => b.readBigUInt64LE(abi.kvm_debugregs.db + 8 * i)) as DebugRegs['dr'],
      dr6: b.readBigUInt64LE(abi.kvm_debugregs.dr6),
      dr7: b.readBigUInt64LE(abi.kvm_debugregs.dr7),
    };
  }

  setDebugRegs(d: DebugRegs): void {
    const b = Buffer.alloc(abi.kvm_debugregs.size);
    d.dr.forEach((v, i) => b.writeBigUInt64LE(v, abi.kvm_debugregs.db + 8 * i));
    b.writeBigUInt64LE(d.dr6, abi.kvm_debugregs.dr6);
    b.writeBigUInt64LE(d.dr7, abi.kvm_debugregs.dr7);
    sys.ioctlPtr(this.fd, abi.KVM_SET_DEBUGREGS, b, 'KVM_SET_DEBUGREGS');
  }

  /**
   * KVM_SET_GUEST_DEBUG, skipped when nothing changed since the last call. Callers pass the
   * same array object for the same registers (the breakpoint table caches them), so the
   * encoded struct is kept for the last two (control, array) states and a change costs just
   * the ioctl: a breakpoint hit and continue switches between two such states at every hit.
   */
  /** Has the next setGuestDebug make the ioctl even when nothing changed (Machine.renewStepTrap). */
  forgetGuestDebug(): void {
    this.lastControl = -1;
  }

  setGuestDebug(control: number, debugreg: readonly bigint[]): void {
    if (control === this.lastControl && debugreg === this.lastDebugRegs) return;
    let b: Buffer;
    if (control === this.prevControl && debugreg === this.prevDebugRegs) {
      b = this.prevDebugStruct;
    } else {
      b = Buffer.alloc(abi.kvm_guest_debug.size);
      b.writeUInt32LE(control >>> 0, abi.kvm_guest_debug.control);
      debugreg.forEach((v, i) => b.writeBigUInt64LE(v, abi.kvm_guest_debug.debugreg + 8 * i));
    }
    sys.ioctlPtr(this.fd, abi.KVM_SET_GUEST_DEBUG, b, 'KVM_SET_GUEST_DEBUG');
    this.prevControl = this.lastControl;
    this.prevDebugRegs = this.lastDebugRegs;
    this.prevDebugStruct = this.lastDebugStruct;
    this.lastControl = control;
    this.lastDebugRegs = debugreg;
    this.lastDebugStruct = b;
  }

  // --- events and MP state -----------------------------------------------------------------

  /** The local APIC's register page (KVM_GET_LAPIC). */
  getLapic(): Buffer {
    const b = Buffer.alloc(abi.kvm_lapic_state.size);
    sys.ioctlPtr(this.fd, abi.KVM_GET_LAPIC, b, 'KVM_GET_LAPIC');
    return b;
  }

  /** KVM_GET_VCPU_EVENTS, into a new kvm_vcpu_events. */
  private readEvents(): Buffer {
    const b = Buffer.alloc(abi.kvm_vcpu_events.size);
    sys.ioctlPtr(this.fd, abi.KVM_GET_VCPU_EVENTS, b, 'KVM_GET_VCPU_EVENTS');
    return b;
  }

  /**
   * KVM_SET_VCPU_EVENTS from `b` (from readEvents, changed), with `flags` saying which optional
   * parts KVM takes from it (0: NMI, SIPI and shadow state stay as they are). kvm_run's copy of
   * the events is then out of date.
   */
  private writeEvents(b: Buffer, flags = 0): void {
    this.stateWrites++;
    b.writeUInt32LE(flags, abi.kvm_vcpu_events.flags);
    this.eventsInRun = false;
    sys.ioctlPtr(this.fd, abi.KVM_SET_VCPU_EVENTS, b, 'KVM_SET_VCPU_EVENTS');
  }

  getEvents(): VcpuEvents {
    const b = this.readEvents();
    const o = abi.kvm_vcpu_events;
    return {
      exception: {
        injected: !!b[o.exception_injected], nr: b[o.exception_nr],
        hasErrorCode: !!b[o.exception_has_error_code], pending: !!b[o.exception_pending],
        errorCode: b.readUInt32LE(o.exception_error_code),
      },
      interrupt: {
        injected: !!b[o.interrupt_injected], nr: b[o.interrupt_nr], soft: !!b[o.interrupt_soft],
        shadow: b[o.interrupt_shadow],
      },
      nmi: { injected: !!b[o.nmi_injected], pending: !!b[o.nmi_pending], masked: !!b[o.nmi_masked] },
    };
  }

  /**
   * Takes out of the way an external interrupt KVM has begun to inject (the events'
   * interrupt.injected: acknowledged at the interrupt controller, and delivered at the next entry
   * whatever RFLAGS.IF or KVM_GUESTDBG_BLOCKIRQ say, as when a pause cut its injection short).
   * Returns what puts it back for the next entry, or undefined when there is none.
   */
  setAsideInjectedInterrupt(): (() => void) | undefined {
    const o = abi.kvm_vcpu_events;
    this.eventsReadHere = true;
    // Where the last exit stored the events in kvm_run, most held steps (nothing injected) end here.
    if (this.eventsInRun && !this.run[abi.kvm_run.sync_events + o.interrupt_injected]) return undefined;
    const b = this.readEvents();
    if (!b[o.interrupt_injected]) return undefined;
    const nr = b[o.interrupt_nr], soft = b[o.interrupt_soft];
    b[o.interrupt_injected] = 0;
    this.writeEvents(b);
    return () => {
      const now = this.readEvents();
      now[o.interrupt_injected] = 1;
      now[o.interrupt_nr] = nr;
      now[o.interrupt_soft] = soft;
      this.writeEvents(now);
    };
  }

  /**
   * Drops the #UD that KVM queues with an emulation failure at CPL0 (x86.c
   * handle_emulation_failure queues it, then exits to us). Where the monitor completes the
   * instruction itself (its code page taken out for a watch, an int3 it owns) the guest must
   * never see it: with no IDT yet it would triple-fault. Returns whether there was one.
   */
  dropQueuedUd(): boolean {
    const o = abi.kvm_vcpu_events;
    const b = this.readEvents();
    if (b[o.exception_nr] !== UD_VECTOR || !(b[o.exception_injected] || b[o.exception_pending])) return false;
    b[o.exception_injected] = 0;
    b[o.exception_pending] = 0;
    this.writeEvents(b);
    return true;
  }

  /**
   * Ends the one-instruction interrupt shadow of an `sti` or a `mov ss`: for an instruction the
   * monitor ran in the guest's place, after which the CPU would have ended it.
   */
  endInterruptShadow(): void {
    const b = this.readEvents();
    if (!b[abi.kvm_vcpu_events.interrupt_shadow]) return;
    b[abi.kvm_vcpu_events.interrupt_shadow] = 0;
    this.writeEvents(b, abi.KVM_VCPUEVENT_VALID_SHADOW);
  }

  /** Injects an exception (vector, optional error code) to be delivered at the next entry. */
  injectException(vector: number, errorCode?: number): void {
    const b = this.readEvents();
    const o = abi.kvm_vcpu_events;
    b[o.exception_injected] = 1;
    b[o.exception_pending] = 0;
    b[o.exception_nr] = vector;
    b[o.exception_has_error_code] = errorCode === undefined ? 0 : 1;
    b.writeUInt32LE(errorCode ?? 0, o.exception_error_code);
    b[o.exception_has_payload] = 0;
    this.writeEvents(b);
  }

  getMpState(): number {
    const b = Buffer.alloc(4);
    sys.ioctlPtr(this.fd, abi.KVM_GET_MP_STATE, b, 'KVM_GET_MP_STATE');
    return b.readUInt32LE(0);
  }

  setMpState(state: number): void {
    this.stateWrites++;
    const b = Buffer.alloc(4);
    b.writeUInt32LE(state, 0);
    sys.ioctlPtr(this.fd, abi.KVM_SET_MP_STATE, b, 'KVM_SET_MP_STATE');
  }

  setCpuid(entries: Buffer): void {
    sys.ioctlPtr(this.fd, abi.KVM_SET_CPUID2, entries, 'KVM_SET_CPUID2');
  }

  destroy(): void {
    sys.munmap(this.runAddr, this.runSize);
    sys.close(this.fd);
  }
}

function readSegment(b: Buffer, off: number): Segment {
  const o = abi.kvm_segment;
  return {
    base: b.readBigUInt64LE(off + o.base),
    limit: b.readUInt32LE(off + o.limit),
    selector: b.readUInt16LE(off + o.selector),
    type: b[off + o.type],
    present: !!b[off + o.present],
    dpl: b[off + o.dpl],
    db: !!b[off + o.db],
    s: !!b[off + o.s],
    l: !!b[off + o.l],
    g: !!b[off + o.g],
    avl: !!b[off + o.avl],
    unusable: !!b[off + o.unusable],
  };
}

function writeSegment(b: Buffer, off: number, s: Segment): void {
  const o = abi.kvm_segment;
  b.writeBigUInt64LE(BigInt.asUintN(64, s.base), off + o.base);
  b.writeUInt32LE(s.limit >>> 0, off + o.limit);
  b.writeUInt16LE(s.selector, off + o.selector);
  b[off + o.type] = s.type;
  b[off + o.present] = +s.present;
  b[off + o.dpl] = s.dpl;
  b[off + o.db] = +s.db;
  b[off + o.s] = +s.s;
  b[off + o.l] = +s.l;
  b[off + o.g] = +s.g;
  b[off + o.avl] = +s.avl;
  b[off + o.unusable] = +s.unusable;
}

function readDtable(b: Buffer, off: number): DTable {
  return { base: b.readBigUInt64LE(off + abi.kvm_dtable.base), limit: b.readUInt16LE(off + abi.kvm_dtable.limit) };
}

function writeDtable(b: Buffer, off: number, d: DTable): void {
  b.writeBigUInt64LE(BigInt.asUintN(64, d.base), off + abi.kvm_dtable.base);
  b.writeUInt16LE(d.limit, off + abi.kvm_dtable.limit);
}
