// Facts about this machine's KVM that decide what a test can ask of it, each measured here by
// running a guest built from source (once per test process), never assumed from the host's name.
// Where a fact rules a guest out, the test adapts, saying so: a variant of the guest without what
// the host can't run, or the part of it the host reaches. On kvm_pvm, scripts/run-tests.sh runs
// the same files in the test VM as well, where each test checks everything it names.
import { Machine } from '../../src/vmm/machine.js';
import type { Stop } from '../../src/vmm/debug/stops.js';
import { buildFlat32, buildFlat64 } from '../guests/build.js';

/**
 * The stop a flat guest at 1 MiB comes to, in `mode`, within `ms` (then paused), run with no
 * breakpoint or step; `read` looks at its memory before the machine goes.
 */
async function runProbe(bin: string, mode: 'protected' | 'long', read?: (m: Machine) => void, ms = 5000): Promise<Stop> {
  const m = new Machine({ image: bin, format: 'flat', loadAddress: 0x100000, mode, serial: () => {} });
  const timer = setTimeout(() => m.pause(), ms);
  try {
    const stop = await m.run();
    read?.(m);
    return stop;
  } finally {
    clearTimeout(timer);
    await m.destroy();
  }
}

/** isa-debug-exit's status for the 0x21 the probes and most test guests write: (0x21 << 1) | 1. */
const EXIT_21 = 67;

const said = (s: Stop) => (s.kind === 'internal-error' ? s.description : s.kind === 'exit' ? `exit ${s.status}` : s.kind);

/** What a probe's stop says against the host: nothing where it wrote 0x21 to isa-debug-exit (all ran), else what stopped it, after `prefix`. */
const failure = (s: Stop, prefix = ''): string | undefined => (s.kind === 'exit' && s.status === EXIT_21 ? undefined : `${prefix}${said(s)}`);

let sse: Promise<string | undefined> | undefined;
/** Undefined where SSE runs at ring 0; else what the probe guest (guests/sse64.S) came to. */
export function ring0SseFails(): Promise<string | undefined> {
  return (sse ??= runProbe(buildFlat64('sse64').bin, 'long').then((s) => failure(s)));
}

/**
 * The variant of a guest to run here (guests/toolchain.ts variant): undefined, the guest as
 * written, where `fails` (a fact) holds nothing against it; else `define`, said to `t` with the
 * fact and what `lacks`.
 */
async function variantFor<D extends string>(t: { diagnostic(s: string): void }, fails: Promise<string | undefined>, lacks: string, define: D): Promise<D | undefined> {
  const why = await fails;
  if (why === undefined) return undefined;
  t.diagnostic(`${lacks} on this host's KVM (${why}): the guest is built with ${define}`);
  return define;
}

/**
 * The variant of a guest with ring-0 SSE to run here: 'NO_SSE' (the same work with integer
 * instructions) where the probe finds SSE failing at ring 0. The FPU/SSE half of what such a
 * test checks then holds only where SSE runs.
 */
export function sseVariant(t: { diagnostic(s: string): void }): Promise<'NO_SSE' | undefined> {
  return variantFor(t, ring0SseFails(), 'SSE does not run at ring 0 (guests/sse64.S)', 'NO_SSE');
}

let iret: Promise<string | undefined> | undefined;
/** Undefined where a 32-bit protected-mode `iret` runs; else what the probe (guests/iret32.S) came to. */
export function iret32Fails(): Promise<string | undefined> {
  return (iret ??= runProbe(buildFlat32('iret32').bin, 'protected').then((s) => failure(s)));
}

/**
 * The variant of the keyboard guest (guests/screen/kbd.S) to run here: 'NO_IRET32' (its handler
 * returns with popf and ret) where the probe finds a 32-bit `iret` failing at ring 0.
 */
export function iret32Variant(t: { diagnostic(s: string): void }): Promise<'NO_IRET32' | undefined> {
  return variantFor(t, iret32Fails(), 'a 32-bit iret does not run at ring 0 (guests/iret32.S)', 'NO_IRET32');
}

let paging32: Promise<string | undefined> | undefined;
/** Undefined where 32-bit protected mode can turn paging on; else what the probe (guests/paging32.S) came to. */
export function paging32Fails(): Promise<string | undefined> {
  return (paging32 ??= runProbe(buildFlat32('paging32').bin, 'protected').then((s) => failure(s)));
}

/** The variant of a 32-bit guest that turns paging on: 'NO_PAGING' (that part left out) where the probe finds it failing. */
export function paging32Variant(t: { diagnostic(s: string): void }): Promise<'NO_PAGING' | undefined> {
  return variantFor(t, paging32Fails(), 'paging cannot be turned on in 32-bit protected mode (guests/paging32.S)', 'NO_PAGING');
}

let ring3: Promise<string | undefined> | undefined;
/**
 * Undefined where ring 3's exceptions and interrupts enter ring 0; else what guests/user64.S
 * (ring 0 to ring 3, then #UD, `int $0x80` and `int $0x81`, whose ring-0 handler writes
 * isa-debug-exit) came to, run live.
 */
export function ring3EventsFail(): Promise<string | undefined> {
  return (ring3 ??= runProbe(buildFlat64('user64').bin, 'long').then((s) => failure(s, 'guests/user64.S run live: ')));
}

let dataIret: Promise<string | undefined> | undefined;
/**
 * Undefined where an iretq to a data segment raises #GP; else what guests/protection64.S, run
 * live, counted: its handlers count the #GPs and the #SS (the last #GP is the iretq's).
 */
export function iretqToDataSegmentPasses(): Promise<string | undefined> {
  return (dataIret ??= (async () => {
    const { bin, syms } = buildFlat64('protection64');
    let faults = 0n;
    const read = (m: Machine) => {
      const c = m.readPhysical(Number(syms.counts), 40);
      faults = c.readBigUInt64LE(0) + c.readBigUInt64LE(32); // #GPs, and the #SS a non-canonical stack access raises on hardware
    };
    const s = await runProbe(bin, 'long', read);
    return faults === 4n ? undefined : `guests/protection64.S run live (${said(s)}) took ${faults} #GP/#SS of 4: its iretq to a data segment returned`;
  })());
}

let rate: Promise<number> | undefined;
/**
 * Ring-0 instructions a second: guests/spin64.S's loop (`inc %rax; jmp`, 2 instructions a turn,
 * no memory access) run for 300 ms, counted by RAX.
 */
export function ring0InstructionsPerSecond(): Promise<number> {
  return (rate ??= (async () => {
    const m = new Machine({ image: buildFlat64('spin64').bin, format: 'flat', loadAddress: 0x100000, mode: 'long', serial: () => {} });
    try {
      const t0 = performance.now();
      const timer = setTimeout(() => m.pause(), 300);
      await m.run();
      clearTimeout(timer);
      return (Number(m.getRegs().rax) * 2) / ((performance.now() - t0) / 1000);
    } finally {
      await m.destroy();
    }
  })());
}

/**
 * Ring-0 instructions a second that a Linux boot to its shell needs within the tests' limits:
 * Debian's kernel runs some 10^9-10^10 instructions to the shell, most at ring 0. The test VM's
 * nested KVM (under TCG) runs spin64.S's loop at hundreds of millions a second; kvm_pvm, which
 * emulates ring 0, at one or two million.
 */
const LINUX_RING0_RATE = 50e6;

/** Undefined where Linux can boot within the tests' limits; else why not, measured. */
export async function linuxBootTooSlow(): Promise<string | undefined> {
  const r = await ring0InstructionsPerSecond();
  return r >= LINUX_RING0_RATE ? undefined : `ring-0 code runs at ${(r / 1e6).toFixed(1)} M instructions/s here (guests/spin64.S), under the ${LINUX_RING0_RATE / 1e6} M/s a Linux boot needs`;
}
