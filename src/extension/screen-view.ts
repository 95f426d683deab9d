// The "KVM Screen" webview: the guest's VGA text screen, from the adapter's kvm.screen events
// (the rows that changed and the cursor), drawn by media/screen.js in the 16 VGA colours with a
// blinking cursor. Keys typed into it go to the guest's keyboard through kvm.keys. It follows
// the active kvm session (or the last one); the command kvmdbg.showScreen opens it, and it opens
// by itself when a session's screen first changes unless the setting
// kvmdbg.screen.openAutomatically is false. After the session ends it keeps the last screen.
import * as vscode from 'vscode';
import { webviewPage } from './webview-page.js';
import { KvmEvent, KvmRequest, type KeysArgs, type ScreenBody } from '../protocol.js';

export const SCREEN_VIEW_TYPE = 'kvmdbg.screen';
export const SCREEN_TITLE = 'KVM Screen';
export const SHOW_SCREEN_COMMAND = 'kvmdbg.showScreen';

type FromWebview = { type: 'ready' } | { type: 'keys'; keys: string[] };

/** What one session's screen looks like now, merged from its events. */
interface Screen {
  session: vscode.DebugSession;
  rows: ScreenBody['changed'];
  cursor: ScreenBody['cursor'];
  blink: boolean;
  ended: boolean;
}

export class ScreenView implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private readonly screens = new Map<string, Screen>();
  /** The session shown. */
  private shown: Screen | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly extensionUri: vscode.Uri) {
    this.disposables.push(
      vscode.commands.registerCommand(SHOW_SCREEN_COMMAND, () => this.show()),
      vscode.debug.onDidReceiveDebugSessionCustomEvent((e) => {
        if (e.session.type === 'kvm' && e.event === KvmEvent.screen) this.onScreen(e.session, e.body as ScreenBody);
      }),
      vscode.debug.onDidChangeActiveDebugSession((s) => {
        const k = s && this.screens.get(s.id);
        if (k && k !== this.shown) this.showScreen(k);
      }),
      vscode.debug.onDidTerminateDebugSession((s) => {
        const k = this.screens.get(s.id);
        if (!k) return;
        k.ended = true;
        if (k === this.shown) this.postState();
        this.screens.delete(s.id);
      }),
    );
  }

  private onScreen(session: vscode.DebugSession, body: ScreenBody): void {
    let k = this.screens.get(session.id);
    const first = !k;
    if (!k) {
      k = { session, rows: [], cursor: body.cursor, blink: body.blink, ended: false };
      this.screens.set(session.id, k);
    }
    for (const r of body.changed) k.rows[r.row] = r;
    k.cursor = body.cursor;
    k.blink = body.blink;
    const followed = !this.shown || this.shown === k || this.shown.ended || vscode.debug.activeDebugSession?.id === session.id;
    if (first && !this.panel && vscode.workspace.getConfiguration('kvmdbg').get<boolean>('screen.openAutomatically', true)) {
      this.shown = k;
      this.show();
      return;
    }
    if (!followed) return;
    if (this.shown !== k) this.showScreen(k);
    else this.post({ type: 'screen', body });
  }

  /** Opens the view (or brings it forward) on the followed session's screen. */
  show(): void {
    if (this.panel) {
      this.panel.reveal(undefined, true);
      return;
    }
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    this.panel = vscode.window.createWebviewPanel(SCREEN_VIEW_TYPE, SCREEN_TITLE, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
      enableScripts: true,
      localResourceRoots: [media],
      retainContextWhenHidden: true,
    });
    this.panel.webview.html = this.html(this.panel.webview);
    this.panel.webview.onDidReceiveMessage((m: FromWebview) => this.onMessage(m), undefined, this.disposables);
    this.panel.onDidDispose(() => (this.panel = undefined), undefined, this.disposables);
  }

  private onMessage(m: FromWebview): void {
    if (m.type === 'ready') {
      const active = vscode.debug.activeDebugSession;
      const k = (active && this.screens.get(active.id)) ?? this.shown ?? [...this.screens.values()].pop();
      if (k) this.showScreen(k);
      else this.postState();
      // A view opened before any event: ask the active kvm session for its screen.
      if (!k && active?.type === 'kvm') void this.fetch(active);
    } else if (m.type === 'keys') {
      const k = this.shown;
      if (!k || k.ended || !Array.isArray(m.keys)) return;
      k.session.customRequest(KvmRequest.keys, { keys: m.keys.map(String) } satisfies KeysArgs).then(undefined, (e: Error) => {
        void vscode.window.showWarningMessage(`KVM screen: the keys did not reach the guest: ${e.message}`);
      });
    }
  }

  private async fetch(session: vscode.DebugSession): Promise<void> {
    try {
      const body = (await session.customRequest(KvmRequest.screen)) as ScreenBody | undefined;
      if (body && body.changed) this.onScreen(session, body);
    } catch {
      // no screen yet: events will bring it
    }
  }

  /** Shows `k`'s whole screen. */
  private showScreen(k: Screen): void {
    this.shown = k;
    this.postState();
    const changed = k.rows.filter((r) => r !== undefined);
    this.post({ type: 'screen', body: { cols: 80, rows: 25, changed, cursor: k.cursor, blink: k.blink } satisfies ScreenBody });
  }

  private postState(): void {
    const k = this.shown;
    const text = !k ? 'No KVM screen yet: it appears when the guest writes to the VGA text screen.'
      : k.ended ? `${k.session.name}: session ended (the last screen)` : `${k.session.name}: click the screen and type to send keys`;
    this.post({ type: 'state', phase: !k ? 'none' : k.ended ? 'ended' : 'running', text });
  }

  private post(message: unknown): void {
    void this.panel?.webview.postMessage(message);
  }

  private html(webview: vscode.Webview): string {
    return webviewPage(webview, this.extensionUri, {
      script: 'screen.js', style: 'screen.css', title: SCREEN_TITLE, bodyClass: 'state-none',
      body: `<div class="toolbar"><span id="status" class="status" role="status">No KVM screen yet</span></div>
<div id="screen" tabindex="0" role="application" aria-label="Guest text screen: type here to send keys to the guest"></div>`,
    });
  }

  dispose(): void {
    this.panel?.dispose();
    for (const d of this.disposables) d.dispose();
  }
}
