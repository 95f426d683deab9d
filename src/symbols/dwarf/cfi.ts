// Call frame information: CIEs and FDEs from .eh_frame (with the pointer encodings gcc and ld
// use) and .debug_frame, the CFA program interpreter, and one unwinding step from a frame's
// registers to its caller's; expression rules go to expr.ts's evaluator, the one variables'
// locations use. Register numbers are DWARF's: x86-64 0 rax, 1 rdx, 2 rcx, 3 rbx, 4 rsi, 5 rdi,
// 6 rbp, 7 rsp, 8-15 r8-r15, 16 return address (rip); i386 0 eax, 1 ecx, 2 edx, 3 ebx, 4 esp,
// 5 ebp, 6 esi, 7 edi, 8 return address (eip).
import { ByteReader, DwarfError } from './reader.js';
import { evaluateValue, type FrameContext, type MemoryReader } from './expr.js';
import { ElfImage } from '../elf-file.js';

export type { MemoryReader } from './expr.js';

export type RegRule =
  | { type: 'undefined' }
  | { type: 'same' }
  /** Saved at CFA + offset. */
  | { type: 'offset'; offset: bigint }
  /** The value is CFA + offset. */
  | { type: 'valOffset'; offset: bigint }
  /** Saved in another register. */
  | { type: 'register'; reg: number }
  /** Saved at the address the expression computes (CFA pushed first). */
  | { type: 'expression'; expr: Buffer }
  /** The value is what the expression computes (CFA pushed first). */
  | { type: 'valExpression'; expr: Buffer };

export type CfaRule = { type: 'reg'; reg: number; offset: bigint } | { type: 'expression'; expr: Buffer };

/** The unwinding rules in force over [address, end). Registers without an entry have no rule. */
export interface CfaRow {
  address: bigint;
  end: bigint;
  cfa: CfaRule;
  regs: Map<number, RegRule>;
}

export interface Cie {
  /** Offset in its section. */
  offset: number;
  section: '.eh_frame' | '.debug_frame';
  version: number;
  augmentation: string;
  codeAlign: bigint;
  dataAlign: bigint;
  raReg: number;
  /** DW_EH_PE_* encoding of FDE addresses ('R'); absptr in .debug_frame. */
  fdeEncoding: number;
  lsdaEncoding?: number;
  signalFrame: boolean;
  addressSize: number;
  initialInstructions: Buffer;
  /** For DW_CFA_set_loc: where the initial instructions are (link-time) and the load offset. */
  initialBases: EncodingContext;
}

export interface Fde {
  offset: number;
  cie: Cie;
  /** [pcBegin, pcEnd), with the load offset. */
  pcBegin: bigint;
  pcEnd: bigint;
  instructions: Buffer;
  /** For DW_CFA_set_loc: where the instructions are (link-time), the function, the load offset. */
  bases: EncodingContext;
}

/**
 * An FDE as parsed from its section: its instructions and their bases are made when asked for, so
 * that the tens of thousands a kernel has (49,208 in Debian's vmlinux) cost a few fields each
 * (before: 60 MB and 0.44 s on a 2-CPU host, a Buffer view and an object per FDE).
 */
class SectionFde implements Fde {
  constructor(
    readonly offset: number, readonly cie: Cie, readonly pcBegin: bigint, readonly pcEnd: bigint,
    /** The link-time start (DW_EH_PE_funcrel's base). */
    private readonly func: bigint, private readonly data: Buffer, private readonly start: number, private readonly end: number,
    private readonly sectionBases: PointerBases, private readonly loadOffset: bigint,
  ) {}

  get instructions(): Buffer {
    return this.data.subarray(this.start, this.end);
  }

  get bases(): EncodingContext {
    return { ...this.sectionBases, section: this.sectionBases.section + BigInt(this.start), func: this.func, loadOffset: this.loadOffset };
  }
}

// Pointer encodings.
export const DW_EH_PE_absptr = 0x00;
export const DW_EH_PE_uleb128 = 0x01;
export const DW_EH_PE_udata2 = 0x02;
export const DW_EH_PE_udata4 = 0x03;
export const DW_EH_PE_udata8 = 0x04;
export const DW_EH_PE_sleb128 = 0x09;
export const DW_EH_PE_sdata2 = 0x0a;
export const DW_EH_PE_sdata4 = 0x0b;
export const DW_EH_PE_sdata8 = 0x0c;
export const DW_EH_PE_pcrel = 0x10;
export const DW_EH_PE_textrel = 0x20;
export const DW_EH_PE_datarel = 0x30;
export const DW_EH_PE_funcrel = 0x40;
export const DW_EH_PE_aligned = 0x50;
export const DW_EH_PE_indirect = 0x80;
export const DW_EH_PE_omit = 0xff;

/** Where the relative pointer encodings are relative to (link-time addresses). */
export interface PointerBases {
  /** Address of the first byte of the data being read (for pcrel). */
  section: bigint;
  text?: bigint;
  data?: bigint;
  func?: bigint;
}

export interface EncodingContext extends PointerBases {
  /** Added to the addresses read (DW_CFA_set_loc). */
  loadOffset: bigint;
}

/** The longest augmentation string read ("zPLRS" and the like are 2-6 bytes). */
const MAX_AUGMENTATION = 64;
/**
 * The highest register number a rule may name (as LLVM's unwinder limits it): x86's DWARF
 * registers end below 150. With it and MAX_REMEMBERED_STATES, a remembered state is a bounded
 * copy, so a program of n bytes does O(n) work however it nests.
 */
export const MAX_CFI_REGISTER = 287;
/** How deep DW_CFA_remember_state may nest (compilers nest one or two deep). */
export const MAX_REMEMBERED_STATES = 64;

function readEncoded(r: ByteReader, enc: number, addressSize: number, bases: PointerBases, valueOnly = false): bigint {
  if (enc === DW_EH_PE_omit) return 0n;
  const fieldAddr = bases.section + BigInt(r.pos);
  if ((enc & 0x70) === DW_EH_PE_aligned) {
    const a = addressSize;
    r.pos = Math.ceil(r.pos / a) * a;
  }
  let v: bigint;
  switch (enc & 0x0f) {
    case DW_EH_PE_absptr: v = r.uN(addressSize, 'pointer'); break;
    case DW_EH_PE_uleb128: v = r.uleb('pointer'); break;
    case DW_EH_PE_udata2: v = BigInt(r.u16('pointer')); break;
    case DW_EH_PE_udata4: v = BigInt(r.u32('pointer')); break;
    case DW_EH_PE_udata8: v = r.u64('pointer'); break;
    case DW_EH_PE_sleb128: v = r.sleb('pointer'); break;
    case DW_EH_PE_sdata2: v = BigInt(r.s16('pointer')); break;
    case DW_EH_PE_sdata4: v = BigInt(r.s32('pointer')); break;
    case DW_EH_PE_sdata8: v = r.s64('pointer'); break;
    default: throw new DwarfError(`${r.section}: unknown pointer encoding 0x${enc.toString(16)} at 0x${(r.pos).toString(16)}`);
  }
  if (valueOnly) return v;
  switch (enc & 0x70) {
    case DW_EH_PE_pcrel: v += fieldAddr; break;
    case DW_EH_PE_textrel:
      if (bases.text === undefined) throw new DwarfError(`${r.section}: text-relative pointer without a .text section`);
      v += bases.text;
      break;
    case DW_EH_PE_datarel:
      if (bases.data === undefined) throw new DwarfError(`${r.section}: data-relative pointer without a .got section`);
      v += bases.data;
      break;
    case DW_EH_PE_funcrel: v += bases.func ?? 0n; break;
    default: break;
  }
  return BigInt.asUintN(addressSize * 8, v);
}

/**
 * Parses the CIEs and FDEs of one section. `eh` selects the .eh_frame conventions (CIE id 0,
 * CIE pointers relative to themselves, augmentation data, terminator of length 0).
 * Malformed entries end the parse of that section (the entries before them are kept).
 */
export function parseFrameSection(
  data: Buffer, eh: boolean, addressSize: number, bases: PointerBases, loadOffset: bigint,
  problems: string[] = [],
): Fde[] {
  const { fdes, packed } = readFrameSection(data, eh, addressSize, bases, loadOffset, problems);
  return packed ? [...fdes, ...packed.all()] : fdes;
}

/**
 * parseFrameSection's work, where .debug_frame's common FDEs are kept packed (`packed`, by
 * address) and the rest as objects (`fdes`, in section order).
 */
function readFrameSection(
  data: Buffer, eh: boolean, addressSize: number, bases: PointerBases, loadOffset: bigint, problems: string[],
): { fdes: Fde[]; packed?: PackedFdes } {
  const name = eh ? '.eh_frame' : '.debug_frame';
  const cies = new Map<number, Cie | null>();
  const fdes: Fde[] = [];
  const mask = (1n << BigInt(addressSize * 8)) - 1n;

  const packed = eh || addressSize !== 8 ? undefined : new PackedFdes(data, (off) => parseCie(off)!, bases, loadOffset);
  const parseCie = (off: number): Cie | null => {
    if (cies.has(off)) return cies.get(off)!;
    let cie: Cie | null = null;
    try {
      cie = readCie(off);
    } catch (e) {
      problems.push((e as Error).message);
    }
    cies.set(off, cie);
    return cie;
  };

  const readCie = (off: number): Cie | null => {
    const r = new ByteReader(data, name, off);
    const { length, offsetSize } = r.initialLength('CIE length');
    const end = r.pos + length;
    if (end > data.length) throw new DwarfError(`${name}: CIE at 0x${off.toString(16)} (${length} bytes) runs past the end of the section`);
    r.end = end;
    const id = offsetSize === 8 ? r.u64('CIE id') : BigInt(r.u32('CIE id'));
    const isCie = eh ? id === 0n : id === (offsetSize === 8 ? 0xffffffffffffffffn : 0xffffffffn);
    if (!isCie) throw new DwarfError(`${name}: entry at 0x${off.toString(16)} is named as a CIE but is not one`);
    const version = r.u8('CIE version');
    if (version !== 1 && version !== 3 && version !== 4) {
      problems.push(`${name}: CIE at 0x${off.toString(16)} has unsupported version ${version}`);
      return null;
    }
    // FDEs may name any offset as their CIE: a bounded read keeps each look cheap.
    const augmentation = r.cstring('augmentation', MAX_AUGMENTATION);
    let cieAddressSize = addressSize;
    if (augmentation.includes('eh')) r.skip(addressSize, 'eh data');
    if (version >= 4) {
      cieAddressSize = r.u8('address size');
      r.u8('segment selector size');
    }
    const codeAlign = r.uleb('code alignment');
    const dataAlign = r.sleb('data alignment');
    const raReg = version === 1 ? r.u8('return address register') : r.ulebN('return address register');
    let fdeEncoding = DW_EH_PE_absptr;
    let lsdaEncoding: number | undefined;
    let signalFrame = false;
    if (augmentation.startsWith('z')) {
      const augLen = r.ulebN('augmentation length');
      const augEnd = r.pos + augLen;
      for (const c of augmentation.slice(1)) {
        if (c === 'R') fdeEncoding = r.u8('FDE encoding');
        else if (c === 'L') lsdaEncoding = r.u8('LSDA encoding');
        else if (c === 'P') {
          const pe = r.u8('personality encoding');
          readEncoded(r, pe & ~DW_EH_PE_indirect, cieAddressSize, bases);
        } else if (c === 'S') signalFrame = true;
        else break; // unknown: the rest is skipped by length
      }
      r.pos = augEnd;
    } else if (augmentation !== '' && augmentation !== 'eh') {
      problems.push(`${name}: CIE at 0x${off.toString(16)} has unknown augmentation "${augmentation}"`);
      return null;
    }
    return {
      offset: off, section: name, version, augmentation, codeAlign, dataAlign, raReg, fdeEncoding, lsdaEncoding, signalFrame,
      addressSize: cieAddressSize, initialInstructions: data.subarray(r.pos, end),
      initialBases: { ...bases, section: bases.section + BigInt(r.pos), loadOffset },
    };
  };

  // The common .debug_frame FDE goes to `packed`, read in place (see PackedFdes).
  const view = packed ? new DataView(data.buffer, data.byteOffset, data.length) : undefined;
  let off = 0;
  while (off + 4 <= data.length) {
    if (view && off + 24 <= data.length) {
      const length = view.getUint32(off, true);
      const id = view.getUint32(off + 4, true);
      const end = off + 4 + length;
      if (length >= 20 && length < 0xfffffff0 && end <= data.length && id !== 0xffffffff) {
        const cie = parseCie(id);
        if (cie && cie.addressSize === 8 && cie.augmentation === '') {
          packed!.add(off, view.getUint32(off + 8, true), view.getUint32(off + 12, true), view.getUint32(off + 16, true), view.getUint32(off + 20, true));
          off = end;
          continue;
        }
      }
    }
    const r = new ByteReader(data, name, off);
    let length: number;
    let offsetSize: 4 | 8;
    try {
      ({ length, offsetSize } = r.initialLength('entry length'));
    } catch (e) {
      problems.push((e as Error).message);
      break;
    }
    if (length === 0) {
      if (eh) break; // the .eh_frame terminator
      off = r.pos;
      continue;
    }
    const end = r.pos + length;
    if (end > data.length) {
      problems.push(`${name}: entry at 0x${off.toString(16)} (${length} bytes) runs past the end of the section`);
      break;
    }
    r.end = end;
    try {
      const idPos = r.pos;
      const id = offsetSize === 8 ? r.u64('CIE pointer') : BigInt(r.u32('CIE pointer'));
      const isCie = eh ? id === 0n : id === (offsetSize === 8 ? 0xffffffffffffffffn : 0xffffffffn);
      if (isCie) {
        parseCie(off);
      } else {
        const cieOff = eh ? idPos - Number(id) : Number(id);
        const cie = parseCie(cieOff);
        if (cie) {
          const enc = eh ? cie.fdeEncoding : DW_EH_PE_absptr;
          const pcBegin = readEncoded(r, enc, cie.addressSize, bases);
          const range = readEncoded(r, enc & 0x0f, cie.addressSize, bases, true);
          if (cie.augmentation.startsWith('z')) r.skip(r.ulebN('augmentation length'), 'augmentation data');
          // Discarded functions keep FDEs at address 0 (or all-ones tombstones): not code.
          const tomb = pcBegin === mask || pcBegin === mask - 1n;
          if (range > 0n && !tomb) {
            const begin = (pcBegin + loadOffset) & mask;
            fdes.push(new SectionFde(off, cie, begin, begin + range, pcBegin, data, r.pos, end, bases, loadOffset));
          }
        }
      }
    } catch (e) {
      problems.push((e as Error).message);
    }
    off = end;
  }
  packed?.sort();
  return { fdes, packed: packed?.size ? packed : undefined };
}

/**
 * The common .debug_frame FDEs (32-bit DWARF, 8-byte absolute addresses, no augmentation), kept
 * as numbers in typed arrays and found by address, an FDE object made only when one is looked
 * up. A kernel has tens of thousands (49,208 in Debian's vmlinux): an object and two BigInts
 * each took 0.1 s on a 2-CPU host and about 0.7 s in the test VM, at the first stop's stack.
 */
class PackedFdes {
  private count = 0;
  private readonly offsets: Uint32Array;
  /** Per FDE: begin and end with the load offset, as 32-bit halves (low first): 4 words. */
  private readonly words: Uint32Array;
  /** The same, as 64-bit numbers: begin at 2i, end at 2i + 1 (x86 is little-endian). */
  private readonly pairs: BigUint64Array;
  /** FDE indexes by begin, section order among equal begins. */
  private order = new Uint32Array(0);
  private readonly made = new Map<number, Fde>();
  private readonly offsetLo: number;
  private readonly offsetHi: number;

  constructor(
    private readonly data: Buffer, private readonly cieAt: (off: number) => Cie,
    private readonly bases: PointerBases, private readonly loadOffset: bigint,
  ) {
    const most = Math.floor(data.length / 24);
    this.offsets = new Uint32Array(most);
    this.pairs = new BigUint64Array(most * 2);
    this.words = new Uint32Array(this.pairs.buffer);
    const o = BigInt.asUintN(64, loadOffset);
    this.offsetLo = Number(o & 0xffffffffn);
    this.offsetHi = Number(o >> 32n);
  }

  get size(): number {
    return this.count;
  }

  /** The FDE at `off`, whose link-time begin and range are these 32-bit halves. */
  add(off: number, beginLo: number, beginHi: number, rangeLo: number, rangeHi: number): void {
    if ((rangeLo | rangeHi) === 0) return;
    // Discarded functions keep FDEs at address 0 (or all-ones tombstones): not code.
    if (beginHi === 0xffffffff && beginLo >= 0xfffffffe) return;
    const i = this.count++;
    this.offsets[i] = off;
    const w = this.words;
    const lo = beginLo + this.offsetLo;
    w[4 * i] = lo; // the typed array keeps the low 32 bits
    w[4 * i + 1] = beginHi + this.offsetHi + (lo > 0xffffffff ? 1 : 0);
    const endLo = w[4 * i] + rangeLo;
    const endHi = w[4 * i + 1] + rangeHi + (endLo > 0xffffffff ? 1 : 0);
    // An end past 2^64 stays at the top: no address lies beyond it.
    if (endHi > 0xffffffff) w[4 * i + 2] = w[4 * i + 3] = 0xffffffff;
    else {
      w[4 * i + 2] = endLo;
      w[4 * i + 3] = endHi;
    }
  }

  sort(): void {
    const w = this.words;
    this.order = new Uint32Array(this.count).map((_, i) => i)
      .sort((a, b) => w[4 * a + 1] - w[4 * b + 1] || w[4 * a] - w[4 * b] || a - b);
  }

  /** The FDE holding pc with the highest begin (among the 32 that begin last at or below it). */
  find(pc: bigint): Fde | undefined {
    if (pc < 0n || pc > 0xffffffffffffffffn) return undefined;
    const hi = Number(pc >> 32n);
    const lo = Number(pc & 0xffffffffn);
    const w = this.words;
    const order = this.order;
    let a = 0;
    let b = order.length;
    while (a < b) {
      const mid = (a + b) >> 1;
      const i = order[mid];
      if (w[4 * i + 1] < hi || (w[4 * i + 1] === hi && w[4 * i] <= lo)) a = mid + 1;
      else b = mid;
    }
    for (let k = a - 1, n = 0; k >= 0 && n < 32; k--, n++) {
      const i = order[k];
      if (w[4 * i + 3] > hi || (w[4 * i + 3] === hi && w[4 * i + 2] > lo)) return this.fde(i);
    }
    return undefined;
  }

  /** Every FDE, by begin. */
  all(): Fde[] {
    return Array.from(this.order, (i) => this.fde(i));
  }

  private fde(i: number): Fde {
    let f = this.made.get(i);
    if (!f) {
      const off = this.offsets[i];
      const d = this.data;
      const cie = this.cieAt(d.readUInt32LE(off + 4));
      f = new SectionFde(off, cie, this.pairs[2 * i], this.pairs[2 * i + 1], d.readBigUInt64LE(off + 8), d, off + 24,
        off + 4 + d.readUInt32LE(off), this.bases, this.loadOffset);
      this.made.set(i, f);
    }
    return f;
  }
}

interface State {
  cfa: CfaRule;
  regs: Map<number, RegRule>;
}

function cloneState(s: State): State {
  return { cfa: { ...s.cfa }, regs: new Map(s.regs) };
}

/**
 * Executes CFA instructions starting at `loc`. `onRow(loc, state)` is called with each row as it
 * ends (when the location advances); execution stops once the location passes `stopAfter`.
 * Returns the final location and state.
 */
function execute(
  instructions: Buffer, section: string, cie: Cie, state: State, initial: State | undefined, loc: bigint,
  stopAt: bigint | undefined, onRow: ((loc: bigint, next: bigint, s: State) => void) | undefined, ctx: EncodingContext,
): { loc: bigint; state: State; stopped: boolean; next?: bigint } {
  const r = new ByteReader(instructions, section);
  const stack: State[] = [];
  const regN = (): number => {
    const reg = r.ulebN('register');
    if (reg > MAX_CFI_REGISTER) throw new DwarfError(`${section}: register ${reg} in the entry for CIE 0x${cie.offset.toString(16)} is beyond the last DWARF register (${MAX_CFI_REGISTER})`);
    return reg;
  };
  const ruleFor = (reg: number): RegRule | undefined => initial?.regs.get(reg);
  const restore = (reg: number): void => {
    const rule = ruleFor(reg);
    if (rule) state.regs.set(reg, rule);
    else state.regs.delete(reg);
  };
  let stopNext: bigint | undefined;
  const advanceTo = (next: bigint): boolean => {
    if (stopAt !== undefined && next > stopAt) {
      stopNext = next;
      return true;
    }
    if (next !== loc) onRow?.(loc, next, state);
    loc = next;
    return false;
  };
  const da = cie.dataAlign;
  const ca = cie.codeAlign;
  const setCfaOffset = (offset: bigint): void => {
    if (state.cfa.type === 'reg') state.cfa = { ...state.cfa, offset };
  };
  while (!r.atEnd) {
    const op = r.u8('CFA opcode');
    const hi = op & 0xc0;
    const low = op & 0x3f;
    if (hi === 0x40) { // DW_CFA_advance_loc
      if (advanceTo(loc + BigInt(low) * ca)) return { loc, state, stopped: true, next: stopNext };
      continue;
    }
    if (hi === 0x80) { // DW_CFA_offset
      state.regs.set(low, { type: 'offset', offset: r.uleb() * da });
      continue;
    }
    if (hi === 0xc0) { // DW_CFA_restore
      restore(low);
      continue;
    }
    switch (op) {
      case 0x00: break; // nop
      case 0x01: { // set_loc
        const enc = cie.section === '.eh_frame' ? cie.fdeEncoding : DW_EH_PE_absptr;
        const next = BigInt.asUintN(cie.addressSize * 8, readEncoded(r, enc, cie.addressSize, ctx) + ctx.loadOffset);
        if (advanceTo(next)) return { loc, state, stopped: true, next: stopNext };
        break;
      }
      case 0x02: if (advanceTo(loc + BigInt(r.u8()) * ca)) return { loc, state, stopped: true, next: stopNext }; break;
      case 0x03: if (advanceTo(loc + BigInt(r.u16()) * ca)) return { loc, state, stopped: true, next: stopNext }; break;
      case 0x04: if (advanceTo(loc + BigInt(r.u32()) * ca)) return { loc, state, stopped: true, next: stopNext }; break;
      case 0x05: { const reg = regN(); state.regs.set(reg, { type: 'offset', offset: r.uleb() * da }); break; }
      case 0x06: restore(regN()); break;
      case 0x07: state.regs.set(regN(), { type: 'undefined' }); break;
      case 0x08: state.regs.set(regN(), { type: 'same' }); break;
      case 0x09: { const reg = regN(); state.regs.set(reg, { type: 'register', reg: regN() }); break; }
      case 0x0a: // remember_state
        if (stack.length >= MAX_REMEMBERED_STATES) throw new DwarfError(`${section}: DW_CFA_remember_state nested more than ${MAX_REMEMBERED_STATES} deep`);
        stack.push(cloneState(state));
        break;
      case 0x0b: { // restore_state: the CFA rule comes back too (as gcc and gdb do)
        const s = stack.pop();
        if (!s) throw new DwarfError(`${section}: DW_CFA_restore_state without a remembered state`);
        state.cfa = s.cfa;
        state.regs = s.regs;
        break;
      }
      case 0x0c: { const reg = regN(); state.cfa = { type: 'reg', reg, offset: r.uleb() }; break; }
      case 0x0d: {
        const reg = regN();
        state.cfa = state.cfa.type === 'reg' ? { ...state.cfa, reg } : { type: 'reg', reg, offset: 0n };
        break;
      }
      case 0x0e: setCfaOffset(r.uleb()); break;
      case 0x0f: state.cfa = { type: 'expression', expr: r.bytes(r.ulebN()) }; break;
      case 0x10: { const reg = regN(); state.regs.set(reg, { type: 'expression', expr: r.bytes(r.ulebN()) }); break; }
      case 0x11: { const reg = regN(); state.regs.set(reg, { type: 'offset', offset: r.sleb() * da }); break; }
      case 0x12: { const reg = regN(); state.cfa = { type: 'reg', reg, offset: r.sleb() * da }; break; }
      case 0x13: setCfaOffset(r.sleb() * da); break;
      case 0x14: { const reg = regN(); state.regs.set(reg, { type: 'valOffset', offset: r.uleb() * da }); break; }
      case 0x15: { const reg = regN(); state.regs.set(reg, { type: 'valOffset', offset: r.sleb() * da }); break; }
      case 0x16: { const reg = regN(); state.regs.set(reg, { type: 'valExpression', expr: r.bytes(r.ulebN()) }); break; }
      case 0x2e: r.uleb(); break; // GNU_args_size
      case 0x2f: { const reg = regN(); state.regs.set(reg, { type: 'offset', offset: -r.uleb() * da }); break; }
      default:
        throw new DwarfError(`${section}: unknown CFA instruction 0x${op.toString(16)} in the entry for CIE 0x${cie.offset.toString(16)}`);
    }
  }
  return { loc, state, stopped: false };
}

const INITIAL_CFA: CfaRule = { type: 'reg', reg: 0, offset: 0n };

export interface UnwindResult {
  /** The caller's pc (the return address). */
  pc: bigint;
  /** The caller's registers (DWARF numbers), the return-address column set to `pc`. */
  regs: Map<number, bigint>;
  /** The canonical frame address of the frame unwound from (the caller's stack pointer). */
  cfa: bigint;
}

function byBegin(a: Fde, b: Fde): number {
  return a.pcBegin < b.pcBegin ? -1 : a.pcBegin > b.pcBegin ? 1 : 0;
}

function spReg(bits: 32 | 64): number {
  return bits === 64 ? 7 : 4;
}
function bpReg(bits: 32 | 64): number {
  return bits === 64 ? 6 : 5;
}
function raReg(bits: 32 | 64): number {
  return bits === 64 ? 16 : 8;
}

/**
 * Rows kept by pc, at most this many: each stop unwinds its frames again, mostly at the pcs of
 * the last stop (the callers' return addresses do not move while a step stays in a function),
 * and finding a row runs its CIE's and FDE's instructions from the start of the function.
 */
const ROWS_KEPT = 4096;

export class CallFrameInfo {
  private readonly sorted: Fde[];
  private everyFde?: Fde[];
  private readonly rows = new Map<bigint, CfaRow | undefined>();
  /** Problems met while parsing (unsupported CIEs, truncated entries); parsing went on past them. */
  readonly problems: string[];

  /** `packed`: .debug_frame FDEs kept by address, looked up after `fdes`. */
  constructor(fdes: Fde[], readonly bits: 32 | 64, problems: string[] = [], private readonly packed?: PackedFdes) {
    // .eh_frame entries first, so that for a function described in both sections the
    // .eh_frame one is found (a stable sort keeps that order among equal starts).
    this.sorted = [...fdes].sort(byBegin);
    this.problems = problems;
  }

  /** The CFI of an ELF file: .eh_frame and .debug_frame together; empty when it has neither. */
  static fromElf(image: ElfImage | Buffer, fileName: string, loadOffset = 0n): CallFrameInfo {
    const elf = ElfImage.of(image, fileName);
    const addressSize = elf.bits / 8;
    const problems: string[] = [];
    const fdes: Fde[] = [];
    const text = elf.sectionHeader('.text')?.addr;
    const got = elf.sectionHeader('.got')?.addr ?? elf.sectionHeader('.got.plt')?.addr;
    const eh = elf.sectionHeader('.eh_frame');
    const ehData = elf.section('.eh_frame');
    if (eh && ehData) {
      for (const f of parseFrameSection(ehData, true, addressSize, { section: eh.addr, text, data: got }, loadOffset, problems)) fdes.push(f);
    }
    const dbg = elf.section('.debug_frame');
    let packed: PackedFdes | undefined;
    if (dbg) {
      const section = readFrameSection(dbg, false, addressSize, { section: 0n, text, data: got }, loadOffset, problems);
      for (const f of section.fdes) fdes.push(f);
      packed = section.packed;
    }
    return new CallFrameInfo(fdes, elf.bits, problems, packed);
  }

  /** Every FDE, by begin. */
  fdes(): Fde[] {
    if (!this.packed) return this.sorted;
    return (this.everyFde ??= [...this.sorted, ...this.packed.all()].sort(byBegin));
  }

  /** The FDE whose range holds `pc`, the innermost (latest begin) where ranges overlap. */
  findFde(pc: bigint): Fde | undefined {
    const object = this.findObject(pc);
    const packed = this.packed?.find(pc);
    return packed && (!object || packed.pcBegin > object.pcBegin) ? packed : object;
  }

  private findObject(pc: bigint): Fde | undefined {
    const a = this.sorted;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (a[mid].pcBegin <= pc) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo - 1, n = 0; i >= 0 && n < 32; i--, n++) {
      if (pc < a[i].pcEnd && pc >= a[i].pcBegin) return a[i];
    }
    return undefined;
  }

  private initialState(cie: Cie): State {
    const state: State = { cfa: { ...INITIAL_CFA }, regs: new Map() };
    execute(cie.initialInstructions, cie.section, cie, state, undefined, 0n, undefined, undefined, cie.initialBases);
    return state;
  }

  /** Every row of an FDE's table, as `readelf --debug-dump=frames-interp` shows it. */
  table(fde: Fde): CfaRow[] {
    const initial = this.initialState(fde.cie);
    const rows: CfaRow[] = [];
    const onRow = (loc: bigint, next: bigint, s: State): void => {
      rows.push({ address: loc, end: next, cfa: { ...s.cfa }, regs: new Map(s.regs) });
    };
    const { loc, state } = execute(fde.instructions, fde.cie.section, fde.cie, cloneState(initial), initial, fde.pcBegin, undefined, onRow, fde.bases);
    if (loc < fde.pcEnd) rows.push({ address: loc, end: fde.pcEnd, cfa: { ...state.cfa }, regs: new Map(state.regs) });
    return rows;
  }

  /** The rules in force at `pc`, or undefined where no FDE covers it or its instructions are corrupt; kept by pc (read-only). */
  rowAt(pc: bigint): CfaRow | undefined {
    if (this.rows.has(pc)) return this.rows.get(pc);
    const fde = this.findFde(pc);
    let row: CfaRow | undefined;
    try {
      row = fde && this.rowIn(fde, pc);
    } catch (e) {
      if (!(e instanceof DwarfError)) throw e;
    }
    if (this.rows.size >= ROWS_KEPT) this.rows.clear();
    this.rows.set(pc, row);
    return row;
  }

  private rowIn(fde: Fde, pc: bigint): CfaRow {
    const initial = this.initialState(fde.cie);
    const res = execute(fde.instructions, fde.cie.section, fde.cie, cloneState(initial), initial, fde.pcBegin, pc, undefined, fde.bases);
    const end = res.next !== undefined && res.next < fde.pcEnd ? res.next : fde.pcEnd;
    return { address: res.loc, end, cfa: res.state.cfa, regs: res.state.regs };
  }

  /**
   * One unwinding step: from the registers of a frame executing at `pc`, the caller's pc,
   * registers and the CFA. Registers without a rule keep their values (as gdb assumes for
   * callee-saved ones); the stack pointer becomes the CFA. `caller` says `pc` is a return
   * address (any frame but the innermost), so the rules at pc - 1 apply (the call may be the
   * function's last instruction). Undefined where no FDE covers the pc, the return address is
   * undefined (the outermost frame), or a value the rules need cannot be read.
   */
  unwindStep(
    regs: Map<number, bigint>, pc: bigint, read: MemoryReader, bits: 32 | 64 = this.bits, caller = false,
  ): UnwindResult | undefined {
    let fde = this.findFde(caller ? pc - 1n : pc);
    // A signal frame's pc is where it was interrupted, not a return address.
    if (caller && fde?.cie.signalFrame) fde = this.findFde(pc) ?? fde;
    if (!fde) return undefined;
    const row = this.rowAt(caller && !fde.cie.signalFrame ? pc - 1n : pc);
    if (!row) return undefined;
    const size = bits / 8;
    const mask = (1n << BigInt(bits)) - 1n;
    const cur = new Map(regs);
    const ra = fde.cie.raReg;
    if (!cur.has(ra)) cur.set(ra, pc);
    // Expressions see this frame's registers and memory; one that fails (an unknown register,
    // unreadable memory, a corrupt expression) leaves the value unknown, like a failed read.
    const frame: FrameContext = { pc, regs: cur, read, bits };
    const evaluate = (expr: Buffer, initial: bigint[]): bigint | undefined => {
      const v = evaluateValue(expr, frame, size, fde.bases.loadOffset, initial);
      return typeof v === 'bigint' ? v : undefined;
    };
    let cfa: bigint | undefined;
    if (row.cfa.type === 'reg') {
      const base = cur.get(row.cfa.reg);
      if (base === undefined) return undefined;
      cfa = (base + row.cfa.offset) & mask;
    } else {
      cfa = evaluate(row.cfa.expr, []);
      if (cfa === undefined) return undefined;
    }
    const out = new Map(cur);
    out.set(spReg(bits), cfa);
    for (const [reg, rule] of row.regs) {
      let v: bigint | undefined;
      switch (rule.type) {
        case 'undefined': out.delete(reg); continue;
        case 'same': v = cur.get(reg); break;
        case 'offset': v = read((cfa + rule.offset) & mask, size); break;
        case 'valOffset': v = (cfa + rule.offset) & mask; break;
        case 'register': v = cur.get(rule.reg); break;
        case 'expression': {
          const addr = evaluate(rule.expr, [cfa]);
          v = addr === undefined ? undefined : read(addr, size);
          break;
        }
        case 'valExpression': v = evaluate(rule.expr, [cfa]); break;
      }
      if (v === undefined) {
        if (reg === ra) return undefined;
        out.delete(reg);
      } else {
        out.set(reg, v & mask);
      }
    }
    const raRule = row.regs.get(ra);
    if (!raRule || raRule.type === 'undefined') return undefined;
    const newPc = out.get(ra);
    if (newPc === undefined) return undefined;
    if (ra !== raReg(bits)) out.set(raReg(bits), newPc);
    return { pc: newPc, regs: out, cfa };
  }
}

/**
 * The frame-pointer fallback: a frame whose code did `push %rbp; mov %rsp, %rbp` keeps the
 * caller's rbp at [rbp] and the return address at [rbp + 8] (ebp, 4 on i386). Undefined when
 * rbp is 0 (the end of the chain, as _start leaves it), misaligned, or unreadable.
 */
export function unwindWithFramePointer(regs: Map<number, bigint>, read: MemoryReader, bits: 32 | 64): UnwindResult | undefined {
  const size = bits / 8;
  const mask = (1n << BigInt(bits)) - 1n;
  const bp = regs.get(bpReg(bits));
  if (bp === undefined || bp === 0n || bp % BigInt(size) !== 0n) return undefined;
  const savedBp = read(bp, size);
  const ra = read((bp + BigInt(size)) & mask, size);
  if (savedBp === undefined || ra === undefined || ra === 0n) return undefined;
  const cfa = (bp + 2n * BigInt(size)) & mask;
  const out = new Map(regs);
  out.set(bpReg(bits), savedBp);
  out.set(spReg(bits), cfa);
  out.set(raReg(bits), ra);
  return { pc: ra, regs: out, cfa };
}
