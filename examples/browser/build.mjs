// Bundles the browser example with esbuild into examples/browser/dist/ (index.html,
// main.js, and the two .wasm files Kiln fetches from next to its bundle).
//   node examples/browser/build.mjs            # Kiln as a user gets it: the package's browser entry (dist/)
//   node examples/browser/build.mjs --sources  # Kiln's TypeScript sources (what the Chromium test uses)
// Then: node examples/browser/serve.mjs, and open the URL it prints.
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..', '..');

/** The `.wasm` files Kiln's wasm backend fetches (the threaded one only for `threads` > 1). */
export const WASM_FILES = ['tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

/**
 * Bundles `main.mjs` (ES module, minified) into `outdir` with index.html and the .wasm
 * files. `sources: true` resolves 'kiln' to src/index.ts instead of the package.
 * Returns the bundle's path and size in bytes.
 */
export async function buildExample({ outdir = path.join(here, 'dist'), sources = false, minify = true } = {}) {
  mkdirSync(outdir, { recursive: true });
  const plugins = sources
    ? [{ name: 'kiln-sources', setup: (b) => b.onResolve({ filter: /^kiln$/ }, () => ({ path: path.join(root, 'src', 'index.ts') })) }]
    : [];
  const result = await esbuild.build({
    entryPoints: [path.join(here, 'main.mjs')],
    outfile: path.join(outdir, 'main.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify,
    sourcemap: true,
    metafile: true,
    plugins,
    logLevel: 'warning',
  });
  copyFileSync(path.join(here, 'index.html'), path.join(outdir, 'index.html'));
  const wasmDir = path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-simd.js'));
  for (const f of WASM_FILES) copyFileSync(path.join(wasmDir, f), path.join(outdir, f));
  const bundle = path.join(outdir, 'main.js');
  const bytes = Object.entries(result.metafile.outputs).find(([p]) => p.endsWith('main.js'))[1].bytes;
  return { outdir, bundle, bytes };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { outdir, bytes } = await buildExample({ sources: process.argv.includes('--sources') });
  console.log(`built ${path.relative(process.cwd(), outdir)}/ (main.js ${(bytes / 1024).toFixed(0)} KiB minified)`);
}
