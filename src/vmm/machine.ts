// A machine built from a plain config: the VM, its devices, the loaded guest, and the run loop.
// The run loop is the API the CLI and the debug adapter build on. It runs KVM_RUN on the thread
// that owns the machine, in time slices: between slices the event loop runs (DAP requests,
// timers, terminal input), and a slice timer (kicker.ts) ends a slice that never exits.
// Port I/O is handled inline, on the same thread, so an exit costs little more than in C.
import { nextPicVector } from './pic.js';
import { apicState, nextApicVector, type ApicState } from './lapic.js';
import * as abi from './kvm/abi.js';
import { EINTR, SysError } from './kvm/sys.js';
import { Vm } from './vm.js';
import { NO_DEBUGREGS, type Vcpu, type Regs, type Sregs } from './vcpu.js';
import { GuestError, hex } from '../errors.js';
import { PioBus, type DeviceHost } from './devices/bus.js';
import { Uart16550, COM1_PORT, COM1_IRQ } from './devices/uart16550.js';
import { DebugExit, DEBUG_EXIT_PORT } from './devices/debug-exit.js';
import { DebugCon, DEBUGCON_PORT } from './devices/debugcon.js';
import { ResetControl, RESET_CONTROL_PORT } from './devices/reset.js';
import { I8042, KBD_DATA_PORT, KBD_STATUS_PORT } from './devices/i8042.js';
import { VgaText, VGA_PORT_RANGES } from './devices/vga.js';
import { CmosRtc, CMOS_INDEX_PORT } from './devices/cmos-rtc.js';
import { AcpiPm, ACPI_PM_RANGES } from './devices/acpi-pm.js';
import { writeAcpiTables } from './firmware/acpi.js';
import { Kicker, type KickHandle } from './kicker.js';
import { SliceLength } from './slice-length.js';
import { Checkpoint } from './checkpoint.js';
import { replayToShutdown } from './shutdown-replay.js';
import { BreakpointTable, enabledSlots, type HwLength, type PlantTarget } from './debug/breakpoints.js';
import { HitMemo } from './debug/hit-memo.js';
import { replayFailed, TRIPLE_FAULT_STATE_LOST, type Stop, type WatchKind } from './debug/stops.js';
import { enterState } from './arch/entry-state.js';
import { cpuidLeaf, supportedCpuid } from './arch/cpuid.js';
import { walk, type PagingRegs } from '../x86/pagewalk.js';
import { TranslationCache } from './translation-cache.js';
import type { TrapMode } from './memory.js';
import { planMachine } from './plan.js';
import { Bios, setLegacyInterruptControllers } from './firmware/bios.js';
import { BIOS_TRAP_PORT, type FirmwareSymbol } from './firmware/rom.js';
import { firmwareFits } from './firmware/bda.js';
import { memoryMap } from './loaders/multiboot.js';
import type { BootEntry, CpuMode, GuestFormat, LoadedGuest } from './loaders/types.js';
import { int3Reaches, type HostInfo } from './host.js';
import {
  exitReason, isDebugTrap, isStepTrap, readDebugExit, readFailEntryReason, readInternalError, readIoExit, readMmioExit, readMsrExit, readSystemEventType,
  type DebugTrap, type IoExit, type MmioExit,
} from './exits.js';
import { DR6_BS, GPR, RFLAGS_IF } from '../x86/registers.js';
import { linearRip } from '../x86/modes.js';
import { KernelEntryWatch } from './kernel-entry.js';

export interface MachineConfig {
  /** The guest image: a path, or the bytes themselves. */
  image: string | Buffer;
  /** What messages call the image when `image` is bytes (a path names itself). */
  imageName?: string;
  /** Guest RAM in bytes (default 64 MiB). */
  memory?: number;
  smp?: number;
  format?: GuestFormat;
  cmdline?: string;
  modules?: { path: string; args?: string }[];
  loadAddress?: number;
  entry?: number;
  mode?: CpuMode;
  /** Where the guest's serial (COM1) output goes. */
  serial?: (bytes: Buffer) => void;
  /** Where port 0xE9 output goes (default: with the serial output). */
  debugcon?: (bytes: Buffer) => void;
  /** One line per port and MMIO access when set. */
  trace?: (line: string) => void;
  /** Stop on the guest's own int3 instead of passing it to the guest's #BP handler. */
  stopOnGuestInt3?: boolean;
  /**
   * How data watchpoints are implemented: DR0-DR3 (`debugregs`), or trapped memory pages
   * (`memslots`: writes to a read-only slot, or every access to an absent one, exit to us).
   * Default: memslots on kvm_pvm, whose instruction emulator ignores data breakpoints at CPL0.
   */
  watchBackend?: 'debugregs' | 'memslots';
  /** The KVM device (default /dev/kvm). */
  kvmDevice?: string;
  /** A boot sector's disk behind int 13h: floppy (00h) or hard disk (80h); default by image size (firmware/disk.ts). */
  disk?: 'floppy' | 'hdd';
  /** Load a boot sector's whole image at 0x7C00, not only sector 0 (the rest is read through int 13h). */
  loadWholeImage?: boolean;
  /** A Linux bzImage's boot protocol entry: 32 (default) or 64 (loaders/bzimage.ts). */
  bootEntry?: BootEntry;
  /**
   * How software breakpoints are placed: `int3` plants 0xCC while the guest runs (where the
   * host reports a guest's int3 to us: HostInfo.int3); `debugregs` never writes guest memory:
   * the first four take free debug registers, the rest trap their code pages. Default: int3
   * where it reaches the monitor in every mode (a guest may switch modes under a breakpoint).
   */
  softwareBreakpoints?: 'int3' | 'debugregs';
  /**
   * Whether step({ holdInterrupts }) may use KVM_GUESTDBG_BLOCKIRQ (default: where the host has
   * it). False makes `canHoldInterrupts` false, so that a caller's own fallback can be tested.
   */
  blockIrq?: boolean;
  /**
   * Checkpoint before every KVM_RUN so that a triple fault's state can be recovered by replay
   * where KVM re-initializes the vCPU at the shutdown (checkpoint.ts, shutdown-replay.ts). Off
   * by default: on the hosts that need it (SVM) it made I/O exits 1.5x and steps 1.3x as slow in
   * the test VM (bench/checkpoint.ts), a price for every run to see the state of a rare stop.
   * Without it, the stop names the option (TRIPLE_FAULT_STATE_LOST).
   */
  recoverShutdown?: boolean;
}

/** A watch as its watchpoint stop names it: slot (-1: a page trap), id, address and access. */
type Watch = Omit<Extract<Stop, { kind: 'watchpoint' }>, 'kind' | 'vcpu'>;

/** A data watch placed on guest-physical memory for the memslots backend. */
interface PhysWatch extends Watch {
  phys: number;
  length: number;
}

/**
 * Where the machine stands, one value: STOPPED between runs, RUNNING from beginRun to endRun
 * (a run or step, with the turns of the event loop between its slices), DESTROYED for good.
 * Each change happens in one place: beginRun (stopped → running), endRun and endHitRun
 * (running → stopped), destroy (stopped → destroyed). A pause asked for is not a state: it
 * waits in the kicker's shared slot, where another thread may set it too (kickFromAnyThread),
 * until the run takes it. Small integers, not strings: every run stores it twice, and storing
 * a string into an object is a write barrier that reads two more pages of V8's heap (in the
 * test VM each page touched after a KVM exit costs a fraction of a microsecond).
 */
const STOPPED = 0, RUNNING = 1, DESTROYED = 2;
type RunState = typeof STOPPED | typeof RUNNING | typeof DESTROYED;

/** A time slice's base length (slice-length.ts); with several vCPUs, each vCPU's turn. */
const SLICE_MS = 10;
/** The `hlt` opcode. */
const HLT = 0xf4;
const SMP_SLICE_MS = 2;
/** A replay to a triple fault: single steps at most (per pass) and milliseconds at most. */
const REPLAY_MAX_STEPS = 1_000_000;
const REPLAY_MAX_MS = 5000;
/**
 * A run's checkpoint takes a new base (registers, a dirty-log harvest) every this many time
 * slices, and logs the exits between: a harvest costs about a millisecond in the test VM, and a
 * replay runs through the logged exits at full speed before its single steps.
 */
const BASE_SLICES = 8;

export class Machine {
  readonly vm: Vm;
  readonly bus = new PioBus();
  readonly uart: Uart16550;
  /** The VGA's registers in text mode 03h; the text is guest RAM at 0xB8000 (screen.ts reads both). */
  readonly vga: VgaText;
  /** The i8042 with its keyboard: typeText/pressKeys reach the guest on port 0x60 and IRQ 1. */
  readonly keyboard: I8042;
  readonly rtc: CmosRtc;
  readonly guest: LoadedGuest;
  /** The BIOS (src/vmm/firmware) of a real-mode entry; none for protected and long mode. */
  readonly firmware: Bios | undefined;
  readonly breakpoints = new BreakpointTable();
  stopOnGuestInt3: boolean;
  private readonly kicker: Kicker;
  /** The slice timer's period, grown where turns of the event loop are slow (slice-length.ts). */
  private readonly slice: SliceLength;
  private readonly debugcon: DebugCon;
  private readonly kernelEntry: KernelEntryWatch;
  /** A stop raised by a device during an exit, returned once the exit is handled. */
  private pending: Stop | undefined;
  private state: RunState = STOPPED;
  /** Undefined while none: an I/O exit then reads no array. */
  private portWatches: { from: number; to: number }[] | undefined;
  /** Debug registers changed while running: apply them before the next slice. */
  private debugDirty = false;
  private current = 0;
  /** The vCPU at `current` and its step stop (select): the step fast path reads no array. */
  private currentVcpu!: Vcpu;
  private currentStepStop!: Stop;
  /** vCPU whose next resume must hand the guest its own int3 (after a guest-int3 stop). */
  private deliverInt3 = new Set<number>();
  private readonly plantTarget: PlantTarget;
  private readonly translations = new TranslationCache();
  /** One frozen step stop per vCPU: a fast step allocates nothing. */
  private readonly stepStops: readonly Stop[];
  readonly watchBackend: 'debugregs' | 'memslots';
  private physWatches: PhysWatch[] = [];
  /** Debug-register breakpoints standing in for software ones: hw id → sw id. */
  private readonly borrowed = new Map<number, number>();
  /** Where software breakpoints can't be planted: those beyond the debug registers trap their pages. */
  readonly softwareBreakpoints: 'int3' | 'debugregs';
  /** Set by placeSoftwareBreakpoints for a run, cleared by endRun. */
  private execTraps: readonly bigint[] = [];
  /** A software breakpoint this run resumes from over RFLAGS.RF: placeSoftwareBreakpoints gives it a debug register first. */
  private resumeFrom: bigint | undefined;
  private lastControl: { flags: number; regs: readonly bigint[] } = { flags: 0, regs: [] };
  /**
   * The guest-debug control word of a plain single step (with or without BLOCKIRQ) when guest
   * debug is set for one and nothing has changed since: no debug registers, page traps or int3
   * hand-over to arrange; -1 otherwise. One field, so that the fast step path reads nothing
   * beyond this object (after KVM_RUN every other object is a cache miss).
   */
  private plainStep = -1;
  /**
   * Guest debug is set for a run, with every debug-register breakpoint armed and nothing else:
   * no slot lifted, no page traps (continueFromHit). Dropped wherever plainStep is.
   */
  private plainRun = false;
  /**
   * The breakpoint continueFromHit last continued from (hit-memo.ts). Dropped with plainRun,
   * whenever guest debug is set again, and when a software breakpoint is added (the fast path
   * is then off, or one right after it would rule out RF).
   */
  private hitMemo: HitMemo | undefined;
  /** The host's emulator finishes an `out` before its exit (kvm_pvm: outDoneAtExit). */
  private readonly emulatedOut: boolean;
  /** RIP where the current single step began, kept only where emulatedOut. */
  private stepFrom = -1n;
  /** The last I/O and debug exits, read into these (exits.ts): the hot paths allocate nothing. */
  private readonly ioExit: IoExit = { out: false, size: 0, port: 0, count: 0, dataOffset: 0 };
  private readonly debugTrap: DebugTrap = { exception: 0, dr6: 0 };
  /** step() can hold interrupts off with KVM_GUESTDBG_BLOCKIRQ. */
  readonly canHoldInterrupts: boolean;
  /** The state before the last KVM_RUN, where a triple fault loses it (recoverShutdown). */
  private readonly checkpoint: Checkpoint | undefined;
  /** Time slices of this run since its checkpoint's last base. */
  private slicesSinceBase = 0;

  constructor(config: MachineConfig) {
    // Files, format, sizes and the load itself are judged before KVM is opened (plan.ts).
    const plan = planMachine(config, {
      format: config.format, cmdline: config.cmdline ?? '',
      loadAddress: config.loadAddress, entry: config.entry, mode: config.mode,
      disk: config.disk, wholeImage: config.loadWholeImage, bootEntry: config.bootEntry,
    });
    this.vm = new Vm(plan.memory, plan.smp, config.kvmDevice);
    this.kernelEntry = new KernelEntryWatch(this.vm);
    try {
      this.guest = plan.guest;
      const host: DeviceHost = {
        stop: (s) => (this.pending ??= s),
        setIrq: (irq, level) => this.vm.setIrqLine(irq, level),
      };
      const serial = config.serial ?? ((b: Buffer) => process.stdout.write(b));
      this.uart = new Uart16550(COM1_PORT, COM1_IRQ, host, serial);
      this.debugcon = config.debugcon ? new DebugCon(config.debugcon) : new DebugCon(serial, this.uart);
      this.bus.register(COM1_PORT, 8, this.uart);
      this.bus.register(DEBUG_EXIT_PORT, 1, new DebugExit(host));
      this.bus.register(DEBUGCON_PORT, 1, this.debugcon);
      this.keyboard = new I8042(host, () => this.current);
      this.bus.register(KBD_DATA_PORT, 1, this.keyboard);
      this.bus.register(KBD_STATUS_PORT, 1, this.keyboard);
      this.vga = new VgaText();
      for (const [base, count] of VGA_PORT_RANGES) this.bus.register(base, count, this.vga);
      this.rtc = new CmosRtc(this.vm.memory.size);
      this.bus.register(CMOS_INDEX_PORT, 2, this.rtc);
      this.bus.register(RESET_CONTROL_PORT, 1, new ResetControl(host, () => this.current));
      this.bus.trace = config.trace;
      if (this.guest.format === 'bzimage' || this.guest.format === 'pvh') {
        // What a Linux kernel finds on a PC instead of a BIOS's tables: its CPUs and IOAPIC, and
        // the PM registers through which `poweroff` ends the machine (firmware/acpi.ts). A PVH
        // kernel is told where they are (its start info's rsdp_paddr, loaders/pvh.ts).
        writeAcpiTables(this.vm.memory, this.vm.vcpus.length);
        const pm = new AcpiPm(host, () => this.current);
        for (const [base, count] of ACPI_PM_RANGES) this.bus.register(base, count, pm);
      }
      this.firmware = this.guest.entry.mode === 'real' && firmwareFits(this.guest.extent) ? this.createFirmware() : undefined;
      const ext = cpuidLeaf(supportedCpuid(this.vm.kvmFd), 0x80000001);
      enterState(this.vm.vcpus[0], this.vm.memory, this.guest.entry, {
        gib1Pages: ((ext?.edx ?? 0) & (1 << 26)) !== 0,
      });
      this.slice = new SliceLength(this.vm.vcpus.length > 1 ? SMP_SLICE_MS : SLICE_MS);
      this.kicker = new Kicker(this.vm.vcpus.map((v) => v.runPageAddress), this.slice.ms);
    } catch (e) {
      this.vm.destroy();
      throw e;
    }
    this.stopOnGuestInt3 = config.stopOnGuestInt3 ?? false;
    this.stepStops = this.vm.vcpus.map((v) => Object.freeze({ kind: 'step', vcpu: v.id } as Stop));
    this.select(0);
    this.canHoldInterrupts = (config.blockIrq ?? true) && this.vm.host.blockIrq;
    this.breakpoints.onChange = () => this.dropPlain();
    this.watchBackend = config.watchBackend ?? (this.vm.host.kind === 'kvm_pvm' ? 'memslots' : 'debugregs');
    this.emulatedOut = this.vm.host.kind === 'kvm_pvm';
    this.softwareBreakpoints = config.softwareBreakpoints ?? (int3Reaches(this.vm.host, 'every') ? 'int3' : 'debugregs');
    this.plantTarget = {
      toPhysical: (lin) => this.linearToPhysical(this.current, lin),
      readByte: (p) => this.vm.memory.view(p, 1)[0],
      writeByte: (p, v) => {
        this.vm.memory.view(p, 1)[0] = v;
        this.vm.memory.noteWrite(p, 1);
      },
    };
    if (config.recoverShutdown) this.checkpoint = new Checkpoint(this.vm.memory);
  }

  get host(): HostInfo {
    return this.vm.host;
  }

  /** The BIOS ROM's routines and tables (bios_int10, bios_irq0...), for call stacks and disassembly. */
  get firmwareSymbols(): readonly FirmwareSymbol[] {
    return this.firmware?.symbols ?? [];
  }

  /** The ROM, IVT, BDA and interrupt controllers a BIOS leaves; its disk transfers keep planted breakpoints. */
  private createFirmware(): Bios {
    const mem = this.vm.memory;
    const bios = new Bios({
      mem, disk: this.guest.disk, memoryMap: memoryMap(mem),
      readGuest: (gpa, len) => this.readPhysical(gpa, len),
      writeGuest: (gpa, data) => {
        mem.write(gpa, data);
        this.breakpoints.rewritten(this.plantTarget, gpa, data.length);
      },
      // The one place the BIOS's cursor reaches the VGA's CRTC.
      video: this.vga,
    });
    setLegacyInterruptControllers(this.vm.fd);
    return bios;
  }

  get vcpus(): readonly Vcpu[] {
    return this.vm.vcpus;
  }

  get isRunning(): boolean {
    return this.state === RUNNING;
  }

  /** For another thread that must pause this machine (see kicker.ts, kickFromAnyThread). */
  get kickHandle(): KickHandle {
    return this.kicker.handle;
  }

  vcpu(index: number): Vcpu {
    const v = this.vm.vcpus[index];
    if (!v) throw new GuestError(`there is no vCPU ${index} (the machine has ${this.vm.vcpus.length})`);
    return v;
  }

  // --- run control -------------------------------------------------------------------------

  /**
   * Runs every vCPU until something stops the machine. A stop within the first time slice is
   * returned as it is (a breakpoint hit and continue is a hot path too); a longer run goes
   * through the event loop between slices. `await` it, or skip the microtask turn when the
   * result is not a Promise (a tight loop over the monitor does).
   */
  run(): Stop | Promise<Stop> {
    this.beginRun();
    let finished = true;
    try {
      const fast = this.continueFromHit();
      if (typeof fast === 'object') {
        finished = false;
        this.endHitRun();
        return fast;
      }
      let s: Stop | null;
      if (fast === undefined) {
        const first = this.resumeOverBreakpoint(this.current);
        if (first) return first;
        if (first === null) {
          // The step off the breakpoint outlasted a slice (a hlt waiting for an interrupt).
          finished = false;
          return this.finishResume();
        }
        s = this.firstSlice();
      } else {
        // The fast path's KVM_RUN ended otherwise than on a breakpoint: the run goes on from it.
        s = this.execute(this.vcpu(this.current), false, fast);
      }
      if (s) return s;
      finished = false;
      return this.finishRun();
    } finally {
      if (finished) this.endRun();
    }
  }

  /**
   * The hot path of a debugger continuing from a debug-register breakpoint again and again (a
   * condition or hit count not met, a logpoint): where guest debug is already set for this run
   * and nothing else needs arranging, RF, one KVM_RUN and a look at the exit, as a plain step
   * does. Returns the next hit; else the KVM_RUN's result, from whose exit run() goes on; or
   * undefined where this path does not apply. Inside beginRun/endRun, so that a pause asked
   * during its KVM_RUN is kept.
   */
  private continueFromHit(): Stop | number | undefined {
    const v = this.currentVcpu;
    let memo = this.hitMemo;
    if (memo === undefined || memo.vcpu !== v.id || !v.debugPcValid || !memo.at(v.run32)) {
      memo = this.hitMemo = this.newHitMemo(v);
      if (!memo) return undefined;
    }
    this.kicker.enter(v.id);
    v.setResumeFlag();
    const rc = v.enter();
    const w = v.run32;
    // A #DB is decoded here as the run loop decodes it; a guest's int3 (#BP) is left to the
    // run loop, whose answer (handing it to the guest) must happen once.
    if (rc !== 0 || !isDebugTrap(w)) return rc;
    let s: Stop | null;
    if (memo.hitAgain(w)) {
      v.debugPcValid = true;
      s = memo.stop;
    } else {
      s = this.decodeDebug(v, false);
      if (s === null) return rc;
    }
    v.takeResumeFlag(false);
    return s;
  }

  /**
   * Where `v` stopped at a debug-register execute breakpoint that continueFromHit can continue
   * from over RF, with guest debug set for the run and nothing else to arrange: its memo.
   * Undefined elsewhere.
   */
  private newHitMemo(v: Vcpu): HitMemo | undefined {
    const pc = v.debugPc;
    if (pc === undefined || !this.plainRun || this.breakpoints.hasSoftware || this.deliverInt3.size || this.checkpoint) return undefined;
    const slot = this.breakpoints.hardwareExecuteAt(pc);
    if (slot < 0 || !this.canResumeWithFlag(pc, slot, false)) return undefined;
    const regs = this.lastControl.regs;
    return new HitMemo({ enabled: enabledSlots(regs[7] ?? 0n), vcpu: v.id, slot, address: pc, id: this.breakpoints.hw[slot]!.id });
  }

  /**
   * The rest of a run whose step off a breakpoint did not finish within a slice: the step goes
   * on between turns of the event loop (a pause, serial input, a timer all get through), then the
   * run proper as run() would have begun it.
   */
  private async finishResume(): Promise<Stop> {
    let handedOver = false;
    try {
      const stepped = await this.stepAcrossSlices(this.vcpu(this.current));
      if (stepped.kind !== 'step') return stepped;
      const s = this.firstSlice();
      if (s) return s;
      handedOver = true;
      return await this.finishRun();
    } finally {
      if (!handedOver) this.endRun();
    }
  }

  /**
   * The run proper, once off any breakpoint: breakpoints and guest debug as they are now (what
   * changed while a step off a breakpoint went on is in them), then the first slice.
   */
  private firstSlice(): Stop | null {
    this.debugDirty = false;
    this.placeSoftwareBreakpoints();
    this.applyGuestDebug(false);
    return this.execute(this.vcpu(this.current), false);
  }

  private async finishRun(): Promise<Stop> {
    try {
      for (;;) {
        await this.turn();
        if (this.kicker.takePauseRequest()) return { kind: 'pause', vcpu: this.current };
        if (this.debugDirty) {
          this.debugDirty = false;
          if (this.softwareBreakpoints === 'debugregs') this.placeSoftwareBreakpoints();
          this.applyGuestDebug(false);
        }
        this.rotate();
        const s = this.execute(this.vcpu(this.current), false);
        if (s) return s;
      }
    } finally {
      this.endRun();
    }
  }

  /**
   * Executes one instruction on vCPU `index` (an interrupt taken meanwhile counts as one, unless
   * `holdInterrupts`: then no interrupt, NMI or SMI is delivered during the step and a pending
   * one waits for the next run, as QEMU's gdbstub steps, one whose injection KVM had begun
   * included; it needs `canHoldInterrupts`).
   * A step that completes at once is returned as it is, not as a promise: stepping is the
   * debugger's hottest path. Only a step that has to wait (an instruction that halts, say)
   * goes through the event loop. As with run(), await it or take a non-Promise result as is.
   */
  step(index = this.current, opts?: { holdInterrupts?: boolean }): Stop | Promise<Stop> {
    if (!opts?.holdInterrupts) return this.stepWith(index, PLAIN_STEP);
    if (!this.canHoldInterrupts) throw new GuestError('this host cannot hold interrupts off during a step (KVM_GUESTDBG_BLOCKIRQ, Linux 5.16)');
    // BLOCKIRQ keeps KVM from injecting an interrupt, not from finishing one it had begun.
    const putBack = this.setAsideInjectedInterrupt(index);
    const stop = this.stepWith(index, PLAIN_STEP | abi.KVM_GUESTDBG_BLOCKIRQ);
    if (!putBack) return stop;
    if (stop instanceof Promise) return stop.finally(putBack);
    putBack();
    return stop;
  }

  /**
   * Takes out of the way an interrupt KVM had begun to inject into vCPU `index` (a pause can
   * cut an injection short), so that a step does not deliver it; returns what puts it back for
   * the next run. For a step that holds interrupts off by other means (stepping.ts).
   */
  setAsideInjectedInterrupt(index: number): (() => void) | undefined {
    return this.vcpu(index).setAsideInjectedInterrupt();
  }

  /**
   * Has the next step set guest debug afresh (KVM_SET_GUEST_DEBUG, made even though nothing
   * changed) instead of re-entering KVM_RUN with the trap flag the last one left: after a step
   * that wrote CR0 (into protected mode, paging on), the test VM's nested SVM lets the next step
   * run on to the next exit otherwise (measured: the far jump after it ran 16 instructions). The
   * caller knows CR0 changed (it reads the special registers).
   */
  renewStepTrap(): void {
    this.dropPlain();
    for (const v of this.vm.vcpus) v.forgetGuestDebug();
  }

  /** Makes vCPU `index` the current one, with the two fields the fast paths read for it. */
  private select(index: number): void {
    this.current = index;
    this.currentVcpu = this.vm.vcpus[index];
    this.currentStepStop = this.stepStops[index];
  }

  private stepWith(index: number, control: number): Stop | Promise<Stop> {
    if (index !== this.current) this.select(this.vcpu(index).id);
    const v = this.currentVcpu;
    if (this.plainStep === control && this.state === STOPPED) {
      // The common case of a debugger stepping: guest debug is already set for a plain
      // single step, so one KVM_RUN and a look at the exit is all it takes.
      this.kicker.enter(index);
      this.checkpoint?.base(v, false);
      this.noteStepStart(v);
      let rc = v.enter();
      // The slice timer ended KVM_RUN before the step (not a pause: a kick sets immediate_exit).
      // A step takes microseconds, so go again rather than through the event loop; a vCPU
      // that stays blocked (halted) is back here after a slice and takes the general path.
      if (rc === -EINTR && v.run[abi.kvm_run.immediate_exit] === 0) rc = v.reenter();
      if (rc === 0 && isStepTrap(v.run32)) {
        v.debugPcValid = true;
        this.kicker.idle();
        return this.currentStepStop;
      }
      // Another exit (I/O, a fault, a kick...): the general path handles the one just taken.
      this.beginRun();
      return this.continueStep(v, control, rc);
    }
    this.beginRun();
    return this.continueStep(v, control);
  }

  /**
   * A step inside beginRun/endRun: arranges guest debug for it, unless `taken` is the result
   * of the step's KVM_RUN already made by the fast path.
   */
  private continueStep(v: Vcpu, control: number, taken?: number): Stop | Promise<Stop> {
    let finished = true;
    try {
      if (taken === undefined) {
        if (this.deliverInt3.delete(v.id)) {
          this.passInt3ToGuest(v);
          return this.stepStops[v.id];
        }
        const skip = this.breakpoints.hasHardware ? this.breakpoints.hardwareExecuteAt(this.linearRip(v.id)) : -1;
        this.applyGuestDebug(true, skip, control & abi.KVM_GUESTDBG_BLOCKIRQ);
        this.noteStepStart(v);
      }
      const s = this.execute(v, true, taken);
      if (s) return s;
      finished = false;
      return this.finishStep(v);
    } finally {
      if (finished) this.endRun();
    }
  }

  private async finishStep(v: Vcpu): Promise<Stop> {
    try {
      return await this.stepAcrossSlices(v);
    } finally {
      this.endRun();
    }
  }

  /**
   * Between two slices of a run: the output so far to its sinks, then one turn of the event
   * loop, whose length sizes the next slices.
   */
  private async turn(): Promise<void> {
    this.flushOutput();
    const t = performance.now();
    await yieldToEventLoop();
    if (this.slice.noteTurn(performance.now() - t)) this.kicker.setPeriod(this.slice.ms);
  }

  /** Hands the UART's and the debug console's buffered output to their sinks. */
  private flushOutput(): void {
    this.uart.flush();
    this.debugcon.flush();
  }

  /**
   * A step that outlasted a time slice (a hlt waiting for an interrupt), gone on with between
   * turns of the event loop so that a pause, serial input and timers get through.
   */
  private async stepAcrossSlices(v: Vcpu): Promise<Stop> {
    for (;;) {
      await this.turn();
      if (this.kicker.takePauseRequest()) return { kind: 'pause', vcpu: v.id };
      const s = this.execute(v, true);
      if (s) return s;
    }
  }

  /**
   * Asks a running machine to stop; run() or step() then returns a pause stop. Called between
   * runs it does nothing: the next run starts afresh.
   */
  pause(): void {
    this.kicker.requestPause();
  }

  /** stopped → running; a pause asked for before the run is dropped. */
  private beginRun(): void {
    if (this.state !== STOPPED) {
      throw new GuestError(this.state === DESTROYED ? 'the machine has been destroyed' : 'the machine is already running');
    }
    this.state = RUNNING;
    this.slicesSinceBase = 0;
    this.pending = undefined;
    this.debugDirty = false;
    this.kicker.takePauseRequest();
  }

  /**
   * Before a run: plants the software breakpoints, or where int3 can't be used, puts them on
   * free debug registers and traps the code pages of the rest (never a byte in guest memory).
   */
  private placeSoftwareBreakpoints(): void {
    if (this.softwareBreakpoints === 'int3') {
      this.borrowDebugRegisters(this.breakpoints.plant(this.plantTarget));
      return;
    }
    this.returnBorrowed();
    if (!this.breakpoints.hasSoftware) {
      this.execTraps = NO_ADDRESSES;
      return;
    }
    // The breakpoint the run resumes from over RF must be a debug register's: it borrows first.
    const first = this.resumeFrom;
    this.resumeFrom = undefined;
    const addresses = this.breakpoints.softwareAddresses();
    this.execTraps = this.borrowDebugRegisters(first === undefined ? addresses : [first, ...addresses.filter((a) => a !== first)]);
  }

  /**
   * Software breakpoints at these addresses (unmapped ones, or all where int3 can't be used) run
   * on free debug registers instead. Returns those left without one.
   */
  private borrowDebugRegisters(addresses: readonly bigint[]): readonly bigint[] {
    for (let i = 0; i < addresses.length; i++) {
      if (!this.breakpoints.hw.includes(undefined)) return addresses.slice(i);
      const id = this.breakpoints.addHardware(addresses[i], 'execute');
      this.borrowed.set(id, this.breakpoints.softwareAt(addresses[i])!.id);
    }
    return NO_ADDRESSES;
  }

  private returnBorrowed(): void {
    if (this.borrowed.size === 0) return;
    for (const id of this.borrowed.keys()) this.breakpoints.remove(id);
    this.borrowed.clear();
  }

  /** running → stopped, with what the run planted and borrowed put back. */
  private endRun(): void {
    try {
      this.returnBorrowed();
      this.execTraps = NO_ADDRESSES;
      this.breakpoints.unplant(this.plantTarget);
      this.flushOutput();
      this.kicker.idle();
    } finally {
      this.state = STOPPED;
    }
  }

  /**
   * endRun for a run that continueFromHit ended at a hit: it placed nothing, borrowed nothing,
   * and its one exit wrote no output, so only this of endRun is left to do.
   */
  private endHitRun(): void {
    this.kicker.idle();
    this.state = STOPPED;
  }

  /** Round-robin between vCPUs, skipping those still waiting for INIT/SIPI. */
  private rotate(): void {
    const n = this.vm.vcpus.length;
    if (n === 1) return;
    for (let i = 1; i <= n; i++) {
      const next = (this.current + i) % n;
      const st = this.vm.vcpus[next].getMpState();
      if (st !== abi.KVM_MP_STATE_UNINITIALIZED && st !== abi.KVM_MP_STATE_INIT_RECEIVED) {
        this.select(next);
        return;
      }
    }
  }

  /**
   * Before continuing: an instruction under a breakpoint at RIP must run once with that
   * breakpoint out of the way (RFLAGS.RF is not honoured on every host), and a guest int3 we
   * stopped on is handed to the guest. Undefined: done, run on; a stop: the step stopped the
   * machine; null: the step did not end within a slice (finishResume goes on with it).
   */
  private resumeOverBreakpoint(index: number): Stop | undefined | null {
    const v = this.vcpu(index);
    if (this.deliverInt3.size && this.deliverInt3.delete(index)) {
      this.passInt3ToGuest(v);
      return undefined;
    }
    if (!this.breakpoints.hasSoftware && !this.breakpoints.hasHardware) return undefined;
    const rip = this.linearRip(index);
    const slot = this.breakpoints.hardwareExecuteAt(rip);
    const software = this.breakpoints.softwareAt(rip) !== undefined;
    if (slot < 0 && !software) return undefined;
    if (this.canResumeWithFlag(rip, slot, software)) {
      if (software) this.resumeFrom = rip;
      v.setResumeFlag();
      return undefined;
    }
    this.applyGuestDebug(true, slot);
    this.noteStepStart(v);
    const s = this.execute(v, true);
    if (s === null) return null;
    return s.kind === 'step' ? undefined : s;
  }

  /**
   * Whether the breakpoint at `rip` can be left armed and passed over with RFLAGS.RF instead of
   * a single step with it lifted: one KVM_RUN where the step takes three ioctls more. Only where
   * the host honours RF, where the breakpoint is a debug register's (a software one gets the
   * first free register while the run lasts: resumeFrom), and with no other execute breakpoint
   * just after it, which an RF left over by KVM would pass over (executeBreakpointAfter).
   */
  private canResumeWithFlag(rip: bigint, slot: number, software: boolean): boolean {
    if (!this.vm.host.resumeFlag || this.breakpoints.executeBreakpointAfter(rip)) return false;
    if (slot >= 0) return true;
    return software && this.softwareBreakpoints === 'debugregs' && this.breakpoints.hw.includes(undefined);
  }

  private applyGuestDebug(singleStep: boolean, skipSlot = -1, blockIrq = 0): void {
    const bp = this.breakpoints;
    let control = abi.KVM_GUESTDBG_ENABLE | blockIrq;
    if (singleStep) control |= abi.KVM_GUESTDBG_SINGLESTEP;
    // Software breakpoints are always enabled: the guest's own int3 is then ours to route,
    // the same way on every host.
    control |= abi.KVM_GUESTDBG_USE_SW_BP;
    if (bp.hasHardware) control |= abi.KVM_GUESTDBG_USE_HW_BP;
    const memslots = this.watchBackend === 'memslots';
    const regs = bp.hasHardware ? bp.debugRegisters(skipSlot, memslots) : NO_DEBUGREGS;
    const vcpus = this.vm.vcpus;
    for (let i = 0; i < vcpus.length; i++) vcpus[i].setGuestDebug(control, regs);
    this.lastControl.flags = control;
    this.lastControl.regs = regs;
    const traps = (memslots && this.breakpoints.hasDataWatch) || this.breakpoints.pageWatches.length > 0 ||
      this.physWatches.length > 0 || this.execTraps.length > 0;
    // Traps left from an earlier state (the last watch removed) are lifted too.
    if (traps || this.vm.memory.hasTraps) this.applyWatchTraps();
    this.plainStep = (control & ~abi.KVM_GUESTDBG_BLOCKIRQ) === PLAIN_STEP && !traps && this.deliverInt3.size === 0 ? control : -1;
    this.plainRun = !singleStep && skipSlot < 0 && !traps;
    this.hitMemo = undefined;
  }

  /** Guest debug is no longer known to be set for a plain step or run (plainStep, plainRun, hitMemo). */
  private dropPlain(): void {
    this.plainStep = -1;
    this.plainRun = false;
    this.hitMemo = undefined;
  }

  /**
   * Memslots backend: translates every data watch to guest-physical pages under the current
   * paging state and traps those pages. Write watches make their pages read-only; read/write
   * watches take them out of guest memory, so every access exits to handleMmio.
   */
  private applyWatchTraps(): void {
    const traps = new Map<number, TrapMode>();
    this.physWatches = [];
    const watch = (w: Watch, length: number) => {
      // Page by page: the range may cross pages that map to scattered physical frames.
      for (let off = 0; off < length;) {
        const lin = w.address + BigInt(off);
        const n = Math.min(length - off, 4096 - Number(lin & 0xfffn));
        const phys = this.linearToPhysical(this.current, lin);
        off += n;
        if (phys === undefined) continue;
        this.physWatches.push({ ...w, phys, length: n });
        const page = phys - (phys % 4096);
        if (w.access === 'readwrite') traps.set(page, 'absent');
        else if (!traps.has(page)) traps.set(page, 'readonly');
      }
    };
    if (this.watchBackend === 'memslots') {
      this.breakpoints.hw.forEach((h, slot) => {
        if (h && h.kind !== 'execute') watch({ slot, id: h.id, access: h.kind, address: h.address }, h.length);
      });
    }
    for (const p of this.breakpoints.pageWatches) watch({ slot: -1, id: p.id, access: 'write', address: p.address }, p.length);
    // Breakpoints beyond the debug registers where int3 can't be used: their code page leaves
    // guest memory, so fetching from it fails to emulate and exits (decodeInternalError).
    for (const address of this.execTraps) {
      const phys = this.linearToPhysical(this.current, address);
      if (phys !== undefined) traps.set(phys - (phys % 4096), 'absent');
    }
    this.vm.memory.setTraps(traps);
  }

  /**
   * Runs `v` until a stop (returned) or the end of a time slice (null). Exits that devices
   * handle loop here without returning to the event loop.
   */
  private execute(v: Vcpu, singleStep: boolean, taken?: number): Stop | null {
    const run = v.run;
    // The clock is read only once an exit has been handled and the loop goes on: a single
    // step, the hottest path, returns before ever needing it.
    let deadline = 0;
    let exits = 0;
    let ticks = 0;
    // Read once per slice: each object read at every exit costs in the test VM (sliceDeadline).
    const memory = this.vm.memory;
    // The slice's deadline, for exits that come so fast that the timer's tick lands between two
    // KVM_RUNs and interrupts none; at least SLICE_MS (with several vCPUs the ticks are shorter).
    const sliceMs = Math.max(this.slice.ms, SLICE_MS);
    this.kicker.enter(v.id);
    for (;;) {
      let rc: number;
      if (taken !== undefined) {
        // The KVM_RUN has happened already (a fast step): handle its exit first.
        rc = taken;
        taken = undefined;
      } else {
        if (this.checkpoint) {
          // A base as the run or step begins (and at each slice); the exits after it are logged.
          // Steps take a base each: KVM then copies all of it into kvm_run at every exit. A run
          // takes one as it begins and every BASE_SLICES slices; between, exits are logged.
          v.syncState = singleStep;
          if (singleStep) this.checkpoint.base(v, false);
          else if (exits === 0 && ticks === 0 && this.slicesSinceBase++ % BASE_SLICES === 0) this.checkpoint.base(v, true);
          else this.checkpoint.reenter(v);
        }
        const trapped = memory.hasTraps ? this.ripOnAbsentPage(v) : undefined;
        if (trapped !== undefined) {
          // Code on a trapped page is stepped with the page back in place, without first
          // failing to fetch it: an interrupt that entry injected would find an IDT on the
          // same page absent (kvm_pvm answers with a triple fault).
          const s = this.stepOnTrappedPage(v, trapped);
          if (s) return s;
          deadline = sliceDeadline(++exits, deadline, sliceMs);
          if (deadline < 0) return null;
          continue;
        }
        rc = ticks === 0 ? v.enter() : v.reenter();
      }
      if (rc < 0) {
        if (rc !== -EINTR) throw new SysError('KVM_RUN', -rc);
        run[abi.kvm_run.immediate_exit] = 0;
        // The slice timer ticks on its own clock, so its first tick may come just after this
        // call began (a breakpoint continue, say): go on, and end the slice at the second.
        if (++ticks === 1 && !this.kicker.pauseAsked()) continue;
        return this.afterKick(v);
      }
      if (v.resumeFlagPending) v.takeResumeFlag(exitReason(v.run32) === abi.KVM_EXIT.IO);
      switch (exitReason(v.run32)) {
        case abi.KVM_EXIT.IO: {
          const done = singleStep && this.outDoneAtExit(v);
          this.handleIo(v);
          if (done) {
            // The `out` is the step: it is finished, and the step's trap set again (as for an
            // MMIO write below), so the next KVM_RUN does not run on into the next instruction.
            this.completeInstruction(v);
            v.rearmStep();
            return this.pending ?? this.stepStops[v.id];
          }
          break;
        }
        case abi.KVM_EXIT.MMIO: {
          const mmio = readMmioExit(run);
          const s = this.handleMmio(v, mmio);
          if (s) {
            this.completeInstruction(v);
            return s;
          }
          if (singleStep && mmio.write) {
            // KVM finished an MMIO write before exiting and never reports the step for it
            // (x86.c complete_emulated_mmio: "FIXME: return into emulator if
            // single-stepping"); its writeback also dropped the trap flag, so the next steps
            // would run free. The instruction is done: that is the step; the flag is set again.
            this.completeInstruction(v);
            v.rearmStep();
            return this.stepStops[v.id];
          }
          break;
        }
        case abi.KVM_EXIT.DEBUG: {
          const s = this.decodeDebug(v, singleStep);
          if (s) return s;
          break;
        }
        case abi.KVM_EXIT.HLT:
          if (!(v.loadRegs()[GPR.rflags] & RFLAGS_IF)) return { kind: 'halted', vcpu: v.id };
          break;
        case abi.KVM_EXIT.SHUTDOWN:
          return this.tripleFault(v);
        case abi.KVM_EXIT.INTERNAL_ERROR: {
          const s = this.decodeInternalError(v);
          if (s) return s;
          break;
        }
        case abi.KVM_EXIT.SYSTEM_EVENT: {
          const type = readSystemEventType(run);
          if (type === abi.KVM_SYSTEM_EVENT.RESET) return { kind: 'reset', vcpu: v.id, how: 'KVM system event' };
          return { kind: 'poweroff', vcpu: v.id };
        }
        case abi.KVM_EXIT.FAIL_ENTRY:
          return { kind: 'fail-entry', vcpu: v.id, reason: readFailEntryReason(run) };
        case abi.KVM_EXIT.INTR:
          return this.afterKick(v);
        case abi.KVM_EXIT.IRQ_WINDOW_OPEN:
          break;
        case abi.KVM_EXIT.X86_WRMSR: {
          const { index, data } = readMsrExit(run);
          const s = this.kernelEntry.onWrite(v, index, data);
          if (s) this.pending ??= s;
          break;
        }
        default:
          return {
            kind: 'internal-error', vcpu: v.id, suberror: 0, data: [],
            description: `unexpected KVM exit reason ${exitReason(v.run32)}`,
          };
      }
      if (this.pending) {
        this.completeInstruction(v);
        return this.pending;
      }
      deadline = sliceDeadline(++exits, deadline, sliceMs);
      if (deadline < 0) return null;
    }
  }

  /** KVM_RUN was interrupted: a pause, a vCPU that can never wake, or just the end of a slice. */
  private afterKick(v: Vcpu): Stop | null {
    if (this.kicker.takePauseRequest()) return { kind: 'pause', vcpu: v.id };
    // A vCPU halted with IF clear can never wake; with several vCPUs the others may still
    // run, so the machine stops only when none of them can.
    if (this.deadlyHalted(v) && this.vm.vcpus.every((x) => x === v || this.deadlyHalted(x) ||
      x.getMpState() === abi.KVM_MP_STATE_UNINITIALIZED)) {
      return { kind: 'halted', vcpu: v.id };
    }
    return null;
  }

  /**
   * Whether KVM kept the state at the triple fault or re-initialized the vCPU (SVM's
   * shutdown_interception does): told from the state itself, the reset vector F000:FFF0. Where
   * it was re-initialized, the checkpoint before the KVM_RUN is replayed to the fault.
   */
  private tripleFault(v: Vcpu): Stop {
    const s = v.getSregs();
    const reset = v.getRip() === 0xfff0n && s.cs.selector === 0xf000 && s.cs.base === 0xffff0000n;
    if (!reset) return { kind: 'triple-fault', vcpu: v.id };
    if (!this.checkpoint) return { kind: 'triple-fault', vcpu: v.id, stateLost: TRIPLE_FAULT_STATE_LOST };
    if (this.checkpoint.vcpu !== v.id) return { kind: 'triple-fault', vcpu: v.id, stateLost: replayFailed('no checkpoint of this vCPU') };
    const r = replayToShutdown(v, this.checkpoint, {
      maxSteps: REPLAY_MAX_STEPS, maxMs: REPLAY_MAX_MS, holdInterrupts: this.vm.host.blockIrq,
      pauseAsked: () => this.kicker.pauseAsked(),
    });
    // The replay set its own guest debug on this vCPU: the machine's again.
    v.setGuestDebug(this.lastControl.flags, this.lastControl.regs);
    this.dropPlain();
    return r.ok ? { kind: 'triple-fault', vcpu: v.id, replayed: r.steps }
      : { kind: 'triple-fault', vcpu: v.id, stateLost: replayFailed(r.why) };
  }

  private deadlyHalted(v: Vcpu): boolean {
    return v.getMpState() === abi.KVM_MP_STATE_HALTED && !(v.loadRegs()[GPR.rflags] & RFLAGS_IF);
  }

  private handleIo(v: Vcpu): void {
    // I/O exits are the busiest: read into one object kept for them (exits.ts).
    const run = v.run;
    const { out, size, port, count, dataOffset } = readIoExit(v.run32, this.ioExit);
    if (port === BIOS_TRAP_PORT && this.firmware?.trap(v)) return;
    let off = dataOffset;
    const vcpu = v.id;
    let value = 0;
    for (let i = 0; i < count; i++, off += size) {
      if (out) {
        value = size === 1 ? run[off] : size === 2 ? run.readUInt16LE(off) : run.readUInt32LE(off);
        this.bus.write(port, size, value);
      } else {
        value = this.bus.read(port, size);
        if (size === 1) run[off] = value;
        else if (size === 2) run.writeUInt16LE(value & 0xffff, off);
        else run.writeUInt32LE(value >>> 0, off);
      }
    }
    if (this.portWatches?.some((r) => port >= r.from && port <= r.to)) {
      this.pending ??= { kind: 'port-io', vcpu, port, write: out, size, value };
    }
  }

  /**
   * Stops the machine once, with a kernel-entry stop, when a 64-bit Linux kernel first runs at
   * its virtual addresses (kernel-entry.ts). False where the host can't trap MSR writes.
   */
  watchKernelEntry(): boolean {
    return this.kernelEntry.arm();
  }

  /** Stops the machine after any access to a port in these inclusive ranges. */
  setPortWatches(ranges: { from: number; to: number }[]): void {
    this.portWatches = ranges.length ? ranges : undefined;
  }

  /**
   * An access KVM could not complete in RAM. On a page trapped for a watchpoint it is done here
   * against the RAM behind the trap, and a watched one stops the run. Elsewhere nothing is
   * mapped: reads see all ones, writes vanish (both traced).
   */
  private handleMmio(v: Vcpu, { address: addr, length: len, write, data }: MmioExit): Stop | undefined {
    const mem = this.vm.memory;
    if (mem.trapAt(addr) && mem.contains(addr, len)) {
      if (write) mem.write(addr, data);
      else data.set(mem.view(addr, len));
      const w = this.physWatches.find((x) =>
        addr < x.phys + x.length && x.phys < addr + len && (write || x.access === 'readwrite'));
      return w && watchStop(v.id, w);
    }
    if (!write) data.fill(0xff);
    this.bus.trace?.(`mmio ${write ? 'write' : 'read '} ${hex(addr)} len ${len} ${write ? '<-' : '->'} ${data.toString('hex')}`);
    return undefined;
  }

  /** Where a single step began (RIP), where outDoneAtExit needs it. */
  private noteStepStart(v: Vcpu): void {
    if (this.emulatedOut) this.stepFrom = v.getRip();
  }

  /**
   * Whether the I/O exit of a single step is for an `out` that KVM has finished already: RIP
   * past it. kvm_pvm's instruction emulator (ring 0 there) exits so, and on the next KVM_RUN runs
   * on into the next instruction before the step's trap (measured with pvm_native: every `out`
   * stepped ran one more). On VMX and SVM RIP is still at the `out`, which KVM completes itself.
   */
  private outDoneAtExit(v: Vcpu): boolean {
    return this.emulatedOut && readIoExit(v.run32, this.ioExit).out && v.getRip() !== this.stepFrom;
  }

  /**
   * Finishes the instruction behind an I/O or MMIO exit before we stop, so that RIP and the
   * registers at the stop are those after it: KVM completes pending I/O, then sees
   * immediate_exit and returns (EINTR, or a debug exit if single-stepping).
   */
  private completeInstruction(v: Vcpu): void {
    v.run[abi.kvm_run.immediate_exit] = 1;
    const rc = v.enter();
    v.run[abi.kvm_run.immediate_exit] = 0;
    if (rc < 0 && rc !== -EINTR) throw new SysError('KVM_RUN', -rc);
  }

  private decodeDebug(v: Vcpu, singleStep: boolean): Stop | null {
    const { exception, dr6 } = readDebugExit(v.run32, this.debugTrap);
    v.debugPcValid = true;
    if (exception === 3) return this.onInt3(v, v.debugPc!);
    // Only the slots this run enabled: a memslots watch or a slot skipped for this step is off.
    const fired = dr6 & enabledSlots(this.lastControl.regs[7] ?? 0n);
    for (let slot = 0; slot < 4; slot++) {
      const h = this.breakpoints.hw[slot];
      if (!h || !(fired & (1 << slot))) continue;
      // A step that lands on an execute breakpoint has not run it: a step, though an emulated
      // SVM (QEMU's) sets the slot's bit beside BS.
      if (h.kind === 'execute' && singleStep && dr6 & DR6_BS) continue;
      if (h.kind === 'execute') return { kind: 'breakpoint', vcpu: v.id, address: h.address, id: this.borrowed.get(h.id) ?? h.id };
      return watchStop(v.id, { slot, id: h.id, address: h.address, access: h.kind });
    }
    if (singleStep || dr6 & DR6_BS) return this.stepStops[v.id];
    return null;
  }

  /**
   * An int3 at `linear`, reported as a #BP debug exit (hardware KVM, real mode) or as an
   * emulation failure (kvm_pvm at CPL0). Ours: a breakpoint stop. The guest's own: hand it to
   * the guest's #BP handler, unless the debugger asked to stop on it first.
   */
  private onInt3(v: Vcpu, linear: bigint): Stop | null {
    const phys = this.linearToPhysical(v.id, linear);
    const ours = phys !== undefined ? this.breakpoints.plantedAt(phys) : undefined;
    if (ours) {
      const bp = this.breakpoints.softwareAt(ours.address);
      return { kind: 'breakpoint', vcpu: v.id, address: ours.address, id: bp?.id ?? 0 };
    }
    if (this.stopOnGuestInt3) {
      this.deliverInt3.add(v.id);
      this.dropPlain();
      return { kind: 'guest-int3', vcpu: v.id, address: linear };
    }
    this.passInt3ToGuest(v);
    return null;
  }

  /** RIP past the int3 and #BP injected: what the CPU would have done without us. */
  private passInt3ToGuest(v: Vcpu): void {
    const r = v.loadRegs();
    r[GPR.rip] += 1n;
    v.storeRegs();
    v.injectException(3);
  }

  /**
   * Code on a page taken out of guest memory for a read/write watch can't be fetched: run that
   * one instruction with the page back in place. A write it makes to a watched range is still
   * caught, by comparing bytes; a read is not (the limit of this fallback).
   */
  private stepOnTrappedPage(v: Vcpu, ripPhys: number): Stop | null {
    const before = this.physWatches.map((w) => this.vm.memory.read(w.phys, w.length));
    const saved = new Map(this.physWatches.map((w) => [w.phys - (w.phys % 4096), 'absent' as TrapMode]));
    this.vm.memory.setTraps(new Map());
    const control = this.lastControl;
    for (const x of this.vm.vcpus) x.setGuestDebug(control.flags | abi.KVM_GUESTDBG_SINGLESTEP, control.regs);
    let s: Stop | null = null;
    this.noteStepStart(v);
    try {
      for (let first = true; ; first = false) {
        this.checkpoint?.base(v, false);
        if (first) this.haltAtHlt(v, ripPhys);
        const rc = v.enter();
        if (rc === -EINTR) {
          // A kick (immediate_exit set) or the end of a slice: clear it, and let a pause, or
          // the event loop, in; the instruction is tried again on the next entry.
          v.run[abi.kvm_run.immediate_exit] = 0;
          return this.afterKick(v);
        }
        const reason = v.exitReason;
        if (reason === abi.KVM_EXIT.IO) {
          // An `out` the host's emulator has finished is the step (outDoneAtExit).
          const done = this.outDoneAtExit(v);
          this.handleIo(v);
          if (!done) continue;
          this.completeInstruction(v);
          if (this.pending) return this.pending;
        } else if (reason !== abi.KVM_EXIT.DEBUG) return this.execute(v, true);
        break;
      }
      const hit = this.physWatches.find((w, i) => !this.vm.memory.view(w.phys, w.length).equals(before[i]));
      if (hit) s = watchStop(v.id, hit);
      else if (control.flags & abi.KVM_GUESTDBG_SINGLESTEP) s = this.stepStops[v.id];
    } finally {
      for (const x of this.vm.vcpus) x.setGuestDebug(control.flags, control.regs);
      this.vm.memory.setTraps(saved);
    }
    return s;
  }

  /** Where `v`'s next instruction is (guest-physical), if on a page taken out of guest memory for a watch. */
  private ripOnAbsentPage(v: Vcpu): number | undefined {
    const phys = this.linearToPhysical(v.id, this.linearRip(v.id));
    return phys !== undefined && this.vm.memory.trapAt(phys) === 'absent' ? phys : undefined;
  }

  /** The byte of guest RAM at `phys`; undefined outside it. */
  private byteAt(phys: number | undefined): number | undefined {
    return phys !== undefined && this.vm.memory.contains(phys, 1) ? this.vm.memory.view(phys, 1)[0] : undefined;
  }

  /**
   * A `hlt` with interrupts on, about to be stepped on a trapped page: done here (RIP past it,
   * the vCPU halted), so that the step's KVM_RUN waits for the interrupt, with the page in place.
   * kvm_pvm with pvm_native returns from a stepped hlt at once, the vCPU not halted, and the
   * guest's wait loop would spin through steps (measured: a pause found RIP before the hlt).
   */
  private haltAtHlt(v: Vcpu, ripPhys: number): void {
    const r = v.loadRegs();
    if (this.byteAt(ripPhys) !== HLT || !(r[GPR.rflags] & RFLAGS_IF)) return;
    r[GPR.rip] += 1n;
    v.storeRegs();
    v.endInterruptShadow();
    v.setMpState(abi.KVM_MP_STATE_HALTED);
  }

  private decodeInternalError(v: Vcpu): Stop | null {
    const { suberror, data } = readInternalError(v.run);
    if (suberror === abi.KVM_INTERNAL_ERROR.EMULATION) {
      const rip = this.linearRip(v.id);
      const phys = this.linearToPhysical(v.id, rip);
      if (this.byteAt(phys) === 0xcc) {
        v.dropQueuedUd();
        return this.onInt3(v, rip);
      }
      if (phys !== undefined && this.vm.memory.trapAt(phys) === 'absent') {
        v.dropQueuedUd();
        if (this.execTraps.includes(rip)) {
          return { kind: 'breakpoint', vcpu: v.id, address: rip, id: this.breakpoints.softwareAt(rip)?.id ?? 0 };
        }
        return this.stepOnTrappedPage(v, phys);
      }
      const bytes = phys !== undefined && this.vm.memory.contains(phys, 15)
        ? this.vm.memory.view(phys, 15).toString('hex').replace(/(..)/g, '$1 ').trim() : 'unreadable';
      return {
        kind: 'internal-error', vcpu: v.id, suberror, data,
        description: `instruction emulation failed at ${hex(rip)} (bytes: ${bytes})`,
      };
    }
    const what: Record<number, string> = {
      [abi.KVM_INTERNAL_ERROR.SIMUL_EX]: 'an exception occurred while delivering another one',
      [abi.KVM_INTERNAL_ERROR.DELIVERY_EV]: 'an event could not be delivered',
      [abi.KVM_INTERNAL_ERROR.UNEXPECTED_EXIT_REASON]: 'the hardware exited for an unexpected reason',
    };
    return {
      kind: 'internal-error', vcpu: v.id, suberror, data,
      description: `${what[suberror] ?? `suberror ${suberror}`}${data.length ? ` (data ${data.map((d) => hex(d)).join(' ')})` : ''}`,
    };
  }

  // --- state and memory --------------------------------------------------------------------

  getRegs(index = 0): Regs {
    return this.vcpu(index).getRegs();
  }

  setRegs(index: number, regs: Partial<Regs>): void {
    this.vcpu(index).setRegs(regs);
  }

  getSregs(index = 0): Sregs {
    return this.vcpu(index).getSregs();
  }

  /** CS base + RIP: the linear address of the next instruction. */
  linearRip(index: number): bigint {
    const v = this.vcpu(index);
    if (v.debugPc !== undefined) return v.debugPc;
    return linearRip(v.getRip(), v.getSregs());
  }

  /** Whether vCPU `index` is halted (a hlt waiting for an interrupt). */
  isHalted(index: number): boolean {
    return this.vcpu(index).getMpState() === abi.KVM_MP_STATE_HALTED;
  }

  /** Whether the master 8259 masks every line (a guest on the APIC): no interrupt can come from the pair. */
  /**
   * Whether an interrupt can still come to vCPU `index`: an 8259 line is unmasked and its local
   * APIC passes the 8259s on, or the local APIC is enabled (its timer, the IOAPIC, IPIs).
   */
  interruptsCanArrive(index: number): boolean {
    const apic = this.apicState(index);
    return apic.enabled || (apic.acceptsPic && this.vm.pic(abi.KVM_IRQCHIP_PIC_MASTER).imr !== 0xff);
  }

  /**
   * The vector the in-kernel interrupt controllers would deliver to vCPU `index` next (undefined:
   * none is ready): the 8259 pair's where its local APIC passes them on, else the local APIC's.
   */
  pendingInterruptVector(index: number): number | undefined {
    const apic = this.apicState(index);
    const pic = apic.acceptsPic ? nextPicVector(this.vm.pic(abi.KVM_IRQCHIP_PIC_MASTER), this.vm.pic(abi.KVM_IRQCHIP_PIC_SLAVE)) : undefined;
    return pic ?? nextApicVector(apic);
  }

  /** Whether vCPU `index`'s local APIC is enabled (globally and by software): it has interrupts of its own. */
  localApicEnabled(index: number): boolean {
    return this.apicState(index).enabled;
  }

  private apicState(index: number): ApicState {
    const v = this.vcpu(index);
    return apicState(v.getLapic(), v.getSregs().apic_base);
  }

  /** Linear to guest-physical under vCPU `index`'s paging state, or undefined if unmapped. */
  linearToPhysical(index: number, linear: bigint): number | undefined {
    const p = this.translate(index, this.keptPages(index), linear);
    return typeof p === 'number' ? p : undefined;
  }

  /** vCPU `index`'s kept translations, as valid now (translation-cache.ts). */
  private keptPages(index: number): Map<bigint, number> {
    return this.translations.pages(index, [this.vm.memory.monitorWrites, ...this.vm.vcpus.map((v) => v.getSregs())]);
  }

  /** The guest-physical address of `linear`, or why it has none: the page's kept one, or a walk. */
  private translate(index: number, pages: Map<bigint, number>, linear: bigint): number | string {
    const offset = Number(linear & 0xfffn);
    const page = linear - BigInt(offset);
    const known = pages.get(page);
    if (known !== undefined) return known + offset;
    const r = walk(this.vm.memory, this.pagingRegs(index), linear);
    if (!r.ok) return r.reason;
    pages.set(page, r.t.physical - offset);
    return r.t.physical;
  }

  pagingRegs(index: number): PagingRegs {
    const s = this.vcpu(index).getSregs();
    return { cr0: s.cr0, cr3: s.cr3, cr4: s.cr4, efer: s.efer };
  }

  /** Reads guest-physical memory; planted breakpoint bytes read as the original bytes. */
  readPhysical(gpa: number, len: number): Buffer {
    return this.breakpoints.hidePlanted(gpa, this.vm.memory.read(gpa, len));
  }

  writePhysical(gpa: number, data: Uint8Array): void {
    this.vm.memory.write(gpa, data);
  }

  /** Reads by linear address through the guest's page tables, page by page. */
  readLinear(index: number, linear: bigint, len: number): Buffer {
    const out = Buffer.alloc(len);
    this.forEachPage(index, linear, len, (gpa, off, n) => this.readPhysical(gpa, n).copy(out, off));
    return out;
  }

  writeLinear(index: number, linear: bigint, data: Uint8Array): void {
    this.forEachPage(index, linear, data.length, (gpa, off, n) => this.writePhysical(gpa, data.subarray(off, off + n)));
  }

  private forEachPage(index: number, linear: bigint, len: number, f: (gpa: number, off: number, n: number) => void): void {
    const pages = this.keptPages(index);
    for (let off = 0; off < len;) {
      const lin = linear + BigInt(off);
      const p = this.translate(index, pages, lin);
      if (typeof p === 'string') throw new GuestError(`linear address ${hex(lin)} is not mapped: ${p}`);
      const n = Math.min(len - off, 4096 - Number(lin & 0xfffn));
      f(p, off, n);
      off += n;
    }
  }

  // --- breakpoints -------------------------------------------------------------------------

  // Changes made while the guest runs (between time slices) take effect at once: software
  // breakpoints are planted or removed right away, debug registers before the next slice.

  addSoftwareBreakpoint(linear: bigint): number {
    const id = this.breakpoints.addSoftware(linear);
    this.hitMemo = undefined;
    const running = this.state === RUNNING;
    if (running && this.softwareBreakpoints === 'int3') this.breakpoints.plantOne(this.plantTarget, linear);
    else this.debugDirty = running;
    return id;
  }

  /**
   * A write watch that needs no debug register: the pages under [linear, linear + length)
   * become read-only to the guest and every write to them exits to the monitor, which checks
   * it against the range. Any length, any number; the guest runs slower on those pages.
   */
  addPageWatch(linear: bigint, length: number): number {
    const id = this.breakpoints.addPageWatch(linear, length);
    this.debugDirty = this.state === RUNNING;
    return id;
  }

  addHardwareBreakpoint(linear: bigint, kind: WatchKind = 'execute', length: HwLength = 1): number {
    const id = this.breakpoints.addHardware(linear, kind, length);
    this.debugDirty = this.state === RUNNING;
    return id;
  }

  removeBreakpoint(id: number): boolean {
    const removed = this.breakpoints.remove(id);
    if (this.state === RUNNING) {
      this.breakpoints.unplantRemoved(this.plantTarget);
      this.debugDirty = true;
    }
    return removed;
  }

  /** Pushes bytes to the UART's receiver, as if typed on COM1. */
  sendSerialInput(bytes: Uint8Array): void {
    this.uart.pushInput(bytes);
  }

  /**
   * Releases every fd, mapping and thread: stopped → destroyed (again: nothing). A running
   * machine is refused: pause it and wait for its stop first.
   */
  async destroy(): Promise<void> {
    if (this.state === DESTROYED) return;
    if (this.state === RUNNING) throw new GuestError('the machine is running: pause it and wait for the stop before destroying it');
    this.state = DESTROYED;
    this.flushOutput();
    this.kicker.destroy();
    this.vm.destroy();
  }
}

const NO_ADDRESSES: readonly bigint[] = [];
/** Guest-debug control of a plain single step (software breakpoints always on, see applyGuestDebug). */
const PLAIN_STEP = abi.KVM_GUESTDBG_ENABLE | abi.KVM_GUESTDBG_SINGLESTEP | abi.KVM_GUESTDBG_USE_SW_BP;

/** The stop for a data watch that fired: a debug register's (slot 0-3) or a trapped page's. */
function watchStop(vcpu: number, w: Watch): Stop {
  return { kind: 'watchpoint', vcpu, id: w.id, slot: w.slot, address: w.address, access: w.access };
}

/**
 * execute()'s slice clock after its `exits`th exit: the deadline (set at the first), or -1 once
 * past it. Exits cost microseconds each, so the clock is read every 32nd, not after every one.
 * A function over execute()'s locals, not a closure: the closure's context was one more object
 * touched at every exit, and after each exit in the test VM every object touched costs.
 */
function sliceDeadline(exits: number, deadline: number, sliceMs: number): number {
  if ((exits & 31) !== 0 && deadline !== 0) return deadline;
  const now = performance.now();
  if (deadline === 0) return now + sliceMs;
  return now > deadline ? -1 : deadline;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Reads a guest file, with the errors a person can act on (plan.ts: regular files only, fstat first). */
export { readImage } from './plan.js';
