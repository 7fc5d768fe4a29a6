/**
 * RNN / LSTM / GRU and their cells against PyTorch (test/golden/nn_recurrent/cases.json,
 * made by generate.py there): same weights loaded by name, forward outputs and final
 * states, and BPTT gradients w.r.t. the input, the initial states and every parameter.
 *
 * Tolerances (float32 runs): forward ≤ 1e-5·√K·max(1, |torch|), gradients
 * ≤ 1e-4·√K·max(1, |torch|), with K = seq·(F + hidden) per case (F = the widest layer
 * input). Why that K: each step's pre-activation sums F + hidden products, and the
 * recurrence feeds every step's rounding into the next, so an output (and, backwards,
 * a gradient) accumulates the rounding of about seq·(F + hidden) products. The float64
 * run on the reference backend must agree to 1e-10·√K (it does the same math in double).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import {
  GRU, GRUCell, LSTM, LSTMCell, PackedSequence, packPaddedSequence, padPackedSequence, RNN, RNNCell,
  type RecurrentOptions,
} from '../src/nn/recurrent/index.js';

interface G { shape: number[]; data: number[] }
interface Case {
  name: string;
  kind: 'RNN' | 'LSTM' | 'GRU' | 'RNNCell' | 'LSTMCell' | 'GRUCell';
  config: { inputSize: number; hiddenSize: number; numLayers?: number; bidirectional?: boolean; batchFirst?: boolean; bias: boolean; nonlinearity: 'tanh' | 'relu' };
  k: number;
  params: Record<string, G>;
  x: G;
  h0: G | null;
  c0: G | null;
  lengths?: number[] | null;
  outputs: Record<string, G>;
  w: Record<string, G>;
  grads: { x: G; h0?: G; c0?: G; params: Record<string, G> };
  packed?: { data: G; batchSizes: number[]; sortedIndices: number[]; unsortedIndices: number[] };
}

const { cases } = JSON.parse(readFileSync(new URL('./golden/nn_recurrent/cases.json', import.meta.url), 'utf8')) as { cases: Case[] };

interface Run { backend: kiln.BackendName; dtype: 'float32' | 'float64'; fwd: number; grad: number }
const RUNS: Run[] = [
  { backend: 'wasm', dtype: 'float32', fwd: 1e-5, grad: 1e-4 },
  { backend: 'reference', dtype: 'float32', fwd: 1e-5, grad: 1e-4 },
  { backend: 'reference', dtype: 'float64', fwd: 1e-10, grad: 1e-10 },
];

beforeAll(async () => {
  await kiln.init();
});

/** First element outside |a − e| ≤ rel·max(1, |e|), or null. */
function mismatch(actual: kiln.Tensor, expected: G, rel: number): string | null {
  if (actual.shape.join(',') !== expected.shape.join(',')) return `shape [${actual.shape}] vs expected [${expected.shape}]`;
  const a = actual.dataSync();
  for (let i = 0; i < a.length; i++) {
    const e = expected.data[i]!;
    if (!(Math.abs(a[i]! - e) <= rel * Math.max(1, Math.abs(e)))) return `element ${i}: ${a[i]} vs expected ${e} (tolerance ${(rel * Math.max(1, Math.abs(e))).toExponential(1)})`;
  }
  return null;
}

type Recurrent = RNN | LSTM | GRU | RNNCell | LSTMCell | GRUCell;

function build(c: Case, run: Run): Recurrent {
  const f = { dtype: run.dtype, backend: run.backend };
  const layerOptions: RecurrentOptions = { ...f, numLayers: c.config.numLayers, bidirectional: c.config.bidirectional, batchFirst: c.config.batchFirst, bias: c.config.bias };
  switch (c.kind) {
    case 'RNN': return new RNN(c.config.inputSize, c.config.hiddenSize, { ...layerOptions, nonlinearity: c.config.nonlinearity });
    case 'LSTM': return new LSTM(c.config.inputSize, c.config.hiddenSize, layerOptions);
    case 'GRU': return new GRU(c.config.inputSize, c.config.hiddenSize, layerOptions);
    case 'RNNCell': return new RNNCell(c.config.inputSize, c.config.hiddenSize, { ...f, bias: c.config.bias, nonlinearity: c.config.nonlinearity });
    case 'LSTMCell': return new LSTMCell(c.config.inputSize, c.config.hiddenSize, { ...f, bias: c.config.bias });
    case 'GRUCell': return new GRUCell(c.config.inputSize, c.config.hiddenSize, { ...f, bias: c.config.bias });
  }
}

type InputMode = 'padded' | 'lengths' | 'packed';

/** Runs the case; returns named outputs (padded outputs for variable-length inputs). */
function forward(c: Case, m: Recurrent, x: kiln.Tensor, h0: kiln.Tensor | null, c0: kiln.Tensor | null, mode: InputMode): Record<string, kiln.Tensor> & { packedOut?: PackedSequence } {
  if (c.kind.endsWith('Cell')) {
    const hs: kiln.Tensor[] = [];
    const cs: kiln.Tensor[] = [];
    let h = h0;
    let cell = c0;
    for (const xt of x.split(1, 0).map((p) => p.squeeze(0))) {
      if (m instanceof LSTMCell) {
        [h, cell] = m.forward(xt, h && cell ? [h, cell] : null);
        cs.push(cell);
      } else {
        h = (m as RNNCell | GRUCell).forward(xt, h);
      }
      hs.push(h);
    }
    return { output: kiln.stack(hs, 0), ...(cs.length ? { cells: kiln.stack(cs, 0) } : {}) };
  }
  const batchFirst = c.config.batchFirst ?? false;
  const T = x.shape[batchFirst ? 1 : 0]!;
  let input: kiln.Tensor | PackedSequence = x;
  const opts = mode === 'lengths' ? { lengths: c.lengths! } : {};
  if (mode === 'packed') input = packPaddedSequence(x, c.lengths!, { batchFirst, enforceSorted: false });
  let out: kiln.Tensor | PackedSequence;
  const res: Record<string, kiln.Tensor> & { packedOut?: PackedSequence } = {};
  if (m instanceof LSTM) {
    const [o, [hN, cN]] = m.forward(input, h0 && c0 ? [h0, c0] : null, opts);
    out = o;
    res['hN'] = hN;
    res['cN'] = cN;
  } else {
    const [o, hN] = (m as RNN | GRU).forward(input as kiln.Tensor, h0, opts);
    out = o;
    res['hN'] = hN;
  }
  if (out instanceof PackedSequence) {
    res.packedOut = out;
    out = padPackedSequence(out, { batchFirst, totalLength: T })[0];
  }
  res['output'] = out;
  return res;
}

function runCase(c: Case, run: Run, mode: InputMode): void {
  kiln.scope(() => {
    const mk = (g: G) => kiln.tensor(g.data, { shape: g.shape, dtype: run.dtype, backend: run.backend });
    const m = build(c, run);
    const names = m.namedParameters().map(([n]) => n);
    expect(names, 'parameter names and order').toEqual(Object.keys(c.params));
    m.loadStateDict(new Map(Object.entries(c.params).map(([n, g]) => [n, mk(g)])));
    const x = mk(c.x).requiresGrad_();
    const h0 = c.h0 ? mk(c.h0).requiresGrad_() : null;
    const c0 = c.c0 ? mk(c.c0).requiresGrad_() : null;
    const outs = forward(c, m, x, h0, c0, mode);
    const root = Math.sqrt(c.k);
    let loss: kiln.Tensor | null = null;
    for (const [name, g] of Object.entries(c.outputs)) {
      const o = outs[name]!;
      expect(mismatch(o, g, run.fwd * root), `${name}`).toBeNull();
      const term = o.mul(mk(c.w[name]!)).sum();
      loss = loss ? loss.add(term) : term;
    }
    if (mode === 'packed' && c.packed) {
      const p = outs.packedOut!;
      expect([...p.batchSizes]).toEqual(c.packed.batchSizes);
      expect([...p.sortedIndices]).toEqual(c.packed.sortedIndices);
      expect([...p.unsortedIndices]).toEqual(c.packed.unsortedIndices);
      expect(mismatch(p.data, c.packed.data, run.fwd * root), 'packed data').toBeNull();
    }
    loss!.backward();
    expect(mismatch(x.grad!, c.grads.x, run.grad * root), 'd/dx').toBeNull();
    if (h0) expect(mismatch(h0.grad!, c.grads.h0!, run.grad * root), 'd/dh0').toBeNull();
    if (c0) expect(mismatch(c0.grad!, c.grads.c0!, run.grad * root), 'd/dc0').toBeNull();
    for (const [name, p] of m.namedParameters()) {
      expect(p.grad, `gradient of ${name}`).not.toBeNull();
      expect(mismatch(p.grad!, c.grads.params[name]!, run.grad * root), `d/d${name}`).toBeNull();
    }
    for (const p of [x, h0, c0, ...m.parameters()]) {
      p?.zeroGrad();
      p?.dispose();
    }
  });
}

for (const run of RUNS) {
  describe(`recurrent vs PyTorch on ${run.backend} (${run.dtype})`, () => {
    for (const c of cases) {
      if (!c.lengths) {
        it(c.name, () => runCase(c, run, 'padded'));
      } else {
        it(`${c.name} (lengths option)`, () => runCase(c, run, 'lengths'));
        it(`${c.name} (PackedSequence)`, () => runCase(c, run, 'packed'));
      }
    }
  });
}
