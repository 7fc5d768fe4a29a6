/**
 * The verifier: a well-formed graph passes; each kind of mistake is caught on its own,
 * with a message naming the node (index, op, values, source line) and what differs.
 */
import { describe, expect, it } from 'vitest';
import '../src/index.js'; // registers the ops
import { Graph, Node, Value, sym, addIf, addLoop, checkGraph, verifyGraph, parseGraph, KilnError, type ValueType } from '../src/ir/index.js';

const batch = sym('batch');
const f32 = (...shape: ValueType['shape']): ValueType => ({ dtype: 'float32', shape });
const bool = (...shape: ValueType['shape']): ValueType => ({ dtype: 'bool', shape });

function mlp(): { g: Graph; x: Value } {
  const g = new Graph();
  const x = g.addInput('x', f32(batch, 4));
  const w = g.addConstant('w', new Float32Array(12), f32(4, 3));
  const h = g.addNode('matmul', [x, w], {}, [f32(batch, 3)], 'model.ts:12:20').outputs[0]!;
  const r = g.addNode('relu', [h], {}, [f32(batch, 3)], 'model.ts:13:9').outputs[0]!;
  g.outputs = [g.addNode('reshape', [r], { shape: [sym('batch', 3)] }, [f32(sym('batch', 3))]).outputs[0]!];
  return { g, x };
}

/** The only issue of `g`; fails if there is not exactly one. */
function onlyIssue(g: Graph): string {
  const issues = checkGraph(g).map((i) => i.message);
  expect(issues).toHaveLength(1);
  return issues[0]!;
}

describe('verifyGraph', () => {
  it('accepts well-formed graphs and returns them', () => {
    const { g } = mlp();
    expect(checkGraph(g)).toEqual([]);
    expect(verifyGraph(g)).toBe(g);
  });

  it('catches a use before definition', () => {
    const { g } = mlp();
    [g.nodes[0], g.nodes[1]] = [g.nodes[1]!, g.nodes[0]!];
    const m = onlyIssue(g);
    expect(m).toBe('node #0 (%1 = relu(%0), at model.ts:13:9): input 0 %0 is used before it is defined (it is output 0 of node #1 (%0 = matmul(%x, %w), at model.ts:12:20))');
  });

  it('catches a redefined value', () => {
    const { g, x } = mlp();
    const again = new Value('1', f32(batch, 4)); // %1 is relu's output
    g.nodes.push(new Node('neg', [x], [again], {}, 'model.ts:20:1'));
    expect(onlyIssue(g)).toMatch(/^value name %1 is defined twice: as output 0 of node #1 \(%1 = relu\(%0\), at model\.ts:13:9\) and as output 0 of node #3 \(%1 = neg\(%x\), at model\.ts:20:1\)$/);
    const { g: g2 } = mlp();
    g2.nodes.push(g2.nodes[1]!); // the same node (and value) twice
    expect(checkGraph(g2).map((i) => i.message)).toContain('value %1 is defined twice: as output 0 of node #1 (%1 = relu(%0), at model.ts:13:9) and as output 0 of node #3 (%1 = relu(%0), at model.ts:13:9)');
  });

  it('catches an unknown op', () => {
    const { g, x } = mlp();
    g.addNode('frobnicate', [x], {}, [f32(batch, 4)], 'model.ts:30:5');
    expect(onlyIssue(g)).toBe("node #3 (%3 = frobnicate(%x), at model.ts:30:5): unknown op 'frobnicate' (not in the op registry)");
  });

  it('catches a wrong output shape', () => {
    const { g } = mlp();
    g.nodes[1]!.outputs[0]!.type = f32(batch, 4);
    const issues = checkGraph(g).map((i) => i.message);
    expect(issues[0]).toBe('node #1 (%1 = relu(%0), at model.ts:13:9): output 0 %1 is declared float32[batch, 4], but relu infers float32[batch, 3] (the shape differs)');
  });

  it('catches a shape that is right at one batch size only (inference runs over the symbols)', () => {
    const g = new Graph();
    const x = g.addInput('x', f32(batch, 4));
    // A reshape baked for batch 3: consistent at batch=3, wrong at any other.
    g.outputs = g.addNode('reshape', [x], { shape: [12] }, [f32(12)], 'model.ts:7:3').outputs;
    expect(onlyIssue(g)).toMatch(/^node #0 \(%0 = reshape\(%x\), at model\.ts:7:3\): reshape rejects its inputs \(float32\[batch, 4\]\): cannot reshape \[batch, 4\] \(4\*batch elements\) to \[12\]$/);
    const h = new Graph();
    const y = h.addInput('y', f32(batch, 4));
    h.outputs = h.addNode('concat', [y, y], { axis: 0 }, [f32(batch, 4)]).outputs; // really 2*batch
    expect(onlyIssue(h)).toMatch(/output 0 %0 is declared float32\[batch, 4\], but concat infers float32\[2\*batch, 4\]/);
  });

  it('keeps different symbols apart', () => {
    const g = new Graph();
    const a = g.addInput('a', f32(batch));
    const b = g.addInput('b', f32(sym('seq')));
    g.outputs = g.addNode('add', [a, b], {}, [f32(batch)]).outputs; // only right if seq = batch
    expect(onlyIssue(g)).toMatch(/^node #0 \(%0 = add\(%a, %b\)\): add rejects its inputs \(float32\[batch\], float32\[seq\]\): whether shapes \[batch\] and \[seq\] broadcast depends on the sizes/);
  });

  it('infers with symbols in attributes', () => {
    const { g } = mlp();
    g.nodes[2]!.attrs = { shape: [sym('batch', 3, 1)] };
    g.nodes[2]!.outputs[0]!.type = f32(sym('batch', 3, 1));
    expect(onlyIssue(g)).toMatch(/^node #2 \(%2 = reshape\(%1\)\): reshape rejects its inputs .*cannot reshape \[batch, 3\] \(3\*batch elements\) to \[3\*batch\+1\]/);
  });

  it('catches a wrong dtype', () => {
    const { g, x } = mlp();
    g.addNode('greater', [x, x], {}, [f32(batch, 4)], 'model.ts:40:2');
    expect(onlyIssue(g)).toBe('node #3 (%3 = greater(%x, %x), at model.ts:40:2): output 0 %3 is declared float32[batch, 4], but greater infers bool[batch, 4] (the dtype differs)');
  });

  it('catches a dangling output', () => {
    const { g } = mlp();
    g.outputs = [...g.outputs, new Value('ghost', f32(2))];
    expect(onlyIssue(g)).toBe('the graph returns %ghost (output 1), which is not defined anywhere (a dangling output)');
  });

  it('catches a wrong number of outputs and bad producer links', () => {
    const { g, x } = mlp();
    const n = g.addNode('neg', [x], {}, [f32(batch, 4), f32(batch, 4)]);
    expect(onlyIssue(g)).toMatch(/node #3 \(%3, %4 = neg\(%x\)\): declares 2 outputs but neg produces 1/);
    const { g: g2 } = mlp();
    g2.nodes[0]!.outputs[0]!.index = 1;
    expect(onlyIssue(g2)).toMatch(/node #0 .*output 0 %0 records output 1 of %0 = matmul\(%x, %w\) as where it comes from/);
    void n;
  });

  it('catches constants whose data does not fit', () => {
    const g = new Graph();
    g.outputs = [g.addConstant('w', new Float32Array(5), f32(2, 3)), g.addConstant('i', new Float32Array(2), { dtype: 'int32', shape: [2] })];
    expect(checkGraph(g).map((i) => i.message)).toEqual([
      'constant %w: its data has 5 elements, but float32[2, 3] holds 6',
      'constant %i: its data is a Float32Array, but int32 needs a Int32Array',
    ]);
  });

  it('throws a KilnError listing every problem', () => {
    const { g, x } = mlp();
    g.addNode('frobnicate', [x], {}, [f32(batch, 4)]);
    g.outputs = [new Value('ghost', f32(2))];
    let err: unknown;
    try {
      verifyGraph(g);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KilnError);
    expect((err as Error).message).toMatch(/^invalid graph \(2 problems\):\n {2}- node #3 .*unknown op 'frobnicate'.*\n {2}- the graph returns %ghost/);
  });
});

describe('verifyGraph on control flow', () => {
  function ifGraph(elseType: ValueType): Graph {
    const g = new Graph();
    const x = g.addInput('x', f32(batch, 3));
    const c = g.addInput('c', bool());
    const t = new Graph(g);
    t.outputs = t.addNode('relu', [x], {}, [f32(batch, 3)], 'model.ts:5:7').outputs;
    const e = new Graph(g);
    e.outputs = e.addNode('sum', [x], { axes: [1], keepDims: elseType.shape.length === 2 }, [elseType], 'model.ts:7:7').outputs;
    g.outputs = g.addNode('If', [c], {}, [f32(batch, 3)], 'model.ts:4:3', [t, e]).outputs;
    return g;
  }

  it('accepts an If whose branches agree, built with addIf', () => {
    const g = new Graph();
    const x = g.addInput('x', f32(batch, 3));
    const c = g.addInput('c', bool());
    const t = new Graph(g);
    t.outputs = t.addNode('relu', [x], {}, [x.type]).outputs;
    const e = new Graph(g);
    e.outputs = [x];
    g.outputs = addIf(g, c, t, e).outputs;
    expect(checkGraph(g)).toEqual([]);
  });

  it('catches an If with mismatched branch types', () => {
    const m = onlyIssue(ifGraph(f32(batch, 1)));
    expect(m).toBe('node #0 (%2 = If(%c), at model.ts:4:3): branch types differ for output 0 %2: the then-branch returns float32[batch, 3], the else-branch float32[batch, 1]');
    expect(() => addIf(new Graph(), new Value('c', bool()), (() => { const t = new Graph(); t.outputs = [new Value('a', f32(2))]; return t; })(), (() => { const e = new Graph(); e.outputs = [new Value('b', f32(3))]; return e; })()))
      .toThrow(/If: output 0 is float32\[2\] in the then-branch but float32\[3\] in the else-branch/);
  });

  it('names nodes inside subgraphs by their path', () => {
    const g = ifGraph(f32(batch, 3));
    g.nodes[0]!.subgraphs[1]!.nodes[0]!.outputs[0]!.type = f32(batch, 3); // sum over axis 1 with keepDims gives [batch, 1]
    const issues = checkGraph(g).map((i) => i.message);
    expect(issues[0]).toBe('node #0 (%1 = sum(%x), at model.ts:7:7) in the else-branch of node #0 (%2 = If(%c), at model.ts:4:3): output 0 %1 is declared float32[batch, 3], but sum infers float32[batch, 1] (the shape differs)');
  });

  it('catches a non-bool condition and a value another branch defines', () => {
    const g = parseGraph(`graph(%x: float32[2], %c: float32[]) {
      %r: float32[2] = If(%c) {
        then() {
          %t: float32[2] = neg(%x)
          return %t
        }
        else() {
          return %x
        }
      }
      return %r
    }`);
    expect(onlyIssue(g)).toBe('node #0 (%r = If(%c)): the condition %c must be bool with one element (bool[]), got float32[]');
    const e = g.nodes[0]!.subgraphs[1]!;
    e.outputs = [g.nodes[0]!.subgraphs[0]!.outputs[0]!];
    expect(checkGraph(g).map((i) => i.message)).toContain('the else-branch of node #0 (%r = If(%c)) returns %t (output 0), which is not visible here (it is output 0 of node #0 (%t = neg(%x)) in the then-branch of node #0 (%r = If(%c)))');
  });

  function cumprod(): { g: Graph; body: Graph } {
    const g = new Graph();
    const x = g.addInput('x', f32(sym('n')));
    const m = g.addInput('m', { dtype: 'int32', shape: [] });
    const yes = g.addConstant('yes', Uint8Array.of(1), bool());
    const one = g.addConstant('one', Float32Array.of(1), f32());
    const body = new Graph(g);
    const i = body.addInput('i', { dtype: 'int32', shape: [] });
    const c = body.addInput('c', bool());
    const acc = body.addInput('acc', f32());
    const xi1 = body.addNode('indexSelect', [x, i], { axis: 0 }, [f32(1)]).outputs[0]!;
    const xi = body.addNode('reshape', [xi1], { shape: [] }, [f32()]).outputs[0]!;
    const next = body.addNode('mul', [acc, xi], {}, [f32()]).outputs[0]!;
    body.outputs = [c, next, next];
    g.outputs = addLoop(g, { maxTripCount: m, cond: yes, carried: [one], body, scanLength: sym('n') }, 'model.ts:9:1').outputs;
    return { g, body };
  }

  it('accepts a well-formed Loop', () => {
    expect(checkGraph(cumprod().g)).toEqual([]);
  });

  it('catches a Loop whose carried value changes type, and a bad trip count', () => {
    const { g, body } = cumprod();
    body.outputs = [body.outputs[0]!, body.nodes[0]!.outputs[0]!, body.outputs[2]!]; // float32[1] instead of float32[]
    expect(onlyIssue(g)).toBe("node #0 (%3, %4 = Loop(%m, %yes, %one), at model.ts:9:1): carried value 0 is float32[] (%one) but the body returns float32[1] (%0): a carried value keeps its type");
    const { g: g2 } = cumprod();
    g2.inputs[1]!.type = f32();
    expect(onlyIssue(g2)).toMatch(/maxTripCount %m must be int32 with one element \(int32\[\]\), got float32\[\]/);
    const { g: g3 } = cumprod();
    g3.nodes[0]!.outputs[1]!.type = f32(sym('n'), 1);
    expect(onlyIssue(g3)).toMatch(/scan output 0 %4 is declared float32\[n, 1\], but stacking the body's float32\[\] \(%2\) gives float32\[n\] for some length n/);
  });
});
