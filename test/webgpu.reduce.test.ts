// WebGPU reductions and softmax (src/runtime/webgpu/kernels/{reduce,softmax}.ts) against
// the reference backend on the same inputs. Tolerance for float sums, products,
// logSumExp and softmax rows of K elements: |gpu − ref| ≤ 1e-5·√K·max(1, |ref|), with
// NaN exactly where the reference has NaN and the same infinities (the reference
// accumulates in float64 and rounds to float32; WGSL has no float64). int32/bool
// results, max/min, argmax/argmin and elementCount are exact.
import { expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { rng } from './support/kernelChecks.js';
import type { GpuStorage } from '../src/runtime/webgpu/index.js';
import { describeWebGpu, gpuBackend } from './support/webgpu.js';
import { withGridLimit } from './support/webgpuGridLimit.js';

type Op = (x: kiln.Tensor) => kiln.Tensor;

/** A reference tensor of `shape` with seeded values: uniform in [lo, hi) (floats) or integers in [lo, hi). */
function input(shape: readonly number[], seed: number, dtype: 'float32' | 'int32' | 'bool' = 'float32', lo = -1, hi = 1): kiln.Tensor {
  const next = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Array.from({ length: n }, () => {
    const u = next();
    if (dtype === 'bool') return u < 0.5 ? 1 : 0;
    return dtype === 'int32' ? Math.floor(lo + u * (hi - lo)) : lo + u * (hi - lo);
  });
  return kiln.tensor(data, { shape, dtype, backend: 'reference' });
}

/** `op` on the webgpu copy of `x` and on `x` itself: [gpu, reference] values, after checking shapes and dtypes agree. */
async function onBoth(x: kiln.Tensor, op: Op): Promise<[ArrayLike<number>, ArrayLike<number>]> {
  const want = op(x);
  const got = op(x.to('webgpu'));
  expect(got.shape).toEqual(want.shape);
  expect(got.dtype).toBe(want.dtype);
  return [await got.data(), want.dataSync()];
}

/** Within `rel`·max(1, |want|) elementwise; NaN where want has NaN; equal infinities. (Checked by hand: one `expect` per element is slow.) */
function expectNear(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    const ok = Number.isFinite(w) ? Math.abs(g - w) <= rel * Math.max(1, Math.abs(w)) : Object.is(g, w);
    if (!ok) expect.fail(`${what}: element ${i} is ${g}, expected ${w} (within ${rel}·max(1, |expected|))`);
  }
}

/** Equal elements (Object.is: NaN equals NaN, +0 differs from −0). */
function expectExact(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) expect.fail(`${what}: element ${i} is ${Object.is(got[i], -0) ? '-0' : got[i]}, expected ${Object.is(want[i], -0) ? '-0' : want[i]}`);
  }
}

const tol = (k: number): number => 1e-5 * Math.sqrt(Math.max(k, 1));

/** Shapes and axes: odd sizes, size-1 dims, negative axes, column reductions, and lengths that need several passes. */
const CASES: { shape: number[]; axes: number | number[] | null; keepDims?: boolean }[] = [
  { shape: [7], axes: null },
  { shape: [3, 5], axes: 0 },
  { shape: [3, 5], axes: -1, keepDims: true },
  { shape: [2, 1, 9], axes: [0, 2] },
  { shape: [4, 3, 5, 2], axes: [1, 3], keepDims: true },
  { shape: [4, 3, 5, 2], axes: [-4, -2] },
  { shape: [1, 1], axes: 0 },
  { shape: [5, 17], axes: 1 },
  { shape: [300, 200], axes: 0 }, // column: one invocation per output, two passes
  { shape: [1000, 70], axes: 0 },
  { shape: [3, 17001], axes: 1 }, // workgroup trees, two passes
  { shape: [2, 70001], axes: null },
  { shape: [37, 3, 129], axes: [0, 2] },
];

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const reducedCount = (shape: readonly number[], axes: number | number[] | null): number => {
  if (axes === null) return sizeOf(shape);
  const list = Array.isArray(axes) ? axes : [axes];
  return list.reduce((a, ax) => a * shape[ax < 0 ? ax + shape.length : ax]!, 1);
};

describeWebGpu('webgpu reductions', () => {
  it('sum, max, min, logSumExp of float32 over any axes agree with the reference', async () => {
    for (const [i, c] of CASES.entries()) {
      const x = input(c.shape, 10 + i);
      const k = reducedCount(c.shape, c.axes);
      const opts = { keepDims: c.keepDims ?? false };
      const what = `[${c.shape}] axes ${JSON.stringify(c.axes)}`;
      const [gs, rs] = await onBoth(x, (t) => t.sum(c.axes, opts));
      expectNear(gs, rs, tol(k), `sum ${what}`);
      const [gm, rm] = await onBoth(x, (t) => t.max(c.axes, opts));
      expectExact(gm, rm, `max ${what}`);
      const [gn, rn] = await onBoth(x, (t) => t.min(c.axes, opts));
      expectExact(gn, rn, `min ${what}`);
      const [gl, rl] = await onBoth(x, (t) => t.logSumExp(c.axes, opts));
      expectNear(gl, rl, tol(k), `logSumExp ${what}`);
    }
  });

  it('prod (values near 1, and with zeros) agrees within the tolerance; int32 products wrap exactly', async () => {
    for (const c of [{ shape: [5, 9], axes: 1 }, { shape: [200, 70], axes: 0 }, { shape: [3, 3000], axes: 1 }] as const) {
      const x = input(c.shape, 3, 'float32', 0.9, 1.1);
      const [g, r] = await onBoth(x, (t) => t.prod(c.axes));
      expectNear(g, r, tol(reducedCount(c.shape as unknown as number[], c.axes)), `prod [${c.shape}]`);
    }
    const z = kiln.tensor([[2, 0, 3], [0, -0, 1], [-2, 4, 0.5]], { backend: 'reference' });
    const [gz, rz] = await onBoth(z, (t) => t.prod(1));
    expectExact(gz, rz, 'prod with zeros');
    const xi = input([4, 40], 4, 'int32', -50, 50);
    const [gi, ri] = await onBoth(xi, (t) => t.prod(1));
    expectExact(gi, ri, 'int32 prod (wraps)');
  });

  it('int32 and bool reductions are exact (int32 sums wrap; bool sums count in int32)', async () => {
    const big = kiln.tensor([[2 ** 30, 2 ** 30, 2 ** 30, 5], [-(2 ** 31), -1, 7, 0]], { dtype: 'int32', backend: 'reference' });
    for (const op of [(t: kiln.Tensor) => t.sum(1), (t: kiln.Tensor) => t.sum(0), (t: kiln.Tensor) => t.sum()]) {
      const [g, r] = await onBoth(big, op);
      expectExact(g, r, 'int32 sum');
    }
    const xi = input([33, 300], 5, 'int32', -1000, 1000);
    for (const op of [(t: kiln.Tensor) => t.sum(0), (t: kiln.Tensor) => t.max(1), (t: kiln.Tensor) => t.min(0), (t: kiln.Tensor) => t.argmax(0), (t: kiln.Tensor) => t.argmin(1)]) {
      const [g, r] = await onBoth(xi, op);
      expectExact(g, r, 'int32 reduction');
    }
    const xb = input([9, 130], 6, 'bool');
    for (const op of [(t: kiln.Tensor) => t.sum(1), (t: kiln.Tensor) => t.sum(0), (t: kiln.Tensor) => t.max(1), (t: kiln.Tensor) => t.min(0), (t: kiln.Tensor) => t.argmax(1), (t: kiln.Tensor) => t.prod(0)]) {
      const [g, r] = await onBoth(xb, op);
      expectExact(g, r, 'bool reduction');
    }
    // int32 logSumExp gives float32.
    const [gl, rl] = await onBoth(input([5, 21], 7, 'int32', -20, 20), (t) => t.logSumExp(1));
    expectNear(gl, rl, tol(21), 'int32 logSumExp');
  });

  it('NaN propagates through max/min/sum/logSumExp; +0/−0 as Math.max/min; infinities', async () => {
    const nan = NaN, inf = Infinity;
    // Rows: NaN late, NaN first, ±0 only, +inf and −inf (sum NaN), all −inf, a long row with one NaN.
    const rows = [
      [1, 2, nan, 3],
      [nan, -5, 4, 2],
      [-0, 0, -0, -0],
      [-0, -0, -0, -0],
      [inf, -inf, 1, 2],
      [-inf, -inf, -inf, -inf],
      [inf, 1, inf, 0],
    ];
    const x = kiln.tensor(rows, { backend: 'reference' });
    for (const [name, op] of [['max', (t: kiln.Tensor) => t.max(1)], ['min', (t: kiln.Tensor) => t.min(1)], ['max0', (t: kiln.Tensor) => t.max(0)], ['min0', (t: kiln.Tensor) => t.min(0)],
      ['sum', (t: kiln.Tensor) => t.sum(1)], ['logSumExp', (t: kiln.Tensor) => t.logSumExp(1)], ['argmax', (t: kiln.Tensor) => t.argmax(1)], ['argmin', (t: kiln.Tensor) => t.argmin(1)],
      ['argmax0', (t: kiln.Tensor) => t.argmax(0)], ['argmin0', (t: kiln.Tensor) => t.argmin(0)]] as const) {
      const [g, r] = await onBoth(x, op);
      if (name === 'logSumExp' || name === 'sum') expectNear(g, r, tol(4), name);
      else expectExact(g, r, name);
    }
    // A long row (a tree of 256 invocations) with one NaN near the end, and one with a +0 among −0s.
    const long = input([2, 9000], 7).dataSync().slice();
    long[8990] = nan;
    long.fill(-0, 9000, 18000);
    long[17001] = 0;
    const xl = kiln.tensor(long, { shape: [2, 9000], backend: 'reference' });
    for (const op of [(t: kiln.Tensor) => t.max(1), (t: kiln.Tensor) => t.min(1), (t: kiln.Tensor) => t.argmax(1), (t: kiln.Tensor) => t.argmin(1)]) {
      const [g, r] = await onBoth(xl, op);
      expectExact(g, r, 'long row with NaN / signed zeros');
    }
  });

  it('argmax/argmin: the first extreme, along any axis or flattened, keepDims, over several passes', async () => {
    // Few distinct values: many ties, so the first index must win.
    const x = input([6, 5, 700], 8, 'int32', 0, 4).cast('float32');
    for (const axis of [0, 1, 2, -1, null] as const) {
      for (const keepDims of [false, true]) {
        for (const op of ['argmax', 'argmin'] as const) {
          const [g, r] = await onBoth(x, (t) => t[op](axis, { keepDims }));
          expectExact(g, r, `${op} axis ${axis} keepDims ${keepDims}`);
        }
      }
    }
    const long = input([3, 20000], 9, 'int32', 0, 1000).cast('float32');
    for (const op of ['argmax', 'argmin'] as const) {
      const [g, r] = await onBoth(long, (t) => t[op](1));
      expectExact(g, r, `${op} long rows`);
      const [gc, rc] = await onBoth(long, (t) => t[op](0));
      expectExact(gc, rc, `${op} columns`);
    }
    const [gs, rs] = await onBoth(kiln.tensor(3.5, { backend: 'reference' }), (t) => t.argmax());
    expectExact(gs, rs, 'argmax of a scalar');
  });

  it('empty tensors: sum is 0, prod 1, logSumExp −inf; empty outputs; elementCount reads the shape', async () => {
    const e = kiln.zeros([0, 3], { backend: 'reference' });
    for (const op of [(t: kiln.Tensor) => t.sum(0), (t: kiln.Tensor) => t.prod(0), (t: kiln.Tensor) => t.logSumExp(0), (t: kiln.Tensor) => t.sum(1), (t: kiln.Tensor) => t.max(1), (t: kiln.Tensor) => t.sum()]) {
      const [g, r] = await onBoth(e, op);
      expectExact(g, r, 'empty');
    }
    const ei = kiln.zeros([2, 0], { dtype: 'int32', backend: 'reference' });
    const [gi, ri] = await onBoth(ei, (t) => t.sum(1));
    expectExact(gi, ri, 'empty int32 sum');
    // elementCount (mean's divisor) reads only the shape.
    for (const [dtype, axes] of [['float32', [0, 2]], ['int32', [1]], ['float32', []]] as const) {
      const [gc, rc] = await onBoth(input([4, 6, 5], 11), (t) => t.applyOp('elementCount', [], { axes: [...axes], dtype })[0]!);
      expectExact(gc, rc, `elementCount ${dtype} [${axes}]`);
    }
  });
});

describeWebGpu('webgpu reductions: split grids, pipelines across sizes, caller-given outputs', () => {
  it('grids split over x and y (limit lowered to 3 workgroups per dimension, so small shapes split with overhang)', async () => {
    // The real limit (65535) splits the same way: test/webgpu.shape.test.ts dispatches past it.
    await withGridLimit(3, async () => {
      for (const [shape, axes] of [[[37, 200], 1], [[300, 70], 0], [[23, 5], null]] as const) {
        const x = input(shape, 43);
        const [g, r] = await onBoth(x, (t) => t.sum(axes));
        expectNear(g, r, tol(reducedCount(shape as unknown as number[], axes)), `sum [${shape}] on a split grid`);
        const [ga, ra] = await onBoth(x, (t) => t.argmin(axes === null ? null : axes));
        expectExact(ga, ra, `argmin [${shape}] on a split grid`);
      }
      for (const [shape, axis] of [[[37, 40], 1], [[300, 5], 1], [[7, 11, 3], 1]] as const) {
        const x = input(shape, 44);
        const [g, r] = await onBoth(x, (t) => t.logSoftmax(axis));
        expectNear(g, r, tol(shape[axis]), `logSoftmax [${shape}] on a split grid`);
      }
    });
  });

  it('column sums (bias gradients), row sums and softmax keep their pipelines across batch sizes 5 to 256', async () => {
    const backend = gpuBackend();
    const step = async (b: number) => {
      for (const features of [10, 100]) {
        const x = input([b, features], b).to('webgpu');
        await x.sum(0).data();
        await x.sum(1).data();
        await x.softmax(-1).data();
      }
    };
    await step(5);
    const warm = backend.stats.pipelines;
    for (const b of [16, 17, 64, 255, 256]) await step(b);
    expect(backend.stats.pipelines).toBe(warm);
  });

  it('writes into caller-given outputs (execution plan buffers) and returns them', async () => {
    const backend = gpuBackend();
    const ref = input([6, 50], 41);
    const x = ref.to('webgpu');
    const given = backend.alloc('float32', 6);
    const outs = backend.kernels.get('sum')!([{ storage: x.storage as GpuStorage, shape: x.shape, dtype: 'float32' }], { axes: [1], keepDims: false }, [{ shape: [6], dtype: 'float32' }], [given]);
    expect(outs[0]).toBe(given);
    const got = await backend.readAsync(given);
    expectNear(got, ref.sum(1).dataSync(), tol(50), 'sum into a given output');
    backend.free(given);
  });
});

describeWebGpu('webgpu softmax', () => {
  it('softmax and logSoftmax along any axis (short rows, long rows, strided axes) agree with the reference', async () => {
    const cases: [number[], number][] = [[[3, 5], -1], [[3, 5], 0], [[2, 7, 3], 1], [[4, 33], 1], [[2, 3000], 1], [[70, 40], 0], [[1, 1], 0], [[5, 1, 300], 0]];
    for (const [i, [shape, axis]] of cases.entries()) {
      const x = input(shape, 20 + i, 'float32', -8, 8);
      const n = shape[axis < 0 ? axis + shape.length : axis]!;
      const [g, r] = await onBoth(x, (t) => t.softmax(axis));
      expectNear(g, r, tol(n), `softmax [${shape}] axis ${axis}`);
      const [gl, rl] = await onBoth(x, (t) => t.logSoftmax(axis));
      expectNear(gl, rl, tol(n), `logSoftmax [${shape}] axis ${axis}`);
    }
    // Far from 0: (x − max) − log Σ keeps the small outputs accurate where x − (max + log Σ) would round at the ulp of 1e5 (0.008).
    for (const offset of [1e5, -3e5]) {
      const x = input([4, 37], 31, 'float32', offset - 3, offset + 3);
      const [gl, rl] = await onBoth(x, (t) => t.logSoftmax(-1));
      expectNear(gl, rl, tol(37), `logSoftmax of values near ${offset}`);
      const [gs, rs] = await onBoth(x, (t) => t.softmax(-1));
      expectNear(gs, rs, tol(37), `softmax of values near ${offset}`);
      const [ge, re] = await onBoth(x, (t) => t.logSumExp(-1));
      expectNear(ge, re, tol(37), `logSumExp of values near ${offset}`);
    }
  });

  it('NaN in a row makes the row NaN; −inf elements give 0 (softmax) and −inf (logSoftmax); empty tensors', async () => {
    const rows = [[1, NaN, 2], [-Infinity, 0, 1], [5, 5, 5], [-Infinity, -Infinity, -Infinity], [Infinity, 1, 2]];
    const x = kiln.tensor(rows, { backend: 'reference' });
    const [g, r] = await onBoth(x, (t) => t.softmax(1));
    expectNear(g, r, tol(3), 'softmax specials');
    const [gl, rl] = await onBoth(x, (t) => t.logSoftmax(1));
    expectNear(gl, rl, tol(3), 'logSoftmax specials');
    // Long rows (workgroup path) with a NaN.
    const long = input([2, 500], 30).dataSync().slice();
    long[777] = NaN;
    const xl = kiln.tensor(long, { shape: [2, 500], backend: 'reference' });
    const [gn, rn] = await onBoth(xl, (t) => t.softmax(1));
    expectNear(gn, rn, tol(500), 'softmax long row with NaN');
    const [ge, re] = await onBoth(kiln.zeros([0, 4], { backend: 'reference' }), (t) => t.softmax(1));
    expectExact(ge, re, 'empty softmax');
  });
});
