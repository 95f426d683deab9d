// The debug target: a stopped (or running) machine as a debugger sees it, knowing no DAP. It
// owns the per-stop model (each vCPU's registers, CPU mode and call stack, read once per stop),
// memory reads that tolerate unmapped pages, register writes by name, frame handles, expression
// evaluation in a frame, the breakpoint table's verdicts and the run policy (run or step to a
// stop worth reporting, watching CPU mode switches). The DAP session (src/dap/session.ts) only
// translates requests and events to and from it.
import type { Machine } from '../vmm/machine.js';
import type { Stop } from '../vmm/debug/stops.js';
import { GuestError } from '../errors.js';
import { cpuMode, codeBitness, modeLabel, type CpuMode } from '../x86/modes.js';
import { EFER_LMA, type Regs } from '../x86/registers.js';
import { Stack, unwind, valueReader, type Frame } from './stack.js';
import type { DebugInfo } from './debug-info.js';
import type { DebugRegs, Fpu, Sregs } from '../vmm/vcpu.js';
import type { Breakpoints, BreakpointState } from './breakpoints.js';
import { kernelSlide, slideAtEntry } from './kernel-slide.js';
import { Stepper } from './stepping.js';
import { StopPrefetch, breakpointReads } from './stop-prefetch.js';
import { evaluate, machineContext, type CType, type EvalContext } from './evaluate.js';
import { Recorder } from './history/recorder.js';
import { Reverse } from './history/reverse.js';
import { runHistoryCommand, type HistoryAnswer } from './history/commands.js';
import { KernelData } from './linux/kernel-data.js';
import { runLinuxCommand } from './linux/commands.js';
import { Tasks, currentTaskReads } from './linux/tasks.js';
import { listModules, moduleSymbols } from './linux/modules.js';

/** A stop of the session: the monitor's, or one the run policy raised itself. */
export type TargetStop = Stop | { kind: 'mode-switch'; vcpu: number; from: string; to: string };

/** The ways to step: into calls or over them, by source line or by instruction, or out. */
export type StepKind = 'in' | 'over' | 'instruction' | 'instructionOver' | 'out' | 'backInstruction' | 'backLine';

/** A stop and why it is reported beyond its kind. */
export interface Reported {
  stop: TargetStop;
  detail: StopDetail;
}

/** Why a stop is reported beyond its kind: the breakpoints hit, a text, the reason to show. */
export interface StopDetail {
  ids?: number[];
  text?: string;
  reason?: string;
}

/** The register groups of a vCPU, as a debugger shows them (one scope each). */
export const REGISTER_GROUPS = ['Registers', 'Segments', 'System', 'Debug', 'FPU/SSE'] as const;
export type RegisterGroup = (typeof REGISTER_GROUPS)[number];

/** A frame's registers at a stop; debug and FPU state are read when first asked for. */
export interface Snapshot {
  regs: Regs;
  sregs: Sregs;
  debug: DebugRegs;
  fpu: Fpu;
}

/** A frame handle: which vCPU, which frame of its stack (0 = innermost). */
export interface FrameRef {
  vcpu: number;
  frame: number;
}

const FRAMES_PER_VCPU = 1000;

/** While a kernel's symbols wait for its slide from the IDT, a run looks for it this often. */
const SLIDE_POLL_MS = 100;

/** Bounds of one live watch request (peek). */
export const PEEK_MAX_EXPRESSIONS = 100;
export const PEEK_MAX_LENGTH = 1000;

/** A live watch expression's value, or why it has none. */
export type PeekValue = { value: string; type: string } | { error: string };

/** The context without its ways to write: a live watch only reads. */
function readOnly(ctx: EvalContext): EvalContext {
  return { ...ctx, writeMemory: undefined, writePhysical: undefined, setRegister: undefined };
}

export class DebugTarget {
  private readonly snapshots = new Map<number, Snapshot>();
  private readonly stacks = new Map<number, Stack>();
  private kernelData: KernelData | undefined;
  /** The module list as last read (addresses and names), to see loads and unloads. */
  private modulesSeen: string | undefined;
  /** The vCPU whose page tables the kernel's data is read through. */
  private kernelVcpu = 0;
  /** A pause asked for while the target itself drives the guest (mode-switch stepping). */
  private pauseWanted = false;
  /** Whether the monitor stops where the kernel first runs at its virtual addresses (kernel-entry). */
  private slideFromEntry = false;

  private readonly stepper: Stepper;
  /** Reads what a stop at a breakpoint will show while the guest runs toward it. */
  private readonly prefetch = new StopPrefetch();
  /** Reverse execution: the recorded history of vCPU 0 and the policy of moving back through it. */
  readonly history: Recorder;
  private readonly reverse: Reverse;
  /**
   * Told when symbols moved or came (a kernel's KASLR slide found, its modules' symbols read),
   * with a line for the Debug Console and the breakpoints that moved.
   */
  onSymbolsChanged: ((message: string, changed: BreakpointState[]) => void) | undefined;

  /** `log` receives the lines of logpoints that were hit. */
  constructor(readonly machine: Machine, private readonly info: DebugInfo | undefined, private readonly hits: Breakpoints,
    private readonly log: (line: string) => void) {
    this.history = new Recorder(machine);
    this.stepper = new Stepper(machine, hits, info, (vcpu) => this.callerOf(vcpu), this.history);
    this.reverse = new Reverse(machine, this.history, hits, info, (stop) => {
      this.invalidate(); // a condition reads the registers of this point of the history
      return this.judge(stop);
    }, log);
    if (info?.needsKernelSlide) this.slideFromEntry = machine.watchKernelEntry();
  }

  /**
   * How the kernel's KASLR slide will be found, for the Debug Console: where a kernel's symbols
   * wait for it; undefined otherwise.
   */
  get slideSource(): string | undefined {
    if (!this.info?.needsKernelSlide) return undefined;
    return this.slideFromEntry
      ? 'when the kernel first runs at its virtual addresses (its GS-base wrmsr in head_64.S, trapped), before start_kernel'
      : 'from its IDT once the kernel has set up its exception handlers (this host can\'t trap MSR writes: KVM_CAP_X86_USER_SPACE_MSR)';
  }

  // --- handles -------------------------------------------------------------------------------

  static frameId(vcpu: number, frame: number): number {
    return vcpu * FRAMES_PER_VCPU + frame;
  }

  static frameRef(id: number): FrameRef {
    return { vcpu: Math.floor(id / FRAMES_PER_VCPU), frame: id % FRAMES_PER_VCPU };
  }

  // --- the per-stop model ----------------------------------------------------------------------

  /** Forgets what was read at the last stop: the guest ran, or its state was written. */
  invalidate(): void {
    this.snapshots.clear();
    this.stacks.clear();
  }

  /** The vCPU's CPU mode, from its special registers and RFLAGS. */
  mode(vcpu: number): CpuMode {
    const s = this.machine.getSregs(vcpu);
    return cpuMode({ ...s, rflags: this.machine.getRegs(vcpu).rflags });
  }

  modeLabel(vcpu: number): string {
    return modeLabel(this.mode(vcpu));
  }

  codeBits(vcpu: number): 16 | 32 | 64 {
    return codeBitness(this.mode(vcpu));
  }

  /** The call stack (CFI, else frame pointers) with its inlined calls' frames, unwound once per stop. */
  stack(vcpu: number): Stack {
    let stack = this.stacks.get(vcpu);
    if (!stack) {
      stack = new Stack(unwind(this.machine, vcpu, this.info), this.info);
      this.stacks.set(vcpu, stack);
    }
    return stack;
  }

  /** Frame `frame` of a vCPU's stack; undefined past its end. */
  frame(vcpu: number, frame: number): Frame | undefined {
    return this.stack(vcpu).at(frame);
  }

  /** The caller's PC and stack pointer, for step out (unwound now, not from the cache). */
  callerOf(vcpu: number): { pc: bigint; sp: bigint } | undefined {
    const f = unwind(this.machine, vcpu, this.info)[1];
    return f && f.regs.rsp !== undefined ? { pc: f.pc, sp: f.regs.rsp } : undefined;
  }

  /** A frame's registers; debug and FPU state are read only when asked for. */
  snapshot(vcpu: number, frame: number): Snapshot {
    const key = DebugTarget.frameId(vcpu, frame);
    let s = this.snapshots.get(key);
    if (!s) {
      const v = this.machine.vcpu(vcpu);
      let regs = v.getRegs();
      // A caller's registers are those the unwinder restored; an inlined call's frame (frame > 0
      // too) shares the vCPU's. Frame 0 needs no unwinding.
      const f = frame > 0 ? this.frame(vcpu, frame) : undefined;
      if (f?.caller) regs = { ...regs, ...f.regs, rip: f.pc };
      let debug: Snapshot['debug'] | undefined;
      let fpu: Snapshot['fpu'] | undefined;
      s = {
        regs, sregs: v.getSregs(),
        get debug() { return (debug ??= v.getDebugRegs()); },
        get fpu() { return (fpu ??= v.getFpu()); },
      };
      this.snapshots.set(key, s);
    }
    return s;
  }

  // --- memory ----------------------------------------------------------------------------------

  /** `len` bytes at a linear address, or undefined where a page is not mapped. */
  read(vcpu: number, address: bigint, len: number): Buffer | undefined {
    try {
      return this.machine.readLinear(vcpu, address, len);
    } catch {
      return undefined;
    }
  }

  /** Up to `count` bytes from `address`, ending at the first page that can't be read. */
  readReadable(vcpu: number, address: bigint, count: number): Buffer {
    const parts: Buffer[] = [];
    for (let done = 0; done < count;) {
      const a = address + BigInt(done);
      const n = Math.min(count - done, 4096 - Number(a & 0xfffn));
      const b = this.read(vcpu, a, n);
      if (!b) break;
      parts.push(b);
      done += n;
    }
    return Buffer.concat(parts);
  }

  /** Writes guest memory at a linear address; what was read at this stop may have changed. */
  write(vcpu: number, address: bigint, data: Buffer): void {
    this.machine.writeLinear(vcpu, address, data);
    this.invalidate();
  }

  // --- registers by name -----------------------------------------------------------------------

  /**
   * Writes a register of the innermost frame, named as its scope shows it: a general register,
   * cr0-cr4/cr8/efer, dr0-dr3/dr6/dr7, mxcsr or xmmN.
   */
  writeRegister(vcpu: number, scope: RegisterGroup, name: string, value: bigint): void {
    const v = this.machine.vcpu(vcpu);
    if (scope === 'Registers') {
      v.setRegs({ [name]: value } as Partial<Regs>);
    } else if (scope === 'System' && ['cr0', 'cr2', 'cr3', 'cr4', 'cr8', 'efer'].includes(name)) {
      v.setSregs({ [name]: value });
    } else if (scope === 'Debug' && /^dr[0-3]$|^dr[67]$/.test(name)) {
      const d = v.getDebugRegs();
      if (name === 'dr6') d.dr6 = value;
      else if (name === 'dr7') d.dr7 = value;
      else d.dr[Number(name[2])] = value;
      v.setDebugRegs(d);
    } else if (scope === 'FPU/SSE' && name === 'mxcsr') {
      v.setFpu({ mxcsr: Number(value & 0xffffffffn) });
    } else if (scope === 'FPU/SSE' && /^xmm\d+$/.test(name)) {
      const b = Buffer.alloc(16);
      b.writeBigUInt64LE(BigInt.asUintN(64, value), 0);
      b.writeBigUInt64LE(BigInt.asUintN(64, value >> 64n), 8);
      const xmm = v.getFpu().xmm;
      xmm[Number(name.slice(3))] = b;
      v.setFpu({ xmm });
    } else {
      throw new GuestError(`${name} cannot be changed`);
    }
    this.invalidate();
  }

  // --- expressions ---------------------------------------------------------------------------

  /**
   * The evaluation context of a vCPU's frame: memory and symbols, the frame's registers (a
   * caller's as the call frame information restores them), its DWARF variables and types.
   */
  evalContext(vcpu: number, frame = 0): EvalContext {
    const info = this.info;
    const f = this.frame(vcpu, frame) ?? this.frame(vcpu, 0)!;
    const read = valueReader(this.machine, vcpu);
    const variable = (name: string) => {
      const v = info?.localsAt(f.scopePc, f.inline?.depth).find((x) => x.name === name) ?? info?.globalNamed(name);
      if (!v) return this.perCpuVariable(name, vcpu);
      const location = v.locate({ pc: f.scopePc, regs: f.dwarfRegs, cfa: f.cfa, read, bits: f.bits });
      if (location.kind === 'error') throw new GuestError(`${name}: ${location.message}`);
      return { type: v.type, location };
    };
    const ctx = machineContext(this.machine, vcpu, info, { variable, typeByName: (n) => info?.typeByName(n) });
    if (f.caller) {
      // Only what the unwinder restored is known in a caller; the rest would be the callee's.
      const known = f.regs as Record<string, bigint | undefined>;
      ctx.register = (name) => (name in known ? known[name] : undefined);
      ctx.setRegister = undefined;
    }
    return ctx;
  }

  /** An expression's value as text, in a vCPU's innermost frame (conditions, logpoints). */
  evaluate(expr: string, vcpu: number): string {
    return evaluate(expr, this.evalContext(vcpu)).value;
  }

  // --- live watch ------------------------------------------------------------------------------

  /**
   * Expressions evaluated now, for a live watch: at a stop as `evaluate` does (innermost frame),
   * and while the guest runs, between two time slices of the run loop (no vCPU is inside KVM_RUN
   * then). Running, memory is read through the page tables as they are now and registers are those
   * of the last exit; nothing is written and the per-stop caches are neither read nor filled (the
   * next stop must not find values from the middle of a run). Each expression's error is its own;
   * the work is bounded: PEEK_MAX_EXPRESSIONS expressions of PEEK_MAX_LENGTH characters, each
   * rendered as its one-line summary (an aggregate's children are never expanded).
   */
  peek(expressions: readonly string[], vcpu: number, running: boolean): PeekValue[] {
    if (expressions.length > PEEK_MAX_EXPRESSIONS) {
      throw new GuestError(`at most ${PEEK_MAX_EXPRESSIONS} live watch expressions at a time (${expressions.length} were asked for)`);
    }
    let ctx: EvalContext | undefined;
    let failure = '';
    try {
      ctx = readOnly(running ? this.liveContext(vcpu) : this.evalContext(vcpu));
    } catch (e) {
      failure = (e as Error).message;
    }
    return expressions.map((expr) => {
      if (!ctx) return { error: failure };
      if (typeof expr !== 'string') return { error: 'not an expression' };
      if (expr.length > PEEK_MAX_LENGTH) return { error: `longer than ${PEEK_MAX_LENGTH} characters` };
      try {
        const r = evaluate(expr, ctx);
        return { value: r.value, type: r.type };
      } catch (e) {
        return { error: (e as Error).message };
      }
    });
  }

  /**
   * An evaluation context of a running vCPU, cached nowhere: symbols, DWARF globals and, where the
   * innermost frame unwinds, its locals (else they are "not available while running").
   */
  private liveContext(vcpu: number): EvalContext {
    const info = this.info;
    let f: Frame | undefined;
    try {
      f = unwind(this.machine, vcpu, info)[0];
    } catch {
      f = undefined;
    }
    const read = valueReader(this.machine, vcpu);
    const variable = (name: string) => {
      const local = f ? info?.localsAt(f.scopePc).find((x) => x.name === name) : undefined;
      const v = local ?? info?.globalNamed(name);
      if (!v) {
        if (!f && info?.localsAt(this.machine.linearRip(vcpu)).some((x) => x.name === name)) throw new GuestError(`${name}: not available while running`);
        return undefined;
      }
      const pc = f?.scopePc ?? this.machine.linearRip(vcpu);
      const location = v.locate({ pc, regs: f?.dwarfRegs ?? new Map(), cfa: f?.cfa, read, bits: f?.bits ?? 64 });
      if (location.kind === 'error') throw new GuestError(`${name}: ${location.message}`);
      return { type: v.type, location };
    };
    return machineContext(this.machine, vcpu, info, { variable, typeByName: (n) => info?.typeByName(n) });
  }

  // --- run policy ------------------------------------------------------------------------------

  /** Stops a run in progress: the monitor's, or the target's own stepping. */
  pause(): void {
    this.pauseWanted = true;
    this.history.pause();
    this.machine.pause();
  }

  /**
   * Runs until a stop worth reporting: breakpoint hits whose conditions or hit counts say "not
   * yet", and logpoints, go on by themselves. `watchModes` single-steps the guest instead,
   * comparing CR0.PE/PG and EFER.LMA after every instruction.
   */
  async run(vcpu: number, watchModes: boolean): Promise<Reported> {
    this.invalidate();
    // Between two time slices no vCPU is inside KVM_RUN: the IDT can be read then.
    const poll = this.info?.needsKernelSlide && !this.slideFromEntry ? setInterval(() => this.findKernelSlide(), SLIDE_POLL_MS) : undefined;
    // Prepared again when a kernel's symbols move by its slide (reads at the link addresses
    // stay kept where the slide is 0: nokaslr).
    let preparedWaiting: boolean | undefined;
    const info = this.info;
    try {
      for (;;) {
        if (info && info.needsKernelSlide !== preparedWaiting) {
          preparedWaiting = info.needsKernelSlide;
          // The frame index serves a stop anywhere (a pause too); the rest, stops at breakpoints.
          this.prefetch.start([() => info.callFrameInfo(), ...currentTaskReads(info), ...breakpointReads(info, this.hits.codeAddresses())]);
        }
        const stop = watchModes ? await this.stepWatchingModes(vcpu) : await this.history.run(this.history.replaying ? this.reverse.watches() : []);
        this.findKernelSlide();
        const j = this.judge(stop);
        if (j.report) {
          if ('vcpu' in stop) this.findKernelModules(stop.vcpu);
          return { stop, detail: j.detail };
        }
      }
    } finally {
      clearInterval(poll);
      this.prefetch.cancel();
    }
  }

  /**
   * Where a kernel's symbols wait for the running kernel's KASLR slide and the monitor can't stop
   * at the kernel's entry: looks for it in vCPU 0's IDT (kernel-slide.ts). Nothing happens before
   * the kernel has set up its exception handlers.
   */
  private findKernelSlide(): void {
    const info = this.info;
    if (!info?.needsKernelSlide || this.slideFromEntry) return;
    let slide: bigint | undefined;
    try {
      slide = kernelSlide(this.machine, 0, (name) => info.linkedKernelSymbol(name));
    } catch {
      return; // registers that can't be read now: asked again later
    }
    if (slide !== undefined) this.moveKernel(slide, 'from its IDT');
  }

  /** The kernel-entry stop: the slide from its address, before start_kernel has run. */
  private kernelEntered(stop: Extract<TargetStop, { kind: 'kernel-entry' }>): void {
    const info = this.info;
    if (!info?.needsKernelSlide) return;
    const slide = slideAtEntry(stop.address, (name) => info.linkedKernelSymbol(name));
    if (slide !== undefined) {
      this.moveKernel(slide, `from its first instruction at a virtual address, 0x${stop.address.toString(16)}`);
      return;
    }
    this.slideFromEntry = false; // the IDT then
    this.log(`kvmdbg: the kernel first ran at 0x${stop.address.toString(16)}, outside the text of its symbols: the KASLR slide will be read from its IDT instead`);
  }

  private moveKernel(slide: bigint, how: string): void {
    const moves = this.info!.setKernelSlide(slide);
    this.stacks.clear();
    const text = `${slide < 0n ? '-' : ''}0x${(slide < 0n ? -slide : slide).toString(16)}`;
    this.onSymbolsChanged?.(`the kernel's KASLR slide is ${text} (${how}): its symbols moved by it`, this.hits.symbolsMoved(moves));
  }

  /**
   * Where the session knows a Linux kernel's module list (its `modules` symbol): reads it after
   * a run, and when it changed, the modules' own symbols (as gdb's lx-symbols, from the kernel's
   * memory rather than the .ko files); function breakpoints on them resolve then. A list that
   * can't be read yet (early in the boot) is looked at again after the next run.
   */
  private findKernelModules(vcpu: number, always = false): string | undefined {
    const info = this.info;
    if (!info?.functionAddress('modules') || info.needsKernelSlide) return undefined;
    try {
      const k = this.kernel(vcpu);
      const mods = listModules(k);
      const key = mods.map((m) => `${m.address}:${m.name}`).join(',');
      if (key === this.modulesSeen && !always) return undefined;
      this.modulesSeen = key;
      const symbols = mods.map((m) => ({ name: m.name, symbols: moduleSymbols(k, m) }));
      info.setModuleSymbols(symbols.flatMap((m) => m.symbols));
      this.stacks.clear();
      const text = symbols.length
        ? `kernel modules' symbols: ${symbols.map((m) => `${m.name} (${m.symbols.length})`).join(', ')}`
        : 'kernel modules\' symbols: no modules loaded';
      this.onSymbolsChanged?.(text, this.hits.symbolsMoved());
      return text;
    } catch (e) {
      if (always) throw e;
      return undefined;
    }
  }

  /** One step of a vCPU; a breakpoint met on the way is judged (and reported) like a run's. */
  async step(vcpu: number, kind: StepKind): Promise<Reported> {
    // Out of an inlined function: out of its code, not out of the machine frame it shares.
    const inlined = kind === 'out' ? this.frame(vcpu, 0)?.inline?.ranges : undefined;
    this.invalidate();
    if (kind === 'backInstruction' || kind === 'backLine') return this.reverse.step(vcpu, kind === 'backLine');
    const s = this.stepper;
    const stop = await (kind === 'in' ? s.line(vcpu, false) : kind === 'over' ? s.line(vcpu, true)
      : kind === 'instruction' ? s.instruction(vcpu) : kind === 'instructionOver' ? s.instructionOver(vcpu)
        : inlined ? s.outOfInlined(vcpu, inlined) : s.out(vcpu));
    this.findKernelSlide();
    return { stop, detail: this.judge(stop).detail };
  }

  /** This target, when it has a history to go back in; else a GuestError saying how to record. */
  reversible(): this {
    this.reverse.needHistory();
    return this;
  }

  /** Back to the previous breakpoint hit or write to a data breakpoint's location. */
  async reverseContinue(vcpu: number): Promise<Reported> {
    this.invalidate();
    return this.reverse.continue(vcpu);
  }

  /** A history console command (record, info record, goto), or undefined for another line. */
  historyCommand(line: string): HistoryAnswer | undefined {
    const a = runHistoryCommand(line, this.history);
    if (a?.moved) this.invalidate();
    return a;
  }

  /** A Linux console command (lx-dmesg, lx-ps, lx-lsmod), read through `vcpu`; undefined for another line. */
  linuxCommand(line: string, vcpu: number): string | undefined {
    if (line.trim() === 'lx-symbols') {
      this.kernel(vcpu);
      return this.findKernelModules(vcpu, true) ?? 'no kernel module list here: the symbols name no `modules`, or the KASLR slide is not known yet';
    }
    return runLinuxCommand(line, () => this.kernel(vcpu));
  }

  /**
   * What a vCPU runs, for the Threads view: "sh (pid 73)" where the session knows a Linux
   * kernel's symbols and types (current_task); undefined otherwise, or where it can't be read now.
   */
  runningTask(vcpu: number): string | undefined {
    if (!this.hasPerCpuData(vcpu)) return undefined;
    try {
      const t = new Tasks(this.kernel(vcpu)).current(vcpu);
      return `${t.comm} (pid ${t.pid})`;
    } catch {
      return undefined; // early in the boot, or not Linux: the plain name
    }
  }

  /**
   * In a Linux kernel, a per-CPU variable (its BTF names them) read as this vCPU's copy, as the
   * kernel's this_cpu_read would: `current_task->comm`, `runqueues.nr_running`.
   */
  private perCpuVariable(name: string, vcpu: number): { type: CType; location: { kind: 'memory'; address: bigint } } | undefined {
    if (!this.hasPerCpuData(vcpu)) return undefined;
    const k = this.kernel(vcpu);
    const v = k.perCpuVariable(name);
    return v?.type && { type: v.type, location: { kind: 'memory', address: k.perCpuAddress(v, vcpu) } };
  }

  /** Whether a 64-bit Linux kernel's per-CPU areas can be found: its symbols name __per_cpu_offset, the vCPU is in long mode. */
  private hasPerCpuData(vcpu: number): boolean {
    return this.info?.functionAddress('__per_cpu_offset') !== undefined && (this.machine.getSregs(vcpu).efer & EFER_LMA) !== 0n;
  }

  /** The kernel's data through `vcpu`'s page tables; its in-memory BTF is read once per target. */
  private kernel(vcpu: number): KernelData {
    if (!this.info) throw new GuestError('the Linux commands need the kernel\'s symbols: add its System.map or vmlinux to "symbols" in launch.json');
    this.kernelData ??= new KernelData(this.info, (addr, length) => this.machine.readLinear(this.kernelVcpu, addr, length));
    this.kernelVcpu = vcpu;
    return this.kernelData;
  }

  /** Judges a breakpoint or watchpoint hit (counts, conditions, logpoints): report it or go on. */
  private judge(stop: TargetStop): { report: boolean; detail: StopDetail } {
    let detail: StopDetail = {};
    let ids: number[];
    if (stop.kind === 'kernel-entry') {
      this.kernelEntered(stop);
      return { report: false, detail };
    } else if (stop.kind === 'breakpoint') {
      const hit = this.hits.hitAt(stop.address);
      if (!hit) return { report: true, detail };
      ids = hit.ids;
      detail = { ids, reason: hit.reason };
    } else if (stop.kind === 'watchpoint') {
      const hit = this.hits.dataHit(stop.id);
      if (!hit) return { report: true, detail };
      ids = [hit.id];
      const now = this.readReadable(stop.vcpu, hit.target.address, hit.target.length);
      const value = now.length ? '0x' + Buffer.from(now).reverse().toString('hex') : 'unreadable';
      detail = {
        ids, reason: 'data breakpoint',
        text: `${stop.access === 'write' ? 'write to' : 'access to'} ${hit.target.description} (0x${hit.target.address.toString(16)}, ${hit.target.length} bytes), now ${value}; the instruction before 0x${this.machine.linearRip(stop.vcpu).toString(16)} made it`,
      };
    } else {
      return { report: true, detail };
    }
    const verdict = this.hits.judge(ids, (expr) => this.evaluate(expr, stop.vcpu));
    for (const line of verdict.logs) this.log(line);
    if (verdict.error) detail.text = verdict.error;
    detail.ids = verdict.ids;
    if (verdict.reason) detail.reason = verdict.reason;
    return { report: verdict.stop, detail };
  }

  /** The mode-switch filter's run: one instruction at a time, comparing the mode bits. */
  private async stepWatchingModes(vcpu: number): Promise<TargetStop> {
    const m = this.machine;
    const bits = () => {
      const s = m.getSregs(vcpu);
      return { key: (s.cr0 & 0x80000001n) | (s.efer & EFER_LMA), mode: this.modeLabel(vcpu) };
    };
    this.pauseWanted = false;
    let before = bits();
    for (let n = 1; ; n++) {
      const stop = await this.history.step(vcpu);
      if (stop.kind !== 'step') return stop;
      const after = bits();
      if (after.key !== before.key) return { kind: 'mode-switch', vcpu, from: before.mode, to: after.mode };
      before = after;
      const pc = m.linearRip(vcpu);
      if (this.hits.hitAt(pc)) return { kind: 'breakpoint', vcpu, address: pc, id: 0 };
      if (n % 2048 === 0) {
        await new Promise((r) => setImmediate(r));
        if (this.pauseWanted) return { kind: 'pause', vcpu };
      }
    }
  }
}
