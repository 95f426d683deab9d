// The Debug Console's Linux commands, named as the kernel's gdb scripts name theirs: lx-dmesg,
// lx-ps, lx-lsmod. Answered before the gdb-style commands of console-commands.ts.
import { readDmesg } from './dmesg.js';
import { formatModules, listModules } from './modules.js';
import { formatTasks, Tasks } from './tasks.js';
import type { KernelData } from './kernel-data.js';

export const LINUX_HELP = `  lx-dmesg                   a Linux guest's kernel log, from its printk ring buffer
  lx-ps                      its tasks: address, pid, thread group, state, name
  lx-lsmod                   its loaded modules
  lx-symbols                 read the loaded modules' symbols now (done after every run)
                             (these need the kernel's symbols in "symbols", a System.map
                             or vmlinux, and its types: DWARF, or BTF in the vmlinux or
                             in the kernel's memory, found through __start_BTF)`;

/** Runs `line` when it is a Linux command; undefined otherwise. */
export function runLinuxCommand(line: string, kernel: () => KernelData): string | undefined {
  switch (line.trim()) {
    case 'lx-dmesg': return readDmesg(kernel()).join('\n');
    case 'lx-ps': return formatTasks(new Tasks(kernel()).all());
    case 'lx-lsmod': return formatModules(listModules(kernel()));
    default: return undefined;
  }
}
