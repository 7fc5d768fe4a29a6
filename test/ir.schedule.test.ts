/**
 * The one interpreter loop: schedules (slots, steps, what is freed after each step) and
 * executors with the per-node hook, freeing and sharing. Executors here are fakes
 * (tensors are shapes with an id), so the counts are exact; the real executors (kernels,
 * eager with autograd, reference) are covered by the compile and interpreter tests.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import {
  addIf, getOp, Graph, interpret, KilnError, schedule, sym, verifyGraph,
  type Attrs, type Executor, type ScheduleStep, type TensorType, type TypedArray, type ValueType,
} from '../src/ir/index.js';

beforeAll(async () => {
  await kiln.init();
});

const f32 = (...shape: ValueType['shape']): ValueType => ({ dtype: 'float32', shape });

interface Fake extends TensorType {
  readonly id: number;
}

/** An executor that makes fake tensors by each op's inference and counts what the loop asks. */
function fakeExecutor(options: { failOn?: string; hook?: boolean } = {}) {
  let next = 0;
  const made = new Set<number>();
  const released: number[] = [];
  const shared: { id: number; produced: boolean }[] = [];
  const seen: string[] = [];
  const make = (t: TensorType): Fake => {
    const f = { ...t, id: next++ };
    made.add(f.id);
    return f;
  };
  const exec = (op: string, inputs: readonly Fake[], attrs: Attrs): Fake[] => {
    if (op === options.failOn) throw new KilnError(`${op} failed on purpose`, { op });
    return getOp(op)!.infer(inputs, attrs).map(make);
  };
  const ex: Executor<Fake> = {
    exec,
    constant: (_name: string, _data: TypedArray, type: TensorType) => make(type),
    readScalar: () => 1,
    release: (t) => { released.push(t.id); },
    share: (t, produced) => { shared.push({ id: t.id, produced }); return t; },
    ...(options.hook ? {
      runNode: (st: ScheduleStep, ins: readonly Fake[]) => {
        seen.push(`${st.index}:${st.node.op}`);
        return exec(st.node.op, ins, st.node.attrs as Attrs);
      },
    } : {}),
  };
  return { ex, made, released, shared, seen };
}

/** x → matmul(w) → add(b) → relu → (relu, sum(relu), x): intermediates freed after their last use. */
function mlp(): Graph {
  const g = new Graph();
  const x = g.addInput('x', f32(sym('batch'), 4));
  const w = g.addConstant('w', new Float32Array(8), f32(4, 2));
  const b = g.addConstant('b', new Float32Array(2), f32(2));
  const m = g.addNode('matmul', [x, w], {}, [f32(sym('batch'), 2)]).outputs[0]!;
  const a = g.addNode('add', [m, b], {}, [f32(sym('batch'), 2)]).outputs[0]!;
  const r = g.addNode('relu', [a], {}, [f32(sym('batch'), 2)]).outputs[0]!;
  const s = g.addNode('sum', [r], { axes: [0, 1], keepDims: false }, [f32()]).outputs[0]!;
  g.addNode('neg', [r], {}, [f32(sym('batch'), 2)]); // unused: freed right after it runs
  g.outputs = [r, s, x, r];
  return verifyGraph(g);
}

describe('schedule', () => {
  it('gives values slots and frees each intermediate after its last use, never inputs, constants or outputs', () => {
    const s = schedule(mlp());
    const [x, w, b] = [0, 1, 2];
    expect(s.main.inputs).toEqual([x]);
    expect([...s.constants.keys()]).toEqual([w, b]);
    const steps = s.main.steps;
    expect(steps.map((st) => st.node.op)).toEqual(['matmul', 'add', 'relu', 'sum', 'neg']);
    expect(steps.map((st) => st.index)).toEqual([0, 1, 2, 3, 4]);
    const [m, a, r, sum, neg] = steps.map((st) => st.outputs[0]!);
    expect(steps[0]!.inputs).toEqual([x, w]);
    expect(steps.map((st) => st.release)).toEqual([[], [m], [a], [], [neg]]);
    expect(s.main.outputs).toEqual([r, sum, x, r]);
    expect(s.produced.map((p, slot) => (p ? slot : -1)).filter((v) => v >= 0)).toEqual([m, a, r, sum, neg]);
    expect(s.freeable).toEqual(s.produced);
  });
});

describe('the interpreter loop', () => {
  it('frees every intermediate once and shares what is returned twice or not made by a node', () => {
    const f = fakeExecutor();
    const [r, sum, x, r2] = interpret(mlp(), [{ dtype: 'float32', shape: [3, 4], id: -1 }], f.ex);
    expect(r!.shape).toEqual([3, 2]);
    expect(sum!.shape).toEqual([]);
    expect(x!.id).toBe(-1);
    expect(r2).toBe(r);
    // Made in order (constants on first use): w 0, matmul 1, b 2, add 3, relu 4, sum 5, neg 6.
    expect(f.made.size).toBe(7);
    // Freed: the matmul and add results and the unused neg; kept: relu and sum (returned).
    expect(f.released.sort()).toEqual([1, 3, 6]);
    expect(f.shared).toEqual([{ id: -1, produced: false }, { id: r!.id, produced: true }]);
  });

  it('the per-node hook runs every op node, subgraphs included, with its step index', () => {
    const g = new Graph();
    const c = g.addInput('c', { dtype: 'bool', shape: [] });
    const x = g.addInput('x', f32(2));
    const branch = (op: string): Graph => {
      const b = new Graph(g);
      b.outputs = b.addNode(op, [x], {}, [f32(2)]).outputs;
      return b;
    };
    g.outputs = addIf(g, c, branch('exp'), branch('neg')).outputs;
    verifyGraph(g);
    const f = fakeExecutor({ hook: true });
    interpret(g, [{ dtype: 'bool', shape: [], id: -1 }, { dtype: 'float32', shape: [2], id: -2 }], f.ex);
    // readScalar says 1: the then-branch. Step 0 is the If itself (the loop runs it).
    expect(f.seen).toEqual(['1:exp']);
    expect(schedule(g).stepCount).toBe(3);
  });

  it('a failing node: what the run still holds is freed, then the error propagates', () => {
    const f = fakeExecutor({ failOn: 'sum' });
    expect(() => interpret(mlp(), [{ dtype: 'float32', shape: [3, 4], id: -1 }], f.ex)).toThrow(/sum failed on purpose/);
    // matmul and add were freed after their last use; relu, live when sum failed, on the error.
    expect(f.released.sort()).toEqual([1, 3, 4]);
  });
});
