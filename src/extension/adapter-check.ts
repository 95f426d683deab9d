// Before a debug session starts its adapter: can it run here at all? The adapter drives /dev/kvm
// through koffi, a native module with one binary per platform; where that binary is missing or
// will not load (macOS, Windows, Linux on ARM, a damaged install) the adapter process dies before
// it answers `initialize`, and F5 seems to do nothing. So the extension asks first: is this Linux
// on x86-64, and does the chosen Node load koffi the way dist/adapter.js will? Where not, the
// session gets failedAdapterReplies() instead (an adapter that answers the launch with the reason)
// and the Output channel says why. No vscode import.
import { execFile } from 'node:child_process';
import { MIN_NODE, type NodeRuntime } from './node-runtime.js';

/** What kvmdbg needs, as messages name it. */
export const PLATFORM_NEEDED = 'Linux on x86-64 (amd64) with /dev/kvm';

const OS_NAMES: Record<string, string> = { darwin: 'macOS', win32: 'Windows', linux: 'Linux', freebsd: 'FreeBSD', openbsd: 'OpenBSD', android: 'Android' };

export function platformName(platform: string, arch: string): string {
  return `${OS_NAMES[platform] ?? platform} on ${arch === 'x64' ? 'x86-64' : arch}`;
}

const WHERE_TO_RUN = 'From macOS or Windows, open the folder on a Linux x86-64 machine with Remote-SSH (or WSL2 with nested virtualization) and install kvmdbg there.';

/** Why kvmdbg cannot run on this operating system and processor, or undefined when it can. */
export function platformProblem(platform: string = process.platform, arch: string = process.arch): string | undefined {
  if (platform === 'linux' && arch === 'x64') return undefined;
  return `kvmdbg cannot debug here: it runs guests under Linux KVM and needs ${PLATFORM_NEEDED}, and this is ${platformName(platform, arch)}. ${WHERE_TO_RUN}`;
}

/** The probe the runtime runs: load koffi as the adapter (argv[1]) would, and say what it is. */
const PROBE = `
const out = { node: process.versions.node, platform: process.platform, arch: process.arch };
try { require('node:module').createRequire(process.argv[1])('koffi'); } catch (e) { out.error = String((e && e.message) || e).split('\\n')[0]; }
process.stdout.write(JSON.stringify(out));
`;

interface ProbeResult {
  node?: string;
  platform?: string;
  arch?: string;
  error?: string;
}

/** How the probe's process ran: what a test can fake. */
export type ProbeRunner = (command: string, args: string[], env: Record<string, string>) => Promise<{ stdout: string; error?: Error }>;

const runProbe: ProbeRunner = (command, args, env) => new Promise((resolve) => {
  execFile(command, args, { env: { ...process.env, ...env }, timeout: 20_000, encoding: 'utf8', maxBuffer: 1 << 20 }, (error, stdout) => {
    resolve({ stdout: String(stdout ?? ''), error: error ?? undefined });
  });
});

/**
 * Why the adapter (at `adapterPath`) cannot start with `runtime`, or undefined when it can: the
 * runtime doesn't run, is older than Node 20, or does not load koffi's native module. Checks the
 * platform first (no process started when it is not Linux x86-64).
 */
export async function adapterProblem(runtime: NodeRuntime, adapterPath: string, opts: {
  platform?: string; arch?: string; run?: ProbeRunner;
} = {}): Promise<string | undefined> {
  const p = platformProblem(opts.platform, opts.arch);
  if (p) return p;
  const { stdout, error } = await (opts.run ?? runProbe)(runtime.command, ['-e', PROBE, adapterPath], runtime.env);
  let r: ProbeResult | undefined;
  try {
    r = JSON.parse(stdout) as ProbeResult;
  } catch {
    r = undefined;
  }
  const fromSetting = /kvmdbg\.nodePath/.test(runtime.why);
  if (!r || typeof r.node !== 'string') {
    const why = error ? error.message.split('\n')[0] : 'it printed nothing';
    return `kvmdbg cannot start its debug adapter: ${runtime.command} (${runtime.why}) does not run as Node.js: ${why}. `
      + (fromSetting ? 'Set kvmdbg.nodePath to a Node.js 20 or newer executable, or clear it to use node on PATH or the editor\'s own runtime.' : 'Set kvmdbg.nodePath to a Node.js 20 or newer executable.');
  }
  const major = Number(r.node.split('.')[0]);
  if (major < MIN_NODE) {
    return `kvmdbg cannot start its debug adapter: ${runtime.command} (${runtime.why}) is Node.js ${r.node}, and the adapter needs Node.js ${MIN_NODE} or newer. Set kvmdbg.nodePath to a newer one.`;
  }
  if (r.error !== undefined) {
    const here = platformName(r.platform ?? opts.platform ?? process.platform, r.arch ?? opts.arch ?? process.arch);
    const hint = r.platform === 'linux' && r.arch === 'x64'
      ? 'The extension\'s install looks damaged: reinstall kvmdbg (its linux-x64 package carries koffi\'s binary for this machine).'
      : WHERE_TO_RUN;
    return `kvmdbg cannot start its debug adapter: its native module (koffi) does not load under ${runtime.command} on ${here}: ${r.error}. kvmdbg needs ${PLATFORM_NEEDED}. ${hint}`;
  }
  return undefined;
}

interface DapMessage {
  type?: string;
  seq?: number;
  command?: string;
}

/**
 * The adapter a session gets when the real one cannot start: it answers `initialize` (so VS Code
 * goes on to send the launch), fails `launch` and `attach` with `problem` (VS Code shows a launch
 * error in a dialog), then ends the session; `disconnect` and `terminate` succeed; anything else
 * fails with the same text. Returns the messages to send, numbered from `seq`.
 */
export function failedAdapterReplies(m: DapMessage, problem: string, seq: () => number): Record<string, unknown>[] {
  if (m.type !== 'request' || typeof m.command !== 'string') return [];
  const reply = (success: boolean, body?: Record<string, unknown>): Record<string, unknown> => ({
    seq: seq(), type: 'response', request_seq: m.seq ?? 0, command: m.command, success,
    ...(success ? {} : { message: problem }),
    ...(body ? { body } : {}),
  });
  switch (m.command) {
    case 'initialize':
      return [reply(true, {})];
    case 'launch':
    case 'attach':
      return [reply(false), { seq: seq(), type: 'event', event: 'terminated', body: {} }];
    case 'disconnect':
    case 'terminate':
      return [reply(true)];
    default:
      return [reply(false)];
  }
}
