// The KVM register panel's webview script. The extension (src/extension/register-panel.ts) posts
// an already-shaped model (src/extension/panel-model.ts); this file only turns it into HTML.
// Every string from the model is escaped. The render functions are pure and exported for the
// unit tests when this file is loaded by Node; in the webview the glue at the end runs.
// @ts-check
(function () {
  'use strict';

  /** @param {unknown} s */
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  /** @param {string[]} classes */
  function cls(classes) {
    return classes.map(function (c) { return String(c).replace(/[^A-Za-z0-9_-]/g, '-'); }).join(' ');
  }

  /** @param {{ id: string, label: string, value: string }[]} facts */
  function renderFacts(facts) {
    return facts.map(function (f) {
      return '<div class="fact" id="' + esc(f.id) + '"><span class="fact-label">' + esc(f.label) +
        '</span> <span class="fact-value">' + esc(f.value) + '</span></div>';
    }).join('');
  }

  /** @param {{ name: string, label: string, set: boolean, title: string }} b */
  function renderBit(b) {
    return '<span class="' + cls(['bit', b.set ? 'set' : 'clear']) + '" data-field="' + esc(b.name) +
      '" title="' + esc(b.title) + '">' + esc(b.label) + '</span>';
  }

  /** @param {{ id: string, name: string, value: string, summary: string, bits: any[] }} r */
  function renderRegister(r) {
    return '<div class="register" id="reg-' + esc(r.id) + '" data-register="' + esc(r.id) + '">' +
      '<div class="register-head"><span class="register-name">' + esc(r.name) + '</span> ' +
      '<code class="register-value">' + esc(r.value) + '</code> ' +
      '<span class="register-summary">' + esc(r.summary) + '</span></div>' +
      (r.bits.length ? '<div class="bits">' + r.bits.map(renderBit).join('') + '</div>' : '') +
      '</div>';
  }

  /** @param {{ id: string, caption: string, note: string, columns: string[], rows: { key: string, cells: string[], classes: string[], title?: string }[] }} t */
  function renderTable(t) {
    var head = t.columns.length
      ? '<thead><tr>' + t.columns.map(function (c) { return '<th>' + esc(c) + '</th>'; }).join('') + '</tr></thead>'
      : '';
    var body = t.rows.map(function (row) {
      return '<tr class="' + cls(row.classes) + '" data-key="' + esc(row.key) + '"' +
        (row.title ? ' title="' + esc(row.title) + '"' : '') + '>' +
        row.cells.map(function (c, i) {
          return '<td class="' + cls(['col-' + (t.columns[i] || String(i)).toLowerCase()]) + '">' + esc(c) + '</td>';
        }).join('') + '</tr>';
    }).join('');
    return '<h2 class="table-caption">' + esc(t.caption) + '</h2>' +
      '<p class="note" id="' + esc(t.id) + '-note">' + esc(t.note) + '</p>' +
      (t.rows.length ? '<table class="data-table" id="' + esc(t.id) + '">' + head + '<tbody>' + body + '</tbody></table>' : '');
  }

  /** @param {{ ok: boolean, address: string, summary: string, access: string[], levels: any }} w */
  function renderWalk(w) {
    return '<p id="walk-summary" class="' + cls(['walk-summary', w.ok ? 'ok' : 'failed']) + '">' + esc(w.summary) + '</p>' +
      (w.access.length ? '<p id="walk-access" class="walk-access">' + w.access.map(function (a) {
        return '<span class="' + cls(['access', a]) + '">' + esc(a) + '</span>';
      }).join(' ') + '</p>' : '') +
      (w.levels.rows.length || w.levels.note ? renderTable(w.levels) : '');
  }

  /** @param {any} m the PanelModel */
  function renderModel(m) {
    return {
      facts: renderFacts(m.facts),
      registers: m.registers.map(renderRegister).join(''),
      segments: renderTable(m.segments),
      gdt: renderTable(m.gdt),
      idt: renderTable(m.idt),
    };
  }

  var api = { esc: esc, renderFacts: renderFacts, renderRegister: renderRegister, renderTable: renderTable, renderWalk: renderWalk, renderModel: renderModel };

  if (typeof module === 'object' && module.exports) {
    module.exports = api;
  }
  // @ts-ignore: provided by the webview host
  if (typeof acquireVsCodeApi !== 'function') return;

  // --- the webview ---------------------------------------------------------------------------
  // @ts-ignore
  var vscode = acquireVsCodeApi();
  /** @param {string} id */
  function $(id) { return /** @type {HTMLElement} */ (document.getElementById(id)); }

  var PHASES = ['state-none', 'state-starting', 'state-running', 'state-stopped', 'state-ended'];

  /** @param {string} phase @param {string} text */
  function setPhase(phase, text) {
    PHASES.forEach(function (p) { document.body.classList.remove(p); });
    document.body.classList.add('state-' + phase);
    $('status').textContent = text;
    /** @type {HTMLButtonElement} */ ($('walk-submit')).disabled = phase !== 'stopped';
  }

  function applyIdtFilter() {
    var show = /** @type {HTMLInputElement} */ ($('idt-show-empty')).checked;
    $('idt-section').classList.toggle('hide-absent', !show);
  }

  window.addEventListener('message', function (event) {
    var msg = event.data;
    switch (msg.type) {
      case 'state':
        setPhase(msg.phase, msg.text);
        break;
      case 'model': {
        var html = renderModel(msg.model);
        $('facts').innerHTML = html.facts;
        $('registers').innerHTML = html.registers;
        $('segments-table').innerHTML = html.segments;
        $('gdt-table').innerHTML = html.gdt;
        $('idt-table').innerHTML = html.idt;
        document.body.classList.add('has-model');
        break;
      }
      case 'walking':
        /** @type {HTMLInputElement} */ ($('walk-address')).value = msg.address;
        $('walk-result').innerHTML = '<p id="walk-summary" class="walk-summary pending">Walking ' + esc(msg.address) + '…</p>';
        break;
      case 'walk':
        if (msg.address) /** @type {HTMLInputElement} */ ($('walk-address')).value = msg.address;
        $('walk-result').innerHTML = renderWalk(msg.view);
        vscode.setState({ address: msg.address });
        break;
    }
  });

  $('walk-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var address = /** @type {HTMLInputElement} */ ($('walk-address')).value;
    if (address.trim()) vscode.postMessage({ type: 'translate', address: address });
  });
  $('idt-show-empty').addEventListener('change', applyIdtFilter);
  $('refresh').addEventListener('click', function () { vscode.postMessage({ type: 'refresh' }); });
  applyIdtFilter();
  var saved = vscode.getState();
  if (saved && saved.address) /** @type {HTMLInputElement} */ ($('walk-address')).value = saved.address;
  vscode.postMessage({ type: 'ready' });
})();
