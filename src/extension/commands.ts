// The commands: "KVM: Show Register Panel", "KVM: Translate Address" and "KVM: Create launch.json"
// (launch-json.ts). Translate takes an address argument (a string, or a variable from the
// Variables view's context menu) or asks for one. package.json shows the first two in the
// Command Palette only during a kvm debug session.
import * as vscode from 'vscode';
import type { RegisterPanel } from './register-panel.js';
import type { KvmConfigurationProvider } from './config-provider.js';
import { parseAddress } from './panel-model.js';
import { createLaunchJson } from './launch-json.js';

export const COMMANDS = {
  showRegisterPanel: 'kvmdbg.showRegisterPanel',
  translateAddress: 'kvmdbg.translateAddress',
  createLaunchJson: 'kvmdbg.createLaunchJson',
} as const;

/** An address from a command argument: '0x1000', or a Variables view item ({ variable: { value, memoryReference } }). */
export function addressArgument(arg: unknown): string | undefined {
  if (typeof arg === 'string' || typeof arg === 'number' || typeof arg === 'bigint') {
    const a = parseAddress(String(arg));
    return a.ok ? a.address : undefined;
  }
  const v = (arg as { variable?: { memoryReference?: unknown; value?: unknown } } | undefined)?.variable;
  if (!v) return undefined;
  for (const text of [v.memoryReference, typeof v.value === 'string' ? v.value.split(/\s/)[0] : undefined]) {
    if (typeof text !== 'string') continue;
    const a = parseAddress(text);
    if (a.ok) return a.address;
  }
  return undefined;
}

export function registerCommands(panel: RegisterPanel, provider: KvmConfigurationProvider): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand(COMMANDS.createLaunchJson, () => createLaunchJson(provider)),
    vscode.commands.registerCommand(COMMANDS.showRegisterPanel, () => panel.show()),
    vscode.commands.registerCommand(COMMANDS.translateAddress, async (arg?: unknown) => {
      let address = addressArgument(arg);
      if (!address) {
        const text = await vscode.window.showInputBox({
          title: 'KVM: Translate Address',
          prompt: 'Linear address to walk through the guest page tables (of the vCPU of the last stop)',
          placeHolder: '0xffffffff80000000',
          validateInput: (t) => {
            const a = parseAddress(t);
            return a.ok ? undefined : a.message;
          },
        });
        if (text === undefined) return;
        const a = parseAddress(text);
        if (!a.ok) return;
        address = a.address;
      }
      await panel.translate(address);
    }),
  ];
}
