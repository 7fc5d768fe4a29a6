import { registerOp, type TensorType } from '../ir/index.js';
import type { AnyTensor } from './tensorLike.js';

/** Output shape of reducing `shape` over sorted `axes`. */
export function reducedShape(shape: readonly number[], axes: readonly number[], keepDims: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (axes.includes(i)) {
      if (keepDims) out.push(1);
    } else out.push(shape[i]!);
  }
  return out;
}

/** The reduced gradient/output re-expanded so it broadcasts against the input. */
export function keepDimsShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function reduceInfer([x]: readonly TensorType[], attrs: Readonly<Record<string, unknown>>): TensorType[] {
  const axes = attrs['axes'] as number[];
  const dtype = x!.dtype === 'bool' ? 'int32' : x!.dtype;
  return [{ shape: reducedShape(x!.shape, axes, attrs['keepDims'] as boolean), dtype }];
}

/** sum over attr `axes` (sorted, non-negative), attr `keepDims`. */
export const sum = registerOp<AnyTensor>({
  name: 'sum',
  doc: 'Sum over axes (attrs axes, keepDims).',
  infer: reduceInfer,
  grad: ({ inputs: [x], dys: [dy], attrs }) => {
    const axes = attrs['axes'] as number[];
    const g = attrs['keepDims'] ? dy! : dy!.reshape(keepDimsShape(x!.shape, axes));
    return [g.expand(x!.shape)];
  },
});
