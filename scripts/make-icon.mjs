// Draws the extension's icon, media/icon.png (128x128 RGBA), from this source: a processor chip
// with a breakpoint on it, on a dark blue tile. No image tools, no downloads: shapes are sampled
// 4x4 per pixel (anti-aliasing) and written as a PNG with node:zlib. The output is the same
// byte for byte on every run; test/extension-package.test.ts checks the committed file against it.
//   node scripts/make-icon.mjs [OUT]        (default media/icon.png)
import { deflateSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const SIZE = 128;
const SS = 4; // samples per pixel along each axis

const TILE = [0x1b, 0x2b, 0x45]; // dark blue
const CHIP = [0x3a, 0x4a, 0x63]; // the package
const PIN = [0xc8, 0xd3, 0xe3]; // pins and the die outline
const DIE = [0x26, 0x33, 0x48];
const BREAKPOINT = [0xe5, 0x14, 0x00]; // VS Code's breakpoint red

const inRoundRect = (x, y, x0, y0, x1, y1, r) => {
  if (x < x0 || x > x1 || y < y0 || y > y1) return false;
  const cx = Math.min(Math.max(x, x0 + r), x1 - r);
  const cy = Math.min(Math.max(y, y0 + r), y1 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
};
const inCircle = (x, y, cx, cy, r) => (x - cx) ** 2 + (y - cy) ** 2 <= r * r;

/** The colour at a point (x, y in pixels, continuous), or undefined outside the tile. */
function shade(x, y) {
  if (!inRoundRect(x, y, 0, 0, SIZE, SIZE, 22)) return undefined;
  if (inCircle(x, y, 64, 64, 15)) return BREAKPOINT;
  if (inRoundRect(x, y, 44, 44, 84, 84, 4)) return inRoundRect(x, y, 47, 47, 81, 81, 2) ? DIE : PIN;
  if (inRoundRect(x, y, 30, 30, 98, 98, 8)) return CHIP;
  // four pins a side, 6 wide and 14 long, spaced 14 apart along the package's edges
  for (let i = 0; i < 4; i++) {
    const a = 40 + i * 14;
    if (x >= a && x <= a + 6 && ((y >= 16 && y <= 30) || (y >= 98 && y <= 112))) return PIN;
    if (y >= a && y <= a + 6 && ((x >= 16 && x <= 30) || (x >= 98 && x <= 112))) return PIN;
  }
  return TILE;
}

function pixels() {
  const rows = [];
  for (let py = 0; py < SIZE; py++) {
    const row = Buffer.alloc(1 + SIZE * 4); // filter byte 0 (None), then RGBA
    for (let px = 0; px < SIZE; px++) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < SS; sy++) {
        for (let sx = 0; sx < SS; sx++) {
          const c = shade(px + (sx + 0.5) / SS, py + (sy + 0.5) / SS);
          if (!c) continue;
          r += c[0]; g += c[1]; b += c[2]; a++;
        }
      }
      const o = 1 + px * 4;
      if (a) {
        row[o] = Math.round(r / a);
        row[o + 1] = Math.round(g / a);
        row[o + 2] = Math.round(b / a);
        row[o + 3] = Math.round((a * 255) / (SS * SS));
      }
    }
    rows.push(row);
  }
  return Buffer.concat(rows);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** The icon as PNG bytes. */
export function iconPng() {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(SIZE, 0);
  ihdr.writeUInt32BE(SIZE, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(pixels(), { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ?? fileURLToPath(new URL('../media/icon.png', import.meta.url));
  writeFileSync(out, iconPng());
  console.log(`wrote ${out}`);
}
