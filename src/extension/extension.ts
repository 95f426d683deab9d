// The VS Code extension's entry point: registers the `kvm` debugger (adapter factory and
// configuration provider), the views that follow kvm sessions (status bar, serial terminal,
// register panel) and the commands. It never runs a VM: the adapter (dist/adapter.js) does,
// in its own process.
import * as vscode from 'vscode';
import { KvmAdapterFactory } from './adapter-factory.js';
import { KvmConfigurationProvider } from './config-provider.js';
import { KvmSessions } from './session-tracker.js';
import { KvmStatus } from './status.js';
import { SerialTerminals } from './serial-terminal.js';
import { RegisterPanel } from './register-panel.js';
import { ScreenView } from './screen-view.js';
import { LiveWatchView } from './live-watch.js';
import { registerCommands } from './commands.js';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('KVM Debugger');
  const sessions = new KvmSessions((line) => log.appendLine(line));
  const panel = new RegisterPanel(context.extensionUri, sessions);
  const provider = new KvmConfigurationProvider();
  context.subscriptions.push(
    log,
    sessions,
    vscode.debug.registerDebugAdapterDescriptorFactory('kvm', new KvmAdapterFactory(context, log)),
    vscode.debug.registerDebugConfigurationProvider('kvm', provider, vscode.DebugConfigurationProviderTriggerKind.Initial),
    vscode.debug.registerDebugConfigurationProvider('kvm', {
      provideDebugConfigurations: (folder) => provider.provideDebugConfigurations(folder),
    }, vscode.DebugConfigurationProviderTriggerKind.Dynamic),
    new KvmStatus(sessions),
    new SerialTerminals(sessions),
    panel,
    new ScreenView(context.extensionUri),
    new LiveWatchView(context.workspaceState, sessions),
    ...registerCommands(panel, provider),
  );
}

export function deactivate(): void {}
