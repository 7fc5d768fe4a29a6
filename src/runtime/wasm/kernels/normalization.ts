import type { Attrs } from '../../../ir/index.js';
import { oneOutput, type Kernel, type KernelInput } from '../../backend.js';
import { registerNativeKernels } from '../nativeKernels.js';
import { reusedScratch } from './reusedScratch.js';
import type { WasmBackend, WasmStorage } from '../wasmBackend.js';
import { layerNormGradName, layerNormName, normalizationKernels, type NormalizationKernels } from './simdNormalization.js';

/*
 * batchNorm, batchNormTraining and layerNorm (+ their closed-form backwards) on the
 * generated kernels of simdNormalization.ts: statistics in one float64 pass over x, the
 * result in a second (the ops' decompositions take ≈10–15 passes). The per-channel
 * arithmetic between the passes (C values) is done here, in JS float64, with the
 * portable kernels' formulas (reference/kernels/normalization.ts), so both backends
 * compute the same thing and differ only by the order of float64 additions in the sums.
 * float32 only: the wasm backend holds no float64 tensors.
 */

/** x [N, C, ...] as [outer, C, inner]. */
function channelGeometry(x: KernelInput<WasmStorage>): { outer: number; c: number; inner: number } {
  let inner = 1;
  for (let d = 2; d < x.shape.length; d++) inner *= x.shape[d]!;
  return { outer: x.shape[0]!, c: x.shape[1]!, inner };
}

/**
 * Runs `body` with `count` float64 scratch vectors of `c` elements on the heap (byte
 * addresses) from `scratch` (the kernel's block, kept across calls); `views` reads or
 * writes them (take it after allocations).
 */
function withVectors<T>(backend: WasmBackend, scratch: (bytes: number) => number, count: number, c: number, body: (ptrs: number[], views: () => Float64Array[]) => T): T {
  const base = scratch(Math.max(count * c, 1) * 8);
  const ptrs = Array.from({ length: count }, (_x, i) => base + i * c * 8);
  const views = () => ptrs.map((p) => new Float64Array(backend.memory.buffer, p, c));
  return body(ptrs, views);
}

function f32At(backend: WasmBackend, s: WasmStorage): Float32Array {
  return new Float32Array(backend.memory.buffer, s.ptr, s.size);
}

/** σ⁻¹·weight per channel into `out` (σ⁻¹ alone without a weight): the portable kernel's channelScale. */
function channelScale(out: Float64Array, variance: ArrayLike<number>, eps: number, w: Float32Array | null): void {
  for (let ch = 0; ch < out.length; ch++) out[ch] = (w ? w[ch]! : 1) / Math.sqrt(variance[ch]! + eps);
}

type Factory = (backend: WasmBackend) => Kernel<WasmStorage>;

/** Fetches the kernels on first use (per heap). */
function lazyKernels(backend: WasmBackend): () => NormalizationKernels {
  let k: NormalizationKernels | null = null;
  return () => (k ??= normalizationKernels(backend.memory));
}

const batchNormKernel: Factory = (backend) => {
  const kernels = lazyKernels(backend);
  const scratch = reusedScratch(backend);
  return ([x, mean, variance, w, b], attrs: Attrs, _types, outs) => {
    const { outer, c, inner } = channelGeometry(x!);
    const y = outs?.[0] ?? backend.alloc('float32', x!.storage.size);
    withVectors(backend, scratch, 3, c, ([m, sc, sh], views) => {
      const [mv, scv, shv] = views();
      mv!.set(f32At(backend, mean!.storage));
      channelScale(scv!, f32At(backend, variance!.storage), attrs['eps'] as number, w ? f32At(backend, w.storage) : null);
      if (b) shv!.set(f32At(backend, b.storage));
      else shv!.fill(0);
      kernels().bnApply(x!.storage.ptr, y.ptr, outer, c, inner, m!, sc!, sh!);
    });
    return oneOutput(y, outs);
  };
};

const batchNormTrainingKernel: Factory = (backend) => {
  const kernels = lazyKernels(backend);
  const scratch = reusedScratch(backend);
  return ([x, w, b], attrs: Attrs, _types, outs) => {
    const { outer, c, inner } = channelGeometry(x!);
    const y = outs?.[0] ?? backend.alloc('float32', x!.storage.size);
    const meanOut = outs?.[1] ?? backend.alloc('float32', c), varOut = outs?.[2] ?? backend.alloc('float32', c);
    withVectors(backend, scratch, 5, c, ([k, s1, s2, sc, sh], views) => {
      let [kv, s1v, s2v] = views();
      const xs = f32At(backend, x!.storage);
      // Shift: each channel's first element (the portable kernel's K).
      for (let ch = 0; ch < c; ch++) kv![ch] = outer * inner > 0 ? xs[ch * inner]! : 0;
      s1v!.fill(0);
      s2v!.fill(0);
      kernels().bnStats(x!.storage.ptr, outer, c, inner, k!, s1!, s2!);
      let scv: Float64Array, shv: Float64Array;
      [kv, s1v, s2v, scv, shv] = views() as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
      const count = outer * inner;
      const mo = f32At(backend, meanOut), vo = f32At(backend, varOut);
      // s1 becomes the mean and s2 the variance, in place (both float64, as the portable kernel's).
      for (let ch = 0; ch < c; ch++) {
        const m = s1v![ch]! / count;
        const v = s2v![ch]! / count - m * m;
        s1v![ch] = kv![ch]! + m;
        s2v![ch] = v < 0 ? 0 : v; // rounding never makes it negative; NaN stays NaN
        mo[ch] = s1v![ch]!;
        vo[ch] = s2v![ch]!;
      }
      channelScale(scv, s2v!, attrs['eps'] as number, w ? f32At(backend, w.storage) : null);
      if (b) shv.set(f32At(backend, b.storage));
      else shv.fill(0);
      kernels().bnApply(x!.storage.ptr, y.ptr, outer, c, inner, s1!, sc!, sh!);
    });
    return [y, meanOut, varOut];
  };
};

const batchNormTrainingGradKernel: Factory = (backend) => {
  const kernels = lazyKernels(backend);
  const scratch = reusedScratch(backend);
  return ([x, dy, mean, variance, dMean, dVar, w], attrs: Attrs, _types, outs) => {
    const { outer, c, inner } = channelGeometry(x!);
    const dx = outs?.[0] ?? backend.alloc('float32', x!.storage.size);
    const dw = outs?.[1] ?? backend.alloc('float32', c), db = outs?.[2] ?? backend.alloc('float32', c);
    withVectors(backend, scratch, 6, c, ([m, s1, s2, a, k1, k0], views) => {
      let [mv, s1v, s2v] = views();
      mv!.set(f32At(backend, mean!.storage));
      s1v!.fill(0);
      s2v!.fill(0);
      kernels().bnGradSums(x!.storage.ptr, dy!.storage.ptr, outer, c, inner, m!, s1!, s2!);
      let av: Float64Array, k1v: Float64Array, k0v: Float64Array;
      [mv, s1v, s2v, av, k1v, k0v] = views() as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
      const count = outer * inner, eps = attrs['eps'] as number;
      const vs = f32At(backend, variance!.storage), dms = f32At(backend, dMean!.storage), dvs = f32At(backend, dVar!.storage);
      const ws = w ? f32At(backend, w.storage) : null;
      const dwv = f32At(backend, dw), dbv = f32At(backend, db);
      for (let ch = 0; ch < c; ch++) {
        const invstd = 1 / Math.sqrt(vs[ch]! + eps);
        av[ch] = invstd * (ws ? ws[ch]! : 1);
        k1v[ch] = (2 * dvs[ch]! - av[ch]! * invstd * invstd * s2v![ch]!) / count;
        k0v[ch] = (dms[ch]! - av[ch]! * s1v![ch]!) / count;
        dwv[ch] = s2v![ch]! * invstd;
        dbv[ch] = s1v![ch]!;
      }
      kernels().bnGradApply(x!.storage.ptr, dy!.storage.ptr, dx.ptr, outer, c, inner, m!, a!, k1!, k0!);
    });
    return [dx, dw, db];
  };
};

const layerNormKernel: Factory = (backend) => {
  const kernels = lazyKernels(backend);
  return ([x, w, b], attrs: Attrs, _types, outs) => {
    const { rows, len } = rowsOf(x!.shape, attrs['axis'] as number);
    const y = outs?.[0] ?? backend.alloc('float32', x!.storage.size);
    kernels()[layerNormName(Boolean(w), Boolean(b))]!(x!.storage.ptr, y.ptr, w ? w.storage.ptr : 0, b ? b.storage.ptr : 0, rows, len, attrs['eps'] as number);
    return oneOutput(y, outs);
  };
};

/** Rows and row length of a layer-normalized x (axes from `axis` on form a row). */
function rowsOf(shape: readonly number[], axis: number): { rows: number; len: number } {
  let rows = 1, len = 1;
  shape.forEach((d, i) => {
    if (i < axis) rows *= d;
    else len *= d;
  });
  return { rows, len };
}

const layerNormGradKernel: Factory = (backend) => {
  const kernels = lazyKernels(backend);
  const scratch = reusedScratch(backend);
  return ([x, dy, w], attrs: Attrs, _types, outs) => {
    const { rows, len } = rowsOf(x!.shape, attrs['axis'] as number);
    const dx = outs?.[0] ?? backend.alloc('float32', x!.storage.size);
    const dw = outs?.[1] ?? backend.alloc('float32', len), db = outs?.[2] ?? backend.alloc('float32', len);
    withVectors(backend, scratch, 2, len, ([sw, sb], views) => {
      for (const v of views()) v.fill(0);
      kernels()[layerNormGradName(Boolean(w))]!(x!.storage.ptr, dy!.storage.ptr, dx.ptr, w ? w.storage.ptr : 0, sw!, sb!, rows, len, attrs['eps'] as number);
      const [swv, sbv] = views();
      f32At(backend, dw).set(swv!);
      f32At(backend, db).set(sbv!);
    });
    return [dx, dw, db];
  };
};

registerNativeKernels({
  batchNorm: batchNormKernel,
  batchNormTraining: batchNormTrainingKernel,
  batchNormTrainingGrad: batchNormTrainingGradKernel,
  layerNorm: layerNormKernel,
  layerNormGrad: layerNormGradKernel,
});
