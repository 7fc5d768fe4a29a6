import { formatDim, isFloat, KilnError, NotAffineError, registerOp, symbolicInfer, type Dim, type TensorType, type ValueType } from '../ir/index.js';
import { broadcastShapes, dimsText, requireSameDim, sumTo } from './shapeHelpers.js';
import type { AnyTensor } from './tensorLike.js';

/*
 * Linear algebra beyond matmul: triangle masks (tril, triu), the Cholesky factorization,
 * triangular, general (LU with partial pivoting) and least-squares (Householder QR)
 * solves. Every op works on the last two axes and is batched over the leading ones;
 * the solves broadcast A's and B's batch dims against each other (as matmul does).
 * Gradients are closed forms written with these same ops, so they differentiate again.
 * Data-dependent failures (a singular or not positive-definite matrix) are found by the
 * kernels, which throw a KilnError the dispatcher completes with the op and the shapes.
 * Shape rules are written over dims (symbolicInfer): symbolic batch, row and column
 * counts pass through exactly.
 */

/** Swaps the last two axes. */
function mT(x: AnyTensor): AnyTensor {
  return x.transpose(-2, -1);
}

function tril(x: AnyTensor, diagonal = 0): AnyTensor {
  return x.applyOp('tril', [], { diagonal })[0]!;
}

function triu(x: AnyTensor, diagonal = 0): AnyTensor {
  return x.applyOp('triu', [], { diagonal })[0]!;
}

function solveTri(a: AnyTensor, b: AnyTensor, upper: boolean): AnyTensor {
  return a.applyOp('solveTriangular', [b], { upper })[0]!;
}

function lstsqOf(a: AnyTensor, b: AnyTensor): AnyTensor {
  return a.applyOp('lstsq', [b], {})[0]!;
}

function checkFloat(what: string, t: ValueType): void {
  if (!isFloat(t.dtype)) throw new KilnError(`${what} must be floating-point (float32 or float64), got ${t.dtype}`);
}

/**
 * `n` of a batch of square matrices `[..., n, n]`; throws naming the shape (a
 * NotAffineError where symbolic dims are equal only for some sizes).
 */
export function squareSize(what: string, shape: readonly number[]): number;
export function squareSize(what: string, shape: readonly Dim[]): Dim;
export function squareSize(what: string, shape: readonly Dim[]): Dim {
  const r = shape.length;
  const message = () => `${what} must be a square matrix or a batch of them [..., n, n], got shape ${dimsText(shape)}`;
  if (r < 2) throw new KilnError(message());
  requireSameDim(shape[r - 1]!, shape[r - 2]!, message);
  return shape[r - 1]!;
}

/**
 * Output shape of a solve-like op: A `[..., m, n]` against B `[..., m, k]` gives
 * `[batch, n, k]`, the batch dims broadcast. Checks ranks, rows and dtypes.
 */
export function solveShape(a: TensorType, b: TensorType, options: { square: boolean }): number[];
export function solveShape(a: ValueType, b: ValueType, options: { square: boolean }): Dim[];
export function solveShape(a: ValueType, b: ValueType, options: { square: boolean }): Dim[] {
  checkFloat('A', a);
  if (b.dtype !== a.dtype) throw new KilnError(`A and B must have the same dtype, got ${a.dtype} and ${b.dtype}`);
  if (options.square) squareSize('A', a.shape);
  else if (a.shape.length < 2) throw new KilnError(`A must be a matrix or a batch of them [..., m, n], got shape ${dimsText(a.shape)}`);
  const ra = a.shape.length, rb = b.shape.length;
  if (rb < 2) throw new KilnError(`B must be a matrix or a batch of them [..., m, k], got shape ${dimsText(b.shape)}`);
  const m = a.shape[ra - 2]!, n = a.shape[ra - 1]!;
  requireSameDim(b.shape[rb - 2]!, m, () => `A ${dimsText(a.shape)} has ${formatDim(m)} rows but B ${dimsText(b.shape)} has ${formatDim(b.shape[rb - 2]!)}`);
  const ab = a.shape.slice(0, ra - 2), bb = b.shape.slice(0, rb - 2);
  let batch: readonly Dim[];
  try {
    batch = broadcastShapes(ab, bb);
  } catch (e) {
    if (e instanceof NotAffineError) throw e;
    throw new KilnError(`batch dimensions ${dimsText(ab)} of A ${dimsText(a.shape)} and ${dimsText(bb)} of B ${dimsText(b.shape)} cannot be broadcast together`);
  }
  return [...batch, n, b.shape[rb - 1]!];
}

function triangleOp(name: 'tril' | 'triu', keep: string) {
  return registerOp<AnyTensor>({
    name,
    arity: 1,
    doc: `Keeps the elements ${keep} (attr diagonal: 0 is the main diagonal, > 0 above it) of the last two axes, zeroes the rest.`,
    ...symbolicInfer(([x], attrs) => {
      if (x!.shape.length < 2) throw new KilnError(`input must have at least 2 dimensions, got shape [${x!.shape.map(formatDim).join(', ')}]`);
      const d = attrs['diagonal'];
      if (typeof d !== 'number' || !Number.isInteger(d)) throw new KilnError(`diagonal must be an integer, got ${String(d)}`);
      return [{ shape: x!.shape, dtype: x!.dtype }];
    }),
    grad: ({ dys: [dy], attrs }) => [dy!.applyOp(name, [], { diagonal: attrs['diagonal']! })[0]!],
  });
}

/** Lower triangle: keeps `x[..., i, j]` where `j − i ≤ diagonal` (`torch.tril`). */
export const trilOp = triangleOp('tril', 'on and below a diagonal');
/** Upper triangle: keeps `x[..., i, j]` where `j − i ≥ diagonal` (`torch.triu`). */
export const triuOp = triangleOp('triu', 'on and above a diagonal');

/**
 * Cholesky factor L (lower, positive diagonal) with L·Lᵀ = (A + Aᵀ)/2. The kernel reads
 * the symmetric part of A (JAX's default `symmetrize_input`), so the gradient below, the
 * symmetric one PyTorch returns, is the exact derivative for every A, not only along
 * symmetric directions (finite differences agree). For a symmetric A this is
 * `torch.linalg.cholesky(A)`. The kernel throws when A is not positive-definite.
 */
export const cholesky = registerOp<AnyTensor>({
  name: 'cholesky',
  arity: 1,
  doc: 'Cholesky factor L (lower) of a symmetric positive-definite A = L·Lᵀ (reads the symmetric part (A + Aᵀ)/2).',
  ...symbolicInfer(([a]) => {
    checkFloat('A', a!);
    squareSize('A', a!.shape);
    return [{ shape: a!.shape, dtype: a!.dtype }];
  }),
  grad: ({ outputs: [l], dys: [dl] }) => {
    // Murray (2016), as PyTorch's cholesky_backward: with P = tril(Lᵀ·dL) and
    // S = ½(P + tril(P, −1)ᵀ) (symmetric, halved diagonal), dA = L⁻ᵀ·S·L⁻¹.
    const lt = mT(l!);
    const p = tril(lt.matmul(dl!));
    const s = p.add(mT(tril(p, -1))).mul(0.5);
    const y = solveTri(lt, s, true); // L⁻ᵀ·S
    return [mT(solveTri(lt, mT(y), true))]; // (L⁻ᵀ·(L⁻ᵀ·S)ᵀ)ᵀ = L⁻ᵀ·S·L⁻¹
  },
});

/**
 * X = A⁻¹·B for a triangular A (attr upper: which triangle is read; the other is
 * ignored), A `[..., n, n]`, B `[..., n, k]`, batch dims broadcast
 * (`torch.linalg.solve_triangular(A, B, upper=…)`). Throws on a zero diagonal element.
 */
export const solveTriangular = registerOp<AnyTensor>({
  name: 'solveTriangular',
  arity: 2,
  doc: 'Solves A·X = B for a triangular A (attr upper), by substitution; batch dims broadcast.',
  ...symbolicInfer(([a, b], attrs) => {
    if (typeof attrs['upper'] !== 'boolean') throw new KilnError(`upper must be a boolean, got ${String(attrs['upper'])}`);
    return [{ shape: solveShape(a!, b!, { square: true }), dtype: a!.dtype }];
  }),
  grad: ({ inputs: [a, b], outputs: [x], dys: [dx], attrs, needs }) => {
    const upper = attrs['upper'] as boolean;
    // dB = A⁻ᵀ·dX; dA = −dB·Xᵀ restricted to the triangle A's values came from.
    const gb = solveTri(mT(a!), dx!, !upper);
    let ga: AnyTensor | null = null;
    if (needs[0]) {
      const full = gb.matmul(mT(x!)).neg();
      ga = sumTo(upper ? triu(full) : tril(full), a!.shape);
    }
    return [ga, needs[1] ? sumTo(gb, b!.shape) : null];
  },
});

/**
 * X = A⁻¹·B for a general square A `[..., n, n]` and B `[..., n, k]` (batch dims
 * broadcast), by LU factorization with partial pivoting in float64 (`torch.linalg.solve`
 * with a matrix B). The kernel throws when A is singular to working precision.
 */
export const solve = registerOp<AnyTensor>({
  name: 'solve',
  arity: 2,
  doc: 'Solves A·X = B for a square A (LU with partial pivoting); batch dims broadcast.',
  ...symbolicInfer(([a, b]) => [{ shape: solveShape(a!, b!, { square: true }), dtype: a!.dtype }]),
  grad: ({ inputs: [a, b], outputs: [x], dys: [dx], needs }) => {
    // dB = A⁻ᵀ·dX, dA = −dB·Xᵀ (each summed over the batch dims it was broadcast along).
    const gb = mT(a!).applyOp('solve', [dx!], {})[0]!;
    const ga = needs[0] ? sumTo(gb.matmul(mT(x!)).neg(), a!.shape) : null;
    return [ga, needs[1] ? sumTo(gb, b!.shape) : null];
  },
});

/**
 * The least-squares solution X = A⁺·B of A `[..., m, n]`, B `[..., m, k]` (batch dims
 * broadcast), A of full rank: for m ≥ n the X minimizing ‖A·X − B‖ (Householder QR of
 * A), for m < n the minimum-norm X with A·X = B (QR of Aᵀ). The kernel throws when A is
 * rank-deficient to working precision. `torch.linalg.lstsq(A, B).solution`.
 */
export const lstsq = registerOp<AnyTensor>({
  name: 'lstsq',
  arity: 2,
  doc: 'Least-squares (m ≥ n) or minimum-norm (m < n) solution of A·X = B for a full-rank A, by Householder QR.',
  ...symbolicInfer(([a, b]) => [{ shape: solveShape(a!, b!, { square: false }), dtype: a!.dtype }]),
  grad: ({ inputs: [a, b], outputs: [x], dys: [dx], needs }) => {
    // X = A⁺·B. With the derivative of the pseudo-inverse of a full-rank A
    // (Golub & Pereyra 1973), and A⁺ᵀ·Y = lstsq(Aᵀ, Y):
    //   dB = A⁺ᵀ·dX
    //   dA = −dB·Xᵀ + (B − A·X)·(A⁺·dB)ᵀ + (A⁺ᵀ·X)·(dX − A⁺·A·dX)ᵀ
    // The second term vanishes unless m > n (a residual), the third unless m < n.
    const m = a!.shape[a!.rank - 2]!, n = a!.shape[a!.rank - 1]!;
    const at = mT(a!);
    const gb = lstsqOf(at, dx!);
    let ga: AnyTensor | null = null;
    if (needs[0]) {
      let full = gb.matmul(mT(x!)).neg();
      if (m > n) full = full.add(b!.sub(a!.matmul(x!)).matmul(mT(lstsqOf(a!, gb))));
      if (m < n) full = full.add(lstsqOf(at, x!).matmul(mT(dx!.sub(lstsqOf(a!, a!.matmul(dx!))))));
      ga = sumTo(full, a!.shape);
    }
    return [ga, needs[1] ? sumTo(gb, b!.shape) : null];
  },
});
