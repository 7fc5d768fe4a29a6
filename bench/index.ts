/**
 * `npm run bench` runs every suite; `npm run bench -- eager` runs one (eager, train,
 * browser: bundle size and cold start in Chromium vs tfjs-backend-wasm and onnxruntime-web,
 * passes: each model compiled at O0 vs O1/O2/O3, planOverhead: an execution plan's cost above
 * its kernels (MLP batch 1), kernels: SIMD transcendentals vs tfjs-wasm's,
 * onnx: ONNX import overhead of a 10 MB model vs onnxruntime-node, models: whole models, Kiln
 * eager/compiled vs tfjs-wasm, onnxruntime-web and onnxruntime-node, 1 and 2 threads;
 * webgpu: the models compiled on webgpu vs eager on webgpu vs tfjs-backend-webgpu).
 * Timings are medians of interleaved rounds (KILN_BENCH_ROUNDS, default 7); ratios
 * are against the named baseline in the same run.
 */
import { browserSuite } from './browser.js';
import { eagerSuite } from './eager.js';
import { kernelsSuite } from './kernels.js';
import { modelsSuite } from './models.js';
import { printRows, saveRows, type Row } from './harness.js';
import { passesSuite } from './passes.js';
import { planOverheadSuite } from './planOverhead.js';
import { onnxImportSuite } from './onnxImport.js';
import { trainSuite } from './train.js';
import { webgpuSuite } from './webgpu.js';

const suites: Record<string, () => Promise<Row[]>> = { eager: eagerSuite, train: trainSuite, browser: browserSuite, passes: passesSuite, planOverhead: planOverheadSuite, kernels: kernelsSuite, onnx: onnxImportSuite, models: modelsSuite, webgpu: webgpuSuite };

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !(w in suites));
if (unknown.length) {
  console.error(`unknown suite(s): ${unknown.join(', ')}; available: ${Object.keys(suites).join(', ')}`);
  process.exit(2);
}
for (const name of wanted.length ? wanted : Object.keys(suites)) {
  console.log(`== ${name} (node ${process.version}, ${process.env['KILN_BENCH_ROUNDS'] ?? 7} interleaved rounds, medians)`);
  const rows = await suites[name]!();
  printRows(rows);
  saveRows(name, rows);
}
process.exit(0);
