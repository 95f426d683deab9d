// The adapter where the monitor cannot load (koffi's native module missing: macOS, Windows, Linux
// on ARM, a damaged install). Dying before `initialize` would leave the editor with no word at
// all; this session answers `initialize` and fails every launch with the reason.
import { DebugSession } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';

/** Why the adapter cannot debug here, from the error that loading the monitor raised. */
export function unsupportedHostReason(e: unknown, platform = process.platform, arch = process.arch): string {
  const cause = String((e as Error)?.message ?? e).split('\n')[0];
  return `kvmdbg cannot debug here: it needs Linux on x86-64 (amd64) with /dev/kvm, and its native module (koffi) did not load on ${platform} on ${arch === 'x64' ? 'x86-64' : arch}: ${cause}`;
}

export class UnsupportedHostSession extends DebugSession {
  constructor(private readonly reason: string) {
    super();
  }

  protected initializeRequest(response: DebugProtocol.InitializeResponse): void {
    this.sendResponse(response);
  }

  protected launchRequest(response: DebugProtocol.LaunchResponse): void {
    // DAP's format string substitutes {names}: braces in the reason must not be taken for them.
    this.sendErrorResponse(response, { id: 2, format: this.reason.replace(/[{}]/g, (c) => (c === '{' ? '(' : ')')), showUser: true });
  }
}
