// Variables from DWARF 2-5 (as gcc and clang write them, optimized or not): the parameters and
// locals in scope at a pc (lexical blocks, inlined subroutines, abstract origins), the globals
// and statics of every unit, their C types, and where each lives in a given frame (location
// expressions and lists, frame bases, constants). For the debugger's Locals and Globals scopes
// and its expression evaluator.
import { ElfImage } from '../elf-file.js';
import { SymbolTable } from '../elf-symbols.js';
import {
  DW_FORM_GNU_ref_alt,
  DW_FORM_GNU_str_index, DW_FORM_data1, DW_FORM_data2, DW_FORM_data4, DW_FORM_data8, DW_FORM_line_strp, DW_FORM_loclistx,
  DW_FORM_ref_addr, DW_FORM_ref_sig8, DW_FORM_ref_sup4, DW_FORM_ref_sup8, DW_FORM_rnglistx, DW_FORM_sdata, DW_FORM_sec_offset,
  DW_FORM_string, DW_FORM_strp, DW_FORM_strx, DW_FORM_strx1, DW_FORM_strx2, DW_FORM_strx3, DW_FORM_strx4, DW_AT_MIPS_linkage_name,
  DW_AT_abstract_origin, DW_AT_const_value, DW_AT_decl_file, DW_AT_decl_line, DW_AT_declaration, DW_AT_external, DW_AT_high_pc,
  DW_AT_linkage_name, DW_AT_location, DW_AT_loclists_base, DW_AT_low_pc, DW_AT_name, DW_AT_ranges, DW_AT_rnglists_base,
  DW_AT_specification, DW_AT_stmt_list,
  DW_TAG_base_type, DW_TAG_class_type, DW_TAG_enumeration_type, DW_TAG_inlined_subroutine, DW_TAG_structure_type,
  DW_TAG_subprogram, DW_TAG_typedef, DW_TAG_union_type, DW_TAG_unspecified_type, DW_TAG_variable, DW_UT_split_type, DW_UT_type,
  compileUnits, dwarfSections, isAddressForm, iterateDies, unitHeaders, type AttrValue, type CompileUnit, type DwarfSections,
  type UnitHeader,
} from './info.js';
import { ByteReader, DwarfError } from './reader.js';
import { UnitDies, type DieEntry } from './unit-dies.js';
import { AddressIndex } from './aranges.js';
import { NameIndex, typeKeys } from './name-index.js';
import { cacheFile, defaultIndexCacheDir, indexKey, readCacheFile, writeCacheFile, type IndexFacts } from './index-cache.js';
import { INDEX_SUFFIX, parseIndex, serializeIndex } from './name-index-cache.js';
import { readLineHeader } from './line.js';
import { evaluateLocation, formatExpression, type ExprEnv, type FrameContext, type Location, type LocationResult } from './expr.js';
import {
  expressionAt, listxOffset, rangesContain, readLocationList, readRangeList, type AddressRange, type ListUnit, type LocationList,
} from './loclists.js';
import {
  bitField, canonicalBaseName, isSignedInteger, stripType, typeFromName, type CType, type Member,
} from './types.js';
import { ListSection } from './list-section.js';

export type { AddressRange } from './loclists.js';
export type { CType, Member } from './types.js';
export { typeName, typeSize } from './types.js';
export type { Location, LocationResult, FrameContext } from './expr.js';

export interface VariableInfo {
  name: string;
  type: CType;
  isParameter: boolean;
  declLine?: number;
  declFile?: string;
  /** Where the variable is in `ctx`'s frame (ctx.pc picks the location-list entry). */
  locate(ctx: FrameContext): Location | { kind: 'error'; message: string };
}

/** What this module's variables carry beyond VariableInfo. */
export interface DwarfVariable extends VariableInfo {
  /** The DIE's offset in .debug_info. */
  dieOffset: number;
  /** DW_AT_external: a global visible to other units (globals only; false for statics and locals). */
  external: boolean;
  /** Where the variable lives at `pc`, in objdump's syntax ("DW_OP_fbreg: -20"), or "optimized out", "constant 5", "symbol foo". */
  describeLocation(pc: bigint): string;
  /**
   * For a variable with a location list: its entries ([begin, end) with the load offset, each
   * location in objdump's syntax); undefined for a single location or none.
   */
  locationRanges(): { begin: bigint; end: bigint; location: string }[] | undefined;
}

/** One function activation at a pc: the real function, or a function inlined into it. */
export interface ScopeFrame {
  /** The function's name (through DW_AT_abstract_origin for inlined code). */
  name: string;
  inlined: boolean;
  /** For an inlined function: where it was called from (DW_AT_call_file/call_line). */
  callFile?: string;
  callLine?: number;
  /** The code of the function or inlined instance: [begin, end) ranges with the load offset. */
  ranges: AddressRange[];
  /** Parameters, then locals, in declaration order; inner declarations hide outer ones of the same name. */
  readonly variables: DwarfVariable[];
}

// Tags.
const DW_TAG_array_type = 0x01;
const DW_TAG_formal_parameter = 0x05;
const DW_TAG_lexical_block = 0x0b;
const DW_TAG_member = 0x0d;
const DW_TAG_pointer_type = 0x0f;
const DW_TAG_reference_type = 0x10;
const DW_TAG_subroutine_type = 0x15;
const DW_TAG_unspecified_parameters = 0x18;
const DW_TAG_inheritance = 0x1c;
const DW_TAG_ptr_to_member_type = 0x1f;
const DW_TAG_subrange_type = 0x21;
const DW_TAG_const_type = 0x26;
const DW_TAG_enumerator = 0x28;
const DW_TAG_volatile_type = 0x35;
const DW_TAG_restrict_type = 0x37;
const DW_TAG_module = 0x1e;
const DW_TAG_namespace = 0x39;
const DW_TAG_rvalue_reference_type = 0x42;
const DW_TAG_atomic_type = 0x47;
const DW_TAG_immutable_type = 0x4b;

// Attributes.
const DW_AT_byte_size = 0x0b;
const DW_AT_bit_offset = 0x0c;
const DW_AT_bit_size = 0x0d;
const DW_AT_lower_bound = 0x22;
const DW_AT_prototyped = 0x27;
const DW_AT_upper_bound = 0x2f;
const DW_AT_count = 0x37;
const DW_AT_data_member_location = 0x38;
const DW_AT_encoding = 0x3e;
const DW_AT_frame_base = 0x40;
const DW_AT_type = 0x49;
const DW_AT_entry_pc = 0x52;
const DW_AT_call_file = 0x58;
const DW_AT_call_line = 0x59;
const DW_AT_signature = 0x69;
const DW_AT_data_bit_offset = 0x6b;

// Base type encodings.
const DW_ATE_address = 0x1;
const DW_ATE_boolean = 0x2;
const DW_ATE_complex_float = 0x3;
const DW_ATE_float = 0x4;
const DW_ATE_signed = 0x5;
const DW_ATE_signed_char = 0x6;
const DW_ATE_unsigned = 0x7;
const DW_ATE_unsigned_char = 0x8;
const DW_ATE_UTF = 0x10;

/** How deep types may nest by value (see buildType); the stack holds about 1500. */
export const MAX_TYPE_NESTING = 256;

/** Offsets of DIEs in .debug_types are kept apart from .debug_info's by this bias. */
const TYPES_BIAS = 2 ** 44;

/** A DIE, its children read when first asked for (unit-dies.ts). */
class Node {
  /** Set when the DIE is met among its parent's children. */
  parent?: Node;
  private kids?: Node[];

  constructor(
    /** Offset in .debug_info (or TYPES_BIAS + offset in .debug_types). */
    readonly key: number,
    private readonly entry: DieEntry,
    readonly unit: Unit,
  ) {}

  get tag(): number {
    return this.entry.tag;
  }

  get attrs(): Map<number, AttrValue> {
    return this.entry.attrs;
  }

  get children(): Node[] {
    return (this.kids ??= this.unit.dies!.children(this.entry).map((e) => nodeOf(this.unit, e, this)));
  }

  /** Whether the DIE has attribute `name` of its own, without decoding its attributes. */
  declares(name: number): boolean {
    return this.entry.declares(name);
  }
}

/** The one Node of a unit's DIE, so that every path to a DIE meets the same object. */
function nodeOf(u: Unit, e: DieEntry, parent?: Node): Node {
  const key = e.offset + u.bias;
  let n = u.nodes!.get(key);
  if (!n) u.nodes!.set(key, (n = new Node(key, e, u)));
  if (parent && !n.parent) n.parent = parent;
  return n;
}

interface Unit {
  header: UnitHeader;
  /** The sections to read the unit with (`info` is .debug_types for those units). */
  sections: DwarfSections;
  bias: number;
  isTypeUnit: boolean;
  signature?: bigint;
  /** Key of the type unit's type DIE. */
  typeKey?: number;
  /** Its DIEs, read where asked (root), and the Nodes made of them so far, by key. */
  dies?: UnitDies;
  root?: Node;
  nodes?: Map<number, Node>;
  /** The unit DIE's attributes, read cheaply. */
  base: bigint;
  addrBase?: number;
  rnglistsBase?: number;
  loclistsBase?: number;
  ranges?: AddressRange[];
  files?: (string | undefined)[];
  cu?: CompileUnit;
  /** Subprograms with code, for pc lookups. */
  functions?: FunctionCode[];
  listUnit?: ListUnit;
  env?: ExprEnv;
  problem?: string;
}

/** The extra debug sections variables need. */
interface VarSections extends DwarfSections {
  loc?: ListSection;
  loclists?: ListSection;
  ranges?: ListSection;
  rnglists?: ListSection;
  types?: Buffer;
}

type Attr = { value: AttrValue; node: Node };

/** A function with code: its DIE and address ranges. */
interface FunctionCode {
  node: Node;
  ranges: AddressRange[];
}

const UNKNOWN_VOID: CType = { kind: 'unknown', name: 'void' };
/**
 * A .debug_info this big is not walked whole to answer a question cheaply asked (see isBig): a
 * -dbg vmlinux's 174 MB take minutes and gigabytes.
 */
const BIG_INFO_BYTES = 4 << 20;

export interface DwarfVariablesOptions {
  /** A .debug_info of at least this many bytes is big (isBig); 4 MiB unless given (tests lower it). */
  bigInfoBytes?: number;
  /**
   * Where a big DWARF's name index is cached (index-cache.ts): a directory, or null to keep
   * it in memory only; defaultIndexCacheDir() unless given.
   */
  indexCacheDir?: string | null;
}

/** How a big DWARF's name index came to be: read from its cache file, or by scanning its units. */
export interface NameIndexState {
  source: 'cache' | 'scan';
  /** Units whose top-level DIEs were read (0 for an index read from its cache file). */
  unitsScanned: number;
  /** Its cache file; undefined where it is kept in memory only. */
  file?: string;
  /** Whether the scan's index was written to `file`. */
  written: boolean;
  variables: number;
  types: number;
}

export class DwarfVariables {
  private readonly units: Unit[] = [];
  private readonly typeUnits = new Map<bigint, Unit>();
  private readonly typeCache = new Map<Node, CType>();
  private tagIndex?: Map<string, Node[]>;
  /** addressIndex's answer; null where the file has no sound .debug_aranges. */
  private aranges?: AddressIndex | null;
  private globalList?: DwarfVariable[];
  private names?: { index: NameIndex; state: NameIndexState };
  /** Problems met reading units (corrupt DIEs); the rest is still read. */
  readonly problems: string[] = [];

  private constructor(
    private readonly sections: VarSections,
    readonly loadOffset: bigint,
    readonly bits: 32 | 64,
    private readonly symbols: SymbolTable | undefined,
    private readonly bigInfoBytes = BIG_INFO_BYTES,
    /** The name index's cache: its directory and the file's key (index-cache.ts). */
    private readonly indexCache?: { dir: string; key: string },
  ) {
    let headers: UnitHeader[] = [];
    try {
      headers = unitHeaders(sections);
    } catch (e) {
      if (!(e instanceof DwarfError)) throw e;
      this.problems.push(e.message);
    }
    let cus: CompileUnit[] = [];
    try {
      cus = compileUnits(sections);
    } catch (e) {
      if (!(e instanceof DwarfError)) throw e;
    }
    const cuByOffset = new Map(cus.map((c) => [c.offset, c]));
    for (const h of headers) {
      const isTypeUnit = h.unitType === DW_UT_type || h.unitType === DW_UT_split_type;
      const u: Unit = { header: h, sections, bias: 0, isTypeUnit, base: 0n, cu: cuByOffset.get(h.offset) };
      if (isTypeUnit && h.typeSignature !== undefined) {
        u.signature = h.typeSignature;
        u.typeKey = h.typeOffset;
        this.typeUnits.set(h.typeSignature, u);
      }
      this.units.push(u);
    }
    if (sections.types) this.readTypesSection(sections.types);
    for (const u of this.units) this.readUnitAttributes(u);
  }

  /** No variables: for a symbol file without DWARF (a System.map). */
  static none(bits: 32 | 64): DwarfVariables {
    return new DwarfVariables({}, 0n, bits, undefined);
  }

  /**
   * The variables of an ELF file's DWARF; empty when it has no .debug_info. `symbols`: the file's
   * symbol table with the same load offset, when already built.
   */
  static fromElf(image: ElfImage | Buffer, fileName: string, loadOffset = 0n, symbols?: SymbolTable, opts: DwarfVariablesOptions = {}): DwarfVariables {
    const elf = ElfImage.of(image, fileName);
    const sections: VarSections = {
      ...dwarfSections(elf),
      // The location and range lists are read where a variable or a scope needs one, not at
      // launch nor whole: a kernel's are 24 MB and 3.4 MB.
      loc: ListSection.of(elf, '.debug_loc'),
      loclists: ListSection.of(elf, '.debug_loclists'),
      ranges: ListSection.of(elf, '.debug_ranges'),
      rnglists: ListSection.of(elf, '.debug_rnglists'),
      types: elf.section('.debug_types'),
    };
    try {
      symbols ??= new SymbolTable(elf.elf.symbols, loadOffset, fileName, elf.bits);
    } catch {
      symbols = undefined;
    }
    const dir = opts.indexCacheDir === undefined ? defaultIndexCacheDir() : opts.indexCacheDir;
    // The key (a note section, or the file's stat) only where an index may be wanted.
    const key = dir !== null && (sections.info?.length ?? 0) >= (opts.bigInfoBytes ?? BIG_INFO_BYTES) ? indexKey(elf, fileName) : undefined;
    return new DwarfVariables(sections, loadOffset, elf.bits, symbols, opts.bigInfoBytes, dir !== null && key ? { dir, key } : undefined);
  }

  // -------------------------------------------------------------------------------------------
  // Units and DIEs.

  /** DWARF 4 type units (.debug_types): headers carry the signature and type offset. */
  private readTypesSection(buf: Buffer): void {
    const sections: DwarfSections = { ...this.sections, info: buf, fillInfo: undefined };
    let off = 0;
    while (off + 4 <= buf.length) {
      try {
        const r = new ByteReader(buf, '.debug_types', off);
        const { length, offsetSize } = r.initialLength();
        const end = r.pos + length;
        if (end > buf.length) throw new DwarfError(`.debug_types: unit at 0x${off.toString(16)} runs past the end`);
        const version = r.u16('version');
        const abbrevOffset = r.offset(offsetSize, 'abbreviation offset');
        const addressSize = r.u8('address size');
        const signature = r.u64('type signature');
        const typeOffset = off + r.offset(offsetSize, 'type offset');
        const header: UnitHeader = {
          offset: off, end, version, unitType: DW_UT_type, addressSize, offsetSize, abbrevOffset, dieOffset: r.pos,
          typeSignature: signature, typeOffset,
        };
        const u: Unit = { header, sections, bias: TYPES_BIAS, isTypeUnit: true, signature, typeKey: TYPES_BIAS + typeOffset, base: 0n };
        this.typeUnits.set(signature, u);
        this.units.push(u);
        if (end <= off) break;
        off = end;
      } catch (e) {
        if (!(e instanceof DwarfError)) throw e;
        this.problems.push(e.message);
        break;
      }
    }
  }

  private readUnitAttributes(u: Unit): void {
    if (u.cu) {
      // compileUnits read them (or a cached line index holds them): no DIE to read again.
      if (u.cu.lowPc !== undefined) u.base = u.cu.lowPc;
      u.rnglistsBase = u.cu.rnglistsBase;
      u.loclistsBase = u.cu.loclistsBase;
      u.addrBase = u.cu.addrBase;
      return;
    }
    try {
      for (const d of iterateDies(u.sections, u.header, { onlyUnitDie: true })) {
        const low = d.attrs.get(DW_AT_low_pc)?.value;
        if (typeof low === 'bigint') u.base = low;
        const rb = d.attrs.get(DW_AT_rnglists_base)?.value;
        if (typeof rb === 'number') u.rnglistsBase = rb;
        const lb = d.attrs.get(DW_AT_loclists_base)?.value;
        if (typeof lb === 'number') u.loclistsBase = lb;
      }
    } catch (e) {
      if (!(e instanceof DwarfError)) throw e;
      u.problem = e.message;
    }
  }

  private readonly onProblem = (message: string): void => {
    this.problems.push(message);
  };

  /** The unit DIE, the unit's other DIEs read from it where asked; undefined for a unit that cannot be read. */
  private root(u: Unit): Node | undefined {
    if (u.dies || u.problem) return u.root;
    try {
      u.dies = new UnitDies(u.sections, u.header, this.onProblem, u.bias ? '.debug_types' : '.debug_info');
    } catch (e) {
      if (!(e instanceof DwarfError)) throw e;
      u.problem = e.message;
      this.problems.push(e.message);
      return undefined;
    }
    u.nodes = new Map();
    return (u.root = u.dies.root && nodeOf(u, u.dies.root));
  }

  /** The DIE at a key (section offset, biased for .debug_types). */
  private dieAt(key: number): Node | undefined {
    const u = this.unitHolding(key);
    if (!u || !this.root(u)) return undefined;
    const known = u.nodes!.get(key);
    if (known) return known;
    try {
      const e = u.dies!.at(key - u.bias);
      return e && nodeOf(u, e);
    } catch (e) {
      if (!(e instanceof DwarfError)) throw e;
      return undefined;
    }
  }

  /** The unit whose DIEs a key falls among, if any. */
  private unitHolding(key: number): Unit | undefined {
    const bias = key >= TYPES_BIAS ? TYPES_BIAS : 0;
    const off = key - bias;
    // this.units is in order of bias + offset (.debug_info's units in section order, then
    // .debug_types'): a binary search, so that a reference costs O(log units), not O(units).
    const units = this.units;
    let lo = 0;
    let hi = units.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (units[mid].bias + units[mid].header.offset <= key) lo = mid + 1;
      else hi = mid;
    }
    const u = units[lo - 1];
    if (!u || u.bias !== bias || off < u.header.dieOffset || off >= u.header.end) return undefined;
    return u;
  }

  /** The DIE an attribute refers to. */
  private ref(a: AttrValue | undefined, from: Node): Node | undefined {
    if (!a) return undefined;
    if (a.form === DW_FORM_ref_sig8 && typeof a.value === 'bigint') {
      const tu = this.typeUnits.get(a.value);
      return tu?.typeKey !== undefined ? this.dieAt(tu.typeKey) : undefined;
    }
    if (typeof a.value !== 'number') return undefined;
    if (a.form === DW_FORM_ref_sup4 || a.form === DW_FORM_ref_sup8 || a.form === DW_FORM_GNU_ref_alt) return undefined;
    // ref_addr always means .debug_info; unit-relative forms mean the DIE's own section.
    return this.dieAt(a.form === DW_FORM_ref_addr ? a.value : a.value + from.unit.bias);
  }

  /** An attribute of a DIE, or of the DIEs it completes (DW_AT_abstract_origin, DW_AT_specification). */
  private attr(node: Node, name: number): Attr | undefined {
    let n: Node | undefined = node;
    for (let i = 0; n && i < 8; i++) {
      const v = n.attrs.get(name);
      if (v) return { value: v, node: n };
      n = this.ref(n.attrs.get(DW_AT_abstract_origin) ?? n.attrs.get(DW_AT_specification), n);
    }
    return undefined;
  }

  private str(node: Node, name: number): string | undefined {
    const v = this.attr(node, name)?.value.value;
    return typeof v === 'string' ? v : undefined;
  }

  private num(node: Node, name: number): bigint | undefined {
    const v = this.attr(node, name)?.value.value;
    return typeof v === 'bigint' ? v : typeof v === 'number' ? BigInt(v) : undefined;
  }

  private flag(node: Node, name: number): boolean {
    return node.attrs.get(name)?.value === true;
  }

  private listUnit(u: Unit): ListUnit {
    return (u.listUnit ??= {
      version: u.header.version,
      addressSize: u.header.addressSize,
      offsetSize: u.header.offsetSize,
      base: u.base,
      loadOffset: this.loadOffset,
      addrIndex: (i) => this.addrIndex(u, i),
    });
  }

  private addrIndex(u: Unit, i: number): bigint | undefined {
    const a = this.sections.addr;
    if (!a) return undefined;
    const base = u.addrBase ?? (u.header.offsetSize === 8 ? 16 : 8);
    try {
      return new ByteReader(a, '.debug_addr', base + i * u.header.addressSize).uN(u.header.addressSize, 'address');
    } catch {
      return undefined;
    }
  }

  private env(u: Unit): ExprEnv {
    return (u.env ??= {
      addressSize: u.header.addressSize,
      loadOffset: this.loadOffset,
      addrIndex: (i) => this.addrIndex(u, i),
      baseType: (off) => {
        const n = this.dieAt(off + u.bias);
        if (!n) return undefined;
        const t = stripType(this.buildType(n));
        if (!t || (t.kind !== 'base' && t.kind !== 'enum')) return undefined;
        return { size: t.size, signed: isSignedInteger(t), float: t.kind === 'base' && t.encoding === 'float' };
      },
      unitOffset: u.header.offset,
    });
  }

  private readonly rangeCache = new WeakMap<Node, AddressRange[] | null>();

  /** The address ranges of a DIE with code (low_pc/high_pc or DW_AT_ranges); undefined if it has none. */
  private rangesOf(node: Node): AddressRange[] | undefined {
    const cached = this.rangeCache.get(node);
    if (cached !== undefined) return cached ?? undefined;
    const r = this.readRanges(node.attrs, node.unit);
    this.rangeCache.set(node, r ?? null);
    return r;
  }

  private readRanges(attrs: Map<number, AttrValue>, u: Unit): AddressRange[] | undefined {
    const mask = (1n << BigInt(u.header.addressSize * 8)) - 1n;
    const low = attrs.get(DW_AT_low_pc);
    const high = attrs.get(DW_AT_high_pc);
    if (low && high && typeof low.value === 'bigint' && typeof high.value === 'bigint') {
      const begin = low.value;
      const end = isAddressForm(high.form) ? high.value : begin + high.value;
      if (end <= begin) return [];
      return [{ begin: (begin + this.loadOffset) & mask, end: ((end + this.loadOffset - 1n) & mask) + 1n }];
    }
    const r = attrs.get(DW_AT_ranges);
    if (r && typeof r.value === 'number') {
      try {
        const lu = this.listUnit(u);
        if (u.header.version >= 5) {
          const off = r.form === DW_FORM_rnglistx ? this.listx(this.sections.rnglists, '.debug_rnglists', u.rnglistsBase, r.value, u) : r.value;
          return this.rangeListAt(u, this.sections.rnglists, off, lu);
        }
        return this.rangeListAt(u, this.sections.ranges, r.value, lu);
      } catch (e) {
        if (!(e instanceof DwarfError)) throw e;
        return [];
      }
    }
    if (low && typeof low.value === 'bigint') {
      const a = (low.value + this.loadOffset) & mask;
      return [{ begin: a, end: a + 1n }];
    }
    return undefined;
  }

  private unitRanges(u: Unit): AddressRange[] | undefined {
    if (u.ranges) return u.ranges;
    if (u.problem) return (u.ranges = []);
    for (const d of iterateDies(u.sections, u.header, { onlyUnitDie: true })) {
      const r = this.readRanges(d.attrs, u);
      if (r) u.ranges = r;
    }
    return u.ranges;
  }

  private fileName(u: Unit, index: number): string | undefined {
    if (!u.files) {
      u.files = [];
      const root = this.root(u);
      const stmt = root?.attrs.get(DW_AT_stmt_list)?.value;
      const off = typeof stmt === 'number' ? stmt : typeof stmt === 'bigint' ? Number(stmt) : undefined;
      if (off !== undefined && this.sections.line) {
        try {
          u.files = readLineHeader(this.sections, off, u.cu).files;
        } catch (e) {
          if (!(e instanceof DwarfError)) throw e;
        }
      }
    }
    return u.files[index];
  }

  // -------------------------------------------------------------------------------------------
  // Types.

  private typeOf(node: Node): CType | undefined {
    const a = this.attr(node, DW_AT_type);
    if (!a) return undefined;
    const t = this.ref(a.value, a.node);
    return t ? this.buildType(t) : { kind: 'unknown', name: '<type in another file>' };
  }

  /** buildType calls in progress (types built inside types: typedefs, members, arrays...). */
  private typeNesting = 0;

  /**
   * The C type a DIE describes. Pointer targets are built when first read, so building a type
   * does not build every type reachable through pointers from it (all of a kernel's structs,
   * one inside the other's build, deeper than the stack goes); what is nested by value
   * (typedefs, qualifiers, arrays, members) is built at once, up to MAX_TYPE_NESTING deep. A
   * chain deeper than that (a corrupt or hostile file: a well-formed one nests a few levels) ends
   * in an unknown type rather than a stack overflow.
   */
  private buildType(node: Node): CType {
    const cached = this.typeCache.get(node);
    if (cached) return cached;
    if (this.typeNesting >= MAX_TYPE_NESTING) return { kind: 'unknown', name: '<type nested too deeply>' };
    this.typeNesting++;
    try {
      return this.buildTypeOnce(node);
    } finally {
      this.typeNesting--;
    }
  }

  private buildTypeOnce(node: Node): CType {
    const sig = node.attrs.get(DW_AT_signature);
    if (sig) {
      // A declaration completed by a type unit.
      const target = this.ref(sig, node);
      if (target && target !== node) {
        const t = this.buildType(target);
        this.typeCache.set(node, t);
        return t;
      }
    }
    const name = this.str(node, DW_AT_name);
    const size = (): number => {
      const s = this.num(node, DW_AT_byte_size);
      return s === undefined ? 0 : Number(s);
    };
    const addressSize = node.unit.header.addressSize;
    const set = <T extends CType>(t: T): T => {
      this.typeCache.set(node, t);
      return t;
    };
    switch (node.tag) {
      case DW_TAG_base_type: {
        const enc = Number(this.num(node, DW_AT_encoding) ?? 0n);
        const n = name ?? 'unnamed';
        const sz = size();
        let encoding: Extract<CType, { kind: 'base' }>['encoding'];
        switch (enc) {
          case DW_ATE_signed: encoding = 'signed'; break;
          case DW_ATE_unsigned: case DW_ATE_address: case DW_ATE_UTF: encoding = 'unsigned'; break;
          case DW_ATE_float: encoding = 'float'; break;
          case DW_ATE_boolean: encoding = 'bool'; break;
          case DW_ATE_signed_char: encoding = n === 'char' ? 'char' : 'signed_char'; break;
          // Plain char is 'char' where it is signed (x86); -funsigned-char makes it unsigned.
          case DW_ATE_unsigned_char: encoding = 'unsigned_char'; break;
          case DW_ATE_complex_float: return set({ kind: 'unknown', name: n, size: sz });
          default: encoding = enc >= 0x80 ? 'unsigned' : 'signed';
        }
        return set({ kind: 'base', name: n, size: sz, encoding });
      }
      case DW_TAG_pointer_type:
      case DW_TAG_reference_type:
      case DW_TAG_rvalue_reference_type: {
        const t = set<Extract<CType, { kind: 'pointer' }>>({ kind: 'pointer', size: size() || addressSize, target: undefined });
        let target: CType | undefined;
        let built = false;
        Object.defineProperty(t, 'target', {
          enumerable: true,
          configurable: true,
          get: (): CType | undefined => {
            if (!built) {
              built = true;
              target = this.typeOf(node);
            }
            return target;
          },
          set: (v: CType | undefined): void => {
            built = true;
            target = v;
          },
        });
        return t;
      }
      case DW_TAG_const_type:
      case DW_TAG_volatile_type:
      case DW_TAG_restrict_type:
      case DW_TAG_atomic_type:
      case DW_TAG_immutable_type: {
        const qualifier = node.tag === DW_TAG_volatile_type ? 'volatile' : node.tag === DW_TAG_restrict_type ? 'restrict'
          : node.tag === DW_TAG_atomic_type ? 'atomic' : 'const';
        const t = set<Extract<CType, { kind: 'qualified' }>>({ kind: 'qualified', qualifier, target: undefined });
        t.target = this.typeOf(node);
        return t;
      }
      case DW_TAG_typedef: {
        const t = set<Extract<CType, { kind: 'typedef' }>>({ kind: 'typedef', name: name ?? 'unnamed', target: undefined });
        t.target = this.typeOf(node);
        return t;
      }
      case DW_TAG_array_type: {
        const dims = node.children.filter((c) => c.tag === DW_TAG_subrange_type || c.tag === DW_TAG_enumeration_type);
        const t = set<Extract<CType, { kind: 'array' }>>({ kind: 'array', element: UNKNOWN_VOID, count: undefined });
        const element = this.typeOf(node) ?? UNKNOWN_VOID;
        if (!dims.length) {
          t.element = element;
          return t;
        }
        let inner: CType = element;
        for (let i = dims.length - 1; i >= 1; i--) inner = { kind: 'array', element: inner, count: this.dimCount(dims[i]) };
        t.element = inner;
        t.count = this.dimCount(dims[0]);
        return t;
      }
      case DW_TAG_structure_type:
      case DW_TAG_union_type:
      case DW_TAG_class_type: {
        const kind = node.tag === DW_TAG_structure_type ? 'struct' : node.tag === DW_TAG_union_type ? 'union' : 'class';
        if (this.flag(node, DW_AT_declaration) && name !== undefined) {
          const full = this.completeType(`${kind} ${name}`, node);
          if (full) return set(full);
        }
        const t = set<Extract<CType, { kind: 'struct' | 'union' | 'class' }>>({ kind, size: size(), members: [] });
        if (name !== undefined) t.name = name;
        if (this.flag(node, DW_AT_declaration)) t.declaration = true;
        for (const c of node.children) {
          if (c.tag !== DW_TAG_member && c.tag !== DW_TAG_inheritance) continue;
          if (c.tag === DW_TAG_member && (this.flag(c, DW_AT_declaration) || c.attrs.get(DW_AT_external)?.value === true)) continue; // static members
          t.members.push(this.member(c));
        }
        return t;
      }
      case DW_TAG_enumeration_type: {
        if (this.flag(node, DW_AT_declaration) && name !== undefined) {
          const full = this.completeType(`enum ${name}`, node);
          if (full) return set(full);
        }
        const t = set<Extract<CType, { kind: 'enum' }>>({ kind: 'enum', size: size(), enumerators: [] });
        if (name !== undefined) t.name = name;
        const underlying = this.typeOf(node);
        if (underlying) t.underlying = underlying;
        const signed = underlying ? isSignedInteger(underlying) : false;
        for (const c of node.children) {
          if (c.tag !== DW_TAG_enumerator) continue;
          const v = c.attrs.get(DW_AT_const_value);
          let value = typeof v?.value === 'bigint' ? v.value : 0n;
          const w = formWidth(v?.form);
          if (w && signed) value = BigInt.asIntN(w * 8, value);
          t.enumerators.push({ name: this.str(c, DW_AT_name) ?? '', value });
        }
        if (!t.size) t.size = underlying ? Math.max(1, typeSizeOf(underlying)) : 4;
        return t;
      }
      case DW_TAG_subroutine_type:
      case DW_TAG_subprogram: {
        const t = set<Extract<CType, { kind: 'function' }>>({ kind: 'function' });
        if (name !== undefined && node.tag === DW_TAG_subprogram) t.name = name;
        const ret = this.typeOf(node);
        if (ret) t.returns = ret;
        const params: (CType | undefined)[] = [];
        let variadic = false;
        for (const c of node.children) {
          if (c.tag === DW_TAG_formal_parameter) params.push(this.typeOf(c));
          else if (c.tag === DW_TAG_unspecified_parameters) variadic = true;
        }
        if (params.length || this.attr(node, DW_AT_prototyped)?.value.value === true || variadic) t.params = params;
        if (variadic) t.variadic = true;
        return t;
      }
      case DW_TAG_ptr_to_member_type:
        return set({ kind: 'unknown', name: 'pointer to member', size: size() || addressSize });
      case DW_TAG_unspecified_type:
        return set({ kind: 'unknown', name: name ?? 'void' });
      default:
        return set({ kind: 'unknown', name: name ?? `<DWARF tag 0x${node.tag.toString(16)}>` });
    }
  }

  private dimCount(d: Node): number | undefined {
    if (d.tag === DW_TAG_enumeration_type) {
      const t = this.buildType(d);
      return t.kind === 'enum' ? t.enumerators.length : undefined;
    }
    const count = d.attrs.get(DW_AT_count);
    if (count) {
      const c = constant(count);
      return c === undefined ? undefined : Number(c < 0n ? 0n : c);
    }
    const ub = d.attrs.get(DW_AT_upper_bound);
    if (!ub) return undefined;
    const upper = constant(ub);
    if (upper === undefined) return undefined;
    const lbAttr = d.attrs.get(DW_AT_lower_bound);
    const lower = lbAttr ? constant(lbAttr) ?? 0n : 0n;
    const n = upper - lower + 1n;
    return n < 0n ? 0 : Number(n);
  }

  private member(c: Node): Member {
    const type = this.typeOf(c) ?? UNKNOWN_VOID;
    const name = c.tag === DW_TAG_inheritance ? typeNameForBase(type) : this.str(c, DW_AT_name) ?? '';
    const loc = c.attrs.get(DW_AT_data_member_location);
    let offset = 0;
    if (loc) {
      if (typeof loc.value === 'bigint') offset = Number(loc.value);
      else if (Buffer.isBuffer(loc.value)) offset = memberOffsetExpr(loc.value);
    }
    const bitSizeV = c.attrs.get(DW_AT_bit_size)?.value;
    if (typeof bitSizeV !== 'bigint') return { name, offset, type };
    const bitSize = Number(bitSizeV);
    let total: number;
    const dbo = c.attrs.get(DW_AT_data_bit_offset)?.value;
    const bo = c.attrs.get(DW_AT_bit_offset);
    if (typeof dbo === 'bigint') {
      total = Number(dbo);
    } else if (bo && typeof bo.value === 'bigint') {
      // DWARF 2/3: counted from the most significant bit of a storage unit of byte_size bytes.
      const bitOffset = bo.form === DW_FORM_sdata ? Number(bo.value) : Number(BigInt.asIntN(formWidth(bo.form) * 8 || 64, bo.value));
      const unit = Number(this.num(c, DW_AT_byte_size) ?? BigInt(typeSizeOf(type)));
      total = offset * 8 + unit * 8 - bitOffset - bitSize;
    } else {
      total = offset * 8;
    }
    return bitField(name, type, total, bitSize);
  }

  /** Named types (and complete definitions of tags) of every unit, built on first use. */
  private typeIndex(): Map<string, Node[]> {
    if (this.tagIndex) return this.tagIndex;
    const index = new Map<string, Node[]>();
    const add = (key: string, n: Node): void => {
      const list = index.get(key);
      if (list) list.push(n);
      else index.set(key, [n]);
    };
    const visit = (n: Node, depth: number): void => {
      for (const c of n.children) {
        const name = c.attrs.get(DW_AT_name)?.value;
        if (typeof name === 'string') {
          switch (c.tag) {
            case DW_TAG_base_type: {
              add(name, c);
              const canon = canonicalBaseName(name);
              if (canon && canon !== name) add(canon, c);
              break;
            }
            case DW_TAG_typedef: add(name, c); break;
            case DW_TAG_structure_type: add(`struct ${name}`, c); break;
            case DW_TAG_union_type: add(`union ${name}`, c); break;
            case DW_TAG_enumeration_type: add(`enum ${name}`, c); break;
            case DW_TAG_class_type: add(`class ${name}`, c); add(name, c); break;
            case DW_TAG_unspecified_type: add(name, c); break;
          }
        }
        if (depth < 32 && c.children.length && c.tag !== DW_TAG_enumeration_type) visit(c, depth + 1);
      }
    };
    for (const u of this.units) {
      const root = this.root(u);
      if (root) visit(root, 0);
    }
    // Definitions before declarations, unit-level before nested.
    for (const list of index.values()) {
      list.sort((a, b) => Number(this.flag(a, DW_AT_declaration)) - Number(this.flag(b, DW_AT_declaration))
        || depthOf(a) - depthOf(b));
    }
    return (this.tagIndex = index);
  }

  /**
   * The type DIEs spelled `key`, definitions first: of a big DWARF through its name index (the
   * one it keeps: a unit-scope definition, else a declaration), of another from typeIndex.
   */
  private typeNodes(key: string): Node[] {
    if (!this.isBig) return this.typeIndex().get(key) ?? [];
    return this.indexed((index) => {
      const off = index.types.get(key);
      return off === undefined ? [] : [off];
    }, (n) => {
      const name = n.attrs.get(DW_AT_name)?.value;
      return typeof name === 'string' && typeKeys(n.tag, name).includes(key);
    });
  }

  /** The complete definition of "struct x" (etc.) somewhere in the program, for a declaration. */
  private completeType(key: string, except: Node): CType | undefined {
    const n = this.typeNodes(key).find((c) => c !== except && !this.flag(c, DW_AT_declaration));
    return n ? this.buildType(n) : undefined;
  }

  /**
   * A type by its C name, for casts: base types ("unsigned long", in any word order), typedefs
   * ("uint32_t"), tags ("struct node", "union number", "enum color"), and, built on those,
   * pointers and qualifiers ("const char *", "struct node **"). Standard C and <stdint.h>
   * names the program's DWARF lacks are made up. "void" is undefined, as is an unknown name.
   */
  typeByName(name: string): CType | undefined {
    return typeFromName(name, this.bits, (key) => {
      const found = this.typeNodes(key);
      return found.length ? this.buildType(found[0]) : undefined;
    });
  }

  // -------------------------------------------------------------------------------------------
  // Variables.

  private makeVariable(node: Node, frameFn: Node | undefined, isGlobal: boolean, name?: string): DwarfVariable | undefined {
    name ??= this.str(node, DW_AT_name);
    if (name === undefined) return undefined;
    const type = this.typeOf(node) ?? UNKNOWN_VOID;
    const u = node.unit;
    const fileA = this.attr(node, DW_AT_decl_file);
    const lineA = this.num(node, DW_AT_decl_line);
    const declFile = fileA && typeof fileA.value.value === 'bigint' ? this.fileName(fileA.node.unit, Number(fileA.value.value)) : undefined;
    const constA = this.attr(node, DW_AT_const_value);
    const locAttr = this.attr(node, DW_AT_location);
    const locA = locAttr?.value;
    const lu = locAttr?.node.unit ?? u;
    const env = this.env(lu);
    const offsetSize = lu.header.offsetSize;
    const frameBase = frameFn ? this.frameBaseFn(frameFn) : undefined;
    const exprEnv: ExprEnv = frameBase ? { ...env, frameBase } : env;
    let list: LocationList | undefined | null;
    const getList = (): LocationList | undefined => {
      if (list !== undefined) return list ?? undefined;
      try {
        list = this.locationList(locA!, lu) ?? null;
      } catch (e) {
        if (!(e instanceof DwarfError)) throw e;
        list = null;
      }
      return list ?? undefined;
    };
    const isList = locA !== undefined && !Buffer.isBuffer(locA.value);
    const exprAt = (pc: bigint): Buffer | undefined => {
      if (!locA) return undefined;
      if (Buffer.isBuffer(locA.value)) return locA.value;
      const l = getList();
      return l ? expressionAt(l, pc) : undefined;
    };
    const v: DwarfVariable = {
      name,
      type,
      isParameter: node.tag === DW_TAG_formal_parameter,
      dieOffset: node.key,
      external: isGlobal && this.flag(node, DW_AT_external),
      locate: (ctx: FrameContext): LocationResult => {
        if (constA && !locA) return constLocation(constA.value, type);
        if (!locA) return { kind: 'optimized-out' };
        if (isList && !getList()) return { kind: 'error', message: 'unreadable location list' };
        const expr = exprAt(ctx.pc);
        if (!expr) return { kind: 'optimized-out' };
        return evaluateLocation(expr, ctx, exprEnv, offsetSize);
      },
      describeLocation: (pc: bigint): string => {
        if (constA && !locA) {
          const c = constLocation(constA.value, type);
          return c.kind === 'value' ? `constant ${c.value}` : c.kind === 'bytes' ? `constant bytes ${c.bytes.toString('hex')}` : 'optimized out';
        }
        const expr = exprAt(pc);
        if (!expr) return 'optimized out';
        return formatExpression(expr, lu.header.addressSize, this.bits, lu.header.offset, offsetSize);
      },
      locationRanges: () => {
        if (!isList || constA && !locA) return undefined;
        const l = getList();
        return l?.entries.map((e) => ({
          begin: e.begin, end: e.end, location: formatExpression(e.expr, lu.header.addressSize, this.bits, lu.header.offset, offsetSize),
        }));
      },
    };
    if (lineA !== undefined) v.declLine = Number(lineA);
    if (declFile !== undefined) v.declFile = declFile;
    return v;
  }

  /** Range lists read, per unit and section offset: DIEs that share one read it once. */
  private readonly rangeLists = new WeakMap<Unit, Map<number, AddressRange[]>>();

  /** DW_FORM_loclistx / rnglistx: the list's offset, from the unit's table (just past its header where no base is given). */
  private listx(section: ListSection | undefined, name: string, base: number | undefined, index: number, u: Unit): number {
    const size = u.header.offsetSize;
    const b = base ?? (size === 8 ? 20 : 12);
    return readList(section, b + index * size, (d) => listxOffset(d, name, b, index, size));
  }

  private rangeListAt(u: Unit, section: ListSection | undefined, at: number, lu: ListUnit): AddressRange[] {
    let perUnit = this.rangeLists.get(u);
    if (!perUnit) this.rangeLists.set(u, (perUnit = new Map()));
    let ranges = perUnit.get(at);
    if (!ranges) {
      try {
        ranges = readList(section, at, (d) => readRangeList(d, at, lu));
      } catch (e) {
        if (!(e instanceof DwarfError)) throw e;
        ranges = []; // unreadable: no code (as the callers take a failed read)
      }
      perUnit.set(at, ranges);
    }
    return ranges;
  }

  /** Location lists read, per unit (entries are relative to its base) and section offset. */
  private readonly lists = new WeakMap<Unit, Map<number, LocationList | DwarfError>>();

  private locationList(a: AttrValue, u: Unit): LocationList | undefined {
    if (typeof a.value !== 'number' && typeof a.value !== 'bigint') return undefined;
    const off = Number(a.value);
    if (u.header.version >= 5) {
      const at = a.form === DW_FORM_loclistx ? this.listx(this.sections.loclists, '.debug_loclists', u.loclistsBase, off, u) : off;
      return this.listAt(u, this.sections.loclists, at);
    }
    if (a.form === DW_FORM_sec_offset || a.form === DW_FORM_data4 || a.form === DW_FORM_data8) return this.listAt(u, this.sections.loc, off);
    return undefined;
  }

  /**
   * The list at `at`, read once per unit: variables sharing a list (and every stop that shows
   * them) do not read it again, so n variables on a list of m entries cost m, not n * m.
   */
  private listAt(u: Unit, section: ListSection | undefined, at: number): LocationList {
    let perUnit = this.lists.get(u);
    if (!perUnit) this.lists.set(u, (perUnit = new Map()));
    let list = perUnit.get(at);
    if (list === undefined) {
      try {
        list = readList(section, at, (d) => readLocationList(d, at, this.listUnit(u)));
      } catch (e) {
        if (!(e instanceof DwarfError)) throw e;
        list = e;
      }
      perUnit.set(at, list);
    }
    if (list instanceof DwarfError) throw list;
    return list;
  }

  /** DW_AT_frame_base of a function, evaluated for a frame (for DW_OP_fbreg). */
  private frameBaseFn(fn: Node): (frame: FrameContext) => bigint | { error: string } {
    const a = this.attr(fn, DW_AT_frame_base)?.value;
    const u = fn.unit;
    const env = this.env(u);
    let list: LocationList | undefined;
    return (frame) => {
      if (!a) return { error: 'the function has no DW_AT_frame_base' };
      let expr: Buffer | undefined;
      if (Buffer.isBuffer(a.value)) expr = a.value;
      else {
        try {
          list ??= this.locationList(a, u);
        } catch (e) {
          if (!(e instanceof DwarfError)) throw e;
        }
        expr = list ? expressionAt(list, frame.pc) : undefined;
      }
      if (!expr) return { error: 'the frame base is not known at this pc' };
      const loc = evaluateLocation(expr, frame, env, u.header.offsetSize);
      switch (loc.kind) {
        case 'memory': return loc.address;
        case 'value': return loc.value;
        case 'register': {
          const v = frame.regs.get(loc.reg);
          return v === undefined ? { error: `the frame base register ${loc.reg} is not available` } : v;
        }
        case 'error': return { error: `frame base: ${loc.message}` };
        default: return { error: 'the frame base is optimized out' };
      }
    };
  }

  /**
   * The functions with code at a unit's top level and in its namespaces (where a C++ member
   * function's code is: a DIE with DW_AT_specification, as gcc and clang write it, not one in
   * its class). Functions nested in functions are nestedFunctions'.
   */
  private unitFunctions(u: Unit): FunctionCode[] {
    if (u.functions) return u.functions;
    const out: FunctionCode[] = [];
    const visit = (n: Node, depth: number): void => {
      for (const c of n.children) {
        if (c.tag === DW_TAG_subprogram) {
          const r = hasCode(c) ? this.rangesOf(c) : undefined;
          if (r?.length) out.push({ node: c, ranges: r });
        } else if (depth < 64 && (c.tag === DW_TAG_namespace || c.tag === DW_TAG_module)) {
          visit(c, depth + 1);
        }
      }
    };
    const root = this.root(u);
    if (root) visit(root, 0);
    return (u.functions = out);
  }

  /** The functions with code nested in a function's DIE (GNU C nested functions), at any depth. */
  private nestedFunctions(fn: Node): FunctionCode[] {
    const out: FunctionCode[] = [];
    const visit = (n: Node, depth: number): void => {
      for (const c of n.children) {
        if (c.tag === DW_TAG_subprogram) {
          const r = hasCode(c) ? this.rangesOf(c) : undefined;
          if (!r?.length) continue;
          out.push({ node: c, ranges: r });
        } else if (c.tag !== DW_TAG_lexical_block) continue;
        if (depth < 64) visit(c, depth + 1);
      }
    };
    visit(fn, 0);
    return out;
  }

  /**
   * The file's .debug_aranges, where it has a sound one: which units hold an address, without
   * reading the unit DIEs and range lists of the others (a kernel's 2352 units, 3.4 MB of lists).
   */
  private addressIndex(): AddressIndex | undefined {
    if (this.aranges === undefined) {
      try {
        this.aranges = this.sections.aranges ? AddressIndex.of(this.sections.aranges, this.loadOffset) : null;
      } catch (e) {
        if (!(e instanceof DwarfError)) throw e;
        this.aranges = null;
      }
    }
    return this.aranges ?? undefined;
  }

  /**
   * The groups of units that may hold the function at pc, each read only if the groups before
   * it hold no function there: the units whose .debug_aranges set holds pc; where none does,
   * the units without a set, those whose unit DIE's ranges hold pc first, then those that state
   * none. (Reading a unit DIE touches its part of .debug_info, up to a 2 MiB huge page of
   * resident memory each where transparent huge pages are always on: a kernel's 50 units without
   * a set hold no code, and a stop in code .debug_aranges places never reads them.)
   */
  private *unitGroupsAt(pc: bigint): Generator<Unit[]> {
    const index = this.addressIndex();
    const listed = (u: Unit) => index?.units.has(u.header.offset) ?? false;
    const code = this.units.filter((u) => !u.isTypeUnit);
    if (index) {
      const atPc = new Set(index.unitsAt(pc));
      const claimed = code.filter((u) => listed(u) && atPc.has(u.header.offset));
      yield claimed;
      // pc is the code of a unit that says so (assembly without functions, say): no other unit's.
      if (claimed.length) return;
    }
    const holding: Unit[] = [];
    const unstated: Unit[] = [];
    for (const u of code) {
      if (listed(u)) continue;
      const ur = this.unitRanges(u);
      if (!ur?.length) unstated.push(u);
      else if (rangesContain(ur, pc)) holding.push(u);
    }
    yield [...holding, ...unstated];
  }

  /**
   * The subprogram DIE whose code holds pc: the smallest, where GNU C nested functions nest. Only
   * a unit's top level is read to find it, then the DIEs of the function found; a nested
   * function whose code lies apart from its parent's is looked for in every function's DIEs
   * once no function at the top holds pc.
   */
  private functionAt(pc: bigint): Node | undefined {
    for (const units of this.unitGroupsAt(pc)) {
      for (const u of units) {
        const outer = smallestAt(this.unitFunctions(u), pc);
        if (outer) return (smallestAt(this.nestedFunctions(outer.node), pc) ?? outer).node;
      }
      for (const u of units) {
        for (const f of this.unitFunctions(u)) {
          const inner = smallestAt(this.nestedFunctions(f.node), pc);
          if (inner) return inner.node;
        }
      }
    }
    return undefined;
  }

  /** The children of a scope, looking through lexical blocks without addresses (which gcc once wrote). */
  private scopeChildren(n: Node, out: Node[] = [], depth = 0): Node[] {
    for (const c of n.children) {
      if (c.tag === DW_TAG_lexical_block && depth < 32 && this.rangesOf(c) === undefined && !c.attrs.has(DW_AT_abstract_origin)) {
        this.scopeChildren(c, out, depth + 1);
      } else out.push(c);
    }
    return out;
  }

  /** The nested scope (block or inlined call) of `n` that holds pc. */
  private innerScopeAt(n: Node, pc: bigint): Node | undefined {
    for (const c of this.scopeChildren(n)) {
      if (c.tag !== DW_TAG_lexical_block && c.tag !== DW_TAG_inlined_subroutine) continue;
      const r = this.rangesOf(c);
      if (r && rangesContain(r, pc)) return c;
      // An inlined call's entry (DW_AT_entry_pc) can lie outside its ranges, on an instruction
      // the line table already gives to the inlined function's first line (gcc at -O2, with
      // location views): the call has begun there, as a breakpoint on that line and gdb say.
      if (c.tag === DW_TAG_inlined_subroutine && this.entryPc(c) === pc) return c;
    }
    return undefined;
  }

  /** An inlined call's DW_AT_entry_pc as an address (with the load offset), where it gives one. */
  private entryPc(node: Node): bigint | undefined {
    const a = node.attrs.get(DW_AT_entry_pc);
    if (!a || typeof a.value !== 'bigint' || !isAddressForm(a.form)) return undefined;
    return (a.value + this.loadOffset) & ((1n << BigInt(node.unit.header.addressSize * 8)) - 1n);
  }

  /** The variables a scope DIE declares itself, and those of its abstract origin it has no concrete DIE for. */
  private scopeVariables(scope: Node): Node[] {
    const own = this.scopeChildren(scope).filter((c) => (c.tag === DW_TAG_formal_parameter || c.tag === DW_TAG_variable) && !this.flag(c, DW_AT_declaration));
    const originAttr = scope.attrs.get(DW_AT_abstract_origin);
    if (!originAttr) return own;
    const origin = this.ref(originAttr, scope);
    if (!origin) return own;
    const concrete = new Set<Node>();
    for (const c of own) {
      const o = this.ref(c.attrs.get(DW_AT_abstract_origin), c);
      if (o) concrete.add(o);
    }
    const inherited = origin.children.filter((c) => (c.tag === DW_TAG_formal_parameter || c.tag === DW_TAG_variable)
      && !this.flag(c, DW_AT_declaration) && !concrete.has(c));
    if (!inherited.length) return own;
    // Keep the abstract declaration order: parameters as the function declares them.
    const order = new Map<Node, number>();
    origin.children.forEach((c, i) => order.set(c, i));
    // Ranks computed once: looked up in the comparison, an indexOf per call would make a scope
    // of n variables cost n^2 log n.
    const ownIndex = new Map(own.map((c, i) => [c, i]));
    const rank = new Map<Node, number>();
    const all = [...own, ...inherited];
    for (const c of all) {
      rank.set(c, order.get(this.ref(c.attrs.get(DW_AT_abstract_origin), c) ?? c) ?? order.size + (ownIndex.get(c) ?? -1));
    }
    return all.sort((a, b) => rank.get(a)! - rank.get(b)!);
  }

  /**
   * The function activations at pc, innermost first: inlined functions, then the function
   * they were inlined into. Each with its variables in scope at pc.
   */
  framesAt(pc: bigint): ScopeFrame[] {
    const fn = this.functionAt(pc);
    if (!fn) return [];
    // Scopes from the function down to the innermost block holding pc.
    const chain: Node[] = [fn];
    for (let n: Node | undefined = fn, i = 0; n && i < 256; i++) {
      n = this.innerScopeAt(n, pc);
      if (n) chain.push(n);
    }
    const frames: { fn: Node; scopes: Node[] }[] = [];
    for (const n of chain) {
      if (n.tag === DW_TAG_subprogram || n.tag === DW_TAG_inlined_subroutine) frames.push({ fn: n, scopes: [n] });
      else frames[frames.length - 1].scopes.push(n);
    }
    const out: ScopeFrame[] = [];
    for (const f of frames.reverse()) {
      const variables = (): DwarfVariable[] => {
        const params: DwarfVariable[] = [];
        const locals: DwarfVariable[] = [];
        for (const scope of f.scopes) {
          for (const c of this.scopeVariables(scope)) {
            const v = this.makeVariable(c, fn, false);
            if (!v) continue;
            if (v.isParameter) params.push(v);
            else locals.push(v);
          }
        }
        // Inner declarations hide outer ones: keep the last of each name.
        const all = [...params, ...locals];
        const last = new Map<string, DwarfVariable>();
        for (const v of all) last.set(v.name, v);
        return all.filter((v) => last.get(v.name) === v);
      };
      let made: DwarfVariable[] | undefined;
      const frame: ScopeFrame = {
        name: this.str(f.fn, DW_AT_name) ?? this.str(f.fn, DW_AT_linkage_name) ?? '??',
        inlined: f.fn.tag === DW_TAG_inlined_subroutine,
        ranges: this.rangesOf(f.fn) ?? [],
        // Made when asked for: a call stack and a line step want the frames, not their variables.
        get variables() {
          return (made ??= variables());
        },
      };
      if (frame.inlined) {
        const cf = f.fn.attrs.get(DW_AT_call_file)?.value;
        const cl = f.fn.attrs.get(DW_AT_call_line)?.value;
        if (typeof cf === 'bigint') frame.callFile = this.fileName(f.fn.unit, Number(cf));
        if (typeof cl === 'bigint') frame.callLine = Number(cl);
      }
      out.push(frame);
    }
    return out;
  }

  /**
   * Parameters and locals visible at pc: those of the innermost function holding pc (an inlined
   * function, where pc is in inlined code) and of its blocks that hold pc; parameters first,
   * then locals, in declaration order; where names repeat, the innermost declaration only.
   * Static locals included. For a caller's frame, pass its return address minus 1.
   */
  localsAt(pc: bigint): DwarfVariable[] {
    return this.framesAt(pc)[0]?.variables ?? [];
  }

  /**
   * Whether the DWARF is too big to walk whole for globals() or typeByName() without a long wait
   * (a kernel's -dbg vmlinux); localsAt() reads only the unit at hand, at any size. A big DWARF
   * answers globalsNamed() and typeByName() through its name index instead (name-index.ts).
   */
  get isBig(): boolean {
    return (this.sections.info?.length ?? 0) >= this.bigInfoBytes;
  }

  /** How the name index of a big DWARF came to be; undefined before it is first needed. */
  get nameIndexState(): NameIndexState | undefined {
    return this.names?.state;
  }

  /** What a cached index must agree with: its key and the sizes of every section its DIEs come from. */
  private indexFacts(key: string): IndexFacts {
    const s = this.sections;
    return {
      key,
      sections: {
        '.debug_info': s.info?.length ?? 0, '.debug_abbrev': s.abbrev?.length ?? 0, '.debug_str': s.str?.length ?? 0,
        '.debug_str_offsets': s.strOffsets?.length ?? 0, '.debug_types': s.types?.length ?? 0,
      },
    };
  }

  /**
   * The name index of a big DWARF: from its cache file where one checks out (`rescan` false),
   * else scanned from the units and written there.
   */
  private nameIndex(rescan = false): NameIndex {
    if (this.names && !rescan) return this.names.index;
    const c = this.indexCache;
    const file = c && cacheFile(c.dir, c.key, INDEX_SUFFIX);
    const facts = c && this.indexFacts(c.key);
    const bytes = !rescan && file ? readCacheFile(file) : undefined;
    const cached = bytes && facts ? parseIndex(bytes, facts, (off) => this.unitHolding(off) !== undefined) : undefined;
    if (cached) {
      this.names = {
        index: cached,
        state: { source: 'cache', unitsScanned: 0, file, written: false, variables: cached.variables.size, types: cached.types.size },
      };
      return cached;
    }
    const { index, problems, unitsScanned } = NameIndex.scan(this.units.map((u) => ({ header: u.header, sections: u.sections, bias: u.bias })));
    this.problems.push(...problems);
    // An index of a file with unreadable units is not cached: a fixed reader should see them.
    const written = !!(file && facts && !problems.length && writeCacheFile(file, c.dir, serializeIndex(index, facts)));
    this.names = { index, state: { source: 'scan', unitsScanned, file, written, variables: index.variables.size, types: index.types.size } };
    return index;
  }

  /**
   * The DIE an index entry names, checked: a DIE of the wanted tag named `name`. A cached index
   * whose entry fails that is stale or corrupt beyond what its file's checks catch: it is
   * scanned again (once), and the entry looked up there.
   */
  private indexed(lookup: (index: NameIndex) => number[], check: (n: Node) => boolean): Node[] {
    const found = (index: NameIndex): Node[] | undefined => {
      const out: Node[] = [];
      for (const off of lookup(index)) {
        const n = this.dieAt(off);
        if (!n || !check(n)) return undefined;
        out.push(n);
      }
      return out;
    };
    const first = found(this.nameIndex());
    if (first) return first;
    if (this.names?.state.source !== 'cache') return [];
    return found(this.nameIndex(true)) ?? [];
  }

  /**
   * Variables of unit and namespace scope in every unit: those with a location or constant
   * value, and declarations without one (variables defined in assembly, or in units without
   * debug information) whose address the ELF symbol table has. C++ namespace members are
   * named "ns::name".
   */
  globals(): DwarfVariable[] {
    if (this.globalList) return this.globalList;
    const defs: DwarfVariable[] = [];
    const decls: { node: Node; name: string }[] = [];
    const visit = (n: Node, prefix: string, depth: number): void => {
      for (const c of n.children) {
        if (c.tag === DW_TAG_namespace && depth < 16) {
          const ns = this.str(c, DW_AT_name);
          visit(c, ns ? `${prefix}${ns}::` : prefix, depth + 1);
          continue;
        }
        if (c.tag !== DW_TAG_variable) continue;
        const base = this.str(c, DW_AT_name);
        if (base === undefined) continue;
        const name = prefix + base;
        if (this.hasDefinition(c)) {
          const v = this.globalDefinition(c, name);
          if (v) defs.push(v);
        } else if (this.flag(c, DW_AT_declaration)) {
          decls.push({ node: c, name });
        }
      }
    };
    for (const u of this.units) {
      if (u.isTypeUnit) continue;
      const root = this.root(u);
      if (root) visit(root, '', 0);
    }
    const defined = new Set(defs.map((d) => d.name));
    const seen = new Set<string>();
    for (const { node, name } of decls) {
      if (defined.has(name) || seen.has(name)) continue;
      const v = this.globalDeclaration(node, name);
      if (!v) continue;
      seen.add(name);
      defs.push(v);
    }
    return (this.globalList = defs);
  }

  /** A unit-scope variable's definition (a location or constant value) as a global. */
  private globalDefinition(c: Node, name: string): DwarfVariable | undefined {
    const v = this.makeVariable(c, undefined, true, name);
    if (v && !v.external && c.attrs.has(DW_AT_specification)) {
      const spec = this.ref(c.attrs.get(DW_AT_specification), c);
      if (spec?.attrs.get(DW_AT_external)?.value === true) v.external = true;
    }
    return v;
  }

  /**
   * A declaration without a definition (a variable defined in assembly or a linker script, as a
   * kernel's jiffies) as a global at its ELF symbol's address; undefined where no data symbol
   * has its name.
   */
  private globalDeclaration(node: Node, name: string): DwarfVariable | undefined {
    const linkage = this.str(node, DW_AT_linkage_name) ?? this.str(node, DW_AT_MIPS_linkage_name) ?? name;
    const sym = this.symbols?.byName(linkage);
    if (!sym || sym.type === 'func') return undefined;
    const v = this.makeVariable(node, undefined, true, name);
    if (!v) return undefined;
    const address = sym.address;
    v.external = true;
    v.locate = () => ({ kind: 'memory', address });
    v.describeLocation = () => `symbol ${linkage}`;
    v.locationRanges = () => undefined;
    return v;
  }

  /**
   * The globals and statics named `name`, as globals() has them (definitions in unit order, else
   * a declaration an ELF symbol places). Of a big DWARF through its name index: only the units
   * holding them are decoded. C++ namespace members ("ns::x") are found in small files only.
   */
  globalsNamed(name: string): DwarfVariable[] {
    if (!this.isBig) return this.globals().filter((v) => v.name === name);
    const found = this.indexed(
      (index) => index.variables.get(name)?.map((e) => e.die) ?? [],
      (n) => n.tag === DW_TAG_variable && this.str(n, DW_AT_name) === name,
    );
    const out: DwarfVariable[] = [];
    for (const n of found) {
      const v = this.hasDefinition(n) ? this.globalDefinition(n, name) : this.globalDeclaration(n, name);
      if (v) out.push(v);
    }
    return out;
  }

  private hasDefinition(n: Node): boolean {
    return n.attrs.has(DW_AT_location) || this.attr(n, DW_AT_const_value) !== undefined;
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Whether a DIE's abbreviation gives it code (DW_AT_low_pc or DW_AT_ranges): a unit's prototypes
 * are subprograms too, and are passed over without decoding their attributes.
 */
function hasCode(n: Node): boolean {
  return n.declares(DW_AT_low_pc) || n.declares(DW_AT_ranges);
}

/** The function of `fns` whose code holds pc, the smallest where several do. */
function smallestAt(fns: FunctionCode[], pc: bigint): FunctionCode | undefined {
  let best: { f: FunctionCode; size: bigint } | undefined;
  for (const f of fns) {
    if (!rangesContain(f.ranges, pc)) continue;
    const size = f.ranges.reduce((sum, r) => sum + (r.end - r.begin), 0n);
    if (!best || size < best.size) best = { f, size };
  }
  return best?.f;
}

function depthOf(n: Node): number {
  let d = 0;
  for (let p = n.parent; p; p = p.parent) d++;
  return d;
}

function typeSizeOf(t: CType): number {
  const s = stripType(t);
  if (!s) return 1;
  if (s.kind === 'base' || s.kind === 'pointer' || s.kind === 'enum' || s.kind === 'struct' || s.kind === 'union' || s.kind === 'class') return s.size;
  if (s.kind === 'array') return s.count === undefined ? 0 : s.count * typeSizeOf(s.element);
  return 0;
}

function typeNameForBase(t: CType): string {
  const s = t.kind === 'typedef' ? t.name : 'name' in t && t.name ? t.name : '';
  return s;
}

/** The byte width of a fixed-size data form (0 for others). */
function formWidth(form: number | undefined): number {
  switch (form) {
    case DW_FORM_data1: return 1;
    case DW_FORM_data2: return 2;
    case DW_FORM_data4: return 4;
    case DW_FORM_data8: return 8;
    default: return 0;
  }
}

/** A constant attribute (bounds, counts) as a signed value; undefined for expressions and references. */
function constant(a: AttrValue): bigint | undefined {
  if (typeof a.value !== 'bigint') return undefined;
  const w = formWidth(a.form);
  if (a.form === DW_FORM_sdata) return a.value;
  // Data forms are of no stated signedness; an all-ones bound is -1 (gcc's "int a[0]").
  return w ? BigInt.asIntN(w * 8, a.value) : a.value;
}

/** DW_AT_data_member_location as an expression (DWARF 2: DW_OP_plus_uconst N). */
function memberOffsetExpr(expr: Buffer): number {
  try {
    const r = new ByteReader(expr, 'member location');
    const op = r.u8();
    if (op === 0x23 || op === 0x10) return r.ulebN(); // plus_uconst, constu
    if (op >= 0x30 && op <= 0x4f) return op - 0x30; // lit
  } catch {
    // fall through
  }
  return 0;
}

/** DW_AT_const_value as a location: 'value' for numbers (sign-extended for signed types), 'bytes' for blocks and strings. */
function constLocation(a: AttrValue, type: CType): Location {
  const v = a.value;
  if (typeof v === 'bigint') {
    const w = formWidth(a.form);
    return { kind: 'value', value: w && isSignedInteger(type) ? BigInt.asIntN(w * 8, v) : v };
  }
  if (Buffer.isBuffer(v)) return { kind: 'bytes', bytes: Buffer.from(v) };
  if (typeof v === 'string' && (a.form === DW_FORM_string || a.form === DW_FORM_strp || a.form === DW_FORM_line_strp
    || a.form === DW_FORM_strx || a.form === DW_FORM_strx1 || a.form === DW_FORM_strx2 || a.form === DW_FORM_strx3
    || a.form === DW_FORM_strx4 || a.form === DW_FORM_GNU_str_index)) {
    return { kind: 'bytes', bytes: Buffer.concat([Buffer.from(v, 'utf8'), Buffer.alloc(1)]) };
  }
  if (typeof v === 'number') return { kind: 'value', value: BigInt(v) };
  return { kind: 'optimized-out' };
}

/** `read` over a list section's bytes from `at` on (ListSection.readAt), or over none where the file lacks it. */
function readList<T>(section: ListSection | undefined, at: number, read: (data: Buffer | undefined) => T): T {
  return section ? section.readAt(at, read) : read(undefined);
}
