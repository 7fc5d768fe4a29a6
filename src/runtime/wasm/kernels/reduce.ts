/**
 * Native reductions from tfjs-backend-wasm. Its kernels reduce the innermost
 * `reduceSize` contiguous elements of each row (tfjs transposes first; Kiln uses them
 * only where no transpose is needed: the reduced axes, after dropping size-1 dims, are
 * innermost and contiguous, or all of them) and fall back to the portable kernels
 * otherwise.
 *
 * float32 sums go to Kiln's generated SIMD kernels (simdReduce.ts: float64
 * accumulation, any axes that form [R, K, R] or [K, R, K] blocks, e.g. BatchNorm's
 * [0, 2, 3] and bias gradients), the rest to the portable kernel (float64 too): every
 * float reduction accumulates in float64 on both backends, so they agree to the last
 * bit or so whatever the cancellation.
 *
 * Used: `_Sum` and `_Prod` for int32 only (they wrap like the portable kernels: sums
 * modulo 2³², products by `Math.imul`) and `_Softmax` (XNNPACK, float32, last axis).
 * Not for float32: they accumulate in float32 (a sum of short rows drifts from the
 * reference's; a product overflows to ∞ where the float64 one comes back into range).
 * Measured against the portable kernels (node 20, wasm heap): softmax 10–20× faster at
 * [128..4096, 16..4096]; float32 sum of many short rows: `_Sum` [4096, 16] 14 µs against
 * 20 µs on the float64 SIMD kernel, the price of agreeing.
 *
 * Not used, on purpose: `_Max`/`_Min`/`_ArgMax`/`_ArgMin` ignore NaN unless it is the
 * first element of a row (`value > max`), whereas PyTorch (and the reference backend)
 * propagate it; the portable NaN-propagating kernels (Math.max, 4 running maxima) are
 * within ~1.3× of them on large rows. `_Mean` is not needed: mean is sum / n.
 */
import { oneOutput } from '../../backend.js';
import { sizeOf } from '../../../ir/index.js';
import { reducePlan } from '../../reference/kernels/reduce.js';
import { registerNativeKernels, type NativeKernelFactory } from '../nativeKernels.js';
import { CPP_DTYPE, fallbackOf } from './elementwise.js';
import { reusedScratch } from './reusedScratch.js';
import { reduceKernels, sumLayout, sumOnHeap, type ReduceKernels, type SumLayout } from './simdReduce.js';

/** Row length if reducing `shape` over `axes` is "reduce the innermost run", else 0. */
function innerRun(shape: readonly number[], axes: readonly number[]): number {
  const { dims, reduced } = reducePlan(shape, axes);
  const n = dims.length;
  if (n === 0 || !reduced[n - 1] || (n === 2 && reduced[0]) || n > 2) return 0;
  return dims[n - 1]!;
}

/** `fn(xId, reduceSize, dtype, outId)`: tfjs's Sum / Prod argument order; int32 only (see above). */
function rowReduce(fnName: string): NativeKernelFactory {
  return (backend, name) => {
    const fallback = fallbackOf(backend, name);
    const fn = backend.module[`_${fnName}`];
    return (inputs, attrs, outTypes, outs) => {
      const x = inputs[0]!;
      const ot = outTypes[0]!;
      if (x.dtype !== 'int32' || ot.dtype !== x.dtype) return fallback(inputs, attrs, outTypes, outs);
      const run = innerRun(x.shape, attrs['axes'] as number[]);
      if (run === 0) return fallback(inputs, attrs, outTypes, outs);
      const out = outs?.[0] ?? backend.alloc(ot.dtype, sizeOf(ot.shape));
      fn(x.storage.id, run, CPP_DTYPE[x.dtype], out.id);
      return oneOutput(out, outs);
    };
  };
}

/**
 * float32 sums on the generated SIMD kernels (simdReduce.ts, float64 accumulation) for
 * the layouts they cover; the rest go to `next` (which sends float32 to the portable
 * kernel, float64 as well).
 */
function simdSum(next: NativeKernelFactory): NativeKernelFactory {
  return (backend, name) => {
    const other = next(backend, name);
    const scratch = reusedScratch(backend);
    let k: ReduceKernels | null = null;
    let lastAttrs: object | null = null, lastShape: readonly number[] = [], lastLayout: SumLayout | null = null;
    return (inputs, attrs, outTypes, outs) => {
      const x = inputs[0]!;
      const ot = outTypes[0]!;
      if (x.dtype !== 'float32' || ot.dtype !== 'float32' || sizeOf(x.shape) === 0) return other(inputs, attrs, outTypes, outs);
      // A plan calls with the same attrs object and shapes every run: the layout is worked out once.
      let layout: SumLayout | null;
      if (attrs === lastAttrs && sameDims(x.shape, lastShape)) {
        layout = lastLayout;
      } else {
        layout = sumLayout(x.shape, attrs['axes'] as number[]);
        lastAttrs = attrs;
        lastShape = x.shape.slice();
        lastLayout = layout;
      }
      // Many short rows too ([4096, 16]: 20 µs, where tfjs's float32 `_Sum` took 14):
      // float64 accumulation on every path is what keeps the backends agreeing.
      if (!layout) return other(inputs, attrs, outTypes, outs);
      k ??= reduceKernels(backend.memory);
      const out = outs?.[0] ?? backend.alloc('float32', sizeOf(ot.shape));
      sumOnHeap(k, layout, x.storage.ptr, out.ptr, scratch(Math.max(8 * layout.acc, 8)));
      return oneOutput(out, outs);
    };
  };
}

registerNativeKernels({
  sum: simdSum(rowReduce('Sum')),
  prod: rowReduce('Prod'),
  softmax: (backend, name) => {
    const fallback = fallbackOf(backend, name);
    const fn = backend.module._Softmax;
    return (inputs, attrs, outTypes, outs) => {
      const x = inputs[0]!;
      const axis = attrs['axis'] as number;
      const size = sizeOf(x.shape);
      let inner = 1;
      for (let d = axis + 1; d < x.shape.length; d++) inner *= x.shape[d]!;
      const channels = x.shape[axis] ?? 1;
      if (x.dtype !== 'float32' || inner !== 1 || size === 0) return fallback(inputs, attrs, outTypes, outs);
      const out = outs?.[0] ?? backend.alloc('float32', size);
      fn(x.storage.id, out.id, channels, size / channels);
      return oneOutput(out, outs);
    };
  },
});

/** Whether two shapes are equal. */
function sameDims(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
