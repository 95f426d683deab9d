// One unit's DIEs, read where they are asked for: a DIE at its offset, and a DIE's children one
// level down with their own subtrees jumped over. Finding the function at a pc then decodes the
// unit's top level and that function's DIEs, not the whole unit: a kernel unit such as
// init/main.c has 13,000 DIEs, 3,300 of them at the top, most of the rest struct members and
// parameters of prototypes that a stop never looks at.
import {
  DW_AT_sibling, applyUnitBases, readAbbrevTable, readForm, skipForm,
  type Abbrev, type AbbrevAttr, type AttrValue, type DwarfSections, type FormContext, type UnitHeader,
} from './info.js';
import { ByteReader, DwarfError } from './reader.js';

export interface DieEntry {
  /** Offset in the unit's section (.debug_info, or .debug_types for its type units). */
  offset: number;
  tag: number;
  hasChildren: boolean;
  /**
   * Its attributes, decoded when first asked for: a unit's top level is mostly types and
   * prototypes that finding a function only needs the tags of. One that cannot be decoded
   * (a string offset past .debug_str, say) gives the attributes before it, and a problem.
   */
  readonly attrs: Map<number, AttrValue>;
  /** Whether its abbreviation has attribute `name` (its value not decoded). */
  declares(name: number): boolean;
  /** Just past its attributes: where its children begin, if it has any. */
  attrsEnd: number;
  /** DW_AT_sibling's offset, where it has one. */
  sibling?: number;
}

export class UnitDies {
  readonly root: DieEntry | undefined;
  private readonly info: Buffer;
  private readonly section: string;
  private readonly abbrevs: Map<number, Abbrev>;
  private readonly ctx: FormContext;
  /**
   * Where the subtree of a DIE with children ends (just past its null entry), for each such DIE
   * read past so far: reading children level by level then passes over each DIE once in all,
   * as one walk of the unit does, however deep the nesting.
   */
  private readonly ends = new Map<number, number>();
  /** DIEs read past without decoding them so far: the cost of finding children without DW_AT_sibling. */
  passed = 0;

  /** Throws a DwarfError where the unit's abbreviations or its unit DIE cannot be read. */
  constructor(
    sections: DwarfSections, private readonly unit: UnitHeader, private readonly onProblem: (message: string) => void, section = '.debug_info',
  ) {
    if (!sections.info) throw new DwarfError(`${section} is missing`);
    if (!sections.abbrev) throw new DwarfError('.debug_abbrev is missing');
    this.info = sections.info;
    this.section = section;
    this.abbrevs = readAbbrevTable(sections.abbrev, unit.abbrevOffset);
    sections.fillInfo?.(unit.dieOffset, unit.end);
    this.ctx = { version: unit.version, addressSize: unit.addressSize, offsetSize: unit.offsetSize, unitOffset: unit.offset, sections };
    const r = this.reader(unit.dieOffset);
    const code = r.ulebN('abbreviation code');
    if (code === 0) return;
    const ab = this.abbrev(code, unit.dieOffset);
    const pending: AbbrevAttr[] = [];
    const attrs = this.readAttrs(r, ab, pending);
    applyUnitBases(attrs, pending, this.ctx);
    this.root = { offset: unit.dieOffset, tag: ab.tag, hasChildren: ab.hasChildren, attrs, attrsEnd: r.pos, declares: declaresOf(ab) };
  }

  /**
   * The DIE at `offset`; undefined for a null entry or an offset outside the unit's DIEs. An
   * offset that is not where a DIE begins (a corrupt reference) reads as whatever is there, or
   * throws a DwarfError.
   */
  at(offset: number): DieEntry | undefined {
    if (offset === this.unit.dieOffset) return this.root;
    if (offset < this.unit.dieOffset || offset >= this.unit.end) return undefined;
    const r = this.reader(offset);
    const code = r.ulebN('abbreviation code');
    return code === 0 ? undefined : this.decode(r, offset, code);
  }

  /**
   * A DIE's children, in order. A child's own children are jumped over by its DW_AT_sibling
   * where that points forward, else read past without decoding them. A DwarfError part way
   * goes to `onProblem`, with the children read before it returned.
   */
  children(d: DieEntry): DieEntry[] {
    const out: DieEntry[] = [];
    if (!d.hasChildren) return out;
    const r = this.reader(d.attrsEnd);
    try {
      while (!r.atEnd) {
        const offset = r.pos;
        const code = r.ulebN('abbreviation code');
        if (code === 0) {
          this.ends.set(d.offset, r.pos);
          break;
        }
        const c = this.decode(r, offset, code);
        out.push(c);
        if (c.hasChildren) r.pos = this.subtreeEnd(c);
      }
    } catch (e) {
      if (!(e instanceof DwarfError)) throw e;
      this.onProblem(e.message);
    }
    return out;
  }

  private reader(offset: number): ByteReader {
    return new ByteReader(this.info, this.section, offset, this.unit.end);
  }

  private abbrev(code: number, offset: number): Abbrev {
    const ab = this.abbrevs.get(code);
    if (!ab) throw new DwarfError(`${this.section}: DIE at 0x${offset.toString(16)} uses unknown abbreviation ${code}`);
    return ab;
  }

  /** The DIE whose code `r` has just read: read past its attributes, DW_AT_sibling's value kept. */
  private decode(r: ByteReader, offset: number, code: number): DieEntry {
    const ab = this.abbrev(code, offset);
    const start = r.pos;
    let sibling: number | undefined;
    for (const a of ab.attrs) {
      if (a.name !== DW_AT_sibling) skipForm(r, a.form, this.ctx);
      else {
        const v = readForm(r, a.form, this.ctx, a.implicitConst).value;
        if (typeof v === 'number') sibling = v;
      }
    }
    const e = this.entry(offset, ab, start, r.pos);
    if (sibling !== undefined) e.sibling = sibling;
    return e;
  }

  /** The attributes at `r` (into `out` as far as they decode; a DwarfError after). */
  private readAttrs(r: ByteReader, ab: Abbrev, pending?: AbbrevAttr[], out = new Map<number, AttrValue>()): Map<number, AttrValue> {
    for (const a of ab.attrs) {
      const v = readForm(r, a.form, this.ctx, a.implicitConst);
      if (v.pending) pending?.push(a);
      out.set(a.name, { form: v.form, value: v.value });
    }
    return out;
  }

  private entry(offset: number, ab: Abbrev, start: number, end: number): DieEntry {
    let attrs: Map<number, AttrValue> | undefined;
    const read = (): Map<number, AttrValue> => {
      const out = new Map<number, AttrValue>();
      try {
        this.readAttrs(new ByteReader(this.info, this.section, start, end), ab, undefined, out);
      } catch (e) {
        if (!(e instanceof DwarfError)) throw e;
        this.onProblem(e.message);
      }
      return out;
    };
    return {
      offset, tag: ab.tag, hasChildren: ab.hasChildren, attrsEnd: end, declares: declaresOf(ab),
      get attrs() {
        return (attrs ??= read());
      },
    };
  }

  /** Just past the subtree of a DIE with children. */
  private subtreeEnd(d: DieEntry): number {
    const known = this.ends.get(d.offset);
    if (known !== undefined) return known;
    // Only forward: a sibling pointing back (a corrupt file) would loop.
    const sibling = d.sibling;
    if (sibling !== undefined && sibling > d.attrsEnd && sibling <= this.unit.end) return sibling;
    const r = this.reader(d.attrsEnd);
    const open = [d.offset];
    while (open.length && !r.atEnd) {
      const offset = r.pos;
      const code = r.ulebN('abbreviation code');
      if (code === 0) {
        this.ends.set(open.pop()!, r.pos);
        continue;
      }
      const end = this.ends.get(offset);
      if (end !== undefined) {
        r.pos = end;
        continue;
      }
      const ab = this.abbrev(code, offset);
      this.passed++;
      for (const a of ab.attrs) skipForm(r, a.form, this.ctx);
      if (ab.hasChildren) open.push(offset);
    }
    return r.pos;
  }
}

function declaresOf(ab: Abbrev): (name: number) => boolean {
  return (name) => ab.attrs.some((a) => a.name === name);
}
