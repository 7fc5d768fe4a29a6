import type { DType } from '../../ir/index.js';
import type { Axes } from '../../ops/tensorLike.js';
import { opError } from '../dispatch.js';
import type { Tensor } from '../tensor.js';

// TODO(shape): implemented by the shape-ops work item.
const todo = (op: string): never => { throw opError(op, 'not implemented yet'); };

export function reshape(x: Tensor, shape: readonly number[]): Tensor { return todo('reshape'); }
export function flatten(x: Tensor, startDim?: number, endDim?: number): Tensor { return todo('flatten'); }
export function squeeze(x: Tensor, axis?: Axes): Tensor { return todo('squeeze'); }
export function unsqueeze(x: Tensor, axis: number): Tensor { return todo('unsqueeze'); }
export function expand(x: Tensor, shape: readonly number[]): Tensor { return todo('expand'); }
export function broadcastTo(x: Tensor, shape: readonly number[]): Tensor { return todo('broadcastTo'); }
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[], options?: { axes?: readonly number[]; steps?: readonly number[] }): Tensor { return todo('slice'); }
export function split(x: Tensor, splitSizeOrSections: number | readonly number[], axis?: number): Tensor[] { return todo('split'); }
export function pad(x: Tensor, pads: readonly number[], options?: { mode?: 'constant' | 'reflect'; value?: number }): Tensor { return todo('pad'); }
export function gather(x: Tensor, axis: number, index: Tensor): Tensor { return todo('gather'); }
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor { return todo('indexSelect'); }
export function oneHot(x: Tensor, numClasses: number): Tensor { return todo('oneHot'); }
export function cast(x: Tensor, dtype: DType): Tensor { return todo('cast'); }
export function concat(tensors: readonly Tensor[], axis?: number): Tensor { return todo('concat'); }
export function stack(tensors: readonly Tensor[], axis?: number): Tensor { return todo('stack'); }
