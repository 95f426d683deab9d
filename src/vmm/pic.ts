// The in-kernel 8259 pair as KVM_GET_IRQCHIP reports it, and the vector it would hand the CPU
// next: the choice of kvm's i8259.c (pic_get_irq: the highest-priority requested, unmasked line
// above the highest in service; the slave's through the master's line 2). Reverse execution
// asks it before a recorded step, to stop that step at the handler the interrupt enters.
import * as abi from './kvm/abi.js';

export interface PicState {
  irr: number;
  imr: number;
  isr: number;
  priorityAdd: number;
  irqBase: number;
  specialFullyNested: boolean;
}

/** One 8259's state out of a kvm_irqchip buffer. */
export function picState(b: Buffer): PicState {
  const p = abi.kvm_irqchip.chip;
  const o = abi.kvm_pic_state;
  return {
    irr: b[p + o.irr], imr: b[p + o.imr], isr: b[p + o.isr], priorityAdd: b[p + o.priority_add], irqBase: b[p + o.irq_base],
    specialFullyNested: b[p + o.special_fully_nested_mode] !== 0,
  };
}

/** The priority (0 highest) of the best line in `mask`, 8 when none. */
function priority(s: PicState, mask: number): number {
  if (mask === 0) return 8;
  let p = 0;
  while ((mask & (1 << ((p + s.priorityAdd) & 7))) === 0) p++;
  return p;
}

/** The line a chip would raise, or -1. */
function line(s: PicState, master: boolean): number {
  const p = priority(s, s.irr & ~s.imr);
  if (p === 8) return -1;
  const inService = priority(s, master && s.specialFullyNested ? s.isr & ~4 : s.isr);
  return p < inService ? (p + s.priorityAdd) & 7 : -1;
}

/** The vector the pair delivers next, or undefined when none is ready. */
export function nextPicVector(master: PicState, slave: PicState): number | undefined {
  const m = line(master, true);
  if (m < 0) return undefined;
  if (m !== 2) return master.irqBase + m;
  const s = line(slave, false);
  return slave.irqBase + (s < 0 ? 7 : s);
}
