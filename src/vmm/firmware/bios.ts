// The monitor's side of the BIOS: installs the ROM, IVT and BDA (bda.ts) and the interrupt
// controllers' state a BIOS leaves behind, and serves a trap from the ROM (an I/O exit on
// BIOS_TRAP_PORT): reads the caller's registers, runs the service (services.ts), writes the
// registers back, sets CF/ZF in the FLAGS image the `int` pushed (SS:SP+4), which the stub's iret
// pops, as a real BIOS returns them.
import * as abi from '../kvm/abi.js';
import * as sys from '../kvm/sys.js';
import type { Vcpu } from '../vcpu.js';
import { GPR } from '../../x86/registers.js';
import { realModeSegment } from '../arch/gdt.js';
import { installFirmware, type FirmwareMemory } from './bda.js';
import { buildRom, ROM_BASE, ROM_SIZE, type FirmwareSymbol, type TrapId } from './rom.js';
import { keyboardInterrupt } from './keyboard.js';
import { service, type BiosContext, type BiosRegs, type MemoryMapEntry, type ServiceResult, type VideoHooks } from './services.js';
import type { BootDisk } from './disk.js';

export interface BiosOptions {
  mem: FirmwareMemory;
  disk?: BootDisk;
  memoryMap: readonly MemoryMapEntry[];
  /** Disk transfers into guest memory go through here (planted breakpoints stay planted). */
  writeGuest?: (gpa: number, data: Uint8Array) => void;
  /** Reads of guest memory that must not see planted breakpoints. */
  readGuest?: (gpa: number, len: number) => Buffer;
  video?: VideoHooks;
  now?: () => Date;
}

const FLAG_CF = 0x0001;
const FLAG_ZF = 0x0040;

export class Bios {
  readonly rom = buildRom();
  readonly disk: BootDisk | undefined;
  private readonly ctx: BiosContext;
  private readonly regs: BiosRegs = { eax: 0, ebx: 0, ecx: 0, edx: 0, esi: 0, edi: 0, ebp: 0, esp: 0, es: 0, ds: 0, ss: 0, esBase: 0, dsBase: 0, ssBase: 0 };
  /** Every trap served, by id (tests and the trace read them). */
  readonly counts = new Map<TrapId, number>();

  constructor(opts: BiosOptions) {
    this.disk = opts.disk;
    const mem = opts.mem;
    this.ctx = {
      mem,
      readGuest: opts.readGuest ?? ((gpa, len) => Buffer.from(mem.view(gpa, len))),
      writeGuest: opts.writeGuest ?? ((gpa, data) => mem.view(gpa, data.length).set(data)),
      disk: opts.disk,
      memoryMap: opts.memoryMap,
      now: opts.now ?? (() => new Date()),
      monotonic: () => performance.now(),
      video: opts.video,
      state: {},
    };
    installFirmware(mem, { disk: opts.disk, now: this.ctx.now() });
  }

  /** The ROM's routines and tables, for the debugger's call stacks and disassembly. */
  get symbols(): readonly FirmwareSymbol[] {
    return this.rom.symbols;
  }

  /** Where the cursor goes on the screen: set once the VGA device is there. */
  set video(v: VideoHooks | undefined) {
    this.ctx.video = v;
  }

  /**
   * An I/O exit on BIOS_TRAP_PORT: serves it when the guest is at a ROM trap point and returns
   * true; false for a write from anywhere else (the port is then an unassigned one).
   */
  trap(v: Vcpu): boolean {
    const s = v.getSregs();
    const r = v.loadRegs();
    const ip = Number(s.cs.base + r[GPR.rip]) - ROM_BASE;
    if (ip < 0 || ip >= ROM_SIZE) return false;
    const t = this.rom.trapAt(ip);
    if (!t) return false;
    this.counts.set(t.id, (this.counts.get(t.id) ?? 0) + 1);
    if (t.id === 'irq1') {
      keyboardInterrupt(this.ctx.mem, Number(r[GPR.rax] & 0xffn));
      return true;
    }
    const g = this.regs;
    g.eax = lo32(r[GPR.rax]); g.ebx = lo32(r[GPR.rbx]); g.ecx = lo32(r[GPR.rcx]); g.edx = lo32(r[GPR.rdx]);
    g.esi = lo32(r[GPR.rsi]); g.edi = lo32(r[GPR.rdi]); g.ebp = lo32(r[GPR.rbp]); g.esp = lo32(r[GPR.rsp]);
    g.es = s.es.selector; g.ds = s.ds.selector; g.ss = s.ss.selector;
    g.esBase = Number(s.es.base); g.dsBase = Number(s.ds.base); g.ssBase = Number(s.ss.base);
    const res = service(t.id, g, this.ctx);
    this.finish(v, r, res);
    return true;
  }

  private finish(v: Vcpu, r: BigUint64Array, res: ServiceResult): void {
    const g = this.regs;
    // Registers are written back only when a service changed them: a write costs two ioctls
    // when it comes inside a step (Vcpu sets guest debug again to keep the step's trap flag).
    const changed = res.redirect !== undefined || lo32(r[GPR.rax]) !== g.eax || lo32(r[GPR.rbx]) !== g.ebx ||
      lo32(r[GPR.rcx]) !== g.ecx || lo32(r[GPR.rdx]) !== g.edx || lo32(r[GPR.rsi]) !== g.esi ||
      lo32(r[GPR.rdi]) !== g.edi || lo32(r[GPR.rbp]) !== g.ebp;
    r[GPR.rax] = hi32(r[GPR.rax], g.eax); r[GPR.rbx] = hi32(r[GPR.rbx], g.ebx);
    r[GPR.rcx] = hi32(r[GPR.rcx], g.ecx); r[GPR.rdx] = hi32(r[GPR.rdx], g.edx);
    r[GPR.rsi] = hi32(r[GPR.rsi], g.esi); r[GPR.rdi] = hi32(r[GPR.rdi], g.edi);
    r[GPR.rbp] = hi32(r[GPR.rbp], g.ebp);
    if (res.cf !== undefined || res.zf !== undefined) {
      const at = g.ssBase + ((g.esp + 4) & 0xffff);
      const f = this.ctx.mem.view(at, 2);
      let flags = f.readUInt16LE(0);
      if (res.cf !== undefined) flags = res.cf ? flags | FLAG_CF : flags & ~FLAG_CF;
      if (res.zf !== undefined) flags = res.zf ? flags | FLAG_ZF : flags & ~FLAG_ZF;
      f.writeUInt16LE(flags, 0);
    }
    // A new RIP tells KVM not to skip the `out` (complete_fast_pio_out compares it); left as it
    // was, KVM skips it, or it is already past it (an emulated `out`).
    if (res.redirect) r[GPR.rip] = BigInt(this.rom.offsetOf[res.redirect]);
    if (changed) v.storeRegs();
    if (res.es !== undefined) v.setSregs({ es: realModeSegment(res.es, false) });
  }
}

const lo32 = (v: bigint) => Number(v & 0xffffffffn);
const hi32 = (old: bigint, v: number) => (old & ~0xffffffffn) | BigInt(v >>> 0);

/**
 * The 8259 PICs and the 8254 PIT as a BIOS leaves them: master at vectors 08h-0Fh, slave at
 * 70h-77h, IRQ0 (timer), IRQ1 (keyboard) and IRQ2 (cascade) unmasked; PIT channel 0 in mode 3
 * with divisor 65536 (18.2 Hz). Set through KVM_SET_IRQCHIP and KVM_SET_PIT2 on the in-kernel
 * devices, so no initialisation code runs before the boot sector.
 */
export function setLegacyInterruptControllers(vmFd: number): void {
  const chips: [number, number, number][] = [
    [abi.KVM_IRQCHIP_PIC_MASTER, 0x08, 0xf8],
    [abi.KVM_IRQCHIP_PIC_SLAVE, 0x70, 0xff],
  ];
  for (const [id, base, mask] of chips) {
    const b = Buffer.alloc(abi.kvm_irqchip.size);
    b.writeUInt32LE(id, abi.kvm_irqchip.chip_id);
    sys.ioctlPtr(vmFd, abi.KVM_GET_IRQCHIP, b, 'KVM_GET_IRQCHIP');
    const p = abi.kvm_irqchip.chip;
    const pic = abi.kvm_pic_state;
    b[p + pic.irq_base] = base;
    b[p + pic.imr] = mask;
    b[p + pic.isr] = 0;
    b[p + pic.irr] = 0;
    b[p + pic.init_state] = 0;
    b[p + pic.init4] = 1;
    b[p + pic.auto_eoi] = 0;
    b[p + pic.read_reg_select] = 0;
    b[p + pic.special_fully_nested_mode] = 0;
    b[p + pic.priority_add] = 0;
    sys.ioctlPtr(vmFd, abi.KVM_SET_IRQCHIP, b, 'KVM_SET_IRQCHIP');
  }
  const b = Buffer.alloc(abi.kvm_pit_state2.size);
  sys.ioctlPtr(vmFd, abi.KVM_GET_PIT2, b, 'KVM_GET_PIT2');
  const c = abi.kvm_pit_channel_state;
  const ch0 = abi.kvm_pit_state2.channels;
  b.writeUInt32LE(0x10000, ch0 + c.count);
  b[ch0 + c.rw_mode] = 3; // low byte, then high byte
  b[ch0 + c.read_state] = 3;
  b[ch0 + c.write_state] = 3;
  b[ch0 + c.mode] = 3; // square wave
  b[ch0 + c.bcd] = 0;
  b[ch0 + c.gate] = 1;
  sys.ioctlPtr(vmFd, abi.KVM_SET_PIT2, b, 'KVM_SET_PIT2');
}
