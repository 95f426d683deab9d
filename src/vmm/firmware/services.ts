// The BIOS services, as functions of the caller's registers and guest memory: each takes the
// registers at the `int` (BiosRegs), changes them in place as the BIOS returns them, and says
// which flags the iret must carry (CF, ZF) or where the guest must wait (a ROM routine). No
// KVM here: bios.ts reads and writes the vCPU, and tests call these with made-up registers and
// memory. Register conventions and error codes follow Ralf Brown's interrupt list.
import { BDA, CONVENTIONAL_KIB, type FirmwareMemory } from './bda.js';
import { SECTOR, type BootDisk } from './disk.js';
import { peekKey, pushKey } from './keyboard.js';
import { CONFIG_TABLE, DISKETTE_PARAMS, ROM_SEGMENT, type TrapId } from './rom.js';

/** The caller's registers (32-bit values) and the segment registers a service reads or sets. */
export interface BiosRegs {
  eax: number; ebx: number; ecx: number; edx: number;
  esi: number; edi: number; ebp: number; esp: number;
  /** Selectors, and the bases the CPU uses (selector × 16 in real mode, kept apart for unreal mode). */
  es: number; ds: number; ss: number;
  esBase: number; dsBase: number; ssBase: number;
}

export interface ServiceResult {
  /** CF (and ZF) in the FLAGS image the iret pops; undefined leaves the caller's. */
  cf?: boolean;
  zf?: boolean;
  /** Send the guest to this ROM routine (by symbol) instead of returning: it has to wait. */
  redirect?: string;
  /** A new ES selector (int 13h AH=08h, int 15h AH=C0h return far pointers in ES). */
  es?: number;
}

export interface MemoryMapEntry {
  base: number;
  length: number;
  type: number;
}

/** The cursor as the VGA's CRTC shows it (registers 0Eh/0Fh, 0Ah/0Bh). */
export interface VideoHooks {
  setCursorOffset(offset: number): void;
  setCursorShape(start: number, end: number): void;
}

export interface BiosContext {
  mem: FirmwareMemory;
  /** Guest memory reads and writes of disk transfers (breakpoints planted meanwhile stay). */
  readGuest(gpa: number, len: number): Buffer;
  writeGuest(gpa: number, data: Uint8Array): void;
  disk?: BootDisk;
  /** The E820 map: the monitor's real memory layout. */
  memoryMap: readonly MemoryMapEntry[];
  /** The host's wall clock (int 1Ah RTC) and a monotonic clock in ms (int 15h AH=86h). */
  now(): Date;
  monotonic(): number;
  video?: VideoHooks;
  /** Per-machine state of waiting services. */
  state: { waitUntil?: number };
}

// --- register halves ---------------------------------------------------------------------------
const ah = (r: BiosRegs) => (r.eax >>> 8) & 0xff;
const al = (r: BiosRegs) => r.eax & 0xff;
const setAh = (r: BiosRegs, v: number) => (r.eax = ((r.eax & ~0xff00) | ((v & 0xff) << 8)) >>> 0);
const setAl = (r: BiosRegs, v: number) => (r.eax = ((r.eax & ~0xff) | (v & 0xff)) >>> 0);
const setAx = (r: BiosRegs, v: number) => (r.eax = ((r.eax & ~0xffff) | (v & 0xffff)) >>> 0);
const setBx = (r: BiosRegs, v: number) => (r.ebx = ((r.ebx & ~0xffff) | (v & 0xffff)) >>> 0);
const setCx = (r: BiosRegs, v: number) => (r.ecx = ((r.ecx & ~0xffff) | (v & 0xffff)) >>> 0);
const setDx = (r: BiosRegs, v: number) => (r.edx = ((r.edx & ~0xffff) | (v & 0xffff)) >>> 0);
const hi = (v: number) => (v >>> 8) & 0xff;
const lo = (v: number) => v & 0xff;

function rd8(m: FirmwareMemory, a: number): number { return m.view(a, 1)[0]; }
function wr8(m: FirmwareMemory, a: number, v: number): void { m.view(a, 1)[0] = v & 0xff; }
function rd16(m: FirmwareMemory, a: number): number { return m.view(a, 2).readUInt16LE(0); }
function wr16(m: FirmwareMemory, a: number, v: number): void { m.view(a, 2).writeUInt16LE(v & 0xffff, 0); }

/** Runs the service of a trap point. */
export function service(id: TrapId, r: BiosRegs, ctx: BiosContext): ServiceResult {
  switch (id) {
    case 'int10': return int10(r, ctx);
    case 'int11': setAx(r, rd16(ctx.mem, BDA.equipment)); return {};
    case 'int12': setAx(r, rd16(ctx.mem, BDA.memoryKiB)); return {};
    case 'int13': return int13(r, ctx);
    case 'int15': return int15(r, ctx);
    case 'wait-us': return waitDone(r, ctx);
    case 'int16': return int16(r, ctx);
    case 'int18': return noBoot(ctx);
    case 'int19': return boot(r, ctx);
    case 'int1a': return int1a(r, ctx);
    case 'irq1': return {}; // handled by bios.ts (keyboardInterrupt), nothing returned
  }
}

// --- int 10h: video --------------------------------------------------------------------------
const TEXT = 0xb8000;
const COLS = 80;
const ROWS = 25;
const PAGE_BYTES = 0x1000;

function cursor(m: FirmwareMemory, page: number): { row: number; col: number } {
  const b = m.view(BDA.cursorPos + 2 * (page & 7), 2);
  return { col: b[0], row: b[1] };
}

function setCursor(ctx: BiosContext, page: number, row: number, col: number): void {
  const m = ctx.mem;
  page &= 7;
  const b = m.view(BDA.cursorPos + 2 * page, 2);
  b[0] = col;
  b[1] = row;
  if (page === rd8(m, BDA.activePage)) syncCursor(ctx);
}

/** The CRTC's cursor follows the active page's BDA cursor: the one place the VGA is told. */
function syncCursor(ctx: BiosContext): void {
  const page = rd8(ctx.mem, BDA.activePage) & 7;
  const { row, col } = cursor(ctx.mem, page);
  ctx.video?.setCursorOffset((page * PAGE_BYTES) / 2 + row * COLS + col);
}

function cell(page: number, row: number, col: number): number {
  return TEXT + (page & 7) * PAGE_BYTES + (row * COLS + col) * 2;
}

/** Scrolls the window (rows top..bottom, columns left..right) of `page` by n lines (0: clear). */
function scroll(m: FirmwareMemory, page: number, n: number, attr: number, top: number, left: number, bottom: number, right: number, up: boolean): void {
  bottom = Math.min(bottom, ROWS - 1);
  right = Math.min(right, COLS - 1);
  if (top > bottom || left > right) return;
  const height = bottom - top + 1;
  if (n === 0 || n > height) n = height;
  const width = (right - left + 1) * 2;
  const blank = Buffer.alloc(width);
  for (let i = 0; i < width; i += 2) { blank[i] = 0x20; blank[i + 1] = attr; }
  if (up) {
    for (let row = top; row <= bottom; row++) {
      const src = row + n;
      const line = src <= bottom ? Buffer.from(m.view(cell(page, src, left), width)) : blank;
      m.view(cell(page, row, left), width).set(line);
    }
  } else {
    for (let row = bottom; row >= top; row--) {
      const src = row - n;
      const line = src >= top ? Buffer.from(m.view(cell(page, src, left), width)) : blank;
      m.view(cell(page, row, left), width).set(line);
    }
  }
}

/** Teletype output of one character on `page`; `attr` (write string) or the cell's own. */
function teletype(ctx: BiosContext, page: number, ch: number, attr?: number): void {
  const m = ctx.mem;
  let { row, col } = cursor(m, page);
  switch (ch) {
    case 0x07: return; // BEL: no speaker
    case 0x08: if (col > 0) col--; break;
    case 0x0a: row++; break;
    case 0x0d: col = 0; break;
    default: {
      const at = cell(page, row, col);
      wr8(m, at, ch);
      if (attr !== undefined) wr8(m, at + 1, attr);
      if (++col >= COLS) { col = 0; row++; }
    }
  }
  if (row >= ROWS) {
    // The new bottom line takes the attribute of the cell at the cursor, as the IBM BIOS does.
    const fill = rd8(m, cell(page, ROWS - 1, col) + 1);
    scroll(m, page, 1, fill, 0, 0, ROWS - 1, COLS - 1, true);
    row = ROWS - 1;
  }
  setCursor(ctx, page, row, col);
}

function setMode(ctx: BiosContext, mode: number): void {
  const m = ctx.mem;
  // Text modes only: 02h/03h (80x25 colour) are set; 00h/01h (40 columns) and 07h are served as
  // 03h; graphics modes (04h-06h, 0Dh-13h) are refused (the mode stays), as kvmdbg shows text.
  const n = mode & 0x7f;
  if (n > 3 && n !== 7) return;
  wr8(m, BDA.videoMode, 3);
  wr16(m, BDA.columns, COLS);
  wr16(m, BDA.pageSize, PAGE_BYTES);
  wr16(m, BDA.pageStart, 0);
  wr8(m, BDA.activePage, 0);
  wr8(m, BDA.rowsMinus1, ROWS - 1);
  m.view(BDA.cursorPos, 16).fill(0);
  wr16(m, BDA.cursorShape, 0x0607);
  ctx.video?.setCursorShape(6, 7);
  if (!(mode & 0x80)) {
    const screen = m.view(TEXT, 8 * PAGE_BYTES);
    for (let i = 0; i < screen.length; i += 2) screen.writeUInt16LE(0x0720, i);
  }
  syncCursor(ctx);
}

function int10(r: BiosRegs, ctx: BiosContext): ServiceResult {
  const m = ctx.mem;
  const bh = hi(r.ebx);
  const bl = lo(r.ebx);
  switch (ah(r)) {
    case 0x00: setMode(ctx, al(r)); setAl(r, 0x30); return {};
    case 0x01: { // cursor shape: CH start line (bit 5: off), CL end line
      wr16(m, BDA.cursorShape, r.ecx & 0xffff);
      ctx.video?.setCursorShape(hi(r.ecx), lo(r.ecx));
      return {};
    }
    case 0x02: setCursor(ctx, bh, Math.min(hi(r.edx), 0xff), lo(r.edx)); return {};
    case 0x03: {
      const c = cursor(m, bh);
      setCx(r, rd16(m, BDA.cursorShape));
      setDx(r, (c.row << 8) | c.col);
      setAx(r, 0);
      return {};
    }
    case 0x05: { // active page
      const page = al(r) & 7;
      wr8(m, BDA.activePage, page);
      wr16(m, BDA.pageStart, page * PAGE_BYTES);
      syncCursor(ctx);
      return {};
    }
    case 0x06: case 0x07:
      scroll(m, rd8(m, BDA.activePage), al(r), bh, hi(r.ecx), lo(r.ecx), hi(r.edx), lo(r.edx), ah(r) === 0x06);
      return {};
    case 0x08: { // read character and attribute at the cursor
      const c = cursor(m, bh);
      setAx(r, rd16(m, cell(bh, c.row, c.col)));
      return {};
    }
    case 0x09: case 0x0a: { // CX times at the cursor, which stays
      const c = cursor(m, bh);
      const start = c.row * COLS + c.col;
      const count = Math.min(r.ecx & 0xffff, COLS * ROWS - start);
      for (let i = 0; i < count; i++) {
        const at = TEXT + (bh & 7) * PAGE_BYTES + (start + i) * 2;
        wr8(m, at, al(r));
        if (ah(r) === 0x09) wr8(m, at + 1, bl);
      }
      return {};
    }
    case 0x0e: teletype(ctx, rd8(m, BDA.activePage), al(r)); return {};
    case 0x0f:
      setAx(r, (rd16(m, BDA.columns) << 8) | rd8(m, BDA.videoMode));
      setBx(r, (rd8(m, BDA.activePage) << 8) | bl);
      return {};
    case 0x12: // alternate select; BL=10h: EGA/VGA information (colour, 256 KiB)
      if (bl === 0x10) {
        setBx(r, 0x0003);
        setCx(r, 0x0009);
      }
      return {};
    case 0x13: { // write string ES:BP, CX characters, at DH,DL of page BH; AL bit 0 moves the cursor, bit 1: char,attr pairs
      const mode = al(r);
      const saved = cursor(m, bh);
      setCursor(ctx, bh, hi(r.edx), lo(r.edx));
      const n = r.ecx & 0xffff;
      const withAttrs = (mode & 2) !== 0;
      const s = ctx.readGuest(r.esBase + (r.ebp & 0xffff), withAttrs ? 2 * n : n);
      for (let i = 0; i < n; i++) {
        const ch = withAttrs ? s[2 * i] : s[i];
        teletype(ctx, bh, ch, withAttrs ? s[2 * i + 1] : bl);
      }
      if (!(mode & 1)) setCursor(ctx, bh, saved.row, saved.col);
      return {};
    }
    case 0x1a: // display combination: VGA with a colour display
      if (al(r) === 0) { setAl(r, 0x1a); setBx(r, 0x0008); }
      return {};
    default:
      return {}; // palette, fonts, pixels: nothing to do on a text screen
  }
}

// --- int 13h: the boot disk ------------------------------------------------------------------
const DISK = { ok: 0x00, badCommand: 0x01, notFound: 0x04, timeout: 0x80 } as const;

function diskStatus(ctx: BiosContext, r: BiosRegs, status: number, al?: number): ServiceResult {
  const drive = lo(r.edx);
  wr8(ctx.mem, drive & 0x80 ? BDA.diskStatus : BDA.floppyStatus, status);
  setAh(r, status);
  if (al !== undefined) setAl(r, al);
  return { cf: status !== 0 };
}

/** Copies `count` sectors from `lba` to guest memory at `gpa` (read) or back (write); returns how many fit. */
function transfer(ctx: BiosContext, disk: BootDisk, lba: number, count: number, gpa: number, write: boolean): number {
  const n = Math.max(0, Math.min(count, disk.totalSectors - lba));
  if (n === 0) return 0;
  const bytes = n * SECTOR;
  if (write) disk.write(lba, ctx.readGuest(gpa, bytes));
  else ctx.writeGuest(gpa, disk.read(lba, n));
  return n;
}

function int13(r: BiosRegs, ctx: BiosContext): ServiceResult {
  const fn = ah(r);
  const drive = lo(r.edx);
  const disk = ctx.disk;
  if (fn === 0x01) { // status of the last operation
    const last = rd8(ctx.mem, drive & 0x80 ? BDA.diskStatus : BDA.floppyStatus);
    setAh(r, last);
    return { cf: last !== 0 };
  }
  if (!disk || drive !== disk.drive) {
    // No such drive. int 13h AH=15h answers "not present" with CF clear.
    if (fn === 0x15) { setAh(r, 0); return { cf: false }; }
    if (fn === 0x08) { setDx(r, 0); }
    return diskStatus(ctx, r, drive & 0x80 ? DISK.badCommand : DISK.timeout);
  }
  const g = disk.geometry;
  switch (fn) {
    case 0x00: return diskStatus(ctx, r, DISK.ok);
    case 0x02: case 0x03: case 0x04: { // CHS read, write, verify: AL sectors, CH/CL cylinder and sector, DH head, ES:BX
      const count = al(r);
      const c = hi(r.ecx) | ((r.ecx & 0xc0) << 2);
      const s = r.ecx & 0x3f;
      const h = hi(r.edx);
      if (count === 0) return diskStatus(ctx, r, DISK.badCommand, 0);
      const lba = disk.lba(c, h, s);
      if (lba === undefined) return diskStatus(ctx, r, DISK.notFound, 0);
      const done = fn === 0x04 ? Math.min(count, disk.totalSectors - lba)
        : transfer(ctx, disk, lba, count, r.esBase + (r.ebx & 0xffff), fn === 0x03);
      return diskStatus(ctx, r, done < count ? DISK.notFound : DISK.ok, done);
    }
    case 0x08: { // parameters
      const maxCyl = Math.min(g.cylinders, 1024) - 1;
      setAx(r, 0);
      setCx(r, ((maxCyl & 0xff) << 8) | ((maxCyl >> 2) & 0xc0) | g.sectors);
      setDx(r, ((g.heads - 1) << 8) | 1);
      if (disk.kind === 'floppy') {
        setBx(r, disk.floppyType);
        r.edi = ((r.edi & ~0xffff) | DISKETTE_PARAMS) >>> 0;
        diskStatus(ctx, r, DISK.ok);
        return { cf: false, es: ROM_SEGMENT };
      }
      return diskStatus(ctx, r, DISK.ok);
    }
    case 0x15: // drive type: a diskette drive with change line, or a hard disk and its sector count
      if (disk.kind === 'floppy') { setAh(r, 0x02); return { cf: false }; }
      setAh(r, 0x03);
      setCx(r, disk.totalSectors >>> 16);
      setDx(r, disk.totalSectors & 0xffff);
      return { cf: false };
    case 0x41: // extensions present: BX 55AAh -> AA55h, AH version (EDD 3.0), CX bit 0: packet access
      if ((r.ebx & 0xffff) !== 0x55aa) return diskStatus(ctx, r, DISK.badCommand);
      setBx(r, 0xaa55);
      setCx(r, 0x0001);
      setAh(r, 0x30);
      return { cf: false };
    case 0x42: case 0x43: case 0x44: { // LBA read, write, verify with the packet at DS:SI
      const at = r.dsBase + (r.esi & 0xffff);
      const p = ctx.readGuest(at, 16);
      const size = p[0];
      const count = p.readUInt16LE(2);
      const buffer = p.readUInt16LE(6) * 16 + p.readUInt16LE(4);
      const lba = Number(p.readBigUInt64LE(8));
      if (size < 0x10) return diskStatus(ctx, r, DISK.badCommand);
      let done: number;
      if (lba >= disk.totalSectors) done = 0;
      else if (fn === 0x44) done = Math.min(count, disk.totalSectors - lba);
      else done = transfer(ctx, disk, lba, count, buffer, fn === 0x43);
      const w = Buffer.alloc(2);
      w.writeUInt16LE(done);
      ctx.writeGuest(at + 2, w);
      return diskStatus(ctx, r, done < count ? DISK.notFound : DISK.ok);
    }
    case 0x48: { // drive parameters into the buffer at DS:SI
      const at = r.dsBase + (r.esi & 0xffff);
      const size = ctx.readGuest(at, 2).readUInt16LE(0);
      if (size < 0x1a) return diskStatus(ctx, r, DISK.badCommand);
      const b = Buffer.alloc(0x1a);
      b.writeUInt16LE(0x1a, 0);
      b.writeUInt16LE(0x0002, 2); // CHS information valid
      b.writeUInt32LE(g.cylinders, 4);
      b.writeUInt32LE(g.heads, 8);
      b.writeUInt32LE(g.sectors, 12);
      b.writeBigUInt64LE(BigInt(disk.totalSectors), 16);
      b.writeUInt16LE(SECTOR, 24);
      ctx.writeGuest(at, b);
      return diskStatus(ctx, r, DISK.ok);
    }
    default:
      return diskStatus(ctx, r, DISK.badCommand);
  }
}

// --- int 15h: system services ----------------------------------------------------------------
const SMAP = 0x534d4150;
const UNSUPPORTED = 0x86;

function unsupported(r: BiosRegs): ServiceResult {
  setAh(r, UNSUPPORTED);
  return { cf: true };
}

/** KiB of RAM in the map's available ranges inside [from, to). */
function ramKiB(map: readonly MemoryMapEntry[], from: number, to: number): number {
  let bytes = 0;
  for (const e of map) {
    if (e.type !== 1) continue;
    const a = Math.max(e.base, from);
    const b = Math.min(e.base + e.length, to);
    if (b > a) bytes += b - a;
  }
  return Math.floor(bytes / 1024);
}

function int15(r: BiosRegs, ctx: BiosContext): ServiceResult {
  const ax = r.eax & 0xffff;
  if (r.eax >>> 0 === 0xe820) {
    const i = r.ebx >>> 0;
    const map = ctx.memoryMap;
    if (r.edx >>> 0 !== SMAP || i >= map.length || (r.ecx >>> 0) < 20) return unsupported(r);
    const e = map[i];
    const size = (r.ecx >>> 0) >= 24 ? 24 : 20;
    const b = Buffer.alloc(size);
    b.writeBigUInt64LE(BigInt(e.base), 0);
    b.writeBigUInt64LE(BigInt(e.length), 8);
    b.writeUInt32LE(e.type, 16);
    if (size === 24) b.writeUInt32LE(1, 20); // ACPI 3.0 extended attributes: enabled
    ctx.writeGuest(r.esBase + (r.edi & 0xffff), b);
    r.eax = SMAP;
    r.ecx = size;
    r.ebx = i + 1 < map.length ? i + 1 : 0;
    return { cf: false };
  }
  if (ax === 0xe801) {
    const below16 = Math.min(ramKiB(ctx.memoryMap, 0x100000, 0x1000000), 0x3c00);
    const above16 = Math.min(Math.floor(ramKiB(ctx.memoryMap, 0x1000000, 0x1_0000_0000) / 64), 0xffff);
    setAx(r, below16); setCx(r, below16);
    setBx(r, above16); setDx(r, above16);
    return { cf: false };
  }
  switch (ah(r)) {
    case 0x24: // A20: always on under KVM, and cannot be turned off
      switch (al(r)) {
        case 0x00: return unsupported(r);
        case 0x01: setAh(r, 0); return { cf: false };
        case 0x02: setAh(r, 0); setAl(r, 1); return { cf: false };
        case 0x03: setAh(r, 0); setBx(r, 0x0003); return { cf: false };
        default: return unsupported(r);
      }
    case 0x88: // KiB above 1 MiB
      setAx(r, Math.min(ramKiB(ctx.memoryMap, 0x100000, 0x1_0000_0000), 0xffff));
      return { cf: false };
    case 0x86: { // wait CX:DX microseconds, asleep between interrupts
      const us = ((r.ecx & 0xffff) * 0x10000 + (r.edx & 0xffff));
      ctx.state.waitUntil = ctx.monotonic() + us / 1000;
      return { redirect: 'bios_wait_us' };
    }
    case 0xc0: // system configuration table at ES:BX
      setBx(r, CONFIG_TABLE);
      setAh(r, 0);
      return { cf: false, es: ROM_SEGMENT };
    default:
      return unsupported(r);
  }
}

/** int 15h AH=86h, woken by an interrupt: done when the time is up, else back to sleep. */
function waitDone(r: BiosRegs, ctx: BiosContext): ServiceResult {
  const until = ctx.state.waitUntil;
  if (until !== undefined && ctx.monotonic() < until) return { redirect: 'bios_wait_us' };
  ctx.state.waitUntil = undefined;
  setAh(r, 0);
  return { cf: false };
}

// --- int 16h: the keyboard -------------------------------------------------------------------
function int16(r: BiosRegs, ctx: BiosContext): ServiceResult {
  const m = ctx.mem;
  const fn = ah(r);
  switch (fn) {
    case 0x00: case 0x10: { // read a key, waiting for one
      const key = peekKey(m, true);
      if (key === undefined) return { redirect: 'bios_wait_key' };
      setAx(r, fn === 0x00 ? compatible(key) : key);
      return {};
    }
    case 0x01: case 0x11: { // is a key waiting? ZF set when not
      const key = peekKey(m, false);
      if (key === undefined) return { zf: true };
      setAx(r, fn === 0x01 ? compatible(key) : key);
      return { zf: false };
    }
    case 0x02: setAl(r, rd8(m, BDA.kbdFlags1)); return {};
    case 0x12: {
      setAl(r, rd8(m, BDA.kbdFlags1));
      setAh(r, rd8(m, BDA.kbdFlags2));
      return {};
    }
    case 0x05: setAl(r, pushKey(m, r.ecx & 0xffff) ? 0 : 1); return {}; // store a key
    default: return {};
  }
}

/** int 16h AH=00h/01h report the enhanced keys' 0xE0 in AL as 0, as an XT keyboard had none. */
function compatible(key: number): number {
  return (key & 0xff) === 0xe0 && key >> 8 ? key & 0xff00 : key;
}

// --- int 18h, 19h: booting -------------------------------------------------------------------
const NO_BOOT = 'No bootable device';

function noBoot(ctx: BiosContext): ServiceResult {
  const page = rd8(ctx.mem, BDA.activePage);
  for (const ch of Buffer.from(`${NO_BOOT}\r\n`, 'latin1')) teletype(ctx, page, ch);
  return { redirect: 'bios_halt' };
}

function boot(r: BiosRegs, ctx: BiosContext): ServiceResult {
  const disk = ctx.disk;
  if (!disk) return noBoot(ctx);
  const sector = disk.sector(0);
  if (sector[510] !== 0x55 || sector[511] !== 0xaa) return noBoot(ctx);
  ctx.writeGuest(0x7c00, sector);
  setDx(r, (r.edx & 0xff00) | disk.drive);
  return { redirect: 'bios_boot' };
}

// --- int 1Ah: time ---------------------------------------------------------------------------
const bcd = (n: number) => ((Math.floor(n / 10) % 10) << 4) | (n % 10);

function int1a(r: BiosRegs, ctx: BiosContext): ServiceResult {
  const m = ctx.mem;
  switch (ah(r)) {
    case 0x00: { // ticks since midnight in CX:DX, AL the midnight flag (cleared)
      const t = m.view(BDA.ticks, 4).readUInt32LE(0);
      setCx(r, t >>> 16);
      setDx(r, t & 0xffff);
      setAl(r, rd8(m, BDA.midnight));
      wr8(m, BDA.midnight, 0);
      return {};
    }
    case 0x01:
      m.view(BDA.ticks, 4).writeUInt32LE((((r.ecx & 0xffff) << 16) | (r.edx & 0xffff)) >>> 0, 0);
      wr8(m, BDA.midnight, 0);
      return {};
    case 0x02: { // RTC time in BCD: CH hours, CL minutes, DH seconds, DL daylight saving
      const d = ctx.now();
      setCx(r, (bcd(d.getHours()) << 8) | bcd(d.getMinutes()));
      setDx(r, bcd(d.getSeconds()) << 8);
      setAh(r, 0);
      return { cf: false };
    }
    case 0x04: { // RTC date in BCD: CH century, CL year, DH month, DL day
      const d = ctx.now();
      setCx(r, (bcd(Math.floor(d.getFullYear() / 100)) << 8) | bcd(d.getFullYear() % 100));
      setDx(r, (bcd(d.getMonth() + 1) << 8) | bcd(d.getDate()));
      setAh(r, 0);
      return { cf: false };
    }
    case 0x03: case 0x05: setAh(r, 0); return { cf: false }; // setting the host's clock: accepted, ignored
    default: return { cf: true };
  }
}

export { CONVENTIONAL_KIB };
