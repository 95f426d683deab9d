// The expression evaluator (src/debugger/evaluate.ts): parsing and precedence, C conversions, casts,
// memory, structs, arrays, bit fields, enums, registers, phys:, assignment and errors, first on
// a synthetic context (memory in Buffers, hand-built types), then on a real long-mode guest.
import './support/needs-kvm.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluate, setValue, evaluateAddress, evaluateInteger, machineContext, type EvalContext, type EvalResult } from '../src/debugger/evaluate.js';
import { dwarfRegisterName } from '../src/x86/registers.js';
import { builtins, type CType, type Location } from '../src/debugger/expr/ctypes.js';
import { GuestError } from '../src/errors.js';
import { Machine } from '../src/vmm/machine.js';
import { buildFlat64 } from './guests/build.js';
import { FLAT64, withMachine } from './support/machine.js';
import { throwsMsg } from './support/guest-errors.js';
import type { DebugInfo } from '../src/debugger/debug-info.js';

// The adapter's DebugInfo is what machineContext takes for symbols.
const withDebugInfo = (m: Machine, d: DebugInfo) => machineContext(m, 0, d);
void withDebugInfo;

// --- a synthetic guest -------------------------------------------------------------------------

const B = builtins(8);
const nodeStruct: CType & { kind: 'struct' } = { kind: 'struct', name: 'node', size: 16, members: [] };
const nodePtr: CType = { kind: 'pointer', size: 8, target: nodeStruct };
nodeStruct.members.push({ name: 'val', offset: 0, type: B.int }, { name: 'next', offset: 8, type: nodePtr });
const nodeT: CType = { kind: 'typedef', name: 'node_t', target: nodeStruct };
const color: CType = {
  kind: 'enum', name: 'color', size: 4,
  enumerators: [{ name: 'RED', value: 0n }, { name: 'GREEN', value: 1n }, { name: 'BLUE', value: 2n }],
};
const perm: CType = {
  kind: 'enum', name: 'perm', size: 4,
  enumerators: [{ name: 'PERM_R', value: 1n }, { name: 'PERM_W', value: 2n }, { name: 'PERM_X', value: 4n }],
};
const level: CType = {
  kind: 'enum', name: 'level', size: 4,
  enumerators: [{ name: 'LOW', value: -1n }, { name: 'MID', value: 2n }, { name: 'HIGH', value: 3n }],
};
const flagsStruct: CType = {
  kind: 'struct', name: 'flags', size: 4, members: [
    { name: 'a', offset: 0, type: B.uint, bitSize: 3, bitOffset: 0 },
    { name: 'b', offset: 0, type: B.uint, bitSize: 5, bitOffset: 3 },
    { name: 'c', offset: 0, type: B.int, bitSize: 4, bitOffset: 8 },
    { name: 'd', offset: 1, type: B.uint, bitSize: 12, bitOffset: 4 },
  ],
};
const charPtr: CType = { kind: 'pointer', size: 8, target: B.char };
const constCharPtr: CType = { kind: 'pointer', size: 8, target: { kind: 'qualified', qualifier: 'const', target: B.char } };
const intArr8: CType = { kind: 'array', element: B.int, count: 8 };
const record: CType = {
  kind: 'struct', name: 'record', size: 32, members: [
    { name: 'name', offset: 0, type: { kind: 'array', element: B.char, count: 8 } },
    { name: 'color', offset: 8, type: color },
    { name: '', offset: 12, type: { kind: 'union', size: 4, members: [{ name: 'word', offset: 0, type: B.uint32 }, { name: 'half', offset: 0, type: B.uint16 }] } },
    { name: 'where', offset: 16, type: nodePtr },
    { name: 'label', offset: 24, type: charPtr },
  ],
};

interface Fake {
  ctx: EvalContext;
  mem: Buffer;
  phys: Buffer;
  regs: Map<string, bigint>;
}

/** Linear memory 0x1000..0x9000 (a Buffer from 0), physical memory 0..0x2000, fake registers. */
function fake(pointerSize: 4 | 8 = 8): Fake {
  const mem = Buffer.alloc(0x9000);
  const phys = Buffer.alloc(0x2000);
  const regs = new Map<string, bigint>([
    ['rax', 0x1122334455667788n], ['rbx', 0xffffffff00000005n], ['rcx', 0n], ['rdx', 0n], ['rsp', 0x8000n], ['rbp', 0x8010n],
    ['rsi', 0n], ['rdi', 0n], ['rip', 0x1000n], ['rflags', 0x246n], ['cs', 8n], ['ss', 0x18n], ['cr0', 0x80000011n],
    ['cr3', 0x1000n], ['efer', 0x500n], ['xmm0', 0x4004000000000000n], ['r8', 0xabn],
  ]);
  mem.writeUInt32LE(0xdeadbeef, 0x1000);
  // a list of three nodes at 0x3000, 0x3010, 0x3020; p at 0x3100 points at the first
  for (let i = 0; i < 3; i++) {
    mem.writeInt32LE(i + 1, 0x3000 + 16 * i);
    mem.writeBigUInt64LE(i < 2 ? BigInt(0x3010 + 16 * i) : 0n, 0x3008 + 16 * i);
  }
  mem.writeBigUInt64LE(0x3000n, 0x3100);
  mem.writeBigUInt64LE(0xdead0000n, 0x3108); // bad: a pointer into nothing
  for (let i = 0; i < 8; i++) mem.writeInt32LE(10 * (i + 1), 0x2000 + 4 * i);
  mem.write('hello\0', 0x4000, 'latin1');
  mem.writeBigUInt64LE(0x4000n, 0x4100);
  // flags: a=5 b=17 c=-3 d=0xabc
  mem.writeUInt32LE(5 | (17 << 3) | (0xd << 8) | (0xabc << 12), 0x5000);
  mem.writeUInt32LE(1, 0x5010);
  mem.writeUInt32LE(5, 0x5014);
  mem.writeDoubleLE(3.25, 0x5020);
  mem.writeUInt8(200, 0x5030);
  // a record at 0x6000
  mem.write('rec\0\0\0\0\0', 0x6000, 'latin1');
  mem.writeUInt32LE(2, 0x6008);
  mem.writeUInt32LE(0x12345678, 0x600c);
  mem.writeBigUInt64LE(0x3010n, 0x6010);
  mem.writeBigUInt64LE(0xdead0000n, 0x6018);
  mem.writeBigUInt64LE(0x1020304050607080n, 0x8000);
  phys.writeBigUInt64LE(0x0807060504030201n, 0x100);
  phys.writeBigUInt64LE(0x1111111111111111n, 0x108);

  const vars: Record<string, { type: CType; location: Location }> = {
    p: { type: nodePtr, location: { kind: 'memory', address: 0x3100n } },
    bad: { type: nodePtr, location: { kind: 'memory', address: 0x3108n } },
    n: { type: nodeStruct, location: { kind: 'memory', address: 0x3000n } },
    arr: { type: intArr8, location: { kind: 'memory', address: 0x2000n } },
    msg: { type: charPtr, location: { kind: 'memory', address: 0x4100n } },
    cmsg: { type: constCharPtr, location: { kind: 'memory', address: 0x4100n } },
    f: { type: flagsStruct, location: { kind: 'memory', address: 0x5000n } },
    c: { type: color, location: { kind: 'memory', address: 0x5010n } },
    pm: { type: perm, location: { kind: 'memory', address: 0x5014n } },
    d: { type: B.double, location: { kind: 'memory', address: 0x5020n } },
    u8: { type: B.uint8, location: { kind: 'memory', address: 0x5030n } },
    rec: { type: record, location: { kind: 'memory', address: 0x6000n } },
    r: { type: B.int, location: { kind: 'register', reg: 3 } }, // rbx
    x0: { type: B.double, location: { kind: 'register', reg: 17 } }, // xmm0
    k: { type: B.int, location: { kind: 'value', value: 42n } },
    kb: { type: nodeStruct, location: { kind: 'bytes', bytes: Buffer.from('0700000000000000' + '0030000000000000', 'hex') } },
    gone: { type: B.int, location: { kind: 'optimized-out' } },
    // { val: low half of rax, next: the pointer at 0x3100 }, with a hole between them
    split: {
      type: nodeStruct, location: {
        kind: 'pieces', pieces: [
          { location: { kind: 'register', reg: 0 }, sizeBits: 32 }, { location: { kind: 'optimized-out' }, sizeBits: 32 },
          { location: { kind: 'memory', address: 0x3100n }, sizeBits: 64 },
        ],
      },
    },
    // bits 7:4 of 0xab, then the low 12 bits of rbx
    bits: {
      type: B.uint16, location: {
        kind: 'pieces', pieces: [
          { location: { kind: 'value', value: 0xabn }, sizeBits: 4, offsetBits: 4 }, { location: { kind: 'register', reg: 3 }, sizeBits: 12 },
        ],
      },
    },
    fn: { type: { kind: 'pointer', size: 8, target: { kind: 'function', returns: B.int, params: [B.int, charPtr] } }, location: { kind: 'memory', address: 0x1000n } },
    op: { type: { kind: 'pointer', size: 8, target: { kind: 'struct', name: 'opaque', size: 0, members: [], declaration: true } }, location: { kind: 'memory', address: 0x3100n } },
    cplx: { type: { kind: 'unknown', name: 'complex float', size: 8 }, location: { kind: 'memory', address: 0x1000n } },
  };
  const types: Record<string, CType> = { node_t: nodeT, 'struct node': nodeStruct, 'enum color': color, 'enum level': level, 'struct flags': flagsStruct };
  const symbols: Record<string, bigint> = { hits: 0x1000n, _start: 0x1000n, list: 0x3000n };
  const enumerators = new Map<string, { type: CType; value: bigint }>();
  for (const t of [color, perm]) for (const e of (t as { enumerators: { name: string; value: bigint }[] }).enumerators) enumerators.set(e.name, { type: t, value: e.value });
  const check = (a: bigint, len: number, size: number) => {
    if (a < 0x1000n || a + BigInt(len) > BigInt(size)) throw new GuestError('not mapped');
    return Number(a);
  };
  const ctx: EvalContext = {
    pointerSize,
    readMemory: (a, len) => Buffer.from(mem.subarray(check(a, len, mem.length), Number(a) + len)),
    writeMemory: (a, data) => data.copy(mem, check(a, data.length, mem.length)),
    readPhysical: (a, len) => {
      if (a + BigInt(len) > BigInt(phys.length)) throw new GuestError('outside guest memory');
      return Buffer.from(phys.subarray(Number(a), Number(a) + len));
    },
    writePhysical: (a, data) => data.copy(phys, Number(a)),
    register: (name) => regs.get(name),
    setRegister: (name, value) => {
      if (!regs.has(name)) throw new GuestError(`no ${name}`);
      regs.set(name, value);
    },
    symbol: (name) => symbols[name],
    symbolize: (a) => (a >= 0x1000n && a < 0x1010n ? (a === 0x1000n ? 'hits' : `hits+0x${(a - 0x1000n).toString(16)}`) : undefined),
    variable: (name) => vars[name],
    constant: (name) => enumerators.get(name),
    typeByName: (name) => types[name],
  };
  return { ctx, mem, phys, regs };
}

function ev(expr: string, f = fake(), opts = {}): EvalResult {
  return evaluate(expr, f.ctx, opts);
}
const val = (expr: string, f = fake()) => ev(expr, f).value;
const typ = (expr: string, f = fake()) => ev(expr, f).type;

// --- literals and arithmetic ---------------------------------------------------------------

test('literals: decimal, hex, binary, octal, char, suffixes, floats, with their C types', () => {
  const cases: [string, string, string][] = [
    ['42', '42', 'int'], ['0x10', '16', 'int'], ['0b101', '5', 'int'], ['017', '15', 'int'], ['0', '0', 'int'],
    ["'a'", "97 'a'", 'char'], ["'\\n'", "10 '\\n'", 'char'], ["'\\x41'", "65 'A'", 'char'], ["'\\0'", "0 '\\000'", 'char'],
    ["'\\''", "39 '\\''", 'char'],
    ['4294967295', '4294967295', 'long'], ['0xffffffff', '4294967295', 'unsigned int'], ['10u', '10', 'unsigned int'],
    ['1ul', '1', 'unsigned long'], ['2LL', '2', 'long long'], ['0xffffffffffffffff', '18446744073709551615', 'unsigned long'],
    ['1.5', '1.5', 'double'], ['.25', '0.25', 'double'], ['1e3', '1000', 'double'], ['2.5f', '2.5', 'float'],
    ['true', 'true', '_Bool'], ['false', 'false', '_Bool'],
  ];
  for (const [e, v, t] of cases) {
    const r = ev(e);
    assert.equal(r.value, v, e);
    assert.equal(r.type, t, e);
  }
});

test('precedence and associativity follow C', () => {
  const cases: [string, string][] = [
    ['1 + 2 * 3', '7'], ['(1 + 2) * 3', '9'], ['1 << 2 + 1', '8'], ['1 | 2 ^ 3 & 4', '3'], ['10 - 4 - 3', '3'],
    ['100 / 10 / 5', '2'], ['-2 * 3', '-6'], ['!0 + ~0', '0'], ['1 < 2 == 1', '1'], ['2 > 1 > 0', '1'],
    ['1 ? 2 : 3 ? 4 : 5', '2'], ['0 ? 2 : 0 ? 4 : 5', '5'], ['0 || 2 && 3', '1'], ['1 && 0 || 0', '0'],
    ['7 / 2', '3'], ['-7 / 2', '-3'], ['-7 % 2', '-1'], ['7 % -2', '1'], ['- -3', '3'], ['~0x0f & 0xff', '240'],
    ['1 == 1 && 2 != 3', '1'], ['3 >= 3 && 2 <= 1', '0'], ['16 >> 2 >> 1', '2'], ['-16 >> 2', '-4'],
    ['2 * 3 % 4', '2'], ['1 + 2 == 3 ? 10 : 20', '10'], ['sizeof(int) * 2', '8'],
  ];
  for (const [e, v] of cases) assert.equal(val(e), v, e);
});

test('C conversions: integer promotion, usual arithmetic conversions, wrap-around', () => {
  const cases: [string, string, string][] = [
    ['-1 < 0u', '0', 'int'], ['(int)-1 == (unsigned)-1', '1', 'int'], ['(unsigned)0 - 1', '4294967295', 'unsigned int'],
    ['0xffffffffffffffff + 1', '0', 'unsigned long'], ['(unsigned char)300', "44 ','", 'unsigned char'],
    ['(uint8_t)0x41', "65 'A'", 'uint8_t'], ['(uint8_t)200 + (uint8_t)100', '300', 'int'], ['(short)0x12345', '9029', 'short'],
    ['(int8_t)0x80', "-128 '\\200'", 'int8_t'], ['(unsigned short)-1', '65535', 'unsigned short'],
    ['2147483647 + 1', '-2147483648', 'int'], ['1L << 40', '1099511627776', 'long'], ['1 << 40', '0', 'int'],
    ['(long)1 << 63', '-9223372036854775808', 'long'], ['(uint64_t)1 << 63', '9223372036854775808', 'unsigned long'],
    ['5 / 2.0', '2.5', 'double'], ['(float)1 / 3', '0.333333343', 'float'], ['(int)3.99', '3', 'int'], ['(int)-3.99', '-3', 'int'],
    ['(_Bool)5', 'true', '_Bool'], ['(_Bool)0', 'false', '_Bool'], ['(char)65', "65 'A'", 'char'],
    ['(unsigned long long)-1', '18446744073709551615', 'unsigned long long'], ['(size_t)1', '1', 'size_t'],
    ['(int)(unsigned char)-1', '255', 'int'], ['(long)(int)0x80000000', '-2147483648', 'long'],
    ['3 > 2.5', '1', 'int'], ['(double)1 == 1', '1', 'int'],
  ];
  for (const [e, v, t] of cases) {
    const r = ev(e);
    assert.equal(r.value, v, e);
    assert.equal(r.type, t, e);
  }
  assert.equal(ev('-1', fake(), { hex: true }).value, '0xffffffff');
  assert.equal(ev('(uint8_t)0x41', fake(), { hex: true }).value, '0x41');
  assert.equal(ev('(long)-2', fake(), { hex: true }).value, '0xfffffffffffffffe');
});

test('sizeof types and expressions, for LP64 and ILP32 targets', () => {
  const cases: [string, string][] = [
    ['sizeof(int)', '4'], ['sizeof(char)', '1'], ['sizeof(long)', '8'], ['sizeof(long long)', '8'], ['sizeof(void *)', '8'],
    ['sizeof(struct node)', '16'], ['sizeof(node_t)', '16'], ['sizeof arr', '32'], ['sizeof arr / sizeof arr[0]', '8'],
    ['sizeof(uint16_t)', '2'], ['sizeof p->val', '4'], ['sizeof(int [3][4])', '48'], ['sizeof(unsigned short int)', '2'],
    ['sizeof(int (*)[4])', '8'], ['sizeof(double)', '8'], ['sizeof(_Bool)', '1'], ['sizeof 1.5f', '4'], ['sizeof(char *)', '8'],
  ];
  for (const [e, v] of cases) assert.equal(val(e), v, e);
  assert.equal(typ('sizeof(int)'), 'size_t');
  const f32 = fake(4);
  assert.equal(val('sizeof(long)', f32), '4');
  assert.equal(val('sizeof(void *)', f32), '4');
  assert.equal(val('sizeof(uint64_t)', f32), '8');
  assert.equal(typ('(uint64_t)1 + 1', f32), 'unsigned long long');
});

// --- memory, pointers, structs, arrays -------------------------------------------------------

test('memory through pointer casts: *(uint32_t *)0x1000 and friends', () => {
  const f = fake();
  assert.equal(val('*(uint32_t *)0x1000', f), '3735928559');
  assert.equal(ev('*(uint32_t*)0x1000', f, { hex: true }).value, '0xdeadbeef');
  assert.equal(val('*(uint16_t *)0x1002', f), '57005');
  assert.equal(val('*(unsigned char *)0x1000', f), "239 '\\357'");
  assert.equal(val('*(int *)0x1000', f), String(0xdeadbeef - 2 ** 32));
  assert.equal(val('((uint8_t *)0x1000)[3]', f), "222 '\\336'");
  assert.equal(val('*(uint64_t *)$rsp', f), String(0x1020304050607080n));
  const r = ev('*(uint32_t *)0x1000', f);
  assert.equal(r.memoryReference, '0x1000');
  assert.equal(r.address, 0x1000n);
  assert.equal(r.size, 4);
  assert.equal(val('(uint32_t *)0x1000', f), '(uint32_t *) 0x1000 <hits>');
  assert.equal(val('(uint32_t *)0x1000 + 1', f), '(uint32_t *) 0x1004 <hits+0x4>');
  assert.equal(val('(char *)0x1000 + 1', f), "0x1001 <hits+0x1> \"\\276\\255\\336\"");
  assert.equal(val('(void *)0x2000 + 3', f), '(void *) 0x2003');
  assert.equal(val('(int (*)[4])0x2000 + 1', f), '(int (*)[4]) 0x2010');
  assert.equal(val('(const char *)0x4000', f), '0x4000 "hello"');
  assert.equal(val('(struct node *)0x3000', f), '(struct node *) 0x3000');
  assert.equal(val('((struct node *)0x3000)->next->val', f), '2');
  assert.equal(val('((node_t *)0x3010)->val', f), '2');
  assert.equal(val('(*(struct node *)0x3020).val', f), '3');
});

test('struct members, -> chains, pointer indexing and arithmetic', () => {
  const f = fake();
  assert.equal(val('p', f), '(struct node *) 0x3000');
  assert.equal(typ('p', f), 'struct node *');
  assert.equal(val('p->val', f), '1');
  assert.equal(val('p->next->val', f), '2');
  assert.equal(val('p->next->next->val', f), '3');
  assert.equal(val('p->next->next->next', f), '(struct node *) 0x0');
  assert.equal(val('(*p).val', f), '1');
  assert.equal(val('p[2].val', f), '3');
  assert.equal(val('(p + 1)->val', f), '2');
  assert.equal(val('p + 2', f), '(struct node *) 0x3020');
  assert.equal(val('&p->next', f), '(struct node **) 0x3008');
  assert.equal(val('&p->next->val', f), '(int *) 0x3010');
  assert.equal(val('p->next - p', f), '1');
  assert.equal(val('n.val + n.next->val', f), '3');
  assert.equal(val('n', f), '{val = 1, next = 0x3010}');
  assert.equal(val('*p', f), '{val = 1, next = 0x3010}');
  assert.equal(val('p->next != 0', f), '1');
  assert.equal(val('!p->next->next->next', f), '1');
  assert.equal(val('&n', f), '(struct node *) 0x3000');
  assert.equal(val('&n == p', f), '1');
  assert.equal(val('list', f), '(void *) 0x3000');
  assert.equal(val('((struct node *)list)->next->next->val', f), '3');
});

test('arrays: indexing, decay, element addresses, summaries', () => {
  const f = fake();
  assert.equal(val('arr[3]', f), '40');
  assert.equal(val('arr[0] + arr[7]', f), '90');
  assert.equal(val('*(arr + 2)', f), '30');
  assert.equal(val('*arr', f), '10');
  assert.equal(val('3[arr]', f), '40');
  assert.equal(val('&arr[2]', f), '(int *) 0x2008');
  assert.equal(val('&arr', f), '(int (*)[8]) 0x2000');
  assert.equal(val('&arr[5] - &arr[1]', f), '4');
  assert.equal(typ('&arr[5] - &arr[1]', f), 'ptrdiff_t');
  assert.equal(val('arr', f), '{10, 20, 30, 40, 50, 60, 70, 80}');
  assert.equal(typ('arr', f), 'int [8]');
  assert.equal(val('arr + 1', f), '(int *) 0x2004');
  assert.equal(val('arr[1 + 1] * 2', f), '60');
  const r = ev('arr', f);
  assert.equal(r.memoryReference, '0x2000');
  assert.equal(r.size, 32);
  assert.equal(r.childCount, 8);
  assert.equal(r.indexed, true);
  const kids = r.children!();
  assert.deepEqual(kids.map((k) => [k.name, k.value, k.evaluateName, k.memoryReference]), [0, 1, 2, 3, 4, 5, 6, 7].map((i) =>
    [`[${i}]`, String(10 * (i + 1)), `arr[${i}]`, '0x' + (0x2000 + 4 * i).toString(16)]));
  const big = ev('*(int (*)[300])0x2000', f);
  assert.equal(big.childCount, 100, 'children are capped at 100');
  assert.match(big.value, /^\{10, 20, 30, 40, 50, 60, 70, 80, 0, 0, \.\.\.\}$/);
  assert.equal(ev('*(int (*)[300])0x2000', f, { maxChildren: 5 }).children!().length, 5);
});

test('char pointers and char arrays show strings', () => {
  const f = fake();
  assert.equal(val('msg', f), '0x4000 "hello"');
  assert.equal(typ('cmsg', f), 'const char *');
  assert.equal(val('cmsg', f), '0x4000 "hello"');
  assert.equal(val('*msg', f), "104 'h'");
  assert.equal(val('msg[1]', f), "101 'e'");
  assert.equal(val('rec.name', f), '"rec"');
  assert.equal(val('(char *)0', f), '0x0');
  assert.equal(val('(char *)0xdead0000', f), '0xdead0000 <error: cannot read memory at 0xdead0000>');
});

test('bit fields read and write in place', () => {
  const f = fake();
  assert.equal(val('f.a', f), '5');
  assert.equal(val('f.b', f), '17');
  assert.equal(val('f.c', f), '-3');
  assert.equal(val('f.d', f), String(0xabc));
  assert.equal(val('f', f), '{a = 5, b = 17, c = -3, d = 2748}');
  throwsMsg(() => ev('&f.b', f), /address of a bit field/);
  const before = f.mem.readUInt32LE(0x5000);
  assert.equal(setValue('f.b', '30', f.ctx).value, '30');
  assert.equal(f.mem.readUInt32LE(0x5000), (before & ~(0x1f << 3)) >>> 0 | (30 << 3));
  assert.equal(setValue('f.c', '-8', f.ctx).value, '-8');
  assert.equal(setValue('f.d', '0xfff + 2', f.ctx).value, '1', 'wraps at 12 bits');
  assert.equal(val('f.a', f), '5');
  assert.equal(val('f.b', f), '30');
});

test('enums by name, flag enums, enumerators as constants', () => {
  const f = fake();
  assert.equal(val('c', f), 'GREEN');
  assert.equal(typ('c', f), 'enum color');
  assert.equal(val('pm', f), '(PERM_R | PERM_X)');
  assert.equal(val('(enum color)2', f), 'BLUE');
  assert.equal(val('(enum color)3', f), '(GREEN | BLUE)', 'gdb: enumerators of disjoint bits make a flag enum');
  assert.equal(val('(enum color)7', f), '(GREEN | BLUE | unknown: 0x4)');
  assert.equal(val('(enum level)2', f), 'MID');
  assert.equal(val('(enum level)7', f), '7');
  assert.equal(val('(enum level)-1', f), 'LOW');
  assert.equal(val('(enum level)-2', f), '-2');
  assert.equal(typ('(enum level)1 + 1', f), 'int');
  assert.equal(val('c == GREEN', f), '1');
  assert.equal(val('BLUE + 1', f), '3');
  assert.equal(val('rec.color', f), 'BLUE');
  assert.equal(setValue('c', 'BLUE', f.ctx).value, 'BLUE');
  assert.equal(f.mem.readUInt32LE(0x5010), 2);
  assert.equal(ev('c', f, { hex: true }).value, '0x2');
});

test('struct summaries, anonymous members, children and their expressions', () => {
  const f = fake();
  assert.equal(val('rec', f), '{name = "rec", color = BLUE, {word = 305419896, half = 22136}, where = 0x3010, label = 0xdead0000 <error: cannot read memory at 0xdead0000>}');
  assert.equal(val('rec.word', f), '305419896');
  assert.equal(val('rec.half', f), '22136');
  assert.equal(val('rec.where->val', f), '2');
  const r = ev('rec', f);
  assert.equal(r.childCount, 5);
  const kids = r.children!();
  assert.deepEqual(kids.map((k) => k.name), ['name', 'color', '<anonymous union>', 'where', 'label']);
  assert.deepEqual(kids.map((k) => k.evaluateName), ['rec.name', 'rec.color', undefined, 'rec.where', 'rec.label']);
  const anon = kids[2].children!();
  assert.deepEqual(anon.map((k) => [k.name, k.evaluateName, k.value]), [['word', 'rec.word', '305419896'], ['half', 'rec.half', '22136']]);
  assert.equal(kids[3].memoryReference, '0x3010', 'a pointer member refers to its target');
  const where = kids[3].children!();
  assert.equal(where.length, 1);
  assert.equal(where[0].name, '*rec.where');
  assert.equal(where[0].value, '{val = 2, next = 0x3020}');
  assert.deepEqual(where[0].children!().map((k) => [k.name, k.evaluateName, k.value]),
    [['val', '(*rec.where).val', '2'], ['next', '(*rec.where).next', '0x3020']]);
  // pointers expand to their pointee; a null pointer has no children
  const p = ev('p', f);
  assert.equal(p.memoryReference, '0x3000');
  assert.equal(p.childCount, 1);
  assert.equal(p.children!()[0].name, '*p');
  assert.equal(ev('p->next->next->next', f).childCount, 0);
  assert.equal(ev('(void *)0x3000', f).childCount, 0);
  // the evaluateName of every child evaluates to the child
  // (at the top level a pointer's value starts with its type)
  for (const k of [...kids, ...anon, ...where, ...where[0].children!()]) {
    if (k.evaluateName) assert.equal(val(k.evaluateName, f).replace(/^\(struct node \*\) /, ''), k.value, k.evaluateName);
  }
});

test('values in registers, DWARF constants and bytes, optimized-out variables', () => {
  const f = fake();
  assert.equal(val('r', f), '5', 'int in rbx: its low four bytes');
  assert.equal(val('x0', f), '2.5', 'double in xmm0');
  assert.equal(val('k', f), '42');
  assert.equal(val('k * 2', f), '84');
  assert.equal(val('kb', f), '{val = 7, next = 0x3000}');
  assert.equal(val('kb.next->val', f), '1');
  assert.equal(val('gone', f), '<optimized out>');
  throwsMsg(() => ev('gone + 1', f), /optimized out/);
  throwsMsg(() => ev('&k', f), /not in memory/);
  throwsMsg(() => ev('&r', f), /in a register \(\$rbx\)/);
  throwsMsg(() => setValue('k', '1', f.ctx), /must be a variable, register or memory location/);
  assert.equal(setValue('r', '-2', f.ctx).value, '-2');
  assert.equal(f.regs.get('rbx'), 0xfffffffffffffffen, 'low four bytes written, the upper ones kept');
  assert.equal(setValue('x0', '0.5', f.ctx).value, '0.5');
  assert.equal(dwarfRegisterName(7, 64), 'rsp');
  assert.equal(dwarfRegisterName(4, 32), 'esp');
  assert.equal(dwarfRegisterName(16, 64), 'rip');
});

test('DWARF pieces, function pointers, incomplete and unknown types', () => {
  const f = fake();
  assert.equal(val('split', f), `{val = ${0x55667788}, next = 0x3000}`);
  assert.equal(val('split.next->val', f), '1');
  assert.equal(val('bits', f), String(0xa | (0x005 << 4)));
  assert.equal(typ('fn', f), 'int (*)(int, char *)');
  assert.equal(val('fn', f), '(int (*)(int, char *)) 0xdeadbeef');
  assert.equal(val('*fn', f), '{int (int, char *)} 0xdeadbeef');
  assert.equal(ev('fn', f).childCount, 0);
  assert.equal(typ('op', f), 'struct opaque *');
  assert.equal(val('op', f), '(struct opaque *) 0x3000');
  assert.equal(ev('op', f).childCount, 0, 'an opaque struct cannot be expanded');
  assert.equal(val('*op', f), '<incomplete type>');
  throwsMsg(() => ev('sizeof(*op)', f), /the size of struct opaque is not known/);
  assert.equal(val('cplx', f), '<complex float: 0x00000000deadbeef>');
  assert.equal(ev('cplx', f).memoryReference, '0x1000');
  throwsMsg(() => ev('cplx + 1', f), /invalid operands to \+: complex float and int/);
  throwsMsg(() => setValue('cplx', '1', f.ctx), /cannot assign to a value of type complex float/);
});

test('floating point values', () => {
  const f = fake();
  assert.equal(val('d', f), '3.25');
  assert.equal(val('d * 2', f), '6.5');
  assert.equal(val('(int)d', f), '3');
  assert.equal(val('d > 3', f), '1');
  assert.equal(val('-d', f), '-3.25');
  assert.equal(val('(long double)1.5', f), '1.5');
  assert.equal(val('(long double)d / 2', f), '1.625');
  assert.equal(val('1.0 / 0', f), 'inf');
  assert.equal(setValue('d', '1.0 / 4', f.ctx).value, '0.25');
  assert.equal(f.mem.readDoubleLE(0x5020), 0.25);
  assert.equal(setValue('u8', 'd * 1000', f.ctx).value, "250 '\\372'");
  throwsMsg(() => ev('d % 2', f), /invalid operands to %/);
  throwsMsg(() => ev('~d', f), /invalid operand to ~/);
});

// --- registers, symbols, phys: ---------------------------------------------------------------

test('registers: $name and bare names, 32/16/8-bit parts, aliases, types', () => {
  const f = fake();
  const cases: [string, string, string][] = [
    ['$rax', String(0x1122334455667788n), 'int64_t'], ['rax', String(0x1122334455667788n), 'int64_t'],
    ['$eax', String(0x55667788), 'int32_t'], ['$ax', String(0x7788), 'int16_t'], ['$al', String(0x88 - 256) + " '\\210'", 'int8_t'],
    ['$ah', "119 'w'", 'int8_t'], ['$rsp', '(void *) 0x8000', 'void *'], ['$esp', '(void *) 0x8000', 'void *'],
    ['$sp', '32768', 'uint16_t'], ['$rip', '(void (*)()) 0x1000 <hits>', 'void (*)()'], ['$pc', '(void (*)()) 0x1000 <hits>', 'void (*)()'],
    ['$fp', '(void *) 0x8010', 'void *'], ['$rflags', '582', 'uint64_t'], ['$eflags & 0x200', '512', 'unsigned int'],
    ['$cs', '8', 'uint16_t'], ['$cr0', String(0x80000011), 'uint64_t'], ['$efer', '1280', 'uint64_t'],
    ['$r8', '171', 'int64_t'], ['$r8d', '171', 'int32_t'], ['$r8b', String(0xab - 256) + " '\\253'", 'int8_t'],
    ['$rbx', String(0xffffffff00000005n - (1n << 64n)), 'int64_t'], ['$ebx', '5', 'int32_t'],
    ['$rax >> 32', String(0x11223344), 'long'], ['$xmm0', String(0x4004000000000000n), 'unsigned __int128'],
  ];
  for (const [e, v, t] of cases) {
    const r = ev(e, f);
    assert.equal(r.value, v, e);
    assert.equal(r.type, t, e);
  }
  assert.equal(ev('$cr0', f, { hex: true }).value, '0x80000011');
  assert.equal(ev('$rsp & 0xfff', f, { hex: true }).value, '0x0', 'bit operations on an address');
  assert.equal(typ('$rsp | 1', f), 'unsigned long');
  assert.equal(val('$rsp * 2', f), String(0x10000));
  assert.equal(val('$rip - hits', f), '0');
  throwsMsg(() => ev('$rsp * 1.5', f), /invalid operands to \*/);
  assert.equal(ev('$rsp', f).memoryReference, '0x8000');
  assert.equal(ev('$rsp', f).childCount, 0, 'void * has no pointee');
  throwsMsg(() => ev('$nope', f), /no register named "\$nope"/);
  throwsMsg(() => ev('&$rax', f), /in a register/);
});

test('register assignment: full registers and their parts', () => {
  const f = fake();
  assert.equal(setValue('$rax', '0x10', f.ctx).value, '16');
  assert.equal(f.regs.get('rax'), 0x10n);
  f.regs.set('rax', 0x1122334455667788n);
  setValue('$eax', '0xaabbccdd', f.ctx);
  assert.equal(f.regs.get('rax'), 0x11223344aabbccddn);
  setValue('$ah', '0x5a', f.ctx);
  assert.equal(f.regs.get('rax'), 0x11223344aabb5addn);
  setValue('al', '-1', f.ctx);
  assert.equal(f.regs.get('rax'), 0x11223344aabb5affn);
  setValue('$rip', '0x1004', f.ctx);
  assert.equal(f.regs.get('rip'), 0x1004n);
  setValue('$rsp', '$rsp - 8', f.ctx);
  assert.equal(f.regs.get('rsp'), 0x7ff8n);
  // with allowAssign, = works inside expressions and yields the new value
  assert.equal(evaluate('$rcx = 3 * 4', f.ctx, { allowAssign: true }).value, '12');
  assert.equal(f.regs.get('rcx'), 12n);
  throwsMsg(() => evaluate('$rcx = 1', f.ctx), /assignments are not allowed here/);
  throwsMsg(() => setValue('$cs', '0x10', { ...f.ctx, setRegister: undefined }), /cannot be changed/);
});

test('ELF symbols without type information are their address', () => {
  const f = fake();
  assert.equal(val('hits', f), '(void *) 0x1000 <hits>');
  assert.equal(typ('hits', f), 'void *');
  assert.equal(ev('hits', f).memoryReference, '0x1000');
  assert.equal(val('&hits', f), '(void *) 0x1000 <hits>');
  assert.equal(val('*(uint32_t *)hits', f), '3735928559');
  assert.equal(val('*(uint32_t *)&hits', f), '3735928559');
  assert.equal(val('(unsigned long)hits + 4', f), '4100');
  assert.equal(val('hits + 4', f), '(void *) 0x1004 <hits+0x4>');
  assert.equal(evaluateAddress('hits', f.ctx), 0x1000n);
  throwsMsg(() => ev('*hits', f), /cannot dereference a void \*/);
  throwsMsg(() => setValue('hits', '1', f.ctx), /has no type/);
});

test('phys:ADDR is the uint64_t at a physical address; casts narrow it in place', () => {
  const f = fake();
  assert.equal(val('phys:0x100', f), String(0x0807060504030201n));
  assert.equal(typ('phys:0x100', f), 'uint64_t');
  assert.equal(val('(uint8_t)phys:0x100', f), "1 '\\001'");
  assert.equal(val('(uint16_t)phys:0x101', f), String(0x0302));
  assert.equal(val('(uint32_t)phys:0x104', f), String(0x08070605));
  assert.equal(val('phys:(0x100 + 8)', f), String(0x1111111111111111n));
  assert.equal(val('phys:0x100 + 8', f), String(0x0807060504030201n + 8n), 'binds like unary minus');
  assert.equal(ev('phys:0x100', f, { hex: true }).value, '0x807060504030201');
  assert.equal(ev('phys:0x100', f).memoryReference, undefined, 'no linear memory reference');
  throwsMsg(() => ev('&phys:0x100', f), /address of physical memory/);
  throwsMsg(() => ev('phys:0x1ffc', f), /cannot read memory at physical 0x1ffc: outside guest memory/);
  assert.equal(val('(uint32_t)phys:0x1ffc', f), '0', 'a narrowing cast reads only its own bytes');
  setValue('(uint16_t)phys:0x100', '0xbeef', f.ctx);
  assert.equal(f.phys.readBigUInt64LE(0x100), 0x080706050403beefn);
  setValue('phys:0x108', '-1', f.ctx);
  assert.equal(f.phys.readBigUInt64LE(0x108), (1n << 64n) - 1n);
});

test('assignment to memory converts as C does and reads back', () => {
  const f = fake();
  assert.equal(setValue('p->val', '99', f.ctx).value, '99');
  assert.equal(f.mem.readInt32LE(0x3000), 99);
  assert.equal(setValue('arr[2]', '-5', f.ctx).value, '-5');
  assert.equal(f.mem.readInt32LE(0x2008), -5);
  assert.equal(setValue('*(uint8_t *)0x1000', "'A'", f.ctx).value, "65 'A'");
  assert.equal(f.mem[0x1000], 0x41);
  assert.equal(setValue('*(uint16_t *)0x1000', '0x12345', f.ctx).value, String(0x2345));
  assert.equal(setValue('p->next', '0', f.ctx).value, '(struct node *) 0x0');
  assert.equal(f.mem.readBigUInt64LE(0x3008), 0n);
  assert.equal(setValue('p->next', 'p + 2', f.ctx).value, '(struct node *) 0x3020');
  assert.equal(val('p->next->val', f), '3');
  assert.equal(setValue('u8', '257', f.ctx).value, "1 '\\001'");
  assert.equal(setValue('n', '*(struct node *)0x3020', f.ctx).value, '{val = 3, next = 0x0}');
  throwsMsg(() => setValue('n', '1', f.ctx), /cannot convert int to struct node/);
  throwsMsg(() => setValue('arr[0]', 'n', f.ctx), /cannot convert struct node to int/);
  throwsMsg(() => setValue('1', '2', f.ctx), /must be a variable, register or memory location/);
  throwsMsg(() => setValue('*(int *)0x100000', '2', f.ctx), /cannot write memory at 0x100000/);
  throwsMsg(() => setValue('p->val', '1', { ...f.ctx, writeMemory: undefined }), /memory cannot be written here/);
});

// --- errors ----------------------------------------------------------------------------------

test('errors say what is wrong, syntax errors with the column', () => {
  const f = fake();
  const cases: [string, RegExp][] = [
    ['foo', /^no symbol "foo" in the current context$/],
    ['p->next + foo', /^no symbol "foo" in the current context$/],
    ['*(int *)0x100000', /^cannot read memory at 0x100000: not mapped$/],
    ['bad->val', /^cannot read memory at 0xdead0000: not mapped$/],
    ['1 +', /^syntax error at column 4: unexpected end of expression$/],
    ['1 + )', /^syntax error at column 5: unexpected "\)"$/],
    ['(int', /^syntax error at column 5: unexpected end of expression, expected "\)"$/],
    ['(1 + 2', /^syntax error at column 7: unexpected end of expression, expected "\)"$/],
    ['1 2', /^syntax error at column 3: unexpected "2"$/],
    ['arr[1', /^syntax error at column 6: unexpected end of expression, expected "\]"$/],
    ['p->', /^syntax error at column 4: unexpected end of expression, expected a member name$/],
    ['1 # 2', /^syntax error at column 3: unexpected character "#"$/],
    ['09', /^syntax error at column 1: invalid octal number "09"$/],
    ['0x', /^syntax error at column 1: invalid number "0x"$/],
    ['12abc', /^syntax error at column 1: invalid number "12abc"$/],
    ["'ab'", /^syntax error at column 1: unterminated character literal$/],
    ['"str"', /^syntax error at column 1: string literals are not supported$/],
    ['', /^syntax error at column 1: empty expression$/],
    ['int', /^syntax error at column 1: unexpected "int", a type name is only allowed in a cast or sizeof$/],
    ['1 ? 2', /^syntax error at column 6: unexpected end of expression, expected ":"$/],
    ['$', /^syntax error at column 1: a register name must follow "\$"$/],
    ['99999999999999999999999', /^syntax error at column 1: integer literal 99999999999999999999999 is too large$/],
    ['(struct nope *)0', /^no struct type named "nope"$/],
    ['(unsigned float)1', /^syntax error at column 2: "unsigned float" is not a type$/],
    ['*5', /^cannot dereference a value of type int: cast it to a pointer first/],
    ['*(void *)0x1000', /^cannot dereference a void \*/],
    ['p->nope', /^there is no member named "nope" in struct node$/],
    ['n.val.x', /^\.x: int is not a struct or union$/],
    ['1 / 0', /^division by zero$/],
    ['5 % (2 - 2)', /^division by zero$/],
    ['arr[p]', /^an array index must be an integer, not struct node \*$/],
    ['n[1]', /^cannot subscript a value of type struct node$/],
    ['p + p', /^invalid operands to \+: struct node \* and struct node \*$/],
    ['p - arr', /^invalid operands to -: struct node \* and int \*$/],
    ['n + 1', /^invalid operands to \+: struct node and int$/],
    ['1 << -1', /^negative shift count -1$/],
    ['sizeof(struct node) + sizeof hits', /^the size of <no debug info> is not known$/],
    ['&5', /not in memory/],
    ['f(1)', /^syntax error at column 2: function calls are not supported$/],
    ['$toString', /^no register named "\$toString"/],
    ['a <<= 1', /^syntax error at column 3: unexpected "<<="$/],
  ];
  for (const [e, re] of cases) throwsMsg(() => ev(e, f), re);
  // short-circuit and the ternary do not evaluate the other side
  assert.equal(val('0 && *(int *)0', f), '0');
  assert.equal(val('1 || *(int *)0', f), '1');
  assert.equal(val('1 ? 5 : *(int *)0', f), '5');
  // errors inside a summary stay inside it
  assert.match(val('*(struct node *)0x8ff8', f), /^\{val = 0, next = <error: cannot read memory at 0x9000: not mapped>\}$/);
});

test('evaluateInteger and evaluateAddress', () => {
  const f = fake();
  assert.equal(evaluateInteger('0xc0000080', f.ctx), 0xc0000080n);
  assert.equal(evaluateInteger('arr[1] + 1', f.ctx), 21n);
  assert.equal(evaluateAddress('$rsp', f.ctx), 0x8000n);
  assert.equal(evaluateAddress('arr', f.ctx), 0x2000n);
  assert.equal(evaluateAddress('p', f.ctx), 0x3000n);
  assert.equal(evaluateAddress('0x1000 + 16', f.ctx), 0x1010n);
  assert.equal(evaluateAddress('$rax', f.ctx), 0x1122334455667788n);
  throwsMsg(() => evaluateInteger('n', f.ctx), /is not an integer/);
  throwsMsg(() => evaluateAddress('n', f.ctx), /is not an address/);
});

// --- on a real guest -------------------------------------------------------------------------

test('on a long-mode guest: registers, memory by linear and physical address, assignment', async () => {
  const { bin, syms } = buildFlat64('long-flat');
  const m = new Machine({ image: bin, ...FLAT64, serial: () => {} });
  await withMachine(m, async () => {
    for (let i = 0; i < 4; i++) await m.step();
    const symbols = { functionAddress: (n: string) => (syms[n] !== undefined ? { address: syms[n] } : undefined), symbolize: () => undefined };
    const ctx = machineContext(m, 0, symbols);
    assert.equal(ctx.pointerSize, 8);
    const regs = m.getRegs();
    assert.equal(evaluate('$rax', ctx).value, String(BigInt.asIntN(64, regs.rax)));
    assert.equal(evaluate('$rcx', ctx).value, String(regs.rcx));
    assert.equal(evaluate('rip', ctx).value, `(void (*)()) 0x${regs.rip.toString(16)}`);
    assert.equal(evaluate('$rsp', ctx).value, `(void *) 0x${regs.rsp.toString(16)}`);
    assert.equal(evaluate('$cr3', ctx, { hex: true }).value, '0x' + m.getSregs().cr3.toString(16));
    assert.equal(evaluate('$efer', ctx).value, String(m.getSregs().efer));
    assert.equal(evaluate('$cs', ctx).value, String(m.getSregs().cs.selector));
    const byte = m.readPhysical(0x100000, 1)[0];
    assert.equal(evaluate('*(uint8_t *)0x100000', ctx, { hex: true }).value, '0x' + byte.toString(16));
    assert.equal(evaluate('*(uint64_t *)_start', ctx).value, String(m.readPhysical(Number(syms._start), 8).readBigUInt64LE()));
    assert.equal(evaluate('phys:0x100000', ctx).value, String(m.readPhysical(0x100000, 8).readBigUInt64LE()));
    assert.equal(evaluate('(uint8_t)phys:0x100000', ctx, { hex: true }).value, '0x' + byte.toString(16));
    assert.equal(evaluate('*(uint32_t *)counter', ctx).value, String(m.readPhysical(Number(syms.counter), 4).readUInt32LE()));
    assert.equal(evaluate('*(uint64_t *)$rsp', ctx).value, String(m.readLinear(0, regs.rsp, 8).readBigUInt64LE()));
    // the page tables kvmdbg built: CR3 points at the PML4, whose entry 0 is present
    assert.equal(evaluate('(phys:$cr3 & 1) == 1', ctx).value, '1');
    // writes
    setValue('$rbx', '0x1234', ctx);
    assert.equal(m.getRegs().rbx, 0x1234n);
    setValue('$bl', '0xff', ctx);
    assert.equal(m.getRegs().rbx, 0x12ffn);
    setValue('*(uint32_t *)0x200000', '0xcafef00d', ctx);
    assert.equal(m.readPhysical(0x200000, 4).readUInt32LE(), 0xcafef00d);
    setValue('(uint16_t)phys:0x200004', '0xbeef', ctx);
    assert.equal(m.readPhysical(0x200004, 2).readUInt16LE(), 0xbeef);
    assert.equal(evaluate('*(uint16_t *)0x200004', ctx).value, String(0xbeef));
    throwsMsg(() => evaluate('*(int *)0x800000000000', ctx), /^cannot read memory at 0x800000000000: not mapped \(.*non-canonical/);
    throwsMsg(() => evaluate('phys:0x7fffffff0', ctx), /^cannot read memory at physical 0x7fffffff0: outside guest memory/);
    throwsMsg(() => evaluate('nosuchsymbol', ctx), /^no symbol "nosuchsymbol" in the current context$/);
    throwsMsg(() => evaluate('$toString', ctx), /^no register named "\$toString"/);
    throwsMsg(() => setValue('$cs', '0x10', ctx), /cannot set \$cs: .*load them in the guest/);
    // the guest still runs to its end after all that
    setValue('$rbx', '0', ctx);
    assert.equal((await m.run()).kind, 'exit');
  });
});
