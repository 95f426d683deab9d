// dist/adapter.js: the adapter's bundle (dist/adapter-main.js, from adapter.ts) run with V8's code
// cache (src/code-cache.ts), so that a session does not compile again what the last one did,
// and the cache brought up to date as the process ends.
import { join } from 'node:path';
import { runWithCodeCache } from '../code-cache.js';

const run = runWithCodeCache(join(__dirname, 'adapter-main.js'));
process.on('exit', run.save);
