// Importing an op family registers its definitions.
export * as elementwise from './elementwise.js';
export * as reduce from './reduce.js';
export * as shape from './shape.js';
export type { AnyTensor, Axes, ReduceOptions, TensorLike } from './tensorLike.js';
