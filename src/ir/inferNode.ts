/**
 * Shape inference over symbolic dims, one entry point for every consumer (the verifier,
 * passes that build nodes, plans, model import): `inferNode` gives the output types of
 * an op on input types whose dims are numbers or affine symbols (`batch`, `2*batch+1`).
 * Ops written with `symbolicInfer` infer over dims directly; for the others, the result
 * is fitted from their concrete `infer` at several sizes of each symbol.
 */
import { concreteAttrs, concreteType, formatBindings } from './bindings.js';
import { isSym, NotAffineError, type Dim } from './dims.js';
import type { TensorType } from './dtype.js';
import { KilnError } from './errors.js';
import type { IrAttrs, IrAttrValue, ValueType } from './graph.js';
import { getOp, type Attrs, type OpDef } from './opRegistry.js';
import { formatType } from './valueType.js';

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
  if (def.inferDims) return def.inferDims(inputs, attrs);
  return inferByFitting(def, inputs, attrs);
}

/**
 * Symbolic inference for an op without `inferDims`: `def.infer` at a base size of every
 * symbol, at each symbol one larger, and at all of them three larger (a check); each
 * output dim is read off as affine in the one symbol that moves it. Sampled, not proven:
 * ops written with `symbolicInfer` are exact. (Exported to check such rules against.)
 */
export function inferByFitting(def: OpDef, inputs: readonly ValueType[], attrs: IrAttrs): ValueType[] {
  const syms = new Set<string>();
  // Base sizes keep every input dim ≥ 2, so no dim is mistaken for a broadcastable 1.
  const low = new Map<string, number>();
  const note = (d: Dim) => {
    if (!isSym(d)) return;
    syms.add(d.sym);
    if (d.coef > 0) low.set(d.sym, Math.max(low.get(d.sym) ?? 0, Math.ceil((2 - d.offset) / d.coef)));
  };
  for (const t of inputs) t.shape.forEach(note);
  for (const k in attrs) attrSymbols(attrs[k]!, syms);
  const names = [...syms];
  const base = new Map(names.map((s, i) => [s, Math.max(low.get(s) ?? 0, 0) + 16 + 7 * i]));
  const at = (b: Map<string, number>): TensorType[] => {
    try {
      return def.infer(inputs.map((t) => concreteType(t, b)), concreteAttrs(attrs, b));
    } catch (e) {
      if (e instanceof KilnError) throw new KilnError(`${e.message} (at ${formatBindings(b)})`, e.op ? { op: e.op } : {});
      throw e;
    }
  };
  const r0 = at(base);
  const moved = names.map((s) => at(new Map([...base, [s, base.get(s)! + 1]])));
  const check = new Map([...base].map(([s, v]) => [s, v + 3]));
  const rc = at(check);
  const same = (r: TensorType[]) => r.length === r0.length && r.every((t, k) => t.dtype === r0[k]!.dtype && t.shape.length === r0[k]!.shape.length);
  if (![...moved, rc].every(same)) throw new NotAffineError(`${def.name}: the number, dtypes or ranks of its outputs depend on the sizes of ${names.join(', ')}`);
  return r0.map((t, k) => {
    const shape = t.shape.map((d0, i): Dim => {
      const movers = names.map((s, j) => ({ s, coef: moved[j]![k]!.shape[i]! - d0 })).filter((m) => m.coef !== 0);
      if (movers.length > 1) throw new NotAffineError(`${def.name}: dim ${i} of output ${k} depends on ${movers.map((m) => m.s).join(' and ')} together`);
      const dim: Dim = movers.length ? { sym: movers[0]!.s, coef: movers[0]!.coef, offset: d0 - movers[0]!.coef * base.get(movers[0]!.s)! } : d0;
      const predicted = typeof dim === 'number' ? dim : dim.coef * check.get(dim.sym)! + dim.offset;
      if (predicted !== rc[k]!.shape[i]) throw new NotAffineError(`${def.name}: dim ${i} of output ${k} is not affine in ${names.join(', ')} (${formatType({ dtype: t.dtype, shape: t.shape })} at ${formatBindings(base)})`);
      return dim;
    });
    return { dtype: t.dtype, shape };
  });
}
