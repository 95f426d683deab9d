// The slice length's rule (src/vmm/slice-length.ts), driven with turn lengths as the run loop
// measures them: no KVM needed, as for exits.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SliceLength } from '../src/vmm/slice-length.js';

test('cheap turns keep the base slice', { timeout: 5000 }, () => {
  const s = new SliceLength(10);
  for (let i = 0; i < 100; i++) assert.equal(s.noteTurn(0.05), false);
  assert.equal(s.ms, 10);
});

test('slow turns grow the slice until they take 2% of the run, up to ten times the base', { timeout: 5000 }, () => {
  const s = new SliceLength(10);
  assert.equal(s.noteTurn(1), true, 'a 1 ms turn wants a 50 ms slice');
  assert.equal(s.ms, 50);
  for (let i = 0; i < 100; i++) s.noteTurn(1);
  assert.equal(s.ms, 50);
  for (let i = 0; i < 100; i++) s.noteTurn(20);
  assert.ok(s.ms > 75 && s.ms <= 100, `20 ms turns: ${s.ms}, never past ten times the base`);
});

test('one slow turn among cheap ones moves the slice little; turns cheap again bring it back', { timeout: 5000 }, () => {
  const s = new SliceLength(10);
  for (let i = 0; i < 20; i++) s.noteTurn(0.05);
  s.noteTurn(2);
  assert.ok(s.ms <= 20, `one 2 ms turn: ${s.ms} ms`);
  // Within a quarter of what the turns want: the slice moves only by more than that.
  for (let i = 0; i < 100; i++) s.noteTurn(1.5);
  assert.ok(s.ms >= 60 && s.ms <= 75, `1.5 ms turns want 75 ms: ${s.ms}`);
  for (let i = 0; i < 100; i++) s.noteTurn(0.05);
  assert.ok(s.ms >= 10 && s.ms <= 12.5, `cheap turns want the base, 10 ms: ${s.ms}`);
});

test('small changes leave the slice (and the timer) alone', { timeout: 5000 }, () => {
  const s = new SliceLength(2);
  for (let i = 0; i < 50; i++) s.noteTurn(0.2);
  const ms = s.ms;
  assert.ok(ms >= 8 && ms <= 10, `0.2 ms turns want 10 ms: ${ms}`);
  assert.equal(s.noteTurn(0.22), false, 'a turn 10% longer changes nothing');
  assert.equal(s.ms, ms);
});

test('one very long turn (the process stopped a while) is forgotten within tens of turns', { timeout: 5000 }, () => {
  const s = new SliceLength(10);
  for (let i = 0; i < 20; i++) s.noteTurn(0.05);
  s.noteTurn(5000);
  assert.ok(s.ms <= 100);
  let turns = 0;
  while (s.ms > 12.5 && turns < 1000) {
    s.noteTurn(0.05);
    turns++;
  }
  assert.ok(turns <= 40, `back to the base after ${turns} turns`);
});
