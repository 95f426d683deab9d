// gdb- and Bochs-style commands for the debug console: `info registers`, `info gdt`, `x/4xg $rsp`,
// `xp/8xb 0x7c00`, ... Everything else typed there is an expression (evaluate.ts).
//
// A line is a command when its first word is one of the commands below, unless that word is also
// a variable or symbol of the guest and the line reads as an expression (`x / 2` with a variable
// x); `-exec LINE` always runs LINE as a command. Addresses and numbers in commands are
// expressions too: `x/4xg $rsp + 16`, `info msr 0xc0000000 + 0x80`, `info tlb &buffer`.
import type { Machine } from '../vmm/machine.js';
import { GuestError, hex } from '../errors.js';
import { RFLAGS, CR0, CR4, EFER, cr3Fields, decodeBits, flagString } from '../x86/bits.js';
import { decodeGdt, decodeIdt, decodeTss, describeSegment, TSS_SIZE } from '../x86/descriptors.js';
import { cpuMode, modeLabel, cpl, codeBitness } from '../x86/modes.js';
import { walk, pagingMode } from '../x86/pagewalk.js';
import { supportedCpuid, cpuidForVcpu, cpuidEntries } from '../vmm/arch/cpuid.js';
import { disassemble, ASM_SYNTAXES, type AsmSyntax } from '../x86/disasm.js';
import {
  evaluate, evaluateAddress, evaluateInteger, isExpression, quote, type EvalContext,
} from './evaluate.js';
import { EFER_LMA, ioplOf } from '../x86/registers.js';
import { HISTORY_HELP } from './history/commands.js';
import { LINUX_HELP } from './linux/commands.js';

const COMMANDS = new Set(['help', 'info', 'i', 'x', 'xp', 'print', 'p', 'set']);

const HELP = `kvmdbg console commands (any other line is evaluated as a C expression):
  info registers [NAME...]   general, segment and control registers (also: i r)
  info gdt [FIRST [LAST]]    the descriptor table GDTR points at, decoded
  info idt [FIRST [LAST]]    the interrupt descriptor table (the IVT in real mode), decoded
  info tss                   the task-state segment TR points at
  info mode                  CPU mode, CPL, paging mode, CR0/CR4/EFER flags
  info tlb ADDR              the page walk for a linear address, level by level
  info cpuid                 the CPUID leaves of this vCPU
  info msr N                 the value of one MSR
  x/NFU ADDR                 examine linear memory, as gdb: N count, F format
                             (x d u o t c a f s i), U unit (b h w g)
  xp/NFU ADDR                the same on guest-physical memory (Bochs)
  print[/F] EXPR, p[/F] EXPR evaluate an expression (F: x d u o t c)
  set var LVALUE = EXPR      assign (also: set $rax = 0)
  set disassembly-flavor F   instructions in intel or att syntax, as gdb
${HISTORY_HELP}
${LINUX_HELP}
  help                       this list
Expressions are C: $rax eax al, *(uint32_t *)0x1000, p->next->val, arr[3], sizeof,
casts, and phys:ADDR (the uint64_t at a physical address; (uint8_t)phys:ADDR for a byte).
When a guest variable has a command's name, write -exec before the command.`;

/** What console commands may change for the rest of the session. */
export interface ConsoleSettings {
  syntax: AsmSyntax;
}

/**
 * Runs one console line. Returns the output (several lines joined by '\n'), or undefined when
 * the line is not a command and should be evaluated as an expression. Throws a GuestError for
 * a bad command.
 */
export function runConsoleCommand(line: string, m: Machine, vcpu: number, evalCtx: EvalContext, settings: ConsoleSettings = { syntax: 'att' }): string | undefined {
  let text = line.trim();
  let forced = false;
  const exec = /^-exec\s+/.exec(text);
  if (exec) {
    text = text.slice(exec[0].length);
    forced = true;
  }
  const head = /^([A-Za-z]+)(\/\S*)?/.exec(text);
  const word = head?.[1].toLowerCase();
  if (!head || !word || !COMMANDS.has(word) || (head[2] === undefined && text.length > word.length && !/\s/.test(text[word.length]))) {
    if (forced) throw new GuestError(`unknown command "${text.split(/\s/)[0]}": try "help"`);
    return undefined;
  }
  if (!forced && isName(evalCtx, head[1]) && isExpression(text, evalCtx)) return undefined;
  const slash = head[2];
  const rest = text.slice(head[0].length).trim();
  const c = new Console(m, vcpu, evalCtx, settings);
  switch (word) {
    case 'help':
      return HELP;
    case 'info': case 'i':
      if (slash) throw new GuestError(`"${word}" takes no /format`);
      return c.info(rest);
    case 'x':
      return c.examine(slash, rest, 'linear');
    case 'xp':
      return c.examine(slash, rest, 'physical');
    case 'print': case 'p':
      return c.print(slash, rest);
    case 'set':
      return c.set(rest);
  }
  return undefined;
}

function isName(ctx: EvalContext, name: string): boolean {
  try {
    return ctx.variable?.(name) !== undefined || ctx.symbol(name) !== undefined || ctx.constant?.(name) !== undefined;
  } catch {
    return false;
  }
}

/** gdb's `info registers` columns: name, raw value, natural value. */
function regLine(name: string, raw: string, natural: string): string {
  return `${name.padEnd(15)}${raw.padEnd(19)}${natural}`;
}

const MSR_NAMES: Record<number, string> = {
  0x10: 'IA32_TIME_STAMP_COUNTER', 0x1b: 'IA32_APIC_BASE', 0x3a: 'IA32_FEATURE_CONTROL', 0x174: 'IA32_SYSENTER_CS',
  0x175: 'IA32_SYSENTER_ESP', 0x176: 'IA32_SYSENTER_EIP', 0x277: 'IA32_PAT', 0x1a0: 'IA32_MISC_ENABLE',
  0x6e0: 'IA32_TSC_DEADLINE', 0xc0000080: 'IA32_EFER', 0xc0000081: 'STAR', 0xc0000082: 'LSTAR', 0xc0000083: 'CSTAR',
  0xc0000084: 'FMASK', 0xc0000100: 'FS_BASE', 0xc0000101: 'GS_BASE', 0xc0000102: 'KERNEL_GS_BASE', 0xc0000103: 'TSC_AUX',
};

type Space = 'linear' | 'physical';

class Console {
  private readonly v;

  constructor(private readonly m: Machine, private readonly vcpu: number, private readonly ctx: EvalContext,
    private readonly settings: ConsoleSettings) {
    this.v = m.vcpu(vcpu);
  }

  private sym(a: bigint): string {
    try {
      const s = this.ctx.symbolize?.(a);
      return s ? ` <${s}>` : '';
    } catch {
      return '';
    }
  }

  private state() {
    const r = this.m.getRegs(this.vcpu);
    const s = this.m.getSregs(this.vcpu);
    const mode = cpuMode({ ...s, rflags: r.rflags });
    return { r, s, mode, long: (s.efer & EFER_LMA) !== 0n };
  }

  // --- info ----------------------------------------------------------------------------------

  info(args: string): string {
    const [sub, ...rest] = args.split(/\s+/).filter(Boolean);
    const tail = args.slice(sub?.length ?? 0).trim();
    switch (sub) {
      case undefined:
        return HELP.split('\n').filter((l) => l.trimStart().startsWith('info ')).join('\n');
      case 'registers': case 'register': case 'reg': case 'r': case 'all-registers':
        return this.registers(rest);
      case 'gdt': return this.gdt(rest);
      case 'idt': return this.idt(rest);
      case 'tss': return this.tss();
      case 'mode': return this.mode();
      case 'tlb': case 'translate': case 'page':
        if (!tail) throw new GuestError('info tlb needs a linear address, as in info tlb $rip');
        return this.tlb(evaluateAddress(tail, this.ctx));
      case 'cpuid': return this.cpuid();
      case 'msr':
        if (!tail) throw new GuestError('info msr needs an MSR number, as in info msr 0xc0000080');
        return this.msr(evaluateInteger(tail, this.ctx));
      default:
        throw new GuestError(`unknown info command "${sub}": try "help"`);
    }
  }

  registers(names: string[]): string {
    const { r, s } = this.state();
    const lines: [string, string][] = [];
    const h = (v: bigint | number) => hex(BigInt(v));
    for (const n of ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const) {
      const v = r[n];
      lines.push([n, regLine(n, h(v), n === 'rsp' || n === 'rbp' ? h(v) : String(BigInt.asIntN(64, v)))]);
    }
    lines.push(['rip', regLine('rip', h(r.rip), h(r.rip) + this.sym(r.rip))]);
    lines.push(['eflags', regLine('eflags', h(r.rflags), flagString(r.rflags, RFLAGS) + iopl(r.rflags))]);
    for (const n of ['cs', 'ss', 'ds', 'es', 'fs', 'gs'] as const) lines.push([n, regLine(n, h(s[n].selector), String(s[n].selector))]);
    lines.push(['fs_base', regLine('fs_base', h(s.fs.base), String(s.fs.base))]);
    lines.push(['gs_base', regLine('gs_base', h(s.gs.base), String(s.gs.base))]);
    try {
      const k = this.v.getMsr(0xc0000102);
      lines.push(['k_gs_base', regLine('k_gs_base', h(k), String(k))]);
    } catch {
      // not readable on this host
    }
    lines.push(['cr0', regLine('cr0', h(s.cr0), flagString(s.cr0, CR0))]);
    lines.push(['cr2', regLine('cr2', h(s.cr2), String(s.cr2))]);
    const cr3 = decodeBits(s.cr3, cr3Fields(s.cr4)).filter((f) => f.set).map((f) => f.text.includes('=') ? f.text : f.name);
    lines.push(['cr3', regLine('cr3', h(s.cr3), `[ ${[...cr3].reverse().join(' ')} ]`.replace('[  ]', '[ ]'))]);
    lines.push(['cr4', regLine('cr4', h(s.cr4), flagString(s.cr4, CR4))]);
    lines.push(['cr8', regLine('cr8', h(s.cr8), String(s.cr8))]);
    lines.push(['efer', regLine('efer', h(s.efer), flagString(s.efer, EFER))]);
    lines.push(['gdtr', regLine('gdtr', h(s.gdt.base), `limit=${h(s.gdt.limit)}`)]);
    lines.push(['idtr', regLine('idtr', h(s.idt.base), `limit=${h(s.idt.limit)}`)]);
    lines.push(['tr', regLine('tr', h(s.tr.selector), `base=${h(s.tr.base)} limit=${h(s.tr.limit)}`)]);
    lines.push(['ldtr', regLine('ldtr', h(s.ldt.selector), `base=${h(s.ldt.base)} limit=${h(s.ldt.limit)}`)]);
    if (!names.length) return lines.map((l) => l[1]).join('\n');
    const byName = new Map(lines);
    return names.map((raw) => {
      const n = raw.replace(/^\$/, '').toLowerCase();
      const known = byName.get(n === 'rflags' ? 'eflags' : n);
      if (known) return known;
      // Any other register the evaluator knows: eax, al, dr7, xmm0, ...
      let res;
      try {
        res = evaluate(`$${n}`, this.ctx, { hex: true });
      } catch {
        throw new GuestError(`invalid register "${raw}"`);
      }
      let natural: string;
      try {
        natural = evaluate(`$${n}`, this.ctx).value;
      } catch {
        natural = res.value;
      }
      return regLine(n, res.value, natural);
    }).join('\n');
  }

  private range(args: string[], count: number): [number, number] {
    const nums = args.map((a) => Number(evaluateInteger(a, this.ctx)));
    const first = nums[0] ?? 0;
    const last = nums[1] ?? (nums.length ? first : count - 1);
    return [first, last];
  }

  private readTable(what: string, base: bigint, len: number): Buffer {
    try {
      return this.m.readLinear(this.vcpu, base, len);
    } catch (e) {
      throw new GuestError(`cannot read the ${what} at ${hex(base)}: ${(e as Error).message}`);
    }
  }

  gdt(args: string[]): string {
    const { s, mode, long } = this.state();
    const size = s.gdt.limit + 1;
    const head = `GDTR base=${hex(s.gdt.base)} limit=${hex(s.gdt.limit)} (${Math.floor(size / 8)} slots)` +
      (mode === 'real' ? ', not in use in real mode' : '');
    if (size < 8) return `${head}: the GDT is empty`;
    const entries = decodeGdt(this.readTable('GDT', s.gdt.base, size), long);
    const [first, last] = this.range(args, Math.floor(size / 8));
    const lines = [head];
    for (const e of entries) {
      if (e.index + (e.size === 16 ? 1 : 0) < first || e.index > last) continue;
      const raw = e.rawHi ? `${e.raw} ${e.rawHi}` : e.raw;
      lines.push(`GDT[${e.index}]`.padEnd(10) + `${e.text}  (${raw})`);
    }
    if (lines.length === 1) lines.push(`(no entries between ${first} and ${last})`);
    return lines.join('\n');
  }

  idt(args: string[]): string {
    const { s, mode, long } = this.state();
    const kind = mode === 'real' ? 'real' : long ? 'long' : 'protected';
    const entrySize = kind === 'real' ? 4 : kind === 'long' ? 16 : 8;
    const size = s.idt.limit + 1;
    const count = Math.floor(size / entrySize);
    const what = kind === 'real' ? 'real-mode vectors' : kind === 'long' ? '64-bit gates' : '32-bit gates';
    const head = `IDTR base=${hex(s.idt.base)} limit=${hex(s.idt.limit)} (${count} ${what})`;
    if (count === 0) return `${head}: the IDT is empty`;
    const entries = decodeIdt(this.readTable('IDT', s.idt.base, Math.min(size, 256 * entrySize)), kind);
    const explicit = args.length > 0;
    const [first, last] = this.range(args, entries.length);
    const lines = [head];
    let empty = 0;
    for (const e of entries) {
      if (e.vector < first || e.vector > last) continue;
      if (!explicit && e.typeName === 'empty') {
        empty++;
        continue;
      }
      lines.push(`${e.text}  (${e.raw})`);
    }
    if (empty) lines.push(`(${empty} empty ${empty === 1 ? 'entry' : 'entries'} not shown)`);
    return lines.join('\n');
  }

  tss(): string {
    const { s, long } = this.state();
    const tr = s.tr;
    const d = describeSegment(tr, long);
    const head = `TR ${hex(tr.selector, 4)} base=${hex(tr.base)} limit=${hex(tr.limit)} ${d.typeName}`;
    if ((tr.selector & ~3) === 0 || tr.unusable) return `${head}\nthe guest has not loaded a task register (TR is 0)`;
    const type = tr.type & 0xf;
    if (type === 1 || type === 3) return `${head}\na 16-bit TSS: not decoded`;
    if (type !== 9 && type !== 0xb) return `${head}\nTR does not hold a TSS (type ${type})`;
    const bytes = this.readTable('TSS', tr.base, TSS_SIZE);
    const lines = [head];
    if (tr.limit + 1 < TSS_SIZE) lines.push(`(the limit is below the ${hex(TSS_SIZE - 1)} a TSS needs)`);
    const t = decodeTss(bytes, long);
    lines.push(`${t.kind} TSS:`);
    for (const f of t.fields) {
      const v = f.name === 'ioMapBase' ? hex(f.value, 4) : hex(f.value, f.size * 2);
      lines.push(`  ${f.name.padEnd(10)} ${v}`);
    }
    return lines.join('\n');
  }

  mode(): string {
    const { r, s, mode } = this.state();
    return [
      `mode:   ${modeLabel(mode)}`,
      `CPL:    ${cpl({ cs: s.cs, cr0: s.cr0, rflags: r.rflags, efer: s.efer })}`,
      `paging: ${pagingMode(s)}`,
      `CR0:    ${hex(s.cr0)} ${flagString(s.cr0, CR0)}`,
      `CR4:    ${hex(s.cr4)} ${flagString(s.cr4, CR4)}`,
      `EFER:   ${hex(s.efer)} ${flagString(s.efer, EFER)}`,
      `RFLAGS: ${hex(r.rflags)} ${flagString(r.rflags, RFLAGS)}${iopl(r.rflags)}`,
    ].join('\n');
  }

  tlb(address: bigint): string {
    const regs = this.m.pagingRegs(this.vcpu);
    const mode = pagingMode(regs);
    const res = walk(this.m.vm.memory, regs, address);
    if (mode === 'none') {
      return res.ok ? `linear ${hex(address)}: paging is off, physical ${hex(res.t.physical)}` : `linear ${hex(address)}: ${res.reason}`;
    }
    const lines = [`linear ${hex(address)}, ${mode} paging (CR3 ${hex(regs.cr3)})`];
    const levels = res.ok ? res.t.levels : res.levels;
    const wide = mode !== '32-bit';
    for (const l of levels) {
      lines.push(`  ${`${l.name}[${l.index}]`.padEnd(11)} at ${hex(l.entryAddress)} = ${hex(l.entry, wide ? 16 : 8)} ${l.flags.length ? `[ ${l.flags.join(' ')} ]` : '[ ]'}`);
    }
    if (!res.ok) lines.push(`not mapped: ${res.reason}`);
    else {
      const t = res.t;
      const size = t.pageSize >= 1 << 30 ? `${t.pageSize / 2 ** 30} GiB` : t.pageSize >= 1 << 20 ? `${t.pageSize / 2 ** 20} MiB` : `${t.pageSize / 1024} KiB`;
      const rights = [t.writable ? 'writable' : 'read-only', t.user ? 'user' : 'supervisor', t.executable ? 'executable' : 'no-execute'];
      lines.push(`physical ${hex(t.physical)} (${size} page at ${hex(t.physical - (t.physical % t.pageSize))}, ${rights.join(', ')})`);
    }
    return lines.join('\n');
  }

  cpuid(): string {
    const entries = cpuidEntries(cpuidForVcpu(supportedCpuid(this.m.vm.kvmFd), this.vcpu, this.m.vcpus.length));
    const h8 = (x: number) => hex(x >>> 0, 8);
    const lines = [`CPUID of vCPU ${this.vcpu}, as KVM set it (${entries.length} leaves):`,
      '  function   index      eax        ebx        ecx        edx'];
    const str = (...regs: number[]) => {
      const b = Buffer.alloc(regs.length * 4);
      regs.forEach((r, i) => b.writeUInt32LE(r >>> 0, i * 4));
      return b.toString('latin1').replace(/\0+$/, '');
    };
    for (const e of entries) {
      let note = '';
      let s = '';
      if (e.function === 0 || e.function === 0x80000000) s = str(e.ebx, e.edx, e.ecx);
      if (e.function === 0x40000000) s = str(e.ebx, e.ecx, e.edx);
      if (e.function >= 0x80000002 && e.function <= 0x80000004) s = str(e.eax, e.ebx, e.ecx, e.edx);
      if (s) note = `  ${quote(Buffer.from(s, 'latin1'), '"')}`;
      lines.push(`  ${h8(e.function)} ${hex(e.index, 2).padEnd(10)} ${h8(e.eax)} ${h8(e.ebx)} ${h8(e.ecx)} ${h8(e.edx)}${note}`);
    }
    return lines.join('\n');
  }

  msr(n: bigint): string {
    if (n < 0n || n > 0xffffffffn) throw new GuestError(`${hex(BigInt.asUintN(64, n))} is not an MSR number (they are 32-bit)`);
    const index = Number(n);
    let value: bigint;
    try {
      value = this.v.getMsr(index);
    } catch {
      throw new GuestError(`MSR ${hex(index)} cannot be read (KVM does not know it for this vCPU)`);
    }
    const name = MSR_NAMES[index];
    const flags = index === 0xc0000080 ? ` ${flagString(value, EFER)}` : '';
    return `MSR ${hex(index)}${name ? ` (${name})` : ''} = ${hex(value, 16)}${flags}`;
  }

  // --- x / xp --------------------------------------------------------------------------------

  examine(slash: string | undefined, args: string, space: Space): string {
    const cmd = space === 'linear' ? 'x' : 'xp';
    const fmt = /^\/(\d*)([A-Za-z]*)$/.exec(slash ?? '/');
    if (!fmt) throw new GuestError(`bad format "${slash}": use ${cmd}/NFU, as in ${cmd}/4xg`);
    let count = fmt[1] ? Number(fmt[1]) : 1;
    let format = 'x';
    let unit: number | undefined;
    for (const ch of fmt[2]) {
      if ('xduotacfsiz'.includes(ch)) format = ch === 'z' ? 'x' : ch;
      else if ('bhwg'.includes(ch)) unit = { b: 1, h: 2, w: 4, g: 8 }[ch as 'b' | 'h' | 'w' | 'g'];
      else throw new GuestError(`invalid format letter "${ch}" in "${slash}": formats are x d u o t c a f s i, units b h w g`);
    }
    if (!args) throw new GuestError(`${cmd} needs an address, as in ${cmd}/4xg $rsp`);
    if (count < 1 || count > 4096) throw new GuestError(`the count must be between 1 and 4096, not ${count}`);
    const address = BigInt.asUintN(64, evaluateAddress(args, this.ctx));
    const read = (a: bigint, len: number): Buffer => {
      if (space === 'linear') return this.ctx.readMemory(a, len);
      return this.ctx.readPhysical(a, len);
    };
    if (format === 'i') return this.instructions(address, count, read, space);
    if (format === 's') return this.strings(address, count, read);
    if (format === 'a') unit = this.ctx.pointerSize;
    if (format === 'c') unit ??= 1;
    if (format === 'f' && unit !== 4) unit = 8;
    unit ??= 4;
    const perLine = format === 'c' ? 8 : format === 'a' ? 2 : format === 't' ? (unit >= 4 ? 2 : 4) : ({ 1: 8, 2: 8, 4: 4, 8: 2 } as Record<number, number>)[unit];
    let data: Buffer | undefined;
    try {
      data = read(address, count * unit);
    } catch {
      data = undefined; // read element by element below, to show what can be read
    }
    const lines: string[] = [];
    let line = '';
    for (let i = 0; i < count; i++) {
      const a = address + BigInt(i * unit);
      if (i % perLine === 0) {
        if (line) lines.push(line);
        line = `${hex(a)}${this.sym(a)}:`;
      }
      let b: Buffer;
      try {
        b = data ? data.subarray(i * unit, (i + 1) * unit) : read(a, unit);
      } catch {
        lines.push(`${line}\tCannot access memory at address ${hex(a)}`);
        return lines.join('\n');
      }
      line += '\t' + this.element(b, format, unit);
    }
    if (line) lines.push(line);
    return lines.join('\n');
  }

  private element(b: Buffer, format: string, unit: number): string {
    const u = b.length === 8 ? b.readBigUInt64LE() : BigInt(b.length === 4 ? b.readUInt32LE() : b.length === 2 ? b.readUInt16LE() : b[0]);
    const s = BigInt.asIntN(unit * 8, u);
    switch (format) {
      case 'x': return '0x' + u.toString(16).padStart(unit * 2, '0');
      case 'd': return String(s);
      case 'u': return String(u);
      case 'o': return u ? '0' + u.toString(8) : '0';
      case 't': return u.toString(2).padStart(unit * 8, '0');
      case 'c': return `${BigInt.asIntN(8, u & 0xffn)} ${quote(Buffer.from([Number(u & 0xffn)]), "'")}`;
      case 'a': return hex(u) + this.sym(u);
      case 'f': return String(unit === 4 ? Number(b.readFloatLE().toPrecision(9)) : b.readDoubleLE());
      default: throw new GuestError(`unknown format ${format}`);
    }
  }

  private strings(address: bigint, count: number, read: (a: bigint, len: number) => Buffer): string {
    const lines: string[] = [];
    let a = address;
    for (let n = 0; n < count; n++) {
      const bytes: number[] = [];
      let cur = a;
      let failed = false;
      while (bytes.length < 200) {
        let c: number;
        try {
          c = read(cur, 1)[0];
        } catch {
          failed = true;
          break;
        }
        cur++;
        if (c === 0) break;
        bytes.push(c);
      }
      if (failed && !bytes.length) {
        lines.push(`${hex(a)}${this.sym(a)}:\tCannot access memory at address ${hex(cur)}`);
        break;
      }
      lines.push(`${hex(a)}${this.sym(a)}:\t${quote(Buffer.from(bytes), '"')}${bytes.length >= 200 ? '...' : ''}`);
      if (failed) break;
      a = cur;
    }
    return lines.join('\n');
  }

  private instructions(address: bigint, count: number, read: (a: bigint, len: number) => Buffer, space: Space): string {
    const { s, mode } = this.state();
    const bitness = codeBitness(mode);
    const csBase = bitness === 64 ? undefined : s.cs.base;
    const lines = disassemble((a, len) => read(a, len), bitness, address, 0, count,
      (a) => this.ctx.symbolize?.(a), { csBase, syntax: this.settings.syntax });
    const rip = this.m.linearRip(this.vcpu);
    const pc = space === 'linear' ? rip : toBig(this.m.linearToPhysical(this.vcpu, rip));
    return lines.map((l) => `${l.address === pc ? '=> ' : '   '}${hex(l.address)}${l.symbol ? ` <${l.symbol}>` : ''}:\t${l.text}`).join('\n');
  }

  // --- print / set ---------------------------------------------------------------------------

  print(slash: string | undefined, expr: string): string {
    if (!expr) throw new GuestError('print needs an expression');
    const f = slash ? /^\/([xduotc])$/.exec(slash)?.[1] : undefined;
    if (slash && !f) throw new GuestError(`bad format "${slash}": print takes /x /d /u /o /t or /c`);
    if (!f || f === 'x') return evaluate(expr, this.ctx, { hex: f === 'x' }).value;
    const r = evaluate(expr, this.ctx);
    const size = r.size ?? 8;
    const v = evaluateInteger(expr, this.ctx);
    const u = BigInt.asUintN(size * 8, v);
    switch (f) {
      case 'd': return String(BigInt.asIntN(size * 8, v));
      case 'u': return String(u);
      case 'o': return u ? '0' + u.toString(8) : '0';
      case 't': return u.toString(2);
      default: return `${BigInt.asIntN(8, u & 0xffn)} ${quote(Buffer.from([Number(u & 0xffn)]), "'")}`;
    }
  }

  set(args: string): string {
    const flavor = /^disassembly-flavor(?:\s+(\S+))?$/.exec(args);
    if (flavor) {
      const syntax = flavor[1] as AsmSyntax;
      if (!ASM_SYNTAXES.includes(syntax)) throw new GuestError('set disassembly-flavor needs intel or att');
      this.settings.syntax = syntax;
      return `instructions are shown in ${syntax === 'intel' ? 'Intel' : 'AT&T'} syntax (the Disassembly view at the next stop)`;
    }
    const expr = args.replace(/^(var|variable)\s+/, '');
    if (!/(^|[^=!<>])=($|[^=])/.test(expr)) throw new GuestError('set needs an assignment, as in set var x = 1 or set $rax = 0');
    return evaluate(expr, this.ctx, { allowAssign: true }).value;
  }
}

function toBig(n: number | undefined): bigint | undefined {
  return n === undefined ? undefined : BigInt(n);
}

function iopl(rflags: bigint): string {
  const v = ioplOf(rflags);
  return v ? ` IOPL=${v}` : '';
}
