#!/usr/bin/env node
// `kvmdbg run`: runs a guest headless with its serial console on the terminal.
import { openSync, closeSync } from 'node:fs';
import { writeAll } from './write-all.js';
import { Machine, type MachineConfig } from './vmm/machine.js';
import { GuestError } from './errors.js';
import { parseSize } from './vmm/memory.js';
import { describeStop, type Stop } from './vmm/debug/stops.js';
import { registerDump } from './vmm/debug/dump.js';
import { ScreenWatch } from './vmm/screen.js';
import { CliScreen } from './cli-screen.js';
import { KEYS_ROUTES, typeOnTerminal, type KeysRoute } from './vmm/terminal-input.js';
import { BOOT_ENTRIES, GUEST_FORMATS, type BootEntry, type GuestFormat, type CpuMode } from './vmm/loaders/types.js';

/** Exit statuses. The guest's debug-exit statuses are always odd, so ours are even. */
export const EXIT = {
  ok: 0,
  usage: 2,
  tripleFault: 4,
  halted: 6,
  internalError: 8,
  timeout: 124,
  interrupted: 130,
} as const;

const HELP = `Usage: kvmdbg run [options] FILE

Runs an x86 guest on /dev/kvm with its serial port (COM1) on this terminal.
The format is found from the content: Linux bzImage, Multiboot 2, Multiboot 1, an ELF with a
PVH entry note (a Linux vmlinux), ELF32, ELF64, boot sector.

Options:
  --memory SIZE          guest RAM, QEMU-style (64M, 1G, 512K; a bare number is MiB). Default 64M;
                         1M to what the host can give now (MemAvailable + SwapFree)
  --smp N                number of vCPUs. Default 1
  --cmdline STRING       kernel command line (Multiboot, Linux)
  --module FILE[,ARGS]   a Multiboot or PVH module with its string; repeat for more. For a Linux
                         bzImage the first module is the initrd (more are appended to it); a
                         PVH Linux takes the first as its initrd
  --boot-entry 32|64     Linux bzImage: the boot protocol's 32-bit entry (default: every bzImage
                         has it) or its 64-bit one (long mode, identity paging, a GDT with a
                         64-bit __BOOT_CS; x86-64 kernels with XLF_KERNEL_64)
  --recover-triple-fault
                         where KVM resets the vCPU at a triple fault (SVM hosts), keep what it
                         takes to replay to the faulting instruction and show its state (I/O
                         exits about 1.5x and steps 1.3x as slow there)
  --format FORMAT        force a format: ${GUEST_FORMATS.join(', ')}
  --load-address ADDR    flat binary: where to load it (default 0x100000)
  --entry ADDR           flat binary: where to start (default: the load address)
  --mode MODE            flat binary: real, protected or long (default: real below 1 MiB)
  --disk auto|floppy|hdd boot sector: the disk int 13h serves from a copy of the image (default
                         auto: a floppy, drive 00h, for a standard diskette size, else a hard
                         disk, 80h)
  --whole-image          boot sector: load the whole image at 0x7C00, not only sector 0
  --timeout TIME         stop the guest after TIME (seconds, or with ms/s/m suffix)
  --trace-io             log every port and MMIO access to stderr
  --serial stdio|FILE    where COM1 goes (default stdio: output to stdout, input from stdin)
  --display auto|ansi|none
                         the guest's VGA text screen, once it writes there (default auto: ansi
                         when stdout is a terminal of at least 80x29, else none). ansi: the
                         80x25 screen in colour at the top of the terminal, serial output
                         scrolling below it. none: each changed screen row as a line
                         "screen NN| text" and the cursor as "screen cursor| row R col C"
  --keys auto|keyboard|serial|both
                         where typed keys go (default auto: the keyboard (i8042, IRQ 1) once
                         the guest uses the screen, the serial port until then)
  -h, --help             show this help

Environment: KVMDBG_DEVICE names the KVM device to open instead of /dev/kvm.

On a terminal, stdin is in raw mode while the guest runs: keys go to the guest's UART, or to
its keyboard as scan codes (see --keys; arrows, F1-F12 and the like from their escape sequences).
Ctrl-C or Ctrl-A x ends the run; Ctrl-A Ctrl-A sends a Ctrl-A to the guest.

Exit status:
  (v << 1) | 1           the guest wrote v to the isa-debug-exit port 0xF4 (QEMU's convention)
  0                      the guest powered off or reset the machine
  2                      bad input: option, file or format, or a KVM device that can't be used
                         (the message says which)
  4                      triple fault (KVM_EXIT_SHUTDOWN), with a register dump
  6                      a vCPU halted with interrupts off, with a register dump
  8                      KVM internal error or failed entry, with a register dump
  124                    --timeout expired, with a register dump
  130                    interrupted by Ctrl-C or a signal
  70                     internal error: a bug in kvmdbg (reported with its stack trace)
`;

interface Options extends MachineConfig {
  timeoutMs?: number;
  serialPath?: string;
  display?: 'auto' | 'ansi' | 'none';
  keys?: KeysRoute;
}

function parseNumber(opt: string, text: string): number {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(text)) throw new GuestError(`${opt}: "${text}" is not a number (use decimal or 0x hex)`);
  const v = BigInt(text);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new GuestError(`${opt}: ${text} is too large (at most 0x${Number.MAX_SAFE_INTEGER.toString(16)}, 2^53 - 1)`);
  }
  return Number(v);
}

function oneOf<T extends string>(opt: string, text: string, values: readonly T[]): T {
  if (!values.includes(text as T)) throw new GuestError(`${opt}: "${text}" is not one of ${values.join(', ')}`);
  return text as T;
}

function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (!m) throw new GuestError(`--timeout: "${text}" is not a duration (e.g. 10, 500ms, 2m)`);
  return parseFloat(m[1]) * ({ ms: 1, s: 1000, m: 60000 }[m[2] ?? 's'] ?? 1000);
}

export function parseArgs(argv: string[]): Options | 'help' {
  const o: Options = { image: '', kvmDevice: process.env.KVMDBG_DEVICE || undefined };
  const files: string[] = [];
  const modules: { path: string; args?: string }[] = [];
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let inline: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      inline = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new GuestError(`${a} needs a value (see --help)`);
      return v;
    };
    switch (a) {
      case '-h': case '--help': return 'help';
      case '--memory': o.memory = parseSize(value()); break;
      case '--smp': o.smp = parseNumber(a, value()); break;
      case '--cmdline': o.cmdline = value(); break;
      case '--module': {
        const v = value();
        const c = v.indexOf(',');
        modules.push(c < 0 ? { path: v } : { path: v.slice(0, c), args: v.slice(c + 1) });
        break;
      }
      case '--format': {
        const f = value();
        if (!GUEST_FORMATS.includes(f as GuestFormat)) {
          throw new GuestError(`--format: unknown format "${f}" (one of ${GUEST_FORMATS.join(', ')})`);
        }
        o.format = f as GuestFormat;
        break;
      }
      case '--load-address': o.loadAddress = parseNumber(a, value()); break;
      case '--entry': o.entry = parseNumber(a, value()); break;
      case '--mode': {
        const m = value();
        if (!['real', 'protected', 'long'].includes(m)) throw new GuestError(`--mode: "${m}" is not real, protected or long`);
        o.mode = m as CpuMode;
        break;
      }
      case '--disk': { const d = oneOf(a, value(), ['auto', 'floppy', 'hdd'] as const); o.disk = d === 'auto' ? undefined : d; break; }
      case '--whole-image': o.loadWholeImage = true; break;
      case '--recover-triple-fault': o.recoverShutdown = true; break;
      case '--boot-entry': o.bootEntry = Number(oneOf(a, value(), BOOT_ENTRIES.map(String))) as BootEntry; break;
      case '--timeout': o.timeoutMs = parseDuration(value()); break;
      case '--trace-io': o.trace = (line) => process.stderr.write(`[io] ${line}\n`); break;
      case '--serial': { const s = value(); if (s !== 'stdio') o.serialPath = s; break; }
      case '--display': o.display = oneOf(a, value(), ['auto', 'ansi', 'none'] as const); break;
      case '--keys': o.keys = oneOf(a, value(), KEYS_ROUTES); break;
      default:
        if (a.startsWith('-') && a !== '-') throw new GuestError(`unknown option ${a} (see kvmdbg run --help)`);
        files.push(argv[i]);
    }
  }
  if (files.length !== 1) throw new GuestError(files.length ? `one guest file, not ${files.length}: ${files.join(' ')}` : 'no guest file given (see kvmdbg run --help)');
  if (o.smp !== undefined && o.smp < 1) throw new GuestError('--smp must be at least 1');
  o.image = files[0];
  o.modules = modules;
  return o;
}

/** Puts a terminal on stdin into raw mode and guarantees it is restored on every way out. */
class Terminal {
  private raw = false;
  enter(): void {
    if (process.stdin.isTTY) {
      process.stdin.setRawMode(true);
      this.raw = true;
    }
  }
  restore(): void {
    if (this.raw) {
      this.raw = false;
      process.stdin.setRawMode(false);
    }
  }
}

async function runCommand(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv);
  if (parsed === 'help') {
    process.stdout.write(HELP);
    return EXIT.ok;
  }
  let serialFd = -1;
  /** Whether the serial output on stdout ended a line (screen lines never join one). */
  let serialAtLineStart = true;
  if (parsed.serialPath) {
    parsed.serial = (b) => writeAll(serialFd, b);
  } else {
    parsed.serial = (b) => {
      if (b.length) serialAtLineStart = b[b.length - 1] === 0x0a;
      writeAll(1, b);
    };
  }
  const machine = new Machine(parsed);
  // The serial file is opened (and truncated) only once the machine is built: a run that fails
  // on its input leaves an existing log as it was.
  if (parsed.serialPath) {
    try {
      serialFd = openSync(parsed.serialPath, 'w');
    } catch (e) {
      await machine.destroy();
      throw new GuestError(`--serial ${parsed.serialPath}: ${(e as Error).message}`);
    }
  }
  const ansi = parsed.display === 'ansi' || (parsed.display !== 'none' && process.stdout.isTTY === true);
  const screen = new CliScreen(new ScreenWatch(machine.vm.memory, machine.vga), ansi ? 'ansi' : 'plain',
    (text) => writeAll(1, Buffer.from(text)), () => serialAtLineStart,
    () => ({ rows: process.stdout.rows ?? 0, cols: process.stdout.columns ?? 0 }));
  const screenTimer = setInterval(() => screen.update(), 50);
  const keys = parsed.keys ?? 'auto';
  const term = new Terminal();
  let quit: number | undefined;
  let timedOut = false;
  const onSignal = (sig: NodeJS.Signals) => {
    quit = EXIT.interrupted;
    machine.pause();
    if (sig !== 'SIGINT') process.stderr.write(`\nkvmdbg: ${sig}\n`);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  const onExit = () => term.restore();
  process.on('exit', onExit);
  let timer: NodeJS.Timeout | undefined;
  let ctrlA = false;
  const onInput = (data: Buffer) => {
    const pass: number[] = [];
    for (const b of data) {
      if (ctrlA) {
        ctrlA = false;
        if (b === 0x78 || b === 0x58) { quit = EXIT.interrupted; machine.pause(); return; }
        if (b === 0x01) pass.push(0x01);
        continue;
      }
      if (b === 0x01 && process.stdin.isTTY) { ctrlA = true; continue; }
      if (b === 0x03 && process.stdin.isTTY) { quit = EXIT.interrupted; machine.pause(); return; }
      pass.push(b);
    }
    if (!pass.length) return;
    typeOnTerminal(machine, Buffer.from(pass), keys, screen.inUse);
  };
  try {
    if (serialFd < 0) {
      term.enter();
      process.stdin.on('data', onInput);
      process.stdin.on('error', () => {});
    }
    if (parsed.timeoutMs !== undefined) {
      timer = setTimeout(() => { timedOut = true; machine.pause(); }, parsed.timeoutMs);
    }
    const stop = await machine.run();
    clearInterval(screenTimer);
    machine.uart.flush();
    screen.finish();
    term.restore();
    return report(machine, stop, quit, timedOut);
  } finally {
    clearTimeout(timer);
    clearInterval(screenTimer);
    term.restore();
    process.stdin.off('data', onInput);
    process.stdin.pause();
    for (const s of signals) process.off(s, onSignal);
    process.off('exit', onExit);
    await machine.destroy();
    if (serialFd >= 0) closeSync(serialFd);
  }
}

function report(machine: Machine, stop: Stop, quit: number | undefined, timedOut: boolean): number {
  const dump = (vcpu: number) => process.stderr.write(registerDump(machine.vcpu(vcpu)) + '\n');
  switch (stop.kind) {
    case 'exit':
      return stop.status;
    case 'poweroff':
    case 'reset':
      process.stderr.write(`kvmdbg: ${describeStop(stop)}\n`);
      return EXIT.ok;
    case 'pause':
      if (quit !== undefined) {
        process.stderr.write('\nkvmdbg: interrupted\n');
        return quit;
      }
      process.stderr.write(`\nkvmdbg: timeout: the guest was still running; stopped it\n`);
      dump(stop.vcpu);
      return timedOut ? EXIT.timeout : EXIT.interrupted;
    case 'triple-fault':
      process.stderr.write(`\nkvmdbg: ${describeStop(stop)}\n`);
      dump(stop.vcpu);
      return EXIT.tripleFault;
    case 'halted':
      process.stderr.write(`\nkvmdbg: ${describeStop(stop)}\n`);
      dump(stop.vcpu);
      return EXIT.halted;
    default:
      process.stderr.write(`\nkvmdbg: ${describeStop(stop)}\n`);
      dump('vcpu' in stop ? stop.vcpu : 0);
      return EXIT.internalError;
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === 'run') return await runCommand(rest);
    if (cmd === '-h' || cmd === '--help' || cmd === 'help' || cmd === undefined) {
      process.stdout.write(HELP);
      return cmd === undefined ? EXIT.usage : EXIT.ok;
    }
    throw new GuestError(`unknown command "${cmd}": the command is "kvmdbg run [options] FILE"`);
  } catch (e) {
    if (e instanceof GuestError) {
      process.stderr.write(`kvmdbg: ${e.message}\n`);
      return EXIT.usage;
    }
    throw e;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`kvmdbg: internal error: ${(e as Error).stack}\n`);
      process.exit(70);
    },
  );
}
