// Elementwise fusion (O2): a connected group of elementwise ops (a chain or a DAG, with
// broadcast operands) becomes one `fusedElementwise` node, which the target runs as one
// generated kernel: each input read once, the result written once, no intermediate
// tensors. Inference only (see src/ops/fused.ts).
import { dimEquals, formatProgram, inferNode, PROGRAM_OPS, stepDtype, type AttrValue, type Graph, type Node, type ProgramStep, type Value } from '../ir/index.js';
import { isDeterministic } from './opTraits.js';
import type { Pass, PassContext } from './pass.js';
import { replaceValue, useCounts } from './values.js';

/** The most ops one fused node takes (bounds the generated kernel's size). */
export const MAX_FUSED_OPS = 64;

/** The attributes of `node` its program step keeps (numbers or null), or null where one is of another kind. */
function stepAttrs(node: Node): Record<string, AttrValue> | null {
  const out: Record<string, AttrValue> = {};
  for (const a of PROGRAM_OPS[node.op]!.attrs) {
    const v = node.attrs[a];
    if (v !== null && typeof v !== 'number') return null;
    out[a] = v;
  }
  return out;
}

/** Whether `node` may join a group: an op the target's fused kernel computes, on the dtypes a program takes. */
function fusible(node: Node, can: ReadonlySet<string>): boolean {
  if (!can.has(node.op) || !Object.hasOwn(PROGRAM_OPS, node.op) || !isDeterministic(node.op)) return false;
  if (node.outputs.length !== 1 || node.subgraphs.length !== 0) return false;
  if (stepDtype(node.op, node.inputs.map((v) => v.type.dtype)) !== node.outputs[0]!.type.dtype) return false;
  return stepAttrs(node) !== null;
}

function sameShape(a: Value, b: Value): boolean {
  const x = a.type.shape, y = b.type.shape;
  return x.length === y.length && x.every((d, i) => dimEquals(d, y[i]!));
}

/**
 * The group rooted at `root`: fusible producers of its members, of the root's shape
 * (a smaller operand, e.g. a per-channel vector computed from parameters, stays an
 * input: computing it per output element would repeat its work), whose every reader is
 * in the group. Only the root's value leaves the group, so replacing it by one node
 * keeps the graph acyclic.
 */
function groupAt(root: Node, can: ReadonlySet<string>, taken: ReadonlySet<Node>, reads: ReadonlyMap<Value, number>): Set<Node> {
  const group = new Set<Node>([root]);
  for (let grew = true; grew && group.size < MAX_FUSED_OPS;) {
    grew = false;
    for (const m of [...group]) {
      for (const v of m.inputs) {
        const p = v.producer;
        if (!p || group.has(p) || taken.has(p) || !fusible(p, can) || !sameShape(v, root.outputs[0]!)) continue;
        let inside = 0;
        for (const n of group) for (const u of n.inputs) if (u === v) inside++;
        if (inside !== reads.get(v) || group.size >= MAX_FUSED_OPS) continue;
        group.add(p);
        grew = true;
      }
    }
  }
  return group;
}

/** Replaces `group` (in graph order `order`) by one fusedElementwise node; false where inference disagrees (left as it was). */
function fuse(g: Graph, group: Set<Node>, root: Node, order: ReadonlyMap<Node, number>): boolean {
  const members = [...group].sort((a, b) => order.get(a)! - order.get(b)!);
  const inputs: Value[] = [];
  for (const m of members) for (const v of m.inputs) if (!(v.producer && group.has(v.producer)) && !inputs.includes(v)) inputs.push(v);
  const slotOf = new Map<Value, number>(inputs.map((v, k) => [v, k]));
  members.forEach((m, j) => slotOf.set(m.outputs[0]!, inputs.length + j));
  const steps: ProgramStep[] = members.map((m) => ({ op: m.op, args: m.inputs.map((v) => slotOf.get(v)!), attrs: stepAttrs(m)! }));
  const attrs = { program: formatProgram(inputs.length, steps) };
  const want = root.outputs[0]!.type;
  try {
    const [t] = inferNode('fusedElementwise', inputs.map((v) => v.type), attrs);
    if (t!.dtype !== want.dtype || t!.shape.length !== want.shape.length || !t!.shape.every((d, i) => dimEquals(d, want.shape[i]!))) return false;
  } catch {
    return false; // e.g. symbolic dims whose broadcast depends on their values in this order
  }
  const fused = g.insertBefore(root, 'fusedElementwise', inputs, attrs, [want], root.source);
  replaceValue(g, root.outputs[0]!, fused.outputs[0]!);
  for (const m of members.reverse()) g.erase(m);
  return true;
}

/**
 * Fuses groups of elementwise ops into `fusedElementwise` nodes where the target has a
 * generated kernel for every op of the group (`ctx.target.elementwiseKernels`), in
 * inference mode only. Groups are grown backwards from each op: a producer joins when
 * it is fusible, has the group's shape and is read only inside the group; random ops
 * never join. Results are the same bits as the ops run one by one on that target's
 * generated kernels (NaN kept as each op keeps it); transcendentals are the target's
 * SIMD approximations.
 *
 * @example
 * ```ts
 * // x·a + b → tanh → ·c − x → relu → sigmoid (a, b, c per-column vectors) at O2:
 * //   %y: float32[n, 1024] = fusedElementwise(%x, %a, %b, %c) {program="mul(x0, x1); add(t0, x2); tanh(t1); mul(t2, x3); sub(t3, x0); relu(t4); sigmoid(t5)"}
 * fuseElementwise(graph, ctx);
 * ```
 */
export function fuseElementwise(g: Graph, ctx: PassContext): boolean {
  if (ctx.mode !== 'inference') return false;
  const can = new Set(ctx.target.elementwiseKernels ?? []);
  if (can.size === 0) return false;
  const reads = useCounts(g);
  const order = new Map<Node, number>(g.nodes.map((n, i) => [n, i]));
  const taken = new Set<Node>();
  let changed = false;
  for (const root of [...g.nodes].reverse()) {
    if (taken.has(root) || !fusible(root, can)) continue;
    const group = groupAt(root, can, taken, reads);
    for (const n of group) taken.add(n);
    if (group.size >= 2 && fuse(g, group, root, order)) changed = true;
  }
  return changed;
}

export const elementwiseFusion: Pass = {
  name: 'elementwiseFusion',
  level: 'O2',
  description: 'groups of elementwise ops (with broadcast operands) become one fusedElementwise node: one generated kernel',
  run: fuseElementwise,
};
