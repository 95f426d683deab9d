// lx-ps and the current task of each vCPU: Linux's tasks, as scripts/gdb/linux/tasks.py walks
// them. Every process is on init_task's `tasks` list; the threads of one are on its signal
// struct's thread_head list (through thread_node, Linux 3.14 and later), or on the leader's
// `thread_group` list, walked where thread_node is missing.
import { GuestError } from '../../errors.js';
import type { KernelData } from './kernel-data.js';
import type { DebugInfo } from '../debug-info.js';

const WHAT = 'lx-ps';
/** More tasks than this is a list gone wrong (a corrupt or half-written one): the walk stops. */
const MAX_TASKS = 1 << 16;
const COMM_LEN = 16;

export interface Task {
  address: bigint;
  pid: number;
  /** The thread group's id: the process's pid. */
  tgid: number;
  comm: string;
  /** ps's letter: R S D T t X Z P I. */
  state: string;
}

/**
 * The state letter as /proc/PID/stat shows it (fs/proc/array.c task_state_array): the highest
 * of the reportable state bits, exit_state included, and I for an idle kernel thread.
 */
function stateLetter(state: number, exitState: number): string {
  const TASK_REPORT = 0x7f;
  const TASK_IDLE = 0x402;
  if (state === TASK_IDLE) return 'I';
  const bits = (state | exitState) & TASK_REPORT;
  return bits === 0 ? 'R' : 'SDTtXZP'[31 - Math.clz32(bits)] ?? '?';
}

/**
 * What naming a vCPU's current task (the Threads view) reads from the session's files, to run
 * ahead of a stop (StopPrefetch): the per-CPU variable that points to it and task_struct's
 * layout. Empty where the symbols are not a Linux kernel's.
 */
export function currentTaskReads(info: DebugInfo): (() => void)[] {
  if (!info.functionAddress('__per_cpu_offset')) return [];
  return [() => info.btfVariable('current_task') ?? info.btfVariable('pcpu_hot'), () => info.typeByName('struct task_struct')];
}

export class Tasks {
  private readonly ts;
  constructor(private readonly k: KernelData) {
    this.ts = k.struct('task_struct', WHAT);
  }

  private off(path: string): bigint {
    return this.k.memberAt(0n, this.ts, path, WHAT);
  }

  /** One task_struct read into a Task. */
  task(address: bigint): Task {
    const k = this.k;
    const stateField = k.hasField(this.ts, '__state') ? '__state' : 'state';
    return {
      address,
      pid: k.u32(address + this.off('pid')),
      tgid: k.u32(address + this.off('tgid')),
      comm: k.cString(address + this.off('comm'), COMM_LEN),
      state: stateLetter(k.u32(address + this.off(stateField)), k.u32(address + this.off('exit_state'))),
    };
  }

  /** Every task: each process from init_task's list, and each one's threads. */
  all(): Task[] {
    const k = this.k;
    const init = k.symbol('init_task', WHAT);
    const tasks = this.off('tasks');
    const out: Task[] = [];
    for (const leader of [init, ...this.k.listEntries(init + tasks, tasks, MAX_TASKS, WHAT)]) {
      out.push(this.task(leader));
      for (const thread of this.threadsOf(leader)) if (thread !== leader) out.push(this.task(thread));
      if (out.length > MAX_TASKS) throw new GuestError(`${WHAT}: more than ${MAX_TASKS} tasks: the task list looks corrupt`);
    }
    return out;
  }

  /** The task a vCPU runs: the per-CPU current_task (pcpu_hot.current_task from Linux 6.2). */
  current(cpu: number): Task {
    const k = this.k;
    const direct = k.perCpuVariable('current_task');
    if (direct) return this.task(k.u64(k.perCpuAddress(direct, cpu)));
    const hot = k.perCpuVariable('pcpu_hot');
    if (!hot) throw new GuestError('the current task needs the per-CPU variable current_task (or pcpu_hot) in the kernel\'s BTF');
    return this.task(k.u64(k.memberAt(k.perCpuAddress(hot, cpu), k.struct('pcpu_hot', 'the current task'), 'current_task', 'the current task')));
  }

  /** A group leader's threads (itself included), in list order. */
  private threadsOf(leader: bigint): bigint[] {
    const k = this.k;
    if (k.hasField(this.ts, 'thread_node')) {
      const signal = k.u64(leader + this.off('signal'));
      const head = k.memberAt(signal, k.struct('signal_struct', WHAT), 'thread_head', WHAT);
      return [...this.k.listEntries(head, this.off('thread_node'), MAX_TASKS, WHAT)];
    }
    const group = this.off('thread_group');
    return [leader, ...this.k.listEntries(leader + group, group, MAX_TASKS, WHAT)];
  }
}

/** lx-ps's table: one task a line. */
export function formatTasks(tasks: Task[]): string {
  const rows = tasks.map((t) => `0x${t.address.toString(16)} ${String(t.pid).padStart(7)} ${String(t.tgid).padStart(7)}  ${t.state}  ${t.comm}`);
  return [`${'TASK'.padEnd(18)} ${'PID'.padStart(7)} ${'TGID'.padStart(7)}  ST COMM`, ...rows].join('\n');
}
