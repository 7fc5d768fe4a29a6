// Part of `npm run build`: copies tfjs-backend-wasm's two SIMD builds next to Kiln's
// browser loader (dist/runtime/wasm/), where `new URL('./….wasm', import.meta.url)` finds
// them unbundled and where Vite, webpack and Parcel pick them up as assets.
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const from = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-simd.js'));
const to = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'dist', 'runtime', 'wasm');
mkdirSync(to, { recursive: true });
for (const file of ['tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) copyFileSync(path.join(from, file), path.join(to, file));
