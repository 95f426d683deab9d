// The KVM Live Watch view's model without VS Code (src/extension/live-watch-model.ts): what
// workspaceState keeps, the marks on values that changed since the last refresh, the bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LiveWatchModel, refreshInterval, checkExpression, MAX_EXPRESSION_LENGTH, REFRESH_DEFAULT_MS, REFRESH_MIN_MS,
} from '../src/extension/live-watch-model.js';
import { LIVE_WATCH_MAX_EXPRESSIONS } from '../src/protocol.js';

test('change marks: a value that differs from the last refresh is marked, once; the first value and an unchanged one are not', () => {
  const m = new LiveWatchModel();
  assert.equal(m.add('counter'), undefined);
  assert.equal(m.add('  *(uint32_t *)0x1000  '), undefined);
  assert.deepEqual(m.expressions, ['counter', '*(uint32_t *)0x1000']);
  const asked = m.expressions;
  assert.equal(m.update(asked, [{ value: '1', type: 'int' }, { value: '7' }]), true);
  assert.deepEqual(m.list.map((r) => [r.value, r.type, r.changed]), [['1', 'int', false], ['7', undefined, false]]);
  assert.equal(m.update(asked, [{ value: '2', type: 'int' }, { value: '7' }]), true);
  assert.deepEqual(m.list.map((r) => r.changed), [true, false]);
  // the same values again: the mark goes (it says "changed at the last refresh")
  assert.equal(m.update(asked, [{ value: '2', type: 'int' }, { value: '7' }]), true);
  assert.deepEqual(m.list.map((r) => r.changed), [false, false]);
  assert.equal(m.update(asked, [{ value: '2', type: 'int' }, { value: '7' }]), false, 'nothing to redraw');
  // an error after a value is a change; the error is shown in place of the value
  m.update(asked, [{ value: '2', type: 'int' }, { error: 'not mapped (no PTE)' }]);
  const row = m.list[1];
  assert.equal(row.changed, true);
  assert.equal(row.value, undefined);
  assert.equal(LiveWatchModel.label(row).description, '<not mapped (no PTE)>');
  assert.match(LiveWatchModel.label(m.list[0]).tooltip, /counter \(int\)\n2/);
});

test('a refresh answers for the expressions as asked: a row edited or removed meanwhile keeps its state', () => {
  const m = new LiveWatchModel();
  m.add('a');
  m.add('b');
  const asked = m.expressions;
  const [ra, rb] = m.list;
  assert.equal(m.edit(ra.id, 'c'), undefined);
  m.remove(rb.id);
  m.update(asked, [{ value: '1' }, { value: '2' }]);
  assert.deepEqual(m.list.map((r) => [r.expression, r.value]), [['c', undefined]]);
  // an edit forgets the value and the mark
  m.update(['c'], [{ value: '5' }]);
  m.update(['c'], [{ value: '6' }]);
  assert.equal(m.list[0].changed, true);
  m.edit(m.list[0].id, 'd');
  assert.deepEqual([m.list[0].value, m.list[0].changed], [undefined, false]);
  assert.equal(m.edit(999, 'x'), 'no such expression');
  m.clearValues();
  assert.equal(m.list[0].value, undefined);
});

test('persistence: { version: 1, expressions } in the view\'s order; anything else read back as nothing', () => {
  const m = new LiveWatchModel();
  m.add('x');
  m.add('table[2]');
  const kept = JSON.parse(JSON.stringify(m.persisted()));
  assert.deepEqual(kept, { version: 1, expressions: ['x', 'table[2]'] });
  assert.deepEqual(new LiveWatchModel(kept).expressions, ['x', 'table[2]']);
  for (const bad of [undefined, null, 42, 'x', [], { version: 2, expressions: ['x'] }, { version: 1, expressions: 'x' }]) {
    assert.deepEqual(new LiveWatchModel(bad).expressions, [], JSON.stringify(bad));
  }
  // entries that are not expressions are dropped, the rest kept
  assert.deepEqual(new LiveWatchModel({ version: 1, expressions: ['a', 3, '', ' b ', 'x'.repeat(MAX_EXPRESSION_LENGTH + 1)] }).expressions, ['a', 'b']);
});

test('bounds: the expressions the adapter takes at once, their length, one line; the refresh interval\'s floor', () => {
  const m = new LiveWatchModel();
  for (let i = 0; i < LIVE_WATCH_MAX_EXPRESSIONS; i++) assert.equal(m.add(`v${i}`), undefined);
  assert.equal(m.full, true);
  assert.match(m.add('one more')!, /at most 100/);
  const many = Array.from({ length: LIVE_WATCH_MAX_EXPRESSIONS + 50 }, (_, i) => `v${i}`);
  assert.equal(new LiveWatchModel({ version: 1, expressions: many }).expressions.length, LIVE_WATCH_MAX_EXPRESSIONS);
  assert.ok('error' in checkExpression('   '));
  assert.ok('error' in checkExpression('a\nb'));
  assert.ok('error' in checkExpression('x'.repeat(MAX_EXPRESSION_LENGTH + 1)));
  assert.deepEqual(checkExpression(' a + 1 '), { expression: 'a + 1' });
  assert.equal(refreshInterval(undefined), REFRESH_DEFAULT_MS);
  assert.equal(refreshInterval('fast'), REFRESH_DEFAULT_MS);
  assert.equal(refreshInterval(10), REFRESH_MIN_MS);
  assert.equal(refreshInterval(Number.NaN), REFRESH_DEFAULT_MS);
  assert.equal(refreshInterval(1000), 1000);
});
