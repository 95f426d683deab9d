// Disassembly for the DAP `disassemble` request, on top of iced-x86 (WASM build).
//
// Syntax: GNU AT&T, laid out like gdb/objdump (`mov    %eax,%ebx`, `call   0x100020 <puts>`,
// `lea    0x10(%rip),%rax        # 0x100030 <buf>`), or Intel as gdb's `set disassembly-flavor
// intel` prints it (`mov    DWORD PTR [rbp-0x4],edi`, `lea    rax,[rip+0x10]        # 0x100030
// <buf>`), for people who write NASM or read Intel's manuals. The iced JS build has no symbol-resolver
// callback, so symbols are attached by formatting operands one by one and substituting branch
// targets, plus an objdump-style `# address <symbol>` comment for RIP-relative operands.
//
// Addresses: everything this module takes and returns is a *linear* address (what the caller's
// ReadMemory understands). The instruction pointer the decoder sees is `linear - csBase`, masked
// to the code bitness, so IP wraps inside the code segment exactly as the CPU's does (16-bit code
// wraps at 64 KiB, 32-bit at 4 GiB) and branch targets are computed from IP, then turned back
// into linear addresses. The caller that knows CS (real mode: selector * 16) passes it as
// `options.csBase`; without it, 16-bit code assumes the segment is the 64 KiB-aligned window
// that contains `address` (exact for CS = 0 and for BIOS F000:xxxx; otherwise only targets that
// cross that window's edge come out wrong), and 32/64-bit code assumes a zero base. Linear
// addresses are 32-bit for 16/32-bit code and 64-bit for 64-bit code.
//
// Negative instruction offsets: x86 cannot be decoded backwards, so every byte of a window before
// the anchor (16 bytes per wanted instruction + 64) is decoded once and the start whose
// instruction chain lands exactly on the anchor, with the fewest `(bad)` lines and the most other
// chains converging on it, is taken (see backwardChunk). Work is linear in |offset|.
//
// Never throws: unreadable bytes become one-byte `?? (unreadable)` lines, undecodable ones
// one-byte `(bad)` lines, and a throwing reader or symbolizer counts as "unknown".
//
// Bundling: iced-x86 loads iced_x86_bg.wasm from its own directory (__dirname), so an esbuild
// bundle must keep 'iced-x86' external (like koffi) or ship the .wasm beside the bundle.
import { Code, Decoder, DecoderOptions, Formatter, FormatterSyntax, Instruction, MemorySizeOptions, OpKind } from 'iced-x86';

export interface DisasmLine {
  /** Linear address of the first byte. */
  address: bigint;
  /** The instruction's bytes (empty for unreadable memory). */
  bytes: Buffer;
  text: string;
  /** Bytes the line covers: the instruction length, 1 for `(bad)` and unreadable lines. */
  length: number;
  /** True for undecodable (`(bad)`) and unreadable bytes. */
  invalid: boolean;
  /** Symbol at this address, e.g. "func+0x12", when the symbolizer knows one. */
  symbol?: string;
}

/** Reads guest memory at a linear address; undefined when (any part of) the range is unreadable. */
export type ReadMemory = (addr: bigint, len: number) => Buffer | undefined;

/** Names an address, e.g. "main+0x4"; undefined when unknown. */
export type Symbolizer = (addr: bigint) => string | undefined;

/** The assembly syntax instructions are shown in. */
export type AsmSyntax = 'att' | 'intel';
export const ASM_SYNTAXES: readonly AsmSyntax[] = ['att', 'intel'];

export interface DisasmOptions {
  /** Linear base of CS (real mode: selector << 4). See the module comment for the defaults. */
  csBase?: bigint;
  /** Default: AT&T. */
  syntax?: AsmSyntax;
}

export const PAGE_SIZE = 4096;
const MAX_INSN = 15;
const BACK_CHUNK = 1024;
const MASK64 = (1n << 64n) - 1n;
const MASK32 = 0xffff_ffffn;

// ---------------------------------------------------------------------------------------------
// Memory access

function safeRead(read: ReadMemory, addr: bigint, len: number): Buffer | undefined {
  try {
    const b = read(addr, len);
    return b instanceof Uint8Array ? Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, len)) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads `len` bytes at `addr` even when only part of the range is readable: the whole range is
 * tried first, then each 4 KiB page piece on its own, and for a piece that fails, the longest
 * readable prefix and suffix (binary search), so a region that ends or starts inside a page is
 * still seen. `readable[i]` is 1 where `data[i]` is real. The range must not wrap past 2^64.
 */
export function readPagewise(read: ReadMemory, addr: bigint, len: number): { data: Buffer; readable: Uint8Array } {
  const data = Buffer.alloc(len);
  const readable = new Uint8Array(len);
  if (len <= 0) return { data, readable };
  const whole = safeRead(read, addr, len);
  if (whole && whole.length === len) {
    whole.copy(data);
    readable.fill(1);
    return { data, readable };
  }
  let off = 0;
  while (off < len) {
    const a = addr + BigInt(off);
    const toPageEnd = PAGE_SIZE - Number(a & BigInt(PAGE_SIZE - 1));
    const n = Math.min(toPageEnd, len - off);
    readPiece(read, a, n, data, readable, off);
    off += n;
  }
  return { data, readable };
}

function readPiece(read: ReadMemory, a: bigint, n: number, data: Buffer, readable: Uint8Array, off: number): void {
  const ok = (addr: bigint, len: number, at: number): boolean => {
    const p = safeRead(read, addr, len);
    if (!p || p.length < len) return false;
    p.copy(data, at, 0, len);
    return true;
  };
  const b = safeRead(read, a, n);
  let got = 0;
  if (b) {
    // A short answer counts as a readable prefix.
    got = Math.min(b.length, n);
    b.copy(data, off, 0, got);
    if (got === n) { readable.fill(1, off, off + n); return; }
  }
  // Longest readable prefix: the largest k < n with [a, a+k) readable (got is known good).
  let lo = got, hi = n - 1;
  if (lo === 0 && !ok(a, 1, off)) hi = 0; // first byte unreadable: no prefix
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (ok(a, mid, off)) lo = mid; else hi = mid - 1;
  }
  const prefix = lo;
  readable.fill(1, off, off + prefix);
  // Longest readable suffix of the rest (the byte at `prefix` is unreadable).
  lo = 0; hi = n - prefix - 1;
  if (hi > 0 && !ok(a + BigInt(n - 1), 1, off + n - 1)) hi = 0; // last byte unreadable: no suffix
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (ok(a + BigInt(n - mid), mid, off + n - mid)) lo = mid; else hi = mid - 1;
  }
  readable.fill(1, off + n - lo, off + n);
}

const enum St { Unknown = 0, Ok = 1, Bad = 2 }

/** Page-cached view of linear memory; reads lazily, never the same byte twice. */
class ByteSource {
  private pages = new Map<bigint, { data: Uint8Array; state: Uint8Array }>();
  constructor(private read: ReadMemory, private linMask: bigint) {}

  private page(pn: bigint) {
    let p = this.pages.get(pn);
    if (!p) { p = { data: new Uint8Array(PAGE_SIZE), state: new Uint8Array(PAGE_SIZE) }; this.pages.set(pn, p); }
    return p;
  }

  /** Fetches [lin, lin+len) (wrapping at the linear mask), skipping the parts already known. */
  prefetch(lin: bigint, len: number): void {
    while (len > 0) {
      lin &= this.linMask;
      const n = Number(this.linMask - lin + 1n < BigInt(len) ? this.linMask - lin + 1n : BigInt(len));
      this.fetchRun(lin, n);
      lin += BigInt(n);
      len -= n;
    }
  }

  private fetchRun(lin: bigint, len: number): void {
    // Trim known bytes at both ends so a prefetch that overlaps the cache does not re-read.
    while (len > 0 && this.known(lin)) { lin++; len--; }
    while (len > 0 && this.known(lin + BigInt(len - 1))) len--;
    if (len <= 0) return;
    const { data, readable } = readPagewise(this.read, lin, len);
    for (let i = 0; i < len;) {
      const a = lin + BigInt(i);
      const po = Number(a & BigInt(PAGE_SIZE - 1));
      const p = this.page(a >> 12n);
      const n = Math.min(PAGE_SIZE - po, len - i);
      for (let k = 0; k < n; k++) {
        if (p.state[po + k] !== St.Unknown) continue;
        p.state[po + k] = readable[i + k] ? St.Ok : St.Bad;
        p.data[po + k] = data[i + k];
      }
      i += n;
    }
  }

  private known(lin: bigint): boolean {
    const p = this.pages.get(lin >> 12n);
    return p !== undefined && p.state[Number(lin & BigInt(PAGE_SIZE - 1))] !== St.Unknown;
  }

  /** The byte at `lin`, or -1 when unreadable. */
  byte(lin: bigint): number {
    lin &= this.linMask;
    const po = Number(lin & BigInt(PAGE_SIZE - 1));
    let p = this.pages.get(lin >> 12n);
    if (!p || p.state[po] === St.Unknown) {
      // Miss: fetch a modest chunk, up to the end of the page.
      this.fetchRun(lin, Math.min(256, PAGE_SIZE - po));
      p = this.pages.get(lin >> 12n)!;
    }
    return p.state[po] === St.Ok ? p.data[po] : -1;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

const formatters: Partial<Record<AsmSyntax, Formatter>> = {};

function getFormatter(syntax: AsmSyntax): Formatter {
  let f = formatters[syntax];
  if (!f) {
    f = new Formatter(syntax === 'intel' ? FormatterSyntax.Intel : FormatterSyntax.Gas);
    f.uppercaseHex = false;
    f.branchLeadingZeros = false;
    f.smallHexNumbersInDecimal = false;
    f.ripRelativeAddresses = true; // `0x10(%rip)`, the absolute address goes in the comment
    f.spaceAfterOperandSeparator = false;
    f.firstOperandCharIndex = 0;
    if (syntax === 'intel') {
      // gdb's Intel flavour: 0x hex, `QWORD PTR` on every memory operand.
      f.hexPrefix = '0x';
      f.hexSuffix = '';
      f.uppercaseKeywords = true;
      f.memorySizeOptions = MemorySizeOptions.Always;
    }
    formatters[syntax] = f;
  }
  return f;
}

type Kind = 'ok' | 'bad' | 'unreadable';

interface Ctx {
  bitness: 16 | 32 | 64;
  syntax: AsmSyntax;
  mem: ByteSource;
  ipMask: bigint;
  linMask: bigint;
  base: bigint;
  symbolize?: Symbolizer;
  /** Per call, so a symbolizer that re-enters disassemble() cannot clobber them. */
  ins: Instruction;
  buf: Uint8Array;
}

function linearOf(ctx: Ctx, ip: bigint): bigint {
  return (ctx.base + (ip & ctx.ipMask)) & ctx.linMask;
}

/** Prefetches the bytes at IPs [ip, ip+len), split where IP wraps around. */
function prefetchIp(ctx: Ctx, ip: bigint, len: number): void {
  ip &= ctx.ipMask;
  const toWrap = ctx.ipMask - ip + 1n;
  const first = toWrap < BigInt(len) ? Number(toWrap) : len;
  ctx.mem.prefetch(linearOf(ctx, ip), first);
  if (first < len) ctx.mem.prefetch(linearOf(ctx, 0n), len - first);
}

/** Gathers the (up to 15) readable bytes at `ip`, following IP wrap-around. */
function gather(ctx: Ctx, ip: bigint): number {
  let n = 0;
  for (; n < MAX_INSN; n++) {
    const b = ctx.mem.byte(linearOf(ctx, ip + BigInt(n)));
    if (b < 0) break;
    ctx.buf[n] = b;
  }
  return n;
}

/**
 * Decodes the instruction at `ip` into `ctx.ins` (bytes in `ctx.buf`). Returns its kind and length (1 for bad or
 * unreadable bytes) and the number of bytes gathered.
 */
function decodeAt(ctx: Ctx, ip: bigint): { kind: Kind; len: number; avail: number } {
  const avail = gather(ctx, ip);
  if (avail === 0) return { kind: 'unreadable', len: 1, avail };
  const dec = new Decoder(ctx.bitness, ctx.buf.subarray(0, avail), DecoderOptions.None);
  try {
    dec.ip = ip & ctx.ipMask;
    dec.decodeOut(ctx.ins);
  } finally {
    dec.free();
  }
  if (ctx.ins.code === Code.INVALID || ctx.ins.length === 0) return { kind: 'bad', len: 1, avail };
  return { kind: 'ok', len: ctx.ins.length, avail };
}

function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

function sym(ctx: Ctx, addr: bigint): string | undefined {
  if (!ctx.symbolize) return undefined;
  try {
    const s = ctx.symbolize(addr);
    return s ? s : undefined;
  } catch {
    return undefined;
  }
}

function isNearBranch(k: OpKind): boolean {
  return k === OpKind.NearBranch16 || k === OpKind.NearBranch32 || k === OpKind.NearBranch64;
}

// iced marks the operand size of indirect branches and memory push/pop even when it is the
// default (`callq *(%rax)`, `pushl 4(%eax)`); binutils >= 2.37 only does so when it is not.
const DEFAULT_SUFFIX: Record<16 | 32 | 64, { near: string; far: string }> = {
  16: { near: 'w', far: 'w' },
  32: { near: 'l', far: 'l' },
  64: { near: 'q', far: 'l' },
};

function trimSuffix(mnemonic: string, bitness: 16 | 32 | 64): string {
  return mnemonic.replace(/(^|\s)(l?)(call|jmp|push|pop)([wlq])$/, (m, sp: string, far: string, op: string, sfx: string) => {
    const d = DEFAULT_SUFFIX[bitness];
    if (far && op !== 'call' && op !== 'jmp') return m;
    return sfx === (far ? d.far : d.near) ? sp + far + op : m;
  });
}

/** Formats `ctx.ins` (just decoded) with symbolized branch targets and RIP-relative operands. */
function formatInstruction(ctx: Ctx): string {
  const f = getFormatter(ctx.syntax);
  const att = ctx.syntax === 'att';
  const ins = ctx.ins;
  const mnemonic = att ? trimSuffix(f.formatMnemonic(ins), ctx.bitness) : f.formatMnemonic(ins);
  const ops: string[] = [];
  const n = f.operandCount(ins);
  for (let i = 0; i < n; i++) {
    const io = f.getInstructionOperand(ins, i);
    if (io !== undefined && isNearBranch(ins.opKind(io))) {
      const target = (ctx.base + (ins.nearBranchTarget & ctx.ipMask)) & ctx.linMask;
      const s = sym(ctx, target);
      ops.push(s ? `${hex(target)} <${s}>` : hex(target));
    } else if (!att) {
      ops.push(f.formatOperand(ins, i));
    } else {
      // objdump always prints the scale: `(%rax,%rcx,1)`. (iced's alwaysShowScale would also
      // turn `(%rip)` into `(%rip,)`, so patch the text instead.)
      // 16-bit addressing (`(%bx,%si)`) has no scale.
      // Debug registers are %db0-%db7 in binutils.
      ops.push(f.formatOperand(ins, i)
        .replace(/\(((?:%\w+)?),(%\w+)\)/, (m, b, x) => (x === '%si' || x === '%di' ? m : `(${b},${x},1)`))
        .replace(/^%dr([0-7])$/, '%db$1'));
    }
  }
  let text = ops.length ? `${mnemonic.padEnd(6)} ${ops.join(',')}` : mnemonic;
  if (!att) text = intelAsGdb(text, ins);
  if (ins.isIpRelMemoryOperand) {
    const target = (ctx.base + ins.ipRelMemoryAddress) & ctx.linMask;
    const s = sym(ctx, target);
    text += `        # ${hex(target)}${s ? ` <${s}>` : ''}`;
  }
  return text;
}

/** iced's Intel spellings that gdb and NASM write otherwise: `jmp 0x8:0x100000`, `retf`. */
function intelAsGdb(text: string, ins: Instruction): string {
  if (ins.op0Kind === OpKind.FarBranch16 || ins.op0Kind === OpKind.FarBranch32) {
    const mnemonic = text.split(' ')[0] === 'data32' ? text.split(' ')[1] : text.split(' ')[0];
    return `${mnemonic.padEnd(6)} ${hex(BigInt(ins.farBranchSelector))}:${hex(BigInt(ins.op0Kind === OpKind.FarBranch16 ? ins.farBranch16 : ins.farBranch32))}`;
  }
  return text.replace(/^(data(?:32|64) )?ret far\b/, 'retf');
}

function lineAt(ctx: Ctx, ip: bigint, forceBad = false): DisasmLine {
  const address = linearOf(ctx, ip);
  const d = decodeAt(ctx, ip);
  let line: DisasmLine;
  if (d.kind === 'unreadable') {
    line = { address, bytes: Buffer.alloc(0), text: '?? (unreadable)', length: 1, invalid: true };
  } else if (d.kind === 'bad' || forceBad) {
    line = { address, bytes: Buffer.from(ctx.buf.subarray(0, 1)), text: '(bad)', length: 1, invalid: true };
  } else {
    const bytes = Buffer.from(ctx.buf.subarray(0, d.len));
    line = { address, bytes, text: formatInstruction(ctx), length: d.len, invalid: false };
  }
  const s = sym(ctx, address);
  if (s) line.symbol = s;
  return line;
}

/**
 * Picks the start of the `n` instructions that end exactly at `target` (an IP). Every byte in a
 * window before the target is decoded once; each start position defines a chain of instructions
 * (an instruction that would run past the target is cut to a one-byte `(bad)`, so every chain
 * lands on the target). Among the positions exactly `n` instructions before the target, the one
 * whose chain has the fewest bad lines wins, then the one most other chains converge on (x86
 * streams resynchronize quickly, so the true boundaries collect most chains).
 * Returns the IPs of the chain plus which of them were cut.
 */
function backwardChunk(ctx: Ctx, target: bigint, n: number): { ips: bigint[]; cut: boolean[] } {
  // 16 bytes per instruction: even a stream of 15-byte instructions has n of them in the window.
  const B = 16 * n + 64;
  const start = (target - BigInt(B)) & ctx.ipMask;
  prefetchIp(ctx, start, B + MAX_INSN); // one read for the whole window

  const lens = new Int32Array(B);
  const bad = new Uint8Array(B);
  const cut = new Uint8Array(B);
  for (let i = 0; i < B; i++) {
    const d = decodeAt(ctx, start + BigInt(i));
    let len = d.len;
    let isBad = d.kind === 'bad' ? 1 : 0;
    if (i + len > B) { len = 1; isBad = 1; cut[i] = 1; }
    lens[i] = len;
    bad[i] = isBad;
  }
  const steps = new Int32Array(B + 1);
  const bads = new Int32Array(B + 1);
  for (let i = B - 1; i >= 0; i--) {
    const nx = i + lens[i];
    steps[i] = steps[nx] + 1;
    bads[i] = bads[nx] + bad[i];
  }
  const votes = new Int32Array(B + 1).fill(1);
  for (let i = 0; i < B; i++) votes[i + lens[i]] += votes[i];

  let best = -1;
  for (let j = 0; j < B; j++) {
    if (steps[j] !== n) continue;
    if (best < 0 || bads[j] < bads[best] || (bads[j] === bads[best] && votes[j] > votes[best])) best = j;
  }
  const ips: bigint[] = [];
  const cuts: boolean[] = [];
  if (best < 0) {
    // Cannot happen (the window holds at least n instructions); keep a safe answer anyway:
    // the longest chain, its front padded with one-byte lines.
    best = 0;
    for (let k = steps[0]; k < n; k++) { ips.push(-1n); cuts.push(true); }
  }
  for (let j = best; j < B; j += lens[j]) {
    ips.push((start + BigInt(j)) & ctx.ipMask);
    cuts.push(cut[j] === 1);
  }
  if (ips[0] === -1n) {
    // Fill the padding with the bytes just before the chain's first instruction.
    const first = ips.findIndex((v) => v !== -1n);
    for (let k = first - 1; k >= 0; k--) ips[k] = (ips[k + 1] - 1n) & ctx.ipMask;
  }
  return { ips, cut: cuts };
}

/** Backward chain of `n` instructions ending at `target`, in chunks of at most 1024 (linear work). */
function backwardChain(ctx: Ctx, target: bigint, n: number): { ips: bigint[]; cut: boolean[] } {
  const parts: { ips: bigint[]; cut: boolean[] }[] = [];
  for (let cur = target, left = n; left > 0;) {
    const m = Math.min(left, BACK_CHUNK);
    const part = backwardChunk(ctx, cur, m);
    parts.unshift(part);
    cur = part.ips[0];
    left -= m;
  }
  return { ips: parts.flatMap((p) => p.ips), cut: parts.flatMap((p) => p.cut) };
}

/**
 * DAP `disassemble`: exactly `count` lines, the first one `instructionOffset` instructions away
 * from the instruction at `address` (negative: before it, found by backward resynchronization so
 * lines fall on the same boundaries forward decoding from an earlier point would give).
 * `address` and the returned addresses are linear; see the module comment for `options.csBase`.
 */
export function disassemble(
  read: ReadMemory,
  bitness: 16 | 32 | 64,
  address: bigint,
  instructionOffset: number,
  count: number,
  symbolize?: Symbolizer,
  options: DisasmOptions = {},
): DisasmLine[] {
  if (!(count > 0)) return [];
  count = Math.floor(count);
  instructionOffset = Math.trunc(instructionOffset) || 0;
  const ipMask = bitness === 64 ? MASK64 : bitness === 32 ? MASK32 : 0xffffn;
  const linMask = bitness === 64 ? MASK64 : MASK32;
  address &= linMask;
  let base = bitness === 64 ? 0n : (options.csBase ?? (bitness === 16 ? address & ~0xffffn : 0n)) & linMask;
  if (bitness === 16 && ((address - base) & linMask) > 0xffffn) base = address & ~0xffffn;
  const ctx: Ctx = {
    bitness, syntax: options.syntax ?? 'att', mem: new ByteSource(read, linMask), ipMask, linMask, base, symbolize,
    ins: new Instruction(), buf: new Uint8Array(MAX_INSN),
  };
  try {
    return run(ctx, address, instructionOffset, count);
  } finally {
    ctx.ins.free();
  }
}

function run(ctx: Ctx, address: bigint, instructionOffset: number, count: number): DisasmLine[] {
  const { ipMask, base } = ctx;
  const target = (address - base) & ipMask;

  const out: DisasmLine[] = [];
  let ip = target;
  if (instructionOffset < 0) {
    const n = -instructionOffset;
    const { ips, cut } = backwardChain(ctx, target, n);
    for (let k = 0; k < ips.length && out.length < count; k++) out.push(lineAt(ctx, ips[k], cut[k]));
  } else if (instructionOffset > 0) {
    prefetchIp(ctx, ip, Math.min(instructionOffset * 8 + MAX_INSN, 1 << 16));
    for (let k = 0; k < instructionOffset; k++) ip = (ip + BigInt(decodeAt(ctx, ip).len)) & ipMask;
  }
  const rest = count - out.length;
  if (rest > 0) {
    prefetchIp(ctx, ip, Math.min(rest * 8 + MAX_INSN, 1 << 16));
    while (out.length < count) {
      const line = lineAt(ctx, ip);
      out.push(line);
      ip = (ip + BigInt(line.length)) & ipMask;
    }
  }
  return out;
}
