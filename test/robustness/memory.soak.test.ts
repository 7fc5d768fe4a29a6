// Soak: 5,000 eager training steps in kiln.scope keep memory() and the wasm heap flat. The
// smallest model that exercises every per-step allocation of a training loop: a 4→8→2 MLP
// (matmul, bias, tanh and their gradients), an MSE loss and Adam's state; every 500 steps
// one step fails midway, on a bad index and on out of memory (a 12.8 GB broadcast).
import { beforeAll, expect, it } from 'vitest';
import * as kiln from '../../src/index.js';

beforeAll(async () => {
  await kiln.init({ backend: 'wasm' });
});

it('5,000 eager Adam steps in kiln.scope: memory() and the wasm heap are the same at step 100 and step 5,000', () => {
  const { nn, optim } = kiln;
  const model = new nn.Sequential(new nn.Linear(4, 8), new nn.Tanh(), new nn.Linear(8, 2));
  const opt = new optim.Adam(model.parameters(), { lr: 1e-2 });
  const x = kiln.randn([16, 4], { seed: 1 });
  const y = kiln.randn([16, 2], { seed: 2 });
  const badIndex = kiln.tensor([[0, 99]], { dtype: 'int32' });
  const step = (i: number): number =>
    kiln.scope(() => {
      opt.zeroGrad();
      const pred = model.forward(x);
      if (i % 500 === 125) pred.gather(0, badIndex); // throws: out of range
      if (i % 500 === 250) pred.expand([1e8, 16, 2]); // throws: out of memory
      const loss = nn.mseLoss(pred, y);
      loss.backward();
      opt.step();
      return loss.item();
    });
  const run = (i: number): number | null => {
    try {
      return step(i);
    } catch (e) {
      expect(e).toBeInstanceOf(kiln.KilnError);
      return null;
    }
  };

  const first = run(1)!;
  for (let i = 2; i <= 100; i++) run(i);
  const atWarm = kiln.memory();
  let last = 0;
  for (let i = 101; i <= 5000; i++) last = run(i) ?? last;
  const atEnd = kiln.memory();
  expect(atEnd.liveTensors).toBe(atWarm.liveTensors);
  expect(atEnd.liveBytes).toEqual(atWarm.liveBytes);
  expect(atEnd.wasmHeapBytes).toBe(atWarm.wasmHeapBytes);
  expect(last).toBeLessThan(first / 10); // it did train
});
