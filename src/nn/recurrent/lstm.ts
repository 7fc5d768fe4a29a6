import { KilnError, type Tensor } from '../../eager/index.js';
import type { PackedSequence } from './packedSequence.js';
import { RecurrentBase, type RecurrentForwardOptions, type RecurrentOptions } from './recurrentBase.js';

/** An LSTM's state: `[h, c]`. */
export type LSTMState = readonly [Tensor, Tensor];

/**
 * Long short-term memory layer (PyTorch `nn.LSTM`), gate order i, f, g, o:
 * ```
 * i = σ(W_ii x + b_ii + W_hi h + b_hi)    f = σ(W_if x + b_if + W_hf h + b_hf)
 * g = tanh(W_ig x + b_ig + W_hg h + b_hg) o = σ(W_io x + b_io + W_ho h + b_ho)
 * c' = f ⊙ c + i ⊙ g                      h' = o ⊙ tanh(c')
 * ```
 * Parameters `weightIh_l{k}` `[4·hidden, in]`, `weightHh_l{k}` `[4·hidden, hidden]`,
 * `biasIh_l{k}`, `biasHh_l{k}` `[4·hidden]` (+ `_reverse`).
 * `forward(x, [h0, c0]?, { lengths }?)` returns `[output, [hN, cN]]`; states are
 * `[layers·directions, batch, hidden]`; `x` may be a `PackedSequence`.
 *
 * @example
 * ```ts
 * const lstm = new kiln.nn.LSTM(10, 20, { numLayers: 2 });
 * const x = kiln.randn([5, 3, 10]);
 * const h0 = kiln.zeros([2, 3, 20]), c0 = kiln.zeros([2, 3, 20]);
 * const [output, [hN, cN]] = lstm.forward(x, [h0, c0]); // [5, 3, 20], [2, 3, 20], [2, 3, 20]
 * ```
 */
export class LSTM extends RecurrentBase {
  constructor(inputSize: number, hiddenSize: number, options: RecurrentOptions = {}) {
    super('lstm', 'LSTM', inputSize, hiddenSize, options);
  }

  // TODO(module.ts): Module.forward is typed `(...inputs: Tensor[]) => Tensor | Tensor[]`,
  // which cannot describe PyTorch's `(x, (h0, c0)) -> (output, (hN, cN))`.
  forward<I extends Tensor | PackedSequence>(input: I, hx?: LSTMState | null, options: RecurrentForwardOptions = {}): [I, [Tensor, Tensor]] {
    if (hx && (!Array.isArray(hx) || hx.length !== 2)) throw new KilnError('the initial state of an LSTM is a pair [h0, c0]', { op: 'LSTM' });
    const { output, finals } = this.runLayers('LSTM', input, hx ? [hx[0], hx[1]] : null, options);
    return [output as I, [finals[0]!, finals[1]!]];
  }
}
