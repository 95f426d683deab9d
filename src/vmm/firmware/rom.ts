// The BIOS ROM at F000:0000-F000:FFFF (0xF0000-0xFFFFF): a few hundred bytes of real-mode code
// that the monitor writes into guest RAM before a real-mode entry. It holds no BIOS logic: each
// service vector points at a stub `out %al, $BIOS_TRAP_PORT; iret`, the port write exits to the
// monitor (bios.ts), which performs the service in TypeScript (services.ts) on the vCPU's
// registers and guest memory and lets the stub's iret return to the caller. Only what runs often
// or must run in the guest is real code here: the timer interrupt (18.2 times a second, no exit),
// the EOIs of the keyboard and spare IRQ handlers, and the `sti; hlt` paths a waiting service
// sends the guest to, so that the vCPU sleeps until an interrupt instead of the monitor spinning.
//
// Why bytes from a table here rather than a .S assembled at build time: the ROM is ~200 bytes
// of a dozen routines, and building it in TypeScript needs no toolchain in `npm run build`, in
// the packaged extension or in tests that run from src through tsx, and keeps every address
// (stubs, trap points, symbols) in one object that the monitor and the debugger share. Each
// routine's bytes carry their assembly in a comment; test/firmware.test.ts disassembles the ROM
// with iced-x86 and checks it against those lines, so a mistyped byte fails a test.
//
// The trap port, 0xE5: an 8-bit port (so that `out %al, $imm8` reaches it from a 3-byte stub)
// that no PC device decodes and no tutorial kernel or BIOS-era OS writes: not the DMA, PIC,
// PIT, keyboard, RTC, POST/io_delay (0x80, and 0xED, Linux's alternative delay port), A20 (0x92),
// Bochs/QEMU debugcon (0xE9), our debug exit (0xF4) or the FPU (0xF0-0xFF) ports, nor 0x7E,
// which KVM treats specially (it advances RIP before the exit, the OUT_7E_INC_RIP quirk). A guest
// that writes 0xE5 from anywhere but a ROM trap point is ignored (the port reads as unassigned).
//
// How the monitor tells the trap point: from the linear RIP at the I/O exit. KVM reports a
// fast port write with RIP still on the `out` (it skips the instruction on the next KVM_RUN,
// unless the monitor moved RIP meanwhile) but an emulated one (real mode without unrestricted
// guest, kvm_pvm) with RIP already past it, so both the address of the `out` and the address
// after it name the trap point (trapAt).

export const BIOS_TRAP_PORT = 0xe5;
/** The ROM segment and its linear base. */
export const ROM_SEGMENT = 0xf000;
export const ROM_BASE = 0xf0000;
export const ROM_SIZE = 0x10000;
/** Where the routines start in the segment (the IBM PC's BIOS code began near F000:E000). */
const CODE_START = 0xe000;
/** The diskette parameter table (int 1Eh points here; int 13h AH=08h returns it in ES:DI). */
export const DISKETTE_PARAMS = 0xefc7;
/** The system configuration table int 15h AH=C0h returns in ES:BX. */
export const CONFIG_TABLE = 0xe6f5;
/** The reset vector, the BIOS date (MM/DD/YY) and the model byte, where every PC has them. */
export const RESET_VECTOR = 0xfff0;
export const BIOS_DATE_OFFSET = 0xfff5;
export const BIOS_DATE = '01/01/25';
export const MODEL_OFFSET = 0xfffe;
export const MODEL_BYTE = 0xfc;

/** What the monitor does when the guest reaches a trap point. */
export type TrapId =
  | 'int10' | 'int11' | 'int12' | 'int13' | 'int15' | 'int16' | 'int18' | 'int19' | 'int1a'
  | 'irq1' | 'wait-us';

/** The services with a stub of their own: vector → trap. */
export const SERVICE_VECTORS: readonly (readonly [number, TrapId])[] = [
  [0x10, 'int10'], [0x11, 'int11'], [0x12, 'int12'], [0x13, 'int13'], [0x15, 'int15'],
  [0x16, 'int16'], [0x18, 'int18'], [0x19, 'int19'], [0x1a, 'int1a'],
];

export interface FirmwareSymbol {
  name: string;
  /** Linear (= physical) address. */
  address: number;
  size: number;
  kind: 'code' | 'data';
}

export interface Rom {
  /** The 64 KiB image for 0xF0000. */
  image: Buffer;
  symbols: FirmwareSymbol[];
  /** ROM offset of each routine by symbol name (e.g. offsetOf.bios_int16). */
  offsetOf: Record<string, number>;
  /** Every routine's bytes with their assembly (AT&T, branch targets linear), for the ROM test. */
  listing: { name: string; offset: number; lines: { bytes: number[]; asm: string }[] }[];
  /** The trap point at a ROM offset of the `out` or just after it (see the header). */
  trapAt(ip: number): { id: TrapId; atOut: boolean } | undefined;
}

type Line = [bytes: number[], asm: string];
const P = BIOS_TRAP_PORT;
const TRAP: Line = [[0xe6, P], `out %al,$0x${P.toString(16)}`];
const IRET: Line = [[0xcf], 'iret'];

let cached: Rom | undefined;

/** The ROM image, its symbols and trap points (built once; the bytes never change). */
export function buildRom(): Rom {
  if (cached) return cached;
  const image = Buffer.alloc(ROM_SIZE, 0);
  const symbols: FirmwareSymbol[] = [];
  const offsetOf: Record<string, number> = {};
  const listing: Rom['listing'] = [];
  const traps = new Map<number, TrapId>();
  let at = CODE_START;

  const routine = (name: string, lines: (Line | ((here: number) => Line))[], trap?: TrapId): number => {
    const start = at;
    const out: { bytes: number[]; asm: string }[] = [];
    for (const l of lines) {
      const [bytes, asm] = typeof l === 'function' ? l(at) : l;
      if (trap && bytes[0] === 0xe6 && bytes[1] === P) traps.set(at, trap);
      image.set(bytes, at);
      out.push({ bytes, asm });
      at += bytes.length;
    }
    symbols.push({ name, address: ROM_BASE + start, size: at - start, kind: 'code' });
    offsetOf[name] = start;
    listing.push({ name, offset: start, lines: out });
    at = (at + 3) & ~3; // each routine 4-aligned: trap points are never 2 bytes apart
    return start;
  };
  const jmpNear = (target: () => number) => (here: number): Line => {
    const rel = (target() - (here + 3)) & 0xffff;
    return [[0xe9, rel & 0xff, rel >> 8], `jmp 0x${(ROM_BASE + target()).toString(16)}`];
  };

  routine('bios_iret', [IRET]);
  for (const [vector, id] of SERVICE_VECTORS) {
    routine(`bios_int${vector.toString(16)}`, [TRAP, IRET], id);
  }
  // IRQ0, vector 08h: the tick count at 0040:006C, the midnight flag at 0040:0070 once it
  // reaches 0x1800B0 (24 hours), int 1Ch, EOI. Real code: it runs 18.2 times a second, and a
  // trap would cost an exit each time for nothing the monitor needs to see.
  routine('bios_irq0', [
    [[0x1e], 'push %ds'],
    [[0x50], 'push %ax'],
    [[0x31, 0xc0], 'xor %ax,%ax'],
    [[0x8e, 0xd8], 'mov %ax,%ds'],
    [[0x83, 0x06, 0x6c, 0x04, 0x01], 'addw $0x1,0x46c'],
    [[0x83, 0x16, 0x6e, 0x04, 0x00], 'adcw $0x0,0x46e'],
    [[0x83, 0x3e, 0x6e, 0x04, 0x18], 'cmpw $0x18,0x46e'],
    (here) => [[0x72, 0x19], `jb 0x${(ROM_BASE + here + 2 + 0x19).toString(16)}`],
    [[0x81, 0x3e, 0x6c, 0x04, 0xb0, 0x00], 'cmpw $0xb0,0x46c'],
    (here) => [[0x72, 0x11], `jb 0x${(ROM_BASE + here + 2 + 0x11).toString(16)}`],
    [[0xc7, 0x06, 0x6c, 0x04, 0x00, 0x00], 'movw $0x0,0x46c'],
    [[0xc7, 0x06, 0x6e, 0x04, 0x00, 0x00], 'movw $0x0,0x46e'],
    [[0xc6, 0x06, 0x70, 0x04, 0x01], 'movb $0x1,0x470'],
    [[0xcd, 0x1c], 'int $0x1c'],
    [[0xb0, 0x20], 'mov $0x20,%al'],
    [[0xe6, 0x20], 'out %al,$0x20'],
    [[0x58], 'pop %ax'],
    [[0x1f], 'pop %ds'],
    IRET,
  ]);
  // IRQ1, vector 09h: the scan code read from port 0x60 as any guest reads it, handed to the
  // monitor in AL (translation and the BDA ring in keyboard.ts), then EOI.
  routine('bios_irq1', [
    [[0x50], 'push %ax'],
    [[0xe4, 0x60], 'in $0x60,%al'],
    TRAP,
    [[0xb0, 0x20], 'mov $0x20,%al'],
    [[0xe6, 0x20], 'out %al,$0x20'],
    [[0x58], 'pop %ax'],
    IRET,
  ], 'irq1');
  // The other IRQs (unmasked only by a guest that wants them): acknowledged and ignored.
  routine('bios_irq_master', [
    [[0x50], 'push %ax'], [[0xb0, 0x20], 'mov $0x20,%al'], [[0xe6, 0x20], 'out %al,$0x20'], [[0x58], 'pop %ax'], IRET,
  ]);
  routine('bios_irq_slave', [
    [[0x50], 'push %ax'], [[0xb0, 0x20], 'mov $0x20,%al'], [[0xe6, 0xa0], 'out %al,$0xa0'], [[0xe6, 0x20], 'out %al,$0x20'],
    [[0x58], 'pop %ax'], IRET,
  ]);
  // int 16h AH=00h/10h with the buffer empty: sleep until an interrupt (a key's IRQ1, or the
  // timer's), then ask again. The int's frame stays on the stack for the stub's iret.
  routine('bios_wait_key', [[[0xfb], 'sti'], [[0xf4], 'hlt'], jmpNear(() => offsetOf.bios_int16)]);
  // int 15h AH=86h: sleep until an interrupt, then ask the monitor whether the time is up.
  routine('bios_wait_us', [[[0xfb], 'sti'], [[0xf4], 'hlt'], TRAP, IRET], 'wait-us');
  // int 19h, once the monitor has read the boot sector to 0000:7C00 and set DL.
  routine('bios_boot', [[[0xea, 0x00, 0x7c, 0x00, 0x00], 'ljmp $0x0,$0x7c00']]);
  // int 18h: nothing to boot; the monitor has said so on the screen.
  routine('bios_halt', [[[0xfa], 'cli'], [[0xf4], 'hlt'], (here) => [[0xeb, 0xfc], `jmp 0x${(ROM_BASE + here - 2).toString(16)}`]]);
  // F000:FFF0 jumps here (a guest's `ljmp $0xf000,$0xfff0` reboots): a stack, then int 19h.
  routine('bios_reset', [
    [[0xfa], 'cli'], [[0x31, 0xc0], 'xor %ax,%ax'], [[0x8e, 0xd0], 'mov %ax,%ss'], [[0xbc, 0x00, 0x7c], 'mov $0x7c00,%sp'],
    [[0xcd, 0x19], 'int $0x19'], [[0xf4], 'hlt'],
  ]);

  // Data at the addresses PC software expects.
  // Diskette parameters (1.44 MB): step rate/head unload, head load/DMA, motor off delay,
  // bytes per sector (2 = 512), sectors per track, gap, data length, format gap, fill, settle, motor start.
  const dpt = [0xaf, 0x02, 0x25, 0x02, 18, 0x1b, 0xff, 0x6c, 0xf6, 0x0f, 0x08];
  image.set(dpt, DISKETTE_PARAMS);
  symbols.push({ name: 'bios_diskette_params', address: ROM_BASE + DISKETTE_PARAMS, size: dpt.length, kind: 'data' });
  // Size 8, model FC, submodel 01, revision 00; feature byte 1: second PIC (bit 6), RTC (5),
  // EBDA allocated (2); features 2-5 none.
  const config = [0x08, 0x00, MODEL_BYTE, 0x01, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00];
  image.set(config, CONFIG_TABLE);
  symbols.push({ name: 'bios_config_table', address: ROM_BASE + CONFIG_TABLE, size: config.length, kind: 'data' });
  const reset = offsetOf.bios_reset;
  image.set([0xea, reset & 0xff, reset >> 8, ROM_SEGMENT & 0xff, ROM_SEGMENT >> 8], RESET_VECTOR);
  symbols.push({ name: 'bios_reset_vector', address: ROM_BASE + RESET_VECTOR, size: 5, kind: 'code' });
  listing.push({ name: 'bios_reset_vector', offset: RESET_VECTOR, lines: [{ bytes: [...image.subarray(RESET_VECTOR, RESET_VECTOR + 5)], asm: `ljmp $0xf000,$0x${reset.toString(16)}` }] });
  image.write(BIOS_DATE, BIOS_DATE_OFFSET, 'latin1');
  symbols.push({ name: 'bios_date', address: ROM_BASE + BIOS_DATE_OFFSET, size: 8, kind: 'data' });
  image[MODEL_OFFSET] = MODEL_BYTE;

  const trapAt = (ip: number): { id: TrapId; atOut: boolean } | undefined => {
    const here = traps.get(ip);
    if (here) return { id: here, atOut: true };
    const before = traps.get(ip - 2);
    return before ? { id: before, atOut: false } : undefined;
  };
  cached = { image, symbols, offsetOf, listing, trapAt };
  return cached;
}
