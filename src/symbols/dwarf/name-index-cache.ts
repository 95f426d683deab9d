// The name index of a big DWARF (name-index.ts) on disk, so that a second launch with the same
// file reads it back instead of scanning .debug_info again (a kernel's: seconds). One file per
// ELF file under $XDG_CACHE_HOME/kvmdbg/dwarf-index/ (~/.cache by default), named by the
// file's GNU build ID, else by its path, size and modification time. The format, declared here
// only:
//
//   kvmdbg-dwarf-name-index VERSION SHA256\n
//   {"key": ..., "sections": {".debug_info": SIZE, ...}, "variables": [NAME, FLAGS, DIE, ...], "types": [KEY, DIE, ...]}
//
// SHA256 is the hex digest of the JSON that follows. A file whose header, version, digest, key,
// section sizes or entries do not check out is ignored (and then rewritten): it is never trusted
// blindly, and its reading is linear in its size. A DIE offset that passes these checks but
// does not hold what the entry says is caught where it is used (DwarfVariables). Writing is
// best effort: a cache directory that cannot be written leaves the index in memory only.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { NameIndex, VAR_DEFINED, VAR_EXTERNAL, type IndexedVariable } from './name-index.js';
import { MAX_STRING_LENGTH } from './reader.js';
import type { ElfImage } from '../elf-file.js';

export const INDEX_MAGIC = 'kvmdbg-dwarf-name-index';
/** Bumped whenever what the file holds, or what the scan puts in an index, changes. */
export const INDEX_VERSION = 1;
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

/** The cache file of an index: `dir`/`key`.idx. */
export function indexFile(dir: string, key: string): string {
  return join(dir, `${key}.idx`);
}

/** The index file's bytes for an index. */
export function serializeIndex(index: NameIndex, facts: IndexFacts): Buffer {
  const variables: (string | number)[] = [];
  for (const [name, list] of index.variables) for (const v of list) variables.push(name, v.flags, v.die);
  const types: (string | number)[] = [];
  for (const [key, die] of index.types) types.push(key, die);
  const body = Buffer.from(JSON.stringify({ key: facts.key, sections: facts.sections, variables, types }), 'utf8');
  const digest = createHash('sha256').update(body).digest('hex');
  return Buffer.concat([Buffer.from(`${INDEX_MAGIC} ${INDEX_VERSION} ${digest}\n`, 'latin1'), body]);
}

/**
 * The index an index file holds, or undefined where it does not check out (see the header).
 * `validDie` says whether an offset can be a DIE of the file's (it is below its sections' ends).
 */
export function parseIndex(bytes: Buffer, facts: IndexFacts, validDie: (offset: number) => boolean): NameIndex | undefined {
  const nl = bytes.subarray(0, MAX_HEADER).indexOf(0x0a);
  if (nl < 0) return undefined;
  const header = bytes.toString('latin1', 0, nl).split(' ');
  if (header.length !== 3 || header[0] !== INDEX_MAGIC || header[1] !== String(INDEX_VERSION)) return undefined;
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
  const { variables: vs, types: ts } = doc;
  if (!Array.isArray(vs) || vs.length % 3 !== 0 || !Array.isArray(ts) || ts.length % 2 !== 0) return undefined;
  const isName = (x: unknown): x is string => typeof x === 'string' && x.length > 0 && x.length <= MAX_STRING_LENGTH;
  const isDie = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0 && validDie(x as number);
  const variables = new Map<string, IndexedVariable[]>();
  for (let i = 0; i < vs.length; i += 3) {
    const [name, flags, die] = [vs[i], vs[i + 1], vs[i + 2]];
    if (!isName(name) || !isDie(die) || !Number.isInteger(flags) || (flags as number) & ~(VAR_DEFINED | VAR_EXTERNAL)) return undefined;
    const list = variables.get(name);
    if (list) list.push({ die, flags: flags as number });
    else variables.set(name, [{ die, flags: flags as number }]);
  }
  const types = new Map<string, number>();
  for (let i = 0; i < ts.length; i += 2) {
    const [key, die] = [ts[i], ts[i + 1]];
    if (!isName(key) || !isDie(die)) return undefined;
    types.set(key, die);
  }
  return new NameIndex(variables, types);
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** The cached index at `file`, if there is one that checks out. */
export function readIndexFile(file: string, facts: IndexFacts, validDie: (offset: number) => boolean): NameIndex | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return undefined;
  }
  return parseIndex(bytes, facts, validDie);
}

/** Writes an index file (through a temporary file and a rename: a reader never sees half of one). False where it could not. */
export function writeIndexFile(file: string, dir: string, index: NameIndex, facts: IndexFacts): boolean {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(tmp, serializeIndex(index, facts));
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
