// Linux in a debug session: Debian's kernel with the busybox initramfs (test/support/linux.ts)
// launched through the adapter with "initrd" and "cmdline"; its serial console comes to the client
// as output events, input typed through kvm.serialInput reaches the shell, a pause while Linux
// runs stops in the kernel's own code (RIP in the top 2 GiB, where x86-64 Linux links itself),
// continue goes on with the shell still answering, and `poweroff -f` ends the session with exited
// (code 0) and terminated. With "bootEntry": 64 the session starts at the 64-bit entry. A
// System.map (from the kernel's own kallsyms) in "symbols" gives function breakpoints by name.
import './support/needs-kvm.js';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { buildDist } from './support/cli.js';
import { launch, newClient, stopped, topFrame } from './support/dap.js';
import { buildInitramfs, debianKernel, PROMPT } from './support/linux.js';
import { DapConsole, LINUX_BOOT_MS, LINUX_COMMAND_MS } from './support/linux-dap.js';
import { BZIMAGE_LOAD_ADDR, ENTRY64_OFFSET } from '../src/vmm/loaders/bzimage.js';
import { LINUX_ZERO_PAGE_ADDR } from '../src/vmm/layout.js';

let kernel = '';
let initramfs = '';

before(() => {
  buildDist();
  kernel = debianKernel();
  initramfs = buildInitramfs();
});

/** Where x86-64 Linux runs its own code: the kernel text mapping, -2 GiB and up. */
const KERNEL_TEXT = 0xffff_ffff_8000_0000n;

test('a debug session boots Linux with initrd and cmdline: serial out, typed input in, pause in the kernel, continue, poweroff -f ends it', { timeout: 2 * LINUX_BOOT_MS + 6 * LINUX_COMMAND_MS }, async (t) => {
  for (let attempt = 1; ; attempt++) {
    const dc = newClient();
    await dc.start();
    const con = new DapConsole(dc);
    try {
      const start = performance.now();
      await launch(dc, { program: kernel, initrd: initramfs, cmdline: 'console=ttyS0', memory: '256M' });
      if (!(await con.bootToPrompt(t, attempt, PROMPT))) continue;
      t.diagnostic(`launch to prompt over DAP: ${((performance.now() - start) / 1000).toFixed(1)} s`);
      assert.match(con.text, /Command line: console=ttyS0/);
      assert.match(con.text, /Unpacking initramfs|Trying to unpack rootfs/);

      await con.command('echo $((6*7))', /^42\r?$/m);

      // Pause while Linux runs: the stop is in the kernel (idle or a handler), with its registers.
      await dc.pauseRequest({ threadId: 1 });
      const paused = await stopped(dc, LINUX_COMMAND_MS);
      assert.equal(paused.body.reason, 'pause');
      const frame = await topFrame(dc);
      const rip = BigInt(frame.instructionPointerReference!);
      t.diagnostic(`paused at ${frame.name} (0x${rip.toString(16)})`);
      assert.ok(rip >= KERNEL_TEXT, `RIP 0x${rip.toString(16)} is in the kernel's text mapping`);
      const regs = await dc.evaluateRequest({ expression: '$cs', context: 'repl', frameId: frame.id });
      assert.equal(BigInt(regs.body.result) & 3n, 0n, `CPL 0 at the pause (CS ${regs.body.result})`);

      await dc.continueRequest({ threadId: 1 });
      await con.command('uname -r', /^\d+\.\d+\.\d+-\S+-amd64\r?$/m);

      const exited = dc.waitForEvent('exited', LINUX_COMMAND_MS) as Promise<DebugProtocol.ExitedEvent>;
      const terminated = dc.waitForEvent('terminated', LINUX_COMMAND_MS);
      con.type('poweroff -f\n');
      assert.equal((await exited).body.exitCode, 0);
      await terminated;
      assert.match(con.console, /kvmdbg: guest powered off/);
      return;
    } finally {
      await dc.stop();
    }
  }
});

test('"bootEntry": 64 stops on entry at code32_start + 0x200 in long mode, CS = __BOOT_CS, DS = __BOOT_DS, RSI = the zero page', { timeout: 4 * LINUX_COMMAND_MS }, async () => {
  const dc = newClient();
  await dc.start();
  try {
    await launch(dc, { program: kernel, initrd: initramfs, cmdline: 'console=ttyS0', memory: '256M', bootEntry: 64, stopOnEntry: true });
    assert.equal((await stopped(dc)).body.reason, 'entry');
    const frame = await topFrame(dc);
    assert.equal(BigInt(frame.instructionPointerReference!), BigInt(BZIMAGE_LOAD_ADDR + ENTRY64_OFFSET));
    const value = async (expression: string) => BigInt((await dc.evaluateRequest({ expression, context: 'repl', frameId: frame.id })).body.result);
    assert.equal(await value('$cs'), 0x10n);
    assert.equal(await value('$ds'), 0x18n);
    assert.equal(await value('$ss'), 0x18n);
    assert.equal(await value('$rsi'), BigInt(LINUX_ZERO_PAGE_ADDR));
    assert.equal(((await dc.customRequest('kvm.cpuMode')).body as { mode: string }).mode, 'long mode (64-bit)');
    // startup_64 begins with cld (one byte): a step lands one byte on, still in 64-bit code.
    await dc.stepInRequest({ threadId: 1, granularity: 'instruction' });
    assert.equal((await stopped(dc)).body.reason, 'step');
    assert.equal(BigInt((await topFrame(dc)).instructionPointerReference!), BigInt(BZIMAGE_LOAD_ADDR + ENTRY64_OFFSET + 1));
  } finally {
    await dc.stop();
  }
});

test('a function breakpoint on start_kernel from a System.map (the running kernel\'s kallsyms, nokaslr) stops there with RIP = its address', { timeout: 2 * LINUX_BOOT_MS + 6 * LINUX_COMMAND_MS }, async (t) => {
  const cmdline = 'console=ttyS0 nokaslr';
  // Debian ships no System.map outside its -dbg package (linux-image's /boot/System.map-* is a
  // placeholder line) and its vmlinux is stripped: the symbols come from the kernel itself, its
  // /proc/kallsyms read as root with kptr_restrict 0, in a first boot with the same command line.
  const kallsyms = await (async () => {
    for (let attempt = 1; ; attempt++) {
      const dc = newClient();
      await dc.start();
      const con = new DapConsole(dc);
      try {
        await launch(dc, { program: kernel, initrd: initramfs, cmdline, memory: '256M' });
        if (!(await con.bootToPrompt(t, attempt, PROMPT))) continue;
        await con.command('echo 0 > /proc/sys/kernel/kptr_restrict; grep -E " (_text|start_kernel|rest_init)$" /proc/kallsyms; echo done', /^done\r?$/m);
        return con.text.slice(con.text.lastIndexOf('kallsyms')).match(/^[0-9a-f]{16} [Tt] \w+(?=\r?$)/gm) ?? [];
      } finally {
        await dc.stop();
      }
    }
  })();
  const dir = mkdtempSync(join(tmpdir(), 'kvmdbg-linux-map-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const map = join(dir, 'System.map');
  writeFileSync(map, kallsyms.join('\n') + '\n');
  const address = (name: string) => BigInt('0x' + (kallsyms.find((l) => l.endsWith(` ${name}`)) ?? assert.fail(`no ${name} in kallsyms:\n${kallsyms.join('\n')}`)).slice(0, 16));
  // nokaslr: the kernel runs where it is linked, __START_KERNEL_map + CONFIG_PHYSICAL_START (16 MiB).
  assert.equal(address('_text'), 0xffff_ffff_8100_0000n);
  const startKernel = address('start_kernel');
  t.diagnostic(`start_kernel at 0x${startKernel.toString(16)} (kallsyms)`);

  const dc = newClient();
  await dc.start();
  const con = new DapConsole(dc);
  try {
    let set: DebugProtocol.SetFunctionBreakpointsResponse | undefined;
    await launch(dc, { program: kernel, initrd: initramfs, cmdline, memory: '256M', symbols: [map] }, async () => {
      set = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'start_kernel' }] });
    });
    assert.equal(set!.body.breakpoints[0].verified, true, JSON.stringify(set!.body));
    const hit = await stopped(dc, LINUX_BOOT_MS);
    assert.equal(hit.body.reason, 'function breakpoint', hit.body.text);
    const frame = await topFrame(dc);
    assert.equal(BigInt(frame.instructionPointerReference!), startKernel);
    assert.equal(frame.name, 'start_kernel');
    // From the breakpoint the kernel goes on: start_kernel's banner is among its first lines.
    await dc.setFunctionBreakpointsRequest({ breakpoints: [] });
    const from = con.text.length;
    await dc.continueRequest({ threadId: 1 });
    await con.waitFor(/Linux version 6\.1\.\d+/, LINUX_COMMAND_MS, from);
  } finally {
    await dc.stop();
  }
});
