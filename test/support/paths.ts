// Where the tests find the project: the repository root (dist/, media/, examples/ beneath it).
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
