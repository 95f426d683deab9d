// The host's /dev/kvm: opening it with actionable errors, checking the API and the capabilities
// kvmdbg relies on, and telling which implementation it is (kvm_pvm, VMX or SVM).
import { existsSync, readFileSync } from 'node:fs';
import * as sys from './kvm/sys.js';
import * as abi from './kvm/abi.js';
import { GuestError } from '../errors.js';
import { probeHost, type HostProbe, type Int3Deliveries } from './host-probe.js';

export type HostKind = 'kvm_pvm' | 'vmx' | 'svm' | 'unknown';

export interface HostInfo {
  kind: HostKind;
  /** A label for people: "kvm_pvm (software virtualization)", "VMX (Intel VT-x)", ... */
  label: string;
  /**
   * Where this KVM itself runs: on the machine (undefined), under another hypervisor, or under
   * an emulator (QEMU TCG: VMX or SVM emulated in software, with its own gaps).
   */
  nested?: 'hypervisor' | 'emulator';
  apiVersion: number;
  vcpuMmapSize: number;
  maxVcpus: number;
  /**
   * How a guest's int3 reaches the monitor in real mode and in long mode (host-probe.ts): as a
   * debug exit, as an emulation failure (kvm_pvm emulating CPL0), or not at all ('guest': it goes
   * to the guest's own handler).
   */
  int3: Int3Deliveries;
  /**
   * RFLAGS.RF keeps the monitor's instruction breakpoints from firing on the first instruction a
   * KVM_RUN runs (host-probe.ts): continuing from a breakpoint is then one KVM_RUN, not a single
   * step with the breakpoint lifted around it.
   */
  resumeFlag: boolean;
  /**
   * The register sets KVM can copy into kvm_run at an exit (KVM_CAP_SYNC_REGS: KVM_SYNC_X86_*
   * bits), so that a stop reads them with no ioctl.
   */
  syncRegs: number;
  /** KVM_GUESTDBG_BLOCKIRQ is supported (KVM_CAP_SET_GUEST_DEBUG2, Linux 5.16 and later). */
  blockIrq: boolean;
}

/** Capabilities without which the monitor cannot work, and what each is for. */
const REQUIRED_CAPS: [keyof typeof abi.KVM_CAP, string][] = [
  ['USER_MEMORY', 'guest memory'],
  ['SET_TSS_ADDR', 'real-mode guests'],
  ['EXT_CPUID', 'CPUID setup'],
  ['IRQCHIP', 'the interrupt controllers'],
  ['MP_STATE', 'halt detection and SMP'],
  ['SET_GUEST_DEBUG', 'breakpoints and single-step'],
  ['VCPU_EVENTS', 'passing the guest its own int3'],
  ['DEBUGREGS', 'reading debug registers'],
  ['IMMEDIATE_EXIT', 'pausing a running vCPU'],
];

/** The modes in which a guest's int3 does not reach the monitor (the probe's 'guest'). */
function int3Unseen(int3: Int3Deliveries): ('real' | 'long')[] {
  return (['real', 'long'] as const).filter((mode) => int3[mode] === 'guest');
}

/** Whether a guest's int3 reaches the monitor in every mode the probe tried, or in some. */
export function int3Reaches(host: HostInfo, where: 'every' | 'some'): boolean {
  const unseen = int3Unseen(host.int3).length;
  return where === 'every' ? unseen === 0 : unseen < 2;
}

/**
 * Where stopOnGuestInt3 can't stop on this host, and why, for people; undefined where a guest's
 * int3 reaches the monitor in every mode.
 */
export function guestInt3Unseen(host: HostInfo): string | undefined {
  const unseen = int3Unseen(host.int3);
  if (unseen.length === 0) return undefined;
  if (unseen.length === 2) {
    return "this host does not report a guest's int3 to KVM (QEMU's emulated SVM sends it straight to the " +
      "guest's #BP handler), so kvmdbg cannot stop on the guest's own int3 here";
  }
  const [mode] = unseen;
  return `in ${mode} mode this host sends a guest's int3 straight to the guest's own handler` +
    (mode === 'real' ? ' (kvm_pvm with pvm_native set does so)' : '') +
    `, so kvmdbg stops on it in ${mode === 'real' ? 'long' : 'real'} mode only`;
}

export function detectHostKind(): HostKind {
  if (existsSync('/sys/module/kvm_pvm')) return 'kvm_pvm';
  if (existsSync('/sys/module/kvm_intel')) return 'vmx';
  if (existsSync('/sys/module/kvm_amd')) return 'svm';
  return 'unknown';
}

/**
 * kvm_pvm's pvm_native parameter is set, as in a 6.18 build seen on a Firecracker machine: its
 * real mode sends a guest's int3 to the guest, and its steps differ (README.md, Hosts).
 */
export function pvmNative(): boolean {
  return readText('/sys/module/kvm_pvm/parameters/pvm_native').trim() === 'Y';
}

/**
 * Whether this machine is itself a virtual one (/proc/cpuinfo's hypervisor flag), and under an
 * emulator rather than a hypervisor (QEMU TCG names its CPU model "QEMU TCG CPU").
 */
export function detectNesting(cpuinfo = readText('/proc/cpuinfo')): HostInfo['nested'] {
  const flags = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '';
  if (!/\bhypervisor\b/.test(flags)) return undefined;
  return /^model name\s*:.*\bTCG\b/m.test(cpuinfo) ? 'emulator' : 'hypervisor';
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

const LABELS: Record<HostKind, string> = {
  kvm_pvm: 'kvm_pvm (software virtualization, shadow paging)',
  vmx: 'VMX (Intel VT-x)',
  svm: 'SVM (AMD-V)',
  unknown: 'unknown KVM implementation',
};
const PVM_NATIVE_LABEL = 'kvm_pvm (software virtualization, shadow paging, pvm_native)';

export function openKvmDevice(path = '/dev/kvm'): number {
  try {
    return sys.open(path, sys.O_RDWR | sys.O_CLOEXEC);
  } catch (e) {
    const errno = e instanceof sys.SysError ? e.errno : 0;
    if (errno === 2) {
      throw new GuestError(
        `${path} does not exist: load the KVM module (modprobe kvm_intel, kvm_amd or kvm_pvm) ` +
        `or enable virtualization (VT-x/AMD-V) in the firmware settings`,
      );
    }
    if (errno === 13 || errno === 1) {
      throw new GuestError(
        `${path}: permission denied: add yourself to the kvm group ` +
        `(sudo usermod -aG kvm $USER), then log out and in again`,
      );
    }
    throw new GuestError(`cannot open ${path}: ${(e as Error).message}`);
  }
}

/** Opens /dev/kvm and checks everything the monitor needs. The caller owns the returned fd. */
export function openKvm(path = '/dev/kvm'): { fd: number; info: HostInfo } {
  const fd = openKvmDevice(path);
  try {
    let apiVersion: number;
    try {
      apiVersion = sys.ioctlInt(fd, abi.KVM_GET_API_VERSION, 0, 'KVM_GET_API_VERSION');
    } catch (e) {
      if (!(e instanceof sys.SysError)) throw e;
      // /dev/null, a regular file, a tty...: not KVM (ENOTTY 25, or EINVAL 22 from some drivers).
      const name = e.errno === 25 ? 'ENOTTY' : e.errno === 22 ? 'EINVAL' : `errno ${e.errno}`;
      throw new GuestError(`${path} is not a KVM device: KVM_GET_API_VERSION failed (${name}); name /dev/kvm or unset KVMDBG_DEVICE`);
    }
    if (apiVersion !== abi.KVM_API_VERSION) {
      throw new GuestError(`${path} speaks KVM API ${apiVersion}; kvmdbg needs ${abi.KVM_API_VERSION}`);
    }
    const check = (cap: number) => sys.ioctlInt(fd, abi.KVM_CHECK_EXTENSION, cap, 'KVM_CHECK_EXTENSION');
    const missing = REQUIRED_CAPS.filter(([name]) => check(abi.KVM_CAP[name]) <= 0);
    if (missing.length) {
      throw new GuestError(
        `${path} lacks ${missing.map(([n, why]) => `KVM_CAP_${n} (needed for ${why})`).join(', ')}`,
      );
    }
    const kind = detectHostKind();
    // kvm_pvm is a guest's KVM by design; for the others, say what they run under.
    const nested = kind === 'kvm_pvm' ? undefined : detectNesting();
    const vcpuMmapSize = sys.ioctlInt(fd, abi.KVM_GET_VCPU_MMAP_SIZE, 0, 'KVM_GET_VCPU_MMAP_SIZE');
    const syncRegs = check(abi.KVM_CAP.SYNC_REGS);
    const { int3, resumeFlag } = probe(path, fd, vcpuMmapSize, syncRegs);
    const unseen = int3Unseen(int3);
    const info: HostInfo = {
      kind,
      label: (kind === 'kvm_pvm' && pvmNative() ? PVM_NATIVE_LABEL : LABELS[kind]) +
        (nested === 'emulator' ? ', nested under an emulator (QEMU TCG)' : nested ? ', nested under a hypervisor' : '') +
        (unseen.length ? `; int3${unseen.length === 1 ? ` in ${unseen[0]} mode` : ''} does not reach KVM: breakpoints use debug registers and page traps` : ''),
      nested,
      apiVersion,
      vcpuMmapSize,
      maxVcpus: check(abi.KVM_CAP.MAX_VCPUS) || check(abi.KVM_CAP.NR_VCPUS) || 1,
      int3,
      resumeFlag,
      syncRegs,
      blockIrq: (check(abi.KVM_CAP.SET_GUEST_DEBUG2) & abi.KVM_GUESTDBG_BLOCKIRQ) !== 0,
    };
    return { fd, info };
  } catch (e) {
    sys.close(fd);
    throw e;
  }
}

/** The host probe's answers, once per device and process (it creates a scratch VM). */
const probeAnswers = new Map<string, HostProbe>();
function probe(path: string, kvmFd: number, vcpuMmapSize: number, sync: number): HostProbe {
  let a = probeAnswers.get(path);
  if (a === undefined) probeAnswers.set(path, (a = probeHost(kvmFd, vcpuMmapSize, sync)));
  return a;
}
