// Checks every size, offset, request number and constant in src/vmm/kvm/abi.ts against <linux/kvm.h>.
// The C program is generated from abi.ts itself (LAYOUTS, IOCTLS and every other KVM_* export), so
// nothing is listed twice: adding an entry to abi.ts adds a check here. Needs gcc and the kernel
// headers (Debian: gcc linux-libc-dev); without them the test fails rather than skips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as abi from '../src/vmm/kvm/abi.js';

// abi.ts flattens nested C members into one name (kvm_run.io_port is `io.port`). A field whose name
// starts with one of these prefixes maps to the nested path; any other field is a direct member.
const NESTED_PREFIXES: Record<string, Record<string, string>> = {
  kvm_run: {
    io_: 'io.', mmio_: 'mmio.', debug_: 'debug.arch.', internal_: 'internal.',
    system_event_: 'system_event.', fail_entry_: 'fail_entry.', msr_: 'msr.',
  },
  kvm_vcpu_events: { exception_: 'exception.', interrupt_: 'interrupt.', nmi_: 'nmi.' },
};
// Names the prefix rule gets wrong, as struct.field -> C member path.
const MEMBER_OVERRIDES: Record<string, string> = {
  'kvm_run.fail_entry_reason': 'fail_entry.hardware_entry_failure_reason',
  'kvm_run.sync_regs': 's.regs.regs',
  'kvm_run.sync_sregs': 's.regs.sregs',
  'kvm_run.sync_events': 's.regs.events',
  'kvm_vcpu_events.exception_has_payload': 'exception_has_payload', // top-level members
  'kvm_vcpu_events.exception_payload': 'exception_payload',
  'kvm_guest_debug.debugreg': 'arch.debugreg',
};

function cMember(struct: string, field: string): string {
  const override = MEMBER_OVERRIDES[`${struct}.${field}`];
  if (override) return override;
  for (const [prefix, path] of Object.entries(NESTED_PREFIXES[struct] ?? {})) {
    if (field.startsWith(prefix)) return path + field.slice(prefix.length);
  }
  return field;
}

/** What abi.ts claims, as C expression -> value. */
function claims(): Map<string, number> {
  const out = new Map<string, number>();
  for (const [struct, layout] of Object.entries(abi.LAYOUTS)) {
    for (const [field, value] of Object.entries(layout)) {
      const expr = field === 'size'
        ? `sizeof(struct ${struct})`
        : `offsetof(struct ${struct}, ${cMember(struct, field)})`;
      out.set(expr, value);
    }
  }
  for (const [name, value] of Object.entries(abi.IOCTLS)) out.set(name, value);
  // Every other KVM_* export: a number is a macro of that name; an object (KVM_CAP, KVM_EXIT, ...)
  // holds macros named KVM_<OBJECT>_<KEY>.
  for (const [name, value] of Object.entries(abi)) {
    if (!name.startsWith('KVM_')) continue;
    if (typeof value === 'number') {
      out.set(name, value);
    } else {
      for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
        assert.equal(typeof v, 'number', `${name}.${key} is not a number`);
        out.set(`${name}_${key}`, v as number);
      }
    }
  }
  return out;
}

/** Compiles and runs a program printing each expression's value under <linux/kvm.h>. */
function evaluateInC(exprs: string[]): Map<string, number> {
  const lines = exprs.map(
    (e) => `  printf("%s\\t%lld\\n", ${JSON.stringify(e)}, (long long)(${e}));`,
  );
  const source = [
    '#include <stddef.h>', '#include <stdio.h>', '#include <linux/kvm.h>',
    'int main(void) {', ...lines, '  return 0;', '}', '',
  ].join('\n');
  const dir = mkdtempSync(join(tmpdir(), 'kvmdbg-abi-'));
  try {
    const src = join(dir, 'abi.c');
    const exe = join(dir, 'abi');
    writeFileSync(src, source);
    try {
      execFileSync('gcc', ['-std=gnu11', '-Wall', '-o', exe, src], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
      if (e.code === 'ENOENT') {
        throw new Error('gcc not found: the ABI test needs gcc and the Linux headers (apt install gcc linux-libc-dev)');
      }
      throw new Error(`compiling the ABI probe failed (unknown member or macro in abi.ts?):\n${e.stderr ?? e.message}`);
    }
    const out = new Map<string, number>();
    for (const line of execFileSync(exe, { encoding: 'utf8' }).trim().split('\n')) {
      const [expr, value] = line.split('\t');
      out.set(expr, Number(value));
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('abi.ts agrees with <linux/kvm.h> on every size, offset, request number and constant', () => {
  const expected = claims();
  const actual = evaluateInC([...expected.keys()]);
  assert.equal(actual.size, expected.size, 'the probe printed a different number of values');
  const mismatches: string[] = [];
  for (const [expr, value] of expected) {
    if (actual.get(expr) !== value) {
      mismatches.push(`${expr}: abi.ts has ${value}, <linux/kvm.h> has ${actual.get(expr)}`);
    }
  }
  assert.deepEqual(mismatches, []);
});

test('the generated checks cover every table', () => {
  const exprs = [...claims().keys()];
  for (const struct of Object.keys(abi.LAYOUTS)) {
    assert.ok(exprs.includes(`sizeof(struct ${struct})`), struct);
  }
  for (const name of ['KVM_CAP_IMMEDIATE_EXIT', 'KVM_EXIT_SYSTEM_EVENT', 'KVM_GUESTDBG_ENABLE',
    'KVM_MP_STATE_HALTED', 'KVM_SYSTEM_EVENT_RESET', 'KVM_INTERNAL_ERROR_EMULATION',
    'KVM_RUN', 'KVM_API_VERSION', 'KVM_EXIT_IO_OUT', 'KVM_VCPUEVENT_VALID_SHADOW', 'KVM_MEM_READONLY']) {
    assert.ok(exprs.includes(name), name);
  }
});
