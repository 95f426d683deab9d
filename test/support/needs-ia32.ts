// Imported first by test files that run 32-bit x86 programs (gcc -m32, then gdb on them): such a
// file fails at once where this kernel can't run them ("IA-32 emulation" off, as on the kvm_pvm
// machines); scripts/run-tests.sh then runs it in the test VM, whose kernel can.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'kvmdbg-ia32-'));
try {
  const exe = join(dir, 'exit0');
  execFileSync('gcc', ['-m32', '-static', '-nostdlib', '-x', 'c', '-', '-o', exe],
    { input: 'void _start(void) { __asm__ volatile("int $0x80" :: "a"(1), "b"(0)); }', stdio: ['pipe', 'ignore', 'pipe'] });
  execFileSync(exe, [], { stdio: 'ignore' });
} catch (e) {
  throw new Error(
    `this test file runs 32-bit x86 programs, and this machine can't (${(e as Error).message.split('\n')[0]}); ` +
    'run it in the test VM: scripts/test-vm.sh run -- node --import tsx --test FILE',
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
