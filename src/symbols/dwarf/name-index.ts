// A name index of a big .debug_info's unit-scope DIEs (a kernel's -dbg vmlinux: 174 MB in 2352
// units): variables by name and named types by their C spelling, each as its DIE's offset, so
// that a lookup decodes the one unit that holds the DIE instead of all of them. Built in one pass
// that reads each unit's top-level DIEs only (their children jumped over through DW_AT_sibling,
// else read past without decoding), or read back from its cache file (name-index-cache.ts).
// Debian's kernels (gcc 12) carry neither .debug_names nor .debug_pubnames to take it from.
import {
  DW_AT_const_value, DW_AT_declaration, DW_AT_external, DW_AT_location, DW_AT_name, DW_AT_specification, DW_TAG_base_type,
  DW_TAG_class_type, DW_TAG_enumeration_type, DW_TAG_structure_type, DW_TAG_typedef, DW_TAG_union_type, DW_TAG_unspecified_type,
  DW_TAG_variable, DW_AT_sibling, DW_UT_split_type, DW_UT_type, iterateDies, type DwarfSections, type UnitHeader,
} from './info.js';
import { DwarfError } from './reader.js';
import { canonicalBaseName } from './types.js';

/** A variable DIE in the index: where it is, and what it is. */
export interface IndexedVariable {
  /** The DIE's offset in .debug_info. */
  die: number;
  /** VAR_DEFINED, VAR_EXTERNAL. */
  flags: number;
}

/** A definition: a location or a constant value (else a declaration, as of a variable defined in assembly). */
export const VAR_DEFINED = 1;
/** DW_AT_external, on the DIE or on the declaration it completes. */
export const VAR_EXTERNAL = 2;

/** A unit to scan: its header, the sections it is read with, and the bias of its DIEs' keys (.debug_types). */
export interface IndexedUnit {
  header: UnitHeader;
  sections: DwarfSections;
  bias: number;
}



const SCAN_ATTRS = new Set([DW_AT_sibling, DW_AT_name, DW_AT_location, DW_AT_const_value, DW_AT_declaration, DW_AT_external, DW_AT_specification]);

/** The index keys a named type DIE has, as DwarfVariables.typeByName spells them. */
export function typeKeys(tag: number, name: string): string[] {
  switch (tag) {
    case DW_TAG_base_type: {
      const canon = canonicalBaseName(name);
      return canon && canon !== name ? [name, canon] : [name];
    }
    case DW_TAG_typedef: case DW_TAG_unspecified_type: return [name];
    case DW_TAG_structure_type: return [`struct ${name}`];
    case DW_TAG_union_type: return [`union ${name}`];
    case DW_TAG_enumeration_type: return [`enum ${name}`];
    case DW_TAG_class_type: return [`class ${name}`, name];
    default: return [];
  }
}

export class NameIndex {
  constructor(
    /** Per name: the definitions in unit order, else (only when there is none) the first declaration. */
    readonly variables: Map<string, IndexedVariable[]>,
    /** Per C spelling ("struct task_struct", "u64", "unsigned long"): the first definition, else the first declaration. */
    readonly types: Map<string, number>,
  ) {}

  /**
   * One pass over the units' top-level DIEs. A unit that fails to decode (a DwarfError) loses
   * the names after the failure and is named in `problems`; the other units are still read.
   */
  static scan(units: IndexedUnit[]): { index: NameIndex; problems: string[]; unitsScanned: number } {
    const variables = new Map<string, IndexedVariable[]>();
    const types = new Map<string, number>();
    const declaredTypes = new Set<string>();
    const problems: string[] = [];
    const addType = (key: string, die: number, declaration: boolean): void => {
      const had = types.has(key);
      if (had && !(declaredTypes.has(key) && !declaration)) return;
      types.set(key, die);
      if (declaration) declaredTypes.add(key);
      else declaredTypes.delete(key);
    };
    const addVariable = (name: string, die: number, flags: number): void => {
      const list = variables.get(name);
      if (!list) variables.set(name, [{ die, flags }]);
      else if (flags & VAR_DEFINED) {
        // The first definition drops the declaration kept so far.
        if (!(list[0].flags & VAR_DEFINED)) list.length = 0;
        list.push({ die, flags });
      }
    };
    let unitsScanned = 0;
    for (const u of units) {
      const typeUnit = u.header.unitType === DW_UT_type || u.header.unitType === DW_UT_split_type;
      // Top-level variables' names and external flags by offset, for definitions that complete
      // a declaration of the unit (DW_AT_specification: gcc's `int x = 1;` after `extern int x;`).
      const declared = new Map<number, { name?: string; external: boolean }>();
      const completing: { spec: number; die: number; flags: number }[] = [];
      unitsScanned++;
      try {
        for (const d of iterateDies(u.sections, u.header, { wanted: SCAN_ATTRS, maxDepth: 1 })) {
          if (d.depth !== 1) continue;
          const nameValue = d.attrs.get(DW_AT_name)?.value;
          const name = typeof nameValue === 'string' ? nameValue : undefined;
          const declaration = d.attrs.get(DW_AT_declaration)?.value === true;
          const die = d.offset + u.bias;
          if (d.tag !== DW_TAG_variable) {
            if (name !== undefined) for (const key of typeKeys(d.tag, name)) addType(key, die, declaration);
            continue;
          }
          if (typeUnit) continue;
          const external = d.attrs.get(DW_AT_external)?.value === true;
          declared.set(d.offset, { name, external });
          const defined = d.attrs.has(DW_AT_location) || d.attrs.has(DW_AT_const_value);
          const flags = (defined ? VAR_DEFINED : 0) | (external ? VAR_EXTERNAL : 0);
          if (!defined && !declaration) continue;
          const spec = d.attrs.get(DW_AT_specification)?.value;
          if (name === undefined && typeof spec === 'number') completing.push({ spec, die, flags });
          else if (name !== undefined) addVariable(name, die, flags);
        }
      } catch (e) {
        if (!(e instanceof DwarfError)) throw e;
        problems.push(e.message);
      }
      for (const c of completing) {
        const d = declared.get(c.spec);
        if (d?.name !== undefined) addVariable(d.name, c.die, c.flags | (d.external ? VAR_EXTERNAL : 0));
      }
    }
    return { index: new NameIndex(variables, types), problems, unitsScanned };
  }
}
