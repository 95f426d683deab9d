// Kernel-sized debug information: kvmdbg against gdb on Debian's -dbg vmlinux (full DWARF, 600 MB).
// Each round runs both sides in fresh processes, in alternating order, under /usr/bin/time -v:
// - kvmdbg (this file with --child, bundled by esbuild as scripts/build.mjs bundles the adapter):
//   DebugInfo for the kernel (its vmlinuz the program, the vmlinux a symbols file, as a launch
//   has them), the source breakpoint on start_kernel's first statement (init/main.c:LINE, as
//   setBreakpoints binds it), and the locals at its address;
// - gdb: `break init/main.c:LINE` and `info scope init/main.c:LINE` in batch mode.
// LINE comes from a first, uncounted kvmdbg run (where start_kernel's breakpoint stops), which
// with an uncounted gdb run also fills the page cache; gdb's breakpoint address must be ours.
// Prints wall time and peak RSS, min / median / max, and kvmdbg / gdb of the medians.
// --check instead compares the lazy line table with one that ran every program at once: 3000
// lookups and prologues in random functions, and source lines in files one unit or thousands name.
//
//   node --import tsx bench/linux-dwarf.ts [VMLINUX] [--rounds 5] [--tsx]
//   node --max-old-space-size=8192 --import tsx bench/linux-dwarf.ts [VMLINUX] --check
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { DebugInfo } from '../src/debugger/debug-info.js';
import { ElfImage } from '../src/symbols/elf-file.js';
import { LineTable } from '../src/symbols/dwarf/line.js';
import { SymbolTable } from '../src/symbols/elf-symbols.js';
import { prng } from '../test/support/prng.js';
import { hostLine, stats } from './stats.js';
import { bundle, findProgram, findVmlinux, timed, type Sample } from './linux-dbg.js';

interface KvmdbgFacts {
  line: number;
  address: string;
  locals: string[];
  /** In-process milliseconds: DebugInfo construction, the source breakpoint, the locals. */
  loadMs: number;
  resolveMs: number;
  localsMs: number;
}

/** The child: one launch's worth of debug-information work, its facts as JSON on stdout. */
function child(vmlinux: string, program: string): void {
  const t0 = performance.now();
  const info = new DebugInfo(program, [{ path: vmlinux, offset: 0n }]);
  const t1 = performance.now();
  // Where `break start_kernel` stops is its first statement's line; a client sets that line.
  const fn = info.functionAddress('start_kernel');
  if (!fn) throw new Error(`${vmlinux} has no start_kernel`);
  const first = info.afterPrologue(fn.address, fn.address + fn.size);
  const at = first === undefined ? undefined : info.lineAt(first);
  if (!at) throw new Error('no line for start_kernel\'s first statement');
  const t2 = performance.now();
  const bp = info.resolveLine('init/main.c', at.line);
  if (!bp || bp.addresses.length !== 1) throw new Error(`init/main.c:${at.line} binds to ${JSON.stringify(bp?.addresses.map(String))}`);
  const t3 = performance.now();
  const locals = info.localsAt(bp.addresses[0]).map((v) => v.name);
  const t4 = performance.now();
  const facts: KvmdbgFacts = {
    line: bp.line, address: '0x' + bp.addresses[0].toString(16), locals, loadMs: t1 - t0, resolveMs: t3 - t2, localsMs: t4 - t3,
  };
  process.stdout.write(JSON.stringify(facts));
}

/** --check: the lazy line table's answers against the eager one's; false where any differs. */
function check(vmlinux: string): boolean {
  const elf = ElfImage.open(vmlinux);
  const functions = SymbolTable.fromElf(elf, vmlinux).functions();
  const lazy = LineTable.fromElf(elf, vmlinux);
  let t = performance.now();
  const eager = LineTable.fromElf(elf, vmlinux, 0n, { lazy: false });
  console.log(`every program run at once: ${eager.programsRun} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const show = (x: unknown): string => JSON.stringify(x, (_, v: unknown) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v));
  const rand = prng(14);
  let differ = 0;
  let lines = 0;
  t = performance.now();
  for (let i = 0; i < 3000; i++) {
    const f = functions[Math.floor(rand() * functions.length)];
    const at = f.address + BigInt(Math.floor(rand() * Number(f.size || 1n)));
    const [a, b] = [lazy.lookup(at), eager.lookup(at)];
    const [p, q] = [lazy.afterPrologue(f.address, f.address + f.size), eager.afterPrologue(f.address, f.address + f.size)];
    if (a) lines++;
    if (show(a) !== show(b) || p !== q) {
      differ++;
      console.log(`${f.name} ${show(at)}: lazy ${show(a)} ${show(p)}, eager ${show(b)} ${show(q)}`);
    }
  }
  console.log(`3000 addresses in random functions (${lines} with a line), their prologues: ${differ} differ; ` +
    `${lazy.programsRun} programs run, ${((performance.now() - t) / 1000).toFixed(1)} s`);
  for (const file of ['init/main.c', 'mm/slub.c', 'fs/read_write.c', 'include/linux/list.h']) {
    for (const line of [1, 100, 500, 913]) {
      const [a, b] = [lazy.resolve(file, line), eager.resolve(file, line)];
      if (show(a) !== show(b)) {
        differ++;
        console.log(`${file}:${line}: lazy ${show(a)}, eager ${show(b)}`);
      }
    }
  }
  console.log(`source lines in 4 files: ${differ} differences in all; ${lazy.programsRun} programs run`);
  return differ === 0;
}

function gdbArgs(vmlinux: string, line: number): string[] {
  return ['-batch', '-nx', '-ex', `break init/main.c:${line}`, '-ex', `info scope init/main.c:${line}`, vmlinux];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args.splice(i, 2)[1] : undefined;
  };
  const rounds = Number(opt('--rounds') ?? 5);
  const tsx = args.includes('--tsx');
  const rest = args.filter((a) => a !== '--tsx' && a !== '--check');
  if (rest[0] === '--child') return child(rest[1], rest[2]);

  const vmlinux = findVmlinux(rest[0]);
  if (args.includes('--check')) {
    if (!check(vmlinux)) process.exitCode = 1;
    return;
  }
  const program = findProgram(vmlinux);
  const kvmdbgCmd = [...(tsx ? ['--import', 'tsx', join(__dirname, 'linux-dwarf.ts')] : [await bundle('linux-dwarf')]), '--child', vmlinux, program];
  const gdbVersion = execFileSync('gdb', ['--version'], { encoding: 'utf8' }).split('\n')[0];

  const kvmdbg = (): Sample & { facts: KvmdbgFacts } => {
    const s = timed(process.execPath, kvmdbgCmd);
    return { ...s, facts: JSON.parse(s.stdout) as KvmdbgFacts };
  };
  const warm = kvmdbg();
  const { line, address } = warm.facts;
  const gdb = (): Sample => timed('gdb', gdbArgs(vmlinux, line));
  const gdbWarm = gdb();
  const gdbAt = /Breakpoint 1 at (0x[0-9a-f]+): file init\/main\.c, line (\d+)\./.exec(gdbWarm.stdout);
  if (!gdbAt || gdbAt[1] !== address || Number(gdbAt[2]) !== line) {
    throw new Error(`gdb puts init/main.c:${line} elsewhere than kvmdbg (${address}):\n${gdbWarm.stdout}`);
  }
  console.error(`${vmlinux}: init/main.c:${line} at ${address} on both sides; kvmdbg's locals there: ${warm.facts.locals.join(', ')}`);

  const k: (Sample & { facts: KvmdbgFacts })[] = [];
  const g: Sample[] = [];
  const loads: number[] = [];
  for (let r = 0; r < rounds; r++) {
    loads.push(loadavg()[0]);
    const sides = [() => k.push(kvmdbg()), () => g.push(gdb())];
    for (let i = 0; i < sides.length; i++) sides[(r + i) % sides.length]();
    const kr = k[k.length - 1], gr = g[g.length - 1];
    console.error(`round ${r + 1}/${rounds} (load ${loads[r].toFixed(2)}): kvmdbg ${(kr.wallMs / 1000).toFixed(2)} s ${kr.rssMb.toFixed(0)} MB | gdb ${(gr.wallMs / 1000).toFixed(2)} s ${gr.rssMb.toFixed(0)} MB`);
  }

  const tri = (xs: number[], digits: number): string => {
    const s = stats(xs);
    return `${s.min.toFixed(digits)} / **${s.median.toFixed(digits)}** / ${s.max.toFixed(digits)}`;
  };
  const ratio = (a: number[], b: number[]): string => (stats(a).median / stats(b).median).toFixed(2);
  const kw = k.map((x) => x.wallMs / 1000), gw = g.map((x) => x.wallMs / 1000);
  const km = k.map((x) => x.rssMb), gm = g.map((x) => x.rssMb);
  console.log(`\n${basename(vmlinux)} (${dirname(vmlinux)}), breakpoint init/main.c:${line} (${address}); ${rounds} rounds; ` +
    `kvmdbg ${tsx ? 'through tsx' : 'bundled by esbuild'}, ${gdbVersion}; 1-min load average at round start ${loads.map((l) => l.toFixed(2)).join(', ')}`);
  console.log(`${new Date().toISOString().slice(0, 10)}, ${hostLine()}\n`);
  console.log('| side | wall time, s: min / median / max | peak RSS, MB: min / median / max |');
  console.log('|---|---|---|');
  console.log(`| kvmdbg | ${tri(kw, 2)} | ${tri(km, 0)} |`);
  console.log(`| gdb | ${tri(gw, 2)} | ${tri(gm, 0)} |`);
  console.log(`| kvmdbg / gdb (medians) | ${ratio(kw, gw)} | ${ratio(km, gm)} |`);
  console.log(`\nkvmdbg in-process medians: DebugInfo ${stats(k.map((x) => x.facts.loadMs)).median.toFixed(0)} ms, ` +
    `source breakpoint ${stats(k.map((x) => x.facts.resolveMs)).median.toFixed(0)} ms, locals ${stats(k.map((x) => x.facts.localsMs)).median.toFixed(0)} ms`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
