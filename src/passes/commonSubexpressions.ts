// Common-subexpression elimination: one node per (op, inputs, attributes), one constant
// per distinct fixed data.
import { formatAttrs, formatType, isControlFlowOp, type Constant, type Graph, type Node, type Value } from '../ir/index.js';
import { isDeterministic } from './opTraits.js';
import type { Pass, PassContext } from './pass.js';
import { isFixed, replaceValue } from './values.js';

function dataKey(c: Constant): string {
  const d = c.data;
  const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  // Exact bytes: NaN payloads and −0 stay distinct, as they are for the kernels.
  let s = `${formatType(c.value.type)}|`;
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

/** Fixed constants with the same type and bytes become one (the first declared). */
function mergeConstants(g: Graph, ctx: PassContext): boolean {
  const seen = new Map<string, Value>();
  let changed = false;
  for (const c of [...g.constants.values()]) {
    if (!isFixed(g, ctx, c.value) || c.data.byteLength > 1 << 16) continue;
    const key = dataKey(c);
    const first = seen.get(key);
    if (!first) {
      seen.set(key, c.value);
      continue;
    }
    replaceValue(g, c.value, first);
    if (!g.isUsed(c.value)) g.constants.delete(c.value.name);
    changed = true;
  }
  return changed;
}

function mergeNodes(g: Graph): boolean {
  const ids = new Map<Value, number>();
  const id = (v: Value): number => {
    let k = ids.get(v);
    if (k === undefined) ids.set(v, (k = ids.size));
    return k;
  };
  const seen = new Map<string, Node>();
  let changed = false;
  for (const node of [...g.nodes]) {
    // A copy is there to give a result storage of its own (see `replaceValue`): never merged.
    if (!isDeterministic(node.op) || node.op === 'copy' || isControlFlowOp(node.op) || node.subgraphs.length) continue;
    const key = `${node.op}(${node.inputs.map(id).join(',')}) ${formatAttrs(node.attrs)} → ${node.outputs.map((v) => formatType(v.type)).join(',')}`;
    const first = seen.get(key);
    if (!first) {
      seen.set(key, node);
      continue;
    }
    node.outputs.forEach((v, i) => replaceValue(g, v, first.outputs[i]!));
    g.erase(node);
    changed = true;
  }
  return changed;
}

/**
 * Merges nodes computing the same op on the same inputs with the same attributes (and
 * output types), keeping the first; random draws are never merged. Fixed constants with
 * identical bytes are merged first, so that what reads them can merge too.
 */
export const commonSubexpressionElimination: Pass = {
  name: 'cse',
  level: 'O1',
  description: 'one node per (op, inputs, attributes); one constant per distinct data',
  run: (g, ctx) => {
    const a = mergeConstants(g, ctx);
    const b = mergeNodes(g);
    return a || b;
  },
};
