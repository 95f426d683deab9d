// Which Node.js runs the debug adapter (dist/adapter.js, a separate process): the kvmdbg.nodePath
// setting if set; else `node` on PATH when it is Node 20 or newer; else the editor's own runtime
// (process.execPath) with ELECTRON_RUN_AS_NODE=1, which makes VS Code's Electron binary act as
// Node (code-server's process.execPath is already Node, where the variable is harmless).
// No vscode import.
import { accessSync, constants, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { delimiter, join } from 'node:path';

export interface NodeRuntime {
  command: string;
  env: Record<string, string>;
  /** For the log: why this one. */
  why: string;
}

/** The first executable `name` on PATH. */
export function findOnPath(name: string, path = process.env.PATH ?? '', exts = process.platform === 'win32' ? ['.exe', '.cmd', ''] : ['']): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const p = join(dir, name + ext);
      try {
        if (!statSync(p).isFile()) continue;
        accessSync(p, constants.X_OK);
        return p;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/** The major version a `node` binary reports, or undefined when it doesn't run. */
export function nodeMajor(command: string): number | undefined {
  try {
    const v = execFileSync(command, ['--version'], { timeout: 5000, encoding: 'utf8', env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
    const m = /^v(\d+)\./.exec(v.trim());
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export const MIN_NODE = 20;

export function pickNodeRuntime(opts: {
  setting?: string;
  path?: string;
  execPath?: string;
  major?: (command: string) => number | undefined;
} = {}): NodeRuntime {
  const major = opts.major ?? nodeMajor;
  if (opts.setting) return { command: opts.setting, env: {}, why: 'the kvmdbg.nodePath setting' };
  const onPath = findOnPath('node', opts.path);
  if (onPath) {
    const v = major(onPath);
    if (v !== undefined && v >= MIN_NODE) return { command: onPath, env: {}, why: `node v${v} on PATH` };
  }
  return {
    command: opts.execPath ?? process.execPath,
    env: { ELECTRON_RUN_AS_NODE: '1' },
    why: onPath ? `${onPath} is older than Node ${MIN_NODE}; the editor's runtime instead` : "no node on PATH; the editor's runtime instead",
  };
}
