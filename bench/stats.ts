// What the benchmarks print about their samples and the machine they ran on.
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export function stats(xs: number[]): { min: number; median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { min: s[0], median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, max: s[s.length - 1] };
}

export function hostLine(): string {
  const model = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
  const kind = existsSync('/sys/module/kvm_pvm') ? 'kvm_pvm (software virtualization)'
    : existsSync('/sys/module/kvm_intel') ? 'kvm_intel (VT-x)' : existsSync('/sys/module/kvm_amd') ? 'kvm_amd (AMD-V)' : 'unknown KVM';
  return `${kind}, ${cpus().length} CPUs (nproc), ${model}, Node ${process.version}`;
}
