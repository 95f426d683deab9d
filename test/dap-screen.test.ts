// The text screen and the keyboard over DAP: kvm.screen events (changed rows with their
// attributes, the cursor) at a stop and while the guest runs, the kvm.screen request's whole
// screen, and kvm.keys typing into a guest's keyboard IRQ driver (test/guests/screen).
import './support/needs-kvm.js';
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import { buildScreenKernel } from './guests/screen/build.js';
import { buildDist } from './support/cli.js';
import { hex, launch, newClient, nm, stopped } from './support/dap.js';
import { iret32Variant } from './support/host-facts.js';
import type { ScreenBody } from '../src/protocol.js';

let screen = '';

before(() => {
  screen = buildScreenKernel('screen');
  buildDist();
});

/** The screen as the events told it: rows of text and attributes, and the cursor. */
class ScreenModel {
  text: string[] = Array(25).fill('');
  attrs: Buffer[] = Array.from({ length: 25 }, () => Buffer.alloc(80));
  cursor = { row: -1, col: -1, hidden: true };
  events = 0;
  apply(b: ScreenBody): void {
    this.events++;
    for (const r of b.changed) {
      this.text[r.row] = r.text.trimEnd();
      this.attrs[r.row] = Buffer.from(r.attrs, 'base64');
    }
    this.cursor = b.cursor;
  }
}

function follow(dc: DebugClient): ScreenModel {
  const m = new ScreenModel();
  dc.on('kvm.screen', (e: DebugProtocol.Event) => m.apply(e.body as ScreenBody));
  return m;
}

async function withClient(f: (dc: DebugClient) => Promise<void>): Promise<void> {
  const dc = newClient();
  await dc.start();
  try {
    await f(dc);
  } finally {
    await dc.stop();
  }
}

const EXPECTED_LINES = [
  'Hello, screen', 'line 06   ╔═╗',
  ...Array.from({ length: 23 }, (_, i) => `line ${String(i + 7).padStart(2, '0')}`),
];

test('kvm.screen events carry the rows, attributes and cursor at a stop; the request answers the whole screen', () =>
  withClient(async (dc) => {
    const model = follow(dc);
    const syms = nm(screen);
    await launch(dc, { program: screen }, () =>
      dc.customRequest('setInstructionBreakpoints', { breakpoints: [{ instructionReference: hex(syms.done) }] }));
    const s = await stopped(dc);
    assert.equal(s.body.reason, 'instruction breakpoint');
    assert.deepEqual(model.text, EXPECTED_LINES);
    assert.equal(model.attrs[0][0], 0x1f);
    assert.equal(model.attrs[1][10], 0x4e);
    assert.equal(model.attrs[24][0], 0x07);
    assert.deepEqual(model.cursor, { row: 24, col: 7, hidden: false });
    const full = (await dc.customRequest('kvm.screen')).body as ScreenBody;
    assert.equal(full.changed.length, 25);
    assert.deepEqual(full.changed.map((r) => r.text.trimEnd()), EXPECTED_LINES);
    assert.equal(full.changed[0].text.length, 80);
    assert.deepEqual(full.cursor, { row: 24, col: 7, hidden: false });
  }));

test('kvm.keys reaches the guest\'s keyboard while it runs; kvm.screen events follow while it runs', async (t) => {
  const kbd = buildScreenKernel('kbd', await iret32Variant(t));
  await withClient(async (dc) => {
    const model = follow(dc);
    let output = '';
    dc.on('output', (e: DebugProtocol.OutputEvent) => (output += e.body.output));
    await launch(dc, { program: kbd });
    const until = async (what: string, ok: () => boolean) => {
      for (let i = 0; i < 2000 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(ok(), `${what}; output so far: ${output}`);
    };
    await until('the guest said ready', () => output.includes('ready\n'));
    await dc.customRequest('kvm.keys', { text: 'ok' });
    await until('the screen showed the scan codes', () => model.text[0] === '18 98 25 a5');
    const exited = dc.waitForEvent('exited');
    await dc.customRequest('kvm.keys', { keys: ['Escape'] });
    const e = await exited;
    assert.equal(e.body.exitCode, 0x21);
    assert.ok(output.includes('ready\n18 98 25 a5 01 81 \n'), output);
    assert.equal(model.text[0], '18 98 25 a5 01 81');
  });
});

test('keys typed into the serial terminal (kvm.serialInput) reach the keyboard with "keys": "keyboard", escape sequences as keys', async (t) => {
  const kbd = buildScreenKernel('kbd', await iret32Variant(t));
  await withClient(async (dc) => {
    const model = follow(dc);
    let output = '';
    dc.on('output', (e: DebugProtocol.OutputEvent) => (output += e.body.output));
    await launch(dc, { program: kbd, keys: 'keyboard' });
    const until = async (what: string, ok: () => boolean) => {
      for (let i = 0; i < 2000 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(ok(), `${what}; output so far: ${output}`);
    };
    await until('the guest said ready', () => output.includes('ready\n'));
    // As the terminal sends them: bytes, base64. "o", "k", then ESC alone is the Escape key.
    await dc.customRequest('kvm.serialInput', { data: Buffer.from('ok').toString('base64') });
    await until('the screen showed the scan codes', () => model.text[0] === '18 98 25 a5');
    const exited = dc.waitForEvent('exited');
    await dc.customRequest('kvm.serialInput', { data: Buffer.from('\x1b').toString('base64') });
    assert.equal((await exited).body.exitCode, 0x21);
    assert.ok(output.includes('ready\n18 98 25 a5 01 81 \n'), output);
  });
});
