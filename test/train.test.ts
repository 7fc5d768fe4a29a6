import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';

const { nn } = kiln;

beforeAll(async () => {
  await kiln.init();
});

/** Trains on one fixed batch; returns [first loss, last loss]. */
function overfit(model: kiln.nn.Module, x: kiln.Tensor, y: kiln.Tensor, steps: number, lr: number): [number, number] {
  const opt = new kiln.optim.Adam(model.parameters(), { lr });
  const losses: number[] = [];
  for (let i = 0; i < steps; i++) {
    losses.push(
      kiln.scope(() => {
        opt.zeroGrad();
        const loss = nn.crossEntropy(nn.callForward(model, x) as kiln.Tensor, y);
        loss.backward();
        opt.step();
        return loss.item();
      }),
    );
  }
  return [losses[0]!, losses[losses.length - 1]!];
}

describe('overfit one batch (the classic sanity check)', () => {
  it('an MLP drives the loss near zero on one batch', () => {
    kiln.manualSeed(1);
    const x = kiln.randn([16, 20], { seed: 2 });
    const y = kiln.randint(0, 5, [16], { seed: 3 });
    const model = new nn.Sequential(new nn.Linear(20, 64), new nn.ReLU(), new nn.Linear(64, 5));
    const [first, last] = overfit(model, x, y, 200, 1e-2);
    expect(first).toBeGreaterThan(1); // ≈ ln 5 at the start
    expect(last).toBeLessThan(0.01);
  });

  it('a CNN drives the loss near zero on one batch', () => {
    kiln.manualSeed(4);
    const x = kiln.randn([8, 1, 12, 12], { seed: 5 });
    const y = kiln.randint(0, 4, [8], { seed: 6 });
    const model = new nn.Sequential(
      new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
      new nn.Conv2d(8, 8, 3), new nn.ReLU(), new nn.Flatten(), new nn.Linear(8 * 4 * 4, 4),
    );
    const [first, last] = overfit(model, x, y, 150, 1e-2);
    expect(first).toBeGreaterThan(0.8);
    expect(last).toBeLessThan(0.01);
  });
});

describe('fit', () => {
  it('trains, validates, returns the history and prints plain lines without a TTY', async () => {
    kiln.manualSeed(7);
    // Two separable blobs.
    const n = 200;
    const labels = kiln.randint(0, 2, [n], { seed: 8 });
    const x = kiln.randn([n, 2], { seed: 9 }).add(labels.cast('float32').mul(4).sub(2).unsqueeze(1));
    const ds = new kiln.data.TensorDataset(x, labels);
    const model = new nn.Sequential(new nn.Linear(2, 8), new nn.Tanh(), new nn.Linear(8, 2));
    const lines: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((s: string) => (lines.push(s), true)) as typeof process.stderr.write;
    let history: kiln.EpochRecord[];
    try {
      history = await kiln.fit(model, {
        optimizer: new kiln.optim.SGD(model.parameters(), { lr: 0.1 }),
        loss: (p, y) => nn.crossEntropy(p, y),
        train: new kiln.data.DataLoader(ds, { batchSize: 20, shuffle: true, seed: 0 }),
        val: new kiln.data.DataLoader(ds, { batchSize: 100 }),
        epochs: 5,
      });
    } finally {
      process.stderr.write = write;
    }
    expect(history.map((h) => h.epoch)).toEqual([1, 2, 3, 4, 5]);
    expect(history[4]!.trainLoss).toBeLessThan(history[0]!.trainLoss);
    expect(history[4]!.valAccuracy).toBeGreaterThan(0.95);
    expect(lines.length).toBe(5); // one line per epoch, no bar redraws without a TTY
    expect(lines[0]).toMatch(/^epoch 1\/5 {2}train loss \d\.\d{4} \d+\.\d\d% {2}val loss \d\.\d{4} \d+\.\d\d% {2}\(\d+\.\ds\)\n$/);
    const before = kiln.memory().liveTensors;
    kiln.evaluate(model, new kiln.data.DataLoader(ds, { batchSize: 50 }), (p, y) => nn.crossEntropy(p, y));
    expect(kiln.memory().liveTensors).toBe(before); // loader batches are freed per step
  });

  it('onEpochEnd can stop training early', async () => {
    const ds = new kiln.data.TensorDataset(kiln.randn([10, 2], { seed: 1 }), kiln.randint(0, 2, [10], { seed: 2 }));
    const model = new nn.Linear(2, 2);
    const history = await kiln.fit(model, {
      optimizer: new kiln.optim.SGD(model.parameters(), { lr: 0.1 }),
      loss: (p, y) => nn.crossEntropy(p, y),
      train: new kiln.data.DataLoader(ds, { batchSize: 5 }),
      epochs: 10,
      log: 'none',
      onEpochEnd: (r) => r.epoch === 2,
    });
    expect(history.length).toBe(2);
  });
});
