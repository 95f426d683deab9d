// The extension as the Marketplace and a user's VS Code see it: package.json's metadata, menus and
// welcome view, the icon (drawn by scripts/make-icon.mjs), the changelog, and what the .vsix that
// `npm run package` makes carries: the bundles and, of koffi, only what it loads on linux-x64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = join(__dirname, '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

test('package.json: where the project lives, its icon, private to npm, the linux-x64 package', () => {
  const repo = pkg.repository?.url as string;
  assert.match(repo, /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+?(\.git)?$/);
  const base = repo.replace(/\.git$/, '');
  assert.equal(pkg.bugs?.url, `${base}/issues`);
  assert.ok(String(pkg.homepage).startsWith(base), 'homepage');
  assert.equal(pkg.private, true, 'npm publish refuses it (test/, bench/ never shipped)');
  assert.equal(pkg.files, undefined, '.vscodeignore says what the .vsix carries (vsce refuses both)');
  assert.equal(pkg.icon, 'media/icon.png');
  assert.match(pkg.scripts.package, /vsce package --target linux-x64/, 'a .vsix with a native binary is platform-specific');
  assert.doesNotMatch(pkg.scripts.package, /--no-rewrite-relative-links/, "the README's picture needs its link rewritten");
  assert.match(readFileSync(join(ROOT, 'README.md'), 'utf8'), /!\[[^\]]*\]\(docs\/session\.png\)/, 'a relative picture vsce rewrites');
  assert.ok(existsSync(join(ROOT, 'docs', 'session.png')));
});

test('the icon: a 128x128 PNG, the one scripts/make-icon.mjs draws', async () => {
  const png = readFileSync(join(ROOT, pkg.icon));
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.equal(png.subarray(12, 16).toString(), 'IHDR');
  assert.equal(png.readUInt32BE(16), 128);
  assert.equal(png.readUInt32BE(20), 128);
  const { iconPng } = await import(pathToFileURL(join(ROOT, 'scripts', 'make-icon.mjs')).href);
  assert.ok(iconPng().equals(png), 'media/icon.png is out of date: npm run icon');
});

test('CHANGELOG.md: there, with the current version', () => {
  const log = readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8');
  assert.match(log, /^# Changelog/);
  assert.ok(log.includes(`## ${pkg.version}`), `a section for ${pkg.version}`);
});

test('commands: the KVM ones in the Command Palette only during a kvm session; a welcome that makes a launch.json', () => {
  const commands = new Set<string>(pkg.contributes.commands.map((c: { command: string }) => c.command));
  const palette = new Map<string, string>(pkg.contributes.menus.commandPalette.map((m: { command: string; when: string }) => [m.command, m.when]));
  // the commands that act on the session's guest
  for (const c of ['kvmdbg.showRegisterPanel', 'kvmdbg.translateAddress', 'kvmdbg.showScreen']) {
    assert.ok(commands.has(c), c);
    assert.equal(palette.get(c), "debugType == 'kvm'", c);
  }
  assert.ok(commands.has('kvmdbg.createLaunchJson'));
  assert.equal(palette.get('kvmdbg.createLaunchJson'), 'workbenchState != empty');
  for (const c of palette.keys()) assert.ok(commands.has(c), `the palette's ${c} is a contributed command`);
  const welcome = pkg.contributes.viewsWelcome.filter((w: { view: string }) => w.view === 'debug');
  assert.equal(welcome.length, 1);
  assert.match(welcome[0].contents, /\[[^\]]+\]\(command:kvmdbg\.createLaunchJson\)/);
  assert.match(welcome[0].contents, /Linux on x86-64 with \/dev\/kvm/);
});

test('the .vsix: the bundles, the icon and changelog, and of koffi only its linux-x64 run-time files', () => {
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: 'inherit' });
  const out = join(mkdtempSync(join(tmpdir(), 'kvmdbg-vsix-')), 'kvmdbg.vsix');
  // as `npm run package` does, past its build
  const args = pkg.scripts.package.replace(/^.*vsce package/, '').trim().split(/\s+/).filter(Boolean);
  execFileSync(process.execPath, [join(ROOT, 'node_modules', '@vscode', 'vsce', 'vsce'), 'package', ...args, '--out', out], {
    cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000,
  });
  const entries = execFileSync('unzip', ['-Z1', out], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const p of [
    'extension/package.json', 'extension/readme.md', 'extension/changelog.md', 'extension/LICENSE.txt',
    'extension/dist/extension.js', 'extension/dist/adapter.js', 'extension/dist/adapter-main.js', 'extension/dist/iced_x86_bg.wasm',
    // the icon and the webviews' scripts and styles
    ...execFileSync('git', ['ls-files', 'media'], { cwd: ROOT, encoding: 'utf8' }).split('\n').filter(Boolean).map((f) => `extension/${f}`),
  ]) {
    assert.ok(entries.includes(p), `the .vsix lacks ${p}`);
  }
  const koffi = entries.filter((e) => e.startsWith('extension/node_modules/')).sort();
  assert.deepEqual(koffi, [
    'extension/node_modules/@koromix/koffi-linux-x64/index.js',
    'extension/node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node',
    'extension/node_modules/@koromix/koffi-linux-x64/package.json',
    'extension/node_modules/koffi/LICENSE.txt',
    'extension/node_modules/koffi/index.cjs',
    'extension/node_modules/koffi/package.json',
    'extension/node_modules/koffi/src/koffi/index.cjs',
    'extension/node_modules/koffi/src/koffi/src/static.cjs',
  ]);
  assert.deepEqual(entries.filter((e) => /\.(cc|hh?|cpp|inc|S|asm|def)$|\/(doc|vendor)\/|musl_/.test(e)), [], 'no C++ sources, headers, docs or musl binary');
  assert.deepEqual(entries.filter((e) => /^extension\/(src|test|bench|scratch|examples|scripts|docs)\//.test(e) || /\.map$/.test(e)), []);
  const manifest = execFileSync('unzip', ['-p', out, 'extension.vsixmanifest'], { encoding: 'utf8' });
  assert.match(manifest, /TargetPlatform="linux-x64"/);
  assert.match(manifest, /Microsoft\.VisualStudio\.Services\.Icons\.Default" Path="extension\/media\/icon\.png"/);
  // the README's picture, absolute on the extension's page
  const readme = execFileSync('unzip', ['-p', out, 'extension/readme.md'], { encoding: 'utf8' });
  const picture = /!\[[^\]]*\]\(([^)]+session\.png)\)/.exec(readme)?.[1];
  assert.equal(picture, `${pkg.repository.url.replace(/\.git$/, '')}/raw/HEAD/docs/session.png`);

  // what the packaged koffi loads, from the .vsix's own files
  const dir = mkdtempSync(join(tmpdir(), 'kvmdbg-vsix-x-'));
  execFileSync('unzip', ['-q', out, 'extension/node_modules/*', '-d', dir]);
  if (process.platform === 'linux' && process.arch === 'x64') {
    const v = execFileSync(process.execPath, ['-e', `process.stdout.write(String(require(${JSON.stringify(join(dir, 'extension', 'node_modules', 'koffi'))}).sizeof('int')))`], { encoding: 'utf8' });
    assert.equal(v, '4', 'the packaged koffi loads');
  }
});

test('README: the two first commands first, then what a user needs and what to do when KVM is not there', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)![1];
  assert.match(firstBlock, /^# 1\. set up, build, and run the bundled example guest/);
  assert.match(firstBlock, /\n# 2\. set up and run the tests/);
  const at = (heading: string) => readme.indexOf(`\n## ${heading}\n`);
  assert.ok(at('Requirements') > readme.indexOf(firstBlock), 'Requirements after the first commands');
  assert.ok(at('Requirements') < at('Troubleshooting') && at('Troubleshooting') < at('In VS Code'), 'near the top');
  const section = readme.slice(at('Requirements'), at('In VS Code'));
  for (const [what, re] of [
    ['the platform', /Linux on x86-64/],
    ['firmware virtualization', /BIOS\/UEFI/],
    ['the KVM modules', /modprobe kvm_intel[\s\S]*kvm_amd/],
    ['the kvm group', /usermod -aG kvm/],
    ['udev', /udev rule/],
    ['nested virtualization in the cloud', /cloud VM[\s\S]*nested virtualization/],
    ['WSL2', /\.wslconfig[\s\S]*nestedVirtualization=true/],
    ['Remote-SSH', /Remote-SSH[\s\S]*install kvmdbg there/],
    ['the Node setting', /`kvmdbg\.nodePath`/],
  ] as const) {
    assert.match(section, re, what);
  }
});
