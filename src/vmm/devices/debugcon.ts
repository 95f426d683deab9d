// The Bochs/QEMU debug console at port 0xE9: bytes written appear on the console sink; reading
// returns 0xE9 so guests can detect it. Output is batched as the UART's is: handed over when the
// monitor flushes (at every stop and every time slice), not an event or a syscall per byte.
// Where it shares the serial sink it goes into the UART's own buffer, so that the two stay in
// the order the guest wrote them.
import type { PioDevice } from './bus.js';

export const DEBUGCON_PORT = 0xe9;

/** Flushes once this many bytes wait, as the UART does. */
const FLUSH_AT = 4096;

export class DebugCon implements PioDevice {
  readonly name = 'debugcon';
  private out: number[] = [];
  /**
   * `sink`: where the bytes go when flushed; `shared`: a device whose output buffer they join
   * instead (the UART, when both go to the same sink).
   */
  constructor(private readonly sink: (bytes: Buffer) => void, private readonly shared?: { emit(byte: number): void }) {}
  read(): number {
    return 0xe9;
  }
  write(_port: number, _size: number, value: number): void {
    if (this.shared) {
      this.shared.emit(value & 0xff);
      return;
    }
    this.out.push(value & 0xff);
    if (this.out.length >= FLUSH_AT) this.flush();
  }
  /** Hands buffered output to the sink. */
  flush(): void {
    if (this.out.length === 0) return;
    const b = Buffer.from(this.out);
    this.out = [];
    this.sink(b);
  }
}
