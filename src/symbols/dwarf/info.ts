// A minimal .debug_info reader: unit headers (DWARF 2-5, 32- and 64-bit DWARF), abbreviation
// tables, every attribute form of DWARF 4 and 5 (plus the GNU extensions gcc and dwz emit), and
// a walk over the DIEs of a unit. On top of that: each compilation unit's name, comp_dir and
// stmt_list (what the line-table reader needs), and the subprograms with code (name, low_pc,
// high_pc).
import { ByteReader, DwarfError, stringAt } from './reader.js';
import { ElfImage } from '../elf-file.js';

// Tags.
export const DW_TAG_compile_unit = 0x11;
export const DW_TAG_partial_unit = 0x3c;
export const DW_TAG_skeleton_unit = 0x4a;
export const DW_TAG_subprogram = 0x2e;
export const DW_TAG_inlined_subroutine = 0x1d;
export const DW_TAG_class_type = 0x02;
export const DW_TAG_enumeration_type = 0x04;
export const DW_TAG_structure_type = 0x13;
export const DW_TAG_typedef = 0x16;
export const DW_TAG_union_type = 0x17;
export const DW_TAG_base_type = 0x24;
export const DW_TAG_variable = 0x34;
export const DW_TAG_unspecified_type = 0x3b;

// Attributes.
export const DW_AT_sibling = 0x01;
export const DW_AT_location = 0x02;
export const DW_AT_name = 0x03;
export const DW_AT_const_value = 0x1c;
export const DW_AT_stmt_list = 0x10;
export const DW_AT_low_pc = 0x11;
export const DW_AT_high_pc = 0x12;
export const DW_AT_language = 0x13;
export const DW_AT_comp_dir = 0x1b;
export const DW_AT_producer = 0x25;
export const DW_AT_abstract_origin = 0x31;
export const DW_AT_decl_file = 0x3a;
export const DW_AT_decl_line = 0x3b;
export const DW_AT_declaration = 0x3c;
export const DW_AT_external = 0x3f;
export const DW_AT_specification = 0x47;
export const DW_AT_ranges = 0x55;
export const DW_AT_linkage_name = 0x6e;
export const DW_AT_str_offsets_base = 0x72;
export const DW_AT_addr_base = 0x73;
export const DW_AT_rnglists_base = 0x74;
export const DW_AT_loclists_base = 0x8c;
export const DW_AT_MIPS_linkage_name = 0x2007;

// Forms.
export const DW_FORM_addr = 0x01;
export const DW_FORM_block2 = 0x03;
export const DW_FORM_block4 = 0x04;
export const DW_FORM_data2 = 0x05;
export const DW_FORM_data4 = 0x06;
export const DW_FORM_data8 = 0x07;
export const DW_FORM_string = 0x08;
export const DW_FORM_block = 0x09;
export const DW_FORM_block1 = 0x0a;
export const DW_FORM_data1 = 0x0b;
export const DW_FORM_flag = 0x0c;
export const DW_FORM_sdata = 0x0d;
export const DW_FORM_strp = 0x0e;
export const DW_FORM_udata = 0x0f;
export const DW_FORM_ref_addr = 0x10;
export const DW_FORM_ref1 = 0x11;
export const DW_FORM_ref2 = 0x12;
export const DW_FORM_ref4 = 0x13;
export const DW_FORM_ref8 = 0x14;
export const DW_FORM_ref_udata = 0x15;
export const DW_FORM_indirect = 0x16;
export const DW_FORM_sec_offset = 0x17;
export const DW_FORM_exprloc = 0x18;
export const DW_FORM_flag_present = 0x19;
export const DW_FORM_strx = 0x1a;
export const DW_FORM_addrx = 0x1b;
export const DW_FORM_ref_sup4 = 0x1c;
export const DW_FORM_strp_sup = 0x1d;
export const DW_FORM_data16 = 0x1e;
export const DW_FORM_line_strp = 0x1f;
export const DW_FORM_ref_sig8 = 0x20;
export const DW_FORM_implicit_const = 0x21;
export const DW_FORM_loclistx = 0x22;
export const DW_FORM_rnglistx = 0x23;
export const DW_FORM_ref_sup8 = 0x24;
export const DW_FORM_strx1 = 0x25;
export const DW_FORM_strx2 = 0x26;
export const DW_FORM_strx3 = 0x27;
export const DW_FORM_strx4 = 0x28;
export const DW_FORM_addrx1 = 0x29;
export const DW_FORM_addrx2 = 0x2a;
export const DW_FORM_addrx3 = 0x2b;
export const DW_FORM_addrx4 = 0x2c;
export const DW_FORM_GNU_addr_index = 0x1f01;
export const DW_FORM_GNU_str_index = 0x1f02;
export const DW_FORM_GNU_ref_alt = 0x1f20;
export const DW_FORM_GNU_strp_alt = 0x1f21;

// Unit types (DWARF 5).
export const DW_UT_compile = 1;
export const DW_UT_type = 2;
export const DW_UT_partial = 3;
export const DW_UT_skeleton = 4;
export const DW_UT_split_compile = 5;
export const DW_UT_split_type = 6;

/** The debug sections a reader may need; any may be absent. */
export interface DwarfSections {
  info?: Buffer;
  abbrev?: Buffer;
  str?: Buffer;
  lineStr?: Buffer;
  strOffsets?: Buffer;
  addr?: Buffer;
  line?: Buffer;
  aranges?: Buffer;
  /**
   * For a .debug_info read in pieces (ElfImage.sectionInPieces): makes [start, end) of it hold
   * the file's bytes. The readers call it before they read a unit's header or DIEs.
   */
  fillInfo?: (start: number, end: number) => void;
}

export function dwarfSections(elf: ElfImage): DwarfSections {
  const info = elf.sectionInPieces('.debug_info');
  return {
    info: info?.data,
    fillInfo: info?.fill,
    abbrev: elf.section('.debug_abbrev'),
    str: elf.section('.debug_str'),
    lineStr: elf.section('.debug_line_str'),
    strOffsets: elf.section('.debug_str_offsets'),
    addr: elf.section('.debug_addr'),
    line: elf.section('.debug_line'),
    aranges: elf.section('.debug_aranges'),
  };
}

/**
 * A decoded attribute value. `value` is: a bigint for addresses and constants (data1-8, udata,
 * sdata, implicit_const) and for signatures; a number for references (offsets within
 * .debug_info: CU-relative references are made absolute), section offsets and
 * loclistx/rnglistx indexes; a string for string forms; a boolean for flags; a Buffer for
 * blocks, exprloc and data16.
 */
export interface AttrValue {
  form: number;
  value: bigint | number | string | boolean | Buffer;
}

export interface AbbrevAttr {
  name: number;
  form: number;
  /** For DW_FORM_implicit_const: the value stored in the abbreviation. */
  implicitConst?: bigint;
}

export interface Abbrev {
  code: number;
  tag: number;
  hasChildren: boolean;
  attrs: AbbrevAttr[];
}

/**
 * Attributes whose form takes no bytes in .debug_info (DW_FORM_flag_present, implicit_const) an
 * abbreviation may have. Every other attribute costs a DIE at least a byte, so with this bound
 * decoding a unit is linear in its size: a one-byte DIE cannot stand for thousands of attributes.
 */
export const MAX_ZERO_WIDTH_ATTRIBUTES = 64;
/**
 * How many bytes of .debug_abbrev may be read, as a multiple of its size (plus some slack).
 * Tables are read once per offset; units whose tables overlap (offsets one byte apart, say)
 * would otherwise make every unit read the rest of the section again.
 */
const ABBREV_READ_FACTOR = 4;
const ABBREV_READ_SLACK = 1 << 16;

/** What has been read of one .debug_abbrev section: whole tables, single declarations, how many bytes in all. */
interface AbbrevState {
  tables: Map<number, Map<number, Abbrev>>;
  /** Declarations readAbbrev found, per table offset; and how often it searched each table. */
  found: Map<number, Map<number, Abbrev>>;
  searches: Map<number, number>;
  read: number;
}

const abbrevCache = new WeakMap<Buffer, AbbrevState>();

function abbrevState(abbrev: Buffer): AbbrevState {
  let perSection = abbrevCache.get(abbrev);
  if (!perSection) abbrevCache.set(abbrev, (perSection = { tables: new Map(), found: new Map(), searches: new Map(), read: 0 }));
  return perSection;
}

/** Before reading more of .debug_abbrev: a DwarfError once the reads so far pass the budget. */
function checkAbbrevBudget(abbrev: Buffer, perSection: AbbrevState): void {
  const budget = ABBREV_READ_FACTOR * abbrev.length + ABBREV_READ_SLACK;
  if (perSection.read > budget) {
    throw new DwarfError(`.debug_abbrev: the units' abbreviation tables overlap (more than ${budget} bytes read from a section of ${abbrev.length})`);
  }
}

/** The declaration of abbreviation `code`, whose code `r` has just read; `skip`: read past it only. */
function readDeclaration(r: ByteReader, code: number, skip = false): Abbrev {
  const at = r.pos;
  const tag = r.ulebN('tag');
  const hasChildren = r.u8('children flag') !== 0;
  const attrs: AbbrevAttr[] = [];
  let zeroWidth = 0;
  for (;;) {
    const name = r.ulebN('attribute name');
    const form = r.ulebN('attribute form');
    if (name === 0 && form === 0) break;
    const implicitConst = form === DW_FORM_implicit_const ? r.sleb('implicit constant') : undefined;
    if (skip) continue;
    if ((form === DW_FORM_implicit_const || form === DW_FORM_flag_present) && ++zeroWidth > MAX_ZERO_WIDTH_ATTRIBUTES) {
      throw new DwarfError(`.debug_abbrev: abbreviation ${code} at 0x${at.toString(16)} has more than ${MAX_ZERO_WIDTH_ATTRIBUTES} attributes that take no space`);
    }
    attrs.push(implicitConst === undefined ? { name, form } : { name, form, implicitConst });
  }
  return { code, tag, hasChildren, attrs };
}

/** The abbreviation table at `offset` in .debug_abbrev: code → abbreviation. */
export function readAbbrevTable(abbrev: Buffer, offset: number): Map<number, Abbrev> {
  const perSection = abbrevState(abbrev);
  const cached = perSection.tables.get(offset);
  if (cached) return cached;
  checkAbbrevBudget(abbrev, perSection);
  const r = new ByteReader(abbrev, '.debug_abbrev', offset);
  const table = new Map<number, Abbrev>();
  try {
    for (;;) {
      const code = r.ulebN('abbreviation code');
      if (code === 0) break;
      table.set(code, readDeclaration(r, code));
    }
  } finally {
    perSection.read += Math.max(0, r.pos - offset);
  }
  perSection.tables.set(offset, table);
  return table;
}

/**
 * Abbreviation `code` of the table at `offset`, found by reading past the declarations before
 * it, keeping none of them: what a unit DIE alone needs. (A kernel's 2000 tables are 5 MB; kept
 * whole, they take seconds to build and a hundred megabytes.) A table searched twice already
 * is read whole instead, so that units sharing one are not each searched through it.
 */
function readAbbrev(abbrev: Buffer, offset: number, code: number): Abbrev | undefined {
  const perSection = abbrevState(abbrev);
  const table = perSection.tables.get(offset);
  if (table) return table.get(code);
  let found = perSection.found.get(offset);
  const known = found?.get(code);
  if (known) return known;
  const searches = perSection.searches.get(offset) ?? 0;
  if (searches >= 2) return readAbbrevTable(abbrev, offset).get(code);
  perSection.searches.set(offset, searches + 1);
  checkAbbrevBudget(abbrev, perSection);
  const r = new ByteReader(abbrev, '.debug_abbrev', offset);
  try {
    for (;;) {
      const c = r.ulebN('abbreviation code');
      if (c === 0) return undefined;
      if (c !== code) {
        readDeclaration(r, c, true);
        continue;
      }
      const decl = readDeclaration(r, c);
      if (!found) perSection.found.set(offset, (found = new Map()));
      found.set(code, decl);
      return decl;
    }
  } finally {
    perSection.read += Math.max(0, r.pos - offset);
  }
}

export interface UnitHeader {
  /** Offset of the unit header in .debug_info. */
  offset: number;
  /** Offset just past the unit. */
  end: number;
  version: number;
  /** DW_UT_* (DWARF 5), DW_UT_compile for older versions. */
  unitType: number;
  addressSize: number;
  offsetSize: 4 | 8;
  abbrevOffset: number;
  /** Offset of the first DIE. */
  dieOffset: number;
  typeSignature?: bigint;
  /** For a type unit: the offset of its type's DIE in .debug_info (absolute). */
  typeOffset?: number;
  dwoId?: bigint;
}

export interface CompileUnit extends UnitHeader {
  tag: number;
  name?: string;
  compDir?: string;
  /** Offset of this unit's line program in .debug_line. */
  stmtList?: number;
  lowPc?: bigint;
  producer?: string;
  language?: number;
  strOffsetsBase?: number;
  addrBase?: number;
  rnglistsBase?: number;
  loclistsBase?: number;
}

/** Reads the unit header at `offset`. */
export function readUnitHeader(info: Buffer, offset: number): UnitHeader {
  const r = new ByteReader(info, '.debug_info', offset);
  const { length, offsetSize } = r.initialLength();
  const end = r.pos + length;
  if (end > info.length) throw new DwarfError(`.debug_info: unit at 0x${offset.toString(16)} (${length} bytes) runs past the end of the section`);
  r.end = end;
  const version = r.u16('version');
  if (version < 2 || version > 5) throw new DwarfError(`.debug_info: unit at 0x${offset.toString(16)} has unsupported DWARF version ${version}`);
  let unitType = DW_UT_compile;
  let addressSize: number;
  let abbrevOffset: number;
  let typeSignature: bigint | undefined;
  let typeOffset: number | undefined;
  let dwoId: bigint | undefined;
  if (version >= 5) {
    unitType = r.u8('unit type');
    addressSize = r.u8('address size');
    abbrevOffset = r.offset(offsetSize, 'abbreviation offset');
    if (unitType === DW_UT_skeleton || unitType === DW_UT_split_compile) dwoId = r.u64('dwo id');
    else if (unitType === DW_UT_type || unitType === DW_UT_split_type) {
      typeSignature = r.u64('type signature');
      typeOffset = offset + r.offset(offsetSize, 'type offset');
    }
  } else {
    abbrevOffset = r.offset(offsetSize, 'abbreviation offset');
    addressSize = r.u8('address size');
  }
  if (addressSize !== 2 && addressSize !== 4 && addressSize !== 8) {
    throw new DwarfError(`.debug_info: unit at 0x${offset.toString(16)} has address size ${addressSize}`);
  }
  return { offset, end, version, unitType, addressSize, offsetSize, abbrevOffset, dieOffset: r.pos, typeSignature, typeOffset, dwoId };
}

/** What decoding a form needs to know about its unit. */
export interface FormContext {
  version: number;
  addressSize: number;
  offsetSize: 4 | 8;
  /** The unit's offset in .debug_info, for CU-relative references; 0 where there is none. */
  unitOffset: number;
  sections: DwarfSections;
  strOffsetsBase?: number;
  addrBase?: number;
  /** The section name for messages. */
}

/** Forms whose value is an index resolved through the unit's str_offsets_base/addr_base. */
function isStrx(form: number): boolean {
  return form === DW_FORM_strx || (form >= DW_FORM_strx1 && form <= DW_FORM_strx4) || form === DW_FORM_GNU_str_index;
}
function isAddrx(form: number): boolean {
  return form === DW_FORM_addrx || (form >= DW_FORM_addrx1 && form <= DW_FORM_addrx4) || form === DW_FORM_GNU_addr_index;
}

/** Whether a form is of the address class (so DW_AT_high_pc in it is absolute, not a length). */
export function isAddressForm(form: number): boolean {
  return form === DW_FORM_addr || isAddrx(form);
}

/**
 * Reads one attribute value of `form` at the reader's position. strx/addrx forms are resolved
 * when the context has the bases; otherwise (the unit DIE itself, before its
 * DW_AT_str_offsets_base is known) their value is left as the index, with `pending` set.
 */
export function readForm(r: ByteReader, form: number, ctx: FormContext, implicitConst?: bigint): AttrValue & { pending?: boolean } {
  switch (form) {
    case DW_FORM_addr: return { form, value: r.uN(ctx.addressSize, 'address') };
    case DW_FORM_block1: return { form, value: r.bytes(r.u8('block length')) };
    case DW_FORM_block2: return { form, value: r.bytes(r.u16('block length')) };
    case DW_FORM_block4: return { form, value: r.bytes(r.u32('block length')) };
    case DW_FORM_block:
    case DW_FORM_exprloc: return { form, value: r.bytes(r.ulebN('block length')) };
    case DW_FORM_data1: return { form, value: BigInt(r.u8()) };
    case DW_FORM_data2: return { form, value: BigInt(r.u16()) };
    case DW_FORM_data4: return { form, value: BigInt(r.u32()) };
    case DW_FORM_data8: return { form, value: r.u64() };
    case DW_FORM_data16: return { form, value: r.bytes(16) };
    case DW_FORM_sdata: return { form, value: r.sleb() };
    case DW_FORM_udata: return { form, value: r.uleb() };
    case DW_FORM_implicit_const: return { form, value: implicitConst ?? 0n };
    case DW_FORM_string: return { form, value: r.cstring() };
    case DW_FORM_strp: return { form, value: stringAt(ctx.sections.str, '.debug_str', r.offset(ctx.offsetSize, 'string offset')) };
    case DW_FORM_line_strp: return { form, value: stringAt(ctx.sections.lineStr, '.debug_line_str', r.offset(ctx.offsetSize, 'string offset')) };
    case DW_FORM_strp_sup:
    case DW_FORM_GNU_strp_alt:
      // A string in a supplementary file (dwz); we do not follow it.
      r.offset(ctx.offsetSize);
      return { form, value: '<string in supplementary file>' };
    case DW_FORM_flag: return { form, value: r.u8() !== 0 };
    case DW_FORM_flag_present: return { form, value: true };
    case DW_FORM_ref1: return { form, value: ctx.unitOffset + r.u8() };
    case DW_FORM_ref2: return { form, value: ctx.unitOffset + r.u16() };
    case DW_FORM_ref4: return { form, value: ctx.unitOffset + r.u32() };
    case DW_FORM_ref8: return { form, value: ctx.unitOffset + Number(r.u64()) };
    case DW_FORM_ref_udata: return { form, value: ctx.unitOffset + r.ulebN() };
    case DW_FORM_ref_addr:
      return { form, value: ctx.version <= 2 ? Number(r.uN(ctx.addressSize, 'reference')) : r.offset(ctx.offsetSize, 'reference') };
    case DW_FORM_ref_sup4: return { form, value: r.u32() };
    case DW_FORM_ref_sup8: return { form, value: Number(r.u64()) };
    case DW_FORM_GNU_ref_alt: return { form, value: r.offset(ctx.offsetSize) };
    case DW_FORM_ref_sig8: return { form, value: r.u64() };
    case DW_FORM_sec_offset: return { form, value: r.offset(ctx.offsetSize, 'section offset') };
    case DW_FORM_loclistx:
    case DW_FORM_rnglistx: return { form, value: r.ulebN() };
    case DW_FORM_indirect: {
      const actual = r.ulebN('indirect form');
      if (actual === DW_FORM_indirect) throw new DwarfError(`${r.section}: DW_FORM_indirect names itself at 0x${r.pos.toString(16)}`);
      return readForm(r, actual, ctx, implicitConst);
    }
    case DW_FORM_strx:
    case DW_FORM_GNU_str_index:
      return resolveIndex(form, r.ulebN(), ctx);
    case DW_FORM_strx1: return resolveIndex(form, r.u8(), ctx);
    case DW_FORM_strx2: return resolveIndex(form, r.u16(), ctx);
    case DW_FORM_strx3: return resolveIndex(form, r.u24(), ctx);
    case DW_FORM_strx4: return resolveIndex(form, r.u32(), ctx);
    case DW_FORM_addrx:
    case DW_FORM_GNU_addr_index:
      return resolveIndex(form, r.ulebN(), ctx);
    case DW_FORM_addrx1: return resolveIndex(form, r.u8(), ctx);
    case DW_FORM_addrx2: return resolveIndex(form, r.u16(), ctx);
    case DW_FORM_addrx3: return resolveIndex(form, r.u24(), ctx);
    case DW_FORM_addrx4: return resolveIndex(form, r.u32(), ctx);
    default:
      throw new DwarfError(`${r.section}: unknown attribute form 0x${form.toString(16)} at offset 0x${r.pos.toString(16)}`);
  }
}

function resolveIndex(form: number, index: number, ctx: FormContext): AttrValue & { pending?: boolean } {
  if (isStrx(form)) {
    if (ctx.strOffsetsBase === undefined) return { form, value: index, pending: true };
    const so = ctx.sections.strOffsets;
    if (!so) throw new DwarfError(`.debug_str_offsets is missing but DW_FORM_strx refers to it`);
    const r = new ByteReader(so, '.debug_str_offsets', ctx.strOffsetsBase + index * ctx.offsetSize);
    return { form, value: stringAt(ctx.sections.str, '.debug_str', r.offset(ctx.offsetSize, 'string offset')) };
  }
  if (ctx.addrBase === undefined) return { form, value: index, pending: true };
  const a = ctx.sections.addr;
  if (!a) throw new DwarfError(`.debug_addr is missing but DW_FORM_addrx refers to it`);
  const r = new ByteReader(a, '.debug_addr', ctx.addrBase + index * ctx.addressSize);
  return { form, value: r.uN(ctx.addressSize, 'address') };
}

/**
 * The unit DIE holds the bases that strx/addrx forms (its own included) go through: sets them in
 * `ctx` from the unit DIE's attributes, and resolves those of them that readForm left `pending`.
 */
export function applyUnitBases(attrs: Map<number, AttrValue>, pending: AbbrevAttr[], ctx: FormContext): void {
  const so = attrs.get(DW_AT_str_offsets_base)?.value;
  const ab = attrs.get(DW_AT_addr_base)?.value;
  ctx.strOffsetsBase = typeof so === 'number' ? so : ctx.offsetSize === 8 ? 16 : 8;
  ctx.addrBase = typeof ab === 'number' ? ab : 8;
  for (const a of pending) {
    const v = attrs.get(a.name)!;
    attrs.set(a.name, resolveIndex(v.form, v.value as number, ctx));
  }
}

/** Skips over one attribute value (cheaper than decoding strings). */
export function skipForm(r: ByteReader, form: number, ctx: FormContext): void {
  switch (form) {
    case DW_FORM_flag_present:
    case DW_FORM_implicit_const:
      return;
    case DW_FORM_data1: case DW_FORM_ref1: case DW_FORM_flag: case DW_FORM_strx1: case DW_FORM_addrx1:
      r.skip(1); return;
    case DW_FORM_data2: case DW_FORM_ref2: case DW_FORM_strx2: case DW_FORM_addrx2:
      r.skip(2); return;
    case DW_FORM_strx3: case DW_FORM_addrx3:
      r.skip(3); return;
    case DW_FORM_data4: case DW_FORM_ref4: case DW_FORM_strx4: case DW_FORM_addrx4: case DW_FORM_ref_sup4:
      r.skip(4); return;
    case DW_FORM_data8: case DW_FORM_ref8: case DW_FORM_ref_sig8: case DW_FORM_ref_sup8:
      r.skip(8); return;
    case DW_FORM_data16: r.skip(16); return;
    case DW_FORM_addr: r.skip(ctx.addressSize); return;
    case DW_FORM_strp: case DW_FORM_line_strp: case DW_FORM_sec_offset: case DW_FORM_strp_sup:
    case DW_FORM_GNU_strp_alt: case DW_FORM_GNU_ref_alt:
      r.skip(ctx.offsetSize); return;
    case DW_FORM_ref_addr: r.skip(ctx.version <= 2 ? ctx.addressSize : ctx.offsetSize); return;
    case DW_FORM_sdata: case DW_FORM_udata: case DW_FORM_ref_udata: case DW_FORM_strx: case DW_FORM_addrx:
    case DW_FORM_loclistx: case DW_FORM_rnglistx: case DW_FORM_GNU_addr_index: case DW_FORM_GNU_str_index:
      r.uleb(); return;
    case DW_FORM_string: r.cstring(); return;
    default:
      readForm(r, form, ctx);
  }
}

export interface Die {
  /** Offset of the DIE in .debug_info. */
  offset: number;
  tag: number;
  /** 0 for the unit DIE, 1 for its children, ... */
  depth: number;
  hasChildren: boolean;
  attrs: Map<number, AttrValue>;
}

/** The string value of an attribute, if it has one. */
export function attrString(d: Die | undefined, name: number): string | undefined {
  const v = d?.attrs.get(name)?.value;
  return typeof v === 'string' ? v : undefined;
}

/** An unsigned numeric value (address, constant, offset, reference) of an attribute. */
export function attrNumber(d: Die | undefined, name: number): bigint | undefined {
  const v = d?.attrs.get(name)?.value;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(v);
  return undefined;
}

/** The most bytes a unit header takes (64-bit DWARF 5 type unit: 12 + 2 + 1 + 1 + 8 + 8 + 8). */
const UNIT_HEADER_BYTES = 40;
/** How much of a unit read in pieces is read for its unit DIE alone; its abbreviation says the rest. */
const UNIT_DIE_PIECE = 512;

/**
 * Walks the DIEs of one unit in order. `wanted`, when given, limits decoding to those
 * attributes (others are skipped), which is much faster on large units; `maxDepth` stops the
 * walk from yielding deeper DIEs: a DIE at that depth whose DW_AT_sibling (in `wanted`) points
 * forward inside the unit has its children jumped over, others' children are read past
 * without decoding an attribute.
 */
export function* iterateDies(
  sections: DwarfSections, unit: UnitHeader, opts: { wanted?: Set<number>; onlyUnitDie?: boolean; maxDepth?: number } = {},
): Generator<Die> {
  const info = sections.info;
  if (!info) return;
  if (!sections.abbrev) throw new DwarfError('.debug_abbrev is missing');
  const abbrev = sections.abbrev;
  // The unit DIE alone needs only its own declaration.
  const abbrevs = opts.onlyUnitDie ? undefined : readAbbrevTable(abbrev, unit.abbrevOffset);
  // A .debug_info read in pieces: the unit's DIEs, or for the unit DIE alone a first piece of
  // them (and the rest if the DIE turns out to run past it).
  let readable = unit.end;
  if (sections.fillInfo) {
    readable = opts.onlyUnitDie ? Math.min(unit.end, unit.dieOffset + UNIT_DIE_PIECE) : unit.end;
    sections.fillInfo(unit.dieOffset, readable);
  }
  const r = new ByteReader(info, '.debug_info', unit.dieOffset, readable);
  const ctx: FormContext = {
    version: unit.version, addressSize: unit.addressSize, offsetSize: unit.offsetSize, unitOffset: unit.offset, sections,
  };
  let depth = 0;
  let first = true;
  const maxDepth = opts.maxDepth ?? Infinity;
  const readAttrs = (ab: Abbrev, pending: AbbrevAttr[]): Map<number, AttrValue> => {
    const attrs = new Map<number, AttrValue>();
    for (const a of ab.attrs) {
      if (opts.wanted && !opts.wanted.has(a.name) && !first) {
        skipForm(r, a.form, ctx);
        continue;
      }
      const v = readForm(r, a.form, ctx, a.implicitConst);
      if (v.pending) pending.push(a);
      attrs.set(a.name, { form: v.form, value: v.value });
    }
    return attrs;
  };
  while (!r.atEnd) {
    const offset = r.pos;
    const code = r.ulebN('abbreviation code');
    if (code === 0) {
      depth--;
      if (depth <= 0) return;
      continue;
    }
    const ab = abbrevs ? abbrevs.get(code) : readAbbrev(abbrev, unit.abbrevOffset, code);
    if (!ab) throw new DwarfError(`.debug_info: DIE at 0x${offset.toString(16)} uses unknown abbreviation ${code}`);
    if (depth > maxDepth) {
      for (const a of ab.attrs) skipForm(r, a.form, ctx);
      if (ab.hasChildren) depth++;
      continue;
    }
    let pending: AbbrevAttr[] = [];
    const start = r.pos;
    let attrs: Map<number, AttrValue>;
    try {
      attrs = readAttrs(ab, pending);
    } catch (e) {
      if (!(e instanceof DwarfError) || readable === unit.end) throw e;
      // The unit DIE runs past the first piece: read the rest of the unit, then the DIE again.
      sections.fillInfo!(readable, unit.end);
      r.end = readable = unit.end;
      r.pos = start;
      pending = [];
      attrs = readAttrs(ab, pending);
    }
    if (first) {
      applyUnitBases(attrs, pending, ctx);
      first = false;
    }
    yield { offset, tag: ab.tag, depth, hasChildren: ab.hasChildren, attrs };
    if (opts.onlyUnitDie) return;
    const sibling = depth === maxDepth && ab.hasChildren ? attrs.get(DW_AT_sibling)?.value : undefined;
    // Only forward: a sibling pointing back (a corrupt file) would loop; then the children are read.
    if (typeof sibling === 'number' && sibling > r.pos && sibling <= readable) r.pos = sibling;
    else if (ab.hasChildren) depth++;
    else if (depth === 0) return;
  }
}

/**
 * unitHeaders' answer per .debug_info buffer (the headers depend on its bytes alone): a file's
 * line table, its variables and its name index all ask, and a kernel has 2352 units.
 */
const headersRead = new WeakMap<Buffer, UnitHeader[]>();

/** Every unit header in .debug_info. */
export function unitHeaders(sections: DwarfSections): UnitHeader[] {
  const info = sections.info;
  const out: UnitHeader[] = [];
  if (!info) return out;
  const read = headersRead.get(info);
  if (read) return read;
  let off = 0;
  while (off + 4 <= info.length) {
    sections.fillInfo?.(off, off + UNIT_HEADER_BYTES);
    const h = readUnitHeader(info, off);
    out.push(h);
    if (h.end <= off) break;
    off = h.end;
  }
  headersRead.set(info, out);
  return out;
}

/**
 * compileUnits' answer per .debug_info, with the sections it was read with: a file's line table
 * and its variables both ask (a kernel's 2352 unit DIEs take a quarter of a second to read).
 */
const unitsRead = new WeakMap<Buffer, { sections: DwarfSections; units: CompileUnit[] }>();

/** The compilation units, with what their unit DIE says about names, directories and lines. */
export function compileUnits(sections: DwarfSections): CompileUnit[] {
  const read = sections.info && unitsRead.get(sections.info);
  if (read && (['abbrev', 'str', 'lineStr', 'strOffsets', 'addr'] as const).every((k) => read.sections[k] === sections[k])) return read.units;
  const out: CompileUnit[] = [];
  for (const h of unitHeaders(sections)) {
    if (h.unitType === DW_UT_type || h.unitType === DW_UT_split_type) continue;
    for (const d of iterateDies(sections, h, { onlyUnitDie: true })) {
      const stmt = d.attrs.get(DW_AT_stmt_list)?.value;
      const so = d.attrs.get(DW_AT_str_offsets_base)?.value;
      const ab = d.attrs.get(DW_AT_addr_base)?.value;
      const rb = d.attrs.get(DW_AT_rnglists_base)?.value;
      const lb = d.attrs.get(DW_AT_loclists_base)?.value;
      const lang = attrNumber(d, DW_AT_language);
      out.push({
        ...h,
        tag: d.tag,
        name: attrString(d, DW_AT_name),
        compDir: attrString(d, DW_AT_comp_dir),
        stmtList: typeof stmt === 'number' ? stmt : typeof stmt === 'bigint' ? Number(stmt) : undefined,
        lowPc: typeof d.attrs.get(DW_AT_low_pc)?.value === 'bigint' ? (d.attrs.get(DW_AT_low_pc)!.value as bigint) : undefined,
        producer: attrString(d, DW_AT_producer),
        language: lang === undefined ? undefined : Number(lang),
        strOffsetsBase: typeof so === 'number' ? so : undefined,
        addrBase: typeof ab === 'number' ? ab : undefined,
        rnglistsBase: typeof rb === 'number' ? rb : undefined,
        loclistsBase: typeof lb === 'number' ? lb : undefined,
      });
    }
  }
  if (sections.info) unitsRead.set(sections.info, { sections, units: out });
  return out;
}

/**
 * Takes `headers` and `units` as unitHeaders' and compileUnits' answers for these sections,
 * without reading them: what a checked cache file holds (line-index-cache.ts).
 */
export function rememberUnits(sections: DwarfSections & { info: Buffer }, headers: UnitHeader[], units: CompileUnit[]): void {
  headersRead.set(sections.info, headers);
  unitsRead.set(sections.info, { sections, units });
}

export interface Subprogram {
  name: string;
  /** Start address (with the load offset). */
  lowPc: bigint;
  /** End address, exclusive (with the load offset). */
  highPc: bigint;
  /** The unit's offset in .debug_info. */
  unitOffset: number;
  /** The DIE's offset in .debug_info. */
  dieOffset: number;
  /** DW_AT_external: visible outside its unit. */
  external: boolean;
}

const SUBPROGRAM_ATTRS = new Set([
  DW_AT_name, DW_AT_low_pc, DW_AT_high_pc, DW_AT_abstract_origin, DW_AT_specification, DW_AT_external,
  DW_AT_linkage_name, DW_AT_MIPS_linkage_name,
]);

/**
 * Every DW_TAG_subprogram with code (low_pc and high_pc; high_pc as an address or, from
 * DWARF 4 on, as a length), named through DW_AT_abstract_origin / DW_AT_specification where
 * the DIE itself has no name (out-of-line copies of inline functions, C++ member definitions).
 */
export function subprograms(sections: DwarfSections, loadOffset = 0n): Subprogram[] {
  const names = new Map<number, string>();
  const origins = new Map<number, number>();
  const found: { die: Die; unit: UnitHeader }[] = [];
  for (const h of unitHeaders(sections)) {
    for (const d of iterateDies(sections, h, { wanted: SUBPROGRAM_ATTRS })) {
      const name = attrString(d, DW_AT_name) ?? attrString(d, DW_AT_linkage_name) ?? attrString(d, DW_AT_MIPS_linkage_name);
      if (name !== undefined) names.set(d.offset, name);
      const origin = d.attrs.get(DW_AT_abstract_origin) ?? d.attrs.get(DW_AT_specification);
      if (origin && typeof origin.value === 'number' && (origin.form !== DW_FORM_ref_sup4 && origin.form !== DW_FORM_ref_sup8 && origin.form !== DW_FORM_GNU_ref_alt)) {
        origins.set(d.offset, origin.value);
      }
      if (d.tag === DW_TAG_subprogram && d.attrs.has(DW_AT_low_pc) && d.attrs.has(DW_AT_high_pc)) found.push({ die: d, unit: h });
    }
  }
  const nameOf = (off: number): string | undefined => {
    for (let i = 0; i < 16; i++) {
      const n = names.get(off);
      if (n !== undefined) return n;
      const o = origins.get(off);
      if (o === undefined) return undefined;
      off = o;
    }
    return undefined;
  };
  const mask = (1n << 64n) - 1n;
  const out: Subprogram[] = [];
  for (const { die, unit } of found) {
    const low = die.attrs.get(DW_AT_low_pc)!;
    const high = die.attrs.get(DW_AT_high_pc)!;
    if (typeof low.value !== 'bigint' || typeof high.value !== 'bigint') continue;
    const lowPc = low.value;
    const highPc = isAddressForm(high.form) ? high.value : lowPc + high.value;
    if (highPc <= lowPc) continue;
    const addrMask = unit.addressSize === 8 ? mask : (1n << BigInt(unit.addressSize * 8)) - 1n;
    out.push({
      name: nameOf(die.offset) ?? `<subprogram at 0x${die.offset.toString(16)}>`,
      lowPc: (lowPc + loadOffset) & addrMask,
      highPc: ((highPc + loadOffset - 1n) & addrMask) + 1n,
      unitOffset: unit.offset,
      dieOffset: die.offset,
      external: die.attrs.get(DW_AT_external)?.value === true,
    });
  }
  out.sort((a, b) => (a.lowPc < b.lowPc ? -1 : a.lowPc > b.lowPc ? 1 : 0));
  return out;
}

export const DW_LANG_Mips_Assembler = 0x8001;

/**
 * Whether a unit describes variables with location lists (DW_AT_location in loclist form):
 * what gdb takes, for gcc 4.5 and later, as "locations valid" — optimized code whose breakpoints
 * go on a function's first instruction, with no prologue skipping.
 */
export function hasLocationLists(sections: DwarfSections, unit: UnitHeader): boolean {
  for (const d of iterateDies(sections, unit, { wanted: new Set([DW_AT_location]) })) {
    const a = d.attrs.get(DW_AT_location);
    if (!a) continue;
    if (a.form === DW_FORM_sec_offset || a.form === DW_FORM_loclistx) return true;
    if (unit.version < 4 && (a.form === DW_FORM_data4 || a.form === DW_FORM_data8)) return true;
  }
  return false;
}

/** gcc 4.5 or later, from DW_AT_producer ("GNU C17 12.2.0 -O2 ..."); gas says "GNU AS". */
export function producerIsGcc45(producer: string | undefined): boolean {
  const m = producer && !/^GNU AS\b/.test(producer) ? /^GNU .*? (\d+)\.(\d+)/.exec(producer) : null;
  if (!m) return false;
  const major = Number(m[1]);
  return major > 4 || (major === 4 && Number(m[2]) >= 5);
}

/** The .debug_info of one ELF file: its compilation units and (computed on demand) subprograms. */
export class DwarfInfo {
  private subs?: Subprogram[];
  private cus?: CompileUnit[];

  constructor(readonly sections: DwarfSections, readonly loadOffset = 0n) {}

  static fromElf(image: ElfImage | Buffer, fileName: string, loadOffset = 0n): DwarfInfo {
    return new DwarfInfo(dwarfSections(ElfImage.of(image, fileName)), loadOffset);
  }

  units(): CompileUnit[] {
    return (this.cus ??= compileUnits(this.sections));
  }

  subprograms(): Subprogram[] {
    return (this.subs ??= subprograms(this.sections, this.loadOffset));
  }

  /** The subprogram whose [lowPc, highPc) holds `addr` (the innermost, if nested). */
  subprogramAt(addr: bigint): Subprogram | undefined {
    let best: Subprogram | undefined;
    for (const s of this.subprograms()) {
      if (s.lowPc > addr) break;
      if (addr < s.highPc && (!best || s.lowPc >= best.lowPc)) best = s;
    }
    return best;
  }
}
