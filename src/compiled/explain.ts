// The text of `CompiledModel.explain()`, and the per-segment graphs of a traced call
// with graph breaks.
import { Graph, Node, Value, type Constant } from '../ir/index.js';
import type { GraphBreak } from './graphTracer.js';
import { sourceExcerpt } from './sourceText.js';

/**
 * The graph of a call with breaks, cut where the code read values: segment k holds the
 * nodes between break k−1 and break k. Its inputs are the values it uses from earlier
 * segments (or the call's inputs); its outputs, the values later code uses.
 */
export function splitAtBreaks(graph: Graph, breaks: readonly GraphBreak[]): Graph[] {
  const cuts = [...new Set([0, ...breaks.map((b) => b.node), graph.nodes.length])].sort((a, b) => a - b);
  const laterUse = new Map<Value, number>(); // last node index using each value (graph outputs: +∞)
  graph.nodes.forEach((n, i) => n.inputs.forEach((v) => laterUse.set(v, i)));
  for (const v of graph.outputs) laterUse.set(v, Infinity);
  // A value the code read is an output of the segment computing it.
  for (const b of breaks) if (b.value) laterUse.set(b.value, Math.max(laterUse.get(b.value) ?? -1, b.node));
  const constants = new Map<Value, Constant>();
  for (const c of graph.constants.values()) constants.set(c.value, c);
  const out: Graph[] = [];
  for (let s = 0; s + 1 < cuts.length; s++) {
    const [from, to] = [cuts[s]!, cuts[s + 1]!];
    if (from === to) continue;
    const g = new Graph();
    const map = new Map<Value, Value>();
    const bring = (v: Value): Value => {
      let m = map.get(v);
      if (m) return m;
      const c = constants.get(v);
      if (c) {
        m = g.addConstant(v.name, new Uint8Array(0), v.type);
        const src = c;
        g.constants.set(m.name, { value: m, get data() { return src.data; } });
      } else {
        m = g.addInput(v.name, v.type);
      }
      map.set(v, m);
      return m;
    };
    const produced: Value[] = [];
    for (let i = from; i < to; i++) {
      const n = graph.nodes[i]!;
      const ins = n.inputs.map(bring);
      const outs = n.outputs.map((v) => {
        g.reserveName(v.name);
        const m = new Value(v.name, v.type);
        map.set(v, m);
        produced.push(v);
        return m;
      });
      g.nodes.push(new Node(n.op, ins, outs, n.attrs, n.source));
    }
    g.outputs = produced.filter((v) => (laterUse.get(v) ?? -1) >= to).map((v) => map.get(v)!);
    out.push(g);
  }
  return out;
}

/** Where a break or a pinned dim came from, with the source text when the file is readable. */
export function describeSite(site: string | undefined, indent: string): string {
  if (!site) return `${indent}(source location unknown)`;
  const src = sourceExcerpt(site);
  const lines = [`${indent}at ${site}`];
  if (src) {
    lines.push(`${indent}  ${src.line} | ${src.lineText}`);
    if (src.expression) lines.push(`${indent}  expression: ${src.expression}${src.context ? `   (in: ${src.context})` : ''}`);
  }
  return lines.join('\n');
}

export function indent(text: string, pad: string): string {
  return text.trimEnd().split('\n').map((l) => pad + l).join('\n');
}
