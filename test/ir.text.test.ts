/**
 * The IR's text form: print → parse gives a structurally equal graph (symbolic dims,
 * every attribute kind, sources, constants, If/Loop subgraphs), printing is stable, and
 * bad text fails with line:column.
 */
import { describe, expect, it } from 'vitest';
import '../src/index.js'; // registers the ops
import {
  Graph, Node, Value, sym, addIf, addLoop, printGraph, parseGraph, graphsEqual, graphDiff, constantData,
  type IrAttrs, type ValueType,
} from '../src/ir/index.js';

const batch = sym('batch');
const f32 = (...shape: ValueType['shape']): ValueType => ({ dtype: 'float32', shape });

/** Two dense layers with a symbolic batch, parameters as constants, user source lines. */
function mlp(): Graph {
  const g = new Graph();
  const x = g.addInput('x', f32(batch, 4));
  const w1 = g.addConstant('fc1.weight', Float32Array.from({ length: 32 }, (_, i) => (i - 16) / 10), f32(4, 8));
  const b1 = g.addConstant('fc1.bias', new Float32Array(8).fill(0.1), f32(8));
  const w2 = g.addConstant('fc2.weight', Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)), f32(8, 3));
  const h = g.addNode('matmul', [x, w1], {}, [f32(batch, 8)], 'model.ts:12:20').outputs[0]!;
  const hb = g.addNode('add', [h, b1], {}, [f32(batch, 8)], 'model.ts:12:30').outputs[0]!;
  const r = g.addNode('relu', [hb], {}, [f32(batch, 8)], 'model.ts:13:9').outputs[0]!;
  const o = g.addNode('matmul', [r, w2], {}, [f32(batch, 3)], 'model.ts:14:20').outputs[0]!;
  const s = g.addNode('softmax', [o], { axis: 1 }, [f32(batch, 3)]).outputs[0]!;
  const flat = g.addNode('reshape', [s], { shape: [sym('batch', 3)] }, [f32(sym('batch', 3))]).outputs[0]!;
  g.outputs = [s, flat];
  return g;
}

/** A node per attribute value kind. */
function everyAttrKind(): Graph {
  const g = new Graph();
  const x = g.addInput('x', f32(batch, sym('seq', 2, 1), 3));
  const attrs: IrAttrs = {
    int: 3, neg: -2, frac: 0.1, tiny: 1e-30, big: 1.5e300, negZero: -0, posInf: Infinity, negInf: -Infinity, notANumber: NaN,
    yes: true, no: false, none: null, text: 'reflect', escaped: 'quote " backslash \\ newline \n tab \t é',
    empty: [], ints: [0, 2, -1], floats: [0.5, -1e-7], nested: [[0, 1], [2, 3]], emptyNested: [[], [1]],
    dim: batch, affine: sym('seq', 2, 1), negCoef: sym('batch', -1, 10), shape: [batch, sym('seq', 2, 1), 3],
    nestedDims: [[batch, 0], [1, sym('seq', 1, -1)]], 'odd key': 1,
  };
  g.outputs = g.addNode('copy', [x], attrs, [x.type]).outputs;
  return g;
}

/** If inside a Loop body, constants inside subgraphs, multi-output nodes. */
function controlFlow(): Graph {
  const g = new Graph();
  const x = g.addInput('x', f32(sym('n')));
  const m = g.addInput('trips', { dtype: 'int32', shape: [] });
  const yes = g.addConstant('yes', Uint8Array.of(1), { dtype: 'bool', shape: [] });
  const one = g.addConstant('one', Float32Array.of(1), f32());
  const body = new Graph(g);
  const i = body.addInput('i', { dtype: 'int32', shape: [] });
  const c = body.addInput('c', { dtype: 'bool', shape: [] });
  const acc = body.addInput('acc', f32());
  const limit = body.addConstant('limit', Float32Array.of(100), f32());
  const xi1 = body.addNode('indexSelect', [x, i], { axis: 0 }, [f32(1)], 'loop.ts:3:5').outputs[0]!;
  const xi = body.addNode('reshape', [xi1], { shape: [] }, [f32()]).outputs[0]!;
  const small = body.addNode('less', [acc, limit], {}, [{ dtype: 'bool', shape: [] }]).outputs[0]!;
  const thenG = new Graph(body);
  thenG.outputs = thenG.addNode('mul', [acc, xi], {}, [f32()]).outputs;
  const elseG = new Graph(body);
  elseG.outputs = [acc];
  const next = addIf(body, small, thenG, elseG, 'loop.ts:4:7').outputs[0]!;
  body.outputs = [c, next, next, xi];
  const loop = addLoop(g, { maxTripCount: m, cond: yes, carried: [one], body, scanLength: sym('steps') }, 'loop.ts:2:3');
  const [a, b2] = g.addNode('split', [x], { axis: 0, sizes: [sym('n', 1, -1), 1] }, [f32(sym('n', 1, -1)), f32(1)]).outputs;
  const noM = new Graph(g);
  noM.addInput('j', { dtype: 'int32', shape: [] });
  const c2 = noM.addInput('c2', { dtype: 'bool', shape: [] });
  noM.outputs = [c2];
  const bare = addLoop(g, { carried: [], body: noM });
  expect(bare.attrs).toEqual({ hasMaxTripCount: false, hasCond: false });
  g.outputs = [...loop.outputs, a!, b2!];
  return g;
}

function roundTrip(g: Graph): Graph {
  const text = printGraph(g);
  const back = parseGraph(text, { constants: constantData(g) });
  expect(graphDiff(back, g)).toBeNull();
  expect(graphsEqual(back, g)).toBe(true);
  expect(printGraph(back)).toBe(text); // printing is stable
  return back;
}

describe('printGraph', () => {
  it('prints types with symbolic dims, constants by name, attributes and sources', () => {
    const text = printGraph(mlp());
    expect(text).toContain('graph(%x: float32[batch, 4]) {');
    expect(text).toContain('  const %fc1.weight: float32[4, 8]\n');
    expect(text).toMatch(/ {2}%0: float32\[batch, 8\] = matmul\(%x, %fc1\.weight\) +# model\.ts:12:20\n/);
    expect(text).toContain('= softmax(%3) {axis=1}\n');
    expect(text).toContain('%5: float32[3*batch] = reshape(%4) {shape=[3*batch]}');
    expect(text).toMatch(/ {2}return %4, %5\n}\n$/);
    expect(mlp().toString()).toBe(text);
  });

  it("summarizes or inlines constants on request", () => {
    const g = mlp();
    expect(printGraph(g, { constants: 'summary' })).toMatch(/const %fc1\.bias: float32\[8\] +# 8 values, min 0\.1, max 0\.1, mean 0\.1\n/);
    expect(printGraph(g, { constants: 'inline' })).toContain('const %fc1.bias: float32[8] = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]\n');
    expect(printGraph(g, { sources: false })).not.toContain('#');
  });

  it('prints If/Loop subgraphs as nested labelled blocks', () => {
    const text = printGraph(controlFlow());
    expect(text).toMatch(/= Loop\(%trips, %yes, %one\) \{ +# loop\.ts:2:3\n {4}body\(%i: int32\[\], %c: bool\[\], %acc: float32\[\]\) \{\n {6}const %limit: float32\[\]\n/);
    expect(text).toMatch(/= If\(%\d+\) \{ +# loop\.ts:4:7\n {8}then\(\) \{\n/);
    expect(text).toMatch(/\n {8}else\(\) \{\n {10}return %acc\n {8}\}\n {6}\}\n/);
    expect(text).toContain('\n  Loop() {hasMaxTripCount=false, hasCond=false} {\n'); // a node without outputs
  });

  it('rejects symbols that could not be read back', () => {
    const g = new Graph();
    g.outputs = [g.addInput('x', f32(sym('true')))];
    expect(() => printGraph(g)).toThrow(/symbol 'true' cannot be printed/);
  });
});

describe('print → parse round trip', () => {
  it('an MLP with a symbolic batch and constants', () => {
    const g = mlp();
    const data = constantData(g);
    const back = roundTrip(g);
    expect(back.constants.get('fc1.weight')!.data).toBe(data.get('fc1.weight')); // supplied arrays are used as they are
    expect(back.nodes[0]!.source).toBe('model.ts:12:20');
    expect(back.nodes[5]!.attrs['shape']).toEqual([sym('batch', 3)]);
  });

  it('every attribute kind', () => {
    const back = roundTrip(everyAttrKind());
    const a = back.nodes[0]!.attrs;
    expect(Object.is(a['negZero'], -0)).toBe(true);
    expect(a['notANumber']).toBeNaN();
    expect(a['escaped']).toBe('quote " backslash \\ newline \n tab \t é');
    expect(a['nestedDims']).toEqual([[batch, 0], [1, sym('seq', 1, -1)]]);
    expect(a['none']).toBeNull();
    expect(a['emptyNested']).toEqual([[], [1]]);
  });

  it('If and Loop with nested subgraphs, constants inside bodies, multi-output nodes', () => {
    const back = roundTrip(controlFlow());
    const loop = back.nodes[0]!;
    expect(loop.op).toBe('Loop');
    expect(loop.subgraphs[0]!.constants.has('limit')).toBe(true);
    const inner = loop.subgraphs[0]!.nodes.find((n) => n.op === 'If')!;
    expect(inner.subgraphs[0]!.nodes[0]!.inputs[0]!).toBe(loop.subgraphs[0]!.inputs[2]); // uses the body's %acc
    expect(back.nodes[1]!.outputs.map((v) => v.type.shape)).toEqual([[sym('n', 1, -1)], [1]]);
  });

  it('value names and sources that need quoting', () => {
    const g = new Graph();
    const x = g.addInput('input image', f32(2));
    const y = g.addNode('neg', [x], {}, [f32(2)], '  C:\\My Models\\net.ts:3:1 # not a comment').outputs[0]!;
    const z = g.addNode('abs', [y], {}, [f32(2)], '"quoted"').outputs[0]!;
    const w = g.addNode('exp', [z], {}, [f32(2)], '').outputs[0]!;
    g.outputs = [w];
    const text = printGraph(g);
    expect(text).toContain('%"input image"');
    roundTrip(g);
  });

  it('inline constant data of every dtype, exactly', () => {
    const g = new Graph();
    const a = g.addConstant('a', Float32Array.of(0.1, -0, 3.4028234663852886e38, 1e-45, NaN, -Infinity), f32(2, 3));
    const b = g.addConstant('b', Float64Array.of(Math.PI, -1e-300, Infinity), { dtype: 'float64', shape: [3] });
    const c = g.addConstant('c', Int32Array.of(-2147483648, 0, 2147483647), { dtype: 'int32', shape: [3] });
    const d = g.addConstant('d', Uint8Array.of(1, 0), { dtype: 'bool', shape: [2] });
    const e = g.addConstant('e', new Float32Array(0), f32(0, 5));
    g.outputs = [a, b, c, d, e];
    const text = printGraph(g, { constants: 'inline' });
    expect(text).toContain('= [0.1, -0, 3.4028235e+38, 1e-45, nan, -inf]');
    const back = parseGraph(text, { missingConstants: 'error' });
    expect(graphDiff(back, g)).toBeNull();
  });

  it('constants without data become zero placeholders (or an error on request)', () => {
    const text = printGraph(mlp());
    const back = parseGraph(text);
    expect(graphsEqual(back, mlp())).toBe(false);
    expect(graphDiff(back, mlp())).toMatch(/data of constant %fc1\.weight differs/);
    expect(graphsEqual(back, mlp(), { constantData: false })).toBe(true);
    expect(back.constants.get('fc1.bias')!.data).toEqual(new Float32Array(8));
    expect(() => parseGraph(text, { missingConstants: 'error' })).toThrow(/2:9: no data for constant %fc1\.weight/);
  });

  it('reads hand-written text with comments and blank lines; new names do not clash', () => {
    const g = parseGraph(`
      # an affine layer
      graph(%x: float32[batch, 2]) {
        const %w: float32[2, 2] = [1, 2, 3, 4]

        %y: float32[batch, 2] = matmul(%x, %w)   # net.ts:3:1
        # the result
        return %y
      }
    `);
    expect(g.nodes[0]!.source).toBe('net.ts:3:1');
    expect(g.constants.get('w')!.data).toEqual(Float32Array.of(1, 2, 3, 4));
    const n = g.addNode('relu', [g.outputs[0]!], {}, [f32(batch, 2)]);
    expect(['x', 'w', 'y']).not.toContain(n.outputs[0]!.name);
  });
});

describe('graphsEqual', () => {
  it('notices each kind of difference', () => {
    const base = mlp();
    const changed = (edit: (g: Graph) => void): string | null => {
      const g = mlp();
      edit(g);
      return graphDiff(base, g);
    };
    expect(changed(() => {})).toBeNull();
    expect(changed((g) => { g.nodes[4]!.attrs = { axis: 0 }; })).toMatch(/node #4 .*attribute axis: 1 vs 0/);
    expect(changed((g) => { g.nodes[0]!.source = 'other.ts:1:1'; })).toMatch(/source/);
    expect(changed((g) => { g.nodes[2]!.outputs[0]!.type = f32(sym('batch'), 9); })).toMatch(/outputs: %2 is float32\[batch, 8\] vs float32\[batch, 9\]/);
    expect(changed((g) => { (g.constants.get('fc1.bias')!.data as Float32Array)[3] = 2; })).toMatch(/data of constant %fc1\.bias/);
    expect(changed((g) => { g.outputs = g.outputs.slice(0, 1); })).toMatch(/graph outputs/);
    expect(changed((g) => { g.inputs[0]!.type = f32(sym('n'), 4); })).toMatch(/graph inputs/);
    expect(changed((g) => { g.nodes.pop(); })).toMatch(/6 vs 5 nodes/);
  });
});

describe('parse errors name line:column', () => {
  const cases: [string, string, RegExp][] = [
    ['an unknown value', 'graph(%x: float32[2]) {\n  %y: float32[2] = relu(%z)\n  return %y\n}', /2:25: %z is not defined/],
    ['a value defined twice', 'graph(%x: float32[2]) {\n  %x: float32[2] = relu(%x)\n  return %x\n}', /2:3: value %x is defined twice \(first at 1:7\)/],
    ['a use before definition', 'graph(%x: float32[2]) {\n  %a: float32[2] = relu(%b)\n  %b: float32[2] = relu(%x)\n  return %a\n}', /2:25: %b is not defined/],
    ["a subgraph's value used outside", 'graph(%c: bool[]) {\n  %r: float32[] = If(%c) {\n    then() {\n      const %one: float32[]\n      return %one\n    }\n    else() {\n      return %one\n    }\n  }\n  return %r\n}', /8:14: %one \(defined at 4:13\) is not visible here/],
    ['a missing return', 'graph(%x: float32[2]) {\n}', /2:1: graph has no 'return'/],
    ['a bad dtype', 'graph(%x: float16[2]) {\n  return %x\n}', /1:11: expected a dtype \(float32, float64, int32, bool\), found 'float16'/],
    ['a fractional dim', 'graph(%x: float32[2.5]) {\n  return %x\n}', /1:19: a dimension is a non-negative integer or a symbol, got 2.5/],
    ['a bad symbolic dim', 'graph(%x: float32[batch*2]) {\n  return %x\n}', /1:24: expected/],
    ['an unterminated string', 'graph(%x: float32[2]) {\n  %y: float32[2] = copy(%x) {s="abc}\n  return %y\n}', /2:32: unterminated string/],
    ['If branches out of order', 'graph(%c: bool[]) {\n  %r: bool[] = If(%c) {\n    else() {\n      return %c\n    }\n    then() {\n      return %c\n    }\n  }\n  return %r\n}', /2:16: If takes subgraphs then, else in that order, got else, then/],
    ['a stray character', 'graph(%x: float32[2]) {\n  return %x ;\n}', /2:13: unexpected character ';'/],
    ['text after the graph', 'graph() {\n  return\n}\nextra', /4:1: expected the end of the text/],
    ['wrong inline data length', 'graph() {\n  const %w: float32[3] = [1, 2]\n  return %w\n}', /2:26: 2 values do not fill float32\[3\]/],
    ['mixed nested attribute arrays', 'graph(%x: float32[2]) {\n  %y: float32[2] = copy(%x) {a=[[1], 2]}\n  return %y\n}', /2:32: an attribute array holds either all arrays or no arrays/],
    ['strings inside attribute arrays', 'graph(%x: float32[2]) {\n  %y: float32[2] = copy(%x) {a=["s"]}\n  return %y\n}', /2:33: attribute arrays hold numbers/],
  ];
  for (const [what, text, want] of cases) {
    it(what, () => {
      expect(() => parseGraph(text)).toThrow(want);
    });
  }

  it('quotes the line with a caret under the column', () => {
    let message = '';
    try {
      parseGraph('graph(%x: float32[2]) {\n  %y: float32[2] = relu(%z)\n  return %y\n}');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('\n      %y: float32[2] = relu(%z)\n                            ^');
  });

  it('checks supplied constant data against the declared type', () => {
    const text = 'graph() {\n  const %w: float32[2, 2]\n  return %w\n}';
    expect(() => parseGraph(text, { constants: new Map([['w', new Float32Array(3)]]) })).toThrow(/2:9: data for constant %w has 3 elements, but its shape \[2, 2\] holds 4/);
    expect(() => parseGraph(text, { constants: new Map([['w', new Int32Array(4)]]) })).toThrow(/is a Int32Array, but float32 needs a Float32Array/);
  });
});

// Keep the imported classes referenced for readers: the parser builds the same objects.
void Node;
void Value;
