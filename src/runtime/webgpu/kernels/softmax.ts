/**
 * softmax and logSoftmax along any axis on the webgpu backend, one row (the elements
 * base + j·inner, j < n) at a time, in three steps as the reference: the row's max m
 * (NaN propagates), s = Σ exp(x − m), then exp(x − m)·(1/s) or (x − m) − log s (in this
 * order: x − m is exact near the max, where m + log s would round at x's magnitude).
 * - rows longer than 32: a workgroup per row, the max and the sum folded as trees in
 *   workgroup memory;
 * - short rows: an invocation per row, folding sequentially (neighbouring invocations
 *   read neighbouring elements when the axis is not the last).
 * float32 throughout (the reference computes in float64 and rounds): within
 * 1e-5·√n·max(1, |reference|) for rows of n elements.
 */
import type { Attrs, TensorType } from '../../../ir/index.js';
import type { KernelInput } from '../../backend.js';
import { axisSplit } from '../../reference/kernels/reduce.js';
import type { GpuStorage } from '../gpuStorage.js';
import { registerWebGpuKernels } from '../kernelRegistry.js';
import type { WebGpuBackend } from '../webgpuBackend.js';
import { packParams, paramStruct } from './params.js';
import { cachedCode, outputOf, type Outs } from './shape.js';
import { wgslType } from './elementwise.js';

type Inputs = readonly KernelInput<GpuStorage>[];

/** Rows up to this long get one invocation each. */
const SHORT_ROW = 32;
const NAMES = ['rows', 'n', 'inner'];

const HELPERS = `fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
var<private> NEG_INF_BITS: u32 = 0xff800000u;
// NaN-propagating max (lavapipe folds x != x to false, so NaN is tested by bits).
fn mx(a: f32, b: f32) -> f32 {
  if (isNan(a)) { return a; }
  if (isNan(b)) { return b; }
  return select(a, b, b > a);
}`;

/** WGSL writing the row's outputs from its max `m` and exp-sum `s`, elements j = j0, j0+step, …. */
function writeRow(log: boolean, j0: string, step: string): string {
  return log
    ? `  let ls = log(s);
  for (var j = ${j0}; j < p.n; j += ${step}) { let at = base + j * p.inner; Y[at] = (X[at] - m) - ls; }`
    : `  let inv = 1.0 / s;
  for (var j = ${j0}; j < p.n; j += ${step}) { let at = base + j * p.inner; Y[at] = exp(X[at] - m) * inv; }`;
}

const ROW_BASE = `  let base = (row / p.inner) * p.n * p.inner + row % p.inner;`;

function shortRowCode(log: boolean): string {
  return `${paramStruct(NAMES, 2)}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
${HELPERS}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let row = i32(wid.y * nwg.x + wid.x) * 64 + i32(lidx);
  if (row >= p.rows) { return; }
${ROW_BASE}
  var m = bitcast<f32>(NEG_INF_BITS);
  for (var j = 0; j < p.n; j++) { m = mx(m, X[base + j * p.inner]); }
  var s = 0.0;
  for (var j = 0; j < p.n; j++) { s += exp(X[base + j * p.inner] - m); }
${writeRow(log, '0', '1')}
}
`;
}

function longRowCode(log: boolean, wg: number): string {
  return `${paramStruct(NAMES, 2)}
@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read_write> Y: array<f32>;
${HELPERS}
var<workgroup> sh: array<f32, ${wg}>;
@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let row = i32(wid.y * nwg.x + wid.x);
  if (row >= p.rows) { return; }
${ROW_BASE}
  let t = i32(lidx);
  var a = bitcast<f32>(NEG_INF_BITS);
  for (var j = t; j < p.n; j += ${wg}) { a = mx(a, X[base + j * p.inner]); }
  sh[lidx] = a;
  workgroupBarrier();
  for (var h = ${wg / 2}u; h > 0u; h >>= 1u) {
    if (lidx < h) { sh[lidx] = mx(sh[lidx], sh[lidx + h]); }
    workgroupBarrier();
  }
  let m = sh[0];
  workgroupBarrier();
  var b = 0.0;
  for (var j = t; j < p.n; j += ${wg}) { b += exp(X[base + j * p.inner] - m); }
  sh[lidx] = b;
  workgroupBarrier();
  for (var h = ${wg / 2}u; h > 0u; h >>= 1u) {
    if (lidx < h) { sh[lidx] = sh[lidx] + sh[lidx + h]; }
    workgroupBarrier();
  }
  let s = sh[0];
${writeRow(log, 't', String(wg))}
}
`;
}

function softmaxKernel(log: boolean) {
  const op = log ? 'logSoftmax' : 'softmax';
  return (backend: WebGpuBackend) => ([x]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
    wgslType(t!.dtype); // float64 is refused here
    const out = outputOf(backend, t!, outs);
    const [outer, n, inner] = axisSplit(x!.shape, attrs['axis'] as number);
    const rows = outer * inner;
    if (rows === 0 || n === 0) return [out];
    const short = n <= SHORT_ROW;
    const wg = n >= 2048 ? 256 : 64;
    const key = short ? `${op}.short` : `${op}.wg${wg}`;
    const code = cachedCode(key, () => (short ? shortRowCode(log) : longRowCode(log, wg)));
    backend.dispatch({ key, code, buffers: [x!.storage.buffer, out.buffer], uniforms: packParams(NAMES, { rows, n, inner }), workgroups: backend.grid(rows, short ? 64 : 1) });
    return [out];
  };
}

registerWebGpuKernels({ softmax: softmaxKernel(false), logSoftmax: softmaxKernel(true) });
