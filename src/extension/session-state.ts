// What the extension knows about one kvm debug session, followed from the DAP messages a
// DebugAdapterTracker sees: the host (kvm.host), the CPU mode at the last stop (kvm.mode),
// whether the guest runs, its serial output (kvm.serial), its exit status, and whether the launch
// succeeded (the serial terminal opens only then) or failed (and why). No vscode import.
import { KvmEvent, type HistoryBody, type HostBody } from '../protocol.js';


export type Phase = 'starting' | 'running' | 'stopped' | 'ended';

export interface SessionState {
  phase: Phase;
  host?: HostBody;
  /** The CPU mode of the stopped vCPU at the last stop, e.g. 'long mode (64-bit)'. */
  mode?: string;
  /** Each vCPU's mode as last announced (the adapter sends kvm.mode only when one changes). */
  modes: Record<number, string>;
  /** The vCPU of the last stop. */
  vcpu: number;
  /** The guest's exit status (from the `exited` event). */
  exitCode?: number;
  /** Stops so far; a view can tell whether what it shows is current. */
  stops: number;
  /** The phase before a run request, to go back to if the adapter refuses it. */
  beforeRun?: Phase;
  /** The launch request's answer: undefined until it comes. */
  launched?: boolean;
  /** The recorded history for reverse execution, as kvm.history last told it. */
  history?: HistoryBody;
}

/** What happened, for the views to react to. */
export type Effect =
  | { kind: 'host' }
  | { kind: 'mode' }
  | { kind: 'history' }
  | { kind: 'stopped'; reason: string }
  | { kind: 'running' }
  | { kind: 'serial'; data: Buffer }
  | { kind: 'exited'; code: number }
  | { kind: 'terminated' }
  | { kind: 'restarting' }
  | { kind: 'output'; text: string }
  /** The adapter accepted the launch: the guest is loaded. */
  | { kind: 'launched' }
  /** The adapter refused the launch: `message` says why (as VS Code shows it). */
  | { kind: 'launchFailed'; message: string };

/** Requests that set the guest running. */
export const RUN_REQUESTS = new Set(['continue', 'next', 'stepIn', 'stepOut', 'stepBack', 'reverseContinue', 'goto']);

export function initialState(): SessionState {
  return { phase: 'starting', vcpu: 0, stops: 0, modes: {} };
}

interface DapMessage {
  type?: string;
  command?: string;
  event?: string;
  success?: boolean;
  message?: string;
  body?: Record<string, unknown>;
}

/**
 * An error response's text as VS Code shows it: body.error's format with its {variables}
 * filled in, else the response's message.
 */
export function errorText(m: DapMessage): string {
  const e = m.body?.error as { format?: unknown; variables?: Record<string, unknown> } | undefined;
  if (e && typeof e.format === 'string' && e.format) {
    const vars = e.variables ?? {};
    return e.format.replace(/\{([^}]+)\}/g, (whole, name: string) => (Object.hasOwn(vars, name) ? String(vars[name]) : whole));
  }
  return typeof m.message === 'string' && m.message ? m.message : 'the adapter gave no reason';
}

/** A message the adapter sent (a tracker's onDidSendMessage). */
export function fromAdapter(s: SessionState, m: DapMessage): Effect[] {
  if (m.type === 'event') {
    const b = m.body ?? {};
    switch (m.event) {
      case KvmEvent.host:
        if (typeof b.kind === 'string') {
          s.host = { kind: b.kind, label: typeof b.label === 'string' ? b.label : b.kind };
          return [{ kind: 'host' }];
        }
        return [];
      case KvmEvent.mode:
        if (typeof b.mode !== 'string') return [];
        s.modes[typeof b.vcpu === 'number' ? b.vcpu : 0] = b.mode;
        return [{ kind: 'mode' }];
      case KvmEvent.history:
        if (typeof b.length !== 'number' || typeof b.position !== 'number') return [];
        s.history = { recording: b.recording === true, length: b.length, position: b.position };
        return [{ kind: 'history' }];
      case KvmEvent.serial:
        return typeof b.data === 'string' ? [{ kind: 'serial', data: Buffer.from(b.data, 'base64') }] : [];
      case 'stopped':
        s.phase = 'stopped';
        s.beforeRun = undefined;
        s.stops++;
        if (typeof b.threadId === 'number' && b.threadId >= 1) s.vcpu = b.threadId - 1;
        s.mode = s.modes[s.vcpu] ?? s.mode;
        return [{ kind: 'stopped', reason: String(b.reason ?? '') }];
      case 'continued':
        if (s.phase === 'ended') return [];
        s.phase = 'running';
        return [{ kind: 'running' }];
      case 'exited':
        s.exitCode = typeof b.exitCode === 'number' ? b.exitCode : undefined;
        return [{ kind: 'exited', code: s.exitCode ?? 0 }];
      case 'terminated':
        if (s.phase === 'ended') return [];
        s.phase = 'ended';
        return [{ kind: 'terminated' }];
      case 'output':
        return typeof b.output === 'string' ? [{ kind: 'output', text: b.output }] : [];
      default:
        return [];
    }
  }
  if (m.type === 'response') {
    // The launch answered: the guest runs unless it stopped on entry (the stop comes as an event).
    if (m.command === 'launch' && s.launched === undefined) {
      s.launched = m.success === true;
      if (!s.launched) return [{ kind: 'launchFailed', message: errorText(m) }];
      if (s.phase !== 'starting') return [{ kind: 'launched' }];
      s.phase = 'running';
      return [{ kind: 'launched' }, { kind: 'running' }];
    }
    if (m.command && (RUN_REQUESTS.has(m.command) || m.command === 'restart') && m.success !== false) s.beforeRun = undefined;
    if (m.command && (RUN_REQUESTS.has(m.command) || m.command === 'restart') && m.success === false && s.beforeRun) {
      s.phase = s.beforeRun;
      s.beforeRun = undefined;
      return s.phase === 'stopped' ? [{ kind: 'stopped', reason: 'refused' }] : [];
    }
  }
  return [];
}

/** A message VS Code sent the adapter (a tracker's onWillReceiveMessage). */
export function fromClient(s: SessionState, m: DapMessage): Effect[] {
  if (m.type !== 'request' || s.phase === 'ended') return [];
  if (m.command && RUN_REQUESTS.has(m.command)) {
    if (s.phase !== 'running') s.beforeRun = s.phase;
    s.phase = 'running';
    return [{ kind: 'running' }];
  }
  if (m.command === 'restart') {
    s.beforeRun = s.phase;
    s.phase = 'running';
    s.exitCode = undefined;
    return [{ kind: 'restarting' }, { kind: 'running' }];
  }
  return [];
}

/** The adapter process ended (a tracker's onExit), with or without a terminated event first. */
export function adapterExited(s: SessionState): Effect[] {
  if (s.phase === 'ended') return [];
  s.phase = 'ended';
  return [{ kind: 'terminated' }];
}

/** The status bar text: 'KVM kvm_pvm · long mode (64-bit)', 'KVM vmx · running', 'KVM · starting'. */
export function statusText(s: SessionState): string {
  const head = s.host ? `KVM ${s.host.kind}` : 'KVM';
  switch (s.phase) {
    case 'starting': return `${head} · starting`;
    case 'running': return `${head} · running`;
    case 'stopped': return `${head} · ${s.mode ?? 'stopped'}`;
    case 'ended': return `${head} · ${s.exitCode === undefined ? 'ended' : `exited (${s.exitCode})`}`;
  }
}

/**
 * The history's status bar item: the position in the recorded history ('⏪ 12 / 340' in the
 * past, '● 340' recording at the present), or undefined when there is none to show.
 */
export function historyText(s: SessionState): { text: string; tooltip: string } | undefined {
  const h = s.history;
  if (!h || s.phase === 'ended' || (!h.recording && h.length === 0)) return undefined;
  const past = h.position < h.length;
  return {
    text: past ? `$(history) ${h.position} / ${h.length}` : `$(record) ${h.length}`,
    tooltip: [
      `kvmdbg: ${h.recording ? 'recording' : 'not recording'}, ${h.length} instructions in the history`,
      past ? `At position ${h.position}: ${h.length - h.position} instructions before the present` : 'At the present',
      'Debug Console: info record, goto N, record stop',
    ].join('\n'),
  };
}

/** The status bar tooltip: host label, mode, vCPU, state. */
export function statusTooltip(s: SessionState, sessionName: string): string {
  const lines = [`kvmdbg: ${sessionName}`];
  if (s.host) lines.push(`Host: ${s.host.label}`);
  if (s.mode) lines.push(`CPU mode${s.phase === 'stopped' ? '' : ' at the last stop'}: ${s.mode} (vCPU ${s.vcpu})`);
  lines.push(`Guest: ${s.phase === 'stopped' ? 'stopped' : s.phase}`);
  lines.push('Click to show the register panel');
  return lines.join('\n');
}
