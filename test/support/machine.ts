// Guests on the Machine API (src/vmm/machine.ts) in tests, each destroyed however its test ends.
import { Machine, type MachineConfig } from '../../src/vmm/machine.js';

/** How the flat 64-bit guests (test/guests/*64.S, built by buildFlat64) are loaded: at 1 MiB, entered in long mode. */
export const FLAT64 = { format: 'flat', loadAddress: 0x100000, mode: 'long' } as const satisfies Partial<MachineConfig>;

/** Runs `f`, then destroys `m` (its vCPU threads, fds and guest RAM), whether `f` returned or threw. */
export async function withMachine<T>(m: Machine, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } finally {
    await m.destroy();
  }
}

/** A machine whose COM1 output is collected: `serial()` is all of it so far, decoded as `encoding`. */
export function machineWithSerial(config: MachineConfig, encoding: BufferEncoding = 'latin1'): { m: Machine; serial: () => string } {
  const out: Buffer[] = [];
  const m = new Machine({ serial: (b) => out.push(b), ...config });
  return { m, serial: () => Buffer.concat(out).toString(encoding) };
}
