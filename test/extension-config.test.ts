// Launch configurations guessed without a launch.json (src/extension/config-guess.ts), on real
// guest files built from test/guests and examples/ and laid out in temporary project trees.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { buildBootSector } from './guests/build.js';
import { buildLoaderGuests } from './guests/build-loaders.js';
import { guessFromFile, candidatesFrom, configFor, relativize, type FileProbe } from '../src/extension/config-guess.js';
import { detectFormat, isBzImage } from '../src/formats/detect.js';
import { nodeProbe } from '../src/extension/node-probe.js';
import { parseLaunchArgs } from '../src/dap/launch-args.js';

const ROOT = join(__dirname, '..');
let boot: string;
let g: ReturnType<typeof buildLoaderGuests>;
let tmp: string;

before(() => {
  boot = buildBootSector('hello-boot');
  g = buildLoaderGuests();
  tmp = mkdtempSync(join(tmpdir(), 'kvmdbg-guess-'));
});

/** A project tree in the temporary directory: { 'build/kernel.img': source path or Buffer, ... }. */
function project(name: string, files: Record<string, string | Buffer>): string {
  const dir = join(tmp, name);
  for (const [rel, from] of Object.entries(files)) {
    const to = join(dir, rel);
    mkdirSync(join(to, '..'), { recursive: true });
    if (typeof from === 'string') copyFileSync(from, to);
    else writeFileSync(to, from);
  }
  return dir;
}

/** A minimal bzImage: a boot sector with the Linux setup header magic "HdrS" at 0x202. */
function fakeBzImage(): Buffer {
  const b = Buffer.alloc(4096);
  b[510] = 0x55;
  b[511] = 0xaa;
  b.write('HdrS', 0x202, 'latin1');
  return b;
}

function config(path: string, opts = {}) {
  const r = guessFromFile(path, nodeProbe, opts);
  assert.equal(r.kind, 'config', `${path}: ${r.why}`);
  return r as Extract<typeof r, { kind: 'config' }>;
}

test('a boot sector image: run as it is, with the same-stem ELF beside it as symbols', () => {
  const dir = project('boot', { 'hello.img': boot, 'hello.elf': boot.replace(/\.bin$/, '.elf'), 'other.elf': g.elf64.path });
  const r = config(join(dir, 'hello.img'));
  assert.equal(r.detected, 'bootsector');
  assert.equal(r.config.program, join(dir, 'hello.img'));
  assert.deepEqual(r.config.symbols, [join(dir, 'hello.elf')]);
  assert.equal(r.config.type, 'kvm');
  assert.equal(r.config.request, 'launch');
  assert.equal(r.config.name, 'KVM: hello.img (boot sector)');
  assert.equal(r.config.serial, 'terminal');
  assert.equal(r.config.stopOnEntry, true);
  // with breakpoints the guess runs to them
  assert.equal(config(join(dir, 'hello.img'), { hasBreakpoints: true }).config.stopOnEntry, false);
  // alone, no symbols
  const lone = project('boot-lone', { 'disk.bin': boot });
  assert.equal(config(join(lone, 'disk.bin')).config.symbols, undefined);
});

test('ELF32, ELF64, Multiboot and Multiboot2 kernels: the ELF is the program and its own symbols', () => {
  const cases: [string, string, string][] = [
    [g.elf32.path, 'elf32', 'ELF32'],
    [g.elf64.path, 'elf64', 'ELF64'],
    [g.mb1.path, 'multiboot', 'Multiboot'],
    [g.mb1Elf64.path, 'multiboot', 'Multiboot'],
    [g.mb2.path, 'multiboot2', 'Multiboot2'],
    [g.mb1Aout.path, 'multiboot', 'Multiboot'],
  ];
  for (const [path, detected, label] of cases) {
    const r = config(path);
    assert.equal(r.detected, detected, path);
    assert.equal(r.config.program, path);
    assert.equal(r.config.symbols, undefined);
    assert.match(r.config.name, new RegExp(`\\(${label}\\)$`));
    // what the guess says agrees with the adapter's own detection
    assert.equal(parseLaunchArgs(r.config).program, path);
  }
});

test('a Linux bzImage: its initrd as a module and the console on the serial port', () => {
  const dir = project('linux', { 'bzImage': fakeBzImage(), 'initrd.img-6.1': Buffer.from('initrd') });
  assert.ok(isBzImage(readFileSync(join(dir, 'bzImage'))));
  const r = config(join(dir, 'bzImage'));
  assert.equal(r.detected, 'bzimage');
  assert.deepEqual(r.config.modules, [join(dir, 'initrd.img-6.1')]);
  assert.equal(r.config.cmdline, 'console=ttyS0');
  assert.doesNotThrow(() => parseLaunchArgs(r.config));
});

test('files kvmdbg cannot boot unaided: ask, saying why', () => {
  const dir = project('unknown', { 'blob.bin': Buffer.alloc(1024, 0x90), 'empty.img': Buffer.alloc(0) });
  const blob = guessFromFile(join(dir, 'blob.bin'), nodeProbe);
  assert.equal(blob.kind, 'ask');
  assert.match(blob.why, /flat/);
  assert.equal(guessFromFile(join(dir, 'empty.img'), nodeProbe).kind, 'ask');
  assert.equal(guessFromFile(join(dir, 'missing.img'), nodeProbe).kind, 'ask');
  assert.equal(detectFormat(Buffer.from('hello')), undefined);
});

test('a source file: the build output near it (build/ beside it or one level up)', () => {
  const elf = boot.replace(/\.bin$/, '.elf');
  const dir = project('src-up', {
    'src/kernel.c': Buffer.from('void kmain(void) {}\n'),
    'src/boot.S': Buffer.from('.code16\n'),
    'build/kernel.img': boot,
    'build/kernel.elf': elf,
    'build/kernel.o': Buffer.from('not a guest'),
  });
  for (const src of ['src/kernel.c', 'src/boot.S']) {
    const r = config(join(dir, src));
    assert.equal(r.config.program, join(dir, 'build', 'kernel.img'), src);
    assert.deepEqual(r.config.symbols, [join(dir, 'build', 'kernel.elf')]);
  }
  const beside = project('src-beside', { 'kernel.asm': Buffer.from('bits 16\n'), 'build/kernel.elf': g.mb2.path });
  const r = config(join(beside, 'kernel.asm'));
  assert.equal(r.config.program, join(beside, 'build', 'kernel.elf'));
  assert.equal(r.detected, 'multiboot2');
  // nothing built yet: ask
  const none = project('src-none', { 'main.rs': Buffer.from('fn main() {}\n') });
  const asked = guessFromFile(join(none, 'main.rs'), nodeProbe);
  assert.equal(asked.kind, 'ask');
  assert.match(asked.why, /no guest image/);
});

test('a source file with several guests built: the one named like it, else a choice', () => {
  const dir = project('several', {
    'kernel.c': Buffer.from(''),
    'util.c': Buffer.from(''),
    'build/kernel.elf': g.elf64.path,
    'build/loader.elf': g.elf32.path,
    'build/disk.img': boot,
  });
  const k = config(join(dir, 'kernel.c'));
  assert.equal(k.config.program, join(dir, 'build', 'kernel.elf'));
  const u = guessFromFile(join(dir, 'util.c'), nodeProbe);
  assert.equal(u.kind, 'choose');
  if (u.kind !== 'choose') return;
  assert.deepEqual(u.candidates.map((c) => [c.program, c.detected]), [
    [join(dir, 'build', 'disk.img'), 'bootsector'],
    [join(dir, 'build', 'kernel.elf'), 'elf64'],
    [join(dir, 'build', 'loader.elf'), 'elf32'],
  ]);
});

test('the example: kernel.c leads to build/kernel.img with build/kernel.elf as symbols', () => {
  execFileSync('make', ['-s', '-C', join(ROOT, 'examples')], { stdio: ['ignore', 'ignore', 'inherit'] });
  const r = config(join(ROOT, 'examples', 'kernel.c'));
  assert.equal(r.detected, 'bootsector');
  assert.equal(r.config.program, join(ROOT, 'examples', 'build', 'kernel.img'));
  assert.deepEqual(r.config.symbols, [join(ROOT, 'examples', 'build', 'kernel.elf')]);
  // opening the ELF itself (an ELF64 linked at 0x7C00 whose entry is 16-bit code) is taken literally
  assert.equal(config(join(ROOT, 'examples', 'build', 'kernel.elf')).detected, 'elf64');
  // and as launch.json would hold it
  const rel = relativize(r.config, join(ROOT, 'examples'));
  assert.equal(rel.program, '${workspaceFolder}/build/kernel.img');
  assert.deepEqual(rel.symbols, ['${workspaceFolder}/build/kernel.elf']);
});

test('candidates from a workspace listing: images claim their ELF, a flat Multiboot image yields to its ELF', () => {
  const aoutElf = g.mb1Aout.elf;
  const dir = project('ws', {
    'a/kernel.img': boot,
    'a/kernel.elf': boot.replace(/\.bin$/, '.elf'),
    'b/mb.bin': g.mb1Aout.path,
    'b/mb.elf': aoutElf,
    'c/notes.bin': Buffer.from('text'),
  });
  const paths = ['a/kernel.img', 'a/kernel.elf', 'b/mb.bin', 'b/mb.elf', 'c/notes.bin'].map((p) => join(dir, p));
  const c = candidatesFrom(paths, nodeProbe);
  assert.deepEqual(c.map((x) => [x.program, x.detected, x.symbols]), [
    [join(dir, 'a/kernel.img'), 'bootsector', join(dir, 'a/kernel.elf')],
    [join(dir, 'b/mb.elf'), 'multiboot', undefined],
  ]);
  const configs = c.map((x) => configFor(x));
  for (const cfg of configs) assert.doesNotThrow(() => parseLaunchArgs(cfg));
});

test('relativize: paths inside the folder become ${workspaceFolder}/..., others stay', () => {
  const c = relativize({
    type: 'kvm', request: 'launch', name: 'n', program: '/ws/build/k.img', symbols: ['/ws/build/k.elf', '/elsewhere/x.elf'],
    modules: ['/ws/initrd'], cwd: '/ws', serial: 'terminal',
  }, '/ws');
  assert.equal(c.program, '${workspaceFolder}/build/k.img');
  assert.deepEqual(c.symbols, ['${workspaceFolder}/build/k.elf', '/elsewhere/x.elf']);
  assert.deepEqual(c.modules, ['${workspaceFolder}/initrd']);
  assert.equal(c.cwd, '${workspaceFolder}');
  assert.equal(c.serial, 'terminal');
});

test('a FileProbe is all the guesser reads through', () => {
  const reads: string[] = [];
  const probe: FileProbe = {
    read: (p) => {
      reads.push(p);
      return p === '/v/build/os.elf' ? readFileSync(g.elf64.path) : undefined;
    },
    list: (d) => (d === '/v/build' ? ['os.elf', 'README'] : []),
  };
  const r = guessFromFile('/v/main.c', probe);
  assert.equal(r.kind, 'config');
  assert.ok(reads.every((p) => p.startsWith('/v/')));
});
