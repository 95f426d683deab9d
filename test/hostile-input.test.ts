// Hostile and mistaken input, judged before /dev/kvm is opened: these tests need no KVM and run on
// any machine. The CLI (dist/cli.js) and the adapter (dist/adapter.js) must give the loader's or
// the check's own message, with a listed exit status, whether or not the host has KVM: on a
// machine without /dev/kvm they used to say only "/dev/kvm does not exist". KVMDBG_DEVICE points
// at a device that does not exist, so that nothing here could run a guest even where KVM is.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import { buildDist, cli, said } from './support/cli.js';
import { ADAPTER } from './support/dap.js';
import { prngU32 } from './support/prng.js';
import { formatSize, hostMemoryAvailable, checkMemorySize } from '../src/vmm/plan.js';
import { parseLaunchArgs } from '../src/dap/launch-args.js';

let tmp = '';
const f: Record<string, string> = {};
/** No such device: if a check were made after opening KVM, the message would say so. */
const NO_KVM = { KVMDBG_DEVICE: '/nonexistent/kvm' };

/** An ELF64 x86-64 executable header (ET_EXEC) with one program header at offset 64, cut to `len` bytes. */
function elf64(len: number): Buffer {
  const b = Buffer.alloc(Math.max(len, 64));
  b.write('\x7fELF', 'latin1');
  b[4] = 2; b[5] = 1; b[6] = 1;
  b.writeUInt16LE(2, 16); b.writeUInt16LE(62, 18); b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(0x100000n, 24); b.writeBigUInt64LE(64n, 32);
  b.writeUInt16LE(64, 52); b.writeUInt16LE(56, 54); b.writeUInt16LE(1, 56);
  return b.subarray(0, len);
}

/** An ELF32 ARM executable (e_machine 40) with one program header. */
function armElf(): Buffer {
  const b = Buffer.alloc(52 + 32);
  b.write('\x7fELF', 'latin1');
  b[4] = 1; b[5] = 1; b[6] = 1;
  b.writeUInt16LE(2, 16); b.writeUInt16LE(40, 18); b.writeUInt32LE(1, 20);
  b.writeUInt32LE(0x8000, 24); b.writeUInt32LE(52, 28);
  b.writeUInt16LE(52, 40); b.writeUInt16LE(32, 42); b.writeUInt16LE(1, 44);
  return b;
}

before(() => {
  buildDist();
  tmp = mkdtempSync(join(tmpdir(), 'kvmdbg-hostile-'));
  const put = (name: string, data: Buffer) => writeFileSync((f[name] = join(tmp, name)), data);
  put('empty', Buffer.alloc(0));
  put('elf40', elf64(40));
  put('elf100', elf64(100));
  put('arm', armElf());
  const next = prngU32(0x5eed);
  const rnd = Buffer.alloc(4096);
  for (let i = 0; i < rnd.length; i += 4) rnd.writeUInt32LE(next(), i);
  rnd[510] = 0; // not a boot sector by chance
  put('random', rnd);
  const boot = Buffer.alloc(512, 0xf4);
  boot[510] = 0x55; boot[511] = 0xaa;
  put('boot', boot);
  f.fifo = join(tmp, 'fifo');
  execFileSync('mkfifo', [f.fifo]);
  put('sparse', Buffer.alloc(0));
  truncateSync(f.sparse, 100 * 2 ** 30);
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** `kvmdbg run ARGS` says exactly `message` on stderr, nothing on stdout, and exits 2. */
function refused(args: string[], message: string | RegExp, env: NodeJS.ProcessEnv = NO_KVM): void {
  const r = cli(['run', ...args], { env });
  assert.equal(r.status, 2, said(r));
  assert.equal(r.stdout, '');
  if (typeof message === 'string') assert.equal(r.stderr, `kvmdbg: ${message}\n`, said(r));
  else assert.match(r.stderr, message, said(r));
}

// --- item 1: the file and the options are judged before KVM is opened -------------------------

test('an empty file: "is empty"', () => refused([f.empty], `${f.empty} is empty`));

test('an ELF cut to 40 bytes: the truncated header', () => {
  refused([f.elf40], `${f.elf40}: truncated ELF header: the file has 40 bytes, an ELF64 header needs 64`);
});

test('an ELF cut to 100 bytes: the program headers run past the end', () => {
  refused([f.elf100], `${f.elf100}: program header table (1 entries of 56 bytes) (offset 0x40, 56 bytes) runs past the end of the file (100 bytes); the file is truncated or corrupt`);
});

test('an ARM ELF: another machine', () => {
  refused([f.arm], `${f.arm}: ELF for another machine (ARM, e_machine 40); kvmdbg runs x86 guests: EM_386 (3) or EM_X86_64 (62)`);
});

test('4 KiB of random bytes: unknown format, with the way to load a raw binary', () => {
  refused([f.random], `${f.random}: unknown format: not ELF, Multiboot or a boot sector (55 AA at offset 510); use --format flat with --load-address for a raw binary`);
});

test('--format elf64 on a boot sector: not an ELF file', () => {
  refused(['--format', 'elf64', f.boot], `${f.boot}: not an ELF file (no \\x7fELF magic at offset 0)`);
});

test('--smp 1000: out of range, with the limit', () => {
  refused(['--smp', '1000', f.boot], '--smp 1000 is out of range: kvmdbg runs 1 to 255 vCPUs (the guest\'s xAPIC IDs are 8 bits)');
});

test('--memory 1K: too small', () => refused(['--memory', '1K', f.boot], 'guest memory of 1 KiB is too small: give at least 1M'));

test('--memory 1T: more than the host can give, with what it can', () => {
  refused(['--memory', '1T', f.boot],
    /^kvmdbg: guest memory of 1 TiB is more than this host can give: [\d.]+ [KMGT]iB \(MemAvailable [\d.]+ [KMGT]iB \+ SwapFree [\d.]+ (bytes|[KMGT]iB) in \/proc\/meminfo\); give the guest less memory\n$/);
});

test('the host memory check: MemAvailable plus SwapFree, refused above it', () => {
  const host = hostMemoryAvailable('MemTotal: 8000000 kB\nMemAvailable: 1048576 kB\nSwapTotal: 2097152 kB\nSwapFree: 1048576 kB\n');
  assert.deepEqual(host, { bytes: 2 * 2 ** 30, detail: 'MemAvailable 1 GiB + SwapFree 1 GiB in /proc/meminfo' });
  checkMemorySize(2 * 2 ** 30, host);
  assert.throws(() => checkMemorySize(2 * 2 ** 30 + 4096, host), /more than this host can give: 2 GiB/);
});

// --- item 3: devices, FIFOs and files larger than guest memory are refused before reading ----

test('/dev/zero: a character device, refused at once', () => {
  const t0 = Date.now();
  refused(['/dev/zero'], '/dev/zero: is a character device, not a guest image file');
  assert.ok(Date.now() - t0 < 20_000, 'it did not read /dev/zero');
});

test('a FIFO: refused without waiting for a writer', () => refused([f.fifo], `${f.fifo}: is a FIFO (named pipe), not a guest image file`));

test('a 100 GiB sparse file: larger than guest memory, not read', () => {
  refused([f.sparse], `${f.sparse}: 107374182400 bytes (100 GiB) is larger than guest memory (64 MiB): it cannot be loaded; give the guest more memory or use a smaller file`);
});

test('a module that is a device: refused the same way', () => {
  refused(['--module', '/dev/zero', f.boot], '/dev/zero: is a character device, not a guest image file');
});

// --- item 4: --serial FILE is opened only once the run can start ------------------------------

test('--serial FILE keeps an existing file\'s bytes when the run fails on its image', () => {
  const log = join(tmp, 'serial.log');
  writeFileSync(log, 'yesterday\'s log\n');
  refused(['--serial', log, f.random], /unknown format/);
  assert.equal(readFileSync(log, 'utf8'), 'yesterday\'s log\n');
  refused(['--serial', log, f.boot], /\/nonexistent\/kvm does not exist/);
  assert.equal(readFileSync(log, 'utf8'), 'yesterday\'s log\n', 'nor when KVM can\'t be opened');
});

// --- item 2: a device that is not KVM ---------------------------------------------------------

test('KVMDBG_DEVICE=/dev/null: "not a KVM device", status 2, no stack trace', () => {
  refused([f.boot], '/dev/null is not a KVM device: KVM_GET_API_VERSION failed (ENOTTY); name /dev/kvm or unset KVMDBG_DEVICE', { KVMDBG_DEVICE: '/dev/null' });
});

test('--help lists every status kvmdbg exits with, 70 included', () => {
  const r = cli(['run', '--help']);
  assert.equal(r.status, 0, said(r));
  assert.match(r.stdout, /^ {2}2 {22}bad input: .*KVM device/m);
  assert.match(r.stdout, /^ {2}70 {21}internal error/m);
});

// --- item 5: figures and words -----------------------------------------------------------------

test('sizes are told without 32-bit wrap-around: 2 GiB and 4 GiB', () => {
  assert.equal(formatSize(2 * 2 ** 30), '2 GiB');
  assert.equal(formatSize(4 * 2 ** 30), '4 GiB');
  assert.equal(formatSize(1536), '1.5 KiB');
  assert.equal(formatSize(100), '100 bytes');
});

test('--load-address too large for a number: "too large", with the limit', () => {
  refused(['--format', 'flat', '--load-address', '0x1ffffffffffffff', f.boot], '--load-address: 0x1ffffffffffffff is too large (at most 0x1fffffffffffff, 2^53 - 1)');
  refused(['--format', 'flat', '--load-address', '0x10zz', f.boot], '--load-address: "0x10zz" is not a number (use decimal or 0x hex)');
  assert.throws(() => parseLaunchArgs({ program: f.boot, loadAddress: '0x1ffffffffffffff' }),
    /launch.json: "loadAddress": "0x1ffffffffffffff" is too large \(at most 0x1fffffffffffff, 2\^53 - 1\)/);
});

// --- the adapter: launch gives the same messages ------------------------------------------------

/** The error a launch with `args` fails with, from a fresh adapter (env added). */
async function launchError(args: Record<string, unknown>, env: Record<string, string> = NO_KVM): Promise<string> {
  const dc = new DebugClient('node', ADAPTER, 'kvm', { env: { ...process.env, ...env } });
  dc.defaultTimeout = 20000;
  await dc.start();
  try {
    await dc.initializeRequest({ adapterID: 'kvm', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
    let message = '';
    await assert.rejects(dc.launchRequest(args as never), (e: Error) => ((message = e.message), true));
    return message;
  } finally {
    await dc.stop();
  }
}

test('DAP launch: a truncated ELF, an unknown format, a device and a FIFO get the checks\' messages', async () => {
  assert.equal(await launchError({ program: f.elf40 }), `${f.elf40}: truncated ELF header: the file has 40 bytes, an ELF64 header needs 64`);
  assert.equal(await launchError({ program: f.random }), `${f.random}: unknown format: not ELF, Multiboot or a boot sector (55 AA at offset 510); use --format flat with --load-address for a raw binary`);
  assert.match(await launchError({ program: f.boot, memory: 1024 * 1024 }), /^guest memory of 1 TiB is more than this host can give: /);
  assert.equal(await launchError({ program: '/dev/zero' }), '/dev/zero: is a character device, not a guest image file');
  assert.equal(await launchError({ program: f.fifo }), `${f.fifo}: is a FIFO (named pipe), not a guest image file`);
});

test('DAP launch: a serial file keeps its bytes when the launch fails on its image', async () => {
  const log = join(tmp, 'dap-serial.log');
  writeFileSync(log, 'kept\n');
  assert.match(await launchError({ program: f.random, serial: log }), /unknown format/);
  assert.equal(readFileSync(log, 'utf8'), 'kept\n');
});

test('DAP launch: KVMDBG_DEVICE=/dev/null is "not a KVM device", without a stack trace', async () => {
  const m = await launchError({ program: f.boot }, { KVMDBG_DEVICE: '/dev/null' });
  assert.equal(m, '/dev/null is not a KVM device: KVM_GET_API_VERSION failed (ENOTTY); name /dev/kvm or unset KVMDBG_DEVICE');
});
