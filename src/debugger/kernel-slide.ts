// The KASLR slide of a running x86-64 Linux kernel. First choice: where the kernel first runs at
// a virtual address (the monitor's kernel-entry stop, src/vmm/kernel-entry.ts), before
// start_kernel. Where the host can't trap that, from its IDT: the handler address of an
// exception gate is where the kernel runs that handler, the map (System.map or kallsyms of the
// same build) says where it is linked, and the difference is the slide. Several gates must agree,
// so the early boot's IDT (every vector at early_idt_handler_array + 9 * vector, or not set up
// yet) gives no answer rather than a wrong one; nor does a guest that is not in long mode.
import { decodeSystemDescriptor } from '../x86/descriptors.js';
import { EFER_LMA } from '../x86/registers.js';
import type { Machine } from '../vmm/machine.js';

/** Exception vectors whose handlers Linux (5.8 and later) names asm_exc_*, with those names. */
const GATES: readonly [vector: number, handler: string][] = [
  [0, 'asm_exc_divide_error'], [3, 'asm_exc_int3'], [6, 'asm_exc_invalid_op'], [13, 'asm_exc_general_protection'], [14, 'asm_exc_page_fault'],
];
/** How many gates must agree on the slide. */
const AGREEING = 2;
const GATE_SIZE = 16;

/**
 * The slide (running address - linked address) of the kernel on `vcpu`, or undefined while its
 * IDT does not yet hold the kernel's own exception handlers. `linked` is the map's address of a
 * symbol (without any offset), undefined where the map lacks it.
 */
export function kernelSlide(m: Machine, vcpu: number, linked: (name: string) => bigint | undefined): bigint | undefined {
  const s = m.getSregs(vcpu);
  if ((s.efer & EFER_LMA) === 0n) return undefined;
  const slides: bigint[] = [];
  for (const [vector, name] of GATES) {
    const at = linked(name);
    if (at === undefined || (vector + 1) * GATE_SIZE - 1 > s.idt.limit) continue;
    let gate: Buffer;
    try {
      gate = m.readLinear(vcpu, s.idt.base + BigInt(vector * GATE_SIZE), GATE_SIZE);
    } catch {
      return undefined; // the IDT's page is not mapped
    }
    const d = decodeSystemDescriptor(gate.readBigUInt64LE(0), gate.readBigUInt64LE(8), true);
    // Not set yet (setup_arch installs int3 and page fault before trap_init the rest).
    if (!d.present || (d.kind !== 'interrupt-gate' && d.kind !== 'trap-gate') || d.offset === undefined) continue;
    slides.push(BigInt.asIntN(64, d.offset - at));
  }
  if (slides.length < AGREEING || slides.some((x) => x !== slides[0])) return undefined;
  return slides[0];
}

/** x86-64 KASLR moves the kernel by a multiple of 2 MiB (CONFIG_PHYSICAL_ALIGN must be one). */
const KASLR_ALIGN = 0x200000n;

/**
 * The slide from the kernel-entry stop's `address`: that code (secondary_startup_64, or
 * common_startup_64) lies in the head text, within 2 MiB of `_text`, so the slide is the
 * distance from the linked `_text`, rounded down to 2 MiB. Undefined where the symbols lack
 * `_text`, or the address then falls outside the linked text: not this kernel's.
 */
export function slideAtEntry(address: bigint, linked: (name: string) => bigint | undefined): bigint | undefined {
  const text = linked('_text');
  if (text === undefined || address < text) return undefined;
  const slide = ((address - text) / KASLR_ALIGN) * KASLR_ALIGN;
  const end = linked('_etext');
  return end === undefined || address - slide < end ? slide : undefined;
}
