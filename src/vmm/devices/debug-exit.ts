// QEMU's isa-debug-exit: a write of v ends the run with status (v << 1) | 1, exactly as QEMU's
// process exit status, so test scripts written for QEMU keep working.
import type { DeviceHost, PioDevice } from './bus.js';

export const DEBUG_EXIT_PORT = 0xf4;

export class DebugExit implements PioDevice {
  readonly name = 'isa-debug-exit';
  constructor(private readonly host: DeviceHost) {}
  read(): number {
    return 0xff;
  }
  write(_port: number, size: number, value: number): void {
    const v = size === 4 ? value >>> 0 : value & (size === 2 ? 0xffff : 0xff);
    // QEMU exits the process with this value, so only its low 8 bits survive as a status.
    this.host.stop({ kind: 'exit', status: ((v << 1) | 1) & 0xff });
  }
}
