// A Linux guest for tests, from the registries and built at test time, cached outside the
// repository (in $XDG_CACHE_HOME/kvmdbg/linux, by default ~/.cache/kvmdbg/linux):
// - the kernel: Debian's (linux-image-amd64), the one the test VM boots (.testvm/vmlinuz, made by
//   scripts/test-vm.sh setup), or else the same package fetched with `apt-get download`;
// - an initramfs: a cpio (newc) of busybox-static (/bin/busybox, Debian's busybox-static) and an
//   /init that mounts proc, sysfs and devtmpfs and runs a shell on the console (ttyS0 with
//   console=ttyS0), written here rather than by cpio(1) so that /dev/console can be a device node
//   without root, and one module of that kernel (TEST_MODULE, with no dependencies) in
//   /lib/modules for tests that load one;
// - a vmlinux: the ELF inside that bzImage, decompressed as the kernel's scripts/extract-vmlinux
//   does (the payload's place is in the setup header, its format in its magic), for PVH boots.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseElf } from '../../src/symbols/elf-parse.js';
import { ROOT } from './paths.js';

export const CACHE_DIR = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kvmdbg', 'linux');
const BUSYBOX = '/bin/busybox';
const PT_INTERP = 3;

/**
 * A command line for the start of a boot: earlyprintk prints from the kernel's first lines, where
 * console=ttyS0 alone starts printing only once the serial driver registers, later on.
 */
export const EARLY_CMDLINE = 'console=ttyS0 earlyprintk=serial';
/** What the start of a boot with EARLY_CMDLINE prints: its command line, and where the initrd lies. */
export const EARLY_LINES = [/Command line: console=ttyS0 earlyprintk=serial\r?$/m, /RAMDISK: \[mem 0x[0-9a-f]+-0x[0-9a-f]+\]/];

/** The shell's prompt as busybox's ash prints it for root in /, at the start of a line. */
export const PROMPT = /^\/ # /m;

export const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "init: shell on $(cat /sys/class/tty/console/active)"
exec setsid cttyhack sh
`;

/** One cpio newc entry: a 110-byte ASCII header, the NUL-ended name and the data, each padded to 4 bytes. */
function newcEntry(name: string, mode: number, data: Buffer = Buffer.alloc(0), rdev: [number, number] = [0, 0], ino = 0): Buffer {
  const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], name.length + 1, 0];
  const header = '070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join('');
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const head = Buffer.from(header + name + '\0', 'latin1');
  return Buffer.concat([head, pad(head.length), data, pad(data.length)]);
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

/** The module the initramfs carries: small, and depending on no other (kvm's helper). */
export const TEST_MODULE = 'irqbypass';

/** The newc archive of the initramfs, in memory. */
export function initramfsArchive(busybox: Buffer, module: Buffer): Buffer {
  let ino = 1;
  const entries = [
    ...['bin', 'dev', 'proc', 'sys', 'lib', 'lib/modules'].map((d) => newcEntry(d, S_IFDIR | 0o755, undefined, undefined, ino++)),
    newcEntry('dev/console', S_IFCHR | 0o600, undefined, [5, 1], ino++),
    newcEntry('bin/busybox', S_IFREG | 0o755, busybox, undefined, ino++),
    newcEntry(`lib/modules/${TEST_MODULE}.ko`, S_IFREG | 0o644, module, undefined, ino++),
    newcEntry('init', S_IFREG | 0o755, Buffer.from(INIT_SCRIPT), undefined, ino++),
    newcEntry('TRAILER!!!', 0),
  ];
  return Buffer.concat(entries);
}

/** The initramfs file, built once per busybox and /init and kept in the cache. */
export function buildInitramfs(): string {
  if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: install Debian's busybox-static (apt-get install busybox-static)`);
  const busybox = readFileSync(BUSYBOX);
  if (parseElf(busybox, BUSYBOX).programHeaders.some((p) => p.type === PT_INTERP)) {
    throw new Error(`${BUSYBOX} is dynamically linked; the initramfs has no libc: install busybox-static instead of busybox`);
  }
  const module = readFileSync(debianModule(TEST_MODULE));
  const hash = createHash('sha256').update(busybox).update(INIT_SCRIPT).update(module).digest('hex').slice(0, 16);
  const path = join(CACHE_DIR, `initramfs-${hash}.cpio`);
  if (existsSync(path)) return path;
  mkdirSync(CACHE_DIR, { recursive: true });
  writeFileSync(`${path}.tmp`, initramfsArchive(busybox, module));
  renameSync(`${path}.tmp`, path);
  return path;
}

/**
 * Debian's kernel: the test VM's copy, or linux-image-amd64's vmlinuz from the apt registry (the
 * package the metapackage depends on), kept in the cache. The test VM has no network: there the
 * first is always present (scripts/test-vm.sh setup made it).
 */
export function debianKernel(): string {
  const testVm = join(ROOT, '.testvm', 'vmlinuz');
  if (existsSync(testVm)) return testVm;
  const depends = execFileSync('apt-cache', ['depends', 'linux-image-amd64'], { encoding: 'utf8' });
  const pkg = /Depends: (linux-image-[0-9]\S*-amd64)$/m.exec(depends)?.[1];
  if (!pkg) throw new Error(`apt-cache depends linux-image-amd64 names no kernel package:\n${depends}`);
  const path = join(CACHE_DIR, `vmlinuz-${pkg.slice('linux-image-'.length)}`);
  if (existsSync(path)) return path;
  mkdirSync(CACHE_DIR, { recursive: true });
  const work = mkdtempSync(join(CACHE_DIR, 'deb-'));
  try {
    execFileSync('apt-get', ['download', pkg], { cwd: work, stdio: 'pipe' });
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${work}`);
    execFileSync('dpkg-deb', ['-x', deb, 'x'], { cwd: work, stdio: 'pipe' });
    const boot = join(work, 'x', 'boot');
    const vmlinuz = readdirSync(boot).find((f) => f.startsWith('vmlinuz-'));
    if (!vmlinuz) throw new Error(`${pkg} has no /boot/vmlinuz-*`);
    const ko = execFileSync('find', [join(work, 'x', 'lib', 'modules'), '-name', `${TEST_MODULE}.ko`], { encoding: 'utf8' }).split('\n')[0];
    if (!ko) throw new Error(`${pkg} has no ${TEST_MODULE}.ko (uncompressed)`);
    renameSync(ko, moduleCachePath(path, TEST_MODULE));
    renameSync(join(boot, vmlinuz), path);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return path;
}

function moduleCachePath(vmlinuz: string, name: string): string {
  return `${vmlinuz}-${name}.ko`;
}

/**
 * A module of Debian's kernel (debianKernel): the test VM's copy (scripts/test-vm.sh puts the
 * modules KVM needs in its initramfs), or the one taken from the package with the vmlinuz.
 */
export function debianModule(name: string): string {
  const kernel = debianKernel();
  const path = kernel === join(ROOT, '.testvm', 'vmlinuz') ? join(ROOT, '.testvm', 'initramfs', 'lib', 'modules', `${name}.ko`) : moduleCachePath(kernel, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: ${kernel.startsWith(CACHE_DIR) ? `remove ${kernel} to fetch the package again` : 'run scripts/test-vm.sh setup'}`);
  return path;
}

/** The compressed payload's formats a Debian kernel may use, by magic, with the tool that unpacks each. */
const PAYLOADS: { name: string; magic: Buffer; unpack: (b: Buffer) => Buffer }[] = ([
  ['gzip', [0x1f, 0x8b]],
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]],
  ['bzip2', [0x42, 0x5a, 0x68]],
] as const).map(([name, magic]) => ({
  name, magic: Buffer.from(magic),
  // The kernel's build appends the uncompressed size (4 bytes) to the stream, which the tools
  // take for a truncated second stream: as extract-vmlinux, their status is not read, the
  // output is checked to be an ELF instead.
  unpack: (b: Buffer) => spawnSync(name, ['-dc'], { input: b, maxBuffer: 1 << 30 }).stdout,
}));

/** setup header fields (Documentation/arch/x86/boot.rst): where the compressed vmlinux lies. */
const SETUP_SECTS = 0x1f1;
const PAYLOAD_OFFSET = 0x248;
const PAYLOAD_LENGTH = 0x24c;

/** The ELF vmlinux inside a bzImage (boot protocol 2.08+: payload_offset/length), uncompressed. */
export function extractVmlinux(bzImage: Buffer): Buffer {
  const protectedMode = ((bzImage[SETUP_SECTS] || 4) + 1) * 512;
  const at = protectedMode + bzImage.readUInt32LE(PAYLOAD_OFFSET);
  const payload = bzImage.subarray(at, at + bzImage.readUInt32LE(PAYLOAD_LENGTH));
  const format = PAYLOADS.find((p) => payload.subarray(0, p.magic.length).equals(p.magic));
  if (!format) throw new Error(`the bzImage's payload starts with ${payload.subarray(0, 6).toString('hex')}: not a format this helper unpacks`);
  const elf = format.unpack(payload);
  if (!elf.subarray(0, 4).equals(Buffer.from('\x7fELF', 'latin1'))) throw new Error(`the ${format.name} payload did not unpack to an ELF`);
  return elf;
}

/** Debian's kernel (debianKernel) as a vmlinux ELF, unpacked once per kernel and kept in the cache. */
export function debianVmlinux(): string {
  const bzImage = readFileSync(debianKernel());
  const path = join(CACHE_DIR, `vmlinux-${createHash('sha256').update(bzImage).digest('hex').slice(0, 16)}`);
  if (existsSync(path)) return path;
  mkdirSync(CACHE_DIR, { recursive: true });
  writeFileSync(`${path}.tmp`, extractVmlinux(bzImage));
  renameSync(`${path}.tmp`, path);
  return path;
}
