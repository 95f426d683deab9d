// The KVM screen view's webview script: draws the guest's 80x25 VGA text screen from the rows the
// extension posts (src/extension/screen-view.ts, from kvm.screen events: Unicode text and
// attribute bytes per row), in the 16 VGA colours with a blinking cursor, and sends the keys
// typed into it back as key chords for kvm.keys. renderRow and keyChord are pure and exported
// for unit tests when this file is loaded by Node; in the webview the glue at the end runs.
// @ts-check
(function () {
  'use strict';

  /** @param {string} s */
  function esc(s) {
    return s.replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c] || c;
    });
  }

  /**
   * One row as HTML: runs of equal attributes as spans (classes f0-f15, b0-b15, blink), the
   * cursor's cell in its own span.
   * @param {string} text @param {number[]} attrs @param {number} cursorCol (-1: not on this row) @param {boolean} blink
   */
  function renderRow(text, attrs, cursorCol, blink) {
    var html = '';
    var run = '';
    var runClass = '';
    var chars = Array.from(text);
    function flush() {
      if (run) html += '<span class="' + runClass + '">' + esc(run) + '</span>';
      run = '';
    }
    for (var c = 0; c < chars.length; c++) {
      var a = attrs[c] || 0;
      var bg = (a >> 4) & 15;
      var k = 'f' + (a & 15);
      if (blink && bg & 8) { bg &= 7; k += ' blink'; }
      k += ' b' + bg;
      if (c === cursorCol) {
        flush();
        html += '<span class="' + k + ' cursor" id="cursor">' + esc(chars[c]) + '</span>';
        continue;
      }
      if (k !== runClass) { flush(); runClass = k; }
      run += chars[c];
    }
    flush();
    return html;
  }

  var NAMED = {
    Enter: 'Enter', Backspace: 'Backspace', Tab: 'Tab', Escape: 'Escape', ArrowUp: 'Up', ArrowDown: 'Down',
    ArrowLeft: 'Left', ArrowRight: 'Right', Home: 'Home', End: 'End', PageUp: 'PageUp', PageDown: 'PageDown',
    Insert: 'Insert', Delete: 'Delete', ' ': 'Space',
  };

  /**
   * A keydown as a chord for kvm.keys ("a", "A", "Enter", "Up", "F5", "Ctrl+c"), or undefined for
   * a key kvmdbg does not send (a modifier alone, a character outside ASCII).
   * @param {{ key: string, ctrlKey?: boolean, altKey?: boolean, metaKey?: boolean }} e
   */
  function keyChord(e) {
    var key = e.key;
    var name = NAMED[key] || (/^F([1-9]|1[0-2])$/.test(key) ? key : key.length === 1 && key >= ' ' && key <= '~' ? key : undefined);
    if (!name) return undefined;
    var mods = (e.ctrlKey ? 'Ctrl+' : '') + (e.altKey ? 'Alt+' : '');
    if (mods && name.length === 1) name = name.toLowerCase();
    return mods + name;
  }

  if (typeof module === 'object' && module.exports) {
    module.exports = { renderRow: renderRow, keyChord: keyChord };
    return;
  }

  // --- the webview ---------------------------------------------------------------------------
  // @ts-ignore acquireVsCodeApi is the webview's
  var vscode = acquireVsCodeApi();
  var screenEl = /** @type {HTMLElement} */ (document.getElementById('screen'));
  var statusEl = /** @type {HTMLElement} */ (document.getElementById('status'));
  /** @type {{ text: string, attrs: number[] }[]} */
  var rows = [];
  var cursor = { row: -1, col: -1, hidden: true };
  var blink = true;
  for (var r = 0; r < 25; r++) {
    var div = document.createElement('div');
    div.className = 'row';
    div.id = 'row-' + r;
    screenEl.appendChild(div);
    rows.push({ text: ' '.repeat(80), attrs: new Array(80).fill(7) });
  }

  /** @param {number} r */
  function draw(r) {
    var el = document.getElementById('row-' + r);
    if (!el || !rows[r]) return;
    el.innerHTML = renderRow(rows[r].text, rows[r].attrs, !cursor.hidden && cursor.row === r ? cursor.col : -1, blink);
    el.setAttribute('data-text', rows[r].text.replace(/\s+$/, ''));
  }

  /** @param {string} b64 */
  function bytes(b64) {
    var s = atob(b64);
    var out = [];
    for (var i = 0; i < s.length; i++) out.push(s.charCodeAt(i));
    return out;
  }

  window.addEventListener('message', function (ev) {
    var m = ev.data;
    if (m.type === 'screen') {
      var b = m.body;
      var redraw = {};
      if (b.blink !== blink) { blink = b.blink; for (var i = 0; i < 25; i++) redraw[i] = true; }
      b.changed.forEach(function (row) {
        rows[row.row] = { text: row.text, attrs: bytes(row.attrs) };
        redraw[row.row] = true;
      });
      redraw[cursor.row] = true;
      cursor = b.cursor;
      redraw[cursor.row] = true;
      screenEl.setAttribute('data-cursor', cursor.hidden ? 'hidden' : cursor.row + ',' + cursor.col);
      Object.keys(redraw).forEach(function (k) { draw(Number(k)); });
    } else if (m.type === 'state') {
      statusEl.textContent = m.text;
      document.body.className = 'state-' + m.phase;
    }
  });

  screenEl.addEventListener('keydown', function (e) {
    var chord = keyChord(e);
    if (!chord) return;
    e.preventDefault();
    vscode.postMessage({ type: 'keys', keys: [chord] });
  });
  screenEl.addEventListener('click', function () { screenEl.focus(); });
  vscode.postMessage({ type: 'ready' });
})();
