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
  // Looked up on every I/O exit: the device of every port in one array, a single lookup (a
  // byte per port indexing a list of devices was two objects more to touch per exit).
  private readonly byPort: (PioDevice | undefined)[] = new Array<PioDevice | undefined>(0x10000).fill(undefined);
  trace: TraceSink | undefined;

  register(base: number, count: number, dev: PioDevice): void {
    for (let p = base; p < base + count; p++) {
      const owner = this.byPort[p];
      if (owner) throw new Error(`port 0x${p.toString(16)} claimed by ${owner.name} and ${dev.name}`);
    }
    this.byPort.fill(dev, base, base + count);
  }

  read(port: number, size: number): number {
    const dev = this.byPort[port];
    const value = dev ? dev.read(port, size) : ONES[size];
    if (this.trace) this.trace(`pio  in${SUFFIX[size]} 0x${port.toString(16).padStart(4, '0')} -> 0x${value.toString(16)}${dev ? '' : ' (unassigned)'}`);
    return value;
  }

  write(port: number, size: number, value: number): void {
    const dev = this.byPort[port];
    if (this.trace) this.trace(`pio out${SUFFIX[size]} 0x${port.toString(16).padStart(4, '0')} <- 0x${value.toString(16)}${dev ? '' : ' (unassigned)'}`);
    dev?.write(port, size, value);
  }
}

const ONES: Record<number, number> = { 1: 0xff, 2: 0xffff, 4: 0xffffffff };
const SUFFIX: Record<number, string> = { 1: 'b', 2: 'w', 4: 'l' };
