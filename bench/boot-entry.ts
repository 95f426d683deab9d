// Launch to the first instruction of a boot sector: from `new Machine` to the stop at 0x7C00.
// With the firmware, that includes POST, the BIOS data area and the boot sector read through
// int 19h; a checkout from before it (5f07397) put the image at 0x7C00 directly. Issue 13's goal:
// at most 1.5x. One process measures one checkout; run it for each in turn, alternating:
//
//   node --import tsx bench/boot-entry.ts [CHECKOUT=.] [RUNS=20]
// Prints min / median / max in ms (the first run, which loads koffi and compiles, left out).
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

interface MachineLike {
  getRegs(index?: number): { rip: bigint };
  addHardwareBreakpoint(linear: bigint): number;
  run(): unknown;
  destroy(): unknown;
}
type MachineClass = new (config: { image: string; serial: (b: Buffer) => void }) => MachineLike;

const [checkout = resolve(__dirname, '..'), runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? 20);
const image = resolve(__dirname, '../examples/build/kernel.img');

async function once(M: MachineClass): Promise<number> {
  const t0 = performance.now();
  const m = new M({ image, serial: () => {} });
  // Before the firmware the vCPU starts at 0x7C00 (CS 0): nothing to run.
  if (m.getRegs(0).rip !== 0x7c00n) {
    m.addHardwareBreakpoint(0x7c00n); // DR0: the BIOS writes the sector over any planted int3
    const stop = (await m.run()) as { kind: string; address?: bigint };
    if (stop.kind !== 'breakpoint' || stop.address !== 0x7c00n) throw new Error(`stopped by ${stop.kind}, not at 0x7C00`);
  }
  const ms = performance.now() - t0;
  await m.destroy();
  return ms;
}

async function main(): Promise<void> {
  const { Machine } = (await import(resolve(checkout, 'src/vmm/machine.ts'))) as { Machine: MachineClass };
  await once(Machine);
  const ms: number[] = [];
  for (let r = 0; r < runs; r++) ms.push(await once(Machine));
  ms.sort((a, b) => a - b);
  console.log(`${checkout}: launch to 0x7C00 ${ms[0].toFixed(2)} / ${ms[runs >> 1].toFixed(2)} / ${ms[runs - 1].toFixed(2)} ms (min / median / max of ${runs})`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
