// Zeroing a loaded image's .bss without committing host memory for it. Guest RAM is fresh
// anonymous memory (memory.ts maps it MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE): zero, and
// backed by no host page until touched. Writing zeros over a .bss would commit a host page for
// each of its pages, so an image of a hundred bytes with a p_memsz of gigabytes would take
// gigabytes of host RAM; so would merely reading it where the kernel has no shared zero page
// (some hosts boot with it off). So whole pages are handed back with madvise(MADV_DONTNEED),
// after which they read as zero whatever they held (an earlier segment's bytes, or whatever used
// the memory before the load), and only the partial pages at the ends are written.
import { madvise, MADV_DONTNEED } from '../kvm/sys.js';
import type { GuestMemory } from '../memory.js';

const PAGE = 4096;
const CHUNK = 64 * 1024;
const ZEROS = Buffer.alloc(CHUNK);

/** Zeroes guest memory [gpa, gpa + len), committing host memory for at most its two end pages. */
export function zeroGuestRange(mem: GuestMemory, gpa: number, len: number): void {
  if (len <= 0) return;
  const region = mem.regions?.find((r) => gpa >= r.gpa && gpa + len <= r.gpa + r.size && typeof r.addr === 'bigint');
  const first = Math.ceil(gpa / PAGE) * PAGE;
  const last = Math.floor((gpa + len) / PAGE) * PAGE;
  if (region && last > first && madvise(region.addr + BigInt(first - region.gpa), last - first, MADV_DONTNEED)) {
    zeroWhereNotZero(mem, gpa, first - gpa);
    zeroWhereNotZero(mem, last, gpa + len - last);
    return;
  }
  zeroWhereNotZero(mem, gpa, len);
}

/**
 * Zeroes [gpa, gpa + len) page by page, writing only the pages that are not zero already: for
 * memory without a mapping of its own (a Buffer standing in for guest RAM), or where madvise
 * failed. Reading leaves fresh pages uncommitted where the kernel maps its shared zero page.
 */
function zeroWhereNotZero(mem: GuestMemory, gpa: number, len: number): void {
  if (len <= 0) return;
  const dst = mem.view(gpa, len);
  let off = 0;
  while (off < len) {
    // Chunks end on page boundaries of guest-physical addresses.
    const end = Math.min(len, off + CHUNK - ((gpa + off) % PAGE));
    if (dst.compare(ZEROS, 0, end - off, off, end) !== 0) {
      for (let p = off; p < end;) {
        const pageEnd = Math.min(end, p + PAGE - ((gpa + p) % PAGE));
        if (dst.compare(ZEROS, 0, pageEnd - p, p, pageEnd) !== 0) dst.fill(0, p, pageEnd);
        p = pageEnd;
      }
    }
    off = end;
  }
}
