import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';

beforeAll(async () => {
  await kiln.init();
});

// The linear op's wasm kernel keeps Wᵀ (XNNPACK-packed) between calls while W is unchanged;
// these check it never serves a stale one and that gradients still flow. Tolerance: same
// kernels on the same data, so results are exact.
describe('Linear transposed-weight cache', () => {
  const x = () => kiln.tensor([[1, 2, 3]]);

  it('sees in-place weight updates (optimizer steps, loadStateDict)', () => {
    const fc = new kiln.nn.Linear(3, 2, { bias: false });
    kiln.noGrad(() => fc.weight.copy_(kiln.tensor([[1, 0, 0], [0, 1, 0]])));
    expect(fc.forward(x()).toArray()).toEqual([[1, 2]]);
    kiln.noGrad(() => fc.weight.mul_(2));
    expect(fc.forward(x()).toArray()).toEqual([[2, 4]]);
    fc.loadStateDict({ weight: kiln.tensor([[0, 0, 1], [1, 1, 1]]) });
    expect(fc.forward(x()).toArray()).toEqual([[3, 6]]);
  });

  it('gradients flow after a forward under noGrad', () => {
    const fc = new kiln.nn.Linear(3, 2, { bias: false });
    kiln.noGrad(() => fc.forward(x()));
    fc.forward(x()).sum().backward();
    expect(fc.weight.grad!.toArray()).toEqual([[1, 2, 3], [1, 2, 3]]);
  });

  it('a training loop keeps one cached Wᵀ per layer, not one per step', () => {
    const fc = new kiln.nn.Linear(3, 2);
    const opt = new kiln.optim.SGD(fc.parameters(), { lr: 0.1 });
    const step = () =>
      kiln.scope(() => {
        opt.zeroGrad();
        fc.forward(x()).square().sum().backward();
        opt.step();
      });
    step();
    const live = kiln.memory().liveTensors;
    for (let i = 0; i < 5; i++) step();
    expect(kiln.memory().liveTensors).toBe(live);
  });

  it('a compiled model folds Wᵀ once and refolds after an in-place update', () => {
    const fc = new kiln.nn.Linear(3, 2, { bias: false });
    kiln.noGrad(() => fc.weight.copy_(kiln.tensor([[1, 0, 0], [0, 1, 0]])));
    const fast = kiln.compile(fc, { inputs: [kiln.spec([kiln.dim('batch'), 3])] });
    expect((fast.run(x()) as kiln.Tensor).toArray()).toEqual([[1, 2]]);
    expect((fast.run(x()) as kiln.Tensor).toArray()).toEqual([[1, 2]]); // served from the folded Wᵀ
    kiln.noGrad(() => fc.weight.mul_(3));
    expect((fast.run(x()) as kiln.Tensor).toArray()).toEqual([[3, 6]]);
    expect((fast.run(kiln.tensor([[1, 1, 1], [2, 2, 2]])) as kiln.Tensor).toArray()).toEqual([[3, 3], [6, 6]]);
  });
});
