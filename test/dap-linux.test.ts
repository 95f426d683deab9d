// Linux in a debug session: Debian's kernel with the busybox initramfs (test/support/linux.ts)
// launched through the adapter with "initrd" and "cmdline"; its serial console comes to the client
// as output events, input typed through kvm.serialInput reaches the shell, a pause while Linux
// runs stops in the kernel's own code (RIP in the top 2 GiB, where x86-64 Linux links itself),
// continue goes on with the shell still answering, and `poweroff -f` ends the session with exited
// (code 0) and terminated. With "bootEntry": 64 the session starts at the 64-bit entry.
import './support/needs-kvm.js';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
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
