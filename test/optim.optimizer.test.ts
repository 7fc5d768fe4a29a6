/**
 * Optimizer behaviour beyond the PyTorch trajectories (optim.golden.test.ts):
 * in-place updates, skipped parameters, param groups, closures, validation errors,
 * state-dict errors and memory. Numeric checks here are exact (hand-computed SGD
 * steps on values exactly representable in float32) unless stated.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import * as optim from '../src/optim/index.js';

beforeAll(async () => {
  await kiln.init({ backend: 'wasm' });
});

const quad = (w: kiln.Tensor): kiln.Tensor => w.square().sum();

describe('Optimizer.step', () => {
  it('updates parameters in place: same Tensor objects, exact SGD step', () => {
    const w = kiln.tensor([1, -2, 4], { requiresGrad: true });
    const opt = new optim.SGD([w], { lr: 0.25 });
    const storage = w.storage;
    quad(w).backward(); // grad 2w
    opt.step();
    expect(w.storage).toBe(storage);
    expect(opt.paramGroups[0]!.params[0]).toBe(w);
    expect(w.toArray()).toEqual([0.5, -1, 2]); // w − 0.25·2w = w/2
    expect(w.requiresGrad).toBe(true);
  });

  it('skips parameters whose grad is null (no update, no state)', () => {
    const used = kiln.tensor([1, 2], { requiresGrad: true });
    const unused = kiln.tensor([3, 4], { requiresGrad: true });
    const opt = new optim.Adam([used, unused], { lr: 0.1 });
    quad(used).backward();
    expect(unused.grad).toBeNull();
    opt.step();
    expect(unused.toArray()).toEqual([3, 4]);
    expect(opt.state.has(unused)).toBe(false);
    expect(opt.state.has(used)).toBe(true);
    expect(used.toArray()).not.toEqual([1, 2]);
  });

  it('runs without an explicit noGrad and records nothing on the tape', () => {
    const w = kiln.tensor([1, 2], { requiresGrad: true });
    const opt = new optim.RMSprop([w], { momentum: 0.9, centered: true });
    quad(w).backward();
    opt.step();
    expect(w.isLeaf).toBe(true);
    for (const v of Object.values(opt.state.get(w)!)) if (v instanceof kiln.Tensor) expect(v.requiresGrad).toBe(false);
  });

  it('zeroGrad clears the gradients of every group', () => {
    const a = kiln.tensor([1], { requiresGrad: true });
    const b = kiln.tensor([2], { requiresGrad: true });
    const opt = new optim.SGD([{ params: [a] }, { params: [b], lr: 1 }], { lr: 0.1 });
    quad(a).add(quad(b)).backward();
    opt.zeroGrad();
    expect(a.grad).toBeNull();
    expect(b.grad).toBeNull();
  });

  it('uses each group’s own lr, and a changed paramGroups[i].lr takes effect', () => {
    const a = kiln.tensor([1], { requiresGrad: true });
    const b = kiln.tensor([1], { requiresGrad: true });
    const opt = new optim.SGD([{ params: [a] }, { params: [b], lr: 0.25 }], { lr: 0.5 });
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.5, 0.25]);
    quad(a).add(quad(b)).backward(); // grads 2, 2
    opt.step();
    expect([a.item(), b.item()]).toEqual([0, 0.5]);
    opt.zeroGrad();
    opt.paramGroups[1]!.lr = 0.5;
    quad(b).backward(); // grad 1
    opt.step();
    expect(b.item()).toBe(0);
  });

  it('step(closure) evaluates the loss with gradients on and returns it', () => {
    const w = kiln.tensor([3], { requiresGrad: true });
    const opt = new optim.SGD([w], { lr: 0.25 });
    const loss = kiln.noGrad(() =>
      opt.step(() => {
        opt.zeroGrad();
        const l = quad(w);
        l.backward();
        return l.item();
      }),
    );
    expect(loss).toBe(9);
    expect(w.item()).toBe(1.5);
  });

  it('addParamGroup adds a group with defaults filled in', () => {
    const a = kiln.tensor([1], { requiresGrad: true });
    const b = kiln.tensor([1], { requiresGrad: true });
    const opt = new optim.Adam([a], { lr: 0.01, weightDecay: 0.1 });
    opt.addParamGroup({ params: [b], lr: 0.5 });
    expect(opt.paramGroups[1]).toMatchObject({ lr: 0.5, weightDecay: 0.1, betas: [0.9, 0.999], amsgrad: false });
    expect(() => opt.addParamGroup({ params: [a] })).toThrow(/Adam: .*more than one parameter group/);
  });

  it('accepts a generator of parameters and a model’s parameters()', () => {
    const ps = [kiln.tensor([1], { requiresGrad: true }), kiln.tensor([2], { requiresGrad: true })];
    function* gen(): Generator<kiln.Tensor> {
      yield* ps;
    }
    expect(new optim.SGD(gen(), { lr: 1 }).paramGroups[0]!.params).toEqual(ps);
    const model = new kiln.nn.Linear(3, 2);
    const opt = new optim.AdamW(model.parameters());
    expect(opt.paramGroups[0]!.params.length).toBe(2);
  });

  it('keeps memory flat across steps, inside and outside a user scope', () => {
    const w = kiln.randn([16, 8], { seed: 3, requiresGrad: true });
    const b = kiln.randn([8], { seed: 4, requiresGrad: true });
    for (const make of [
      () => new optim.Adam([w, b], { amsgrad: true, weightDecay: 0.1 }),
      () => new optim.RMSprop([w, b], { centered: true, momentum: 0.9 }),
      () => new optim.SGD([w, b], { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 0.1 }),
      () => new optim.Adadelta([w, b]),
      () => new optim.Adagrad([w, b], { lrDecay: 0.1 }),
    ]) {
      const opt = make();
      const iter = (scoped: boolean): void => {
        const body = (): void => {
          opt.zeroGrad();
          quad(w).add(quad(b)).backward();
          opt.step();
        };
        if (scoped) kiln.scope(body);
        else body();
      };
      iter(true);
      iter(true);
      const live = kiln.memory().liveTensors;
      for (let i = 0; i < 5; i++) iter(true);
      expect(kiln.memory().liveTensors).toBe(live);
      // step() outside any user scope frees its own temporaries.
      opt.zeroGrad();
      kiln.scope(() => quad(w).add(quad(b)).backward());
      const before = kiln.memory().liveTensors;
      opt.step();
      expect(kiln.memory().liveTensors).toBe(before);
      opt.zeroGrad();
      opt.dispose();
    }
  });
});

describe('validation errors name the optimizer', () => {
  const w = (): kiln.Tensor => kiln.tensor([1], { requiresGrad: true });
  const cases: [string, () => unknown, RegExp][] = [
    ['SGD lr < 0', () => new optim.SGD([w()], { lr: -1 }), /^SGD: invalid learning rate: -1/],
    ['SGD momentum < 0', () => new optim.SGD([w()], { lr: 0.1, momentum: -0.5 }), /^SGD: invalid momentum/],
    ['SGD nesterov without momentum', () => new optim.SGD([w()], { lr: 0.1, nesterov: true }), /^SGD: Nesterov momentum requires/],
    ['SGD nesterov with dampening', () => new optim.SGD([w()], { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), /^SGD: Nesterov/],
    ['SGD weightDecay < 0', () => new optim.SGD([w()], { lr: 0.1, weightDecay: -1 }), /^SGD: invalid weightDecay/],
    ['Adam beta1 = 1', () => new optim.Adam([w()], { betas: [1, 0.999] }), /^Adam: invalid beta parameter at index 0: 1/],
    ['Adam beta2 < 0', () => new optim.Adam([w()], { betas: [0.9, -0.1] }), /^Adam: invalid beta parameter at index 1/],
    ['Adam eps < 0', () => new optim.Adam([w()], { eps: -1e-8 }), /^Adam: invalid eps/],
    ['AdamW lr NaN', () => new optim.AdamW([w()], { lr: NaN }), /^AdamW: invalid learning rate: NaN/],
    ['AdamW betas not a pair', () => new optim.AdamW([w()], { betas: [0.9] as unknown as [number, number] }), /^AdamW: betas must be a pair/],
    ['Adagrad lrDecay < 0', () => new optim.Adagrad([w()], { lrDecay: -1 }), /^Adagrad: invalid lrDecay/],
    ['Adagrad initialAccumulatorValue < 0', () => new optim.Adagrad([w()], { initialAccumulatorValue: -1 }), /^Adagrad: invalid initialAccumulatorValue/],
    ['Adadelta rho > 1', () => new optim.Adadelta([w()], { rho: 1.5 }), /^Adadelta: invalid rho/],
    ['RMSprop alpha < 0', () => new optim.RMSprop([w()], { alpha: -0.1 }), /^RMSprop: invalid alpha/],
    ['RMSprop momentum < 0', () => new optim.RMSprop([w()], { momentum: -1 }), /^RMSprop: invalid momentum/],
    ['a bad group lr', () => new optim.Adam([{ params: [w()], lr: -0.1 }]), /^Adam: invalid learning rate: -0.1/],
    ['empty parameter list', () => new optim.Adam([]), /^Adam: got an empty parameter list/],
    ['params not a list', () => new optim.SGD(5 as unknown as kiln.Tensor[], { lr: 1 }), /^SGD: params must be a list of Tensors or of param groups, got number/],
    ['a non-tensor parameter', () => new optim.SGD([1 as unknown as kiln.Tensor], { lr: 1 }), /^SGD: params must be a list of Tensors/],
    ['a non-leaf parameter', () => new optim.SGD([w().mul(2)], { lr: 1 }), /^SGD: can't optimize a non-leaf Tensor/],
    ['a parameter twice', () => { const p = w(); return new optim.SGD([{ params: [p] }, { params: [p] }], { lr: 1 }); }, /^SGD: .*more than one parameter group/],
  ];
  it.each(cases)('%s', (_name, make, message) => {
    expect(make).toThrow(kiln.KilnError);
    expect(make).toThrow(message);
  });
});

describe('loadStateDict', () => {
  it('rejects a dict from a different optimizer layout and changes nothing', () => {
    const w = kiln.tensor([1, 2], { requiresGrad: true });
    const opt = new optim.Adam([w], { lr: 0.1 });
    quad(w).backward();
    opt.step();
    const good = opt.stateDict();
    const before = JSON.stringify(good);

    const badShape = JSON.parse(before) as optim.OptimizerStateDict;
    (badShape.state['0']!.expAvg as optim.SerializedTensor).shape = [3];
    (badShape.state['0']!.expAvg as optim.SerializedTensor).data = [0, 0, 0];
    badShape.paramGroups[0]!.lr = 5;
    expect(() => opt.loadStateDict(badShape)).toThrow(/Adam: loadStateDict: state 'expAvg' of parameter 0 has shape \[3\]/);
    expect(JSON.stringify(opt.stateDict())).toBe(before);

    const twoGroups = { ...good, paramGroups: [good.paramGroups[0]!, good.paramGroups[0]!] };
    expect(() => opt.loadStateDict(twoGroups)).toThrow(/2 param groups, this optimizer 1/);
    expect(() => opt.loadStateDict({} as optim.OptimizerStateDict)).toThrow(/expects \{ state, paramGroups \}/);
  });

  it('is plain JSON: numbers, arrays and step counts', () => {
    const w = kiln.tensor([[1, 2], [3, 4]], { requiresGrad: true });
    const opt = new optim.Adam([w], { lr: 0.1, betas: [0.8, 0.9] });
    quad(w).backward();
    opt.step();
    const dict = opt.stateDict();
    expect(JSON.parse(JSON.stringify(dict))).toEqual(dict);
    expect(dict.paramGroups[0]).toMatchObject({ params: [0], lr: 0.1, betas: [0.8, 0.9] });
    expect(dict.state['0']!.step).toBe(1);
    expect(dict.state['0']!.expAvg).toMatchObject({ shape: [2, 2], dtype: 'float32' });
  });
});
