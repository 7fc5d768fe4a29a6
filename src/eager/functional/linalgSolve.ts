import * as ops from '../../ops/linalgSolve.js';
import { opError, run1 } from '../dispatch.js';
import { Tensor } from '../tensor.js';

// The functions of `kiln.linalg` (re-exported as a namespace by ../linalg.ts) and the
// triangle masks `kiln.tril` / `kiln.triu`. Shape and dtype checks are in the ops'
// `infer`; here: argument types, and a 1-D right-hand side as a vector.

function checkTensor(op: string, name: string, x: unknown, inputs: readonly Tensor[] = []): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw opError(op, `${name} must be a Tensor, got ${x === null ? 'null' : Array.isArray(x) ? 'an array' : typeof x}`, inputs);
}

function checkDiagonal(op: string, x: Tensor, diagonal: unknown): number {
  if (typeof diagonal !== 'number' || !Number.isInteger(diagonal)) throw opError(op, `diagonal must be an integer, got ${String(diagonal)}`, [x]);
  return diagonal;
}

/**
 * Runs a solve-like op; a 1-D `b` is one vector (`[m]` → `[m, 1]`, and the result's
 * last axis is dropped again), as in `torch.linalg.solve`.
 */
function solveLike(op: string, a: unknown, b: unknown, call: (a: Tensor, b: Tensor) => Tensor, aName = 'A'): Tensor {
  checkTensor(op, aName, a);
  checkTensor(op, 'B', b, [a]);
  if (b.rank !== 1) return call(a, b);
  const x = call(a, b.reshape([b.shape[0]!, 1]));
  return x.reshape(x.shape.slice(0, -1));
}

/**
 * The lower triangle of the last two axes: keeps `x[..., i, j]` where `j − i ≤ diagonal`
 * and zeroes the rest (`torch.tril`). `diagonal` 0 is the main diagonal, −1 the one
 * below it, 1 the one above. Any dtype; batched over leading axes.
 *
 * @example
 * ```ts
 * const x = kiln.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
 * kiln.tril(x).toArray();     // [[1, 0, 0], [4, 5, 0], [7, 8, 9]]
 * kiln.tril(x, -1).toArray(); // [[0, 0, 0], [4, 0, 0], [7, 8, 0]]
 * ```
 */
export function tril(x: Tensor, diagonal = 0): Tensor {
  checkTensor('tril', 'input', x);
  return run1(ops.trilOp, [x], { diagonal: checkDiagonal('tril', x, diagonal) });
}

/**
 * The upper triangle of the last two axes: keeps `x[..., i, j]` where `j − i ≥ diagonal`
 * and zeroes the rest (`torch.triu`).
 *
 * @example
 * ```ts
 * const x = kiln.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
 * kiln.triu(x).toArray();    // [[1, 2, 3], [0, 5, 6], [0, 0, 9]]
 * kiln.triu(x, 1).toArray(); // [[0, 2, 3], [0, 0, 6], [0, 0, 0]]
 * ```
 */
export function triu(x: Tensor, diagonal = 0): Tensor {
  checkTensor('triu', 'input', x);
  return run1(ops.triuOp, [x], { diagonal: checkDiagonal('triu', x, diagonal) });
}

/**
 * The Cholesky factor of a symmetric positive-definite matrix: the lower-triangular L
 * with a positive diagonal and L·Lᵀ = A (`torch.linalg.cholesky`). A is `[..., n, n]`
 * (batched over leading axes), float32 or float64; the factorization runs in float64.
 * It reads the symmetric part (A + Aᵀ)/2 (as JAX does by default), so the gradient, a
 * symmetric matrix, is exact for any A. Throws a KilnError naming the leading minor
 * (and batch element) when A is not positive-definite.
 *
 * @example
 * ```ts
 * const a = kiln.tensor([[4, 2], [2, 3]]);
 * const l = kiln.linalg.cholesky(a);       // [[2, 0], [1, 1.4142]]
 * l.matmul(l.transpose()).toArray();       // ≈ [[4, 2], [2, 3]]
 * kiln.linalg.cholesky(kiln.tensor([[1, 2], [2, 1]])); // throws: not positive-definite
 * ```
 */
export function cholesky(a: Tensor): Tensor {
  checkTensor('cholesky', 'A', a);
  return run1(ops.cholesky, [a], {});
}

/**
 * Solves A·X = B for a triangular A by substitution (`torch.linalg.solve_triangular`
 * with `left=True`): `upper` says which triangle of A holds it (the other is not read).
 * A `[..., n, n]`, B `[..., n, k]`, batch dims broadcast. Throws when a diagonal
 * element of A is zero.
 *
 * @example
 * ```ts
 * const l = kiln.tensor([[2, 0], [1, 1]]);
 * kiln.linalg.solveTriangular(l, kiln.tensor([[2], [3]]), { upper: false }).toArray(); // [[1], [2]]
 * ```
 */
export function solveTriangular(a: Tensor, b: Tensor, options: { upper: boolean }): Tensor {
  checkTensor('solveTriangular', 'A', a);
  checkTensor('solveTriangular', 'B', b, [a]);
  const upper = (options as { upper?: unknown } | undefined)?.upper;
  if (typeof upper !== 'boolean') throw opError('solveTriangular', `needs { upper: true } or { upper: false } (which triangle of A to use), got ${JSON.stringify(options)}`, [a, b]);
  return run1(ops.solveTriangular, [a, b], { upper });
}

/**
 * Solves A·X = B for a square A (`torch.linalg.solve`): LU factorization with partial
 * pivoting, in float64 whatever the dtype. A `[..., n, n]`; B `[..., n, k]` (batch dims
 * broadcast) or one vector `[n]`. Throws a KilnError when A is singular to working
 * precision: a pivot at most n·2⁻⁵²·max|Aᵢⱼ| (so [[1, 2, 3], [4, 5, 6], [7, 8, 9]] is
 * refused, where LAPACK returns entries of size 1e16).
 *
 * @example
 * ```ts
 * const a = kiln.tensor([[3, 1], [1, 2]]);
 * kiln.linalg.solve(a, kiln.tensor([9, 8])).toArray();      // [2, 3]
 * kiln.linalg.solve(a, kiln.tensor([[9], [8]])).toArray();  // [[2], [3]]
 * ```
 */
export function solve(a: Tensor, b: Tensor): Tensor {
  return solveLike('solve', a, b, (a, b) => run1(ops.solve, [a, b], {}));
}

/**
 * Solves A·X = B given the Cholesky factor L of a symmetric positive-definite A = L·Lᵀ
 * (`torch.cholesky_solve(B, L)`, same argument order): two triangular solves,
 * L·Y = B then Lᵀ·X = Y; only L's lower triangle is read. For many right-hand sides or
 * repeated solves with one A this is the fast path: factor once with `cholesky`
 * (n³/3 operations against LU's 2n³/3), then each solve costs 2n² per column.
 * B is `[..., n, k]` or one vector `[n]`.
 *
 * @example
 * ```ts
 * const a = kiln.tensor([[4, 2], [2, 3]]);
 * const l = kiln.linalg.cholesky(a);
 * kiln.linalg.choleskySolve(kiln.tensor([8, 7]), l).toArray(); // ≈ [1.25, 1.5]
 * ```
 */
export function choleskySolve(b: Tensor, l: Tensor): Tensor {
  return solveLike('choleskySolve', l, b, (l, b) => {
    try {
      ops.solveShape(l, b, { square: true });
    } catch (e) {
      throw opError('choleskySolve', (e as Error).message.replace(/\bA\b/g, 'L'), [b, l]);
    }
    const y = run1(ops.solveTriangular, [l, b], { upper: false });
    return run1(ops.solveTriangular, [l.transpose(-2, -1), y], { upper: true });
  }, 'L');
}

/**
 * Least squares (`torch.linalg.lstsq(A, B).solution`) for a full-rank A `[..., m, n]`
 * and B `[..., m, k]` (batch dims broadcast) or one vector `[m]`: for m ≥ n the X
 * minimizing ‖A·X − B‖₂, for m < n the minimum-norm X solving A·X = B. Computed by
 * Householder QR (of A, or of Aᵀ when m < n) in float64, so the error grows with
 * cond(A), not with cond(A)² as solving the normal equations AᵀA·X = AᵀB would.
 * Throws when A is rank-deficient to working precision (a diagonal element of R at
 * most max(m, n)·2⁻⁵²·(largest column norm)); there is no rank-revealing pivoting.
 * Returns only the solution (no residuals, rank or singular values).
 *
 * @example
 * ```ts
 * // Fit y = c0 + c1·t to four points.
 * const a = kiln.tensor([[1, 0], [1, 1], [1, 2], [1, 3]]);
 * kiln.linalg.lstsq(a, kiln.tensor([1, 3, 5, 7])).toArray(); // ≈ [1, 2]
 * ```
 */
export function lstsq(a: Tensor, b: Tensor): Tensor {
  return solveLike('lstsq', a, b, (a, b) => run1(ops.lstsq, [a, b], {}));
}
