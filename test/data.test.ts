import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import * as data from '../src/data/index.js';

beforeAll(async () => {
  await kiln.init();
});

/** x: [n, 3] with row i = [i, 10i, 100i]; y: [n] int32 with y[i] = i. */
function rows(n: number): { x: kiln.Tensor; y: kiln.Tensor } {
  const x = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) x.set([i, 10 * i, 100 * i], 3 * i);
  return { x: kiln.tensor(x, { shape: [n, 3] }), y: kiln.arange(n) };
}

function epochIds(loader: Iterable<readonly kiln.Tensor[]>): number[][] {
  const out: number[][] = [];
  for (const [, yb] of loader) out.push([...yb!.dataSync()]);
  return out;
}

describe('TensorDataset', () => {
  it('indexes rows along axis 0 and gathers batches by copying rows (dtype kept)', () => {
    const { x, y } = rows(10);
    const ds = new data.TensorDataset(x, y);
    expect(ds.length).toBe(10);
    expect(ds.shapes).toEqual([[10, 3], [10]]);
    const [x3, y3] = ds.get(3);
    expect(x3.shape).toEqual([3]);
    expect(x3.toArray()).toEqual([3, 30, 300]);
    expect(y3.shape).toEqual([]);
    expect(y3.dtype).toBe('int32');
    expect(y3.item()).toBe(3);
    const [xb, yb] = ds.getBatch([7, 0, 7, 2]);
    expect(xb.shape).toEqual([4, 3]);
    expect(xb.dtype).toBe('float32');
    expect(xb.toArray()).toEqual([[7, 70, 700], [0, 0, 0], [7, 70, 700], [2, 20, 200]]);
    expect(yb.dtype).toBe('int32');
    expect(yb.toArray()).toEqual([7, 0, 7, 2]);
  });

  it('snapshots the tensors: they may be disposed after the dataset is made', () => {
    const { x, y } = rows(4);
    const ds = new data.TensorDataset(x, y);
    x.dispose();
    y.dispose();
    expect(ds.getBatch([1])[0].toArray()).toEqual([[1, 10, 100]]);
  });

  it('keeps the backend and float64 of its tensors', () => {
    const x = kiln.tensor([[1.5, 2], [3, 4]], { backend: 'reference', dtype: 'float64' });
    const ds = new data.TensorDataset(x);
    const [xb] = ds.getBatch([1, 0]);
    expect(xb.backend.name).toBe('reference');
    expect(xb.dtype).toBe('float64');
    expect(xb.toArray()).toEqual([[3, 4], [1.5, 2]]);
  });

  it('rejects mismatched lengths, scalars and bad indices', () => {
    expect(() => new data.TensorDataset(kiln.zeros([3, 2]), kiln.zeros([4]))).toThrow(/same size along axis 0/);
    expect(() => new data.TensorDataset(kiln.tensor(1))).toThrow(kiln.KilnError);
    const ds = new data.TensorDataset(kiln.zeros([3, 2]));
    expect(() => ds.get(3)).toThrow(/out of range/);
    expect(() => ds.getBatch([0, -1])).toThrow(/out of range/);
    expect(() => ds.get(1.5)).toThrow(/out of range/);
  });
});

describe('Subset', () => {
  it('maps indices to the parent and batches through its getBatch', () => {
    const { x, y } = rows(10);
    const sub = new data.Subset(new data.TensorDataset(x, y), [9, 4, 1]);
    expect(sub.length).toBe(3);
    expect(sub.get(1)[1].item()).toBe(4);
    expect(typeof sub.getBatch).toBe('function');
    const [xb, yb] = sub.getBatch!([2, 0]);
    expect(yb.toArray()).toEqual([1, 9]);
    expect(xb.toArray()).toEqual([[1, 10, 100], [9, 90, 900]]);
    expect(() => new data.Subset(new data.TensorDataset(x, y), [10])).toThrow(/out of range/);
  });

  it('has no getBatch over a dataset without one', () => {
    const sub = new data.Subset({ length: 5, get: (i: number) => i }, [1, 2]);
    expect(sub.getBatch).toBeUndefined();
  });
});

describe('DataLoader', () => {
  it('without shuffle yields batches in order, the last one partial', () => {
    const { x, y } = rows(10);
    const loader = new data.DataLoader(new data.TensorDataset(x, y), { batchSize: 4 });
    // Type-level: a TensorDataset loader is what kiln.fit takes (batches of [x, y] and a length).
    const asBatches: Iterable<readonly [kiln.Tensor, kiln.Tensor]> & { readonly length?: number } = loader;
    expect(asBatches.length).toBe(3);
    const batches = [...loader];
    expect(batches.map(([xb]) => xb.shape)).toEqual([[4, 3], [4, 3], [2, 3]]);
    expect(batches.map(([, yb]) => yb.toArray())).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(batches[2]![0].toArray()).toEqual([[8, 80, 800], [9, 90, 900]]);
  });

  it('dropLast skips the partial batch', () => {
    const { x, y } = rows(10);
    const loader = new data.DataLoader(new data.TensorDataset(x, y), { batchSize: 4, dropLast: true });
    expect(loader.length).toBe(2);
    expect(epochIds(loader)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7]]);
    const exact = new data.DataLoader(new data.TensorDataset(x, y), { batchSize: 5, dropLast: true });
    expect(exact.length).toBe(2);
    expect(epochIds(exact).flat()).toHaveLength(10);
  });

  it('shuffles deterministically: same seed → same batches; each epoch a new permutation', () => {
    const { x, y } = rows(50);
    const make = (seed: number) => new data.DataLoader(new data.TensorDataset(x, y), { batchSize: 8, shuffle: true, seed });
    const a = make(7);
    const b = make(7);
    const a0 = epochIds(a);
    const a1 = epochIds(a);
    expect(epochIds(b)).toEqual(a0);
    expect(epochIds(b)).toEqual(a1);
    expect(a1).not.toEqual(a0);
    for (const epoch of [a0, a1]) {
      expect(epoch.map((bt) => bt.length)).toEqual([8, 8, 8, 8, 8, 8, 2]);
      expect(epoch.flat().sort((p, q) => p - q)).toEqual([...Array(50).keys()]);
    }
    expect(epochIds(make(8))).not.toEqual(a0);
    // Rows stay aligned with their labels under shuffling.
    for (const [xb, yb] of make(3)) {
      const ids = yb.dataSync();
      const xs = xb.dataSync();
      ids.forEach((id, i) => expect([xs[3 * i], xs[3 * i + 1], xs[3 * i + 2]]).toEqual([id, 10 * id, 100 * id]));
    }
  });

  it('setEpoch replays an epoch and the order depends only on (seed, epoch)', () => {
    const { x, y } = rows(20);
    const loader = new data.DataLoader(new data.TensorDataset(x, y), { batchSize: 20, shuffle: true, seed: 1 });
    epochIds(loader);
    const e1 = epochIds(loader);
    expect(loader.epoch).toBe(2);
    loader.setEpoch(1);
    expect(epochIds(loader)).toEqual(e1);
    expect([...loader.order(1)]).toEqual(e1[0]);
  });

  it('without a seed follows kiln.manualSeed', () => {
    const { x, y } = rows(30);
    const run = () => {
      kiln.manualSeed(123);
      return epochIds(new data.DataLoader(new data.TensorDataset(x, y), { batchSize: 30, shuffle: true }));
    };
    expect(run()).toEqual(run());
  });

  it('batches belong to the caller: an enclosing scope frees them', () => {
    const { x, y } = rows(12);
    const loader = new data.DataLoader(new data.TensorDataset(x, y), { batchSize: 4 });
    const before = kiln.memory().liveTensors;
    let seen: kiln.Tensor[] = [];
    kiln.scope(() => {
      for (const [xb, yb] of loader) seen.push(xb, yb);
      expect(kiln.memory().liveTensors).toBe(before + 6);
    });
    expect(seen.every((t) => t.disposed)).toBe(true);
    expect(kiln.memory().liveTensors).toBe(before);
    seen = [];
  });

  it('autoDispose frees each batch when the next is requested, but not kept ones', () => {
    const { x, y } = rows(12);
    const loader = new data.DataLoader(new data.TensorDataset(x, y), { batchSize: 4, autoDispose: true });
    const seen: kiln.Tensor[][] = [];
    for (const batch of loader) {
      if (seen.length > 0) expect(seen[seen.length - 1]![0]!.disposed).toBe(true);
      if (seen.length === 0) batch[1].keep();
      expect(batch[0].disposed).toBe(false);
      seen.push([...batch]);
    }
    expect(seen[2]![0]!.disposed).toBe(true); // the end of the epoch frees the last one
    expect(seen[0]![1]!.disposed).toBe(false); // kept
    expect(seen[0]![0]!.disposed).toBe(true);
    // After a break the last batch stays with the caller.
    let last: kiln.Tensor | undefined;
    for (const [xb] of loader) {
      last = xb;
      break;
    }
    expect(last!.disposed).toBe(false);
  });

  it('collates generic datasets sample by sample and frees the per-sample tensors', () => {
    const ds: data.Dataset<{ x: kiln.Tensor; t: number }> = {
      length: 5,
      get: (i) => ({ x: kiln.tensor([i, -i]), t: i / 2 }),
    };
    const loader = new data.DataLoader(ds, { batchSize: 2 });
    const before = kiln.memory().liveTensors;
    const batches = [...loader];
    expect(kiln.memory().liveTensors).toBe(before + 6); // 3 batches × (x, t) only
    expect(batches[1]!.x.toArray()).toEqual([[2, -2], [3, -3]]);
    expect(batches[1]!.t.toArray()).toEqual([1, 1.5]);
    expect(batches[2]!.x.shape).toEqual([1, 2]);
  });

  it('accepts a custom collate and validates its options', () => {
    const loader = new data.DataLoader({ length: 5, get: (i: number) => i }, { batchSize: 2, collate: (s) => s.join(',') });
    expect([...loader]).toEqual(['0,1', '2,3', '4']);
    expect(() => new data.DataLoader({ length: 1, get: () => 0 }, { batchSize: 0 })).toThrow(/batchSize/);
    expect(() => new data.DataLoader({ length: 1, get: () => 0 }, { seed: -1 })).toThrow(/seed/);
  });
});

describe('defaultCollate', () => {
  it('stacks tensors and nested arrays, and names the bad field', () => {
    const b = data.defaultCollate([[kiln.tensor([1, 2]), 0], [kiln.tensor([3, 4]), 1]]);
    expect(b[0].toArray()).toEqual([[1, 2], [3, 4]]);
    expect(b[1].dtype).toBe('float32');
    expect(b[1].toArray()).toEqual([0, 1]);
    expect(() => data.defaultCollate([[kiln.tensor([1, 2])], [kiln.tensor([1, 2, 3])]])).toThrow(/sample\[0\].*share shape/);
    expect(() => data.defaultCollate(['a'])).toThrow(/cannot collate a string/);
  });
});

describe('splits', () => {
  it('splitCounts: counts pass through; fractions round by largest remainder', () => {
    expect(data.splitCounts(10, [7, 3])).toEqual([7, 3]);
    expect(data.splitCounts(10, [0.8, 0.2])).toEqual([8, 2]);
    expect(data.splitCounts(10, [1 / 3, 1 / 3, 1 / 3])).toEqual([4, 3, 3]);
    expect(data.splitCounts(7, [0.5, 0.25, 0.25])).toEqual([3, 2, 2]); // 3.5, 1.75, 1.75
    expect(() => data.splitCounts(10, [0.5, 0.2])).toThrow(/summing to 1/);
    expect(() => data.splitCounts(10, [6, 5])).toThrow(kiln.KilnError);
  });

  it('randomSplit: disjoint, complete, sized, reproducible by seed', () => {
    const ds = { length: 100, get: (i: number) => i };
    const [a, b, c] = data.randomSplit(ds, [0.7, 0.2, 0.1], { seed: 3 });
    expect([a!.length, b!.length, c!.length]).toEqual([70, 20, 10]);
    const all = [...a!.indices, ...b!.indices, ...c!.indices].sort((p, q) => p - q);
    expect(all).toEqual([...Array(100).keys()]);
    const [a2] = data.randomSplit(ds, [70, 20, 10], { seed: 3 });
    expect([...a2!.indices]).toEqual([...a!.indices]);
    const [a3] = data.randomSplit(ds, [70, 30], { seed: 4 });
    expect([...a3!.indices]).not.toEqual([...a!.indices]);
    expect(a!.get(0)).toBe(a!.indices[0]);
  });

  it('stratifiedSplit keeps every class proportion within one sample, with exact totals', () => {
    // Unbalanced classes: 0 ×503, 1 ×97, 2 ×250, 3 ×150 (interleaved).
    const sizes = [503, 97, 250, 150];
    const labels: number[] = [];
    sizes.forEach((k, c) => { for (let i = 0; i < k; i++) labels.push(c); });
    const order = new data.SeededRandom(9).permutation(labels.length);
    const y = Int32Array.from(order, (i) => labels[i]!);
    const fractions = [0.8, 0.2];
    const [tr, te] = data.stratifiedSplit(kiln.tensor(y), fractions, { seed: 5 });
    expect(tr!.length).toBe(800);
    expect(te!.length).toBe(200);
    expect([...tr!, ...te!].sort((p, q) => p - q)).toEqual([...Array(1000).keys()]);
    for (const [split, f] of [[tr!, 0.8], [te!, 0.2]] as const) {
      const hist = [0, 0, 0, 0];
      for (const i of split) hist[y[i]!]!++;
      hist.forEach((h, c) => expect(Math.abs(h - sizes[c]! * f)).toBeLessThanOrEqual(1));
    }
    const [tr2] = data.stratifiedSplit(y, fractions, { seed: 5 });
    expect([...tr2!]).toEqual([...tr!]);
    const [tr3] = data.stratifiedSplit(y, fractions, { seed: 6 });
    expect([...tr3!]).not.toEqual([...tr!]);
  });

  it('trainValTestSplit gives three disjoint subsets, stratified on request', () => {
    const y = Int32Array.from({ length: 200 }, (_, i) => (i < 150 ? 0 : 1));
    const ds = { length: 200, get: (i: number) => y[i]! };
    const { train, val, test } = data.trainValTestSplit(ds, { val: 0.1, test: 0.2, seed: 1, stratify: y });
    expect([train.length, val.length, test.length]).toEqual([140, 20, 40]);
    const ones = (s: data.Subset<number>) => [...s.indices].filter((i) => y[i] === 1).length;
    expect([ones(train), ones(val), ones(test)]).toEqual([35, 5, 10]);
    expect(new Set([...train.indices, ...val.indices, ...test.indices]).size).toBe(200);
    const counts = data.trainValTestSplit(ds, { val: 30, test: 20, seed: 1 });
    expect([counts.train.length, counts.val.length, counts.test.length]).toEqual([150, 30, 20]);
    expect(() => data.trainValTestSplit(ds, { val: 150, test: 60 })).toThrow(/no room/);
  });
});

describe('Standardizer', () => {
  // Train: 4 samples × 3 features; feature 2 is constant.
  const trainRows = [[1, 10, 5], [2, 20, 5], [3, 30, 5], [6, 60, 5]];
  const valRows = [[100, -50, 7], [0, 0, 5]];

  it('fits per-feature statistics on the training split only (float64, population std)', () => {
    const train = kiln.tensor(trainRows);
    const val = kiln.tensor(valRows);
    const { standardizer: s, train: zt, val: zv } = data.standardize({ train, val });
    const mean = [3, 30, 5];
    const std = [Math.sqrt((4 + 1 + 0 + 9) / 4), Math.sqrt((400 + 100 + 0 + 900) / 4), 0];
    expect(s.statShape).toEqual([1, 3]);
    [...s.mean!].forEach((m, i) => expect(m).toBeCloseTo(mean[i]!, 12));
    [...s.std!].forEach((v, i) => expect(v).toBeCloseTo(std[i]!, 12));
    expect([...s.scale!]).toEqual([s.std![0], s.std![1], 1]); // constant feature: centred only
    // Validation rows use the training statistics (tolerance: float32, 1e-5 relative).
    const expected = valRows.map((r) => r.map((v, i) => (v - mean[i]!) / (std[i]! || 1)));
    (zv.toArray() as number[][]).forEach((r, i) => r.forEach((v, j) => expect(v).toBeCloseTo(expected[i]![j]!, 4)));
    // The transformed training split has mean 0 and std 1 per non-constant feature (tol 1e-6).
    const zd = zt.dataSync();
    for (const j of [0, 1]) {
      const col = [0, 1, 2, 3].map((i) => zd[3 * i + j]!);
      const m = col.reduce((a, b) => a + b) / 4;
      expect(Math.abs(m)).toBeLessThan(1e-6);
      expect(Math.abs(Math.sqrt(col.reduce((a, b) => a + (b - m) ** 2, 0) / 4) - 1)).toBeLessThan(1e-6);
    }
    // Fitting on train+val would give other statistics: the val data did not leak in.
    const pooled = new data.Standardizer().fit(kiln.tensor([...trainRows, ...valRows]));
    expect(Math.abs(pooled.mean![0]! - s.mean![0]!)).toBeGreaterThan(1);
  });

  it('per channel for NCHW images: one mean and std per channel over N, H, W', () => {
    const x = kiln.rand([5, 2, 3, 4], { seed: 1 }).mul(kiln.tensor([1, 10]).reshape(1, 2, 1, 1)).add(kiln.tensor([0, 3]).reshape(1, 2, 1, 1));
    const s = new data.Standardizer({ perChannel: true }).fit(x);
    expect(s.statShape).toEqual([1, 2, 1, 1]);
    const d = x.dataSync();
    for (let c = 0; c < 2; c++) {
      const vals: number[] = [];
      for (let n = 0; n < 5; n++) for (let k = 0; k < 12; k++) vals.push(d[(n * 2 + c) * 12 + k]!);
      const m = vals.reduce((a, b) => a + b) / vals.length;
      const sd = Math.sqrt(vals.reduce((a, b) => a + (b - m) ** 2, 0) / vals.length);
      expect(s.mean![c]).toBeCloseTo(m, 10);
      expect(s.std![c]).toBeCloseTo(sd, 10);
    }
    const z = s.transform(x);
    expect(z.shape).toEqual([5, 2, 3, 4]);
    // Round trip within float32 rounding (1e-5 absolute on values up to 13).
    const back = s.inverseTransform(z).dataSync();
    d.forEach((v, i) => expect(Math.abs(back[i]! - v)).toBeLessThan(1e-5));
    // A batch of another size transforms with the same statistics.
    expect(s.transform(x.slice([0], [2])).shape).toEqual([2, 2, 3, 4]);
  });

  it('serializes, frees its intermediates, and rejects misuse', () => {
    const train = kiln.tensor(trainRows);
    const s = new data.Standardizer().fit(train);
    const copy = data.Standardizer.fromJSON(JSON.parse(JSON.stringify(s.toJSON())));
    expect(copy.transform(train).toArray()).toEqual(s.transform(train).toArray());
    const before = kiln.memory().liveTensors;
    const z = s.transform(train);
    expect(kiln.memory().liveTensors).toBe(before + 1);
    z.dispose();
    expect(() => new data.Standardizer().transform(train)).toThrow(/not fitted/);
    expect(() => s.transform(kiln.zeros([2, 4]))).toThrow(/fitted on samples/);
    expect(() => s.fit(kiln.zeros([2, 3], { dtype: 'int32' }))).toThrow(/float32 or float64/);
    expect(() => new data.Standardizer({ axes: [1] }).fit(train)).toThrow(/include 0/);
  });

  it('lets gradients flow when the input requires them', () => {
    const x = kiln.tensor(trainRows, { requiresGrad: true });
    const s = new data.Standardizer().fit(x);
    s.transform(x).sum().backward();
    const g = x.grad!.toArray() as number[][];
    // d/dx of (x − m)/scale summed = 1/scale per feature (tolerance: float32).
    g.forEach((r) => r.forEach((v, j) => expect(v).toBeCloseTo(1 / s.scale![j]!, 5)));
  });
});

describe('augmentation', () => {
  it('addGaussianNoise: seeded, with the requested std, optionally clipped', () => {
    const x = kiln.zeros([100, 1, 10, 10]);
    const a = data.addGaussianNoise(x, 0.1, { seed: 4 });
    const b = data.addGaussianNoise(x, 0.1, { seed: 4 });
    const c = data.addGaussianNoise(x, 0.1, { seed: 5 });
    expect(a.toArray()).toEqual(b.toArray());
    expect(a.toArray()).not.toEqual(c.toArray());
    const v = [...a.dataSync()];
    const m = v.reduce((p, q) => p + q, 0) / v.length;
    const sd = Math.sqrt(v.reduce((p, q) => p + (q - m) ** 2, 0) / v.length);
    // 10 000 samples: the mean's standard error is 0.001, the std's ≈ 0.0007; allow ~4σ.
    expect(Math.abs(m)).toBeLessThan(0.004);
    expect(Math.abs(sd - 0.1)).toBeLessThan(0.003);
    const clipped = data.addGaussianNoise(x.add(0.5), 1, { seed: 4, clip: [0, 1] }).dataSync();
    expect(Math.min(...clipped)).toBe(0);
    expect(Math.max(...clipped)).toBe(1);
    expect(() => data.addGaussianNoise(x, -1)).toThrow(/std/);
  });

  it('addGaussianNoise passes gradients through (d/dx = 1)', () => {
    const x = kiln.zeros([2, 3], { requiresGrad: true });
    data.addGaussianNoise(x, 0.5, { seed: 1 }).sum().backward();
    expect(x.grad!.toArray()).toEqual([[1, 1, 1], [1, 1, 1]]);
  });

  it('randomFlipHorizontal mirrors whole images, seeded, about p of them', () => {
    const img = kiln.arange(2 * 2 * 3, undefined, 1, { dtype: 'float32' }).reshape(1, 2, 2, 3);
    expect(data.randomFlipHorizontal(img, { p: 1, seed: 0 }).toArray()).toEqual([[[[2, 1, 0], [5, 4, 3]], [[8, 7, 6], [11, 10, 9]]]]);
    expect(data.randomFlipHorizontal(img, { p: 0, seed: 0 }).toArray()).toEqual(img.toArray());
    // 1000 images of one column each [0, 1]: count flips (binomial(1000, 0.5): sd ≈ 16; allow 4 sd).
    const many = kiln.tensor(Float32Array.from({ length: 2000 }, (_, i) => i % 2), { shape: [1000, 1, 1, 2] });
    const flipped = data.randomFlipHorizontal(many, { seed: 11 }).dataSync();
    let count = 0;
    for (let i = 0; i < 1000; i++) if (flipped[2 * i] === 1) count++;
    expect(Math.abs(count - 500)).toBeLessThan(64);
    expect([...data.randomFlipHorizontal(many, { seed: 11 }).dataSync()]).toEqual([...flipped]);
    expect(() => data.randomFlipHorizontal(kiln.zeros([2, 3]))).toThrow(/NCHW/);
  });

  it('randomShift translates each image by whole pixels within maxShift, filling the rest', () => {
    const n = 40, h = 5, w = 6;
    const src = Float32Array.from({ length: n * 2 * h * w }, (_, i) => 1 + (i % 97));
    const x = kiln.tensor(src, { shape: [n, 2, h, w] });
    expect(data.randomShift(x, { maxShift: 0, seed: 1 }).toArray()).toEqual(x.toArray());
    const out = data.randomShift(x, { maxShift: 2, seed: 1, fill: -1 }).dataSync();
    const shifts = new Set<string>();
    for (let s = 0; s < n; s++) {
      // Find the (dy, dx) that explains this sample; both channels must share it.
      let found: string | null = null;
      for (let dy = -2; dy <= 2 && !found; dy++) {
        for (let dx = -2; dx <= 2 && !found; dx++) {
          let ok = true;
          for (let c = 0; c < 2 && ok; c++) {
            for (let i = 0; i < h && ok; i++) {
              for (let j = 0; j < w && ok; j++) {
                const si = i - dy, sj = j - dx;
                const want = si >= 0 && si < h && sj >= 0 && sj < w ? src[((s * 2 + c) * h + si) * w + sj]! : -1;
                ok = out[((s * 2 + c) * h + i) * w + j] === want;
              }
            }
          }
          if (ok) found = `${dy},${dx}`;
        }
      }
      expect(found).not.toBeNull();
      shifts.add(found!);
    }
    expect(shifts.size).toBeGreaterThan(10); // 40 draws from 25 shifts
    expect([...data.randomShift(x, { maxShift: 2, seed: 1, fill: -1 }).dataSync()]).toEqual([...out]);
    expect(() => data.randomShift(x, { maxShift: 1.5 })).toThrow(/maxShift/);
  });
});

describe('SeededRandom', () => {
  it('is reproducible per (seed, stream) and uniform enough', () => {
    const a = new data.SeededRandom(1, 0);
    const b = new data.SeededRandom(1, 0);
    const c = new data.SeededRandom(1, 1);
    const xs = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(xs);
    // 10 000 draws of int(10): each bucket ≈ 1000 ± 30 (sd); allow 5 sd.
    const hist = new Array(10).fill(0);
    const r = new data.SeededRandom(2);
    for (let i = 0; i < 10000; i++) hist[r.int(10)]++;
    hist.forEach((h) => expect(Math.abs(h - 1000)).toBeLessThan(150));
    const u = new data.SeededRandom(3).next();
    expect(u >= 0 && u < 1).toBe(true);
    expect(() => new data.SeededRandom(-1)).toThrow(/seed/);
  });
});
