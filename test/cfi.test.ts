// Call frame information (src/symbols/dwarf/cfi.ts) on gcc-built programs: every FDE's rules
// against `readelf --debug-dump=frames-interp` (from .eh_frame and from .debug_frame, 64- and
// 32-bit, -O0 and -O2, hand-written CFI with remember/restore_state and register rules), and
// unwinding a synthetic stack laid out by the rules for the call chain _start → main → f → g.
// Expression rules on hand-made entries, through the evaluator expr.ts shares with variables.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  CallFrameInfo, parseFrameSection, unwindWithFramePointer, type CfaRow, type Fde, type MemoryReader, type RegRule,
} from '../src/symbols/dwarf/cfi.js';
import { evaluateValue } from '../src/symbols/dwarf/expr.js';
import { backtrace } from '../src/symbols/unwind.js';
import { SymbolTable } from '../src/symbols/elf-symbols.js';
import { buildDwarfGuest, buildDwarfGuests, flavourName, tool, type Flavour } from './guests/dwarf/build.js';
import { buildElf, SHT_PROGBITS, u32, u64 } from './fuzz/elf-builder.js';

const REG_NAMES: Record<32 | 64, string[]> = {
  64: ['rax', 'rdx', 'rcx', 'rbx', 'rsi', 'rdi', 'rbp', 'rsp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip'],
  32: ['eax', 'ecx', 'edx', 'ebx', 'esp', 'ebp', 'esi', 'edi', 'eip'],
};
const SP = { 64: 7, 32: 4 } as const;
const BP = { 64: 6, 32: 5 } as const;
const RA = { 64: 16, 32: 8 } as const;
const CALLEE_SAVED = { 64: [3, 6, 12, 13, 14, 15], 32: [3, 5, 6, 7] } as const;

const FLAVOURS: Flavour[] = [
  { bits: 64, opt: 0, dwarf: 5 },
  { bits: 64, opt: 2, dwarf: 5 },
  { bits: 32, opt: 0, dwarf: 4 },
  { bits: 32, opt: 2, dwarf: 5 },
  { bits: 64, opt: 2, dwarf: 4, debugFrame: true },
  { bits: 32, opt: 0, dwarf: 5, debugFrame: true },
];

before(() => buildDwarfGuests(FLAVOURS));

function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

function load(f: Flavour): { elf: string; image: Buffer; cfi: CallFrameInfo; syms: SymbolTable } {
  const elf = buildDwarfGuest(f);
  const image = readFileSync(elf);
  return { elf, image, cfi: CallFrameInfo.fromElf(image, elf), syms: SymbolTable.fromElf(image, elf) };
}

interface ReadelfFde {
  section: string;
  begin: bigint;
  end: bigint;
  columns: string[];
  rows: { loc: bigint; cfa: string; cols: string[] }[];
}

/** The FDE tables of `readelf --debug-dump=frames-interp`, both sections. */
function readelfFrames(elf: string): ReadelfFde[] {
  const out: ReadelfFde[] = [];
  let section = '';
  let cur: ReadelfFde | undefined;
  for (const line of tool('readelf', ['-W', '--debug-dump=frames-interp', elf]).split('\n')) {
    const sec = /^Contents of the (\S+) section/.exec(line);
    if (sec) { section = sec[1]; cur = undefined; continue; }
    const fde = /FDE cie=[0-9a-f]+ pc=([0-9a-f]+)\.\.([0-9a-f]+)/.exec(line);
    if (fde) {
      cur = { section, begin: BigInt('0x' + fde[1]), end: BigInt('0x' + fde[2]), columns: [], rows: [] };
      out.push(cur);
      continue;
    }
    if (/ CIE /.test(line)) { cur = undefined; continue; }
    if (!cur) continue;
    const tokens: string[] = line.match(/r\d+ \(\w+\)|\S+/g) ?? [];
    if (tokens[0] === 'LOC') { cur.columns = tokens.slice(2); continue; }
    if (tokens.length >= 2 && /^[0-9a-f]+$/.test(tokens[0])) {
      cur.rows.push({ loc: BigInt('0x' + tokens[0]), cfa: tokens[1], cols: tokens.slice(2) });
    }
  }
  return out;
}

/** Our rules in readelf's notation. */
function fmtCfa(row: CfaRow, bits: 32 | 64): string {
  if (row.cfa.type === 'expression') return 'exp';
  const o = row.cfa.offset;
  return `${REG_NAMES[bits][row.cfa.reg] ?? `r${row.cfa.reg}`}${o < 0n ? '-' : '+'}${o < 0n ? -o : o}`;
}
function fmtRule(rule: RegRule | undefined, bits: 32 | 64): string {
  if (!rule) return 'u';
  switch (rule.type) {
    case 'undefined': return 'u';
    case 'same': return 's';
    case 'offset': return `c${rule.offset < 0n ? '-' : '+'}${rule.offset < 0n ? -rule.offset : rule.offset}`;
    case 'valOffset': return `v${rule.offset < 0n ? '-' : '+'}${rule.offset < 0n ? -rule.offset : rule.offset}`;
    case 'register': return `r${rule.reg} (${REG_NAMES[bits][rule.reg]})`;
    case 'expression': return 'exp';
    case 'valExpression': return 'vexp';
  }
}
function columnReg(name: string, bits: 32 | 64): number {
  if (name === 'ra') return RA[bits];
  const i = REG_NAMES[bits].indexOf(name);
  if (i >= 0) return i;
  const m = /^r(\d+)$/.exec(name);
  assert.ok(m, `column ${name}`);
  return Number(m[1]);
}

for (const f of FLAVOURS) {
  test(`${flavourName(f)}: CFA rules match readelf's frames-interp at every row and between rows`, () => {
    const { elf, cfi } = load(f);
    assert.deepEqual(cfi.problems, []);
    const want = readelfFrames(elf);
    const section = f.debugFrame ? '.debug_frame' : '.eh_frame';
    // The hand-written CFI of start.S follows the C code's into .debug_frame with DEBUG_FRAME too.
    assert.ok(want.length >= 8 && want.every((w) => w.section === section), `${want.length} FDEs in ${section}`);
    const fdes = cfi.fdes();
    assert.equal(fdes.length, want.length, 'FDE count');
    let compared = 0;
    for (const w of want) {
      const fde = fdes.find((x) => x.pcBegin === w.begin);
      assert.ok(fde, `FDE at ${hex(w.begin)}`);
      assert.equal(fde.pcEnd, w.end);
      assert.equal(fde.cie.section, section);
      assert.equal(cfi.findFde(w.end - 1n), fde);
      const table = cfi.table(fde);
      assert.equal(table[0].address, fde.pcBegin);
      w.rows.forEach((r, i) => {
        const next = w.rows[i + 1]?.loc ?? w.end;
        for (const pc of new Set([r.loc, (r.loc + next) / 2n, next - 1n])) {
          const row = cfi.rowAt(pc)!;
          const where = `${hex(pc)} (readelf row ${hex(r.loc)})`;
          assert.ok(row, where);
          assert.equal(row.address, r.loc, `${where}: row start`);
          assert.equal(row.end, next, `${where}: row end`);
          assert.equal(fmtCfa(row, f.bits), r.cfa, `${where}: CFA`);
          w.columns.forEach((c, k) => {
            assert.equal(fmtRule(row.regs.get(columnReg(c, f.bits)), f.bits), r.cols[k], `${where}: ${c}`);
          });
          compared++;
        }
        // table() has the same row.
        const t = table.find((x) => x.address === r.loc);
        assert.ok(t, `table row at ${hex(r.loc)}`);
        assert.equal(fmtCfa(t, f.bits), r.cfa);
      });
    }
    assert.ok(compared > 40, `${compared} pcs compared`);
    assert.equal(cfi.rowAt(0x1000n), undefined);
  });
}

/** An expression's value as the unwinder asks for it, in a frame with `regs` and memory `read`. */
function exprValue(expr: Buffer, regs: Map<number, bigint>, read: MemoryReader, bits: 32 | 64, initial: bigint[] = []): bigint | { error: string } {
  return evaluateValue(expr, { pc: 0n, regs, read, bits }, bits / 8, 0n, initial);
}

/** A little-endian memory image of the stack region, for the synthetic frames. */
class Stack {
  readonly buf: Buffer;
  constructor(readonly base: bigint, size: number) {
    this.buf = Buffer.alloc(size, 0xcc);
  }
  write(addr: bigint, size: number, value: bigint): void {
    const off = Number(addr - this.base);
    assert.ok(off >= 0 && off + size <= this.buf.length, `write at ${hex(addr)} is inside the stack`);
    this.buf.writeUIntLE(Number(BigInt.asUintN(size * 8, value) & 0xffffffffn), off, Math.min(size, 4));
    if (size === 8) this.buf.writeUInt32LE(Number(BigInt.asUintN(64, value) >> 32n), off + 4);
  }
  read: MemoryReader = (addr, size) => {
    const off = Number(addr - this.base);
    if (off < 0 || off + size > this.buf.length) return undefined;
    return size === 8 ? this.buf.readBigUInt64LE(off) : BigInt(this.buf.readUIntLE(off, size));
  };
}

/** Return addresses of calls: function → callee → address after the call, from objdump -d. */
function callSites(elf: string): Map<string, bigint> {
  const lines = tool('objdump', ['-d', '--no-show-raw-insn', elf]).split('\n');
  const out = new Map<string, bigint>();
  let fn = '';
  for (let i = 0; i < lines.length; i++) {
    const head = /^[0-9a-f]+ <(\S+)>:/.exec(lines[i]);
    if (head) { fn = head[1]; continue; }
    const call = /^\s*[0-9a-f]+:\s+call\s+[0-9a-f]+ <(\w+)>/.exec(lines[i]);
    if (!call) continue;
    const next = /^\s*([0-9a-f]+):/.exec(lines[i + 1]);
    if (next && !out.has(`${fn}→${call[1]}`)) out.set(`${fn}→${call[1]}`, BigInt('0x' + next[1]));
  }
  return out;
}

interface SyntheticFrame {
  name: string;
  pc: bigint;
  regs: Map<number, bigint>;
  cfa?: bigint;
}

/**
 * Lays out the frames _start → main → f → g on a stack, from the outermost: each callee's CFA is
 * its caller's stack pointer; the callee's rules (at its pc, or pc - 1 for return addresses)
 * say where the caller's registers and the return address are saved, and which register the CFA
 * is computed from. Callee-saved registers a frame does not save keep the caller's value.
 */
function layOut(cfi: CallFrameInfo, bits: 32 | 64, chain: { name: string; pc: bigint }[], stack: Stack, seed: bigint): SyntheticFrame[] {
  const size = bits / 8;
  const mask = (1n << BigInt(bits)) - 1n;
  let n = seed;
  const fresh = (): bigint => {
    n = (n * 6364136223846793005n + 1442695040888963407n) & mask;
    return n & ~7n;
  };
  const frames: SyntheticFrame[] = [];
  // The outermost frame: _start, stopped at its call to main.
  const outer = new Map<number, bigint>();
  for (const r of CALLEE_SAVED[bits]) outer.set(r, fresh());
  outer.set(BP[bits], 0n);
  outer.set(SP[bits], stack.base + BigInt(stack.buf.length) - 256n);
  outer.set(RA[bits], chain[0].pc);
  frames.push({ name: chain[0].name, pc: chain[0].pc, regs: outer });
  for (let k = 1; k < chain.length; k++) {
    const caller = frames[k - 1];
    const innermost = k === chain.length - 1;
    const row = cfi.rowAt(innermost ? chain[k].pc : chain[k].pc - 1n);
    assert.ok(row, `rules for ${chain[k].name} at ${hex(chain[k].pc)}`);
    const cfa = caller.regs.get(SP[bits])!;
    const regs = new Map<number, bigint>();
    for (const r of CALLEE_SAVED[bits]) regs.set(r, row.regs.has(r) && row.regs.get(r)!.type !== 'same' ? fresh() : caller.regs.get(r)!);
    for (const r of [0, 1, 2]) regs.set(r, fresh()); // scratch registers: garbage
    regs.set(SP[bits], (cfa - 512n) & mask);
    if (row.cfa.type === 'reg') {
      regs.set(row.cfa.reg, (cfa - row.cfa.offset) & mask);
    } else {
      // An expression CFA (i386 main realigning its stack: CFA = [ebp - 4]): plant the CFA
      // where the expression reads it.
      regs.set(BP[bits], (cfa - 0x40n) & mask);
      const planted = exprValue(row.cfa.expr, regs, (a, s) => { stack.write(a, s, cfa); return cfa; }, bits);
      assert.equal(planted, cfa);
      assert.equal(exprValue(row.cfa.expr, regs, stack.read, bits), cfa);
    }
    regs.set(RA[bits], chain[k].pc);
    // The caller's values, saved where the rules say.
    const callerValue = (r: number): bigint => (r === RA[bits] ? chain[k - 1].pc : caller.regs.get(r)!);
    for (const [r, rule] of row.regs) {
      if (rule.type === 'offset') stack.write((cfa + rule.offset) & mask, size, callerValue(r));
      else if (rule.type === 'expression') {
        const at = exprValue(rule.expr, regs, stack.read, bits, [cfa]);
        assert.equal(typeof at, 'bigint', `${chain[k].name}: where r${r} is saved`);
        stack.write(at as bigint, size, callerValue(r));
      } else if (rule.type === 'register') regs.set(rule.reg, callerValue(r));
    }
    // The return address into the caller is the caller's pc: fix up what the outer frame said.
    frames.push({ name: chain[k].name, pc: chain[k].pc, regs, cfa });
  }
  return frames;
}

function checkUnwind(cfi: CallFrameInfo, bits: 32 | 64, frames: SyntheticFrame[], stack: Stack, what: string): void {
  let regs = frames[frames.length - 1].regs;
  let pc = frames[frames.length - 1].pc;
  for (let k = frames.length - 1; k > 0; k--) {
    const step = cfi.unwindStep(regs, pc, stack.read, bits, k !== frames.length - 1);
    const caller = frames[k - 1];
    assert.ok(step, `${what}: unwinding ${frames[k].name} at ${hex(pc)}`);
    assert.equal(hex(step.pc), hex(caller.pc), `${what}: return address out of ${frames[k].name}`);
    assert.equal(step.cfa, frames[k].cfa, `${what}: CFA of ${frames[k].name}`);
    assert.equal(step.regs.get(SP[bits]), caller.regs.get(SP[bits]), `${what}: ${caller.name}'s stack pointer`);
    for (const r of CALLEE_SAVED[bits]) {
      assert.equal(step.regs.get(r), caller.regs.get(r), `${what}: ${caller.name}'s ${REG_NAMES[bits][r]}`);
    }
    assert.equal(step.regs.get(RA[bits]), caller.pc);
    regs = step.regs;
    pc = step.pc;
  }
  // _start's CFI says its return address is undefined: the end of the stack.
  assert.equal(cfi.unwindStep(regs, pc, stack.read, bits, true), undefined, `${what}: _start is the outermost frame`);
}

for (const f of FLAVOURS) {
  test(`${flavourName(f)}: unwinding a synthetic stack _start → main → f → g at every CFI row of g`, () => {
    const { elf, cfi, syms } = load(f);
    const calls = callSites(elf);
    const raMain = calls.get('_start→main')!;
    const raF = calls.get('main→f')!;
    const raG = calls.get('f→g')!;
    assert.ok(raMain && raF && raG, 'call sites');
    // i386 main at -O0 realigns its stack: its CFA at the call is an expression ([ebp - 4]).
    if (f.bits === 32 && f.opt === 0) assert.equal(cfi.rowAt(raF - 1n)!.cfa.type, 'expression');
    const g = syms.byName('g')!;
    const gFde = cfi.findFde(g.address)!;
    assert.ok(gFde);
    const pcs = new Set<bigint>();
    for (const row of cfi.table(gFde)) {
      pcs.add(row.address);
      pcs.add(row.end - 1n);
    }
    let seed = 1n;
    for (const pcG of pcs) {
      const stack = new Stack(0x7f000n, 0x1000);
      const frames = layOut(cfi, f.bits, [
        { name: '_start', pc: raMain }, { name: 'main', pc: raF }, { name: 'f', pc: raG }, { name: 'g', pc: pcG },
      ], stack, seed++);
      checkUnwind(cfi, f.bits, frames, stack, `g at ${hex(pcG)}`);
      // backtrace() gives the same chain.
      const bt = backtrace([cfi], frames[3].regs, pcG, stack.read, f.bits);
      assert.deepEqual(bt.map((fr) => hex(fr.pc)), [pcG, raG, raF, raMain].map(hex));
      assert.deepEqual(bt.map((fr) => fr.method), ['initial', 'cfi', 'cfi', 'cfi']);
    }
    assert.ok(pcs.size >= 2);
  });
}

test('frame-pointer fallback: the rbp/ebp chain of -O0 code gives the same return addresses', () => {
  for (const f of [{ bits: 64, opt: 0, dwarf: 5 }, { bits: 32, opt: 0, dwarf: 4 }] as Flavour[]) {
    const { elf, cfi, syms, image } = load(f);
    const calls = callSites(elf);
    const g = syms.byName('g')!;
    // Past g's prologue (where its CFA is bp-based).
    const body = cfi.table(cfi.findFde(g.address)!).find((r) => r.cfa.type === 'reg' && r.cfa.reg === BP[f.bits])!.address;
    const stack = new Stack(0x7f000n, 0x1000);
    const chain = [
      { name: '_start', pc: calls.get('_start→main')! }, { name: 'main', pc: calls.get('main→f')! },
      { name: 'f', pc: calls.get('f→g')! }, { name: 'g', pc: body },
    ];
    const frames = layOut(cfi, f.bits, chain, stack, 7n);
    let regs = frames[3].regs;
    const pcs: bigint[] = [];
    // i386 main realigns its stack; its frame pointer still chains, to a copy of the return
    // address that the realigning code pushed: lay that copy out as the code would.
    if (f.bits === 32) {
      const mainBp = frames[1].regs.get(BP[32])!;
      stack.write(mainBp + 4n, 4, chain[0].pc);
    }
    for (;;) {
      const step = unwindWithFramePointer(regs, stack.read, f.bits);
      if (!step) break;
      pcs.push(step.pc);
      regs = step.regs;
    }
    assert.deepEqual(pcs.map(hex), [chain[2].pc, chain[1].pc, chain[0].pc].map(hex), flavourName(f));
    void image;
  }
});

test('register rules and remember/restore_state in hand-written CFI', () => {
  const { elf, cfi, syms } = load({ bits: 64, opt: 0, dwarf: 5 });
  const calls = callSites(elf);
  // asm_leaf keeps rbx in rax for a while: the caller's rbx comes from rax.
  const leaf = syms.byName('asm_leaf')!;
  const inside = cfi.table(cfi.findFde(leaf.address)!).find((r) => r.regs.get(3)?.type === 'register')!;
  assert.ok(inside);
  const stack = new Stack(0x7f000n, 0x100);
  const ra = calls.get('_start→asm_leaf')!;
  stack.write(0x7f080n, 8, ra);
  const regs = new Map<number, bigint>([[0, 0x1234n], [3, 1n], [7, 0x7f080n], [6, 0n]]);
  const step = cfi.unwindStep(regs, inside.address, stack.read, 64)!;
  assert.equal(step.pc, ra);
  assert.equal(step.regs.get(3), 0x1234n);
  assert.equal(step.regs.get(7), 0x7f088n);
  // asm_frame: the early return's rules (CFA back on rsp) end at restore_state, where the
  // rbp-based rules come back.
  const frame = syms.byName('asm_frame')!;
  const rows = cfi.table(cfi.findFde(frame.address)!);
  const early = rows.findIndex((r, i) => i > 2 && r.cfa.type === 'reg' && r.cfa.reg === 7);
  assert.ok(early > 0 && early + 1 < rows.length);
  const after = rows[early + 1];
  assert.deepEqual({ ...after.cfa }, { type: 'reg', reg: 6, offset: 16n });
  assert.deepEqual(after.regs.get(3), { type: 'offset', offset: -24n });
  const label = syms.byName('asm_frame_recurse')!;
  assert.equal(cfi.rowAt(label.address)!.address, after.address);
});

test('DWARF expressions of CFI rules (the shared evaluator): arithmetic, memory, comparisons, branches; errors', () => {
  const regs = new Map<number, bigint>([[5, 0x1000n], [7, 0x2000n]]);
  // 0xffc: 55 55 11 22 33 44 00 00; the reader takes 1, 2, 4 or 8 bytes, as its type says.
  const bytes = Buffer.from([0x55, 0x55, 0x11, 0x22, 0x33, 0x44, 0, 0]);
  const mem: MemoryReader = (a, s) => {
    assert.ok([1, 2, 4, 8].includes(s), `a ${s}-byte read`);
    const off = Number(a - 0xffcn);
    if (off < 0 || off + s > bytes.length) return undefined;
    return s === 8 ? bytes.readBigUInt64LE(off) : BigInt(bytes.readUIntLE(off, s));
  };
  const ev = (b: number[], initial: bigint[] = [], bits: 32 | 64 = 64) => exprValue(Buffer.from(b), regs, mem, bits, initial);
  const error = (b: number[]): string => {
    const v = ev(b);
    assert.equal(typeof v, 'object', `${b.map((x) => x.toString(16))} gives an error`);
    return (v as { error: string }).error;
  };
  assert.equal(ev([0x75, 0x7c, 0x06]), 0x443322115555n); // breg5 -4; deref
  assert.equal(ev([0x75, 0x7c, 0x94, 1]), 0x55n); // deref_size 1
  assert.equal(ev([0x75, 0x7c, 0x94, 3]), 0x115555n); // deref_size 3, read a byte at a time
  assert.equal(ev([0x75, 0x7c, 0x06], [], 32), 0x22115555n); // deref: the address size
  assert.equal(ev([0x77, 0x08]), 0x2008n); // breg7 +8
  assert.equal(ev([0x92, 0x07, 0x10]), 0x2010n); // bregx 7, 16
  assert.equal(ev([0x23, 0x10], [0x100n]), 0x110n); // plus_uconst on the pushed CFA
  assert.equal(ev([0x12, 0x22], [0x100n]), 0x200n); // dup; plus: the pushed CFA twice
  assert.equal(ev([0x35, 0x33, 0x1c]), 2n); // 5 - 3
  assert.equal(ev([0x33, 0x35, 0x1c], [], 32), 0xfffffffen); // wraps at the address size
  assert.equal(ev([0x36, 0x32, 0x24]), 24n); // 6 << 2
  assert.equal(ev([0x11, 0x7f, 0x19]), 1n); // consts -1; abs
  assert.equal(ev([0x32, 0x33, 0x2d]), 1n); // 2 < 3
  // bra: if (1) skip the next op (lit9), leaving lit7.
  assert.equal(ev([0x37, 0x31, 0x28, 0x01, 0x00, 0x39]), 7n);
  assert.equal(ev([0x37, 0x30, 0x28, 0x01, 0x00, 0x39]), 9n);
  assert.match(error([0x75, 0x00, 0x06]), /cannot read memory at 0x1000/);
  assert.match(error([0x71, 0x00]), /register rdx is not available/);
  assert.match(error([0x50]), /a register location where a value is needed/);
  assert.match(error([0x31, 0x9f]), /a value location where a value is needed/); // stack_value: not in CFI
  assert.match(error([]), /no value/);
  assert.match(error([0x1c]), /stack underflow/);
  assert.match(error([0x01]), /unknown operation 0x1/);
  assert.match(error([0x0c, 1, 2]), /runs past the end/); // const4u with two bytes
  assert.match(error([0x2f, ...le(-3n, 2)]), /too many steps/); // skip back onto itself
  assert.match(error([0x2f, ...le(9n, 2)]), /branch outside the expression/);
  assert.match(error([0x30, 0x94, 0]), /0-byte memory read/);
  assert.match(error([0x9c]), /CFA is unknown/); // call_frame_cfa: the CFA is what CFI defines
  assert.match(error([0x91, 0x00]), /DW_AT_frame_base/); // fbreg: no function here
  // DW_OP_addr is a link-time address: moved by the load offset, as the FDEs are.
  assert.equal(evaluateValue(Buffer.from([0x03, ...le(0x600000n, 8)]), { pc: 0n, regs, read: mem, bits: 64 }, 8, 0x100000n), 0x700000n);
});

/** A .eh_frame of one CIE (version 1, no augmentation, code 1, data -8, ra 16, no initial rules) and FDEs after it (absptr). */
function ehFrame(fdes: { begin: bigint; instructions: number[] }[]): Buffer {
  const out: number[] = [];
  const entry = (body: number[]): void => { out.push(...le(BigInt(body.length), 4), ...body); };
  entry([...le(0n, 4), 1, 0, 1, 0x78, 16]);
  for (const f of fdes) entry([...le(BigInt(out.length + 4), 4), ...le(f.begin, 8), ...le(0x100n, 8), ...f.instructions]);
  return Buffer.from([...out, 0, 0, 0, 0]);
}
/** DW_CFA_def_cfa_expression (0x0f), DW_CFA_expression (0x10), DW_CFA_val_expression (0x16). */
const cfaExpr = (...ops: number[]): number[] => [0x0f, ops.length, ...ops];
const regExpr = (reg: number, ...ops: number[]): number[] => [0x10, reg, ops.length, ...ops];
const regValExpr = (reg: number, ...ops: number[]): number[] => [0x16, reg, ops.length, ...ops];

test('expression rules in hand-made CFI: the CFA, saved registers and values through the shared evaluator, the CFA pushed first', () => {
  const fdes = [
    {
      begin: 0x401000n, instructions: [
        ...cfaExpr(0x77, 8, 0x06), // CFA = [rsp + 8] (breg7 8; deref)
        ...regExpr(16, 0x10, 16, 0x1c), // the return address at CFA - 16 (constu 16; minus)
        // r13 at CFA - 24 when rdx != 0, else CFA - 16 (lit24; minus; breg1 0; bra +2; plus_uconst 8)
        ...regExpr(13, 0x48, 0x1c, 0x71, 0, 0x28, ...le(2n, 2), 0x23, 8),
        ...regValExpr(3, 0x23, 0x20), // rbx = CFA + 0x20 (plus_uconst)
        ...regValExpr(12, 0x70, 0, 0x33, 0x24, 0x22), // r12 = CFA + (rax << 3) (breg0 0; lit3; shl; plus)
        ...regValExpr(14, 0x50), // r14 "= reg0": a location, not a value
      ],
    },
    // The stack pointer saved in a global: CFA = [0x600000] (addr; deref); the return address at CFA - 8.
    { begin: 0x402000n, instructions: [...cfaExpr(0x03, ...le(0x600000n, 8), 0x06), ...regExpr(16, 0x38, 0x1c)] },
    { begin: 0x403000n, instructions: [...cfaExpr(0x2f, ...le(-3n, 2)), ...regExpr(16, 0x38, 0x1c)] }, // a loop
    { begin: 0x404000n, instructions: [...cfaExpr(0x77, 0, 0x01), ...regExpr(16, 0x38, 0x1c)] }, // an unknown operation
    { begin: 0x405000n, instructions: [...cfaExpr(0x77, 0), ...regExpr(16, 0x38, 0x94)] }, // deref_size without its size
  ];
  const problems: string[] = [];
  const data = ehFrame(fdes);
  const cfi = new CallFrameInfo(parseFrameSection(data, true, 8, { section: 0x5000n }, 0n, problems), 64);
  assert.deepEqual(problems, []);
  const row = cfi.rowAt(0x401010n)!;
  assert.deepEqual([fmtCfa(row, 64), ...[16, 13, 3, 12, 14].map((r) => fmtRule(row.regs.get(r), 64))], ['exp', 'exp', 'exp', 'vexp', 'vexp', 'vexp']);

  const stack = new Stack(0x7f000n, 0x1000);
  stack.write(0x7f008n, 8, 0x7f100n); // the CFA, at [rsp + 8]
  stack.write(0x7f0f0n, 8, 0x401234n); // the return address, at CFA - 16
  stack.write(0x7f0e8n, 8, 0xdeadn); // r13, at CFA - 24
  const regs = new Map<number, bigint>([[7, 0x7f000n], [0, 2n], [1, 1n], [3, 0x3333n], [12, 0x1212n], [13, 0x1313n], [14, 0x1414n]]);
  const step = cfi.unwindStep(regs, 0x401010n, stack.read, 64)!;
  assert.ok(step);
  assert.deepEqual([step.pc, step.cfa].map(hex), ['0x401234', '0x7f100']);
  assert.deepEqual([7, 16, 3, 12, 13, 0, 1].map((r) => hex(step.regs.get(r)!)), ['0x7f100', '0x401234', '0x7f120', '0x7f110', '0xdead', '0x2', '0x1']);
  assert.equal(step.regs.has(14), false, 'r14: its rule is not a value');
  // With rdx 0 the branch is not taken: r13 at CFA - 16 (where the return address is).
  assert.equal(cfi.unwindStep(new Map([...regs, [1, 0n]]), 0x401010n, stack.read, 64)!.regs.get(13), 0x401234n);
  // rsp unknown: the CFA cannot be computed.
  assert.equal(cfi.unwindStep(new Map([[0, 2n]]), 0x401010n, stack.read, 64), undefined);

  // DW_OP_addr: loaded 1 MiB higher, the global moves with the code.
  const moved = new CallFrameInfo(parseFrameSection(data, true, 8, { section: 0x5000n }, 0x100000n), 64);
  stack.write(0x7f0f8n, 8, 0x502345n);
  const read: MemoryReader = (a, s) => (a === 0x700000n && s === 8 ? 0x7f100n : stack.read(a, s));
  const fromGlobal = moved.unwindStep(new Map([[7, 0x7f000n]]), 0x502010n, read, 64)!;
  assert.deepEqual([fromGlobal.pc, fromGlobal.cfa].map(hex), ['0x502345', '0x7f100']);
  assert.equal(cfi.unwindStep(new Map([[7, 0x7f000n]]), 0x402010n, read, 64), undefined, 'nothing at the link-time address');

  // A looping, an unknown and a truncated expression: no unwinding, no exception, no hang.
  for (const pc of [0x403010n, 0x404010n, 0x405010n]) {
    assert.equal(cfi.unwindStep(regs, pc, stack.read, 64), undefined, hex(pc));
  }
});

test('unwindStep(): no FDE, unknown registers, unreadable memory; a load offset', () => {
  const f: Flavour = { bits: 64, opt: 0, dwarf: 5 };
  const { elf, image, cfi, syms } = load(f);
  const g = syms.byName('g')!;
  const read: MemoryReader = () => undefined;
  assert.equal(cfi.unwindStep(new Map([[7, 0x7f000n]]), 0x1000n, read, 64), undefined, 'no FDE');
  assert.equal(cfi.unwindStep(new Map(), g.address, read, 64), undefined, 'no rsp');
  assert.equal(cfi.unwindStep(new Map([[7, 0x7f000n]]), g.address, read, 64), undefined, 'return address unreadable');
  // At g's first instruction the return address is at [rsp].
  const ok = cfi.unwindStep(new Map([[7, 0x7f000n]]), g.address, (a, s) => (a === 0x7f000n && s === 8 ? 0x100123n : undefined), 64)!;
  assert.deepEqual([ok.pc, ok.cfa, ok.regs.get(7), ok.regs.get(16)], [0x100123n, 0x7f008n, 0x7f008n, 0x100123n]);
  // Loaded 1 MiB higher: the same FDE, moved.
  const moved = CallFrameInfo.fromElf(image, elf, 0x100000n);
  const fde: Fde = moved.findFde(g.address + 0x100000n)!;
  assert.equal(fde.pcBegin, cfi.findFde(g.address)!.pcBegin + 0x100000n);
  assert.equal(moved.findFde(g.address)?.pcBegin === g.address, false);
});

test('corrupt .eh_frame and .debug_frame: no exception escapes the unwinder', () => {
  for (const f of [{ bits: 64, opt: 2, dwarf: 5 }, { bits: 32, opt: 0, dwarf: 5, debugFrame: true }] as Flavour[]) {
    const { elf, image, syms } = load(f);
    const base = CallFrameInfo.fromElf(image, elf);
    const secName = f.debugFrame ? '.debug_frame' : '.eh_frame';
    const hdr = readelfSectionRange(elf, secName);
    let x = 99;
    const rand = (): number => {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      return x / 0x80000000;
    };
    let problems = 0;
    const pcs = syms.functions().flatMap((s) => [s.address, s.address + s.size / 2n]);
    const stack = new Stack(0x7f000n, 0x1000);
    for (let i = 0; i < 200; i++) {
      const copy = Buffer.from(image);
      for (let k = 0; k < 1 + Math.floor(rand() * 6); k++) copy[hdr.offset + Math.floor(rand() * hdr.size)] = Math.floor(rand() * 256);
      const cfi = CallFrameInfo.fromElf(copy, elf);
      if (cfi.problems.length || cfi.fdes().length !== base.fdes().length) problems++;
      for (const pc of pcs) {
        cfi.rowAt(pc);
        const regs = new Map<number, bigint>([[SP[f.bits], 0x7f800n], [BP[f.bits], 0x7f900n]]);
        cfi.unwindStep(regs, pc, stack.read, f.bits);
        backtrace([cfi], regs, pc, stack.read, f.bits, { maxFrames: 8 });
      }
    }
    assert.ok(problems > 5, `${flavourName(f)}: ${problems} corrupt copies noticed`);
  }
});

function readelfSectionRange(elf: string, name: string): { offset: number; size: number } {
  for (const l of tool('readelf', ['-SW', elf]).split('\n')) {
    const m = /\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(l);
    if (m && m[1] === name) return { offset: parseInt(m[2], 16), size: parseInt(m[3], 16) };
  }
  throw new Error(`no ${name} in ${elf}`);
}

/** Little-endian bytes of `v` in `n` bytes. */
function le(v: bigint, n: number): number[] {
  return [...Array(n)].map((_, i) => Number((BigInt.asUintN(n * 8, v) >> BigInt(8 * i)) & 0xffn));
}
function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
}

test('.eh_frame pointer encodings and DW_CFA_set_loc on hand-made entries', () => {
  const SECTION = 0x5000n;
  const bases = { section: SECTION, text: 0x1000n, data: 0x9000n };
  // One CIE per encoding, each followed by an FDE for a function at `target`.
  const cases: { enc: number; target: bigint; encode: (v: bigint, at: bigint) => number[]; range: number[] }[] = [
    { enc: 0x00, target: 0x400000n, encode: (v) => le(v, 8), range: le(0x40n, 8) }, // absptr
    { enc: 0x03, target: 0x401000n, encode: (v) => le(v, 4), range: le(0x40n, 4) }, // udata4
    { enc: 0x02, target: 0x1234n, encode: (v) => le(v, 2), range: le(0x40n, 2) }, // udata2
    { enc: 0x1b, target: 0x402000n, encode: (v, at) => le(v - at, 4), range: le(0x40n, 4) }, // pcrel|sdata4
    { enc: 0x19, target: 0x4000n, encode: (v, at) => sleb(Number(v - at)), range: sleb(0x40) }, // pcrel|sleb128
    { enc: 0x3b, target: 0x9100n, encode: (v) => le(v - bases.data, 4), range: le(0x40n, 4) }, // datarel|sdata4
    { enc: 0x23, target: 0x1800n, encode: (v) => le(v - bases.text, 4), range: le(0x40n, 4) }, // textrel|udata4
    { enc: 0x0c, target: 0x403000n, encode: (v) => le(v, 8), range: le(0x40n, 8) }, // sdata8
  ];
  const bytes: number[] = [];
  const entry = (body: number[]): void => {
    bytes.push(...le(BigInt(body.length), 4), ...body);
  };
  for (const c of cases) {
    const cieOff = bytes.length;
    // CIE: id 0, version 1, "zR", code 1, data -8, ra 16, augmentation data: the encoding;
    // def_cfa rsp+8, rip at cfa-8.
    entry([...le(0n, 4), 1, 0x7a, 0x52, 0, 1, 0x78, 16, 1, c.enc, 0x0c, 7, 8, 0x90, 1, 0, 0]);
    const idPos = bytes.length + 4;
    const begin = c.encode(c.target, SECTION + BigInt(idPos + 4));
    // Instructions: advance_loc 4; def_cfa_offset 16; set_loc target+0x20; def_cfa_offset 24.
    const instrStart = idPos + 4 + begin.length + c.range.length + 1;
    const setLoc = c.encode(c.target + 0x20n, SECTION + BigInt(instrStart + 4));
    entry([...le(BigInt(idPos - cieOff), 4), ...begin, ...c.range, 0, 0x44, 0x0e, 16, 0x01, ...setLoc, 0x0e, 24]);
  }
  bytes.push(0, 0, 0, 0); // the terminator
  bytes.push(0xde, 0xad); // junk after it is never read
  const problems: string[] = [];
  const fdes = parseFrameSection(Buffer.from(bytes), true, 8, bases, 0n, problems);
  assert.deepEqual(problems, []);
  assert.deepEqual(fdes.map((f) => hex(f.pcBegin)), cases.map((c) => hex(c.target)));
  assert.ok(fdes.every((f) => f.pcEnd - f.pcBegin === 0x40n));
  const cfi = new CallFrameInfo(fdes, 64);
  for (const c of cases) {
    const rows = cfi.table(cfi.findFde(c.target)!);
    assert.deepEqual(rows.map((r) => [hex(r.address), fmtCfa(r, 64)]), [
      [hex(c.target), 'rsp+8'], [hex(c.target + 4n), 'rsp+16'], [hex(c.target + 0x20n), 'rsp+24'],
    ], `encoding 0x${c.enc.toString(16)}`);
    assert.equal(cfi.rowAt(c.target + 0x1fn)!.end, c.target + 0x20n);
  }
  // With a load offset, set_loc addresses move with the FDEs.
  const moved = new CallFrameInfo(parseFrameSection(Buffer.from(bytes), true, 8, bases, 0x10000n), 64);
  assert.equal(moved.rowAt(0x403000n + 0x10000n + 0x20n)!.address, 0x403000n + 0x10000n + 0x20n);
});

test('.debug_frame: version 4 CIEs and 64-bit DWARF entries', () => {
  // CIE (64-bit DWARF): id all-ones, version 4, no augmentation, address size 4, segment 0,
  // code 1, data -4, ra 8; def_cfa esp+4; eip at cfa-4.
  const cie = [...le(0xffffffffffffffffn, 8), 4, 0, 4, 0, 1, 0x7c, 8, 0x0c, 4, 4, 0x88, 1];
  // FDE: CIE at offset 0, begin 0x100000, range 0x10; advance 1, def_cfa_offset 8, ebp at cfa-8.
  const fde = [...le(0n, 8), ...le(0x100000n, 4), ...le(0x10n, 4), 0x41, 0x0e, 8, 0x85, 2];
  const wide = (body: number[]): number[] => [...le(0xffffffffn, 4), ...le(BigInt(body.length), 8), ...body];
  const data = Buffer.from([...wide(cie), ...wide(fde)]);
  const problems: string[] = [];
  const fdes = parseFrameSection(data, false, 4, { section: 0n }, 0n, problems);
  assert.deepEqual(problems, []);
  assert.equal(fdes.length, 1);
  assert.deepEqual([fdes[0].cie.version, fdes[0].cie.addressSize, fdes[0].cie.dataAlign], [4, 4, -4n]);
  const cfi = new CallFrameInfo(fdes, 32);
  const row = cfi.rowAt(0x100005n)!;
  assert.deepEqual([fmtCfa(row, 32), fmtRule(row.regs.get(5), 32), fmtRule(row.regs.get(8), 32)], ['esp+8', 'c-8', 'c-4']);
  // Unwinding from there: eip at [esp+4], ebp at [esp].
  const mem: MemoryReader = (a, s) => (s !== 4 ? undefined : a === 0x2000n ? 0x7777n : a === 0x2004n ? 0x100100n : undefined);
  const step = cfi.unwindStep(new Map([[4, 0x2000n], [5, 0x1111n]]), 0x100005n, mem, 32)!;
  assert.deepEqual([step.pc, step.cfa, step.regs.get(4), step.regs.get(5), step.regs.get(8)], [0x100100n, 0x2008n, 0x2008n, 0x7777n, 0x100100n]);
  // An unsupported CIE version is reported, not thrown.
  const bad = Buffer.from([...le(BigInt(cie.length - 4), 4), ...le(0xffffffffn, 4), 9, ...cie.slice(9)]);
  const p2: string[] = [];
  assert.deepEqual(parseFrameSection(Buffer.concat([bad, Buffer.from(le(12n, 4)), Buffer.from([...le(0n, 4), ...le(0x1000n, 4), ...le(4n, 4)])]), false, 4, { section: 0n }, 0n, p2), []);
  assert.match(p2.join('\n'), /unsupported version 9/);
});

test('a kernel-sized .debug_frame is looked up by address as its entries say, load offsets carrying into the high half', () => {
  // The common .debug_frame FDEs are kept packed (cfi.ts PackedFdes); entries of other shapes
  // (64-bit DWARF, an augmented CIE) are objects beside them. Lookups must agree with a plain
  // search of every FDE, whatever the order in the section and the load offset.
  const K = 0xffffffff80000000n;
  const entry = (body: Buffer): Buffer => Buffer.concat([u32(body.length), body]);
  const cie = entry(Buffer.from([...u32le(0xffffffff), 1, 0, 1, 0x78, 16, 0x0c, 7, 8])); // def_cfa rsp+8
  const augmented = entry(Buffer.from([...u32le(0xffffffff), 1, 0x7a, 0, 1, 0x78, 16, 0, 0x0c, 7, 8])); // "z", no data
  const parts: Buffer[] = [cie];
  let at = cie.length;
  const add = (b: Buffer): void => { parts.push(b); at += b.length; };
  const augAt = at;
  add(augmented);
  const fde = (begin: bigint, range: bigint, cieAt = 0, instructions: number[] = [0x0e, 16]): Buffer =>
    entry(Buffer.concat([u32(cieAt), u64(begin), u64(range), Buffer.from(instructions)]));
  const starts: bigint[] = [];
  let x = 7n;
  for (let i = 0; i < 400; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    const begin = K + ((x >> 20n) & 0xffffffn) * 16n; // scattered, unsorted, some overlapping
    starts.push(begin);
    add(fde(begin, 0x20n + (x & 0x3f0n)));
  }
  add(fde(0xffffffffffffffffn, 0x10n)); // tombstones and an empty range: never found
  add(fde(0xfffffffffffffffen, 0x10n));
  add(fde(K + 0x10000000n, 0n));
  add(fde(K + 0x2000000n, 0x40n, augAt, [0, 0x0e, 24])); // through the augmented CIE: an object
  add(Buffer.concat([u32(0xffffffff), u64(8n + 8n + 8n + 2n), u64(0n), u64(K + 0x3000000n), u64(0x40n), Buffer.from([0x0e, 32])])); // 64-bit DWARF
  const data = Buffer.concat(parts);
  for (const offset of [0n, 0x7ff00000n, -0x1000n, 0x80000000n]) {
    const image = buildElf({ segments: [{ paddr: 0x100000n, data: Buffer.alloc(16) }], sections: [{ name: '.debug_frame', type: SHT_PROGBITS, data }] });
    const cfi = CallFrameInfo.fromElf(image, 'frames.elf', offset);
    assert.deepEqual(cfi.problems, []);
    const all = cfi.fdes();
    assert.equal(all.length, 402, 'every FDE but the tombstones and the empty one');
    for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].pcBegin <= all[i].pcBegin, 'fdes() by begin');
    const mask = 0xffffffffffffffffn;
    const probes = all.flatMap((f) => [f.pcBegin, f.pcEnd - 1n, f.pcEnd, f.pcBegin - 1n]);
    for (const pc of [...probes, (K + offset) & mask, (0xffffffffffffffffn + offset) & mask]) {
      const holding = all.filter((f) => f.pcBegin <= pc && pc < f.pcEnd);
      const want = holding.length ? holding.reduce((a, b) => (b.pcBegin > a.pcBegin ? b : a)) : undefined;
      const got = cfi.findFde(pc);
      assert.equal(got?.pcBegin, want?.pcBegin, `${hex(pc)} with offset ${offset}`);
      if (got) assert.ok(all.includes(got), 'the same object as fdes() gives');
    }
    // The rules come through either kind: def_cfa rsp+8, then each FDE's own offset.
    assert.equal((cfi.rowAt((K + 0x2000000n + offset + 1n) & mask)!.cfa as { offset: bigint }).offset, 24n);
    assert.equal((cfi.rowAt((K + 0x3000000n + offset) & mask)!.cfa as { offset: bigint }).offset, 32n);
    assert.equal((cfi.rowAt((starts[0] + offset) & mask)!.cfa as { offset: bigint }).offset, 16n);
  }
});

function u32le(v: number): number[] {
  return [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
}
