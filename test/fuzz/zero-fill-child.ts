// Run by test/loader-zero-fill.test.ts in a process of its own: maps guest RAM as the monitor does
// (GuestMemory: fresh anonymous memory), loads a tiny image whose .bss is `bssMiB` MiB, and prints
// the process's resident set (VmRSS) before and after the load as JSON, so the test can compare
// host memory committed with the .bss size: a count, not a time.
import { readFileSync } from 'node:fs';
import { GuestMemory } from '../../src/vmm/memory.js';
import { loadGuest } from '../../src/vmm/loaders/detect.js';
import type { GuestFormat } from '../../src/vmm/loaders/types.js';

function rssKiB(): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error('no VmRSS in /proc/self/status');
  return Number(m[1]);
}

const [imagePath, format, memMiB] = process.argv.slice(2);
const mem = new GuestMemory(Number(memMiB) << 20);
const image = readFileSync(imagePath);
const before = rssKiB();
const g = loadGuest(image, mem, { fileName: imagePath, format: format as GuestFormat, cmdline: '', modules: [] });
const after = rssKiB();
mem.destroy();
console.log(JSON.stringify({ before, after, extent: g.extent }));
