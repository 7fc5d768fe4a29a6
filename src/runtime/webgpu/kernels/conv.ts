/**
 * NCHW convolutions on the webgpu backend as implicit GEMMs (gemm.ts): the patch matrix
 * is read through index arithmetic in the tile loads, never materialized. Per batch
 * element z of the GEMM (image and group, or group):
 *   conv2d            C[o, (oh,ow)]    = Σ_(c,i,j) W[o, (c,i,j)] · X[c, oh·s − p + i·d, …]
 *   convTranspose2d   C[o, (yh,yw)]    = Σ_(c,i,j) W[c, (o,i,j)] · X[c, (yh + p − i·d)/s, …]  (taps that divide)
 *   conv2dFilterGrad  dW[o, (c,i,j)]   = Σ_(n,oh,ow) B[n, o, oh, ow] · A[n, c, oh·s − p + i·d, …]
 * Only top/left padding is read (bottom/right only shape the output). Bias is added in
 * the store; a fused activation runs as the activation's own kernel afterwards.
 */
import { sizeOf, type Attrs, type TensorType } from '../../../ir/index.js';
import type { KernelInput } from '../../backend.js';
import type { GpuStorage } from '../gpuStorage.js';
import { registerWebGpuKernels } from '../kernelRegistry.js';
import type { WebGpuBackend } from '../webgpuBackend.js';
import { runGemm, withOutput, type GemmSpec } from './gemm.js';
import { EPILOGUE_PARAMS, EPILOGUE_WGSL, epilogueParams } from './activationEpilogue.js';
import { packParams, paramStruct } from './params.js';

type Conv = (backend: WebGpuBackend) => (inputs: readonly KernelInput<GpuStorage>[], attrs: Attrs, outTypes: readonly TensorType[], outs?: readonly (GpuStorage | undefined)[]) => GpuStorage[];

const GEOMETRY = ['kh', 'kw', 'sh', 'sw', 'pt', 'pl', 'dh', 'dw'] as const;

function geometry(attrs: Attrs, kh: number, kw: number): Record<(typeof GEOMETRY)[number], number> {
  const s = attrs['strides'] as readonly number[], p = attrs['pads'] as readonly number[], d = attrs['dilations'] as readonly number[];
  return { kh, kw, sh: s[0]!, sw: s[1]!, pt: p[0]!, pl: p[1]!, dh: d[0]!, dw: d[1]! };
}

/** WGSL: the input tap X[plane, r·s − p + i·d, c·s − p + j·d] of a (c, i, j) patch row, 0 in the padding. */
const TAP = `
fn tap(plane: i32, i: i32, j: i32, r: i32, c: i32) -> T {
  let ih = r * p.sh - p.pt + i * p.dh;
  let iw = c * p.sw - p.pl + j * p.dw;
  if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) { return T(0); }
  return X[(plane * p.H + ih) * p.W + iw];
}`;

const CONV_PARAMS = ['G', 'C', 'H', 'W', 'O', 'OH', 'OW', 'Cg', 'Og', ...GEOMETRY, 'hasBias', ...EPILOGUE_PARAMS];

/**
 * WGSL: `v` plus the bias of channel `o` when there is one, then the node's activation
 * (activationEpilogue.ts). One pipeline serves both
 * cases (lavapipe takes seconds to compile a tiled pipeline): without a bias, `Bias` is
 * bound to the weight buffer and never added (v itself, so a -0 stays -0).
 */
const WITH_BIAS = `${EPILOGUE_WGSL}
fn withBias(v: T, o: i32) -> T { return epilogue(select(v, v + Bias[o], p.hasBias != 0)); }`;

/** The bias buffer to bind (the weight's as a stand-in without a bias) and the `hasBias` uniform. */
function biasBinding(w: KernelInput<GpuStorage>, b: KernelInput<GpuStorage> | undefined): { bias: GpuStorage; hasBias: number } {
  return { bias: (b ?? w).storage, hasBias: b ? 1 : 0 };
}

const CONV2D_SPEC: GemmSpec = {
    key: 'conv2d',
    scalar: 'f32',
    inputs: ['X', 'Wt', 'Bias'],
    params: CONV_PARAMS,
    functions: `${TAP}${WITH_BIAS}
// z = n·G + g: image n, group g.
fn batchBase(z: i32) -> vec4<i32> { return vec4<i32>(z / p.G, z % p.G, 0, 0); }
fn loadA(bz: vec4<i32>, row: i32, k: i32) -> T { return Wt[(bz.y * p.Og + row) * p.K + k]; }
fn loadB(bz: vec4<i32>, k: i32, col: i32) -> T {
  let kk = p.kh * p.kw;
  let c = k / kk; let r = k % kk;
  return tap(bz.x * p.C + bz.y * p.Cg + c, r / p.kw, r % p.kw, col / p.OW, col % p.OW);
}
fn storeC(bz: vec4<i32>, row: i32, col: i32, v: T) {
  let o = bz.y * p.Og + row;
  C[(bz.x * p.O + o) * p.N + col] = withBias(v, o);
}
`,
};

const conv2dKernel: Conv = (backend) => ([x, w, b], attrs, [outType], outs) => {
  const [N, C, H, W] = x!.shape as [number, number, number, number];
  const [O, Cg, kh, kw] = w!.shape as [number, number, number, number];
  const [, , OH, OW] = outType!.shape as [number, number, number, number];
  const G = attrs['group'] as number, Og = O / G;
  const { bias, hasBias } = biasBinding(w!, b);
  const { out, buffers } = withOutput(backend, [x!.storage, w!.storage, bias], outType!.dtype, sizeOf(outType!.shape), outs?.[0]);
  runGemm(backend, CONV2D_SPEC, {
    m: Og, n: OH * OW, k: Cg * kh * kw, batch: N * G, buffers,
    params: { G, C, H, W, O, OH, OW, Cg, Og, ...geometry(attrs, kh, kw), hasBias, ...epilogueParams(attrs) },
  }, 'tiled');
  return [out];
};

const CONV_TRANSPOSE2D_SPEC: GemmSpec = {
    key: 'convTranspose2d',
    scalar: 'f32',
    inputs: ['X', 'Wt', 'Bias'],
    params: CONV_PARAMS,
    functions: `${WITH_BIAS}
fn batchBase(z: i32) -> vec4<i32> { return vec4<i32>(z / p.G, z % p.G, 0, 0); }
// Weight [C, Og, kh, kw]: row o, patch index k = (c, i, j).
fn loadA(bz: vec4<i32>, row: i32, k: i32) -> T {
  let kk = p.kh * p.kw;
  let c = k / kk;
  return Wt[((bz.y * p.Cg + c) * p.Og + row) * kk + k % kk];
}
// Output pixel (yh, yw) takes input (h, w) through tap (i, j) when yh = h·sh − pt + i·dh.
fn loadB(bz: vec4<i32>, k: i32, col: i32) -> T {
  let kk = p.kh * p.kw;
  let c = k / kk; let r = k % kk;
  let th = col / p.OW + p.pt - (r / p.kw) * p.dh;
  let tw = col % p.OW + p.pl - (r % p.kw) * p.dw;
  if (th < 0 || tw < 0 || th % p.sh != 0 || tw % p.sw != 0) { return T(0); }
  let h = th / p.sh; let w = tw / p.sw;
  if (h >= p.H || w >= p.W) { return T(0); }
  return X[((bz.x * p.C + bz.y * p.Cg + c) * p.H + h) * p.W + w];
}
fn storeC(bz: vec4<i32>, row: i32, col: i32, v: T) {
  let o = bz.y * p.Og + row;
  C[(bz.x * p.O + o) * p.N + col] = withBias(v, o);
}
`,
};

const convTranspose2dKernel: Conv = (backend) => ([x, w, b], attrs, [outType], outs) => {
  const [N, C, H, W] = x!.shape as [number, number, number, number];
  const [, Og, kh, kw] = w!.shape as [number, number, number, number];
  const [, O, OH, OW] = outType!.shape as [number, number, number, number];
  const G = attrs['group'] as number, Cg = C / G;
  const { bias, hasBias } = biasBinding(w!, b);
  const { out, buffers } = withOutput(backend, [x!.storage, w!.storage, bias], outType!.dtype, sizeOf(outType!.shape), outs?.[0]);
  runGemm(backend, CONV_TRANSPOSE2D_SPEC, {
    m: Og, n: OH * OW, k: Cg * kh * kw, batch: N * G, buffers,
    params: { G, C, H, W, O, OH, OW, Cg, Og, ...geometry(attrs, kh, kw), hasBias, ...epilogueParams(attrs) },
  }, 'tiled');
  return [out];
};

/**
 * Filter gradient: A = the conv's output gradient (Dy), B = the conv's input patches (X),
 * per group, K = N·OH·OW. C is tiny next to K (channels × kernel taps against every
 * output pixel of the batch), so K is split into S chunks run as extra batch elements
 * (z = chunk·G + group, uniform `Kc` the chunk length): partial sums land in a [S, O, C/g·kh·kw]
 * buffer that a second pass adds up in chunk order. S = 1 writes the output directly;
 * one pipeline either way.
 */
const FILTER_GRAD_SPEC: GemmSpec = {
  key: 'conv2dFilterGrad',
  scalar: 'f32',
  inputs: ['X', 'Dy'],
  params: [...CONV_PARAMS, 'Ktot'],
  bKFastest: true,
  functions: `${TAP}
fn batchBase(z: i32) -> vec4<i32> { return vec4<i32>(z % p.G, (z / p.G) * p.K, z, 0); }
// k = (n, oh, ow) over the whole batch, offset by the chunk's start; O is Dy's channel count, Og per group.
fn loadA(bz: vec4<i32>, row: i32, kc: i32) -> T {
  let k = kc + bz.y;
  if (k >= p.Ktot) { return T(0); }
  let l = p.OH * p.OW;
  let n = k / l;
  return Dy[(n * p.O + bz.x * p.Og + row) * l + k % l];
}
fn loadB(bz: vec4<i32>, kc: i32, col: i32) -> T {
  let k = kc + bz.y;
  if (k >= p.Ktot) { return T(0); }
  let l = p.OH * p.OW;
  let n = k / l; let q = k % l;
  let kk = p.kh * p.kw;
  let c = col / kk; let r = col % kk;
  return tap(n * p.C + bz.x * p.Cg + c, r / p.kw, r % p.kw, q / p.OW, q % p.OW);
}
fn storeC(bz: vec4<i32>, row: i32, col: i32, v: T) { C[(bz.z * p.Og + row) * p.N + col] = v; }
`,
};

/** Adds the S partial results of a split-K filter gradient, chunk 0 first. */
const SUM_CHUNKS = `
@group(0) @binding(0) var<storage, read> P: array<f32>;
@group(0) @binding(1) var<storage, read_write> Out: array<f32>;
${paramStruct(['total', 'S'], 2)}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let e = i32(wid.y * nwg.x + wid.x) * 64 + i32(lidx);
  if (e >= p.total) { return; }
  var acc = P[e];
  for (var s = 1; s < p.S; s++) { acc += P[s * p.total + e]; }
  Out[e] = acc;
}`;

/** Workgroups below which a filter gradient's K is split (a GPU has tens of compute units, each wanting several). */
const SPLIT_K_TARGET = 128;
/** The shortest K chunk worth a workgroup of its own. */
const SPLIT_K_MIN = 1024;

/** How many chunks to split a filter gradient's K into (1: none). */
export function filterGradChunks(m: number, n: number, k: number, groups: number): number {
  const workgroups = Math.ceil(m / 64) * Math.ceil(n / 64) * groups;
  return Math.max(1, Math.min(Math.ceil(SPLIT_K_TARGET / workgroups), Math.floor(k / SPLIT_K_MIN)));
}

const conv2dFilterGradKernel: Conv = (backend) => ([a, b], attrs, [outType], outs) => {
  const [N, A, H, W] = a!.shape as [number, number, number, number];
  const [, B, OH, OW] = b!.shape as [number, number, number, number];
  const [, Ag, kh, kw] = outType!.shape as [number, number, number, number];
  const G = attrs['group'] as number, Bg = B / G;
  const m = Bg, n = Ag * kh * kw, k = N * OH * OW;
  const total = sizeOf(outType!.shape);
  const chunks = filterGradChunks(m, n, k, G);
  // Chunks of a multiple of the K slice; recounted, since rounding up may need fewer.
  const kc = chunks === 1 ? k : Math.ceil(k / chunks / 8) * 8;
  const s = chunks === 1 ? 1 : Math.ceil(k / kc);
  const { out, buffers } = withOutput(backend, [a!.storage, b!.storage], outType!.dtype, s === 1 ? total : s * total, s === 1 ? outs?.[0] : undefined);
  runGemm(backend, FILTER_GRAD_SPEC, {
    m, n, k: kc, batch: s * G, buffers,
    params: { G, C: A, H, W, O: B, OH, OW, Cg: Ag, Og: Bg, ...geometry(attrs, kh, kw), hasBias: 0, ...epilogueParams({}), Ktot: k },
  }, 'tiled');
  if (s === 1) return [out];
  const y = outs?.[0] ?? backend.alloc(outType!.dtype, total);
  backend.dispatch({ key: 'conv2dFilterGrad.sumChunks', code: SUM_CHUNKS, buffers: [out.buffer, y.buffer], uniforms: packParams(['total', 'S'], { total, S: s }), workgroups: backend.grid(total, 64) });
  // Safe before the dispatches run: a reuse of the buffer is recorded after them.
  backend.free(out);
  return [y];
};

registerWebGpuKernels({ conv2d: conv2dKernel, convTranspose2d: convTranspose2dKernel, conv2dFilterGrad: conv2dFilterGradKernel });
