// Constant folding: nodes computed from constants only become constants.
import {
  arrayFor, concreteAttrs, getOp, isControlFlowOp, isSym, sizeOf, typesEqual,
  type Attrs, type Graph, type IrAttrValue, type Node, type TensorType, type TypedArray, type Value,
} from '../ir/index.js';
import { isDeterministic } from './opTraits.js';
import type { Evaluator, Pass, PassContext } from './pass.js';
import { constantOf, fixedData, isFixed, replaceValue, staticShape } from './values.js';

/** A folded result may be this many elements, or up to twice its inputs' (an expand of a scalar is cheaper left as a node). */
const SMALL = 4096;

function attrHasSymbol(v: IrAttrValue): boolean {
  if (isSym(v)) return true;
  return Array.isArray(v) && (v as readonly IrAttrValue[]).some(attrHasSymbol);
}

/**
 * A name for a folded value, after its first input: `fc1.weight.T` for a weight's
 * transpose, `fc1.weight.f` (then `.f_1`, …) for anything else computed from it.
 */
function nameFor(node: Node): string {
  const base = (node.inputs[0]?.name ?? 'fold').replace(/(\.T|\.f)?(_\d+)?$/, '');
  const perm = node.attrs['perm'];
  return `${base}.${node.op === 'transpose' && Array.isArray(perm) && perm.length === 2 ? 'T' : 'f'}`;
}

/** The data of constant `v` as it is now (a live or folded one's current values). */
function currentData(g: Graph, v: Value): TypedArray {
  return constantOf(g, v)!.data;
}

function asTensorType(v: Value): TensorType {
  return { dtype: v.type.dtype, shape: staticShape(v.type)! };
}

/** `elementCount` reads only its input's shape: fixed once the counted dims are numbers. */
function foldElementCount(g: Graph, node: Node): boolean {
  const x = node.inputs[0]!;
  const axes = node.attrs['axes'];
  if (!Array.isArray(axes)) return false;
  let n = 1;
  for (const a of axes as readonly number[]) {
    const d = x.type.shape[a];
    if (typeof d !== 'number') return false;
    n *= d;
  }
  const out = node.outputs[0]!;
  const data = arrayFor(out.type.dtype, 1);
  data[0] = out.type.dtype === 'bool' ? Number(n !== 0) : n;
  replaceValue(g, out, g.addConstant('count', data, out.type));
  g.erase(node);
  return true;
}

/**
 * Whether `node` can become constants: a deterministic op on constants only, with
 * static output shapes and no symbol in its attributes, whose results are not much
 * larger than its inputs.
 */
function foldable(g: Graph, node: Node): boolean {
  if (!node.inputs.length || !isDeterministic(node.op) || node.op === 'copy' || isControlFlowOp(node.op) || node.subgraphs.length) return false;
  if (!getOp(node.op)) return false;
  if (!node.inputs.every((v) => constantOf(g, v) !== undefined)) return false;
  if (node.outputs.some((v) => staticShape(v.type) === null)) return false;
  if (Object.values(node.attrs).some(attrHasSymbol)) return false;
  const inSize = node.inputs.reduce((s, v) => s + sizeOf(staticShape(v.type)!), 0);
  const outSize = node.outputs.reduce((s, v) => s + sizeOf(staticShape(v.type)!), 0);
  return outSize <= Math.max(SMALL, 2 * inSize);
}

/** Replaces the outputs of `node` by `values` and erases it. */
function replaceNode(g: Graph, node: Node, values: readonly Value[]): void {
  node.outputs.forEach((v, k) => replaceValue(g, v, values[k]!));
  g.erase(node);
}

function foldNode(g: Graph, ctx: PassContext, node: Node, evaluate: Evaluator | undefined): boolean {
  const def = getOp(node.op)!;
  const attrs: Attrs = concreteAttrs(node.attrs, new Map());
  const name = nameFor(node);
  const fixed = node.inputs.every((v) => isFixed(g, ctx, v));
  if (fixed && def.alias) {
    // reshape of a fixed constant: the same elements under another type, no kernel needed.
    replaceNode(g, node, [g.addConstant(name, fixedData(g, ctx, node.inputs[0]!)!, node.outputs[0]!.type)]);
    return true;
  }
  if (!evaluate) return false;
  if (fixed) {
    const datas = evaluate(node.op, node.inputs.map((v) => ({ data: fixedData(g, ctx, v)!, type: asTensorType(v) })), attrs);
    replaceNode(g, node, node.outputs.map((v, k) => g.addConstant(name, datas[k]!, v.type)));
    return true;
  }
  // Some input may change between runs: a folded constant, recomputed from its sources.
  // A reshape of a folded reshape reads the original directly.
  const src = node.inputs[0]!;
  const inner = constantOf(g, src)?.folded;
  if (def.alias && inner && getOp(inner.op)?.alias) node.inputs[0] = inner.inputs[0]!;
  if (def.alias && typesEqual(node.inputs[0]!.type, node.outputs[0]!.type)) {
    replaceNode(g, node, [node.inputs[0]!]);
    return true;
  }
  const values = node.outputs.map((v, index) => {
    const recipe = { op: node.op, inputs: [...node.inputs], attrs: node.attrs, index };
    return g.addFoldedConstant(name, v.type, recipe, () =>
      evaluate(recipe.op, recipe.inputs.map((u) => ({ data: currentData(g, u), type: asTensorType(u) })), attrs)[index]!);
  });
  replaceNode(g, node, values);
  return true;
}

/**
 * Folds, in order, every node computed from constants only (so chains fold in one
 * sweep): on fixed data it computes the result now (through `ctx.evaluate`, the target's
 * kernels); where a parameter read live is involved it makes a folded constant that is
 * recomputed whenever that parameter changes (a Linear's transposed weight: never
 * transposed per run, never stale). `elementCount` of static dims becomes a number.
 * Random draws and results much larger than their inputs (expand) are left as nodes.
 */
export function foldConstants(g: Graph, ctx: PassContext): boolean {
  let changed = false;
  for (const node of [...g.nodes]) {
    if (node.op === 'elementCount') {
      if (foldElementCount(g, node)) changed = true;
      continue;
    }
    if (foldable(g, node) && foldNode(g, ctx, node, ctx.evaluate)) changed = true;
  }
  return changed;
}

export const constantFolding: Pass = {
  name: 'constantFolding',
  level: 'O1',
  description: 'nodes of constants become constants (recomputed when a parameter they read changes)',
  run: foldConstants,
};
