// Dead-code elimination: nodes whose results nothing reads, and constants nothing reads.
import type { Graph, Value } from '../ir/index.js';
import type { Pass } from './pass.js';

/** Values read by the nodes of `g`'s subgraphs (and theirs), including values from outside them. */
function subgraphReads(g: Graph, into: Set<Value>): void {
  for (const v of g.outputs) into.add(v);
  for (const n of g.nodes) {
    for (const v of n.inputs) into.add(v);
    for (const s of n.subgraphs) subgraphReads(s, into);
  }
}

/**
 * Removes, walking backwards, every node none of whose outputs is read (by a later node,
 * a subgraph or the graph's outputs), then every constant nothing reads (a folded
 * constant's recipe counts as a read). Ops are pure in the IR, so nothing else is lost:
 * an unread random draw goes too (its key is still drawn at each run, like eager's).
 */
export function eliminateDeadCode(g: Graph): boolean {
  const live = new Set<Value>(g.outputs);
  const keep = new Array<boolean>(g.nodes.length).fill(false);
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (!n.outputs.some((v) => live.has(v))) continue;
    keep[i] = true;
    for (const v of n.inputs) live.add(v);
    for (const s of n.subgraphs) subgraphReads(s, live);
  }
  const before = g.nodes.length + g.constants.size;
  const kept = g.nodes.filter((_, i) => keep[i]);
  g.nodes.length = 0;
  g.nodes.push(...kept);
  // Later constants may be folded from earlier ones: walk them backwards too.
  for (const c of [...g.constants.values()].reverse()) {
    if (!live.has(c.value)) g.constants.delete(c.value.name);
    else c.folded?.inputs.forEach((v) => live.add(v));
  }
  return g.nodes.length + g.constants.size !== before;
}

export const deadCodeElimination: Pass = {
  name: 'deadCode',
  level: 'O1',
  description: 'removes nodes and constants nothing reads',
  run: (g) => eliminateDeadCode(g),
};
