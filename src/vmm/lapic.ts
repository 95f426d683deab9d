// The in-kernel local APIC as KVM_GET_LAPIC reports it (its register page), and the vector it
// would hand the CPU next: the choice of kvm's lapic.c (apic_has_interrupt: the highest requested
// vector whose priority class is above the processor priority, the TPR's or the highest in
// service's). KVM takes the 8259s' interrupt first, where the APIC lets it through (LINT0 in
// virtual-wire mode, or the APIC off: kvm_apic_accept_pic_intr). Reverse execution asks both
// before a recorded step, to stop that step at the handler the interrupt enters.

/** Register offsets in the page (Intel SDM vol. 3, table 11-1). */
const TPR = 0x80;
const SVR = 0xf0;
const ISR = 0x100;
const IRR = 0x200;
const LVT0 = 0x350;
const SVR_ENABLE = 0x100;
const LVT_MASKED = 0x10000;
const DELIVERY_EXTINT = 7;
/** IA32_APIC_BASE's global enable. */
const APIC_BASE_ENABLE = 1n << 11n;

export interface ApicState {
  /** Globally (IA32_APIC_BASE) and by software (SVR) enabled: it delivers interrupts of its own. */
  enabled: boolean;
  /** It passes the 8259s' interrupt on. */
  acceptsPic: boolean;
  tpr: number;
  /** The highest vector in service, -1 when none. */
  inService: number;
  /** The highest vector requested, -1 when none. */
  requested: number;
}

/** The state that matters for delivery, out of a kvm_lapic_state page and IA32_APIC_BASE. */
export function apicState(page: Buffer, apicBase: bigint): ApicState {
  const on = (apicBase & APIC_BASE_ENABLE) !== 0n;
  const lvt0 = page.readUInt32LE(LVT0);
  return {
    enabled: on && (page.readUInt32LE(SVR) & SVR_ENABLE) !== 0,
    acceptsPic: !on || (!(lvt0 & LVT_MASKED) && ((lvt0 >> 8) & 7) === DELIVERY_EXTINT),
    tpr: page.readUInt32LE(TPR) & 0xff,
    inService: highest(page, ISR),
    requested: highest(page, IRR),
  };
}

/** The highest bit set in one of the 256-bit registers (eight 32-bit words, 16 bytes apart). */
function highest(page: Buffer, base: number): number {
  for (let w = 7; w >= 0; w--) {
    const v = page.readUInt32LE(base + w * 16);
    if (v) return w * 32 + 31 - Math.clz32(v);
  }
  return -1;
}

/** The vector the local APIC delivers next, or undefined when none is ready. */
export function nextApicVector(s: ApicState): number | undefined {
  if (!s.enabled || s.requested < 0) return undefined;
  const isrv = Math.max(s.inService, 0);
  const ppr = (s.tpr & 0xf0) >= (isrv & 0xf0) ? s.tpr : isrv & 0xf0;
  return (s.requested & 0xf0) > (ppr & 0xf0) ? s.requested : undefined;
}
