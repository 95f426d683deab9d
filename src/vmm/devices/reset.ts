// The two classic reset paths: the keyboard controller's pulse-reset command (0xFE to port 0x64)
// and the PCI reset control register at 0xCF9 (bit 2 set with bit 1 = hard/soft reset).
import type { DeviceHost, PioDevice } from './bus.js';

export const KBD_STATUS_PORT = 0x64;
export const RESET_CONTROL_PORT = 0xcf9;

export class KeyboardControllerReset implements PioDevice {
  readonly name = 'i8042 reset';
  constructor(private readonly host: DeviceHost, private readonly vcpu: () => number) {}
  /** Status register: input and output buffers empty, so "wait for the 8042" loops end. */
  read(): number {
    return 0x00;
  }
  write(_port: number, _size: number, value: number): void {
    if ((value & 0xff) === 0xfe) this.host.stop({ kind: 'reset', vcpu: this.vcpu(), how: 'port 0x64 command 0xFE' });
  }
}

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
