// Weight initializers (PyTorch `torch.nn.init`): each overwrites a tensor in place,
// without recording on the tape, and returns it. Random ones take `{ seed }`; without
// one they draw from the global stream (`kiln.manualSeed`).
import { KilnError, noGrad, normal, Tensor, tensor, uniform } from '../eager/index.js';

/** Options of the random initializers. */
export interface InitRandomOptions {
  /** Seed of this call's Philox stream; default: the global generator. */
  seed?: number;
}

/** Nonlinearities known to `calculateGain` (PyTorch names, camelCased). */
export type Nonlinearity =
  | 'linear' | 'identity'
  | 'conv1d' | 'conv2d' | 'conv3d' | 'convTranspose1d' | 'convTranspose2d' | 'convTranspose3d'
  | 'sigmoid' | 'tanh' | 'relu' | 'leakyRelu' | 'selu';

/** Which fan scales the variance: `fanIn` keeps forward activations' variance, `fanOut` the gradients'. */
export type FanMode = 'fanIn' | 'fanOut';

/** Options of `kaimingUniform_` / `kaimingNormal_`. */
export interface KaimingOptions extends InitRandomOptions {
  /** Negative slope of the leaky ReLU that follows (used when `nonlinearity` is `leakyRelu`). Default 0. */
  a?: number;
  /** Default `fanIn`. */
  mode?: FanMode;
  /** Default `leakyRelu` (with `a` = 0 that is ReLU's gain √2), as PyTorch. */
  nonlinearity?: Nonlinearity;
}

/** Options of initializers scaled by a gain (`xavier*`, `orthogonal_`). */
export interface GainOptions extends InitRandomOptions {
  /** Multiplies the scale; default 1. */
  gain?: number;
}

function fail(op: string, message: string): never {
  throw new KilnError(message, { op });
}

function checkTensor(op: string, t: unknown): asserts t is Tensor {
  if (!(t instanceof Tensor)) fail(op, `expected a Tensor, got ${t === null ? 'null' : typeof t}`);
  if (t.dtype !== 'float32' && t.dtype !== 'float64') fail(op, `only floating-point tensors can be initialized, got ${t.dtype}`);
}

/** Overwrites `t` with `values` (same shape) outside the tape; frees `values`. */
function fill(t: Tensor, values: Tensor): Tensor {
  try {
    noGrad(() => t.copy_(values));
  } finally {
    values.dispose();
  }
  return t;
}

/**
 * Fan-in and fan-out of a weight of this shape, as PyTorch computes them: dimension 1
 * is the inputs, dimension 0 the outputs, and any further dimensions (a convolution's
 * kernel) multiply both.
 *
 * @example
 * ```ts
 * kiln.nn.init.calculateFanInAndFanOut([16, 3, 5, 5]); // { fanIn: 75, fanOut: 400 }
 * ```
 */
export function calculateFanInAndFanOut(tensorOrShape: Tensor | readonly number[]): { fanIn: number; fanOut: number } {
  const shape = tensorOrShape instanceof Tensor ? tensorOrShape.shape : tensorOrShape;
  if (shape.length < 2) fail('calculateFanInAndFanOut', `fan in and fan out can not be computed for a tensor with fewer than 2 dimensions, got shape [${shape.join(', ')}]`);
  let receptive = 1;
  for (let i = 2; i < shape.length; i++) receptive *= shape[i]!;
  return { fanIn: shape[1]! * receptive, fanOut: shape[0]! * receptive };
}

/**
 * The recommended gain for a nonlinearity (PyTorch `calculate_gain`): 1 for linear,
 * convolutions and sigmoid, 5/3 for tanh, √2 for ReLU, √(2/(1+a²)) for leaky ReLU with
 * negative slope `param` (default 0.01), 3/4 for SELU.
 *
 * @example
 * ```ts
 * kiln.nn.init.calculateGain('relu'); // 1.4142…
 * ```
 */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear': case 'identity':
    case 'conv1d': case 'conv2d': case 'conv3d':
    case 'convTranspose1d': case 'convTranspose2d': case 'convTranspose3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leakyRelu': {
      const slope = param ?? 0.01;
      if (!Number.isFinite(slope)) fail('calculateGain', `negative slope ${slope} is not a valid number`);
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      return fail('calculateGain', `unsupported nonlinearity '${String(nonlinearity)}'`);
  }
}

function correctFan(op: string, t: Tensor, mode: FanMode): number {
  if (mode !== 'fanIn' && mode !== 'fanOut') fail(op, `mode must be 'fanIn' or 'fanOut', got '${String(mode)}'`);
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  return mode === 'fanIn' ? fanIn : fanOut;
}

function sampleOptions(t: Tensor, seed: number | undefined) {
  return { seed, dtype: t.dtype, backend: t.backend.name };
}

/**
 * Fills `t` with 0.
 *
 * @example
 * ```ts
 * kiln.nn.init.zeros_(linear.bias!);
 * ```
 */
export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}

/**
 * Fills `t` with 1.
 *
 * @example
 * ```ts
 * kiln.nn.init.ones_(bn.weight!);
 * ```
 */
export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}

/**
 * Fills `t` with `value`.
 *
 * @example
 * ```ts
 * kiln.nn.init.constant_(linear.bias!, 0.1);
 * ```
 */
export function constant_(t: Tensor, value: number): Tensor {
  checkTensor('constant_', t);
  noGrad(() => t.copy_(value));
  return t;
}

/**
 * Fills `t` with samples of U[a, b).
 *
 * @example
 * ```ts
 * kiln.nn.init.uniform_(w, -0.1, 0.1, { seed: 0 });
 * ```
 */
export function uniform_(t: Tensor, a = 0, b = 1, options: InitRandomOptions = {}): Tensor {
  checkTensor('uniform_', t);
  if (!(a <= b)) fail('uniform_', `need a <= b, got a = ${a}, b = ${b}`);
  return fill(t, uniform(t.shape, a, b, sampleOptions(t, options.seed)));
}

/**
 * Fills `t` with samples of N(mean, std²).
 *
 * @example
 * ```ts
 * kiln.nn.init.normal_(w, 0, 0.02, { seed: 0 });
 * ```
 */
export function normal_(t: Tensor, mean = 0, std = 1, options: InitRandomOptions = {}): Tensor {
  checkTensor('normal_', t);
  if (!(std >= 0)) fail('normal_', `std must be non-negative, got ${std}`);
  return fill(t, normal(t.shape, mean, std, sampleOptions(t, options.seed)));
}

/**
 * Glorot/Xavier uniform: U[−b, b] with b = gain·√6/√(fanIn + fanOut), which keeps the
 * variance of activations and gradients alike across layers (Glorot & Bengio 2010).
 *
 * @example
 * ```ts
 * kiln.nn.init.xavierUniform_(linear.weight, { seed: 0 });
 * ```
 */
export function xavierUniform_(t: Tensor, options: GainOptions = {}): Tensor {
  checkTensor('xavierUniform_', t);
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const bound = (options.gain ?? 1) * Math.sqrt(6 / (fanIn + fanOut));
  return fill(t, uniform(t.shape, -bound, bound, sampleOptions(t, options.seed)));
}

/**
 * Glorot/Xavier normal: N(0, std²) with std = gain·√(2/(fanIn + fanOut)).
 *
 * @example
 * ```ts
 * kiln.nn.init.xavierNormal_(linear.weight, { seed: 0 });
 * ```
 */
export function xavierNormal_(t: Tensor, options: GainOptions = {}): Tensor {
  checkTensor('xavierNormal_', t);
  const { fanIn, fanOut } = calculateFanInAndFanOut(t);
  const std = (options.gain ?? 1) * Math.sqrt(2 / (fanIn + fanOut));
  return fill(t, normal(t.shape, 0, std, sampleOptions(t, options.seed)));
}

function kaimingStd(op: string, t: Tensor, options: KaimingOptions): number {
  const fan = correctFan(op, t, options.mode ?? 'fanIn');
  const gain = calculateGain(options.nonlinearity ?? 'leakyRelu', options.a ?? 0);
  return fan === 0 ? 0 : gain / Math.sqrt(fan);
}

/**
 * He/Kaiming uniform: U[−b, b] with b = gain·√(3/fan) (He et al. 2015). PyTorch's
 * defaults (a = 0, fanIn, leakyRelu) give b = √(6/fanIn). PyTorch's Linear and Conv
 * layers use it with a = √5, i.e. b = 1/√fanIn.
 *
 * @example
 * ```ts
 * kiln.nn.init.kaimingUniform_(conv.weight, { nonlinearity: 'relu', seed: 0 });
 * ```
 */
export function kaimingUniform_(t: Tensor, options: KaimingOptions = {}): Tensor {
  checkTensor('kaimingUniform_', t);
  const bound = Math.sqrt(3) * kaimingStd('kaimingUniform_', t, options);
  return fill(t, uniform(t.shape, -bound, bound, sampleOptions(t, options.seed)));
}

/**
 * He/Kaiming normal: N(0, std²) with std = gain/√fan (√(2/fanIn) for ReLU).
 *
 * @example
 * ```ts
 * kiln.nn.init.kaimingNormal_(conv.weight, { mode: 'fanOut', nonlinearity: 'relu', seed: 0 });
 * ```
 */
export function kaimingNormal_(t: Tensor, options: KaimingOptions = {}): Tensor {
  checkTensor('kaimingNormal_', t);
  const std = kaimingStd('kaimingNormal_', t, options);
  return fill(t, normal(t.shape, 0, std, sampleOptions(t, options.seed)));
}

/**
 * LeCun uniform: U[−b, b] with b = √(3/fanIn), i.e. variance 1/fanIn (suits SELU/tanh).
 *
 * @example
 * ```ts
 * kiln.nn.init.lecunUniform_(linear.weight, { seed: 0 });
 * ```
 */
export function lecunUniform_(t: Tensor, options: InitRandomOptions = {}): Tensor {
  checkTensor('lecunUniform_', t);
  const { fanIn } = calculateFanInAndFanOut(t);
  const bound = fanIn === 0 ? 0 : Math.sqrt(3 / fanIn);
  return fill(t, uniform(t.shape, -bound, bound, sampleOptions(t, options.seed)));
}

/**
 * LeCun normal: N(0, 1/fanIn). (Plain normal, not Keras's truncated one.)
 *
 * @example
 * ```ts
 * kiln.nn.init.lecunNormal_(linear.weight, { seed: 0 });
 * ```
 */
export function lecunNormal_(t: Tensor, options: InitRandomOptions = {}): Tensor {
  checkTensor('lecunNormal_', t);
  const { fanIn } = calculateFanInAndFanOut(t);
  const std = fanIn === 0 ? 0 : 1 / Math.sqrt(fanIn);
  return fill(t, normal(t.shape, 0, std, sampleOptions(t, options.seed)));
}

/**
 * A (semi-)orthogonal matrix times `gain` (Saxe et al. 2013), as PyTorch: `t` is viewed
 * as [rows, cols] with rows = t.shape[0]; a Gaussian matrix is orthonormalized (QR with
 * a positive diagonal of R), so WᵀW = I when rows ≥ cols and WWᵀ = I otherwise.
 *
 * @example
 * ```ts
 * const w = kiln.zeros([64, 64]);
 * kiln.nn.init.orthogonal_(w, { seed: 0 }); // w.transpose().matmul(w) ≈ I
 * ```
 */
export function orthogonal_(t: Tensor, options: GainOptions = {}): Tensor {
  checkTensor('orthogonal_', t);
  if (t.rank < 2) fail('orthogonal_', `only tensors with 2 or more dimensions are supported, got shape [${t.shape.join(', ')}]`);
  if (t.size === 0) return t;
  const rows = t.shape[0]!;
  const cols = t.size / rows;
  const gaussian = normal([rows, cols], 0, 1, { seed: options.seed, dtype: t.dtype, backend: t.backend.name });
  const g = Float64Array.from(gaussian.dataSync());
  gaussian.dispose();
  // Orthonormalize the columns of the tall orientation: [m, n] with m ≥ n.
  const tall = rows >= cols;
  const m = tall ? rows : cols;
  const n = tall ? cols : rows;
  const a = new Float64Array(m * n); // column-major: column j at a[j*m .. j*m+m)
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = g[r * cols + c]!;
      if (tall) a[c * m + r] = v;
      else a[r * m + c] = v;
    }
  }
  gramSchmidt(a, m, n);
  const gain = options.gain ?? 1;
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[r * cols + c] = gain * (tall ? a[c * m + r]! : a[r * m + c]!);
  }
  return fill(t, tensor(out, { shape: t.shape, dtype: t.dtype, backend: t.backend.name }));
}

/**
 * Modified Gram–Schmidt, run twice per column ("twice is enough") so the result is
 * orthonormal to float64 rounding; the implied R has a positive diagonal, which is
 * PyTorch's sign convention. A (numerically) dependent column is replaced by a unit
 * vector orthogonal to the previous ones.
 */
function gramSchmidt(a: Float64Array, m: number, n: number): void {
  for (let j = 0; j < n; j++) {
    const cj = j * m;
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < j; k++) {
        const ck = k * m;
        let dot = 0;
        for (let i = 0; i < m; i++) dot += a[ck + i]! * a[cj + i]!;
        for (let i = 0; i < m; i++) a[cj + i] -= dot * a[ck + i]!;
      }
    }
    let norm = 0;
    for (let i = 0; i < m; i++) norm += a[cj + i]! * a[cj + i]!;
    norm = Math.sqrt(norm);
    if (norm < 1e-12) {
      // Degenerate draw (probability ~0): take the first basis vector that stays independent.
      for (let e = 0; e < m; e++) {
        a.fill(0, cj, cj + m);
        a[cj + e] = 1;
        for (let k = 0; k < j; k++) {
          const ck = k * m;
          const dot = a[ck + e]!;
          for (let i = 0; i < m; i++) a[cj + i] -= dot * a[ck + i]!;
        }
        norm = 0;
        for (let i = 0; i < m; i++) norm += a[cj + i]! * a[cj + i]!;
        norm = Math.sqrt(norm);
        if (norm > 1e-6) break;
      }
    }
    for (let i = 0; i < m; i++) a[cj + i] /= norm;
  }
}
