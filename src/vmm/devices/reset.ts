// The PCI reset control register at 0xCF9 (bit 2 set with bit 1 = hard/soft reset). The other
// classic reset path, the keyboard controller's pulse-reset command (0xFE to port 0x64), is the
// i8042's (i8042.ts).
import type { DeviceHost, PioDevice } from './bus.js';

export const RESET_CONTROL_PORT = 0xcf9;

export class ResetControl implements PioDevice {
  readonly name = 'reset control (0xCF9)';
  private value = 0;
  constructor(private readonly host: DeviceHost, private readonly vcpu: () => number) {}
  read(): number {
    return this.value;
  }
  write(_port: number, _size: number, value: number): void {
    this.value = value & 0x0e;
    if (value & 0x04) this.host.stop({ kind: 'reset', vcpu: this.vcpu(), how: 'port 0xCF9' });
  }
}
