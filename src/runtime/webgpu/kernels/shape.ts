/**
 * Shape ops on the webgpu backend: expand, slice(+Grad), concat, split, pad (constant and
 * reflect), padReflectGrad, gather, scatterAdd, indexSelect(+Grad), oneHot, transpose
 * (16×16 tiles through workgroup memory for the batched 2-D case), tril and triu. Every
 * kernel is one invocation per output element that computes where its value comes from
 * (indexSelectGrad may first link its index, see there), so outputs are written in full
 * (no fill first, no atomics) and results are bit for bit the reference backend's: the
 * accumulating ones (padReflectGrad, scatterAdd, indexSelectGrad) add their sources in
 * the reference's order, in the element type.
 *
 * Shapes reach the shaders as uniforms (params.ts), so a pipeline is keyed by rank (and
 * dtype where values are added; moves copy bits as u32). Indices out of range are not checked here (that needs a read back, which a
 * kernel never waits for): gather/indexSelect read 0 for them, oneHot writes a zero row,
 * scatterAdd and indexSelectGrad skip them. The reference and wasm backends raise.
 *
 * `reshape` is an alias op: it has no kernel.
 */
import { sizeOf, stridesOf, type Attrs, type DType, type TensorType } from '../../../ir/index.js';
import type { KernelInput } from '../../backend.js';
import { simplifyPermutation } from '../../reference/kernels/linalg.js';
import { coalesceBox, sliceGeometry } from '../../reference/kernels/shape.js';
import type { GpuStorage } from '../gpuStorage.js';
import { registerWebGpuKernels } from '../kernelRegistry.js';
import type { WebGpuBackend } from '../webgpuBackend.js';
import { wgslType } from './elementwise.js';
import { packParams, paramStruct } from './params.js';

type Inputs = readonly KernelInput<GpuStorage>[];
/** Caller-given outputs (an execution plan's buffers); none of these ops is in IN_PLACE_OPS, so they never alias an input. */
export type Outs = readonly (GpuStorage | undefined)[] | undefined;

/** Output k: the caller-given storage, else a fresh one of `t`. */
export function outputOf(backend: WebGpuBackend, t: TensorType, outs: Outs, k = 0): GpuStorage {
  return outs?.[k] ?? backend.alloc(t.dtype, sizeOf(t.shape));
}

/**
 * The WGSL type a kernel that only moves elements reads and writes them as: their bits as
 * u32, so one pipeline serves float32, int32 and bool (0 is all-zero bits in each). Throws
 * for dtypes the backend lacks.
 */
export function bitsType(dtype: DType): 'u32' {
  wgslType(dtype);
  return 'u32';
}

/** The 32-bit pattern (as an i32 uniform) of `value` stored into an element of `dtype` as a typed array would store it. */
export function elementBits(value: number, dtype: DType): number {
  if (dtype === 'float32') return new Int32Array(Float32Array.of(value).buffer)[0]!;
  if (dtype === 'int32') return Int32Array.of(value)[0]!;
  return Uint8Array.of(value)[0]!; // bool storages hold what a Uint8Array store keeps
}

/** Invocations per workgroup of the one-per-element kernels. */
export const ELEMENT_WG = 64;

/**
 * Records one dispatch of `count` invocations (one per element), `ELEMENT_WG` per
 * workgroup, the workgroups split over x/y past the per-dimension limit. The shader gets
 * the element index as `e` (i32) and returns early for `e >= p.n`; it must declare
 * `n` as its first param.
 */
export function dispatchElements(backend: WebGpuBackend, key: string, code: string, buffers: readonly GPUBuffer[], names: readonly string[], values: Readonly<Record<string, number>>, count: number): void {
  if (count === 0) return;
  backend.dispatch({ key, code, buffers, uniforms: packParams(names, values), workgroups: backend.grid(count, ELEMENT_WG) });
}

/** The entry point of a one-per-element shader: `e` is this invocation's element (body follows). */
export function elementMain(body: string): string {
  return `@compute @workgroup_size(${ELEMENT_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let e = i32(wid.y * nwg.x + wid.x) * ${ELEMENT_WG} + i32(lidx);
  if (e >= p.n) { return; }
${body}
}
`;
}

/** Generated WGSL cached by its structural key (the key is also the pipeline key). */
const codeCache = new Map<string, string>();
export function cachedCode(key: string, make: () => string): string {
  let code = codeCache.get(key);
  if (code === undefined) {
    code = make();
    codeCache.set(key, code);
  }
  return code;
}

/** `names` indexed: `prefix0 … prefix{r-1}`. */
const indexed = (prefix: string, r: number): string[] => Array.from({ length: r }, (_, i) => `${prefix}${i}`);

/**
 * WGSL statements splitting the i32 expression `idx` into coordinates `c0 … c{r-1}` over
 * the dims `p.{dim}0 … p.{dim}{r-1}` (row-major: the last fastest).
 */
function coordsCode(r: number, idx: string, dim: string): string {
  if (r === 0) return '';
  const lines = [`  var rest = ${idx};`];
  for (let a = r - 1; a > 0; a--) lines.push(`  let c${a} = rest % p.${dim}${a}; rest = rest / p.${dim}${a};`);
  lines.push('  let c0 = rest;');
  return lines.join('\n');
}

// ---- box copies: expand, slice, concat, split, transpose --------------------------------

/**
 * Copies a box of `shape` elements from `src` (element offset `sOff`, strides `sStr`) to
 * `dst` (`dOff`, `dStr`); strides may be 0 (broadcast) or negative (reversed slices).
 * Dims are coalesced first (coalesceBox, as the reference's copyBox), so the common
 * cases run at rank 1 or 2.
 */
function copyBox(backend: WebGpuBackend, dtype: DType, op: string, src: GPUBuffer, sOff: number, sStr: readonly number[], dst: GPUBuffer, dOff: number, dStr: readonly number[], shape: readonly number[]): void {
  const box = coalesceBox(sStr, dStr, shape);
  if (!box) return;
  // coalesceBox lists dims innermost first; the shader wants them outermost first.
  const n = box.n.slice().reverse(), ss = box.ss.slice().reverse(), ds = box.ds.slice().reverse();
  const r = n.length;
  const t = bitsType(dtype);
  const names = ['n', 'sOff', 'dOff', ...indexed('d', r), ...indexed('ss', r), ...indexed('ds', r)];
  const key = `copyBox.${r}`;
  const code = cachedCode(key, () => {
    let s = '  var s = p.sOff;\n  var d = p.dOff;\n';
    for (let a = 0; a < r; a++) s += `  s += c${a} * p.ss${a}; d += c${a} * p.ds${a};\n`;
    return `${paramStruct(names, 2)}
@group(0) @binding(0) var<storage, read> X: array<${t}>;
@group(0) @binding(1) var<storage, read_write> Y: array<${t}>;
${elementMain(`${coordsCode(r, 'e', 'd')}\n${s}  Y[d] = X[s];`)}`;
  });
  let count = 1;
  for (const d of n) count *= d;
  const values: Record<string, number> = { n: count, sOff, dOff };
  for (let a = 0; a < r; a++) {
    values[`d${a}`] = n[a]!;
    values[`ss${a}`] = ss[a]!;
    values[`ds${a}`] = ds[a]!;
  }
  dispatchElements(backend, key, code, [src, dst], names, values, count);
}

/** Right-aligned strides of `inShape` inside `outShape`, 0 along broadcast dims. */
function broadcastStrides(inShape: readonly number[], outShape: readonly number[]): number[] {
  const lead = outShape.length - inShape.length;
  const st = new Array<number>(outShape.length).fill(0);
  let acc = 1;
  for (let i = inShape.length - 1; i >= 0; i--) {
    st[lead + i] = inShape[i] === 1 ? 0 : acc;
    acc *= inShape[i]!;
  }
  return st;
}

const expand = (backend: WebGpuBackend) => ([x]: Inputs, _attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const out = outputOf(backend, t!, outs);
  copyBox(backend, t!.dtype, 'expand', x!.storage.buffer, 0, broadcastStrides(x!.shape, t!.shape), out.buffer, 0, stridesOf(t!.shape), t!.shape);
  return [out];
};

const slice = (backend: WebGpuBackend) => ([x]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const out = outputOf(backend, t!, outs);
  const { off, str } = sliceGeometry(x!.shape, attrs['starts'] as number[], attrs['steps'] as number[]);
  copyBox(backend, t!.dtype, 'slice', x!.storage.buffer, off, str, out.buffer, 0, stridesOf(t!.shape), t!.shape);
  return [out];
};

// concat/split: one box copy per piece, at its offset along the axis.
const concat = (backend: WebGpuBackend) => (inputs: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const axis = attrs['axis'] as number;
  const out = outputOf(backend, t!, outs);
  const os = stridesOf(t!.shape);
  let at = 0;
  for (const x of inputs) {
    copyBox(backend, t!.dtype, 'concat', x.storage.buffer, 0, stridesOf(x.shape), out.buffer, at * os[axis]!, os, x.shape);
    at += x.shape[axis]!;
  }
  return [out];
};

const split = (backend: WebGpuBackend) => ([x]: Inputs, attrs: Attrs, outTypes: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const axis = attrs['axis'] as number;
  const xs = stridesOf(x!.shape);
  let at = 0;
  return outTypes.map((t, k) => {
    const out = outputOf(backend, t, outs, k);
    copyBox(backend, t.dtype, 'split', x!.storage.buffer, at * xs[axis]!, xs, out.buffer, 0, stridesOf(t.shape), t.shape);
    at += t.shape[axis]!;
    return out;
  });
};

/** Side of a transpose tile (a workgroup is TILE×TILE invocations). */
const TILE = 16;

/**
 * transpose: simplified first (size-1 axes dropped, runs of axes that stay together
 * merged). A batched 2-D transpose ([B, M, N] by [0, 2, 1], or [M, N] by [1, 0]) goes
 * through workgroup tiles, so both the reads and the writes are coalesced; any other
 * permutation is a box copy (reads strided, writes contiguous).
 */
const transpose = (backend: WebGpuBackend) => ([x]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const out = outputOf(backend, t!, outs);
  const size = sizeOf(t!.shape);
  if (size === 0) return [out];
  const s = simplifyPermutation(x!.shape, attrs['perm'] as number[]);
  const r = s.perm.length;
  const batched2d = r >= 2 && r <= 3 && s.perm[r - 1] === r - 2 && s.perm[r - 2] === r - 1 && (r === 2 || s.perm[0] === 0);
  if (batched2d) {
    tiledTranspose(backend, t!.dtype, x!.storage.buffer, out.buffer, r === 3 ? s.shape[0]! : 1, s.shape[r - 2]!, s.shape[r - 1]!);
    return [out];
  }
  const xs = stridesOf(s.shape);
  const outShape = s.perm.map((p) => s.shape[p]!);
  copyBox(backend, t!.dtype, 'transpose', x!.storage.buffer, 0, s.perm.map((p) => xs[p]!), out.buffer, 0, stridesOf(outShape), outShape);
  return [out];
};

/** [B, M, N] → [B, N, M] through TILE×TILE tiles of workgroup memory (one extra column against bank conflicts). */
function tiledTranspose(backend: WebGpuBackend, dtype: DType, src: GPUBuffer, dst: GPUBuffer, b: number, m: number, n: number): void {
  const t = bitsType(dtype);
  const names = ['B', 'M', 'N', 'tilesN', 'tiles'];
  const key = 'transpose.tiled';
  const code = cachedCode(key, () => `${paramStruct(names, 2)}
@group(0) @binding(0) var<storage, read> X: array<${t}>;
@group(0) @binding(1) var<storage, read_write> Y: array<${t}>;
var<workgroup> tile: array<${t}, ${TILE * (TILE + 1)}>;
@compute @workgroup_size(${TILE}, ${TILE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let g = i32(wid.y * nwg.x + wid.x);
  if (g >= p.tiles) { return; }
  let perMatrix = p.tilesN * ((p.M + ${TILE - 1}) / ${TILE});
  let z = g / perMatrix;
  let tm = (g % perMatrix) / p.tilesN;
  let tn = g % p.tilesN;
  let lx = i32(lid.x);
  let ly = i32(lid.y);
  let base = z * p.M * p.N;
  let row = tm * ${TILE} + ly;
  let col = tn * ${TILE} + lx;
  if (row < p.M && col < p.N) { tile[ly * ${TILE + 1} + lx] = X[base + row * p.N + col]; }
  workgroupBarrier();
  // Output [N, M]: this invocation writes row tn·T + ly, column tm·T + lx.
  let orow = tn * ${TILE} + ly;
  let ocol = tm * ${TILE} + lx;
  if (orow < p.N && ocol < p.M) { Y[base + orow * p.M + ocol] = tile[lx * ${TILE + 1} + ly]; }
}
`);
  const tilesN = Math.ceil(n / TILE);
  const tiles = b * Math.ceil(m / TILE) * tilesN;
  backend.dispatch({ key, code, buffers: [src, dst], uniforms: packParams(names, { B: b, M: m, N: n, tilesN, tiles }), workgroups: backend.grid(tiles, 1) });
}

// ---- sliceGrad, pad, padReflectGrad ------------------------------------------------------

/** sliceGrad: each output element is dy's element when it lies on the slice, else 0. */
const sliceGrad = (backend: WebGpuBackend) => ([dy]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const size = sizeOf(t!.shape);
  const out = outputOf(backend, t!, outs);
  const ty = bitsType(t!.dtype);
  const r = t!.shape.length;
  const names = ['n', ...indexed('d', r), ...indexed('start', r), ...indexed('step', r), ...indexed('len', r), ...indexed('gs', r)];
  const key = `sliceGrad.${r}`;
  const code = cachedCode(key, () => {
    let body = `${coordsCode(r, 'e', 'd')}\n  var src = 0;\n  var on = true;\n`;
    for (let a = 0; a < r; a++) {
      // Distance from the slice's start in its own direction, a multiple of |step| below len·|step|.
      body += `  { let q = select(p.start${a} - c${a}, c${a} - p.start${a}, p.step${a} > 0); let st = abs(p.step${a});
    if (q < 0 || q % st != 0 || q / st >= p.len${a}) { on = false; } src += (q / st) * p.gs${a}; }\n`;
    }
    body += `  if (on) { Y[e] = G[src]; } else { Y[e] = ${ty}(0); }`;
    return `${paramStruct(names, 2)}
@group(0) @binding(0) var<storage, read> G: array<${ty}>;
@group(0) @binding(1) var<storage, read_write> Y: array<${ty}>;
${elementMain(body)}`;
  });
  const starts = attrs['starts'] as number[], steps = attrs['steps'] as number[];
  const gs = stridesOf(dy!.shape);
  const values: Record<string, number> = { n: size };
  for (let a = 0; a < r; a++) {
    values[`d${a}`] = t!.shape[a]!;
    values[`start${a}`] = starts[a]!;
    values[`step${a}`] = steps[a]!;
    values[`len${a}`] = dy!.shape[a]!;
    values[`gs${a}`] = gs[a]!;
  }
  dispatchElements(backend, key, code, [dy!.storage.buffer, out.buffer], names, values, size);
  return [out];
};

/** pad: each output element reads its source (reflected, or the constant outside the input). */
const pad = (backend: WebGpuBackend) => ([x]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const size = sizeOf(t!.shape);
  const out = outputOf(backend, t!, outs);
  const ty = bitsType(t!.dtype);
  const reflect = attrs['mode'] === 'reflect';
  const r = t!.shape.length;
  const pads = attrs['pads'] as number[];
  const names = ['n', 'value', ...indexed('d', r), ...indexed('xd', r), ...indexed('b', r), ...indexed('xs', r)];
  const key = `pad.${reflect ? 'reflect' : 'constant'}.${r}`;
  const code = cachedCode(key, () => {
    let body = `${coordsCode(r, 'e', 'd')}\n  var src = 0;\n  var inside = true;\n`;
    for (let a = 0; a < r; a++) {
      body += reflect
        ? `  { var i = c${a} - p.b${a}; if (i < 0) { i = -i; } if (i >= p.xd${a}) { i = 2 * (p.xd${a} - 1) - i; } src += i * p.xs${a}; }\n`
        : `  { let i = c${a} - p.b${a}; if (i < 0 || i >= p.xd${a}) { inside = false; } src += i * p.xs${a}; }\n`;
    }
    body += `  if (inside) { Y[e] = X[src]; } else { Y[e] = bitcast<${ty}>(p.value); }`;
    return `${paramStruct(names, 2)}
@group(0) @binding(0) var<storage, read> X: array<${ty}>;
@group(0) @binding(1) var<storage, read_write> Y: array<${ty}>;
${elementMain(body)}`;
  });
  const xs = stridesOf(x!.shape);
  const values: Record<string, number> = { n: size, value: elementBits(reflect ? 0 : (attrs['value'] as number), t!.dtype) };
  for (let a = 0; a < r; a++) {
    values[`d${a}`] = t!.shape[a]!;
    values[`xd${a}`] = x!.shape[a]!;
    values[`b${a}`] = pads[a]!;
    values[`xs${a}`] = xs[a]!;
  }
  dispatchElements(backend, key, code, [x!.storage.buffer, out.buffer], names, values, size);
  return [out];
};

/**
 * padReflectGrad: each input element sums the dy elements that reflect onto it. Along
 * one axis an element i has up to three sources, ascending: b − i (left mirror, 1 ≤ i ≤ b),
 * i + b (itself), b + 2(d−1) − i (right mirror, d−2−e < i ≤ d−2); nested loops over the
 * axes visit them in dy's row-major order, the reference's order of addition.
 */
const padReflectGrad = (backend: WebGpuBackend) => ([dy]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const size = sizeOf(t!.shape);
  const out = outputOf(backend, t!, outs);
  const ty = wgslType(t!.dtype);
  const r = t!.shape.length;
  const pads = attrs['pads'] as number[];
  const names = ['n', ...indexed('d', r), ...indexed('b', r), ...indexed('pe', r), ...indexed('gs', r)];
  const key = `padReflectGrad.${ty}.${r}`;
  const code = cachedCode(key, () => {
    let body = `${coordsCode(r, 'e', 'd')}\n  var acc = ${ty}(0);\n`;
    let open = '', close = '', off = '0';
    for (let a = 0; a < r; a++) {
      open += `  for (var k${a} = 0; k${a} < 3; k${a}++) {
    var o${a} = c${a} + p.b${a};
    if (k${a} == 0) { if (c${a} < 1 || c${a} > p.b${a}) { continue; } o${a} = p.b${a} - c${a}; }
    if (k${a} == 2) { if (c${a} > p.d${a} - 2 || c${a} <= p.d${a} - 2 - p.pe${a}) { continue; } o${a} = p.b${a} + 2 * (p.d${a} - 1) - c${a}; }
`;
      close += '  }\n';
      off += ` + o${a} * p.gs${a}`;
    }
    body += r === 0 ? '  acc = G[0];\n' : `${open}    acc += G[${off}];\n${close}`;
    body += '  Y[e] = acc;';
    return `${paramStruct(names, 2)}
@group(0) @binding(0) var<storage, read> G: array<${ty}>;
@group(0) @binding(1) var<storage, read_write> Y: array<${ty}>;
${elementMain(body)}`;
  });
  const gs = stridesOf(dy!.shape);
  const values: Record<string, number> = { n: size };
  for (let a = 0; a < r; a++) {
    values[`d${a}`] = t!.shape[a]!;
    values[`b${a}`] = pads[a]!;
    values[`pe${a}`] = pads[r + a]!;
    values[`gs${a}`] = gs[a]!;
  }
  dispatchElements(backend, key, code, [dy!.storage.buffer, out.buffer], names, values, size);
  return [out];
};

// ---- gather / scatterAdd ----------------------------------------------------------------

/** gather: out[..i..] = x[..index[..i..] on axis..], one invocation per index element. */
const gather = (backend: WebGpuBackend) => ([x, index]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const size = sizeOf(t!.shape);
  const out = outputOf(backend, t!, outs);
  const ty = bitsType(t!.dtype);
  const axis = attrs['axis'] as number;
  const r = index!.shape.length;
  const names = ['n', 'axis', 'axisSize', ...indexed('d', r), ...indexed('xs', r)];
  const key = `gather.${r}`;
  const code = cachedCode(key, () => {
    let body = `${coordsCode(r, 'e', 'd')}\n  let j = I[e];\n  var src = 0;\n`;
    for (let a = 0; a < r; a++) body += `  src += select(c${a}, j, p.axis == ${a}) * p.xs${a};\n`;
    body += `  if (j < 0 || j >= p.axisSize) { Y[e] = ${ty}(0); } else { Y[e] = X[src]; }`;
    return `${paramStruct(names, 3)}
@group(0) @binding(0) var<storage, read> X: array<${ty}>;
@group(0) @binding(1) var<storage, read> I: array<i32>;
@group(0) @binding(2) var<storage, read_write> Y: array<${ty}>;
${elementMain(body)}`;
  });
  const xs = stridesOf(x!.shape);
  const values: Record<string, number> = { n: size, axis, axisSize: x!.shape[axis] ?? 1 };
  for (let a = 0; a < r; a++) {
    values[`d${a}`] = index!.shape[a]!;
    values[`xs${a}`] = xs[a]!;
  }
  dispatchElements(backend, key, code, [x!.storage.buffer, index!.storage.buffer, out.buffer], names, values, size);
  return [out];
};

/**
 * scatterAdd without atomics: each output element starts from x and adds, in index order
 * along the axis (the reference's order), the src elements whose index points at it.
 */
const scatterAdd = (backend: WebGpuBackend) => ([x, index, src]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const size = sizeOf(t!.shape);
  const out = outputOf(backend, t!, outs);
  const ty = wgslType(t!.dtype);
  const axis = attrs['axis'] as number;
  const r = t!.shape.length;
  const names = ['n', 'axis', 'm', 'ia', 'sa', ...indexed('d', r), ...indexed('id', r), ...indexed('is', r), ...indexed('ss', r)];
  const key = `scatterAdd.${ty}.${r}`;
  const code = cachedCode(key, () => {
    let body = `${coordsCode(r, 'e', 'd')}\n  var acc = X[e];\n  var ib = 0;\n  var sb = 0;\n  var covered = true;\n`;
    // The axis is a uniform: its coordinate (ca) is the target, the others must lie inside the index.
    for (let a = 0; a < r; a++) {
      body += `  if (p.axis != ${a}) { if (c${a} >= p.id${a}) { covered = false; } ib += c${a} * p.is${a}; sb += c${a} * p.ss${a}; }\n`;
    }
    body += r === 0 ? '  let ca = 0;\n' : `  var ca = 0;\n${Array.from({ length: r }, (_, a) => `  if (p.axis == ${a}) { ca = c${a}; }`).join('\n')}\n`;
    body += `  if (covered) {
    for (var j = 0; j < p.m; j++) {
      if (I[ib + j * p.ia] == ca) { acc += S[sb + j * p.sa]; }
    }
  }\n`;
    body += '  Y[e] = acc;';
    return `${paramStruct(names, 4)}
@group(0) @binding(0) var<storage, read> X: array<${ty}>;
@group(0) @binding(1) var<storage, read> I: array<i32>;
@group(0) @binding(2) var<storage, read> S: array<${ty}>;
@group(0) @binding(3) var<storage, read_write> Y: array<${ty}>;
${elementMain(body)}`;
  });
  const is = stridesOf(index!.shape), ss = stridesOf(src!.shape);
  const values: Record<string, number> = { n: size, axis, m: r === 0 ? sizeOf(index!.shape) : index!.shape[axis]!, ia: is[axis] ?? 0, sa: ss[axis] ?? 0 };
  for (let a = 0; a < r; a++) {
    values[`d${a}`] = t!.shape[a]!;
    values[`id${a}`] = index!.shape[a]!;
    values[`is${a}`] = is[a]!;
    values[`ss${a}`] = ss[a]!;
  }
  // An index with no elements adds nothing (and its strides may index an empty buffer).
  if (sizeOf(index!.shape) === 0) values['m'] = 0;
  dispatchElements(backend, key, code, [x!.storage.buffer, index!.storage.buffer, src!.storage.buffer, out.buffer], names, values, size);
  return [out];
};

// ---- indexSelect(+Grad), oneHot ----------------------------------------------------------

/** Outer size (dims before axis) and inner size (dims after) of a shape. */
function aroundAxis(shape: readonly number[], axis: number): [number, number] {
  let outer = 1, inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return [outer, inner];
}

const indexSelect = (backend: WebGpuBackend) => ([x, index]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const size = sizeOf(t!.shape);
  const out = outputOf(backend, t!, outs);
  const ty = bitsType(t!.dtype);
  const axis = attrs['axis'] as number;
  const [, inner] = aroundAxis(x!.shape, axis);
  const names = ['n', 'd', 'm', 'inner'];
  const key = 'indexSelect';
  const code = cachedCode(key, () => `${paramStruct(names, 3)}
@group(0) @binding(0) var<storage, read> X: array<${ty}>;
@group(0) @binding(1) var<storage, read> I: array<i32>;
@group(0) @binding(2) var<storage, read_write> Y: array<${ty}>;
${elementMain(`  let k = e % p.inner;
  let j = (e / p.inner) % p.m;
  let i = e / (p.inner * p.m);
  let s = I[j];
  if (s < 0 || s >= p.d) { Y[e] = ${ty}(0); } else { Y[e] = X[(i * p.d + s) * p.inner + k]; }`)}`);
  const m = sizeOf(index!.shape);
  dispatchElements(backend, key, code, [x!.storage.buffer, index!.storage.buffer, out.buffer], names, { n: size, d: x!.shape[axis]!, m, inner }, size);
  return [out];
};

/**
 * indexSelectGrad: each output row t sums the dy rows j with index[j] = t, j ascending (the
 * reference's order, so the sums are bit-exact). Two formulations, the cheaper one chosen:
 * - direct: every output element scans the whole index (cost size·m);
 * - linked: one pass over the index links each j to the next j' with the same value and
 *   marks the first per value (cost ≤ m², usually far less), then every output element
 *   walks its own list (cost size + outer·m·inner). An embedding's gradient (vocabulary
 *   rows, a few hundred tokens) is the case it exists for.
 */
const indexSelectGrad = (backend: WebGpuBackend) => ([dy, index]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const size = sizeOf(t!.shape);
  const out = outputOf(backend, t!, outs);
  const ty = wgslType(t!.dtype);
  const axis = attrs['axis'] as number;
  const [, inner] = aroundAxis(t!.shape, axis);
  const d = t!.shape[axis]!;
  const m = sizeOf(index!.shape);
  const names = ['n', 'd', 'm', 'inner'];
  const values = { n: size, d, m, inner };
  const body = (next: string) => `  let k = e % p.inner;
  let row = (e / p.inner) % p.d;
  let i = e / (p.inner * p.d);
  var acc = ${ty}(0);
${next}
  Y[e] = acc;`;
  if (m < size) {
    // The lists: NEXT[j] = the next j' with index[j'] = index[j] (−1: none), HEAD[v] = the first j with index[j] = v.
    const head = backend.alloc('int32', d);
    backend.fill(head, -1);
    const next = backend.alloc('int32', m);
    const linkKey = 'indexSelectGrad.links';
    const linkCode = cachedCode(linkKey, () => `${paramStruct(names, 3)}
@group(0) @binding(0) var<storage, read> I: array<i32>;
@group(0) @binding(1) var<storage, read_write> NEXT: array<i32>;
@group(0) @binding(2) var<storage, read_write> HEAD: array<i32>;
${elementMain(`  let v = I[e];
  var nx = -1;
  for (var q = e + 1; q < p.m; q++) { if (I[q] == v) { nx = q; break; } }
  NEXT[e] = nx;
  var first = v >= 0 && v < p.d;
  for (var q = 0; q < e && first; q++) { if (I[q] == v) { first = false; } }
  if (first) { HEAD[v] = e; }`)}`);
    dispatchElements(backend, linkKey, linkCode, [index!.storage.buffer, next.buffer, head.buffer], names, { ...values, n: m }, m);
    const key = `indexSelectGrad.linked.${ty}`;
    const code = cachedCode(key, () => `${paramStruct(names, 4)}
@group(0) @binding(0) var<storage, read> G: array<${ty}>;
@group(0) @binding(1) var<storage, read> NEXT: array<i32>;
@group(0) @binding(2) var<storage, read> HEAD: array<i32>;
@group(0) @binding(3) var<storage, read_write> Y: array<${ty}>;
${elementMain(body(`  var j = HEAD[row];
  while (j >= 0) {
    acc += G[(i * p.m + j) * p.inner + k];
    j = NEXT[j];
  }`))}`);
    dispatchElements(backend, key, code, [dy!.storage.buffer, next.buffer, head.buffer, out.buffer], names, values, size);
    backend.free(head);
    backend.free(next);
    return [out];
  }
  const key = `indexSelectGrad.direct.${ty}`;
  const code = cachedCode(key, () => `${paramStruct(names, 3)}
@group(0) @binding(0) var<storage, read> G: array<${ty}>;
@group(0) @binding(1) var<storage, read> I: array<i32>;
@group(0) @binding(2) var<storage, read_write> Y: array<${ty}>;
${elementMain(body(`  for (var j = 0; j < p.m; j++) {
    if (I[j] == row) { acc += G[(i * p.m + j) * p.inner + k]; }
  }`))}`);
  dispatchElements(backend, key, code, [dy!.storage.buffer, index!.storage.buffer, out.buffer], names, values, size);
  return [out];
};

const oneHot = (backend: WebGpuBackend) => ([x]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
  const size = sizeOf(t!.shape);
  const out = outputOf(backend, t!, outs);
  const names = ['n', 'classes'];
  const key = 'oneHot';
  const code = cachedCode(key, () => `${paramStruct(names, 2)}
@group(0) @binding(0) var<storage, read> X: array<i32>;
@group(0) @binding(1) var<storage, read_write> Y: array<i32>;
${elementMain('  Y[e] = select(0, 1, X[e / p.classes] == e % p.classes);')}`);
  dispatchElements(backend, key, code, [x!.storage.buffer, out.buffer], names, { n: size, classes: attrs['numClasses'] as number }, size);
  return [out];
};

// ---- tril / triu ---------------------------------------------------------------------------

function triangle(lower: boolean) {
  return (backend: WebGpuBackend) => ([x]: Inputs, attrs: Attrs, [t]: readonly TensorType[], outs?: Outs): GpuStorage[] => {
    const size = sizeOf(t!.shape);
    const out = outputOf(backend, t!, outs);
    const ty = bitsType(t!.dtype);
    const r = t!.shape.length;
    const names = ['n', 'rows', 'cols', 'diagonal'];
    const key = lower ? 'tril' : 'triu';
    const code = cachedCode(key, () => `${paramStruct(names, 2)}
@group(0) @binding(0) var<storage, read> X: array<${ty}>;
@group(0) @binding(1) var<storage, read_write> Y: array<${ty}>;
${elementMain(`  let j = e % p.cols;
  let i = (e / p.cols) % p.rows;
  if (j - i ${lower ? '<=' : '>='} p.diagonal) { Y[e] = X[e]; } else { Y[e] = ${ty}(0); }`)}`);
    // The diagonal is clamped into i32 range: |diagonal| past the matrix keeps all or nothing alike.
    const diagonal = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, attrs['diagonal'] as number));
    dispatchElements(backend, key, code, [x!.storage.buffer, out.buffer], names, { n: size, rows: t!.shape[r - 2]!, cols: t!.shape[r - 1]!, diagonal }, size);
    return [out];
  };
}

registerWebGpuKernels({
  expand,
  slice,
  sliceGrad,
  concat,
  split,
  pad,
  padReflectGrad,
  gather,
  scatterAdd,
  indexSelect,
  indexSelectGrad,
  oneHot,
  transpose,
  tril: triangle(true),
  triu: triangle(false),
});
