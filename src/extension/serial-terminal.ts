// The guest's COM1 in a VS Code terminal, for sessions whose launch configuration says
// "serial": "terminal" (the configuration provider makes that the default in VS Code). The
// terminal is named "KVM serial: <session name>"; it shows the kvm.serial event bytes as they are
// (escape sequences work; a lone \n becomes \r\n), sends what is typed to the guest with the
// kvm.serialInput request, and stays open after the guest exits, ending with its exit status.
// It opens when the launch succeeded or the guest first wrote to COM1, never for a launch that
// failed. The next session of the same name reuses it.
import * as vscode from 'vscode';
import type { KvmSession, KvmSessions } from './session-tracker.js';
import { SerialDecoder, exitLine, serialInputArgs } from './serial-decoder.js';
import { KvmRequest } from '../protocol.js';

export const terminalName = (sessionName: string) => `KVM serial: ${sessionName}`;

class SerialPty implements vscode.Pseudoterminal {
  private readonly writer = new vscode.EventEmitter<string>();
  readonly onDidWrite = this.writer.event;
  private opened = false;
  closed = false;
  private pending: string[] = [];
  /** The session typed keys go to; undefined once it ended. */
  session: vscode.DebugSession | undefined;
  decoder = new SerialDecoder();

  open(): void {
    this.opened = true;
    for (const t of this.pending) this.writer.fire(t);
    this.pending = [];
  }

  close(): void {
    this.closed = true;
  }

  handleInput(data: string): void {
    const s = this.session;
    if (!s) return;
    s.customRequest(KvmRequest.serialInput, serialInputArgs(data)).then(undefined, () => {
      // the guest is gone; nothing to tell it
    });
  }

  write(text: string): void {
    if (!text) return;
    if (this.opened) this.writer.fire(text);
    else this.pending.push(text);
  }

  dispose(): void {
    this.writer.dispose();
  }
}

interface Entry {
  name: string;
  pty: SerialPty;
  terminal: vscode.Terminal;
  /** Whether the exit line was written for the current session. */
  finished: boolean;
}

export class SerialTerminals implements vscode.Disposable {
  /** By session id, while the session lives. */
  private readonly bySession = new Map<string, Entry>();
  /** By terminal name, once the session ended: reused by the next session of that name. */
  private readonly idle = new Map<string, Entry>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(sessions: KvmSessions) {
    this.disposables.push(
      sessions.onEffect(({ kvm, effect }) => {
        let e = this.bySession.get(kvm.session.id);
        // The terminal opens once the launch succeeded (a failed launch opens nothing), or with
        // the first serial output (which also reopens one the user closed).
        if (!e && effect.kind === 'launched' && kvm.session.configuration.serial === 'terminal') e = this.open(kvm);
        if (!e && effect.kind === 'serial' && kvm.state.phase !== 'ended') e = this.open(kvm);
        if (!e) return;
        switch (effect.kind) {
          case 'serial':
            e.pty.write(e.pty.decoder.push(effect.data));
            break;
          case 'restarting':
            e.pty.write(e.pty.decoder.flush() + '\r\n\x1b[2m[kvmdbg] restarting the guest\x1b[0m\r\n');
            e.finished = false;
            break;
          case 'exited':
            e.pty.write(e.pty.decoder.flush() + exitLine(effect.code, kvm.session.name));
            e.finished = true;
            break;
          case 'terminated':
            if (!e.finished) e.pty.write(e.pty.decoder.flush() + exitLine(undefined, kvm.session.name));
            e.pty.session = undefined;
            this.bySession.delete(kvm.session.id);
            if (!e.pty.closed) this.idle.set(e.name, e);
            break;
        }
      }),
      vscode.window.onDidCloseTerminal((t) => {
        for (const [id, e] of this.bySession) {
          if (e.terminal === t) {
            this.bySession.delete(id);
            e.pty.dispose();
          }
        }
        for (const [name, e] of this.idle) {
          if (e.terminal === t) {
            this.idle.delete(name);
            e.pty.dispose();
          }
        }
      }),
    );
  }

  private open(k: KvmSession): Entry {
    const name = terminalName(k.session.name);
    let e = this.idle.get(name);
    if (e && !e.pty.closed) {
      this.idle.delete(name);
      e.pty.decoder = new SerialDecoder();
      e.pty.write('\r\n\x1b[2m[kvmdbg] new session\x1b[0m\r\n');
    } else {
      const pty = new SerialPty();
      const terminal = vscode.window.createTerminal({ name, pty, isTransient: true, iconPath: new vscode.ThemeIcon('vm') });
      e = { name, pty, terminal, finished: false };
    }
    e.finished = false;
    e.pty.session = k.session;
    this.bySession.set(k.session.id, e);
    e.terminal.show(true);
    return e;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
