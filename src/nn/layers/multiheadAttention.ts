import { dropout as dropoutOp, matmul, softmax, where, type Tensor } from '../../eager/index.js';
import { Module } from '../module.js';
import { checkInt, layerError, newParameter, type FactoryOptions } from './common.js';
import { Linear } from './linear.js';
import * as init from '../init.js';

/** Options of `MultiheadAttention`. */
export interface MultiheadAttentionOptions extends FactoryOptions {
  /** Biases of the input and output projections. Default true. */
  bias?: boolean;
  /** Inputs and output as [N, L, E] instead of [L, N, E]. Default false (PyTorch's default). */
  batchFirst?: boolean;
  /** Dropout probability on the attention weights (training only). Default 0. */
  dropout?: number;
}

/** Options of `MultiheadAttention.forward`. */
export interface MultiheadAttentionForwardOptions {
  /**
   * [N, S] (unbatched: [S]): `bool`, true where a key position is padding and must not
   * be attended to; or float, added to the attention scores of each key position.
   */
  keyPaddingMask?: Tensor | null;
  /**
   * [L, S] (the same for every sample and head) or [N·numHeads, L, S] (sample-major,
   * as PyTorch; unbatched: [numHeads, L, S]): `bool`, true where query i must not
   * attend to key j; or float, added to the scores (−∞ blocks).
   */
  attnMask?: Tensor | null;
  /** Also return the attention weights. Default true. */
  needWeights?: boolean;
  /** Average the returned weights over the heads ([N, L, S]) instead of [N, numHeads, L, S]. Default true. */
  averageAttnWeights?: boolean;
}

/** The tensors and settings of one multi-head attention call (see `multiheadAttention`). */
export interface MultiheadAttentionParams extends MultiheadAttentionForwardOptions {
  numHeads: number;
  /** Packed [3E, E]: rows 0..E−1 project the query, E..2E−1 the key, 2E..3E−1 the value. */
  inProjWeight: Tensor;
  /** Packed [3E] or null. */
  inProjBias: Tensor | null;
  outProjWeight: Tensor;
  outProjBias: Tensor | null;
  /** Dropout on the attention weights; applied only when `training`. Default 0. */
  dropout?: number;
  training?: boolean;
}

function linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const y = matmul(x, weight.transpose());
  return bias ? y.add(bias) : y;
}

function checkMask(name: string, mask: Tensor, expected: readonly (readonly number[])[], inputs: string): void {
  if (mask.dtype !== 'bool' && mask.dtype !== 'float32' && mask.dtype !== 'float64') {
    throw layerError('MultiheadAttention', `${name} must be bool or float, got ${mask.dtype}`);
  }
  if (!expected.some((s) => s.length === mask.rank && s.every((d, i) => d === mask.shape[i]))) {
    throw layerError('MultiheadAttention', `${name} must have shape ${expected.map((s) => `[${s.join(', ')}]`).join(' or ')} for ${inputs}, got [${mask.shape.join(', ')}]`);
  }
}

/** Adds a float mask to the scores, or sets them to −∞ where a bool mask is true. */
function applyMask(scores: Tensor, mask: Tensor): Tensor {
  return mask.dtype === 'bool' ? where(mask, -Infinity, scores) : scores.add(mask);
}

/**
 * Multi-head scaled dot-product attention on batch-first input (PyTorch
 * `F.multi_head_attention_forward` with packed projections): query [N, L, E], key and
 * value [N, S, E]. Returns the output [N, L, E] and, if `needWeights`, the attention
 * weights (after dropout, as PyTorch returns them) [N, L, S] averaged over heads or
 * [N, numHeads, L, S]. Masks as in `MultiheadAttentionForwardOptions` (batched shapes).
 */
export function multiheadAttention(query: Tensor, key: Tensor, value: Tensor, p: MultiheadAttentionParams): [Tensor, Tensor | null] {
  const [n, l, e] = query.shape as [number, number, number];
  const s = key.shape[1]!;
  const h = p.numHeads;
  const d = e / h;
  let q: Tensor, k: Tensor, v: Tensor;
  if (query === key && key === value) {
    // Self-attention: one matmul with the packed weight, then split.
    [q, k, v] = linear(query, p.inProjWeight, p.inProjBias).split(e, 2) as [Tensor, Tensor, Tensor];
  } else {
    const w = p.inProjWeight.split(e, 0);
    const b = p.inProjBias ? p.inProjBias.split(e, 0) : [null, null, null];
    q = linear(query, w[0]!, b[0]!);
    k = linear(key, w[1]!, b[1]!);
    v = linear(value, w[2]!, b[2]!);
  }
  // [N, T, E] → [N, H, T, d]
  const heads = (t: Tensor, len: number) => t.reshape([n, len, h, d]).permute(0, 2, 1, 3);
  let scores = matmul(heads(q, l).div(Math.sqrt(d)), heads(k, s).permute(0, 1, 3, 2)); // [N, H, L, S]
  if (p.attnMask) {
    const m = p.attnMask;
    scores = applyMask(scores, m.rank === 2 ? m.reshape([1, 1, l, s]) : m.reshape([n, h, l, s]));
  }
  if (p.keyPaddingMask) scores = applyMask(scores, p.keyPaddingMask.reshape([n, 1, 1, s]));
  let weights = softmax(scores, 3);
  const drop = p.dropout ?? 0;
  if (p.training && drop > 0) weights = dropoutOp(weights, drop, { training: true });
  const context = matmul(weights, heads(v, s)).permute(0, 2, 1, 3).reshape([n, l, e]);
  const out = linear(context, p.outProjWeight, p.outProjBias);
  if (!(p.needWeights ?? true)) return [out, null];
  return [out, (p.averageAttnWeights ?? true) ? weights.mean(1) : weights];
}

/**
 * Multi-head attention (PyTorch `nn.MultiheadAttention`, with kdim = vdim = embedDim):
 * softmax(q·kᵀ/√d + mask)·v per head of size d = embedDim/numHeads, heads concatenated
 * and projected by `outProj`. The query, key and value projections are packed in one
 * parameter as in PyTorch's state dict: `inProjWeight` [3E, E] (rows: q, k, v),
 * `inProjBias` [3E], then `outProj.weight` [E, E], `outProj.bias` [E].
 *
 * Input [L, N, E] (`batchFirst`: [N, L, E]) or unbatched [L, E]; key and value of
 * length S. `forward` returns `[output, weights]`: output like the query, weights
 * [N, L, S] (averaged over heads), [N, numHeads, L, S] (`averageAttnWeights: false`)
 * or null (`needWeights: false`).
 *
 * Default init is PyTorch's: `inProjWeight` Xavier-uniform, `outProj.weight` as
 * Linear's U(±1/√E), biases 0.
 *
 * @example
 * ```ts
 * const mha = new kiln.nn.MultiheadAttention(64, 8, { batchFirst: true });
 * const x = kiln.randn([2, 10, 64]);
 * const pad = kiln.tensor([[0, 0, 0, 0, 0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]).greater(0);
 * const [y, w] = mha.forward(x, x, x, { keyPaddingMask: pad }); // y [2, 10, 64], w [2, 10, 10]
 * ```
 */
export class MultiheadAttention extends Module {
  /** Packed query/key/value projection weight, [3·embedDim, embedDim]. */
  readonly inProjWeight: Tensor;
  /** Packed projection bias, [3·embedDim] (null with `bias: false`). */
  readonly inProjBias: Tensor | null;
  /** Output projection, embedDim → embedDim. */
  readonly outProj: Linear;
  readonly embedDim: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly batchFirst: boolean;
  readonly dropout: number;

  constructor(embedDim: number, numHeads: number, options: MultiheadAttentionOptions = {}) {
    super();
    this.embedDim = checkInt('MultiheadAttention', 'embedDim', embedDim);
    this.numHeads = checkInt('MultiheadAttention', 'numHeads', numHeads);
    if (embedDim % numHeads !== 0) throw layerError('MultiheadAttention', `embedDim (${embedDim}) must be divisible by numHeads (${numHeads})`);
    this.headDim = embedDim / numHeads;
    this.batchFirst = options.batchFirst ?? false;
    const p = options.dropout ?? 0;
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw layerError('MultiheadAttention', `dropout must be a probability in [0, 1], got ${String(p)}`);
    this.dropout = p;
    const bias = options.bias ?? true;
    const factory: FactoryOptions = { dtype: options.dtype, backend: options.backend };
    this.inProjWeight = init.xavierUniform_(newParameter([3 * embedDim, embedDim], factory));
    this.inProjBias = bias ? newParameter([3 * embedDim], factory) : null;
    this.outProj = new Linear(embedDim, embedDim, { ...factory, bias });
    if (this.outProj.bias) init.zeros_(this.outProj.bias);
  }

  forward(query: Tensor, key: Tensor, value: Tensor, options: MultiheadAttentionForwardOptions = {}): [Tensor, Tensor | null] {
    const e = this.embedDim;
    const batched = query.rank === 3;
    if (!batched && query.rank !== 2) throw layerError('MultiheadAttention', `query must be [L, N, E], [N, L, E] (batchFirst) or unbatched [L, E], got shape [${query.shape.join(', ')}]`);
    const rank = query.rank;
    for (const [name, t] of [['query', query], ['key', key], ['value', value]] as const) {
      if (t.rank !== rank || t.shape[rank - 1] !== e) {
        throw layerError('MultiheadAttention', `${name} must be rank ${rank} with embedding size ${e} (last dim), got shape [${t.shape.join(', ')}]`);
      }
    }
    const shapes = `query [${query.shape.join(', ')}], key [${key.shape.join(', ')}], value [${value.shape.join(', ')}]`;
    if (key.shape.join() !== value.shape.join()) throw layerError('MultiheadAttention', `key and value must have the same shape: ${shapes}`);
    // To batch-first [N, T, E].
    const bf = (t: Tensor) => (!batched ? t.unsqueeze(0) : this.batchFirst ? t : t.transpose(0, 1));
    const [q, k, v] = query === key && key === value ? [bf(query), null, null] : [bf(query), bf(key), bf(value)];
    const kk = k ?? q, vv = v ?? q;
    const [n, l] = q.shape as [number, number];
    if (kk.shape[0] !== n) throw layerError('MultiheadAttention', `query and key must have the same batch size: ${shapes}`);
    const s = kk.shape[1]!;
    const h = this.numHeads;
    let { keyPaddingMask, attnMask } = options;
    if (keyPaddingMask) {
      checkMask('keyPaddingMask', keyPaddingMask, [batched ? [n, s] : [s]], shapes);
      if (!batched) keyPaddingMask = keyPaddingMask.unsqueeze(0);
    }
    if (attnMask) checkMask('attnMask', attnMask, [[l, s], batched ? [n * h, l, s] : [h, l, s]], shapes);
    const [out, weights] = multiheadAttention(q, kk, vv, {
      numHeads: h,
      inProjWeight: this.inProjWeight,
      inProjBias: this.inProjBias,
      outProjWeight: this.outProj.weight,
      outProjBias: this.outProj.bias,
      dropout: this.dropout,
      training: this.training,
      keyPaddingMask,
      attnMask,
      needWeights: options.needWeights,
      averageAttnWeights: options.averageAttnWeights,
    });
    const y = !batched ? out.squeeze(0) : this.batchFirst ? out : out.transpose(0, 1);
    return [y, weights && !batched ? weights.squeeze(0) : weights];
  }
}
