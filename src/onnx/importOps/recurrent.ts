// LSTM, GRU and RNN onto Kiln's whole-sequence `lstm`/`gru`/`rnn` ops. The gate blocks
// are reordered (ONNX LSTM i,o,f,c → Kiln i,f,g,o; GRU z,r,h → r,z,n), the per-direction
// weights and the [Wb, Rb] bias split, and the outputs laid out as ONNX's Y [T, D, B, H].
import { KilnError, type Dim } from '../../ir/index.js';
import type { OnnxValue, OpContext, OpImporter } from '../importContext.js';
import { castTo, reshape } from './support.js';

type Kind = 'lstm' | 'gru' | 'rnn';

const GATES: Record<Kind, number> = { lstm: 4, gru: 3, rnn: 1 };
/** Kiln's block k is ONNX's block ORDER[k]. */
const ORDER: Record<Kind, number[]> = { lstm: [0, 2, 3, 1], gru: [1, 0, 2], rnn: [0] };
const DEFAULT_ACTIVATIONS: Record<Kind, string[]> = { lstm: ['sigmoid', 'tanh', 'tanh'], gru: ['sigmoid', 'tanh'], rnn: ['tanh'] };

/** Row `d` of a per-direction tensor [D, …] (without the leading axis). */
function direction(c: OpContext, w: OnnxValue, d: number): OnnxValue {
  const s = c.shape(w);
  const one = c.emit1('slice', [w], { starts: s.map((_, i) => (i === 0 ? d : 0)), ends: s.map((x, i) => (i === 0 ? d + 1 : x)), steps: s.map(() => 1) });
  return reshape(c, one, s.slice(1));
}

/** Gate blocks along axis 0 put in Kiln's order. */
function reorder(c: OpContext, kind: Kind, w: OnnxValue, h: number): OnnxValue {
  const g = GATES[kind];
  if (g === 1) return w;
  const blocks = c.emit('split', [w], { axis: 0, sizes: new Array<number>(g).fill(h) });
  return c.emit1('concat', ORDER[kind].map((k) => blocks[k]!), { axis: 0 });
}

function reverseTime(c: OpContext, x: OnnxValue, axis: number): OnnxValue {
  const t = c.concreteShape(x, "direction 'reverse'")[axis]!;
  return c.emit1('indexSelect', [x, c.constant('int32', [t], Array.from({ length: t }, (_, i) => t - 1 - i))], { axis });
}

function recurrent(kind: Kind): OpImporter {
  return (c) => {
    const x = c.input(0), w = c.input(1), r = c.input(2), b = c.optional(3), lens = c.optional(4), h0in = c.optional(5);
    const c0in = kind === 'lstm' ? c.optional(6) : null;
    if (kind === 'lstm' && c.optional(7)) {
      const p = c.values(c.input(7));
      if (!p || p.some((v) => v !== 0)) throw new KilnError('LSTM peephole weights (input P) are not supported');
    }
    const h = c.attrs.int('hidden_size');
    const dir = c.attrs.string('direction', 'forward');
    if (dir !== 'forward' && dir !== 'reverse' && dir !== 'bidirectional') throw new KilnError(`direction '${dir}' is not forward, reverse or bidirectional`);
    const dirs = dir === 'bidirectional' ? 2 : 1;
    const layout = c.opset >= 14 ? c.attrs.int('layout', 0) : 0;
    if (c.attrs.has('clip')) throw new KilnError(`${kind.toUpperCase()} with clip is not supported`);
    if (kind === 'lstm' && c.attrs.int('input_forget', 0)) throw new KilnError('LSTM with input_forget=1 is not supported');
    const acts = c.attrs.strings('activations', []).map((a) => a.toLowerCase());
    let nonlinearity: 'tanh' | 'relu' = 'tanh';
    const want = DEFAULT_ACTIVATIONS[kind];
    for (let d = 0; d < dirs && acts.length; d++) {
      const mine = acts.slice(d * want.length, (d + 1) * want.length);
      if (kind === 'rnn' && mine[0] === 'relu') nonlinearity = 'relu';
      else if (mine.join() !== want.join()) throw new KilnError(`${kind.toUpperCase()} activations [${acts.join(', ')}] are not supported (only the defaults${kind === 'rnn' ? ', or Relu' : ''})`);
    }
    if (kind === 'gru' && c.attrs.int('linear_before_reset', 0) !== 1) {
      if (lens) throw new KilnError('GRU with linear_before_reset=0 and sequence_lens is not supported');
      if (layout) throw new KilnError('GRU with linear_before_reset=0 and layout=1 is not supported');
      return unrolledGru(c, x, w, r, b, h0in, h, dir);
    }
    if (lens && dir === 'reverse') throw new KilnError("direction 'reverse' with sequence_lens is not supported");
    const xs = c.shape(x);
    if (xs.length !== 3) throw new KilnError(`X must be 3-D, got rank ${xs.length}`);
    const batch: Dim = layout ? xs[0]! : xs[1]!;
    const dtype = c.type(x).dtype;
    const g = GATES[kind] * h;
    const weights: OnnxValue[] = [];
    for (let d = 0; d < dirs; d++) {
      weights.push(reorder(c, kind, direction(c, w, d), h), reorder(c, kind, direction(c, r, d), h));
      if (b) {
        const bd = direction(c, b, d);
        const [wb, rb] = c.emit('split', [bd], { axis: 0, sizes: [g, g] });
        weights.push(reorder(c, kind, wb!, h), reorder(c, kind, rb!, h));
      }
    }
    // Kiln's states are [D, B, H]; ONNX layout 1 has [B, D, H].
    const state = (v: OnnxValue | null): OnnxValue => {
      if (!v) return c.emit1('expand', [c.constant(dtype, [1, 1, 1], [0])], { shape: [dirs, batch, h] });
      return layout ? c.emit1('transpose', [v], { perm: [1, 0, 2] }) : v;
    };
    const states = kind === 'lstm' ? [state(h0in), state(c0in)] : [state(h0in)];
    const timeAxis = layout ? 1 : 0;
    const xin = dir === 'reverse' ? reverseTime(c, x, timeAxis) : x;
    const ins = [xin, ...states, ...weights, ...(lens ? [castTo(c, lens, 'int32')] : [])];
    const attrs = { hiddenSize: h, numLayers: 1, bidirectional: dirs === 2, batchFirst: layout === 1, hasBiases: b !== null, ...(kind === 'rnn' ? { nonlinearity } : {}) };
    const outs = c.emit(kind, ins, attrs);
    let y = outs[0]!;
    if (dir === 'reverse') y = reverseTime(c, y, timeAxis);
    const ys = c.shape(y);
    // Kiln y [T, B, D·H] → ONNX [T, D, B, H]; batch-first [B, T, D·H] → [B, T, D, H].
    y = layout ? reshape(c, y, [ys[0]!, ys[1]!, dirs, h]) : c.emit1('transpose', [reshape(c, y, [ys[0]!, ys[1]!, dirs, h])], { perm: [0, 2, 1, 3] });
    const back = (v: OnnxValue) => (layout ? c.emit1('transpose', [v], { perm: [1, 0, 2] }) : v);
    return [y, back(outs[1]!), ...(kind === 'lstm' ? [back(outs[2]!)] : [])];
  };
}

/**
 * ONNX's default GRU (linear_before_reset=0: the reset gate applies to h before R_h)
 * is not Kiln's `gru` (PyTorch's, reset after): it is unrolled over the (concrete)
 * sequence length in primitives, the input projections of all steps done as one linear.
 */
function unrolledGru(c: OpContext, x: OnnxValue, w: OnnxValue, r: OnnxValue, b: OnnxValue | null, h0in: OnnxValue | null, hidden: number, dir: string): OnnxValue[] {
  const [steps, batch] = c.concreteShape(x, 'GRU with linear_before_reset=0 (unrolled)') as [number, number, number];
  const dtype = c.type(x).dtype;
  const dirs = dir === 'bidirectional' ? 2 : 1;
  const ys: OnnxValue[] = [], hs: OnnxValue[] = [];
  const pick = (v: OnnxValue, axis: number, at: number, size: number) => {
    const s = c.shape(v);
    return c.emit1('slice', [v], { starts: s.map((_, i) => (i === axis ? at : 0)), ends: s.map((d, i) => (i === axis ? at + size : d)), steps: s.map(() => 1) });
  };
  for (let d = 0; d < dirs; d++) {
    const reverse = dir === 'reverse' || d === 1;
    const wd = direction(c, w, d), rd = direction(c, r, d);
    const bd = b ? direction(c, b, d) : null;
    const xw = c.emit1('linear', bd ? [x, wd, pick(bd, 0, 0, 3 * hidden)] : [x, wd]); // [T, B, 3H], gates z, r, h
    const rzr = pick(rd, 0, 0, 2 * hidden), rh = pick(rd, 0, 2 * hidden, hidden);
    const bzr = bd ? pick(bd, 0, 3 * hidden, 2 * hidden) : null, bh = bd ? pick(bd, 0, 5 * hidden, hidden) : null;
    let h: OnnxValue = h0in ? reshape(c, direction(c, h0in, d), [batch, hidden]) : c.constant(dtype, [batch, hidden], new Array<number>(batch * hidden).fill(0));
    const outs: OnnxValue[] = new Array<OnnxValue>(steps);
    for (let k = 0; k < steps; k++) {
      const t = reverse ? steps - 1 - k : k;
      const [xz, xr, xh] = c.emit('split', [reshape(c, pick(xw, 0, t, 1), [batch, 3 * hidden])], { axis: 1, sizes: [hidden, hidden, hidden] });
      const [hz, hr] = c.emit('split', [c.emit1('linear', bzr ? [h, rzr, bzr] : [h, rzr])], { axis: 1, sizes: [hidden, hidden] });
      const z = c.emit1('sigmoid', [c.emit1('add', [xz!, hz!])]);
      const rg = c.emit1('sigmoid', [c.emit1('add', [xr!, hr!])]);
      const n = c.emit1('tanh', [c.emit1('add', [xh!, c.emit1('linear', bh ? [c.emit1('mul', [rg, h]), rh, bh] : [c.emit1('mul', [rg, h]), rh])])]);
      h = c.emit1('add', [n, c.emit1('mul', [z, c.emit1('sub', [h, n])])]);
      outs[t] = reshape(c, h, [1, 1, batch, hidden]);
    }
    ys.push(steps === 1 ? outs[0]! : c.emit1('concat', outs, { axis: 0 }));
    hs.push(reshape(c, h, [1, batch, hidden]));
  }
  return [dirs === 1 ? ys[0]! : c.emit1('concat', ys, { axis: 1 }), dirs === 1 ? hs[0]! : c.emit1('concat', hs, { axis: 0 })];
}

export const recurrentImporters: Record<string, OpImporter> = {
  LSTM: recurrent('lstm'),
  GRU: recurrent('gru'),
  RNN: recurrent('rnn'),
};
