import { concat, KilnError, noGrad, scope, tensor, Tensor } from '../../eager/index.js';
import { SeededRandom } from '../../data/random.js';
import { Sigmoid } from '../layers/activations.js';
import { Linear } from '../layers/linear.js';
import { Sequential } from '../layers/sequential.js';
import { Module } from '../module.js';
import { AutoEncoder, type InputNoise, type SparsityOptions } from './autoEncoder.js';

/** What `pretrainGreedy` needs of an optimizer (any `kiln.optim` optimizer). */
export interface PretrainOptimizer {
  step(): void;
  zeroGrad(): void;
}

/** One epoch of one layer's autoencoder. */
export interface PretrainRecord {
  /** 1-based index of the layer being trained. */
  layer: number;
  /** 1-based epoch within that layer. */
  epoch: number;
  /** Mean training objective over the epoch's batches (reconstruction + sparsity penalty). */
  loss: number;
}

/** Options of `pretrainGreedy`. */
export interface PretrainOptions {
  /** Makes the optimizer of each layer's autoencoder from its parameters, e.g. `(ps) => new kiln.optim.Adam(ps, { lr: 1e-3 })`. */
  optimizer: (params: Tensor[]) => PretrainOptimizer;
  /** Epochs per layer (default 5). */
  epochs?: number;
  /** Rows per batch (default 64). */
  batchSize?: number;
  /** Seed of the batch order and of the input noise (default 0). */
  seed?: number;
  /** Tied autoencoders (each decoder uses its encoder layer's weight, transposed). Default false. */
  tied?: boolean;
  /** Input corruption in training (denoising autoencoders). Default none. */
  noise?: InputNoise;
  /** Activation-sparsity penalty on each layer's code. Default none. */
  sparsity?: SparsityOptions;
  /**
   * Activation of the first autoencoder's reconstruction (of the data), e.g.
   * `new nn.Sigmoid()` for pixels in [0, 1]. Deeper autoencoders reconstruct the previous
   * layer's codes and reuse that layer's activation (when it has no parameters). Default none.
   */
  outputActivation?: Module | null;
  /** Activation after each layer when `layers` are sizes (default `() => new nn.Sigmoid()`). */
  activation?: () => Module;
  /** Reconstruction loss `(reconstruction, target) → scalar` (default `mseLoss`). */
  reconstructionLoss?: (reconstruction: Tensor, target: Tensor) => Tensor;
  /** `true` prints a line per epoch; a function receives each epoch's record. Default false. */
  progress?: boolean | ((record: PretrainRecord) => void);
}

const OP = 'pretrainGreedy';

function fail(message: string): never {
  throw new KilnError(message, { op: OP });
}

/** The Linear of a stage (a Linear, or a Sequential starting with one). */
function linearOf(stage: Module, i: number): Linear {
  if (stage instanceof Linear) return stage;
  if (stage instanceof Sequential && stage.length > 0 && stage.at(0) instanceof Linear) {
    const rest = [...stage].slice(1);
    if (rest.some((m) => m instanceof Linear)) fail(`layer ${i + 1} holds more than one Linear: give one Linear (+ activation) per layer`);
    return stage.at(0) as Linear;
  }
  return fail(`layer ${i + 1} must be a Linear or a Sequential of a Linear and its activation, got ${stage?.constructor?.name ?? typeof stage}`);
}

/**
 * Greedy layer-wise unsupervised pre-training (stacked autoencoders, Bengio et al. 2007):
 * layer 1 is trained as the encoder of an autoencoder on `data`, then layer 2 as an
 * autoencoder on layer 1's codes (computed in eval mode, without noise), and so on;
 * earlier layers stay fixed while a later one trains. Returns the encoder stack: an
 * `nn.Sequential` of the trained layers' modules (`Linear`, activation, `Linear`, …),
 * in training mode, ready for a supervised head and fine-tuning. The decoders are
 * discarded.
 *
 * `layers` are the encoder layers (each a `Linear`, or a `Sequential` of a `Linear` and
 * its activation), or the sizes `[inputs, hidden1, hidden2, …]` (each layer then is a
 * `Linear` followed by `activation()`, in `data`'s dtype and backend). `data` holds one
 * example per row, `[N, features]`: no labels are used.
 *
 * @example
 * ```ts
 * const { nn } = kiln;
 * const x = kiln.rand([512, 64]);                  // unlabelled data in [0, 1]
 * const encoder = nn.pretrainGreedy([64, 32, 16], x, {
 *   optimizer: (ps) => new kiln.optim.Adam(ps, { lr: 1e-2 }),
 *   epochs: 3, batchSize: 64, seed: 0,
 *   noise: { kind: 'mask', p: 0.2 }, outputActivation: new nn.Sigmoid(),
 * });
 * const classifier = new nn.Sequential(encoder, new nn.Linear(16, 10)); // fine-tune this
 * ```
 */
export function pretrainGreedy(layers: readonly Module[] | readonly number[], data: Tensor, options: PretrainOptions): Sequential {
  if (!(data instanceof Tensor) || data.rank !== 2) fail(`data must be a [N, features] tensor, got ${data instanceof Tensor ? `shape [${data.shape.join(', ')}]` : typeof data}`);
  if (data.dtype !== 'float32' && data.dtype !== 'float64') fail(`data must be float32 or float64, got ${data.dtype}`);
  if (!options || typeof options.optimizer !== 'function') fail('options.optimizer must be a function (params) => optimizer, e.g. (ps) => new kiln.optim.Adam(ps, { lr: 1e-3 })');
  const epochs = options.epochs ?? 5;
  const batchSize = options.batchSize ?? 64;
  const seed = options.seed ?? 0;
  if (!(Number.isInteger(epochs) && epochs >= 0)) fail(`epochs must be an integer ≥ 0, got ${String(epochs)}`);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) fail(`batchSize must be an integer ≥ 1, got ${String(batchSize)}`);
  if (!(Number.isSafeInteger(seed) && seed >= 0)) fail(`seed must be a non-negative safe integer, got ${String(seed)}`);
  if (!Array.isArray(layers) || layers.length === 0) fail('layers must be a non-empty list of modules or of sizes');

  let stages: Module[];
  if (layers.every((l) => typeof l === 'number')) {
    const sizes = layers as readonly number[];
    if (sizes.length < 2) fail('sizes need at least [inputs, hidden]');
    if (!sizes.every((n) => Number.isInteger(n) && n >= 1)) fail(`sizes must be positive integers, got [${sizes.join(', ')}]`);
    const activation = options.activation ?? (() => new Sigmoid());
    const factory = { dtype: data.dtype, backend: data.backend.name };
    stages = sizes.slice(1).map((n, i) => new Sequential(new Linear(sizes[i]!, n, factory), activation()));
  } else if (layers.every((l) => l instanceof Module)) {
    stages = [...(layers as readonly Module[])];
  } else {
    return fail('layers must be all modules or all sizes');
  }
  const linears = stages.map(linearOf);
  if (linears[0]!.inFeatures !== data.shape[1]) fail(`layer 1 takes ${linears[0]!.inFeatures} features but data rows have ${data.shape[1]}`);
  for (let i = 1; i < linears.length; i++) {
    if (linears[i]!.inFeatures !== linears[i - 1]!.outFeatures) fail(`layer ${i} gives ${linears[i - 1]!.outFeatures} features but layer ${i + 1} takes ${linears[i]!.inFeatures}`);
  }

  const report = typeof options.progress === 'function' ? options.progress : options.progress ? (r: PretrainRecord) => console.log(`pretrain layer ${r.layer}/${stages.length} epoch ${r.epoch}/${epochs}: loss ${r.loss.toFixed(5)}`) : null;
  const n = data.shape[0]!;
  let input = data;
  stages.forEach((stage, i) => {
    const ae = new AutoEncoder(stage, {
      tied: options.tied ?? false,
      outputActivation: i === 0 ? (options.outputActivation ?? null) : reusableActivation(stages[i - 1]!),
      ...(options.noise ? { noise: options.noise } : {}),
      ...(options.sparsity ? { sparsity: options.sparsity } : {}),
      ...(options.reconstructionLoss ? { reconstructionLoss: options.reconstructionLoss } : {}),
      // Each layer's noise its own stream: seed·2²⁰ + layer·2¹⁶ + call.
      seed: seed * 2 ** 20 + i * 2 ** 16,
    });
    ae.train();
    const opt = options.optimizer(ae.parameters());
    const rng = new SeededRandom(seed, i);
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const order = rng.permutation(n);
      let sum = 0;
      for (let start = 0; start < n; start += batchSize) {
        const idx = order.subarray(start, Math.min(n, start + batchSize));
        sum += scope(() => {
          const xb = input.indexSelect(0, tensor(idx, { dtype: 'int32', backend: input.backend.name }));
          const loss = ae.loss(xb);
          loss.backward();
          opt.step();
          opt.zeroGrad();
          return loss.item() * idx.length;
        });
      }
      report?.({ layer: i + 1, epoch, loss: sum / n });
    }
    // The next layer learns from this one's codes (eval mode: no noise, no dropout).
    stage.eval();
    const codes = noGrad(() => {
      const parts: Tensor[] = [];
      for (let start = 0; start < n; start += 1024) {
        parts.push(scope(() => (stage.forward as (x: Tensor) => Tensor).call(stage, input.slice([start], [Math.min(n, start + 1024)], { axes: [0] }))));
      }
      const all = parts.length === 1 ? parts[0]! : concat(parts, 0);
      if (parts.length > 1) for (const p of parts) p.dispose();
      return all;
    });
    stage.train();
    if (input !== data) input.dispose();
    input = codes;
  });
  if (input !== data) input.dispose();
  return new Sequential(...stages.flatMap((s) => (s instanceof Sequential ? [...s] : [s])));
}

/** The last module of a stage when it is a parameter-free activation (a deeper decoder's output activation). */
function reusableActivation(stage: Module): Module | null {
  if (!(stage instanceof Sequential) || stage.length < 2) return null;
  const last = stage.at(-1);
  return last instanceof Linear || last.numParameters() > 0 ? null : last;
}
