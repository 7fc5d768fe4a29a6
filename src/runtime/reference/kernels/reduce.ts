import type { Attrs, TypedArray } from '../../../ir/index.js';
import type { ArrayKernel } from '../../backend.js';
import { registerArrayKernels } from '../../arrayKernels.js';

/**
 * Calls `visit(outIndex, inIndex)` for every input element, mapping it to the output
 * element it reduces into (reduced axes collapse).
 */
export function forEachReduced(shape: readonly number[], axes: readonly number[], visit: (o: number, i: number) => void): void {
  const rank = shape.length;
  const outStrides = new Array<number>(rank).fill(0);
  let acc = 1;
  for (let d = rank - 1; d >= 0; d--) {
    if (!axes.includes(d)) {
      outStrides[d] = acc;
      acc *= shape[d]!;
    }
  }
  let n = 1;
  for (const d of shape) n *= d;
  const counter = new Array<number>(rank).fill(0);
  let o = 0;
  for (let i = 0; i < n; i++) {
    visit(o, i);
    for (let d = rank - 1; d >= 0; d--) {
      counter[d]++;
      o += outStrides[d]!;
      if (counter[d]! < shape[d]!) break;
      o -= outStrides[d]! * counter[d]!;
      counter[d] = 0;
    }
  }
}

function reduce(init: number, step: (acc: number, v: number) => number): ArrayKernel {
  return ([x], attrs: Attrs, [out]) => {
    const o: TypedArray = out!.data;
    const acc = new Float64Array(o.length).fill(init);
    const a = x!.data;
    forEachReduced(x!.shape, attrs['axes'] as number[], (oi, ii) => {
      acc[oi] = step(acc[oi]!, a[ii]!);
    });
    o.set(acc);
  };
}

registerArrayKernels({
  sum: reduce(0, (s, v) => s + v),
});
