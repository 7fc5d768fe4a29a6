/**
 * EarlyStopping (Keras semantics): patience, minDelta, mode, and restoring the best
 * weights into a kiln.nn.Module or a plain tensor list. Weight values are compared
 * exactly (restoring copies float32 values unchanged).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import * as optim from '../src/optim/index.js';

beforeAll(async () => {
  await kiln.init({ backend: 'wasm' });
});

function run(stopper: optim.EarlyStopping, metrics: number[], model?: optim.Weights): boolean[] {
  return metrics.map((m) => stopper.step(m, model));
}

describe('EarlyStopping', () => {
  it('stops after `patience` epochs in a row without improvement', () => {
    const s = new optim.EarlyStopping({ patience: 3, restoreBestWeights: false });
    expect(run(s, [1, 0.8, 0.9, 0.85, 0.81])).toEqual([false, false, false, false, true]);
    expect(s.stopped).toBe(true);
    expect(s.best).toBe(0.8);
    expect(s.bestEpoch).toBe(1);
  });

  it('an improvement resets the count', () => {
    const s = new optim.EarlyStopping({ patience: 2, restoreBestWeights: false });
    expect(run(s, [1, 1.1, 0.9, 1.0, 0.95])).toEqual([false, false, false, false, true]);
    expect(s.bestEpoch).toBe(2);
  });

  it('patience 0 stops at the first epoch without improvement', () => {
    const s = new optim.EarlyStopping({ patience: 0, restoreBestWeights: false });
    expect(run(s, [1, 0.5, 0.5])).toEqual([false, false, true]);
  });

  it('minDelta: smaller improvements do not count', () => {
    const s = new optim.EarlyStopping({ patience: 2, minDelta: 0.05, restoreBestWeights: false });
    expect(run(s, [1, 0.97, 0.96])).toEqual([false, false, true]);
    expect(s.best).toBe(1);
  });

  it("mode 'max' (an accuracy) and NaN metrics count as no improvement", () => {
    const s = new optim.EarlyStopping({ patience: 2, mode: 'max', restoreBestWeights: false });
    expect(run(s, [0.5, 0.7, 0.6, 0.8, NaN, 0.79])).toEqual([false, false, false, false, false, true]);
    expect(s.best).toBe(0.8);
  });

  it('restores the best weights into a Module, in place', () => {
    const model = new kiln.nn.Linear(3, 2);
    const weight = model.weight;
    const s = new optim.EarlyStopping({ patience: 2 });
    const setAll = (v: number): void => kiln.noGrad(() => model.parameters().forEach((p) => p.copy_(v)));
    const metrics = [0.9, 0.5, 0.7, 0.6];
    const stops = metrics.map((m, epoch) => {
      setAll(epoch + 0.25); // "training" changes the weights every epoch
      return s.step(m, model);
    });
    expect(stops).toEqual([false, false, false, true]);
    expect(model.weight).toBe(weight);
    for (const p of model.parameters()) expect([...p.dataSync()].every((x) => x === 1.25)).toBe(true); // epoch 1's weights
  });

  it('restores a plain tensor list, and restoreBest works on demand', () => {
    const a = kiln.tensor([1, 2], { requiresGrad: true });
    const b = kiln.tensor([3]);
    const s = new optim.EarlyStopping({ patience: 5, mode: 'max' });
    s.step(0.1, [a, b]);
    kiln.noGrad(() => {
      a.copy_(kiln.tensor([7, 8]));
      b.copy_(9);
    });
    s.step(0.05, [a, b]);
    expect(a.toArray()).toEqual([7, 8]);
    s.restoreBest([a, b]);
    expect(a.toArray()).toEqual([1, 2]);
    expect(b.toArray()).toEqual([3]);
  });

  it('restoreBestWeights: false leaves the weights alone', () => {
    const a = kiln.tensor([1]);
    const s = new optim.EarlyStopping({ patience: 1, restoreBestWeights: false });
    s.step(1, [a]);
    kiln.noGrad(() => a.copy_(5));
    expect(s.step(2, [a])).toBe(true);
    expect(a.item()).toBe(5);
  });

  it('frees the previous snapshot on each improvement', () => {
    const model = new kiln.nn.Linear(4, 4);
    const s = new optim.EarlyStopping({ patience: 100 });
    s.step(10, model);
    const live = kiln.memory().liveTensors;
    for (let i = 9; i > 0; i--) s.step(i, model);
    expect(kiln.memory().liveTensors).toBe(live);
    s.dispose();
    expect(kiln.memory().liveTensors).toBe(live - 2);
  });

  it('errors: missing model with restoreBestWeights, bad options', () => {
    const s = new optim.EarlyStopping({ patience: 1 });
    expect(() => s.step(1)).toThrow(/EarlyStopping: restoreBestWeights needs the model/);
    expect(() => new optim.EarlyStopping({ patience: -1 })).toThrow(/patience must be a non-negative integer/);
    expect(() => new optim.EarlyStopping({ patience: 1, mode: 'up' as 'min' })).toThrow(kiln.KilnError);
    expect(() => s.step('0.5' as unknown as number, [])).toThrow(/needs a number/);
  });
});
