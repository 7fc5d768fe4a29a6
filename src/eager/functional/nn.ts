import { isFloat } from '../../ir/index.js';
import * as ops from '../../ops/nn.js';
import { bernoulli } from '../creation.js';
import { opError, run1 } from '../dispatch.js';
import { Tensor } from '../tensor.js';

/** One integer for both spatial axes, or `[height, width]`. */
export type Pair = number | readonly [number, number];

export interface Conv2dOptions { stride?: Pair; padding?: Pair | 'same' | 'valid'; dilation?: Pair; groups?: number }
export interface ConvTranspose2dOptions { stride?: Pair; padding?: Pair; outputPadding?: Pair; dilation?: Pair; groups?: number }
export interface Pool2dOptions { stride?: Pair; padding?: Pair }

function checkTensor(op: string, name: string, x: unknown): asserts x is Tensor {
  if (!(x instanceof Tensor)) throw opError(op, `${name} must be a Tensor, got ${x === null ? 'null' : typeof x}`);
}

/** Validates an int-or-pair argument; returns `[h, w]`. */
function pair(op: string, name: string, v: Pair, min: number, inputs: readonly Tensor[]): [number, number] {
  const p = typeof v === 'number' ? [v, v] : Array.isArray(v) && v.length === 2 ? [v[0], v[1]] : null;
  if (!p || !p.every((d) => Number.isInteger(d) && d >= min)) {
    throw opError(op, `${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`, inputs);
  }
  return p as [number, number];
}

function positiveInt(op: string, name: string, v: number, inputs: readonly Tensor[]): number {
  if (!Number.isInteger(v) || v < 1) throw opError(op, `${name} must be a positive integer, got ${String(v)}`, inputs);
  return v;
}

/** Accepts NCHW or unbatched CHW (as PyTorch does); returns the 4-D view. */
function batched(op: string, x: Tensor, inputs: readonly Tensor[]): Tensor {
  if (x.rank === 4) return x;
  if (x.rank === 3) return x.reshape([1, ...x.shape]);
  throw opError(op, `input must be 4-D (NCHW) or 3-D (CHW), got rank ${x.rank}`, inputs);
}

function unbatch(x: Tensor, y: Tensor): Tensor {
  return x.rank === 3 ? y.reshape(y.shape.slice(1)) : y;
}

function convInputs(op: string, x: Tensor, weight: Tensor, bias: Tensor | null | undefined): Tensor[] {
  checkTensor(op, 'input', x);
  checkTensor(op, 'weight', weight);
  const inputs = [x, weight];
  if (bias !== null && bias !== undefined) {
    checkTensor(op, 'bias', bias);
    inputs.push(bias);
  }
  if (weight.rank !== 4) throw opError(op, `weight must be 4-D, got shape [${weight.shape.join(', ')}]`, inputs);
  return inputs;
}

/**
 * 2-D convolution (PyTorch `F.conv2d`): input `[N, C, H, W]` (or unbatched `[C, H, W]`),
 * weight `[O, C/groups, kH, kW]`, optional bias `[O]`. `padding: 'same'` (stride 1 only)
 * pads so the output keeps the input's size, the odd extra going right/bottom.
 *
 * @example
 * ```ts
 * const x = kiln.randn([8, 3, 32, 32]);
 * const w = kiln.randn([16, 3, 3, 3], { requiresGrad: true });
 * const y = kiln.conv2d(x, w, null, { stride: 2, padding: 1 }); // [8, 16, 16, 16]
 * ```
 */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  const inputs = convInputs('conv2d', x, weight, bias);
  const stride = pair('conv2d', 'stride', options.stride ?? 1, 1, inputs);
  const dilation = pair('conv2d', 'dilation', options.dilation ?? 1, 1, inputs);
  const groups = positiveInt('conv2d', 'groups', options.groups ?? 1, inputs);
  const padding = options.padding ?? 0;
  let pads: number[];
  if (padding === 'valid') pads = [0, 0, 0, 0];
  else if (padding === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) throw opError('conv2d', "padding='same' is not supported for strided convolutions", inputs);
    const total = [dilation[0] * (weight.shape[2]! - 1), dilation[1] * (weight.shape[3]! - 1)];
    const lo = total.map((t) => Math.floor(t / 2));
    pads = [lo[0]!, lo[1]!, total[0]! - lo[0]!, total[1]! - lo[1]!];
  } else {
    const [ph, pw] = pair('conv2d', 'padding', padding, 0, inputs);
    pads = [ph, pw, ph, pw];
  }
  const x4 = batched('conv2d', x, inputs);
  inputs[0] = x4;
  return unbatch(x, run1(ops.conv2d, inputs, { strides: stride, pads, dilations: dilation, group: groups }));
}

/**
 * Transposed 2-D convolution (PyTorch `F.conv_transpose2d`): input `[N, C, H, W]`, weight
 * `[C, O/groups, kH, kW]`, optional bias `[O]`; output size
 * `(H − 1)·stride − 2·padding + dilation·(kH − 1) + outputPadding + 1`.
 *
 * @example
 * ```ts
 * const x = kiln.randn([1, 16, 8, 8]);
 * const w = kiln.randn([16, 8, 4, 4]);
 * kiln.convTranspose2d(x, w, null, { stride: 2, padding: 1 }).shape; // [1, 8, 16, 16]
 * ```
 */
export function convTranspose2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options: ConvTranspose2dOptions = {}): Tensor {
  const op = 'convTranspose2d';
  const inputs = convInputs(op, x, weight, bias);
  const stride = pair(op, 'stride', options.stride ?? 1, 1, inputs);
  const dilation = pair(op, 'dilation', options.dilation ?? 1, 1, inputs);
  const groups = positiveInt(op, 'groups', options.groups ?? 1, inputs);
  const [ph, pw] = pair(op, 'padding', options.padding ?? 0, 0, inputs);
  const outputPadding = pair(op, 'outputPadding', options.outputPadding ?? 0, 0, inputs);
  for (let a = 0; a < 2; a++) {
    if (outputPadding[a]! >= Math.max(stride[a]!, dilation[a]!)) {
      throw opError(op, `outputPadding [${outputPadding.join(', ')}] must be smaller than either stride [${stride.join(', ')}] or dilation [${dilation.join(', ')}]`, inputs);
    }
  }
  inputs[0] = batched(op, x, inputs);
  return unbatch(x, run1(ops.convTranspose2d, inputs, { strides: stride, pads: [ph, pw, ph, pw], dilations: dilation, group: groups, outputPadding }));
}

function poolAttrs(op: string, x: Tensor, kernelSize: Pair, options: Pool2dOptions): { kernelShape: number[]; strides: number[]; pads: number[] } {
  const k = pair(op, 'kernelSize', kernelSize, 1, [x]);
  const s = options.stride === undefined || options.stride === null ? k : pair(op, 'stride', options.stride, 1, [x]);
  const p = pair(op, 'padding', options.padding ?? 0, 0, [x]);
  if (2 * p[0] > k[0] || 2 * p[1] > k[1]) throw opError(op, `padding [${p.join(', ')}] should be at most half of the kernel size [${k.join(', ')}]`, [x]);
  return { kernelShape: k, strides: s, pads: [p[0], p[1], p[0], p[1]] };
}

/**
 * 2-D max pooling (PyTorch `F.max_pool2d`); `stride` defaults to `kernelSize`, padding is
 * −∞. The gradient goes to the first maximum of each window.
 *
 * @example
 * ```ts
 * kiln.maxPool2d(kiln.randn([8, 16, 28, 28]), 2).shape; // [8, 16, 14, 14]
 * ```
 */
export function maxPool2d(x: Tensor, kernelSize: Pair, options: Pool2dOptions = {}): Tensor {
  checkTensor('maxPool2d', 'input', x);
  const attrs = poolAttrs('maxPool2d', x, kernelSize, options);
  return unbatch(x, run1(ops.maxPool2d, [batched('maxPool2d', x, [x])], attrs));
}

/**
 * 2-D average pooling (PyTorch `F.avg_pool2d`); `stride` defaults to `kernelSize`. With
 * `countIncludePad: false` padded zeros are left out of each window's divisor.
 *
 * @example
 * ```ts
 * kiln.avgPool2d(kiln.randn([1, 3, 8, 8]), 3, { stride: 2, padding: 1 }).shape; // [1, 3, 4, 4]
 * ```
 */
export function avgPool2d(x: Tensor, kernelSize: Pair, options: Pool2dOptions & { countIncludePad?: boolean } = {}): Tensor {
  checkTensor('avgPool2d', 'input', x);
  const attrs = { ...poolAttrs('avgPool2d', x, kernelSize, options), countIncludePad: options.countIncludePad ?? true };
  return unbatch(x, run1(ops.avgPool2d, [batched('avgPool2d', x, [x])], attrs));
}

/**
 * Inverted dropout (PyTorch `F.dropout`): zeroes each element with probability `p` and
 * scales the rest by `1/(1−p)`; identity when `training` is false or `p` is 0. The mask
 * comes from `bernoulli` (Philox), so a `seed` gives the same mask on every backend.
 *
 * @example
 * ```ts
 * const y = kiln.dropout(x, 0.3, { seed: 1 });         // training
 * kiln.dropout(x, 0.3, { training: false }) === x;     // identity
 * ```
 */
export function dropout(x: Tensor, p = 0.5, options: { training?: boolean; seed?: number } = {}): Tensor {
  checkTensor('dropout', 'input', x);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw opError('dropout', `dropout probability has to be between 0 and 1, but got ${String(p)}`, [x]);
  if (options.training === false || p === 0) return x;
  if (!isFloat(x.dtype)) throw opError('dropout', `dropout needs a floating-point input, got ${x.dtype}`, [x]);
  if (p === 1) return x.mul(0);
  const keep = x.fullLike(1 - p);
  const mask = bernoulli(keep, options.seed === undefined ? {} : { seed: options.seed });
  keep.dispose();
  // mask·scale as one constant: x's gradient is then exactly mask·scale.
  const scaled = mask.mul(1 / (1 - p));
  mask.dispose();
  return x.mul(scaled);
}
