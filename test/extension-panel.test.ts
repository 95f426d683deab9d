// The register panel's model (src/extension/panel-model.ts) and its webview rendering
// (media/panel.js), on kvm.registerPanel and kvm.translate answers captured from the real adapter
// (dist/adapter.js) debugging the C test guest: at kmain in long mode, and at the real-mode entry.
import './support/needs-kvm.js';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import { cGuestPerFile, hex, newClient, launch, stopped, ROOT } from './support/dap.js';
import {
  shapePanel, shapeWalk, walkError, parseAddress, sizeLabel, type RegisterPanelData, type TranslateData, type PanelModel,
} from '../src/extension/panel-model.js';

const view = createRequire(__filename)(join(ROOT, 'media', 'panel.js')) as {
  esc(s: unknown): string;
  renderRegister(r: unknown): string;
  renderTable(t: unknown): string;
  renderWalk(w: unknown): string;
  renderModel(m: unknown): Record<'facts' | 'registers' | 'segments' | 'gdt' | 'idt', string>;
};

const { syms, base } = cGuestPerFile();

let long: RegisterPanelData;
let real: RegisterPanelData;
let walkKmain: TranslateData;
let walkBad: TranslateData;
let walkUnmapped: TranslateData;
let model: PanelModel;

/** One session: stop on entry (real mode), then run to kmain (long mode), asking at each stop. */
before(async () => {
  const dc: DebugClient = newClient();
  await dc.start();
  try {
    await launch(dc, { ...base(), stopOnEntry: true }, async () => {
      await dc.customRequest('setInstructionBreakpoints', { breakpoints: [{ instructionReference: hex(syms.kmain) }] });
    });
    await stopped(dc);
    real = (await dc.customRequest('kvm.registerPanel', {})).body;
    await dc.continueRequest({ threadId: 1 });
    await stopped(dc);
    long = (await dc.customRequest('kvm.registerPanel', { vcpu: 0 })).body;
    walkKmain = (await dc.customRequest('kvm.translate', { address: hex(syms.kmain) })).body;
    walkBad = (await dc.customRequest('kvm.translate', { address: '0x800000000000' })).body;
    walkUnmapped = (await dc.customRequest('kvm.translate', { address: '0x7fff00000000' })).body;
  } finally {
    await dc.stop();
  }
  model = shapePanel(long);
});

test('the header: mode, CPL, paging and RIP at kmain', () => {
  assert.equal(model.mode, 'long mode (64-bit)');
  assert.equal(model.pagingLabel, '4-level paging');
  assert.equal(model.cpl, 0);
  assert.equal(BigInt(model.rip), syms.kmain);
  assert.deepEqual(model.facts.map((f) => f.id), ['fact-vcpu', 'fact-mode', 'fact-cpl', 'fact-paging', 'fact-rip']);
  assert.equal(model.facts.find((f) => f.id === 'fact-mode')!.value, 'long mode (64-bit)');
});

test('registers: RFLAGS, CR0, CR3, CR4, EFER (then CR2, CR8), highest bit first, set bits marked', () => {
  assert.deepEqual(model.registers.map((r) => r.name), ['RFLAGS', 'CR0', 'CR3', 'CR4', 'EFER', 'CR2', 'CR8']);
  const reg = (n: string) => model.registers.find((r) => r.id === n)!;
  const cr0 = reg('cr0');
  const bit = (r: typeof cr0, name: string) => r.bits.find((b) => b.name === name)!;
  assert.equal(bit(cr0, 'PG').set, true);
  assert.equal(bit(cr0, 'PE').set, true);
  assert.equal(bit(cr0, 'CD').set, false);
  assert.equal(cr0.bits[0].name, 'PG', 'bit 31 first');
  assert.equal(cr0.bits.at(-1)!.name, 'PE', 'bit 0 last');
  assert.match(cr0.summary, /^PG .*PE$/);
  assert.match(bit(cr0, 'PG').title, /^PG \(bit 31\): .*= 1$/);
  // the set bits are exactly the value's
  for (const r of model.registers.slice(0, 5)) {
    const raw = long.registers.find((x) => x.name === r.id)!;
    for (const f of raw.fields) assert.equal(r.bits.find((b) => b.name === f.name)!.set, f.set, `${r.name}.${f.name}`);
  }
  const efer = reg('efer');
  assert.equal(bit(efer, 'LME').set, true);
  assert.equal(bit(efer, 'LMA').set, true);
  assert.equal(bit(reg('cr4'), 'PAE').set, true);
  // a wide field shows its value; its title its bit range
  const pdb = bit(reg('cr3'), 'PDB');
  assert.equal(pdb.label, `PDB=${long.registers.find((r) => r.name === 'cr3')!.value}`);
  assert.match(pdb.title, /bits 51:12/);
  assert.equal(bit(reg('rflags'), 'IOPL').label, 'IOPL=0');
  assert.deepEqual(reg('cr2').bits, []);
});

test('segments: one row per register with the decoded cache; CS is 64-bit code', () => {
  const t = model.segments;
  assert.equal(t.id, 'segments');
  assert.deepEqual(t.rows.map((r) => r.key), ['cs', 'ds', 'es', 'fs', 'gs', 'ss', 'tr', 'ldt']);
  const cs = t.rows.find((r) => r.key === 'cs')!;
  const col = (name: string) => t.columns.indexOf(name);
  assert.equal(cs.cells[col('Register')], 'CS');
  assert.match(cs.cells[col('Type')], /code 64-bit/);
  assert.match(cs.cells[col('Attributes')], /\bP\b.*\bL\b/);
  assert.match(cs.cells[col('Decoded')], /64-bit/);
  assert.equal(cs.cells[col('Selector')], '0x' + BigInt(long.segments[0].selector).toString(16).padStart(4, '0'));
  assert.ok(cs.classes.includes('usable'));
  assert.match(cs.title!, /L: 64-bit code segment = 1/);
});

test('GDT: a row per descriptor, matching the adapter\'s decoding, with the segments that use it', () => {
  const t = model.gdt;
  assert.equal(t.rows.length, long.gdt.entries.length);
  assert.ok(t.rows.length >= 4);
  assert.match(t.note, new RegExp(`^base ${long.gdt.base} limit ${long.gdt.limit} · ${t.rows.length} entries`));
  const col = (name: string) => t.columns.indexOf(name);
  assert.ok(t.rows[0].classes.includes('kind-null'));
  assert.ok(t.rows[0].classes.includes('absent'));
  const csIndex = Number(BigInt(long.segments.find((s) => s.name === 'cs')!.selector)) >> 3;
  const csRow = t.rows[csIndex];
  assert.ok(csRow.classes.includes('kind-code'));
  assert.ok(csRow.classes.includes('loaded'));
  assert.match(csRow.cells[col('Loaded in')], /\bCS\b/);
  assert.match(csRow.cells[col('Type')], /code 64-bit/);
  assert.match(csRow.cells[col('Flags')], /\bL\b/);
  const dsIndex = Number(BigInt(long.segments.find((s) => s.name === 'ds')!.selector)) >> 3;
  assert.match(t.rows[dsIndex].cells[col('Loaded in')], /DS ES FS GS SS/);
  for (const [i, e] of long.gdt.entries.entries()) {
    assert.equal(t.rows[i].cells[col('Raw')], e.raw);
    assert.equal(t.rows[i].title, e.text);
  }
});

test('IDT: gates (or an IVT), with the exception names; empty gates marked absent', () => {
  const t = model.idt;
  assert.equal(t.rows.length, long.idt.entries.length);
  assert.equal(t.rows[14].key, '0x0e');
  assert.match(t.rows[14].cells[1], /#PF Page Fault/);
  for (const [i, e] of long.idt.entries.entries()) assert.equal(t.rows[i].classes.includes('absent'), !e.present);
  // in real mode at the entry the table is the IVT
  const r = shapePanel(real);
  assert.equal(r.mode, 'real mode');
  assert.equal(r.pagingLabel, 'paging off');
  assert.equal(r.idt.caption, 'Interrupt vector table');
  assert.equal(r.idt.rows.length, 256);
  assert.deepEqual(r.idt.columns, ['Vector', 'Exception', 'Segment:Offset', 'Linear', 'Raw']);
  const cr0 = r.registers.find((x) => x.id === 'cr0')!;
  assert.equal(cr0.bits.find((b) => b.name === 'PE')!.set, false);
  assert.equal(cr0.bits.find((b) => b.name === 'PG')!.set, false);
});

test('page walk: the levels of kmain\'s translation, and the reasons walks fail', () => {
  const w = shapeWalk(walkKmain);
  assert.equal(w.ok, true);
  assert.equal(w.summary, `${hex(syms.kmain)} → ${hex(syms.kmain)} (2 MiB page, 4-level paging)`);
  assert.deepEqual(w.access, ['writable', 'supervisor', 'executable']);
  assert.deepEqual(w.levels.rows.map((r) => r.key), ['PML4E', 'PDPTE', 'PDE']);
  const pde = w.levels.rows[2];
  assert.match(pde.cells[4], /\bP\b.*\bPS\b/);
  assert.equal(pde.cells[3].length, 18, 'entries as 16 hex digits');
  assert.ok(pde.classes.includes('present'));
  const bad = shapeWalk(walkBad);
  assert.equal(bad.ok, false);
  assert.match(bad.summary, /^0x800000000000: .*non-canonical/);
  const unmapped = shapeWalk(walkUnmapped);
  assert.equal(unmapped.ok, false);
  assert.ok(unmapped.levels.rows.some((r) => r.classes.includes('not-present')));
  assert.equal(walkError('0x1', 'the guest is running; pause it first').summary, '0x1: the guest is running; pause it first');
  assert.equal(sizeLabel(4096), '4 KiB');
  assert.equal(sizeLabel(1 << 30), '1 GiB');
});

test('addresses as typed', () => {
  const ok = (t: string) => {
    const a = parseAddress(t);
    assert.ok(a.ok, t);
    return a.ok ? a.address : '';
  };
  assert.equal(ok('0xFFFF_FFFF_8000_0000'), '0xffffffff80000000');
  assert.equal(ok(' 4096 '), '0x1000');
  assert.equal(ok('7c00h'), '0x7c00');
  assert.equal(ok("0x0000'1000"), '0x1000');
  for (const bad of ['', 'kmain', '0x', '0x1g', '0x10000000000000000']) assert.equal(parseAddress(bad).ok, false, bad);
});

test('the webview renders the model: ids and classes the e2e tests look for, everything escaped', () => {
  const html = view.renderModel(model);
  assert.match(html.facts, /<div class="fact" id="fact-mode"><span class="fact-label">Mode<\/span> <span class="fact-value">long mode \(64-bit\)<\/span><\/div>/);
  assert.match(html.registers, /<div class="register" id="reg-cr0" data-register="cr0">/);
  assert.match(html.registers, /<span class="bit set" data-field="PG" title="PG \(bit 31\): [^"]*">PG<\/span>/);
  assert.match(html.registers, /<span class="bit clear" data-field="CD"/);
  assert.match(html.segments, /<table class="data-table" id="segments">/);
  assert.match(html.segments, /<tr class="segment usable" data-key="cs"/);
  assert.match(html.gdt, /<table class="data-table" id="gdt">/);
  assert.match(html.gdt, /<tr class="gdt-entry kind-code present loaded" data-key="\d+"/);
  assert.match(html.idt, /<table class="data-table" id="idt">/);
  assert.match(html.idt, /<p class="note" id="idt-note">/);
  assert.equal((html.gdt.match(/<tr class="gdt-entry/g) ?? []).length, model.gdt.rows.length);
  const walk = view.renderWalk(shapeWalk(walkKmain));
  assert.match(walk, /<p id="walk-summary" class="walk-summary ok">/);
  assert.match(walk, /<table class="data-table" id="walk-levels">/);
  assert.match(walk, /<tr class="walk-level present" data-key="PDE">/);
  assert.match(view.renderWalk(shapeWalk(walkBad)), /class="walk-summary failed"/);
  // hostile strings stay text
  const evil = view.renderTable({
    id: 't', caption: '<b>x</b>', note: '"&', columns: ['A'], rows: [{ key: '"><script>', cells: ['<img src=x onerror=1>'], classes: ['a b"<'] }],
  });
  assert.ok(!/<script>|<img|<b>/.test(evil), evil);
  assert.match(evil, /&lt;img src=x onerror=1&gt;/);
  assert.equal(view.esc(`<'&">`), '&lt;&#39;&amp;&quot;&gt;');
});

test('the webview script in a page: asks for its state, draws what it is sent, greys out, posts walks', () => {
  // A minimal page with the elements register-panel.ts's HTML has.
  class ClassList {
    readonly set = new Set<string>();
    add(c: string) { this.set.add(c); }
    remove(c: string) { this.set.delete(c); }
    toggle(c: string, on: boolean) { if (on) this.set.add(c); else this.set.delete(c); }
    contains(c: string) { return this.set.has(c); }
  }
  const listeners = new Map<string, ((e: unknown) => void)[]>();
  const el = (id: string) => ({
    id, innerHTML: '', textContent: '', value: '', checked: false, disabled: false, classList: new ClassList(),
    addEventListener: (type: string, f: (e: unknown) => void) => listeners.set(`${id}:${type}`, [...(listeners.get(`${id}:${type}`) ?? []), f]),
  });
  const ids = ['status', 'refresh', 'facts', 'walk-form', 'walk-address', 'walk-submit', 'walk-result', 'registers',
    'segments-table', 'gdt-table', 'idt-table', 'idt-show-empty', 'idt-section'];
  const page = Object.fromEntries(ids.map((id) => [id, el(id)]));
  const body = { classList: new ClassList() };
  const posted: { type: string; address?: string }[] = [];
  let state: unknown;
  const context = {
    document: { body, getElementById: (id: string) => page[id] ?? null },
    window: { addEventListener: (type: string, f: (e: unknown) => void) => listeners.set(`window:${type}`, [f]) },
    // (through JSON, as the real channel does: the script's objects come from another realm)
    acquireVsCodeApi: () => ({ postMessage: (m: unknown) => posted.push(JSON.parse(JSON.stringify(m))), getState: () => state, setState: (s: unknown) => (state = JSON.parse(JSON.stringify(s))) }),
  };
  const source = readFileSync(join(ROOT, 'media', 'panel.js'), 'utf8');
  runInNewContext(source, context);
  const send = (data: unknown) => listeners.get('window:message')![0]({ data });

  assert.deepEqual(posted, [{ type: 'ready' }]);
  assert.ok(page['idt-section'].classList.contains('hide-absent'), 'empty IDT entries hidden at first');
  send({ type: 'state', phase: 'stopped', text: 'Stopped · example · vCPU 0' });
  assert.ok(body.classList.contains('state-stopped'));
  assert.equal(page.status.textContent, 'Stopped · example · vCPU 0');
  assert.equal(page['walk-submit'].disabled, false);
  send({ type: 'model', model });
  assert.ok(body.classList.contains('has-model'));
  assert.match(page.registers.innerHTML, /id="reg-cr0"/);
  assert.match(page['gdt-table'].innerHTML, /id="gdt"/);
  assert.match(page['idt-table'].innerHTML, /id="idt"/);
  assert.match(page['segments-table'].innerHTML, /id="segments"/);
  assert.match(page.facts.innerHTML, /long mode \(64-bit\)/);
  send({ type: 'state', phase: 'running', text: 'Running' });
  assert.ok(body.classList.contains('state-running') && !body.classList.contains('state-stopped'));
  assert.equal(page['walk-submit'].disabled, true);
  // the walk box
  page['walk-address'].value = ' 0x7c00 ';
  let prevented = false;
  listeners.get('walk-form:submit')![0]({ preventDefault: () => (prevented = true) });
  assert.ok(prevented);
  assert.deepEqual(posted.at(-1), { type: 'translate', address: ' 0x7c00 ' });
  send({ type: 'walking', address: '0x7c00' });
  assert.match(page['walk-result'].innerHTML, /Walking 0x7c00/);
  send({ type: 'walk', address: '0x7c00', view: shapeWalk(walkKmain) });
  assert.match(page['walk-result'].innerHTML, /id="walk-levels"/);
  assert.deepEqual(state, { address: '0x7c00' });
  page['idt-show-empty'].checked = true;
  listeners.get('idt-show-empty:change')![0]({});
  assert.ok(!page['idt-section'].classList.contains('hide-absent'));
  listeners.get('refresh:click')![0]({});
  assert.deepEqual(posted.at(-1), { type: 'refresh' });
});
