// Everything the adapter knows about the guest's code: ELF symbols and DWARF line tables from
// the program (when it is an ELF) and from the extra `symbols` files of launch.json (ELF files, or a
// System.map or kallsyms text: symbols only, src/symbols/system-map.ts). Each file is
// read and its ELF parsed once; the program's bytes are handed on to the machine's loader. A
// symbols file that is ELF is read a section at a time, as its readers ask (ElfImage), and its
// line table a program at a time (LineTable): a distribution kernel's -dbg vmlinux is 600 MB.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { SymbolTable } from '../symbols/elf-symbols.js';
import { LineTable } from '../symbols/dwarf/line.js';
import { CallFrameInfo } from '../symbols/dwarf/cfi.js';
import { DwarfVariables, type DwarfVariable, type NameIndexState, type ScopeFrame } from '../symbols/dwarf/variables.js';
import type { CType } from '../symbols/dwarf/types.js';
import { isElf, type ElfSymbol } from '../symbols/elf-parse.js';
import { Btf, type BtfVariable } from '../symbols/btf.js';
import { isSystemMap, parseSystemMap } from '../symbols/system-map.js';
import { ElfImage } from '../symbols/elf-file.js';
import { readImage } from '../vmm/machine.js';
import { LaunchError } from '../errors.js';
import { PER_CPU_SECTION } from './linux/kernel-data.js';

export interface SymbolFile {
  path: string;
  /**
   * Added to every address in the file (for code loaded somewhere other than its link address).
   * Omitted: 0, except for a 64-bit Linux kernel's symbols (a System.map, or an ELF vmlinux):
   * there the running kernel's KASLR slide (setKernelSlide), found once it runs; until then its
   * symbols are at their link addresses (right for nokaslr), afterwards moved by the slide.
   */
  offset?: bigint;
}

/** Where a kernel's symbols moved: every address in [from, to) by `by`. */
export interface SymbolsMove {
  from: bigint;
  to: bigint;
  by: bigint;
}

export interface SourceLocation {
  file: string;
  line: number;
  column: number;
  /** The address where this line's code starts. */
  address: bigint;
}

interface DebugFile {
  path: string;
  offset: bigint;
  symbols: SymbolTable;
  /** A kernel's file whose offset is the running kernel's slide: `at` reads it again moved. */
  kaslr?: { slid: boolean; at: (offset: bigint) => DebugFile };
  lines: LineTable;
  /** Read when the unwinder first needs it (a kernel's .debug_frame: 0.17 s and 22 MB on a 2-CPU host). */
  frames: () => CallFrameInfo;
  variables: DwarfVariables;
  /**
   * A Linux kernel's per-CPU section (.data..percpu) as linked, with the load offset: its
   * variables' DWARF addresses are offsets into each CPU's area, where no CPU's copy lies.
   */
  perCpu?: { start: bigint; end: bigint };
  /** The file's BTF (a vmlinux's .BTF section), parsed when first asked for; types DWARF lacks. */
  btf: () => Btf | undefined;
}

export class DebugInfo {
  private readonly files: DebugFile[] = [];
  /** The monitor's BIOS routines (bios_int10, bios_irq0...), after the files' own symbols. */
  private firmware: SymbolTable | undefined;
  /** A running Linux kernel's loaded modules' symbols (read from its memory), before the files'. */
  private kernelModules: SymbolTable | undefined;
  /** The program file's bytes, read once per launch (the loader takes them from here). */
  readonly programImage: Buffer;

  /** Loads the program (if ELF) and every symbols file. Bad symbol files fail the launch. */
  constructor(program: string, extra: SymbolFile[]) {
    const programImage = (this.programImage = readImage(program));
    if (isElf(programImage)) this.files.push(elfFile(program, ElfImage.open(programImage, program), 0n));
    for (const s of extra) {
      let image: Buffer | undefined;
      try {
        if (!isElf(fileStart(s.path, 4))) image = readFileSync(s.path);
      } catch (e) {
        throw new LaunchError(`launch.json: "symbols": cannot read ${s.path}: ${(e as Error).message}`);
      }
      if (!image) this.addElf(s.path, ElfImage.open(s.path), s.offset);
      else if (isSystemMap(image)) this.addSystemMap(s.path, image, s.offset);
      else throw new LaunchError(`launch.json: "symbols": ${s.path} is neither an ELF file nor a System.map ("ADDRESS TYPE NAME" lines)`);
    }
  }

  /** A symbols file that is ELF; without an offset, a kernel's waits for the slide. */
  private addElf(path: string, elf: ElfImage, offset: bigint | undefined): void {
    const file = elfFile(path, elf, offset ?? 0n);
    if (offset === undefined && isLinuxKernel(file.symbols)) file.kaslr = { slid: false, at: (o) => elfFile(path, elf, o) };
    this.files.push(file);
  }

  /**
   * A System.map or kallsyms file: symbols only, no lines, frames or variables. Without an
   * offset its symbols wait for the kernel's slide, at their link addresses until setKernelSlide.
   */
  private addSystemMap(path: string, image: Buffer, offset: bigint | undefined): void {
    let map: ReturnType<typeof parseSystemMap>;
    try {
      map = parseSystemMap(image.toString('latin1'), path);
    } catch (e) {
      throw new LaunchError(`launch.json: "symbols": ${(e as Error).message}`);
    }
    const at = (o: bigint): DebugFile => ({
      path, offset: o,
      symbols: new SymbolTable(map.symbols, o, path, map.bits),
      lines: new LineTable([]),
      frames: once(() => new CallFrameInfo([], map.bits)),
      variables: DwarfVariables.none(map.bits),
      btf: () => undefined,
    });
    const file = at(offset ?? 0n);
    if (offset === undefined) file.kaslr = { slid: false, at };
    this.files.push(file);
  }

  /** Whether a kernel's symbols wait for the running kernel's KASLR slide. */
  get needsKernelSlide(): boolean {
    return this.files.some((f) => f.kaslr && !f.kaslr.slid);
  }

  /** A symbol's address as the waiting kernel files have it (linked, without the slide). */
  linkedKernelSymbol(name: string): bigint | undefined {
    for (const f of this.files) {
      const a = f.kaslr && !f.kaslr.slid ? f.symbols.byName(name)?.value : undefined;
      if (a !== undefined) return a;
    }
    return undefined;
  }

  /** Whether a waiting kernel file has a symbol of this name (a breakpoint on it may move). */
  waitsForSlide(name: string): boolean {
    return this.linkedKernelSymbol(name) !== undefined;
  }

  /** Whether a waiting kernel file's code or data lies at `addr` (a breakpoint there may move). */
  waitsForSlideAt(addr: bigint): boolean {
    return this.files.some((f) => {
      if (!f.kaslr || f.kaslr.slid) return false;
      const { from, to } = extent(f.symbols);
      return addr >= from && addr < to;
    });
  }

  /** The running kernel's slide is known: the waiting files' symbols, lines and variables move by it. */
  setKernelSlide(slide: bigint): SymbolsMove[] {
    return this.moveKernelFiles((f) => !f.kaslr!.slid, slide, true);
  }

  /** The loaded modules' symbols, replacing the earlier set (a module loaded or went). */
  setModuleSymbols(symbols: ElfSymbol[]): void {
    this.kernelModules = symbols.length ? new SymbolTable(symbols, 0n, 'kernel modules', 64) : undefined;
  }

  /**
   * A new kernel boots (a restart): the kernel files wait for its slide again, back at their
   * link addresses, and its modules are not loaded yet. Undefined where nothing moved or went.
   */
  forgetKernelSlide(): SymbolsMove[] | undefined {
    const changed = this.kernelModules !== undefined || this.files.some((f) => f.kaslr?.slid);
    this.kernelModules = undefined;
    const moves = this.moveKernelFiles((f) => f.kaslr!.slid, 0n, false);
    return changed ? moves : undefined;
  }

  private moveKernelFiles(which: (f: DebugFile) => boolean, offset: bigint, slid: boolean): SymbolsMove[] {
    const moves: SymbolsMove[] = [];
    this.files.forEach((f, i) => {
      if (!f.kaslr || !which(f)) return;
      if (offset !== f.offset) {
        moves.push({ ...extent(f.symbols), by: offset - f.offset });
        this.files[i] = { ...f.kaslr.at(offset), kaslr: f.kaslr };
      }
      f.kaslr.slid = slid;
    });
    return moves;
  }

  /**
   * "name+0x12" for an address, or undefined where no symbol covers it. `within` names the
   * symbol by another address (a caller's return address by its call instruction's).
   */
  symbolize(addr: bigint, within = addr): string | undefined {
    const s = this.symbolAt(within);
    if (!s) return undefined;
    const offset = addr - s.address;
    return offset ? `${s.name}+0x${offset.toString(16)}` : s.name;
  }

  symbolAt(addr: bigint): { name: string; offset: bigint; address: bigint; size: bigint } | undefined {
    // The ROM's routines first: their sizes are exact, while a program's last unsized label
    // (__bss_start, _end) would claim everything above it.
    const fw = this.firmware?.lookup(addr);
    if (fw) return fw;
    // Before the files: a System.map's last symbol, without a size, would claim the module area.
    const mod = this.kernelModules?.lookup(addr);
    if (mod) return mod;
    for (const f of this.files) {
      const s = f.symbols.lookup(addr);
      if (s) return s;
    }
    return undefined;
  }

  /** The machine's firmware symbols (Machine.firmwareSymbols), replacing those of an earlier machine. */
  setFirmwareSymbols(symbols: readonly { name: string; address: number; size: number; kind: 'code' | 'data' }[]): void {
    this.firmware = symbols.length === 0 ? undefined : new SymbolTable(symbols.map((s) => ({
      name: s.name, value: BigInt(s.address), size: BigInt(s.size), type: s.kind === 'code' ? 'notype' as const : 'object' as const,
      bind: 'global' as const, shndx: 1,
    })), 0n, undefined, 32);
  }

  /**
   * The address of a symbol by name (with its load offset), or undefined. `compiled` tells a
   * function (STT_FUNC, as compilers emit) from an assembly label, whose first instructions are
   * not a prologue to skip.
   */
  functionAddress(name: string): { address: bigint; size: bigint; compiled: boolean } | undefined {
    for (const f of this.files) {
      const s = f.symbols.byName(name);
      if (s) return { address: s.address, size: s.size, compiled: s.type === 'func' };
    }
    const mod = this.kernelModules?.byName(name);
    if (mod) return { address: mod.address, size: mod.size, compiled: mod.type === 'func' };
    const fw = this.firmware?.byName(name);
    return fw && { address: fw.address, size: fw.size, compiled: false };
  }

  /** Where a function breakpoint stops: after the prologue where DWARF tells, as gdb does. */
  afterPrologue(start: bigint, end?: bigint): bigint | undefined {
    for (const f of this.files) {
      const a = f.lines.afterPrologue(start, end);
      if (a !== undefined) return a;
    }
    return undefined;
  }

  /**
   * Where a compiled function that starts exactly at `addr` has its arguments in place (after
   * its prologue), for stepping into it as gdb does; undefined elsewhere.
   */
  bodyStart(addr: bigint): bigint | undefined {
    for (const f of this.files) {
      const s = f.symbols.lookup(addr);
      if (!s || s.offset !== 0n) continue;
      const info = f.symbols.byName(s.name);
      if (info?.type !== 'func') return undefined;
      return f.lines.afterPrologue(addr, s.size ? addr + s.size : undefined);
    }
    return undefined;
  }

  lineAt(addr: bigint): SourceLocation | undefined {
    for (const f of this.files) {
      const l = f.lines.lookup(addr);
      if (l) return l;
    }
    return undefined;
  }

  /** Binds a source breakpoint: the next line with code and the addresses starting it. */
  resolveLine(file: string, line: number): { line: number; addresses: bigint[] } | undefined {
    for (const f of this.files) {
      const r = f.lines.resolve(file, line);
      if (r) return r;
    }
    return undefined;
  }

  /**
   * Parameters and locals in scope at `pc` (a caller frame passes its return address - 1): of
   * the innermost function there, or `depth` inlined calls out from it (scopeFramesAt).
   */
  localsAt(pc: bigint, depth = 0): DwarfVariable[] {
    for (const f of this.files) {
      const v = f.variables.framesAt(pc)[depth]?.variables ?? [];
      if (v.length) return v;
    }
    return [];
  }

  /** The functions active at `pc`, innermost first: those inlined there, then the one they are inlined into. */
  scopeFramesAt(pc: bigint): ScopeFrame[] {
    for (const f of this.files) {
      const frames = f.variables.framesAt(pc);
      if (frames.length) return frames;
    }
    return [];
  }

  /**
   * Whether the Globals scope has something to list. A kernel-size DWARF (DwarfVariables.isBig)
   * is left out: its name index finds one global cheaply, but listing them all (a kernel has
   * tens of thousands, each typed from its unit) would decode the whole of it (minutes,
   * gigabytes), and VS Code would do that on one click; expressions and Watch find them by name.
   */
  hasGlobals(): boolean {
    return this.globals().length > 0;
  }

  /** The global and static variables of every file but a kernel-size DWARF's (hasGlobals). */
  globals(): DwarfVariable[] {
    return this.files.flatMap((f) => (f.variables.isBig ? [] : f.variables.globals()));
  }

  /**
   * A global or static variable by name, for expressions: the first file's that has one. A
   * kernel-size DWARF is asked through its name index (built on the first question, or read
   * from its cache file), which decodes only the unit that holds the variable.
   */
  globalNamed(name: string): DwarfVariable | undefined {
    for (const f of this.files) {
      const v = f.variables.globalsNamed(name)[0];
      // A per-CPU variable is left to the debug target, which places this vCPU's copy.
      if (v && !inSection(v, f.perCpu)) return v;
    }
    return undefined;
  }

  /**
   * A type by its C spelling: from the files' DWARF, else from their BTF. A kernel-size DWARF is
   * asked after its file's BTF (the types the kernel's views were written against), through its
   * name index.
   */
  typeByName(name: string): CType | undefined {
    for (const f of this.files) {
      const t = (f.variables.isBig ? f.btf()?.typeByName(name) : undefined) ?? f.variables.typeByName(name);
      if (t) return t;
    }
    for (const f of this.files) {
      const t = f.btf()?.typeByName(name);
      if (t) return t;
    }
    return undefined;
  }

  /** The kernel-size DWARF files' name indexes built or read so far, and how each came (scanned or read back). */
  nameIndexes(): { path: string; state: NameIndexState }[] {
    return this.files.flatMap((f) => (f.variables.nameIndexState ? [{ path: f.path, state: f.variables.nameIndexState }] : []));
  }

  /** A variable the files' BTF places (a kernel's per-CPU ones), by name. */
  btfVariable(name: string): BtfVariable | undefined {
    for (const f of this.files) {
      const v = f.btf()?.variable(name);
      if (v) return v;
    }
    return undefined;
  }

  /**
   * What a stop at `pc` reads, as separate reads to run ahead of it (StopPrefetch): the frame
   * information, symbol, line, scopes and locals there, each kept once read.
   */
  stopReads(pc: bigint): (() => void)[] {
    return [
      () => this.callFrameInfo().forEach((c) => c.findFde(pc)),
      () => this.symbolAt(pc),
      () => this.lineAt(pc),
      () => this.scopeFramesAt(pc),
      () => this.localsAt(pc),
      // Each local's location list: read where the list lies, one file read each.
      () => this.localsAt(pc).forEach((v) => v.describeLocation(pc)),
    ];
  }

  /** Call frame information of every file, for the unwinder. */
  callFrameInfo(): CallFrameInfo[] {
    return this.files.map((f) => f.frames());
  }
}

/** An ELF file's symbols, lines, frames and variables, each address moved by `offset`. */
function elfFile(path: string, elf: ElfImage, offset: bigint): DebugFile {
  const symbols = SymbolTable.fromElf(elf, path, offset);
  return {
    path, offset, symbols,
    lines: LineTable.fromElf(elf, path, offset),
    frames: once(() => CallFrameInfo.fromElf(elf, path, offset)),
    variables: DwarfVariables.fromElf(elf, path, offset, symbols),
    perCpu: perCpuSection(elf, offset),
    btf: once(() => {
      const section = elf.section('.BTF');
      return section && Btf.parse(section, `${path} (.BTF)`);
    }),
  };
}

/** Where an x86-64 Linux kernel is linked: its text from this address up (__START_KERNEL_map). */
const KERNEL_MAP = 0xffffffff80000000n;

/** Whether ELF symbols are an x86-64 Linux kernel's (a vmlinux): `_text` in the kernel map, and start_kernel. */
function isLinuxKernel(symbols: SymbolTable): boolean {
  const text = symbols.byName('_text');
  return text !== undefined && text.value >= KERNEL_MAP && symbols.byName('start_kernel') !== undefined;
}

/**
 * The addresses a kernel file's code and data span, as they are now: `_text` to `_end`, else
 * its functions' (a per-CPU variable is linked near 0, and an absolute symbol is a number).
 */
function extent(symbols: SymbolTable): { from: bigint; to: bigint } {
  const text = symbols.byName('_text');
  const end = symbols.byName('_end');
  if (text && end) return { from: text.address, to: end.address };
  const fns = symbols.functions();
  if (!fns.length) return { from: 0n, to: 0n };
  const last = fns.reduce((a, b) => (b.address + b.size > a.address + a.size ? b : a));
  return { from: fns.reduce((a, b) => (b.address < a ? b.address : a), fns[0].address), to: last.address + last.size + 1n };
}

/** The kernel's per-CPU section of an ELF file, where it has one. */
function perCpuSection(elf: ElfImage, offset: bigint): { start: bigint; end: bigint } | undefined {
  const s = elf.sectionHeader(PER_CPU_SECTION);
  return s && s.size > 0n ? { start: s.addr + offset, end: s.addr + offset + s.size } : undefined;
}

/** Whether a global lies in [range.start, range.end). */
function inSection(v: DwarfVariable, range: { start: bigint; end: bigint } | undefined): boolean {
  if (!range) return false;
  const loc = v.locate({ pc: 0n, regs: new Map(), read: () => undefined, bits: 64 });
  return loc.kind === 'memory' && loc.address >= range.start && loc.address < range.end;
}

/** f's value, computed on the first call. */
function once<T>(f: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) {
      value = f();
      done = true;
    }
    return value;
  };
}

/** The first bytes of a file (to tell an ELF file from a System.map before reading all of it). */
function fileStart(path: string, size: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(size);
    return buf.subarray(0, readSync(fd, buf, 0, size, 0));
  } finally {
    closeSync(fd);
  }
}
