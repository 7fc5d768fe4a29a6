import { noGrad, notEqual, tensor, where, type Tensor } from '../../eager/index.js';
import { Module } from '../module.js';
import { checkInt, layerError, newParameter, type FactoryOptions } from './common.js';
import { initWeight, type WeightInit } from './initScheme.js';
import * as init from '../init.js';

/** Options of `Embedding`. */
export interface EmbeddingOptions extends FactoryOptions {
  /** A row that stays fixed: initialized to 0 and receiving no gradient (negative counts from the end). */
  paddingIdx?: number;
  /** Weight initialization (default: PyTorch's N(0, 1)). */
  init?: WeightInit;
}

/**
 * A lookup table of `numEmbeddings` vectors of size `embeddingDim` (PyTorch
 * `nn.Embedding`): int32 indices of any shape → [...indices.shape, embeddingDim].
 * Repeated indices accumulate their gradients into the same row.
 *
 * @example
 * ```ts
 * const emb = new kiln.nn.Embedding(1000, 64, { paddingIdx: 0 });
 * const ids = kiln.tensor([[5, 0, 7]], { dtype: 'int32' });
 * emb.forward(ids).shape; // [1, 3, 64]
 * ```
 */
export class Embedding extends Module {
  /** The table, [numEmbeddings, embeddingDim]. */
  readonly weight: Tensor;
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  /** The padding row, normalized to be non-negative, or null. */
  readonly paddingIdx: number | null;

  constructor(numEmbeddings: number, embeddingDim: number, options: EmbeddingOptions = {}) {
    super();
    this.numEmbeddings = checkInt('Embedding', 'numEmbeddings', numEmbeddings);
    this.embeddingDim = checkInt('Embedding', 'embeddingDim', embeddingDim);
    let p = options.paddingIdx ?? null;
    if (p !== null) {
      if (!Number.isInteger(p) || p >= numEmbeddings || p < -numEmbeddings) {
        throw layerError('Embedding', `paddingIdx must be an integer in [${-numEmbeddings}, ${numEmbeddings}), got ${p}`);
      }
      if (p < 0) p += numEmbeddings;
    }
    this.paddingIdx = p;
    this.weight = newParameter([numEmbeddings, embeddingDim], options);
    initWeight('Embedding', this.weight, options.init, (w) => init.normal_(w));
    if (p !== null) zeroRow(this.weight, p);
  }

  /**
   * An Embedding holding a copy of `weights` [numEmbeddings, embeddingDim] (PyTorch
   * `nn.Embedding.from_pretrained`). `freeze` (default true) makes the table
   * non-trainable (`requiresGrad` false; it is still listed by `parameters()`, as in
   * PyTorch). The copy lives on `weights`' backend with its dtype; a `paddingIdx` row
   * keeps its pretrained values but receives no gradient.
   *
   * @example
   * ```ts
   * const glove = kiln.randn([1000, 50]);                     // pretrained vectors
   * const emb = kiln.nn.Embedding.fromPretrained(glove);       // frozen
   * emb.forward(kiln.tensor([3, 7], { dtype: 'int32' })).shape; // [2, 50]
   * const tuned = kiln.nn.Embedding.fromPretrained(glove, { freeze: false });
   * ```
   */
  static fromPretrained(weights: Tensor, options: { freeze?: boolean; paddingIdx?: number } = {}): Embedding {
    if (weights.rank !== 2) throw layerError('Embedding', `fromPretrained needs a 2-D weight [numEmbeddings, embeddingDim], got shape [${weights.shape.join(', ')}]`);
    if (weights.dtype !== 'float32' && weights.dtype !== 'float64') throw layerError('Embedding', `fromPretrained needs float32 or float64 weights, got ${weights.dtype}`);
    const [rows, cols] = weights.shape as [number, number];
    // No random draw (init is a no-op): the table is overwritten below.
    const emb = new Embedding(rows, cols, { paddingIdx: options.paddingIdx, dtype: weights.dtype, backend: weights.backend.name, init: () => {} });
    noGrad(() => emb.weight.copy_(weights));
    if (options.freeze ?? true) emb.weight.requiresGrad_(false);
    return emb;
  }

  forward(indices: Tensor): Tensor {
    if (indices.dtype !== 'int32') throw layerError('Embedding', `indices must be int32, got ${indices.dtype} (shape [${indices.shape.join(', ')}])`);
    const flat = indices.reshape([-1]);
    let rows = this.weight.indexSelect(0, flat);
    if (this.paddingIdx !== null) {
      // The padding row's value passes through, but from a detached copy: no gradient reaches it.
      const frozen = this.weight.detach().indexSelect(0, flat);
      rows = where(notEqual(flat, this.paddingIdx).reshape([-1, 1]), rows, frozen);
    }
    return rows.reshape([...indices.shape, this.embeddingDim]);
  }
}

/** Sets row `row` of a 2-D parameter to 0, in place. */
function zeroRow(weight: Tensor, row: number): void {
  const keep = new Float64Array(weight.shape[0]!).fill(1);
  keep[row] = 0;
  const mask = tensor(keep, { shape: [weight.shape[0]!, 1], dtype: weight.dtype, backend: weight.backend.name });
  try {
    noGrad(() => weight.mul_(mask));
  } finally {
    mask.dispose();
  }
}
