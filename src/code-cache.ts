// V8's code cache for a bundle, kept across runs: the bytecode of each function that one run
// compiled, handed to the next so that it compiles none of them again. V8 compiles a function at
// its first call, and in the adapter many first calls fall on the user's first stop (the
// unwinder, the expression evaluator, the views of variables): under emulation (the test VM)
// compiling them was half of the time the first stop's locals took (bench/README.md).
//
// The bundle runs as Node runs a CommonJS module (the same wrapper, its own require), from a
// vm.Script given the cached data. The file: $XDG_CACHE_HOME/kvmdbg/code-cache/NAME-KEY.bin
// (~/.cache where unset), KEY a digest of the bundle's bytes and of Node's version and
// architecture: V8 checks its own version and flags against the data, but of the source only its
// length. The file holds the SHA-256 of the data, then the data; one that fails the digest is
// ignored, and rewritten. Writing is best effort, through a temporary file renamed into place.
// The caches of other bundles of the same name are kept, the KEPT_BUNDLES used last (two kvmdbg
// versions used in turn, an installed one and a build of its source, must not evict each other's
// at every start); a run whose cache served marks it used.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { Script } from 'node:vm';

const DIGEST_BYTES = 32;
/** How many bundles of one name keep their caches: the ones used last. */
export const KEPT_BUNDLES = 3;

/** How a run found its cache: none for this bundle, accepted by V8, rejected by V8, or ignored (a bad digest). */
export type CacheState = 'none' | 'accepted' | 'rejected' | 'ignored';

export interface CachedRun {
  cache: CacheState;
  /** The cache file's path. */
  path: string;
  /** Writes what this run has compiled so far, where it is more than the cache it started from. */
  save(): void;
}

/** Where code caches go by default: $XDG_CACHE_HOME/kvmdbg/code-cache (~/.cache where unset or relative). */
export function defaultCodeCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'kvmdbg', 'code-cache');
}

const sha256 = (...parts: (string | Buffer)[]) => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest();

/** The cache file of the bundle `file` whose text is `source`, under `dir`. */
export function codeCachePath(file: string, dir = defaultCodeCacheDir(), source = readFileSync(file, 'utf8')): string {
  return join(dir, `${basename(file, '.js')}-${sha256(process.version, process.arch, source).toString('hex').slice(0, 16)}.bin`);
}

/** Runs the CommonJS bundle `file` with its code cache from `dir`. */
export function runWithCodeCache(file: string, dir = defaultCodeCacheDir()): CachedRun {
  const source = readFileSync(file, 'utf8');
  const name = basename(file, '.js');
  const path = codeCachePath(file, dir, source);
  const stored = readStored(path);
  // One line of wrapper before the source: its line numbers stay those of the file.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file, cachedData: typeof stored === 'string' ? undefined : stored,
  });
  const cache: CacheState = typeof stored === 'string' ? stored : script.cachedDataRejected ? 'rejected' : 'accepted';
  const save = () => {
    const data = script.createCachedData();
    try {
      if (cache === 'accepted' && typeof stored !== 'string' && data.length <= stored.length) {
        const now = new Date();
        utimesSync(path, now, now);
        return;
      }
      mkdirSync(dir, { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, Buffer.concat([sha256(data), data]));
      renameSync(tmp, path);
      keepLastUsed(dir, name);
    } catch {
      // A cache directory that can't be written: the next run compiles as this one did.
    }
  };
  const module = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void).call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return { cache, path, save };
}

/** Removes the caches of bundles named `name` but the KEPT_BUNDLES used last (by modification time). */
function keepLastUsed(dir: string, name: string): void {
  const files = readdirSync(dir).filter((f) => f.startsWith(`${name}-`) && f.endsWith('.bin'))
    .map((f) => ({ path: join(dir, f), used: statSync(join(dir, f), { throwIfNoEntry: false })?.mtimeMs ?? 0 }))
    .sort((a, b) => b.used - a.used);
  for (const f of files.slice(KEPT_BUNDLES)) rmSync(f.path, { force: true });
}

/** The cached data at `path`, or why there is none to use. */
function readStored(path: string): Buffer | 'none' | 'ignored' {
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch {
    return 'none';
  }
  const data = b.subarray(DIGEST_BYTES);
  return b.length > DIGEST_BYTES && sha256(data).equals(b.subarray(0, DIGEST_BYTES)) ? data : 'ignored';
}
