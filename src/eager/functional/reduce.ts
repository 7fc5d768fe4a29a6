import type { Axes, ReduceOptions } from '../../ops/tensorLike.js';
import { opError } from '../dispatch.js';
import type { Tensor } from '../tensor.js';

// TODO(reductions): implemented by the reductions work item.
const todo = (op: string): never => { throw opError(op, 'not implemented yet'); };

/** Sum over `axis` (all axes when omitted). */
export function sum(x: Tensor, axis?: Axes | null, options?: ReduceOptions): Tensor { return todo('sum'); }
export function mean(x: Tensor, axis?: Axes | null, options?: ReduceOptions): Tensor { return todo('mean'); }
export function max(x: Tensor, axis?: Axes | null, options?: ReduceOptions): Tensor { return todo('max'); }
export function min(x: Tensor, axis?: Axes | null, options?: ReduceOptions): Tensor { return todo('min'); }
export function prod(x: Tensor, axis?: Axes | null, options?: ReduceOptions): Tensor { return todo('prod'); }
export function argmax(x: Tensor, axis?: number | null, options?: ReduceOptions): Tensor { return todo('argmax'); }
export function argmin(x: Tensor, axis?: number | null, options?: ReduceOptions): Tensor { return todo('argmin'); }
export function variance(x: Tensor, axis?: Axes | null, options?: ReduceOptions & { unbiased?: boolean }): Tensor { return todo('variance'); }
export function logSumExp(x: Tensor, axis?: Axes | null, options?: ReduceOptions): Tensor { return todo('logSumExp'); }
export function softmax(x: Tensor, axis?: number): Tensor { return todo('softmax'); }
export function logSoftmax(x: Tensor, axis?: number): Tensor { return todo('logSoftmax'); }
