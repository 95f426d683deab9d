// Kernel symbol lists as text: a System.map (what `nm -n vmlinux` prints and a kernel build
// leaves beside the image) or /proc/kallsyms, "ADDRESS TYPE NAME" a line (kallsyms may end a line
// with "\t[module]"). Read in one pass into the ELF symbol shape, for SymbolTable: no sizes (a
// symbol reaches to the next one), the nm type letter as the symbol's type and binding (T/t text:
// a function, W/w weak: a function, A/a absolute, U undefined: left out, others data), upper
// case global, lower case local. Where a kernel runs relocated (KASLR), the `symbols` entry's
// offset is the slide; with `nokaslr` (or a PVH boot, which never relocates) it is 0.
import { GuestError } from '../errors.js';
import type { ElfSymbol, SymbolType } from './elf-parse.js';

const SHN_ABS = 0xfff1;
/** An ordinary defined symbol's section index (System.map names none). */
const DEFINED = 1;
/** A line: 8 or 16 hex digits, a type letter, a name without spaces, maybe a module in brackets. */
const LINE = /^([0-9a-fA-F]{8}|[0-9a-fA-F]{16}) ([a-zA-Z?]) (\S+)(?:\t\[\S+\])?$/;

/** Whether the bytes look like a System.map or kallsyms: their first line has the shape of one. */
export function isSystemMap(bytes: Buffer): boolean {
  const end = bytes.indexOf(0x0a);
  const first = bytes.toString('latin1', 0, end < 0 ? Math.min(bytes.length, 256) : end).replace(/\r$/, '');
  return /^([0-9a-fA-F]{8}|[0-9a-fA-F]{16}) [a-zA-Z?] /.test(first);
}

function typeOf(letter: string): SymbolType {
  const l = letter.toLowerCase();
  if (l === 't' || l === 'w') return 'func';
  if ('dbrgsv'.includes(l)) return 'object';
  return 'notype';
}

/**
 * The symbols of a System.map or kallsyms text, and the address width it spells (8 hex digits:
 * 32-bit, 16: 64-bit). A line of another shape is an error naming it (Debian's linux-image
 * packages ship a one-line placeholder saying where the real file is); so is a list whose every
 * address is 0, as /proc/kallsyms reads without the privilege to see addresses.
 */
export function parseSystemMap(text: string, file: string): { symbols: ElfSymbol[]; bits: 32 | 64 } {
  const symbols: ElfSymbol[] = [];
  let bits: 32 | 64 | undefined;
  let nonZero = false;
  let lineNo = 0;
  for (let at = 0; at < text.length;) {
    let end = text.indexOf('\n', at);
    if (end < 0) end = text.length;
    const line = text.slice(at, text[end - 1] === '\r' ? end - 1 : end);
    at = end + 1;
    lineNo++;
    if (line === '') continue;
    const m = LINE.exec(line);
    if (!m) throw new GuestError(`${file}:${lineNo}: not a System.map line ("ADDRESS TYPE NAME"): ${JSON.stringify(line.slice(0, 120))}`);
    bits ??= m[1].length === 8 ? 32 : 64;
    const letter = m[2];
    if (letter === 'U') continue;
    const value = BigInt('0x' + m[1]);
    if (value !== 0n) nonZero = true;
    symbols.push({
      name: m[3], value, size: 0n, type: typeOf(letter),
      bind: letter === 'w' || letter === 'W' ? 'weak' : letter === letter.toUpperCase() ? 'global' : 'local',
      shndx: letter === 'A' || letter === 'a' ? SHN_ABS : DEFINED,
    });
  }
  if (!symbols.length) throw new GuestError(`${file}: no symbols (an empty System.map)`);
  if (!nonZero) {
    throw new GuestError(
      `${file}: every address is 0: a /proc/kallsyms read without the right to see addresses ` +
      '(read it as root with kernel.kptr_restrict = 0)',
    );
  }
  return { symbols, bits: bits ?? 64 };
}
