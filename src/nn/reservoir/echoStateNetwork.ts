import { concat, noGrad, ones, rand, scope, stack, Tensor, tensor, zeros } from '../../eager/index.js';
import { buffer, Module } from '../module.js';
import { checkInt, layerError, type FactoryOptions } from '../layers/common.js';
import { describe, fraction, nonNegative, positive, ridgeOf } from './checks.js';
import { ridgeReadout } from './ridgeReadout.js';
import { estimateSpectralRadius, toSparse } from './spectralRadius.js';

const NAME = 'EchoStateNetwork';

/** Options of `EchoStateNetwork`. */
export interface EchoStateNetworkOptions extends FactoryOptions {
  /**
   * Spectral radius ρ(W) the reservoir matrix is scaled to (> 0). Default 0.9. Below 1
   * is the usual start for the echo-state property (fading memory of the initial state).
   */
  spectralRadius?: number;
  /** Fraction of non-zero reservoir weights, in (0, 1]. Default 0.1. */
  density?: number;
  /** Input weights are drawn from U(−s, s). Default 1. */
  inputScaling?: number;
  /** Reservoir biases are drawn from U(−s, s); 0 (default) means none. */
  biasScaling?: number;
  /** Leak rate α in (0, 1] of the leaky-integrator update. Default 1 (no leak). */
  leakRate?: number;
  /** Seed of the weights; default: the global generator (`kiln.manualSeed`). */
  seed?: number;
  /** Power-iteration steps that estimate ρ before scaling (see `spectralRadius.ts`). Default 1000. */
  powerIterations?: number;
}

/** Options of `EchoStateNetwork.fit`. */
export interface EchoStateFitOptions {
  /** Ridge penalty λ ≥ 0 on the readout (not on its intercept). Default 1e-6; 0 is plain least squares. */
  ridge?: number;
  /** Leading time steps of each sequence left out of the regression (the initial transient). Default 0. */
  washout?: number;
  /** Reservoir state before the first step, `[reservoirSize]` or `[batch, reservoirSize]`; default zeros. */
  initialState?: Tensor;
}

/** Options of `EchoStateNetwork.states` and `predict`. */
export interface EchoStateRunOptions {
  /** Reservoir state before the first step, `[reservoirSize]` or `[batch, reservoirSize]`; default zeros. */
  initialState?: Tensor;
}

/**
 * An echo-state network (Jaeger 2001): a fixed random recurrent reservoir driven by the
 * input, and a linear readout fitted in closed form by ridge regression. Nothing is
 * trained by gradient descent; all weights are buffers (saved by `stateDict`,
 * `kiln.save`), so `numParameters()` is 0.
 *
 * With input uₜ `[inputSize]`, state xₜ `[reservoirSize]`:
 *
 *     xₜ = (1 − α)·xₜ₋₁ + α·tanh(W_in·uₜ + W·xₜ₋₁ + b)
 *     yₜ = W_outᵀ·[1; uₜ; xₜ]
 *
 * - W (`reservoirWeight`, `[R, R]`): each entry non-zero with probability `density`,
 *   drawn from U(−1, 1), then scaled so that its spectral radius is `spectralRadius`.
 *   ρ is estimated by growth-rate power iteration (`powerIterations` steps, default 1000:
 *   within 0.22% of numpy's eigenvalues on 80 random reservoirs; it also works when the
 *   largest eigenvalues are a complex pair, where the Rayleigh-quotient form of power
 *   iteration does not converge).
 * - W_in (`inputWeight`, `[R, inputSize]`) from U(−inputScaling, inputScaling); b
 *   (`bias`, `[R]`) from U(−biasScaling, biasScaling).
 * - W_out (`readoutWeight`, `[1 + inputSize + R, outputSize]`, row 0 the intercept) is
 *   set by `fit`: ridge regression on the states (see `fit`).
 *
 * Inputs are one sequence `[T, inputSize]` or a batch `[batch, T, inputSize]`;
 * outputs follow (`[T, outputSize]` or `[batch, T, outputSize]`). The same seed gives
 * the same weights on every backend.
 *
 * @example
 * ```ts
 * // One-step-ahead prediction of a sine wave: fit on steps 0..299, predict all.
 * const u = kiln.linspace(0, 40, 400).sin().reshape([400, 1]);
 * const esn = new kiln.nn.EchoStateNetwork(1, 100, 1, { spectralRadius: 0.9, seed: 0 });
 * esn.fit(u.slice([0], [299]), u.slice([1], [300]), { ridge: 1e-6, washout: 50 });
 * const next = esn.predict(u.slice([0], [399])); // [399, 1] ≈ u[1:400]
 * ```
 */
export class EchoStateNetwork extends Module {
  /** W_in, `[reservoirSize, inputSize]`. */
  readonly inputWeight: Tensor;
  /** W, `[reservoirSize, reservoirSize]`, scaled to `spectralRadius`. */
  readonly reservoirWeight: Tensor;
  /** b, `[reservoirSize]` (zeros when `biasScaling` is 0). */
  readonly bias: Tensor;
  /** W_out, `[1 + inputSize + reservoirSize, outputSize]`; zeros until `fit`. */
  readonly readoutWeight: Tensor;
  /** 1 once the readout is fitted (or loaded), else 0: an int32 scalar, saved with the weights. */
  readonly fitted: Tensor;
  readonly inputSize: number;
  readonly reservoirSize: number;
  readonly outputSize: number;
  readonly spectralRadius: number;
  readonly density: number;
  readonly inputScaling: number;
  readonly biasScaling: number;
  readonly leakRate: number;

  constructor(inputSize: number, reservoirSize: number, outputSize: number, options: EchoStateNetworkOptions = {}) {
    super();
    this.inputSize = checkInt(NAME, 'inputSize', inputSize);
    this.reservoirSize = checkInt(NAME, 'reservoirSize', reservoirSize);
    this.outputSize = checkInt(NAME, 'outputSize', outputSize);
    this.spectralRadius = positive(NAME, 'spectralRadius', options.spectralRadius ?? 0.9);
    this.density = fraction(NAME, 'density', options.density ?? 0.1);
    this.inputScaling = nonNegative(NAME, 'inputScaling', options.inputScaling ?? 1);
    this.biasScaling = nonNegative(NAME, 'biasScaling', options.biasScaling ?? 0);
    this.leakRate = fraction(NAME, 'leakRate', options.leakRate ?? 1);
    const iterations = checkInt(NAME, 'powerIterations', options.powerIterations ?? 1000, 2);
    const dtype = options.dtype ?? 'float32';
    const backend = options.backend;
    const r = reservoirSize, i = inputSize;

    // One Philox stream for everything: mask, values, W_in, b, power-iteration start.
    const u = noGrad(() => scope(() => rand([2 * r * r + r * i + 2 * r], { seed: options.seed, backend: 'reference' }).dataSync()));
    const w = new Float64Array(r * r);
    for (let k = 0; k < r * r; k++) if (u[k]! < this.density) w[k] = 2 * u[r * r + k]! - 1;
    let off = 2 * r * r;
    const win = new Float64Array(r * i);
    for (let k = 0; k < r * i; k++) win[k] = this.inputScaling * (2 * u[off + k]! - 1);
    off += r * i;
    const b = new Float64Array(r);
    for (let k = 0; k < r; k++) b[k] = this.biasScaling * (2 * u[off + k]! - 1);
    off += r;
    const start = new Float64Array(r);
    for (let k = 0; k < r; k++) start[k] = 2 * u[off + k]! - 1;

    const rho = estimateSpectralRadius(toSparse(w, r), start, iterations);
    if (!(rho > 0)) {
      throw layerError(NAME, `the random reservoir (size ${r}, density ${this.density}) is nilpotent (spectral radius 0) and cannot be scaled: raise density or reservoirSize, or change the seed`);
    }
    const factor = this.spectralRadius / rho;
    for (let k = 0; k < r * r; k++) w[k]! *= factor;

    const make = (data: Float64Array, shape: number[]) => buffer(tensor(data, { shape, dtype, backend }));
    this.inputWeight = make(win, [r, i]);
    this.reservoirWeight = make(w, [r, r]);
    this.bias = make(b, [r]);
    this.readoutWeight = buffer(zeros([1 + i + r, outputSize], { dtype, backend }));
    this.fitted = buffer(zeros([], { dtype: 'int32', backend }));
  }

  /**
   * The reservoir states xₜ for every step, `[T, reservoirSize]` (or
   * `[batch, T, reservoirSize]`), starting from `initialState` (default zeros). The last
   * step's state continues a sequence: pass it as the next call's `initialState`.
   *
   * @example
   * ```ts
   * const esn = new kiln.nn.EchoStateNetwork(2, 50, 1, { seed: 1 });
   * const xs = esn.states(kiln.randn([30, 2])); // [30, 50]
   * const more = esn.states(kiln.randn([10, 2]), { initialState: xs.slice([29], [30]).reshape([50]) });
   * ```
   */
  states(inputs: Tensor, options: EchoStateRunOptions = {}): Tensor {
    return scope(() => {
      const { x, batched } = this.checkInputs('states', inputs);
      const s = this.run(x, options.initialState);
      return batched ? s : s.reshape(s.shape.slice(1));
    });
  }

  /**
   * Fits the readout by ridge regression on `[1; uₜ; xₜ]` against the targets, after
   * dropping the first `washout` steps of each sequence, and returns `this`. The states
   * run from `initialState` (default zeros). Solved in closed form, in float64 on the
   * reference backend whatever the model's backend: for ridge λ > 0 the normal
   * equations (ΦᵀΦ + λ·D)·W = ΦᵀY by Cholesky, D = diag(0, 1, …, 1) (the intercept is
   * not penalized); for λ = 0 least squares by Householder QR (`kiln.linalg.lstsq`).
   * Targets are `[T, outputSize]` (or `[batch, T, outputSize]`), aligned with the inputs:
   * for one-step-ahead prediction, targets are the inputs shifted by one step.
   *
   * @example
   * ```ts
   * const series = kiln.linspace(0, 60, 600).cos().reshape([600, 1]);
   * const esn = new kiln.nn.EchoStateNetwork(1, 200, 1, { seed: 0 });
   * esn.fit(series.slice([0], [599]), series.slice([1], [600]), { ridge: 1e-6, washout: 100 });
   * esn.readoutWeight.shape; // [202, 1]: intercept, input, 200 states
   * ```
   */
  fit(inputs: Tensor, targets: Tensor, options: EchoStateFitOptions = {}): this {
    noGrad(() => scope(() => {
      const { x, batched } = this.checkInputs('fit', inputs);
      const [bsz, steps] = [x.shape[0]!, x.shape[1]!];
      const yShape = batched ? [bsz, steps, this.outputSize] : [steps, this.outputSize];
      if (!(targets instanceof Tensor) || targets.shape.join(',') !== yShape.join(',')) {
        throw layerError(NAME, `fit: targets must have shape [${yShape.join(', ')}] (matching the inputs' steps), got ${describe(targets)}`);
      }
      const ridge = ridgeOf(NAME, options.ridge);
      const washout = options.washout ?? 0;
      if (!Number.isInteger(washout) || washout < 0 || washout >= steps) {
        throw layerError(NAME, `fit: washout must be an integer in [0, ${steps - 1}] (fewer than the ${steps} steps), got ${String(washout)}`);
      }
      const feats = this.features(x, this.run(x, options.initialState)).slice([washout], [steps], { axes: [1] });
      const y = (batched ? targets : targets.reshape([1, steps, this.outputSize])).slice([washout], [steps], { axes: [1] });
      const n = bsz * (steps - washout);
      const w = ridgeReadout(NAME, feats.reshape([n, feats.shape[2]!]), y.reshape([n, this.outputSize]), ridge);
      this.readoutWeight.copy_(w.cast(this.readoutWeight.dtype).to(this.readoutWeight.backend.name));
      this.fitted.copy_(1);
    }));
    return this;
  }

  /**
   * Readout outputs for every step, `[T, outputSize]` (or `[batch, T, outputSize]`), from
   * the reservoir run on `inputs` (from `initialState`, default zeros). Throws until
   * `fit` has run (or fitted weights were loaded).
   *
   * @example
   * ```ts
   * const u = kiln.linspace(0, 30, 300).sin().reshape([300, 1]);
   * const esn = new kiln.nn.EchoStateNetwork(1, 50, 1, { seed: 0 }).fit(u.slice([0], [299]), u.slice([1], [300]));
   * const y = esn.predict(u); // [300, 1]; row t predicts u[t + 1]
   * ```
   */
  predict(inputs: Tensor, options: EchoStateRunOptions = {}): Tensor {
    return scope(() => {
      const { x, batched } = this.checkInputs('predict', inputs);
      if (this.fitted.item() === 0) throw layerError(NAME, 'predict: the readout is not fitted yet; call fit(inputs, targets) first');
      const y = this.features(x, this.run(x, options.initialState)).matmul(this.readoutWeight);
      return batched ? y : y.reshape([y.shape[1]!, this.outputSize]);
    });
  }

  /** `predict(inputs)`. */
  forward(inputs: Tensor): Tensor {
    return this.predict(inputs);
  }

  /** `[batch, T, 1 + inputSize + R]`: the constant 1, the input and the state of every step. */
  private features(x: Tensor, states: Tensor): Tensor {
    const [b, t] = [x.shape[0]!, x.shape[1]!];
    return concat([ones([b, t, 1], { dtype: x.dtype, backend: x.backend.name }), x, states], 2);
  }

  /** Runs the reservoir over `x` `[batch, T, inputSize]`; returns the states `[batch, T, R]`. */
  private run(x: Tensor, initialState: Tensor | undefined): Tensor {
    const [b, steps] = [x.shape[0]!, x.shape[1]!];
    const r = this.reservoirSize;
    const alpha = this.leakRate;
    return scope(() => {
      let h = this.initialState(initialState, b);
      if (steps === 0) return zeros([b, 0, r], { dtype: x.dtype, backend: x.backend.name });
      // The input drive of every step at once: [batch, T, R].
      let drive = x.matmul(this.inputWeight.transpose());
      if (this.biasScaling > 0) drive = drive.add(this.bias);
      const wt = this.reservoirWeight.transpose();
      const drives = drive.split(1, 1);
      const out: Tensor[] = [];
      for (let t = 0; t < steps; t++) {
        const pre = drives[t]!.reshape([b, r]).add(h.matmul(wt)).tanh();
        h = alpha === 1 ? pre : h.mul(1 - alpha).add(pre.mul(alpha));
        out.push(h);
      }
      return stack(out, 1);
    });
  }

  private initialState(state: Tensor | undefined, b: number): Tensor {
    const r = this.reservoirSize;
    const like = this.reservoirWeight;
    if (state === undefined) return zeros([b, r], { dtype: like.dtype, backend: like.backend.name });
    if (!(state instanceof Tensor) || !((state.rank === 1 && state.shape[0] === r) || (state.rank === 2 && state.shape[0] === b && state.shape[1] === r))) {
      throw layerError(NAME, `initialState must have shape [${r}] or [${b}, ${r}], got ${describe(state)}`);
    }
    return state.rank === 1 ? state.reshape([1, r]).expand([b, r]) : state;
  }

  private checkInputs(method: string, inputs: Tensor): { x: Tensor; batched: boolean } {
    const ok = inputs instanceof Tensor && (inputs.rank === 2 || inputs.rank === 3) && inputs.shape[inputs.rank - 1] === this.inputSize;
    if (!ok) throw layerError(NAME, `${method}: inputs must be [T, ${this.inputSize}] or [batch, T, ${this.inputSize}], got ${describe(inputs)}`);
    if (inputs.dtype !== this.reservoirWeight.dtype) throw layerError(NAME, `${method}: inputs are ${inputs.dtype} but the weights are ${this.reservoirWeight.dtype}`);
    return inputs.rank === 3 ? { x: inputs, batched: true } : { x: inputs.reshape([1, ...inputs.shape]), batched: false };
  }
}

