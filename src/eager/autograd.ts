import { KilnError, type Attrs, type OpDef } from '../ir/index.js';
import { engine } from './engine.js';
import type { Tensor } from './tensor.js';
import { opError } from './dispatch.js';

/** One recorded op on the tape: enough to run its gradient rule. */
export class GradNode {
  constructor(
    readonly def: OpDef,
    readonly inputs: readonly Tensor[],
    readonly outputs: readonly Tensor[],
    readonly attrs: Attrs,
  ) {}
}

/** Runs `fn` with gradient recording off (like `torch.no_grad`). */
export function noGrad<R>(fn: () => R): R {
  const prev = engine.gradEnabled;
  engine.gradEnabled = false;
  try {
    return fn();
  } finally {
    engine.gradEnabled = prev;
  }
}

/** Runs `fn` with gradient recording on, even inside `noGrad`. */
export function enableGrad<R>(fn: () => R): R {
  const prev = engine.gradEnabled;
  engine.gradEnabled = true;
  try {
    return fn();
  } finally {
    engine.gradEnabled = prev;
  }
}

/** Nodes reachable from `roots`, in an order where every node precedes its inputs' nodes. */
function reverseTopological(roots: readonly Tensor[]): GradNode[] {
  const order: GradNode[] = [];
  const seen = new Set<GradNode>();
  // Iterative post-order DFS: deep tapes (long RNNs) must not overflow the stack.
  const stack: [GradNode, number][] = [];
  for (const r of roots) {
    if (r.gradFn && !seen.has(r.gradFn)) {
      seen.add(r.gradFn);
      stack.push([r.gradFn, 0]);
    }
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [node, i] = top;
      if (i < node.inputs.length) {
        top[1]++;
        const next = node.inputs[i]!.gradFn;
        if (next && !seen.has(next)) {
          seen.add(next);
          stack.push([next, 0]);
        }
      } else {
        stack.pop();
        order.push(node);
      }
    }
  }
  return order.reverse();
}

/**
 * Gradients of `roots` (seeded with `seeds`) w.r.t. every tensor on their tape.
 * With `createGraph` the backward ops are themselves recorded (higher-order gradients).
 */
export function computeGrads(roots: readonly Tensor[], seeds: readonly Tensor[], createGraph: boolean): Map<Tensor, Tensor> {
  const grads = new Map<Tensor, Tensor>();
  roots.forEach((r, i) => accumulate(grads, r, seeds[i]!));
  const nodes = reverseTopological(roots);
  const prev = engine.gradEnabled;
  engine.gradEnabled = createGraph;
  try {
    for (const node of nodes) {
      if (!node.outputs.some((o) => grads.has(o))) continue;
      const dys = node.outputs.map((o) => grads.get(o) ?? o.zerosLike());
      for (const x of node.inputs) {
        if (x.disposed) throw new KilnError('backward: a tensor saved for the gradient was disposed (by dispose() or a kiln.scope that ended before backward ran)', { op: node.def.name });
      }
      const gs = node.def.grad!({ inputs: node.inputs, outputs: node.outputs, dys, attrs: node.attrs, needs: node.inputs.map((x) => x.requiresGrad) }) as (Tensor | null)[];
      node.inputs.forEach((x, i) => {
        const g = gs[i];
        if (!g || !x.requiresGrad) return;
        if (g.shape.length !== x.shape.length || g.shape.some((d, k) => d !== x.shape[k])) {
          throw opError(node.def.name, `gradient rule returned shape [${g.shape}] for input ${i} of shape [${x.shape}] (a bug in Kiln's gradient for this op)`);
        }
        accumulate(grads, x, g);
      });
    }
  } finally {
    engine.gradEnabled = prev;
  }
  return grads;
}

function accumulate(grads: Map<Tensor, Tensor>, x: Tensor, g: Tensor): void {
  const prev = grads.get(x);
  grads.set(x, prev ? prev.add(g) : g);
}

/** `tensor.backward()`: accumulates into `.grad` of the leaves that require grad. */
export function backward(root: Tensor, gradient: Tensor | undefined, createGraph: boolean): void {
  if (!root.requiresGrad) throw opError('backward', 'this tensor does not require grad: no input of the computation has requiresGrad set');
  if (!gradient && root.size !== 1) throw opError('backward', `backward() without a gradient needs a one-element tensor, got shape [${root.shape.join(', ')}]`);
  const seed = gradient ?? root.onesLike();
  const grads = computeGrads([root], [seed], createGraph);
  const assigned = new Set<Tensor>();
  for (const [x, g] of grads) {
    if (!x.isLeaf || !x.requiresGrad) continue;
    // A gradient tensor may be shared (add passes dy to both inputs): give each leaf its own.
    let own = assigned.has(g) || g === seed ? g.clone() : g;
    assigned.add(own);
    if (x.grad) {
      const old = x.grad;
      own = old.add(own);
      old.keepAlive = false;
      if (!createGraph) old.dispose();
    }
    own.keepAlive = true;
    x.grad = own;
  }
}

/**
 * Functional gradient: `grad(f)(...args)` returns df/darg for every tensor argument.
 * `f` must return a one-element tensor. The backward pass is recorded, so `grad` can
 * be nested for higher-order derivatives.
 *
 * @example
 * ```ts
 * const f = (x: kiln.Tensor) => x.pow(3).sum();
 * const d2f = kiln.grad((x: kiln.Tensor) => kiln.grad(f)(x)[0]!.sum());
 * d2f(kiln.tensor([2]))[0]!.item(); // 6 * 2 = 12
 * ```
 */
export function grad<A extends Tensor[]>(f: (...args: A) => Tensor): (...args: A) => Tensor[] {
  return (...args: A) => valueAndGrad(f)(...args)[1];
}

/** Like `grad`, but also returns f's value: `[value, grads]`. */
export function valueAndGrad<A extends Tensor[]>(f: (...args: A) => Tensor): (...args: A) => [Tensor, Tensor[]] {
  return (...args: A) =>
    enableGrad(() => {
      // Arguments that do not require grad get a fresh differentiable alias.
      const inputs = args.map((a) => {
        if (a.requiresGrad) return a;
        const alias = a.detach();
        alias.requiresGrad = true;
        return alias;
      }) as A;
      const value = f(...inputs);
      if (value.size !== 1) throw opError('grad', `the function must return a one-element tensor, got shape [${value.shape.join(', ')}]`);
      if (!value.requiresGrad) return [value, inputs.map((x) => x.zerosLike())];
      const grads = computeGrads([value], [value.onesLike()], true);
      return [value, inputs.map((x) => grads.get(x) ?? x.zerosLike())];
    });
}
