// package.json's `kvm` debugger contribution against the adapter's launch validation
// (src/dap/launch-args.ts): every field, its JSON type, enums, defaults, the snippets, the initial
// configuration and examples/.vscode/launch.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAUNCH_FIELDS, parseLaunchArgs, LaunchError } from '../src/dap/launch-args.js';

const ROOT = join(__dirname, '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const dbg = pkg.contributes.debuggers.find((d: { type: string }) => d.type === 'kvm');
const props: Record<string, Record<string, unknown>> = dbg.configurationAttributes.launch.properties;
const WS = '/tmp/kvmdbg-workspace';

const types = (t: unknown) => (Array.isArray(t) ? [...t] : [t]).sort();

/** A snippet body as VS Code inserts it, with every placeholder at its default. */
function expand(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(expand);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expand(x)]));
  if (typeof v !== 'string') return v;
  const s = v
    .replace(/\$\{\d+\|([^,|]*)[^|]*\|\}/g, '$1') // ${1|a,b|} -> a
    .replace(/\$\{\d+:([^}]*)\}/g, '$1') // ${1:text} -> text
    .replace(/\$\{\d+\}|\$\d+/g, '') // ${1}, $1 -> ''
    .replace(/\\\$/g, '$')
    .replace(/\$\{workspaceFolder\}/g, WS);
  return s.startsWith('^') ? JSON.parse(s.slice(1)) : s;
}

/**
 * VS Code has no assembly language of its own: .S/.s/.asm files take the language of whichever
 * extension highlights them, and F9 sets a breakpoint only where the debugger lists that language.
 * The ids of the x86 assembly extensions, each read from the extension's own package.json:
 */
const X86_ASSEMBLY_LANGUAGES = [
  'asm-intel-x86-generic', // "x86 and x86_64 Assembly", 13xforever.language-x86-64-assembly (since 2021; 'asm' before)
  'gas', // "GNU Assembler Language Support", basdp.language-gas-x86 (.s, .S, .sx, .asm)
  'nasm', // "NASM Language Support", doinkythederp.nasm-language-support
  'masm', // "MASM Language" (leafvmaple/vscode-masm, .masm)
  'assembly', // "MASM/TASM", xsro.masm-tasm (.asm, .inc: DOS, real mode)
  'asm-collection', // "ASM Code Lens", maziac.asm-code-lens (.asm, .s, .inc)
  'x86asm', // "Universal Assembly Syntax Highlighting" (x86-assembly-syntax)
];

test('the kvm debugger: adapter, runtime, languages, breakpoints, activation, commands', () => {
  assert.equal(dbg.label, 'KVM');
  assert.equal(dbg.program, './dist/adapter.js');
  assert.equal(dbg.runtime, 'node');
  for (const l of ['asm', 'c', 'cpp', 'rust', ...X86_ASSEMBLY_LANGUAGES]) {
    assert.ok(dbg.languages.includes(l), `languages has ${l}`);
    assert.ok(pkg.contributes.breakpoints.some((b: { language: string }) => b.language === l), `breakpoints for ${l}`);
  }
  // x86 only: other architectures' assembly is not kvmdbg's
  for (const l of ['arm', 'arm64', 'aarch64', 'riscv', 'mips']) {
    assert.ok(!dbg.languages.includes(l) && !pkg.contributes.breakpoints.some((b: { language: string }) => b.language === l), l);
  }
  assert.deepEqual(dbg.configurationAttributes.launch.required, ['program']);
  for (const e of ['onDebugResolve:kvm', 'onDebugDynamicConfigurations:kvm', 'onDebugInitialConfigurations']) {
    assert.ok(pkg.activationEvents.includes(e), e);
  }
  // VS Code 1.74 and later activate on a contributed command by itself
  assert.deepEqual(pkg.activationEvents.filter((e: string) => e.startsWith('onCommand:')), []);
  const titles = new Map(pkg.contributes.commands.map((c: { command: string; category: string; title: string }) => [c.command, `${c.category}: ${c.title}`]));
  assert.equal(titles.get('kvmdbg.showRegisterPanel'), 'KVM: Show Register Panel');
  assert.equal(titles.get('kvmdbg.translateAddress'), 'KVM: Translate Address');
  assert.equal(pkg.main, './dist/extension.js');
  assert.ok(pkg.categories.includes('Debuggers'));
});

test('every launch field is in the schema with its JSON types and a description, and nothing else is', () => {
  assert.deepEqual(Object.keys(props).sort(), Object.keys(LAUNCH_FIELDS).sort());
  for (const [name, t] of Object.entries(LAUNCH_FIELDS)) {
    const p = props[name];
    assert.deepEqual(types(p.type), [...t].sort(), `${name}: type`);
    assert.equal(typeof p.description, 'string', `${name}: description`);
    assert.ok((p.description as string).length > 20, `${name}: a real description`);
  }
});

test('enums: every value is accepted by parseLaunchArgs, and a value outside them is refused naming the field', () => {
  const withEnum = Object.entries(props).filter(([, p]) => Array.isArray(p.enum));
  assert.deepEqual(withEnum.map(([n]) => n).sort(), ['bootEntry', 'disassemblySyntax', 'disk', 'format', 'keys', 'mode']);
  for (const [name, p] of withEnum) {
    const values = p.enum as string[];
    assert.equal((p.enumDescriptions as string[]).length, values.length, `${name}: a description per value`);
    for (const v of values) assert.doesNotThrow(() => parseLaunchArgs({ program: 'g.img', [name]: v }), `${name}=${v}`);
    assert.throws(() => parseLaunchArgs({ program: 'g.img', [name]: 'bogus' }), (e: Error) => e instanceof LaunchError && e.message.includes(`"${name}"`));
  }
  // format's enum is the loaders' formats plus auto
  assert.deepEqual([...(props.format.enum as string[])].sort(), ['auto', 'bootsector', 'bzimage', 'elf32', 'elf64', 'flat', 'multiboot', 'multiboot2', 'pvh']);
  // serial: the two named targets (anything else is a file path)
  const named = (props.serial.anyOf as { enum?: string[]; enumDescriptions?: string[] }[]).find((a) => a.enum)!;
  assert.deepEqual([...named.enum!].sort(), ['console', 'terminal']);
  assert.equal(named.enumDescriptions!.length, 2);
  assert.deepEqual(parseLaunchArgs({ program: 'g', serial: 'terminal' }).serial, { kind: 'terminal' });
  assert.deepEqual(parseLaunchArgs({ program: 'g', serial: 'console' }).serial, { kind: 'console' });
  assert.equal(parseLaunchArgs({ program: 'g', serial: 'out.log', cwd: WS }).serial.kind, 'file');
  assert.throws(() => parseLaunchArgs({ program: 'g', serial: 7 }), /"serial"/);
});

test('defaults are valid launch arguments', () => {
  for (const [name, p] of Object.entries(props)) {
    assert.ok('default' in p, `${name} has a default`);
    const args: Record<string, unknown> = { program: 'g.img', [name]: expand(p.default) };
    assert.doesNotThrow(() => parseLaunchArgs(args), `${name}: default ${JSON.stringify(p.default)}`);
  }
});

test('patterns and bounds agree with parseLaunchArgs', () => {
  const memory = new RegExp(props.memory.pattern as string);
  for (const ok of ['64M', '1G', '512m', '1.5G', '65536K', '2GiB', ' 128 M ']) {
    assert.ok(memory.test(ok), ok);
    assert.doesNotThrow(() => parseLaunchArgs({ program: 'g', memory: ok }), ok);
  }
  for (const bad of ['lots', '64X', '']) {
    assert.ok(!memory.test(bad), bad);
    assert.throws(() => parseLaunchArgs({ program: 'g', memory: bad }), /"memory"/);
  }
  assert.doesNotThrow(() => parseLaunchArgs({ program: 'g', memory: 128 }));
  for (const field of ['loadAddress', 'entry']) {
    const re = new RegExp(props[field].pattern as string);
    for (const ok of ['0x100000', '0X7C00', '1048576']) {
      assert.ok(re.test(ok), ok);
      assert.doesNotThrow(() => parseLaunchArgs({ program: 'g', [field]: ok }));
    }
    for (const bad of ['100000h', '-1', 'x']) {
      assert.ok(!re.test(bad), bad);
      assert.throws(() => parseLaunchArgs({ program: 'g', [field]: bad }), new RegExp(`"${field}"`));
    }
  }
  assert.equal(props.smp.minimum, 1);
  assert.equal(props.smp.maximum, 64);
  assert.doesNotThrow(() => parseLaunchArgs({ program: 'g', smp: 64 }));
  assert.throws(() => parseLaunchArgs({ program: 'g', smp: 65 }), /"smp"/);
  assert.throws(() => parseLaunchArgs({ program: 'g', smp: 0 }), /"smp"/);
  // modules and symbols: both item shapes
  const mod = parseLaunchArgs({ program: 'g', cwd: WS, modules: ['a.bin', { path: 'b.bin', args: 'x=1' }] }).modules;
  assert.deepEqual(mod, [{ path: `${WS}/a.bin` }, { path: `${WS}/b.bin`, args: 'x=1' }]);
  // initrd: one file or several (concatenated by the loader), as the first modules; never both
  assert.deepEqual(parseLaunchArgs({ program: 'g', cwd: WS, initrd: 'i.cpio' }).modules, [{ path: `${WS}/i.cpio` }]);
  assert.deepEqual(parseLaunchArgs({ program: 'g', cwd: WS, initrd: ['a.cpio', 'b.cpio'] }).modules, [{ path: `${WS}/a.cpio` }, { path: `${WS}/b.cpio` }]);
  assert.throws(() => parseLaunchArgs({ program: 'g', initrd: 'i', modules: ['m'] }), /"initrd".*"modules" are both given/);
  assert.throws(() => parseLaunchArgs({ program: 'g', initrd: [] }), /"initrd": \[\] must be a file path/);
  assert.throws(() => parseLaunchArgs({ program: 'g', initrd: [7] }), /"initrd\[0\]": 7 must be a file path/);
  const sym = parseLaunchArgs({ program: 'g', cwd: WS, symbols: ['k.elf', { path: 'm.elf', offset: '0x1000' }] }).symbols;
  // No offset: 0 for an ELF, the running kernel's KASLR slide for a System.map (debug-info.ts).
  assert.deepEqual(sym.map((s) => s.offset), [undefined, 0x1000n]);
  const symItem = (props.symbols.items as { anyOf: { properties?: Record<string, { type: unknown }> }[] }).anyOf[1];
  assert.deepEqual(types(symItem.properties!.offset.type), ['integer', 'string']);
});

test('the initial configuration and every snippet pass parseLaunchArgs', () => {
  const labels = dbg.configurationSnippets.map((s: { label: string }) => s.label);
  assert.deepEqual(labels, ['KVM: Boot sector', 'KVM: Flat binary', 'KVM: ELF64 kernel', 'KVM: Multiboot kernel', 'KVM: Linux bzImage with initrd']);
  const all = [...dbg.initialConfigurations, ...dbg.configurationSnippets.map((s: { body: unknown }) => s.body)];
  for (const raw of all) {
    const c = expand(raw) as Record<string, unknown>;
    assert.equal(c.type, 'kvm');
    assert.equal(c.request, 'launch');
    assert.equal(typeof c.name, 'string');
    assert.ok((c.program as string).startsWith(WS + '/'), `program under the workspace: ${c.program}`);
    const parsed = parseLaunchArgs(c);
    assert.equal(parsed.program, c.program);
  }
  for (const s of dbg.configurationSnippets) {
    assert.ok(s.description.length > 10, `${s.label}: description`);
  }
  const flat = parseLaunchArgs(expand(dbg.configurationSnippets[1].body) as Record<string, unknown>);
  assert.equal(flat.format, 'flat');
  assert.equal(flat.loadAddress, 0x100000);
  assert.equal(flat.mode, 'protected');
  const linux = parseLaunchArgs(expand(dbg.configurationSnippets[4].body) as Record<string, unknown>);
  assert.equal(linux.program, `${WS}/bzImage`);
  assert.deepEqual(linux.modules, [{ path: `${WS}/initrd.img` }]);
  assert.equal(linux.cmdline, 'console=ttyS0');
  assert.deepEqual(linux.serial, { kind: 'terminal' });
});

test('examples/.vscode/launch.json: the example, stopping on entry and running through', () => {
  const launch = JSON.parse(readFileSync(join(ROOT, 'examples', '.vscode', 'launch.json'), 'utf8'));
  const examples = join(ROOT, 'examples');
  const configs = launch.configurations.map((c: Record<string, unknown>) => JSON.parse(JSON.stringify(c).replace(/\$\{workspaceFolder\}/g, examples)));
  assert.equal(configs.length, 2);
  const parsed = configs.map((c: Record<string, unknown>) => {
    assert.equal(c.type, 'kvm');
    return parseLaunchArgs(c);
  });
  for (const p of parsed) {
    assert.equal(p.program, join(examples, 'build', 'kernel.img'));
    assert.deepEqual(p.symbols.map((s: { path: string }) => s.path), [join(examples, 'build', 'kernel.elf')]);
    assert.deepEqual(p.serial, { kind: 'terminal' });
  }
  assert.deepEqual(parsed.map((p: { stopOnEntry: boolean }) => p.stopOnEntry), [true, false]);
  // F5 builds the example first: each configuration's preLaunchTask is tasks.json's `make`
  const tasks = JSON.parse(readFileSync(join(examples, '.vscode', 'tasks.json'), 'utf8')).tasks as Record<string, unknown>[];
  for (const c of configs) {
    const task = tasks.find((t) => t.label === c.preLaunchTask);
    assert.ok(task, `${c.name}: preLaunchTask ${c.preLaunchTask} is in tasks.json`);
    assert.equal(task.command, 'make');
    assert.equal(task.problemMatcher, '$gcc');
  }
  // boot.S is GNU assembler: the recommended extension's language ("gas") takes breakpoints
  const recommended = JSON.parse(readFileSync(join(examples, '.vscode', 'extensions.json'), 'utf8').replace(/^\s*\/\/.*$/gm, ''));
  assert.deepEqual(recommended.recommendations, ['basdp.language-gas-x86']);
  assert.ok(X86_ASSEMBLY_LANGUAGES.includes('gas'));
});
