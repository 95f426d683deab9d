// Reverse execution against QEMU's record/replay (issue 15): the time to record a guest and the
// time of one reverse-continue to a breakpoint BACK instructions before the end, side by side.
// The guest is bench/guests/fill-rr.S (fill.S's loop in two runs with a marked instruction
// between), one Multiboot image that both sides boot: kvmdbg as a Multiboot kernel, QEMU with
// -kernel (after SeaBIOS and its Multiboot option ROM).
//
// - kvmdbg: a DebugTarget over a Machine, recording on from the entry (as launch's "record":
//   true), a run to a breakpoint at `done` (recorded step by step), then reverseContinue with a
//   breakpoint at `mark`: the debugger's own path.
// - QEMU (TCG): `-icount shift=S,rr=record,rrsnapshot=init` with an empty qcow2 image for the
//   snapshot, timed from spawn to the guest's end (a byte on COM1), then quit through the monitor
//   (an exit through isa-debug-exit leaves the log unfinished). Then `rr=replay -S` with gdb in
//   batch mode: break at `done`, continue (the forward replay, timed too), one reverse-stepi (a
//   load of the snapshot and a replay to the instruction before), then `reverse-continue` to a
//   breakpoint at `mark`, timed in gdb. QEMU's reverse-continue loads the snapshot (taken at
//   power-on) and replays up to now, then again up to the hit: BIOS included, twice.
//
//   node --import tsx bench/qemu-rr.ts [--rounds 5] [--back 100000] [--lead 1000] [--shift auto]
//                                      [--limit 20] [--only kvmdbg|qemu]
// --back: instructions from `mark` to `done`; --lead: instructions recorded before `mark`
// (kvmdbg records from the Multiboot entry); --limit: seconds a QEMU reverse-continue may take
// before it counts as hung (QEMU 10.0's sometimes never returns, see bench/README.md).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Machine } from '../src/vmm/machine.js';
import { Breakpoints } from '../src/debugger/breakpoints.js';
import { DebugTarget } from '../src/debugger/target.js';
import { hex } from '../src/errors.js';
import { hostLine, stats } from './stats.js';

const BUILD = join(__dirname, 'build');
const args = process.argv.slice(2);
const opt = (name: string, def: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const rounds = Number(opt('--rounds', '5'));
const back = Number(opt('--back', '100000'));
const lead = Number(opt('--lead', '1000'));
const shift = opt('--shift', 'auto');
const limitMs = Number(opt('--limit', '20')) * 1000;
const only = opt('--only', '');
/** fill-rr.S's loop: mov, imul, mov, call, addl, ret, inc, and, dec, jne. */
const ROUND = 10;

interface Guest {
  bin: string;
  before: number;
  after: number;
  mark: bigint;
  done: bigint;
}

function guest(): Guest {
  // From `mark` (call fill) to `done`: the call, AFTER rounds and fill's ret.
  const before = Math.max(1, Math.round(lead / ROUND));
  const after = Math.max(1, Math.round((back - 2) / ROUND));
  mkdirSync(BUILD, { recursive: true });
  const base = join(BUILD, `fill-rr-${before}-${after}`);
  execFileSync('gcc', ['-c', '-nostdlib', '-ffreestanding', `-DBEFORE=${before}`, `-DAFTER=${after}`, '-o', `${base}.o`, join(__dirname, 'guests', 'fill-rr.S')]);
  execFileSync('ld', ['-nostdlib', '--build-id=none', '-Ttext=0x100000', '-e', '_start', '-o', `${base}.elf`, `${base}.o`]);
  execFileSync('objcopy', ['-O', 'binary', `${base}.elf`, `${base}.bin`]);
  const syms = new Map(execFileSync('nm', [`${base}.elf`], { encoding: 'utf8' }).trim().split('\n')
    .map((l) => l.split(' ')).map(([a, , n]) => [n, BigInt('0x' + a)] as const));
  return { bin: `${base}.bin`, before, after, mark: syms.get('mark')!, done: syms.get('done')! };
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

interface KvmdbgSample {
  setupMs: number;
  recordMs: number;
  recorded: number;
  reverseMs: number;
  back: number;
}

async function kvmdbgRound(g: Guest): Promise<KvmdbgSample> {
  const t0 = performance.now();
  const m = new Machine({ image: g.bin, format: 'multiboot', serial: () => {} });
  try {
    const hits = new Breakpoints(() => undefined);
    hits.attach(m);
    const target = new DebugTarget(m, undefined, hits, () => {});
    target.history.start();
    hits.setInstructions([{ instructionReference: hex(g.done) }]);
    const t1 = performance.now();
    const end = await target.run(0, false);
    const recordMs = performance.now() - t1;
    check(end.stop.kind === 'breakpoint' && end.stop.address === g.done, `kvmdbg: the run ended with ${JSON.stringify(end.stop, (_, v) => typeof v === 'bigint' ? hex(v) : v)}, not at done`);
    check(m.getRegs(0).rcx === BigInt((g.before + g.after) & 1023), `kvmdbg: rcx ${m.getRegs(0).rcx} at done`);
    hits.setInstructions([{ instructionReference: hex(g.done) }, { instructionReference: hex(g.mark) }]);
    const t2 = performance.now();
    const r = await target.reverseContinue(0);
    const reverseMs = performance.now() - t2;
    check(r.stop.kind === 'breakpoint' && r.stop.address === g.mark, `kvmdbg: reverse-continue stopped by ${r.stop.kind}, not at mark`);
    check(m.getRegs(0).rcx === BigInt(g.before & 1023), `kvmdbg: rcx ${m.getRegs(0).rcx} at mark`);
    const log = target.history.log;
    return { setupMs: t1 - t0, recordMs, recorded: log.length, reverseMs, back: log.length - log.position };
  } finally {
    await m.destroy();
  }
}

interface QemuSample {
  recordMs: number;
  recordedInstructions: number;
  forwardMs: number;
  /** One reverse-stepi from the end: a load of the snapshot and a replay up to there. */
  stepBackMs: number;
  /** Undefined when it had not returned after --limit seconds. */
  reverseMs: number | undefined;
}

/** Kills `p` (SIGKILL: a replaying QEMU ignores SIGTERM) if it outlives `ms`; resolves at its exit. */
function ended(p: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve(p.exitCode);
    const timer = setTimeout(() => p.kill('SIGKILL'), ms);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Sends monitor commands one by one, each answered by a prompt; resolves with the whole text. */
function monitor(path: string, commands: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    let text = '';
    let sent = 0;
    const timer = setTimeout(() => { c.destroy(); reject(new Error(`QEMU monitor: no answer\n${text}`)); }, 60_000);
    c.on('data', (d) => {
      text += d.toString('latin1');
      if (text.split('(qemu) ').length - 1 > sent && sent < commands.length) c.write(commands[sent++] + '\n');
    });
    c.on('error', (e) => { clearTimeout(timer); reject(e); });
    c.on('close', () => { clearTimeout(timer); resolve(text); });
  });
}

async function qemuRound(g: Guest): Promise<QemuSample> {
  const dir = mkdtempSync(join(tmpdir(), 'kvmdbg-qemu-rr-'));
  const children: ChildProcess[] = [];
  try {
    const disk = join(dir, 'snapshots.qcow2'), log = join(dir, 'replay.bin'), sock = join(dir, 'monitor.sock');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '128M']);
    const common = ['-machine', 'pc', '-m', '64M', '-nodefaults', '-display', 'none', '-net', 'none', '-kernel', g.bin,
      '-drive', `file=${disk},if=none,id=rr`];
    const icount = (mode: string) => ['-icount', `shift=${shift},rr=${mode},rrfile=${log},rrsnapshot=init`];

    const t0 = performance.now();
    const rec = spawn('qemu-system-x86_64', [...common, ...icount('record'), '-serial', 'stdio', '-monitor', `unix:${sock},server=on,wait=off`],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(rec);
    let out = '';
    rec.stderr!.on('data', (d: Buffer) => (out += d.toString('latin1')));
    const recordMs = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`QEMU record: no end of the guest in 600 s\n${out}`)), 600_000);
      rec.stdout!.on('data', (d: Buffer) => {
        if (d.includes('D')) {
          clearTimeout(timer);
          resolve(performance.now() - t0);
        }
      });
      rec.on('close', (code) => reject(new Error(`QEMU record: ended with ${code} before the guest's end\n${out}`)));
    });
    const answer = await monitor(sock, ['info replay', 'quit']);
    await ended(rec, 60_000);
    const icountText = /instruction count = (\d+)/.exec(answer);
    check(icountText !== null, `QEMU record: "info replay" said\n${answer}`);

    const port = await freePort();
    const rep = spawn('qemu-system-x86_64', [...common, ...icount('replay'), '-serial', 'null', '-gdb', `tcp:127.0.0.1:${port}`, '-S'],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(rep);
    let repErr = '';
    rep.stderr!.on('data', (d: Buffer) => (repErr += d.toString('latin1')));
    await new Promise((r) => setTimeout(r, 300)); // its gdbstub listening
    const py = (line: string) => ['-ex', `python ${line}`];
    const reg = (r: string) => `int(gdb.parse_and_eval("$${r}")) & 0xffffffffffffffff`;
    const gdbArgs = [
      '-batch', '-nx', '-ex', 'set architecture i386:x86-64', '-ex', `target remote 127.0.0.1:${port}`,
      '-ex', `break *${hex(g.done)}`, ...py('import time; t = time.monotonic()'), '-ex', 'continue',
      ...py('print("QRR forward %.6f" % (time.monotonic() - t))'), ...py(`print("QRR end %d %d" % (${reg('pc')}, ${reg('rcx')}))`),
      '-ex', 'delete', ...py('t = time.monotonic()'), '-ex', 'reverse-stepi', ...py('print("QRR stepback %.6f" % (time.monotonic() - t))'),
      '-ex', `break *${hex(g.mark)}`,
      ...py('t = time.monotonic()'), '-ex', 'reverse-continue', ...py('print("QRR reverse %.6f" % (time.monotonic() - t))'),
      ...py(`print("QRR mark %d %d" % (${reg('pc')}, ${reg('rcx')}))`), '-ex', 'kill',
    ];
    const gdb = spawn('gdb', gdbArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(gdb);
    let gdbOut = '';
    // The reverse-continue's own limit runs from the end of the forward replay.
    let limit: NodeJS.Timeout | undefined;
    const take = (d: Buffer) => {
      gdbOut += d.toString('latin1');
      if (!limit && gdbOut.includes('QRR end')) limit = setTimeout(() => gdb.kill('SIGKILL'), limitMs);
    };
    gdb.stdout!.on('data', take);
    gdb.stderr!.on('data', take);
    await ended(gdb, 120_000 + limitMs);
    clearTimeout(limit);
    rep.kill('SIGKILL');
    const line = (key: string) => new RegExp(`^QRR ${key} (.*)$`, 'm').exec(gdbOut)?.[1].split(' ').map(Number);
    const fwd = line('forward'), endAt = line('end'), stepBack = line('stepback'), rc = line('reverse'), markAt = line('mark');
    check(fwd !== undefined && endAt !== undefined && BigInt(endAt[0]) === g.done, `QEMU replay: not at done\n${gdbOut}\n${repErr}`);
    check(endAt![1] === ((g.before + g.after) & 1023), `QEMU replay: rcx ${endAt![1]} at done`);
    if (rc) check(markAt !== undefined && BigInt(markAt[0]) === g.mark && markAt[1] === (g.before & 1023), `QEMU reverse-continue: not at mark\n${gdbOut}`);
    check(stepBack !== undefined, `QEMU reverse-stepi: no answer\n${gdbOut}`);
    return {
      recordMs, recordedInstructions: Number(icountText![1]), forwardMs: fwd![0] * 1000, stepBackMs: stepBack![0] * 1000,
      reverseMs: rc ? rc[0] * 1000 : undefined,
    };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const summary = (xs: number[]) => {
  if (!xs.length) return undefined;
  const s = stats(xs);
  return { min: +s.min.toFixed(1), median: +s.median.toFixed(1), max: +s.max.toFixed(1) };
};

async function main(): Promise<void> {
  const g = guest();
  console.log(`host: ${hostLine()}`);
  console.log(`guest: ${g.bin}, mark ${hex(g.mark)}, done ${hex(g.done)}, ${g.before} + ${g.after} rounds; QEMU -icount shift=${shift}`);
  const k: KvmdbgSample[] = [];
  const q: QemuSample[] = [];
  for (let i = 0; i < rounds; i++) {
    // Sides alternate which goes first.
    const order = i % 2 ? ['qemu', 'kvmdbg'] : ['kvmdbg', 'qemu'];
    for (const side of order) {
      if (only && only !== side) continue;
      if (side === 'kvmdbg') k.push(await kvmdbgRound(g));
      else q.push(await qemuRound(g));
      console.log(`round ${i + 1} ${side}: ${JSON.stringify(side === 'kvmdbg' ? k[k.length - 1] : q[q.length - 1])}`);
    }
  }
  const kv = k.length ? {
    setupMs: summary(k.map((s) => s.setupMs)), recordMs: summary(k.map((s) => s.recordMs)),
    recordedInstructions: k[0].recorded, recordedPerSecond: summary(k.map((s) => s.recorded / (s.recordMs / 1000))),
    reverseContinueMs: summary(k.map((s) => s.reverseMs)), instructionsBack: k[0].back,
  } : undefined;
  const finished = q.filter((s) => s.reverseMs !== undefined);
  const qe = q.length ? {
    recordMs: summary(q.map((s) => s.recordMs)), recordedInstructions: q[0].recordedInstructions,
    forwardReplayMs: summary(q.map((s) => s.forwardMs)), reverseStepiMs: summary(q.map((s) => s.stepBackMs)), reverseContinueMs: summary(finished.map((s) => s.reverseMs!)),
    reverseContinueHung: q.length - finished.length,
  } : undefined;
  const ratio = (a?: { median: number }, b?: { median: number }) => (a && b ? +(a.median / b.median).toFixed(2) : undefined);
  console.log(JSON.stringify({
    rounds, back, lead, shift, kvmdbg: kv, qemu: qe,
    ratio: { record: ratio(kv?.recordMs, qe?.recordMs), reverseContinue: ratio(kv?.reverseContinueMs, qe?.reverseContinueMs) },
  }, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
