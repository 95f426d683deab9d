// The DAP session: requests translated to the debug target (src/debugger) and its stops to
// events, as vscode-mock-debug's session does over its runtime. Each request hands off to one
// typed piece: the target (run control, state, memory, expressions), the breakpoint table,
// Variables (handles), the code views, the exception filters, the custom requests. It reads
// top to bottom: lifecycle, run control, breakpoints, state, memory, evaluation, custom requests.
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import {
  LoggingDebugSession, logger, Logger, InitializedEvent, StoppedEvent, ExitedEvent, TerminatedEvent,
  OutputEvent, InvalidatedEvent, MemoryEvent, Thread, Event, BreakpointEvent,
} from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { Machine } from '../vmm/machine.js';
import { GuestError, LaunchError } from '../errors.js';
import { parseLaunchArgs, type LaunchConfig } from './launch-args.js';
import { DebugInfo } from '../debugger/debug-info.js';
import { Breakpoints } from '../debugger/breakpoints.js';
import { evaluate } from '../debugger/evaluate.js';
import { runConsoleCommand, type ConsoleSettings } from '../debugger/console-commands.js';
import { DebugTarget, type Reported, type StepKind } from '../debugger/target.js';
import { EXCEPTION_FILTERS, ExceptionFilters } from './exception-filters.js';
import { reportStop } from './stop-report.js';
import { Variables } from './variables.js';
import { stackFrames, disassembly } from './views/code.js';
import { SerialSink } from './serial-sink.js';
import { answerCustomRequest } from './custom-requests.js';
import { ScreenEvents } from './screen-events.js';
import { KvmEvent, type HistoryBody, type HostBody, type ModeBody, type SerialBody } from '../protocol.js';

/** vCPU n is thread n + 1 (DAP thread ids start at 1 by habit). */
const THREAD_BASE = 1;

export class KvmDebugSession extends LoggingDebugSession {
  private config: LaunchConfig | undefined;
  private info: DebugInfo | undefined;
  private readonly bps = new Breakpoints(() => this.info);
  private readonly filters = new ExceptionFilters();
  private vars = new Variables(undefined);
  private serial: SerialSink | undefined;
  /** What launch.json and console commands (set disassembly-flavor) choose for the session. */
  private readonly settings: ConsoleSettings = { syntax: 'att' };
  /** The machine as a debugger sees it: from launch to teardown. */
  private target: DebugTarget | undefined;
  /** The guest's text screen as kvm.screen events, for the machine of `target`. */
  private screen: ScreenEvents | undefined;
  private readonly configured: Promise<void>;
  private markConfigured!: () => void;
  /** The run or step in progress, if any: requests that need a stopped guest are refused. */
  private running: Promise<void> | undefined;
  private lastStopVcpu = 0;
  private exceptionText: string | undefined;
  /** The CPU mode last announced per vCPU (kvm.mode is sent only when it changes). */
  private readonly lastMode = new Map<number, string>();
  /** The last kvm.history body sent, as JSON. */
  private lastHistory: string | undefined;

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
      supportsStepBack: true,
      supportsDelayedStackTraceLoading: true,
      exceptionBreakpointFilters: EXCEPTION_FILTERS,
    };
    this.sendResponse(response);
  }

  protected async launchRequest(response: DebugProtocol.LaunchResponse, args: DebugProtocol.LaunchRequestArguments): Promise<void> {
    try {
      const c = (this.config = parseLaunchArgs(args as unknown as Record<string, unknown>));
      if (c.trace) await traceTo(c.trace);
      this.settings.syntax = c.disassemblySyntax;
      this.info = new DebugInfo(c.program, c.symbols);
      this.vars = new Variables(this.info);
      this.serial = new SerialSink(c.serial, {
        console: (text) => this.sendEvent(new OutputEvent(text, 'stdout')),
        terminal: (bytes) => this.sendEvent(new Event(KvmEvent.serial, { data: bytes.toString('base64') } satisfies SerialBody)),
      });
      this.build(c);
      this.serial.open();
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

  /** Builds the machine and its target from the launch configuration (again, for a restart). */
  private build(c: LaunchConfig): void {
    const machine = new Machine({
      image: this.info?.programImage ?? c.program, imageName: c.program, memory: c.memory, smp: c.smp, format: c.format, cmdline: c.cmdline,
      modules: c.modules, loadAddress: c.loadAddress, entry: c.entry, mode: c.mode, disk: c.disk, loadWholeImage: c.loadWholeImage, bootEntry: c.bootEntry,
      recoverShutdown: c.recoverTripleFault,
      serial: (b) => this.serial?.write(b),
      kvmDevice: process.env.KVMDBG_DEVICE || undefined,
      // For tests of the stepping fallback used on hosts without KVM_GUESTDBG_BLOCKIRQ.
      blockIrq: process.env.KVMDBG_NO_BLOCKIRQ ? false : undefined,
    });
    this.info?.setFirmwareSymbols(machine.firmwareSymbols);
    this.bps.attach(machine);
    // A restarted kernel picks a new slide: breakpoints on its symbols wait for it again.
    const moves = this.info?.forgetKernelSlide();
    if (moves) this.sendBreakpointEvents(this.bps.symbolsMoved(moves));
    this.filters.applyTo(machine);
    this.target = new DebugTarget(machine, this.info, this.bps, (line) => this.sendEvent(new OutputEvent(line + '\n', 'console')));
    this.target.onSymbolsChanged = (message, changed) => {
      this.sendEvent(new OutputEvent(`kvmdbg: ${message}\n`, 'console'));
      this.sendBreakpointEvents(changed);
    };
    if (c.record) this.target.history.start();
    this.screen = new ScreenEvents(machine, (body) => this.sendEvent(new Event(KvmEvent.screen, body)));
    this.sendEvent(new OutputEvent(`kvmdbg: ${basename(c.program)} (${machine.guest.format}) on ${machine.host.label}\n`, 'console'));
    const slide = this.target.slideSource;
    if (slide) this.sendEvent(new OutputEvent(`kvmdbg: the kernel's KASLR slide is found ${slide}\n`, 'console'));
    this.sendEvent(new Event(KvmEvent.host, { kind: machine.host.kind, label: machine.host.label } satisfies HostBody));
  }

  /** After launch or restart: stop on entry, or run. */
  private begin(): void {
    if (!this.target) return;
    if (this.config?.stopOnEntry) {
      this.sendModeEvent(0);
      this.sendHistoryEvent();
      this.sendEvent(new StoppedEvent('entry', THREAD_BASE));
    } else {
      this.resume(this.target, this.run);
    }
  }

  protected async restartRequest(response: DebugProtocol.RestartResponse): Promise<void> {
    try {
      await this.stopRunning();
      this.screen?.dispose();
      await this.target?.machine.destroy();
      this.target = undefined;
      this.build(this.config!);
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
    // The trace file is written asynchronously: what is still queued would be lost at exit.
    if (this.config?.trace) await logger.dispose();
    // The base class's way out: the process ends (not in --server mode, where only this
    // connection does). Without it a client that keeps the pipes open keeps the adapter alive.
    this.shutdown();
  }

  private async teardown(): Promise<void> {
    await this.stopRunning();
    this.screen?.dispose();
    await this.target?.machine.destroy();
    this.target = undefined;
    this.serial?.close();
  }

  private async stopRunning(): Promise<void> {
    if (this.running) {
      this.target?.pause();
      await this.running;
    }
  }

  // --- run control -------------------------------------------------------------------------

  protected continueRequest(response: DebugProtocol.ContinueResponse): void {
    this.serve(response, () => {
      this.resume(this.stopped(), this.run);
      return { allThreadsContinued: true };
    });
  }

  protected pauseRequest(response: DebugProtocol.PauseResponse): void {
    this.target?.pause();
    this.sendResponse(response);
  }

  protected nextRequest(response: DebugProtocol.NextResponse, args: DebugProtocol.NextArguments): void {
    this.step(response, args.threadId, args.granularity === 'instruction' ? 'instructionOver' : 'over');
  }

  protected stepInRequest(response: DebugProtocol.StepInResponse, args: DebugProtocol.StepInArguments): void {
    this.step(response, args.threadId, args.granularity === 'instruction' ? 'instruction' : 'in');
  }

  protected stepOutRequest(response: DebugProtocol.StepOutResponse, args: DebugProtocol.StepOutArguments): void {
    this.step(response, args.threadId, 'out');
  }

  protected stepBackRequest(response: DebugProtocol.StepBackResponse, args: DebugProtocol.StepBackArguments): void {
    const vcpu = this.vcpuOf(args.threadId);
    this.serve(response, () => this.resume(this.stopped().reversible(), (t) => t.step(vcpu, args.granularity === 'instruction' ? 'backInstruction' : 'backLine')));
  }

  protected reverseContinueRequest(response: DebugProtocol.ReverseContinueResponse): void {
    this.serve(response, () => this.resume(this.stopped().reversible(), (t) => t.reverseContinue(this.lastStopVcpu)));
  }

  private step(response: DebugProtocol.Response, threadId: number, kind: StepKind): void {
    const vcpu = this.vcpuOf(threadId);
    this.serve(response, () => this.resume(this.stopped(), (t) => t.step(vcpu, kind)));
  }

  /** A run from the last stop's vCPU, single-stepped when the mode-switch filter is on. */
  private readonly run = (t: DebugTarget): Promise<Reported> => t.run(this.lastStopVcpu, this.filters.has('mode-switch'));

  /** Starts a run or a step of `target` and reports how it stopped; requests stay served meanwhile. */
  private resume(target: DebugTarget, action: (t: DebugTarget) => Promise<Reported>): void {
    this.vars.reset();
    this.running = (async () => {
      let reported: Reported;
      try {
        reported = await action(target);
      } catch (e) {
        this.running = undefined;
        this.exceptionText = (e as Error).message;
        this.sendEvent(new OutputEvent(`kvmdbg: ${this.exceptionText}\n`, 'stderr'));
        this.sendEvent(new StoppedEvent('exception', THREAD_BASE + this.lastStopVcpu, this.exceptionText));
        return;
      }
      this.running = undefined;
      if (this.target === target) this.report(reported);
    })();
  }

  private report({ stop, detail }: Reported): void {
    const vcpu = 'vcpu' in stop ? stop.vcpu : this.lastStopVcpu;
    this.lastStopVcpu = vcpu;
    const r = reportStop(stop, detail, this.filters);
    this.screen?.check();
    if (r.kind === 'ended') {
      if (r.message) this.sendEvent(new OutputEvent(r.message + '\n', 'console'));
      this.sendEvent(new ExitedEvent(r.code));
      this.sendEvent(new TerminatedEvent());
      return;
    }
    this.exceptionText = r.reason === 'exception' ? r.text : undefined;
    this.sendModeEvent(vcpu);
    this.sendHistoryEvent();
    const e = new StoppedEvent(r.reason, THREAD_BASE + vcpu, r.text) as DebugProtocol.StoppedEvent;
    e.body.allThreadsStopped = true;
    if (r.hit) e.body.hitBreakpointIds = r.hit;
    if (r.text) e.body.description = r.text;
    this.sendEvent(e);
  }

  protected exceptionInfoRequest(response: DebugProtocol.ExceptionInfoResponse): void {
    response.body = { exceptionId: 'kvm', description: this.exceptionText ?? 'no exception', breakMode: 'always' };
    this.sendResponse(response);
  }

  // --- breakpoints -------------------------------------------------------------------------

  protected setBreakPointsRequest(response: DebugProtocol.SetBreakpointsResponse, args: DebugProtocol.SetBreakpointsArguments): void {
    const path = args.source.path ?? args.source.name ?? '';
    this.serve(response, () => ({ breakpoints: this.bps.setSource(path, args.breakpoints ?? (args.lines ?? []).map((line) => ({ line }))) }));
  }

  protected setFunctionBreakPointsRequest(response: DebugProtocol.SetFunctionBreakpointsResponse, args: DebugProtocol.SetFunctionBreakpointsArguments): void {
    this.serve(response, () => ({ breakpoints: this.bps.setFunctions(args.breakpoints) }));
  }

  protected setInstructionBreakpointsRequest(response: DebugProtocol.SetInstructionBreakpointsResponse, args: DebugProtocol.SetInstructionBreakpointsArguments): void {
    this.serve(response, () => ({ breakpoints: this.bps.setInstructions(args.breakpoints) }));
  }

  protected dataBreakpointInfoRequest(response: DebugProtocol.DataBreakpointInfoResponse, args: DebugProtocol.DataBreakpointInfoArguments): void {
    this.serve(response, () => this.vars.dataBreakpointInfo(this.running ? undefined : this.target, args, this.lastStopVcpu));
  }

  protected setDataBreakpointsRequest(response: DebugProtocol.SetDataBreakpointsResponse, args: DebugProtocol.SetDataBreakpointsArguments): void {
    this.serve(response, () => ({ breakpoints: this.bps.setData(args.breakpoints) }));
  }

  protected setExceptionBreakPointsRequest(response: DebugProtocol.SetExceptionBreakpointsResponse, args: DebugProtocol.SetExceptionBreakpointsArguments): void {
    const options = args.filterOptions ?? args.filters.map((filterId) => ({ filterId }));
    this.serve(response, () => ({ breakpoints: this.filters.set(options, this.target?.machine) }));
  }

  // --- threads, stack, scopes, variables ----------------------------------------------------

  protected threadsRequest(response: DebugProtocol.ThreadsResponse): void {
    const n = this.target?.machine.vcpus.length ?? 1;
    // While stopped, a Linux guest's vCPU is named with the task it runs.
    const task = (i: number) => (this.running === undefined ? this.target?.runningTask(i) : undefined);
    response.body = { threads: Array.from({ length: n }, (_, i) => new Thread(THREAD_BASE + i, [`vCPU ${i}`, task(i)].filter(Boolean).join(': '))) };
    this.sendResponse(response);
  }

  protected stackTraceRequest(response: DebugProtocol.StackTraceResponse, args: DebugProtocol.StackTraceArguments): void {
    this.serve(response, () => stackFrames(this.stopped(), this.info, this.vcpuOf(args.threadId), args.startFrame, args.levels));
  }

  protected scopesRequest(response: DebugProtocol.ScopesResponse, args: DebugProtocol.ScopesArguments): void {
    this.serve(response, () => ({ scopes: this.vars.scopes(this.running ? undefined : this.target, args.frameId) }));
  }

  protected variablesRequest(response: DebugProtocol.VariablesResponse, args: DebugProtocol.VariablesArguments): void {
    this.serve(response, () => ({ variables: this.vars.variables(this.stopped(), args.variablesReference) }));
  }

  protected setVariableRequest(response: DebugProtocol.SetVariableResponse, args: DebugProtocol.SetVariableArguments): void {
    let memory: { address: bigint; size: number } | undefined;
    let invalidated: DebugProtocol.InvalidatedAreas[] = [];
    this.serve(response, () => {
      const r = this.vars.set(this.stopped(), args.variablesReference, args.name, args.value);
      ({ memory, invalidated } = r.changed);
      return r.body;
    }, () => {
      this.sendEvent(new InvalidatedEvent(invalidated));
      if (memory) this.sendEvent(new MemoryEvent('0x' + memory.address.toString(16), 0, memory.size));
    });
  }

  // --- memory and disassembly ----------------------------------------------------------------

  protected readMemoryRequest(response: DebugProtocol.ReadMemoryResponse, args: DebugProtocol.ReadMemoryArguments): void {
    this.serve(response, () => {
      const address = BigInt(args.memoryReference) + BigInt(args.offset ?? 0);
      const data = this.stopped().readReadable(this.lastStopVcpu, address, args.count);
      return { address: '0x' + address.toString(16), data: data.toString('base64'), unreadableBytes: args.count - data.length || undefined };
    });
  }

  protected writeMemoryRequest(response: DebugProtocol.WriteMemoryResponse, args: DebugProtocol.WriteMemoryArguments): void {
    const data = Buffer.from(args.data, 'base64');
    this.serve(response, () => {
      this.stopped().write(this.lastStopVcpu, BigInt(args.memoryReference) + BigInt(args.offset ?? 0), data);
      return { bytesWritten: data.length };
    }, () => {
      this.sendEvent(new MemoryEvent(args.memoryReference, args.offset ?? 0, data.length));
      this.sendEvent(new InvalidatedEvent(['variables']));
    });
  }

  protected disassembleRequest(response: DebugProtocol.DisassembleResponse, args: DebugProtocol.DisassembleArguments): void {
    this.serve(response, () => ({ instructions: disassembly(this.stopped(), this.info, this.lastStopVcpu, args, this.settings.syntax) }));
  }

  // --- evaluation ----------------------------------------------------------------------------

  protected evaluateRequest(response: DebugProtocol.EvaluateResponse, args: DebugProtocol.EvaluateArguments): void {
    this.serve(response, () => {
      const target = this.stopped();
      const { vcpu, frame } = args.frameId !== undefined ? DebugTarget.frameRef(args.frameId) : { vcpu: this.lastStopVcpu, frame: 0 };
      const ctx = target.evalContext(vcpu, frame);
      const history = args.context === 'repl' ? target.historyCommand(args.expression) : undefined;
      if (history) {
        this.sendHistoryEvent();
        return { result: history.text, variablesReference: 0 };
      }
      const linux = args.context === 'repl' ? target.linuxCommand(args.expression, vcpu) : undefined;
      if (linux !== undefined) return { result: linux, variablesReference: 0 };
      const out = args.context === 'repl' ? runConsoleCommand(args.expression, target.machine, vcpu, ctx, this.settings) : undefined;
      if (out !== undefined) return { result: out, variablesReference: 0 };
      return this.vars.evaluated(evaluate(args.expression, ctx, { hex: args.format?.hex, allowAssign: args.context === 'repl' }));
    });
  }

  // --- custom requests from the extension ----------------------------------------------------

  protected customRequest(command: string, response: DebugProtocol.Response, args: Record<string, unknown> = {}): void {
    this.serve(response, () => answerCustomRequest(command, args, { machine: this.target?.machine, screen: this.screen, stopped: () => this.stopped(), vcpu: this.lastStopVcpu, target: this.target, running: this.running !== undefined, keys: this.config?.keys ?? 'auto' }));
  }

  // --- helpers -------------------------------------------------------------------------------

  private sendBreakpointEvents(changed: DebugProtocol.Breakpoint[]): void {
    for (const b of changed) this.sendEvent(new BreakpointEvent('changed', b));
  }

  /** kvm.history, when the history or the position in it changed since the last one sent. */
  private sendHistoryEvent(): void {
    const h = this.target?.history;
    if (!h) return;
    const body: HistoryBody = { recording: h.recording, length: h.log.length, position: h.log.position };
    const key = JSON.stringify(body);
    if (key === this.lastHistory) return;
    this.lastHistory = key;
    this.sendEvent(new Event(KvmEvent.history, body));
  }

  /** Tells the extension the CPU mode at a stop (for its status bar). */
  private sendModeEvent(vcpu: number): void {
    try {
      const mode = this.target?.modeLabel(vcpu);
      if (mode === undefined || this.lastMode.get(vcpu) === mode) return;
      this.lastMode.set(vcpu, mode);
      this.sendEvent(new Event(KvmEvent.mode, { vcpu, mode } satisfies ModeBody));
    } catch {
      // a vCPU whose state can't be read has no mode to show
    }
  }

  private vcpuOf(threadId: number): number {
    const i = threadId - THREAD_BASE;
    return i >= 0 && i < (this.target?.machine.vcpus.length ?? 0) ? i : 0;
  }

  /** The target, when the guest is stopped; otherwise a GuestError saying why not. */
  private stopped(): DebugTarget {
    if (!this.target) throw new GuestError('no guest is running');
    if (this.running) throw new GuestError('the guest is running; pause it first');
    return this.target;
  }

  /** Answers with `answer`'s body, or with the error it threw; `after` sends events that follow the answer. */
  private serve<R extends DebugProtocol.Response>(response: R, answer: () => R['body'] | void, after?: () => void): void {
    try {
      response.body = answer() ?? undefined;
    } catch (e) {
      return this.fail(response, e);
    }
    this.sendResponse(response);
    after?.();
  }

  private fail(response: DebugProtocol.Response, e: unknown): void {
    const known = e instanceof GuestError || e instanceof LaunchError;
    const message = known ? (e as Error).message : `internal error: ${(e as Error)?.stack ?? e}`;
    this.sendErrorResponse(response, { id: 1, format: message.replace(/[{}]/g, (c) => (c === '{' ? '(' : ')')), showUser: true });
  }
}

/** How long a launch waits for its trace file to be open. */
const TRACE_OPEN_MS = 10_000;

/**
 * Logs the protocol to `file`. The library's logger opens the file after an asynchronous mkdir
 * and drops what is logged before: in a loaded test VM that once lost the whole session but the
 * disconnect. The launch goes on once the file is open (or after TRACE_OPEN_MS).
 */
async function traceTo(file: string): Promise<void> {
  // The logger truncates the file it opens: a file from an earlier run is open once it changed.
  const before = statSync(file, { throwIfNoEntry: false })?.mtimeMs;
  logger.setup(Logger.LogLevel.Verbose, file, false);
  const opened = () => {
    const now = statSync(file, { throwIfNoEntry: false });
    return now !== undefined && now.mtimeMs !== before;
  };
  for (const end = Date.now() + TRACE_OPEN_MS; !opened() && Date.now() < end;) await new Promise((r) => setTimeout(r, 10));
}
