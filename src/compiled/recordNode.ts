// What a recorded op call becomes in a graph, the same for both tracers (the graph
// tracer's first call, the lazy tracer's segments).
import type { Attrs, Graph, IrAttrs, Node, TensorType, Value } from '../ir/index.js';

/** Deep copy of attrs (eager code may reuse arrays it passed). */
export function copyAttrs(attrs: Attrs): IrAttrs {
  const out: Record<string, IrAttrs[string]> = {};
  for (const k in attrs) {
    const v = attrs[k]!;
    out[k] = Array.isArray(v) ? (v as readonly unknown[]).map((e) => (Array.isArray(e) ? [...(e as number[])] : e)) as IrAttrs[string] : v;
  }
  return out;
}

/**
 * Appends the node of one op call: `op` on `inputs` with a copy of `attrs`, outputs of
 * `outTypes` (copied: tensors' shape arrays are theirs), `source` the user's line.
 */
export function recordNode(graph: Graph, op: string, inputs: Value[], attrs: Attrs, outTypes: readonly TensorType[], source: string | undefined): Node {
  return graph.addNode(op, inputs, copyAttrs(attrs), outTypes.map((t) => ({ dtype: t.dtype, shape: [...t.shape] })), source);
}
