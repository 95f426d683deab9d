// A real-mode `int n` and 16-bit `iret` performed by the monitor as the CPU does them, for the
// stepper and for a recorded run alike. A hardware single step over either differs by host: on
// SVM the TF trap after an `int` comes only after the handler's iret and one more instruction,
// and a step over an iret that pops TF clear does not stop after it. A debug register at the
// handler would end the step there, but a real-mode handler lies in a segment whose base is not
// 0 (the BIOS's F000:xxxx), and the test VM's QEMU (TCG, emulated SVM) crashes when an execute
// breakpoint is hit where its linear address is not IP: it compares DR0-3 with EIP, finds no
// match, and hands the debug exit to its gdbstub, which is not running (a segfault, status 139).
import type { Machine } from '../vmm/machine.js';
import { realModeSegment } from '../vmm/arch/gdt.js';
import { CR0_PE_BIT } from '../x86/modes.js';
import { RFLAGS_IF, RFLAGS_TF } from '../x86/registers.js';
import { interruptEntry } from '../x86/interrupt-frame.js';

/**
 * Runs `perform` as the instruction's execution, given the linear ranges it writes (the
 * recorder's perform keeps it in the history); false when nothing was done.
 */
export type Perform = (vcpu: number, writes: { linear: bigint; length: number }[], perform: () => boolean) => boolean;

/**
 * `int vector` (return address `next`) through `perform`, its frame the write: FLAGS, CS and
 * IP pushed, IF and TF cleared, CS:IP from the IVT; the vCPU is then at the handler's first
 * instruction. False (nothing done) outside real mode.
 */
export function performRealModeInt(m: Machine, vcpu: number, vector: number, next: bigint, perform: Perform): boolean {
  const s = m.getSregs(vcpu);
  if (s.cr0 & CR0_PE_BIT) return false;
  const at = interruptEntry(vector, m.getRegs(vcpu), s, (l, n) => m.readLinear(vcpu, l, n));
  return perform(vcpu, at ? [at.frame] : [], () => {
    const r = m.getRegs(vcpu);
    const vec = m.readLinear(vcpu, s.idt.base + BigInt(vector * 4), 4);
    const sp = (Number(r.rsp & 0xffffn) - 6) & 0xffff;
    const frame = Buffer.alloc(6);
    frame.writeUInt16LE(Number((next - s.cs.base) & 0xffffn), 0);
    frame.writeUInt16LE(s.cs.selector, 2);
    frame.writeUInt16LE(Number(r.rflags & 0xffffn & ~RFLAGS_TF), 4);
    m.writeLinear(vcpu, s.ss.base + BigInt(sp), frame);
    m.setRegs(vcpu, { rsp: (r.rsp & ~0xffffn) | BigInt(sp), rip: BigInt(vec.readUInt16LE(0)), rflags: r.rflags & ~(RFLAGS_IF | RFLAGS_TF) });
    m.vcpu(vcpu).setSregs({ cs: realModeSegment(vec.readUInt16LE(2), true) });
    return true;
  });
}

/** A 16-bit `iret` through `perform`: IP, CS and FLAGS popped. False (nothing done) outside real mode. */
export function performRealModeIret(m: Machine, vcpu: number, perform: Perform): boolean {
  const s = m.getSregs(vcpu);
  if (s.cr0 & CR0_PE_BIT) return false;
  return perform(vcpu, [], () => {
    const r = m.getRegs(vcpu);
    const sp = Number(r.rsp & 0xffffn);
    const frame = m.readLinear(vcpu, s.ss.base + BigInt(sp), 6);
    const flags = BigInt(frame.readUInt16LE(4)) & ~RFLAGS_TF;
    m.setRegs(vcpu, {
      rsp: (r.rsp & ~0xffffn) | BigInt((sp + 6) & 0xffff), rip: BigInt(frame.readUInt16LE(0)),
      rflags: (r.rflags & ~0xffffn) | flags | 2n,
    });
    m.vcpu(vcpu).setSregs({ cs: realModeSegment(frame.readUInt16LE(2), true) });
    return true;
  });
}
