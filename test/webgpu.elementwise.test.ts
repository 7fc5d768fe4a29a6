/**
 * Every elementwise webgpu kernel against the reference backend, on inputs with NaN,
 * ±Inf, ±0, subnormals, huge and tiny values, at odd sizes (131, size-1 dims) and under
 * broadcasting (same-shape, scalar and strided operands), for float32, int32 and bool.
 *
 * Tolerances (float32 units in the last place of the float32-rounded reference):
 * - exact (0 ulp, ±0 told apart) for arithmetic (neg abs square sign relu clip add sub
 *   mul div maximum minimum reciprocal sqrt pow with exponents 0.5/1/2/-1), comparisons,
 *   logical ops, where, cast and copy. WGSL allows 2.5 ulp for division and sqrt on real
 *   GPUs; lavapipe (LLVM on the CPU) rounds them correctly, which these tests pin.
 * - rsqrt: 1 ulp (1/sqrt(x) rounds twice).
 * - transcendentals (WGSL builtins exp/log/sin/cos/tanh/exp2/log2 and Kiln's log1p,
 *   expm1, erf, sigmoid, softplus, elu, pow built on them): the `ULPS` table below, a
 *   few ulp each, or the absolute bound given where the result is near 0 (sin/cos near
 *   their roots, erf's series); ±Inf and NaN must match exactly.
 */
import { beforeAll, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { applyOp } from '../src/eager/dispatch.js';
import type { Attrs, DType, TypedArray } from '../src/ir/index.js';
import { describeWebGpu, expectUlps, gpuBackend, onGpu, onReference } from './support/webgpu.js';
import type { GpuStorage } from '../src/runtime/webgpu/index.js';
import { rng } from './support/kernelChecks.js';

beforeAll(async () => {
  await kiln.init({ backend: 'reference' });
});

const SPECIALS = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, -0.5, 2, -2, 3, 1e-45, -1e-40, 1e-30, 1e30, -1e30, 3.4e38, 88.7, -87.3, 1e-7, -1e-7, 20, -20, 9.5, 0.75];

/** `n` float32 values: the specials, then uniform values in [lo, hi). */
function floats(n: number, seed: number, lo = -10, hi = 10): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = i < SPECIALS.length ? SPECIALS[i]! : lo + (hi - lo) * r();
  return out;
}

/** `n` int32 values: 0, ±1, the int32 extremes (unless `extremes` is false), ±7, then uniform in [lo, hi). */
function ints(n: number, seed: number, lo = -50, hi = 50, extremes = true): Int32Array {
  const r = rng(seed);
  const special = extremes ? [0, 1, -1, 2147483647, -2147483648, 7, -7] : [0, 1, -1, 7, -7];
  return Int32Array.from({ length: n }, (_, i) => (i < special.length ? special[i]! : Math.floor(lo + (hi - lo) * r())));
}

function bools(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0));
}

interface Operand { readonly data: TypedArray; readonly shape: readonly number[]; readonly dtype: DType }

/** Runs `op` on both backends; checks dtype, shape and the elements within `ulps` (and `abs`). */
async function agree(op: string, operands: readonly Operand[], attrs: Attrs, ulps: number, abs?: number): Promise<void> {
  const want = applyOp(op, operands.map((o) => onReference(o.data, o.shape, o.dtype)), attrs)[0]!;
  const got = applyOp(op, operands.map((o) => onGpu(o.data, o.shape, o.dtype)), attrs)[0]!;
  const what = `${op}(${operands.map((o) => `${o.dtype}[${o.shape.join(',')}]`).join(', ')}) ${JSON.stringify(attrs)}`;
  expect(got.dtype, what).toBe(want.dtype);
  expect(got.shape, what).toEqual(want.shape);
  const g = await got.data();
  const w = want.dataSync();
  const inputs = (i: number): string => operands.map((o) => (o.data.length === w.length ? String(o.data[i]) : '…')).join(', ');
  if (want.dtype === 'float32') expectUlps(g, w, ulps, what, { signedZero: ulps === 0, abs, inputs });
  else expect(Array.from(g), what).toEqual(Array.from(w));
}

const N = 131;

/** Ulps allowed per transcendental (see the header); [ulps, absolute] where near-0 results need it. */
const ULPS: Record<string, [number, number?]> = {
  exp: [2], log: [2], log1p: [2], sin: [2, 1e-7], cos: [2, 1e-7], sigmoid: [2], tanh: [2],
  elu: [2], softplus: [2], erf: [2], rsqrt: [1],
  // alpha·x: the reference multiplies by the float64 alpha, the GPU by alpha rounded to float32.
  leakyRelu: [1],
};

describeWebGpu('webgpu elementwise kernels', () => {
  it('unary float ops match the reference (NaN, ±Inf, ±0 included)', async () => {
    const x = floats(N, 1);
    const wide = floats(N, 2, -100, 100);
    const cases: [string, Attrs][] = [
      ['neg', {}], ['abs', {}], ['square', {}], ['sign', {}], ['relu', {}], ['reciprocal', {}], ['sqrt', {}], ['rsqrt', {}],
      ['exp', {}], ['log', {}], ['log1p', {}], ['sin', {}], ['cos', {}], ['sigmoid', {}], ['tanh', {}], ['erf', {}],
      ['leakyRelu', { alpha: 0.1 }], ['elu', { alpha: 1.3 }], ['softplus', { beta: 1, threshold: 20 }], ['softplus', { beta: 2, threshold: 5 }],
      ['clip', { min: -1, max: 2.5 }], ['clip', { min: null, max: 0.5 }], ['clip', { min: 0, max: null }], ['copy', {}],
    ];
    // sin/cos are WGSL's builtins, whose argument reduction is exact only so far (on
    // lavapipe: ≤ 1 ulp up to |x| = 1e5; at 1e30 it is garbage): finite |x| > 1e5 is left out.
    const reducible = (v: Float32Array) => v.map((e) => (Number.isFinite(e) && Math.abs(e) > 1e5 ? 0.5 : e));
    for (const [op, attrs] of cases) {
      const [ulps, abs] = ULPS[op] ?? [0];
      const trig = op === 'sin' || op === 'cos';
      await agree(op, [{ data: trig ? reducible(x) : x, shape: [N], dtype: 'float32' }], attrs, ulps, abs);
      await agree(op, [{ data: trig ? reducible(wide) : wide, shape: [1, N, 1], dtype: 'float32' }], attrs, ulps, abs);
    }
    await agree('sin', [{ data: reducible(floats(N, 46, -1e5, 1e5)), shape: [N], dtype: 'float32' }], {}, 2, 1e-7);
  });

  it('binary float ops: same shape, scalar and broadcast operands', async () => {
    const a = floats(N, 3);
    const b = floats(N, 4).reverse();
    const row = floats(5, 5, -3, 3), col = floats(7, 6, -3, 3);
    for (const op of ['add', 'sub', 'mul', 'div', 'maximum', 'minimum']) {
      await agree(op, [{ data: a, shape: [N], dtype: 'float32' }, { data: b, shape: [N], dtype: 'float32' }], {}, 0);
      await agree(op, [{ data: a, shape: [N], dtype: 'float32' }, { data: new Float32Array([NaN]), shape: [], dtype: 'float32' }], {}, 0);
      await agree(op, [{ data: new Float32Array([-0]), shape: [1], dtype: 'float32' }, { data: a, shape: [N, 1], dtype: 'float32' }], {}, 0);
      await agree(op, [{ data: col, shape: [7, 1], dtype: 'float32' }, { data: row, shape: [1, 5], dtype: 'float32' }], {}, 0);
      await agree(op, [{ data: row, shape: [5], dtype: 'float32' }, { data: floats(35, 7), shape: [7, 1, 5], dtype: 'float32' }], {}, 0);
    }
    // Ties and signed zeros: maximum/minimum take the second operand unless the first wins strictly.
    const z = { data: new Float32Array([0, -0, 1, NaN, 2]), shape: [5], dtype: 'float32' as const };
    const w = { data: new Float32Array([-0, 0, 1, 1, NaN]), shape: [5], dtype: 'float32' as const };
    await agree('maximum', [z, w], {}, 0);
    await agree('minimum', [z, w], {}, 0);
  });

  it('pow follows Math.pow: special cases exact, small integer exponents by squaring, others within 8 ulp', async () => {
    const bases = [0, -0, 1, -1, 2, -2, 0.5, -0.5, Infinity, -Infinity, NaN, 3, -3, 10, 1e-3];
    const exps = [0, -0, 1, -1, 2, -2, 3, -3, 0.5, -0.5, 1.5, Infinity, -Infinity, NaN, 4, 7];
    const xs = new Float32Array(bases.length * exps.length), ys = new Float32Array(xs.length);
    bases.forEach((x, i) => exps.forEach((y, j) => { xs[i * exps.length + j] = x; ys[i * exps.length + j] = y; }));
    await agree('pow', [{ data: xs, shape: [xs.length], dtype: 'float32' }, { data: ys, shape: [ys.length], dtype: 'float32' }], {}, 2);
    const pos = floats(N, 8, 0.1, 4).map((v) => (Number.isFinite(v) && v > 0 ? v : 1.5));
    for (const e of [2, 0.5, -1, 1]) await agree('pow', [{ data: pos, shape: [N], dtype: 'float32' }, { data: new Float32Array([e]), shape: [], dtype: 'float32' }], {}, 0);
    // exp(y·ln x) with ln x in two parts: the error grows as |y|/2 ulp (ln x's low part is
    // float32): within 8 ulp for |y| ≤ 8.
    const moderate = floats(N, 9, -3, 3).map((v) => (Number.isFinite(v) && Math.abs(v) <= 8 ? v : 2.5));
    await agree('pow', [{ data: pos, shape: [N], dtype: 'float32' }, { data: moderate, shape: [N], dtype: 'float32' }], {}, 8);
    // int32 powers wrap like the reference's (exact in float64, then modulo 2^32, below 2^53).
    await agree('pow', [{ data: ints(N, 10, -5, 6, false), shape: [N], dtype: 'int32' }, { data: ints(N, 11, -2, 20, false), shape: [N], dtype: 'int32' }], {}, 0);
  });

  it('comparisons and logical ops give bool; NaN compares false (notEqual true)', async () => {
    const a = floats(N, 12, -2, 2).map((v, i) => (i % 5 === 0 ? Math.round(v) : v));
    const b = floats(N, 13, -2, 2).reverse().map((v, i) => (i % 5 === 0 ? Math.round(v) : v));
    for (const op of ['equal', 'notEqual', 'less', 'lessEqual', 'greater', 'greaterEqual', 'logicalAnd', 'logicalOr']) {
      await agree(op, [{ data: a, shape: [N], dtype: 'float32' }, { data: b, shape: [N], dtype: 'float32' }], {}, 0);
      await agree(op, [{ data: a, shape: [N, 1], dtype: 'float32' }, { data: new Float32Array([NaN, 0, 1]), shape: [3], dtype: 'float32' }], {}, 0);
      await agree(op, [{ data: ints(N, 14, -3, 3), shape: [N], dtype: 'int32' }, { data: a, shape: [N], dtype: 'float32' }], {}, 0);
      await agree(op, [{ data: bools(N, 15), shape: [N], dtype: 'bool' }, { data: bools(N, 16), shape: [N], dtype: 'bool' }], {}, 0);
    }
    await agree('logicalNot', [{ data: a, shape: [N], dtype: 'float32' }], {}, 0);
    await agree('logicalNot', [{ data: bools(N, 17), shape: [N], dtype: 'bool' }], {}, 0);
  });

  it('int32 arithmetic wraps like the reference; int inputs of float ops give float32', async () => {
    const a = ints(N, 18), b = ints(N, 19).reverse();
    for (const op of ['add', 'sub', 'maximum', 'minimum']) {
      await agree(op, [{ data: a, shape: [N], dtype: 'int32' }, { data: b, shape: [N], dtype: 'int32' }], {}, 0);
    }
    // mul: products within 2^53 (the reference multiplies in float64, then wraps).
    const small = ints(N, 20, -40000, 40000, false);
    await agree('mul', [{ data: small, shape: [N], dtype: 'int32' }, { data: ints(N, 21, -40000, 40000), shape: [N], dtype: 'int32' }], {}, 0);
    await agree('div', [{ data: a, shape: [N], dtype: 'int32' }, { data: ints(N, 22, -3, 4), shape: [N], dtype: 'int32' }], {}, 0);
    for (const [op, attrs] of [['neg', {}], ['abs', {}], ['sign', {}], ['relu', {}], ['clip', { min: -3.5, max: 20 }], ['copy', {}]] as [string, Attrs][]) {
      await agree(op, [{ data: a, shape: [N], dtype: 'int32' }], attrs, 0);
    }
    await agree('square', [{ data: small, shape: [N], dtype: 'int32' }], {}, 0);
    await agree('exp', [{ data: ints(N, 23, -20, 20), shape: [N], dtype: 'int32' }], {}, 2);
    await agree('sqrt', [{ data: ints(N, 24, -5, 1000), shape: [N], dtype: 'int32' }], {}, 0);
    // Mixed dtypes promote: int32 + float32 → float32 (small ints: exact in float32).
    await agree('add', [{ data: ints(N, 25), shape: [N], dtype: 'int32' }, { data: floats(N, 26), shape: [N], dtype: 'float32' }], {}, 0);
    await agree('mul', [{ data: bools(N, 27), shape: [N, 1], dtype: 'bool' }, { data: ints(3, 28), shape: [3], dtype: 'int32' }], {}, 0);
  });

  it('where broadcasts condition and both branches, promoting int32/float32', async () => {
    const c = bools(N * 3, 29);
    await agree('where', [{ data: c, shape: [N, 3], dtype: 'bool' }, { data: floats(N * 3, 30), shape: [N, 3], dtype: 'float32' }, { data: new Float32Array([-0]), shape: [], dtype: 'float32' }], {}, 0);
    await agree('where', [{ data: bools(3, 31), shape: [3], dtype: 'bool' }, { data: floats(N, 32), shape: [N, 1], dtype: 'float32' }, { data: ints(N * 3, 33), shape: [1, N, 3], dtype: 'int32' }], {}, 0);
    await agree('where', [{ data: bools(N, 34), shape: [N, 1, 1], dtype: 'bool' }, { data: ints(2, 35), shape: [2, 1], dtype: 'int32' }, { data: ints(5, 36), shape: [5], dtype: 'int32' }], {}, 0);
  });

  it('cast: float → int32 truncates and saturates (NaN → 0), → bool is ≠ 0 (NaN true)', async () => {
    const x = new Float32Array([...floats(N, 37, -1e3, 1e3), 2147483648, -2147483904, 2147483520, 3.7, -3.7, -0.5, 0.99]);
    const shape = [x.length];
    for (const to of ['int32', 'bool', 'float32'] as const) await agree('cast', [{ data: x, shape, dtype: 'float32' }], { dtype: to }, 0);
    for (const to of ['float32', 'bool', 'int32'] as const) await agree('cast', [{ data: ints(N, 38, -1 << 24, 1 << 24), shape: [N], dtype: 'int32' }], { dtype: to }, 0);
    for (const to of ['float32', 'int32', 'bool'] as const) await agree('cast', [{ data: bools(N, 39), shape: [N], dtype: 'bool' }], { dtype: to }, 0);
  });

  it('empty tensors, size-1 dims and a rank-6 broadcast', async () => {
    await agree('add', [{ data: new Float32Array(0), shape: [0, 3], dtype: 'float32' }, { data: floats(3, 40), shape: [3], dtype: 'float32' }], {}, 0);
    await agree('exp', [{ data: new Float32Array(0), shape: [2, 0], dtype: 'float32' }], {}, 0);
    await agree('mul', [{ data: floats(1, 41), shape: [1, 1, 1], dtype: 'float32' }, { data: floats(1, 42), shape: [1], dtype: 'float32' }], {}, 0);
    await agree('sub', [{ data: floats(2 * 3 * 5, 43), shape: [2, 1, 3, 1, 5, 1], dtype: 'float32' }, { data: floats(2 * 3 * 2, 44), shape: [2, 1, 3, 1, 2], dtype: 'float32' }], {}, 0);
  });

  it('honours caller-given outputs, in place too (the output is an input\'s own buffer)', async () => {
    const b = gpuBackend();
    const io = (t: kiln.Tensor) => ({ storage: t.storage as GpuStorage, shape: t.shape, dtype: t.dtype });
    const type = [{ shape: [5], dtype: 'float32' as const }];
    const x = onGpu([1, 2, 3, NaN, -0], [5]), w = onGpu([10], []);
    const given = b.alloc('float32', 5);
    const [y] = b.kernels.get('add')!([io(x), io(w)], {}, type, [given]);
    expect(y).toBe(given);
    expectUlps(await b.readAsync(given), new Float32Array([11, 12, 13, NaN, 10]), 0, 'add into a given output', { signedZero: true });
    // In place as the second operand, the first read as a scalar: x := 10 − x.
    const [z] = b.kernels.get('sub')!([io(w), io(x)], {}, type, [x.storage as GpuStorage]);
    expect(z).toBe(x.storage);
    expectUlps(await x.data(), new Float32Array([9, 8, 7, NaN, 10]), 0, 'sub in place', { signedZero: true });
    // Both operands the output's buffer: x := x · x.
    b.kernels.get('mul')!([io(x), io(x)], {}, type, [x.storage as GpuStorage]);
    expectUlps(await x.data(), new Float32Array([81, 64, 49, NaN, 100]), 0, 'mul in place');
    // An output aliasing a broadcast operand cannot be written in place: a fresh one is returned.
    const row = onGpu([1, 2], [1, 2]), col = onGpu([10, 20], [2, 1]);
    const [fresh] = b.kernels.get('add')!([io(row), io(col)], {}, [{ shape: [2, 2], dtype: 'float32' }], [row.storage as GpuStorage]);
    expect(fresh).not.toBe(row.storage);
    expect(Array.from(await b.readAsync(fresh!))).toEqual([11, 12, 21, 22]);
    b.free(fresh!);
    b.free(given);
  });

  it('gradients flow on webgpu: d/dx sum(x · sigmoid(x)) matches the reference', async () => {
    const xs = floats(N, 45, -4, 4).map((v) => (Number.isFinite(v) && Math.abs(v) < 50 ? v : 0.25));
    const run = (backend: 'webgpu' | 'reference') => {
      const x = kiln.tensor(Array.from(xs), { shape: [N], backend, requiresGrad: true });
      const y = x.mul(x.sigmoid());
      y.sum().backward();
      return x.grad!;
    };
    const want = run('reference').dataSync();
    const got = await run('webgpu').data();
    expectUlps(got, want, 8, 'x·sigmoid(x) gradient');
  });
});
