// Starts the debug adapter, dist/adapter.js of the installed extension, in its own Node process
// (it drives /dev/kvm through a native module; the extension host never runs a VM). Which Node:
// node-runtime.ts. A configuration with "debugServer": PORT connects to an adapter started by
// hand with `node dist/adapter.js --server=PORT` instead.
import * as vscode from 'vscode';
import { pickNodeRuntime, type NodeRuntime } from './node-runtime.js';

export class KvmAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  private runtime: NodeRuntime | undefined;
  private runtimeSetting: string | undefined;

  constructor(private readonly context: vscode.ExtensionContext, private readonly log: vscode.OutputChannel) {}

  createDebugAdapterDescriptor(session: vscode.DebugSession): vscode.DebugAdapterDescriptor {
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
    const cwd = typeof session.configuration.cwd === 'string' ? session.configuration.cwd : session.workspaceFolder?.uri.fsPath;
    this.log.appendLine(`${session.name}: ${rt.command} ${adapter} (${rt.why})${cwd ? ` in ${cwd}` : ''}`);
    return new vscode.DebugAdapterExecutable(rt.command, [adapter], { env: rt.env, ...(cwd ? { cwd } : {}) });
  }
}
