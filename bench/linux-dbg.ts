// What the benches on Debian's -dbg vmlinux share (linux-dwarf.ts, linux-dwarf-globals.ts):
// finding the vmlinux and its bzImage, bundling a bench's child as the adapter is bundled, and
// timing a command in a fresh process.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';

const BENCH_DIR = __dirname;
const BUILD_DIR = join(BENCH_DIR, 'build');
const ROOT = join(BENCH_DIR, '..');
const DBG_DIR = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kvmdbg', 'dbg');
const LIMIT_MS = 300_000;

/** The -dbg vmlinux: the argument, else the newest in the cache; else how to get one. */
export function findVmlinux(arg: string | undefined): string {
  if (arg) return arg;
  const boot = join(DBG_DIR, 'usr', 'lib', 'debug', 'boot');
  const found = existsSync(boot) ? readdirSync(boot).filter((f) => f.startsWith('vmlinux-')).sort() : [];
  if (found.length) return join(boot, found[found.length - 1]);
  console.error(`No Debian -dbg vmlinux in ${boot}. Fetch one (about 850 MB; 630 MB extracted), e.g. for the test VM's kernel:
  mkdir -p ${DBG_DIR} && cd ${DBG_DIR}
  apt-get download linux-image-6.1.0-57-amd64-dbg      # linux-image-VERSION-dbg: VERSION as in .testvm/vmlinuz's package
  dpkg-deb --fsys-tarfile linux-image-*-dbg_*.deb | tar -x ./usr/lib/debug/boot/
then run this again, or pass the vmlinux's path.`);
  process.exit(2);
}

/** The kernel's bzImage (the launch's program): the test VM's, the tests' cached one, /boot's; else a stand-in. */
export function findProgram(vmlinux: string): string {
  const version = basename(vmlinux).slice('vmlinux-'.length);
  const cache = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'kvmdbg', 'linux', `vmlinuz-${version}`);
  for (const p of [cache, `/boot/vmlinuz-${version}`, join(ROOT, '.testvm', 'vmlinuz')]) if (existsSync(p)) return p;
  // The program's bytes are only read (for the loader): any file stands in for its absence.
  const standIn = join(BUILD_DIR, 'not-a-kernel');
  mkdirSync(BUILD_DIR, { recursive: true });
  writeFileSync(standIn, 'no bzImage found for this vmlinux\n');
  return standIn;
}

/** A bench/ file (`name`.ts) bundled with scripts/build.mjs's options, as the adapter is. */
export async function bundle(name: string): Promise<string> {
  const { build } = await import('esbuild');
  mkdirSync(BUILD_DIR, { recursive: true });
  const out = join(BUILD_DIR, `${name}.js`);
  await build({
    bundle: true, platform: 'node', target: 'node20', format: 'cjs', sourcemap: true,
    external: ['koffi', 'vscode', 'esbuild'], logLevel: 'warning',
    entryPoints: [join(BENCH_DIR, `${name}.ts`)], outfile: out, absWorkingDir: ROOT,
  });
  return out;
}

export interface Sample { wallMs: number; rssMb: number; stdout: string }

/** One command under /usr/bin/time -v: wall time from spawn to exit, peak RSS. */
export function timed(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Sample {
  const start = performance.now();
  const r = spawnSync('/usr/bin/time', ['-v', cmd, ...args], { cwd: ROOT, encoding: 'utf8', timeout: LIMIT_MS, maxBuffer: 64 << 20, env });
  const wallMs = performance.now() - start;
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1];
  if (r.status !== 0 || !rss) throw new Error(`${cmd} ${args.join(' ')}: status ${r.status} ${r.error ?? ''}\n${r.stdout}\n${r.stderr}`);
  return { wallMs, rssMb: Number(rss) / 1024, stdout: r.stdout };
}

