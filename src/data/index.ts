// kiln.data: datasets, loaders, splits, normalization, augmentation and bundled real data.
export { type Dataset, type Collated, Subset } from './dataset.js';
export { TensorDataset } from './tensorDataset.js';
export { defaultCollate } from './collate.js';
export { DataLoader, type DataLoaderOptions } from './dataLoader.js';
export { randomSplit, stratifiedSplit, trainValTestSplit, splitCounts, type SplitOptions, type TrainValTest } from './splits.js';
export { Standardizer, standardize, type StandardizerOptions, type StandardizerState } from './standardizer.js';
export { addGaussianNoise, randomFlipHorizontal, randomShift, type AugmentOptions } from './augment.js';
export { SeededRandom } from './random.js';
export { parseIdx, parseIdxAsync, readIdxFile, encodeIdx, type IdxArray } from './idx.js';
export type { LabeledImages } from './imageSet.js';
export { loadFashionMnist, fashionMnistAvailable, loadIdxImages, FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, type FashionMnistOptions, type IdxImagesOptions } from './fashionMnist.js';
export { loadMnistDigits, mnistDigitsAvailable } from './mnistDigits.js';
export { loadDataset, type LoadedDataset, type LoadDatasetOptions } from './loadDataset.js';
