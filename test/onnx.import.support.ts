// Shared by the ONNX import tests: seeded inputs, and one comparison of Kiln against
// onnxruntime-node (the oracle) on the same inputs.
import * as ort from 'onnxruntime-node';
import * as kiln from '../src/index.js';

export interface InputData {
  readonly dtype: 'float32' | 'int32' | 'int64' | 'bool';
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array | Uint8Array;
}

/** A seeded generator (mulberry32): the same numbers on every run. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomFloats(shape: readonly number[], seed: number, low = -1, high = 1): InputData {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = low + (high - low) * r();
  return { dtype: 'float32', shape, data };
}

function toOrt(x: InputData): ort.Tensor {
  if (x.dtype === 'int64') return new ort.Tensor('int64', BigInt64Array.from(Array.from(x.data, (v) => BigInt(v))), [...x.shape]);
  if (x.dtype === 'bool') return new ort.Tensor('bool', Uint8Array.from(x.data), [...x.shape]);
  return new ort.Tensor(x.dtype, x.data as Float32Array, [...x.shape]);
}

function toKiln(x: InputData): kiln.Tensor {
  const dtype = x.dtype === 'int64' ? 'int32' : x.dtype;
  return kiln.tensor(Array.from(x.data), { shape: [...x.shape], dtype });
}

export interface Outputs {
  readonly shapes: number[][];
  readonly values: Float64Array[];
}

/** ONNX Runtime's outputs (graph optimizations disabled: the reference semantics). */
export async function runOrt(model: string | Uint8Array, inputs: readonly InputData[]): Promise<Outputs> {
  const session = typeof model === 'string'
    ? await ort.InferenceSession.create(model, { graphOptimizationLevel: 'disabled' })
    : await ort.InferenceSession.create(model, { graphOptimizationLevel: 'disabled' });
  const feeds: Record<string, ort.Tensor> = {};
  session.inputNames.forEach((n, i) => { feeds[n] = toOrt(inputs[i]!); });
  const res = await session.run(feeds);
  const outs = session.outputNames.map((n) => res[n]!);
  return {
    shapes: outs.map((t) => [...t.dims]),
    values: outs.map((t) => Float64Array.from(Array.from(t.data as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? Number(v) : v)))),
  };
}

/** Kiln's outputs of an imported model. */
export function runKiln(model: kiln.onnx.ImportedModel, inputs: readonly InputData[]): Outputs {
  const xs = inputs.map(toKiln);
  const r = model.run(...xs);
  const outs = Array.isArray(r) ? r : [r];
  const result = { shapes: outs.map((t) => [...t.shape]), values: outs.map((t) => Float64Array.from(t.dataSync() as ArrayLike<number>)) };
  for (const t of [...xs, ...outs]) t.dispose();
  return result;
}

/** Largest |a − b| / (atol + rtol·|b|) over every output (≤ 1 passes); NaN where one is NaN and the other not. */
export function worstError(kilnOut: Outputs, ortOut: Outputs, atol: number, rtol: number): { ratio: number; maxAbs: number } {
  let ratio = 0, maxAbs = 0;
  kilnOut.values.forEach((a, k) => {
    const b = ortOut.values[k]!;
    if (a.length !== b.length) { ratio = Infinity; return; }
    for (let i = 0; i < a.length; i++) {
      const x = a[i]!, y = b[i]!;
      if (Number.isNaN(x) || Number.isNaN(y)) { if (Number.isNaN(x) !== Number.isNaN(y)) ratio = Infinity; continue; }
      if (x === y) continue;
      const d = Math.abs(x - y);
      maxAbs = Math.max(maxAbs, d);
      ratio = Math.max(ratio, d / (atol + rtol * Math.abs(y)));
    }
  });
  return { ratio, maxAbs };
}
