// FLOPs of one call of a layer, from its attributes and the shapes it saw (no kernels).
//
// Conventions (stated once, used everywhere; tests compute the same by hand):
// - a multiply-add counts as 2 FLOPs, any other arithmetic op or comparison as 1, and an
//   exp/tanh/log as 1;
// - per-channel or per-row constants (1/√(var+ε), 1/√d) are not counted: they are tiny;
// - layers run as `kiln.summary` runs them: in eval mode (Dropout is the identity,
//   BatchNorm uses its running statistics when it tracks them).
import { Tensor } from '../eager/index.js';
import {
  AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, ConvTranspose2d, Dropout, Dropout2d, ELU, Embedding, Flatten,
  GroupNorm, GRU, GRUCell, Identity, LayerNorm, LeakyReLU, Linear, LogSoftmax, LSTM, LSTMCell, MaxPool2d, Module, MultiheadAttention,
  PackedSequence, PReLU, ReLU, RNN, RNNCell, Sigmoid, Softmax, Tanh, Upsample,
} from '../nn/index.js';

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The first tensor of a layer's result (a tensor, or the first of an array). */
function firstTensor(v: unknown): Tensor | null {
  if (v instanceof Tensor) return v;
  if (Array.isArray(v)) for (const e of v) { const t = firstTensor(e); if (t) return t; }
  return null;
}

/**
 * Per-element cost of a normalization layer: statistics (when computed from the input)
 * 3 — a sum for the mean, a multiply-add of the centered value for the variance (the
 * centered value is reused) —, normalizing 2 (subtract, multiply), then 1 for a scale
 * and 1 for a shift.
 */
function normPerElement(computesStats: boolean, weight: Tensor | null, bias: Tensor | null): number {
  return (computesStats ? 3 : 0) + 2 + (weight ? 1 : 0) + (bias ? 1 : 0);
}

/** PyTorch's adaptive-pooling windows along one axis: the sum of their sizes. */
function adaptiveWindowTotal(n: number, out: number): number {
  let total = 0;
  for (let i = 0; i < out; i++) total += Math.ceil(((i + 1) * n) / out) - Math.floor((i * n) / out);
  return total;
}

/**
 * FLOPs of one recurrent step of one batch element, for a layer with input size `inp`
 * and hidden size `h`: the two matrix products (2·(inp + h)·gates·h), the biases
 * (2 adds per gate unit with both biases) and the gate arithmetic:
 * RNN 1 per unit (tanh or relu); LSTM 18 (three sigmoids at 4, tanh(g), c = f·c + i·g
 * at 3, tanh(c), o·tanh(c)); GRU 15 (two sigmoids at 4, r·(W_hn h + b_hn) and the add
 * and tanh at 3, h = (1 − z)·n + z·h at 4).
 */
function recurrentStepFlops(kind: 'rnn' | 'lstm' | 'gru', inp: number, h: number, bias: boolean): number {
  const gates = kind === 'lstm' ? 4 : kind === 'gru' ? 3 : 1;
  const gateOps = kind === 'lstm' ? 18 : kind === 'gru' ? 15 : 1;
  return 2 * (inp + h) * gates * h + (bias ? 2 * gates * h : 0) + gateOps * h;
}

/** Steps × batch elements a recurrent layer ran over (a packed batch: the sum of its lengths). */
function stepsTimesBatch(input: unknown, inputSize: number): number | null {
  if (input instanceof PackedSequence) return input.lengths.reduce((a, b) => a + b, 0);
  if (input instanceof Tensor) return numel(input.shape) / inputSize;
  return null;
}

/**
 * FLOPs of one call of `m` with these inputs and output, or null for a layer type whose
 * cost Kiln does not know (a user-defined leaf module): unknown, not 0. The conventions
 * are listed at the top of this file and in `kiln.summary`'s documentation.
 *
 * @example
 * ```ts
 * const fc = new kiln.nn.Linear(3, 2);
 * const x = kiln.randn([4, 3]);
 * kiln.diagnostics.layerFlops(fc, [x], fc.forward(x)); // 2·4·3·2 + 4·2 (bias) = 56
 * ```
 */
export function layerFlops(m: Module, inputs: readonly unknown[], output: unknown): number | null {
  const x = inputs[0] instanceof Tensor ? inputs[0] : null;
  const y = firstTensor(output);
  const nx = x ? numel(x.shape) : 0;
  const ny = y ? numel(y.shape) : 0;
  if (m instanceof Linear) {
    if (!y) return null;
    return 2 * (ny / m.outFeatures) * m.inFeatures * m.outFeatures + (m.bias ? ny : 0);
  }
  if (m instanceof Conv2d || m instanceof Conv1d) {
    const k = m instanceof Conv2d ? m.kernelSize[0] * m.kernelSize[1] : m.kernelSize;
    return ny * 2 * (m.inChannels / m.groups) * k + (m.bias ? ny : 0);
  }
  if (m instanceof ConvTranspose2d) {
    // Every input element is scattered into outChannels/groups × kH × kW outputs.
    return nx * 2 * (m.outChannels / m.groups) * m.kernelSize[0] * m.kernelSize[1] + (m.bias ? ny : 0);
  }
  if (m instanceof BatchNorm1d || m instanceof BatchNorm2d) {
    const usesRunning = m.trackRunningStats && !m.training;
    return nx * normPerElement(!usesRunning, m.weight, m.bias);
  }
  if (m instanceof LayerNorm || m instanceof GroupNorm) return nx * normPerElement(true, m.weight, m.bias);
  if (m instanceof MaxPool2d) return ny * (m.kernelSize[0] * m.kernelSize[1] - 1); // comparisons
  if (m instanceof AvgPool2d) return ny * m.kernelSize[0] * m.kernelSize[1]; // k−1 adds and a divide
  if (m instanceof AdaptiveAvgPool2d) {
    if (!x || !y) return null;
    const [h, w] = x.shape.slice(-2) as [number, number];
    const [oh, ow] = y.shape.slice(-2) as [number, number];
    const planes = numel(x.shape.slice(0, -2));
    return planes * adaptiveWindowTotal(h, oh) * adaptiveWindowTotal(w, ow); // Σ window sizes: adds + divides
  }
  if (m instanceof ReLU) return nx; // max(x, 0)
  if (m instanceof LeakyReLU || m instanceof PReLU) return 2 * nx; // compare, multiply
  if (m instanceof ELU) return 3 * nx; // exp, subtract, multiply
  if (m instanceof Sigmoid) return 4 * nx; // negate, exp, add, divide
  if (m instanceof Tanh) return nx;
  if (m instanceof Softmax || m instanceof LogSoftmax) return 5 * nx; // max, subtract, exp, sum, divide (log-softmax: subtract)
  if (m instanceof Identity || m instanceof Flatten || m instanceof Dropout || m instanceof Dropout2d || m instanceof Embedding) return 0;
  if (m instanceof Upsample) return m.mode === 'nearest' ? 0 : 8 * ny; // bilinear: 4 weighted taps (multiply-adds) per output
  if (m instanceof RNN || m instanceof LSTM || m instanceof GRU) {
    const kind = m instanceof LSTM ? 'lstm' : m instanceof GRU ? 'gru' : 'rnn';
    const n = stepsTimesBatch(inputs[0], m.inputSize);
    if (n === null) return null;
    const dirs = m.bidirectional ? 2 : 1;
    let perStep = 0;
    for (let l = 0; l < m.numLayers; l++) {
      const inp = l === 0 ? m.inputSize : m.hiddenSize * dirs;
      perStep += dirs * recurrentStepFlops(kind, inp, m.hiddenSize, m.bias);
    }
    return n * perStep;
  }
  if (m instanceof RNNCell || m instanceof LSTMCell || m instanceof GRUCell) {
    const kind = m instanceof LSTMCell ? 'lstm' : m instanceof GRUCell ? 'gru' : 'rnn';
    if (!x) return null;
    return (nx / m.inputSize) * recurrentStepFlops(kind, m.inputSize, m.hiddenSize, m.bias);
  }
  if (m instanceof MultiheadAttention) {
    const [q, k] = inputs;
    if (!(q instanceof Tensor) || !(k instanceof Tensor)) return null;
    const e = m.embedDim;
    const tokensQ = numel(q.shape) / e; // batch × L
    const tokensK = numel(k.shape) / e; // batch × S
    const batch = q.rank === 3 ? q.shape[m.batchFirst ? 0 : 1]! : 1;
    const l = tokensQ / batch, s = tokensK / batch;
    const bias = m.inProjBias !== null;
    const proj = (tokens: number) => 2 * tokens * e * e + (bias ? tokens * e : 0);
    return (
      proj(tokensQ) + 2 * proj(tokensK) // q, k, v projections
      + tokensQ * e // q / √d
      + 2 * batch * l * s * e // scores, all heads
      + 5 * batch * m.numHeads * l * s // softmax
      + 2 * batch * l * s * e // weights · v
      + proj(tokensQ) // output projection
    );
  }
  return null;
}
