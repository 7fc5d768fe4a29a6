import { dimEquals, formatDim, KilnError, NotAffineError, type Dim } from '../ir/index.js';
import type { Axes, TensorLike } from './tensorLike.js';

/**
 * NumPy broadcast of two shapes; throws naming both. Symbolic dims (IR shape inference)
 * broadcast with 1 and with an equal dim; against any other size whether they broadcast
 * depends on their value, which throws a `NotAffineError`.
 */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[];
export function broadcastShapes(a: readonly Dim[], b: readonly Dim[]): Dim[];
export function broadcastShapes(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  if (a.length === b.length) {
    let same = true;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !dimEquals(a[i]!, b[i]!)) { same = false; break; }
    if (same) return a as Dim[];
  }
  const n = Math.max(a.length, b.length);
  const out = new Array<Dim>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da === db || dimEquals(da, db) || db === 1) out[i] = da;
    else if (da === 1) out[i] = db;
    else if (typeof da === 'number' && typeof db === 'number') throw new KilnError(`shapes ${dimsText(a)} and ${dimsText(b)} cannot be broadcast together (dimension ${i}: ${da} vs ${db})`);
    else throw new NotAffineError(`whether shapes ${dimsText(a)} and ${dimsText(b)} broadcast depends on the sizes (dimension ${i}: ${formatDim(da)} vs ${formatDim(db)})`);
  }
  return out;
}

/** `[batch, 3, 2*h+1]`: a shape of numbers or symbolic dims, for messages. */
export function dimsText(shape: readonly Dim[]): string {
  return `[${shape.map(formatDim).join(', ')}]`;
}

/**
 * Requires `a` = `b`: throws a KilnError with `message` where two numbers differ, and a
 * `NotAffineError` where a symbolic dim equals the other only for some sizes (symbolic
 * inference then cannot prove the op's inputs fit; the caller specializes per size).
 */
export function requireSameDim(a: Dim, b: Dim, message: () => string): void {
  if (dimEquals(a, b)) return;
  if (typeof a === 'number' && typeof b === 'number') throw new KilnError(message());
  throw new NotAffineError(`${message()}: equal only for some sizes`);
}

/** `requireSameDim` over whole shapes: a KilnError where ranks or two numbers differ, else a `NotAffineError` where symbolic dims differ. */
export function requireSameShape(a: readonly Dim[], b: readonly Dim[], message: () => string): void {
  if (a.length !== b.length || a.some((d, i) => typeof d === 'number' && typeof b[i] === 'number' && d !== b[i])) throw new KilnError(message());
  a.forEach((d, i) => requireSameDim(d, b[i]!, message));
}

/** Normalizes a possibly negative axis against `rank`; throws if out of range. */
export function normalizeAxis(axis: number, rank: number): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= Math.max(rank, 1)) {
    throw new KilnError(`axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Sorted, unique, non-negative axes; `null`/undefined means all axes. */
export function normalizeAxes(axes: Axes | null | undefined, rank: number): number[] {
  if (axes === null || axes === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out = [...new Set(list.map((a) => normalizeAxis(a, rank)))].sort((x, y) => x - y);
  if (out.length !== list.length) throw new KilnError(`repeated axis in [${list.join(', ')}]`);
  return out;
}

/** Sums a broadcast gradient back down to `shape` (the inverse of broadcasting). */
export function sumTo<T extends TensorLike<T>>(g: T, shape: readonly number[]): T {
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  if (axes.length === 0) return g;
  const s = g.sum(axes, { keepDims: true });
  return lead > 0 || s.rank !== shape.length ? s.reshape(shape) : s;
}
