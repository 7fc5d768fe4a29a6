import { bernoulli, full, KilnError, matmul, noGrad, scope, Tensor, zeros } from '../../eager/index.js';
import { addGaussianNoise } from '../../data/augment.js';
import { Linear } from '../layers/linear.js';
import { ModuleList } from '../layers/moduleList.js';
import { Sequential } from '../layers/sequential.js';
import { activationSparsityPenalty } from '../losses/activationSparsityPenalty.js';
import { mseLoss } from '../losses/mseLoss.js';
import { callForward, Module, parameter } from '../module.js';

/**
 * Input corruption of a denoising autoencoder, applied in training mode only:
 * `'gaussian'` adds `std · N(0, 1)` per element (then clamps to `clip` if given, e.g.
 * `[0, 1]` for pixels); `'mask'` sets each element to 0 with probability `p` (masking
 * noise, Vincent et al. 2008; the kept values are not rescaled).
 */
export type InputNoise =
  | { readonly kind: 'gaussian'; readonly std: number; readonly clip?: readonly [number, number] }
  | { readonly kind: 'mask'; readonly p: number };

/**
 * Sparse autoencoder: `weight · activationSparsityPenalty(code, { kind, target })` is
 * added to the reconstruction loss (`'kl'`, the default, wants codes in (0, 1): a
 * sigmoid encoder; `'l1'` works with any activation).
 */
export interface SparsityOptions {
  /** Multiplier β of the penalty. */
  readonly weight: number;
  /** `'kl'` (default): KL(ρ ‖ ρ̂) per code unit; `'l1'`: mean L1 norm of the code. */
  readonly kind?: 'kl' | 'l1';
  /** Target mean activation ρ of `'kl'` (default 0.05). */
  readonly target?: number;
}

/** Options of `AutoEncoder`. */
export interface AutoEncoderOptions {
  /**
   * Tied weights: each decoder layer computes `h · W + b'` with the **same tensor** `W`
   * as the mirrored encoder `Linear` (its transpose, so gradients of both uses add up in
   * one tensor) and a bias of its own. Needs an encoder made of `Linear` layers. Default false.
   */
  tied?: boolean;
  /**
   * The decoder of an untied autoencoder (code → reconstruction). Default: the mirror
   * of the encoder, with freshly initialized `Linear` layers.
   */
  decoder?: Module;
  /** Applied to the mirrored decoder's output (e.g. `new nn.Sigmoid()` for pixels in [0, 1]). Default none. */
  outputActivation?: Module | null;
  /** Input corruption in training mode (a denoising autoencoder). Default none. */
  noise?: InputNoise;
  /** Activation-sparsity penalty on the code, added by `loss()`. Default none. */
  sparsity?: SparsityOptions;
  /**
   * Seed of the noise: the k-th noisy forward pass in training mode uses `seed + k`, so a
   * run is reproducible. Default: Kiln's global generator (`kiln.manualSeed`).
   */
  seed?: number;
  /** Reconstruction loss `(reconstruction, clean input) → scalar`. Default `mseLoss` (mean). */
  reconstructionLoss?: (reconstruction: Tensor, target: Tensor) => Tensor;
}

const OP = 'AutoEncoder';

function fail(message: string): never {
  throw new KilnError(message, { op: OP });
}

/**
 * Decoder layer of a tied autoencoder: `y = h · W + b`, with `W` the weight of the
 * encoder `Linear` it mirrors (read at every call, so it follows that layer's current
 * weight) and a bias of its own (zeros at first). Its only parameter is the bias: the
 * weight belongs to the encoder.
 *
 * @example
 * ```ts
 * const enc = new kiln.nn.Linear(8, 3);
 * const dec = new kiln.nn.TiedLinear(enc);
 * dec.weight === enc.weight;                       // true
 * dec.forward(enc.forward(kiln.randn([4, 8]))).shape; // [4, 8]
 * ```
 */
export class TiedLinear extends Module {
  readonly bias: Tensor;
  // Private: not a property Module's discovery lists, so the weight stays the encoder's parameter.
  readonly #source: Linear;

  constructor(source: Linear) {
    super();
    if (!(source instanceof Linear)) fail(`TiedLinear mirrors a Linear layer, got ${source === null ? 'null' : typeof source}`);
    this.#source = source;
    const w = source.weight;
    this.bias = parameter(zeros([source.inFeatures], { dtype: w.dtype, backend: w.backend.name }));
  }

  /** The encoder layer's weight `[out, in]` (the same tensor). */
  get weight(): Tensor {
    return this.#source.weight;
  }

  forward(h: Tensor): Tensor {
    const out = this.#source.outFeatures;
    if (h.rank === 0 || h.shape[h.rank - 1] !== out) fail(`TiedLinear: expected input [..., ${out}], got shape [${h.shape.join(', ')}]`);
    return matmul(h, this.#source.weight).add(this.bias);
  }
}

/** A `Linear` with the modules that follow it in the encoder (its activation). */
interface Stage {
  linear: Linear;
  after: Module[];
}

/** The encoder as Linear stages; null when it is not made of Linear layers. */
function stagesOf(encoder: Module): Stage[] | null {
  if (encoder instanceof Linear) return [{ linear: encoder, after: [] }];
  if (!(encoder instanceof ModuleList)) return null;
  const stages: Stage[] = [];
  for (const m of encoder) {
    if (m instanceof Linear) stages.push({ linear: m, after: [] });
    else if (stages.length === 0) return null;
    else stages[stages.length - 1]!.after.push(m);
  }
  return stages.length ? stages : null;
}

/**
 * An autoencoder: `encoder` maps inputs to a code, `decoder` maps the code back, and
 * `loss(x)` is the reconstruction loss of `x` (plus a sparsity penalty). Variants:
 * - **tied** (`tied: true`): the decoder mirrors an encoder of `Linear` layers (a
 *   `Linear`, or a `Sequential` of `Linear` + activation modules) and each decoder layer
 *   uses the transpose of the corresponding encoder weight (`TiedLinear`: one tensor,
 *   both gradients) with its own bias;
 * - **untied** (default): a `decoder` you pass, or the mirror of the encoder with new
 *   `Linear` layers. The mirror of `Linear(a→b), f, Linear(b→c), g` is
 *   `Linear(c→b), f, Linear(b→a), outputActivation`: each reconstructed hidden layer gets
 *   the activation that layer has in the encoder;
 * - **denoising** (`noise`): in training mode the input is corrupted (Gaussian or
 *   masking noise, seeded) before encoding, and the loss compares the reconstruction
 *   with the clean input; in eval mode nothing is corrupted;
 * - **sparse** (`sparsity`): `weight · activationSparsityPenalty(code)` is added to the loss.
 *
 * @example
 * ```ts
 * const { nn } = kiln;
 * const ae = new nn.AutoEncoder(new nn.Sequential(new nn.Linear(784, 64), new nn.Sigmoid()), {
 *   tied: true, outputActivation: new nn.Sigmoid(),
 *   noise: { kind: 'mask', p: 0.3 }, sparsity: { weight: 0.1, target: 0.05 }, seed: 0,
 * });
 * const opt = new kiln.optim.Adam(ae.parameters(), { lr: 1e-3 });
 * const x = kiln.rand([32, 784]);
 * const loss = ae.loss(x);             // reconstruction of x from a masked copy + β·KL
 * loss.backward();
 * opt.step();
 * const code = ae.eval().encode(x);    // [32, 64], no noise in eval mode
 * ```
 */
export class AutoEncoder extends Module {
  readonly encoder: Module;
  readonly decoder: Module;
  /** Whether the decoder uses the encoder's weights (transposed). */
  readonly tied: boolean;
  /** The input corruption in training mode, or null. */
  readonly noise: InputNoise | null;
  /** The sparsity penalty, or null. */
  readonly sparsity: Readonly<Required<SparsityOptions>> | null;
  readonly #seed: number | undefined;
  readonly #reconstructionLoss: (reconstruction: Tensor, target: Tensor) => Tensor;
  /** Number of noisy forward passes so far (the next one uses `seed + noisyCalls`). */
  #noisyCalls = 0;

  constructor(encoder: Module, options: AutoEncoderOptions = {}) {
    super();
    if (!(encoder instanceof Module)) fail(`the encoder must be a Module, got ${encoder === null ? 'null' : typeof encoder}`);
    this.encoder = encoder;
    this.tied = options.tied ?? false;
    if (this.tied && options.decoder) fail('pass either tied: true (the decoder mirrors the encoder with its weights) or a decoder, not both');
    if (options.decoder && options.outputActivation) fail('outputActivation belongs to the mirrored decoder: end your own decoder with it instead');
    if (options.decoder !== undefined && !(options.decoder instanceof Module)) fail('decoder must be a Module');
    if (options.outputActivation != null && !(options.outputActivation instanceof Module)) fail('outputActivation must be a Module or null');
    if (options.decoder) {
      this.decoder = options.decoder;
    } else {
      const stages = stagesOf(encoder);
      if (!stages) {
        fail(`${this.tied ? 'a tied autoencoder' : 'the mirrored decoder'} needs an encoder made of Linear layers (a Linear, or a Sequential of Linear layers each followed by its activation); for another encoder pass { decoder }`);
      }
      for (let i = 1; i < stages.length; i++) {
        const [prev, next] = [stages[i - 1]!.linear, stages[i]!.linear];
        if (prev.outFeatures !== next.inFeatures) fail(`encoder layer ${i} gives ${prev.outFeatures} features but layer ${i + 1} takes ${next.inFeatures}`);
      }
      const layers: Module[] = [];
      for (let i = stages.length - 1; i >= 0; i--) {
        const { linear } = stages[i]!;
        const w = linear.weight;
        layers.push(this.tied ? new TiedLinear(linear) : new Linear(linear.outFeatures, linear.inFeatures, { dtype: w.dtype as 'float32' | 'float64', backend: w.backend.name }));
        if (i > 0) layers.push(...stages[i - 1]!.after);
        else if (options.outputActivation) layers.push(options.outputActivation);
      }
      this.decoder = new Sequential(...layers);
    }
    this.noise = options.noise ? checkNoise(options.noise) : null;
    if (options.sparsity) {
      const { weight, kind = 'kl', target = 0.05 } = options.sparsity;
      if (!(typeof weight === 'number' && Number.isFinite(weight) && weight >= 0)) fail(`sparsity.weight must be a number ≥ 0, got ${String(weight)}`);
      if (kind !== 'kl' && kind !== 'l1') fail(`sparsity.kind must be 'kl' or 'l1', got '${String(kind)}'`);
      if (!(target > 0 && target < 1)) fail(`sparsity.target must lie in (0, 1), got ${String(target)}`);
      this.sparsity = { weight, kind, target };
    } else {
      this.sparsity = null;
    }
    if (options.seed !== undefined && !(Number.isSafeInteger(options.seed) && options.seed >= 0)) fail(`seed must be a non-negative safe integer, got ${String(options.seed)}`);
    this.#seed = options.seed;
    this.#reconstructionLoss = options.reconstructionLoss ?? ((r, t) => mseLoss(r, t));
  }

  /** The code of `x` (the encoder's output; no noise). */
  encode(x: Tensor): Tensor {
    return callForward(this.encoder, x) as Tensor;
  }

  /** The reconstruction of a code. */
  decode(code: Tensor): Tensor {
    return callForward(this.decoder, code) as Tensor;
  }

  /** `x` corrupted by the input noise in training mode; `x` itself in eval mode or without noise. */
  corrupt(x: Tensor): Tensor {
    const noise = this.noise;
    if (!noise || !this.training) return x;
    if (!(x instanceof Tensor) || (x.dtype !== 'float32' && x.dtype !== 'float64')) fail('the input noise needs a float32 or float64 tensor');
    const seed = this.#seed === undefined ? undefined : this.#seed + this.#noisyCalls;
    this.#noisyCalls++;
    const seedOption = seed === undefined ? {} : { seed };
    if (noise.kind === 'gaussian') return addGaussianNoise(x, noise.std, { ...seedOption, ...(noise.clip ? { clip: noise.clip } : {}) });
    const masked = (): Tensor => {
      const keep = bernoulli(full(x.shape, 1 - noise.p, { dtype: x.dtype, backend: x.backend.name }), seedOption);
      return x.mul(keep); // bernoulli returns the dtype of its probabilities
    };
    // Without gradients to x the mask is freed at once; with them the caller's scope owns it.
    return x.requiresGrad ? masked() : scope(() => noGrad(masked));
  }

  /** The reconstruction of `x` (corrupted first in training mode). */
  forward(x: Tensor): Tensor {
    return this.decode(this.encode(this.corrupt(x)));
  }

  /** `weight · activationSparsityPenalty(code)` (0-d), or null without `sparsity`. */
  sparsityPenalty(code: Tensor): Tensor | null {
    const s = this.sparsity;
    if (!s) return null;
    return activationSparsityPenalty(code, { kind: s.kind, target: s.target }).mul(s.weight);
  }

  /**
   * The training objective on a batch `x`: the reconstruction loss of the clean `x`
   * from its (in training mode, corrupted) encoding, plus the sparsity penalty on the code.
   */
  loss(x: Tensor): Tensor {
    const code = this.encode(this.corrupt(x));
    const rec = this.#reconstructionLoss(this.decode(code), x);
    const penalty = this.sparsityPenalty(code);
    return penalty ? rec.add(penalty) : rec;
  }
}

function checkNoise(noise: InputNoise): InputNoise {
  if (typeof noise !== 'object' || noise === null) fail(`noise must be { kind: 'gaussian', std } or { kind: 'mask', p }, got ${String(noise)}`);
  if (noise.kind === 'gaussian') {
    if (!(Number.isFinite(noise.std) && noise.std >= 0)) fail(`noise.std must be a number ≥ 0, got ${String(noise.std)}`);
    if (noise.clip !== undefined && !(Array.isArray(noise.clip) && noise.clip.length === 2 && noise.clip[0] <= noise.clip[1])) fail('noise.clip must be a pair [low, high] with low ≤ high');
    return noise;
  }
  if (noise.kind === 'mask') {
    if (!(noise.p >= 0 && noise.p < 1)) fail(`noise.p (the probability of zeroing an input) must lie in [0, 1), got ${String(noise.p)}`);
    return noise;
  }
  return fail(`noise.kind must be 'gaussian' or 'mask', got '${String((noise as { kind?: unknown }).kind)}'`);
}
