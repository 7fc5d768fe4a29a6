import { KilnError, type BackendName } from '../eager/index.js';
import { describeByteSource, isNode, nodeHost, requireNode, type ByteSource } from '../platform/index.js';
import { fromHost } from './hostTensor.js';
import { parseIdxAsync, readIdxFile, type IdxArray } from './idx.js';
import type { LabeledImages } from './imageSet.js';

/** Where Debian's `dataset-fashion-mnist` package installs the IDX files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** Fashion-MNIST class names, by label. */
export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

const INSTALL_HINT =
  "install Debian's package with `sudo apt-get install dataset-fashion-mnist`, or pass { dir } naming a folder " +
  'that holds train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz';

/** Options of `loadFashionMnist`. */
export interface FashionMnistOptions {
  /** 'train' (60 000 images) or 'test' (10 000). Default 'train'. */
  split?: 'train' | 'test';
  /** Folder of the IDX files (gzipped or not). Default `/usr/share/datasets/fashion-mnist`. */
  dir?: string;
  /** Keep only the first `limit` samples. */
  limit?: number;
  /** Backend of the returned tensors; default: Kiln's default backend. */
  backend?: BackendName;
}

/**
 * Whether the Fashion-MNIST IDX files for `split` are present in `dir` (always false in
 * a browser: there are no files; see `loadIdxImages`).
 *
 * @example
 * ```ts
 * if (!kiln.data.fashionMnistAvailable()) console.log('sudo apt-get install dataset-fashion-mnist');
 * ```
 */
export function fashionMnistAvailable(dir = FASHION_MNIST_DIR, split: 'train' | 'test' = 'train'): boolean {
  if (!isNode && !nodeHost()) return false;
  return fileFor(dir, split, 'images') !== null && fileFor(dir, split, 'labels') !== null;
}

/**
 * Fashion-MNIST (Zalando; 28×28 grey images of clothing, 10 classes) from the IDX files
 * of Debian's `dataset-fashion-mnist` package: no download at run time. Throws a
 * `KilnError` saying how to install the data when it is missing, and a clear error for
 * truncated or corrupt files.
 *
 * @example
 * ```ts
 * const { images, labels, classNames } = kiln.data.loadFashionMnist({ split: 'test' });
 * console.log(images.shape, labels.shape, classNames[labels.toArray()[0]]); // [10000, 1, 28, 28] [10000] 'Ankle boot'
 * ```
 */
export function loadFashionMnist(options: FashionMnistOptions = {}): LabeledImages & { classNames: readonly string[] } {
  const op = 'loadFashionMnist';
  const dir = options.dir ?? FASHION_MNIST_DIR;
  const split = options.split ?? 'train';
  if (split !== 'train' && split !== 'test') throw new KilnError(`split must be 'train' or 'test', got '${String(split)}'`, { op });
  requireNode(op, 'reading the Fashion-MNIST files', 'fetch the IDX files and call await kiln.data.loadIdxImages(await fetch(imagesUrl), await fetch(labelsUrl))');
  const imagesFile = fileFor(dir, split, 'images');
  const labelsFile = fileFor(dir, split, 'labels');
  if (!imagesFile || !labelsFile) {
    const missing = [!imagesFile && baseName(split, 'images'), !labelsFile && baseName(split, 'labels')].filter(Boolean).join(' and ');
    throw new KilnError(`Fashion-MNIST not found: ${dir} lacks ${missing}(.gz). To get it, ${INSTALL_HINT}`, { op });
  }
  const images = readIdxFile(imagesFile);
  const labels = readIdxFile(labelsFile);
  return { ...toLabeledImages(op, images, labels, imagesFile, labelsFile, options), classNames: FASHION_MNIST_CLASSES };
}

/** Options of `loadIdxImages`. */
export interface IdxImagesOptions {
  /** Keep only the first `limit` samples. */
  limit?: number;
  /** Backend of the returned tensors; default: Kiln's default backend. */
  backend?: BackendName;
}

/**
 * Images and labels from IDX bytes in the format of the MNIST family (MNIST,
 * Fashion-MNIST, KMNIST…), gzipped or not, from anywhere: fetched in a page (`Response`),
 * a `Blob` from a file input, or bytes read in Node. Images `[N, H, W]` uint8 become
 * float32 `[N, 1, H, W]` in [0, 1], labels uint8 < 10 become int32 `[N]` — what
 * `loadFashionMnist` returns from files.
 *
 * @example
 * ```ts
 * const test = await kiln.data.loadIdxImages(
 *   await fetch('/data/t10k-images-idx3-ubyte.gz'),
 *   await fetch('/data/t10k-labels-idx1-ubyte.gz'),
 *   { limit: 1000 },
 * );
 * console.log(test.images.shape, test.labels.shape); // [1000, 1, 28, 28] [1000]
 * ```
 */
export async function loadIdxImages(images: ByteSource, labels: ByteSource, options: IdxImagesOptions = {}): Promise<LabeledImages> {
  const imagesName = describeByteSource(images);
  const labelsName = describeByteSource(labels);
  const [x, y] = await Promise.all([parseIdxAsync(images, imagesName), parseIdxAsync(labels, labelsName)]);
  return toLabeledImages('loadIdxImages', x, y, imagesName, labelsName, options);
}

/** Checks IDX images `[N, H, W]` uint8 and labels `[N]` uint8 < 10, and converts them to tensors. */
export function toLabeledImages(
  op: string,
  images: IdxArray,
  labels: IdxArray,
  imagesSource: string,
  labelsSource: string,
  options: { limit?: number; backend?: BackendName } = {},
): LabeledImages {
  if (images.type !== 'uint8' || images.shape.length !== 3) {
    throw new KilnError(`${imagesSource}: expected uint8 images [N, H, W], got ${images.type} [${images.shape.join(', ')}]`, { op });
  }
  if (labels.type !== 'uint8' || labels.shape.length !== 1) {
    throw new KilnError(`${labelsSource}: expected uint8 labels [N], got ${labels.type} [${labels.shape.join(', ')}]`, { op });
  }
  const [n, h, w] = images.shape as [number, number, number];
  if (labels.shape[0] !== n) throw new KilnError(`${imagesSource} holds ${n} images but ${labelsSource} holds ${labels.shape[0]} labels`, { op });
  let count = n;
  if (options.limit !== undefined) {
    if (!Number.isInteger(options.limit) || options.limit < 0) throw new KilnError(`limit must be a non-negative integer, got ${options.limit}`, { op });
    count = Math.min(n, options.limit);
  }
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const c = labels.data[i]!;
    if (c > 9) throw new KilnError(`${labelsSource}: label ${c} at index ${i} is not a class 0–9 (corrupt file?)`, { op });
    y[i] = c;
  }
  const table = new Float32Array(256);
  for (let v = 0; v < 256; v++) table[v] = v / 255;
  const px = images.data as Uint8Array;
  const x = new Float32Array(count * h * w);
  for (let i = 0; i < x.length; i++) x[i] = table[px[i]!]!;
  return {
    images: fromHost(x, [count, 1, h, w], 'float32', options.backend),
    labels: fromHost(y, [count], 'int32', options.backend),
  };
}

function baseName(split: 'train' | 'test', kind: 'images' | 'labels'): string {
  return `${split === 'train' ? 'train' : 't10k'}-${kind}-idx${kind === 'images' ? 3 : 1}-ubyte`;
}

function fileFor(dir: string, split: 'train' | 'test', kind: 'images' | 'labels'): string | null {
  const host = requireNode('loadFashionMnist', 'looking for the Fashion-MNIST files', 'fetch the IDX files and call await kiln.data.loadIdxImages(images, labels)');
  const base = host.joinPath(dir, baseName(split, kind));
  for (const f of [`${base}.gz`, base]) if (host.existsSync(f)) return f;
  return null;
}
