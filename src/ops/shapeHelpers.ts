import { KilnError, formatShape } from '../ir/index.js';
import type { Axes, TensorLike } from './tensorLike.js';

/** NumPy broadcast of two shapes; throws naming both. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  if (a.length === b.length) {
    let same = true;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) { same = false; break; }
    if (same) return a as number[];
  }
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new KilnError(`shapes ${formatShape(a)} and ${formatShape(b)} cannot be broadcast together (dimension ${i}: ${da} vs ${db})`);
    out[i] = da === 1 ? db : da;
  }
  return out;
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
