import type { DType } from '../../ir/index.js';
import type { Axes } from '../../ops/tensorLike.js';
import * as ops from '../../ops/shape.js';
import { opError, run1 } from '../dispatch.js';
import type { Tensor } from '../tensor.js';

// TODO(shape): implemented by the shape-ops work item.
const todo = (op: string): never => { throw opError(op, 'not implemented yet'); };

/** Same elements in a new shape; one dim may be -1 (inferred). Shares storage. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const known = shape.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const holes = shape.filter((d) => d === -1).length;
  if (holes > 1) throw opError('reshape', `only one dimension can be -1, got [${shape.join(', ')}]`, [x]);
  const resolved = holes ? shape.map((d) => (d === -1 ? (known === 0 ? 0 : x.size / known) : d)) : shape;
  if (resolved.some((d) => !Number.isInteger(d) || d < 0)) throw opError('reshape', `cannot reshape [${x.shape.join(', ')}] (${x.size} elements) to [${shape.join(', ')}]`, [x]);
  return run1(ops.reshape, [x], { shape: resolved });
}
export function flatten(x: Tensor, startDim?: number, endDim?: number): Tensor { return todo('flatten'); }
export function squeeze(x: Tensor, axis?: Axes): Tensor { return todo('squeeze'); }
export function unsqueeze(x: Tensor, axis: number): Tensor { return todo('unsqueeze'); }
/** Broadcasts to `shape` without copying semantics (PyTorch `expand`; -1 keeps a dim). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - x.rank;
  const resolved = shape.map((d, i) => (d === -1 && i >= lead ? x.shape[i - lead]! : d));
  if (resolved.length === x.rank && resolved.every((d, i) => d === x.shape[i])) return x;
  return run1(ops.expand, [x], { shape: resolved });
}

/** NumPy `broadcast_to`. */
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor {
  return expand(x, shape);
}
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[], options?: { axes?: readonly number[]; steps?: readonly number[] }): Tensor { return todo('slice'); }
export function split(x: Tensor, splitSizeOrSections: number | readonly number[], axis?: number): Tensor[] { return todo('split'); }
export function pad(x: Tensor, pads: readonly number[], options?: { mode?: 'constant' | 'reflect'; value?: number }): Tensor { return todo('pad'); }
export function gather(x: Tensor, axis: number, index: Tensor): Tensor { return todo('gather'); }
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor { return todo('indexSelect'); }
export function oneHot(x: Tensor, numClasses: number): Tensor { return todo('oneHot'); }
export function cast(x: Tensor, dtype: DType): Tensor { return todo('cast'); }
export function concat(tensors: readonly Tensor[], axis?: number): Tensor { return todo('concat'); }
export function stack(tensors: readonly Tensor[], axis?: number): Tensor { return todo('stack'); }
