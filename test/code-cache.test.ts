// V8's code cache for the adapter's bundle (src/code-cache.ts): a bundle run once leaves a cache
// that V8 accepts on the next run, which then runs the same code; a changed bundle, a damaged
// cache file or a cache directory that can't be written each leave the run as it would be
// without one. Then the real adapter (dist/adapter.js) leaves its cache and answers with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEPT_BUNDLES, defaultCodeCacheDir, runWithCodeCache } from '../src/code-cache.js';
import { ADAPTER, ROOT } from './support/dap.js';

const results = globalThis as unknown as { codeCacheTest?: { sum: (n: number) => number; dir: string; twice: number } };

/** A CommonJS bundle that uses what Node gives a module (require, module, __dirname). */
const bundle = (k: number) => `'use strict';
const { join } = require('node:path');
function sum(n) { let s = 0; for (let i = 1; i <= n; i++) s += i * ${k}; return s; }
module.exports.sum = sum;
globalThis.codeCacheTest = { sum, dir: join(__dirname, '.'), twice: module.exports.sum(2) };
`;

/** A fresh directory holding bundle.js (bundle(k)), and where its cache is to go. */
function bundleDir(k: number): { dir: string; file: string; cacheDir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kvmdbg-code-cache-'));
  const file = join(dir, 'bundle.js');
  writeFileSync(file, bundle(k));
  return { dir, file, cacheDir: join(dir, 'cache') };
}

test('a bundle\'s first run leaves a cache; the next run is given it, V8 accepts it, and the code does what it did', () => {
  const { dir, file, cacheDir } = bundleDir(1);
  const first = runWithCodeCache(file, cacheDir);
  assert.equal(first.cache, 'none');
  assert.deepEqual({ dir: results.codeCacheTest!.dir, twice: results.codeCacheTest!.twice }, { dir, twice: 3 });
  assert.equal(results.codeCacheTest!.sum(100), 5050, 'sum compiled at its first call');
  first.save();
  assert.deepEqual(readdirSync(cacheDir), [first.path.slice(cacheDir.length + 1)]);
  assert.match(first.path, /bundle-[0-9a-f]{16}\.bin$/);

  const second = runWithCodeCache(file, cacheDir);
  assert.equal(second.cache, 'accepted');
  assert.equal(second.path, first.path);
  assert.equal(results.codeCacheTest!.sum(10), 55);

  // Another bundle of the same name: its own key, and the earlier bundle's cache stays.
  writeFileSync(file, bundle(2));
  const changed = runWithCodeCache(file, cacheDir);
  assert.equal(changed.cache, 'none');
  assert.notEqual(changed.path, first.path);
  assert.equal(results.codeCacheTest!.sum(10), 110, 'the new bundle runs, not the cached one');
  changed.save();
  assert.deepEqual(readdirSync(cacheDir).sort(), [first.path, changed.path].map((p) => p.slice(cacheDir.length + 1)).sort());
});

test('bundles of one name used in turn keep their caches; past KEPT_BUNDLES, the one used longest ago goes', async () => {
  const { file, cacheDir } = bundleDir(5);
  /** Runs bundle(k) as `file` and saves its cache; its path and how it found the cache. */
  const use = async (k: number) => {
    await new Promise((r) => setTimeout(r, 20)); // modification times apart
    writeFileSync(file, bundle(k));
    const run = runWithCodeCache(file, cacheDir);
    run.save();
    return run;
  };
  const paths: string[] = [];
  for (let k = 10; k < 10 + KEPT_BUNDLES; k++) paths.push((await use(k)).path);
  assert.equal((await use(10)).cache, 'accepted', 'the first still cached after the others ran');
  const newest = await use(99);
  const left = readdirSync(cacheDir).map((f) => join(cacheDir, f)).sort();
  assert.deepEqual(left, [paths[0], ...paths.slice(2), newest.path].sort(), 'the second, used longest ago, is gone');
  assert.equal((await use(11)).cache, 'none');
});

test('a damaged cache file is ignored and written again; an unwritable cache directory only loses the cache', () => {
  const { dir, file, cacheDir } = bundleDir(3);
  const first = runWithCodeCache(file, cacheDir);
  first.save();
  const stored = readFileSync(first.path);
  stored[stored.length - 1] ^= 0xff;
  writeFileSync(first.path, stored);
  const damaged = runWithCodeCache(file, cacheDir);
  assert.equal(damaged.cache, 'ignored');
  assert.equal(results.codeCacheTest!.sum(10), 165);
  damaged.save();
  assert.equal(runWithCodeCache(file, cacheDir).cache, 'accepted', 'rewritten whole');
  writeFileSync(first.path, stored.subarray(0, 10));
  assert.equal(runWithCodeCache(file, cacheDir).cache, 'ignored', 'cut short');

  const blocked = join(dir, 'not-a-dir');
  writeFileSync(blocked, '');
  const run = runWithCodeCache(file, join(blocked, 'cache'));
  assert.equal(run.cache, 'none');
  assert.doesNotThrow(() => run.save());
  assert.equal(results.codeCacheTest!.sum(2), 9);
});

test('the cache directory: $XDG_CACHE_HOME/kvmdbg/code-cache, ~/.cache where it is unset or relative', () => {
  assert.equal(defaultCodeCacheDir({ XDG_CACHE_HOME: '/x/c' }), '/x/c/kvmdbg/code-cache');
  assert.match(defaultCodeCacheDir({ XDG_CACHE_HOME: 'rel' }), /\/\.cache\/kvmdbg\/code-cache$/);
  assert.match(defaultCodeCacheDir({}), /\/\.cache\/kvmdbg\/code-cache$/);
});

/** dist/adapter.js over stdio: initialize, then disconnect; its answer to initialize. */
function initializeOnce(env: NodeJS.ProcessEnv): Promise<{ success: boolean; supportsStepBack?: boolean }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [ADAPTER], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('the adapter did not answer within 60 s')); }, 60_000);
    const send = (seq: number, command: string, args: object) => {
      const body = JSON.stringify({ seq, type: 'request', command, arguments: args });
      p.stdin.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    };
    let out = '';
    let answer: { success: boolean; supportsStepBack?: boolean } | undefined;
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"command":"initialize","success":(true|false)[^]*?"supportsStepBack":(true|false)/.exec(out);
      if (m && !answer) {
        answer = { success: m[1] === 'true', supportsStepBack: m[2] === 'true' };
        send(2, 'disconnect', {});
      }
    });
    p.on('exit', () => {
      clearTimeout(timer);
      if (answer) resolve(answer);
      else reject(new Error(`the adapter ended without answering initialize: ${out.slice(0, 500)}`));
    });
    send(1, 'initialize', { adapterID: 'kvm', pathFormat: 'path', linesStartAt1: true, columnsStartAt1: true });
  });
}

test('the adapter leaves its cache as it ends, and answers the same with it', { timeout: 240_000 }, async () => {
  execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'inherit' });
  const xdg = mkdtempSync(join(tmpdir(), 'kvmdbg-xdg-'));
  const env = { ...process.env, XDG_CACHE_HOME: xdg };
  assert.deepEqual(await initializeOnce(env), { success: true, supportsStepBack: true });
  const files = readdirSync(join(xdg, 'kvmdbg', 'code-cache'));
  assert.equal(files.length, 1);
  assert.match(files[0], /^adapter-main-[0-9a-f]{16}\.bin$/);
  assert.ok(readFileSync(join(xdg, 'kvmdbg', 'code-cache', files[0])).length > 100_000, 'the bundle\'s compiled functions');
  assert.deepEqual(await initializeOnce(env), { success: true, supportsStepBack: true });
  assert.deepEqual(readdirSync(join(xdg, 'kvmdbg', 'code-cache')), files);
});
