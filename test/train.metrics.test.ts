import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';

const { nn, metrics } = kiln;

beforeAll(async () => {
  await kiln.init();
});

const closeTo = (a: number, b: number) => expect(a).toBeCloseTo(b, 10);
const allClose = (a: readonly number[], b: readonly number[]) => {
  expect(a.length).toBe(b.length);
  a.forEach((x, i) => closeTo(x, b[i]!));
};

describe('confusionMatrix and precisionRecallF1 (sklearn formulas, zero_division=0)', () => {
  // 4 classes; class 2 is predicted but never a target, class 3 is absent entirely.
  const target = [0, 0, 0, 1, 1, 1, 1, 0];
  const pred = [0, 0, 1, 1, 1, 2, 1, 2];

  it('counts rows = truth, columns = prediction', () => {
    // true 0 (samples 0,1,2,7) predicted 0,0,1,2; true 1 (samples 3..6) predicted 1,1,2,1.
    expect(metrics.confusionMatrix(pred, target, 4)).toEqual([
      [2, 1, 1, 0],
      [0, 3, 1, 0],
      [0, 0, 0, 0],
      [0, 0, 0, 0],
    ]);
    // Inferred size: largest label + 1.
    expect(metrics.confusionMatrix(pred, target).length).toBe(3);
  });

  it('per class, macro, micro, weighted, with absent classes giving 0 and no NaN', () => {
    const s = metrics.precisionRecallF1(pred, target, 4);
    // tp = [2, 3, 0, 0]; fp (column − diagonal) = [0, 1, 2, 0]; fn (row − diagonal) = [2, 1, 0, 0].
    // precision = tp/(tp+fp) = [2/2, 3/4, 0/2, 0/0→0]
    allClose(s.precision, [1, 0.75, 0, 0]);
    // recall = tp/(tp+fn) = [2/4, 3/4, 0/0→0, 0/0→0]
    allClose(s.recall, [0.5, 0.75, 0, 0]);
    // f1 = 2tp/(2tp+fp+fn) = [4/6, 6/8, 0/2, 0/0→0]
    allClose(s.f1, [4 / 6, 0.75, 0, 0]);
    expect(s.support).toEqual([4, 4, 0, 0]);
    // macro: plain means over the 4 classes.
    closeTo(s.macro.precision, (1 + 0.75) / 4); // 0.4375
    closeTo(s.macro.recall, (0.5 + 0.75) / 4); // 0.3125
    closeTo(s.macro.f1, (4 / 6 + 0.75) / 4); // 0.354166…
    // micro: TP = 5, FP = 3, FN = 3 → 5/8 each = accuracy.
    closeTo(s.micro.precision, 5 / 8);
    closeTo(s.micro.recall, 5 / 8);
    closeTo(s.micro.f1, 10 / 16);
    closeTo(s.accuracy, 5 / 8);
    // weighted by support [4, 4, 0, 0] / 8.
    closeTo(s.weighted.precision, (1 * 4 + 0.75 * 4) / 8); // 0.875
    closeTo(s.weighted.recall, (0.5 * 4 + 0.75 * 4) / 8); // 0.625 (= accuracy, as in sklearn)
    closeTo(s.weighted.f1, ((4 / 6) * 4 + 0.75 * 4) / 8); // 0.708333…
    for (const v of [...s.precision, ...s.recall, ...s.f1]) expect(Number.isNaN(v)).toBe(false);
    // The same from the confusion matrix.
    expect(metrics.precisionRecallF1(metrics.confusionMatrix(pred, target, 4))).toEqual(s);
  });

  it('a binary case and the empty case', () => {
    // pred [0,0,1,1] vs target [0,1,1,1]: confusion [[1,0],[1,2]].
    const s = metrics.precisionRecallF1([0, 0, 1, 1], [0, 1, 1, 1], 2);
    allClose(s.precision, [0.5, 1]);
    allClose(s.recall, [1, 2 / 3]);
    allClose(s.f1, [2 / 3, 0.8]); // 2·1/(2+1+0), 2·2/(4+0+1)
    closeTo(s.macro.f1, (2 / 3 + 0.8) / 2);
    closeTo(s.accuracy, 0.75);
    const empty = metrics.precisionRecallF1([[0, 0], [0, 0]]);
    expect([empty.macro, empty.micro, empty.weighted, empty.accuracy]).toEqual([
      { precision: 0, recall: 0, f1: 0 }, { precision: 0, recall: 0, f1: 0 }, { precision: 0, recall: 0, f1: 0 }, 0,
    ]);
  });

  it('takes logits (argmax over dim 1, numClasses from dim 1) and int tensors; rejects bad labels', () => {
    const logits = kiln.tensor([[3, 1, 0], [0, 2, 1], [0, 1, 5], [4, 0, 0]]); // argmax 0, 1, 2, 0
    const y = kiln.tensor([0, 2, 2, 1], { dtype: 'int32' });
    expect(metrics.confusionMatrix(logits, y)).toEqual([[1, 0, 0], [1, 0, 0], [0, 1, 1]]);
    closeTo(metrics.accuracy(logits, y), 0.5);
    expect(() => metrics.confusionMatrix([0, 3], [0, 1], 3)).toThrow(/prediction 1 is 3, not a class index in \[0, 3\)/);
    expect(() => metrics.confusionMatrix([0, 1], [0, -1], 3)).toThrow(/target 1 is -1/);
    expect(() => metrics.confusionMatrix([0, 1, 1], [0, 1], 3)).toThrow(/3 labels but target has 2/);
    expect(() => metrics.precisionRecallF1([[1, 2]])).toThrow(/square confusion matrix/);
  });
});

describe('fit and evaluate report metrics; per-batch callbacks', () => {
  function blobs() {
    const n = 90;
    const labels = kiln.tensor(Array.from({ length: n }, (_, i) => i % 3), { dtype: 'int32' });
    const centers = kiln.tensor([[0, 4], [4, -2], [-4, -2]]);
    const x = kiln.randn([n, 2], { seed: 11 }).mul(0.5).add(kiln.indexSelect(centers, 0, labels));
    return Object.assign(new kiln.data.TensorDataset(x, labels), { x, labels });
  }

  it('history has the requested metrics; onBatchEnd runs once per batch with epoch, batch, loss and lr', async () => {
    kiln.manualSeed(12);
    const ds = blobs();
    const model = new nn.Sequential(new nn.Linear(2, 8), new nn.Tanh(), new nn.Linear(8, 3));
    const train = new kiln.data.DataLoader(ds, { batchSize: 20, shuffle: true, seed: 0 }); // 90/20 → 5 batches
    const batches: kiln.BatchRecord[] = [];
    const history = await kiln.fit(model, {
      optimizer: new kiln.optim.SGD(model.parameters(), { lr: 0.05 }),
      loss: (p, y) => nn.crossEntropy(p, y),
      train,
      val: new kiln.data.DataLoader(ds, { batchSize: 45 }),
      epochs: 3,
      log: 'none',
      metrics: ['accuracy', 'f1', 'precision', 'confusion'],
      onBatchEnd: (b) => void batches.push(b),
    });
    expect(batches.length).toBe(3 * 5);
    expect(batches.map((b) => `${b.epoch}.${b.batch}`)).toEqual(['1.1', '1.2', '1.3', '1.4', '1.5', '2.1', '2.2', '2.3', '2.4', '2.5', '3.1', '3.2', '3.3', '3.4', '3.5']);
    expect(batches.every((b) => b.lr === 0.05 && b.batches === 5 && Number.isFinite(b.loss))).toBe(true);
    expect(batches.map((b) => b.size).slice(0, 5)).toEqual([20, 20, 20, 20, 10]);
    // The epoch's train loss is the sample-weighted mean of its batch losses.
    const e1 = batches.slice(0, 5);
    closeTo(history[0]!.trainLoss, e1.reduce((s, b) => s + b.loss * b.size, 0) / 90);

    for (const r of history) {
      const tm = r.trainMetrics!, vm = r.valMetrics!;
      expect(Object.keys(tm).sort()).toEqual(['accuracy', 'confusion', 'f1', 'precision']);
      // The confusion matrix covers every sample; accuracy is its trace / total.
      for (const m of [tm, vm]) {
        const c = m.confusion!;
        expect(c.flat().reduce((a, b) => a + b, 0)).toBe(90);
        closeTo(m.accuracy!, (c[0]![0]! + c[1]![1]! + c[2]![2]!) / 90);
        closeTo(m.f1!, metrics.precisionRecallF1(c).macro.f1);
        closeTo(m.precision!, metrics.precisionRecallF1(c).macro.precision);
      }
      expect(r.trainAccuracy).toBe(tm.accuracy);
      expect(r.valAccuracy).toBe(vm.accuracy);
    }
    // evaluate gives the same numbers as the metrics functions on the model's outputs.
    const ev = kiln.evaluate(model, new kiln.data.DataLoader(ds, { batchSize: 32 }), (p, y) => nn.crossEntropy(p, y), { metrics: ['confusion', 'recall'], average: 'weighted' });
    const [x, y] = [ds.x, ds.labels];
    const logits = kiln.noGrad(() => model.eval().forward(x));
    expect(ev.confusion).toEqual(metrics.confusionMatrix(logits, y, 3));
    closeTo(ev.recall!, metrics.precisionRecallF1(logits, y, 3).weighted.recall);
    expect(ev.accuracy).toBeUndefined();
    // The last epoch's validation metrics are evaluate's on the final weights.
    const { loss: valLoss, ...valValues } = kiln.evaluate(model, new kiln.data.DataLoader(ds, { batchSize: 45 }), (p, t) => nn.crossEntropy(p, t), { metrics: ['accuracy', 'f1', 'precision', 'confusion'] });
    expect(valValues).toEqual(history[2]!.valMetrics);
    closeTo(valLoss, history[2]!.valLoss!);
  });

  it('onBatchEnd returning true stops after that batch; default history is unchanged (no trainMetrics)', async () => {
    const ds = blobs();
    const model = new nn.Linear(2, 3);
    let calls = 0;
    const history = await kiln.fit(model, {
      optimizer: new kiln.optim.SGD(model.parameters(), { lr: 0.1 }),
      loss: (p, y) => nn.crossEntropy(p, y),
      train: new kiln.data.DataLoader(ds, { batchSize: 10 }),
      epochs: 4,
      log: 'none',
      onBatchEnd: (b) => (calls++, b.epoch === 2 && b.batch === 3),
    });
    expect(calls).toBe(9 + 3);
    expect(history.length).toBe(2);
    expect(history[1]!.trainMetrics).toBeUndefined();
    expect(history[1]!.trainAccuracy).toBeGreaterThanOrEqual(0);
    await expect(kiln.fit(model, {
      optimizer: new kiln.optim.SGD(model.parameters(), { lr: 0.1 }),
      loss: (p, y) => nn.crossEntropy(p, y),
      train: new kiln.data.DataLoader(ds, { batchSize: 10 }),
      epochs: 1,
      log: 'none',
      metrics: ['accuracy', 'auc' as kiln.MetricName],
    })).rejects.toThrow(/unknown metric "auc"/);
  });
});
