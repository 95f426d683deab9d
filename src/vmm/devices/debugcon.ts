// The Bochs/QEMU debug console at port 0xE9: bytes written appear on the console sink; reading
// returns 0xE9 so guests can detect it.
import type { PioDevice } from './bus.js';

export const DEBUGCON_PORT = 0xe9;

export class DebugCon implements PioDevice {
  readonly name = 'debugcon';
  constructor(private readonly out: (bytes: Buffer) => void) {}
  read(): number {
    return 0xe9;
  }
  write(_port: number, _size: number, value: number): void {
    this.out(Buffer.of(value & 0xff));
  }
}
