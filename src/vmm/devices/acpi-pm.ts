// The ACPI power-management registers a Linux guest finds through the FADT (firmware/acpi.ts), at
// the ports of QEMU's ICH9 (PM base 0x600):
// - PM1a event block (0x600: status, 0x602: enable, 16 bits each): no event is ever raised, so the
//   status reads 0 (writes of ones clear nothing) and the enable bits read back as written.
// - PM1a control (0x604, 16 bits): SCI_EN reads set (the machine is always in ACPI mode: the FADT
//   has no SMI command port); SLP_EN with SLP_TYP = the DSDT's \_S5 value powers the machine
//   off (Linux's `poweroff`), any other sleep type is ignored (the machine does not sleep).
// - PM timer (0x608, 32 bits, TMR_VAL_EXT): 3.579545 MHz from the host's monotonic clock, the
//   reference a kernel calibrates the TSC against when it has no other.
// Byte and word accesses anywhere in a block see the bytes of its registers (ACPICA may split them).
import type { DeviceHost, PioDevice } from './bus.js';

export const ACPI_PM_BASE = 0x600;
export const PM1_EVT_PORT = ACPI_PM_BASE;
export const PM1_EVT_LEN = 4;
export const PM1_CNT_PORT = ACPI_PM_BASE + 4;
export const PM1_CNT_LEN = 2;
export const PM_TMR_PORT = ACPI_PM_BASE + 8;
export const PM_TMR_LEN = 4;
/** The SLP_TYP the DSDT's \_S5 package names: what a guest writes to power off. */
export const SLP_TYP_S5 = 5;
export const PM_TIMER_HZ = 3_579_545;

const SCI_EN = 0x0001;
const SLP_TYP_SHIFT = 10;
const SLP_EN = 0x2000;

/** The port ranges the device answers, for the port bus. */
export const ACPI_PM_RANGES: readonly (readonly [number, number])[] = [
  [PM1_EVT_PORT, PM1_EVT_LEN], [PM1_CNT_PORT, PM1_CNT_LEN], [PM_TMR_PORT, PM_TMR_LEN],
];

export class AcpiPm implements PioDevice {
  readonly name = 'acpi-pm';
  private enable = 0;
  private control = SCI_EN;

  constructor(
    private readonly host: DeviceHost,
    private readonly vcpu: () => number,
    private readonly nowNs: () => bigint = process.hrtime.bigint,
  ) {}

  read(port: number, size: number): number {
    // The timer is read once per access, so that a 32-bit read sees one consistent count.
    const timer = port >= PM_TMR_PORT ? this.timer() : 0;
    let v = 0;
    for (let i = 0; i < size; i++) v += this.readByte(port + i, timer) * 2 ** (8 * i);
    return v;
  }

  write(port: number, size: number, value: number): void {
    let control = false;
    for (let i = 0; i < size; i++) {
      const p = port + i;
      const b = (value >>> (8 * i)) & 0xff;
      const shift = ((p - ACPI_PM_BASE) % 2) * 8;
      if (p === PM1_EVT_PORT + 2 || p === PM1_EVT_PORT + 3) {
        this.enable = (this.enable & ~(0xff << shift)) | (b << shift);
      } else if (p === PM1_CNT_PORT || p === PM1_CNT_PORT + 1) {
        this.control = (this.control & ~(0xff << shift)) | (b << shift);
        control = true;
      }
      // The status register (write ones to clear) has nothing set; the timer is read-only.
    }
    if (!control) return;
    if (this.control & SLP_EN && ((this.control >> SLP_TYP_SHIFT) & 7) === SLP_TYP_S5) {
      this.host.stop({ kind: 'poweroff', vcpu: this.vcpu() });
    }
    // SLP_EN is write-only; SCI_EN stays set.
    this.control = (this.control & ~SLP_EN) | SCI_EN;
  }

  private readByte(port: number, timer: number): number {
    if (port >= PM_TMR_PORT && port < PM_TMR_PORT + PM_TMR_LEN) return (timer >>> (8 * (port - PM_TMR_PORT))) & 0xff;
    if (port >= PM1_CNT_PORT && port < PM1_CNT_PORT + PM1_CNT_LEN) return (this.control >> (8 * (port - PM1_CNT_PORT))) & 0xff;
    if (port === PM1_EVT_PORT + 2 || port === PM1_EVT_PORT + 3) return (this.enable >> (8 * (port - PM1_EVT_PORT - 2))) & 0xff;
    return 0; // PM1 status: no event
  }

  private timer(): number {
    return Number((this.nowNs() * BigInt(PM_TIMER_HZ) / 1_000_000_000n) & 0xffffffffn);
  }
}
