// How fast the history's undo log moves, without KVM: a log of N entries like a recorded loop's
// (RIP and RAX change, one 8-byte store in two of three instructions) over a Buffer standing for
// guest memory, then back to its start and forward to its end, ROUNDS times. This is the memory
// side of a reverse-continue (src/debugger/history/undo-log.ts); the breakpoint test per entry
// and the registers set once at the end come on top.
//   node --import tsx bench/history-moves.ts [N] [ROUNDS]
import { UndoLog, type CpuState } from '../src/debugger/history/undo-log.js';
import { GPR_NAMES, type Regs, type Sregs } from '../src/x86/registers.js';
import { hostLine, stats } from './stats.js';

const N = Number(process.argv[2] ?? 300_000);
const ROUNDS = Number(process.argv[3] ?? 5);

const mem = Buffer.alloc(1 << 16);
const seg = { base: 0n, limit: 0xffffffff, selector: 0x10, type: 3, present: true, dpl: 0, db: true, s: true, l: true, g: true, avl: false, unusable: false };
const sregs = {
  cs: seg, ds: seg, es: seg, fs: seg, gs: seg, ss: seg, tr: seg, ldt: seg, gdt: { base: 0n, limit: 0 }, idt: { base: 0n, limit: 0 },
  cr0: 0x80000011n, cr2: 0n, cr3: 0x1000n, cr4: 0x220n, cr8: 0n, efer: 0x500n, apic_base: 0n,
} as Sregs;
let cpu: CpuState = { regs: Object.fromEntries(GPR_NAMES.map((n) => [n, 0n])) as Regs, sregs, xsave: Buffer.alloc(8) };
const log = new UndoLog({ read: () => cpu, write: (s) => (cpu = s), writePhysical: (gpa, d) => d.copy(mem, gpa) });

let regs = cpu.regs;
for (let k = 0; k < N; k++) {
  const gpa = (k * 8) % 60000;
  const old = Buffer.from(mem.subarray(gpa, gpa + 8));
  mem.writeBigUInt64LE(BigInt(k), gpa);
  const before = regs;
  regs = { ...regs, rip: regs.rip + 3n, rax: BigInt(k) };
  log.append({ pc: before.rip, regs: before, sregs, writes: k % 3 ? [{ gpa, old, new: Buffer.from(mem.subarray(gpa, gpa + 8)) }] : [] });
}
cpu = { ...cpu, regs };

const back: number[] = [], forward: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  let t0 = performance.now();
  while (log.back()) log.pc();
  back.push(N / ((performance.now() - t0) / 1000));
  t0 = performance.now();
  while (log.forward());
  forward.push(N / ((performance.now() - t0) / 1000));
}
const m = (xs: number[]) => Object.fromEntries(Object.entries(stats(xs)).map(([k, v]) => [k, Math.round(v)]));
console.log(JSON.stringify({ host: hostLine(), entries: N, rounds: ROUNDS, bytesPerEntry: +(log.bytes / N).toFixed(1), backPerSecond: m(back), forwardPerSecond: m(forward) }, null, 1));
