import { tensor } from '../creation.js';
import * as ops from '../../ops/recurrent.js';
import { opError, run } from '../dispatch.js';
import { Tensor } from '../tensor.js';

/** Options of `rnn`, `lstm` and `gru`. */
export interface RecurrentFunctionOptions {
  /** Stacked layers (the weights hold `numLayers·directions` groups). Default 1. */
  numLayers?: number;
  /** Run each layer from the end of the sequence too; outputs concatenate both directions. Default false. */
  bidirectional?: boolean;
  /** `x` and the output are `[batch, time, features]` (states stay `[layers·dirs, batch, hidden]`). Default false. */
  batchFirst?: boolean;
  /**
   * Length of each sequence of a padded batch: sequence b updates its state only during
   * its first `lengths[b]` steps, its later outputs are 0, and the reverse direction
   * starts at its own last step.
   */
  lengths?: Tensor | readonly number[];
}

function call(op: ops.RecurrentOp, x: Tensor, states: readonly Tensor[], weights: readonly Tensor[], options: RecurrentFunctionOptions, extra: Record<string, string> = {}): Tensor[] {
  const all: unknown[] = [x, ...states, ...weights];
  all.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw opError(op, `${i === 0 ? 'the input' : i <= states.length ? 'an initial state' : `weight ${i - 1 - states.length}`} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
  });
  const numLayers = options.numLayers ?? 1;
  const slots = numLayers * (options.bidirectional ? 2 : 1);
  if (weights.length !== 2 * slots && weights.length !== 4 * slots) {
    throw opError(op, `expected ${4 * slots} weights (W_ih, W_hh, b_ih, b_hh per layer and direction) or ${2 * slots} without biases, got ${weights.length}`, [x]);
  }
  const h0 = states[0]!;
  if (h0.rank !== 3) throw opError(op, `initial states must be [layers·directions, batch, hidden], got shape [${h0.shape.join(', ')}]`, [x, h0]);
  const inputs = [x, ...states, ...weights];
  if (options.lengths !== undefined) {
    const l = options.lengths;
    inputs.push(l instanceof Tensor ? l : tensor([...l], { dtype: 'int32', backend: x.backend.name }));
  }
  const attrs = {
    hiddenSize: h0.shape[2]!, numLayers, bidirectional: options.bidirectional ?? false,
    batchFirst: options.batchFirst ?? false, hasBiases: weights.length === 4 * slots, ...extra,
  };
  return run(op === 'lstm' ? ops.lstm : op === 'gru' ? ops.gru : ops.rnn, inputs, attrs);
}

/**
 * A whole-sequence Elman RNN, all layers and directions as one op (PyTorch's
 * `_VF.rnn_tanh`/`rnn_relu`): `h_t = tanh(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)` (or ReLU).
 * `x` `[time, batch, in]`, `h0` `[layers·dirs, batch, hidden]`, `weights` in PyTorch's
 * flat order (per layer and direction: W_ih, W_hh, then b_ih, b_hh unless there are
 * none). Returns `[output, hN]`. `nn.RNN` calls it.
 *
 * @example
 * ```ts
 * const [x, h0] = [kiln.randn([7, 2, 3]), kiln.zeros([1, 2, 4])];
 * const w = [kiln.randn([4, 3]), kiln.randn([4, 4]), kiln.zeros([4]), kiln.zeros([4])];
 * const [out, hN] = kiln.rnn(x, h0, w); // [7, 2, 4], [1, 2, 4]
 * ```
 */
export function rnn(x: Tensor, h0: Tensor, weights: readonly Tensor[], options: RecurrentFunctionOptions & { nonlinearity?: 'tanh' | 'relu' } = {}): [Tensor, Tensor] {
  return call('rnn', x, [h0], weights, options, { nonlinearity: options.nonlinearity ?? 'tanh' }) as [Tensor, Tensor];
}

/**
 * A whole-sequence LSTM, all layers and directions as one op (PyTorch's `_VF.lstm`),
 * gates i, f, g, o. Inputs as `rnn`, states `[h0, c0]`; returns `[output, hN, cN]`.
 * `nn.LSTM` calls it.
 *
 * @example
 * ```ts
 * const x = kiln.randn([5, 2, 3]), h0 = kiln.zeros([1, 2, 4]), c0 = kiln.zeros([1, 2, 4]);
 * const w = [kiln.randn([16, 3]), kiln.randn([16, 4])]; // no biases
 * const [out, hN, cN] = kiln.lstm(x, [h0, c0], w, { lengths: [5, 3] }); // sequence 1 stops after 3 steps
 * ```
 */
export function lstm(x: Tensor, states: readonly [Tensor, Tensor], weights: readonly Tensor[], options: RecurrentFunctionOptions = {}): [Tensor, Tensor, Tensor] {
  if (!Array.isArray(states) || states.length !== 2) throw opError('lstm', 'the initial state of an LSTM is a pair [h0, c0]');
  return call('lstm', x, states, weights, options) as [Tensor, Tensor, Tensor];
}

/**
 * A whole-sequence GRU, all layers and directions as one op (PyTorch's `_VF.gru`),
 * gates r, z, n. Inputs and outputs as `rnn`. `nn.GRU` calls it.
 *
 * @example
 * ```ts
 * const x = kiln.randn([4, 6, 3], { seed: 1 }), h0 = kiln.zeros([2, 4, 5]);
 * const w = [kiln.randn([15, 3]), kiln.randn([15, 5]), kiln.randn([15, 3]), kiln.randn([15, 5])];
 * const [out, hN] = kiln.gru(x, h0, w, { bidirectional: true, batchFirst: true }); // [4, 6, 10], [2, 4, 5]
 * ```
 */
export function gru(x: Tensor, h0: Tensor, weights: readonly Tensor[], options: RecurrentFunctionOptions = {}): [Tensor, Tensor] {
  return call('gru', x, [h0], weights, options) as [Tensor, Tensor];
}
