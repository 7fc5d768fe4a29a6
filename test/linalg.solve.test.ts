/**
 * kiln.linalg beyond the golden table (test/golden/cases/linalg.py): errors for
 * non-square, singular, not positive-definite and rank-deficient inputs (naming the op,
 * the shapes and the batch element), NaN propagation, empty matrices, larger random
 * systems on both backends checked by their defining equations, second derivatives by
 * finite differences, and a compiled solve.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';

const BACKENDS = ['reference', 'wasm'] as const;

beforeAll(async () => {
  await kiln.init();
});

/** Largest |a − b| / max(1, |b|). */
function relErr(a: kiln.Tensor, b: kiln.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const x = a.dataSync(), y = b.dataSync();
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!) / Math.max(1, Math.abs(y[i]!)));
  return worst;
}

/** A random SPD matrix M·Mᵀ + n·I of shape [...batch, n, n]. */
function spd(shape: number[], backend: kiln.BackendName, seed: number): kiln.Tensor {
  const n = shape[shape.length - 1]!;
  const m = kiln.randn(shape, { seed, backend });
  return m.matmul(m.transpose(-2, -1)).add(kiln.eye(n, n, { backend }).mul(n));
}

describe('linalg errors', () => {
  it('non-square input names the op and the shape', () => {
    expect(() => kiln.linalg.cholesky(kiln.zeros([2, 3]))).toThrow(/^cholesky: A must be a square matrix or a batch of them \[\.\.\., n, n\], got shape \[2, 3\]/);
    expect(() => kiln.linalg.solve(kiln.zeros([3, 2]), kiln.zeros([3, 1]))).toThrow(/^solve: A must be a square matrix.*got shape \[3, 2\] \(inputs: float32\[3, 2\], float32\[3, 1\]\)/);
    expect(() => kiln.linalg.cholesky(kiln.zeros([3]))).toThrow(/cholesky: A must be a square matrix.*got shape \[3\]/);
    expect(() => kiln.linalg.solveTriangular(kiln.zeros([2, 2, 3]), kiln.zeros([2, 1]), { upper: true })).toThrow(/solveTriangular: A must be a square matrix/);
  });

  it('mismatched rows, unbroadcastable batches, dtypes and argument types', () => {
    expect(() => kiln.linalg.solve(kiln.eye(3), kiln.zeros([4, 2]))).toThrow(/solve: A \[3, 3\] has 3 rows but B \[4, 2\] has 4/);
    expect(() => kiln.linalg.lstsq(kiln.zeros([5, 2]), kiln.zeros([4]))).toThrow(/lstsq: A \[5, 2\] has 5 rows but B \[4, 1\] has 4/);
    expect(() => kiln.linalg.solve(kiln.zeros([2, 3, 3]), kiln.zeros([4, 3, 1]))).toThrow(/solve: batch dimensions \[2\] of A \[2, 3, 3\] and \[4\] of B \[4, 3, 1\] cannot be broadcast together/);
    expect(() => kiln.linalg.cholesky(kiln.eye(2, 2, { dtype: 'int32' }))).toThrow(/cholesky: A must be floating-point \(float32 or float64\), got int32/);
    expect(() => kiln.linalg.solve(kiln.eye(2), kiln.zeros([2], { dtype: 'int32' }))).toThrow(/solve: A and B must have the same dtype, got float32 and int32/);
    expect(() => kiln.linalg.solve(kiln.eye(2), [1, 2] as unknown as kiln.Tensor)).toThrow(/solve: B must be a Tensor, got an array/);
    expect(() => kiln.linalg.solveTriangular(kiln.eye(2), kiln.ones([2, 1]), {} as { upper: boolean })).toThrow(/solveTriangular: needs \{ upper: true \} or \{ upper: false \}/);
    expect(() => kiln.linalg.choleskySolve(kiln.ones([3]), kiln.eye(2))).toThrow(/choleskySolve: L \[2, 2\] has 2 rows but B \[3, 1\] has 3/);
    expect(() => kiln.tril(kiln.ones([3]))).toThrow(/tril: input must have at least 2 dimensions, got shape \[3\]/);
    expect(() => kiln.triu(kiln.ones([3, 3]), 0.5)).toThrow(/triu: diagonal must be an integer, got 0.5/);
  });

  for (const backend of BACKENDS) {
    describe(backend, () => {
      it('cholesky of a matrix that is not positive-definite names the leading minor (as PyTorch) and the batch element', () => {
        const notPd = kiln.tensor([[1, 2], [2, 1]], { backend });
        expect(() => kiln.linalg.cholesky(notPd)).toThrow(/^cholesky: the input is not positive-definite: its leading minor of order 2 is not positive \(inputs: float32\[2, 2\]\)/);
        const batch = kiln.stack([kiln.eye(3, 3, { backend }), kiln.eye(3, 3, { backend }), kiln.tensor([[1, 0, 0], [0, 0, 0], [0, 0, 1]], { backend })]).reshape([3, 1, 3, 3]);
        expect(() => kiln.linalg.cholesky(batch)).toThrow(/leading minor of order 2 is not positive \(batch element \[2, 0\]\)/);
        expect(() => kiln.linalg.cholesky(kiln.tensor([[NaN, 0], [0, 1]], { backend }))).toThrow(/cholesky: the input has non-finite elements/);
      });

      it('solve refuses an exactly singular and a numerically singular matrix', () => {
        const b = kiln.ones([3, 1], { backend });
        expect(() => kiln.linalg.solve(kiln.tensor([[1, 2], [2, 4]], { backend }), kiln.ones([2], { backend }))).toThrow(/^solve: A is singular to working precision: pivot 1 of its LU factorization is zero/);
        // Rank 2 in exact arithmetic; LU in float64 leaves a pivot of 1e-16, where LAPACK
        // would return entries of size 1e16.
        expect(() => kiln.linalg.solve(kiln.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]], { backend }), b)).toThrow(/singular to working precision: pivot 2 of its LU factorization is 1\.\d+e-16 ≤ n·2⁻⁵²·max\|A\|/);
        expect(() => kiln.linalg.solve(kiln.zeros([2, 3, 3], { backend }), b)).toThrow(/pivot 0 of its LU factorization is zero \(batch element \[0\]\)/);
      });

      it('solveTriangular refuses a zero diagonal; lstsq a rank-deficient A', () => {
        expect(() => kiln.linalg.solveTriangular(kiln.tensor([[1, 0], [5, 0]], { backend }), kiln.ones([2, 1], { backend }), { upper: false })).toThrow(/solveTriangular: the triangular matrix is singular: diagonal element 1 is zero/);
        expect(() => kiln.linalg.lstsq(kiln.tensor([[1, 2], [2, 4], [3, 6]], { backend }), kiln.ones([3], { backend }))).toThrow(/^lstsq: A is rank-deficient: column 1 is a combination of the ones before it/);
        expect(() => kiln.linalg.lstsq(kiln.tensor([[1, 2, 3], [2, 4, 6]], { backend }), kiln.ones([2], { backend }))).toThrow(/lstsq: A is rank-deficient: row 1/);
      });

      it('NaN in A gives NaN, not an error (solve, lstsq)', () => {
        const a = kiln.tensor([[NaN, 1], [1, 2]], { backend });
        expect([...kiln.linalg.solve(a, kiln.ones([2], { backend })).dataSync()].every(Number.isNaN)).toBe(true);
        expect([...kiln.linalg.lstsq(a, kiln.ones([2], { backend })).dataSync()].every(Number.isNaN)).toBe(true);
      });

      it('empty matrices and right-hand sides', () => {
        expect(kiln.linalg.cholesky(kiln.zeros([2, 0, 0], { backend })).shape).toEqual([2, 0, 0]);
        expect(kiln.linalg.solve(kiln.eye(3, 3, { backend }), kiln.zeros([3, 0], { backend })).shape).toEqual([3, 0]);
        expect(kiln.linalg.solve(kiln.zeros([0, 0], { backend }), kiln.zeros([0, 2], { backend })).shape).toEqual([0, 2]);
        // No equations: the minimum-norm solution is zero.
        expect(kiln.linalg.lstsq(kiln.zeros([0, 3], { backend }), kiln.zeros([0, 2], { backend })).toArray()).toEqual([[0, 0], [0, 0], [0, 0]]);
      });

      it('larger random systems satisfy their defining equations', () => {
        kiln.scope(() => {
          // cholesky: L lower with a positive diagonal, L·Lᵀ = A.
          const a = spd([2, 40, 40], backend, 1);
          const l = kiln.linalg.cholesky(a);
          expect(relErr(kiln.triu(l, 1), kiln.zeros([2, 40, 40], { backend }))).toBe(0);
          expect(relErr(l.matmul(l.transpose(-2, -1)), a)).toBeLessThan(2e-5);
          // solve: A·X = B (general, needs pivoting: random entries, no diagonal boost).
          const g = kiln.randn([60, 60], { seed: 2, backend });
          const b = kiln.randn([60, 5], { seed: 3, backend });
          const x = kiln.linalg.solve(g, b);
          expect(relErr(g.matmul(x), b)).toBeLessThan(1e-3);
          // choleskySolve agrees with solve on an SPD system.
          expect(relErr(kiln.linalg.choleskySolve(b.slice([0], [40]), l.slice([0], [1]).reshape([40, 40])), kiln.linalg.solve(a.slice([0], [1]).reshape([40, 40]), b.slice([0], [40])))).toBeLessThan(1e-5);
          // lstsq tall: the residual is orthogonal to A's columns (Aᵀ·(A·X − B) = 0).
          const t = kiln.randn([80, 12], { seed: 4, backend });
          const bt = kiln.randn([80, 3], { seed: 5, backend });
          const xt = kiln.linalg.lstsq(t, bt);
          expect(relErr(t.transpose().matmul(t.matmul(xt).sub(bt)), kiln.zeros([12, 3], { backend }))).toBeLessThan(1e-4);
          // lstsq wide: A·X = B exactly, and X is in A's row space (X = Aᵀ·Z), the minimum-norm solution.
          const w = kiln.randn([7, 30], { seed: 6, backend });
          const bw = kiln.randn([7, 2], { seed: 7, backend });
          const xw = kiln.linalg.lstsq(w, bw);
          expect(relErr(w.matmul(xw), bw)).toBeLessThan(1e-5);
          const z = kiln.linalg.solve(w.matmul(w.transpose()), bw);
          expect(relErr(xw, w.transpose().matmul(z))).toBeLessThan(1e-5);
        });
      });
    });
  }

  it('the wasm backend gives the reference backend\'s float32 results (the same portable kernels)', () => {
    kiln.scope(() => {
      const a = kiln.randn([3, 9, 9], { seed: 8, backend: 'reference' });
      const b = kiln.randn([9, 4], { seed: 9, backend: 'reference' });
      const pairs: [kiln.Tensor, kiln.Tensor][] = [
        [kiln.linalg.solve(a, b), kiln.linalg.solve(a.to('wasm'), b.to('wasm'))],
        [kiln.linalg.lstsq(a, b), kiln.linalg.lstsq(a.to('wasm'), b.to('wasm'))],
        [kiln.linalg.solveTriangular(a, b, { upper: true }), kiln.linalg.solveTriangular(a.to('wasm'), b.to('wasm'), { upper: true })],
      ];
      for (const [ref, wasm] of pairs) expect(wasm.dataSync()).toEqual(ref.dataSync());
    });
  });
});

describe('linalg gradients', () => {
  const f64 = (x: kiln.Tensor) => kiln.tensor(x.dataSync(), { shape: x.shape, dtype: 'float64', backend: 'reference' });

  it('second derivatives (gradients of gradients) match finite differences', () => {
    const a = f64(spd([3, 3], 'reference', 10));
    const b = f64(kiln.randn([3, 2], { seed: 11, backend: 'reference' }));
    const tall = f64(kiln.randn([5, 3], { seed: 13, backend: 'reference' }));
    const bt = f64(kiln.randn([5, 2], { seed: 14, backend: 'reference' }));
    const cases: [string, (x: kiln.Tensor) => kiln.Tensor, kiln.Tensor][] = [
      ['cholesky', (x) => kiln.linalg.cholesky(x), a],
      ['solve', (x) => kiln.linalg.solve(x, b), a],
      ['solveTriangular', (x) => kiln.linalg.solveTriangular(x, b, { upper: true }), a],
      ['lstsq tall', (x) => kiln.linalg.lstsq(x, bt), tall],
      ['lstsq wide', (x) => kiln.linalg.lstsq(x, b), tall.transpose().slice([0], [3])],
    ];
    for (const [name, f, x] of cases) {
      // h(X) = Σ C ⊙ ∂/∂X[Σ f(X)²]: differentiating it runs the gradient rules' own gradients.
      const c = f64(kiln.randn(x.shape, { seed: 17, backend: 'reference' }));
      const h = (y: kiln.Tensor) => kiln.grad((z: kiln.Tensor) => f(z).square().sum())(y)[0]!.mul(c).sum();
      const res = kiln.testing.gradcheck(h, [x], { raise: false });
      expect(res.mismatches, name).toEqual([]);
    }
  });

  it('cholesky\'s gradient is symmetric and exact for a non-symmetric input (the symmetric part is factored)', () => {
    const a = f64(spd([4, 4], 'reference', 15)).add(f64(kiln.triu(kiln.randn([4, 4], { seed: 16, backend: 'reference' }), 1)).mul(0.1));
    const res = kiln.testing.gradcheck((x) => kiln.linalg.cholesky(x).sin().sum(), [a], { raise: false });
    expect(res.mismatches).toEqual([]);
    const [g] = kiln.grad((x: kiln.Tensor) => kiln.linalg.cholesky(x).sin().sum())(a);
    expect(relErr(g!, g!.transpose())).toBeLessThan(1e-12);
  });
});

describe('linalg under kiln.compile', () => {
  it('a compiled solve and cholesky equal eager, at two batch sizes', () => {
    const fn = (a: kiln.Tensor, b: kiln.Tensor) => kiln.linalg.solve(a, b).add(kiln.linalg.cholesky(a.matmul(a.transpose(-2, -1)).add(1e-1)).sum(-1, { keepDims: true }));
    const c = kiln.compile(fn, { inputs: [kiln.spec([kiln.dim('batch'), 3, 3]), kiln.spec([kiln.dim('batch'), 3, 1])] });
    for (const n of [2, 5]) {
      kiln.scope(() => {
        const a = kiln.randn([n, 3, 3], { seed: n }).add(kiln.eye(3).mul(3));
        const b = kiln.randn([n, 3, 1], { seed: n + 1 });
        expect(relErr(c.run(a, b) as kiln.Tensor, fn(a, b))).toBeLessThan(1e-6);
      });
    }
  });
});
