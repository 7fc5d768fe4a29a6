/**
 * Hardening of kiln.compile: guards reject what eager rejects (BatchNorm in training at
 * batch 0) and a failed run changes no state; a replaced submodule or parameter is
 * retraced, never served stale; each run frees its own intermediates (graph breaks too).
 *
 * Tolerances: a compiled plan runs the very kernels eager runs on the same inputs, so
 * compiled and eager results are compared for exact (bitwise) equality throughout.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../../src/index.js';

const { nn } = kiln;

beforeAll(async () => {
  await kiln.init();
});

/** The elements' bits, so that NaN, -0 and every rounding count. */
function bits(t: kiln.Tensor): number[] {
  const d = t.dataSync();
  return [...new Uint32Array(d.buffer, d.byteOffset, d.length)];
}

function sameBits(a: kiln.Tensor, b: kiln.Tensor): void {
  expect(a.shape).toEqual(b.shape);
  expect(bits(a)).toEqual(bits(b));
}

/** The error `fn` throws (fails if it returns). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

const bnModel = (momentum?: number | null) => {
  kiln.manualSeed(21);
  return new nn.Sequential(new nn.Linear(5, 3), new nn.BatchNorm1d(3, momentum === undefined ? {} : { momentum }));
};

function stats(m: kiln.nn.Sequential): kiln.Tensor[] {
  const bn = m.at(1) as kiln.nn.BatchNorm1d;
  return [bn.runningMean!, bn.runningVar!, bn.numBatchesTracked!];
}

describe('guards reject what eager rejects; a failed run writes no state', () => {
  // momentum null reads numBatchesTracked with item(): the same model with a graph break.
  for (const [label, momentum] of [['one graph', undefined], ['graph-broken (lazy segments)', null]] as const) {
    it(`BatchNorm in training at batch 0 (${label}): the layer's own KilnError, running statistics bitwise unchanged`, () => {
      const a = bnModel(momentum), b = bnModel(momentum);
      const fast = kiln.compile(a, { inputs: [kiln.spec([kiln.dim('batch'), 5])], mode: 'training' });
      const x = kiln.randn([6, 5], { seed: 1 });
      sameBits(fast.run(x) as kiln.Tensor, b.forward(x) as kiln.Tensor);
      const before = stats(a).map(bits);
      const empty = kiln.zeros([0, 5]);
      const want = thrown(() => b.forward(empty));
      const got = thrown(() => fast.run(empty));
      expect(want).toBeInstanceOf(kiln.KilnError);
      expect(got).toBeInstanceOf(kiln.KilnError);
      expect(got.message).toBe(want.message);
      expect(got.message).toMatch(/BatchNorm1d: expected more than 1 value per channel when training, got input shape \[0, 3\]/);
      expect(stats(a).map(bits)).toEqual(before);
      // Size 1 as well, and then valid sizes still run and match eager step for step.
      expect(thrown(() => fast.run(kiln.zeros([1, 5]))).message).toBe(thrown(() => b.forward(kiln.zeros([1, 5]))).message);
      expect(stats(a).map(bits)).toEqual(before);
      for (const n of [4, 9]) {
        const xn = kiln.randn([n, 5], { seed: n });
        sameBits(fast.run(xn) as kiln.Tensor, b.forward(xn) as kiln.Tensor);
      }
      stats(a).forEach((t, i) => sameBits(t, stats(b)[i]!));
      expect(fast.cacheSize).toBe(1);
    });
  }

  it('a symbolic graph is not run at size 0, which it was never traced at: code that accepts it retraces and matches eager', () => {
    kiln.manualSeed(22);
    const m = new nn.Sequential(new nn.Linear(4, 3), new nn.ReLU()).eval();
    const fast = kiln.compile(m, { inputs: [kiln.spec([kiln.dim('batch'), 4])] });
    fast.run(kiln.randn([5, 4], { seed: 2 }));
    const y = fast.run(kiln.zeros([0, 4])) as kiln.Tensor;
    expect(y.shape).toEqual([0, 3]);
    expect(fast.traceCount).toBe(2);
    fast.run(kiln.zeros([0, 4]));
    fast.run(kiln.randn([7, 4], { seed: 3 }));
    expect(fast.traceCount).toBe(2);
  });

  it('a buffer the graph writes but does not read was disposed: KilnError before the run, no other state written', () => {
    class Recorder extends nn.Module {
      count = nn.buffer(kiln.zeros([1]));
      last = nn.buffer(kiln.zeros([3]));
      forward(x: kiln.Tensor): kiln.Tensor {
        this.count.add_(1);
        this.last.copy_(x.sum(0)); // written, never read: not a graph input or constant
        return x.mul(2);
      }
    }
    const m = new Recorder();
    const fast = kiln.compile(m, { inputs: [kiln.spec([kiln.dim('n'), 3])] });
    const x = kiln.ones([2, 3]);
    fast.run(x);
    fast.run(x);
    expect(m.count.item()).toBe(2);
    expect(m.last.toArray()).toEqual([2, 2, 2]);
    m.last.dispose();
    const err = thrown(() => fast.run(x));
    expect(err).toBeInstanceOf(kiln.KilnError);
    expect(err.message).toMatch(/last was disposed/);
    expect(m.count.item()).toBe(2);
  });

  it('a run that fails on its inputs frees the random keys and copies it made', () => {
    const p = kiln.randn([4], { seed: 5, requiresGrad: true });
    const f = (x: kiln.Tensor) => kiln.dropout(x, 0.5, { training: true }).mul(p);
    const fast = kiln.compile(f, { inputs: [kiln.spec([kiln.dim('n'), 4])], mode: 'training' });
    const x = kiln.ones([3, 4]);
    fast.run(x).dispose();
    expect(fast.graph.inputs.map((v) => v.type.dtype)).toEqual(['float32', 'int32', 'float32']); // x, the Philox key, p
    p.dispose();
    const live = kiln.memory().liveTensors;
    expect(() => fast.run(x)).toThrow(/was disposed/);
    expect(kiln.memory().liveTensors).toBe(live);
  });
});

class Net extends nn.Module {
  fc = new nn.Linear(4, 3);
  act: kiln.nn.Module = new nn.ReLU();
  forward(x: kiln.Tensor): kiln.Tensor {
    return nn.callForward(this.act, this.fc.forward(x)) as kiln.Tensor;
  }
}

/** Net with a graph break. */
class GatedNet extends Net {
  override forward(x: kiln.Tensor): kiln.Tensor {
    const h = this.fc.forward(x);
    return h.mean().item() > 0 ? (nn.callForward(this.act, h) as kiln.Tensor) : h.neg();
  }
}

const eager = (m: kiln.nn.Module, x: kiln.Tensor) => kiln.noGrad(() => nn.callForward(m, x) as kiln.Tensor);

describe('a replaced submodule or parameter is never served stale', () => {
  for (const [label, Model, traces] of [['one graph', Net, 4], ['graph-broken (lazy segments)', GatedNet, 1]] as const) {
    it(`inference, ${label}: replacing a submodule, an activation or a parameter tensor retraces where a graph holds them; loadStateDict is seen in place`, () => {
      kiln.manualSeed(23);
      const m = new Model().eval();
      const fast = kiln.compile(m, { inputs: [kiln.spec([kiln.dim('batch'), 4])] });
      const x = kiln.randn([5, 4], { seed: 4 }).add(1);
      const check = () => sameBits(fast.run(x) as kiln.Tensor, eager(m, x));
      check();
      m.fc = new nn.Linear(4, 3);
      check();
      m.act = new nn.Tanh();
      check();
      (m.fc as { weight: kiln.Tensor }).weight = nn.parameter(kiln.randn([3, 4], { seed: 6 }));
      check();
      const other = new Model();
      m.loadStateDict(other.stateDict()); // copies in place: no retrace
      sameBits(m.fc.weight, other.fc.weight);
      check();
      expect(fast.traceCount).toBe(traces);
      expect(fast.cacheSize).toBe(1); // stale entries are dropped, not kept
    });
  }

  it('a layer appended to a compiled Sequential is run, not skipped', () => {
    kiln.manualSeed(28);
    const m = new nn.Sequential(new nn.Linear(4, 4)).eval();
    const fast = kiln.compile(m, { inputs: [kiln.spec([kiln.dim('batch'), 4])] });
    const x = kiln.randn([2, 4], { seed: 11 });
    sameBits(fast.run(x) as kiln.Tensor, eager(m, x));
    m.append(new nn.Tanh());
    sameBits(fast.run(x) as kiln.Tensor, eager(m, x));
    expect(fast.traceCount).toBe(2);
  });

  it('training: gradients reach the new submodule\'s parameters and equal eager; the old ones get none', () => {
    const make = () => {
      kiln.manualSeed(24);
      return new Net();
    };
    const a = make(), b = make();
    const fast = kiln.compile(a, { inputs: [kiln.spec([kiln.dim('batch'), 4])], mode: 'training' });
    const x = kiln.randn([5, 4], { seed: 7 });
    (fast.run(x) as kiln.Tensor).square().mean().backward();
    const old = a.fc;
    kiln.manualSeed(25);
    a.fc = new nn.Linear(4, 3);
    kiln.manualSeed(25);
    b.fc = new nn.Linear(4, 3);
    old.zeroGrad();
    const ya = fast.run(x) as kiln.Tensor, yb = b.forward(x);
    sameBits(ya, yb);
    ya.square().mean().backward();
    yb.square().mean().backward();
    a.parameters().forEach((p, i) => sameBits(p.grad!, b.parameters()[i]!.grad!));
    expect(old.weight.grad).toBeNull();
    expect(fast.traceCount).toBe(2);
  });

  it('a submodule\'s own training flag is guarded: bn.eval() alone switches to running statistics, and back reuses the first graph', () => {
    const a = bnModel(), b = bnModel();
    const fast = kiln.compile(a, { inputs: [kiln.spec([kiln.dim('batch'), 5])], mode: 'training' });
    const x = kiln.randn([6, 5], { seed: 8 });
    const step = () => sameBits(kiln.noGrad(() => fast.run(x)) as kiln.Tensor, eager(b, x));
    step();
    a.at(1).eval();
    b.at(1).eval();
    step();
    a.at(1).train();
    b.at(1).train();
    step();
    stats(a).forEach((t, i) => sameBits(t, stats(b)[i]!));
    expect(fast.traceCount).toBe(2);
    expect(fast.cacheSize).toBe(2);
  });
});

describe('each run frees its intermediates, also without a kiln.scope', () => {
  it('graph-broken code: after warm-up a run whose output is disposed leaves live tensors and bytes exactly as before', () => {
    kiln.manualSeed(26);
    const fast = kiln.compile(new GatedNet().eval(), { inputs: [kiln.spec([kiln.dim('batch'), 4])] });
    const xs = [kiln.randn([3, 4], { seed: 9 }).add(2), kiln.randn([3, 4], { seed: 10 }).sub(2)]; // both branches
    for (const x of xs) (fast.run(x) as kiln.Tensor).dispose();
    const before = kiln.memory();
    for (let i = 0; i < 20; i++) (fast.run(xs[i % 2]!) as kiln.Tensor).dispose();
    expect(kiln.memory()).toEqual(before);
  });

  it('the first (tracing) call and a run that throws in the glue free theirs too', () => {
    let fail = false;
    const f = (x: kiln.Tensor) => {
      const h = x.mul(3).add(1);
      if (h.sum().item() > 0 && fail) throw new Error('user error');
      return h.exp();
    };
    const x = kiln.ones([2, 2]);
    kiln.scope(() => f(x)); // ops cache their scalar operands (3, 1) on first use: not a leak
    const fast = kiln.compile(f, { inputs: [kiln.spec([2, 2])] });
    const before = kiln.memory();
    (fast.run(x) as kiln.Tensor).dispose();
    expect(kiln.memory()).toEqual(before);
    fail = true;
    expect(() => fast.run(x)).toThrow('user error');
    expect(kiln.memory()).toEqual(before);
  });

  it('with autograd recording, the tensors the tape saved survive the run: backward through a graph-broken run equals eager', () => {
    const make = () => {
      kiln.manualSeed(27);
      return new GatedNet();
    };
    const a = make(), b = make();
    const fast = kiln.compile(a, { inputs: [kiln.spec([kiln.dim('batch'), 4])], mode: 'training' });
    for (const s of [0, 1, 2]) {
      const x = kiln.randn([3, 4], { seed: 30 + s }).add(s % 2 ? 2 : -2);
      a.zeroGrad();
      b.zeroGrad();
      (fast.run(x) as kiln.Tensor).square().sum().backward();
      b.forward(x).square().sum().backward();
      a.parameters().forEach((p, i) => sameBits(p.grad!, b.parameters()[i]!.grad!));
    }
  });
});
