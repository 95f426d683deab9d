// The one DWARF expression evaluator (src/symbols/dwarf/expr.ts) on malformed input, for both of
// its callers (variables' locations, call frame information's values): corrupt typed operations
// and random bytes end in a result or an error, never an exception, and loops end after a
// bounded number of operations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateLocation, evaluateValue, type ExprEnv, type FrameContext, type MemoryReader } from '../src/symbols/dwarf/expr.js';
import { prngU32 } from './support/prng.js';

/** Memory at [0x6000, 0x8000): a hash of the address; the reader checks the sizes its type allows. */
const read: MemoryReader = (addr, size) => {
  assert.ok([1, 2, 4, 8].includes(size), `a ${size}-byte read`);
  return addr >= 0x6000n && addr < 0x8000n ? BigInt.asUintN(size * 8, addr * 0x9e3779b97f4a7c15n) : undefined;
};
const frame: FrameContext = { pc: 0x1000n, regs: new Map([[0, 5n], [5, 0x7000n], [7, 0x6ff8n], [17, 1n << 100n]]), cfa: 0x7010n, read, bits: 64 };
// Unit-relative base types: 0x30 double, 0x38 int, 0x40 one whose DW_AT_byte_size is corrupt.
const env: ExprEnv = {
  addressSize: 8, loadOffset: 0n, unitOffset: 0, frameBase: (f) => f.cfa!, addrIndex: (i) => (i < 4 ? BigInt(i) * 8n : undefined),
  baseType: (off) => (off === 0x30 ? { size: 8, signed: false, float: true } : off === 0x38 ? { size: 4, signed: true, float: false }
    : off === 0x40 ? { size: 0x7fffffff, signed: false, float: false } : undefined),
};
const double = (x: number): number[] => [...new Uint8Array(new Float64Array([x]).buffer)];
const message = (bytes: number[]): string => {
  const res = evaluateLocation(Buffer.from(bytes), frame, env);
  assert.equal(res.kind, 'error', JSON.stringify(res, (_, v) => (typeof v === 'bigint' ? v.toString(16) : v)));
  return (res as { message: string }).message;
};

test('corrupt typed operations and memory reads give errors', () => {
  // const_type double NaN, or 1.0 / 0.0; convert to int.
  assert.match(message([0xa4, 0x30, 8, ...double(NaN), 0xa8, 0x38, 0x9f]), /NaN converted to an integer/);
  assert.match(message([0xa4, 0x30, 8, ...double(1), 0xa4, 0x30, 8, ...double(0), 0x1b, 0xa8, 0x38, 0x9f]), /Infinity converted to an integer/);
  // A finite double still converts: -2.5 → -2.
  assert.deepEqual(evaluateLocation(Buffer.from([0xa4, 0x30, 8, ...double(-2.5), 0xa8, 0x38, 0x9f]), frame, env), { kind: 'value', value: -2n });
  assert.match(message([0x30, 0xa8, 0x40, 0x9f]), /2147483647-byte base type/); // 2 GiB base type
  // const_type int with 16 bytes: the type keeps the low 4.
  const long = [...Array(16).keys()].map((i) => i + 1);
  assert.deepEqual(evaluateLocation(Buffer.from([0xa4, 0x38, 16, ...long, 0x9f]), frame, env), { kind: 'value', value: 0x04030201n });
  assert.match(message([0x75, 0x00, 0xa6, 0, 0x38]), /0-byte memory read/); // deref_type 0
  assert.match(message([0x75, 0x00, 0x94, 9]), /9-byte memory read/); // deref_size 9
  // deref_size 5: bytes one at a time, lowest first.
  const five = evaluateLocation(Buffer.from([0x75, 0x00, 0x94, 5, 0x9f]), frame, env);
  const want = [...Array(5).keys()].reduce((v, i) => v | (read(0x7000n + BigInt(i), 1)! << BigInt(8 * i)), 0n);
  assert.deepEqual(five, { kind: 'value', value: want });
});

test('a loop ends after a bounded number of operations, for both callers', () => {
  // L: breg5 0; deref; drop; skip L: four operations and one read a turn.
  const loop = Buffer.from([0x75, 0x00, 0x06, 0x13, 0x2f, 0xf9, 0xff]);
  for (const run of [
    (r: MemoryReader) => evaluateLocation(loop, { ...frame, read: r }, env),
    (r: MemoryReader) => evaluateValue(loop, { ...frame, read: r }, 8, 0n, [0x7010n]),
  ]) {
    let reads = 0;
    const res = run((a, s) => { reads++; return read(a, s); });
    assert.match(JSON.stringify(res), /too many steps/);
    assert.ok(reads > 100 && reads <= 10000 / 4, `${reads} reads`);
  }
});

test('random expressions: a result or an error, never an exception', () => {
  const next = prngU32(20240611);
  const kinds = new Set<string>();
  for (let i = 0; i < 20000; i++) {
    // Some end in DW_OP_stack_value, as most of gcc's value locations do.
    const body = Array.from({ length: 1 + (next() % 24) }, () => next() & 0xff);
    const bytes = Buffer.from(next() % 4 ? body : [...body, 0x9f]);
    const where = `expression ${bytes.toString('hex')}`;
    let loc: ReturnType<typeof evaluateLocation> | undefined;
    let value: ReturnType<typeof evaluateValue> | undefined;
    assert.doesNotThrow(() => { loc = evaluateLocation(bytes, frame, env, next() & 1 ? 8 : 4); }, where);
    assert.doesNotThrow(() => { value = evaluateValue(bytes, frame, next() & 1 ? 8 : 4, 0n, [0x7010n]); }, where);
    kinds.add(loc!.kind);
    assert.ok(typeof value === 'bigint' || typeof value!.error === 'string', where);
  }
  // The inputs reach most kinds of result: the evaluator ran well past their first bytes.
  for (const k of ['memory', 'register', 'value', 'pieces', 'optimized-out', 'error']) assert.ok(kinds.has(k), k);
});
