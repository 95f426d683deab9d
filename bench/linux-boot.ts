// Launch to the shell prompt: Debian's kernel and the busybox initramfs of test/support/linux.ts
// under `kvmdbg run` (dist/cli.js, `npm run build` first) and under QEMU with -enable-kvm on the
// same /dev/kvm, the same kernel, initramfs, memory, vCPUs and command line. Each side is timed
// from its spawn to the prompt on its serial console; then `poweroff -f` ends it. The sides
// alternate, --rounds times (default 5), and min/median/max are printed with the ratio.
//   node --import tsx bench/linux-boot.ts [--smp N] [--rounds N] [--only kvmdbg|qemu]
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { buildInitramfs, debianKernel, PROMPT } from '../test/support/linux.js';
import { hostLine, stats } from './stats.js';

const ROOT = join(__dirname, '..');
const LIMIT_MS = 600_000;
const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const smp = opt('--smp') ?? '1';
const only = opt('--only');
const rounds = Number(opt('--rounds') ?? 5);
const kernel = debianKernel();
const initramfs = buildInitramfs();
const memory = '256M';
const cmdline = 'console=ttyS0';

const sides: Record<string, [string, string[]]> = {
  kvmdbg: [process.execPath, [join(ROOT, 'dist', 'cli.js'), 'run', '--memory', memory, '--smp', smp, '--cmdline', cmdline, '--module', initramfs, kernel]],
  qemu: ['qemu-system-x86_64', [
    '-enable-kvm', '-cpu', 'host,-arch-capabilities', '-m', memory, '-smp', smp, '-nographic', '-no-reboot',
    '-monitor', 'none', '-serial', 'stdio', '-nic', 'none', '-kernel', kernel, '-initrd', initramfs, '-append', cmdline,
  ]],
};

function measure(name: string): Promise<number> {
  const [cmd, argv] = sides[name];
  const start = performance.now();
  const p = spawn(cmd, argv, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`${name}: no prompt in ${LIMIT_MS} ms\n${out}`)); }, LIMIT_MS);
    let prompt = 0;
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (!prompt && PROMPT.test(out)) {
        prompt = performance.now() - start;
        p.stdin.write('poweroff -f\n');
      }
    });
    p.stderr.on('data', (d: Buffer) => (out += d.toString('latin1')));
    p.on('close', (status) => {
      clearTimeout(timer);
      if (prompt) resolve(prompt);
      else reject(new Error(`${name}: ended with ${status} before the prompt\n${out}`));
    });
  });
}

async function main(): Promise<void> {
  console.log(`host: ${hostLine()}`);
  const names = Object.keys(sides).filter((n) => !only || only === n);
  const times = new Map<string, number[]>(names.map((n) => [n, []]));
  for (let r = 1; r <= rounds; r++) {
    for (const name of names) {
      const ms = await measure(name);
      times.get(name)!.push(ms);
      console.log(`round ${r}: ${name.padEnd(7)} --smp ${smp}: launch to prompt ${(ms / 1000).toFixed(1)} s`);
    }
  }
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  for (const [name, xs] of times) {
    const st = stats(xs);
    console.log(`${name.padEnd(7)} --smp ${smp}: min ${s(st.min)}, median ${s(st.median)}, max ${s(st.max)} (${xs.length} runs)`);
  }
  if (names.length === 2) console.log(`kvmdbg / qemu (medians): ${(stats(times.get('kvmdbg')!).median / stats(times.get('qemu')!).median).toFixed(2)}`);
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});
