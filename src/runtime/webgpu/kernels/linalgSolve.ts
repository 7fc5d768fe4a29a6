/**
 * cholesky, solveTriangular, solve and lstsq on the webgpu backend: the reference
 * kernels' algorithms (src/runtime/reference/kernels/linalgSolve.ts) in WGSL, one
 * invocation per matrix (per matrix column for solveTriangular), batch dims broadcast as
 * in matmul. Fine for the small systems these ops meet in models; a large one runs on a
 * single GPU thread.
 *
 * Two differences, both because a GPU kernel cannot stop the caller (that needs a read
 * back, which a kernel never waits for):
 * - where the reference throws (A not positive-definite, a zero diagonal, A singular or
 *   rank-deficient to working precision), the matrix's result is all NaN instead, as
 *   JAX does;
 * - the work is float32, so "to working precision" means a pivot (an R diagonal) at most
 *   n·2⁻²³·max|A| (rows·2⁻²³·max column norm for lstsq); the reference works in float64
 *   with 2⁻⁵².
 */
import { sizeOf, type Attrs, type TensorType } from '../../../ir/index.js';
import type { KernelInput } from '../../backend.js';
import type { GpuStorage } from '../gpuStorage.js';
import { registerWebGpuKernels } from '../kernelRegistry.js';
import type { WebGpuBackend } from '../webgpuBackend.js';
import { batchMatricesWgsl, batchParams, matmulBatchLayout } from './matmul.js';
import { packParams, paramStruct } from './params.js';
import { cachedCode } from './shape.js';

type Solver = (backend: WebGpuBackend) => (inputs: readonly KernelInput<GpuStorage>[], attrs: Attrs, outTypes: readonly TensorType[], outs?: readonly (GpuStorage | undefined)[]) => GpuStorage[];

const WG = 64;

/** Bindings (`names` read-only, then `rw` read-write, `Out` last), uniforms and helpers, then `main` running `body` for invocation `e < p.count`. */
function solverShader(names: readonly string[], rw: readonly string[], params: readonly string[], functions: string, body: string): string {
  const decls = names.map((n, i) => `@group(0) @binding(${i}) var<storage, read> ${n}: array<f32>;`);
  [...rw, 'Out'].forEach((n, i) => decls.push(`@group(0) @binding(${names.length + i}) var<storage, read_write> ${n}: array<f32>;`));
  return `${decls.join('\n')}
${paramStruct(['count', 'n', 'k', 'upper', ...params], names.length + rw.length + 1)}
// Runtime bit patterns: WGSL rejects a constant-expression NaN; tests on bits survive fast math.
fn fromBits(b: u32) -> f32 { return bitcast<f32>(b); }
fn isFinite(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) < 0x7f800000u; }
${functions}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {
  let e = i32(wid.y * nwg.x + wid.x) * ${WG} + i32(lidx);
  if (e >= p.count) { return; }
  let n = p.n;
  let k = p.k;
${body}
}
`;
}

/** L with L·Lᵀ = (A + Aᵀ)/2, upper triangle 0; all NaN when a leading minor is not positive. */
const CHOLESKY = solverShader(['A'], [], [], '', `
  let base = e * n * n;
  var ok = true;
  for (var j = 0; j < n; j++) {
    var d = A[base + j * n + j];
    for (var q = 0; q < j; q++) { let v = Out[base + j * n + q]; d -= v * v; }
    if (!(d > 0.0) || !isFinite(d)) { ok = false; break; }
    let ljj = sqrt(d);
    Out[base + j * n + j] = ljj;
    for (var i = j + 1; i < n; i++) {
      // The symmetric part of A: ½(A[i, j] + A[j, i]).
      var s = 0.5 * (A[base + i * n + j] + A[base + j * n + i]);
      for (var q = 0; q < j; q++) { s -= Out[base + i * n + q] * Out[base + j * n + q]; }
      Out[base + i * n + j] = s / ljj;
      Out[base + j * n + i] = 0.0;
    }
  }
  if (!ok) {
    for (var i = 0; i < n * n; i++) { Out[base + i] = fromBits(0x7fc00000u); }
  }`);

/** Column c of X = A⁻¹·B by substitution (invocation e = (t, c)); the column is NaN when a diagonal element is 0. */
function solveTriangularShader(rank: number, names: readonly string[]): string {
  return solverShader(['A', 'B'], [], names, batchMatricesWgsl(rank), `
  let t = e / k;
  let c = e % k;
  let o = batchMatrices(t);
  let aBase = o.x * n * n;
  let bBase = o.y * n * k + c;
  let oBase = t * n * k + c;
  let upper = p.upper != 0;
  var ok = true;
  for (var step = 0; step < n; step++) {
    let i = select(step, n - 1 - step, upper);
    var x = B[bBase + i * k];
    let hi = select(i, n, upper);
    for (var j = select(0, i + 1, upper); j < hi; j++) {
      let aij = A[aBase + i * n + j];
      // Skipped when 0, as the reference does (0·inf would be NaN).
      if (aij != 0.0) { x -= aij * Out[oBase + j * k]; }
    }
    let d = A[aBase + i * n + i];
    if (d == 0.0) { ok = false; break; }
    Out[oBase + i * k] = x / d;
  }
  if (!ok) {
    for (var i = 0; i < n; i++) { Out[oBase + i * k] = fromBits(0x7fc00000u); }
  }`);
}

/** X = A⁻¹·B by LU with partial pivoting on a copy of A (scratch `LU`, one n×n block per output matrix). */
function solveShader(rank: number, names: readonly string[]): string {
  return solverShader(['A', 'B'], ['LU'], names, batchMatricesWgsl(rank), `
  let o = batchMatrices(e);
  let aBase = o.x * n * n;
  let bBase = o.y * n * k;
  let oBase = e * n * k;
  let lb = e * n * n;
  var scale = 0.0;
  var finite = true;
  for (var i = 0; i < n * n; i++) {
    let v = A[aBase + i];
    LU[lb + i] = v;
    finite = finite && isFinite(v);
    scale = max(scale, abs(v));
  }
  for (var i = 0; i < n * k; i++) { Out[oBase + i] = B[bBase + i]; }
  // Singular to float32 working precision (see the file comment); non-finite A: NaN, as the reference gives.
  let tol = f32(n) * 1.1920929e-7 * scale;
  var ok = finite;
  for (var col = 0; col < n && ok; col++) {
    var piv = col;
    var best = abs(LU[lb + col * n + col]);
    for (var r = col + 1; r < n; r++) {
      let v = abs(LU[lb + r * n + col]);
      if (v > best) { best = v; piv = r; }
    }
    if (!(best > tol)) { ok = false; break; }
    if (piv != col) {
      for (var c = 0; c < n; c++) {
        let tmp = LU[lb + col * n + c];
        LU[lb + col * n + c] = LU[lb + piv * n + c];
        LU[lb + piv * n + c] = tmp;
      }
      for (var c = 0; c < k; c++) {
        let tmp = Out[oBase + col * k + c];
        Out[oBase + col * k + c] = Out[oBase + piv * k + c];
        Out[oBase + piv * k + c] = tmp;
      }
    }
    let pivot = LU[lb + col * n + col];
    for (var r = col + 1; r < n; r++) {
      let f = LU[lb + r * n + col] / pivot;
      if (f == 0.0) { continue; }
      for (var c = col + 1; c < n; c++) { LU[lb + r * n + c] -= f * LU[lb + col * n + c]; }
      for (var c = 0; c < k; c++) { Out[oBase + r * k + c] -= f * Out[oBase + col * k + c]; }
    }
  }
  if (!ok) {
    for (var i = 0; i < n * k; i++) { Out[oBase + i] = fromBits(0x7fc00000u); }
    return;
  }
  for (var i = n - 1; i >= 0; i--) {
    for (var j = i + 1; j < n; j++) {
      let f = LU[lb + i * n + j];
      if (f == 0.0) { continue; }
      for (var c = 0; c < k; c++) { Out[oBase + i * k + c] -= f * Out[oBase + j * k + c]; }
    }
    let d = LU[lb + i * n + i];
    for (var c = 0; c < k; c++) { Out[oBase + i * k + c] = Out[oBase + i * k + c] / d; }
  }`);
}

/** WGSL: applies H_j = I − β·v·vᵀ (reflector j of Q, at q in scratch, columns of `rows`) to the k work columns at y. */
const APPLY_REFLECTOR = `
fn applyReflector(q: i32, rows: i32, j: i32, beta: f32, y: i32, k: i32) {
  if (beta == 0.0) { return; }
  let cj = q + j * rows;
  for (var c = 0; c < k; c++) {
    let yc = y + c * rows;
    var s = 0.0;
    for (var i = j; i < rows; i++) { s += S[cj + i] * S[yc + i]; }
    s *= beta;
    for (var i = j; i < rows; i++) { S[yc + i] -= s * S[cj + i]; }
  }
}`;

/**
 * Least squares by Householder QR of A (m ≥ n) or of Aᵀ (m < n), `rows × cols` with
 * rows ≥ cols, in scratch (per output matrix: Q column-major, R, the β's, work columns Y).
 */
function lstsqShader(rank: number, names: readonly string[]): string {
  return solverShader(['A', 'B'], ['S'], ['m', 'S', ...names], batchMatricesWgsl(rank) + APPLY_REFLECTOR, `
  let m = p.m;
  let o = batchMatrices(e);
  let aBase = o.x * m * n;
  let bBase = o.y * m * k;
  let oBase = e * n * k;
  let tall = m >= n;
  let rows = select(n, m, tall);
  let cols = select(m, n, tall);
  let q = e * p.S;
  let r = q + rows * cols;
  let betas = r + cols * cols;
  let y = betas + cols;
  var finite = true;
  for (var i = 0; i < m * n; i++) { finite = finite && isFinite(A[aBase + i]); }
  if (!finite) {
    for (var i = 0; i < n * k; i++) { Out[oBase + i] = fromBits(0x7fc00000u); }
    return;
  }
  if (m == 0) {
    // No equations: the minimum-norm solution is 0.
    for (var i = 0; i < n * k; i++) { Out[oBase + i] = 0.0; }
    return;
  }
  // Q's column c: column c of A (tall) or row c of A (wide); scale: the largest column norm.
  var scale = 0.0;
  for (var c = 0; c < cols; c++) {
    var s2 = 0.0;
    for (var i = 0; i < rows; i++) {
      let v = select(A[aBase + c * n + i], A[aBase + i * n + c], tall);
      S[q + c * rows + i] = v;
      s2 += v * v;
    }
    scale = max(scale, sqrt(s2));
  }
  for (var j = 0; j < cols; j++) {
    let cj = q + j * rows;
    var norm2 = 0.0;
    for (var i = j; i < rows; i++) { norm2 += S[cj + i] * S[cj + i]; }
    let norm = sqrt(norm2);
    let x0 = S[cj + j];
    let alpha = select(norm, -norm, x0 >= 0.0);
    var beta = 0.0;
    if (norm != 0.0) {
      S[cj + j] = x0 - alpha;
      // vᵀv = 2·norm·(norm + |x0|)
      beta = 1.0 / (norm * (norm + abs(x0)));
    }
    S[betas + j] = beta;
    S[r + j * cols + j] = alpha;
    for (var c = j + 1; c < cols; c++) {
      let cc = q + c * rows;
      var s = 0.0;
      for (var i = j; i < rows; i++) { s += S[cj + i] * S[cc + i]; }
      s *= beta;
      for (var i = j; i < rows; i++) { S[cc + i] -= s * S[cj + i]; }
      S[r + j * cols + c] = S[cc + j];
    }
  }
  let tol = f32(rows) * 1.1920929e-7 * scale;
  for (var j = 0; j < cols; j++) {
    if (!(abs(S[r + j * cols + j]) > tol)) {
      for (var i = 0; i < n * k; i++) { Out[oBase + i] = fromBits(0x7fc00000u); }
      return;
    }
  }
  if (tall) {
    // Qᵀ·B (the reflectors in order), then R·X = (Qᵀ·B)[0:n] by back substitution.
    for (var c = 0; c < k; c++) {
      for (var i = 0; i < m; i++) { S[y + c * m + i] = B[bBase + i * k + c]; }
    }
    for (var j = 0; j < n; j++) { applyReflector(q, rows, j, S[betas + j], y, k); }
    for (var c = 0; c < k; c++) {
      let yc = y + c * m;
      for (var i = n - 1; i >= 0; i--) {
        var s = S[yc + i];
        for (var j = i + 1; j < n; j++) { s -= S[r + i * n + j] * S[yc + j]; }
        S[yc + i] = s / S[r + i * n + i];
        Out[oBase + i * k + c] = S[yc + i];
      }
    }
  } else {
    // Aᵀ = Q·R, so A = Rᵀ·Qᵀ: solve Rᵀ·z = B (forward), then X = Q·[z; 0].
    for (var i = 0; i < n * k; i++) { S[y + i] = 0.0; }
    for (var c = 0; c < k; c++) {
      let yc = y + c * n;
      for (var i = 0; i < m; i++) {
        var s = B[bBase + i * k + c];
        for (var j = 0; j < i; j++) { s -= S[r + j * m + i] * S[yc + j]; }
        S[yc + i] = s / S[r + i * m + i];
      }
    }
    for (var j = m - 1; j >= 0; j--) { applyReflector(q, rows, j, S[betas + j], y, k); }
    for (var c = 0; c < k; c++) {
      for (var i = 0; i < n; i++) { Out[oBase + i * k + c] = S[y + c * n + i]; }
    }
  }`);
}

const choleskyKernel: Solver = (backend) => ([a], _attrs, [outType], outs) => {
  const n = a!.shape[a!.shape.length - 1]!;
  const size = sizeOf(outType!.shape);
  const out = outs?.[0] ?? backend.alloc(outType!.dtype, size);
  const count = n === 0 ? 0 : size / (n * n);
  if (count > 0) {
    backend.dispatch({
      key: 'cholesky', code: CHOLESKY, buffers: [a!.storage.buffer, out.buffer],
      uniforms: packParams(['count', 'n', 'k', 'upper'], { count, n, k: 0, upper: 0 }), workgroups: backend.grid(count, WG),
    });
  }
  return [out];
};

/** Shared by solveTriangular and solve: sizes, the broadcast batch layout and its uniforms. */
function solvePlan(a: KernelInput<GpuStorage>, b: KernelInput<GpuStorage>, upper: boolean) {
  const n = a.shape[a.shape.length - 1]!;
  const k = b.shape[b.shape.length - 1]!;
  const layout = matmulBatchLayout(a.shape, b.shape);
  const { names, values } = batchParams(layout);
  const all = ['count', 'n', 'k', 'upper', ...names];
  return { n, k, layout, names, uniforms: (count: number) => packParams(all, { count, n, k, upper: upper ? 1 : 0, ...values }) };
}

const solveTriangularKernel: Solver = (backend) => ([a, b], attrs, [outType], outs) => {
  const plan = solvePlan(a!, b!, attrs['upper'] === true);
  const out = outs?.[0] ?? backend.alloc(outType!.dtype, sizeOf(outType!.shape));
  const count = plan.n === 0 ? 0 : plan.layout.count * plan.k;
  if (count > 0) {
    const rank = plan.layout.dims.length;
    backend.dispatch({
      key: `solveTriangular.r${rank}`, code: cachedCode(`solveTriangular.r${rank}`, () => solveTriangularShader(rank, plan.names)), buffers: [a!.storage.buffer, b!.storage.buffer, out.buffer],
      uniforms: plan.uniforms(count), workgroups: backend.grid(count, WG),
    });
  }
  return [out];
};

const solveKernel: Solver = (backend) => ([a, b], _attrs, [outType], outs) => {
  const plan = solvePlan(a!, b!, false);
  const out = outs?.[0] ?? backend.alloc(outType!.dtype, sizeOf(outType!.shape));
  const count = plan.n === 0 || plan.k === 0 ? 0 : plan.layout.count;
  if (count > 0) {
    const rank = plan.layout.dims.length;
    const scratch = backend.alloc('float32', count * plan.n * plan.n);
    backend.dispatch({
      key: `solve.r${rank}`, code: cachedCode(`solve.r${rank}`, () => solveShader(rank, plan.names)), buffers: [a!.storage.buffer, b!.storage.buffer, scratch.buffer, out.buffer],
      uniforms: plan.uniforms(count), workgroups: backend.grid(count, WG),
    });
    // Safe before the dispatch runs: a reuse of the buffer is recorded after it.
    backend.free(scratch);
  }
  return [out];
};

const lstsqKernel: Solver = (backend) => ([a, b], _attrs, [outType], outs) => {
  const plan = solvePlan(a!, b!, false);
  const m = a!.shape[a!.shape.length - 2]!;
  const out = outs?.[0] ?? backend.alloc(outType!.dtype, sizeOf(outType!.shape));
  const count = plan.n === 0 || plan.k === 0 ? 0 : plan.layout.count;
  if (count > 0) {
    const rank = plan.layout.dims.length;
    const rows = Math.max(m, plan.n), cols = Math.min(m, plan.n);
    const perMatrix = rows * cols + cols * cols + cols + rows * plan.k;
    const scratch = backend.alloc('float32', count * perMatrix);
    const { names, values } = batchParams(plan.layout);
    backend.dispatch({
      key: `lstsq.r${rank}`, code: cachedCode(`lstsq.r${rank}`, () => lstsqShader(rank, names)), buffers: [a!.storage.buffer, b!.storage.buffer, scratch.buffer, out.buffer],
      uniforms: packParams(['count', 'n', 'k', 'upper', 'm', 'S', ...names], { count, n: plan.n, k: plan.k, upper: 0, m, S: perMatrix, ...values }),
      workgroups: backend.grid(count, WG),
    });
    backend.free(scratch);
  }
  return [out];
};

registerWebGpuKernels({ cholesky: choleskyKernel, solveTriangular: solveTriangularKernel, solve: solveKernel, lstsq: lstsqKernel });
