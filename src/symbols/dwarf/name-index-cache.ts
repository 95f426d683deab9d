// The name index's cache file (name-index.ts; the envelope, and where the files live, are
// index-cache.ts's). What it holds, declared here only:
//
//   {"key": ..., "sections": {...}, "variables": [NAME, FLAGS, DIE, ...], "types": [KEY, DIE, ...]}
//
// A DIE offset that passes these checks but does not hold what the entry says is caught where
// it is used (DwarfVariables).
import { NameIndex, VAR_DEFINED, VAR_EXTERNAL, type IndexedVariable } from './name-index.js';
import { MAX_STRING_LENGTH } from './reader.js';
import { openCache, sealCache, type IndexFacts } from './index-cache.js';

export const INDEX_MAGIC = 'kvmdbg-dwarf-name-index';
/** Bumped whenever what the file holds, or what the scan puts in an index, changes. */
export const INDEX_VERSION = 1;
/** The name index's file in the cache directory: KEY.idx. */
export const INDEX_SUFFIX = '.idx';

/** The index file's bytes for an index. */
export function serializeIndex(index: NameIndex, facts: IndexFacts): Buffer {
  const variables: (string | number)[] = [];
  for (const [name, list] of index.variables) for (const v of list) variables.push(name, v.flags, v.die);
  const types: (string | number)[] = [];
  for (const [key, die] of index.types) types.push(key, die);
  return sealCache(INDEX_MAGIC, INDEX_VERSION, facts, { variables, types });
}

/**
 * The index an index file holds, or undefined where it does not check out (index-cache.ts).
 * `validDie` says whether an offset can be a DIE of the file's (it is below its sections' ends).
 */
export function parseIndex(bytes: Buffer, facts: IndexFacts, validDie: (offset: number) => boolean): NameIndex | undefined {
  const doc = openCache(bytes, INDEX_MAGIC, INDEX_VERSION, facts);
  if (!doc) return undefined;
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
