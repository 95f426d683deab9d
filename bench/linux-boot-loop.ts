// How often Debian's kernel fails to boot under `kvmdbg run` (issue 14: a triple fault in about
// 1 boot of 14 in the test VM): boots it to the shell prompt and powers it off, again and again,
// one boot at a time, until a triple fault or the time is up. Each boot prints its outcome and
// time; a triple fault prints kvmdbg's stop and register dump (the faulting instruction's state
// with --recover, which replays to it on SVM), RIP, RSP and CR2 in kernel symbols where --symbols is
// given, and the last serial lines. The whole output of every boot that did not reach the prompt
// is kept in bench/build/boot-loop-N.log. The command line is test/linux-boot.test.ts's.
//
//   npm run build && scripts/test-vm.sh kvm -- node --import tsx bench/linux-boot-loop.ts \
//     [--minutes 10] [--smp 1,2] [--recover] [--nokaslr] [--symbols FILE]
//
// --smp: the vCPU counts, taken in turn. --symbols: a System.map or /proc/kallsyms of the same
// kernel; the test VM runs that kernel, so `cat /proc/kallsyms > FILE` in it (as root) will do:
// its addresses are moved by its own _text to the unrelocated base, which matches a guest booted
// with --nokaslr. One boot at a time on purpose: two nested guests at once crashed the test
// VM's own kernel (bench/README.md).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CliSession } from '../test/support/cli.js';
import { buildInitramfs, debianKernel, PROMPT } from '../test/support/linux.js';
import { ROOT } from '../test/support/paths.js';
import { parseSystemMap } from '../src/symbols/system-map.js';
import { SymbolTable } from '../src/symbols/elf-symbols.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const minutes = Number(opt('--minutes') ?? 10);
const smps = (opt('--smp') ?? '1').split(',');
const recover = args.includes('--recover');
const cmdline = args.includes('--nokaslr') ? 'console=ttyS0 nokaslr' : 'console=ttyS0';
/** Boot to prompt as the test allows it, and poweroff. */
const BOOT_MS = 240_000;
const POWEROFF_MS = 60_000;
/** x86-64 Linux's unrelocated _text. */
const TEXT_BASE = 0xffffffff81000000n;

function symbols(file: string | undefined): SymbolTable | undefined {
  if (!file) return undefined;
  const { symbols: list } = parseSystemMap(readFileSync(file, 'latin1'), file);
  const text = list.find((s) => s.name === '_text');
  return new SymbolTable(list, text ? TEXT_BASE - text.value : 0n);
}

const table = symbols(opt('--symbols'));
const kernel = debianKernel();
const initramfs = buildInitramfs();
const outDir = join(ROOT, 'bench', 'build');
mkdirSync(outDir, { recursive: true });

function named(what: string, value: string): string {
  const hit = table?.lookup(BigInt(`0x${value}`));
  return `${what} ${value}${hit ? ` ${hit.name}+0x${hit.offset.toString(16)}` : ''}`;
}

type Outcome = 'clean' | 'triple fault' | 'other';

async function boot(n: number, smp: string): Promise<Outcome> {
  const start = performance.now();
  const s = new CliSession([
    'run', '--memory', '256M', '--smp', smp, ...(recover ? ['--recover-triple-fault'] : []), '--cmdline', cmdline, '--module', initramfs, kernel,
  ]);
  const took = () => `${((performance.now() - start) / 1000).toFixed(1)} s`;
  try {
    const reached = await s.waitFor(PROMPT, BOOT_MS).then(() => true, () => false);
    if (reached) {
      s.type('poweroff -f\n');
      const end = await s.exit(POWEROFF_MS);
      if (end.status === 0) {
        console.log(`boot ${n} (--smp ${smp}): clean, prompt after ${took()}`);
        return 'clean';
      }
    }
    await s.exit(POWEROFF_MS).catch(() => undefined);
    const log = join(outDir, `boot-loop-${n}.log`);
    writeFileSync(log, s.said());
    if (!/triple fault/i.test(s.stderr)) {
      console.log(`boot ${n} (--smp ${smp}): no prompt or no clean poweroff after ${took()} (${log})`);
      return 'other';
    }
    console.log(`boot ${n} (--smp ${smp}): TRIPLE FAULT after ${took()} (${log})\n${s.stderr.trim()}`);
    // The dump's registers are bare hex (vmm/debug/dump.ts).
    for (const m of s.stderr.matchAll(/\b(rip|rsp|cr2)=([0-9a-f]{16})\b/g)) console.log(named(m[1], m[2]));
    console.log(`--- the last serial lines:\n${s.stdout.split('\n').slice(-40).join('\n')}`);
    return 'triple fault';
  } finally {
    await s.close();
  }
}

void (async () => {
  const end = Date.now() + minutes * 60_000;
  const count: Record<Outcome, number> = { clean: 0, 'triple fault': 0, other: 0 };
  for (let n = 1; Date.now() < end; n++) {
    const outcome = await boot(n, smps[(n - 1) % smps.length]);
    count[outcome]++;
    if (outcome === 'triple fault') break;
  }
  console.log(`boots: ${count.clean} clean, ${count['triple fault']} triple fault, ${count.other} other ` +
    `(--smp ${smps.join(',')}${recover ? ', --recover' : ''}, ${cmdline})`);
})();
