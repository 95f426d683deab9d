// Summarizes .cpuprofile files written by bench/monitor.ts (BENCH_PROFILE=DIR): self time and
// total (inclusive) time per function, as a share of all samples.
//
//   BENCH_PROFILE=bench/build/prof node --import tsx bench/monitor.ts ... step
//   node --import tsx bench/profile-summary.ts bench/build/prof/step.cpuprofile [TOP]
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

function label(n: Node): string {
  const f = n.callFrame;
  const url = f.url ? relative(process.cwd(), f.url.replace(/^file:\/\//, '')) : '';
  return `${f.functionName || '(anonymous)'}${url ? ` ${url}:${f.lineNumber + 1}` : ''}`;
}

function summarize(path: string, top: number): void {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>(), total = new Map<string, number>();
  let all = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    all += dt;
    const leaf = byId.get(id)!;
    self.set(label(leaf), (self.get(label(leaf)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = label(byId.get(cur)!);
      if (seen.has(l)) continue; // count recursion once
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + dt);
    }
  });
  const pct = (x: number) => `${((100 * x) / all).toFixed(1).padStart(5)}%`;
  const list = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([l, t]) => `  ${pct(t)}  ${l}`).join('\n');
  console.log(`${path}: ${p.samples.length} samples, ${(all / 1e6).toFixed(2)} s`);
  console.log(`self:\n${list(self)}`);
  console.log(`total:\n${list(total)}\n`);
}

const args = process.argv.slice(2);
const top = /^\d+$/.test(args[args.length - 1] ?? '') ? Number(args.pop()) : 25;
for (const f of args) summarize(f, top);
