// The "KVM Live Watch" view in Run and Debug: expressions whose values update while the guest
// runs, as cortex-debug's Live Watch does. Values come from the adapter's kvm.liveWatch request,
// asked every kvmdbg.liveWatch.refreshInterval ms while a kvm session is active (running or
// stopped) and once at each stop; one request at a time. The expressions are kept in
// workspaceState. The model (what is shown, what changed) is live-watch-model.ts, without vscode.
import * as vscode from 'vscode';
import type { KvmSession, KvmSessions } from './session-tracker.js';
import { LiveWatchModel, LIVE_WATCH_STATE_KEY, refreshInterval, type LiveWatchRow } from './live-watch-model.js';
import { KvmRequest, type LiveWatchArgs, type LiveWatchBody } from '../protocol.js';

export const LIVE_WATCH_VIEW = 'kvmdbg.liveWatch';
export const LIVE_WATCH_COMMANDS = {
  add: 'kvmdbg.liveWatch.add',
  edit: 'kvmdbg.liveWatch.edit',
  remove: 'kvmdbg.liveWatch.remove',
  removeAll: 'kvmdbg.liveWatch.removeAll',
  refresh: 'kvmdbg.liveWatch.refresh',
} as const;

export class LiveWatchView implements vscode.TreeDataProvider<LiveWatchRow>, vscode.Disposable {
  private readonly model: LiveWatchModel;
  private readonly changed = new vscode.EventEmitter<LiveWatchRow | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private timerMs = 0;
  private inFlight = false;
  /** The session the values were read from. */
  private shownFrom: KvmSession | undefined;

  constructor(private readonly state: vscode.Memento | undefined, private readonly sessions: KvmSessions) {
    this.model = new LiveWatchModel(state?.get(LIVE_WATCH_STATE_KEY));
    this.disposables.push(
      this.changed,
      vscode.window.registerTreeDataProvider(LIVE_WATCH_VIEW, this),
      vscode.commands.registerCommand(LIVE_WATCH_COMMANDS.add, (text?: unknown) => this.add(text)),
      vscode.commands.registerCommand(LIVE_WATCH_COMMANDS.edit, (row?: LiveWatchRow) => this.edit(row)),
      vscode.commands.registerCommand(LIVE_WATCH_COMMANDS.remove, (row?: LiveWatchRow) => this.remove(row)),
      vscode.commands.registerCommand(LIVE_WATCH_COMMANDS.removeAll, () => this.change(() => this.model.removeAll())),
      vscode.commands.registerCommand(LIVE_WATCH_COMMANDS.refresh, () => this.refresh()),
      sessions.onEffect(({ kvm, effect }) => {
        if (kvm !== this.sessions.current()) return;
        if (effect.kind === 'stopped') void this.refresh();
        this.schedule();
      }),
      sessions.onFocus(() => this.schedule()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('kvmdbg.liveWatch.refreshInterval')) this.schedule();
      }),
    );
  }

  // --- the tree ----------------------------------------------------------------------------

  getChildren(row?: LiveWatchRow): LiveWatchRow[] {
    return row ? [] : [...this.model.list];
  }

  getTreeItem(row: LiveWatchRow): vscode.TreeItem {
    const { label, description, tooltip } = LiveWatchModel.label(row);
    const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.None);
    item.id = String(row.id);
    item.description = row.changed ? `${description} ●` : description;
    item.tooltip = tooltip;
    item.contextValue = 'liveWatchExpression';
    item.iconPath = row.error !== undefined ? new vscode.ThemeIcon('warning')
      : row.changed ? new vscode.ThemeIcon('circle-filled', new vscode.ThemeColor('debugIcon.breakpointForeground'))
      : new vscode.ThemeIcon('eye');
    item.command = { command: LIVE_WATCH_COMMANDS.edit, title: 'Edit Expression', arguments: [row] };
    return item;
  }

  // --- commands ----------------------------------------------------------------------------

  private async add(text?: unknown): Promise<void> {
    const expression = typeof text === 'string' ? text : await vscode.window.showInputBox({
      title: 'KVM Live Watch', prompt: 'An expression to watch while the guest runs (C, as in the Debug Console)',
      placeHolder: '*(uint32_t *)0x1000, counter, table[2], $rax',
      validateInput: (t) => (t.trim() ? undefined : 'an expression'),
    });
    if (expression === undefined) return;
    const error = this.model.add(expression);
    if (error) return void vscode.window.showErrorMessage(`Live Watch: ${error}`);
    this.persist();
    void this.refresh();
  }

  /** The row a command acts on: its argument (the view's item), else one picked from a list. */
  private async pick(row: LiveWatchRow | undefined, title: string): Promise<LiveWatchRow | undefined> {
    if (row && typeof row.id === 'number') return row;
    const rows = this.model.list;
    if (!rows.length) return undefined;
    const picked = await vscode.window.showQuickPick(rows.map((r) => ({ label: r.expression, row: r })), { title });
    return picked?.row;
  }

  private async edit(arg?: LiveWatchRow): Promise<void> {
    const row = await this.pick(arg, 'Edit which live watch expression?');
    if (!row) return;
    const text = await vscode.window.showInputBox({ title: 'KVM Live Watch', prompt: 'Edit the expression', value: row.expression });
    if (text === undefined) return;
    const error = this.model.edit(row.id, text);
    if (error) return void vscode.window.showErrorMessage(`Live Watch: ${error}`);
    this.persist();
    void this.refresh();
  }

  private async remove(arg?: LiveWatchRow): Promise<void> {
    const row = await this.pick(arg, 'Remove which live watch expression?');
    if (row) this.change(() => this.model.remove(row.id));
  }

  private change(f: () => void): void {
    f();
    this.persist();
  }

  private persist(): void {
    void this.state?.update(LIVE_WATCH_STATE_KEY, this.model.persisted());
    this.changed.fire(undefined);
  }

  // --- refreshing --------------------------------------------------------------------------

  /** The session to read from: the current kvm session while it runs or is stopped. */
  private active(): KvmSession | undefined {
    const k = this.sessions.current();
    return k && (k.state.phase === 'running' || k.state.phase === 'stopped') ? k : undefined;
  }

  /** Starts, restarts or stops the timer to match the session and the setting. */
  private schedule(): void {
    const ms = refreshInterval(vscode.workspace.getConfiguration('kvmdbg').get('liveWatch.refreshInterval'));
    const want = this.active() !== undefined;
    if (want && this.timer && ms === this.timerMs) return;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (want) {
      this.timerMs = ms;
      this.timer = setInterval(() => void this.refresh(), ms);
      this.timer.unref?.();
      void this.refresh();
    } else if (this.shownFrom) {
      this.shownFrom = undefined;
      this.model.clearValues();
      this.changed.fire(undefined);
    }
  }

  /** Asks the adapter for every expression's value, unless a request is still out. */
  private async refresh(): Promise<void> {
    const k = this.active();
    const asked = this.model.expressions;
    if (!k || this.inFlight || !asked.length) return;
    this.inFlight = true;
    try {
      const body = (await k.session.customRequest(KvmRequest.liveWatch, { expressions: asked } satisfies LiveWatchArgs)) as LiveWatchBody;
      this.shownFrom = k;
      if (this.model.update(asked, body.values)) this.changed.fire(undefined);
    } catch (e) {
      // the session ended, or the adapter refused the request as a whole: every row says why
      if (this.active() === k && this.model.update(asked, asked.map(() => ({ error: (e as Error).message })))) this.changed.fire(undefined);
    } finally {
      this.inFlight = false;
    }
  }

  dispose(): void {
    if (this.timer) clearInterval(this.timer);
    for (const d of this.disposables) d.dispose();
  }
}
