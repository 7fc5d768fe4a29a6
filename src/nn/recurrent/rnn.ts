import { KilnError, type Tensor } from '../../eager/index.js';
import type { PackedSequence } from './packedSequence.js';
import { RecurrentBase, type RecurrentForwardOptions, type RecurrentOptions } from './recurrentBase.js';

/** Options of `RNN`: the shared recurrent options plus the nonlinearity. */
export interface RNNOptions extends RecurrentOptions {
  /** `h_t = nonlinearity(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)`. Default `'tanh'`. */
  nonlinearity?: 'tanh' | 'relu';
}

/**
 * Elman recurrent layer (PyTorch `nn.RNN`):
 * `h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)` (or ReLU), over `numLayers`
 * stacked layers, optionally bidirectional. Parameters: `weightIh_l{k}` `[hidden, in]`,
 * `weightHh_l{k}` `[hidden, hidden]`, `biasIh_l{k}`, `biasHh_l{k}` (+ `_reverse`).
 *
 * `forward(x, h0?, { lengths }?)` takes `x` `[time, batch, in]` (`[batch, time, in]`
 * with `batchFirst`, `[time, in]` unbatched) or a `PackedSequence`, and `h0`
 * `[layers·directions, batch, hidden]` (zeros when omitted). It returns
 * `[output, hN]`: `output` `[time, batch, directions·hidden]` (the last layer's states
 * at every step; a `PackedSequence` for a packed input) and `hN`
 * `[layers·directions, batch, hidden]`. Backpropagation through time is ordinary
 * autograd through the unrolled steps.
 *
 * The textbook (Elman) RNN `h_t = σ(U x_t + V h_{t−1} + b)`, `o_t = σ(W h_t + b_o)`
 * is this layer (U = `weightIh_l0`, V = `weightHh_l0`, b = `biasIh_l0 + biasHh_l0`; tanh
 * or ReLU as σ of the state) followed by a readout applied to every step's output:
 * a weight `W` `[outputs, hidden]` and bias `b_o`, e.g.
 * `output.matmul(W.transpose()).add(bo).sigmoid()` (or a `Linear` layer and a sigmoid).
 *
 * @example
 * ```ts
 * const rnn = new kiln.nn.RNN(3, 5, { numLayers: 2 });
 * const x = kiln.randn([7, 4, 3]);                 // 7 steps, batch 4, 3 features
 * const [output, hN] = rnn.forward(x);             // [7, 4, 5], [2, 4, 5]
 * // The Elman readout o_t = σ(W h_t + b_o): a readout on every step.
 * const W = kiln.nn.parameter(kiln.randn([2, 5])), bo = kiln.nn.parameter(kiln.zeros([2]));
 * const o = output.matmul(W.transpose()).add(bo).sigmoid(); // [7, 4, 2]
 * ```
 */
export class RNN extends RecurrentBase {
  readonly nonlinearity: 'tanh' | 'relu';

  constructor(inputSize: number, hiddenSize: number, options: RNNOptions = {}) {
    const nonlinearity = options.nonlinearity ?? 'tanh';
    if (nonlinearity !== 'tanh' && nonlinearity !== 'relu') throw new KilnError(`nonlinearity must be 'tanh' or 'relu', got '${String(nonlinearity)}'`, { op: 'RNN' });
    super(nonlinearity === 'tanh' ? 'rnnTanh' : 'rnnRelu', 'RNN', inputSize, hiddenSize, options);
    this.nonlinearity = nonlinearity;
  }

  forward(input: Tensor, h0?: Tensor | null): [Tensor, Tensor];
  forward<I extends Tensor | PackedSequence>(input: I, h0?: Tensor | null, options?: RecurrentForwardOptions): [I, Tensor];
  forward(input: Tensor | PackedSequence, h0?: Tensor | null, options: RecurrentForwardOptions = {}): [Tensor | PackedSequence, Tensor] {
    const { output, finals } = this.runLayers('RNN', input, h0 ? [h0] : null, options);
    return [output, finals[0]!];
  }
}
