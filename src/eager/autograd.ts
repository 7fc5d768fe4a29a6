import { formatShape, isFloat, KilnError, type Attrs, type DType, type OpDef } from '../ir/index.js';
import type { Backend } from '../runtime/backend.js';
import { engine } from './engine.js';
import { isPending, pendingTensor, Tensor } from './tensor.js';
import { opError } from './dispatch.js';
import { differentiateDecomposition } from './decomposition.js';

const NONE: readonly Tensor[] = [];

/** What a node keeps once `release()` dropped its saved tensors: the graph's edges and the shapes. */
interface Released {
  /** Per input: the node that produced it (its gradient flows there), else null. */
  readonly next: readonly (GradNode | null)[];
  /** Per input: which output of `next[i]` it is. */
  readonly nextIndex: readonly number[];
  /** Per input: the input itself when it was a leaf that required grad, else null. */
  readonly leaves: readonly (Tensor | null)[];
  /** Shapes and dtypes of the inputs, then the outputs (gradient rules read shapes). */
  readonly types: readonly { readonly shape: readonly number[]; readonly dtype: DType }[];
  readonly backend: Backend;
}

/**
 * One recorded op on the tape: enough to run its gradient rule. It saves its inputs and
 * outputs with their storage versions: a gradient rule that reads one after an in-place
 * write (a changed version) raises instead of computing a wrong gradient (PyTorch's
 * saved-variable version check). After a `backward()` without `retainGraph` the node
 * is released: it drops the saved tensors (so memory nothing else holds can be
 * reclaimed) and keeps only the edges and shapes; a rule that then needs a saved value
 * raises. Rules that read no saved value (transpose, add) still run, as in PyTorch.
 */
export class GradNode {
  #inputs: readonly Tensor[];
  #outputs: readonly Tensor[];
  /** Storage version of each input, then each output, when the op ran; -1: a lazy tensor not computed yet. */
  readonly #versions: number[];
  #released: Released | null = null;
  /** @internal The user's line that ran the op, recorded only under `detectAnomaly`. */
  site: string | undefined = undefined;
  /** @internal Outputs whose `.grad` `backward()` fills although they are not leaves (`retainGrad()`). */
  retained: Tensor[] | null = null;
  /** The tensors the gradient rule got while it runs (saved ones, or shape-only stand-ins once released). */
  #rule: { readonly inputs: readonly Tensor[]; readonly outputs: readonly Tensor[] } | null = null;

  constructor(
    readonly def: OpDef,
    inputs: readonly Tensor[],
    outputs: readonly Tensor[],
    readonly attrs: Attrs,
  ) {
    this.#inputs = inputs;
    this.#outputs = outputs;
    const n = inputs.length;
    const versions = new Array<number>(n + outputs.length);
    for (let i = 0; i < n; i++) versions[i] = versionOf(inputs[i]!);
    for (let i = 0; i < outputs.length; i++) versions[n + i] = versionOf(outputs[i]!);
    this.#versions = versions;
  }

  /** The inputs saved for the gradient rule (empty once released). */
  get inputs(): readonly Tensor[] {
    return this.#inputs;
  }

  /** The outputs saved for the gradient rule (empty once released). */
  get outputs(): readonly Tensor[] {
    return this.#outputs;
  }

  /** Whether a `backward()` without `retainGraph` has freed what this node saved. */
  get released(): boolean {
    return this.#released !== null;
  }

  /** @internal Number of inputs (edges into the graph). */
  get arity(): number {
    return this.#released ? this.#released.next.length : this.#inputs.length;
  }

  /** @internal The node input `i` came from, when a gradient flows to it through one. */
  inputNode(i: number): GradNode | null {
    const r = this.#released;
    if (r) return r.next[i]!;
    const x = this.#inputs[i]!;
    return x.requiresGrad ? x.gradFn : null;
  }

  /** @internal Which output of `inputNode(i)` input `i` is. */
  inputIndex(i: number): number {
    const r = this.#released;
    return r ? r.nextIndex[i]! : this.#inputs[i]!.outputIndex;
  }

  /** @internal Input `i` when it is a leaf that requires grad (its gradient accumulates there). */
  inputLeaf(i: number): Tensor | null {
    const r = this.#released;
    const x = r ? r.leaves[i]! : this.#inputs[i]!;
    return x !== null && x.gradFn === null && x.requiresGrad ? x : null;
  }

  /** @internal Drops the saved tensors, keeping the edges and shapes (see the class doc). */
  release(): void {
    if (this.#released) return;
    const ins = this.#inputs, outs = this.#outputs;
    const next: (GradNode | null)[] = [], nextIndex: number[] = [], leaves: (Tensor | null)[] = [];
    for (let i = 0; i < ins.length; i++) {
      next.push(this.inputNode(i));
      nextIndex.push(ins[i]!.outputIndex);
      leaves.push(this.inputLeaf(i));
    }
    const types = [...ins, ...outs].map((t) => ({ shape: t.shape, dtype: t.dtype }));
    this.#released = { next, nextIndex, leaves, types, backend: (ins[0] ?? outs[0]!).backend };
    this.#inputs = NONE;
    this.#outputs = NONE;
  }

  /**
   * @internal Runs the gradient rule on the output gradients `gs` (missing ones are
   * zeros); returns the gradient of each input that needs one.
   */
  gradients(gs: readonly (Tensor | undefined)[]): (Tensor | null)[] {
    const r = this.#released;
    const n = this.arity;
    // Released: stand-ins without elements carry the shapes; reading one raises (checkReads).
    const standIns = r ? r.types.map((t) => pendingTensor(t.shape, t.dtype, r.backend)) : null;
    const inputs = standIns ? standIns.slice(0, n) : this.#inputs;
    const outputs = standIns ? standIns.slice(n) : this.#outputs;
    const needs = new Array<boolean>(n);
    for (let i = 0; i < n; i++) needs[i] = r ? r.next[i] !== null || this.inputLeaf(i) !== null : inputs[i]!.requiresGrad;
    const dys = outputs.map((o, k) => gs[k] ?? o.zerosLike());
    const outer = ruleState.node;
    ruleState.node = this;
    this.#rule = { inputs, outputs };
    let result: (Tensor | null)[];
    try {
      const def = this.def, attrs = this.attrs;
      const throughDecomposition = () => differentiateDecomposition(def, inputs, dys, attrs, needs);
      result = def.grad!({ inputs, outputs, dys, attrs, needs, throughDecomposition }) as (Tensor | null)[];
    } finally {
      ruleState.node = outer;
      this.#rule = null;
      if (standIns) for (const t of standIns) t.dispose();
    }
    for (let i = 0; i < n; i++) {
      const g = result[i];
      if (!g || !needs[i]) {
        result[i] = null;
        continue;
      }
      const shape = inputs[i]!.shape;
      if (g.shape.length !== shape.length || g.shape.some((d, k) => d !== shape[k])) {
        throw opError(this.def.name, `gradient rule returned shape [${g.shape}] for input ${i} of shape [${shape}] (a bug in Kiln's gradient for this op)`);
      }
    }
    return result;
  }

  /**
   * @internal Dispatch calls this for every op the running gradient rule applies: an
   * input sharing storage with a tensor this node saved must still hold the values the
   * op saw (same version), be alive, and not have been released.
   */
  checkReads(xs: readonly Tensor[]): void {
    const rule = this.#rule;
    if (!rule) return;
    const n = rule.inputs.length;
    const total = n + rule.outputs.length;
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i]!;
      const s = x.storage;
      for (let j = 0; j < total; j++) {
        const saved = j < n ? rule.inputs[j]! : rule.outputs[j - n]!;
        if (saved.storage !== s) continue;
        if (this.#released) {
          throw opError('backward', `trying to backpropagate through the graph a second time, but the tensors saved for the gradient (${this.describe(j, saved)}) were freed by the previous backward(). Pass { retainGraph: true } to the first backward() (loss.backward(undefined, { retainGraph: true })) to backpropagate through the same graph again, or recompute the forward pass`);
        }
        if (x.disposed) throw opError('backward', `a tensor saved for the gradient (${this.describe(j, saved)}) was disposed (by dispose() or a kiln.scope that ended before backward ran)`);
        const expected = this.#versions[j]!;
        if (expected >= 0 && s.version !== expected) {
          throw opError('backward', `one of the tensors needed for the gradient was modified by an in-place operation: ${this.describe(j, saved)} is at version ${s.version}, but ${this.def.name} saved it at version ${expected}. Something wrote to it between the forward pass and backward() (copy_, add_, sub_, mul_ or div_, also through a tensor sharing its elements: a reshape or detach()). Use the out-of-place op (h = h.add(1), not h.add_(1)), clone() the tensor before the update, or call backward() first`);
        }
      }
    }
  }

  /** `input 0 of sin (float32[3])`: saved tensor `j` (inputs, then outputs) as errors name it. */
  private describe(j: number, t: Tensor): string {
    const n = this.#rule ? this.#rule.inputs.length : this.arity;
    return `${j < n ? `input ${j}` : `output ${j - n}`} of ${this.def.name} (${t.dtype}${formatShape(t.shape)})`;
  }
}

function versionOf(t: Tensor): number {
  return isPending(t.storage) ? -1 : t.storage.version;
}

/** @internal The node whose gradient rule is running (dispatch checks the rule's reads against it). */
export const ruleState = { node: null as GradNode | null };

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
      if (i < node.arity) {
        top[1]++;
        const next = node.inputNode(i);
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

/** What `computeGrads` found. */
export interface Gradients {
  /** The gradient that reached `t` (a leaf or an intermediate on the tape), if any. */
  of(t: Tensor): Tensor | undefined;
  /** Gradients of the leaves that require grad. */
  readonly leaves: ReadonlyMap<Tensor, Tensor>;
  /** Gradients of the non-leaf tensors that called `retainGrad()` and got one. */
  readonly retained: ReadonlyMap<Tensor, Tensor>;
}

/**
 * Gradients of `roots` (seeded with `seeds`) w.r.t. every tensor on their tape.
 * With `createGraph` the backward ops are themselves recorded (higher-order gradients).
 * Without `retainGraph` every node whose rule ran is released afterwards.
 */
export function computeGrads(roots: readonly Tensor[], seeds: readonly Tensor[], createGraph: boolean, retainGraph = createGraph): Gradients {
  const leafGrads = new Map<Tensor, Tensor>();
  const nodeGrads = new Map<GradNode, (Tensor | undefined)[]>();
  const toNode = (node: GradNode, index: number, g: Tensor) => {
    let gs = nodeGrads.get(node);
    if (!gs) nodeGrads.set(node, (gs = []));
    const prev = gs[index];
    gs[index] = prev ? prev.add(g) : g;
  };
  const toLeaf = (x: Tensor, g: Tensor) => {
    const prev = leafGrads.get(x);
    leafGrads.set(x, prev ? prev.add(g) : g);
  };
  roots.forEach((r, i) => (r.gradFn ? toNode(r.gradFn, r.outputIndex, seeds[i]!) : toLeaf(r, seeds[i]!)));
  const nodes = reverseTopological(roots);
  const ran: GradNode[] = [];
  const prev = engine.gradEnabled;
  engine.gradEnabled = createGraph;
  try {
    for (const node of nodes) {
      const gs = nodeGrads.get(node);
      if (!gs) continue;
      const result = node.gradients(gs);
      ran.push(node);
      for (let i = 0; i < result.length; i++) {
        const g = result[i];
        if (!g) continue;
        const next = node.inputNode(i);
        if (next) {
          toNode(next, node.inputIndex(i), g);
        } else {
          const leaf = node.inputLeaf(i);
          if (leaf) toLeaf(leaf, g);
        }
      }
    }
  } finally {
    engine.gradEnabled = prev;
  }
  // Only after success: a backward that raised leaves the graph as it was.
  if (!retainGraph) for (const node of ran) node.release();
  const retained = new Map<Tensor, Tensor>();
  for (const node of ran) {
    if (!node.retained) continue;
    const gs = nodeGrads.get(node)!;
    for (const t of node.retained) {
      const g = gs[t.outputIndex];
      if (g && !t.disposed) retained.set(t, g);
    }
  }
  return {
    leaves: leafGrads,
    retained,
    of: (t) => (t.gradFn ? nodeGrads.get(t.gradFn)?.[t.outputIndex] : leafGrads.get(t)),
  };
}

/** Options of `tensor.backward()`. */
export interface BackwardOptions {
  /** Record the backward pass so the gradients can be differentiated again (implies `retainGraph`). */
  createGraph?: boolean;
  /**
   * Keep the tensors the graph saved, so `backward()` can run through it again. Without
   * it they are released and a second backward through the same ops raises.
   */
  retainGraph?: boolean;
}

/** `tensor.backward()`: accumulates into `.grad` of the leaves that require grad (and of tensors that called `retainGrad()`). */
export function backward(root: Tensor, gradient: Tensor | null | undefined, options: BackwardOptions): void {
  if (!root.requiresGrad) throw opError('backward', 'this tensor does not require grad: no input of the computation has requiresGrad set');
  if (gradient === undefined || gradient === null) {
    if (root.size !== 1) throw opError('backward', `backward() without a gradient needs a one-element tensor, got shape [${root.shape.join(', ')}]`);
  } else {
    checkSeed(root, gradient);
  }
  const createGraph = options.createGraph ?? false;
  const seed = gradient ?? root.onesLike();
  const grads = computeGrads([root], [seed], createGraph, options.retainGraph ?? createGraph);
  const assigned = new Set<Tensor>();
  for (const [x, g] of [...grads.leaves, ...grads.retained]) {
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

/** The explicit `gradient` of `backward(gradient)` must match the tensor it seeds: the caller's mistake otherwise. */
function checkSeed(root: Tensor, gradient: unknown): asserts gradient is Tensor {
  const want = `${root.dtype}${formatShape(root.shape)}`;
  if (!(gradient instanceof Tensor)) {
    throw opError('backward', `the gradient argument must be a Tensor of the same shape and dtype as the tensor (${want}), got ${describeValue(gradient)}`);
  }
  const got = `${gradient.dtype}${formatShape(gradient.shape)}`;
  if (gradient.disposed) throw opError('backward', `the gradient argument (${got}) was disposed`);
  const sameShape = gradient.shape.length === root.shape.length && gradient.shape.every((d, i) => d === root.shape[i]);
  if (!sameShape) {
    throw opError('backward', `the gradient argument has shape ${formatShape(gradient.shape)} but the tensor backward() was called on has shape ${formatShape(root.shape)}: pass a gradient of the same shape (one value per element: the vector of the vector-Jacobian product)`, [root, gradient]);
  }
  if (gradient.dtype !== root.dtype) {
    throw opError('backward', `the gradient argument is ${got} but the tensor is ${want}: pass a gradient of the same dtype (gradient.cast('${root.dtype}'))`, [root, gradient]);
  }
  if (gradient.backend !== root.backend) {
    throw opError('backward', `the gradient argument lives on the '${gradient.backend.name}' backend but the tensor on '${root.backend.name}': move it with gradient.to('${root.backend.name}')`, [root, gradient]);
  }
}

/** A value as an error message names it: `the number 3`, `an array of length 2`, `undefined`. */
function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === 'object') {
    const name = (v as object).constructor?.name;
    if (typeof (v as { then?: unknown }).then === 'function') return 'a Promise (the function must be synchronous)';
    return name && name !== 'Object' ? `a ${name}` : 'an object';
  }
  return `a ${typeof v}`;
}

/**
 * Functional gradient: `grad(f)(...args)` returns df/darg for every tensor argument.
 * `f` must return a one-element tensor; the arguments must be floating-point tensors.
 * The backward pass is recorded, so `grad` can be nested for higher-order derivatives.
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
      args.forEach((a: unknown, i) => {
        if (!(a instanceof Tensor)) throw opError('grad', `argument ${i} must be a Tensor, got ${describeValue(a)}`);
        if (!isFloat(a.dtype)) {
          throw opError('grad', `argument ${i} is ${a.dtype}${formatShape(a.shape)}: only tensors of a floating-point dtype can require gradients (cast it first: x.cast('float32'))`, [a]);
        }
      });
      // Arguments that do not require grad get a fresh differentiable alias.
      const inputs = args.map((a) => {
        if (a.requiresGrad) return a;
        const alias = a.detach();
        alias.requiresGrad = true;
        return alias;
      }) as A;
      const value: unknown = f(...inputs);
      if (!(value instanceof Tensor)) throw opError('grad', `the function must return a one-element Tensor, got ${describeValue(value)}`);
      if (value.size !== 1) throw opError('grad', `the function must return a one-element tensor, got shape [${value.shape.join(', ')}]`);
      if (!value.requiresGrad) return [value, inputs.map((x) => x.zerosLike())];
      // Recorded (createGraph), hence retained: nested grads differentiate this pass again.
      const grads = computeGrads([value], [value.onesLike()], true);
      return [value, inputs.map((x) => grads.of(x) ?? x.zerosLike())];
    });
}
