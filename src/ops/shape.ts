import { KilnError, registerOp, sizeOf, formatShape } from '../ir/index.js';
import { sumTo } from './shapeHelpers.js';
import type { AnyTensor } from './tensorLike.js';

/** Reshape to attr `shape` (already resolved, no -1): shares storage, no kernel. */
export const reshape = registerOp<AnyTensor>({
  name: 'reshape',
  doc: 'Same elements, new shape (attr shape; -1 resolved by the caller).',
  alias: true,
  infer: ([x], attrs) => {
    const shape = attrs['shape'] as number[];
    if (sizeOf(shape) !== sizeOf(x!.shape)) throw new KilnError(`cannot reshape ${formatShape(x!.shape)} (${sizeOf(x!.shape)} elements) to ${formatShape(shape)}`);
    return [{ shape, dtype: x!.dtype }];
  },
  grad: ({ inputs: [x], dys: [dy] }) => [dy!.reshape(x!.shape)],
});

/** Broadcast to attr `shape` (NumPy rules; -1 already resolved). */
export const expand = registerOp<AnyTensor>({
  name: 'expand',
  doc: 'Broadcast to a larger shape (attr shape).',
  infer: ([x], attrs) => {
    const shape = attrs['shape'] as number[];
    const lead = shape.length - x!.shape.length;
    if (lead < 0 || x!.shape.some((d, i) => d !== 1 && d !== shape[lead + i])) {
      throw new KilnError(`cannot expand ${formatShape(x!.shape)} to ${formatShape(shape)}`);
    }
    return [{ shape, dtype: x!.dtype }];
  },
  grad: ({ inputs: [x], dys: [dy] }) => [sumTo(dy!, x!.shape)],
});
