import type { Attrs, DType } from '../ir/index.js';

/** Options of a reduction. */
export interface ReduceOptions {
  keepDims?: boolean;
}
export type Axes = number | readonly number[];

/**
 * The tensor methods gradient rules may call. The eager `Tensor` implements it (and
 * under tracing the same class records graph nodes), so a gradient written against
 * this interface runs eagerly, traces, and can itself be differentiated.
 */
export interface TensorLike<T extends TensorLike<T>> {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly rank: number;
  readonly size: number;

  // elementwise unary
  neg(): T;
  abs(): T;
  exp(): T;
  log(): T;
  log1p(): T;
  sqrt(): T;
  rsqrt(): T;
  square(): T;
  reciprocal(): T;
  sign(): T;
  sin(): T;
  cos(): T;
  sigmoid(): T;
  tanh(): T;
  relu(): T;
  leakyRelu(alpha?: number): T;
  elu(alpha?: number): T;
  softplus(options?: { beta?: number; threshold?: number }): T;
  erf(): T;
  clip(min: number | null, max: number | null): T;

  // binary (NumPy broadcasting); scalars take the tensor's dtype
  add(other: T | number): T;
  sub(other: T | number): T;
  mul(other: T | number): T;
  div(other: T | number): T;
  pow(other: T | number): T;
  maximum(other: T | number): T;
  minimum(other: T | number): T;
  equal(other: T | number): T;
  notEqual(other: T | number): T;
  less(other: T | number): T;
  lessEqual(other: T | number): T;
  greater(other: T | number): T;
  greaterEqual(other: T | number): T;
  logicalAnd(other: T | number): T;
  logicalOr(other: T | number): T;
  logicalNot(): T;
  /** `cond ? this : other`, elementwise with broadcasting. */
  where(cond: T, other: T | number): T;

  // reductions
  sum(axis?: Axes | null, options?: ReduceOptions): T;
  mean(axis?: Axes | null, options?: ReduceOptions): T;
  max(axis?: Axes | null, options?: ReduceOptions): T;
  min(axis?: Axes | null, options?: ReduceOptions): T;
  prod(axis?: Axes | null, options?: ReduceOptions): T;
  argmax(axis?: number | null, options?: ReduceOptions): T;
  argmin(axis?: number | null, options?: ReduceOptions): T;
  variance(axis?: Axes | null, options?: ReduceOptions & { unbiased?: boolean }): T;
  logSumExp(axis?: Axes | null, options?: ReduceOptions): T;
  softmax(axis?: number): T;
  logSoftmax(axis?: number): T;

  // linear algebra
  matmul(other: T): T;
  transpose(dim0?: number, dim1?: number): T;
  permute(...dims: number[]): T;

  // shape
  reshape(...shape: number[] | [readonly number[]]): T;
  flatten(startDim?: number, endDim?: number): T;
  squeeze(axis?: Axes): T;
  unsqueeze(axis: number): T;
  expand(...shape: number[] | [readonly number[]]): T;
  broadcastTo(shape: readonly number[]): T;
  slice(starts: readonly number[], ends: readonly number[], options?: { axes?: readonly number[]; steps?: readonly number[] }): T;
  split(splitSizeOrSections: number | readonly number[], axis?: number): T[];
  pad(pads: readonly number[], options?: { mode?: 'constant' | 'reflect'; value?: number }): T;
  gather(axis: number, index: T): T;
  indexSelect(axis: number, index: T): T;
  oneHot(numClasses?: number): T;
  cast(dtype: DType): T;

  /** Runs registered op `name` on `[this, ...others]`: the escape hatch for internal ops. */
  applyOp(name: string, others: readonly T[], attrs?: Attrs): T[];

  // creation helpers with this tensor's backend/dtype
  zerosLike(): T;
  onesLike(): T;
  fullLike(value: number): T;
}

/** The tensor type op definitions are written against. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface AnyTensor extends TensorLike<AnyTensor> {}
