/**
 * Kiln: a deep-learning framework and graph compiler for TypeScript.
 *
 * @example
 * ```ts
 * import * as kiln from 'kiln';
 * await kiln.init();
 * const w = kiln.randn([2, 3], { seed: 0, requiresGrad: true });
 * const loss = kiln.tensor([[1, 2], [3, 4]]).matmul(w).relu().sum();
 * loss.backward();
 * console.log(w.grad!.toString());
 * ```
 */
import './ops/index.js';
import { gradcheck } from './eager/gradcheck.js';

export { KilnError, listOps, type DType, type OpDef, type TensorType, type TypedArray } from './ir/index.js';
export type { BackendName } from './runtime/backend.js';
export type { Axes, ReduceOptions } from './ops/tensorLike.js';
export { Tensor } from './eager/tensor.js';
export type { NestedArray } from './eager/nested.js';
export { init, getDefaultBackend, type InitOptions } from './eager/init.js';
export {
  tensor, zeros, ones, full, arange, linspace, eye,
  rand, randn, randint, uniform, normal, bernoulli, manualSeed,
  type CreateOptions, type RandomOptions,
} from './eager/creation.js';
export { noGrad, enableGrad, grad, valueAndGrad } from './eager/autograd.js';
export { scope, keep, memory } from './eager/scope.js';
export * from './eager/functional/elementwise.js';
export * from './eager/functional/reduce.js';
export * from './eager/functional/linalg.js';
export * from './eager/functional/shape.js';
export * from './eager/functional/nn.js';

/** Testing helpers: finite-difference gradient checks. */
export const testing = { gradcheck };
export type { GradcheckOptions, GradcheckResult } from './eager/gradcheck.js';
