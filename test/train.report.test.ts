/**
 * fit(..., { report }) collects what the HTML report shows (steps, gradient norms after
 * each epoch's last step, activation statistics on a fixed batch, first-layer filters,
 * the validation confusion matrix), consistent with the history and with direct calls
 * of kiln.diagnostics, writes the HTML (with the data embedded as JSON) and the PNG of
 * the curves atomically, and never fails training over a report problem.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as kiln from '../src/index.js';
import type { ReportData } from '../src/train/index.js';
import { decodePng, inkStats } from './support/png.js';
import { quadrantCnn, quadrantImages } from './support/reportFixtures.js';

const { nn } = kiln;
const dir = mkdtempSync(path.join(tmpdir(), 'kiln-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  await kiln.init();
});

const images = quadrantImages;
const cnn = quadrantCnn;

function reportData(file: string): ReportData {
  const html = readFileSync(file, 'utf8');
  const json = /<script type="application\/json" id="kiln-report-data">([\s\S]*?)<\/script>/.exec(html)?.[1];
  expect(json, 'the report embeds its data').toBeDefined();
  return JSON.parse(json!) as ReportData;
}

describe('fit(..., { report })', () => {
  it('collects steps, gradient norms, activations, filters and the confusion matrix, consistent with the history', async () => {
    kiln.manualSeed(0);
    const train = images(256, 1), val = images(64, 11);
    const model = cnn();
    const file = path.join(dir, 'run.html');
    const sample = val.getBatch(Int32Array.from({ length: 64 }, (_, i) => i))[0];
    const direct: { grads: Map<string, number>; act: kiln.diagnostics.ActivationReport }[] = [];
    const history = await kiln.fit(model, {
      optimizer: new kiln.optim.Adam(model.parameters(), { lr: 0.01 }),
      loss: (p, y) => nn.crossEntropy(p, y),
      train: new kiln.data.DataLoader(train, { batchSize: 32, shuffle: true, seed: 0 }),
      val: new kiln.data.DataLoader(val, { batchSize: 32 }),
      epochs: 2,
      metrics: ['accuracy', 'confusion'],
      log: 'none',
      // Runs after the report's own onEpochEnd: the same gradients and activations must be there.
      onEpochEnd: () => void direct.push({ grads: new Map(kiln.diagnostics.gradientNorms(model).norms), act: kiln.diagnostics.activationStats(model, sample, { bins: 30, perUnit: 'auto' }) }),
      report: { path: file, title: 'unit test' },
    });
    const data = reportData(file);
    expect(data.format).toBe('kiln-report/1');
    expect(data.title).toBe('unit test');
    expect(data.history).toEqual(JSON.parse(JSON.stringify(history)));
    expect(data.epochs).toBe(2);

    // Steps: 8 per epoch, their mean loss is the epoch's train loss, the lr is Adam's.
    expect(data.steps.length).toBe(16);
    for (const e of [1, 2]) {
      const steps = data.steps.filter((s) => s.epoch === e);
      expect(steps.map((s) => s.batch)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(steps.every((s) => s.batches === 8 && s.lr === 0.01)).toBe(true);
      expect(steps.reduce((a, s) => a + s.loss, 0) / 8).toBeCloseTo(history[e - 1]!.trainLoss, 10);
    }

    // Gradient norms after each epoch's last step: the parameterized layers, the same values a later callback sees.
    expect(data.gradients.map((g) => g.epoch)).toEqual([1, 2]);
    data.gradients.forEach((g, i) => {
      expect(Object.keys(g.norms)).toEqual(['0', '4', '6']);
      for (const [k, v] of Object.entries(g.norms)) {
        expect(v).toBeGreaterThan(0);
        expect(v).toBe(direct[i]!.grads.get(k));
      }
      expect(g.total).toBeCloseTo(Math.hypot(...Object.values(g.norms)), 10);
    });

    // Activations on the fixed batch (the first 64 validation samples).
    expect(data.sample).toEqual({ shape: [64, 1, 8, 8], from: 'the first 64 samples of the validation set' });
    expect(data.activations.map((a) => a.epoch)).toEqual([1, 2]);
    data.activations.forEach((a, i) => {
      expect(a.layers.map((l) => `${l.name}:${l.type}`)).toEqual(['1:ReLU', '5:Tanh']);
      const [relu, tanh] = a.layers as [kiln.diagnostics.ActivationStat, kiln.diagnostics.ActivationStat];
      const ref = direct[i]!.act.layers;
      expect(relu.mean).toBeCloseTo(ref[0]!.mean, 12);
      expect(tanh.std).toBeCloseTo(ref[1]!.std, 12);
      expect(relu.histogram!.counts.reduce((s, c) => s + c, 0)).toBe(64 * 4 * 8 * 8);
      expect(tanh.histogram!.counts.reduce((s, c) => s + c, 0)).toBe(64 * 16);
      expect(tanh.histogram!.edges[0]).toBe(-1);
      expect(tanh.histogram!.edges.at(-1)).toBe(1);
      expect(relu.perUnit!.by).toBe('channel');
      expect(relu.perUnit!.shares.length).toBe(4);
      // Channels are equal in size: their mean share of positive outputs is the share of non-zero outputs.
      expect(relu.perUnit!.shares.reduce((s, v) => s + v, 0) / 4).toBeCloseTo(1 - relu.zeroFraction!, 12);
      expect(tanh.perUnit!.by).toBe('unit');
      expect(tanh.perUnit!.shares.length).toBe(16);
      expect(tanh.perUnit!.shares.reduce((s, v) => s + v, 0) / 16).toBeCloseTo(tanh.saturatedFraction!, 12);
    });

    // Filters: the first Conv2d's 4 kernels, 3×3 grayscale.
    expect(data.filters).toMatchObject({ source: 'Conv2d', layer: '0', weightShape: [4, 1, 3, 3], height: 3, width: 3, channels: 1, count: 4, total: 4 });
    const html = readFileSync(file, 'utf8');
    const pngs = [...html.matchAll(/<img class="filter"[^>]*src="data:image\/png;base64,([^"]+)"/g)].map((m) => decodePng(Buffer.from(m[1]!, 'base64')));
    expect(pngs.length).toBe(4);
    const w = model.at(0) as kiln.nn.Conv2d;
    const k0 = Array.from(w.weight.dataSync().subarray(0, 9));
    const argmax = k0.indexOf(Math.max(...k0)), argmin = k0.indexOf(Math.min(...k0));
    expect([pngs[0]!.width, pngs[0]!.height, pngs[0]!.channels]).toEqual([3, 3, 1]);
    expect([pngs[0]!.pixels[argmax], pngs[0]!.pixels[argmin]]).toEqual([255, 0]);

    // Confusion: the history's last validation matrix.
    expect(data.confusion).toEqual({ epoch: 2, matrix: history[1]!.valMetrics!.confusion, from: 'valMetrics' });
    expect(data.confusion!.matrix.flat().reduce((s, v) => s + v, 0)).toBe(64);
    expect(data.notes).toEqual([]);

    // The PNG of the curves beside the HTML; no temporary files left.
    const png = decodePng(readFileSync(path.join(dir, 'run.png')));
    expect([png.width, png.height]).toEqual([1800, 600]);
    const ink = inkStats(png);
    expect(ink.ink).toBeGreaterThan(0.01);
    expect(ink.colors).toBeGreaterThan(5);
    expect(readdirSync(dir).filter((f) => f.startsWith('run.')).sort()).toEqual(['run.html', 'run.png']);
    sample.dispose();
  });

  it('without metrics: counts the confusion matrix for the report alone (the history is unchanged)', async () => {
    kiln.manualSeed(1);
    const train = images(128, 21), val = images(48, 31);
    const model = cnn();
    const file = path.join(dir, 'plain', 'report.html');
    const valLoader = new kiln.data.DataLoader(val, { batchSize: 16 });
    const history = await kiln.fit(model, {
      optimizer: new kiln.optim.Adam(model.parameters(), { lr: 0.01 }),
      loss: (p, y) => nn.crossEntropy(p, y),
      train: new kiln.data.DataLoader(train, { batchSize: 32, shuffle: true, seed: 0 }),
      val: valLoader,
      epochs: 1,
      log: 'none',
      report: file,
    });
    expect(history[0]!.valMetrics).toBeUndefined();
    const data = reportData(file);
    const ref = kiln.evaluate(model, valLoader, (p, y) => nn.crossEntropy(p, y), { metrics: ['confusion'] });
    expect(data.confusion).toEqual({ epoch: 1, matrix: ref.confusion, from: 'report' });
    expect(existsSync(path.join(dir, 'plain', 'report.png'))).toBe(true);
  });

  it("shows an MLP's first Linear rows as images, with sigmoid saturation; png: false writes no PNG", async () => {
    kiln.manualSeed(2);
    const train = images(96, 41);
    const model = new nn.Sequential(new nn.Flatten(), new nn.Linear(64, 6), new nn.Sigmoid(), new nn.Linear(6, 4));
    const file = path.join(dir, 'mlp.html');
    await kiln.fit(model, {
      optimizer: new kiln.optim.SGD(model.parameters(), { lr: 0.1 }),
      loss: (p, y) => nn.crossEntropy(p, y),
      train: new kiln.data.DataLoader(train, { batchSize: 32 }),
      epochs: 1,
      log: 'none',
      report: { path: file, png: false, sampleSize: 20 },
    });
    const data = reportData(file);
    expect(data.sample).toEqual({ shape: [20, 1, 8, 8], from: 'the first 20 samples of the training set' });
    expect(data.filters).toMatchObject({ source: 'Linear', layer: '1', height: 8, width: 8, channels: 1, count: 6, total: 6 });
    const sig = data.activations[0]!.layers[0]!;
    expect(sig.type).toBe('Sigmoid');
    expect(sig.histogram!.edges[0]).toBe(0);
    expect(sig.perUnit!.shares.length).toBe(6);
    expect(data.confusion).toBeNull();
    expect(data.notes.some((n) => n.startsWith('confusion matrix: none'))).toBe(true);
    expect(existsSync(path.join(dir, 'mlp.png'))).toBe(false);
  });

  it('a regression on plain batch arrays: no confusion matrix, no sample, notes saying why, training unaffected', async () => {
    kiln.manualSeed(3);
    const x = kiln.randn([32, 3], { seed: 5 });
    const y = x.sum(1, { keepDims: true });
    const model = new nn.Sequential(new nn.Linear(3, 8), new nn.ReLU(), new nn.Linear(8, 1));
    const file = path.join(dir, 'regression.html');
    const history = await kiln.fit(model, {
      optimizer: new kiln.optim.SGD(model.parameters(), { lr: 0.05 }),
      loss: (p, t) => nn.mseLoss(p, t),
      train: [[x, y]],
      val: [[x, y]],
      epochs: 3,
      accuracy: false,
      log: 'none',
      report: { path: file, png: false },
    });
    expect(history.length).toBe(3);
    const data = reportData(file);
    expect(data.confusion).toBeNull();
    expect(data.activations).toEqual([]);
    expect(data.gradients.length).toBe(3);
    expect(data.filters).toBeNull();
    expect(data.notes).toContain('activations: no sample batch (the loaders are not DataLoaders over a dataset with getBatch): pass report.sample');
  });

  it('a report that cannot be written is a warning, not an error; a training error still leaves a report', async () => {
    kiln.manualSeed(4);
    const train = images(64, 51);
    const blocker = path.join(dir, 'not-a-folder');
    writeFileSync(blocker, 'x');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const model = cnn();
      const history = await kiln.fit(model, {
        optimizer: new kiln.optim.Adam(model.parameters(), { lr: 0.01 }),
        loss: (p, y) => nn.crossEntropy(p, y),
        train: new kiln.data.DataLoader(train, { batchSize: 32 }),
        epochs: 2,
        log: 'none',
        report: path.join(blocker, 'run.html'),
      });
      expect(history.length).toBe(2);
      expect(warn).toHaveBeenCalledTimes(1); // once, not once per epoch
      expect(String(warn.mock.calls[0]![0])).toMatch(/kiln\.fit report .*not written/);
    } finally {
      warn.mockRestore();
    }

    const model = cnn();
    const file = path.join(dir, 'failed.html');
    let calls = 0;
    await expect(kiln.fit(model, {
      optimizer: new kiln.optim.Adam(model.parameters(), { lr: 0.01 }),
      loss: (p, y) => {
        if (++calls === 3) throw new Error('loss exploded');
        return nn.crossEntropy(p, y);
      },
      train: new kiln.data.DataLoader(train, { batchSize: 32 }),
      epochs: 2,
      log: 'none',
      report: { path: file, png: false },
    })).rejects.toThrow('loss exploded');
    const data = reportData(file);
    expect(data.error).toBe('loss exploded');
    expect(data.history.length).toBe(1);
    expect(data.steps.length).toBe(2);
    expect(readFileSync(file, 'utf8')).toContain('Training failed: loss exploded');
  });

  it('rejects malformed report options before training', async () => {
    const model = cnn();
    const base = { optimizer: new kiln.optim.SGD(model.parameters(), { lr: 0.1 }), loss: (p: kiln.Tensor, y: kiln.Tensor) => nn.crossEntropy(p, y), train: [], epochs: 1, log: 'none' as const };
    await expect(kiln.fit(model, { ...base, report: '' })).rejects.toThrow(/report: expected a file path/);
    await expect(kiln.fit(model, { ...base, report: { path: 'x.html', bins: 0 } })).rejects.toThrow(/bins must be a positive integer/);
  });
});
