// The extensionTestsPath module for @vscode/test-electron: VS Code loads it (bundled to
// test/electron/build/index.js by run.ts) in the extension host and calls run(); a rejection fails
// the run.
import { runSuite } from './suite.js';

export function run(): Promise<void> {
  return runSuite((s) => console.log(`[kvmdbg suite] ${s}`));
}
