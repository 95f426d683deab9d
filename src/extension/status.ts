// The status bar item shown while a kvm session lives: the host's KVM implementation (from the
// kvm.host event, or the kvm.hostInfo request if the event was missed) and the CPU mode at the
// last stop (kvm.mode), e.g. "KVM kvm_pvm · long mode (64-bit)". Clicking opens the register panel.
// Beside it, while a history is recorded (kvm.history), the position in it.
import * as vscode from 'vscode';
import type { KvmSession, KvmSessions } from './session-tracker.js';
import { historyText, statusText, statusTooltip } from './session-state.js';
import { KvmRequest } from '../protocol.js';

export const STATUS_ITEM_ID = 'kvmdbg.status';
export const HISTORY_ITEM_ID = 'kvmdbg.history';

export class KvmStatus implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly historyItem: vscode.StatusBarItem;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly asked = new Set<string>();

  constructor(private readonly sessions: KvmSessions) {
    this.item = vscode.window.createStatusBarItem(STATUS_ITEM_ID, vscode.StatusBarAlignment.Left, 50);
    this.item.name = 'KVM Debugger';
    this.item.command = 'kvmdbg.showRegisterPanel';
    this.historyItem = vscode.window.createStatusBarItem(HISTORY_ITEM_ID, vscode.StatusBarAlignment.Left, 49);
    this.historyItem.name = 'KVM Debugger: recorded history';
    this.disposables.push(
      this.item,
      this.historyItem,
      sessions.onEffect(({ kvm, effect }) => {
        if (effect.kind === 'stopped' && !kvm.state.host) void this.askHost(kvm);
        if (effect.kind !== 'serial' && effect.kind !== 'output') this.update();
      }),
      sessions.onFocus(() => this.update()),
    );
  }

  /** The kvm.host event comes during launch; a session that somehow missed it asks. */
  private async askHost(kvm: KvmSession): Promise<void> {
    if (this.asked.has(kvm.session.id)) return;
    this.asked.add(kvm.session.id);
    try {
      const info = await kvm.session.customRequest(KvmRequest.hostInfo);
      if (info && typeof info.kind === 'string') {
        kvm.state.host = { kind: info.kind, label: String(info.label ?? info.kind) };
        this.update();
      }
    } catch {
      // the session ended meanwhile
    }
  }

  private update(): void {
    const k = this.sessions.current();
    const h = k && historyText(k.state);
    if (h) {
      this.historyItem.text = h.text;
      this.historyItem.tooltip = h.tooltip;
      this.historyItem.show();
    } else {
      this.historyItem.hide();
    }
    if (!k || k.state.phase === 'ended') {
      this.item.hide();
      return;
    }
    this.item.text = statusText(k.state);
    this.item.tooltip = statusTooltip(k.state, k.session.name);
    this.item.show();
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
