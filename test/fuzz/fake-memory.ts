// Guest memory for driving the loaders without KVM or mmap: one Buffer from address 0 (the part
// of GuestMemory's interface the loaders use), optionally recording every range a loader writes
// through the views it hands out (set, fill, the write* methods; not `source.copy(view)`, which
// writes through the source's method: only bzImage's zero page is written that way).
import type { GuestMemory } from '../../src/vmm/memory.js';
import { hex } from '../../src/errors.js';
import { GuestError } from '../../src/errors.js';

export interface WriteRecord { gpa: number; len: number; how: string }

export class FakeMemory {
  readonly buf: Buffer;
  readonly writes: WriteRecord[] = [];
  private readonly proto?: object;

  constructor(readonly size: number, readonly record = false) {
    this.buf = Buffer.alloc(size);
    if (record) this.proto = recordingProto(this.writes);
  }

  get top(): number {
    return this.size;
  }

  contains(gpa: number, len: number): boolean {
    return gpa >= 0 && len >= 0 && gpa + len <= this.size;
  }

  describe(): string {
    return `${hex(0)}..${hex(this.size)}`;
  }

  view(gpa: number, len: number): Buffer {
    if (!this.contains(gpa, len)) throw new GuestError(`guest-physical range ${hex(gpa)}..${hex(gpa + len)} is outside guest memory (${this.describe()})`);
    const v = this.buf.subarray(gpa, gpa + len);
    if (this.proto) {
      Object.setPrototypeOf(v, this.proto);
      (v as Buffer & { gpa: number }).gpa = gpa;
    }
    return v;
  }

  read(gpa: number, len: number): Buffer {
    return Buffer.from(this.buf.subarray(gpa, gpa + len));
  }

  write(gpa: number, data: Uint8Array): void {
    this.view(gpa, data.length).set(data);
  }

  /** As the loaders' parameter type. */
  get asGuestMemory(): GuestMemory {
    return this as unknown as GuestMemory;
  }
}

/** A Buffer prototype whose writing methods record [gpa, gpa + len) before writing. */
function recordingProto(writes: WriteRecord[]): object {
  const base = Buffer.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const proto = Object.create(Buffer.prototype) as Record<string, unknown>;
  type Viewed = Buffer & { gpa: number };
  const note = (self: Viewed, start: number, end: number, how: string): void => {
    const s = Math.max(0, Math.min(self.length, start));
    const e = Math.max(s, Math.min(self.length, end));
    if (e > s) writes.push({ gpa: self.gpa + s, len: e - s, how });
  };
  proto.set = function (this: Viewed, src: ArrayLike<number>, offset = 0) {
    note(this, offset, offset + src.length, 'set');
    return Uint8Array.prototype.set.call(this, src, offset);
  };
  proto.fill = function (this: Viewed, value: unknown, offset?: unknown, end?: unknown) {
    const o = typeof offset === 'number' ? offset : 0;
    const e = typeof end === 'number' ? end : this.length;
    note(this, o, e, 'fill');
    return base.fill.call(this, value, offset, end);
  };
  proto.subarray = function (this: Viewed, start?: number, end?: number) {
    const v = Uint8Array.prototype.subarray.call(this, start, end) as Viewed;
    Object.setPrototypeOf(v, proto);
    const s = start === undefined ? 0 : start < 0 ? Math.max(0, this.length + start) : Math.min(start, this.length);
    v.gpa = this.gpa + s;
    return v;
  };
  for (const name of Object.getOwnPropertyNames(Buffer.prototype)) {
    if (!/^write/.test(name) || typeof base[name] !== 'function') continue;
    proto[name] = function (this: Viewed, ...args: unknown[]) {
      const r = base[name].apply(this, args);
      // writeUInt32LE(value, offset) returns offset + bytes written; write(string, offset) the byte count.
      if (name === 'write') {
        const offset = typeof args[1] === 'number' ? args[1] : 0;
        note(this, offset, offset + (r as number), name);
      } else {
        const offset = typeof args[1] === 'number' ? args[1] : 0;
        note(this, offset, r as number, name);
      }
      return r;
    };
  }
  return proto;
}
