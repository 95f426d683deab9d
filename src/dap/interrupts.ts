// The guest's interrupt handlers, read from its IDT (or real-mode IVT), by linear address.
import type { Machine } from '../vmm/machine.js';

/** Linear addresses of the handlers for vectors `from`..255 (external interrupts by default). */
export function interruptHandlers(m: Machine, vcpu: number, from = 32): Set<bigint> {
  const s = m.getSregs(vcpu);
  const out = new Set<bigint>();
  const idt = s.idt;
  if (!(s.cr0 & 1n)) {
    const n = Math.min(256, Math.floor((idt.limit + 1) / 4));
    if (n <= from) return out;
    const ivt = m.readLinear(vcpu, idt.base + BigInt(from * 4), (n - from) * 4);
    for (let v = 0; v < n - from; v++) {
      out.add(BigInt(ivt.readUInt16LE(v * 4 + 2) * 16 + ivt.readUInt16LE(v * 4)));
    }
    return out;
  }
  const long = (s.efer & 0x400n) !== 0n;
  const size = long ? 16 : 8;
  const n = Math.min(256, Math.floor((idt.limit + 1) / size));
  if (n <= from) return out;
  const table = m.readLinear(vcpu, idt.base + BigInt(from * size), (n - from) * size);
  for (let v = 0; v < n - from; v++) {
    const e = v * size;
    if (!(table[e + 5] & 0x80)) continue; // not present
    let off = BigInt(table.readUInt16LE(e) | (table.readUInt16LE(e + 6) << 16)) & 0xffffffffn;
    if (long) off |= BigInt(table.readUInt32LE(e + 8)) << 32n;
    // Gates name a code segment; flat segments (base 0) are the rule, so the offset is linear.
    out.add(off);
  }
  return out;
}
