import type { Tensor } from '../../eager/index.js';
import type { PackedSequence } from './packedSequence.js';
import { RecurrentBase, type RecurrentForwardOptions, type RecurrentOptions } from './recurrentBase.js';

/**
 * Gated recurrent unit layer (PyTorch `nn.GRU`), gate order r, z, n:
 * ```
 * r = σ(W_ir x + b_ir + W_hr h + b_hr)
 * z = σ(W_iz x + b_iz + W_hz h + b_hz)
 * n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
 * h' = (1 − z) ⊙ n + z ⊙ h
 * ```
 * Parameters `weightIh_l{k}` `[3·hidden, in]`, `weightHh_l{k}` `[3·hidden, hidden]`,
 * `biasIh_l{k}`, `biasHh_l{k}` `[3·hidden]` (+ `_reverse`). `forward(x, h0?, { lengths }?)`
 * returns `[output, hN]` with the shapes of `RNN`; `x` may be a `PackedSequence`.
 *
 * @example
 * ```ts
 * const gru = new kiln.nn.GRU(3, 8, { batchFirst: true, bidirectional: true });
 * const [out, hN] = gru.forward(kiln.randn([4, 6, 3]), null, { lengths: [6, 2, 5, 1] });
 * out.shape; // [4, 6, 16]; zeros past each length
 * hN.shape;  // [2, 4, 8]
 * ```
 */
export class GRU extends RecurrentBase {
  constructor(inputSize: number, hiddenSize: number, options: RecurrentOptions = {}) {
    super('gru', 'GRU', inputSize, hiddenSize, options);
  }

  forward(input: Tensor, h0?: Tensor | null): [Tensor, Tensor];
  forward<I extends Tensor | PackedSequence>(input: I, h0?: Tensor | null, options?: RecurrentForwardOptions): [I, Tensor];
  forward(input: Tensor | PackedSequence, h0?: Tensor | null, options: RecurrentForwardOptions = {}): [Tensor | PackedSequence, Tensor] {
    const { output, finals } = this.runLayers('GRU', input, h0 ? [h0] : null, options);
    return [output, finals[0]!];
  }
}
