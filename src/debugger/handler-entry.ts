// Entering an interrupt or exception handler as a step of its own. A single step that delivers
// one does not stop at the handler's first instruction everywhere: delivery clears RFLAGS.TF, so
// on SVM the handler runs whole inside the step, and an exception that KVM injects itself (#UD,
// which it intercepts) pushes a frame without the trap flag, so the handler's iret lets the guest
// run on. The step gets an execute debug register at the handler instead, and the frame's RFLAGS
// image loses the step's trap flag (the guest's iret must not take it).
import type { Machine } from '../vmm/machine.js';
import type { Stop } from '../vmm/debug/stops.js';
import { interruptEntry, type InterruptEntry } from '../x86/interrupt-frame.js';
import type { Regs, Sregs } from '../x86/registers.js';
import { DE_VECTOR, divideErrors, type Division } from '../x86/divide-error.js';
import { exceptionInfo, readField } from '../x86/descriptors.js';
import { protectionFaults } from '../x86/protection-faults.js';
import type { WriteSet } from './history/write-set.js';
import { valueReader } from './stack.js';

export interface HandlerEntry {
  vector: number;
  /** Where the handler begins and where its frame goes. */
  at: InterruptEntry;
}

/** #PF, the page fault. */
export const PF_VECTOR = 14;
/** No exception foreseen: raisedFaults' answer for nearly every instruction, not allocated each time. */
const NONE: readonly number[] = [];

/**
 * The entries of `vectors`' handlers from this state, as many as debug registers are free to
 * stop there. `exception`: the instruction raises them as exceptions (not `int n`, nor an
 * interrupt from outside), whose frames hold an error code where the SDM says (#GP, #PF...).
 */
export function foreseeEntries(m: Machine, vcpu: number, vectors: readonly number[], regs: Regs, sregs: Sregs, exception = false): HandlerEntry[] {
  const out: HandlerEntry[] = [];
  let free = m.breakpoints.hw.filter((slot) => slot === undefined).length;
  for (const vector of vectors) {
    if (free === 0) break;
    const at = interruptEntry(vector, regs, sregs, (l, n) => m.readLinear(vcpu, l, n), exception && (exceptionInfo(vector)?.errorCode ?? false));
    if (at) {
      out.push({ vector, at });
      free--;
    }
  }
  return out;
}

/**
 * The exceptions the instruction of `ws` may raise by itself from this state, as far as they are
 * foreseen, in the CPU's order: a #GP, #SS or #NP (protection-faults.ts), a page fault where
 * `pageFaults` says so, a division's #DE. Empty for none.
 */
export function raisedFaults(m: Machine, vcpu: number, ws: WriteSet, regs: Regs, sregs: Sregs, pageFaults = () => false): readonly number[] {
  const protection = ws.protection ? protectionFaults(ws.protection, regs, sregs, (l, n) => m.readLinear(vcpu, l, n)) : NONE;
  if (protection.length) return protection;
  if (pageFaults()) return [PF_VECTOR];
  return ws.divide && raisesDivideError(m, vcpu, ws.divide, ws.accesses[0]?.linear) ? [DE_VECTOR] : NONE;
}

/**
 * Runs `step` with a debug register at each of `entries`' handlers, and at `landing` where one
 * is free (iretLanding); a stop at one is the step's own.
 */
export async function stepToHandler(m: Machine, vcpu: number, entries: readonly HandlerEntry[], step: () => Stop | Promise<Stop>, landing?: bigint): Promise<Stop> {
  if (!entries.length && landing === undefined) return step();
  const bps: number[] = [];
  let stop: Stop;
  try {
    for (const e of entries) bps.push(m.addHardwareBreakpoint(e.at.handler, 'execute'));
    if (landing !== undefined && m.breakpoints.hw.includes(undefined)) bps.push(m.addHardwareBreakpoint(landing, 'execute'));
    stop = await step();
  } finally {
    for (const bp of bps) m.removeBreakpoint(bp);
  }
  return stop.kind === 'breakpoint' && bps.includes(stop.id) ? { kind: 'step', vcpu } : stop;
}

/**
 * Where an iret from 64-bit mode to ring 0 returns: its frame's RIP. A step over it gets a debug
 * register there too, because kvm_pvm with pvm_native was seen to run one instruction past an
 * iretq in a single step (README.md, Hosts). Elsewhere the step ends there first, and the
 * register costs nothing; ring 3 is left out, since kvm_pvm hands a debug exception at CPL3 to
 * the guest.
 */
export function iretLanding(m: Machine, vcpu: number, far: { kind: string; slot: number } | undefined, regs: Regs, sregs: Sregs): bigint | undefined {
  if (far?.kind !== 'iret' || !sregs.cs.l) return undefined;
  let frame: Buffer;
  try {
    frame = m.readLinear(vcpu, regs.rsp, 2 * far.slot);
  } catch {
    return undefined; // the iret faults on its own frame: foreseen as such, or not at all
  }
  return (readField(frame, far.slot, far.slot) & 3n) === 0n ? readField(frame, 0, far.slot) : undefined;
}

/**
 * Which of `entries` the step entered with its frame (RIP at the handler, RSP where the frame
 * ends); its frame's RFLAGS image then loses the trap flag, unless `guestTf` (the guest's own).
 */
export function enteredHandler(m: Machine, vcpu: number, entries: readonly HandlerEntry[], rsp: bigint, guestTf: boolean): HandlerEntry | undefined {
  const rip = entries.length ? m.linearRip(vcpu) : 0n;
  const entry = entries.find((e) => rip === e.at.handler && rsp === e.at.rsp);
  if (entry && !guestTf) {
    const f = entry.at.flags;
    const image = m.readLinear(vcpu, f.linear, f.size);
    if (image[1] & 1) {
      image[1] &= ~1;
      m.writeLinear(vcpu, f.linear, image);
    }
  }
  return entry;
}

/**
 * Whether the div or idiv about to run raises #DE: its divisor is `d.divisor`, or else the
 * `d.bytes` at linear `at`. A divisor in memory that cannot be read: not foreseen (the step
 * faults on the read instead).
 */
function raisesDivideError(m: Machine, vcpu: number, d: Division & { divisor?: bigint }, at: bigint | undefined): boolean {
  const divisor = d.divisor ?? (at === undefined ? undefined : valueReader(m, vcpu)(at, d.bytes));
  return divisor !== undefined && divideErrors(d, divisor);
}
