// CPUID for the guest: what KVM supports, with per-vCPU APIC IDs and the topology made to match.
import * as sys from '../kvm/sys.js';
import * as abi from '../kvm/abi.js';

const E2BIG = 7;
/**
 * CPUID.1:ECX[31], "hypervisor present", which KVM leaves to its user. With it a Linux guest reads
 * the KVM leaves at 0x40000000 (in KVM's supported list) and takes kvmclock, which tells it the TSC's
 * frequency: without it the kernel calibrates the TSC against the PIT, which fails when I/O exits
 * are slow (nested virtualization), and falls back to jiffies with the TSC marked unstable.
 */
const CPUID_1_ECX_HYPERVISOR = 1 << 31;

/** KVM_GET_SUPPORTED_CPUID as a ready kvm_cpuid2 buffer, grown until it fits. */
export function supportedCpuid(kvmFd: number): Buffer {
  for (let n = 64; ; n *= 2) {
    const b = Buffer.alloc(abi.kvm_cpuid2.size + n * abi.kvm_cpuid_entry2.size);
    b.writeUInt32LE(n, abi.kvm_cpuid2.nent);
    try {
      sys.ioctlPtr(kvmFd, abi.KVM_GET_SUPPORTED_CPUID, b, 'KVM_GET_SUPPORTED_CPUID');
      return b;
    } catch (e) {
      if (!(e instanceof sys.SysError && e.errno === E2BIG) || n > 4096) throw e;
    }
  }
}

export interface CpuidEntry {
  function: number;
  index: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

/** Decodes a kvm_cpuid2 buffer. */
export function cpuidEntries(b: Buffer): CpuidEntry[] {
  const n = b.readUInt32LE(abi.kvm_cpuid2.nent);
  const o = abi.kvm_cpuid_entry2;
  return Array.from({ length: n }, (_, i) => {
    const e = abi.kvm_cpuid2.entries + i * o.size;
    return {
      function: b.readUInt32LE(e + o.function), index: b.readUInt32LE(e + o.index),
      eax: b.readUInt32LE(e + o.eax), ebx: b.readUInt32LE(e + o.ebx),
      ecx: b.readUInt32LE(e + o.ecx), edx: b.readUInt32LE(e + o.edx),
    };
  });
}

/** Looks up one leaf (and subleaf) in a kvm_cpuid2 buffer. */
export function cpuidLeaf(b: Buffer, fn: number, index = 0): CpuidEntry | undefined {
  return cpuidEntries(b).find((e) => e.function === fn && (e.index === index || fn < 4));
}

/**
 * A copy of the supported CPUID with this vCPU's APIC ID, the logical-processor count and the
 * hypervisor bit.
 */
export function cpuidForVcpu(supported: Buffer, id: number, count: number): Buffer {
  const b = Buffer.from(supported);
  const n = b.readUInt32LE(abi.kvm_cpuid2.nent);
  const o = abi.kvm_cpuid_entry2;
  for (let i = 0; i < n; i++) {
    const e = abi.kvm_cpuid2.entries + i * o.size;
    const fn = b.readUInt32LE(e + o.function);
    if (fn === 1) {
      // EBX[31:24] initial APIC ID, EBX[23:16] logical processors; EDX bit 28 HTT when several.
      let ebx = b.readUInt32LE(e + o.ebx) & 0x0000ffff;
      ebx |= (id << 24) | (Math.min(count, 255) << 16);
      b.writeUInt32LE(ebx >>> 0, e + o.ebx);
      let edx = b.readUInt32LE(e + o.edx);
      edx = count > 1 ? edx | (1 << 28) : edx & ~(1 << 28);
      b.writeUInt32LE(edx >>> 0, e + o.edx);
      b.writeUInt32LE((b.readUInt32LE(e + o.ecx) | CPUID_1_ECX_HYPERVISOR) >>> 0, e + o.ecx);
    } else if (fn === 0xb || fn === 0x1f) {
      b.writeUInt32LE(id, e + o.edx); // x2APIC ID
    }
  }
  return b;
}
