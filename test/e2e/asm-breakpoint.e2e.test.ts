// A breakpoint in assembly, as a user sets one: VS Code has no assembly language of its own, so
// .S files are plain text (where F9 sets nothing) until an extension such as 13xforever's "x86 and
// x86_64 Assembly" gives them the language id asm-intel-x86-generic; kvmdbg's package.json lists
// that id (and nasm, masm, gas, ...) under debuggers[].languages and contributes.breakpoints.
// There is no marketplace here, so a throwaway extension packaged at test time stands in for the
// user's assembly extension: it contributes only that language for .S/.s/.asm.
//
// The steps: build kvmdbg's .vsix and the stand-in's, a workspace copy of examples/ built in place
// (so the DWARF names its boot.S), open boot.S at the long-mode `lea msg_long(%rip), %rsi`, F9,
// see the Breakpoints view list boot.S at that line; start "KVM: example (run)" (no stopOnEntry)
// and see it stop there: the Call Stack's top frame in boot.S at that line, the breakpoint
// verified, rip = the line's address from kernel.elf's line table, "Paused on breakpoint", the
// serial terminal with the real- and protected-mode lines and not yet the long-mode one. Then stop.
// Without a read-write /dev/kvm the adapter runs in the test VM (adapter-vm.ts).
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, checkSetup, freePort, runCommand, screenshot, startCodeServer, waitUntil, type CodeServerHandle } from './code-server.js';
import { startAdapterInTestVm, type AdapterVm } from './adapter-vm.js';
import {
  LONG, breakpointsTree, buildAndPackage, callStack, cursorPosition, debugToolbar, dumpFailure, escapeRegExp, languageMode, openFile,
  packageThrowawayExtension, parseJsonc, rowNames, run, showRunAndDebug, terminalText, toolbarButton, treeRow, variables, type LaunchConfig, workspaceRoot,
} from './workbench.js';

const ASM_LANGUAGE = 'asm-intel-x86-generic';
const RUN_CONFIG = 'KVM: example (run)';
/** The line to stop at: in 64-bit long mode, run once on the way to kmain. */
const TARGET = /^\s*lea\s+msg_long\(%rip\), %rsi/;

/** boot.S's line of TARGET and its address from the ELF's DWARF line table (objdump's decoding). */
function targetLine(ws: string): { line: number; address: bigint } {
  const lines = readFileSync(join(ws, 'boot.S'), 'utf8').split('\n');
  const idx = lines.findIndex((l) => TARGET.test(l));
  assert.ok(idx >= 0, `boot.S has no line matching ${TARGET}`);
  const line = idx + 1;
  const table = run('objdump', ['--dwarf=decodedline', join(ws, 'build/kernel.elf')]);
  const rows = table.split('\n').map((l) => /^boot\.S\s+(\d+)\s+(0x[0-9a-f]+)\b.*\sx\s*$/.exec(l)).filter((m) => m !== null)
    .filter((m) => Number(m[1]) === line).map((m) => BigInt(m[2]));
  assert.equal(rows.length, 1, `kernel.elf's line table has ${rows.length} statement rows for boot.S:${line}`);
  return { line, address: rows[0] };
}

test('kvmdbg in VS Code: F9 in an assembly file (asm-intel-x86-generic), the run configuration stops there', { timeout: 900_000 }, async (t) => {
  checkSetup();
  const { ownKvm, tmp } = workspaceRoot(t, 'asm');
  let vs: CodeServerHandle | undefined;
  let adapterVm: AdapterVm | undefined;
  let vmStarting: Promise<AdapterVm> | undefined;
  let stepName = 'build and package';
  try {
    // 1. kvmdbg's .vsix, the stand-in assembly extension's, and the workspace built in place.
    const vsix = buildAndPackage(tmp);
    const asmVsix = packageThrowawayExtension(join(tmp, 'asm-language'), {
      name: 'e2e-asm-language', publisher: 'kvmdbg-test', version: '0.0.1', engines: { vscode: '^1.90.0' },
      contributes: { languages: [{ id: ASM_LANGUAGE, extensions: ['.S', '.s', '.asm'] }] },
    });
    const ws = join(tmp, 'examples');
    cpSync(join(ROOT, 'examples'), ws, { recursive: true, filter: (src) => !/\/examples\/build(\/|$)/.test(src) });
    run('make', ['-C', ws]);
    const target = targetLine(ws);
    const rip = `0x${target.address.toString(16).padStart(16, '0')}`;
    t.diagnostic(`boot.S:${target.line} (${TARGET.source}) is at ${rip} in the workspace's kernel.elf`);

    // The repository's launch.json, with debugServer on every kvm configuration for the VM's adapter.
    const launchFile = join(ws, '.vscode', 'launch.json');
    const configs = ((parseJsonc(readFileSync(launchFile, 'utf8')) as { configurations?: LaunchConfig[] }).configurations ?? []);
    const runCfg = configs.find((c) => c.name === RUN_CONFIG);
    assert.ok(runCfg && runCfg.type === 'kvm' && !runCfg.stopOnEntry, `examples/.vscode/launch.json has no "${RUN_CONFIG}" kvm configuration without stopOnEntry`);
    const vmPort = ownKvm ? undefined : await freePort();
    if (vmPort !== undefined) {
      for (const c of configs) if (c.type === 'kvm') c.debugServer = vmPort;
      writeFileSync(launchFile, JSON.stringify({ version: '0.2.0', configurations: configs }, null, 2));
      t.diagnostic(`every kvm configuration connects to the adapter on port ${vmPort} (debugServer)`);
      // The VM boots while code-server starts and the breakpoint is set (the workspace is built).
      vmStarting = startAdapterInTestVm(vmPort, 480_000); // other checkouts may hold the VM lock a while
      vmStarting.then((a) => (adapterVm = a), () => {});
    }

    // 2. code-server with both extensions; boot.S in the assembly language.
    stepName = 'start code-server';
    vs = await startCodeServer({ vsix: [vsix, asmVsix], folder: ws, settings: { 'terminal.integrated.gpuAcceleration': 'off' } });
    const { page } = vs;
    await page.getByRole('treeitem', { name: /kernel\.c/ }).first().waitFor({ timeout: LONG });
    stepName = 'open boot.S';
    await openFile(page, 'boot.S', target.line);
    assert.equal(await languageMode(page), ASM_LANGUAGE, 'boot.S is not in the assembly language');
    assert.deepEqual(await cursorPosition(page), { line: target.line, column: 1 });

    // 3. F9: the Breakpoints view lists boot.S at that line, enabled.
    stepName = 'F9';
    await page.keyboard.press('F9');
    await showRunAndDebug(page, breakpointsTree(page));
    const bpName = new RegExp(`^boot\\.S ${target.line}, ${escapeRegExp(join(ws, 'boot.S'))}$`);
    const bp = await treeRow(page, breakpointsTree(page), 'checkbox', bpName);
    assert.equal(await bp.getAttribute('aria-checked'), 'true');
    assert.deepEqual(await rowNames(breakpointsTree(page), 'checkbox').then((n) => n.filter((x) => x)), [`boot.S ${target.line}, ${join(ws, 'boot.S')}`]);
    await screenshot(page, 'asm-1-breakpoint-set');

    // 4. The run configuration (no stopOnEntry) stops at the breakpoint.
    if (vmStarting) {
      stepName = 'the adapter in the test VM';
      adapterVm = await vmStarting;
    }
    stepName = 'start the run configuration';
    await runCommand(page, 'Debug: Select and Start Debugging');
    const pick = page.locator('.quick-input-list').getByRole('option', { name: new RegExp(`^${escapeRegExp(RUN_CONFIG)}(,|$)`) }).first();
    await pick.waitFor({ state: 'visible', timeout: LONG });
    await pick.click();
    await debugToolbar(page).waitFor({ state: 'visible', timeout: LONG });

    stepName = 'stopped at the breakpoint';
    await showRunAndDebug(page);
    const frameAt = new RegExp(`^Stack Frame \\S+, line ${target.line}, boot\\.S$`);
    await treeRow(page, callStack(page), 'row', frameAt, 120_000);
    const frames = (await rowNames(callStack(page), 'row')).filter((n) => n.startsWith('Stack Frame '));
    t.diagnostic(`Call Stack: ${JSON.stringify(frames)}`);
    assert.match(frames[0] ?? '', frameAt, 'the top frame is not boot.S at the breakpoint\'s line');
    await treeRow(page, variables(page), 'treeitem', new RegExp(`^rip, value ${rip}$`));
    // Why it stopped, as the Call Stack's header says it (one thread: no thread row).
    const header = page.locator('.pane-header').filter({ hasText: /Call Stack/ }).first();
    await waitUntil('the Call Stack header to say why it paused', async () => /Paused on breakpoint/.test(await header.innerText()), LONG);
    // The guest ran through real and protected mode (their lines in the serial terminal) and
    // stopped before its long-mode line.
    await waitUntil('the protected-mode line in the serial terminal', async () => /kvmdbg example: protected mode/.test(await terminalText(page)), LONG);
    const serial = await terminalText(page);
    assert.match(serial, /kvmdbg example: real mode[\s\S]*kvmdbg example: protected mode/);
    assert.doesNotMatch(serial, /long mode/, 'the guest printed its long-mode line: it ran past the breakpoint');
    // Verified by the adapter: the plain breakpoint icon, not the grey unverified one.
    const row = await treeRow(page, breakpointsTree(page), 'checkbox', bpName);
    const icon = await row.locator('.codicon[class*="codicon-debug-breakpoint"]').first().getAttribute('class');
    t.diagnostic(`the breakpoint's icon: ${icon}`);
    assert.ok(icon?.split(/\s+/).includes('codicon-debug-breakpoint'), `the breakpoint is not shown verified: ${icon}`);
    assert.ok(!/unverified/.test(icon ?? ''), `the breakpoint is unverified: ${icon}`);
    await screenshot(page, 'asm-2-stopped');

    // 5. Stop.
    stepName = 'stop';
    await toolbarButton(page, 'Stop').click();
    await debugToolbar(page).waitFor({ state: 'hidden', timeout: LONG });
  } catch (e) {
    if (vs) await dumpFailure(vs, `asm-breakpoint-${stepName}`, t);
    throw e;
  } finally {
    await vs?.stop();
    if (!adapterVm && vmStarting) adapterVm = await vmStarting.catch(() => undefined);
    await adapterVm?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
});
