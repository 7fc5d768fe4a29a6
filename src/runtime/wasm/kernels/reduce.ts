/**
 * Native reductions from tfjs-backend-wasm. Its kernels reduce the innermost
 * `reduceSize` contiguous elements of each row (tfjs transposes first; Kiln uses them
 * only where no transpose is needed: the reduced axes, after dropping size-1 dims, are
 * innermost and contiguous, or all of them) and fall back to the portable kernels
 * otherwise.
 *
 * float32 sums go first to Kiln's generated SIMD kernels (simdReduce.ts: float64
 * accumulation, any axes that form [R, K, R] or [K, R, K] blocks, e.g. BatchNorm's
 * [0, 2, 3] and bias gradients), except many short rows, which `_Sum` does faster.
 *
 * Used: `_Sum` and `_Prod` (float32 / int32) and `_Softmax` (XNNPACK, float32, last
 * axis). Measured against the portable kernels (node 20, wasm heap): softmax 10–20×
 * faster at [128..4096, 16..4096]; sum/prod about equal on long rows, up to 4× faster on
 * short rows ([4096, 16]) and ~1 µs less per call on small tensors.
 *
 * Not used, on purpose: `_Max`/`_Min`/`_ArgMax`/`_ArgMin` ignore NaN unless it is the
 * first element of a row (`value > max`), whereas PyTorch (and the reference backend)
 * propagate it; the portable NaN-propagating kernels (Math.max, 4 running maxima) are
 * within ~1.3× of them on large rows. `_Mean` is not needed: mean is sum / n.
 */
import { sizeOf } from '../../../ir/index.js';
import { reducePlan } from '../../reference/kernels/reduce.js';
import { registerNativeKernels, type NativeKernelFactory } from '../nativeKernels.js';
import { CPP_DTYPE, fallbackOf } from './elementwise.js';
import { reduceKernels, sumLayout, sumOnHeap, type ReduceKernels } from './simdReduce.js';

/**
 * tfjs's `_Sum`/`_Prod` accumulate in float32. The worst-case relative error of a
 * float32 running sum/product of k terms is about k·2⁻²⁴; k ≤ 4096 keeps it under
 * the 1e-5·√k tolerance. Longer float32 rows use the portable kernel (float64
 * accumulation), which is as fast there (float32 sums reach `_Sum` only for short rows:
 * `simdSum` takes the rest).
 */
const MAX_F32_ROW = 4096;

/** Row length if reducing `shape` over `axes` is "reduce the innermost run", else 0. */
function innerRun(shape: readonly number[], axes: readonly number[]): number {
  const { dims, reduced } = reducePlan(shape, axes);
  const n = dims.length;
  if (n === 0 || !reduced[n - 1] || (n === 2 && reduced[0]) || n > 2) return 0;
  return dims[n - 1]!;
}

/** `fn(xId, reduceSize, dtype, outId)`: tfjs's Sum / Prod argument order. */
function rowReduce(fnName: string): NativeKernelFactory {
  return (backend, name) => {
    const fallback = fallbackOf(backend, name);
    const fn = backend.module[`_${fnName}`];
    return (inputs, attrs, outTypes) => {
      const x = inputs[0]!;
      const ot = outTypes[0]!;
      if ((x.dtype !== 'float32' && x.dtype !== 'int32') || ot.dtype !== x.dtype) return fallback(inputs, attrs, outTypes);
      const run = innerRun(x.shape, attrs['axes'] as number[]);
      if (run === 0 || (x.dtype === 'float32' && run > MAX_F32_ROW)) return fallback(inputs, attrs, outTypes);
      const out = backend.alloc(ot.dtype, sizeOf(ot.shape));
      fn(x.storage.id, run, CPP_DTYPE[x.dtype], out.id);
      return [out];
    };
  };
}

/** Rows shorter than this, several of them, are summed by `_Sum` (see `simdSum`). */
const SHORT_ROW = 64;

/**
 * float32 sums on the generated SIMD kernels (simdReduce.ts, float64 accumulation) for
 * the layouts they cover; the rest go to `next`.
 */
function simdSum(next: NativeKernelFactory): NativeKernelFactory {
  return (backend, name) => {
    const other = next(backend, name);
    let k: ReduceKernels | null = null;
    return (inputs, attrs, outTypes) => {
      const x = inputs[0]!;
      const ot = outTypes[0]!;
      if (x.dtype !== 'float32' || ot.dtype !== 'float32' || sizeOf(x.shape) === 0) return other(inputs, attrs, outTypes);
      const layout = sumLayout(x.shape, attrs['axes'] as number[]);
      // Many short rows: tfjs's float32 loop has less per-row overhead than the float64
      // kernel (its setup per run): [4096, 16] 14 vs 20 µs, [2048, 32] 15 vs 17; from
      // 64 on the kernel is faster ([1024, 64] 18 vs 12, [128, 784] 52 vs 15).
      if (!layout || (layout.kind === 'runs' && layout.batch === 1 && layout.runs > 1 && layout.len < SHORT_ROW)) return other(inputs, attrs, outTypes);
      k ??= reduceKernels(backend.memory);
      const out = backend.alloc('float32', sizeOf(ot.shape));
      const acc = backend.malloc('float64', layout.acc); // checked: 0 would mean no memory
      try {
        sumOnHeap(k, layout, x.storage.ptr, out.ptr, acc);
      } finally {
        backend.module._free(acc);
      }
      return [out];
    };
  };
}

registerNativeKernels({
  sum: simdSum(rowReduce('Sum')),
  prod: rowReduce('Prod'),
  softmax: (backend, name) => {
    const fallback = fallbackOf(backend, name);
    const fn = backend.module._Softmax;
    return (inputs, attrs, outTypes) => {
      const x = inputs[0]!;
      const axis = attrs['axis'] as number;
      const size = sizeOf(x.shape);
      let inner = 1;
      for (let d = axis + 1; d < x.shape.length; d++) inner *= x.shape[d]!;
      const channels = x.shape[axis] ?? 1;
      if (x.dtype !== 'float32' || inner !== 1 || size === 0) return fallback(inputs, attrs, outTypes);
      const out = backend.alloc('float32', size);
      fn(x.storage.id, out.id, channels, size / channels);
      return [out];
    };
  },
});
