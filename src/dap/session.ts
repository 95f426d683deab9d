// The DAP session: a thin map from requests to the monitor (src/vmm) and the adapter's pieces
// (breakpoints, stepping, views, disassembly). It reads top to bottom: lifecycle, run control,
// state, memory, then the custom requests of the extension.
import { closeSync, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import {
  LoggingDebugSession, logger, Logger, InitializedEvent, StoppedEvent, ExitedEvent, TerminatedEvent,
  OutputEvent, InvalidatedEvent, MemoryEvent, Thread, StackFrame, Scope, Source, Handles, Event,
} from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { Machine, GUEST_INT3_UNSEEN } from '../vmm/machine.js';
import { GuestError } from '../errors.js';
import type { Stop } from '../vmm/debug/stops.js';
import { describeStop, TRIPLE_FAULT_STATE_LOST } from '../vmm/debug/stops.js';
import { parseLaunchArgs, LaunchError, type LaunchConfig } from './launch-args.js';
import { DebugInfo } from '../debugger/debug-info.js';
import { Breakpoints, dataId } from './breakpoints.js';
import { evaluate, setValue, machineContext, type EvalContext, type EvalResult } from './evaluate.js';
import { runConsoleCommand } from './console-commands.js';
import { Stepper } from './stepping.js';
import { SCOPES, scopeVariables, parseRegisterValue, type ScopeName, type Expand } from './views/registers.js';
import { disassemble } from '../x86/disasm.js';
import { DebugTarget, type StopDetail, type TargetStop } from '../debugger/target.js';
import { registerPanel, translate } from './machine-views.js';
import { KvmEvent, KvmRequest, type HostBody, type ModeBody, type SerialBody } from '../protocol.js';

/** The exception breakpoint filters, as the Breakpoints view shows them. */
const EXCEPTION_FILTERS: DebugProtocol.ExceptionBreakpointsFilter[] = [
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

/** The monitor's stops, and the one the session itself detects while stepping for a filter. */

/** What a variablesReference stands for. */
type VarRef = { scope: ScopeName | 'Locals' | 'Globals'; vcpu: number; frame: number } | Expand;

const THREAD_BASE = 1;

export class KvmDebugSession extends LoggingDebugSession {
  private config: LaunchConfig | undefined;
  private machine: Machine | undefined;
  private info: DebugInfo | undefined;
  private readonly bps = new Breakpoints(() => this.info);
  private stepper: Stepper | undefined;
  private configured!: Promise<void>;
  private markConfigured!: () => void;
  /** The run in progress, if any: requests that need a stopped guest wait for it. */
  private running: Promise<void> | undefined;
  private lastStopVcpu = 0;
  private refs = new Handles<VarRef>();
  private serialFd = -1;
  private readonly decoder = new TextDecoder('utf-8');
  private exceptionText: string | undefined;
  /** The CPU mode last announced per vCPU (kvm.mode is sent only when it changes). */
  private readonly lastMode = new Map<number, string>();
  private filters = new Set(EXCEPTION_FILTERS.filter((f) => f.default).map((f) => f.filter));
  private portRanges: { from: number; to: number }[] = [];
  /** Why the last stop happened beyond its kind: breakpoint ids, texts. */
  private stopDetail: StopDetail = {};
  /** The machine as a debugger sees it: per-stop state, memory, registers by name, run policy. */
  private target: DebugTarget | undefined;

  constructor() {
    super();
    this.setDebuggerLinesStartAt1(true);
    this.setDebuggerColumnsStartAt1(true);
    this.configured = new Promise((r) => (this.markConfigured = r));
  }

  start(inStream: NodeJS.ReadableStream, outStream: NodeJS.WritableStream): void {
    super.start(inStream, outStream);
    // LoggingDebugSession queues every message until the logger is set up, forever when
    // nothing sets it up: without tracing, logging is off (set up after start(), which creates it).
    logger.setup(Logger.LogLevel.Stop, false);
  }

  // --- lifecycle ---------------------------------------------------------------------------

  protected initializeRequest(response: DebugProtocol.InitializeResponse): void {
    response.body = {
      supportsConfigurationDoneRequest: true,
      supportsFunctionBreakpoints: true,
      supportsInstructionBreakpoints: true,
      supportsDisassembleRequest: true,
      supportsSteppingGranularity: true,
      supportsReadMemoryRequest: true,
      supportsWriteMemoryRequest: true,
      supportsSetVariable: true,
      supportsRestartRequest: true,
      supportsTerminateRequest: true,
      supportsExceptionInfoRequest: true,
      supportsEvaluateForHovers: true,
      supportsConditionalBreakpoints: true,
      supportsHitConditionalBreakpoints: true,
      supportsLogPoints: true,
      supportsDataBreakpoints: true,
      supportsDataBreakpointBytes: true,
      supportsExceptionFilterOptions: true,
      exceptionBreakpointFilters: EXCEPTION_FILTERS,
    };
    this.sendResponse(response);
  }

  protected async launchRequest(response: DebugProtocol.LaunchResponse, args: DebugProtocol.LaunchRequestArguments): Promise<void> {
    try {
      this.config = parseLaunchArgs(args as unknown as Record<string, unknown>);
      if (this.config.trace) logger.setup(Logger.LogLevel.Verbose, this.config.trace, false);
      this.info = new DebugInfo(this.config.program, this.config.symbols);
      this.openSerial();
      this.build();
    } catch (e) {
      return this.fail(response, e);
    }
    this.sendEvent(new InitializedEvent());
    await this.configured;
    this.sendResponse(response);
    this.begin();
  }

  protected configurationDoneRequest(response: DebugProtocol.ConfigurationDoneResponse): void {
    this.markConfigured();
    this.sendResponse(response);
  }

  /** Builds the machine from the launch configuration (again, for a restart). */
  private build(): void {
    const c = this.config!;
    this.machine = new Machine({
      image: c.program, memory: c.memory, smp: c.smp, format: c.format, cmdline: c.cmdline,
      modules: c.modules, loadAddress: c.loadAddress, entry: c.entry, mode: c.mode,
      serial: (b) => this.serialOutput(b),
      kvmDevice: process.env.KVMDBG_DEVICE || undefined,
      // For tests of the stepping fallback used on hosts without KVM_GUESTDBG_BLOCKIRQ.
      blockIrq: process.env.KVMDBG_NO_BLOCKIRQ ? false : undefined,
    });
    this.bps.attach(this.machine);
    this.applyFilters();
    const target = (this.target = new DebugTarget(this.machine, this.info, this.bps));
    this.stepper = new Stepper(this.machine, this.bps, this.info, (vcpu) => target.callerOf(vcpu));
    this.sendEvent(new OutputEvent(`kvmdbg: ${basename(c.program)} (${this.machine.guest.format}) on ${this.machine.host.label}\n`, 'console'));
    this.sendEvent(new Event(KvmEvent.host, { kind: this.machine.host.kind, label: this.machine.host.label } satisfies HostBody));
  }

  /** After launch or restart: stop on entry, or run. */
  private begin(): void {
    if (this.config!.stopOnEntry) {
      this.sendModeEvent(0);
      this.sendEvent(new StoppedEvent('entry', THREAD_BASE));
    } else {
      this.resume(() => this.runToStop());
    }
  }

  /** Runs until a stop worth reporting (the target judges breakpoint hits and logpoints). */
  private async runToStop(): Promise<TargetStop> {
    const { stop, detail } = await this.target!.runToStop(this.lastStopVcpu, this.filters.has('mode-switch'),
      (expr, vcpu) => this.evaluateText(expr, vcpu), (line) => this.sendEvent(new OutputEvent(line + '\n', 'console')));
    this.stopDetail = detail;
    return stop;
  }

  protected async restartRequest(response: DebugProtocol.RestartResponse): Promise<void> {
    try {
      await this.stopRunning();
      await this.machine?.destroy();
      this.machine = undefined;
    this.target = undefined;
      this.target = undefined;
      this.build();
    } catch (e) {
      return this.fail(response, e);
    }
    this.sendResponse(response);
    this.begin();
  }

  protected async terminateRequest(response: DebugProtocol.TerminateResponse): Promise<void> {
    await this.teardown();
    this.sendResponse(response);
    this.sendEvent(new TerminatedEvent());
  }

  protected async disconnectRequest(response: DebugProtocol.DisconnectResponse): Promise<void> {
    await this.teardown();
    this.sendResponse(response);
    // The base class's way out: the process ends (not in --server mode, where only this
    // connection does). Without it a client that keeps the pipes open keeps the adapter alive.
    this.shutdown();
  }

  private async teardown(): Promise<void> {
    await this.stopRunning();
    await this.machine?.destroy();
    this.machine = undefined;
    this.target = undefined;
    if (this.serialFd >= 0) closeSync(this.serialFd);
    this.serialFd = -1;
  }

  private async stopRunning(): Promise<void> {
    if (this.running) {
      this.target?.pause();
      await this.running;
    }
  }

  // --- run control -------------------------------------------------------------------------

  /** Starts `action` (a run or a step) and reports how it stopped; requests stay served. */
  private resume(action: () => Promise<TargetStop>): void {
    this.target?.invalidate();
    this.refs.reset();
    this.running = (async () => {
      let stop: TargetStop;
      try {
        stop = await action();
      } catch (e) {
        this.running = undefined;
        this.sendEvent(new OutputEvent(`kvmdbg: ${(e as Error).message}\n`, 'stderr'));
        this.sendEvent(new StoppedEvent('exception', THREAD_BASE + this.lastStopVcpu, (e as Error).message));
        return;
      }
      this.running = undefined;
      this.report(stop);
    })();
  }

  private report(stop: TargetStop): void {
    const m = this.machine;
    if (!m) return;
    const vcpu = 'vcpu' in stop ? stop.vcpu : this.lastStopVcpu;
    this.lastStopVcpu = vcpu;
    const thread = THREAD_BASE + vcpu;
    this.exceptionText = undefined;
    const stopped = (reason: string, text?: string, hit?: number[]) => {
      this.sendModeEvent(vcpu);
      const e = new StoppedEvent(reason, thread, text) as DebugProtocol.StoppedEvent;
      e.body.allThreadsStopped = true;
      if (hit) e.body.hitBreakpointIds = hit;
      if (text) e.body.description = text;
      this.sendEvent(e);
    };
    switch (stop.kind) {
      case 'exit':
        this.sendEvent(new ExitedEvent(stop.status));
        this.sendEvent(new TerminatedEvent());
        return;
      case 'reset':
      case 'poweroff':
        this.sendEvent(new OutputEvent(`kvmdbg: ${describeStop(stop)}\n`, 'console'));
        this.sendEvent(new ExitedEvent(0));
        this.sendEvent(new TerminatedEvent());
        return;
      case 'breakpoint':
      case 'watchpoint':
        if (this.stopDetail.ids) return stopped(this.stopDetail.reason!, this.stopDetail.text, this.stopDetail.ids);
        return stopped('step');
      case 'step':
        return stopped('step');
      case 'pause':
        return stopped('pause');
      case 'mode-switch':
        this.exceptionText = `CPU mode switch: ${stop.from} → ${stop.to}`;
        return stopped('exception', this.exceptionText);
      case 'port-io':
        this.exceptionText = `Port I/O: ${stop.write ? 'out' : 'in'} 0x${stop.port.toString(16)} ${stop.write ? '<-' : '->'} 0x${stop.value.toString(16)} (${stop.size} byte${stop.size > 1 ? 's' : ''})`;
        return stopped('exception', this.exceptionText);
      case 'triple-fault':
        if (!this.filters.has('triple-fault')) return this.endWith(`kvmdbg: ${describeStop(stop)}; the session ends (the "Triple fault" exception filter is off)`, 4);
        this.exceptionText = stop.stateLost
          ? `Triple fault: the CPU shut down (KVM_EXIT_SHUTDOWN); ${TRIPLE_FAULT_STATE_LOST}`
          : 'Triple fault: the CPU shut down (KVM_EXIT_SHUTDOWN); its state is kept for inspection';
        return stopped('exception', this.exceptionText);
      case 'halted':
        if (!this.filters.has('halt')) return this.endWith(`kvmdbg: ${describeStop(stop)}; the session ends`, 6);
        this.exceptionText = `Halt with interrupts off: ${describeStop(stop)}`;
        return stopped('exception', this.exceptionText);
      case 'guest-int3':
        this.exceptionText = `Guest int3 at 0x${stop.address.toString(16)}: its #BP handler runs when you continue`;
        return stopped('exception', this.exceptionText);
      default:
        this.exceptionText = describeStop(stop);
        return stopped('exception', this.exceptionText);
    }
  }

  private endWith(message: string, code: number): void {
    this.sendEvent(new OutputEvent(message + '\n', 'console'));
    this.sendEvent(new ExitedEvent(code));
    this.sendEvent(new TerminatedEvent());
  }

  protected setExceptionBreakPointsRequest(response: DebugProtocol.SetExceptionBreakpointsResponse, args: DebugProtocol.SetExceptionBreakpointsArguments): void {
    try {
      const options: DebugProtocol.ExceptionFilterOptions[] = args.filterOptions ?? args.filters.map((filterId) => ({ filterId }));
      const unknown = options.find((o) => !EXCEPTION_FILTERS.some((f) => f.filter === o.filterId));
      if (unknown) throw new GuestError(`unknown exception filter "${unknown.filterId}"`);
      const port = options.find((o) => o.filterId === 'port-io');
      const ranges = port ? parsePortRanges(port.condition ?? '') : [];
      this.filters = new Set(options.map((o) => o.filterId));
      this.portRanges = ranges;
      this.applyFilters();
      const unseen = this.machine?.host.int3 === 'guest';
      response.body = {
        breakpoints: options.map((o) => (o.filterId === 'guest-int3' && unseen ? { verified: false, message: GUEST_INT3_UNSEEN } : { verified: true })),
      };
      this.sendResponse(response);
    } catch (e) {
      this.fail(response, e);
    }
  }

  private applyFilters(): void {
    const m = this.machine;
    if (!m) return;
    m.stopOnGuestInt3 = this.filters.has('guest-int3');
    m.setPortWatches(this.filters.has('port-io') ? this.portRanges : []);
  }

  protected exceptionInfoRequest(response: DebugProtocol.ExceptionInfoResponse): void {
    response.body = {
      exceptionId: 'kvm', description: this.exceptionText ?? 'no exception', breakMode: 'always',
    };
    this.sendResponse(response);
  }

  protected continueRequest(response: DebugProtocol.ContinueResponse): void {
    if (!this.ready(response)) return;
    response.body = { allThreadsContinued: true };
    this.sendResponse(response);
    this.resume(() => this.runToStop());
  }

  protected pauseRequest(response: DebugProtocol.PauseResponse): void {
    this.target?.pause();
    this.sendResponse(response);
  }

  protected nextRequest(response: DebugProtocol.NextResponse, args: DebugProtocol.NextArguments): void {
    this.step(response, args, (s, v) => (args.granularity === 'instruction' ? s.instructionOver(v) : s.line(v, true)));
  }

  protected stepInRequest(response: DebugProtocol.StepInResponse, args: DebugProtocol.StepInArguments): void {
    this.step(response, args, (s, v) => (args.granularity === 'instruction' ? s.instruction(v) : s.line(v, false)));
  }

  protected stepOutRequest(response: DebugProtocol.StepOutResponse, args: DebugProtocol.StepOutArguments): void {
    this.step(response, args, (s, v) => s.out(v));
  }

  private step(response: DebugProtocol.Response, args: { threadId: number }, f: (s: Stepper, vcpu: number) => Promise<Stop>): void {
    if (!this.ready(response)) return;
    const vcpu = this.vcpuOf(args.threadId);
    this.sendResponse(response);
    this.resume(async () => {
      const stop = await f(this.stepper!, vcpu);
      this.stopDetail = this.target!.judge(stop, (expr, v) => this.evaluateText(expr, v), (line) => this.sendEvent(new OutputEvent(line + '\n', 'console'))).detail;
      return stop;
    });
  }

  // --- breakpoints -------------------------------------------------------------------------

  protected setBreakPointsRequest(response: DebugProtocol.SetBreakpointsResponse, args: DebugProtocol.SetBreakpointsArguments): void {
    const path = args.source.path ?? args.source.name ?? '';
    response.body = { breakpoints: this.bps.setSource(path, args.breakpoints ?? (args.lines ?? []).map((line) => ({ line }))) };
    this.sendResponse(response);
  }

  protected setFunctionBreakPointsRequest(response: DebugProtocol.SetFunctionBreakpointsResponse, args: DebugProtocol.SetFunctionBreakpointsArguments): void {
    response.body = { breakpoints: this.bps.setFunctions(args.breakpoints) };
    this.sendResponse(response);
  }

  protected setInstructionBreakpointsRequest(response: DebugProtocol.SetInstructionBreakpointsResponse, args: DebugProtocol.SetInstructionBreakpointsArguments): void {
    response.body = { breakpoints: this.bps.setInstructions(args.breakpoints) };
    this.sendResponse(response);
  }

  // --- threads, stack, scopes, variables ----------------------------------------------------

  protected threadsRequest(response: DebugProtocol.ThreadsResponse): void {
    const n = this.machine?.vcpus.length ?? 1;
    response.body = { threads: Array.from({ length: n }, (_, i) => new Thread(THREAD_BASE + i, `vCPU ${i}`)) };
    this.sendResponse(response);
  }

  protected stackTraceRequest(response: DebugProtocol.StackTraceResponse, args: DebugProtocol.StackTraceArguments): void {
    if (!this.ready(response)) return;
    const vcpu = this.vcpuOf(args.threadId);
    const frames = this.target!.frames(vcpu);
    const start = args.startFrame ?? 0;
    const count = args.levels || frames.length;
    response.body = {
      totalFrames: frames.length,
      stackFrames: frames.slice(start, start + count).map((f, i) => {
        const depth = start + i;
        const name = this.info?.symbolize(f.pc) ?? `0x${f.pc.toString(16)}`;
        const loc = this.info?.lineAt(f.pc);
        const sf = new StackFrame(DebugTarget.frameId(vcpu, depth), name, loc ? new Source(basename(loc.file), loc.file) : undefined,
          loc?.line ?? 0, loc?.column ?? 0) as DebugProtocol.StackFrame;
        sf.instructionPointerReference = '0x' + f.pc.toString(16);
        if (!loc) sf.presentationHint = 'subtle';
        return sf;
      }),
    };
    this.sendResponse(response);
  }

  protected scopesRequest(response: DebugProtocol.ScopesResponse, args: DebugProtocol.ScopesArguments): void {
    const { vcpu, frame } = DebugTarget.frameRef(args.frameId);
    const scopes: (ScopeName | 'Locals' | 'Globals')[] = [];
    const f = this.target && !this.running ? this.target.frames(vcpu)[frame] : undefined;
    if (f && this.info?.localsAt(f.scopePc).length) scopes.push('Locals');
    if (this.info?.globals().length) scopes.push('Globals');
    scopes.push(...(frame === 0 ? SCOPES : (['Registers'] as const)));
    response.body = {
      scopes: scopes.map((s) => {
        const sc = new Scope(s, this.refs.create({ scope: s, vcpu, frame }), !['Locals', 'Registers', 'System'].includes(s)) as DebugProtocol.Scope;
        if (s === 'Locals') sc.presentationHint = 'locals';
        if (s === 'Registers') sc.presentationHint = 'registers';
        return sc;
      }),
    };
    this.sendResponse(response);
  }

  protected variablesRequest(response: DebugProtocol.VariablesResponse, args: DebugProtocol.VariablesArguments): void {
    if (!this.ready(response)) return;
    const ref = this.refs.get(args.variablesReference);
    try {
      let vars: DebugProtocol.Variable[] = [];
      if (typeof ref === 'function') vars = ref();
      else if (ref && (ref.scope === 'Locals' || ref.scope === 'Globals')) vars = this.sourceVariables(ref.scope, ref.vcpu, ref.frame);
      else if (ref) vars = scopeVariables(ref.scope as ScopeName, this.target!.snapshot(ref.vcpu, ref.frame), (f) => this.refs.create(f));
      response.body = { variables: vars };
      this.sendResponse(response);
    } catch (e) {
      this.fail(response, e);
    }
  }

  protected setVariableRequest(response: DebugProtocol.SetVariableResponse, args: DebugProtocol.SetVariableArguments): void {
    if (!this.ready(response)) return;
    const ref = this.refs.get(args.variablesReference);
    try {
      if (ref && typeof ref !== 'function' && (ref.scope === 'Locals' || ref.scope === 'Globals')) {
        const r = setValue(args.name, args.value, this.evalContext(ref.vcpu, ref.frame), { allowAssign: true });
        this.target!.invalidate();
        response.body = { value: r.value, type: r.type, variablesReference: r.childCount ? this.refs.create(() => r.children!().map((c) => this.evalVariable(c))) : 0 };
        this.sendResponse(response);
        this.sendEvent(new InvalidatedEvent(['variables']));
        if (r.address !== undefined) this.sendEvent(new MemoryEvent('0x' + r.address.toString(16), 0, r.size ?? 1));
        return;
      }
      if (!ref || typeof ref === 'function' || ref.frame !== 0) throw new GuestError(`${args.name} cannot be changed here`);
      // The client keeps its references after a change: the target drops cached values, not the handles.
      const scope = ref.scope as ScopeName; // Locals and Globals were handled above
      this.target!.writeRegister(ref.vcpu, scope, args.name, parseRegisterValue(args.value));
      const name = args.name;
      const now = scopeVariables(scope, this.target!.snapshot(ref.vcpu, 0), (f) => this.refs.create(f)).find((x) => x.name === name);
      response.body = { value: now?.value ?? args.value, variablesReference: now?.variablesReference ?? 0 };
      this.sendResponse(response);
      this.sendEvent(new InvalidatedEvent(['variables', 'stacks']));
    } catch (e) {
      this.fail(response, e);
    }
  }

  // --- memory and disassembly ----------------------------------------------------------------

  protected readMemoryRequest(response: DebugProtocol.ReadMemoryResponse, args: DebugProtocol.ReadMemoryArguments): void {
    if (!this.ready(response)) return;
    try {
      const addr = BigInt(args.memoryReference) + BigInt(args.offset ?? 0);
      const data = this.target!.readReadable(this.lastStopVcpu, addr, args.count);
      response.body = {
        address: '0x' + addr.toString(16),
        data: data.toString('base64'),
        unreadableBytes: args.count - data.length || undefined,
      };
      this.sendResponse(response);
    } catch (e) {
      this.fail(response, e);
    }
  }

  protected writeMemoryRequest(response: DebugProtocol.WriteMemoryResponse, args: DebugProtocol.WriteMemoryArguments): void {
    if (!this.ready(response)) return;
    try {
      const addr = BigInt(args.memoryReference) + BigInt(args.offset ?? 0);
      const data = Buffer.from(args.data, 'base64');
      this.target!.machine.writeLinear(this.lastStopVcpu, addr, data);
      response.body = { bytesWritten: data.length };
      this.sendResponse(response);
      this.sendEvent(new MemoryEvent(args.memoryReference, args.offset ?? 0, data.length));
      this.sendEvent(new InvalidatedEvent(['variables']));
    } catch (e) {
      this.fail(response, e);
    }
  }

  protected disassembleRequest(response: DebugProtocol.DisassembleResponse, args: DebugProtocol.DisassembleArguments): void {
    if (!this.ready(response)) return;
    try {
      const t = this.target!;
      const vcpu = this.lastStopVcpu;
      const start = BigInt(args.memoryReference) + BigInt(args.offset ?? 0);
      const lines = disassemble((a, n) => t.read(vcpu, a, n), t.codeBits(vcpu), start, args.instructionOffset ?? 0, args.instructionCount, (a) => this.info?.symbolize(a), { csBase: t.machine.getSregs(vcpu).cs.base });
      let lastLine = '';
      response.body = {
        instructions: lines.map((l) => {
          const d: DebugProtocol.DisassembledInstruction = {
            address: '0x' + l.address.toString(16),
            instructionBytes: l.bytes.toString('hex').replace(/(..)(?!$)/g, '$1 '),
            instruction: l.text,
          };
          if (l.invalid) d.presentationHint = 'invalid';
          if (l.symbol) d.symbol = l.symbol;
          const loc = l.invalid ? undefined : this.info?.lineAt(l.address);
          if (loc) {
            const key = `${loc.file}:${loc.line}`;
            if (key !== lastLine) {
              d.location = new Source(basename(loc.file), loc.file);
              d.line = loc.line;
              lastLine = key;
            }
          }
          return d;
        }),
      };
      this.sendResponse(response);
    } catch (e) {
      this.fail(response, e);
    }
  }

  // --- evaluation and data breakpoints --------------------------------------------------------

  /** Evaluates an expression on a stopped vCPU and returns its value as text. */
  private evaluateText(expr: string, vcpu: number): string {
    return evaluate(expr, this.evalContext(vcpu)).value;
  }

  /**
   * The evaluation context of a vCPU's frame: memory and symbols, the frame's registers (a
   * caller's as the call frame information restores them), its DWARF variables and types.
   */
  private evalContext(vcpu: number, frame = 0): EvalContext {
    const m = this.target!.machine;
    const info = this.info;
    const frames = this.target!.frames(vcpu);
    const f = frames[frame] ?? frames[0];
    const base = machineContext(m, vcpu, info);
    const read = (addr: bigint, size: number): bigint | undefined => {
      const b = this.target!.read(vcpu, addr, size);
      if (!b) return undefined;
      return size === 8 ? b.readBigUInt64LE() : size === 4 ? BigInt(b.readUInt32LE()) : size === 2 ? BigInt(b.readUInt16LE()) : BigInt(b[0]);
    };
    const variable = (name: string) => {
      const v = info?.localsAt(f.scopePc).find((x) => x.name === name) ?? info?.globals().find((x) => x.name === name);
      if (!v) return undefined;
      const location = v.locate({ pc: f.scopePc, regs: f.dwarfRegs, cfa: f.cfa, read, bits: f.bits });
      if (location.kind === 'error') throw new GuestError(`${name}: ${location.message}`);
      return { type: v.type, location };
    };
    const ctx: EvalContext = { ...base, variable, typeByName: (n) => info?.typeByName(n) };
    if (frame > 0) {
      // Only what the unwinder restored is known in a caller; the rest would be the callee's.
      const known = f.regs as Record<string, bigint | undefined>;
      ctx.register = (name) => (name in known ? known[name] : undefined);
      ctx.setRegister = undefined;
    }
    return ctx;
  }

  /** The Locals or Globals scope of a frame, each variable evaluated in the frame's context. */
  private sourceVariables(scope: 'Locals' | 'Globals', vcpu: number, frame: number): DebugProtocol.Variable[] {
    const f = this.target!.frames(vcpu)[frame];
    const vars = scope === 'Locals' ? this.info?.localsAt(f.scopePc) ?? [] : (this.info?.globals() ?? []).slice(0, 1000);
    const ctx = this.evalContext(vcpu, frame);
    const seen = new Set<string>();
    return vars.filter((v) => !seen.has(v.name) && seen.add(v.name)).map((v) => {
      try {
        const r = evaluate(v.name, ctx);
        return { ...this.evalVariable({ ...r, name: v.name, evaluateName: v.name }) };
      } catch (e) {
        return { name: v.name, value: `<${(e as Error).message.replace(new RegExp(`^${v.name}: `), '')}>`, variablesReference: 0 };
      }
    });
  }

  protected evaluateRequest(response: DebugProtocol.EvaluateResponse, args: DebugProtocol.EvaluateArguments): void {
    if (!this.ready(response)) return;
    try {
      const { vcpu, frame } = args.frameId !== undefined ? DebugTarget.frameRef(args.frameId) : { vcpu: this.lastStopVcpu, frame: 0 };
      const ctx = this.evalContext(vcpu, frame);
      if (args.context === 'repl') {
        const out = runConsoleCommand(args.expression, this.target!.machine, vcpu, ctx);
        if (out !== undefined) {
          response.body = { result: out, variablesReference: 0 };
          this.sendResponse(response);
          return;
        }
      }
      const r = evaluate(args.expression, ctx, { hex: args.format?.hex, allowAssign: args.context === 'repl' });
      response.body = {
        result: r.value, type: r.type, memoryReference: r.memoryReference,
        variablesReference: r.childCount ? this.refs.create(() => r.children!().map((c) => this.evalVariable(c))) : 0,
        indexedVariables: r.indexed ? r.childCount : undefined,
      };
      this.sendResponse(response);
    } catch (e) {
      this.fail(response, e);
    }
  }

  private evalVariable(r: EvalResult): DebugProtocol.Variable {
    return {
      name: r.name ?? '', value: r.value, type: r.type, memoryReference: r.memoryReference, evaluateName: r.evaluateName,
      variablesReference: r.childCount ? this.refs.create(() => r.children!().map((c) => this.evalVariable(c))) : 0,
      indexedVariables: r.indexed ? r.childCount : undefined,
    };
  }

  protected dataBreakpointInfoRequest(response: DebugProtocol.DataBreakpointInfoResponse, args: DebugProtocol.DataBreakpointInfoArguments): void {
    const none = (description: string) => {
      response.body = { dataId: null, description };
      this.sendResponse(response);
    };
    try {
      const accessTypes: DebugProtocol.DataBreakpointAccessType[] = ['write', 'readWrite'];
      if (args.asAddress) {
        const address = BigInt(args.name.trim());
        const bytes = args.bytes ?? 4;
        response.body = { dataId: dataId(address, bytes, `0x${address.toString(16)}`), description: `${bytes} bytes at 0x${address.toString(16)}`, accessTypes };
        this.sendResponse(response);
        return;
      }
      if (!this.machine || this.running) return none('the guest must be stopped to set a data breakpoint');
      const ref = args.variablesReference !== undefined ? this.refs.get(args.variablesReference) : undefined;
      if (ref && typeof ref !== 'function' && ['Registers', 'Segments', 'System', 'Debug', 'FPU/SSE'].includes(ref.scope)) {
        return none('registers cannot be watched: only memory can');
      }
      const { vcpu, frame } = args.frameId !== undefined ? DebugTarget.frameRef(args.frameId) : { vcpu: this.lastStopVcpu, frame: 0 };
      const r = evaluate(args.name, this.evalContext(vcpu, frame));
      if (r.address === undefined || !r.size) return none(`${args.name} is not in memory`);
      response.body = { dataId: dataId(r.address, r.size, args.name), description: `${args.name} (${r.size} bytes at 0x${r.address.toString(16)})`, accessTypes };
      this.sendResponse(response);
    } catch (e) {
      none((e as Error).message);
    }
  }

  protected setDataBreakpointsRequest(response: DebugProtocol.SetDataBreakpointsResponse, args: DebugProtocol.SetDataBreakpointsArguments): void {
    response.body = { breakpoints: this.bps.setData(args.breakpoints) };
    this.sendResponse(response);
  }

  // --- custom requests from the extension ----------------------------------------------------

  protected customRequest(command: string, response: DebugProtocol.Response, args: Record<string, unknown> = {}): void {
    try {
      switch (command) {
        case KvmRequest.serialInput: {
          const data = typeof args.data === 'string' ? Buffer.from(args.data, 'base64') : Buffer.from(String(args.text ?? ''));
          this.machine?.sendSerialInput(data);
          break;
        }
        case KvmRequest.hostInfo:
          response.body = this.machine ? { kind: this.machine.host.kind, label: this.machine.host.label } satisfies HostBody : undefined;
          break;
        case KvmRequest.cpuMode: {
          if (!this.ready(response)) return;
          const vcpu = typeof args.vcpu === 'number' ? args.vcpu : this.lastStopVcpu;
          response.body = { mode: this.target!.modeLabel(vcpu) };
          break;
        }
        case KvmRequest.registerPanel: {
          if (!this.ready(response)) return;
          response.body = registerPanel(this.target!.machine, typeof args.vcpu === 'number' ? args.vcpu : this.lastStopVcpu);
          break;
        }
        case KvmRequest.translate: {
          if (!this.ready(response)) return;
          const text = String(args.address ?? '').trim();
          if (!/^(0x[0-9a-f]+|\d+)$/i.test(text)) throw new GuestError(`"${text}" is not an address (use 0x hex or decimal)`);
          response.body = translate(this.target!.machine, typeof args.vcpu === 'number' ? args.vcpu : this.lastStopVcpu, BigInt(text));
          break;
        }
        default:
          throw new GuestError(`unknown request ${command}`);
      }
      this.sendResponse(response);
    } catch (e) {
      this.fail(response, e);
    }
  }

  // --- helpers -------------------------------------------------------------------------------

  /** Tells the extension the CPU mode at a stop (for its status bar). */
  private sendModeEvent(vcpu: number): void {
    try {
      const mode = this.target!.modeLabel(vcpu);
      if (this.lastMode.get(vcpu) === mode) return;
      this.lastMode.set(vcpu, mode);
      this.sendEvent(new Event(KvmEvent.mode, { vcpu, mode } satisfies ModeBody));
    } catch {
      // a vCPU whose state can't be read has no mode to show
    }
  }

  private serialOutput(bytes: Buffer): void {
    const c = this.config;
    if (c?.serial.kind === 'file') {
      writeSync(this.serialFd, bytes);
    } else if (c?.serial.kind === 'terminal') {
      this.sendEvent(new Event(KvmEvent.serial, { data: bytes.toString('base64') } satisfies SerialBody));
    } else {
      this.sendEvent(new OutputEvent(this.decoder.decode(bytes, { stream: true }), 'stdout'));
    }
  }

  private openSerial(): void {
    const s = this.config!.serial;
    if (s.kind !== 'file') return;
    try {
      this.serialFd = openSync(s.path, 'w');
    } catch (e) {
      throw new LaunchError(`launch.json: "serial": cannot write ${s.path}: ${(e as Error).message}`);
    }
  }

  private vcpuOf(threadId: number): number {
    const i = threadId - THREAD_BASE;
    return i >= 0 && i < (this.machine?.vcpus.length ?? 0) ? i : 0;
  }

  /** Whether the guest is stopped and the request can be served; answers it otherwise. */
  private ready(response: DebugProtocol.Response): boolean {
    if (!this.machine) {
      this.fail(response, new GuestError('no guest is running'));
      return false;
    }
    if (this.running) {
      this.fail(response, new GuestError('the guest is running; pause it first'));
      return false;
    }
    return true;
  }

  private fail(response: DebugProtocol.Response, e: unknown): void {
    const known = e instanceof GuestError || e instanceof LaunchError;
    const message = known ? (e as Error).message : `internal error: ${(e as Error)?.stack ?? e}`;
    this.sendErrorResponse(response, { id: 1, format: message.replace(/[{}]/g, (c) => (c === '{' ? '(' : ')')), showUser: true });
  }
}
