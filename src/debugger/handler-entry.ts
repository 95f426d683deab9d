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
import { divideErrors, type Division } from '../x86/divide-error.js';
import { valueReader } from './stack.js';

export interface HandlerEntry {
  vector: number;
  /** Where the handler begins and where its frame goes. */
  at: InterruptEntry;
}

/** The entry of `vector`'s handler from this state, where a debug register is free to stop there. */
export function foreseeEntry(m: Machine, vcpu: number, vector: number, regs: Regs, sregs: Sregs, errorCode = false): HandlerEntry | undefined {
  if (!m.breakpoints.hw.includes(undefined)) return undefined;
  const at = interruptEntry(vector, regs, sregs, (l, n) => m.readLinear(vcpu, l, n), errorCode);
  return at && { vector, at };
}

/** Runs `step` with a debug register at `entry`'s handler; the stop there is the step's own. */
export async function stepToHandler(m: Machine, vcpu: number, entry: HandlerEntry | undefined, step: () => Stop | Promise<Stop>): Promise<Stop> {
  if (!entry) return step();
  const bp = m.addHardwareBreakpoint(entry.at.handler, 'execute');
  let stop: Stop;
  try {
    stop = await step();
  } finally {
    m.removeBreakpoint(bp);
  }
  return stop.kind === 'breakpoint' && stop.id === bp ? { kind: 'step', vcpu } : stop;
}

/**
 * Whether the step entered `entry`'s handler with its frame (RIP at the handler, RSP where the
 * frame ends); then the frame's RFLAGS image loses the trap flag, unless `guestTf` (the guest's own).
 */
export function enteredHandler(m: Machine, vcpu: number, entry: HandlerEntry | undefined, rsp: bigint, guestTf: boolean): boolean {
  if (!entry || m.linearRip(vcpu) !== entry.at.handler || rsp !== entry.at.rsp) return false;
  if (!guestTf) {
    const f = entry.at.flags;
    const image = m.readLinear(vcpu, f.linear, f.size);
    if (image[1] & 1) {
      image[1] &= ~1;
      m.writeLinear(vcpu, f.linear, image);
    }
  }
  return true;
}

/**
 * Whether the div or idiv about to run raises #DE: its divisor is `d.divisor`, or else the
 * `d.bytes` at linear `at`. A divisor in memory that cannot be read: not foreseen (the step
 * faults on the read instead).
 */
export function raisesDivideError(m: Machine, vcpu: number, d: Division & { divisor?: bigint }, at: bigint | undefined): boolean {
  const divisor = d.divisor ?? (at === undefined ? undefined : valueReader(m, vcpu)(at, d.bytes));
  return divisor !== undefined && divideErrors(d, divisor);
}
