// The ELF symbol table as the debugger uses it: address → "function+offset" for call stacks and
// disassembly, name → address for function breakpoints. Section and file symbols, undefined
// ones and compiler-local labels (.L*) are left out.
import { ElfImage } from './elf-file.js';
import type { ElfSymbol, SymbolBind } from './elf-parse.js';

const SHN_UNDEF = 0;
const SHN_ABS = 0xfff1;
const SHN_COMMON = 0xfff2;

export interface SymbolInfo {
  name: string;
  /** The address the symbol has in the running guest: st_value plus the load offset. */
  address: bigint;
  /** st_value as the file has it (without the load offset). */
  value: bigint;
  size: bigint;
  type: 'func' | 'object' | 'notype';
  bind: SymbolBind;
}

export interface SymbolLookup {
  name: string;
  /** addr - address. */
  offset: bigint;
  address: bigint;
  size: bigint;
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const TYPE_RANK = { func: 0, object: 1, notype: 2 } as const;
const BIND_RANK: Record<SymbolBind, number> = { global: 0, weak: 1, local: 2, other: 3 };

export class SymbolTable {
  /** Symbols that addresses resolve to, sorted by address; at one address the preferred one first. */
  private readonly sorted: SymbolInfo[];
  private readonly names = new Map<string, SymbolInfo>();
  private readonly all: SymbolInfo[];

  /**
   * @param source an opened ELF image, its bytes or its path, or symbols already read
   * @param loadOffset added to every symbol's address (for an ELF describing code loaded elsewhere)
   */
  constructor(source: ElfImage | Buffer | string | ElfSymbol[], readonly loadOffset = 0n, fileName?: string, bits: 32 | 64 = 64) {
    let symbols: ElfSymbol[];
    if (Array.isArray(source)) {
      symbols = source;
    } else {
      const elf = ElfImage.of(source, fileName);
      symbols = elf.elf.symbols;
      bits = elf.bits;
    }
    const mask = (1n << BigInt(bits)) - 1n;
    // Without an offset an address is the value itself: no BigInt made per symbol (a kernel has 130,000).
    const at = loadOffset === 0n ? (v: bigint) => v : (v: bigint) => (v + loadOffset) & mask;
    this.all = [];
    const addressable: SymbolInfo[] = [];
    for (const s of symbols) {
      if (s.type !== 'func' && s.type !== 'object' && s.type !== 'notype') continue;
      if (s.shndx === SHN_UNDEF || !s.name || (s.name.charCodeAt(0) === 0x2e && s.name.startsWith('.L'))) continue;
      const info: SymbolInfo = { name: s.name, address: at(s.value), value: s.value, size: s.size, type: s.type, bind: s.bind };
      this.all.push(info);
      // Absolute symbols are constants more often than addresses; common ones have no address yet.
      if (s.shndx !== SHN_ABS && s.shndx !== SHN_COMMON) addressable.push(info);
      // By name: a global definition over a local one of the same name.
      const prev = this.names.get(s.name);
      if (!prev || BIND_RANK[info.bind] < BIND_RANK[prev.bind] || (BIND_RANK[info.bind] === BIND_RANK[prev.bind] && TYPE_RANK[info.type] < TYPE_RANK[prev.type])) {
        this.names.set(s.name, info);
      }
    }
    // A Linux kernel links its per-CPU variables as offsets from 0 (__per_cpu_start, in
    // .data..percpu, to __per_cpu_end): each CPU's copy lies elsewhere, so no address resolves
    // to one of them (a pointer 0x8000 is not cpu_tss_rw+0x2000). By name they stay, for
    // per-CPU variables in expressions.
    const perCpuEnd = this.names.get('__per_cpu_start')?.value === 0n ? this.names.get('__per_cpu_end')?.value : undefined;
    const resolvable = perCpuEnd === undefined ? addressable : addressable.filter((s) => s.value > perCpuEnd);
    this.sorted = resolvable.sort((a, b) => cmp(a.address, b.address) || TYPE_RANK[a.type] - TYPE_RANK[b.type] || BIND_RANK[a.bind] - BIND_RANK[b.bind]
        || (b.size > a.size ? 1 : b.size < a.size ? -1 : 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The symbol table of an ELF image (a Buffer, or a path when `image` is a string). */
  static fromElf(image: ElfImage | Buffer | string, fileName?: string, loadOffset = 0n): SymbolTable {
    return new SymbolTable(image, loadOffset, fileName);
  }

  /**
   * The symbol an address belongs to: the nearest at or below it (a function before an object or
   * an untyped label at the same address), if the address lies within its size, or, for a symbol
   * without a size, before the next symbol's address.
   */
  lookup(addr: bigint): SymbolLookup | undefined {
    const a = this.sorted;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (a[mid].address <= addr) lo = mid + 1;
      else hi = mid;
    }
    let i = lo - 1;
    if (i < 0) return undefined;
    // The first (preferred) symbol at the nearest address.
    const nearest = a[i].address;
    while (i > 0 && a[i - 1].address === nearest) i--;
    const s = a[i];
    if (s.size === 0n || addr < s.address + s.size) return this.result(s, addr);
    // A sized symbol that ends before addr: an enclosing one further back may still hold it.
    for (let j = i - 1, n = 0; j >= 0 && n < 64; j--, n++) {
      const t = a[j];
      if (t.size > 0n && addr < t.address + t.size) return this.result(t, addr);
    }
    return undefined;
  }

  private result(s: SymbolInfo, addr: bigint): SymbolLookup {
    return { name: s.name, offset: addr - s.address, address: s.address, size: s.size };
  }

  /** A symbol by exact name (the global one where a local shares its name). */
  byName(name: string): SymbolInfo | undefined {
    return this.names.get(name);
  }

  /** The function symbols, by address. */
  functions(): SymbolInfo[] {
    return this.sorted.filter((s) => s.type === 'func');
  }

  /** Every symbol kept (functions, objects, labels; absolute ones too), in file order. */
  symbols(): SymbolInfo[] {
    return this.all;
  }
}
