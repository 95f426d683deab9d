// The "KVM Registers" webview: decoded RFLAGS/CR0/CR3/CR4/EFER, segment caches, GDT, IDT, the
// CPU and paging mode, and a page-walk box. Its data comes only from the adapter's custom
// requests kvm.registerPanel and kvm.translate, fetched at every stop of the followed session;
// panel-model.ts shapes it and media/panel.js draws it. While the guest runs, the panel greys out.
import * as vscode from 'vscode';
import { webviewPage } from './webview-page.js';
import type { KvmSession, KvmSessions } from './session-tracker.js';
import {
  shapePanel, shapeWalk, walkError, parseAddress, type PanelModel, type RegisterPanelData, type TranslateData, type WalkView,
} from './panel-model.js';
import { KvmRequest, type TranslateArgs, type VcpuArgs } from '../protocol.js';

export const PANEL_VIEW_TYPE = 'kvmdbg.registerPanel';
export const PANEL_TITLE = 'KVM Registers';

type Phase = 'none' | 'starting' | 'running' | 'stopped' | 'ended';

type FromWebview = { type: 'ready' } | { type: 'refresh' } | { type: 'translate'; address: string };

export class RegisterPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  /** The session whose state is shown. */
  private shown: KvmSession | undefined;
  private model: PanelModel | undefined;
  private walk: { address: string; view: WalkView } | undefined;
  /** Bumped by every fetch, so a slow answer never overwrites a newer one. */
  private generation = 0;
  /** The address of the last walk asked for, walked again at every stop. */
  private walkTarget: string | undefined;
  private walkGeneration = 0;
  /** The session and stop the last walk was made at. */
  private walkedAt: { session: KvmSession; stops: number } | undefined;

  constructor(private readonly extensionUri: vscode.Uri, private readonly sessions: KvmSessions) {
    this.disposables.push(
      sessions.onEffect(({ kvm, effect }) => {
        if (!this.panel || kvm !== this.follow()) return;
        if (effect.kind === 'stopped') void this.refresh();
        else if (effect.kind === 'running' || effect.kind === 'terminated') this.postState();
      }),
      sessions.onFocus(() => {
        if (!this.panel) return;
        const k = this.follow();
        if (k && k !== this.shown && k.state.phase === 'stopped') void this.refresh();
        else this.postState();
      }),
    );
  }

  /** The session to show: the current kvm session, or the one shown until it ended. */
  private follow(): KvmSession | undefined {
    return this.sessions.current() ?? this.shown;
  }

  /** Opens the panel (or brings it forward) and shows the followed session's state. */
  show(): void {
    if (this.panel) {
      this.panel.reveal(undefined, true);
    } else {
      const media = vscode.Uri.joinPath(this.extensionUri, 'media');
      this.panel = vscode.window.createWebviewPanel(PANEL_VIEW_TYPE, PANEL_TITLE, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
        enableScripts: true,
        localResourceRoots: [media],
      });
      this.panel.webview.html = this.html(this.panel.webview);
      this.panel.webview.onDidReceiveMessage((m: FromWebview) => this.onMessage(m), undefined, this.disposables);
      this.panel.onDidDispose(() => {
        this.panel = undefined;
      }, undefined, this.disposables);
    }
    void this.refresh();
  }

  /** Walks `address` (already checked by parseAddress) and shows the result in the panel. */
  async translate(address: string): Promise<void> {
    this.show();
    await this.walkAddress(address);
  }

  private async walkAddress(address: string): Promise<void> {
    const k = this.follow();
    const gen = ++this.walkGeneration;
    this.walkTarget = address;
    this.walkedAt = k && { session: k, stops: k.state.stops };
    this.post({ type: 'walking', address });
    let view: WalkView;
    if (!k || k.state.phase === 'ended') view = walkError(address, 'no KVM debug session');
    else {
      try {
        view = shapeWalk((await k.session.customRequest(KvmRequest.translate, { address } satisfies TranslateArgs)) as TranslateData);
      } catch (e) {
        view = walkError(address, (e as Error).message);
      }
    }
    if (gen !== this.walkGeneration) return;
    this.walk = { address, view };
    this.post({ type: 'walk', address, view });
  }

  private onMessage(m: FromWebview): void {
    switch (m.type) {
      case 'ready':
        // A new or reloaded webview: give it everything it had.
        this.postState();
        if (this.model) this.post({ type: 'model', model: this.model });
        if (this.walk) this.post({ type: 'walk', address: this.walk.address, view: this.walk.view });
        break;
      case 'refresh':
        void this.refresh();
        break;
      case 'translate': {
        const a = parseAddress(String(m.address ?? ''));
        if (a.ok) void this.walkAddress(a.address);
        else this.post({ type: 'walk', address: String(m.address ?? ''), view: walkError(String(m.address ?? ''), a.message) });
        break;
      }
    }
  }

  /** Fetches kvm.registerPanel (when the guest is stopped) and redraws; re-walks the last address. */
  private async refresh(): Promise<void> {
    const k = this.follow();
    this.shown = k;
    this.postState();
    if (!this.panel || !k || k.state.phase !== 'stopped') return;
    const gen = ++this.generation;
    try {
      const data = (await k.session.customRequest(KvmRequest.registerPanel, { vcpu: k.state.vcpu } satisfies VcpuArgs)) as RegisterPanelData;
      if (gen !== this.generation) return;
      this.model = shapePanel(data);
      this.post({ type: 'model', model: this.model });
      this.postState();
    } catch (e) {
      if (gen !== this.generation) return;
      this.post({ type: 'state', phase: k.state.phase, text: `Could not read the registers: ${(e as Error).message}` });
      return;
    }
    // The last walk again, if it was made at an earlier stop (page tables may have changed).
    const at = this.walkedAt;
    if (this.walkTarget && (!at || at.session !== k || at.stops !== k.state.stops)) await this.walkAddress(this.walkTarget);
  }

  private postState(): void {
    const k = this.follow();
    const phase: Phase = k ? k.state.phase : this.model ? 'ended' : 'none';
    const name = k ? ` · ${k.session.name}` : '';
    const text: Record<Phase, string> = {
      none: 'No KVM debug session. Start one, and the panel fills in at the first stop.',
      starting: `Starting${name}`,
      running: this.model ? `Running${name}: showing the state at the last stop` : `Running${name}: pause to see the registers`,
      stopped: `Stopped${name} · vCPU ${k?.state.vcpu ?? 0}`,
      ended: `Session ended${name}: showing the state at the last stop`,
    };
    this.post({ type: 'state', phase, text: text[phase] });
  }

  private post(message: unknown): void {
    void this.panel?.webview.postMessage(message);
  }

  private html(webview: vscode.Webview): string {
    return webviewPage(webview, this.extensionUri, {
      script: 'panel.js', style: 'panel.css', title: PANEL_TITLE, bodyClass: 'state-none', images: true,
      body: `<div class="toolbar">
  <span id="status" class="status" role="status">No KVM debug session</span>
  <button id="refresh" class="secondary" type="button" title="Read the registers again">Refresh</button>
</div>
<main id="content">
  <p class="empty-hint">The registers appear here when the guest stops.</p>
  <section id="facts-section"><div id="facts"></div></section>
  <section id="walk-section">
    <h2>Page walk</h2>
    <form id="walk-form">
      <input id="walk-address" type="text" spellcheck="false" placeholder="linear address, e.g. 0xffffffff80000000" aria-label="Linear address to translate">
      <button id="walk-submit" type="submit">Translate</button>
    </form>
    <div id="walk-result"></div>
  </section>
  <section id="registers-section"><h2>Flags and control registers</h2><div id="registers"></div></section>
  <section id="segments-section"><div id="segments-table"></div></section>
  <section id="gdt-section"><div id="gdt-table"></div></section>
  <section id="idt-section">
    <label class="idt-options"><input id="idt-show-empty" type="checkbox"> Show empty IDT entries</label>
    <div id="idt-table"></div>
  </section>
</main>`,
    });
  }

  dispose(): void {
    this.panel?.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
