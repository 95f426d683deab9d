// The monitor side of bench/run.ts: the same four measurements as bench/ref.c, made through the
// Machine API. One fresh Machine per metric, as ref.c makes one fresh VM per metric.
// Machine.step() and run() return the Stop itself when it is there at once, and a Promise only
// when they have to wait (a slice of the event loop); these loops take the direct result, as
// any tight loop over the monitor can, instead of paying a microtask turn for an `await` on
// every call.
//
// With --floor, the same measurements bypass the Machine: ref.c's exact call sequence, made
// through the monitor's own koffi bindings (Vcpu.enter, sys.ioctlPtr) in plain synchronous
// loops, on a VM the Machine set up. That is the most a JavaScript monitor on koffi can reach
// on this host, whatever the run loop does.
//
// usage: node --import tsx bench/monitor.ts [--floor] SPIN.bin IO.bin BP_ADDR IO_COUNT DURATION_MS WARMUP_MS [METRIC...]
// prints one JSON object with the same keys as ref.c.
import { statSync } from 'node:fs';
import { Machine } from '../src/vmm/machine.js';
import { profileStart, profileStop } from './profile.js';
import type { Vcpu } from '../src/vmm/vcpu.js';
import * as abi from '../src/vmm/kvm/abi.js';
import * as sys from '../src/vmm/kvm/sys.js';

const LOAD_ADDRESS = 0x100000;

/** RIP as read at the last step must lie in the guest, as ref.c checks too. */
function checkRip(rip: bigint, image: string): void {
  if (rip < BigInt(LOAD_ADDRESS) || rip >= BigInt(LOAD_ADDRESS + statSync(image).size)) {
    throw new Error(`RIP 0x${rip.toString(16)} after a step is outside the guest`);
  }
}

function machine(image: string): Machine {
  return new Machine({ image, format: 'flat', loadAddress: LOAD_ADDRESS, mode: 'long', serial: () => {} });
}

/** Single steps for `dur` seconds after `warm` seconds, optionally reading the registers each step. */
async function benchStep(spin: string, withRegs: boolean, dur: number, warm: number): Promise<[number, number]> {
  const m = machine(spin);
  try {
    await profileStart();
    const t0 = performance.now() / 1e3;
    let start = 0, n = 0, measuring = false, rip = BigInt(LOAD_ADDRESS);
    for (;;) {
      for (let i = 0; i < 256; i++) {
        let s = m.step();
        if (s instanceof Promise) s = await s;
        if (s.kind !== 'step') throw new Error(`single-step stopped with ${JSON.stringify(s, bigints)}`);
        if (withRegs) rip = m.vcpu(0).loadRegs()[16];
      }
      const t = performance.now() / 1e3;
      if (!measuring) {
        if (t - t0 >= warm) { measuring = true; start = t; }
        continue;
      }
      n += 256;
      if (t - start >= dur) {
        await profileStop(withRegs ? 'stepRegs' : 'step');
        checkRip(rip, spin);
        return [n / (t - start), n];
      }
    }
  } finally {
    await m.destroy();
  }
}

/** One run() over the I/O guest: IO_COUNT exits to port 0x80, then the debug-exit port. */
async function benchIo(io: string, count: number): Promise<[number, number]> {
  const m = machine(io);
  try {
    await profileStart();
    const t0 = performance.now();
    const s = await m.run();
    const t1 = performance.now();
    await profileStop('io');
    if (s.kind !== 'exit') throw new Error(`the I/O guest stopped with ${JSON.stringify(s, bigints)}`);
    const done = Number(m.getRegs().rbx);
    if (done !== count) throw new Error(`the I/O guest made ${done} outs, expected ${count}`);
    return [((t1 - t0) * 1e3) / count, count];
  } finally {
    await m.destroy();
  }
}

/** A hardware execute breakpoint in the spin loop, continued with run() from every hit. */
async function benchBp(spin: string, bp: bigint, dur: number, warm: number): Promise<[number, number, number]> {
  const m = machine(spin);
  try {
    m.addHardwareBreakpoint(bp, 'execute');
    const check = (s: Awaited<ReturnType<Machine['run']>>) => {
      if (s.kind !== 'breakpoint' || s.address !== bp) throw new Error(`expected a breakpoint hit, got ${JSON.stringify(s, bigints)}`);
    };
    check(await m.run());
    await profileStart();
    const t0 = performance.now() / 1e3;
    let start = 0, n = 0, measuring = false;
    for (;;) {
      for (let i = 0; i < 64; i++) {
        const s = m.run();
        check(s instanceof Promise ? await s : s);
      }
      const t = performance.now() / 1e3;
      if (!measuring) {
        if (t - t0 >= warm) { measuring = true; start = t; }
        continue;
      }
      n += 64;
      if (t - start >= dur) {
        await profileStop('bp');
        return [n / (t - start), n, m.host.resumeFlag ? 1 : 0];
      }
    }
  } finally {
    await m.destroy();
  }
}

// --- the floor: ref.c's loops over the monitor's koffi bindings ---------------------------

const DBG_BASE = abi.KVM_GUESTDBG_ENABLE | abi.KVM_GUESTDBG_USE_SW_BP;

function guestDebugBuffer(control: number, dr0: bigint, dr7: bigint): Buffer {
  const b = Buffer.alloc(abi.kvm_guest_debug.size);
  b.writeUInt32LE(control, abi.kvm_guest_debug.control);
  b.writeBigUInt64LE(dr0, abi.kvm_guest_debug.debugreg);
  b.writeBigUInt64LE(dr7, abi.kvm_guest_debug.debugreg + 7 * 8);
  return b;
}

/** Calls `batch` (which does `per` operations) for `dur` seconds after `warm`; returns [rate, count]. */
function timed(batch: () => void, per: number, dur: number, warm: number): [number, number] {
  const t0 = performance.now() / 1e3;
  let start = 0, n = 0, measuring = false;
  for (;;) {
    batch();
    const t = performance.now() / 1e3;
    if (!measuring) {
      if (t - t0 >= warm) { measuring = true; start = t; }
      continue;
    }
    n += per;
    if (t - start >= dur) return [n / (t - start), n];
  }
}

function expectExit(v: Vcpu, rc: number, reason: number, what: string): void {
  if (rc < 0) throw new sys.SysError(`KVM_RUN (${what})`, -rc);
  const got = v.run.readUInt32LE(abi.kvm_run.exit_reason);
  if (got !== reason) throw new Error(`${what}: exit reason ${got}, expected ${reason}`);
}

async function floorStep(spin: string, withRegs: boolean, dur: number, warm: number): Promise<[number, number]> {
  const m = machine(spin);
  try {
    const v = m.vcpu(0);
    sys.ioctlPtr(v.fd, abi.KVM_SET_GUEST_DEBUG, guestDebugBuffer(DBG_BASE | abi.KVM_GUESTDBG_SINGLESTEP, 0n, 0n), 'KVM_SET_GUEST_DEBUG');
    let rip = BigInt(LOAD_ADDRESS);
    const rate = timed(() => {
      for (let i = 0; i < 256; i++) {
        expectExit(v, v.enter(), abi.KVM_EXIT.DEBUG, 'single-step');
        if (withRegs) rip = v.loadRegs()[16];
      }
    }, 256, dur, warm);
    checkRip(rip, spin);
    return rate;
  } finally {
    await m.destroy();
  }
}

async function floorIo(io: string, count: number): Promise<[number, number]> {
  const m = machine(io);
  try {
    const v = m.vcpu(0), run = v.run;
    let n = 0;
    const t0 = performance.now();
    for (;;) {
      expectExit(v, v.enter(), abi.KVM_EXIT.IO, 'port I/O');
      if (run.readUInt16LE(abi.kvm_run.io_port) === 0xf4) break;
      n++;
    }
    const t1 = performance.now();
    if (n !== count) throw new Error(`${n} I/O exits, expected ${count}`);
    return [((t1 - t0) * 1e3) / n, n];
  } finally {
    await m.destroy();
  }
}

async function floorBp(spin: string, bp: bigint, dur: number, warm: number): Promise<[number, number, number]> {
  const m = machine(spin);
  try {
    const v = m.vcpu(0), run = v.run;
    const hw = DBG_BASE | abi.KVM_GUESTDBG_USE_HW_BP;
    const armed = guestDebugBuffer(hw, bp, 1n | (1n << 8n));
    const disarmed = guestDebugBuffer(hw | abi.KVM_GUESTDBG_SINGLESTEP, 0n, 0n);
    sys.ioctlPtr(v.fd, abi.KVM_SET_GUEST_DEBUG, armed, 'KVM_SET_GUEST_DEBUG');
    expectExit(v, v.enter(), abi.KVM_EXIT.DEBUG, 'first breakpoint hit');
    const hit = () => {
      expectExit(v, v.enter(), abi.KVM_EXIT.DEBUG, 'breakpoint hit');
      if (!(run.readUInt32LE(abi.kvm_run.debug_dr6) & 1)) throw new Error('expected a DR0 hit');
    };
    // As the machine continues (and ref.c): over RFLAGS.RF where the host honours it.
    const rf = m.host.resumeFlag;
    const [rate, n] = timed(rf ? () => {
      for (let i = 0; i < 64; i++) {
        v.setResumeFlag();
        hit();
      }
    } : () => {
      for (let i = 0; i < 64; i++) {
        sys.ioctlPtr(v.fd, abi.KVM_SET_GUEST_DEBUG, disarmed, 'KVM_SET_GUEST_DEBUG');
        expectExit(v, v.enter(), abi.KVM_EXIT.DEBUG, 'step over breakpoint');
        sys.ioctlPtr(v.fd, abi.KVM_SET_GUEST_DEBUG, armed, 'KVM_SET_GUEST_DEBUG');
        hit();
      }
    }, 64, dur, warm);
    return [rate, n, rf ? 1 : 0];
  } finally {
    await m.destroy();
  }
}

function bigints(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `0x${v.toString(16)}` : v;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const floor = args[0] === '--floor';
  if (floor) args.shift();
  const [spin, io, bpText, countText, durText, warmText, ...rest] = args;
  if (!warmText) {
    console.error('usage: monitor.ts [--floor] SPIN.bin IO.bin BP_ADDR IO_COUNT DURATION_MS WARMUP_MS [step|stepRegs|io|bp]...');
    process.exit(2);
  }
  const bp = BigInt(bpText), count = Number(countText);
  const dur = Number(durText) / 1e3, warm = Number(warmText) / 1e3;
  const out: Record<string, number> = {};
  for (const metric of rest.length ? rest : ['step', 'stepRegs', 'io', 'bp']) {
    if (metric === 'step') [out.step, out.stepCount] = await (floor ? floorStep : benchStep)(spin, false, dur, warm);
    else if (metric === 'stepRegs') [out.stepRegs, out.stepRegsCount] = await (floor ? floorStep : benchStep)(spin, true, dur, warm);
    else if (metric === 'io') [out.ioUs, out.ioCount] = await (floor ? floorIo : benchIo)(io, count);
    else if (metric === 'bp') [out.bpHits, out.bpCount, out.bpResumeFlag] = await (floor ? floorBp : benchBp)(spin, bp, dur, warm);
    else throw new Error(`unknown metric ${metric}`);
  }
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
