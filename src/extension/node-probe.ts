// The file system as config-guess.ts reads it, through Node's fs (the extension host runs where
// the workspace's files are). No vscode import.
import { closeSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import type { FileProbe } from './config-guess.js';

/** Larger files are not read whole to guess their format (the headers are at the start). */
const MAX_READ = 64 << 20;

export const nodeProbe: FileProbe = {
  read(path) {
    try {
      const st = statSync(path);
      if (!st.isFile()) return undefined;
      if (st.size > MAX_READ) {
        const b = Buffer.alloc(1 << 20);
        const fd = openSync(path, 'r');
        try {
          readSync(fd, b, 0, b.length, 0);
        } finally {
          closeSync(fd);
        }
        return b;
      }
      return readFileSync(path);
    } catch {
      return undefined;
    }
  },
  list(dir) {
    try {
      return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isFile()).map((d) => d.name);
    } catch {
      return [];
    }
  },
};

