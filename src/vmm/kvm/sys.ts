// The few libc calls the monitor needs, bound once through koffi with fixed signatures:
// fixed (non-variadic) prototypes keep each call on koffi's fast path, which the single-step
// benchmark depends on. ioctl is variadic in C, but on x86-64 SysV a fixed third argument is
// passed the same way, so binding it twice (pointer / integer argument) is exact.
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

const c_open = libc.func('int open(const char *path, int flags, int mode)');
const c_close = libc.func('int close(int fd)');
const c_ioctl_ptr = libc.func('int ioctl(int fd, unsigned long req, void *arg)');
const c_ioctl_int = libc.func('int ioctl(int fd, unsigned long req, unsigned long arg)');
const c_mmap = libc.func(
  'void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)',
);
const c_munmap = libc.func('int munmap(void *addr, size_t length)');
const c_madvise = libc.func('int madvise(void *addr, size_t length, int advice)');
const c_gettid = libc.func('int gettid()');
const c_getpid = libc.func('int getpid()');
const c_tgkill = libc.func('int tgkill(int tgid, int tid, int sig)');
const c_strerror = libc.func('const char *strerror(int errnum)');
const c_timer_create = libc.func('int timer_create(int clockid, void *sevp, void *timerid)');
const c_timer_settime = libc.func('int timer_settime(void *timerid, int flags, void *newValue, void *oldValue)');
const c_timer_delete = libc.func('int timer_delete(void *timerid)');

export const O_RDWR = 2;
export const O_CLOEXEC = 0o2000000;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const MADV_DONTNEED = 4;
export const MADV_HUGEPAGE = 14;
export const EINTR = 4;
export const EAGAIN = 11;

/** An error from a system call, carrying errno so callers can tell EINTR, EACCES, ... apart. */
export class SysError extends Error {
  constructor(readonly call: string, readonly errno: number) {
    super(`${call}: ${c_strerror(errno)} (errno ${errno})`);
  }
}

export function errno(): number {
  return koffi.errno();
}

export function open(path: string, flags: number): number {
  const fd = c_open(path, flags, 0) as number;
  if (fd < 0) throw new SysError(`open ${path}`, koffi.errno());
  return fd;
}

export function close(fd: number): void {
  c_close(fd);
}

/** ioctl with a pointer argument (a Buffer, or null). Returns the result; throws on -1. */
export function ioctlPtr(fd: number, req: number, arg: Buffer | null, what: string): number {
  for (;;) {
    const r = c_ioctl_ptr(fd, req, arg) as number;
    if (r >= 0) return r;
    // A signal (the slice timer, a profiler) may interrupt a slow ioctl such as KVM_CREATE_VM.
    const e = koffi.errno();
    if (e !== EINTR) throw new SysError(what, e);
  }
}

/** ioctl with an integer argument. Returns the result; throws on -1. */
export function ioctlInt(fd: number, req: number, arg: number | bigint, what: string): number {
  for (;;) {
    const r = c_ioctl_int(fd, req, arg) as number;
    if (r >= 0) return r;
    const e = koffi.errno();
    if (e !== EINTR) throw new SysError(what, e);
  }
}

/** ioctl with an integer argument that reports failure as -errno instead of throwing (KVM_RUN). */
export function ioctlRaw(fd: number, req: number, arg: number): number {
  const r = c_ioctl_int(fd, req, arg) as number;
  return r < 0 ? -koffi.errno() : r;
}

/** Where a Buffer's bytes lie, for a struct that points to another (KVM reads both during the call). */
export function bufferAddress(b: Buffer): bigint {
  return BigInt(koffi.address(b));
}

/** Maps memory and returns its address with a Buffer over it (no copy). */
export function mmap(length: number, prot: number, flags: number, fd: number, what: string):
  { addr: bigint; buf: Buffer } {
  const p = c_mmap(null, length, prot, flags, fd, 0) as bigint | null;
  // MAP_FAILED is (void *)-1
  if (p === null || p === 0n || p === 0xffffffffffffffffn || p === -1n) {
    throw new SysError(what, koffi.errno());
  }
  const addr = BigInt.asUintN(64, BigInt(p as bigint));
  return { addr, buf: Buffer.from(koffi.view(p, length)) };
}

/**
 * Maps anonymous memory at an address that is a multiple of `align` (a power of two): more is
 * mapped, and what lies before and after the aligned part is unmapped again.
 */
export function mmapAligned(length: number, align: number, prot: number, flags: number, what: string): { addr: bigint; buf: Buffer } {
  const { addr: raw } = mmap(length + align, prot, flags, -1, what);
  const a = BigInt(align);
  const addr = (raw + a - 1n) & ~(a - 1n);
  const head = Number(addr - raw);
  if (head) munmap(raw, head);
  if (align - head) munmap(addr + BigInt(length), align - head);
  return { addr, buf: Buffer.from(koffi.view(addr, length)) };
}

export function munmap(addr: bigint, length: number): void {
  c_munmap(addr, length);
}

/** madvise(2): true where the kernel took the advice. */
export function madvise(addr: bigint, length: number, advice: number): boolean {
  return (c_madvise(addr, length, advice) as number) === 0;
}

export function gettid(): number {
  return c_gettid() as number;
}

export function getpid(): number {
  return c_getpid() as number;
}

export function tgkill(pid: number, tid: number, sig: number): void {
  c_tgkill(pid, tid, sig);
}

const CLOCK_MONOTONIC = 1;
const SIGEV_THREAD_ID = 4;

/**
 * A POSIX timer that sends `signal` to thread `tid` (SIGEV_THREAD_ID). struct sigevent:
 * sigev_value at 0, sigev_signo at 8, sigev_notify at 12, _sigev_un._tid at 16; 64 bytes.
 */
export function timerCreate(tid: number, signal: number): bigint {
  const sev = Buffer.alloc(64);
  sev.writeInt32LE(signal, 8);
  sev.writeInt32LE(SIGEV_THREAD_ID, 12);
  sev.writeInt32LE(tid, 16);
  const id = Buffer.alloc(8);
  if ((c_timer_create(CLOCK_MONOTONIC, sev, id) as number) < 0) throw new SysError('timer_create', koffi.errno());
  return id.readBigUInt64LE();
}

/** Arms a timer to fire every `periodNs` nanoseconds, or disarms it with 0. */
export function timerSet(timer: bigint, periodNs: number): void {
  const spec = Buffer.alloc(32); // struct itimerspec { it_interval, it_value }, timespecs of 16 bytes
  const sec = BigInt(Math.floor(periodNs / 1e9));
  const nsec = BigInt(periodNs % 1e9);
  for (const off of [0, 16]) {
    spec.writeBigInt64LE(sec, off);
    spec.writeBigInt64LE(nsec, off + 8);
  }
  if ((c_timer_settime(timer, 0, spec, null) as number) < 0) throw new SysError('timer_settime', koffi.errno());
}

export function timerDelete(timer: bigint): void {
  c_timer_delete(timer);
}
