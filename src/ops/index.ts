// Importing an op family registers its definitions.
export * as elementwise from './elementwise.js';
export * as reduce from './reduce.js';
export * as shape from './shape.js';
export * as linalg from './linalg.js';
export * as linalgSolve from './linalgSolve.js';
export * as nn from './nn.js';
export * as random from './random.js';
export * as linear from './linear.js';
export * as normalization from './normalization.js';
export * as recurrent from './recurrent.js';
export * as recurrentCells from './recurrentCells.js';
export type { AnyTensor, Axes, ReduceOptions, TensorLike } from './tensorLike.js';
export * as fused from './fused.js';
export * as layout from './layout.js';
