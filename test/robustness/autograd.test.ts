// Autograd hardening: in-place edits of saved tensors, backward twice (retainGraph),
// backward(gradient) validation, grad()'s argument and result checks, unknown dtypes and
// nested arrays as matmul operands.
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../../src/index.js';
import { kilnError } from '../support/kilnError.js';

const { nn } = kiln;

beforeAll(async () => {
  await kiln.init({ backend: 'reference' });
  await kiln.init({ backend: 'wasm' });
});


// Tolerance: float32 gradients vs closed forms, 1e-6 relative.
function expectClose(t: kiln.Tensor, want: number[], tol = 1e-6): void {
  const got = Array.from(t.dataSync());
  expect(got).toHaveLength(want.length);
  got.forEach((v, i) => expect(Math.abs(v - want[i]!)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(want[i]!))));
}

describe('in-place edits of tensors saved for backward', () => {
  it('h.add_() after h.sin() was recorded raises naming sin, the shape and the backward line (was a wrong gradient)', () => {
    const x = kiln.tensor([0.1, 0.2, 0.3], { requiresGrad: true });
    const h = x.mul(2);
    const y = h.sin();
    kiln.noGrad(() => h.add_(1)); // sin's gradient cos(h) would read the new h
    const e = kilnError(() => y.sum().backward());
    expect(e.op).toBe('backward');
    expect(e.message).toMatch(/modified by an in-place operation: input 0 of sin \(float32\[3\]\) is at version 1, but sin saved it at version 0/);
    expect(e.callSite).toMatch(/autograd\.test\.ts:\d+/);
    expect(x.grad).toBeNull();
  });

  it('catches writes to a saved input that needs no grad, through a reshape alias, and to a saved output through detach()', () => {
    const w = kiln.tensor([1, 2, 3, 4], { requiresGrad: true });
    const data = kiln.tensor([1, 1, 1, 1]);
    const y = w.mul(data); // d/dw reads data
    data.mul_(3);
    expect(kilnError(() => y.sum().backward()).message).toMatch(/input 1 of mul \(float32\[4\]\)/);

    const data2 = kiln.tensor([1, 1, 1, 1]);
    const y2 = w.mul(data2);
    data2.reshape(2, 2).add_(1); // shares data2's storage
    expect(kilnError(() => y2.sum().backward()).message).toMatch(/input 1 of mul/);

    const e = w.exp(); // exp's gradient reads its output
    e.detach().mul_(0);
    expect(kilnError(() => e.sum().backward()).message).toMatch(/output 0 of exp \(float32\[4\]\)/);
    expect(w.grad).toBeNull();
  });

  it('writes the gradient does not read are fine (PyTorch: add saves nothing); the gradient is exact', () => {
    const w = kiln.tensor([1, 2, 3], { requiresGrad: true });
    const data = kiln.tensor([5, 5, 5]);
    const y = w.add(data).mul(w); // d/dw = (w + data) + w, read from add's output and w
    data.add_(100);
    y.sum().backward();
    expectClose(w.grad!, [7, 9, 11]);
  });

  it('legitimate training code keeps working: optimizer steps after backward, BatchNorm running stats, gradient accumulation through a cached Linear transpose', () => {
    kiln.manualSeed(3);
    const model = new nn.Sequential(new nn.Linear(4, 6), new nn.BatchNorm1d(6), new nn.Tanh(), new nn.Linear(6, 1));
    const opt = new kiln.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    const x = kiln.randn([8, 4], { seed: 5 }), t = kiln.randn([8, 1], { seed: 6 });
    const lossAt = () => (model.forward(x) as kiln.Tensor).sub(t).square().mean();
    const losses: number[] = [];
    for (let step = 0; step < 4; step++) {
      kiln.scope(() => {
        opt.zeroGrad();
        const loss = lossAt();
        loss.backward();
        opt.step();
        losses.push(loss.item());
      });
    }
    expect(losses[3]!).toBeLessThan(losses[0]!);
    // Two backward passes into the same .grad without a step between: the second
    // forward reuses Linear's cached Wᵀ, whose transpose node the first pass released
    // (transpose's gradient reads no saved tensor, so that is fine).
    const fc = new nn.Linear(3, 2);
    const xs = kiln.randn([5, 3], { seed: 7 });
    fc.forward(xs).sum().backward();
    const once = Array.from(fc.weight.grad!.dataSync());
    fc.forward(xs).sum().backward();
    expectClose(fc.weight.grad!, once.map((v) => 2 * v), 1e-5);
  });

  it('compiled training mode (the tape recorded by the compiled forward) trains and releases like eager', () => {
    kiln.manualSeed(9);
    const model = new nn.Sequential(new nn.Linear(3, 4), new nn.BatchNorm1d(4), new nn.ReLU(), new nn.Linear(4, 1));
    const opt = new kiln.optim.Adam(model.parameters(), { lr: 0.01 });
    const fast = kiln.compile(model, { inputs: [kiln.spec([kiln.dim('batch'), 3])], mode: 'training' });
    const x = kiln.randn([6, 3], { seed: 10 });
    for (let step = 0; step < 3; step++) {
      opt.zeroGrad();
      const loss = (fast.run(x) as kiln.Tensor).square().mean();
      loss.backward();
      opt.step();
      if (step === 2) expect(kilnError(() => loss.backward()).message).toMatch(/retainGraph: true/);
    }
  });
});

describe('backward twice (retainGraph)', () => {
  it('a second backward through the same graph raises, pointing to { retainGraph: true } (it used to accumulate silently)', () => {
    const x = kiln.tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(x).sum();
    y.backward();
    const e = kilnError(() => y.backward());
    expect(e.message).toMatch(/backpropagate through the graph a second time/);
    expect(e.message).toMatch(/\{ retainGraph: true \}/);
    expect(e.callSite).toMatch(/autograd\.test\.ts:\d+/);
    expectClose(x.grad!, [2, 4, 6]); // the failed pass added nothing
  });

  it('also from another root that shares a released node (PyTorch raises there too)', () => {
    const x = kiln.tensor([0.5, 1], { requiresGrad: true });
    const h = x.mul(x);
    const a = h.sin().sum(), b = h.cos().sum();
    a.backward();
    expect(kilnError(() => b.backward()).message).toMatch(/second time.*input \d of mul/);
    expect(h.toArray()).toEqual([0.25, 1]); // releasing disposes nothing the user holds
  });

  it('retainGraph (and createGraph, which implies it) keep the graph: gradients accumulate exactly', () => {
    const x = kiln.tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(x).sum();
    y.backward(undefined, { retainGraph: true });
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expectClose(x.grad!, [6, 12, 18]);
    const z = kiln.tensor([2], { requiresGrad: true });
    const p = z.pow(3).sum();
    p.backward(undefined, { createGraph: true });
    p.backward();
    expectClose(z.grad!.detach(), [24]); // 2 · 3z²
  });

  it('a released node drops its saved tensors and keeps only the edges', () => {
    const x = kiln.tensor([1, 2], { requiresGrad: true });
    const y = x.sin().mul(x).sum();
    const node = y.gradFn!;
    expect(node.inputs).toHaveLength(1);
    expect(node.released).toBe(false);
    y.backward();
    expect(node.released).toBe(true);
    expect(node.inputs).toHaveLength(0);
    expect(node.outputs).toHaveLength(0);
  });

  it('kiln.grad / valueAndGrad nest (their pass is recorded, hence retained)', () => {
    const d2 = kiln.grad((t: kiln.Tensor) => kiln.grad((u: kiln.Tensor) => u.pow(3).sum())(t)[0]!.sum());
    expectClose(d2(kiln.tensor([2]))[0]!, [12]);
  });
});

describe('backward(gradient) validation blames the argument', () => {
  it('a wrong shape names both shapes (it used to blame "a bug in Kiln\'s gradient")', () => {
    const x = kiln.tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(2);
    const e = kilnError(() => y.backward(kiln.tensor([1, 1])));
    expect(e.message).toMatch(/the gradient argument has shape \[2\] but the tensor backward\(\) was called on has shape \[3\]/);
    expect(e.message).not.toMatch(/bug in Kiln/);
    expect(e.callSite).toMatch(/autograd\.test\.ts:\d+/);
    // Broadcastable is not enough: one value per element.
    expect(kilnError(() => kiln.tensor([[1, 2, 3]], { requiresGrad: true }).mul(2).backward(kiln.tensor([1, 1, 1]))).message).toMatch(/shape \[3\] but .* shape \[1, 3\]/);
  });

  it('a wrong dtype, backend or a non-tensor raises before any gradient is computed', () => {
    const x = kiln.tensor([1, 2], { requiresGrad: true });
    const y = x.mul(2);
    expect(kilnError(() => y.backward(kiln.tensor([1, 1], { dtype: 'int32' }))).message).toMatch(/gradient argument is int32\[2\] but the tensor is float32\[2\]/);
    expect(kilnError(() => y.backward(kiln.tensor([1, 1], { backend: 'reference' }))).message).toMatch(/'reference' backend but the tensor on 'wasm'/);
    expect(kilnError(() => y.backward([1, 1] as unknown as kiln.Tensor)).message).toMatch(/must be a Tensor .*got an array of length 2/);
    expect(x.grad).toBeNull();
    y.backward(kiln.tensor([10, 100])); // and the graph is still usable
    expectClose(x.grad!, [20, 200]);
  });
});

describe('grad() arguments and result', () => {
  it('a function returning a number raises a KilnError saying what it returned (was a TypeError)', () => {
    const f = (() => 3) as unknown as (x: kiln.Tensor) => kiln.Tensor;
    const e = kilnError(() => kiln.grad(f)(kiln.tensor([1])));
    expect(e.message).toMatch(/grad: the function must return a one-element Tensor, got the number 3/);
    const g = ((x: kiln.Tensor) => [x.sum()]) as unknown as (x: kiln.Tensor) => kiln.Tensor;
    expect(kilnError(() => kiln.valueAndGrad(g)(kiln.tensor([1]))).message).toMatch(/got an array of length 1/);
  });

  it('an int32 argument raises (only floating tensors can require grad; it used to return zeros)', () => {
    const f = (x: kiln.Tensor) => x.mul(x).sum();
    const e = kilnError(() => kiln.grad(f)(kiln.tensor([1, 2], { dtype: 'int32' })));
    expect(e.message).toMatch(/argument 0 is int32\[2\]: only tensors of a floating-point dtype can require gradients/);
    expect(kilnError(() => kiln.grad(f)(3 as unknown as kiln.Tensor)).message).toMatch(/argument 0 must be a Tensor, got the number 3/);
  });

  it('requiresGrad on an int or bool tensor raises, by option, requiresGrad_() or assignment', () => {
    expect(kilnError(() => kiln.tensor([1, 2], { dtype: 'int32', requiresGrad: true })).message).toMatch(/floating-point/);
    expect(kilnError(() => kiln.zeros([2], { dtype: 'bool', requiresGrad: true })).message).toMatch(/floating-point/);
    const i = kiln.tensor([1, 2], { dtype: 'int32' });
    expect(kilnError(() => i.requiresGrad_()).message).toMatch(/requiresGrad_: only tensors of a floating-point dtype can require gradients, got int32\[2\]/);
    expect(kilnError(() => { i.requiresGrad = true; }).message).toMatch(/only tensors of a floating-point dtype/);
    expect(i.requiresGrad).toBe(false);
    i.requiresGrad = false; // turning it off is always fine
    expect(kiln.tensor([1.5]).requiresGrad_().requiresGrad).toBe(true);
  });
});

describe('unknown dtypes', () => {
  const float16 = 'float16' as kiln.DType;
  const listed = /unknown dtype 'float16' \(expected one of float32, float64, int32, bool\)/;

  it.each(['wasm', 'reference'] as const)('every function that takes a dtype names it and lists the supported ones, on %s (was a TypeError)', (backend) => {
    const o = { dtype: float16, backend };
    const cases: [string, () => unknown][] = [
      ['tensor', () => kiln.tensor([1, 2], o)],
      ['zeros', () => kiln.zeros([2], o)],
      ['ones', () => kiln.ones([2], o)],
      ['full', () => kiln.full([2], 1, o)],
      ['arange', () => kiln.arange(3, undefined, 1, o)],
      ['eye', () => kiln.eye(2, 2, o)],
      ['cast', () => kiln.tensor([1], { backend }).cast(float16)],
    ];
    for (const [op, fn] of cases) {
      const e = kilnError(fn);
      expect(e.message).toMatch(listed);
      expect(e.op).toBe(op);
      expect(e.callSite).toMatch(/autograd\.test\.ts:\d+/);
    }
    // Random creation runs a random op: its name is the op's, the message the same.
    expect(kilnError(() => kiln.randn([2], { ...o, seed: 1 })).message).toMatch(listed);
  });
});

describe('nested arrays as matmul operands', () => {
  it('either side becomes a tensor of the other operand\'s dtype and backend (was a TypeError)', () => {
    const a = kiln.tensor([[1, 2], [3, 4]]);
    expect(a.matmul([[1], [1]]).toArray()).toEqual([[3], [7]]);
    expect(kiln.matmul(a, [1, 1]).toArray()).toEqual([3, 7]);
    expect(kiln.matmul([[1, 0]], a).toArray()).toEqual([[1, 2]]);
    const i = kiln.tensor([[1, 2]], { dtype: 'int32', backend: 'reference' });
    const r = i.matmul([[3], [4]]);
    expect([r.dtype, r.backend.name, r.toArray()]).toEqual(['int32', 'reference', [[11]]]);
  });

  it('gradients flow to the tensor operand; bad operands raise KilnErrors', () => {
    const w = kiln.tensor([[1, 2], [3, 4]], { requiresGrad: true });
    w.matmul([[1], [2]]).sum().backward();
    expect(w.grad!.toArray()).toEqual([[1, 2], [1, 2]]);
    const a = kiln.tensor([[1, 2]]);
    expect(kilnError(() => a.matmul([[1], [2, 3]])).message).toMatch(/matmul: operand 1: ragged nested array/);
    expect(kilnError(() => a.matmul('x' as unknown as kiln.Tensor)).message).toMatch(/matmul: operand 1 must be a Tensor or a nested array of numbers, got string/);
    expect(kilnError(() => a.matmul([[1, 2]])).message).toMatch(/matmul: inner dimensions differ/);
    expect(kilnError(() => kiln.tensor([[1, 2]], { dtype: 'int32' }).matmul([[0.5], [1]])).message).toMatch(/same dtype, got int32 and float32/);
  });
});

describe('eager ops check their operand count', () => {
  it('an extra or missing operand is a KilnError naming the op (extra ones were silently ignored)', () => {
    const a = kiln.tensor([1, -2]);
    const e = kilnError(() => a.applyOp('relu', [a]));
    expect(e.op).toBe('relu');
    expect(e.message).toMatch(/takes 1 input, got 2/);
    expect(e.callSite).toMatch(/autograd\.test\.ts:\d+/);
    expect(kilnError(() => kiln.tensor([1]).applyOp('add', [])).message).toMatch(/add: takes 2 inputs, got 1/);
  });
});
