// How long the parsers take on hostile files (test/parse-bounds.test.ts asserts the bounds as
// counts; the times live here, never in unit tests), and on corrupt copies of a real DWARF guest
// (the figure test/dwarf-line.test.ts used to assert).
//   node --import tsx bench/parse-bounds.ts            all
//   node --import tsx bench/parse-bounds.ts elf        one: elf, dwarf-str, dwarf-line-corrupt
// Each case: the median of 5 runs in this process, and the heap and external memory it left
// allocated while its result was alive.
import { readFileSync } from 'node:fs';
import { parseElf } from '../src/symbols/elf-parse.js';
import { ElfImage } from '../src/symbols/elf-file.js';
import { LineTable } from '../src/symbols/dwarf/line.js';
import { DwarfInfo, iterateDies, unitHeaders, type DwarfSections } from '../src/symbols/dwarf/info.js';
import { DwarfError } from '../src/symbols/dwarf/reader.js';
import { buildElf, symbolTable, u16, u32, uleb, withLength, SHT_PROGBITS, SHT_STRTAB, SHT_SYMTAB } from '../test/fuzz/elf-builder.js';
import { buildDwarfGuest } from '../test/guests/dwarf/build.js';
import { prng } from '../test/support/prng.js';

const MiB = 1 << 20;

function measure(name: string, run: () => unknown): void {
  const times: number[] = [];
  let mem = 0;
  for (let i = 0; i < 5; i++) {
    globalThis.gc?.();
    const before = process.memoryUsage();
    const t0 = process.hrtime.bigint();
    const result = run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const after = process.memoryUsage();
    mem = Math.max(mem, after.heapUsed + after.external - before.heapUsed - before.external);
    if (result === undefined) throw new Error('no result');
  }
  times.sort((a, b) => a - b);
  console.log(`${name.padEnd(58)} ${times[2].toFixed(1).padStart(9)} ms  (min ${times[0].toFixed(1)}, max ${times[4].toFixed(1)})  ~${(mem / MiB).toFixed(1)} MiB`);
}

/** A 1 MiB .strtab without a NUL and `count` symbols whose names start 7 bytes apart. */
function hostileElf(count: number): Buffer {
  const strtab = Buffer.alloc(MiB, 0x41);
  const syms = Array.from({ length: count }, (_, i) => ({ nameOff: i * 7, value: 0x100000n + BigInt(i) }));
  return buildElf({
    segments: [{ paddr: 0x100000n, data: Buffer.from([0xf4]) }],
    sections: [
      { name: '.text', type: SHT_PROGBITS, data: Buffer.from([0xf4]), addr: 0x100000n, flags: 6n },
      { name: '.symtab', type: SHT_SYMTAB, data: symbolTable(64, syms), link: '.strtab', entsize: 24, info: 1 },
      { name: '.strtab', type: SHT_STRTAB, data: strtab },
    ],
  });
}

const cases: Record<string, () => void> = {
  elf(): void {
    for (const n of [500, 2000]) {
      const image = hostileElf(n);
      measure(`parseElf + symbols: ${(image.length / MiB).toFixed(2)} MiB, NUL-less .strtab, ${n} symbols`, () => parseElf(image, 'x').symbols);
      measure(`parseElf alone (what the loader does), same file`, () => parseElf(image, 'x'));
    }
  },
  'dwarf-str'(): void {
    const abbrev = Buffer.from([1, 0x11, 1, 0x03, 0x0e, 0, 0, 2, 0x34, 0, 0x03, 0x0e, 0, 0, 0]);
    const dies = [Buffer.concat([uleb(1), u32(0)])];
    for (let i = 0; i < 2000; i++) dies.push(Buffer.concat([uleb(2), u32(i * 7)]));
    dies.push(Buffer.from([0]));
    const info = withLength(Buffer.concat([u16(4), u32(0), Buffer.from([8]), ...dies]));
    const str = Buffer.concat([Buffer.alloc(MiB, 0x41), Buffer.from([0])]);
    measure('2000 DW_FORM_strp into a 1 MiB .debug_str with one NUL', () => {
      // A fresh copy each run: strings are cached per section buffer.
      const sections: DwarfSections = { info, abbrev, str: Buffer.from(str) };
      return [...iterateDies(sections, unitHeaders(sections)[0])];
    });
  },
  'dwarf-line-corrupt'(): void {
    const elf = buildDwarfGuest({ bits: 64, opt: 2, dwarf: 5 });
    const image = readFileSync(elf);
    const e = ElfImage.open(image, elf);
    const targets = ['.debug_line', '.debug_info', '.debug_abbrev', '.debug_line_str', '.debug_str'].map((n) => e.sectionHeader(n)!);
    measure('200 corrupt copies of a DWARF 5 guest: line table + subprograms', () => {
      const rand = prng(12345);
      let problems = 0;
      for (let i = 0; i < 200; i++) {
        const copy = Buffer.from(image);
        const s = targets[i % targets.length];
        const flips = 1 + Math.floor(rand() * 8);
        for (let k = 0; k < flips; k++) copy[s.offset + Math.floor(rand() * Number(s.size))] = rand() < 0.3 ? 0xff : Math.floor(rand() * 256);
        const lines = LineTable.fromElf(copy, elf);
        problems += lines.problems.length;
        for (const a of [0x100000n, 0x100050n, 0x1000a4n]) {
          lines.lookup(a);
          lines.afterPrologue(a);
        }
        try {
          DwarfInfo.fromElf(copy, elf).subprograms();
        } catch (err) {
          if (!(err instanceof DwarfError)) throw err;
        }
      }
      return problems;
    });
  },
};

const only = process.argv.slice(2);
for (const [name, run] of Object.entries(cases)) if (!only.length || only.includes(name)) run();
