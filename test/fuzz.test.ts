// Fuzzing in CI: every fuzz target (test/fuzz/targets.ts: ELF, Multiboot 1 and 2, bzImage, PVH,
// System.map, BTF, DWARF line/info/CFI/location lists, the DWARF name and line indexes' cache files, C expressions) replays its corpus,
// test/fuzz/corpus/<target>/ (seeds and the inputs of crashes found and fixed), then runs a fixed
// number of inputs mutated under coverage guidance from a fixed seed. Every input must end in a
// result or the parser's own error (GuestError, DwarfError): an unexpected exception, a case still
// running after the hang limit, or a worker out of its 512 MiB heap fails the target with the input
// that did it. The counts keep the whole file to about half a minute on two cores; a longer run is
// `npm run fuzz -- --seconds N` (test/fuzz/run.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzzTarget, saveCrash } from './fuzz/run.js';
import { TARGETS } from './fuzz/targets.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Mutated inputs per target: a few seconds each here (the DWARF readers are the slow ones). */
const RUNS: Record<string, number> = {
  elf: 5000, multiboot: 5000, multiboot2: 5000, bzimage: 4000, pvh: 3000, 'system-map': 5000, btf: 3000, 'dwarf-line': 500, 'dwarf-info': 150, 'dwarf-name-index': 3000, 'dwarf-line-index': 2000, 'dwarf-cfi': 1500,
  'dwarf-loclists': 1200, 'c-expression': 8000,
};
const SEED = 0x6b766d64;

test('fuzz targets: the corpus and mutated inputs end in a result or the parser\'s own error', { concurrency: 2 }, async (t) => {
  await Promise.all(TARGETS.map((target) => t.test(target.name, async () => {
    const r = await fuzzTarget({ target: target.name, runs: RUNS[target.name] ?? 1000, seed: SEED, hangMs: 30_000 });
    const crashes = r.crashes.map((c) => `${c.kind} (${c.count}x): ${c.message.split('\n').slice(0, 4).join(' | ')} [input: ${saveCrash(join(tmpdir(), 'kvmdbg-fuzz'), target.name, c)}]`);
    assert.deepEqual(crashes, []);
    assert.ok(r.seeds > 0, `${target.name} has a corpus`);
    assert.ok(r.cases >= r.seeds + (RUNS[target.name] ?? 1000), `${r.cases} cases`);
    t.diagnostic(`${target.name}: ${r.cases} cases (${r.seeds} from the corpus), ${r.kept} kept, ${r.features} features, slowest ${r.slowestMs.toFixed(1)} ms`);
  })));
});
