// Globals by name in kernel-sized DWARF: kvmdbg's name index (src/symbols/dwarf/name-index.ts)
// against gdb on Debian's -dbg vmlinux. Each round runs three sides in fresh processes, in
// rotating order, under /usr/bin/time -v:
// - kvmdbg, cold: this file with --child (bundled by esbuild as the adapter is), with
//   XDG_CACHE_HOME an emptied folder, so the index is built by scanning .debug_info and written;
// - kvmdbg, cached: the same with the index file the cold run left;
//   each builds DebugInfo as a launch does (the vmlinuz the program, the vmlinux a symbols file)
//   and then, as the Debug Console would: `jiffies` and `init_task` by name (globalNamed) with
//   their DWARF types, `&init_task.tasks` (the member's address), and `struct task_struct`
//   (typeByName);
// - gdb: `print &jiffies`, `ptype init_task`, `print &init_task.tasks` in batch mode.
// Both sides' addresses must agree. Prints wall time and peak RSS, min / median / max, and
// kvmdbg's in-process times (DebugInfo, the first lookup: index built or read, the others).
//
//   node --import tsx bench/linux-dwarf-globals.ts [VMLINUX] [--rounds 5] [--tsx]
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { DebugInfo } from '../src/debugger/debug-info.js';
import { stripType, typeName } from '../src/symbols/dwarf/types.js';
import type { FrameContext } from '../src/symbols/dwarf/expr.js';
import { hostLine, stats } from './stats.js';
import { bundle, findProgram, findVmlinux, timed, type Sample } from './linux-dbg.js';

interface KvmdbgFacts {
  jiffies: { type: string; address: string };
  initTask: { type: string; address: string };
  tasks: string;
  taskStructSize: number;
  /** In-process milliseconds. */
  loadMs: number;
  /** The first lookup (jiffies): the index built, or read from its file, and jiffies' unit decoded. */
  firstMs: number;
  /** init_task, its member, struct task_struct. */
  restMs: number;
  index: { source: string; unitsScanned: number; variables: number; types: number; written: boolean };
}

const FRAME: FrameContext = { pc: 0n, regs: new Map(), read: () => undefined, bits: 64 };

/** The child: a launch's DebugInfo, then the names; its facts as JSON on stdout. */
function child(vmlinux: string, program: string): void {
  const hex = (v: bigint): string => '0x' + v.toString(16);
  const address = (name: string, v: ReturnType<DebugInfo['globalNamed']>): bigint => {
    const loc = v?.locate(FRAME);
    if (loc?.kind !== 'memory') throw new Error(`${name}: ${v ? loc?.kind : 'not found'}`);
    return loc.address;
  };
  const t0 = performance.now();
  const info = new DebugInfo(program, [{ path: vmlinux, offset: 0n }]);
  const t1 = performance.now();
  const jiffies = info.globalNamed('jiffies');
  const jiffiesAt = address('jiffies', jiffies);
  const t2 = performance.now();
  const initTask = info.globalNamed('init_task');
  const initTaskAt = address('init_task', initTask);
  const s = stripType(initTask!.type);
  const tasks = s?.kind === 'struct' ? s.members.find((m) => m.name === 'tasks') : undefined;
  if (!tasks) throw new Error(`init_task (${typeName(initTask!.type)}) has no member tasks`);
  const taskStruct = info.typeByName('struct task_struct');
  const t3 = performance.now();
  // A per-CPU variable is left to the debug target (each vCPU's copy), not taken as a global.
  if (info.globalNamed('current_task') || info.btfVariable('current_task')?.section !== '.data..percpu') {
    throw new Error('current_task is not left to the per-CPU path');
  }
  const state = info.nameIndexes().find((x) => x.path === vmlinux)?.state;
  if (!state) throw new Error('the vmlinux has no name index');
  const facts: KvmdbgFacts = {
    jiffies: { type: typeName(jiffies!.type), address: hex(jiffiesAt) },
    initTask: { type: typeName(initTask!.type), address: hex(initTaskAt) },
    tasks: hex(initTaskAt + BigInt(tasks.offset)),
    taskStructSize: taskStruct && stripType(taskStruct)?.kind === 'struct' ? (stripType(taskStruct) as { size: number }).size : 0,
    loadMs: t1 - t0, firstMs: t2 - t1, restMs: t3 - t2,
    index: { source: state.source, unitsScanned: state.unitsScanned, variables: state.variables, types: state.types, written: state.written },
  };
  process.stdout.write(JSON.stringify(facts));
}

const GDB_COMMANDS = ['print &jiffies', 'ptype init_task', 'print &init_task.tasks', 'print sizeof(struct task_struct)'];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args.splice(i, 2)[1] : undefined;
  };
  const rounds = Number(opt('--rounds') ?? 5);
  const tsx = args.includes('--tsx');
  const rest = args.filter((a) => a !== '--tsx');
  if (rest[0] === '--child') return child(rest[1], rest[2]);

  const vmlinux = findVmlinux(rest[0]);
  const program = findProgram(vmlinux);
  const kvmdbgCmd = [...(tsx ? ['--import', 'tsx', join(__dirname, 'linux-dwarf-globals.ts')] : [await bundle('linux-dwarf-globals')]), '--child', vmlinux, program];
  const gdbVersion = execFileSync('gdb', ['--version'], { encoding: 'utf8' }).split('\n')[0];
  const cache = mkdtempSync(join(tmpdir(), 'kvmdbg-globals-bench-'));
  const env = { ...process.env, XDG_CACHE_HOME: cache };
  const kvmdbg = (cold: boolean): Sample & { facts: KvmdbgFacts } => {
    if (cold) {
      rmSync(join(cache, 'kvmdbg'), { recursive: true, force: true });
      mkdirSync(cache, { recursive: true });
    }
    const s = timed(process.execPath, kvmdbgCmd, env);
    const facts = JSON.parse(s.stdout) as KvmdbgFacts;
    const want = cold ? 'scan' : 'cache';
    if (facts.index.source !== want || (cold && !facts.index.written)) throw new Error(`a ${cold ? 'cold' : 'cached'} run's index: ${JSON.stringify(facts.index)}`);
    return { ...s, facts };
  };
  const gdb = (): Sample => timed('gdb', ['-batch', '-nx', ...GDB_COMMANDS.flatMap((c) => ['-ex', c]), vmlinux]);

  try {
    // Uncounted: fills the page cache, and the two sides must agree.
    const warm = kvmdbg(true);
    const g = gdb().stdout;
    const f = warm.facts;
    const jiffies = /^\$1 = \(([^)]*) \*\) (0x[0-9a-f]+)/m.exec(g);
    const tasks = /^\$2 = \(struct list_head \*\) (0x[0-9a-f]+) <init_task\+\d+>/m.exec(g);
    const size = /^\$3 = (\d+)/m.exec(g);
    if (!jiffies || jiffies[1] !== f.jiffies.type || jiffies[2] !== f.jiffies.address || !/^type = struct task_struct \{/m.test(g)
      || f.initTask.type !== 'struct task_struct' || tasks?.[1] !== f.tasks || Number(size?.[1]) !== f.taskStructSize) {
      throw new Error(`gdb and kvmdbg differ:\n${g.split('\n').filter((l) => l.startsWith('$')).join('\n')}\n${JSON.stringify(f)}`);
    }
    console.error(`${vmlinux}: &jiffies ${f.jiffies.address} (${f.jiffies.type}), init_task ${f.initTask.address}, &init_task.tasks ${f.tasks}, ` +
      `sizeof(struct task_struct) ${f.taskStructSize} on both sides; index: ${f.index.variables} variable names, ${f.index.types} type names, ` +
      `${f.index.unitsScanned} units scanned; cache file ${readdirSync(join(cache, 'kvmdbg', 'dwarf-index')).join(', ')}`);

    const cold: (Sample & { facts: KvmdbgFacts })[] = [];
    const cached: (Sample & { facts: KvmdbgFacts })[] = [];
    const gs: Sample[] = [];
    const loads: number[] = [];
    for (let r = 0; r < rounds; r++) {
      loads.push(loadavg()[0]);
      // A cold run leaves the file the cached run reads: cold always comes before cached.
      const sides = [() => { cold.push(kvmdbg(true)); cached.push(kvmdbg(false)); }, () => gs.push(gdb())];
      for (let i = 0; i < sides.length; i++) sides[(r + i) % sides.length]();
      const [c, w, gr] = [cold[r], cached[r], gs[r]];
      console.error(`round ${r + 1}/${rounds} (load ${loads[r].toFixed(2)}): kvmdbg cold ${(c.wallMs / 1000).toFixed(2)} s ${c.rssMb.toFixed(0)} MB, ` +
        `cached ${(w.wallMs / 1000).toFixed(2)} s ${w.rssMb.toFixed(0)} MB | gdb ${(gr.wallMs / 1000).toFixed(2)} s ${gr.rssMb.toFixed(0)} MB`);
    }

    const tri = (xs: number[], digits: number): string => {
      const s = stats(xs);
      return `${s.min.toFixed(digits)} / **${s.median.toFixed(digits)}** / ${s.max.toFixed(digits)}`;
    };
    const med = (xs: number[]): number => stats(xs).median;
    const wall = (xs: Sample[]): number[] => xs.map((x) => x.wallMs / 1000);
    const rss = (xs: Sample[]): number[] => xs.map((x) => x.rssMb);
    console.log(`\n${basename(vmlinux)} (${dirname(vmlinux)}); ${rounds} rounds; kvmdbg ${tsx ? 'through tsx' : 'bundled by esbuild'}, ${gdbVersion}; ` +
      `1-min load average at round start ${loads.map((l) => l.toFixed(2)).join(', ')}`);
    console.log(`${new Date().toISOString().slice(0, 10)}, ${hostLine()}\n`);
    console.log('| side | wall time, s: min / median / max | peak RSS, MB: min / median / max |');
    console.log('|---|---|---|');
    console.log(`| kvmdbg, index built (no cache file) | ${tri(wall(cold), 2)} | ${tri(rss(cold), 0)} |`);
    console.log(`| kvmdbg, index read from its cache file | ${tri(wall(cached), 2)} | ${tri(rss(cached), 0)} |`);
    console.log(`| gdb | ${tri(wall(gs), 2)} | ${tri(rss(gs), 0)} |`);
    console.log(`| kvmdbg built / gdb (medians) | ${(med(wall(cold)) / med(wall(gs))).toFixed(2)} | ${(med(rss(cold)) / med(rss(gs))).toFixed(2)} |`);
    console.log(`| kvmdbg cached / gdb (medians) | ${(med(wall(cached)) / med(wall(gs))).toFixed(2)} | ${(med(rss(cached)) / med(rss(gs))).toFixed(2)} |`);
    const inProcess = (xs: { facts: KvmdbgFacts }[]): string => `DebugInfo ${tri(xs.map((x) => x.facts.loadMs), 0)} ms, ` +
      `jiffies (the index ${xs[0].facts.index.source === 'scan' ? 'built' : 'read'}) ${tri(xs.map((x) => x.facts.firstMs), 0)} ms, ` +
      `init_task, &init_task.tasks and struct task_struct ${tri(xs.map((x) => x.facts.restMs), 0)} ms`;
    console.log(`\nkvmdbg in-process, cold: ${inProcess(cold)}`);
    console.log(`kvmdbg in-process, cached: ${inProcess(cached)}`);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
