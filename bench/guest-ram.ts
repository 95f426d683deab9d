// Guest RAM on first touch: bench/guests/touch-mb1.S (a Multiboot kernel writing a byte in every
// 4 KiB page of 1 GiB of fresh RAM) under `kvmdbg run` (dist/cli.js, `npm run build` first) and
// under QEMU with -enable-kvm on the same /dev/kvm (-kernel, isa-debug-exit), 1280 MiB each. The
// host backs guest RAM on first touch, and KVM maps it into the guest's nested page tables then:
// 4 KiB at a time, or 2 MiB where the host backs it with a transparent huge page, which depends
// on the host's THP setting and the monitor's advice (QEMU advises MADV_HUGEPAGE, and so does
// kvmdbg, src/vmm/memory.ts). Each side is timed from its spawn to its exit; the sides alternate.
//   node --import tsx bench/guest-ram.ts [--rounds 5]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostLine, stats } from './stats.js';

const ROOT = join(__dirname, '..');
const LIMIT_MS = 600_000;
const args = process.argv.slice(2);
const rounds = Number(args[args.indexOf('--rounds') + 1] || 5);
const memory = '1280M';

const dir = mkdtempSync(join(tmpdir(), 'kvmdbg-guest-ram-'));
const guest = join(dir, 'touch.elf');
execFileSync('gcc', ['-m32', '-nostdlib', '-static', '-Wl,-Ttext=0x100000', '-Wl,--build-id=none', '-o', guest, join(ROOT, 'bench', 'guests', 'touch-mb1.S')]);

const sides: Record<string, [string, string[]]> = {
  kvmdbg: [process.execPath, [join(ROOT, 'dist', 'cli.js'), 'run', '--memory', memory, guest]],
  qemu: ['qemu-system-x86_64', [
    '-enable-kvm', '-cpu', 'host,-arch-capabilities', '-m', memory, '-nographic', '-no-reboot', '-monitor', 'none',
    '-serial', 'stdio', '-nic', 'none', '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04', '-kernel', guest,
  ]],
};

function measure(name: string): Promise<number> {
  const [cmd, argv] = sides[name];
  const start = performance.now();
  const p = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
  p.stderr.on('data', (d: Buffer) => (out += d.toString('latin1')));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => p.kill('SIGKILL'), LIMIT_MS);
    p.on('close', (status) => {
      clearTimeout(timer);
      // isa-debug-exit: (0x2a << 1) | 1
      if (status === 85 && out.includes('touched')) resolve(performance.now() - start);
      else reject(new Error(`${name}: ended with ${status}\n${out.slice(-2000)}`));
    });
  });
}

async function main(): Promise<void> {
  console.log(hostLine());
  console.log(`transparent huge pages: ${readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8').trim()}`);
  const times: Record<string, number[]> = { kvmdbg: [], qemu: [] };
  for (let r = 1; r <= rounds; r++) {
    for (const name of Object.keys(sides)) {
      const ms = await measure(name);
      times[name].push(ms);
      console.log(`round ${r}: ${name.padEnd(6)} ${(ms / 1000).toFixed(2)} s`);
    }
  }
  const med: Record<string, number> = {};
  for (const [name, xs] of Object.entries(times)) {
    const s = stats(xs);
    med[name] = s.median;
    console.log(`${name.padEnd(6)} min ${(s.min / 1000).toFixed(2)} s, median ${(s.median / 1000).toFixed(2)} s, max ${(s.max / 1000).toFixed(2)} s (${xs.length} runs)`);
  }
  console.log(`kvmdbg / qemu (medians): ${(med.kvmdbg / med.qemu).toFixed(2)}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
