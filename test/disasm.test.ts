// The disassembler (src/x86/disasm.ts) against GNU objdump, on code assembled with GNU as at
// test time (test/guests/disasm/*.S), plus the CPU-mode helpers (src/x86/modes.ts).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { disassemble, readPagewise, type DisasmLine, type ReadMemory, type Symbolizer } from '../src/x86/disasm.js';
import { cpuMode, codeBitness, cpl, modeLabel, type CpuMode } from '../src/x86/modes.js';

const SRC = join(__dirname, 'guests', 'disasm');
const work = mkdtempSync(join(tmpdir(), 'kvmdbg-disasm-'));
after(() => rmSync(work, { recursive: true, force: true }));

type Bits = 16 | 32 | 64;
const MACHINE: Record<Bits, string> = { 16: 'i8086', 32: 'i386', 64: 'i386:x86-64' };
const VMA: Record<Bits, bigint> = { 16: 0x7c00n, 32: 0x100000n, 64: 0x100000n };

interface Built { bin: Buffer; obj: string; binPath: string; syms: { name: string; off: number }[] }
const built = new Map<Bits, Built>();

/** Assembles test/guests/disasm/code<bits>.S into an object and a raw binary (cached). */
function build(bits: Bits): Built {
  const have = built.get(bits);
  if (have) return have;
  const obj = join(work, `code${bits}.o`);
  const binPath = join(work, `code${bits}.bin`);
  execFileSync('as', [bits === 64 ? '--64' : '--32', '-o', obj, join(SRC, `code${bits}.S`)]);
  execFileSync('objcopy', ['-O', 'binary', '-j', '.text', obj, binPath]);
  const syms = execFileSync('nm', [obj]).toString().trim().split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length === 3 && /^[tT]$/.test(f[1]))
    .map((f) => ({ name: f[2], off: parseInt(f[0], 16) }))
    .sort((a, b) => a.off - b.off);
  const b = { bin: readFileSync(binPath), obj, binPath, syms };
  built.set(bits, b);
  return b;
}

interface OdLine { address: bigint; bytes: Buffer; text: string }

/** Runs objdump and parses its instruction lines. */
function objdump(args: string[]): OdLine[] {
  const out = execFileSync('objdump', ['--insn-width=15', ...args]).toString();
  return [...out.matchAll(/^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*\t(.*)$/gm)].map((m) => ({
    address: BigInt('0x' + m[1]),
    bytes: Buffer.from(m[2].replace(/ /g, ''), 'hex'),
    text: m[3].trim(),
  }));
}

function objdumpBinary(bits: Bits, vma = VMA[bits]): OdLine[] {
  return objdump(['-D', '-b', 'binary', '-m', MACHINE[bits], `--adjust-vma=0x${vma.toString(16)}`, build(bits).binPath]);
}

/** Buffer-backed memory at [base, base+buf.length); any range reaching outside is unreadable. */
function bufferReader(buf: Buffer, base: bigint, calls?: { n: number }): ReadMemory {
  return (addr, len) => {
    if (calls) calls.n++;
    const off = addr - base;
    if (off < 0n || off + BigInt(len) > BigInt(buf.length)) return undefined;
    return buf.subarray(Number(off), Number(off) + len);
  };
}

function symbolizerFor(bits: Bits, base = VMA[bits]): Symbolizer {
  const { syms, bin } = build(bits);
  return (addr) => {
    const off = Number(addr - base);
    if (addr < base || off >= bin.length) return undefined;
    let best: { name: string; off: number } | undefined;
    for (const s of syms) if (s.off <= off) best = s;
    if (!best) return undefined;
    return off === best.off ? best.name : `${best.name}+0x${(off - best.off).toString(16)}`;
  };
}

/**
 * Normalizes the few spots where iced's AT&T output and objdump's legitimately differ: implicit
 * string-instruction segments (`%ds:(%esi)`), the size suffix objdump puts on `lgdtl`,
 * `in (%dx),%al`, the implicit base of `aam $0xa`, and objdump's bare hex before `<symbol>`.
 */
function norm(text: string): string {
  let t = text.replace(/\s+/g, ' ').trim();
  t = t.replace(/%[de]s:(\(%[re]?[sd]i\))/g, '$1');
  t = t.replace(/\(%dx\)/g, '%dx');
  t = t.replace(/(^| |,)([0-9a-f]+) <([^>]+)>/g, '$10x$2 <$3>');
  t = t.replace(/^((?:rep |lock )?)([a-z0-9]+)/, (_m, p: string, mn: string) => p + mn.replace(/^(lgdt|lidt|sgdt|sidt)[wlq]$/, '$1'));
  t = t.replace(/^(aam|aad) \$0xa$/, '$1');
  return t;
}

function assertMatchesObjdump(lines: DisasmLine[], od: OdLine[], what: string): void {
  assert.equal(lines.length, od.length, what);
  for (let i = 0; i < od.length; i++) {
    const l = lines[i], o = od[i];
    const where = `${what} #${i} at 0x${o.address.toString(16)}: ours "${l.text}", objdump "${o.text}"`;
    assert.equal(l.address, o.address, where);
    assert.equal(l.length, o.bytes.length, where);
    assert.deepEqual(l.bytes, o.bytes, where);
    assert.equal(l.invalid, false, where);
    assert.equal(norm(l.text), norm(o.text), where);
  }
}

for (const bits of [16, 32, 64] as const) {
  test(`${bits}-bit: forward decoding matches objdump (boundaries, bytes, text)`, () => {
    const { bin } = build(bits);
    const od = objdumpBinary(bits);
    assert.ok(od.length > 100, 'a long stream');
    const lines = disassemble(bufferReader(bin, VMA[bits]), bits, VMA[bits], 0, od.length);
    assertMatchesObjdump(lines, od, `${bits}-bit`);
  });

  test(`${bits}-bit: symbol annotation matches objdump -d on the object`, () => {
    const { bin, obj } = build(bits);
    const od = objdump(['-d', '-m', MACHINE[bits], `--adjust-vma=0x${VMA[bits].toString(16)}`, obj]);
    const sym = symbolizerFor(bits);
    const lines = disassemble(bufferReader(bin, VMA[bits]), bits, VMA[bits], 0, od.length, sym);
    assertMatchesObjdump(lines, od, `${bits}-bit with symbols`);
    assert.ok(lines.some((l) => /^call +0x[0-9a-f]+ <helper>$/.test(l.text)), 'call annotated');
    assert.equal(lines[0].symbol, 'start');
    assert.equal(lines[1].symbol, `start+0x${(lines[1].address - VMA[bits]).toString(16)}`);
    for (const l of lines) assert.equal(l.symbol, sym(l.address));
  });

  test(`${bits}-bit: positive offsets and counts agree with the forward stream`, () => {
    const { bin } = build(bits);
    const read = bufferReader(bin, VMA[bits]);
    const all = disassemble(read, bits, VMA[bits], 0, 60);
    for (const [anchor, off, count] of [[0, 5, 3], [10, 0, 1], [10, 7, 20], [3, 40, 17]]) {
      const got = disassemble(read, bits, all[anchor].address, off, count);
      assert.deepEqual(got, all.slice(anchor + off, anchor + off + count), `anchor ${anchor} offset ${off}`);
    }
    assert.deepEqual(disassemble(read, bits, VMA[bits], 0, 0), []);
    assert.deepEqual(disassemble(read, bits, VMA[bits], -4, 0), []);
  });

  test(`${bits}-bit: negative offsets land on the forward-decoding boundaries`, () => {
    const { bin } = build(bits);
    // Put the code in the middle of readable junk-free memory: code, code, code, so that the
    // windows behind every anchor are readable instructions (a long variable-length stream).
    const triple = Buffer.concat([bin, bin, bin]);
    const read = bufferReader(triple, VMA[bits]);
    const od = objdump(['-D', '-b', 'binary', '-m', MACHINE[bits], `--adjust-vma=0x${VMA[bits].toString(16)}`,
      writeTmp(`triple${bits}.bin`, triple)]);
    const forward = disassemble(read, bits, VMA[bits], 0, od.length);
    assertMatchesObjdump(forward, od, `${bits}-bit triple`);
    let checked = 0;
    for (const n of [1, 5, 20]) {
      for (let anchor = n; anchor < forward.length; anchor += n === 20 ? 3 : 1) {
        const extra = 3;
        const got = disassemble(read, bits, forward[anchor].address, -n, n + extra);
        const want = forward.slice(anchor - n, anchor + extra);
        assert.equal(got.length, n + extra);
        for (let k = 0; k < want.length; k++) {
          const where = `${bits}-bit anchor ${anchor} offset -${n} line ${k}`;
          assert.equal(got[k].address, want[k].address, where);
          assert.equal(got[k].length, want[k].length, where);
          assert.equal(got[k].text, want[k].text, where);
        }
        // Beyond the end of the stream: unreadable lines
        for (let k = want.length; k < got.length; k++) assert.equal(got[k].text, '?? (unreadable)');
        // count smaller than |offset|: just the first lines of the backward chain
        if (n > 1) assert.deepEqual(disassemble(read, bits, forward[anchor].address, -n, 2), got.slice(0, 2));
        checked++;
      }
    }
    assert.ok(checked > 300, `checked ${checked} anchors`);
  });
}

/**
 * The Intel dialects of iced (NASM-like) and objdump -M intel differ in spelling only; both sides
 * are brought to one form, each rule a known difference: operand-size keywords (objdump leaves
 * them out where a register gives the size), `ds:0x7e00` against `[0x7e00]`, string instructions'
 * operands, `far` on indirect far branches, and mnemonic aliases (pushf/pushfd, iret/iretd,
 * retf/retfq, lgdtw/lgdt, movabs/mov, `fld st,m` / `fld m`, `*1` scale).
 */
function normIntel(text: string): string {
  return text.replace(/\s+/g, ' ').trim()
    .replace(/(BYTE|WORD|DWORD|QWORD|FWORD|TBYTE|XMMWORD|YMMWORD) PTR /g, '')
    .replace(/\b[c-gs]s:(?=\[|0x)/g, '')
    .replace(/\[(0x[0-9a-f]+)\]/g, '$1')
    .replace(/^((?:rep[nez]* )?)(lods|stos|movs|cmps|scas|ins|outs)[bwdq]?\b.*$/, '$1$2')
    .replace(/^(call|jmp) far /, '$1 ')
    .replace(/^(pushf|popf|pusha|popa|iret)[dq]?\b/, '$1')
    .replace(/^(?:data(?:32|64) )?(retf)q?\b|^data32 ret\b|^retd\b/, (m, f) => (f ? 'retf' : 'retd'))
    .replace(/^(lgdt|lidt|sgdt|sidt)[wd]\b/, '$1')
    .replace(/^movabs\b/, 'mov')
    .replace(/^fld st,/, 'fld ')
    .replace(/\*1\]/g, ']')
    .replace(/(^| |,)([0-9a-f]+) <([^>]+)>/g, '$10x$2 <$3>');
}

for (const bits of [16, 32, 64] as const) {
  test(`${bits}-bit, Intel syntax: the same instructions as objdump -M intel, in gdb's spelling`, () => {
    const { bin, obj } = build(bits);
    const od = objdump(['-M', 'intel', '-d', '-m', MACHINE[bits], `--adjust-vma=0x${VMA[bits].toString(16)}`, obj]);
    const lines = disassemble(bufferReader(bin, VMA[bits]), bits, VMA[bits], 0, od.length, symbolizerFor(bits), { syntax: 'intel' });
    assert.equal(lines.length, od.length);
    lines.forEach((l, i) => {
      assert.deepEqual([l.address, l.length], [od[i].address, od[i].bytes.length], `#${i}`);
      assert.equal(normIntel(l.text), normIntel(od[i].text), `#${i} at 0x${l.address.toString(16)}: ours "${l.text}", objdump "${od[i].text}"`);
    });
    const texts = lines.map((l) => l.text.replace(/\s+/g, ' '));
    // No AT&T left, and the spellings a NASM or gdb -M intel reader expects:
    assert.ok(texts.every((t) => !t.includes('%')), 'no AT&T registers');
    assert.ok(texts.some((t) => /^call 0x[0-9a-f]+ <helper>$/.test(t)), 'call annotated');
    assert.ok(texts.some((t) => / (BYTE|WORD|DWORD|QWORD) PTR \[/.test(t)), 'sizes on memory operands');
    if (bits !== 64) assert.ok(texts.some((t) => /^jmp 0x[0-9a-f]+:0x[0-9a-f]+$/.test(t)), 'far jump as selector:offset');
  });
}

test('Intel syntax: RIP-relative operands keep the address comment', () => {
  // lea rax,[rip+0x10]; mov eax,DWORD PTR [rip-0x6]
  const code = Buffer.from('488d0510000000' + '8b05faffffff', 'hex');
  const lines = disassemble(bufferReader(code, 0x100000n), 64, 0x100000n, 0, 2, (a) => (a === 0x100017n ? 'buf' : undefined), { syntax: 'intel' });
  assert.equal(lines[0].text.replace(/\s+/g, ' '), 'lea rax,[rip+0x10] # 0x100017 <buf>');
  assert.equal(lines[1].text.replace(/\s+/g, ' '), 'mov eax,DWORD PTR [rip-0x6] # 0x100007');
});

let tmpN = 0;
function writeTmp(name: string, data: Buffer): string {
  const p = join(work, `${tmpN++}-${name}`);
  writeFileSync(p, data);
  return p;
}

test('negative offsets in front of readable memory give unreadable one-byte lines', () => {
  const { bin } = build(64);
  const read = bufferReader(bin, VMA[64]);
  const fwd = disassemble(read, 64, VMA[64], 0, 10);
  const got = disassemble(read, 64, fwd[3].address, -8, 10);
  // five unreadable bytes just below the code, then the first five instructions
  for (let k = 0; k < 5; k++) {
    assert.equal(got[k].address, VMA[64] - 5n + BigInt(k));
    assert.equal(got[k].text, '?? (unreadable)');
    assert.equal(got[k].invalid, true);
    assert.equal(got[k].length, 1);
    assert.equal(got[k].bytes.length, 0);
  }
  assert.deepEqual(got.slice(5), fwd.slice(0, 5));
});

test('an unreadable page in the middle: decoding stops at it and resumes after it', () => {
  const { bin } = build(64);
  const base = 0x200000n;
  const mem = Buffer.alloc(3 * 4096, 0x90);
  bin.copy(mem, 2 * 4096);
  // the last instruction of page 0 starts 2 bytes before the hole and needs 5 bytes
  mem.set([0xe8, 0x00], 4096 - 2);
  const calls = { n: 0 };
  const inner = bufferReader(mem, base, calls);
  const read: ReadMemory = (addr, len) => {
    const end = addr + BigInt(len);
    if (addr < base + 0x2000n && end > base + 0x1000n) return undefined; // page 1 unmapped
    return inner(addr, len);
  };
  const start = base + 0x1000n - 6n;
  const count = 4 + 2 + 4096 + 10;
  const lines = disassemble(read, 64, start, 0, count);
  assert.equal(lines.length, count);
  for (let k = 0; k < 4; k++) assert.equal(lines[k].text, 'nop');
  assert.deepEqual(lines[4], { address: base + 0xffen, bytes: Buffer.from([0xe8]), text: '(bad)', length: 1, invalid: true });
  assert.deepEqual(lines[5], { address: base + 0xfffn, bytes: Buffer.from([0x00]), text: '(bad)', length: 1, invalid: true });
  for (let k = 0; k < 4096; k++) {
    const l = lines[6 + k];
    assert.equal(l.address, base + 0x1000n + BigInt(k));
    assert.equal(l.text, '?? (unreadable)');
    assert.equal(l.invalid, true);
    assert.equal(l.length, 1);
  }
  const od = objdumpBinary(64, base + 0x2000n).slice(0, 10);
  assertMatchesObjdump(lines.slice(6 + 4096), od, 'after the hole');
  assert.ok(calls.n < 200, `page-wise reads stay few (${calls.n})`);

  // backwards from the first instruction after the hole
  const back = disassemble(read, 64, base + 0x2000n, -3, 4);
  assert.deepEqual(back.map((l) => [l.address, l.text]), [
    [base + 0x1ffdn, '?? (unreadable)'], [base + 0x1ffen, '?? (unreadable)'], [base + 0x1fffn, '?? (unreadable)'],
    [base + 0x2000n, lines[6 + 4096].text],
  ]);
});

test('readPagewise: whole range, page pieces, readable prefix and suffix inside a page', () => {
  const base = 0x10000n;
  const mem = Buffer.alloc(0x4000);
  for (let i = 0; i < mem.length; i++) mem[i] = i & 0xff;
  // readable: [0x10000, 0x11800) and [0x12400, 0x14000)
  const ok = (a: bigint, e: bigint) => (a >= 0x10000n && e <= 0x11800n) || (a >= 0x12400n && e <= 0x14000n);
  const read: ReadMemory = (a, n) => (ok(a, a + BigInt(n)) ? mem.subarray(Number(a - base), Number(a - base) + n) : undefined);
  const r = readPagewise(read, base + 0x100n, 0x3e00);
  for (let i = 0; i < 0x3e00; i++) {
    const a = 0x10100 + i;
    const want = (a < 0x11800 || a >= 0x12400) ? 1 : 0;
    assert.equal(r.readable[i], want, `byte 0x${a.toString(16)}`);
    if (want) assert.equal(r.data[i], (a - 0x10000) & 0xff);
  }
  // a reader that throws or returns short buffers
  const thrower: ReadMemory = () => { throw new Error('boom'); };
  assert.deepEqual([...readPagewise(thrower, 0n, 8).readable], [0, 0, 0, 0, 0, 0, 0, 0]);
  const shorty: ReadMemory = (a, n) => Buffer.alloc(Math.min(n, Number(0x1003n - a) > 0 ? Number(0x1003n - a) : 0), 0xaa);
  const s = readPagewise(shorty, 0x1000n, 8);
  assert.deepEqual([...s.readable], [1, 1, 1, 0, 0, 0, 0, 0]);
  assert.deepEqual([...s.data.subarray(0, 3)], [0xaa, 0xaa, 0xaa]);
});

test('a throwing reader or symbolizer never makes disassemble throw', () => {
  const boom = () => { throw new Error('boom'); };
  const lines = disassemble(boom, 32, 0x1000n, -2, 4, boom);
  assert.equal(lines.length, 4);
  assert.ok(lines.every((l) => l.invalid && l.text === '?? (unreadable)' && l.length === 1));
  assert.deepEqual(lines.map((l) => l.address), [0xffen, 0xfffn, 0x1000n, 0x1001n]);
});

test('invalid opcodes are one-byte (bad) lines and decoding resynchronizes', () => {
  const base = 0x1000n;
  // 64-bit: nop; push %es (invalid in 64-bit); lock nop (lock not allowed); 0f 04 (undefined,
  // and its second byte starts `add $0,%al`); ret; then a truncated mov at the end of memory
  const code64 = Buffer.from([0x90, 0x06, 0xf0, 0x90, 0x0f, 0x04, 0x00, 0xc3, 0x48, 0x8b]);
  const l64 = disassemble(bufferReader(code64, base), 64, base, 0, 11);
  assert.deepEqual(l64.map((l) => [Number(l.address - base), l.length, l.invalid, l.text]), [
    [0, 1, false, 'nop'],
    [1, 1, true, '(bad)'],
    [2, 1, true, '(bad)'],
    [3, 1, false, 'nop'],
    [4, 1, true, '(bad)'],
    [5, 2, false, 'add    $0x0,%al'],
    [7, 1, false, 'ret'],
    [8, 1, true, '(bad)'],
    [9, 1, true, '(bad)'],
    [10, 1, true, '?? (unreadable)'],
    [11, 1, true, '?? (unreadable)'],
  ]);
  assert.deepEqual(l64[1].bytes, Buffer.from([0x06]));
  // the same push %es is fine in 32-bit code; 0f 04 is not
  const l32 = disassemble(bufferReader(code64, base), 32, base, 0, 5);
  assert.deepEqual(l32.map((l) => l.text), ['nop', 'push   %es', '(bad)', 'nop', '(bad)']);
  // objdump agrees that these are not instructions
  const od = objdump(['-D', '-b', 'binary', '-m', 'i386:x86-64', writeTmp('bad.bin', Buffer.from([0x06, 0x0f, 0x04]))]);
  assert.deepEqual(od.map((o) => [o.bytes.length, o.text]), [[1, '(bad)'], [2, '(bad)']]);
  // backwards over bad bytes: the lines are the forward ones
  const back = disassemble(bufferReader(code64, base), 64, base + 7n, -4, 5);
  assert.deepEqual(back, l64.slice(2, 7));
});

test('16-bit code wraps inside its segment (IP and branch targets), addresses stay linear', () => {
  // CS = 0x1000 (base 0x10000). At IP 0xfffc: jmp +0x10 (to IP 0x000e), then a mov whose
  // immediate straddles IP 0xffff -> 0x0000, then nop at IP 1.
  const seg = Buffer.alloc(0x10000, 0x90);
  seg.set([0xeb, 0x10], 0xfffc);
  seg.set([0xb8, 0x34], 0xfffe);
  seg[0] = 0x12;
  const read = bufferReader(seg, 0x10000n);
  const lines = disassemble(read, 16, 0x1fffcn, 0, 3, undefined, { csBase: 0x10000n });
  assert.deepEqual(lines.map((l) => [l.address, l.length, l.text]), [
    [0x1fffcn, 2, 'jmp    0x1000e'],
    [0x1fffen, 3, 'mov    $0x1234,%ax'],
    [0x10001n, 1, 'nop'],
  ]);
  assert.deepEqual(lines[1].bytes, Buffer.from([0xb8, 0x34, 0x12]));
  // the default segment guess (the 64 KiB window holding the address) is the same here
  assert.deepEqual(disassemble(read, 16, 0x1fffcn, 0, 3), lines);
  // and backwards across the wrap
  const back = disassemble(read, 16, 0x10001n, -2, 3, undefined, { csBase: 0x10000n });
  assert.deepEqual(back, lines);
  // a CS base that is not 64 KiB aligned: CS = 0x07c0, code at 07c0:0000 = linear 0x7c00
  const boot = Buffer.alloc(0x200, 0x90);
  boot.set([0xeb, 0xfe], 0x10); // jmp . at IP 0x10
  boot.set([0xe9, 0xed, 0xff], 0x20); // jmp to IP 0x10 (0x23 - 0x13)
  const b = disassemble(bufferReader(boot, 0x7c00n), 16, 0x7c10n, 0, 1, undefined, { csBase: 0x7c00n });
  assert.equal(b[0].text, 'jmp    0x7c10');
  const c = disassemble(bufferReader(boot, 0x7c00n), 16, 0x7c20n, 0, 1, undefined, { csBase: 0x7c00n });
  assert.equal(c[0].text, 'jmp    0x7c10');
});

test('32-bit EIP wraps at 4 GiB; 64-bit code at a higher-half address', () => {
  const top = Buffer.from([0x90, 0x90, 0xeb, 0x00]); // at 0xfffffffc: nop; nop; jmp .+2 (-> 0)
  const low = Buffer.from([0xc3]);
  const read: ReadMemory = (a, n) => (a >= 0xfffffffcn ? bufferReader(top, 0xfffffffcn)(a, n) : bufferReader(low, 0n)(a, n));
  const lines = disassemble(read, 32, 0xfffffffcn, 0, 4);
  assert.deepEqual(lines.map((l) => [l.address, l.text]), [
    [0xfffffffcn, 'nop'], [0xfffffffdn, 'nop'], [0xfffffffen, 'jmp    0x0'], [0n, 'ret'],
  ]);
  assert.deepEqual(disassemble(read, 32, 0n, -3, 4), lines);

  const { bin, syms } = build(64);
  const hi = 0xffffffff80000000n;
  const at = (name: string) => (hi + BigInt(syms.find((x) => x.name === name)!.off)).toString(16);
  const od = objdumpBinary(64, hi);
  const sym = symbolizerFor(64, hi);
  const l64 = disassemble(bufferReader(bin, hi), 64, hi, 0, od.length, sym);
  for (let i = 0; i < od.length; i++) {
    assert.equal(l64[i].address, od[i].address);
    assert.equal(l64[i].text.replace(/ <[^>]+>$/, '').replace(/\s+/g, ' '), norm(od[i].text));
  }
  assert.ok(l64.some((l) => l.text === `call   0x${at('helper')} <helper>`), 'high call target');
  assert.ok(l64.some((l) => new RegExp(`^lea +0x[0-9a-f]+\\(%rip\\),%rsi +# 0x${at('msg')} <msg>$`).test(l.text)), 'rip-relative');
});

test('RIP-relative operands get an objdump-style comment, with the symbol when known', () => {
  const base = 0x400000n;
  const code = Buffer.from([0x48, 0x8d, 0x05, 0x10, 0x00, 0x00, 0x00, 0xff, 0x15, 0xf3, 0xff, 0xff, 0xff]);
  const sym: Symbolizer = (a) => (a === 0x400017n ? 'table' : a === 0x400000n ? 'entry' : undefined);
  const lines = disassemble(bufferReader(code, base), 64, base, 0, 2, sym);
  assert.equal(lines[0].text, 'lea    0x10(%rip),%rax        # 0x400017 <table>');
  assert.equal(lines[0].symbol, 'entry');
  assert.equal(lines[1].text, 'call   *-0xd(%rip)        # 0x400000 <entry>');
  assert.equal(lines[1].symbol, undefined);
  const plain = disassemble(bufferReader(code, base), 64, base, 0, 1);
  assert.equal(plain[0].text, 'lea    0x10(%rip),%rax        # 0x400017');
});

// ---------------------------------------------------------------------------------------------
// cpumode

test('cpuMode / codeBitness / modeLabel truth table', () => {
  const PE = 1n, LMA = 1n << 10n, LME = 1n << 8n, VM = 1n << 17n;
  const rows: [bigint, bigint, boolean, boolean, bigint | undefined, CpuMode, 16 | 32 | 64, string][] = [
    [0n, 0n, false, false, undefined, 'real', 16, 'real mode'],
    [0x10n, 0n, true, false, 2n, 'real', 16, 'real mode'], // D/B set in a real-mode cache: still real
    [0n, LME | LMA, true, true, VM, 'real', 16, 'real mode'], // PE clear wins
    [PE, 0n, false, false, 2n, 'protected16', 16, 'protected mode (16-bit)'],
    [PE, 0n, true, false, 2n, 'protected32', 32, 'protected mode (32-bit)'],
    [PE, 0n, true, false, undefined, 'protected32', 32, 'protected mode (32-bit)'],
    [PE, 0n, false, false, VM | 2n, 'vm86', 16, 'virtual-8086 mode'],
    [PE, 0n, true, false, VM, 'vm86', 16, 'virtual-8086 mode'],
    [PE, LME, true, false, 2n, 'protected32', 32, 'protected mode (32-bit)'], // LME without LMA
    [PE | 0x80000000n, LME | LMA, false, true, 2n, 'long64', 64, 'long mode (64-bit)'],
    [PE | 0x80000000n, LME | LMA, true, true, 2n, 'long64', 64, 'long mode (64-bit)'],
    [PE | 0x80000000n, LME | LMA, true, false, 2n, 'compat32', 32, 'compatibility mode (32-bit)'],
    [PE | 0x80000000n, LME | LMA, false, false, 2n, 'compat16', 16, 'compatibility mode (16-bit)'],
    [PE | 0x80000000n, LME | LMA, true, false, VM, 'compat32', 32, 'compatibility mode (32-bit)'], // VM ignored
    [PE | 0x80000000n, LME | LMA, false, true, VM, 'long64', 64, 'long mode (64-bit)'],
  ];
  for (const [cr0, efer, db, l, rflags, mode, bits, label] of rows) {
    const s = { cr0, efer, cs: { db, l }, ...(rflags === undefined ? {} : { rflags }) };
    const what = JSON.stringify(s, (_k, v) => (typeof v === 'bigint' ? '0x' + v.toString(16) : v));
    assert.equal(cpuMode(s), mode, what);
    assert.equal(codeBitness(mode), bits, what);
    assert.equal(modeLabel(mode), label, what);
  }
  const all: CpuMode[] = ['real', 'vm86', 'protected16', 'protected32', 'long64', 'compat16', 'compat32'];
  assert.equal(new Set(all.map(modeLabel)).size, all.length, 'labels are distinct');
});

test('cpl: 0 in real mode whatever the selector, 3 in vm86, else CS.RPL', () => {
  const PE = 1n, VM = 1n << 17n, LMA = 1n << 10n;
  assert.equal(cpl({ cr0: 0n, cs: { selector: 0x07c3, dpl: 0 } }), 0);
  assert.equal(cpl({ cr0: 0n, cs: { selector: 0xf003, dpl: 3 }, rflags: VM }), 0);
  assert.equal(cpl({ cr0: PE, cs: { selector: 0x1234, dpl: 3 }, rflags: VM | 2n }), 3);
  assert.equal(cpl({ cr0: PE, cs: { selector: 0x08, dpl: 0 }, rflags: 2n }), 0);
  assert.equal(cpl({ cr0: PE, cs: { selector: 0x1b, dpl: 3 } }), 3);
  assert.equal(cpl({ cr0: PE, cs: { selector: 0x29, dpl: 1 } }), 1);
  assert.equal(cpl({ cr0: PE, cs: { selector: 0x33, dpl: 3 }, rflags: 2n }), 3);
  // a conforming segment: DPL 0 but entered from ring 3, RPL carries the CPL
  assert.equal(cpl({ cr0: PE, cs: { selector: 0x13, dpl: 0 } }), 3);
  // VM is ignored in long mode when EFER is given
  assert.equal(cpl({ cr0: PE, efer: LMA, cs: { selector: 0x10, dpl: 0 }, rflags: VM }), 0);
});

test('large negative offsets (decoded in chunks) stay exact and fast', () => {
  const base = 0x100000n;
  const movabs = [0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8]; // 10 bytes each
  const mem = Buffer.alloc(100_000 * 10);
  for (let i = 0; i < 100_000; i++) mem.set(movabs, i * 10);
  const read = bufferReader(mem, base);
  const anchor = base + 500_000n;
  const t0 = Date.now();
  const lines = disassemble(read, 64, anchor, -7000, 7001);
  assert.ok(Date.now() - t0 < 5000, 'bounded work');
  assert.equal(lines.length, 7001);
  assert.equal(lines[7000].address, anchor);
  assert.equal(lines[7000].text, 'movabs $0x807060504030201,%rax');
  lines.forEach((l, k) => assert.equal(l.address, anchor - 10n * BigInt(7000 - k), `line ${k}`));
  assert.ok(lines.every((l) => l.length === 10 && !l.invalid));
});
