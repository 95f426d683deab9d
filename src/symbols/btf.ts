// BTF, the BPF Type Format (the kernel's Documentation/bpf/btf.rst): the compact C type
// information a Linux kernel built with CONFIG_DEBUG_INFO_BTF carries in its own image, as the
// section .BTF of the vmlinux and in memory between __start_BTF and __stop_BTF. Distribution
// kernels have it where they ship no DWARF (Debian's linux-image: the vmlinux inside the bzImage
// is stripped, the DWARF is in a separate -dbg package of 858 MB), so it is where the kernel-aware
// views read struct layouts when nothing better is given.
//
// One linear pass over the type section records where each type begins; a type becomes a CType
// (the shape DWARF's types have, types.ts) when first asked for, and a name index is built on the
// first lookup by name. Only little-endian BTF (x86's) is read.
import { GuestError } from '../errors.js';
import { bitField, typeFromName, type CType, type Member } from './dwarf/types.js';

const MAGIC = 0xeb9f;
const HEADER = 24;
/** How deep building one type may nest by value (structs, arrays, typedefs, qualifiers): a few dozen in the kernel. */
const MAX_DEPTH = 500;
/** struct btf_type: name_off, info, size/type. */
const TYPE_HEADER = 12;

const enum Kind {
  INT = 1, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, VAR, DATASEC, FLOAT,
  DECL_TAG, TYPE_TAG, ENUM64,
}
/** INT's encoding bits. */
const INT_SIGNED = 1;
const INT_CHAR = 2;
const INT_BOOL = 4;

/** The bytes of kind-specific data after a type's header. */
function extraBytes(kind: number, vlen: number): number {
  switch (kind) {
    case Kind.INT: return 4;
    case Kind.ARRAY: return 12;
    case Kind.STRUCT: case Kind.UNION: return vlen * 12;
    case Kind.ENUM: return vlen * 8;
    case Kind.FUNC_PROTO: return vlen * 8;
    case Kind.VAR: return 4;
    case Kind.DATASEC: return vlen * 12;
    case Kind.DECL_TAG: return 4;
    case Kind.ENUM64: return vlen * 12;
    case Kind.PTR: case Kind.FWD: case Kind.TYPEDEF: case Kind.VOLATILE: case Kind.CONST: case Kind.RESTRICT:
    case Kind.FUNC: case Kind.FLOAT: case Kind.TYPE_TAG:
      return 0;
    default: return -1;
  }
}

/** A variable a DATASEC places: the per-CPU ones in ".data..percpu", at their offset in it. */
export interface BtfVariable {
  name: string;
  section: string;
  offset: number;
  type: CType | undefined;
}

/** Whether the bytes begin with a BTF header. */
export function isBtf(bytes: Buffer): boolean {
  return bytes.length >= HEADER && bytes.readUInt16LE(0) === MAGIC && bytes[2] === 1;
}

export class Btf {
  /** Each type id's offset in `types` (id 0 is void and has none). */
  private readonly at: Uint32Array;
  private readonly built = new Map<number, CType | undefined>();
  private names: Map<string, number> | undefined;
  private depth = 0;
  private byVariable: Map<string, BtfVariable> | undefined;

  private constructor(private readonly types: Buffer, private readonly strings: Buffer, at: number[], readonly source: string) {
    this.at = Uint32Array.from(at);
  }

  /** Parses the header and walks the types once; bad input is an error naming `source` and what is wrong. */
  static parse(bytes: Buffer, source: string): Btf {
    const bad = (why: string) => new GuestError(`${source}: not valid BTF: ${why}`);
    if (bytes.length < HEADER) throw bad(`${bytes.length} bytes, shorter than its ${HEADER}-byte header`);
    if (bytes.readUInt16LE(0) !== MAGIC) throw bad(`magic 0x${bytes.readUInt16LE(0).toString(16)}, not 0xeb9f (only little-endian BTF is read)`);
    if (bytes[2] !== 1) throw bad(`version ${bytes[2]}, not 1`);
    const hdrLen = bytes.readUInt32LE(4);
    const [typeOff, typeLen, strOff, strLen] = [8, 12, 16, 20].map((o) => bytes.readUInt32LE(o));
    if (hdrLen < HEADER || hdrLen > bytes.length) throw bad(`a header length of ${hdrLen}`);
    const section = (off: number, len: number, what: string) => {
      const from = hdrLen + off;
      if (from + len > bytes.length) throw bad(`its ${what} (${len} bytes at ${from}) run past the end (${bytes.length} bytes)`);
      return bytes.subarray(from, from + len);
    };
    const types = section(typeOff, typeLen, 'types');
    const strings = section(strOff, strLen, 'strings');
    const at = [0];
    for (let o = 0; o < types.length;) {
      if (o + TYPE_HEADER > types.length) throw bad(`type ${at.length} is cut off at the end of the types`);
      const info = types.readUInt32LE(o + 4);
      const kind = (info >>> 24) & 0x1f;
      const extra = extraBytes(kind, info & 0xffff);
      if (extra < 0) throw bad(`type ${at.length} has kind ${kind}, which BTF does not define`);
      at.push(o);
      o += TYPE_HEADER + extra;
      if (o > types.length) throw bad(`type ${at.length - 1} runs past the end of the types`);
    }
    return new Btf(types, strings, at, source);
  }

  /** The number of types, void not counted. */
  get count(): number {
    return this.at.length - 1;
  }

  /** A type by its C spelling ("struct task_struct", "struct list_head *", "u64"), as typeFromName reads it. */
  typeByName(name: string): CType | undefined {
    return typeFromName(name, 64, (key) => {
      const id = this.nameIndex().get(key);
      return id === undefined ? undefined : this.type(id);
    });
  }

  /** A variable a DATASEC places, by name (the first, where several have it). */
  variable(name: string): BtfVariable | undefined {
    if (!this.byVariable) {
      this.byVariable = new Map();
      for (const v of this.variables()) if (!this.byVariable.has(v.name)) this.byVariable.set(v.name, v);
    }
    return this.byVariable.get(name);
  }

  /** The variables the DATASECs place (the kernel's BTF lists its per-CPU variables so). */
  variables(): BtfVariable[] {
    const out: BtfVariable[] = [];
    for (let id = 1; id < this.at.length; id++) {
      const o = this.at[id];
      const info = this.types.readUInt32LE(o + 4);
      if (((info >>> 24) & 0x1f) !== Kind.DATASEC) continue;
      const section = this.str(this.types.readUInt32LE(o));
      for (let i = 0; i < (info & 0xffff); i++) {
        const e = o + TYPE_HEADER + i * 12;
        const varId = this.types.readUInt32LE(e);
        if (!this.isKind(varId, Kind.VAR)) continue;
        const v = this.at[varId];
        out.push({ name: this.str(this.types.readUInt32LE(v)), section, offset: this.types.readUInt32LE(e + 4), type: this.type(this.types.readUInt32LE(v + 8)) });
      }
    }
    return out;
  }

  private isKind(id: number, kind: Kind): boolean {
    return id > 0 && id < this.at.length && ((this.types.readUInt32LE(this.at[id] + 4) >>> 24) & 0x1f) === kind;
  }

  private str(off: number): string {
    if (off >= this.strings.length) return '';
    const end = this.strings.indexOf(0, off);
    return this.strings.toString('latin1', off, end < 0 ? this.strings.length : end);
  }

  /**
   * Names to type ids: "struct x", "union x", "enum x", typedef names and base type names (also
   * in canonical form). A complete struct wins over a forward declaration of the same name.
   */
  private nameIndex(): Map<string, number> {
    if (this.names) return this.names;
    const names = new Map<string, number>();
    for (let id = 1; id < this.at.length; id++) {
      const o = this.at[id];
      const info = this.types.readUInt32LE(o + 4);
      const nameOff = this.types.readUInt32LE(o);
      if (!nameOff) continue;
      const name = this.str(nameOff);
      let key: string | undefined;
      switch ((info >>> 24) & 0x1f) {
        case Kind.STRUCT: key = `struct ${name}`; break;
        case Kind.UNION: key = `union ${name}`; break;
        case Kind.ENUM: case Kind.ENUM64: key = `enum ${name}`; break;
        case Kind.FWD: {
          const k = `${info >>> 31 ? 'union' : 'struct'} ${name}`;
          if (!names.has(k)) names.set(k, id);
          continue;
        }
        case Kind.TYPEDEF: case Kind.INT: case Kind.FLOAT: key = name; break;
        default: continue;
      }
      const prior = names.get(key);
      if (prior === undefined || this.isKind(prior, Kind.FWD)) names.set(key, id);
    }
    return (this.names = names);
  }

  /** The CType of an id (undefined: void), built once; cycles through pointers are shared objects. */
  type(id: number): CType | undefined {
    if (id === 0 || id >= this.at.length) return undefined;
    if (this.built.has(id)) return this.built.get(id);
    // Guest memory may hold hostile BTF: a chain of distinct types deeper than any C program's
    // ends in an unknown type rather than in the end of the stack.
    if (this.depth >= MAX_DEPTH) return { kind: 'unknown', name: '(nested too deep)' };
    this.depth++;
    try {
      return this.build(id);
    } finally {
      this.depth--;
    }
  }

  private build(id: number): CType | undefined {
    const t = this.types;
    const o = this.at[id];
    const name = this.str(t.readUInt32LE(o));
    const info = t.readUInt32LE(o + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const kindFlag = info >>> 31;
    const sizeOrType = t.readUInt32LE(o + 8);
    const body = o + TYPE_HEADER;
    // Placeholders go in before their parts are built, so that a struct that points to itself
    // (or to a typedef of itself) meets the same object.
    const put = <T extends CType>(c: T): T => {
      this.built.set(id, c);
      return c;
    };
    switch (kind) {
      case Kind.INT: {
        const enc = (t.readUInt32LE(body) >>> 24) & 0xf;
        const signed = (enc & INT_SIGNED) !== 0;
        // pahole (the kernel's BTF) never sets the CHAR bit: C's char types are known by name,
        // so that char arrays read as strings (comm, a module's name).
        const char = (enc & INT_CHAR) !== 0 || (sizeOrType === 1 && /^(signed |unsigned )?char$/.test(name));
        const encoding = enc & INT_BOOL ? 'bool'
          : char ? (name.startsWith('unsigned') ? 'unsigned_char' : name.startsWith('signed') ? 'signed_char' : 'char')
          : signed ? 'signed' : 'unsigned';
        return put({ kind: 'base', name, size: sizeOrType, encoding });
      }
      case Kind.FLOAT:
        return put({ kind: 'base', name, size: sizeOrType, encoding: 'float' });
      case Kind.PTR: {
        // The target is built when first read: pointers are how a kernel's types reach each
        // other, and building through them would build most of the kernel's types at once.
        const p = put({ kind: 'pointer', size: 8 } as Extract<CType, { kind: 'pointer' }>);
        Object.defineProperty(p, 'target', {
          enumerable: true, configurable: true,
          get: () => {
            const target = this.type(sizeOrType);
            Object.defineProperty(p, 'target', { value: target, enumerable: true, writable: true });
            return target;
          },
        });
        return p;
      }
      case Kind.ARRAY: {
        const a = put({ kind: 'array', element: { kind: 'unknown' } as CType, count: t.readUInt32LE(body + 8) as number | undefined });
        a.element = this.type(t.readUInt32LE(body)) ?? { kind: 'unknown', name: 'void' };
        return a;
      }
      case Kind.STRUCT:
      case Kind.UNION: {
        const s = put({ kind: kind === Kind.STRUCT ? 'struct' : 'union', name: name || undefined, size: sizeOrType, members: [] as Member[] });
        for (let i = 0; i < vlen; i++) {
          const m = body + i * 12;
          s.members.push(this.member(this.str(t.readUInt32LE(m)), t.readUInt32LE(m + 4), t.readUInt32LE(m + 8), kindFlag === 1));
        }
        return s;
      }
      case Kind.ENUM:
      case Kind.ENUM64: {
        const enumerators: { name: string; value: bigint }[] = [];
        for (let i = 0; i < vlen; i++) {
          const e = body + i * (kind === Kind.ENUM ? 8 : 12);
          const value = kind === Kind.ENUM
            ? (kindFlag ? BigInt(t.readInt32LE(e + 4)) : BigInt(t.readUInt32LE(e + 4)))
            : (BigInt(t.readUInt32LE(e + 8)) << 32n) | BigInt(t.readUInt32LE(e + 4));
          enumerators.push({ name: this.str(t.readUInt32LE(e)), value: kind === Kind.ENUM64 && kindFlag ? BigInt.asIntN(64, value) : value });
        }
        return put({ kind: 'enum', name: name || undefined, size: sizeOrType, enumerators });
      }
      case Kind.FWD:
        return put({ kind: kindFlag ? 'union' : 'struct', name, size: 0, members: [], declaration: true });
      case Kind.TYPEDEF: {
        const d = put({ kind: 'typedef', name, target: undefined as CType | undefined });
        d.target = this.type(sizeOrType);
        return d;
      }
      case Kind.VOLATILE:
      case Kind.CONST:
      case Kind.RESTRICT: {
        const qualifier = kind === Kind.CONST ? 'const' : kind === Kind.VOLATILE ? 'volatile' : 'restrict';
        const q = put({ kind: 'qualified', qualifier, target: undefined as CType | undefined });
        q.target = this.type(sizeOrType);
        return q;
      }
      case Kind.TYPE_TAG: {
        // An attribute (__user, __rcu): the type it tags.
        this.built.set(id, undefined);
        const target = this.type(sizeOrType);
        this.built.set(id, target);
        return target;
      }
      case Kind.FUNC_PROTO: {
        const f = put({ kind: 'function', returns: undefined as CType | undefined, params: [] as (CType | undefined)[], variadic: false as boolean });
        f.returns = this.type(sizeOrType);
        for (let i = 0; i < vlen; i++) {
          const param = t.readUInt32LE(body + i * 8 + 4);
          if (param === 0 && i === vlen - 1) f.variadic = true;
          else f.params.push(this.type(param));
        }
        return f;
      }
      case Kind.FUNC: {
        const proto = this.type(sizeOrType);
        return put(proto?.kind === 'function' ? { ...proto, name } : { kind: 'function', name });
      }
      default:
        // VAR, DATASEC, DECL_TAG describe no value's type.
        return put({ kind: 'unknown', name: name || undefined });
    }
  }

  /**
   * A member at `offset` bits (with the kind flag: the bit-field's size in the top 8 bits), as
   * DWARF's members are: the byte offset of its storage unit, and for a bit-field its size and
   * its lowest bit's place in that unit. The type is built after the member is placed.
   */
  private member(name: string, typeId: number, offset: number, kindFlag: boolean): Member {
    const type = this.type(typeId) ?? { kind: 'unknown', name: 'void' };
    let bitSize = kindFlag ? offset >>> 24 : 0;
    let total = kindFlag ? offset & 0xffffff : offset;
    // Without the kind flag a bit-field's width lives in its INT type (older encoders).
    if (!kindFlag && this.isKind(typeId, Kind.INT)) {
      const enc = this.types.readUInt32LE(this.at[typeId] + TYPE_HEADER);
      const bits = enc & 0xff;
      const size = this.types.readUInt32LE(this.at[typeId] + 8);
      if (bits !== size * 8) {
        bitSize = bits;
        total += (enc >>> 16) & 0xff;
      }
    }
    return bitSize ? bitField(name, type, total, bitSize) : { name, offset: total >>> 3, type };
  }
}
