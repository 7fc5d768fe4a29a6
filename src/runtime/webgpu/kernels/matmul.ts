/**
 * matmul (NumPy semantics: 1-D operands promoted, batch dims broadcast) and linear
 * (x·Wᵀ + b with an optional fused activation) on the webgpu backend, both through the
 * one GEMM generator (gemm.ts): tiled for large products, one invocation per output for
 * GEMV-like ones. Batch broadcasting is uniforms (sizes and matrix strides, 0 along a
 * broadcast dim), so one pipeline per batch rank serves every shape.
 */
import { sizeOf, type Attrs, type TensorType } from '../../../ir/index.js';
import type { KernelInput } from '../../backend.js';
import type { GpuStorage } from '../gpuStorage.js';
import { registerWebGpuKernels } from '../kernelRegistry.js';
import type { WebGpuBackend } from '../webgpuBackend.js';
import { EPILOGUE_PARAMS, EPILOGUE_WGSL, epilogueParams } from './activationEpilogue.js';
import { runGemm, withOutput, type GemmSpec } from './gemm.js';

/** Broadcast batch dims of a matmul, merged where both operands stay contiguous: sizes and strides in matrices. */
export interface BatchLayout {
  readonly dims: number[];
  readonly strideA: number[];
  readonly strideB: number[];
  readonly count: number;
}

/** The batch layout of `a @ b` (shapes already validated by the op): size-1 dims dropped, mergeable neighbours merged. */
export function matmulBatchLayout(a: readonly number[], b: readonly number[]): BatchLayout {
  const ab = a.length > 2 ? a.slice(0, -2) : [];
  const bb = b.length > 2 ? b.slice(0, -2) : [];
  const r = Math.max(ab.length, bb.length);
  const full: { d: number; sa: number; sb: number }[] = [];
  let accA = 1, accB = 1;
  for (let i = r - 1; i >= 0; i--) {
    const da = ab[ab.length - r + i] ?? 1;
    const db = bb[bb.length - r + i] ?? 1;
    // A broadcast dim (size 1 against a larger one) has stride 0: the matrix repeats.
    full.unshift({ d: da === 1 ? db : da, sa: da === 1 ? 0 : accA, sb: db === 1 ? 0 : accB });
    accA *= da;
    accB *= db;
  }
  const dims: number[] = [], strideA: number[] = [], strideB: number[] = [];
  let count = 1;
  for (const { d, sa, sb } of full) {
    count *= d;
    if (d === 1) continue;
    const last = dims.length - 1;
    // Merge into the previous (outer) dim when stepping it equals stepping this one d times.
    if (last >= 0 && strideA[last] === sa * d && strideB[last] === sb * d) {
      dims[last] = dims[last]! * d;
      strideA[last] = sa;
      strideB[last] = sb;
      continue;
    }
    dims.push(d);
    strideA.push(sa);
    strideB.push(sb);
  }
  return { dims, strideA, strideB, count };
}

/** The uniforms of a batch layout: `bd{i}` (size), `sa{i}`, `sb{i}` (strides in matrices) per merged dim. */
export function batchParams(layout: BatchLayout): { names: string[]; values: Record<string, number> } {
  const names: string[] = [];
  const values: Record<string, number> = {};
  layout.dims.forEach((d, i) => {
    names.push(`bd${i}`, `sa${i}`, `sb${i}`);
    values[`bd${i}`] = d;
    values[`sa${i}`] = layout.strideA[i]!;
    values[`sb${i}`] = layout.strideB[i]!;
  });
  return { names, values };
}

/**
 * WGSL `fn batchMatrices(z: i32) -> vec2<i32>`: which matrix of A and of B output batch
 * element z reads (row-major over the output's batch dims), from `batchParams`' uniforms.
 */
export function batchMatricesWgsl(rank: number): string {
  const steps: string[] = [];
  for (let i = rank - 1; i >= 0; i--) steps.push(`{ let i = t % p.bd${i}; t = t / p.bd${i}; oa += i * p.sa${i}; ob += i * p.sb${i}; }`);
  return `
fn batchMatrices(z: i32) -> vec2<i32> {
  var t = z; var oa = 0; var ob = 0;
  ${steps.join('\n  ')}
  return vec2<i32>(oa, ob);
}`;
}

function matmulSpec(scalar: 'f32' | 'i32', rank: number, names: readonly string[]): GemmSpec {
  return {
    key: `matmul.${scalar}.r${rank}`,
    scalar,
    inputs: ['A', 'B'],
    params: names,
    functions: `${batchMatricesWgsl(rank)}
fn batchBase(z: i32) -> vec4<i32> {
  let o = batchMatrices(z);
  return vec4<i32>(o.x * p.M * p.K, o.y * p.K * p.N, z * p.M * p.N, 0);
}
fn loadA(bz: vec4<i32>, row: i32, k: i32) -> T { return A[bz.x + row * p.K + k]; }
fn loadB(bz: vec4<i32>, k: i32, col: i32) -> T { return B[bz.y + k * p.N + col]; }
fn storeC(bz: vec4<i32>, row: i32, col: i32, v: T) { C[bz.z + row * p.N + col] = v; }
`,
  };
}

const matmulKernel = (backend: WebGpuBackend) => ([a, b]: readonly KernelInput<GpuStorage>[], _attrs: Attrs, [outType]: readonly TensorType[], outs?: readonly (GpuStorage | undefined)[]): GpuStorage[] => {
  // float32 or int32 (bool is refused by the op, float64 by the backend).
  const scalar = a!.dtype === 'int32' ? 'i32' : 'f32';
  const ra = a!.shape.length, rb = b!.shape.length;
  const k = a!.shape[ra - 1]!;
  const m = ra === 1 ? 1 : a!.shape[ra - 2]!;
  const n = rb === 1 ? 1 : b!.shape[rb - 1]!;
  const layout = matmulBatchLayout(a!.shape, b!.shape);
  const { names, values } = batchParams(layout);
  const { out, buffers } = withOutput(backend, [a!.storage, b!.storage], outType!.dtype, sizeOf(outType!.shape), outs?.[0]);
  runGemm(backend, matmulSpec(scalar, layout.dims.length, names), { m, n, k, batch: layout.count, params: values, buffers });
  return [out];
};

/**
 * linear: C[r, o] = Σₖ X[r, k]·W[o, k] (+ bias[o]), W read transposed in place. One
 * pipeline with and without a bias (lavapipe takes seconds to compile a tiled pipeline):
 * without one, `Bias` is bound to W and never added.
 */
const LINEAR_SPEC: GemmSpec = {
  key: 'linear.f32',
  scalar: 'f32',
  inputs: ['X', 'W', 'Bias'],
  params: ['hasBias', ...EPILOGUE_PARAMS],
  bKFastest: true,
  functions: `${EPILOGUE_WGSL}
fn batchBase(z: i32) -> vec4<i32> { return vec4<i32>(0); }
fn loadA(bz: vec4<i32>, row: i32, k: i32) -> T { return X[row * p.K + k]; }
fn loadB(bz: vec4<i32>, k: i32, col: i32) -> T { return W[col * p.K + k]; }
fn storeC(bz: vec4<i32>, row: i32, col: i32, v: T) { C[row * p.N + col] = epilogue(select(v, v + Bias[col], p.hasBias != 0)); }
`,
};

const linearKernel = (backend: WebGpuBackend) => ([x, w, b]: readonly KernelInput<GpuStorage>[], attrs: Attrs, [outType]: readonly TensorType[], outs?: readonly (GpuStorage | undefined)[]): GpuStorage[] => {
  const [outF, inF] = w!.shape as [number, number];
  const size = sizeOf(outType!.shape);
  const rows = outF === 0 ? 0 : size / outF;
  const { out, buffers } = withOutput(backend, [x!.storage, w!.storage, (b ?? w)!.storage], outType!.dtype, size, outs?.[0]);
  runGemm(backend, LINEAR_SPEC, { m: rows, n: outF, k: inF, batch: 1, params: { hasBias: b ? 1 : 0, ...epilogueParams(attrs) }, buffers });
  return [out];
};

registerWebGpuKernels({ matmul: matmulKernel, linear: linearKernel });
