// kiln.cond: a data-dependent branch that a trace keeps as control flow (an `If` node)
// instead of a graph break, so `kiln.compile` graphs and ONNX exports hold both branches.
import { KilnError, userCallSite } from '../../ir/index.js';
import { engine } from '../engine.js';
import { Tensor } from '../tensor.js';

/** What a `kiln.cond` branch returns: one tensor, or several (same count and types in both branches). */
export type CondResult = Tensor | readonly Tensor[];

/**
 * `pred ? thenFn() : elseFn()` for a one-element bool tensor `pred`. Eagerly it reads
 * `pred` and runs one branch. Under tracing (`kiln.compile`, `kiln.onnx.exportModel`)
 * both branches are traced into one `If` node (ONNX `If`): they must return the same
 * number of tensors with the same dtypes and shapes, use only tensor ops (no `item()`,
 * no in-place updates), and may read any tensor made before the call. A JS boolean
 * `pred` just picks the branch.
 *
 * @example
 * ```ts
 * const f = (x: kiln.Tensor) => kiln.cond(x.sum().greater(0), () => x.relu(), () => x.neg());
 * f(kiln.tensor([1, -2, 3])).toArray(); // [1, 0, 3]
 * await kiln.onnx.exportModel(f, 'cond.onnx', { inputs: [kiln.spec([kiln.dim('n')])] }); // one If node
 * ```
 */
export function cond<R extends CondResult>(pred: Tensor | boolean, thenFn: () => R, elseFn: () => R): R {
  if (typeof thenFn !== 'function' || typeof elseFn !== 'function') throw new KilnError('thenFn and elseFn must be functions', { op: 'cond', callSite: userCallSite() });
  if (typeof pred === 'boolean') return pred ? thenFn() : elseFn();
  if (!(pred instanceof Tensor)) throw new KilnError(`pred must be a bool tensor or a boolean, got ${typeof pred}`, { op: 'cond', callSite: userCallSite() });
  if (pred.dtype !== 'bool' || pred.size !== 1) throw new KilnError(`pred must be a bool tensor with one element, got ${pred.dtype}[${pred.shape.join(', ')}]`, { op: 'cond', callSite: userCallSite() });
  const tracer = engine.tracer;
  if (tracer?.cond) {
    if (pred.rank !== 0) pred = pred.reshape([]); // If takes a 0-d condition
    let single = false;
    const outs = tracer.cond(pred, () => { const r = thenFn(); single = r instanceof Tensor; return r; }, elseFn);
    return (single ? outs[0]! : outs) as unknown as R;
  }
  // Eager (or a lazy trace: reading pred is its graph break).
  return pred.dataSync()[0] ? thenFn() : elseFn();
}
