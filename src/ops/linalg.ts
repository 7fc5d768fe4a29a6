import { dimEquals, formatDim, KilnError, NotAffineError, registerOp, symbolicInfer, type Dim } from '../ir/index.js';
import { broadcastShapes, sumTo } from './shapeHelpers.js';
import type { AnyTensor } from './tensorLike.js';

/** Shapes of a matmul: `M×K · K×N` per batch element; `batch` is the broadcast batch shape. */
export interface MatmulDims<D extends Dim = number> {
  readonly m: D;
  readonly k: D;
  readonly n: D;
  readonly batch: D[];
  /** The output shape: `batch`, then `m` unless `a` is 1-D, then `n` unless `b` is 1-D. */
  readonly outShape: D[];
}

function shapeText(shape: readonly Dim[]): string {
  return `[${shape.map(formatDim).join(', ')}]`;
}

/**
 * NumPy matmul shape rules: a 1-D `a` gets a 1 prepended (removed again from the
 * result), a 1-D `b` gets a 1 appended; the batch dims (all but the last two) broadcast.
 * Throws a KilnError naming both shapes.
 */
export function matmulDims(a: readonly number[], b: readonly number[]): MatmulDims;
export function matmulDims(a: readonly Dim[], b: readonly Dim[]): MatmulDims<Dim>;
export function matmulDims(a: readonly Dim[], b: readonly Dim[]): MatmulDims<Dim> {
  const ra = a.length, rb = b.length;
  if (ra === 0 || rb === 0) throw new KilnError(`both operands must be at least 1-D, got ${shapeText(a)} and ${shapeText(b)}`);
  const k = a[ra - 1]!;
  const kb = rb === 1 ? b[0]! : b[rb - 2]!;
  if (!dimEquals(k, kb)) {
    const message = `inner dimensions differ: ${shapeText(a)} @ ${shapeText(b)} (${formatDim(k)} vs ${formatDim(kb)})`;
    throw typeof k === 'number' && typeof kb === 'number' ? new KilnError(message) : new NotAffineError(`${message}: equal only for some sizes`);
  }
  const m = ra === 1 ? 1 : a[ra - 2]!;
  const n = rb === 1 ? 1 : b[rb - 1]!;
  let batch: Dim[] = [];
  if (ra > 2 || rb > 2) {
    const ab = ra > 2 ? a.slice(0, ra - 2) : [];
    const bb = rb > 2 ? b.slice(0, rb - 2) : [];
    try {
      batch = broadcastShapes(ab, bb).slice();
    } catch (e) {
      if (e instanceof NotAffineError) throw e;
      throw new KilnError(`batch dimensions ${shapeText(ab)} and ${shapeText(bb)} of ${shapeText(a)} @ ${shapeText(b)} cannot be broadcast together`);
    }
  }
  const outShape = batch.slice();
  if (ra > 1) outShape.push(m);
  if (rb > 1) outShape.push(n);
  return { m, k, n, batch, outShape };
}

/**
 * Matrix product, NumPy/`torch.matmul` semantics (1-D·1-D dot, 1-D promotion, batched
 * with broadcast batch dims). One primitive so the IR maps 1:1 onto ONNX MatMul.
 */
export const matmul = registerOp<AnyTensor>({
  name: 'matmul',
  arity: 2,
  doc: 'Matrix product with NumPy semantics: 1-D operands promoted, batch dims broadcast.',
  ...symbolicInfer(([a, b]) => {
    if (a!.dtype !== b!.dtype) throw new KilnError(`operands must have the same dtype, got ${a!.dtype} and ${b!.dtype}`);
    if (a!.dtype === 'bool') throw new KilnError('matmul is not defined for bool tensors (cast to int32 or float32 first)');
    return [{ shape: matmulDims(a!.shape, b!.shape).outShape, dtype: a!.dtype }];
  }),
  grad: ({ inputs: [a, b], dys: [dy], needs }) => {
    const { m, k, n, batch } = matmulDims(a!.shape, b!.shape);
    // Work on the promoted (rank ≥ 2) forms; reshapes are free aliases.
    const a2 = a!.rank === 1 ? a!.reshape([1, k]) : a!;
    const b2 = b!.rank === 1 ? b!.reshape([k, 1]) : b!;
    const dy2 = a!.rank === 1 || b!.rank === 1 ? dy!.reshape([...batch, m, n]) : dy!;
    let ga: AnyTensor | null = null;
    let gb: AnyTensor | null = null;
    if (needs[0]) {
      // dA = dY·Bᵀ, summed over the batch dims A was broadcast along.
      ga = sumTo(dy2.matmul(mT(b2)), a2.shape);
      if (a!.rank === 1) ga = ga.reshape(a!.shape);
    }
    if (needs[1]) {
      let batchB = 1;
      for (let i = 0; i < b2.rank - 2; i++) batchB *= b2.shape[i]!;
      if (k === 0) {
        gb = b!.zerosLike();
      } else if (batchB === 1 && batch.length > 0) {
        // B is one matrix shared by the whole batch (a Linear layer on [batch, seq, in]):
        // Σᵢ Aᵢᵀ·dYᵢ is a single 2-D product of the flattened operands.
        const rows = a2.size / k;
        gb = mT(a2.reshape([rows, k])).matmul(dy2.reshape([rows, n])).reshape(b!.shape);
      } else {
        // dB = Aᵀ·dY, summed over the batch dims B was broadcast along.
        gb = sumTo(mT(a2).matmul(dy2), b2.shape);
        if (b!.rank === 1) gb = gb.reshape(b!.shape);
      }
    }
    return [ga, gb];
  },
});

/** Swaps the last two axes (matrix transpose of every batch element). */
function mT(x: AnyTensor): AnyTensor {
  return x.transpose(-2, -1);
}

/** Whether `perm` is a permutation of 0..rank-1. */
export function isPermutation(perm: readonly number[], rank: number): boolean {
  if (perm.length !== rank) return false;
  const seen = new Array<boolean>(rank).fill(false);
  for (const p of perm) {
    if (!Number.isInteger(p) || p < 0 || p >= rank || seen[p]) return false;
    seen[p] = true;
  }
  return true;
}

/** The permutation that undoes `perm`. */
export function inversePermutation(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  for (let i = 0; i < perm.length; i++) inv[perm[i]!] = i;
  return inv;
}

/**
 * Permutes axes: output axis `i` is input axis `perm[i]` (ONNX Transpose). Backs
 * `transpose` and `permute`; the gradient is the inverse permutation.
 */
export const transpose = registerOp<AnyTensor>({
  name: 'transpose',
  arity: 1,
  doc: 'Permutes axes (attr perm: output axis i is input axis perm[i]).',
  ...symbolicInfer(([x], attrs) => {
    const perm = attrs['perm'] as number[];
    if (!isPermutation(perm, x!.shape.length)) throw new KilnError(`[${perm.join(', ')}] is not a permutation of the ${x!.shape.length} axes of ${shapeText(x!.shape)}`);
    return [{ shape: perm.map((p) => x!.shape[p]!), dtype: x!.dtype }];
  }),
  grad: ({ dys: [dy], attrs }) => [dy!.permute(...inversePermutation(attrs['perm'] as number[]))],
});
