/**
 * Differentiable optimizer steps (a tensor learning rate): steps are out of place and
 * recorded on the tape, parameters are rebound on their modules, and d(val loss)/d(lr)
 * through K unrolled steps is `kiln.grad` of the training loop.
 *
 * Hypergradients are checked against central finite differences in float64 on the
 * reference backend: the finite difference runs the *number-lr, in-place* optimizer at
 * lr ± h (h = 1e-6), so it also checks that both paths follow the same trajectory.
 * Tolerance: |analytic − numeric| ≤ 1e-6·max(1, |numeric|) (the difference's own error is
 * O(h²·f‴) + O(ε·f/h) ≈ 1e-10 here).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import * as optim from '../src/optim/index.js';

const { nn } = kiln;
const F64 = { dtype: 'float64', backend: 'reference' } as const;

beforeAll(async () => {
  await kiln.init({ backend: 'wasm' });
});

/** A 3 → 4 → 1 tanh network with seeded weights and a fixed regression problem. */
function problem(): { model: kiln.nn.Sequential; x: kiln.Tensor; y: kiln.Tensor; xv: kiln.Tensor; yv: kiln.Tensor } {
  kiln.manualSeed(7);
  const model = new nn.Sequential(new nn.Linear(3, 4, F64), new nn.Tanh(), new nn.Linear(4, 1, F64));
  const x = kiln.randn([8, 3], { seed: 1, ...F64 });
  const y = x.sum(1, { keepDims: true }).sin();
  const xv = kiln.randn([6, 3], { seed: 2, ...F64 });
  const yv = xv.sum(1, { keepDims: true }).sin();
  return { model, x, y, xv, yv };
}

type Make = (params: kiln.Tensor[], lr: optim.LearningRate) => optim.Optimizer;

/** Validation loss after K steps of the optimizer `make` builds, with learning rate `lr`. */
function unrolled(make: Make, lr: optim.LearningRate, K: number): kiln.Tensor {
  return kiln.enableGrad(() => {
    const { model, x, y, xv, yv } = problem();
    const opt = make(model.parameters(), lr);
    for (let k = 0; k < K; k++) {
      nn.mseLoss(model.forward(x), y).backward(undefined, { createGraph: typeof lr !== 'number' });
      opt.step();
      opt.zeroGrad();
    }
    return nn.mseLoss(model.forward(xv), yv);
  });
}

const cases: [string, Make, number, number][] = [
  ['SGD momentum', (ps, lr) => new optim.SGD(ps, { lr, momentum: 0.9 }), 0.1, 4],
  ['SGD Nesterov + weight decay', (ps, lr) => new optim.SGD(ps, { lr, momentum: 0.8, nesterov: true, weightDecay: 0.01 }), 0.05, 5],
  ['SGD momentum + dampening', (ps, lr) => new optim.SGD(ps, { lr, momentum: 0.5, dampening: 0.3 }), 0.1, 3],
  ['Adam', (ps, lr) => new optim.Adam(ps, { lr }), 0.01, 4],
  ['Adam amsgrad + weight decay', (ps, lr) => new optim.Adam(ps, { lr, amsgrad: true, weightDecay: 0.1 }), 0.02, 3],
  ['AdamW', (ps, lr) => new optim.AdamW(ps, { lr, weightDecay: 0.1 }), 0.02, 3],
  ['RMSprop centered + momentum', (ps, lr) => new optim.RMSprop(ps, { lr, centered: true, momentum: 0.5 }), 0.01, 3],
  ['Adagrad', (ps, lr) => new optim.Adagrad(ps, { lr, lrDecay: 0.1 }), 0.1, 3],
  ['Adadelta', (ps, lr) => new optim.Adadelta(ps, { lr }), 0.5, 3],
];

describe('hypergradient d(val loss)/d(lr) through K steps vs finite differences', () => {
  it.each(cases)('%s', (_name, make, lr0, K) => {
    const [value, [analytic]] = kiln.valueAndGrad((lr: kiln.Tensor) => unrolled(make, lr, K))(kiln.tensor(lr0, F64));
    const h = 1e-6;
    const numeric = (unrolled(make, lr0 + h, K).item() - unrolled(make, lr0 - h, K).item()) / (2 * h);
    // Same trajectory: the differentiable loop's value is the in-place loop's value.
    expect(Math.abs(value.item() - unrolled(make, lr0, K).item())).toBeLessThan(1e-12);
    const a = analytic!.item();
    expect(Math.abs(numeric)).toBeGreaterThan(1e-4); // the check is not vacuous
    expect(Math.abs(a - numeric), `analytic ${a}, numeric ${numeric}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(numeric)));
  });

  it('kiln.testing.gradcheck agrees for SGD with momentum and for Adam', () => {
    for (const [, make, lr0, K] of [cases[0]!, cases[3]!]) {
      const f = (lr: kiln.Tensor): kiln.Tensor => unrolled(make, lr, K);
      expect(kiln.testing.gradcheck(f, [kiln.tensor([lr0], F64)], { eps: 1e-6, atol: 1e-8, rtol: 1e-6 }).ok).toBe(true);
    }
  });

  it('without createGraph the gradients are constants: a different (first-order) hypergradient', () => {
    const make = cases[0]![1];
    const firstOrder = (options: { retainGraph?: boolean }): number => kiln.grad((lr: kiln.Tensor) => kiln.enableGrad(() => {
      const { model, x, y, xv, yv } = problem();
      const opt = make(model.parameters(), lr);
      for (let k = 0; k < 4; k++) {
        nn.mseLoss(model.forward(x), y).backward(undefined, options);
        opt.step();
        opt.zeroGrad();
      }
      return nn.mseLoss(model.forward(xv), yv);
    }))(kiln.tensor(0.1, F64))[0]!.item();
    const exact = kiln.grad((lr: kiln.Tensor) => unrolled(make, lr, 4))(kiln.tensor(0.1, F64))[0]!.item();
    const approx = firstOrder({ retainGraph: true });
    expect(Number.isFinite(approx)).toBe(true);
    expect(Math.abs(approx - exact)).toBeGreaterThan(1e-6);
    // A plain backward() frees the unrolled steps' saved tensors: the error says so.
    expect(() => firstOrder({})).toThrow(/retainGraph/);
  });
});

describe('a tensor lr rebinds the parameters', () => {
  it('replaces module properties, paramGroups and state keys with new tensors on the tape', () => {
    const fc = new nn.Linear(2, 1);
    const [w0, b0] = [fc.weight, fc.bias!];
    const before = w0.toArray();
    const lr = kiln.tensor(0.1, { requiresGrad: true });
    const opt = new optim.SGD(fc.parameters(), { lr, momentum: 0.9 });
    expect(opt.differentiable).toBe(true);
    const x = kiln.tensor([[1, 2], [3, -1]]);
    fc.forward(x).square().sum().backward(undefined, { createGraph: true });
    opt.step();
    expect(fc.weight).not.toBe(w0);
    expect(fc.bias).not.toBe(b0);
    expect(w0.toArray()).toEqual(before); // out of place: the old value is untouched
    expect(opt.paramGroups[0]!.params).toEqual([fc.weight, fc.bias]);
    expect(fc.parameters()).toEqual([fc.weight, fc.bias]);
    expect(nn.isParameter(fc.weight)).toBe(true);
    expect([...fc.stateDict().keys()]).toEqual(['weight', 'bias']);
    expect(opt.state.has(fc.weight) && !opt.state.has(w0)).toBe(true);
    expect(fc.weight.isLeaf).toBe(false);
    expect(fc.weight.requiresGrad && fc.weight.retainsGrad).toBe(true);
    // w1 = w0 − lr·g, exactly as the in-place step computes it
    const g = w0.grad!;
    const expected = kiln.noGrad(() => w0.sub(g.mul(0.1)));
    expect(fc.weight.dataSync()).toEqual(expected.dataSync());
    // the next backward fills the rebound parameters' .grad, and the forward uses them
    opt.zeroGrad();
    fc.forward(x).square().sum().backward(undefined, { createGraph: true });
    expect(fc.weight.grad).not.toBeNull();
    const [dLr] = kiln.grad((l: kiln.Tensor) => l)(lr); // lr itself still a plain leaf
    expect(dLr!.item()).toBe(1);
  });

  it('rebinds a parameter shared by two modules in both', () => {
    const a = new nn.Linear(2, 2);
    const b = new nn.Linear(2, 2);
    (b as { weight: kiln.Tensor }).weight = a.weight;
    const model = new nn.Sequential(a, b);
    const opt = new optim.Adam(model.parameters(), { lr: kiln.tensor(0.01) });
    model.forward(kiln.ones([1, 2])).sum().backward(undefined, { createGraph: true });
    opt.step();
    expect(a.weight).toBe(b.weight);
    expect(model.parameters()).toHaveLength(3);
  });

  it('a tensor passed directly is rebound in paramGroups', () => {
    const w = kiln.tensor([1, 2], { requiresGrad: true });
    const opt = new optim.SGD([w], { lr: kiln.tensor(0.5) });
    w.square().sum().backward();
    opt.step();
    const w1 = opt.paramGroups[0]!.params[0]!;
    expect(w1).not.toBe(w);
    expect(w1.toArray()).toEqual([0, 0]);
    expect(w.toArray()).toEqual([1, 2]);
  });

  it('a number lr still steps in place: same tensors, same storage, leaves', () => {
    const fc = new nn.Linear(2, 1);
    const w0 = fc.weight, storage = w0.storage;
    const opt = new optim.Adam(fc.parameters(), { lr: 0.1 });
    expect(opt.differentiable).toBe(false);
    fc.forward(kiln.ones([1, 2])).sum().backward();
    opt.step();
    expect(fc.weight).toBe(w0);
    expect(w0.storage).toBe(storage);
    expect(w0.isLeaf).toBe(true);
    expect(opt.paramGroups[0]!.params[0]).toBe(w0);
  });
});

describe('tensor lr validation', () => {
  const w = (): kiln.Tensor => kiln.tensor([1, 2], { requiresGrad: true });
  it('rejects tensors that cannot be a learning rate', () => {
    expect(() => new optim.SGD([w()], { lr: kiln.tensor([0.1, 0.2]) })).toThrow(/SGD.*one element/s);
    expect(() => new optim.Adam([w()], { lr: kiln.tensor(1, { dtype: 'int32' }) })).toThrow(/Adam.*float32 or float64/s);
    expect(() => new optim.SGD([w()], { lr: kiln.tensor(-0.1) })).toThrow(/invalid learning rate: -0\.1/);
    const d = kiln.tensor(0.1);
    d.dispose();
    expect(() => new optim.SGD([w()], { lr: d })).toThrow(/disposed/);
    expect(() => new optim.SGD([w()], { lr: -1 })).toThrow('invalid learning rate: -1 (must be ≥ 0)');
  });

  it('schedulers refuse a tensor lr with a clear message', () => {
    const opt = new optim.SGD([w()], { lr: kiln.tensor(0.1) });
    expect(() => new optim.StepLR(opt, { stepSize: 1 })).toThrow(/tensor learning rate/);
    expect(() => new optim.ReduceLROnPlateau(opt)).toThrow(/tensor learning rate/);
  });

  it('a tensor lr on another backend raises naming both', () => {
    const opt = new optim.SGD([w()], { lr: kiln.tensor(0.1, F64) });
    opt.paramGroups[0]!.params[0]!.square().sum().backward();
    expect(() => opt.step()).toThrow(/'reference' backend, the parameters on 'wasm'/);
  });

  it('stateDict stores a tensor lr as its value; loadStateDict keeps the tensor', () => {
    const lr = kiln.tensor(0.25);
    const opt = new optim.SGD([w()], { lr, momentum: 0.9 });
    const dict = opt.stateDict();
    expect(dict.paramGroups[0]!.lr).toBe(0.25);
    opt.loadStateDict(JSON.parse(JSON.stringify(dict)));
    expect(opt.paramGroups[0]!.lr).toBe(lr);
  });
});

describe('retainGrad', () => {
  it('fills .grad of a non-leaf tensor on backward', () => {
    const x = kiln.tensor([1, 2], { requiresGrad: true });
    const h = x.mul(3).retainGrad();
    expect(h.retainsGrad).toBe(true);
    expect(x.retainsGrad).toBe(false);
    h.square().sum().backward();
    expect(h.grad!.toArray()).toEqual([6, 12]);
    expect(x.grad!.toArray()).toEqual([18, 36]);
    expect(() => kiln.tensor([1]).retainGrad()).toThrow(/requires grad/);
  });
});

describe('examples/hypergradient.mjs on tiny sizes', () => {
  it('prints lr and val loss per outer step; the tuned lr lowers the validation loss', () => {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
    const dir = mkdtempSync(path.join(tmpdir(), 'kiln-hyper-'));
    try {
      const code = readFileSync(path.join(root, 'examples/hypergradient.mjs'), 'utf8').replace(/from 'kiln'/g, `from ${JSON.stringify(path.join(root, 'src/index.ts'))}`);
      const file = path.join(dir, 'hypergradient.mjs');
      writeFileSync(file, code);
      const tsx = pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href;
      const out = execFileSync(process.execPath, ['--import', tsx, file], { cwd: dir, encoding: 'utf8', env: { ...process.env, KILN_THREADS: '', KILN_OUTER: '4', KILN_UNROLL: '5' } });
      const rows = [...out.matchAll(/outer +(\d+) +lr ([\d.]+) +val loss ([\d.]+) +d\(val\)\/d\(log lr\) (\S+)/g)].map((m) => m.slice(1).map(Number));
      expect(rows.map((r) => r[0])).toEqual([0, 1, 2, 3, 4]);
      expect(rows[0]![3]).toBeLessThan(0); // at lr 0.001 a larger lr helps
      for (let i = 1; i < rows.length; i++) {
        expect(rows[i]![1]).toBeGreaterThan(rows[i - 1]![1]!); // lr rises
        expect(rows[i]![2]).toBeLessThan(rows[i - 1]![2]!); // val loss falls
      }
      expect(out).toMatch(/lr 0\.0010 → [\d.]+: val loss [\d.]+ → [\d.]+/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
