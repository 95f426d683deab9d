// The port-I/O bus: devices claim port ranges; unclaimed ports read as all ones and ignore writes,
// as on a PC with nothing decoding the address.
import type { Stop } from '../debug/stops.js';

export interface PioDevice {
  readonly name: string;
  read(port: number, size: number): number;
  write(port: number, size: number, value: number): void;
}

/** What a device may ask of the machine: end the run, raise an interrupt. */
export interface DeviceHost {
  stop(s: Stop): void;
  setIrq(irq: number, level: boolean): void;
}

export type TraceSink = (line: string) => void;

export class PioBus {
  // Looked up on every I/O exit: a byte per port indexing `devices` (0: none) beats a Map.
  private readonly owner = new Uint8Array(0x10000);
  private readonly devices: (PioDevice | undefined)[] = [undefined];
  trace: TraceSink | undefined;

  register(base: number, count: number, dev: PioDevice): void {
    for (let p = base; p < base + count; p++) {
      const owner = this.devices[this.owner[p]];
      if (owner) throw new Error(`port 0x${p.toString(16)} claimed by ${owner.name} and ${dev.name}`);
    }
    if (this.devices.length > 0xff) throw new Error('too many port-I/O devices');
    const index = this.devices.push(dev) - 1;
    this.owner.fill(index, base, base + count);
  }

  read(port: number, size: number): number {
    const dev = this.devices[this.owner[port]];
    const value = dev ? dev.read(port, size) : ONES[size];
    if (this.trace) this.trace(`pio  in${SUFFIX[size]} 0x${port.toString(16).padStart(4, '0')} -> 0x${value.toString(16)}${dev ? '' : ' (unassigned)'}`);
    return value;
  }

  write(port: number, size: number, value: number): void {
    const dev = this.devices[this.owner[port]];
    if (this.trace) this.trace(`pio out${SUFFIX[size]} 0x${port.toString(16).padStart(4, '0')} <- 0x${value.toString(16)}${dev ? '' : ' (unassigned)'}`);
    dev?.write(port, size, value);
  }
}

const ONES: Record<number, number> = { 1: 0xff, 2: 0xffff, 4: 0xffffffff };
const SUFFIX: Record<number, string> = { 1: 'b', 2: 'w', 4: 'l' };
