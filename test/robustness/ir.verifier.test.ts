/**
 * Hardening of the IR verifier: every malformed graph gives issues naming the node, never
 * an exception out of `checkGraph` and never a silent pass. Covered: operand counts against
 * each op's declared arity, negative (and non-integer) dims, symbolic ones included,
 * mistyped attributes (caught inside shape inference or seen in what it returns),
 * attribute values of no IR kind, malformed types, and subgraphs nested too deep.
 */
import { describe, expect, it } from 'vitest';
import * as kiln from '../../src/index.js';

const { ir } = kiln;
type Graph = kiln.ir.Graph;

/** The issues of the parsed text (which must parse). */
function issuesOf(text: string): string[] {
  return ir.checkGraph(ir.parseGraph(text)).map((i) => i.message);
}

function graph(body: string, params = '%x: float32[2, 3]'): string {
  return `graph(${params}) {\n${body}\n}\n`;
}

describe('operand counts', () => {
  it('an extra operand is an issue naming the node (it used to pass)', () => {
    expect(issuesOf(graph('  %y: float32[2, 3] = relu(%x, %x)  # model.ts:3:1\n  return %y'))).toEqual([
      'node #0 (%y = relu(%x, %x), at model.ts:3:1): relu takes 1 input, got 2',
    ]);
    expect(issuesOf(graph('  %y: float32[2, 3] = add(%x, %x, %x)\n  return %y'))).toEqual(['node #0 (%y = add(%x, %x, %x)): add takes 2 inputs, got 3']);
  });

  it('a missing operand is an issue, not a TypeError message from inference', () => {
    expect(issuesOf(graph('  %y: float32[2, 3] = add(%x)\n  return %y'))).toEqual(['node #0 (%y = add(%x)): add takes 2 inputs, got 1']);
    expect(issuesOf(graph('  %y: float32[2, 3] = where(%x, %x)\n  return %y'))).toEqual(['node #0 (%y = where(%x, %x)): where takes 3 inputs, got 2']);
  });

  it('optional and variadic inputs: conv2d takes 2 or 3, concat at least 1', () => {
    const conv = (ins: string) => graph(
      `  %y: float32[1, 1, 3, 3] = conv2d(${ins}) {strides=[1, 1], pads=[0, 0, 0, 0], dilations=[1, 1], group=1}\n  return %y`,
      '%x: float32[1, 1, 4, 4], %w: float32[1, 1, 2, 2], %b: float32[1]',
    );
    expect(issuesOf(conv('%x, %w'))).toEqual([]);
    expect(issuesOf(conv('%x, %w, %b'))).toEqual([]);
    expect(issuesOf(conv('%x, %w, %b, %b'))).toEqual(['node #0 (%y = conv2d(%x, %w, %b, %b)): conv2d takes 2 to 3 inputs, got 4']);
    expect(issuesOf(graph('  %y: float32[6, 3] = concat(%x, %x, %x) {axis=0}\n  return %y'))).toEqual([]);
    expect(issuesOf(graph('  %y: float32[0, 3] = concat() {axis=0}\n  return %y'))).toEqual(['node #0 (%y = concat()): concat takes at least 1 input, got 0']);
  });

  it('every registered op declares its arity', () => {
    for (const def of ir.listOps()) {
      const [min, max] = typeof def.arity === 'number' ? [def.arity, def.arity] : def.arity;
      expect(Number.isInteger(min) && min >= 0 && max >= min, def.name).toBe(true);
    }
  });

  it('a registry op with subgraphs is an issue', () => {
    expect(issuesOf(graph('  %y: float32[2, 3] = relu(%x) {\n    graph() {\n      return\n    }\n  }\n  return %y'))).toEqual([
      'node #0 (%y = relu(%x)): relu takes no subgraphs (only If and Loop have them), got 1',
    ]);
  });
});

describe('dims', () => {
  it('a symbolic dim negative at every value is an issue (it used to pass)', () => {
    expect(issuesOf(graph('  %y: float32[-1*n] = relu(%x)\n  return %y', '%x: float32[-1*n]'))).toEqual([
      '%x (an input of the graph) has type float32[-1*n], whose dim -1*n is -1 at n=1: dims are never negative',
      '%y (output 0 of node #0 (%y = relu(%x))) has type float32[-1*n], whose dim -1*n is -1 at n=1: dims are never negative',
    ]);
    expect(issuesOf(graph('  return %x', '%x: float32[0*n-3]'))).toEqual([
      '%x (an input of the graph) has type float32[0*n-3], whose dim 0*n-3 is -3 at n=1: dims are never negative',
    ]);
    // n-5 ≥ 1 needs n ≥ 6; 2-n ≥ 1 needs n ≤ 1: no size fits both, and 2-n is negative at n = 6.
    expect(issuesOf(graph('  return %x, %z', '%x: float32[n-5], %z: float32[-1*n+2]'))).toEqual([
      '%z (an input of the graph) has type float32[-1*n+2], whose dim -1*n+2 is -4 at n=6: dims are never negative',
    ]);
    // A symbolic dim that may be 0 is fine.
    expect(issuesOf(graph('  return %x', '%x: float32[n-1]'))).toEqual([]);
  });

  it('negative, fractional and unsafe numeric dims of a built graph are issues', () => {
    for (const d of [-2, 2.5, NaN, 2 ** 53]) {
      const g = new ir.Graph();
      g.outputs = [g.addInput('x', { dtype: 'float32', shape: [3, d] })];
      const issues = ir.checkGraph(g).map((i) => i.message);
      expect(issues, String(d)).toHaveLength(1);
      expect(issues[0]).toMatch(/^%x \(an input of the graph\) has an invalid type .*: dims are non-negative integers or symbolic dims$/);
    }
  });

  it('malformed types give issues instead of exceptions', () => {
    const g = new ir.Graph();
    const x = g.addInput('x', { dtype: 'float32', shape: [null as unknown as number] });
    const y = g.addInput('y', undefined as unknown as kiln.ir.ValueType);
    const z = g.addNode('add', [x, y], {}, [{ dtype: 'float32', shape: [2] }]).outputs[0]!;
    g.outputs = [z];
    const issues = ir.checkGraph(g).map((i) => i.message);
    expect(issues).toEqual([
      '%x (an input of the graph) has an invalid type {"dtype":"float32","shape":[null]}: dims are non-negative integers or symbolic dims',
      '%y (an input of the graph) has an invalid type undefined: dims are non-negative integers or symbolic dims',
    ]);
  });
});

describe('attributes', () => {
  it('a string where an array is expected is an issue naming the attribute values', () => {
    const issues = issuesOf(graph('  %y: float32[3, 2] = transpose(%x) {perm="x"}  # net.ts:9:4\n  return %y'));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toBe(
      'node #0 (%y = transpose(%x), at net.ts:9:4): transpose cannot infer its output types from its attributes {perm="x"} and inputs (float32[2, 3]): '
      + 'is an attribute missing or of the wrong kind? (TypeError: perm.join is not a function)',
    );
    expect(() => ir.verifyGraph(ir.parseGraph(graph('  %y: float32[3, 2] = transpose(%x) {perm="x"}\n  return %y')))).toThrow(kiln.KilnError);
  });

  it('a missing attribute is an issue', () => {
    const issues = issuesOf(graph('  %y: float32[3, 2] = transpose(%x)\n  return %y'));
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^node #0 \(%y = transpose\(%x\)\): transpose cannot infer its output types from its attributes \{\} .*TypeError/);
  });

  it('an attribute that makes inference compute NaN or negative sizes is an issue saying so', () => {
    const issues = issuesOf(graph(
      '  %y: float32[1, 1, 3, 3] = conv2d(%x, %w) {strides="a", pads=[0, 0, 0, 0], dilations=[1, 1], group=1}\n  return %y',
      '%x: float32[1, 1, 4, 4], %w: float32[1, 1, 2, 2]',
    ));
    expect(issues).toEqual([
      'node #0 (%y = conv2d(%x, %w)): conv2d infers an output of shape [1, 1, NaN, NaN] (dim 2 is not a non-negative integer) from its attributes '
      + '{strides="a", pads=[0, 0, 0, 0], dilations=[1, 1], group=1} and inputs (float32[1, 1, 4, 4], float32[1, 1, 2, 2]): is an attribute of the wrong kind or out of range?',
    ]);
    // reshape to [-1, -2] has the right element count (2) but negative dims.
    expect(issuesOf(graph('  %y: float32[1, 2] = reshape(%x) {shape=[-1, -2]}\n  return %y', '%x: float32[2]'))[0])
      .toMatch(/reshape infers an output of shape \[-1, -2\] \(dim 0 is not a non-negative integer\)/);
  });

  it('attribute values of no IR kind are issues (built graphs)', () => {
    const g = new ir.Graph();
    const x = g.addInput('x', { dtype: 'float32', shape: [2, 3] });
    const bad = { perm: { not: 'an attr' }, fn: () => 1, deep: [[[1]]], mixed: [1, 'a'], bare: Object.create(null) } as unknown as kiln.ir.IrAttrs;
    g.outputs = g.addNode('transpose', [x], bad, [{ dtype: 'float32', shape: [3, 2] }]).outputs;
    const issues = ir.checkGraph(g).map((i) => i.message);
    expect(issues.map((m) => /attribute (\w+) is/.exec(m)?.[1])).toEqual(['perm', 'fn', 'deep', 'mixed', 'bare']);
    expect(issues[0]).toMatch(/^node #0 \(%0 = transpose\(%x\)\): attribute perm is object \[object Object\], not an attribute value/);
  });
});

describe('nesting', () => {
  /** `depth` If nodes, each in the then-branch of the one before (no outputs: only the structure matters). */
  function nestedIfs(depth: number): Graph {
    const g = new ir.Graph();
    const c = g.addInput('c', { dtype: 'bool', shape: [] });
    const levels: Graph[] = [g];
    for (let i = 0; i < depth; i++) levels.push(new ir.Graph(levels[i]!));
    for (let i = depth - 1; i >= 0; i--) ir.addIf(levels[i]!, c, levels[i + 1]!, new ir.Graph(levels[i]!));
    return g;
  }

  it('MAX_NESTING levels verify and print; one more is an issue, not a stack overflow', () => {
    expect(ir.MAX_NESTING).toBe(100);
    const ok = nestedIfs(ir.MAX_NESTING);
    expect(ir.checkGraph(ok)).toEqual([]);
    expect(ir.checkGraph(ir.parseGraph(ir.printGraph(ok)))).toEqual([]);
    const deep = nestedIfs(ir.MAX_NESTING + 1);
    const issues = ir.checkGraph(deep).map((i) => i.message);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^node #0 \(If\(%c\)\) in the then-branch of .* subgraphs nest deeper than 100 levels$/);
    expect(() => ir.printGraph(deep)).toThrow(/cannot print If\(%c\): subgraphs nest deeper than 100 levels/);
  });

  it('a graph nested 20000 deep gives issues and KilnErrors, not RangeError', () => {
    const g = nestedIfs(20_000);
    expect(ir.checkGraph(g).map((i) => i.message)).toEqual([expect.stringMatching(/subgraphs nest deeper than 100 levels$/)]);
    expect(() => ir.verifyGraph(g)).toThrow(kiln.KilnError);
    expect(() => ir.printGraph(g)).toThrow(kiln.KilnError);
  });
});
