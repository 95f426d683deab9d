// Location lists and range lists: DWARF 2-4 .debug_loc and .debug_ranges (address pairs,
// base-address selection entries), DWARF 5 .debug_loclists and .debug_rnglists (DW_LLE_* and
// DW_RLE_* entries, address indexes into .debug_addr, the offset tables that
// DW_FORM_loclistx/rnglistx index), and gcc's DW_LLE_GNU_view_pair entries.
import { ByteReader, DwarfError } from './reader.js';

/** [begin, end) with the load offset applied. */
export interface AddressRange {
  begin: bigint;
  end: bigint;
}

export interface LocationListEntry extends AddressRange {
  expr: Buffer;
}

export interface LocationList {
  entries: LocationListEntry[];
  /** DW_LLE_default_location: the location where no entry applies. */
  defaultExpr?: Buffer;
}

/** What reading a unit's lists needs to know about it. */
export interface ListUnit {
  version: number;
  addressSize: number;
  offsetSize: 4 | 8;
  /** The unit's base address (DW_AT_low_pc of the unit DIE, link-time; 0 if absent). */
  base: bigint;
  loadOffset: bigint;
  /** .debug_addr entry `index` of the unit (link-time), for the *x entries. */
  addrIndex(index: number): bigint | undefined;
}

// DWARF 5 location list entries.
export const DW_LLE_end_of_list = 0x00;
export const DW_LLE_base_addressx = 0x01;
export const DW_LLE_startx_endx = 0x02;
export const DW_LLE_startx_length = 0x03;
export const DW_LLE_offset_pair = 0x04;
export const DW_LLE_default_location = 0x05;
export const DW_LLE_base_address = 0x06;
export const DW_LLE_start_end = 0x07;
export const DW_LLE_start_length = 0x08;
export const DW_LLE_GNU_view_pair = 0x09;

// DWARF 5 range list entries.
export const DW_RLE_end_of_list = 0x00;
export const DW_RLE_base_addressx = 0x01;
export const DW_RLE_startx_endx = 0x02;
export const DW_RLE_startx_length = 0x03;
export const DW_RLE_offset_pair = 0x04;
export const DW_RLE_base_address = 0x05;
export const DW_RLE_start_end = 0x06;
export const DW_RLE_start_length = 0x07;

function mask(unit: ListUnit): bigint {
  return (1n << BigInt(unit.addressSize * 8)) - 1n;
}

function index(unit: ListUnit, i: number, section: string): bigint {
  const v = unit.addrIndex(i);
  if (v === undefined) throw new DwarfError(`${section}: no .debug_addr entry ${i}`);
  return v;
}

/** At most this many entries a list (a corrupt list must not run on through the section). */
const MAX_ENTRIES = 1 << 16;

/**
 * The location list at `offset` in .debug_loc (units before DWARF 5) or .debug_loclists
 * (DWARF 5). Empty ranges are dropped.
 */
export function readLocationList(section: Buffer | undefined, offset: number, unit: ListUnit): LocationList {
  const name = unit.version >= 5 ? '.debug_loclists' : '.debug_loc';
  if (!section) throw new DwarfError(`${name} is missing but a location list refers to it`);
  const r = new ByteReader(section, name, offset);
  const m = mask(unit);
  const entries: LocationListEntry[] = [];
  let defaultExpr: Buffer | undefined;
  let base = unit.base;
  const add = (begin: bigint, end: bigint, expr: Buffer): void => {
    if (end <= begin) return;
    entries.push({ begin: (begin + unit.loadOffset) & m, end: ((end + unit.loadOffset - 1n) & m) + 1n, expr });
  };
  for (let n = 0; n < MAX_ENTRIES; n++) {
    if (unit.version < 5) {
      const begin = r.uN(unit.addressSize, 'location list begin');
      const end = r.uN(unit.addressSize, 'location list end');
      if (begin === 0n && end === 0n) break;
      if (begin === m) { base = end; continue; }
      const expr = r.bytes(r.u16('expression length'), 'location expression');
      add((begin + base) & m, (end + base) & m, expr);
      continue;
    }
    const kind = r.u8('location list entry kind');
    const counted = (): Buffer => r.bytes(r.ulebN('expression length'), 'location expression');
    switch (kind) {
      case DW_LLE_end_of_list: return { entries, defaultExpr };
      case DW_LLE_base_addressx: base = index(unit, r.ulebN(), name); break;
      case DW_LLE_startx_endx: { const b = index(unit, r.ulebN(), name); const e = index(unit, r.ulebN(), name); add(b, e, counted()); break; }
      case DW_LLE_startx_length: { const b = index(unit, r.ulebN(), name); const l = r.uleb(); add(b, b + l, counted()); break; }
      case DW_LLE_offset_pair: { const b = r.uleb(); const e = r.uleb(); add((base + b) & m, (base + e) & m, counted()); break; }
      case DW_LLE_default_location: defaultExpr = counted(); break;
      case DW_LLE_base_address: base = r.uN(unit.addressSize, 'base address'); break;
      case DW_LLE_start_end: { const b = r.uN(unit.addressSize); const e = r.uN(unit.addressSize); add(b, e, counted()); break; }
      case DW_LLE_start_length: { const b = r.uN(unit.addressSize); const l = r.uleb(); add(b, b + l, counted()); break; }
      case DW_LLE_GNU_view_pair: r.uleb(); r.uleb(); break;
      default: throw new DwarfError(`${name}: unknown entry kind 0x${kind.toString(16)} at offset 0x${(r.pos - 1).toString(16)}`);
    }
  }
  return { entries, defaultExpr };
}

/** The range list at `offset` in .debug_ranges (before DWARF 5) or .debug_rnglists (DWARF 5). */
export function readRangeList(section: Buffer | undefined, offset: number, unit: ListUnit): AddressRange[] {
  const name = unit.version >= 5 ? '.debug_rnglists' : '.debug_ranges';
  if (!section) throw new DwarfError(`${name} is missing but a range list refers to it`);
  const r = new ByteReader(section, name, offset);
  const m = mask(unit);
  const out: AddressRange[] = [];
  let base = unit.base;
  const add = (begin: bigint, end: bigint): void => {
    if (end <= begin) return;
    out.push({ begin: (begin + unit.loadOffset) & m, end: ((end + unit.loadOffset - 1n) & m) + 1n });
  };
  for (let n = 0; n < MAX_ENTRIES; n++) {
    if (unit.version < 5) {
      const begin = r.uN(unit.addressSize, 'range begin');
      const end = r.uN(unit.addressSize, 'range end');
      if (begin === 0n && end === 0n) break;
      if (begin === m) { base = end; continue; }
      add((begin + base) & m, (end + base) & m);
      continue;
    }
    const kind = r.u8('range list entry kind');
    switch (kind) {
      case DW_RLE_end_of_list: return out;
      case DW_RLE_base_addressx: base = index(unit, r.ulebN(), name); break;
      case DW_RLE_startx_endx: { const b = index(unit, r.ulebN(), name); add(b, index(unit, r.ulebN(), name)); break; }
      case DW_RLE_startx_length: { const b = index(unit, r.ulebN(), name); add(b, b + r.uleb()); break; }
      case DW_RLE_offset_pair: { const b = r.uleb(); const e = r.uleb(); add((base + b) & m, (base + e) & m); break; }
      case DW_RLE_base_address: base = r.uN(unit.addressSize, 'base address'); break;
      case DW_RLE_start_end: { const b = r.uN(unit.addressSize); add(b, r.uN(unit.addressSize)); break; }
      case DW_RLE_start_length: { const b = r.uN(unit.addressSize); add(b, b + r.uleb()); break; }
      default: throw new DwarfError(`${name}: unknown entry kind 0x${kind.toString(16)} at offset 0x${(r.pos - 1).toString(16)}`);
    }
  }
  return out;
}

/**
 * DW_FORM_loclistx / DW_FORM_rnglistx: the list's offset in its section, from the offset
 * table at `base` (DW_AT_loclists_base / DW_AT_rnglists_base: just past the table's header).
 */
export function listxOffset(section: Buffer | undefined, name: string, base: number, index: number, offsetSize: 4 | 8): number {
  if (!section) throw new DwarfError(`${name} is missing but an indexed list refers to it`);
  const r = new ByteReader(section, name, base + index * offsetSize);
  return base + r.offset(offsetSize, 'list offset');
}

/** The first location-list entry holding `pc`, else the default location, else undefined. */
export function expressionAt(list: LocationList, pc: bigint): Buffer | undefined {
  for (const e of list.entries) if (pc >= e.begin && pc < e.end) return e.expr;
  return list.defaultExpr;
}

export function rangesContain(ranges: AddressRange[], pc: bigint): boolean {
  return ranges.some((r) => pc >= r.begin && pc < r.end);
}
