// The KASLR slide from a kernel's IDT (src/debugger/kernel-slide.ts) on a hand-made IDT, and a
// System.map without an offset in DebugInfo and the breakpoint table: at its link addresses until
// the slide is known, then moved by it, and back to them for a restarted kernel.
// test/dap-linux.test.ts finds the slide of a real KASLR boot.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { kernelSlide, slideAtEntry } from '../src/debugger/kernel-slide.js';
import { DebugInfo } from '../src/debugger/debug-info.js';
import { Breakpoints } from '../src/debugger/breakpoints.js';
import { EFER_LMA } from '../src/x86/registers.js';
import type { Machine } from '../src/vmm/machine.js';

const LINKED: Record<string, bigint> = {
  asm_exc_divide_error: 0xffffffff81a00ab0n, asm_exc_int3: 0xffffffff81a01330n, asm_exc_page_fault: 0xffffffff81a01540n,
};
const MAP = Object.entries(LINKED).map(([n, a]) => `${a.toString(16)} T ${n}`).concat('ffffffff81234560 T __x64_sys_newuname').join('\n') + '\n';
const IDT_BASE = 0xfffffe0000000000n;
const SLIDE = 0x2c600000n;

/** A 64-bit interrupt gate to `offset` (present, DPL 0, selector 0x10). */
function gate(offset: bigint): Buffer {
  const b = Buffer.alloc(16);
  const lo = (offset & 0xffffn) | (0x10n << 16n) | (0x8en << 40n) | (((offset >> 16n) & 0xffffn) << 48n);
  b.writeBigUInt64LE(lo, 0);
  b.writeBigUInt64LE(offset >> 32n, 8);
  return b;
}

/** A vCPU in long mode (or not) whose IDT holds `handlers` by vector. */
function machine(handlers: Map<number, bigint>, long = true): Machine {
  const idt = Buffer.alloc(256 * 16);
  for (const [v, a] of handlers) gate(a).copy(idt, v * 16);
  return {
    getSregs: () => ({ efer: long ? EFER_LMA : 0n, idt: { base: IDT_BASE, limit: idt.length - 1 } }),
    readLinear: (_v: number, a: bigint, n: number) => idt.subarray(Number(a - IDT_BASE), Number(a - IDT_BASE) + n),
  } as unknown as Machine;
}

test('the slide is a kernel exception gate\'s handler minus the map\'s address of it, where the gates agree', () => {
  const linked = (n: string) => LINKED[n];
  const kernel = new Map([[0, LINKED.asm_exc_divide_error + SLIDE], [3, LINKED.asm_exc_int3 + SLIDE], [14, LINKED.asm_exc_page_fault + SLIDE]]);
  assert.equal(kernelSlide(machine(kernel), 0, linked), SLIDE);
  assert.equal(kernelSlide(machine(new Map([...kernel].map(([v, a]) => [v, a - SLIDE]))), 0, linked), 0n, 'nokaslr: 0');
  // The early boot's IDT: every vector at early_idt_handler_array + 9 * vector. No answer.
  const early = 0xffffffff83000000n + SLIDE;
  assert.equal(kernelSlide(machine(new Map([0, 3, 14].map((v) => [v, early + BigInt(9 * v)]))), 0, linked), undefined);
  assert.equal(kernelSlide(machine(new Map()), 0, linked), undefined, 'no gates yet');
  // setup_arch's early traps (int3, page fault) before trap_init: two agree already.
  assert.equal(kernelSlide(machine(new Map([...kernel].filter(([v]) => v !== 0))), 0, linked), SLIDE);
  assert.equal(kernelSlide(machine(new Map([...kernel].filter(([v]) => v === 3))), 0, linked), undefined, 'one gate is not enough');
  assert.equal(kernelSlide(machine(kernel, false), 0, linked), undefined, 'not long mode');
  assert.equal(kernelSlide(machine(kernel), 0, () => undefined), undefined, 'a map without the handlers');
});

let dir = '';
before(() => (dir = mkdtempSync(join(tmpdir(), 'kvmdbg-slide-'))));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a System.map without an offset: link addresses, then the slide; breakpoints on it move with it, and back on a restart', () => {
  const map = join(dir, 'System.map');
  writeFileSync(map, MAP);
  const program = join(dir, 'bzImage');
  writeFileSync(program, Buffer.alloc(1024));
  const info = new DebugInfo(program, [{ path: map }]);
  assert.equal(info.needsKernelSlide, true);
  assert.equal(info.functionAddress('__x64_sys_newuname')!.address, 0xffffffff81234560n);
  assert.equal(info.linkedKernelSymbol('asm_exc_int3'), LINKED.asm_exc_int3);
  const bps = new Breakpoints(() => info);
  const [before] = bps.setFunctions([{ name: '__x64_sys_newuname' }]);
  assert.equal(before.instructionReference, '0xffffffff81234560');
  assert.match(before.message!, /until the running kernel's KASLR slide is known/);

  const moves = info.setKernelSlide(SLIDE);
  assert.equal(info.needsKernelSlide, false);
  assert.equal(info.symbolize(0xffffffff81234564n + SLIDE), '__x64_sys_newuname+0x4');
  const [moved] = bps.symbolsMoved(moves);
  assert.equal(moved.id, before.id);
  assert.equal(BigInt(moved.instructionReference!), 0xffffffff81234560n + SLIDE);
  assert.equal(moved.message, undefined);
  assert.deepEqual(info.setKernelSlide(SLIDE), [], 'nothing moves twice');
  assert.deepEqual(bps.symbolsMoved([]), []);

  const back = info.forgetKernelSlide() ?? assert.fail('a restart moves the map back');
  assert.equal(info.needsKernelSlide, true);
  assert.equal(bps.symbolsMoved(back)[0].instructionReference, '0xffffffff81234560');
  // An explicit offset is the user's: nothing waits for a slide.
  assert.equal(new DebugInfo(program, [{ path: map, offset: 0n }]).needsKernelSlide, false);
});

test('the slide from the kernel-entry stop: the distance from the linked _text, in 2 MiB steps, inside the linked text', () => {
  const linked = (n: string) => ({ _text: 0xffffffff81000000n, _etext: 0xffffffff81e01d32n } as Record<string, bigint>)[n];
  // Debian 6.1's secondary_startup_64 is _text + 0x70; its GS-base wrmsr a little further.
  assert.equal(slideAtEntry(0xffffffff81000000n + SLIDE + 0x9dn, linked), SLIDE);
  assert.equal(slideAtEntry(0xffffffff8100009dn, linked), 0n, 'nokaslr');
  assert.equal(slideAtEntry(0xffffffff80f00000n, linked), undefined, 'below _text');
  assert.equal(slideAtEntry(0xffffffff81000000n + 0x1000000n, (n) => (n === '_text' ? 0xffffffff81000000n : n === '_etext' ? 0xffffffff81000100n : undefined)), 0x1000000n);
  assert.equal(slideAtEntry(0xffffffff81000000n, () => undefined), undefined, 'symbols without _text');
});

test('an ELF vmlinux without an offset: symbols, lines, locals and globals at link addresses, then moved by the slide, source and function breakpoints with them, and back on a restart', () => {
  // A kernel-like program: linked in the kernel map, with _text, _etext and _end, a start_kernel
  // with a local, and a global, compiled with DWARF. It never runs: DebugInfo reads it.
  const src = join(dir, 'main.c');
  writeFileSync(src, 'long jiffies;\nvoid start_kernel(void)\n{\n  long local = 3;\n  jiffies += local;\n}\n');
  const script = join(dir, 'vmlinux.ld');
  writeFileSync(script, 'SECTIONS {\n  . = 0xffffffff81000000;\n  _text = .;\n  .text : { *(.text*) }\n  _etext = .;\n  .data : { *(.data*) *(.bss*) }\n  _end = .;\n}\n');
  const elf = join(dir, 'vmlinux');
  execFileSync('gcc', ['-g', '-O0', '-mcmodel=kernel', '-fno-pic', '-ffreestanding', '-nostdlib', '-static', '-e', 'start_kernel', `-Wl,-T,${script}`, src, '-o', elf]);
  const program = join(dir, 'bzImage');
  writeFileSync(program, Buffer.alloc(1024));
  assert.equal(new DebugInfo(program, [{ path: elf, offset: 0n }]).needsKernelSlide, false, 'an explicit offset is the user\'s');
  const info = new DebugInfo(program, [{ path: elf }]);
  assert.equal(info.needsKernelSlide, true);
  const start = info.functionAddress('start_kernel')!.address;
  assert.ok(start >= 0xffffffff81000000n && start < 0xffffffff81001000n, `at its link address: 0x${start.toString(16)}`);

  const bps = new Breakpoints(() => info);
  const [line] = bps.setSource(src, [{ line: 5 }]);
  const [fn] = bps.setFunctions([{ name: 'start_kernel' }]);
  const lineAt = BigInt(line.instructionReference!);
  assert.equal(line.line, 5);
  assert.match(line.message!, /until the running kernel's KASLR slide is known/);
  assert.ok(lineAt > start && lineAt < start + 0x40n, `line 5 at 0x${lineAt.toString(16)}`);
  assert.match(fn.message!, /until the running kernel's KASLR slide is known/);
  const globalAt = () => {
    const loc = info.globalNamed('jiffies')!.locate({ pc: 0n, regs: new Map(), read: () => undefined, bits: 64 });
    return loc.kind === 'memory' ? loc.address : assert.fail(loc.kind);
  };
  const linkedJiffies = globalAt();

  const moves = info.setKernelSlide(SLIDE);
  assert.equal(info.needsKernelSlide, false);
  assert.equal(info.functionAddress('start_kernel')!.address, start + SLIDE);
  assert.equal(info.symbolize(lineAt + SLIDE), `start_kernel+0x${(lineAt - start).toString(16)}`);
  assert.equal(info.lineAt(lineAt + SLIDE)?.line, 5);
  assert.equal(info.lineAt(lineAt), undefined, 'nothing left at the link address');
  assert.deepEqual(info.resolveLine(src, 5)?.addresses, [lineAt + SLIDE]);
  assert.deepEqual(info.localsAt(lineAt + SLIDE).map((v) => v.name), ['local']);
  assert.equal(globalAt(), linkedJiffies + SLIDE);
  const changed = bps.symbolsMoved(moves);
  assert.deepEqual(changed.map((b) => [b.id, BigInt(b.instructionReference!)]).sort((a, b) => Number(a[0]) - Number(b[0])),
    [[line.id, lineAt + SLIDE], [fn.id, BigInt(fn.instructionReference!) + SLIDE]].sort((a, b) => Number(a[0]) - Number(b[0])));
  assert.deepEqual(changed.map((b) => b.message), [undefined, undefined], 'placed for good');
  assert.deepEqual(bps.symbolsMoved([]), [], 'nothing moves twice');

  const back = info.forgetKernelSlide() ?? assert.fail('a restart moves the vmlinux back');
  assert.equal(info.needsKernelSlide, true);
  const waiting = bps.symbolsMoved(back);
  assert.deepEqual(waiting.map((b) => BigInt(b.instructionReference!)).sort(), [lineAt, BigInt(fn.instructionReference!)].sort());
  assert.ok(waiting.every((b) => /until the running kernel's KASLR slide is known/.test(b.message ?? '')), 'waiting again');
  assert.equal(info.lineAt(lineAt)?.line, 5);

  // An ELF that is no kernel (linked where programs are) keeps its addresses.
  const plain = join(dir, 'plain');
  execFileSync('gcc', ['-g', '-O0', '-ffreestanding', '-nostdlib', '-static', '-e', 'start_kernel', src, '-o', plain]);
  assert.equal(new DebugInfo(program, [{ path: plain }]).needsKernelSlide, false);
});
