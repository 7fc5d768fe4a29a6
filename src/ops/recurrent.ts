/**
 * Whole-sequence recurrent ops: `rnn`, `lstm`, `gru` over every time step, layer and
 * direction in one node (PyTorch's `_VF.rnn_tanh` / `_VF.lstm` / `_VF.gru`), so a
 * traced recurrent layer is one node whatever the sequence length: a symbolic length
 * stays symbolic, and a pass may unroll it over a static one. The decomposition is the
 * unrolled loop over the steps of the inputs it is given.
 *
 * Inputs (PyTorch's flat-weights order):
 *   x [T, B, I] ([B, T, I] with batchFirst), h0 [L·D, B, H], c0 [L·D, B, H] (lstm only),
 *   then per layer l and direction d: W_ih [G·H, l = 0 ? I : D·H], W_hh [G·H, H],
 *   and with hasBiases b_ih, b_hh [G·H]; last, optionally, lengths int32 [B].
 * Attrs: hiddenSize H, numLayers L, bidirectional (D = 2), batchFirst, hasBiases,
 *   and for rnn nonlinearity 'tanh' | 'relu'.
 * Outputs: y [T, B, D·H] (batch-first likewise), h_n [L·D, B, H], c_n (lstm).
 * Gates G: lstm 4 (i, f, g, o), gru 3 (r, z, n), rnn 1, stacked in PyTorch's order.
 * With lengths, sequence b updates its state only at steps t < lengths[b], its outputs
 * after are 0, and the reverse direction starts at its own last step.
 * Dropout between layers is not part of the op (a layer with dropout runs one op per layer).
 * The gradient goes through the decomposition (backpropagation through time); wasm runs
 * the float32 rnn, lstm and gru as one kernel (src/runtime/wasm/kernels/recurrentSequence.ts). The gate
 * arithmetic of each lstm / gru step is one op (`lstmGates` / `gruGates`, recurrentCells.ts).
 */
import { formatDim, gradThroughDecomposition, isFloat, KilnError, registerOp, symbolicInfer, type Attrs, type Dim, type IrAttrs, type ValueType } from '../ir/index.js';
import { dimsText, requireSameShape } from './shapeHelpers.js';
import type { AnyTensor } from './tensorLike.js';

/** Which recurrence: the op name. */
export type RecurrentOp = 'rnn' | 'lstm' | 'gru';

/** Gate blocks stacked in the weights (PyTorch order: lstm i,f,g,o; gru r,z,n). */
export function gatesOf(op: RecurrentOp): number {
  return op === 'lstm' ? 4 : op === 'gru' ? 3 : 1;
}

/** The attributes of a recurrent op, read and checked. */
export interface RecurrentAttrs {
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly bidirectional: boolean;
  readonly batchFirst: boolean;
  readonly hasBiases: boolean;
  readonly nonlinearity: 'tanh' | 'relu';
}

export function recurrentAttrs(op: RecurrentOp, attrs: IrAttrs): RecurrentAttrs {
  const hiddenSize = attrs['hiddenSize'] as number, numLayers = attrs['numLayers'] as number;
  if (!Number.isInteger(hiddenSize) || hiddenSize < 1) throw new KilnError(`${op}: hiddenSize must be a positive integer, got ${String(hiddenSize)}`);
  if (!Number.isInteger(numLayers) || numLayers < 1) throw new KilnError(`${op}: numLayers must be a positive integer, got ${String(numLayers)}`);
  const nonlinearity = op === 'rnn' ? (attrs['nonlinearity'] as 'tanh' | 'relu') : 'tanh';
  if (nonlinearity !== 'tanh' && nonlinearity !== 'relu') throw new KilnError(`rnn: nonlinearity must be 'tanh' or 'relu', got ${JSON.stringify(nonlinearity)}`);
  return {
    hiddenSize, numLayers, nonlinearity,
    bidirectional: attrs['bidirectional'] === true,
    batchFirst: attrs['batchFirst'] === true,
    hasBiases: attrs['hasBiases'] === true,
  };
}

/** Where each kind of input sits in the op's input list. */
export interface RecurrentLayout {
  readonly states: number;
  readonly directions: number;
  /** Inputs per layer and direction (2 weights, 2 biases). */
  readonly perSlot: number;
  /** Index of the first weight. */
  readonly weights: number;
  /** Index of `lengths` when given, else -1. */
  readonly lengths: number;
}

export function recurrentLayout(op: RecurrentOp, a: RecurrentAttrs, inputCount: number): RecurrentLayout {
  const states = op === 'lstm' ? 2 : 1;
  const directions = a.bidirectional ? 2 : 1;
  const perSlot = a.hasBiases ? 4 : 2;
  const weights = 1 + states;
  const base = weights + a.numLayers * directions * perSlot;
  if (inputCount !== base && inputCount !== base + 1) {
    throw new KilnError(`${op}: expected ${base} inputs (x, ${states === 2 ? 'h0, c0' : 'h0'}, ${perSlot} per layer and direction${a.hasBiases ? '' : ' (no biases)'}), or ${base + 1} with lengths, got ${inputCount}`);
  }
  return { states, directions, perSlot, weights, lengths: inputCount === base + 1 ? base : -1 };
}

/**
 * Over dims (symbolicInfer): a symbolic time or batch dim (or feature count) passes
 * through to the outputs exactly; one rule for eager dispatch and the compiler.
 */
function recurrentInfer(op: RecurrentOp) {
  return (inputs: readonly ValueType[], attrs: IrAttrs): ValueType[] => {
    const a = recurrentAttrs(op, attrs);
    const lay = recurrentLayout(op, a, inputs.length);
    const x = inputs[0]!;
    if (!isFloat(x.dtype)) throw new KilnError(`${op} needs a floating-point input, got ${x.dtype}`);
    if (x.shape.length !== 3) throw new KilnError(`input must be 3-D (${a.batchFirst ? '[batch, time, features]' : '[time, batch, features]'}), got shape ${dimsText(x.shape)}`);
    const [t, b] = a.batchFirst ? [x.shape[1]!, x.shape[0]!] : [x.shape[0]!, x.shape[1]!];
    // A symbolic length of 0 is caught per binding (the decomposition needs a step).
    if (t === 0) throw new KilnError('the input has no time steps');
    const h = a.hiddenSize, d = lay.directions, g = gatesOf(op) * h;
    const check = (i: number, want: readonly Dim[], what: string) => {
      const v = inputs[i]!;
      if (v.dtype !== x.dtype) throw new KilnError(`${what} must be ${x.dtype} like the input, got ${v.dtype}`);
      requireSameShape(v.shape, want, () => `${what} must have shape ${dimsText(want)}, got ${dimsText(v.shape)}`);
    };
    for (let s = 0; s < lay.states; s++) check(1 + s, [a.numLayers * d, b, h], s === 0 ? 'h0' : 'c0');
    for (let l = 0; l < a.numLayers; l++) {
      for (let dir = 0; dir < d; dir++) {
        const at = lay.weights + (l * d + dir) * lay.perSlot;
        const name = `layer ${l}${dir ? ' (reverse)' : ''}`;
        check(at, [g, l === 0 ? x.shape[2]! : d * h], `W_ih of ${name}`);
        check(at + 1, [g, h], `W_hh of ${name}`);
        if (a.hasBiases) {
          check(at + 2, [g], `b_ih of ${name}`);
          check(at + 3, [g], `b_hh of ${name}`);
        }
      }
    }
    if (lay.lengths >= 0) {
      const len = inputs[lay.lengths]!;
      const message = () => `lengths must be int32 [${formatDim(b)}], got ${len.dtype}${dimsText(len.shape)}`;
      if (len.dtype !== 'int32') throw new KilnError(message());
      requireSameShape(len.shape, [b], message);
    }
    const y: ValueType = { shape: a.batchFirst ? [b, t, d * h] : [t, b, d * h], dtype: x.dtype };
    const state: ValueType = { shape: [a.numLayers * d, b, h], dtype: x.dtype };
    return op === 'lstm' ? [y, state, { ...state }] : [y, { ...state }];
  };
}

/** One step: the state after it, given this step's input projection `xp` [B, G·H] (b_ih, and for rnn/lstm b_hh, included). */
function step(op: RecurrentOp, a: RecurrentAttrs, xp: AnyTensor, state: readonly AnyTensor[], wHh: AnyTensor, bHh: AnyTensor | null): AnyTensor[] {
  const h = state[0]!;
  const hp = h.applyOp('linear', op === 'gru' && bHh ? [wHh, bHh] : [wHh])[0]!;
  switch (op) {
    case 'rnn': {
      const pre = xp.add(hp);
      return [a.nonlinearity === 'tanh' ? pre.tanh() : pre.relu()];
    }
    // One gate op per step (src/ops/recurrentCells.ts): one pass over B × H on a backend
    // with a kernel for it, its own decomposition elsewhere.
    case 'lstm':
      return xp.applyOp('lstmGates', [hp, state[1]!]);
    case 'gru':
      return xp.applyOp('gruGates', [hp, h]);
  }
}

/** `ts` [1, …] pieces joined along axis 0 (or the one piece). */
function stack0(ts: readonly AnyTensor[]): AnyTensor {
  const lifted = ts.map((t) => t.reshape([1, ...t.shape]));
  return lifted.length === 1 ? lifted[0]! : lifted[0]!.applyOp('concat', lifted.slice(1), { axis: 0 })[0]!;
}

/** The op's meaning: every layer and direction unrolled over the steps of `x`. */
function recurrentDecompose(op: RecurrentOp) {
  return (inputs: readonly AnyTensor[], attrs: Attrs): AnyTensor[] => {
    const a = recurrentAttrs(op, attrs);
    const lay = recurrentLayout(op, a, inputs.length);
    const x = a.batchFirst ? inputs[0]!.transpose(0, 1) : inputs[0]!;
    const [steps, batch] = x.shape as [number, number, number];
    const h = a.hiddenSize, d = lay.directions, slots = a.numLayers * d;
    const lengths = lay.lengths >= 0 ? inputs[lay.lengths]! : null;
    // Per step, [B, 1]: inside sequence b. Made once, shared by layers and directions.
    const masks = lengths ? Array.from({ length: steps }, (_, t) => lengths.greater(t).reshape([batch, 1])) : null;
    // initial[k][s]: state kind k of slot s, [B, H].
    const initial = Array.from({ length: lay.states }, (_, k) => {
      const s = inputs[1 + k]!;
      return (slots === 1 ? [s] : s.split(1, 0)).map((p) => p.reshape([batch, h]));
    });
    const finals: AnyTensor[][] = Array.from({ length: lay.states }, () => []);
    let layerInput = x;
    for (let l = 0; l < a.numLayers; l++) {
      const outs: AnyTensor[] = [];
      for (let dir = 0; dir < d; dir++) {
        const slot = l * d + dir;
        const at = lay.weights + slot * lay.perSlot;
        const [wIh, wHh] = [inputs[at]!, inputs[at + 1]!];
        const [bIh, bHh] = a.hasBiases ? [inputs[at + 2]!, inputs[at + 3]!] : [null, null];
        // The input projection of every step is one GEMM; b_hh folds into it except for
        // gru, whose candidate gate multiplies W_hn·h + b_hn by r.
        const bias = bIh && bHh && op !== 'gru' ? bIh.add(bHh) : bIh;
        const features = layerInput.shape[2]!;
        const flat = layerInput.reshape([steps * batch, features]);
        const xp = flat.applyOp('linear', bias ? [wIh, bias] : [wIh])[0]!;
        const perStep = steps === 1 ? [xp] : xp.reshape([steps, batch * xp.shape[1]!]).split(1, 0);
        let state = initial.map((k) => k[slot]!);
        const ys = new Array<AnyTensor>(steps);
        for (let k = 0; k < steps; k++) {
          const t = dir === 1 ? steps - 1 - k : k;
          const next = step(op, a, perStep[t]!.reshape([batch, xp.shape[1]!]), state, wHh, bHh);
          const m = masks?.[t];
          if (m) {
            ys[t] = next[0]!.where(m, 0);
            state = next.map((s, i) => s.where(m, state[i]!));
          } else {
            ys[t] = next[0]!;
            state = next;
          }
        }
        outs.push(stack0(ys));
        state.forEach((s, k) => (finals[k]![slot] = s));
      }
      layerInput = outs.length === 1 ? outs[0]! : outs[0]!.applyOp('concat', outs.slice(1), { axis: 2 })[0]!;
    }
    const y = a.batchFirst ? layerInput.transpose(0, 1) : layerInput;
    return [y, ...finals.map((f) => stack0(f))];
  };
}

function defineRecurrent(op: RecurrentOp, doc: string) {
  return registerOp<AnyTensor>({
    name: op,
    arity: [op === 'lstm' ? 5 : 4, Infinity],
    doc,
    ...symbolicInfer(recurrentInfer(op)),
    decompose: recurrentDecompose(op),
    // Backpropagation through time: the unrolled steps differentiated; taped in eager
    // even where a backend runs the sequence as one kernel (wasm's lstm), so the
    // backward pass does not run the sequence again.
    grad: gradThroughDecomposition,
    tapeDecomposition: true,
  });
}

export const rnn = defineRecurrent('rnn', 'Elman RNN over a whole sequence, all layers and directions: h = tanh|relu(W_ih x + b_ih + W_hh h + b_hh); inputs x, h0, weights per layer/direction, lengths? → y, h_n.');
export const lstm = defineRecurrent('lstm', 'LSTM over a whole sequence, all layers and directions (gates i, f, g, o); inputs x, h0, c0, weights per layer/direction, lengths? → y, h_n, c_n.');
export const gru = defineRecurrent('gru', 'GRU over a whole sequence, all layers and directions (gates r, z, n); inputs x, h0, weights per layer/direction, lengths? → y, h_n.');
