// The `kvm` DebugConfigurationProvider. Without a launch.json (F5 with an empty configuration) it
// guesses one from the active editor's file (config-guess.ts), picks among several build outputs
// with a quick pick, or asks for the guest file with an open dialog. For every kvm configuration
// it fills in what VS Code users expect: request, name, cwd (the workspace folder, so relative
// paths work as in a terminal there) and "serial": "terminal" when serial was not set.
import * as vscode from 'vscode';
import { basename, dirname, relative } from 'node:path';
import {
  candidatesFrom, configFor, formatLabel, guessFromFile, relativize, type Candidate, type FileProbe, type Guess, type KvmLaunchConfiguration,
} from './config-guess.js';
import { nodeProbe } from './node-probe.js';

/** The file of the active editor tab, text or not (a .img opens in the binary/hex editor). */
function activeFile(): vscode.Uri | undefined {
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input as { uri?: unknown } | undefined;
  const uri = input && input.uri instanceof vscode.Uri ? input.uri : vscode.window.activeTextEditor?.document.uri;
  return uri?.scheme === 'file' ? uri : undefined;
}

function pickLabel(c: Candidate, folder?: string): vscode.QuickPickItem & { candidate: Candidate } {
  const rel = (p: string) => (folder ? relative(folder, p) : p);
  return {
    label: basename(c.program),
    description: `${formatLabel(c.detected)}${c.symbols ? ` · symbols from ${basename(c.symbols)}` : ''}`,
    detail: rel(c.program),
    candidate: c,
  };
}

export class KvmConfigurationProvider implements vscode.DebugConfigurationProvider {
  constructor(private readonly probe: FileProbe = nodeProbe) {}

  /** launch.json's first configuration (Initial) or the Run and Debug view's list (Dynamic). */
  async provideDebugConfigurations(folder: vscode.WorkspaceFolder | undefined): Promise<vscode.DebugConfiguration[]> {
    const cands = await this.workspaceCandidates(folder);
    const hasBreakpoints = vscode.debug.breakpoints.length > 0;
    const configs = cands.map((c) => configFor(c, { hasBreakpoints }));
    return folder ? configs.map((c) => relativize(c, folder.uri.fsPath)) : configs;
  }

  async resolveDebugConfiguration(folder: vscode.WorkspaceFolder | undefined, config: vscode.DebugConfiguration): Promise<vscode.DebugConfiguration | undefined | null> {
    if (!config.type && !config.request && !config.name) {
      // No launch.json: guess.
      const guessed = await this.guess(folder);
      if (!guessed) return undefined;
      config = guessed;
    }
    config.type = 'kvm';
    config.request ??= 'launch';
    config.name ??= 'KVM';
    if (config.program === undefined || config.program === '') {
      const guessed = await this.askForGuest(folder, 'The launch configuration has no "program": choose the guest to run');
      if (!guessed) return undefined;
      for (const [k, v] of Object.entries(guessed)) if (config[k] === undefined && !['type', 'request', 'name'].includes(k)) config[k] = v;
    }
    if (config.serial === undefined) config.serial = 'terminal';
    if (config.disassemblySyntax === undefined) config.disassemblySyntax = vscode.workspace.getConfiguration('kvmdbg').get<string>('disassemblySyntax', 'att');
    if (config.cwd === undefined) config.cwd = folder?.uri.fsPath ?? (typeof config.program === 'string' && !config.program.includes('${') ? dirname(config.program) : undefined);
    if (config.cwd === undefined) delete config.cwd;
    return config;
  }

  /** A configuration from the active editor's file, or from files the user picks. */
  private async guess(folder: vscode.WorkspaceFolder | undefined): Promise<KvmLaunchConfiguration | undefined> {
    const hasBreakpoints = vscode.debug.breakpoints.length > 0;
    const file = activeFile();
    let why = 'Open a guest image or kernel (or one of its sources) first';
    if (file) {
      const g = guessFromFile(file.fsPath, this.probe, { hasBreakpoints });
      const picked = await this.settle(g, folder);
      if (picked) return picked;
      if (g.kind === 'choose') return undefined;
      why = g.why;
    } else {
      // No file open: the workspace's guests.
      const cands = await this.workspaceCandidates(folder);
      if (cands.length === 1) return configFor(cands[0], { hasBreakpoints });
      if (cands.length > 1) return this.settle({ kind: 'choose', candidates: cands, why: `${cands.length} guests in the workspace` }, folder);
    }
    return this.askForGuest(folder, why);
  }

  /** A Guess to a configuration: as is, or through a quick pick; undefined for 'ask' or a cancel. */
  private async settle(g: Guess, folder: vscode.WorkspaceFolder | undefined): Promise<KvmLaunchConfiguration | undefined> {
    if (g.kind === 'config') return g.config;
    if (g.kind === 'ask') return undefined;
    const items = g.candidates.map((c) => pickLabel(c, folder?.uri.fsPath));
    const pick = await vscode.window.showQuickPick(items, { title: 'KVM: which guest?', placeHolder: g.why, matchOnDescription: true, matchOnDetail: true });
    return pick && configFor(pick.candidate, { hasBreakpoints: vscode.debug.breakpoints.length > 0 });
  }

  private async askForGuest(folder: vscode.WorkspaceFolder | undefined, why: string): Promise<KvmLaunchConfiguration | undefined> {
    const uris = await vscode.window.showOpenDialog({
      title: `KVM: choose the guest to debug (${why})`,
      openLabel: 'Debug this guest',
      canSelectMany: false,
      defaultUri: folder?.uri,
      filters: { 'Guest images and kernels': ['img', 'bin', 'elf', 'kernel', 'raw', 'efi'], 'All files': ['*'] },
    });
    if (!uris?.length) return undefined;
    const g = guessFromFile(uris[0].fsPath, this.probe, { hasBreakpoints: vscode.debug.breakpoints.length > 0 });
    if (g.kind === 'ask') {
      void vscode.window.showErrorMessage(`KVM: ${g.why}. Add a launch.json configuration for it (Run > Add Configuration...).`);
      return undefined;
    }
    return this.settle(g, folder);
  }

  private async workspaceCandidates(folder: vscode.WorkspaceFolder | undefined): Promise<Candidate[]> {
    const include = folder ? new vscode.RelativePattern(folder, '**/*.{img,bin,elf,kernel}') : '**/*.{img,bin,elf,kernel}';
    const uris = await vscode.workspace.findFiles(include, '**/{node_modules,.git}/**', 200);
    return candidatesFrom(uris.filter((u) => u.scheme === 'file').map((u) => u.fsPath), this.probe).slice(0, 20);
  }
}
