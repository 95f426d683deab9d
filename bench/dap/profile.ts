// Summarizes a .cpuprofile of the adapter (node --cpu-prof dist/adapter.js), mapped back to src/
// through dist/adapter.js.map: self and total time per function, self time per source file, and
// the share of the run the adapter spent idle (waiting for the client).
//
//   node --import tsx bench/dap/profile.ts FILE.cpuprofile [--top 30] [--per N]
//
// --per N also prints each figure as µs per cycle for a run of N stop cycles.
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const maps = new Map<string, SourceMap | null>();
function mapFor(url: string): SourceMap | null {
  if (!maps.has(url)) {
    let m: SourceMap | null = null;
    try {
      m = new SourceMap(JSON.parse(readFileSync(fileURLToPath(url) + '.map', 'utf8')));
    } catch {
      m = null;
    }
    maps.set(url, m);
  }
  return maps.get(url)!;
}

function source(n: Node): { file: string; line: number } {
  const f = n.callFrame;
  if (!f.url) return { file: '', line: 0 };
  const m = f.url.startsWith('file:') ? mapFor(f.url) : null;
  const e = m?.findEntry(f.lineNumber, f.columnNumber) as { originalSource?: string; originalLine?: number } | undefined;
  if (e?.originalSource) {
    const file = e.originalSource.startsWith('file:') ? fileURLToPath(e.originalSource) : e.originalSource;
    return { file: relative(process.cwd(), file), line: (e.originalLine ?? 0) + 1 };
  }
  return { file: relative(process.cwd(), f.url.replace(/^file:\/\//, '')), line: f.lineNumber + 1 };
}

export function summarize(path: string, top = 30, per?: number): string {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const labels = new Map<number, { label: string; file: string }>();
  const labelOf = (id: number) => {
    let l = labels.get(id);
    if (!l) {
      const n = byId.get(id)!;
      const s = source(n);
      const name = n.callFrame.functionName || '(anonymous)';
      l = { label: s.file ? `${name}  ${s.file}:${s.line}` : name, file: s.file || name };
      labels.set(id, l);
    }
    return l;
  };
  const self = new Map<string, number>(), total = new Map<string, number>(), files = new Map<string, number>();
  let all = 0;
  let idle = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    all += dt;
    const leaf = labelOf(id);
    if (leaf.label === '(idle)') idle += dt;
    self.set(leaf.label, (self.get(leaf.label) ?? 0) + dt);
    files.set(leaf.file, (files.get(leaf.file) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const l = labelOf(cur).label;
      if (seen.has(l)) continue;
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + dt);
    }
  });
  const busy = all - idle;
  const fmt = (x: number) => {
    const share = `${((100 * x) / busy).toFixed(1).padStart(5)}%`;
    return per ? `${share} ${(x / per).toFixed(1).padStart(7)} µs` : share;
  };
  const list = (m: Map<string, number>, n: number) => [...m].filter(([l]) => l !== '(idle)' && l !== '(root)')
    .sort((a, b) => b[1] - a[1]).slice(0, n).map(([l, t]) => `  ${fmt(t)}  ${l}`).join('\n');
  return [
    `${path}: ${p.samples.length} samples over ${(all / 1e6).toFixed(2)} s; idle (waiting for requests) ${((100 * idle) / all).toFixed(1)}%.`,
    `Shares below are of the busy (non-idle) time${per ? `; µs are per stop cycle (${per} cycles)` : ''}.`,
    `self time by source file:\n${list(files, 15)}`,
    `self time by function:\n${list(self, top)}`,
    `total (inclusive) time by function:\n${list(total, top)}`,
  ].join('\n');
}

if (require.main === module) {
  const args = process.argv.slice(2);
  let top = 30;
  let per: number | undefined;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') top = Number(args[++i]);
    else if (args[i] === '--per') per = Number(args[++i]);
    else files.push(args[i]);
  }
  for (const f of files) console.log(summarize(f, top, per) + '\n');
}
