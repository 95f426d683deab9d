// "KVM: Create launch.json" (the Run and Debug view's welcome links to it): adds a kvm launch
// configuration to the folder's .vscode/launch.json, guessed from the guests built in the folder
// (config-provider.ts) or the usual build/kernel.img, and opens the file. A folder that already
// has a kvm configuration gets its launch.json opened, unchanged.
import * as vscode from 'vscode';
import type { KvmConfigurationProvider } from './config-provider.js';

/** What package.json's initialConfigurations offers: the configuration when no guest is found. */
export const DEFAULT_LAUNCH: vscode.DebugConfiguration = {
  type: 'kvm',
  request: 'launch',
  name: 'KVM: Debug guest',
  program: '${workspaceFolder}/build/kernel.img',
  stopOnEntry: true,
  serial: 'terminal',
};

export async function createLaunchJson(provider: KvmConfigurationProvider): Promise<vscode.Uri | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (!folders.length) {
    void vscode.window.showErrorMessage('KVM: open a folder first: launch.json lives in its .vscode folder.');
    return undefined;
  }
  const folder = folders.length === 1
    ? folders[0]
    : await vscode.window.showWorkspaceFolderPick({ placeHolder: 'The folder whose launch.json gets a KVM configuration' });
  if (!folder) return undefined;
  const launch = vscode.workspace.getConfiguration('launch', folder.uri);
  const existing = launch.inspect<vscode.DebugConfiguration[]>('configurations')?.workspaceFolderValue ?? [];
  if (!existing.some((c) => c?.type === 'kvm')) {
    const [guessed] = await provider.provideDebugConfigurations(folder);
    if (launch.inspect<string>('version')?.workspaceFolderValue === undefined) {
      await launch.update('version', '0.2.0', vscode.ConfigurationTarget.WorkspaceFolder);
    }
    await launch.update('configurations', [...existing, guessed ?? DEFAULT_LAUNCH], vscode.ConfigurationTarget.WorkspaceFolder);
  }
  const uri = vscode.Uri.joinPath(folder.uri, '.vscode', 'launch.json');
  await vscode.window.showTextDocument(uri);
  return uri;
}
