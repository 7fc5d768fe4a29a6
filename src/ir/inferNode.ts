/**
 * Shape inference over symbolic dims, one entry point for every consumer (the verifier,
 * passes that build nodes, plans, model import): `inferNode` gives the output types of
 * an op on input types whose dims are numbers or affine symbols (`batch`, `2*batch+1`).
 * Every op has an exact rule over dims (`inferDims`, usually from `symbolicInfer`): a
 * result is proven for every size of the symbols, never sampled; what is not affine in
 * one symbol throws a `NotAffineError` and the caller specializes per size. (Probing by
 * tracing at several sizes, `compiled/symbolic.ts`, stays only for what user JavaScript
 * computes from sizes.)
 */
import { isSym } from './dims.js';
import type { TensorType } from './dtype.js';
import { KilnError } from './errors.js';
import type { IrAttrs, IrAttrValue, ValueType } from './graph.js';
import { getOp, type Attrs, type OpDef } from './opRegistry.js';

/**
 * Defines an op's `infer` and `inferDims` from one rule written over dims with the
 * affine helpers of `dims.ts` (`dimAdd`, `dimMul`, `dimProduct`, …): on concrete inputs
 * those compute with numbers, so eager dispatch runs the same rule.
 *
 * @example
 * ```ts
 * registerOp({
 *   name: 'flatten2',
 *   arity: 1,
 *   doc: '[a, b, c] → [a, b·c]',
 *   ...symbolicInfer(([x]) => [{ dtype: x!.dtype, shape: [x!.shape[0]!, dimMul(x!.shape[1]!, x!.shape[2]!)] }]),
 * });
 * ```
 */
export function symbolicInfer(rule: (inputs: readonly ValueType[], attrs: IrAttrs) => ValueType[]): Pick<OpDef, 'infer' | 'inferDims'> {
  return {
    infer: (inputs: readonly TensorType[], attrs: Attrs): TensorType[] => {
      const out = rule(inputs, attrs);
      for (const t of out) for (const d of t.shape) if (typeof d !== 'number') throw new Error(`symbolic dim ${JSON.stringify(d)} inferred from concrete inputs`);
      return out as TensorType[];
    },
    inferDims: rule,
  };
}

function attrSymbols(v: IrAttrValue, into: Set<string>): void {
  if (isSym(v)) into.add(v.sym);
  else if (Array.isArray(v)) for (const e of v as readonly IrAttrValue[]) attrSymbols(e, into);
}

/** Whether nothing in the inputs' types or the attributes is symbolic. */
function isConcrete(inputs: readonly ValueType[], attrs: IrAttrs): boolean {
  for (const t of inputs) for (const d of t.shape) if (typeof d !== 'number') return false;
  const syms = new Set<string>();
  for (const k in attrs) attrSymbols(attrs[k]!, syms);
  return syms.size === 0;
}

/**
 * The output types of `op` on `inputs` with `attrs`. Throws a `KilnError` where the op
 * rejects its inputs, and a `NotAffineError` where an output dim is not affine in one
 * symbol (it depends on two, or on one in a way a SymDim cannot write).
 *
 * @example
 * ```ts
 * inferNode('matmul', [{ dtype: 'float32', shape: [sym('batch'), 784] }, { dtype: 'float32', shape: [784, 10] }], {});
 * // [{ dtype: 'float32', shape: [batch, 10] }]
 * inferNode('reshape', [{ dtype: 'float32', shape: [sym('batch'), 2, 3] }], { shape: [-1, 3] });
 * // [{ dtype: 'float32', shape: [2*batch, 3] }]
 * ```
 */
export function inferNode(op: string, inputs: readonly ValueType[], attrs: IrAttrs): ValueType[] {
  const def = getOp(op);
  if (!def) throw new KilnError(`unknown op '${op}'`, { op });
  if (isConcrete(inputs, attrs)) return def.infer(inputs as readonly TensorType[], attrs as Attrs);
  return def.inferDims(inputs, attrs);
}
