// Shared by the ONNX import tests: seeded inputs, and one comparison of Kiln against
// onnxruntime-node (the oracle) on the same inputs.
import * as ort from 'onnxruntime-node';
import * as kiln from '../src/index.js';
import { onnx, type onnxTypes } from '../src/onnx/proto.js';

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

// ---- single-node models ------------------------------------------------------------------


/** ONNX element types used in the tests. */
export const ELEM = { float32: 1, int32: 6, int64: 7, bool: 9 } as const;

export type Attr =
  | { readonly name: string; readonly i: number }
  | { readonly name: string; readonly f: number }
  | { readonly name: string; readonly ints: readonly number[] }
  | { readonly name: string; readonly floats: readonly number[] }
  | { readonly name: string; readonly s: string }
  | { readonly name: string; readonly strings: readonly string[] }
  | { readonly name: string; readonly g: onnxTypes.IGraphProto };

export function attrProto(a: Attr): onnxTypes.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('i' in a) return { name: a.name, type: T.INT, i: a.i };
  if ('f' in a) return { name: a.name, type: T.FLOAT, f: a.f };
  if ('ints' in a) return { name: a.name, type: T.INTS, ints: [...a.ints] };
  if ('floats' in a) return { name: a.name, type: T.FLOATS, floats: [...a.floats] };
  if ('s' in a) return { name: a.name, type: T.STRING, s: new TextEncoder().encode(a.s) };
  if ('strings' in a) return { name: a.name, type: T.STRINGS, strings: a.strings.map((s) => new TextEncoder().encode(s)) };
  return { name: a.name, type: T.GRAPH, g: a.g };
}

/** A tensor value: graph input (random data at run time) or initializer (given values). */
export interface TensorSpec {
  readonly name: string;
  readonly dtype: keyof typeof ELEM;
  readonly shape: readonly (number | string)[];
  /** Initializer values (absent: a graph input). */
  readonly values?: readonly number[];
}

export function valueInfo(name: string, dtype: keyof typeof ELEM, shape?: readonly (number | string)[]): onnxTypes.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: ELEM[dtype], ...(shape ? { shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } : {}) } },
  };
}

export function initializer(t: TensorSpec): onnxTypes.ITensorProto {
  const v = t.values ?? [];
  const dims = t.shape as number[];
  switch (t.dtype) {
    case 'float32': return { name: t.name, dataType: ELEM.float32, dims, floatData: [...v] };
    case 'int64': return { name: t.name, dataType: ELEM.int64, dims, int64Data: [...v] };
    case 'int32': return { name: t.name, dataType: ELEM.int32, dims, int32Data: [...v] };
    case 'bool': return { name: t.name, dataType: ELEM.bool, dims, int32Data: [...v] };
  }
}

/** A model of one node `op` (or several `nodes`) at `opset`. */
export function modelBytes(spec: {
  readonly opset: number;
  readonly nodes: readonly onnxTypes.INodeProto[];
  readonly tensors: readonly TensorSpec[];
  readonly outputs: readonly { name: string; dtype: keyof typeof ELEM }[];
  readonly irVersion?: number;
}): Uint8Array {
  const model: onnxTypes.IModelProto = {
    irVersion: spec.irVersion ?? 8,
    opsetImport: [{ domain: '', version: spec.opset }],
    producerName: 'kiln-test',
    graph: {
      name: 'g',
      node: [...spec.nodes],
      input: spec.tensors.filter((t) => !t.values).map((t) => valueInfo(t.name, t.dtype, t.shape)),
      initializer: spec.tensors.filter((t) => t.values).map(initializer),
      output: spec.outputs.map((o) => valueInfo(o.name, o.dtype)),
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

/** Seeded data for the graph inputs of `tensors` (floats in [low, high], ints in [0, 4], bools). */
export function inputsFor(tensors: readonly TensorSpec[], seed: number, low = -2, high = 2): InputData[] {
  const r = rng(seed);
  return tensors.filter((t) => !t.values).map((t) => {
    const shape = t.shape as number[];
    const n = shape.reduce((a, b) => a * b, 1);
    if (t.dtype === 'float32') return { dtype: 'float32', shape, data: Float32Array.from({ length: n }, () => low + (high - low) * r()) };
    if (t.dtype === 'bool') return { dtype: 'bool', shape, data: Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0)) };
    return { dtype: t.dtype, shape, data: Int32Array.from({ length: n }, () => Math.floor(r() * 5)) };
  });
}
