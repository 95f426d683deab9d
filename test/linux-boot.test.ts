// Linux in `kvmdbg run`: Debian's kernel and an initramfs of busybox-static (both made at test time,
// test/support/linux.ts) boot to a shell on the serial console with a plain command line; typed
// commands run and their output comes back; `poweroff -f` ends the run with status 0 through the
// ACPI PM registers the monitor provides. Through the boot protocol's 32-bit entry (the default)
// and its 64-bit one (--boot-entry 64), and as a vmlinux through its PVH entry.
import './support/needs-kvm.js';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { buildDist, CliSession } from './support/cli.js';
import { readFileSync } from 'node:fs';
import { buildInitramfs, debianKernel, debianVmlinux, EARLY_CMDLINE, EARLY_LINES, PROMPT } from './support/linux.js';
import { pvhEntry } from '../src/formats/detect.js';
import { linuxBootTooSlow } from './support/host-facts.js';
import { BZIMAGE_LOAD_ADDR } from '../src/vmm/loaders/bzimage.js';

let kernel = '';
let initramfs = '';

before(() => {
  buildDist();
  kernel = debianKernel();
  initramfs = buildInitramfs();
});

/** Launch to prompt: in the test VM (nested KVM under TCG, node 10-40x slower) about a minute. */
const BOOT_MS = 240_000;
/** A command's round trip once the shell runs. */
const COMMAND_MS = 60_000;

/** How a boot is made: the kernel file and the options that pick its entry. */
interface Boot {
  vcpus: number;
  /** Options before the file (--boot-entry ...). */
  args?: string[];
  /** The kernel file (default: the bzImage). */
  file?: () => string;
  /** More checks in the shell. */
  more?: (s: CliSession) => Promise<void>;
}

/** Boots, checks the shell, powers off; `vcpus` processors must be what the guest sees. */
async function bootToShell(t: { diagnostic(s: string): void }, boot: Boot): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    if (await bootOnce(t, boot, attempt)) return;
  }
}

/** One boot; false where it ended in the known early triple fault (on a first attempt only). */
async function bootOnce(t: { diagnostic(s: string): void }, boot: Boot, attempt: number): Promise<boolean> {
  const { vcpus } = boot;
  const start = performance.now();
  const s = new CliSession([
    'run', '--memory', '256M', '--smp', String(vcpus), ...boot.args ?? [], '--cmdline', 'console=ttyS0', '--module', initramfs,
    boot.file?.() ?? kernel,
  ]);
  try {
    try {
      await s.waitFor(PROMPT, BOOT_MS);
    } catch (e) {
      // An open defect (issue 14): about 1 boot in 14 in the test VM has ended in a triple fault
      // a few seconds after the switch to kvm-clock, never twice in a row (97 boots in a row
      // later had none: bench/linux-boot-loop.ts, bench/README.md). It is said here and booted
      // once more; a second one fails the test.
      if (attempt === 1 && /triple fault/i.test(s.stderr)) {
        t.diagnostic(`boot 1 ended in a triple fault (open defect, issue 14); booting again. What it said:\n${s.said()}`);
        return false;
      }
      throw e;
    }
    t.diagnostic(`launch to prompt: ${((performance.now() - start) / 1000).toFixed(1)} s`);
    // What the kernel found: the TSC's frequency from kvmclock, not a failed PIT calibration, and
    // kvm-clock as its clocksource. (With several vCPUs a kernel may still mark the TSC unstable
    // where the CPU has no invariant TSC, as the test VM's emulated one: kvm-clock is unaffected.)
    assert.match(s.stdout, /kvm-clock: Using msrs/, s.said());
    assert.match(s.stdout, /tsc: Detected [\d.]+ MHz processor/, s.said());
    assert.doesNotMatch(s.stdout, /Unable to calibrate against PIT|could not calculate TSC khz/, s.said());
    assert.match(s.stdout, /clocksource: Switched to clocksource kvm-clock/, s.said());
    assert.match(s.stdout, /ACPI: RSDP 0x00000000000E0000/, s.said());

    let from = s.stdout.length;
    s.type('echo $((6*7))\n');
    await s.waitFor(/^42\r?$/m, COMMAND_MS, from);
    from = s.stdout.length;
    s.type('grep -c ^processor /proc/cpuinfo\n');
    const m = await s.waitFor(/^(\d+)\r?$/m, COMMAND_MS, from);
    assert.equal(Number(m[1]), vcpus, s.said());
    await boot.more?.(s);

    s.type('poweroff -f\n');
    const end = await s.exit(COMMAND_MS);
    assert.deepEqual(end, { status: 0, signal: null }, s.said());
    assert.match(s.stderr, /kvmdbg: guest powered off/, s.said());
    return true;
  } finally {
    await s.close();
  }
}

/**
 * A boot to the shell; where this host's ring-0 rate rules that out in the tests' time
 * (linuxBootTooSlow, measured), the start of the same boot, said to `t`: a bzImage's
 * decompressor reached long mode and runs the copy of itself it moved above the loaded image
 * (the boot protocol's entry state was right); a PVH kernel printed its command line, its memory
 * map from the start info and the initrd's place. The whole boot is checked where Linux boots in
 * time (the test VM, where scripts/run-tests.sh runs these files on a kvm_pvm host too).
 */
async function boots(t: { diagnostic(s: string): void }, boot: Boot): Promise<void> {
  const slow = await linuxBootTooSlow();
  if (slow === undefined) return bootToShell(t, boot);
  t.diagnostic(`${slow}: checked here is the start of the boot`);
  const file = boot.file?.() ?? kernel;
  const pvh = boot.file !== undefined;
  const cmdline = pvh ? EARLY_CMDLINE : 'console=ttyS0';
  const s = new CliSession([
    'run', '--memory', '256M', '--smp', String(boot.vcpus), ...boot.args ?? [], '--cmdline', cmdline, '--module', initramfs,
    ...pvh ? [] : ['--timeout', '20s'], file,
  ]);
  try {
    if (pvh) {
      for (const line of EARLY_LINES) await s.waitFor(line, BOOT_MS);
      await s.waitFor(/BIOS-e820: \[mem 0x0000000000100000-0x000000000fffffff\] usable/, BOOT_MS);
      return;
    }
    await s.exit(BOOT_MS);
    assert.match(s.stderr, /kvmdbg: timeout: the guest was still running/, s.said());
    const reg = (name: string) => BigInt('0x' + (new RegExp(`\\b${name}=([0-9a-f]{16})`).exec(s.stderr)?.[1] ?? '0'));
    assert.equal(reg('efer') & 0x500n, 0x500n, `long mode (EFER LME and LMA)\n${s.said()}`);
    const end = BigInt(BZIMAGE_LOAD_ADDR) + BigInt(readFileSync(file).length);
    assert.ok(reg('rip') > end, `RIP 0x${reg('rip').toString(16)} above the loaded image (to 0x${end.toString(16)})\n${s.said()}`);
  } finally {
    await s.close();
  }
}

test('Debian\'s kernel boots to a busybox shell with console=ttyS0; a command runs; poweroff -f ends the run with 0', { timeout: 2 * BOOT_MS + 3 * COMMAND_MS }, async (t) => {
  await boots(t, { vcpus: 1 });
});

test('with --smp 2 the kernel finds both vCPUs in the MADT, brings the second up, and reaches the shell', { timeout: 2 * BOOT_MS + 3 * COMMAND_MS }, async (t) => {
  await boots(t, { vcpus: 2 });
});

test('through the 64-bit entry (--boot-entry 64: long mode at code32_start + 0x200) the kernel boots to the shell too', { timeout: 2 * BOOT_MS + 3 * COMMAND_MS }, async (t) => {
  await boots(t, { vcpus: 1, args: ['--boot-entry', '64'] });
});

test('PVH: the vmlinux inside the same bzImage (CONFIG_PVH=y) boots at its XEN_ELFNOTE_PHYS32_ENTRY with an hvm_start_info: cmdline, initrd and memory map reach it', { timeout: 2 * BOOT_MS + 5 * COMMAND_MS }, async (t) => {
  const vmlinux = debianVmlinux();
  assert.equal(pvhEntry(readFileSync(vmlinux)), 0x1000850n, 'pvh_start_xen in Debian\'s 6.1 kernel (its PVH note)');
  await boots(t, {
    vcpus: 1,
    file: () => vmlinux,
    more: async (s) => {
      // Linux's PVH path (init_pvh_bootparams) marks the boot loader as PVH outside Xen: 0xb0.
      let from = s.stdout.length;
      s.type('cat /proc/sys/kernel/bootloader_type /proc/cmdline\n');
      await s.waitFor(/^176\r?\nconsole=ttyS0\r?$/m, COMMAND_MS, from);
      // The memory map came from the start info: RAM from 1 MiB to the top of the 256 MiB.
      from = s.stdout.length;
      s.type('grep "System RAM" /proc/iomem\n');
      await s.waitFor(/^00100000-0fffffff : System RAM\r?$/m, COMMAND_MS, from);
      // No decompressor, so no KASLR: the kernel runs where it is linked, without nokaslr, and a
      // System.map's addresses hold as they are.
      from = s.stdout.length;
      s.type('echo 0 > /proc/sys/kernel/kptr_restrict; grep " T _text$" /proc/kallsyms\n');
      await s.waitFor(/^ffffffff81000000 T _text\r?$/m, COMMAND_MS, from);
    },
  });
});
