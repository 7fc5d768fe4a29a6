// The eager API, for src/index.ts and for the folders built on eager (nn, optim, data),
// which import this barrel rather than src/index.ts to keep imports acyclic.
import '../ops/index.js';
import { gradcheck } from './gradcheck.js';

export { KilnError, userCallSite, listOps, type DType, type OpDef, type TensorType, type TypedArray } from '../ir/index.js';
export type { BackendName } from '../runtime/backend.js';
export type { Axes, ReduceOptions } from '../ops/tensorLike.js';
export { Tensor } from './tensor.js';
export { isTracing } from './engine.js';
export type { NestedArray } from './nested.js';
export { init, getDefaultBackend, wasmThreads, type InitOptions } from './init.js';
export {
  tensor, zeros, ones, full, arange, linspace, eye,
  rand, randn, randint, uniform, normal, bernoulli, manualSeed,
  type CreateOptions, type RandomOptions,
} from './creation.js';
export { noGrad, enableGrad, grad, valueAndGrad } from './autograd.js';
export { detectAnomaly, type AnomalyOptions } from './anomaly.js';
export { scope, keep, memory } from './scope.js';
export * from './functional/elementwise.js';
export * from './functional/reduce.js';
export * from './functional/linalg.js';
export * from './functional/shape.js';
export * from './functional/nn.js';
export * from './functional/linear.js';
export { batchNorm, layerNorm, type BatchNormOptions, type LayerNormOptions } from './functional/normalization.js';
export { rnn, lstm, gru, type RecurrentFunctionOptions } from './functional/recurrent.js';
export { tril, triu } from './functional/linalgSolve.js';
export { cond, type CondResult } from './functional/cond.js';
/** Factorizations and solves: `kiln.linalg.cholesky`, `solve`, `solveTriangular`, `choleskySolve`, `lstsq`. */
export * as linalg from './linalg.js';

/** Testing helpers: finite-difference gradient checks. */
export const testing = { gradcheck };
export type { GradcheckOptions, GradcheckResult } from './gradcheck.js';
