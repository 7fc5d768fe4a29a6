// The multi-layer, optionally bidirectional recurrence shared by RNN, LSTM and GRU:
// parameters named and shaped as PyTorch's; the time loop is one whole-sequence op
// (src/ops/recurrent.ts: `rnn`, `lstm`, `gru`).
import { concat, dropout, gru, KilnError, lstm, rnn, Tensor, tensor, uniform, zeros, type BackendName } from '../../eager/index.js';
import { Module, parameter } from '../module.js';
import { PackedSequence } from './packedSequence.js';
import { gateCount, type RecurrentMode } from './recurrentSteps.js';
import { readLengths, type LengthsLike } from './sequenceLengths.js';

/** Where a recurrent module's parameters live (PyTorch's `dtype`/`device` factory arguments). */
export interface RecurrentFactoryOptions {
  /** Parameter dtype; default float32 (float64 only on the reference backend). */
  dtype?: 'float32' | 'float64';
  /** Backend of the parameters; default: the one `kiln.init` chose. */
  backend?: BackendName;
}

/** Options shared by `RNN`, `LSTM` and `GRU` (PyTorch's constructor arguments, camelCased). */
export interface RecurrentOptions extends RecurrentFactoryOptions {
  /** Stacked layers; layer l > 0 reads layer l − 1's outputs. Default 1. */
  numLayers?: number;
  /** Learn `b_ih` and `b_hh`. Default true. */
  bias?: boolean;
  /** Input and output are `[batch, time, features]` (states stay `[layers·dirs, batch, hidden]`). Default false. */
  batchFirst?: boolean;
  /** Dropout probability on each layer's outputs except the last, in training mode only. Default 0. */
  dropout?: number;
  /** Also run each layer from the end of the sequence back; outputs concatenate both directions. Default false. */
  bidirectional?: boolean;
}

/** Per-call options of a recurrent layer's `forward`. */
export interface RecurrentForwardOptions {
  /**
   * Length of each sequence of a padded batch (eager variable-length batches). Sequence
   * `b` stops updating its state after `lengths[b]` steps, its outputs past that are
   * zero, the final state is the one at its last valid step, and the reverse direction
   * starts at its own last element. Same results as a `PackedSequence`.
   */
  lengths?: LengthsLike;
}

/** One layer-direction's parameters. */
export interface RecurrentWeights {
  weightIh: Tensor;
  weightHh: Tensor;
  biasIh: Tensor | null;
  biasHh: Tensor | null;
}

/**
 * Base of `RNN`, `LSTM` and `GRU`. Parameters are properties named as in PyTorch,
 * camelCased: `weightIh_l{k}` `[gates·hidden, in]`, `weightHh_l{k}` `[gates·hidden,
 * hidden]`, `biasIh_l{k}`, `biasHh_l{k}` `[gates·hidden]`, with a `_reverse` suffix for
 * the backward direction; all start as U(−1/√hidden, 1/√hidden) like PyTorch.
 *
 * @example
 * ```ts
 * const layers: kiln.nn.RecurrentBase[] = [new kiln.nn.RNN(3, 4), new kiln.nn.GRU(3, 4, { bidirectional: true })];
 * layers.map((m) => m.namedParameters().map(([name]) => name)); // [['weightIh_l0', …], [… 'biasHh_l0_reverse']]
 * ```
 */
export abstract class RecurrentBase extends Module {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly bias: boolean;
  readonly batchFirst: boolean;
  readonly dropout: number;
  readonly bidirectional: boolean;
  protected readonly mode: RecurrentMode;

  /** Layer 0's input-to-hidden weight `[gates·hidden, inputSize]` (other layers: `layerWeights`). */
  declare readonly weightIh_l0: Tensor;
  /** Layer 0's hidden-to-hidden weight `[gates·hidden, hidden]`. */
  declare readonly weightHh_l0: Tensor;
  /** Layer 0's input bias (absent with `bias: false`). */
  declare readonly biasIh_l0: Tensor | undefined;
  /** Layer 0's hidden bias (absent with `bias: false`). */
  declare readonly biasHh_l0: Tensor | undefined;

  protected constructor(mode: RecurrentMode, name: string, inputSize: number, hiddenSize: number, options: RecurrentOptions) {
    super();
    const positive = (v: number, what: string) => {
      if (!Number.isInteger(v) || v < 1) throw new KilnError(`${what} must be a positive integer, got ${v}`, { op: name });
      return v;
    };
    this.mode = mode;
    this.inputSize = positive(inputSize, 'inputSize');
    this.hiddenSize = positive(hiddenSize, 'hiddenSize');
    this.numLayers = positive(options.numLayers ?? 1, 'numLayers');
    this.bias = options.bias ?? true;
    this.batchFirst = options.batchFirst ?? false;
    this.dropout = options.dropout ?? 0;
    if (!(this.dropout >= 0 && this.dropout <= 1)) throw new KilnError(`dropout must be a probability in [0, 1], got ${this.dropout}`, { op: name });
    this.bidirectional = options.bidirectional ?? false;
    const rows = gateCount(mode) * hiddenSize;
    const bound = 1 / Math.sqrt(hiddenSize);
    const init = (shape: number[]) => parameter(uniform(shape, -bound, bound, { dtype: options.dtype ?? 'float32', backend: options.backend }));
    const own = this as unknown as Record<string, Tensor>;
    // Declaration order = PyTorch's parameter order (per layer, per direction: w_ih, w_hh, b_ih, b_hh).
    for (let layer = 0; layer < this.numLayers; layer++) {
      for (let dir = 0; dir < this.numDirections; dir++) {
        const suffix = paramSuffix(layer, dir === 1);
        own[`weightIh${suffix}`] = init([rows, layer === 0 ? inputSize : hiddenSize * this.numDirections]);
        own[`weightHh${suffix}`] = init([rows, hiddenSize]);
        if (this.bias) {
          own[`biasIh${suffix}`] = init([rows]);
          own[`biasHh${suffix}`] = init([rows]);
        }
      }
    }
  }

  /** 2 when bidirectional, else 1. */
  get numDirections(): number {
    return this.bidirectional ? 2 : 1;
  }

  /**
   * The parameters of one layer and direction.
   *
   * @example
   * ```ts
   * const gru = new kiln.nn.GRU(4, 8, { numLayers: 2, bidirectional: true });
   * gru.layerWeights(1, true).weightIh.shape; // [24, 16]: r,z,n blocks × both directions' outputs
   * ```
   */
  layerWeights(layer: number, reverse = false): RecurrentWeights {
    const suffix = paramSuffix(layer, reverse);
    const own = this as unknown as Record<string, Tensor | undefined>;
    const weightIh = own[`weightIh${suffix}`];
    const weightHh = own[`weightHh${suffix}`];
    if (!weightIh || !weightHh) throw new KilnError(`no layer ${layer}${reverse ? ' (reverse)' : ''}: this layer has ${this.numLayers} layer(s), ${this.numDirections} direction(s)`, { op: 'layerWeights' });
    return { weightIh, weightHh, biasIh: own[`biasIh${suffix}`] ?? null, biasHh: own[`biasHh${suffix}`] ?? null };
  }

  /**
   * Runs every layer and direction. `states` are the initial states (`[h0]` or
   * `[h0, c0]`, each `[layers·dirs, batch, hidden]`, or `[layers·dirs, hidden]` for an
   * unbatched input), or null for zeros. Returns the output and the final states.
   */
  protected runLayers(op: string, input: Tensor | PackedSequence, states: readonly Tensor[] | null, options: RecurrentForwardOptions): { output: Tensor | PackedSequence; finals: Tensor[] } {
    const packed = input instanceof PackedSequence ? input : null;
    let x: Tensor;
    let lengths: number[] | null = null;
    let unbatched = false;
    if (packed) {
      if (options.lengths) throw new KilnError('pass lengths either in a PackedSequence or as an option, not both', { op });
      x = packed.padded;
      lengths = [...packed.lengths];
    } else {
      if (!(input instanceof Tensor)) throw new KilnError('expected a Tensor or a PackedSequence as input', { op });
      if (input.rank !== 2 && input.rank !== 3) throw new KilnError(`expected input of rank 3 (${this.batchFirst ? '[batch, time, features]' : '[time, batch, features]'}) or 2 (unbatched [time, features]), got shape [${input.shape.join(', ')}]`, { op });
      unbatched = input.rank === 2;
      x = unbatched ? input.unsqueeze(1) : input;
    }
    if (x.rank !== 3 || x.shape[2] !== this.inputSize) throw new KilnError(`expected ${this.inputSize} input features, got input of shape [${x.shape.join(', ')}]`, { op });
    // The op takes batch-first input itself (no transpose node); packed and unbatched inputs are time-major.
    const batchFirst = !packed && !unbatched && this.batchFirst;
    const [steps, batch] = (batchFirst ? [x.shape[1], x.shape[0]] : x.shape) as [number, number];
    if (steps === 0) throw new KilnError('the input has no time steps', { op });
    if (!packed && options.lengths) {
      if (unbatched) throw new KilnError('lengths need a batched input', { op });
      lengths = readLengths(op, options.lengths, batch, steps);
    }

    const hidden = this.hiddenSize;
    const slots = this.numLayers * this.numDirections;
    const kinds = this.mode === 'lstm' ? 2 : 1;
    let initial: Tensor[];
    if (states) {
      if (states.length !== kinds) throw new KilnError(`expected ${kinds} initial state tensor(s)`, { op });
      initial = states.map((s) => {
        const want = unbatched ? [slots, hidden] : [slots, batch, hidden];
        if (!(s instanceof Tensor) || s.shape.join(',') !== want.join(',')) {
          throw new KilnError(`expected an initial state of shape [${want.join(', ')}] ([layers·directions, ${unbatched ? '' : 'batch, '}hidden]), got ${s instanceof Tensor ? `[${s.shape.join(', ')}]` : String(s)}`, { op });
        }
        return unbatched ? s.unsqueeze(1) : s;
      });
    } else {
      initial = Array.from({ length: kinds }, () => zeros([slots, batch, hidden], { dtype: x.dtype, backend: x.backend.name }));
    }
    const lengthsT = lengths ? tensor(lengths, { dtype: 'int32', backend: x.backend.name }) : null;
    let output: Tensor;
    let finals: Tensor[];
    if (this.numLayers > 1 && this.dropout > 0 && this.training) {
      // Dropout between layers is random: one op per layer, dropout in between.
      finals = [];
      const perLayer: Tensor[][] = initial.map(() => []);
      let layerInput = x;
      for (let layer = 0; layer < this.numLayers; layer++) {
        const from = layer * this.numDirections;
        const layerStates = initial.map((s) => s.slice([from], [from + this.numDirections], { axes: [0] }));
        const outs = this.runOp(layerInput, layerStates, this.flatWeights(layer, layer + 1), 1, batchFirst, lengthsT);
        outs.slice(1).forEach((f, k) => perLayer[k]!.push(f));
        layerInput = layer < this.numLayers - 1 ? dropout(outs[0]!, this.dropout, { training: true }) : outs[0]!;
      }
      output = layerInput;
      finals = perLayer.map((fs) => concat(fs, 0));
    } else {
      const outs = this.runOp(x, initial, this.flatWeights(0, this.numLayers), this.numLayers, batchFirst, lengthsT);
      output = outs[0]!;
      finals = outs.slice(1);
    }
    if (packed) return { output: new PackedSequence(output, packed.lengths), finals };
    if (unbatched) return { output: output.squeeze(1), finals: finals.map((s) => s.squeeze(1)) };
    // One whole-sequence op per call (per layer with dropout): one graph node.
    return { output, finals };
  }

  /** The weights of layers [from, to), in the ops' order (per layer and direction: W_ih, W_hh, b_ih, b_hh). */
  private flatWeights(from: number, to: number): Tensor[] {
    const out: Tensor[] = [];
    for (let layer = from; layer < to; layer++) {
      for (let dir = 0; dir < this.numDirections; dir++) {
        const w = this.layerWeights(layer, dir === 1);
        out.push(w.weightIh, w.weightHh);
        if (w.biasIh && w.biasHh) out.push(w.biasIh, w.biasHh);
      }
    }
    return out;
  }

  /** Runs the layer's op (rnn, lstm or gru) over the whole sequence: `[output, hN, (cN)]`. */
  private runOp(x: Tensor, states: readonly Tensor[], weights: readonly Tensor[], numLayers: number, batchFirst: boolean, lengths: Tensor | null): Tensor[] {
    const options = { numLayers, bidirectional: this.bidirectional, batchFirst, ...(lengths ? { lengths } : {}) };
    switch (this.mode) {
      case 'lstm':
        return lstm(x, [states[0]!, states[1]!], weights, options);
      case 'gru':
        return gru(x, states[0]!, weights, options);
      default:
        return rnn(x, states[0]!, weights, { ...options, nonlinearity: this.mode === 'rnnRelu' ? 'relu' : 'tanh' });
    }
  }
}

/** `_l{layer}` plus `_reverse` for the backward direction (PyTorch's naming). */
export function paramSuffix(layer: number, reverse: boolean): string {
  return `_l${layer}${reverse ? '_reverse' : ''}`;
}
