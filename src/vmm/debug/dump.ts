// A register dump for people: general, segment, descriptor-table and control registers in hex.
import type { Vcpu } from '../vcpu.js';
import { GPR_NAMES, SEGMENT_NAMES } from '../../x86/registers.js';

const h = (v: bigint, w = 16) => v.toString(16).padStart(w, '0');

export function registerDump(v: Vcpu): string {
  const r = v.getRegs();
  const s = v.getSregs();
  const lines: string[] = [`vCPU ${v.id}:`];
  for (let i = 0; i < GPR_NAMES.length; i += 4) {
    lines.push('  ' + GPR_NAMES.slice(i, i + 4).map((n) => `${n.padStart(6)}=${h(r[n])}`).join(' '));
  }
  for (const n of SEGMENT_NAMES) {
    const g = s[n];
    lines.push(
      `  ${n.padStart(6)}=${h(BigInt(g.selector), 4)} base=${h(g.base)} limit=${h(BigInt(g.limit), 8)} ` +
      `type=${g.type.toString(16)} ${g.present ? 'P' : '-'}${g.s ? 'S' : '-'} dpl=${g.dpl} ` +
      `${g.l ? 'L' : '-'}${g.db ? 'D' : '-'}${g.g ? 'G' : '-'}${g.unusable ? ' unusable' : ''}`,
    );
  }
  lines.push(`    gdtr=${h(s.gdt.base)}/${h(BigInt(s.gdt.limit), 4)}   idtr=${h(s.idt.base)}/${h(BigInt(s.idt.limit), 4)}`);
  lines.push(`     cr0=${h(s.cr0)}    cr2=${h(s.cr2)}    cr3=${h(s.cr3)}`);
  lines.push(`     cr4=${h(s.cr4)}    cr8=${h(s.cr8)}   efer=${h(s.efer)}`);
  return lines.join('\n');
}
