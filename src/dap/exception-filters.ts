// The exception breakpoint filters: what the Breakpoints view offers besides breakpoints, and
// what the chosen ones ask of the machine (guest int3 and port I/O stops) and of the session
// (which stops end it, which run is watched for mode switches).
import type { DebugProtocol } from '@vscode/debugprotocol';
import { GuestError } from '../errors.js';
import type { Machine } from '../vmm/machine.js';
import { guestInt3Unseen, int3Reaches } from '../vmm/host.js';

export type FilterId = 'triple-fault' | 'guest-int3' | 'halt' | 'mode-switch' | 'port-io';

/** The exception breakpoint filters, as the Breakpoints view shows them. */
export const EXCEPTION_FILTERS: (DebugProtocol.ExceptionBreakpointsFilter & { filter: FilterId })[] = [
  { filter: 'triple-fault', label: 'Triple fault', default: true,
    description: 'Stop when the CPU shuts down (KVM_EXIT_SHUTDOWN), with its state kept for inspection. Off: the session ends.' },
  { filter: 'guest-int3', label: 'Guest int3', default: false,
    description: "Stop at the guest's own int3 instructions before its #BP handler runs." },
  { filter: 'halt', label: 'Halt with interrupts off', default: true,
    description: 'Stop when a vCPU executes hlt with interrupts disabled (it could never wake). Off: the session ends.' },
  { filter: 'mode-switch', label: 'CPU mode switch', default: false,
    description: 'Stop after an instruction changes CR0.PE, CR0.PG or EFER.LMA. The guest is single-stepped to catch it: it runs many times slower.' },
  { filter: 'port-io', label: 'Port I/O', default: false, supportsCondition: true,
    conditionDescription: 'Ports to watch: 0x3f8, 0x3f8-0x3ff, or several separated by commas',
    description: 'Stop after an in or out instruction on the given ports.' },
];

/** Parses a port filter condition: "0x3f8", "0x3f8-0x3ff", "0x60, 0x64". */
export function parsePortRanges(text: string): { from: number; to: number }[] {
  if (!text.trim()) throw new GuestError('the Port I/O filter needs ports to watch, e.g. 0x3f8-0x3ff');
  return text.split(',').map((part) => {
    const m = /^\s*(0x[0-9a-f]+|\d+)\s*(?:-\s*(0x[0-9a-f]+|\d+))?\s*$/i.exec(part);
    const from = m ? Number(m[1]) : NaN;
    const to = m?.[2] ? Number(m[2]) : from;
    if (!m || from > 0xffff || to > 0xffff || to < from) throw new GuestError(`"${part.trim()}" is not a port or port range (0 to 0xffff, e.g. 0x3f8-0x3ff)`);
    return { from, to };
  });
}

export class ExceptionFilters {
  private enabled = new Set<string>(EXCEPTION_FILTERS.filter((f) => f.default).map((f) => f.filter));
  private ports: { from: number; to: number }[] = [];

  has(filter: FilterId): boolean {
    return this.enabled.has(filter);
  }

  /**
   * Takes the view's choice and answers it per filter. Bad input (an unknown filter, ports that
   * don't parse) throws before anything changes.
   */
  set(options: DebugProtocol.ExceptionFilterOptions[], m: Machine | undefined): DebugProtocol.Breakpoint[] {
    const unknown = options.find((o) => !EXCEPTION_FILTERS.some((f) => f.filter === o.filterId));
    if (unknown) throw new GuestError(`unknown exception filter "${unknown.filterId}"`);
    const port = options.find((o) => o.filterId === 'port-io');
    const ranges = port ? parsePortRanges(port.condition ?? '') : [];
    this.enabled = new Set(options.map((o) => o.filterId));
    this.ports = ranges;
    if (m) this.applyTo(m);
    const unseen = m && guestInt3Unseen(m.host);
    const int3: DebugProtocol.Breakpoint = unseen ? { verified: int3Reaches(m.host, 'some'), message: unseen } : { verified: true };
    return options.map((o) => (o.filterId === 'guest-int3' ? int3 : { verified: true }));
  }

  /** Tells a (new) machine which of its own stops are wanted. */
  applyTo(m: Machine): void {
    m.stopOnGuestInt3 = this.has('guest-int3');
    m.setPortWatches(this.has('port-io') ? this.ports : []);
  }
}
