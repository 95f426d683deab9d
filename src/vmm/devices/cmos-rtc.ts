// The MC146818 real-time clock and CMOS RAM at 0x70 (index; bit 7, the NMI mask, is ignored)
// and 0x71 (data). The clock is the host's (UTC) plus an offset a guest that sets the time
// keeps: it writes fields in BCD or binary and 12 or 24-hour form as status register B says,
// either one at a time or between setting and clearing B's SET bit. Status A's update-in-progress
// bit is set for the last 2 ms of every host second, so a guest waiting for it to clear (or
// to rise and clear) makes progress. No interrupts: the periodic, alarm and update interrupts
// (IRQ 8) are never raised; C reports the update-ended flag once per second. The rest is 128
// bytes of RAM, with the memory sizes a BIOS leaves (0x15-0x18, 0x30-0x31, 0x34-0x35, 0x5B-0x5D)
// and the equipment byte (0x14), checksummed at 0x2E-0x2F as a BIOS does.
import type { PioDevice } from './bus.js';
import { PCI_HOLE_START } from '../layout.js';

export const CMOS_INDEX_PORT = 0x70;
export const CMOS_DATA_PORT = 0x71;

export const RTC = {
  seconds: 0x00, minutes: 0x02, hours: 0x04, weekday: 0x06, day: 0x07, month: 0x08, year: 0x09,
  statusA: 0x0a, statusB: 0x0b, statusC: 0x0c, statusD: 0x0d, equipment: 0x14,
  baseLow: 0x15, baseHigh: 0x16, extLow: 0x17, extHigh: 0x18, ext2Low: 0x30, ext2High: 0x31, century: 0x32,
  above16mLow: 0x34, above16mHigh: 0x35, above4g: 0x5b,
} as const;
export const STATUS_A_UIP = 0x80;
export const STATUS_B = { set: 0x80, uie: 0x10, binary: 0x04, hour24: 0x02 } as const;
/** How long before each second UIP reads set, in ms. */
export const UIP_MS = 2;

interface Fields {
  sec: number; min: number; hour: number; day: number; month: number; year: number;
}

export class CmosRtc implements PioDevice {
  readonly name = 'cmos-rtc';
  readonly ram = new Uint8Array(128);
  private index = 0;
  /** Guest time minus host time, in ms. */
  private offsetMs = 0;
  /** While B's SET bit is on: the fields being written, applied when it clears. */
  private frozen: Fields | undefined;
  private lastUpdateSecond = -1;

  constructor(memorySize: number, private readonly now: () => number = Date.now) {
    this.ram[RTC.statusA] = 0x26;
    this.ram[RTC.statusB] = STATUS_B.hour24;
    this.ram[RTC.statusD] = 0x80;
    // FPU and PS/2 mouse present, no floppy drives, primary display EGA/VGA.
    this.ram[RTC.equipment] = 0x06;
    const word = (at: number, v: number) => {
      this.ram[at] = v & 0xff;
      this.ram[at + 1] = (v >> 8) & 0xff;
    };
    const low = Math.min(memorySize, PCI_HOLE_START);
    const kib = (b: number) => Math.floor(b / 1024);
    word(RTC.baseLow, 640);
    const ext = Math.min(0xffff, Math.max(0, kib(low - (1 << 20))));
    word(RTC.extLow, ext);
    word(RTC.ext2Low, ext);
    word(RTC.above16mLow, Math.min(0xffff, Math.max(0, Math.floor((low - (16 << 20)) / 65536))));
    const high = Math.floor(Math.max(0, memorySize - low) / 65536);
    this.ram[RTC.above4g] = high & 0xff;
    this.ram[RTC.above4g + 1] = (high >> 8) & 0xff;
    this.ram[RTC.above4g + 2] = (high >> 16) & 0xff;
    this.updateChecksum();
  }

  /** The guest's clock now, ms since the epoch (UTC). */
  guestTime(): number {
    return this.now() + this.offsetMs;
  }

  read(port: number, _size = 1): number {
    if (port === CMOS_INDEX_PORT) return 0xff;
    return this.readRegister(this.index);
  }

  write(port: number, _size: number, value: number): void {
    value &= 0xff;
    if (port === CMOS_INDEX_PORT) this.index = value & 0x7f;
    else this.writeRegister(this.index, value);
  }

  readRegister(r: number): number {
    switch (r) {
      case RTC.seconds: case RTC.minutes: case RTC.hours: case RTC.weekday:
      case RTC.day: case RTC.month: case RTC.year: case RTC.century:
        return this.clockRegister(r);
      case RTC.statusA: {
        const ms = ((this.guestTime() % 1000) + 1000) % 1000;
        return (this.ram[RTC.statusA] & 0x7f) | (ms >= 1000 - UIP_MS && !this.frozen ? STATUS_A_UIP : 0);
      }
      case RTC.statusC: {
        // Update-ended: once for every second boundary passed since the last read.
        const second = Math.floor(this.guestTime() / 1000);
        const uf = second !== this.lastUpdateSecond && !this.frozen;
        this.lastUpdateSecond = second;
        const ie = this.ram[RTC.statusB] & STATUS_B.uie;
        return uf ? 0x10 | (ie ? 0x80 : 0) : 0;
      }
      case RTC.statusD: return 0x80;
    }
    return this.ram[r];
  }

  writeRegister(r: number, v: number): void {
    switch (r) {
      case RTC.seconds: case RTC.minutes: case RTC.hours: case RTC.weekday:
      case RTC.day: case RTC.month: case RTC.year: case RTC.century:
        this.setClockRegister(r, v);
        return;
      case RTC.statusA: this.ram[r] = v & 0x7f; return;
      case RTC.statusB: {
        const wasSet = (this.ram[r] & STATUS_B.set) !== 0;
        this.ram[r] = v;
        if (v & STATUS_B.set && !wasSet) this.frozen = this.fields(this.guestTime());
        if (!(v & STATUS_B.set) && wasSet && this.frozen) {
          this.setFields(this.frozen);
          this.frozen = undefined;
        }
        return;
      }
      case RTC.statusC: case RTC.statusD: return;
    }
    this.ram[r] = v;
  }

  private get binary(): boolean {
    return (this.ram[RTC.statusB] & STATUS_B.binary) !== 0;
  }

  private encode(v: number): number {
    return this.binary ? v : ((Math.floor(v / 10) % 10) << 4) | (v % 10);
  }

  private decode(v: number): number {
    return this.binary ? v : (v >> 4) * 10 + (v & 0x0f);
  }

  private fields(t: number): Fields {
    const d = new Date(t);
    return {
      sec: d.getUTCSeconds(), min: d.getUTCMinutes(), hour: d.getUTCHours(),
      day: d.getUTCDate(), month: d.getUTCMonth() + 1, year: d.getUTCFullYear(),
    };
  }

  private setFields(f: Fields): void {
    const t = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.min, f.sec);
    // Keep the host's sub-second phase, so UIP and second changes stay in step with it.
    const now = this.now();
    this.offsetMs = t - (now - (((now % 1000) + 1000) % 1000));
  }

  private clockRegister(r: number): number {
    const f = this.frozen ?? this.fields(this.guestTime());
    switch (r) {
      case RTC.seconds: return this.encode(f.sec);
      case RTC.minutes: return this.encode(f.min);
      case RTC.hours: {
        if (this.ram[RTC.statusB] & STATUS_B.hour24) return this.encode(f.hour);
        const h12 = f.hour % 12 === 0 ? 12 : f.hour % 12;
        return this.encode(h12) | (f.hour >= 12 ? 0x80 : 0);
      }
      case RTC.weekday: return this.encode(new Date(Date.UTC(f.year, f.month - 1, f.day)).getUTCDay() + 1);
      case RTC.day: return this.encode(f.day);
      case RTC.month: return this.encode(f.month);
      case RTC.year: return this.encode(f.year % 100);
      default: return this.encode(Math.floor(f.year / 100));
    }
  }

  private setClockRegister(r: number, v: number): void {
    const f = this.frozen ?? this.fields(this.guestTime());
    switch (r) {
      case RTC.seconds: f.sec = this.decode(v); break;
      case RTC.minutes: f.min = this.decode(v); break;
      case RTC.hours:
        if (this.ram[RTC.statusB] & STATUS_B.hour24) f.hour = this.decode(v);
        else f.hour = (this.decode(v & 0x7f) % 12) + (v & 0x80 ? 12 : 0);
        break;
      case RTC.weekday: return; // follows from the date
      case RTC.day: f.day = this.decode(v); break;
      case RTC.month: f.month = this.decode(v); break;
      case RTC.year: f.year = Math.floor(f.year / 100) * 100 + this.decode(v); break;
      default: f.year = this.decode(v) * 100 + (f.year % 100);
    }
    if (!this.frozen) this.setFields(f);
  }

  /** The standard checksum over 0x10-0x2D, big-endian at 0x2E. */
  private updateChecksum(): void {
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += this.ram[i];
    this.ram[0x2e] = (sum >> 8) & 0xff;
    this.ram[0x2f] = sum & 0xff;
  }
}
