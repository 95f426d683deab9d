// BTF (src/symbols/btf.ts) on a C program built with gcc -g -gbtf (test/guests/btf/types.c), so
// that one executable carries its types twice: every struct the BTF reader builds must equal what
// the DWARF reader builds (members, offsets, bit-fields, nested anonymous unions, arrays, enums,
// function pointers, qualifiers), and the offsets and sizes must be those the program prints when
// run (offsetof, sizeof: the compiler's own layout). Bad BTF is refused with a clear error.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Btf, isBtf } from '../src/symbols/btf.js';
import { ElfImage } from '../src/symbols/elf-file.js';
import { DwarfVariables } from '../src/symbols/dwarf/variables.js';
import { stripType, typeName, typeSize, type CType } from '../src/symbols/dwarf/types.js';
import { GuestError } from '../src/errors.js';
import { ROOT } from './support/paths.js';

const SOURCE = join(ROOT, 'test', 'guests', 'btf', 'types.c');
let dir = '';
let exe = '';
let btf: Btf;
let dwarf: DwarfVariables;
let printed = new Map<string, number>();

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'kvmdbg-btf-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  exe = join(dir, 'types');
  execFileSync('gcc', ['-g', '-gbtf', '-O0', SOURCE, '-o', exe]);
  printed = new Map(execFileSync(exe, { encoding: 'utf8' }).trim().split('\n').map((l) => {
    const m = /^(\S+) (?:sizeof )?(\d+)$/.exec(l) ?? assert.fail(`the program printed ${l}`);
    return [l.includes('sizeof') ? `sizeof ${m[1]}` : m[1], Number(m[2])];
  }));
  const elf = ElfImage.open(readFileSync(exe), exe);
  const section = elf.section('.BTF') ?? assert.fail('gcc -gbtf left no .BTF section');
  btf = Btf.parse(section, exe);
  dwarf = DwarfVariables.fromElf(elf, exe, 0n);
});

/** A type as a comparable tree: spelling, size, and for structs and unions their members, one level into anonymous ones. */
function shape(t: CType | undefined, depth = 0): unknown {
  const s = stripType(t);
  const base = { name: typeName(t), size: typeSize(t) };
  if (s && (s.kind === 'struct' || s.kind === 'union') && depth < 2) {
    return { ...base, members: s.members.map((m) => ({ name: m.name, offset: m.offset, bitSize: m.bitSize, bitOffset: m.bitOffset, type: shape(m.type, m.name === '' ? depth : depth + 1) })) };
  }
  // An enumerator's value as its bytes hold it: BTF without the signed flag (gcc 12) reads unsigned.
  if (s?.kind === 'enum') return { ...base, enumerators: s.enumerators.map((e) => ({ name: e.name, value: BigInt.asUintN(s.size * 8, e.value) })) };
  if (s?.kind === 'array') return { ...base, count: s.count, element: shape(s.element, depth + 1) };
  return base;
}

test('every struct, union and enum of the program: the BTF reader builds what the DWARF reader builds', () => {
  for (const name of ['struct task', 'struct flags', 'struct packed_bits', 'struct list_head', 'enum colour', 'atomic_long_t', 'u64']) {
    const fromBtf = btf.typeByName(name);
    assert.ok(fromBtf, `BTF has ${name}`);
    assert.deepEqual(shape(fromBtf), shape(dwarf.typeByName(name)), name);
  }
  assert.equal(typeName(btf.typeByName('struct task *')), 'struct task *');
  assert.equal(typeName(btf.typeByName('const u64')), 'const u64');
});

test('offsets and sizes from BTF are those the compiled program prints', () => {
  const struct = (name: string) => {
    const t = stripType(btf.typeByName(`struct ${name}`));
    assert.ok(t && t.kind === 'struct', `struct ${name}`);
    return t;
  };
  let checked = 0;
  for (const [key, value] of printed) {
    if (key.startsWith('sizeof ')) {
      assert.equal(typeSize(struct(key.slice(7))), value, key);
    } else {
      const [s, m] = key.split('.');
      const st = struct(s);
      // `hi` lies in an anonymous struct inside an anonymous union.
      const direct = st.members.find((x) => x.name === m);
      const viaAnon = st.members.filter((x) => x.name === '').map((x) => {
        const inner = stripType(x.type);
        const found = inner && 'members' in inner ? inner.members.flatMap((y) => {
          if (y.name === m) return [x.offset + y.offset];
          const deeper = stripType(y.type);
          return y.name === '' && deeper && 'members' in deeper ? deeper.members.filter((z) => z.name === m).map((z) => x.offset + y.offset + z.offset) : [];
        }) : [];
        return found[0];
      }).find((x) => x !== undefined);
      assert.equal(direct?.offset ?? viaAnon, value, key);
    }
    checked++;
  }
  assert.equal(checked, 20, 'the program printed every layout fact');
  // The bit-fields, against the C rules for x86-64: f5 in bits 0-4 and l3 in 5-7 of byte 1,
  // wide in bits 0-19 of the int at 4, s in bits 0-1 of byte 8.
  const f = struct('flags').members;
  const bits = (n: string) => {
    const m = f.find((x) => x.name === n)!;
    return [m.offset, m.bitOffset, m.bitSize];
  };
  assert.deepEqual([bits('f5'), bits('l3'), bits('wide'), bits('rest'), bits('s')], [[1, 0, 5], [1, 5, 3], [4, 0, 20], [4, 20, 12], [8, 0, 2]]);
});

test('enumerators as BTF spells them (gcc 12 sets no signed flag: unsigned); the DATASEC variables are the program\'s globals', () => {
  const e = stripType(btf.typeByName('enum colour'));
  assert.ok(e?.kind === 'enum');
  assert.deepEqual(e.enumerators.map((x) => [x.name, x.value]), [['RED', 0xffffffffn], ['GREEN', 7n], ['BLUE', 0x7fffffffn]]);
  const globals = btf.variables().filter((v) => v.name.startsWith('the_'));
  assert.deepEqual(globals.map((v) => [v.name, v.section, typeName(v.type)]).sort(),
    [['the_bits', '.bss', 'struct packed_bits'], ['the_flags', '.bss', 'struct flags'], ['the_task', '.bss', 'struct task']]);
});

test('bad BTF is refused with an error that says what is wrong', () => {
  const good = ElfImage.open(readFileSync(exe), exe).section('.BTF')!;
  assert.ok(isBtf(good));
  const cases: [string, Buffer, RegExp][] = [
    ['short', good.subarray(0, 10), /shorter than its 24-byte header/],
    ['magic', Buffer.concat([Buffer.from([0xeb, 0x9f]), good.subarray(2)]), /magic 0x9feb, not 0xeb9f/],
    ['version', Buffer.concat([good.subarray(0, 2), Buffer.from([2]), good.subarray(3)]), /version 2/],
    ['cut', good.subarray(0, good.length - 40), /run past the end/],
  ];
  // A type of kind 31: BTF defines kinds up to 19.
  const badKind = Buffer.from(good);
  const typeOff = 24 + badKind.readUInt32LE(8);
  badKind.writeUInt32LE((badKind.readUInt32LE(typeOff + 4) & 0x0000ffff) | (31 << 24), typeOff + 4);
  cases.push(['kind', badKind, /kind 31, which BTF does not define/]);
  for (const [what, bytes, message] of cases) {
    assert.throws(() => Btf.parse(bytes, 'x.btf'), (e: unknown) => e instanceof GuestError && /^x\.btf: not valid BTF: /.test(e.message) && message.test(e.message), what);
  }
});
