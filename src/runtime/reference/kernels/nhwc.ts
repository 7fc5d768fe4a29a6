import type { Attrs, TypedArray } from '../../../ir/index.js';
import type { ArrayKernel, ArrayTensor } from '../../backend.js';
import { registerArrayKernels } from '../../arrayKernels.js';
import { permuteInto } from './linalg.js';
import { avgPool2dKernel, conv2dKernel, maxPool2dKernel } from './nn.js';

/*
 * Portable channels-last kernels (ops/layout.ts): each is its op's decomposition on
 * arrays — permute to NCHW (the filter to OIHW), run the NCHW kernel, permute back — so
 * the reference backend computes exactly what the NCHW graph does, and the wasm backend
 * has them for what its native NHWC kernels leave (float64, negative padding, empty).
 */

const TO_NCHW = [0, 3, 1, 2], TO_NHWC = [0, 2, 3, 1], HWIO_TO_OIHW = [3, 2, 0, 1];

function permuted(t: ArrayTensor, perm: readonly number[]): ArrayTensor {
  const data = new (t.data.constructor as new (n: number) => TypedArray)(t.data.length);
  permuteInto(t.data, t.shape, perm, data);
  return { data, shape: perm.map((p) => t.shape[p]!), dtype: t.dtype };
}

/** Runs the NCHW kernel `k` on `inputs` (input 0 NHWC, input 1 HWIO when `filter`) and writes its result NHWC into `y`. */
function viaNchw(k: ArrayKernel, filter: boolean): ArrayKernel {
  return (inputs: readonly ArrayTensor[], attrs: Attrs, [y]) => {
    const ins = inputs.map((t, i) => (i === 0 ? permuted(t, TO_NCHW) : i === 1 && filter ? permuted(t, HWIO_TO_OIHW) : t));
    const shape = TO_NCHW.map((p) => y!.shape[p]!);
    const out: ArrayTensor = { data: new (y!.data.constructor as new (n: number) => TypedArray)(y!.data.length), shape, dtype: y!.dtype };
    k(ins, attrs, [out]);
    permuteInto(out.data, shape, TO_NHWC, y!.data);
  };
}

registerArrayKernels({
  conv2dNhwc: viaNchw(conv2dKernel, true),
  maxPool2dNhwc: viaNchw(maxPool2dKernel, false),
  avgPool2dNhwc: viaNchw(avgPool2dKernel, false),
});
