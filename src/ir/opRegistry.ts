import type { TensorType } from './dtype.js';
import type { IrAttrs, ValueType } from './graph.js';

export type AttrValue = number | boolean | string | null | readonly number[] | readonly (readonly number[])[];
export type Attrs = Readonly<Record<string, AttrValue>>;

/** What a gradient rule receives. `T` is the tensor type of whoever runs it (eager Tensor, tracer). */
export interface GradContext<T> {
  readonly inputs: readonly T[];
  readonly outputs: readonly T[];
  /** Gradient of the loss w.r.t. each output (never null: missing ones are zeros). */
  readonly dys: readonly T[];
  readonly attrs: Attrs;
  /** Which inputs need a gradient: a rule may skip (return null for) the others. */
  readonly needs: readonly boolean[];
  /**
   * The gradient w.r.t. each input (null where not `needs`) through the op's `decompose`:
   * its primitives are run again on the inputs and differentiated. For ops without a
   * closed form worth writing (the recurrent ops): `grad: gradThroughDecomposition`.
   * Higher-order gradients flow through it too.
   */
  readonly throughDecomposition: () => (T | null)[];
}

/**
 * One primitive op, defined once: type/shape inference, gradient as tensor code, docs.
 * Backends register kernels under the same name.
 */
export interface OpDef<T = unknown> {
  readonly name: string;
  /**
   * How many inputs the op takes: a count, or `[min, max]` for optional trailing inputs
   * (conv2d's bias: `[2, 3]`) or any number (concat: `[1, Infinity]`). The verifier
   * reports a node with another number of inputs; `infer` may assume the count is right.
   */
  readonly arity: number | readonly [min: number, max: number];
  /** Infers output types; throws a KilnError (without call site) on bad input. */
  infer(inputs: readonly TensorType[], attrs: Attrs): TensorType[];
  /**
   * The same rule over symbolic dims (`batch`, `2*batch+1`) and attributes holding them,
   * written with the affine helpers of `dims.ts` (which throw a `NotAffineError` where a
   * result is not affine). Ops define both at once with `symbolicInfer`. Required: it is
   * how `inferNode` proves shapes for every size (there is no sampling fallback).
   */
  inferDims(inputs: readonly ValueType[], attrs: IrAttrs): ValueType[];
  /**
   * Gradient w.r.t. each input, written with ordinary tensor ops so it can itself be
   * differentiated. `null` for an input that gets no gradient (indices, masks).
   * Absent: the op is not differentiable (comparisons, argmax, random).
   */
  grad?(ctx: GradContext<T>): (T | null)[];
  /**
   * The op's meaning as primitive ops, written against the same tensor interface as
   * `grad` (PyTorch's composite ops / `torch._decomp` are the model): returns the outputs
   * `infer` describes. High-level ops (`linear`, `batchNorm`, `layerNorm`, `lstm`) have
   * one. A backend without a kernel for the op runs it (eager dispatch and compiled plans
   * alike), the interpreter through them, and passes may replace a node by it.
   */
  decompose?(inputs: readonly T[], attrs: Attrs): T[];
  /**
   * With `grad: gradThroughDecomposition`: when a gradient is needed, eager dispatch runs
   * the decomposition on the tape even where the backend has a kernel for the op (the
   * recurrent ops: the backward pass would otherwise run the whole sequence again).
   * Without it, a kernel runs and the backward pass recomputes the primitives.
   */
  readonly tapeDecomposition?: boolean;
  /** Output 0 shares the storage of input 0 (reshape): no kernel runs. */
  readonly alias?: boolean;
  /** Helper ops that exist only for another op's gradient, e.g. conv2dBackpropFilter. */
  readonly internalFor?: string;
  /** One-line description for the op list. */
  readonly doc: string;
}

/**
 * What is wrong with giving `def` `count` inputs (`takes 2 inputs, got 3`), or null
 * when the count fits its `arity`.
 */
export function arityMismatch(def: Pick<OpDef, 'arity'>, count: number): string | null {
  const [min, max] = typeof def.arity === 'number' ? [def.arity, def.arity] : def.arity;
  if (count >= min && count <= max) return null;
  const n = (k: number) => `${k} input${k === 1 ? '' : 's'}`;
  const want = min === max ? n(min) : max === Infinity ? `at least ${n(min)}` : `${min} to ${n(max)}`;
  return `takes ${want}, got ${count}`;
}

/**
 * The gradient rule of an op differentiated through its decomposition (no closed form
 * worth writing: the recurrent ops): `grad: gradThroughDecomposition`. Eager dispatch
 * recognises it: where such an op has no kernel (or sets `tapeDecomposition`) it records
 * the primitives on the tape rather than run them again for the backward pass.
 */
export function gradThroughDecomposition<T>(ctx: GradContext<T>): (T | null)[] {
  return ctx.throughDecomposition();
}

const registry = new Map<string, OpDef>();

export function registerOp<T>(def: OpDef<T>): OpDef<T> {
  if (registry.has(def.name)) throw new Error(`op ${def.name} registered twice`);
  registry.set(def.name, def as OpDef);
  return def;
}

export function getOp(name: string): OpDef | undefined {
  return registry.get(name);
}

export function listOps(): OpDef[] {
  return [...registry.values()];
}
