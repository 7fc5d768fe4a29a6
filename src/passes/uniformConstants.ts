// Filled constants as broadcasts: a constant whose elements are all the same becomes a
// one-element constant expanded to its shape.
import type { Graph, Node, Value } from '../ir/index.js';
import type { Pass, PassContext } from './pass.js';
import { fixedData } from './values.js';

/**
 * Rewrites every fixed constant of more than one element whose elements are all the same
 * (`zeros([batch, hidden])`, `full(...)` made while tracing) into `expand(c) {shape}` of
 * a one-element constant: the shape then shows in an attribute, where tracing at other
 * sizes can recognize a symbolic size (a constant's data cannot), and the graph holds one
 * element instead of many. The constant keeps its name; the expand sits right before the
 * first node that reads it and takes that node's source line. Returns whether it changed
 * anything.
 *
 * @example
 * ```ts
 * // const %c: float32[2, 3] = [0, 0, 0, 0, 0, 0];  %y = add(%x, %c)
 * expandUniformConstants(g, ctx);
 * // const %c: float32[] = [0];  %0: float32[2, 3] = expand(%c) {shape=[2, 3]};  %y = add(%x, %0)
 * ```
 */
export function expandUniformConstants(g: Graph, ctx: PassContext): boolean {
  let changed = false;
  for (const c of [...g.constants.values()]) {
    const v = c.value;
    const data = fixedData(g, ctx, v);
    if (!data || data.length <= 1) continue;
    let uniform = true;
    for (let i = 1; i < data.length && uniform; i++) uniform = Object.is(data[i], data[0]);
    if (!uniform) continue;
    const type = v.type;
    const first = firstReader(g, v);
    // Read by a subgraph only, or by nothing but the outputs: expanded at the end of the graph.
    const anchor = first && g.nodes.includes(first) ? first : null;
    v.type = { dtype: type.dtype, shape: [] };
    g.constants.set(v.name, { value: v, data: data.slice(0, 1) });
    const expand = g.insertBefore(anchor, 'expand', [v], { shape: [...type.shape] }, [type], anchor?.source);
    g.replaceAllUsesWith(v, expand.outputs[0]!, expand);
    changed = true;
  }
  return changed;
}

/** The first node of `g` reading `v` (directly or from one of its subgraphs). */
function firstReader(g: Graph, v: Value): Node | undefined {
  const reads = (n: Node): boolean => n.inputs.includes(v) || n.subgraphs.some((s) => s.nodes.some(reads));
  return g.nodes.find(reads);
}

/**
 * `expandUniformConstants` as a pass. `kiln.compile` runs it on every trace before
 * comparing traces for symbolic dims (not in the optimization pipeline: it is how a
 * traced graph is written, at every level).
 */
export const uniformConstants: Pass = {
  name: 'uniform-constants',
  level: 'O0',
  description: 'filled constants become expand(scalar) with the shape as an attribute',
  run: expandUniformConstants,
};
