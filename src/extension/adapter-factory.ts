// Starts the debug adapter, dist/adapter.js of the installed extension, in its own Node process
// (it drives /dev/kvm through a native module; the extension host never runs a VM). Which Node:
// node-runtime.ts. A configuration with "debugServer": PORT connects to an adapter started by
// hand with `node dist/adapter.js --server=PORT` instead. Before starting it, adapter-check.ts
// asks whether it can run here (Linux x86-64, a Node that loads koffi); where it can't, the
// session gets an adapter inside the extension that fails the launch with the reason, which VS
// Code shows, and the Output channel logs it.
import * as vscode from 'vscode';
import { pickNodeRuntime, type NodeRuntime } from './node-runtime.js';
import { adapterProblem, failedAdapterReplies } from './adapter-check.js';

/** A debug adapter that only says why the real one cannot start (adapter-check.ts). */
class FailedAdapter implements vscode.DebugAdapter {
  private readonly emitter = new vscode.EventEmitter<vscode.DebugProtocolMessage>();
  readonly onDidSendMessage = this.emitter.event;
  private seq = 1;

  constructor(private readonly problem: string) {}

  handleMessage(message: vscode.DebugProtocolMessage): void {
    for (const m of failedAdapterReplies(message as { type?: string }, this.problem, () => this.seq++)) this.emitter.fire(m);
  }

  dispose(): void {
    this.emitter.dispose();
  }
}

export class KvmAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  private runtime: NodeRuntime | undefined;
  private runtimeSetting: string | undefined;
  /** Runtimes that loaded the adapter's native module (checked once each). */
  private readonly checked = new Set<string>();

  constructor(private readonly context: vscode.ExtensionContext, private readonly log: vscode.OutputChannel) {}

  async createDebugAdapterDescriptor(session: vscode.DebugSession): Promise<vscode.DebugAdapterDescriptor> {
    const port = session.configuration.debugServer;
    if (typeof port === 'number') {
      this.log.appendLine(`${session.name}: connecting to the adapter on port ${port}`);
      return new vscode.DebugAdapterServer(port);
    }
    const setting = vscode.workspace.getConfiguration('kvmdbg').get<string>('nodePath') || undefined;
    if (!this.runtime || setting !== this.runtimeSetting) {
      this.runtime = pickNodeRuntime({ setting });
      this.runtimeSetting = setting;
    }
    const rt = this.runtime;
    const adapter = this.context.asAbsolutePath('dist/adapter.js');
    const key = `${rt.command}\0${adapter}`;
    if (!this.checked.has(key)) {
      const problem = await adapterProblem(rt, adapter);
      if (problem) {
        this.log.appendLine(`${session.name}: not starting the adapter (${rt.command}, ${rt.why}): ${problem}`);
        return new vscode.DebugAdapterInlineImplementation(new FailedAdapter(problem));
      }
      this.checked.add(key);
    }
    const cwd = typeof session.configuration.cwd === 'string' ? session.configuration.cwd : session.workspaceFolder?.uri.fsPath;
    this.log.appendLine(`${session.name}: ${rt.command} ${adapter} (${rt.why})${cwd ? ` in ${cwd}` : ''}`);
    return new vscode.DebugAdapterExecutable(rt.command, [adapter], { env: rt.env, ...(cwd ? { cwd } : {}) });
  }
}
