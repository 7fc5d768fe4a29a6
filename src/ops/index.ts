// Importing an op family registers its definitions.
export * as elementwise from './elementwise.js';
export type { AnyTensor, Axes, ReduceOptions, TensorLike } from './tensorLike.js';
