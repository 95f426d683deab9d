// How a stop is told to the client: a StoppedEvent's reason and text, or the end of the session.
// A pure function of the stop, its detail and the exception filters, so each case is testable
// without a guest.
import { describeStop, tripleFaultState } from '../vmm/debug/stops.js';
import type { StopDetail, TargetStop } from '../debugger/target.js';
import type { ExceptionFilters } from './exception-filters.js';

export type StopReport =
  /** A StoppedEvent; `text` is also the exception's description when the reason is 'exception'. */
  | { kind: 'stopped'; reason: string; text?: string; hit?: number[] }
  /** The guest is done: an ExitedEvent with `code`, after `message` on the console if any. */
  | { kind: 'ended'; code: number; message?: string };

const exception = (text: string): StopReport => ({ kind: 'stopped', reason: 'exception', text });

export function reportStop(stop: TargetStop, detail: StopDetail, filters: Pick<ExceptionFilters, 'has'>): StopReport {
  switch (stop.kind) {
    case 'exit':
      return { kind: 'ended', code: stop.status };
    case 'reset':
    case 'poweroff':
      return { kind: 'ended', code: 0, message: `kvmdbg: ${describeStop(stop)}` };
    case 'breakpoint':
    case 'watchpoint':
      // Without ids, the breakpoint was a stepper's own (step over, step out): the step ended.
      return detail.ids ? { kind: 'stopped', reason: detail.reason!, text: detail.text, hit: detail.ids } : { kind: 'stopped', reason: 'step' };
    case 'step':
    case 'pause':
      // A step's text: the start of the recorded history, say.
      return detail.text ? { kind: 'stopped', reason: stop.kind, text: detail.text } : { kind: 'stopped', reason: stop.kind };
    case 'kernel-entry':
      // A step that ran the kernel's first instruction at a virtual address: the step ended.
      return { kind: 'stopped', reason: 'step' };
    case 'mode-switch':
      return exception(`CPU mode switch: ${stop.from} → ${stop.to}`);
    case 'port-io': {
      const s = stop.size > 1 ? 's' : '';
      return exception(`Port I/O: ${stop.write ? 'out' : 'in'} 0x${stop.port.toString(16)} ${stop.write ? '<-' : '->'} 0x${stop.value.toString(16)} (${stop.size} byte${s})`);
    }
    case 'triple-fault':
      if (!filters.has('triple-fault')) return { kind: 'ended', code: 4, message: `kvmdbg: ${describeStop(stop)}; the session ends (the "Triple fault" exception filter is off)` };
      return exception(`Triple fault: the CPU shut down (KVM_EXIT_SHUTDOWN); ${tripleFaultState(stop)}`);
    case 'halted':
      if (!filters.has('halt')) return { kind: 'ended', code: 6, message: `kvmdbg: ${describeStop(stop)}; the session ends` };
      return exception(`Halt with interrupts off: ${describeStop(stop)}`);
    case 'guest-int3':
      return exception(`Guest int3 at 0x${stop.address.toString(16)}: its #BP handler runs when you continue`);
    default:
      return exception(describeStop(stop));
  }
}
