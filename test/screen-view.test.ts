// The KVM Screen view's webview script (media/screen.js) loaded by Node: rows drawn as coloured
// spans with the cursor's cell marked, and browser key events turned into kvm.keys chords that
// the keyboard (src/vmm/devices/scancodes.ts) accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from './support/paths.js';
import { chordBytes, parseChord } from '../src/vmm/devices/scancodes.js';

const view = createRequire(__filename)(join(ROOT, 'media', 'screen.js')) as {
  renderRow(text: string, attrs: number[], cursorCol: number, blink: boolean): string;
  keyChord(e: { key: string; ctrlKey?: boolean; altKey?: boolean }): string | undefined;
};

test('a row: runs of one attribute as spans with VGA colour classes, the cursor cell its own, text escaped', () => {
  const html = view.renderRow('Hi <b>', [0x1f, 0x1f, 0x07, 0x07, 0x07, 0xcf], 1, true);
  assert.equal(html,
    '<span class="f15 b1">H</span><span class="f15 b1 cursor" id="cursor">i</span>' +
    '<span class="f7 b0"> &lt;b</span><span class="f15 blink b4">&gt;</span>');
  assert.ok(view.renderRow('x', [0xcf], -1, false).includes('f15 b12'), 'bright background without blink');
  assert.ok(view.renderRow('╔═╗', [7, 7, 7], -1, true).includes('╔═╗'));
});

test('keys typed into the view become chords the keyboard knows', () => {
  const cases: [Parameters<typeof view.keyChord>[0], string | undefined][] = [
    [{ key: 'a' }, 'a'], [{ key: 'A' }, 'A'], [{ key: '!' }, '!'], [{ key: ' ' }, 'Space'], [{ key: 'Enter' }, 'Enter'],
    [{ key: 'ArrowUp' }, 'Up'], [{ key: 'F12' }, 'F12'], [{ key: 'Escape' }, 'Escape'], [{ key: 'Backspace' }, 'Backspace'],
    [{ key: 'C', ctrlKey: true }, 'Ctrl+c'], [{ key: 'Delete', ctrlKey: true, altKey: true }, 'Ctrl+Alt+Delete'],
    [{ key: 'Shift' }, undefined], [{ key: 'é' }, undefined], [{ key: 'Dead' }, undefined],
  ];
  for (const [e, want] of cases) {
    const got = view.keyChord(e);
    assert.equal(got, want, JSON.stringify(e));
    if (got) assert.ok(chordBytes(parseChord(got)).length >= 2, got);
  }
});
