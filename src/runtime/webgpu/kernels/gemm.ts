/**
 * One GEMM shader generator for every product-shaped kernel of the webgpu backend:
 * matmul and linear read their operands as stored, the convolutions read them through
 * index functions (implicit GEMM: im2col is never materialized). A caller describes
 * how to read A[row, k] and B[k, col] and where C[row, col] goes, per batch element `z`;
 * this file owns the tiling, the bounds, the dispatch grid and the uniforms.
 *
 * Two shapes of shader:
 * - tiled: a 64×64 tile of C per workgroup of 8×8 invocations, each accumulating an
 *   8×8 block (rows ty + 8·i, columns tx + 8·j, so stores and tile loads stay
 *   coalesced), K walked in slices of 8 staged in workgroup memory (2 × 2 KiB).
 *   Measured on lavapipe (2 loaded cores): this shape compiles in 1–5 s and runs 512³ at
 *   ≈1.5 GFLOP/s; 16×16 invocations with 4×4 each took 10–20 s to compile and ran ≈5×
 *   slower (lavapipe runs a workgroup on one CPU thread, looping over its invocations);
 * - dot: one workgroup of 64 per element of C, splitting K and adding up in workgroup
 *   memory, when M or N is small and both operands are contiguous along K (linear's x
 *   and W; matmul by a vector), so each invocation's reads are coalesced;
 * - small: one invocation per element of C, reading A and B directly (tiny M or N
 *   otherwise, where a 64×64 tile would be mostly idle; consecutive invocations read
 *   consecutive columns of B).
 * Accumulation is in the element type (f32, or i32 wrapping like the reference's int32
 * store); the reference backend accumulates in float64, hence the tests' 1e-5·√K.
 */
import type { GpuStorage } from '../gpuStorage.js';
import type { WebGpuBackend } from '../webgpuBackend.js';
import { packParams, paramStruct } from './params.js';
import { cachedCode } from './shape.js';

/** A product C[z] = A[z]·B[z] (M×K · K×N per batch element z) and how its operands are read. */
export interface GemmSpec {
  /** Structural part of the pipeline key: whatever changes the generated code. */
  readonly key: string;
  readonly scalar: 'f32' | 'i32';
  /** Read-only storage buffers, in binding order (the output buffer `C` comes after them). */
  readonly inputs: readonly string[];
  /** Extra i32 uniforms (geometry), readable as `p.<name>` in the functions below. */
  readonly params: readonly string[];
  /**
   * WGSL functions, with `T` the element type:
   *   fn batchBase(z: i32) -> vec4<i32>           (per batch element, computed once per invocation)
   *   fn loadA(bz: vec4<i32>, row: i32, k: i32) -> T   (called only for row < M, k < K)
   *   fn loadB(bz: vec4<i32>, k: i32, col: i32) -> T   (called only for k < K, col < N)
   *   fn storeC(bz: vec4<i32>, row: i32, col: i32, v: T)   (called only for row < M, col < N)
   */
  readonly functions: string;
  /** Whether consecutive invocations should load consecutive k of B (B stored column-major, e.g. linear's W). */
  readonly bKFastest?: boolean;
}

/** The sizes of one GEMM call and its uniform values. */
export interface GemmCall {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** Batch elements (z runs over 0..batch-1). */
  readonly batch: number;
  readonly params: Readonly<Record<string, number>>;
  readonly buffers: readonly GPUBuffer[];
}

export type GemmPath = 'tiled' | 'dot' | 'small';

/** C tile side, K slice, invocations per side (8×8 = 64), outputs per invocation per side (8×8). */
const TILE = 64;
const TILE_K = 8;
const SIDE = 8;
const PER = TILE / SIDE;
const THREADS = SIDE * SIDE;
const SMALL_WG = 64;
const DOT_WG = 64;

/**
 * Which shader a product of these sizes runs: tiled when M and N are both 16 or more;
 * else dot when K is long (64 or more) and B is contiguous along K (`bKContiguous`: B
 * stored transposed, or N = 1), else small.
 */
export function gemmPath(m: number, n: number, k: number, bKContiguous: boolean): GemmPath {
  if (m >= 16 && n >= 16) return 'tiled';
  return k >= 64 && (bKContiguous || n === 1) ? 'dot' : 'small';
}

const COMMON_PARAMS = ['M', 'N', 'K', 'zBase', 'tilesN', 'tiles'] as const;

function header(spec: GemmSpec): string {
  const decls = spec.inputs.map((name, i) => `@group(0) @binding(${i}) var<storage, read> ${name}: array<${spec.scalar}>;`);
  decls.push(`@group(0) @binding(${spec.inputs.length}) var<storage, read_write> C: array<${spec.scalar}>;`);
  decls.push(paramStruct([...COMMON_PARAMS, ...spec.params], spec.inputs.length + 1));
  return `alias T = ${spec.scalar};\n${decls.join('\n')}\n${spec.functions}\n`;
}

/** The tiled shader (see the file comment). */
export function tiledGemmShader(spec: GemmSpec): string {
  // A slice: 64 rows × TILE_K k, k fastest (rows of A are contiguous in k for every
  // caller); B likewise, columns fastest unless B is stored transposed. A loop, not
  // unrolled code: the loaders of the convolutions are long.
  const [bk, bc] = spec.bKFastest ? [`e % ${TILE_K}`, `e / ${TILE_K}`] : [`e / ${TILE}`, `e % ${TILE}`];
  const loads = `for (var e = li; e < ${TILE * TILE_K}; e += ${THREADS}) {
      let ar = e / ${TILE_K}; let ak = e % ${TILE_K};
      var va = T(0);
      if (row0 + ar < p.M && k0 + ak < p.K) { va = loadA(bz, row0 + ar, k0 + ak); }
      As[ak * ${TILE} + ar] = va;
      let bk = ${bk}; let bc = ${bc};
      var vb = T(0);
      if (k0 + bk < p.K && col0 + bc < p.N) { vb = loadB(bz, k0 + bk, col0 + bc); }
      Bs[bk * ${TILE} + bc] = vb;
    }`;
  // Scalar accumulators and constant offsets: no private array indexed at run time
  // (which a GPU may keep in memory instead of registers).
  const accs: string[] = [], fmas: string[] = [], stores: string[] = [];
  const aRead: string[] = [], bRead: string[] = [];
  for (let i = 0; i < PER; i++) {
    aRead.push(`let a${i} = As[ka + ty + ${SIDE * i}];`);
    bRead.push(`let b${i} = Bs[ka + tx + ${SIDE * i}];`);
    for (let j = 0; j < PER; j++) {
      accs.push(`var c${i}_${j} = T(0);`);
      fmas.push(`c${i}_${j} += a${i} * b${j};`);
      stores.push(`if (row0 + ty + ${SIDE * i} < p.M && col0 + tx + ${SIDE * j} < p.N) { storeC(bz, row0 + ty + ${SIDE * i}, col0 + tx + ${SIDE * j}, c${i}_${j}); }`);
    }
  }
  return `${header(spec)}
var<workgroup> As: array<T, ${TILE * TILE_K}>;
var<workgroup> Bs: array<T, ${TILE * TILE_K}>;

@compute @workgroup_size(${SIDE}, ${SIDE})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  // The tile grid is flattened over x and y (either may exceed the 65535 limit alone).
  let tile = i32(wid.y * nwg.x + wid.x);
  if (tile >= p.tiles) { return; }
  let z = i32(wid.z) + p.zBase;
  let bz = batchBase(z);
  let row0 = (tile / p.tilesN) * ${TILE};
  let col0 = (tile % p.tilesN) * ${TILE};
  let tx = i32(lid.x);
  let ty = i32(lid.y);
  let li = i32(lidx);
  ${accs.join('\n  ')}
  for (var k0 = 0; k0 < p.K; k0 += ${TILE_K}) {
    ${loads}
    workgroupBarrier();
    for (var kk = 0; kk < ${TILE_K}; kk++) {
      let ka = kk * ${TILE};
      ${aRead.join(' ')}
      ${bRead.join(' ')}
      ${fmas.join('\n      ')}
    }
    workgroupBarrier();
  }
  ${stores.join('\n  ')}
}
`;
}

/** The small shader: one invocation per element of C, columns fastest. */
export function smallGemmShader(spec: GemmSpec): string {
  return `${header(spec)}
@compute @workgroup_size(${SMALL_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let e = i32(wid.y * nwg.x + wid.x) * ${SMALL_WG} + i32(lidx);
  if (e >= p.tiles) { return; }
  let z = i32(wid.z) + p.zBase;
  let bz = batchBase(z);
  let row = e / p.N;
  let col = e % p.N;
  var acc = T(0);
  for (var k = 0; k < p.K; k++) { acc += loadA(bz, row, k) * loadB(bz, k, col); }
  storeC(bz, row, col, acc);
}
`;
}

/** The dot shader: a workgroup per element of C, K split over its invocations and summed in a tree. */
export function dotGemmShader(spec: GemmSpec): string {
  return `${header(spec)}
var<workgroup> part: array<T, ${DOT_WG}>;

@compute @workgroup_size(${DOT_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let e = i32(wid.y * nwg.x + wid.x);
  if (e >= p.tiles) { return; }
  let z = i32(wid.z) + p.zBase;
  let bz = batchBase(z);
  let row = e / p.N;
  let col = e % p.N;
  var acc = T(0);
  for (var k = i32(lidx); k < p.K; k += ${DOT_WG}) { acc += loadA(bz, row, k) * loadB(bz, k, col); }
  part[lidx] = acc;
  workgroupBarrier();
  for (var s = ${DOT_WG / 2}u; s > 0u; s = s >> 1u) {
    if (lidx < s) { part[lidx] += part[lidx + s]; }
    workgroupBarrier();
  }
  if (lidx == 0u) { storeC(bz, row, col, part[0]); }
}
`;
}

/**
 * Records the dispatches of one GEMM: workgroups over the flattened tile (or element)
 * grid, split over x/y past the per-dimension limit (`backend.grid`), and batches over z
 * in chunks of at most that limit (each chunk its own dispatch, `zBase` in its uniforms).
 */
export function runGemm(backend: WebGpuBackend, spec: GemmSpec, call: GemmCall, path: GemmPath = gemmPath(call.m, call.n, call.k, spec.bKFastest === true)): void {
  const { m, n, k, batch } = call;
  if (m === 0 || n === 0 || batch === 0) return;
  const key = `gemm.${path}.${spec.key}`;
  const code = cachedCode(key, () => (path === 'tiled' ? tiledGemmShader(spec) : path === 'dot' ? dotGemmShader(spec) : smallGemmShader(spec)));
  const tilesN = path === 'tiled' ? Math.ceil(n / TILE) : n;
  const tiles = path === 'tiled' ? Math.ceil(m / TILE) * tilesN : m * n;
  const [gx, gy] = backend.grid(tiles, path === 'small' ? SMALL_WG : 1);
  const maxZ = backend.limits.maxComputeWorkgroupsPerDimension;
  for (let zBase = 0; zBase < batch; zBase += maxZ) {
    const uniforms = packParams([...COMMON_PARAMS, ...spec.params], { M: m, N: n, K: k, zBase, tilesN, tiles, ...call.params });
    backend.dispatch({ key, code, buffers: call.buffers, uniforms, workgroups: [gx, gy, Math.min(maxZ, batch - zBase)] });
  }
}

/**
 * C (`size` elements of `dtype`): the caller-given output `given` (an execution plan's
 * arena view) or a fresh one, with the buffers to bind: `inputs`' then C's.
 */
export function withOutput(backend: WebGpuBackend, inputs: readonly GpuStorage[], dtype: GpuStorage['dtype'], size: number, given?: GpuStorage): { out: GpuStorage; buffers: GPUBuffer[] } {
  const out = given ?? backend.alloc(dtype, size);
  return { out, buffers: [...inputs.map((s) => s.buffer), out.buffer] };
}
