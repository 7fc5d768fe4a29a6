/**
 * The editable Graph: uses, replaceAllUsesWith (node inputs, outputs, subgraphs, folded
 * constants' recipes), insertBefore, erase and removeConstant (both refuse while the value
 * is used), folded constants (printed with their recipe, checked by the verifier) and clone.
 */
import { describe, expect, it } from 'vitest';
import '../src/index.js'; // registers the ops
import { addIf, checkGraph, Graph, KilnError, sym, verifyGraph, type Value, type ValueType } from '../src/ir/index.js';

const batch = sym('batch');
const f32 = (...shape: ValueType['shape']): ValueType => ({ dtype: 'float32', shape });

function small(): { g: Graph; x: Value; w: Value; h: Value; r: Value } {
  const g = new Graph();
  const x = g.addInput('x', f32(batch, 4));
  const w = g.addConstant('w', new Float32Array(12).fill(0.5), f32(4, 3));
  const h = g.addNode('matmul', [x, w], {}, [f32(batch, 3)]).outputs[0]!;
  const r = g.addNode('relu', [h], {}, [f32(batch, 3)]).outputs[0]!;
  g.outputs = [r, h];
  return { g, x, w, h, r };
}

describe('Graph editing', () => {
  it('uses() lists the node inputs reading a value, isUsed() also sees outputs', () => {
    const { g, x, w, h, r } = small();
    expect(g.uses(x)).toEqual([{ node: g.nodes[0], index: 0 }]);
    expect(g.uses(w)).toEqual([{ node: g.nodes[0], index: 1 }]);
    expect(g.uses(h)).toEqual([{ node: g.nodes[1], index: 0 }]);
    expect(g.uses(r)).toEqual([]);
    expect(g.isUsed(r)).toBe(true); // a graph output
  });

  it('replaceAllUsesWith rewrites node inputs and graph outputs', () => {
    const { g, x, h, r } = small();
    const tanh = g.insertBefore(g.nodes[1]!, 'tanh', [h], {}, [f32(batch, 3)]);
    const t = tanh.outputs[0]!;
    expect(g.nodes.map((n) => n.op)).toEqual(['matmul', 'tanh', 'relu']);
    expect(g.replaceAllUsesWith(h, t, tanh)).toBe(2); // relu's input and output 1, not tanh's own input
    expect(g.outputs).toEqual([r, t]);
    expect(g.uses(h).map((u) => u.node.op)).toEqual(['tanh']);
    verifyGraph(g);
    expect(g.replaceAllUsesWith(x, x)).toBe(0);
  });

  it('replaceAllUsesWith reaches subgraphs and their outputs', () => {
    const g = new Graph();
    const c = g.addInput('c', { dtype: 'bool', shape: [] });
    const x = g.addInput('x', f32(2));
    const y = g.addNode('neg', [x], {}, [f32(2)]).outputs[0]!;
    const then = new Graph(g);
    then.outputs = [then.addNode('exp', [y], {}, [f32(2)]).outputs[0]!];
    const other = new Graph(g);
    other.outputs = [y];
    g.outputs = addIf(g, c, then, other).outputs;
    verifyGraph(g);
    expect(g.uses(y).length).toBe(1); // exp in the then-branch
    expect(g.replaceAllUsesWith(y, x)).toBe(2);
    expect(other.outputs).toEqual([x]);
    expect(then.nodes[0]!.inputs).toEqual([x]);
    g.erase(g.nodes[0]!);
    verifyGraph(g);
  });

  it('erase refuses while an output is used, then removes the node', () => {
    const { g, h, r } = small();
    const relu = g.nodes[1]!;
    expect(() => g.erase(relu)).toThrow(KilnError);
    expect(() => g.erase(relu)).toThrow(/its output %\d+ is still used \(a graph output\)/);
    g.replaceAllUsesWith(r, h);
    g.erase(relu);
    expect(g.nodes.map((n) => n.op)).toEqual(['matmul']);
    expect(checkGraph(g)).toEqual([]);
    expect(() => g.erase(relu)).toThrow(/not a node of this graph/);
  });

  it('removeConstant refuses while the constant is read', () => {
    const { g, w } = small();
    expect(() => g.removeConstant(w)).toThrow(/still used/);
    const w2 = g.addConstant('w2', new Float32Array(12), f32(4, 3));
    g.replaceAllUsesWith(w, w2);
    g.removeConstant(w);
    expect([...g.constants.keys()]).toEqual(['w2']);
    verifyGraph(g);
  });

  it('folded constants print their recipe, verify by inference and follow their sources', () => {
    const g = new Graph();
    const x = g.addInput('x', f32(batch, 3));
    const data = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const w = g.addConstant('w', data, f32(2, 3));
    const wt = g.addFoldedConstant('w.T', f32(3, 2), { op: 'transpose', inputs: [w], attrs: { perm: [1, 0] }, index: 0 }, () => {
      const d = g.constants.get('w')!.data;
      return Float32Array.from([d[0]!, d[3]!, d[1]!, d[4]!, d[2]!, d[5]!]);
    });
    g.outputs = [g.addNode('matmul', [x, wt], {}, [f32(batch, 2)]).outputs[0]!];
    verifyGraph(g);
    expect(g.toString()).toContain('const %w.T: float32[3, 2]  # folded: transpose(%w) {perm=[1, 0]}');
    expect(g.isUsed(w)).toBe(true); // read by the recipe
    expect(() => g.removeConstant(w)).toThrow(/still used/);
    data[1] = 20;
    expect([...g.constants.get('w.T')!.data]).toEqual([1, 4, 20, 5, 3, 6]);
    // A recipe whose type does not match, or that reads something other than an earlier constant.
    g.addFoldedConstant('bad', f32(2, 3), { op: 'transpose', inputs: [w], attrs: { perm: [1, 0] }, index: 0 }, () => new Float32Array(6));
    g.addFoldedConstant('bad2', f32(batch, 3), { op: 'neg', inputs: [x], attrs: {}, index: 0 }, () => new Float32Array(0));
    const issues = checkGraph(g).map((i) => i.message);
    expect(issues.some((m) => /folded constant %bad .* is declared float32\[2, 3\] but its recipe transpose gives float32\[3, 2\]/.test(m))).toBe(true);
    expect(issues.some((m) => /folded constant %bad2 .*recipe input 0 %x is not a constant declared before it/.test(m))).toBe(true);
  });

  it('clone copies nodes and values with the same names; editing the copy leaves the original', () => {
    const { g } = small();
    const c = g.clone();
    expect(c.toString()).toBe(g.toString());
    expect(c.nodes[0]).not.toBe(g.nodes[0]);
    expect(c.inputs[0]).not.toBe(g.inputs[0]);
    expect(c.constants.get('w')!.data).toBe(g.constants.get('w')!.data);
    verifyGraph(c);
    c.replaceAllUsesWith(c.outputs[0]!, c.outputs[1]!);
    c.erase(c.nodes[1]!);
    expect(g.nodes.length).toBe(2);
    // Fresh names in the copy do not collide with the original's.
    const extra = c.addNode('neg', [c.inputs[0]!], {}, [f32(batch, 4)]).outputs[0]!;
    expect(g.hasName(extra.name)).toBe(false);
    expect(c.hasName('x')).toBe(true);
  });
});
