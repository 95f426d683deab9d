// Indexes of a big DWARF kept on disk, so that a second launch with the same file reads them
// back instead of reading its sections again (a kernel's: seconds): the name index
// (name-index.ts) and the line index (line-index-cache.ts). One file of each kind per ELF file
// under $XDG_CACHE_HOME/kvmdbg/dwarf-index/ (~/.cache by default), named by the file's GNU
// build ID, else by its path, size and modification time. Every kind has the same envelope,
// declared here only:
//
//   MAGIC VERSION SHA256\n
//   {"key": ..., "sections": {".debug_info": SIZE, ...}, ...what the kind holds}
//
// SHA256 is the hex digest of the JSON that follows. A file whose header, version, digest, key
// or section sizes do not check out is ignored (and then rewritten), as is one whose entries
// its kind's parser refuses: it is never trusted blindly, and its reading is linear in its
// size. Writing is best effort: a cache directory that cannot be written leaves the index in
// memory only.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { ElfImage } from '../elf-file.js';

/** A header line longer than this is not one of ours. */
const MAX_HEADER = 256;
const SHT_NOTE = 7;
const NT_GNU_BUILD_ID = 3;

/** Where name indexes are cached by default: $XDG_CACHE_HOME/kvmdbg/dwarf-index (~/.cache where unset or relative). */
export function defaultIndexCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache'), 'kvmdbg', 'dwarf-index');
}

/** The ELF file's GNU build ID in hex (NT_GNU_BUILD_ID in any note section), if it has one. */
export function buildId(elf: ElfImage): string | undefined {
  for (const s of elf.elf.sections) {
    if (s.type !== SHT_NOTE || s.size > 1n << 16n) continue;
    const data = elf.section(s.name);
    if (!data) continue;
    // Notes: namesz, descsz, type, then name and desc, each padded to 4 bytes.
    for (let at = 0; at + 12 <= data.length;) {
      const namesz = data.readUInt32LE(at), descsz = data.readUInt32LE(at + 4), type = data.readUInt32LE(at + 8);
      const name = at + 12, desc = name + align4(namesz), next = desc + align4(descsz);
      if (next > data.length || next <= at) break;
      if (type === NT_GNU_BUILD_ID && namesz === 4 && data.toString('latin1', name, name + 4) === 'GNU\0' && descsz > 0 && descsz <= 64) {
        return data.toString('hex', desc, desc + descsz);
      }
      at = next;
    }
  }
  return undefined;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * The name an ELF file's index is cached under: its build ID, else a digest of its path, size
 * and modification time; undefined for bytes with neither (nothing is cached then).
 */
export function indexKey(elf: ElfImage, path: string): string | undefined {
  const id = buildId(elf);
  if (id) return `build-id-${id}`;
  try {
    const st = statSync(path);
    if (!st.isFile()) return undefined;
    return `file-${createHash('sha256').update(`${path}\0${st.size}\0${st.mtimeMs}`).digest('hex').slice(0, 40)}`;
  } catch {
    return undefined;
  }
}

/** What an index file must agree with: its key and the sizes of the sections it indexes. */
export interface IndexFacts {
  key: string;
  sections: Record<string, number>;
}

/** An index's cache file: `dir`/`key``suffix` (".idx" for the name index, ".lines" for the line index). */
export function cacheFile(dir: string, key: string, suffix: string): string {
  return join(dir, `${key}${suffix}`);
}

/** A cache file's bytes: the envelope around `payload` (whose own keys must not be key or sections). */
export function sealCache(magic: string, version: number, facts: IndexFacts, payload: Record<string, unknown>): Buffer {
  const body = Buffer.from(JSON.stringify({ key: facts.key, sections: facts.sections, ...payload }), 'utf8');
  const digest = createHash('sha256').update(body).digest('hex');
  return Buffer.concat([Buffer.from(`${magic} ${version} ${digest}\n`, 'latin1'), body]);
}

/** The JSON document a cache file holds, or undefined where its envelope does not check out (see the header). */
export function openCache(bytes: Buffer, magic: string, version: number, facts: IndexFacts): Record<string, unknown> | undefined {
  const nl = bytes.subarray(0, MAX_HEADER).indexOf(0x0a);
  if (nl < 0) return undefined;
  const header = bytes.toString('latin1', 0, nl).split(' ');
  if (header.length !== 3 || header[0] !== magic || header[1] !== String(version)) return undefined;
  const body = bytes.subarray(nl + 1);
  if (createHash('sha256').update(body).digest('hex') !== header[2]) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isRecord(doc) || doc.key !== facts.key || !isRecord(doc.sections)) return undefined;
  const sections = doc.sections;
  const names = Object.keys(facts.sections);
  if (Object.keys(sections).length !== names.length || names.some((n) => sections[n] !== facts.sections[n])) return undefined;
  return doc;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** A cache file's bytes, or undefined where there is none to read. */
export function readCacheFile(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch {
    return undefined;
  }
}

/** Writes a cache file (through a temporary file and a rename: a reader never sees half of one). False where it could not. */
export function writeCacheFile(file: string, dir: string, bytes: Buffer): boolean {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(tmp, bytes);
    renameSync(tmp, file);
    return true;
  } catch {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // Nothing written, or nothing to be done about it.
    }
    return false;
  }
}
