// Reading NUL-terminated strings (command lines, module and loader names) out of guest memory.
import assert from 'node:assert/strict';

/** Guest-physical memory a test reads: a Machine (readPhysical) or a bare GuestMemory (read). */
export type PhysicalMemory = { readPhysical(gpa: number, len: number): Buffer } | { read(gpa: number, len: number): Buffer };

/** The UTF-8 string at guest-physical `gpa`, up to its NUL; fails if none comes within `max` bytes. */
export function cString(mem: PhysicalMemory, gpa: number, max = 4096): string {
  const byteAt = 'readPhysical' in mem ? (a: number) => mem.readPhysical(a, 1)[0] : (a: number) => mem.read(a, 1)[0];
  const bytes: number[] = [];
  for (let a = gpa; ; a++) {
    const b = byteAt(a);
    if (b === 0) break;
    bytes.push(b);
    assert.ok(bytes.length < max, `unterminated string at 0x${gpa.toString(16)}`);
  }
  return Buffer.from(bytes).toString('utf8');
}
