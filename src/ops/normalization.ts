/**
 * Normalization layers as ops of their own, so passes (BN folding), kernels (statistics
 * in one pass, closed-form backward) and ONNX see them whole. Each has a decomposition
 * into primitives (its meaning; what backends without a kernel run).
 *
 * - `batchNorm(x, mean, var, weight?, bias?)` {eps}: inference form, normalizes x [N, C, ...]
 *   per channel by given statistics (PyTorch `F.batch_norm(training=False)`; input order as
 *   PyTorch's, ONNX BatchNormalization's differs).
 * - `batchNormTraining(x, weight?, bias?)` {eps} → (y, mean, var): normalizes by the batch's
 *   mean and biased variance over all axes but 1, and returns them ([C]) for the running
 *   statistics (PyTorch `native_batch_norm(training=True)`, which returns 1/σ instead).
 * - `layerNorm(x, weight?, bias?)` {axis, eps}: normalizes over the axes from `axis` on
 *   (ONNX LayerNormalization's `axis`; PyTorch's `normalized_shape` is `x.shape[axis:]`).
 *
 * Variances are biased (÷n), as both normalize. The backward passes are closed forms
 * (PyTorch's `native_batch_norm_backward` / `native_layer_norm_backward`), run by the
 * internal ops `batchNormTrainingGrad` and `layerNormGrad`, whose own gradients go through
 * their decompositions.
 */
import { dimEquals, formatDim, gradThroughDecomposition, isFloat, KilnError, registerOp, symbolicInfer, type Attrs, type Dim, type IrAttrs, type ValueType } from '../ir/index.js';
import type { AnyTensor } from './tensorLike.js';

// Shape rules are written over dims (symbolicInfer), so inferNode is exact for a symbolic
// batch or sequence: one rule for eager dispatch and for the compiler.
const formatShape = (shape: readonly Dim[]): string => `[${shape.map(formatDim).join(', ')}]`;
const sameShape = (a: readonly Dim[], b: readonly Dim[]): boolean => a.length === b.length && a.every((d, i) => dimEquals(d, b[i]!));

function checkDtypes(op: string, ts: readonly (ValueType | undefined)[]): void {
  const dtype = ts[0]!.dtype;
  if (!isFloat(dtype)) throw new KilnError(`${op} needs floating-point inputs, got ${dtype}`);
  for (const t of ts) if (t && t.dtype !== dtype) throw new KilnError(`${op} inputs must share one dtype, got ${dtype} and ${t.dtype}`);
}

function checkChannelInput(x: ValueType): Dim {
  if (x.shape.length < 2) throw new KilnError(`input must have a channel dimension ([N, C, ...]), got shape ${formatShape(x.shape)}`);
  return x.shape[1]!;
}

function checkPerChannel(ts: readonly (ValueType | undefined)[], names: readonly string[], c: Dim): void {
  ts.forEach((t, i) => {
    if (t && (t.shape.length !== 1 || !dimEquals(t.shape[0]!, c))) throw new KilnError(`${names[i]} must have shape [${formatDim(c)}] (one per channel), got ${formatShape(t.shape)}`);
  });
}

/** Axes a per-channel statistic reduces: all but 1. */
function channelAxes(rank: number): number[] {
  const axes = [0];
  for (let d = 2; d < rank; d++) axes.push(d);
  return axes;
}

/** `[1, C, 1, …]`: a per-channel vector reshaped to broadcast against a rank-`rank` input. */
function perChannel(t: AnyTensor, rank: number): AnyTensor {
  const shape = new Array<number>(rank).fill(1);
  shape[1] = t.shape[0]!;
  return t.reshape(shape);
}

function eps(attrs: Attrs): number {
  return attrs['eps'] as number;
}

/** `[mean, x − mean]` over `axes` (kept dims), the mean corrected once for large offsets (as eager/functional/centered.ts). */
function centered(x: AnyTensor, axes: readonly number[]): [AnyTensor, AnyTensor] {
  const m0 = x.mean(axes, { keepDims: true });
  const shifted = x.sub(m0);
  // x − m0 is exact (Sterbenz); its own mean is the rounding error of m0.
  const m1 = shifted.mean(axes, { keepDims: true });
  return [m0.add(m1), shifted.sub(m1)];
}

// ---- batchNorm (inference) ------------------------------------------------------------

export const batchNorm = registerOp<AnyTensor>({
  name: 'batchNorm',
  arity: [3, 5],
  doc: 'Batch normalization by given statistics (inference): (x − mean)/√(var + eps)·weight + bias per channel (axis 1); inputs x, mean, var, weight?, bias? (attr eps).',
  ...symbolicInfer(([x, mean, variance, w, b]) => {
    checkDtypes('batchNorm', [x, mean, variance, w, b]);
    const c = checkChannelInput(x!);
    checkPerChannel([mean, variance, w, b], ['running mean', 'running variance', 'weight', 'bias'], c);
    return [{ shape: x!.shape, dtype: x!.dtype }];
  }),
  decompose: ([x, mean, variance, w, b], attrs) => {
    const r = x!.rank;
    let scale = variance!.add(eps(attrs)).rsqrt();
    if (w) scale = scale.mul(w);
    const y = x!.sub(perChannel(mean!, r)).mul(perChannel(scale, r));
    return [b ? y.add(perChannel(b, r)) : y];
  },
  // y = (x − m)·s·w + b with s = (v + eps)^-½: every partial is per channel, so one
  // full-size product each.
  grad: ({ inputs: [x, mean, variance, w, b], dys: [dy], attrs, needs }) => {
    const r = x!.rank;
    const axes = channelAxes(r);
    const invstd = variance!.add(eps(attrs)).rsqrt();
    const scale = w ? invstd.mul(w) : invstd;
    const sumDy = needs[1] || (b && needs[4]) ? dy!.sum(axes) : null;
    // Σ dy·(x − m) per channel: for the weight and the variance.
    const sumDyXc = needs[2] || (w && needs[3]) ? dy!.mul(x!.sub(perChannel(mean!, r))).sum(axes) : null;
    return [
      needs[0] ? dy!.mul(perChannel(scale, r)) : null,
      needs[1] ? sumDy!.mul(scale).neg() : null,
      needs[2] ? sumDyXc!.mul(scale).mul(invstd.square()).mul(-0.5) : null,
      w && needs[3] ? sumDyXc!.mul(invstd) : null,
      b && needs[4] ? sumDy! : null,
    ];
  },
});

// ---- batchNormTraining -----------------------------------------------------------------

export const batchNormTraining = registerOp<AnyTensor>({
  name: 'batchNormTraining',
  arity: [1, 3],
  doc: 'Batch normalization by the batch\'s statistics (training): outputs y, the per-channel mean and biased variance [C]; inputs x [N, C, ...], weight?, bias? (attr eps).',
  ...symbolicInfer(([x, w, b]) => {
    checkDtypes('batchNormTraining', [x, w, b]);
    const c = checkChannelInput(x!);
    checkPerChannel([w, b], ['weight', 'bias'], c);
    const stat: ValueType = { shape: [c], dtype: x!.dtype };
    return [{ shape: x!.shape, dtype: x!.dtype }, stat, { ...stat }];
  }),
  decompose: ([x, w, b], attrs) => {
    const r = x!.rank;
    const axes = channelAxes(r);
    const [mean, xc] = centered(x!, axes);
    const variance = xc.square().mean(axes, { keepDims: true });
    let y = xc.mul(variance.add(eps(attrs)).rsqrt());
    if (w) y = y.mul(perChannel(w, r));
    if (b) y = y.add(perChannel(b, r));
    const c = x!.shape[1]!;
    return [y, mean.reshape([c]), variance.reshape([c])];
  },
  grad: ({ inputs: [x, w, b], outputs: [, mean, variance], dys: [dy, dMean, dVar], attrs, needs }) => {
    const [dx, dw, db] = x!.applyOp('batchNormTrainingGrad', [dy!, mean!, variance!, dMean!, dVar!, ...(w ? [w] : [])], { eps: eps(attrs) });
    return [needs[0] ? dx! : null, w && needs[1] ? dw! : null, b && needs[2] ? db! : null];
  },
});

/**
 * dx = a·dy + k₁·(x − m) + k₀ per channel, with a = σ⁻¹w, k₁ = 2·dvar/n − w·σ⁻³·Σdy(x − m)/n,
 * k₀ = dmean/n − σ⁻¹w·Σdy/n (the mean and variance outputs' gradients included);
 * dw = σ⁻¹·Σdy(x − m), db = Σdy.
 */
export const batchNormTrainingGrad = registerOp<AnyTensor>({
  name: 'batchNormTrainingGrad',
  arity: [6, 7],
  internalFor: 'batchNormTraining',
  doc: 'Backward of batchNormTraining: inputs x, dy, mean, var, dmean, dvar, weight? → dx, dweight [C], dbias [C] (attr eps).',
  ...symbolicInfer(([x, dy, mean, variance, dMean, dVar, w]) => {
    checkDtypes('batchNormTrainingGrad', [x, dy, mean, variance, dMean, dVar, w]);
    const c = checkChannelInput(x!);
    if (!sameShape(dy!.shape, x!.shape)) throw new KilnError(`output gradient ${formatShape(dy!.shape)} does not match the input ${formatShape(x!.shape)}`);
    checkPerChannel([mean, variance, dMean, dVar, w], ['mean', 'variance', 'mean gradient', 'variance gradient', 'weight'], c);
    const stat: ValueType = { shape: [c], dtype: x!.dtype };
    return [{ shape: x!.shape, dtype: x!.dtype }, stat, { ...stat }];
  }),
  decompose: ([x, dy, mean, variance, dMean, dVar, w], attrs) => {
    const r = x!.rank;
    const axes = channelAxes(r);
    const n = x!.applyOp('elementCount', [], { axes, dtype: x!.dtype })[0]!;
    const invstd = variance!.add(eps(attrs)).rsqrt();
    const xc = x!.sub(perChannel(mean!, r));
    const sumDy = dy!.sum(axes);
    const sumDyXc = dy!.mul(xc).sum(axes);
    const a = w ? invstd.mul(w) : invstd;
    const k1 = dVar!.mul(2).sub(a.mul(invstd.square()).mul(sumDyXc)).div(n);
    const k0 = dMean!.sub(a.mul(sumDy)).div(n);
    const dx = dy!.mul(perChannel(a, r)).add(xc.mul(perChannel(k1, r))).add(perChannel(k0, r));
    return [dx, sumDyXc.mul(invstd), sumDy];
  },
  grad: gradThroughDecomposition,
});

// ---- layerNorm --------------------------------------------------------------------------

function normalizedAxes(rank: number, attrs: Attrs): number[] {
  const axes: number[] = [];
  for (let d = attrs['axis'] as number; d < rank; d++) axes.push(d);
  return axes;
}

function checkLayerNorm(op: string, x: ValueType, attrs: IrAttrs, params: readonly (ValueType | undefined)[], names: readonly string[]): Dim[] {
  const axis = attrs['axis'] as number;
  if (!Number.isInteger(axis) || axis < 0 || axis >= x.shape.length) throw new KilnError(`${op}: axis ${axis} is out of range for input ${formatShape(x.shape)}`);
  const tail = x.shape.slice(axis);
  params.forEach((t, i) => {
    if (t && !sameShape(t.shape, tail)) throw new KilnError(`${names[i]} must have the normalized shape ${formatShape(tail)}, got ${formatShape(t.shape)}`);
  });
  return tail;
}

export const layerNorm = registerOp<AnyTensor>({
  name: 'layerNorm',
  arity: [1, 3],
  doc: 'Layer normalization over the axes from attr axis on, by their mean and biased variance, then ·weight + bias (shaped as those axes); attrs axis, eps.',
  ...symbolicInfer(([x, w, b], attrs) => {
    checkDtypes('layerNorm', [x, w, b]);
    checkLayerNorm('layerNorm', x!, attrs, [w, b], ['weight', 'bias']);
    return [{ shape: x!.shape, dtype: x!.dtype }];
  }),
  decompose: ([x, w, b], attrs) => {
    const axes = normalizedAxes(x!.rank, attrs);
    const [, xc] = centered(x!, axes);
    const variance = xc.square().mean(axes, { keepDims: true });
    let y = xc.mul(variance.add(eps(attrs)).rsqrt());
    if (w) y = y.mul(w);
    if (b) y = y.add(b);
    return [y];
  },
  grad: ({ inputs: [x, w, b], dys: [dy], attrs, needs }) => {
    const [dx, dw, db] = x!.applyOp('layerNormGrad', w ? [dy!, w] : [dy!], { axis: attrs['axis'] as number, eps: eps(attrs) });
    return [needs[0] ? dx! : null, w && needs[1] ? dw! : null, b && needs[2] ? db! : null];
  },
});

/**
 * Per normalized slice, with x̂ = (x − μ)·σ⁻¹ and g = dy·w:
 * dx = σ⁻¹·(g − mean(g) − x̂·mean(g·x̂)); dw = Σ over slices dy·x̂, db = Σ dy.
 */
export const layerNormGrad = registerOp<AnyTensor>({
  name: 'layerNormGrad',
  arity: [2, 3],
  internalFor: 'layerNorm',
  doc: 'Backward of layerNorm: inputs x, dy, weight? → dx, dweight, dbias (the normalized shape); attrs axis, eps.',
  ...symbolicInfer(([x, dy, w], attrs) => {
    checkDtypes('layerNormGrad', [x, dy, w]);
    if (!sameShape(dy!.shape, x!.shape)) throw new KilnError(`output gradient ${formatShape(dy!.shape)} does not match the input ${formatShape(x!.shape)}`);
    const tail = checkLayerNorm('layerNormGrad', x!, attrs, [w], ['weight']);
    return [{ shape: x!.shape, dtype: x!.dtype }, { shape: tail, dtype: x!.dtype }, { shape: tail, dtype: x!.dtype }];
  }),
  decompose: ([x, dy, w], attrs) => {
    const axes = normalizedAxes(x!.rank, attrs);
    const lead: number[] = [];
    for (let d = 0; d < (attrs['axis'] as number); d++) lead.push(d);
    const [, xc] = centered(x!, axes);
    const invstd = xc.square().mean(axes, { keepDims: true }).add(eps(attrs)).rsqrt();
    const xhat = xc.mul(invstd);
    const g = w ? dy!.mul(w) : dy!;
    const meanG = g.mean(axes, { keepDims: true });
    const meanGx = g.mul(xhat).mean(axes, { keepDims: true });
    const dx = g.sub(meanG).sub(xhat.mul(meanGx)).mul(invstd);
    return [dx, dy!.mul(xhat).sum(lead), dy!.sum(lead)];
  },
  grad: gradThroughDecomposition,
});
