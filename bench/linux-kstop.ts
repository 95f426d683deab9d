// A real stop in a running kernel: Debian's kernel booted to a source breakpoint on start_kernel's
// first statement (init/main.c:LINE), with Debian's -dbg vmlinux as the symbols, kvmdbg against
// QEMU + gdb on the same /dev/kvm (run it where there is one: the test VM). Each round:
// - kvmdbg: dist/adapter.js spawned (DAP over stdio), initialize, launch (program = the bzImage,
//   initrd, cmdline, memory, "symbols" = the vmlinux), setBreakpoints on init/main.c:LINE,
//   configurationDone; timed from the spawn (and from the launch request) to the stopped event,
//   then, as VS Code shows a stop, the threads + the top frame (stackTrace of one level) + scopes +
//   variables of the Locals scope (timed), then the rest of the stack (the next 19 levels, timed apart); the
//   adapter's peak RSS is its /proc/PID/status VmHWM, read just before disconnect. The adapter
//   keeps V8's code cache across runs (src/code-cache.ts), as for a user from the second session
//   on; each round says whether it found one.
// - gdb: QEMU (-enable-kvm -cpu host,-arch-capabilities, as bench/linux-boot.ts, with -s -S) and
//   `gdb -batch -nx` on the same vmlinux spawned at the same moment, as a user would start them:
//   target remote :1234, hbreak init/main.c:LINE, continue, info locals; timed from the spawn to
//   gdb's "Breakpoint 1, ..." line, its locals to an `echo` after `info locals`; gdb's peak RSS
//   from /usr/bin/time -v.
// Both stop at the same address (checked: kvmdbg's frame's instruction pointer, gdb's $pc);
// both sides' local names are printed. The sides alternate; min / median / max at the end.
// Both boot with "nokaslr". --kaslr boots kvmdbg's side without it: kvmdbg finds the slide as the
// kernel starts (src/vmm/kernel-entry.ts) and moves the vmlinux's lines by it, so it stops at the
// same line, at another address. gdb, as kernel developers use it, needs nokaslr.
//   node --import tsx bench/linux-kstop.ts [VMLINUX] [--rounds 5] [--line 913] [--kaslr] [--only kvmdbg|gdb]
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { codeCachePath } from '../src/code-cache.js';
import { buildInitramfs, debianKernel } from '../test/support/linux.js';
import { DapClient } from './dap/client.js';
import { findVmlinux } from './linux-dbg.js';
import { hostLine, stats } from './stats.js';

const ROOT = join(__dirname, '..');
const LIMIT_MS = 600_000;
const MEMORY = '256M';
const MEMORY_KB = 256 * 1024;
const CMDLINE = 'console=ttyS0 nokaslr';

const peakRssMb = (pid: number | undefined): number => {
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (!kb) throw new Error(`no VmHWM for process ${pid}`);
  return Number(kb) / 1024;
};

/** The resident MB of a process's mappings of exactly the guest's RAM size. */
function guestRamRssMb(pid: number | undefined): number {
  let kb = 0;
  for (const block of readFileSync(`/proc/${pid}/smaps`, 'utf8').split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
    if (Number(/^Size:\s+(\d+) kB/m.exec(block)?.[1]) === MEMORY_KB) kb += Number(/^Rss:\s+(\d+) kB/m.exec(block)?.[1] ?? 0);
  }
  return kb / 1024;
}

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args.splice(i, 2)[1] : undefined;
};
const flag = (name: string): boolean => {
  const i = args.indexOf(name);
  return i >= 0 && args.splice(i, 1).length > 0;
};
const rounds = Number(opt('--rounds') ?? 5);
const line = Number(opt('--line') ?? 913);
const only = opt('--only');
const kaslr = flag('--kaslr');
const vmlinux = findVmlinux(args[0]);
const kernel = debianKernel();
const initramfs = buildInitramfs();

interface Round {
  /** Spawn to the stop, ms (kvmdbg: also launch request to the stop). */
  stopMs: number;
  launchToStopMs?: number;
  localsMs?: number;
  /** kvmdbg: the launch's phases, ms from the launch request (initialized, breakpoint set, configurationDone answered), and the threads', top frame's, scopes' and variables' shares of localsMs. */
  phases?: { initialized: number; set: number; configured: number; threads: number; stackTrace: number; scopes: number; variables: number };
  /** kvmdbg: the rest of the stack after the locals (frames 1 to 19), ms, and every frame's name. */
  restMs?: number;
  stack?: string[];
  /** kvmdbg: the adapter's peak RSS when the locals are shown, before the rest of the stack, MB. */
  atLocalsMb?: number;
  rssMb: number;
  /**
   * The guest's RAM in that RSS: kvmdbg, the resident part of its MEMORY-sized mappings (guest
   * RAM, the checkpoint's shadow of it); gdb, QEMU's own peak RSS (VmHWM at the stop), which
   * gdb's does not include.
   */
  guestMb: number;
  pc: string;
  locals: string[];
  note?: string;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`${what}: nothing in ${ms} ms`)), ms)))])
    .finally(() => clearTimeout(t));
}

async function kvmdbg(): Promise<Round> {
  // The adapter's code cache (src/code-cache.ts) from an earlier run of this bundle, or none: a
  // user's first session after an install or an update runs without one.
  const codeCache = existsSync(codeCachePath(join(ROOT, 'dist', 'adapter-main.js'))) ? 'code cache' : 'no code cache';
  const t0 = performance.now();
  const dc = DapClient.spawn(process.execPath, [join(ROOT, 'dist', 'adapter.js')]);
  try {
    await dc.request('initialize', { adapterID: 'kvm', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
    const initialized = dc.event('initialized', LIMIT_MS);
    const t1 = performance.now();
    const launched = dc.request('launch', {
      program: kernel, initrd: initramfs, cmdline: kaslr ? 'console=ttyS0' : CMDLINE, memory: MEMORY, symbols: [vmlinux],
    });
    await withTimeout(initialized, LIMIT_MS, 'initialized');
    const tInit = performance.now();
    const set = await dc.request('setBreakpoints', { source: { path: 'init/main.c' }, breakpoints: [{ line }] });
    const bp = set.breakpoints[0];
    if (!bp.verified && !kaslr) throw new Error(`init/main.c:${line} not verified: ${JSON.stringify(bp)}`);
    const tSet = performance.now();
    await dc.request('configurationDone', {});
    await withTimeout(launched, LIMIT_MS, 'launch');
    const tConf = performance.now();
    const stop = await dc.event('stopped', LIMIT_MS);
    const t2 = performance.now();
    // VS Code asks for the threads (a kernel's are named with their tasks), then
    // (supportsDelayedStackTraceLoading) the top frame, shows its locals, and loads the rest of
    // the stack beside them.
    const threadId = stop.threadId ?? 1;
    const threads = (await dc.request('threads', {})).threads as { name: string }[];
    const tThreads = performance.now();
    const top = (await dc.request('stackTrace', { threadId, startFrame: 0, levels: 1 })).stackFrames[0];
    const tStack = performance.now();
    if (top.line !== line || !/main\.c$/.test(top.source?.path ?? '')) {
      throw new Error(`stopped (${stop.reason}: ${stop.text ?? ''}) at ${top.name} ${top.source?.path}:${top.line}, not init/main.c:${line}`);
    }
    const scopes = (await dc.request('scopes', { frameId: top.id })).scopes as { name: string; variablesReference: number }[];
    const tScopes = performance.now();
    const localsScope = scopes.find((s) => s.name === 'Locals');
    if (!localsScope) throw new Error(`no Locals scope: ${scopes.map((s) => s.name).join(', ')}`);
    const vars = (await dc.request('variables', { variablesReference: localsScope.variablesReference })).variables as { name: string; value: string }[];
    const t3 = performance.now();
    const atLocalsMb = peakRssMb(dc.proc.pid);
    const rest = (await dc.request('stackTrace', { threadId, startFrame: 1, levels: 19 })).stackFrames as { name: string; line: number }[];
    const t4 = performance.now();
    const rssMb = peakRssMb(dc.proc.pid);
    const guestMb = guestRamRssMb(dc.proc.pid);
    return {
      stopMs: t2 - t0, launchToStopMs: t2 - t1, localsMs: t3 - t2,
      phases: { initialized: tInit - t1, set: tSet - t1, configured: tConf - t1, threads: tThreads - t2, stackTrace: tStack - tThreads, scopes: tScopes - tStack, variables: t3 - tScopes }, rssMb, guestMb,
      restMs: t4 - t3, atLocalsMb, stack: [top, ...rest].map((f: { name: string; line: number }) => `${f.name}:${f.line}`),
      pc: top.instructionPointerReference, locals: vars.map((v) => `${v.name} = ${v.value}`),
      note: `${codeCache}, bp ${bp.verified ? 'verified' : 'pending'} at set (${bp.message ?? ''}), stop reason ${stop.reason}, threads ${threads.map((t) => `"${t.name}"`).join(', ')}`,
    };
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- adapter stderr:\n${dc.stderr.slice(-3000)}`);
  } finally {
    await dc.close(5000);
  }
}

async function gdb(): Promise<Round> {
  const t0 = performance.now();
  const qemu = spawn('qemu-system-x86_64', [
    '-enable-kvm', '-cpu', 'host,-arch-capabilities', '-m', MEMORY, '-smp', '1', '-nographic', '-no-reboot',
    '-monitor', 'none', '-serial', 'null', '-nic', 'none', '-kernel', kernel, '-initrd', initramfs, '-append', CMDLINE, '-s', '-S',
  ], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  const g = spawn('/usr/bin/time', ['-v', 'gdb', '-batch', '-nx',
    '-ex', 'target remote :1234', '-ex', `hbreak init/main.c:${line}`, '-ex', 'continue',
    '-ex', 'printf "pc=0x%lx\\n", $pc', '-ex', 'info locals', '-ex', 'echo locals-shown\\n', '-ex', 'kill', vmlinux,
  ], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let qerr = '';
  let stopMs = 0;
  let localsMs = 0;
  let qemuMb = 0;
  qemu.stderr.on('data', (d: Buffer) => (qerr += d.toString()));
  g.stderr.on('data', (d: Buffer) => (err += d.toString()));
  g.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (!stopMs && /\nBreakpoint 1, /.test(out)) {
      stopMs = performance.now() - t0;
      qemuMb = peakRssMb(qemu.pid);
    }
    if (stopMs && !localsMs && /\nlocals-shown\n/.test(out)) localsMs = performance.now() - t0 - stopMs;
  });
  try {
    const status = await withTimeout(new Promise<number | null>((resolve) => g.on('close', resolve)), LIMIT_MS, 'gdb');
    const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err)?.[1];
    const pc = /^pc=(0x[0-9a-f]+)$/m.exec(out)?.[1];
    if (!stopMs || !localsMs || !rss || !pc) throw new Error(`gdb (status ${status}) did not stop at init/main.c:${line}:\n${out}\n${err}\n--- qemu:\n${qerr}`);
    const after = out.slice(out.indexOf('pc=0x'));
    const locals = after.split('\n').slice(1).filter((l) => /^\w+ = /.test(l)).map((l) => l.trim());
    const warn = /Remote 'g' packet reply is too long[^\n]*/.exec(out + err)?.[0];
    return { stopMs, localsMs, rssMb: Number(rss) / 1024, guestMb: qemuMb, pc, locals, note: warn ? `gdb said: ${warn}` : undefined };
  } finally {
    if (g.exitCode === null) g.kill('SIGKILL');
    qemu.kill('SIGKILL');
    await new Promise((r) => (qemu.exitCode === null && qemu.signalCode === null ? qemu.on('close', r) : r(undefined)));
  }
}

/** The requests VS Code makes to show a stop's locals, as Round.phases names them, and as the output does. */
const STOP_PHASES = [['threads', 'threads'], ['stackTrace', 'top frame'], ['scopes', 'scopes'], ['variables', 'variables']] as const;

/** Spawn to the locals on screen: what a user waits for from F5. */
const shownMs = (x: Round) => x.stopMs + (x.localsMs ?? 0);

async function main(): Promise<void> {
  console.log(`host: ${hostLine()}`);
  console.log(`vmlinux ${vmlinux}, kernel ${kernel}, init/main.c:${line}, kvmdbg ${kaslr ? 'with KASLR' : 'nokaslr'}, QEMU nokaslr`);
  const sides: [string, () => Promise<Round>][] = [['kvmdbg', kvmdbg], ['gdb', gdb]];
  const chosen = sides.filter(([n]) => !only || n === only);
  const results = new Map<string, Round[]>(chosen.map(([n]) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < chosen.length; i++) {
      const [name, f] = chosen[(r + i) % chosen.length];
      const x = await f();
      results.get(name)!.push(x);
      const s = (ms?: number) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`);
      console.log(`round ${r + 1}/${rounds} ${name.padEnd(6)}: spawn to stop ${s(x.stopMs)}, launch to stop ${s(x.launchToStopMs)}, ` +
        `locals ${s(x.localsMs)}, peak RSS ${x.rssMb.toFixed(0)} MB (${name === 'gdb' ? 'QEMU' : 'guest RAM'} ${x.guestMb.toFixed(0)} MB), pc ${x.pc}${x.note ? `; ${x.note}` : ''}` +
        (x.phases ? `; from launch: initialized ${s(x.phases.initialized)}, breakpoint set ${s(x.phases.set)}, configurationDone answered ${s(x.phases.configured)}; ${STOP_PHASES.map(([k, n]) => `${n} ${s(x.phases![k])}`).join(', ')}; ` +
          `the rest of the stack ${s(x.restMs)}; peak RSS at the locals ${x.atLocalsMb?.toFixed(0)} MB` : ''));
      if (r === 0) console.log(`  ${name} locals: ${x.locals.join('; ')}${x.stack ? `\n  ${name} stack: ${x.stack.join(' < ')}` : ''}`);
    }
  }
  const pcs = new Set([...results.values()].flat().map((x) => BigInt(x.pc)));
  // Under KASLR each boot has its own slide (a multiple of 2 MiB): the addresses agree below it.
  const same = kaslr ? new Set([...pcs].map((p) => p & 0x1fffffn)).size === 1 : pcs.size === 1;
  const agree = kaslr ? ' (one line: the same below 2 MiB, each boot\'s slide above)' : ' (the same on both sides)';
  console.log(`stop addresses: ${[...pcs].map((p) => '0x' + p.toString(16)).join(', ')}${same ? agree : ' (DIFFER)'}`);
  const tri = (xs: number[], k = 1, d = 2) => {
    const s = stats(xs.map((x) => x / k));
    return `${s.min.toFixed(d)} / ${s.median.toFixed(d)} / ${s.max.toFixed(d)}`;
  };
  for (const [name, xs] of results) {
    console.log(`${name.padEnd(6)} (${xs.length} rounds, min / median / max): spawn to stop ${tri(xs.map((x) => x.stopMs), 1000)} s` +
      (xs[0].launchToStopMs !== undefined ? `, launch to stop ${tri(xs.map((x) => x.launchToStopMs!), 1000)} s` : '') +
      `, locals ${tri(xs.map((x) => x.localsMs ?? 0), 1000)} s` +
      (xs[0].restMs !== undefined ? ` (${STOP_PHASES.map(([k, n]) => `${n} ${tri(xs.map((x) => x.phases![k]), 1000)} s`).join(', ')}), the rest of the stack ${tri(xs.map((x) => x.restMs!), 1000)} s` : '') +
      `, spawn to the locals shown ${tri(xs.map(shownMs), 1000)} s` +
      `, peak RSS ${tri(xs.map((x) => x.rssMb), 1, 0)} MB, ${name === 'gdb' ? 'QEMU\'s peak RSS' : 'of it guest RAM'} ${tri(xs.map((x) => x.guestMb), 1, 0)} MB`);
  }
  if (results.size === 2) {
    const med = (n: string, f: (x: Round) => number) => stats(results.get(n)!.map(f)).median;
    console.log(`kvmdbg / gdb (medians): spawn to stop ${(med('kvmdbg', (x) => x.stopMs) / med('gdb', (x) => x.stopMs)).toFixed(2)}, ` +
      `spawn to the locals shown ${(med('kvmdbg', shownMs) / med('gdb', shownMs)).toFixed(2)}, ` +
      `peak RSS ${(med('kvmdbg', (x) => x.rssMb) / med('gdb', (x) => x.rssMb)).toFixed(2)}`);
  }
}

main().then(() => process.exit(0), (e) => {
  console.error((e as Error).message);
  process.exit(1);
});
