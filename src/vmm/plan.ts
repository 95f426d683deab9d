// What a machine will be, judged before /dev/kvm is opened: the image and modules read (regular
// files only, no larger than guest memory, checked with fstat before a byte is read), the
// memory size and vCPU count checked against kvmdbg's limits and the host's memory, and the guest
// loaded into RAM that is mapped but not yet given to KVM. A bad file, format or option is told
// by the loader's own message on any host, one with KVM or without; vm.ts then opens KVM and
// registers the loaded RAM.
import { closeSync, constants, fstatSync, openSync, readFileSync, type Stats } from 'node:fs';
import { GuestError } from '../errors.js';
import { GuestMemory, formatSize } from './memory.js';

export { formatSize };
import { loadGuest } from './loaders/detect.js';
import type { LoadedGuest, LoadOptions, Module } from './loaders/types.js';

/** Guest RAM when none is asked for. */
export const DEFAULT_MEMORY = 64 << 20;
/** The least guest RAM: the real-mode area and the monitor's tables below 1 MiB. */
export const MIN_MEMORY = 1 << 20;
/**
 * The most vCPUs: CPUID gives a guest an 8-bit initial APIC ID (cpuid.ts), and xAPIC ID 0xFF is
 * the broadcast address, so IDs 0-254.
 */
export const MAX_VCPUS = 255;

/**
 * What the host can give a guest's RAM now: MemAvailable plus SwapFree (/proc/meminfo). Guest RAM
 * is mapped MAP_NORESERVE, so the kernel's commit limit does not refuse a large guest at start;
 * the guest would be killed by the OOM killer once it touched more than this instead. Undefined
 * where /proc/meminfo can't be read (then no host check is made).
 */
export function hostMemoryAvailable(meminfo?: string): { bytes: number; detail: string } | undefined {
  let text = meminfo;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/meminfo', 'utf8');
    } catch {
      return undefined;
    }
  }
  const kib = (name: string) => {
    const m = new RegExp(`^${name}:\\s*(\\d+)\\s*kB`, 'm').exec(text!);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const avail = kib('MemAvailable');
  if (avail === undefined) return undefined;
  const swap = kib('SwapFree') ?? 0;
  return {
    bytes: avail + swap,
    detail: `MemAvailable ${formatSize(avail)} + SwapFree ${formatSize(swap)} in /proc/meminfo`,
  };
}

/** Throws a GuestError unless `size` bytes of guest RAM can be had. */
export function checkMemorySize(size: number, host = hostMemoryAvailable()): void {
  if (!Number.isSafeInteger(size) || size <= 0) throw new GuestError(`guest memory size ${size} is not a positive number of bytes`);
  if (size < MIN_MEMORY) throw new GuestError(`guest memory of ${formatSize(size)} is too small: give at least 1M`);
  if (size % 4096 !== 0) throw new GuestError(`guest memory of ${size} bytes is not a multiple of 4 KiB`);
  if (host && size > host.bytes) {
    throw new GuestError(
      `guest memory of ${formatSize(size)} is more than this host can give: ${formatSize(host.bytes)} ` +
      `(${host.detail}); give the guest less memory`,
    );
  }
}

/** Throws a GuestError unless `n` vCPUs is within kvmdbg's limit (the host's own is checked by vm.ts). */
export function checkSmp(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_VCPUS) {
    throw new GuestError(`--smp ${n} is out of range: kvmdbg runs 1 to ${MAX_VCPUS} vCPUs (the guest's xAPIC IDs are 8 bits)`);
  }
}

function kindOf(st: Stats): string | undefined {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  return st.isFile() ? undefined : 'not a regular file';
}

/**
 * A guest file's bytes. Only a regular file is read, and only when it has at most `limit` bytes
 * (guest memory): both are judged from fstat before reading, so /dev/zero or a FIFO never hangs
 * the monitor and a huge file is never read. The open does not block on a FIFO (O_NONBLOCK).
 */
export function readImage(path: string, limit?: number, limitWhat = 'guest memory'): Buffer {
  let fd = -1;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    const kind = kindOf(st);
    if (kind) throw new GuestError(`${path}: is ${kind}, not a guest image file`);
    if (limit !== undefined && st.size > limit) {
      throw new GuestError(
        `${path}: ${st.size} bytes (${formatSize(st.size)}) is larger than ${limitWhat} (${formatSize(limit)}): ` +
        'it cannot be loaded; give the guest more memory or use a smaller file',
      );
    }
    return readFileSync(fd);
  } catch (e) {
    if (e instanceof GuestError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new GuestError(`${path}: no such file`);
    if (code === 'EISDIR') throw new GuestError(`${path}: is a directory, not a guest image`);
    if (code === 'EACCES') throw new GuestError(`${path}: permission denied`);
    throw new GuestError(`${path}: cannot read (${(e as Error).message})`);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** What planMachine needs of a MachineConfig (machine.ts), besides the loader's options. */
export interface PlanConfig {
  image: string | Buffer;
  imageName?: string;
  memory?: number;
  smp?: number;
  modules?: { path: string; args?: string }[];
}

export interface MachinePlan {
  fileName: string;
  smp: number;
  /** Guest RAM with the guest loaded, mapped but not yet registered with KVM: the caller owns it. */
  memory: GuestMemory;
  guest: LoadedGuest;
}

/**
 * Everything about a machine that needs no KVM: options, files, format, sizes, and the guest
 * loaded into its RAM. Every error is a GuestError with the loader's or the check's own words.
 */
export function planMachine(config: PlanConfig, load: Omit<LoadOptions, 'fileName' | 'modules'>): MachinePlan {
  const fileName = typeof config.image === 'string' ? config.image : config.imageName ?? '<image>';
  const size = config.memory ?? DEFAULT_MEMORY;
  const smp = config.smp ?? 1;
  checkSmp(smp);
  checkMemorySize(size);
  const image = typeof config.image === 'string' ? readImage(config.image, size) : config.image;
  if (image.length > size) {
    throw new GuestError(
      `${fileName}: ${image.length} bytes (${formatSize(image.length)}) is larger than guest memory (${formatSize(size)}): ` +
      'it cannot be loaded; give the guest more memory or use a smaller file',
    );
  }
  const modules = (config.modules ?? []).map((m): Module => ({
    path: m.path, args: m.args ?? m.path, data: readImage(m.path, size),
  }));
  const memory = new GuestMemory(size);
  try {
    const guest = loadGuest(image, memory, { ...load, fileName, modules });
    return { fileName, smp, memory, guest };
  } catch (e) {
    memory.destroy();
    throw e;
  }
}
