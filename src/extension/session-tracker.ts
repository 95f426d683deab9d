// Follows every kvm debug session through a DebugAdapterTracker (it sees each DAP message in
// order, before VS Code acts on it) and tells the views: the status bar, the serial terminals and
// the register panel. The state itself is session-state.ts, which has no vscode import. What went
// wrong goes to the log (the Output channel): a launch the adapter refused, with its reason, and
// an adapter that ended before the session did.
import * as vscode from 'vscode';
import { adapterExited, fromAdapter, fromClient, initialState, type Effect, type SessionState } from './session-state.js';

export interface KvmSession {
  session: vscode.DebugSession;
  state: SessionState;
}

export interface SessionEffect {
  kvm: KvmSession;
  effect: Effect;
}

export class KvmSessions implements vscode.Disposable {
  private readonly live = new Map<string, KvmSession>();
  /** The kvm session the views follow when the active debug session is not a kvm one. */
  private lastFocused: KvmSession | undefined;
  private readonly effects = new vscode.EventEmitter<SessionEffect>();
  private readonly started = new vscode.EventEmitter<KvmSession>();
  private readonly focused = new vscode.EventEmitter<KvmSession | undefined>();
  private readonly disposables: vscode.Disposable[] = [];

  /** Everything that happens in any kvm session, in order. */
  readonly onEffect = this.effects.event;
  /** A kvm session is about to start its adapter (before any message). */
  readonly onStart = this.started.event;
  /** The session the views follow changed. */
  readonly onFocus = this.focused.event;

  constructor(private readonly log: (line: string) => void = () => {}) {
    this.disposables.push(
      this.effects, this.started, this.focused,
      vscode.debug.registerDebugAdapterTrackerFactory('kvm', {
        createDebugAdapterTracker: (session) => this.track(session),
      }),
      vscode.debug.onDidTerminateDebugSession((s) => {
        const k = this.live.get(s.id);
        if (k) this.emit(k, adapterExited(k.state));
      }),
      vscode.debug.onDidChangeActiveDebugSession((s) => {
        const k = s && this.live.get(s.id);
        if (k) this.lastFocused = k;
        this.focused.fire(this.current());
      }),
    );
  }

  private track(session: vscode.DebugSession): vscode.DebugAdapterTracker {
    const k: KvmSession = { session, state: initialState() };
    this.live.set(session.id, k);
    this.lastFocused = k;
    this.started.fire(k);
    this.focused.fire(k);
    return {
      onWillReceiveMessage: (m) => this.emit(k, fromClient(k.state, m)),
      onDidSendMessage: (m) => this.emit(k, fromAdapter(k.state, m)),
      onExit: (code, signal) => {
        if (k.state.phase !== 'ended' && (code || signal)) {
          this.log(`${session.name}: the debug adapter ended ${signal ? `on signal ${signal}` : `with status ${code}`}${k.state.launched === undefined ? ' before it answered the launch' : ''}`);
        }
        this.emit(k, adapterExited(k.state));
      },
      onError: (e) => this.log(`${session.name}: the debug adapter: ${e.message}`),
    };
  }

  private emit(k: KvmSession, effects: Effect[]): void {
    for (const effect of effects) {
      if (effect.kind === 'launchFailed') this.log(`${k.session.name}: the launch failed: ${effect.message}`);
      this.effects.fire({ kvm: k, effect });
      if (effect.kind === 'terminated') this.ended(k);
    }
  }

  /** Forgets an ended session once the views have heard about it. */
  private ended(k: KvmSession): void {
    this.live.delete(k.session.id);
    if (this.lastFocused === k) this.lastFocused = [...this.live.values()].pop();
    this.focused.fire(this.current());
  }

  /** The kvm session the views show: the active debug session if it is one, else the last one. */
  current(): KvmSession | undefined {
    const active = vscode.debug.activeDebugSession;
    const k = active && this.live.get(active.id);
    return k ?? this.lastFocused;
  }

  get(session: vscode.DebugSession): KvmSession | undefined {
    return this.live.get(session.id);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
