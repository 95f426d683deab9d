// Bundles the entry points with esbuild. koffi stays external: its native binary is
// loaded from node_modules at run time (and shipped beside the bundle in the .vsix).
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  external: ['koffi', 'vscode'],
  logLevel: 'warning',
};

await Promise.all([
  build({ ...common, entryPoints: ['src/cli.ts'], outfile: 'dist/cli.js' }),
  // dist/adapter.js runs dist/adapter-main.js, the adapter, with V8's code cache (src/code-cache.ts).
  build({ ...common, entryPoints: ['src/dap/adapter-loader.ts'], outfile: 'dist/adapter.js' }),
  build({ ...common, entryPoints: ['src/dap/adapter.ts'], outfile: 'dist/adapter-main.js' }),
  build({ ...common, entryPoints: ['src/extension/extension.ts'], outfile: 'dist/extension.js' }),
]);

// iced-x86's WASM is read from beside the bundle (its loader uses __dirname).
import { copyFileSync } from 'node:fs';
copyFileSync('node_modules/iced-x86/iced_x86_bg.wasm', 'dist/iced_x86_bg.wasm');
