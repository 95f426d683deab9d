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
import { Machine } from '../vmm/machine.js';
import { GuestError } from '../vmm/errors.js';
import type { Stop } from '../vmm/debug/stops.js';
import { describeStop } from '../vmm/debug/stops.js';
import { cpuMode, codeBitness, modeLabel } from '../vmm/arch/cpumode.js';
import { parseLaunchArgs, LaunchError, type LaunchConfig } from './launch-args.js';
import { DebugInfo } from './debug-info.js';
import { Breakpoints } from './breakpoints.js';
import { Stepper } from './stepping.js';
import { SCOPES, scopeVariables, parseRegisterValue, type ScopeName, type Snapshot, type Expand } from './views/registers.js';
import { disassemble } from './disasm.js';
import { unwind, type Frame } from './stack.js';
import { registerPanel, translate } from './machine-views.js';

/** What a variablesReference stands for. */
type VarRef = { scope: ScopeName; vcpu: number; frame: number } | Expand;

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
  private snapshots = new Map<number, Snapshot>();
  private stacks = new Map<number, Frame[]>();
  private serialFd = -1;
  private readonly decoder = new TextDecoder('utf-8');
  private exceptionText: string | undefined;

  constructor() {
    super();
    this.setDebuggerLinesStartAt1(true);
    this.setDebuggerColumnsStartAt1(true);
    this.configured = new Promise((r) => (this.markConfigured = r));
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
      supportsEvaluateForHovers: false,
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
    });
    this.bps.attach(this.machine);
    this.stepper = new Stepper(this.machine, this.bps, this.info, (vcpu) => this.callerOf(vcpu));
    this.sendEvent(new OutputEvent(`kvmdbg: ${basename(c.program)} (${this.machine.guest.format}) on ${this.machine.host.label}\n`, 'console'));
    this.sendEvent(new Event('kvm.host', { kind: this.machine.host.kind, label: this.machine.host.label }));
  }

  /** After launch or restart: stop on entry, or run. */
  private begin(): void {
    if (this.config!.stopOnEntry) this.sendEvent(new StoppedEvent('entry', THREAD_BASE));
    else this.resume(() => this.machine!.run());
  }

  protected async restartRequest(response: DebugProtocol.RestartResponse): Promise<void> {
    try {
      await this.stopRunning();
      await this.machine?.destroy();
      this.machine = undefined;
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
  }

  private async teardown(): Promise<void> {
    await this.stopRunning();
    await this.machine?.destroy();
    this.machine = undefined;
    if (this.serialFd >= 0) closeSync(this.serialFd);
    this.serialFd = -1;
  }

  private async stopRunning(): Promise<void> {
    if (this.running) {
      this.machine?.pause();
      await this.running;
    }
  }

  // --- run control -------------------------------------------------------------------------

  /** Starts `action` (a run or a step) and reports how it stopped; requests stay served. */
  private resume(action: () => Promise<Stop>): void {
    this.invalidateState();
    this.running = (async () => {
      let stop: Stop;
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

  private report(stop: Stop): void {
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
      case 'breakpoint': {
        const hit = this.bps.hitAt(stop.address);
        if (hit) stopped(hit.reason, undefined, hit.ids);
        else stopped('step');
        return;
      }
      case 'step':
        return stopped('step');
      case 'pause':
        return stopped('pause');
      case 'watchpoint':
        return stopped('data breakpoint', describeStop(stop));
      default:
        this.exceptionText = stop.kind === 'triple-fault' ? 'Triple fault: the CPU shut down (KVM_EXIT_SHUTDOWN); its state is kept for inspection'
          : describeStop(stop);
        return stopped('exception', this.exceptionText);
    }
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
    this.resume(() => this.machine!.run());
  }

  protected pauseRequest(response: DebugProtocol.PauseResponse): void {
    this.machine?.pause();
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
    this.resume(() => f(this.stepper!, vcpu));
  }

  // --- breakpoints -------------------------------------------------------------------------

  protected setBreakPointsRequest(response: DebugProtocol.SetBreakpointsResponse, args: DebugProtocol.SetBreakpointsArguments): void {
    const path = args.source.path ?? args.source.name ?? '';
    response.body = { breakpoints: this.bps.setSource(path, (args.breakpoints ?? []).map((b) => b.line)) };
    this.sendResponse(response);
  }

  protected setFunctionBreakPointsRequest(response: DebugProtocol.SetFunctionBreakpointsResponse, args: DebugProtocol.SetFunctionBreakpointsArguments): void {
    response.body = { breakpoints: this.bps.setFunctions(args.breakpoints.map((b) => b.name)) };
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
    const frames = this.stack(vcpu);
    const start = args.startFrame ?? 0;
    const count = args.levels || frames.length;
    response.body = {
      totalFrames: frames.length,
      stackFrames: frames.slice(start, start + count).map((f, i) => {
        const depth = start + i;
        const name = this.info?.symbolize(f.pc) ?? `0x${f.pc.toString(16)}`;
        const loc = this.info?.lineAt(f.pc);
        const sf = new StackFrame(vcpu * 1000 + depth, name, loc ? new Source(basename(loc.file), loc.file) : undefined,
          loc?.line ?? 0, loc?.column ?? 0) as DebugProtocol.StackFrame;
        sf.instructionPointerReference = '0x' + f.pc.toString(16);
        if (!loc) sf.presentationHint = 'subtle';
        return sf;
      }),
    };
    this.sendResponse(response);
  }

  protected scopesRequest(response: DebugProtocol.ScopesResponse, args: DebugProtocol.ScopesArguments): void {
    const vcpu = Math.floor(args.frameId / 1000);
    const frame = args.frameId % 1000;
    const scopes = frame === 0 ? SCOPES : (['Registers'] as const);
    response.body = {
      scopes: scopes.map((s) => new Scope(s, this.refs.create({ scope: s, vcpu, frame }), s !== 'Registers' && s !== 'System')),
    };
    this.sendResponse(response);
  }

  protected variablesRequest(response: DebugProtocol.VariablesResponse, args: DebugProtocol.VariablesArguments): void {
    if (!this.ready(response)) return;
    const ref = this.refs.get(args.variablesReference);
    try {
      let vars: DebugProtocol.Variable[] = [];
      if (typeof ref === 'function') vars = ref();
      else if (ref) vars = scopeVariables(ref.scope, this.snapshot(ref.vcpu, ref.frame), (f) => this.refs.create(f));
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
      if (!ref || typeof ref === 'function' || ref.frame !== 0) throw new GuestError(`${args.name} cannot be changed here`);
      const v = this.machine!.vcpu(ref.vcpu);
      const value = parseRegisterValue(args.value);
      const name = args.name;
      if (ref.scope === 'Registers') {
        v.setRegs({ [name]: value });
      } else if (ref.scope === 'System' && ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer'].includes(name)) {
        v.setSregs({ [name]: value });
      } else if (ref.scope === 'Debug' && /^dr[0-3]$|^dr[67]$/.test(name)) {
        const d = v.getDebugRegs();
        if (name === 'dr6') d.dr6 = value;
        else if (name === 'dr7') d.dr7 = value;
        else d.dr[Number(name[2])] = value;
        v.setDebugRegs(d);
      } else if (ref.scope === 'FPU/SSE' && name === 'mxcsr') {
        v.setFpu({ mxcsr: Number(value & 0xffffffffn) });
      } else if (ref.scope === 'FPU/SSE' && /^xmm\d+$/.test(name)) {
        const b = Buffer.alloc(16);
        b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(args.value.trim())), 0);
        b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(args.value.trim()) >> 64n), 8);
        const xmm = v.getFpu().xmm;
        xmm[Number(name.slice(3))] = b;
        v.setFpu({ xmm });
      } else {
        throw new GuestError(`${name} cannot be changed`);
      }
      this.invalidateState();
      const now = scopeVariables(ref.scope, this.snapshot(ref.vcpu, 0), (f) => this.refs.create(f)).find((x) => x.name === name);
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
      const data = this.readReadable(addr, args.count);
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

  /** Reads up to `count` bytes from `addr`, stopping at the first page that can't be read. */
  private readReadable(addr: bigint, count: number): Buffer {
    const parts: Buffer[] = [];
    let done = 0;
    while (done < count) {
      const a = addr + BigInt(done);
      const n = Math.min(count - done, 4096 - Number(a & 0xfffn));
      try {
        parts.push(this.machine!.readLinear(this.lastStopVcpu, a, n));
      } catch {
        break;
      }
      done += n;
    }
    return Buffer.concat(parts);
  }

  protected writeMemoryRequest(response: DebugProtocol.WriteMemoryResponse, args: DebugProtocol.WriteMemoryArguments): void {
    if (!this.ready(response)) return;
    try {
      const addr = BigInt(args.memoryReference) + BigInt(args.offset ?? 0);
      const data = Buffer.from(args.data, 'base64');
      this.machine!.writeLinear(this.lastStopVcpu, addr, data);
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
      const m = this.machine!;
      const vcpu = this.lastStopVcpu;
      const s = m.getSregs(vcpu);
      const bits = codeBitness(cpuMode({ ...s, rflags: m.getRegs(vcpu).rflags }));
      const start = BigInt(args.memoryReference) + BigInt(args.offset ?? 0);
      const read = (a: bigint, n: number) => {
        try {
          return m.readLinear(vcpu, a, n);
        } catch {
          return undefined;
        }
      };
      const lines = disassemble(read, bits, start, args.instructionOffset ?? 0, args.instructionCount, (a) => this.info?.symbolize(a), { csBase: s.cs.base });
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

  // --- custom requests from the extension ----------------------------------------------------

  protected customRequest(command: string, response: DebugProtocol.Response, args: Record<string, unknown> = {}): void {
    try {
      switch (command) {
        case 'kvm.serialInput': {
          const data = typeof args.data === 'string' ? Buffer.from(args.data, 'base64') : Buffer.from(String(args.text ?? ''));
          this.machine?.sendSerialInput(data);
          break;
        }
        case 'kvm.hostInfo':
          response.body = this.machine ? { kind: this.machine.host.kind, label: this.machine.host.label } : undefined;
          break;
        case 'kvm.cpuMode': {
          if (!this.ready(response)) return;
          const vcpu = typeof args.vcpu === 'number' ? args.vcpu : this.lastStopVcpu;
          const s = this.machine!.getSregs(vcpu);
          response.body = { mode: modeLabel(cpuMode({ ...s, rflags: this.machine!.getRegs(vcpu).rflags })) };
          break;
        }
        case 'kvm.registerPanel': {
          if (!this.ready(response)) return;
          response.body = registerPanel(this.machine!, typeof args.vcpu === 'number' ? args.vcpu : this.lastStopVcpu);
          break;
        }
        case 'kvm.translate': {
          if (!this.ready(response)) return;
          const text = String(args.address ?? '').trim();
          if (!/^(0x[0-9a-f]+|\d+)$/i.test(text)) throw new GuestError(`"${text}" is not an address (use 0x hex or decimal)`);
          response.body = translate(this.machine!, typeof args.vcpu === 'number' ? args.vcpu : this.lastStopVcpu, BigInt(text));
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
      const m = this.machine!;
      const s = m.getSregs(vcpu);
      this.sendEvent(new Event('kvm.mode', { vcpu, mode: modeLabel(cpuMode({ ...s, rflags: m.getRegs(vcpu).rflags })) }));
    } catch {
      // a vCPU whose state can't be read has no mode to show
    }
  }

  private serialOutput(bytes: Buffer): void {
    const c = this.config;
    if (c?.serial.kind === 'file') {
      writeSync(this.serialFd, bytes);
    } else if (c?.serial.kind === 'terminal') {
      this.sendEvent(new Event('kvm.serial', { data: bytes.toString('base64') }));
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

  private invalidateState(): void {
    this.snapshots.clear();
    this.stacks.clear();
    this.refs.reset();
  }

  private snapshot(vcpu: number, frame: number): Snapshot {
    const key = vcpu * 1000 + frame;
    let s = this.snapshots.get(key);
    if (!s) {
      const v = this.machine!.vcpu(vcpu);
      s = { regs: v.getRegs(), sregs: v.getSregs(), debug: v.getDebugRegs(), fpu: v.getFpu() };
      if (frame > 0) {
        const f = this.stack(vcpu)[frame];
        s = { ...s, regs: { ...s.regs, ...f.regs, rip: f.pc } };
      }
      this.snapshots.set(key, s);
    }
    return s;
  }

  private stack(vcpu: number): Frame[] {
    let frames = this.stacks.get(vcpu);
    if (!frames) {
      frames = unwind(this.machine!, vcpu, this.info);
      this.stacks.set(vcpu, frames);
    }
    return frames;
  }

  private callerOf(vcpu: number): { pc: bigint; sp: bigint } | undefined {
    const frames = unwind(this.machine!, vcpu, this.info);
    const f = frames[1];
    return f && f.regs.rsp !== undefined ? { pc: f.pc, sp: f.regs.rsp } : undefined;
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
