import { erf, relu, type Tensor } from '../../eager/index.js';
import { Module } from '../module.js';
import { checkInt, layerError, type FactoryOptions } from './common.js';
import { Dropout } from './dropout.js';
import { LayerNorm } from './layerNorm.js';
import { Linear } from './linear.js';
import { MultiheadAttention } from './multiheadAttention.js';

/** Options of `TransformerEncoderLayer`. */
export interface TransformerEncoderLayerOptions extends FactoryOptions {
  /** Hidden size of the feed-forward block. Default 2048. */
  dimFeedforward?: number;
  /** Dropout after attention, inside and after the feed-forward block, and on the attention weights. Default 0.1. */
  dropout?: number;
  /** Feed-forward activation: `'relu'` (default), `'gelu'` (exact, with erf) or a function. */
  activation?: 'relu' | 'gelu' | ((x: Tensor) => Tensor);
  /** eps of both LayerNorms. Default 1e-5. */
  layerNormEps?: number;
  /** Input and output as [N, S, E] instead of [S, N, E]. Default false. */
  batchFirst?: boolean;
  /** Pre-norm (LayerNorm before each block) instead of post-norm. Default false. */
  normFirst?: boolean;
}

/** Options of `TransformerEncoderLayer.forward`. */
export interface TransformerEncoderLayerForwardOptions {
  /** Attention mask, [S, S] or [N·nhead, S, S] (see `MultiheadAttentionForwardOptions.attnMask`). */
  srcMask?: Tensor | null;
  /** [N, S]: true (or −∞) at padding positions (see `MultiheadAttentionForwardOptions.keyPaddingMask`). */
  srcKeyPaddingMask?: Tensor | null;
}

/** GELU, exact form x·½·(1 + erf(x/√2)) (PyTorch's default `approximate='none'`). */
function gelu(x: Tensor): Tensor {
  return x.mul(erf(x.mul(Math.SQRT1_2)).add(1)).mul(0.5);
}

/**
 * One Transformer encoder block (PyTorch `nn.TransformerEncoderLayer`): self-attention
 * then a feed-forward network linear2(dropout(activation(linear1(x)))), each with a
 * residual connection and LayerNorm. Post-norm (default):
 * x = norm1(x + dropout1(selfAttn(x))); x = norm2(x + dropout2(ff(x))).
 * `normFirst`: x = x + dropout1(selfAttn(norm1(x))); x = x + dropout2(ff(norm2(x))).
 * Parameter names match PyTorch's state dict (`selfAttn.inProjWeight`, `linear1.weight`,
 * `norm1.bias`, …), so weights load with `loadStateDict`.
 *
 * @example
 * ```ts
 * const layer = new kiln.nn.TransformerEncoderLayer(64, 4, { dimFeedforward: 128, batchFirst: true, activation: 'gelu' });
 * const x = kiln.randn([2, 10, 64]);
 * layer.forward(x).shape; // [2, 10, 64]
 * ```
 */
export class TransformerEncoderLayer extends Module {
  readonly selfAttn: MultiheadAttention;
  readonly linear1: Linear;
  readonly dropout: Dropout;
  readonly linear2: Linear;
  readonly normFirst: boolean;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly dropout1: Dropout;
  readonly dropout2: Dropout;
  readonly activation: (x: Tensor) => Tensor;

  constructor(dModel: number, nhead: number, options: TransformerEncoderLayerOptions = {}) {
    super();
    checkInt('TransformerEncoderLayer', 'dModel', dModel);
    checkInt('TransformerEncoderLayer', 'nhead', nhead);
    const dimFeedforward = checkInt('TransformerEncoderLayer', 'dimFeedforward', options.dimFeedforward ?? 2048);
    const p = options.dropout ?? 0.1;
    const factory: FactoryOptions = { dtype: options.dtype, backend: options.backend };
    const eps = options.layerNormEps ?? 1e-5;
    this.selfAttn = new MultiheadAttention(dModel, nhead, { ...factory, dropout: p, batchFirst: options.batchFirst ?? false });
    this.linear1 = new Linear(dModel, dimFeedforward, factory);
    this.dropout = new Dropout(p);
    this.linear2 = new Linear(dimFeedforward, dModel, factory);
    this.normFirst = options.normFirst ?? false;
    this.norm1 = new LayerNorm(dModel, { ...factory, eps });
    this.norm2 = new LayerNorm(dModel, { ...factory, eps });
    this.dropout1 = new Dropout(p);
    this.dropout2 = new Dropout(p);
    const act = options.activation ?? 'relu';
    if (act === 'relu') this.activation = relu;
    else if (act === 'gelu') this.activation = gelu;
    else if (typeof act === 'function') this.activation = act;
    else throw layerError('TransformerEncoderLayer', `activation should be 'relu', 'gelu' or a function, got ${String(act)}`);
  }

  forward(src: Tensor, options: TransformerEncoderLayerForwardOptions = {}): Tensor {
    let x = src;
    if (this.normFirst) {
      x = x.add(this.selfAttentionBlock(this.norm1.forward(x), options));
      x = x.add(this.feedForwardBlock(this.norm2.forward(x)));
    } else {
      x = this.norm1.forward(x.add(this.selfAttentionBlock(x, options)));
      x = this.norm2.forward(x.add(this.feedForwardBlock(x)));
    }
    return x;
  }

  private selfAttentionBlock(x: Tensor, options: TransformerEncoderLayerForwardOptions): Tensor {
    const [y] = this.selfAttn.forward(x, x, x, { attnMask: options.srcMask, keyPaddingMask: options.srcKeyPaddingMask, needWeights: false });
    return this.dropout1.forward(y);
  }

  private feedForwardBlock(x: Tensor): Tensor {
    return this.dropout2.forward(this.linear2.forward(this.dropout.forward(this.activation(this.linear1.forward(x)))));
  }
}
