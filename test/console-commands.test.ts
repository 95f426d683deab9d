// Debug-console commands (src/debugger/console-commands.ts) on real guests: every answer is checked
// against the same state read another way (sregs, raw table bytes, the page walker, MSRs,
// /proc/cpuinfo, the disassembler).
import './support/needs-kvm.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Machine } from '../src/vmm/machine.js';
import { walk } from '../src/x86/pagewalk.js';
import { runConsoleCommand, type ConsoleSettings } from '../src/debugger/console-commands.js';
import { machineContext, type EvalContext } from '../src/debugger/evaluate.js';
import { BUILD_DIR, buildBootSector, buildFlat32, buildFlat64 } from './guests/build.js';
import { FLAT64, withMachine } from './support/machine.js';
import { throwsMsg } from './support/guest-errors.js';

mkdirSync(join(BUILD_DIR, 'console'), { recursive: true });

interface Guest {
  m: Machine;
  syms: Record<string, bigint>;
  ctx: EvalContext;
  settings: ConsoleSettings;
  run: (line: string) => string;
}

function context(m: Machine, syms: Record<string, bigint>, extra: Partial<EvalContext> = {}): EvalContext {
  const names = new Map(Object.entries(syms).map(([n, a]) => [a, n]));
  return machineContext(m, 0, {
    functionAddress: (n) => (syms[n] !== undefined ? { address: syms[n] } : undefined),
    symbolize: (a) => names.get(a),
  }, extra);
}

function guest(m: Machine, syms: Record<string, bigint>): Guest {
  const g: Guest = {
    m, syms, ctx: context(m, syms), settings: { syntax: 'att' },
    run: (line) => {
      const out = runConsoleCommand(line, m, 0, g.ctx, g.settings);
      assert.ok(out !== undefined, `"${line}" is a command`);
      return out;
    },
  };
  return g;
}

/** The 64-bit console guest, stopped at `ready` (own GDT, TSS and IDT loaded). */
async function withGuest64(f: (g: Guest) => Promise<void> | void): Promise<void> {
  const { bin, syms } = buildFlat64('console/console64');
  const m = new Machine({ image: bin, ...FLAT64, serial: () => {} });
  await withMachine(m, async () => {
    const id = m.addSoftwareBreakpoint(syms.ready);
    assert.deepEqual(await m.run(), { kind: 'breakpoint', vcpu: 0, address: syms.ready, id });
    m.removeBreakpoint(id);
    await f(guest(m, syms));
  });
}

const hex = (v: bigint | number, w = 0) => '0x' + v.toString(16).padStart(w, '0');

test('help lists every command; other lines are expressions', async () => {
  await withGuest64((g) => {
    const help = g.run('help');
    for (const c of ['info registers', 'info gdt', 'info idt', 'info tss', 'info mode', 'info tlb', 'info cpuid', 'info msr', 'x/NFU', 'xp/NFU', 'print', 'set var', 'help']) {
      assert.ok(help.includes(c), `help mentions ${c}`);
    }
    assert.match(g.run('info'), /^ {2}info registers/);
    for (const e of ['1 + 1', '$rax', 'rip', 'x+1', 'xyz', '*(int *)0x1000', 'phys:0x1000']) {
      assert.equal(runConsoleCommand(e, g.m, 0, g.ctx), undefined, e);
    }
    // A guest variable named like a command stays a variable where the line is an expression.
    const x = { type: { kind: 'base', name: 'int', size: 4, encoding: 'signed' } as const, location: { kind: 'value', value: 8n } as const };
    const ctx = { ...g.ctx, variable: (n: string) => (n === 'x' || n === 'i' ? x : undefined) };
    for (const e of ['x', 'x / 2', 'x/2', 'i', 'i + 1']) assert.equal(runConsoleCommand(e, g.m, 0, ctx), undefined, e);
    assert.match(runConsoleCommand('x/1xg $rsp', g.m, 0, ctx)!, /^0x6ff0:\t0x0000000000000042$/, 'x/1xg cannot be a division');
    assert.match(runConsoleCommand('-exec x/1xg $rsp', g.m, 0, ctx)!, /^0x6ff0:/);
    assert.match(runConsoleCommand('-exec i r rip', g.m, 0, ctx)!, /^rip /);
    throwsMsg(() => runConsoleCommand('-exec frobnicate', g.m, 0, ctx), /unknown command "frobnicate"/);
    throwsMsg(() => g.run('info frobnicate'), /unknown info command "frobnicate"/);
  });
});

test('info registers: gdb layout, values as the vCPU has them', async () => {
  await withGuest64((g) => {
    const r = g.m.getRegs();
    const s = g.m.getSregs();
    const out = g.run('info registers');
    const rows = new Map(out.split('\n').map((l) => [l.slice(0, 15).trim(), [l.slice(15, 34).trim(), l.slice(34)]]));
    for (const n of ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r15'] as const) {
      assert.equal(rows.get(n)?.[0], hex(r[n]), n);
    }
    assert.equal(rows.get('rip')?.[0], hex(r.rip));
    assert.equal(rows.get('rip')?.[1], `${hex(r.rip)} <ready>`);
    assert.equal(rows.get('rbx')?.[1], String(BigInt.asIntN(64, r.rbx)));
    assert.equal(rows.get('eflags')?.[0], hex(r.rflags));
    for (const n of ['cs', 'ds', 'ss', 'es', 'fs', 'gs'] as const) assert.equal(rows.get(n)?.[0], hex(s[n].selector), n);
    assert.equal(rows.get('cr0')?.[0], hex(s.cr0));
    assert.equal(rows.get('cr0')?.[1], '[ PG WP NE ET MP PE ]');
    assert.equal(rows.get('cr3')?.[0], hex(s.cr3));
    assert.equal(rows.get('cr4')?.[0], hex(s.cr4));
    assert.equal(rows.get('efer')?.[0], hex(s.efer));
    assert.equal(rows.get('efer')?.[1], '[ LMA LME ]');
    assert.equal(rows.get('gdtr')?.[0], hex(s.gdt.base));
    assert.equal(rows.get('tr')?.[0], hex(s.tr.selector));
    assert.equal(s.cs.selector, 0x08);
    assert.equal(s.tr.selector, 0x18);
    // a few, by name (with or without $), including parts the evaluator derives
    const some = g.run('info registers rip $eax bl dr7').split('\n');
    assert.equal(some.length, 4);
    assert.match(some[0], new RegExp(`^rip {12}${hex(r.rip)} +${hex(r.rip)} <ready>$`));
    assert.match(some[1], new RegExp(`^eax {12}${hex(r.rax & 0xffffffffn)} +${BigInt.asIntN(32, r.rax)}$`));
    assert.match(some[2], new RegExp(`^bl {13}${hex(r.rbx & 0xffn)} +`));
    assert.match(some[3], new RegExp(`^dr7 {12}${hex(g.m.vcpu(0).getDebugRegs().dr7)} `));
    assert.equal(g.run('i r rip'), some[0]);
    throwsMsg(() => g.run('info registers nosuch'), /invalid register "nosuch"/);
  });
});

test('info gdt: every descriptor, raw bytes as in guest memory', async () => {
  await withGuest64((g) => {
    const s = g.m.getSregs();
    assert.equal(s.gdt.base, g.syms.gdt);
    const bytes = g.m.readLinear(0, s.gdt.base, s.gdt.limit + 1);
    const out = g.run('info gdt').split('\n');
    assert.equal(out[0], `GDTR base=${hex(s.gdt.base)} limit=${hex(s.gdt.limit)} (5 slots)`);
    const entries = out.slice(1).map((l) => /^GDT\[(\d+)\] +(.*) {2}\((0x[0-9a-f]{16})(?: (0x[0-9a-f]{16}))?\)$/.exec(l)!);
    assert.ok(entries.every(Boolean), out.join('\n'));
    assert.deepEqual(entries.map((e) => Number(e[1])), [0, 1, 2, 3], 'the TSS takes two slots');
    for (const e of entries) {
      const i = Number(e[1]);
      assert.equal(BigInt(e[3]), bytes.readBigUInt64LE(i * 8), `GDT[${i}] low quadword`);
      if (e[4]) assert.equal(BigInt(e[4]), bytes.readBigUInt64LE(i * 8 + 8), `GDT[${i}] high quadword`);
    }
    assert.match(entries[1][2], /^0x0008 code 64-bit execute\/read accessed .*DPL0 P$/);
    assert.match(entries[2][2], /^0x0010 data read\/write accessed base=0x0 limit=0xffffffff DPL0 P$/);
    assert.equal(entries[3][2], `0x0018 64-bit TSS (busy) base=${hex(g.syms.tss)} limit=0x67 DPL0 P`);
    assert.deepEqual(g.run('info gdt 1 2').split('\n').slice(1).map((l) => l.slice(0, 6)), ['GDT[1]', 'GDT[2]']);
    assert.equal(g.run('info gdt 3').split('\n').length, 2);
  });
});

test('info idt: the gates the guest set, raw bytes as in guest memory', async () => {
  await withGuest64((g) => {
    const s = g.m.getSregs();
    assert.equal(s.idt.base, g.syms.idt);
    const out = g.run('info idt').split('\n');
    assert.equal(out[0], `IDTR base=${hex(s.idt.base)} limit=0xfff (256 64-bit gates)`);
    assert.equal(out.length, 4);
    assert.equal(out[3], '(254 empty entries not shown)');
    const h = hex(g.syms.handler);
    assert.match(out[1], new RegExp(`^0x03 #BP Breakpoint 64-bit interrupt gate 0x0008:${h} DPL0 P {2}\\(0x[0-9a-f]{32}\\)$`));
    assert.match(out[2], new RegExp(`^0x0e #PF Page Fault 64-bit trap gate 0x0008:${h} DPL0 P IST1 {2}\\(0x[0-9a-f]{32}\\)$`));
    for (const [line, vector] of [[out[1], 3], [out[2], 14]] as const) {
      const raw = /\((0x[0-9a-f]{32})\)$/.exec(line)![1];
      const b = g.m.readLinear(0, s.idt.base + BigInt(vector * 16), 16);
      assert.equal(raw, hex(b.readBigUInt64LE(8), 16) + b.readBigUInt64LE(0).toString(16).padStart(16, '0'), `vector ${vector}`);
    }
    // an explicit range shows empty gates too
    const some = g.run('info idt 2 4').split('\n').slice(1);
    assert.deepEqual(some.map((l) => l.slice(0, 4)), ['0x02', '0x03', '0x04']);
    assert.match(some[0], /^0x02 NMI Non-maskable Interrupt empty {2}\(0x0{32}\)$/);
    assert.equal(g.run('info idt 14').split('\n')[1], out[2]);
  });
});

test('info tss: the 64-bit TSS TR points at', async () => {
  await withGuest64((g) => {
    const tr = g.m.getSregs().tr;
    assert.equal(tr.base, g.syms.tss);
    const out = g.run('info tss').split('\n');
    assert.equal(out[0], `TR 0x0018 base=${hex(tr.base)} limit=0x67 64-bit TSS (busy)`);
    assert.equal(out[1], '64-bit TSS:');
    const fields = new Map(out.slice(2).map((l) => l.trim().split(/\s+/) as [string, string]));
    const b = g.m.readLinear(0, tr.base, 0x68);
    assert.equal(BigInt(fields.get('rsp0')!), b.readBigUInt64LE(4));
    assert.equal(fields.get('rsp0'), '0x0000000000009000');
    assert.equal(BigInt(fields.get('ist1')!), b.readBigUInt64LE(0x24));
    assert.equal(fields.get('ist1'), '0x000000000000a000');
    assert.equal(fields.get('ist7'), '0x0000000000000000');
    assert.equal(fields.get('ioMapBase'), hex(b.readUInt16LE(0x66), 4));
  });
});

test('info mode', async () => {
  await withGuest64((g) => {
    const s = g.m.getSregs();
    const out = g.run('info mode').split('\n');
    assert.equal(out[0], 'mode:   long mode (64-bit)');
    assert.equal(out[1], 'CPL:    0');
    assert.equal(out[2], 'paging: 4-level');
    assert.equal(out[3], `CR0:    ${hex(s.cr0)} [ PG WP NE ET MP PE ]`);
    assert.equal(out[4], `CR4:    ${hex(s.cr4)} [ OSXMMEXCPT OSFXSR PAE ]`);
    assert.equal(out[5], `EFER:   ${hex(s.efer)} [ LMA LME ]`);
    assert.match(out[6], new RegExp(`^RFLAGS: ${hex(g.m.getRegs().rflags)} \\[`));
  });
});

test('info tlb: each level of the walk, the entries as in memory, the physical address', async () => {
  await withGuest64((g) => {
    const regs = g.m.pagingRegs(0);
    for (const expr of ['$rip', 'tss', '0x3ff000', '$rsp']) {
      const out = g.run(`info tlb ${expr}`).split('\n');
      const lin = BigInt(/^linear (0x[0-9a-f]+), 4-level paging \(CR3 0x1000\)$/.exec(out[0])![1]);
      const w = walk(g.m.vm.memory, regs, lin);
      assert.ok(w.ok);
      assert.equal(out.length, w.t.levels.length + 2);
      w.t.levels.forEach((l, i) => {
        const m = /^ {2}(\w+)\[(\d+)\] +at (0x[0-9a-f]+) = (0x[0-9a-f]{16}) \[ (.*) \]$/.exec(out[i + 1]);
        assert.ok(m, out[i + 1]);
        assert.deepEqual([m[1], Number(m[2]), Number(m[3])], [l.name, l.index, l.entryAddress]);
        assert.equal(BigInt(m[4]), g.m.readPhysical(l.entryAddress, 8).readBigUInt64LE(), `${l.name} as in memory`);
        assert.deepEqual(m[5].split(' '), l.flags);
      });
      assert.match(out[out.length - 1], new RegExp(`^physical ${hex(g.m.linearToPhysical(0, lin)!)} \\(2 MiB page at 0x[0-9a-f]+, writable, supervisor, executable\\)$`));
    }
    assert.equal(g.run('info tlb $rip').split('\n')[0], `linear ${hex(g.m.getRegs().rip)}, 4-level paging (CR3 0x1000)`);
    const miss = g.run('info tlb 0x100000000000').split('\n');
    const w = walk(g.m.vm.memory, regs, 0x100000000000n);
    assert.ok(!w.ok);
    assert.equal(miss[miss.length - 1], `not mapped: ${w.reason}`);
    assert.match(miss[1], /^ {2}PML4E\[32\] +at 0x1100 = 0x0{16} \[ \]$/);
    assert.match(g.run('info tlb 0x800000000000'), /not mapped: 0x800000000000 is non-canonical/);
    throwsMsg(() => g.run('info tlb'), /needs a linear address/);
  });
});

test('x/NFU: gdb formats and units over linear memory', async () => {
  await withGuest64((g) => {
    const rsp = g.m.getRegs().rsp;
    const stack = g.m.readLinear(0, rsp, 32);
    const q = (i: number) => hex(stack.readBigUInt64LE(i * 8), 16);
    assert.equal(g.run('x/4xg $rsp'), `${hex(rsp)}:\t${q(0)}\t${q(1)}\n${hex(rsp + 16n)}:\t${q(2)}\t${q(3)}`);
    assert.equal(q(0), '0x0000000000000042');
    assert.equal(q(1), '0x1122334455667788');
    assert.equal(g.run('x/2xw $rsp + 8'), `${hex(rsp + 8n)}:\t0x55667788\t0x11223344`);
    assert.equal(g.run('x/4dw $rsp'), `${hex(rsp)}:\t66\t0\t${0x55667788}\t${0x11223344}`);
    assert.equal(g.run('x/2dh $rsp + 8'), `${hex(rsp + 8n)}:\t${0x7788}\t${0x5566}`);
    assert.equal(g.run('x/2a $rsp'), `${hex(rsp)}:\t0x42\t0x1122334455667788`);
    assert.equal(g.run('x/1ub $rsp + 15'), `${hex(rsp + 15n)}:\t17`);
    assert.equal(g.run('x/1ob $rsp'), `${hex(rsp)}:\t0102`);
    assert.equal(g.run('x/1tb $rsp'), `${hex(rsp)}:\t01000010`);
    assert.equal(g.run('x $rsp'), `${hex(rsp)}:\t0x00000042`, 'x alone: one word in hex');
    const t = hex(g.syms.text);
    assert.equal(g.run('x/4c text'), `${t} <text>:\t99 'c'\t111 'o'\t110 'n'\t115 's'`);
    assert.equal(g.run('x/2s text'), `${t} <text>:\t"console"\n${hex(g.syms.text + 8n)}:\t"two"`);
    const code = g.m.readLinear(0, 0x100000n, 16);
    assert.equal(g.run('x/16xb _start'), [0, 8].map((o) =>
      `${hex(0x100000 + o)}${o ? '' : ' <_start>'}:\t${[...code.subarray(o, o + 8)].map((b) => hex(b, 2)).join('\t')}`).join('\n'));
    // instructions: the current one is marked
    const ins = g.run('x/4i $rip').split('\n');
    assert.equal(ins[0], `=> ${hex(g.syms.ready)} <ready>:\tnop`);
    assert.equal(ins[1], `   ${hex(g.syms.ready + 1n)}:\tmov    $0x11,%al`);
    assert.equal(ins[3], `   ${hex(g.syms.ready + 5n)}:\thlt`);
    assert.match(g.run('x/1i handler'), /^ {3}0x[0-9a-f]+ <handler>:\tiretq$/);
    // gdb's disassembly-flavor: Intel for the rest of the session, and back
    assert.match(g.run('set disassembly-flavor intel'), /Intel syntax/);
    assert.equal(g.settings.syntax, 'intel');
    assert.equal(g.run('x/2i $rip').split('\n')[1], `   ${hex(g.syms.ready + 1n)}:\tmov    al,0x11`);
    assert.match(g.run('x/1i handler'), /<handler>:\tiretq$/);
    throwsMsg(() => g.run('set disassembly-flavor nasm'), /needs intel or att/);
    assert.equal(g.settings.syntax, 'intel');
    g.run('set disassembly-flavor att');
    assert.equal(g.run('x/2i $rip').split('\n')[1], `   ${hex(g.syms.ready + 1n)}:\tmov    $0x11,%al`);
    // where memory ends
    assert.equal(g.run('x/2xg 0x800000000000'), '0x800000000000:\tCannot access memory at address 0x800000000000');
    throwsMsg(() => g.run('x/4q $rsp'), /invalid format letter "q"/);
    throwsMsg(() => g.run('x/4xg'), /x needs an address/);
    throwsMsg(() => g.run('x/0xg $rsp'), /count must be between 1 and 4096/);
    throwsMsg(() => g.run('x/4xg nosuch'), /no symbol "nosuch" in the current context/);
  });
});

test('xp/NFU: physical memory, Bochs style', async () => {
  await withGuest64((g) => {
    g.m.writePhysical(0x7c00, Buffer.from([0xfa, 0x31, 0xc0, 0x8e, 0xd8, 0x8e, 0xc0, 0x55, 0xaa]));
    const b = g.m.readPhysical(0x7c00, 8);
    assert.equal(g.run('xp/8xb 0x7c00'), `0x7c00:\t${[...b].map((x) => hex(x, 2)).join('\t')}`);
    assert.equal(g.run('xp/2xw 0x7c00'), `0x7c00:\t${hex(b.readUInt32LE(0), 8)}\t${hex(b.readUInt32LE(4), 8)}`);
    const code = g.m.readPhysical(Number(g.syms._start), 8);
    assert.equal(g.run('xp/1xg 0x100000'), `0x100000 <_start>:\t${hex(code.readBigUInt64LE(), 16)}`);
    assert.equal(g.run('xp/1i $rip'), `=> ${hex(g.syms.ready)} <ready>:\tnop`, 'identity-mapped: physical = linear here');
    assert.match(g.run('xp/1xg 0x7fffffff000'), /^0x7fffffff000:\tCannot access memory at address 0x7fffffff000$/);
  });
});

test('info msr and info cpuid', async () => {
  await withGuest64((g) => {
    const efer = g.m.getSregs().efer;
    assert.equal(g.run('info msr 0xc0000080'), `MSR 0xc0000080 (IA32_EFER) = ${hex(efer, 16)} [ LMA LME ]`);
    assert.equal(g.run('info msr 0xc0000000 + 0x80'), g.run('info msr 0xc0000080'));
    g.m.vcpu(0).setMsrs(new Map([[0xc0000102, 0xffff800000001000n]]));
    assert.equal(g.run('info msr 0xc0000102'), 'MSR 0xc0000102 (KERNEL_GS_BASE) = 0xffff800000001000');
    throwsMsg(() => g.run('info msr 0x12345678'), /^MSR 0x12345678 cannot be read/);
    throwsMsg(() => g.run('info msr'), /needs an MSR number/);

    const out = g.run('info cpuid').split('\n');
    assert.match(out[0], /^CPUID of vCPU 0, as KVM set it \(\d+ leaves\):$/);
    const rows = out.slice(2).map((l) => l.trim().split(/\s+/));
    assert.equal(rows.length, Number(/\((\d+) leaves\)/.exec(out[0])![1]));
    const leaf0 = rows.find((r) => r[0] === '0x00000000')!;
    const [eax, ebx, ecx, edx] = leaf0.slice(2, 6).map((x) => Number(x));
    assert.ok(eax > 0, 'leaf 0 reports a highest standard leaf');
    const vendor = Buffer.alloc(12);
    vendor.writeUInt32LE(ebx, 0);
    vendor.writeUInt32LE(edx, 4);
    vendor.writeUInt32LE(ecx, 8);
    const host = /^vendor_id\s*:\s*(\S+)/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))![1];
    assert.equal(vendor.toString('latin1'), host);
    assert.equal(leaf0[6], `"${host}"`);
    // leaf 1 EBX[31:24]: this vCPU's initial APIC ID
    const leaf1 = rows.find((r) => r[0] === '0x00000001')!;
    assert.equal(Number(leaf1[3]) >>> 24, 0);
  });
});

test('print and set', async () => {
  await withGuest64((g) => {
    const r = g.m.getRegs();
    assert.equal(g.run('p/x $rbx'), hex(r.rbx));
    assert.equal(g.run('print $rsp'), `(void *) ${hex(r.rsp)}`);
    assert.equal(g.run('p *(uint64_t *)($rsp + 8)'), String(0x1122334455667788n));
    assert.equal(g.run('p/d (uint8_t)0xff'), '-1');
    assert.equal(g.run('p/u (int8_t)-1'), '255');
    assert.equal(g.run('p/o 8'), '010');
    assert.equal(g.run('p/t 5'), '101');
    assert.equal(g.run('p/c 65'), "65 'A'");
    assert.equal(g.run('set var $rcx = 5'), '5');
    assert.equal(g.m.getRegs().rcx, 5n);
    assert.equal(g.run('set *(uint32_t *)$rsp = 0x1234'), String(0x1234));
    assert.equal(g.m.readLinear(0, r.rsp, 4).readUInt32LE(), 0x1234);
    assert.equal(g.run('set (uint8_t)phys:0x7c00 = 0x90'), "144 '\\220'");
    assert.equal(g.m.readPhysical(0x7c00, 1)[0], 0x90);
    throwsMsg(() => g.run('set var $rcx'), /needs an assignment/);
    throwsMsg(() => g.run('p/q 1'), /bad format/);
    throwsMsg(() => g.run('print'), /needs an expression/);
    // the guest still finishes
  });
});

test('real mode: IVT, mode, no TSS, 16-bit disassembly, paging off', async () => {
  const m = new Machine({ image: buildBootSector('hello-boot'), serial: () => {} });
  await withMachine(m, async () => {
    const g = guest(m, {});
    assert.match(g.run('info mode'), /^mode: {3}real mode\nCPL: {4}0\npaging: none\n/);
    const ivt = g.run('info idt 0 1').split('\n');
    assert.equal(ivt[0], 'IDTR base=0x0 limit=0x3ff (256 real-mode vectors)');
    const raw = m.readPhysical(0, 8);
    assert.match(ivt[1], new RegExp(`^0x00 #DE Divide Error real-mode vector .* \\(${hex(raw.readUInt32LE(0), 8)}\\)$`));
    assert.match(ivt[2], new RegExp(`^0x01 #DB Debug real-mode vector .* \\(${hex(raw.readUInt32LE(4), 8)}\\)$`));
    assert.match(g.run('info tss'), /the guest has not loaded a task register/);
    assert.equal(g.run('x/1i $rip'), '=> 0x7c00:\tcli');
    assert.equal(g.run('info tlb 0x7c00'), 'linear 0x7c00: paging is off, physical 0x7c00');
    assert.equal(g.ctx.pointerSize, 4);
  });
});

test('32-bit protected mode: 32-bit TSS and gates, 32-bit pointers', async () => {
  const { bin, syms } = buildFlat32('console/console32');
  const m = new Machine({ image: bin, format: 'flat', loadAddress: 0x100000, mode: 'protected', serial: () => {} });
  await withMachine(m, async () => {
    m.addSoftwareBreakpoint(syms.ready);
    assert.equal((await m.run()).kind, 'breakpoint');
    const g = guest(m, syms);
    assert.equal(g.ctx.pointerSize, 4);
    assert.match(g.run('info mode'), /^mode: {3}protected mode \(32-bit\)\nCPL: {4}0\npaging: none\n/);
    const tss = g.run('info tss').split('\n');
    assert.equal(tss[0], `TR 0x0018 base=${hex(syms.tss)} limit=0x67 32-bit TSS (busy)`);
    assert.equal(tss[1], '32-bit TSS:');
    const fields = new Map(tss.slice(2).map((l) => l.trim().split(/\s+/) as [string, string]));
    assert.equal(fields.get('esp0'), '0x00009000');
    assert.equal(fields.get('ss0'), '0x0010');
    assert.equal(fields.get('ioMapBase'), '0x0068');
    const gate = g.run('info idt 13').split('\n');
    assert.equal(gate[0], `IDTR base=${hex(syms.idt)} limit=0x7ff (256 32-bit gates)`);
    const b = m.readLinear(0, syms.idt + 13n * 8n, 8);
    assert.equal(gate[1], `0x0d #GP General Protection 32-bit interrupt gate 0x0008:${hex(syms.handler)} DPL0 P  (${hex(b.readBigUInt64LE(), 16)})`);
    const gdt = g.run('info gdt').split('\n');
    assert.equal(gdt.length, 5, 'a 32-bit TSS descriptor takes one slot');
    assert.match(gdt[4], new RegExp(`^GDT\\[3\\] +0x0018 32-bit TSS \\(busy\\) base=${hex(syms.tss)} limit=0x67 DPL0 P`));
    const esp = m.getRegs().rsp;
    const st = m.readLinear(0, esp, 8);
    assert.equal(g.run('x/2xw $esp'), `${hex(esp)}:\t${hex(st.readUInt32LE(0), 8)}\t${hex(st.readUInt32LE(4), 8)}`);
    assert.equal(g.run('x/2a $esp'), `${hex(esp)}:\t0x55\t0x11223344`);
    assert.equal(g.run('x/1i $eip'), `=> ${hex(syms.ready)} <ready>:\tnop`);
    assert.equal(g.run('p sizeof(long) + sizeof(void *)'), '8');
    assert.equal(g.run('p $esp'), `(void *) ${hex(esp)}`);
    assert.equal(g.run('info tlb $esp'), `linear ${hex(esp)}: paging is off, physical ${hex(esp)}`);
    assert.equal((await m.run()).kind, 'exit');
  });
});
