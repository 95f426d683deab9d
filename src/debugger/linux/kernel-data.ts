// A running Linux kernel's data, as the kernel's own gdb scripts (scripts/gdb/linux) read it, but
// straight from guest memory: symbol addresses from the session's symbols (a System.map or
// kallsyms list, or a vmlinux's symbol table), struct layouts from the session's types (a
// vmlinux's DWARF, or its BTF) or else from the BTF the kernel carries in its own memory
// (__start_BTF to __stop_BTF, which a System.map names: distribution kernels have BTF and no
// DWARF), and the bytes through one vCPU's page tables. Layouts are never assumed: kernel structs
// change between versions, so a missing one is an error saying what to give.
import { GuestError } from '../../errors.js';
import { Btf, type BtfVariable } from '../../symbols/btf.js';
import { stripType, typeSize, type CType, type Member } from '../../symbols/dwarf/types.js';
import type { DebugInfo } from '../debug-info.js';

/** BTF in memory larger than this is not a kernel's (Debian's is 4 MiB). */
const MAX_MEMORY_BTF = 64 << 20;
const PAGE = 4096;
/** The section of a Linux kernel's per-CPU variables (each CPU has a copy of it). */
export const PER_CPU_SECTION = '.data..percpu';

export type Struct = Extract<CType, { members: Member[] }>;

export class KernelData {
  /** The BTF read from the kernel's memory, once per boot; null: looked for, not there. */
  private memoryBtf: Btf | null | undefined;

  constructor(private readonly info: DebugInfo, private readonly readLinear: (addr: bigint, length: number) => Buffer) {}

  /** A symbol's address, or an error saying that `what` needs it. */
  symbol(name: string, what: string): bigint {
    const s = this.info.functionAddress(name);
    if (!s) throw new GuestError(`${what} needs the kernel symbol ${name}: add the kernel's System.map (or /proc/kallsyms, or its vmlinux) to "symbols" in launch.json`);
    return s.address;
  }

  hasSymbol(name: string): boolean {
    return this.info.functionAddress(name) !== undefined;
  }

  /** A struct's layout by name ("task_struct"), or an error saying where layouts come from. */
  struct(name: string, what: string): Struct {
    const t = stripType(this.type(`struct ${name}`));
    if (!t || (t.kind !== 'struct' && t.kind !== 'union') || t.declaration) {
      throw new GuestError(`${what} needs the layout of struct ${name}, which this kernel's types do not have: add a vmlinux with DWARF or BTF to "symbols", or a System.map naming __start_BTF and __stop_BTF (the kernel's own BTF is then read from its memory)`);
    }
    return t;
  }

  /** A type by its C spelling from the session's files, else from the kernel's in-memory BTF. */
  type(name: string): CType | undefined {
    return this.info.typeByName(name) ?? this.btfInMemory()?.typeByName(name);
  }

  /** A per-CPU variable the kernel's BTF places in .data..percpu, by name. */
  perCpuVariable(name: string): BtfVariable | undefined {
    const v = this.info.btfVariable(name) ?? this.btfInMemory()?.variable(name);
    return v?.section === PER_CPU_SECTION ? v : undefined;
  }

  /** Where one CPU's copy of a per-CPU variable lies: __per_cpu_offset[cpu] + its offset in the section. */
  perCpuAddress(v: BtfVariable, cpu: number): bigint {
    return this.u64(this.symbol('__per_cpu_offset', `the per-CPU variable ${v.name}`) + BigInt(cpu * 8)) + BigInt(v.offset);
  }

  /**
   * A member by path ("desc_ring.count_bits") of a struct: its byte offset from the struct's start
   * and its type. Anonymous struct and union members are searched through, as C does.
   */
  field(s: Struct, path: string, what: string): { offset: number; type: CType } {
    let offset = 0;
    let at: CType | undefined = s;
    for (const name of path.split('.')) {
      const st = stripType(at);
      const found = st && (st.kind === 'struct' || st.kind === 'union') ? findMember(st, name) : undefined;
      if (!found) throw new GuestError(`${what}: struct ${s.name ?? '(anonymous)'} has no member ${path} in this kernel`);
      offset += found.offset;
      at = found.member.type;
    }
    return { offset, type: at as CType };
  }

  /** The address of a member (by path, as field) of the struct at `base`. */
  memberAt(base: bigint, s: Struct, path: string, what: string): bigint {
    return base + BigInt(this.field(s, path, what).offset);
  }

  /** Whether a struct has a member (versions differ: __state or state, thread_group or not). */
  hasField(s: Struct, name: string): boolean {
    return findMember(s, name) !== undefined;
  }

  sizeOf(s: Struct): number {
    return typeSize(s);
  }

  /**
   * The structs on a circular list_head list from `head` (the list's head, not an entry), `link`
   * being the list_head's offset in each: the kernel's list_for_each_entry. A list longer than
   * `max` is corrupt (or half-written while the guest ran) and an error, never a hang.
   */
  *listEntries(head: bigint, link: bigint, max: number, what: string): Generator<bigint> {
    let node = this.u64(head);
    for (let n = 0; node !== head; n++) {
      if (n >= max) throw new GuestError(`${what}: a list of more than ${max} entries from 0x${head.toString(16)}: it looks corrupt`);
      yield node - link;
      node = this.u64(node);
    }
  }

  read(addr: bigint, length: number): Buffer {
    return this.readLinear(addr, length);
  }

  u64(addr: bigint): bigint {
    return this.readLinear(addr, 8).readBigUInt64LE(0);
  }

  u32(addr: bigint): number {
    return this.readLinear(addr, 4).readUInt32LE(0);
  }

  /** A NUL-ended string of at most `max` bytes (a char array: comm, a module's name). */
  cString(addr: bigint, max: number): string {
    // Page by page: the bytes after the string's end may not be mapped.
    const parts: Buffer[] = [];
    for (let got = 0; got < max;) {
      const b = this.readLinear(addr + BigInt(got), Math.min(max - got, PAGE - Number((addr + BigInt(got)) % BigInt(PAGE))));
      const end = b.indexOf(0);
      parts.push(end < 0 ? b : b.subarray(0, end));
      if (end >= 0) break;
      got += b.length;
    }
    return Buffer.concat(parts).toString('utf8');
  }

  private btfInMemory(): Btf | undefined {
    // Looked for until found or known absent: a read that fails (paging not on yet) tries again later.
    if (this.memoryBtf === undefined) {
      if (this.hasSymbol('__start_BTF') && this.hasSymbol('__stop_BTF')) {
        const start = this.symbol('__start_BTF', 'BTF');
        const length = Number(this.symbol('__stop_BTF', 'BTF') - start);
        this.memoryBtf = length > 0 && length <= MAX_MEMORY_BTF ? Btf.parse(this.readLinear(start, length), `the kernel's BTF at 0x${start.toString(16)}`) : null;
      } else {
        this.memoryBtf = null;
      }
    }
    return this.memoryBtf ?? undefined;
  }
}

/** A member by name, looking into anonymous struct and union members; its offset from `s`. */
function findMember(s: Struct, name: string, depth = 0): { member: Member; offset: number } | undefined {
  for (const m of s.members) {
    if (m.name === name) return { member: m, offset: m.offset };
    const inner = m.name === '' ? stripType(m.type) : undefined;
    if (inner && (inner.kind === 'struct' || inner.kind === 'union') && depth < 8) {
      const found = findMember(inner, name, depth + 1);
      if (found) return { member: found.member, offset: m.offset + found.offset };
    }
  }
  return undefined;
}
