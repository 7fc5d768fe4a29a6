/**
 * RNN unrolling (O2) and the per-step gate ops it emits (`lstmGates`, `gruGates`).
 *
 * Structure: an LSTM over 16 steps at O2 is one input-projection GEMM (a `linear` over
 * [T, B, I]) and 16 `lstmGates` nodes, with 16 recurrent `linear`s on W_hh as it is (no
 * transpose at run time); likewise GRU (`gruGates`) and the Elman RNN (add + tanh).
 * A symbolic sequence length and more than MAX_UNROLLED_STEPS steps stay one node; with
 * `lengths` each step's output and state are masked (`where`), as in the decomposition.
 *
 * Numbers: O2 (second run: the first returns the eager trace) vs O0, compiled for the
 * reference target (wasm keeps the ops whole at inference: its sequence kernels). O0 runs
 * the whole-sequence op as one float64 kernel, O2 its steps rounding to float32 per op:
 * within 1e-5 relative to max(1, |O0|) per element; NaN exactly where O0 has it (a NaN
 * input row included).
 *
 * Gate kernels: the wasm kernels (generated SIMD) vs the reference backend's float64
 * kernels within 2e-6·max(1, |ref|) per element (measured worst 4.8e-7 over random gates of
 * magnitude up to ~12: SIMD_MATH's σ/tanh are ≤ 2 ulp, then a few float32 roundings) on awkward shapes (hidden 1, 5, 7, 13;
 * batch 1 and 3), with NaN (propagates to exactly the elements the reference has NaN in),
 * ±Inf and ±0 among the gate inputs. Gradients: gradcheck in float64 (defaults atol 1e-5,
 * rtol 1e-3) and the closed forms vs the decomposition's gradient within 1e-10.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { compile, dim, spec, type CompiledModel } from '../src/compiled/index.js';
import { getOp, parseGraph, printGraph, sym, type Attrs } from '../src/ir/index.js';
import { MAX_UNROLLED_STEPS } from '../src/passes/index.js';
import { nativeKernels } from '../src/runtime/wasm/nativeKernels.js';

const { nn } = kiln;

beforeAll(async () => {
  await kiln.init();
});

/** Every tensor of an output tree. */
const flat = (r: unknown): kiln.Tensor[] => (r instanceof kiln.Tensor ? [r] : (r as unknown[]).flatMap(flat));

/** Max |a − b| / max(1, |b|), NaN required exactly where `b` has it. */
function maxRelDiff(a: kiln.Tensor, b: kiln.Tensor, what: string): number {
  expect(a.shape, what).toEqual(b.shape);
  const x = a.dataSync(), y = b.dataSync();
  let m = 0;
  for (let i = 0; i < y.length; i++) {
    expect(Number.isNaN(x[i]!), `${what}: NaN at ${i}`).toBe(Number.isNaN(y[i]!));
    if (Number.isNaN(y[i]!)) continue;
    if (!Number.isFinite(y[i]!)) {
      expect(x[i], `${what}: element ${i}`).toBe(y[i]);
      continue;
    }
    m = Math.max(m, Math.abs(x[i]! - y[i]!) / Math.max(1, Math.abs(y[i]!)));
  }
  return m;
}

/** `x` with one whole row (all features of one step of one sequence) NaN. */
function withNaNRow(x: kiln.Tensor, row: number): kiln.Tensor {
  const d = Float32Array.from(x.dataSync());
  const f = x.shape[x.rank - 1]!;
  d.fill(NaN, row * f, (row + 1) * f);
  return kiln.tensor(d, { shape: x.shape });
}

const ops = (m: CompiledModel) => m.graph.nodes.map((n) => n.op);
const count = (m: CompiledModel, op: string) => ops(m).filter((o) => o === op).length;

/**
 * The target recurrent ops are unrolled on: wasm runs them as one sequence kernel at
 * inference (its `sequenceKernels`; test/recurrentSequence.test.ts), so their unrolling is
 * tested on the reference target (float64 kernels per op; O0 runs its whole-sequence
 * float64 kernel).
 */
const UNROLLED_ON = { target: 'reference' } as const;

/** Compiles `model` at O0 and O2 on `specs`, runs both twice on `x`, and compares the second runs. */
function agree(model: kiln.nn.Module, specs: kiln.InputSpec[], x: kiln.Tensor, tol = 1e-5): { o0: CompiledModel; o2: CompiledModel } {
  const [o0, o2] = (['O0', 'O2'] as const).map((level) => compile(model, { inputs: specs, optimize: level, ...UNROLLED_ON })) as [CompiledModel, CompiledModel];
  for (const m of [o0, o2]) m.run(x); // traces; returns eager's result
  const want = flat(o0.run(x)), got = flat(o2.run(x));
  expect(got.length).toBe(want.length);
  got.forEach((t, i) => expect(maxRelDiff(t, want[i]!, `output ${i}`)).toBeLessThanOrEqual(tol));
  return { o0, o2 };
}

describe('RNN unrolling (O2)', () => {
  it('an LSTM over 16 steps is one input-projection GEMM and one lstmGates node per step; O2 = O0 within 1e-5, NaN row included', () => {
    kiln.manualSeed(1);
    const lstm = new nn.LSTM(8, 16).eval();
    const x = withNaNRow(kiln.randn([16, 3, 8], { seed: 2 }), 3 * 5 + 1);
    const { o0, o2 } = agree(lstm, [spec([16, dim('batch'), 8])], x);
    expect(ops(o0)).toContain('lstm');
    expect(ops(o2)).not.toContain('lstm');
    expect(count(o2, 'lstmGates')).toBe(16);
    const linears = o2.graph.nodes.filter((n) => n.op === 'linear');
    // One projection over every step ([16, batch, 8] rows), 16 recurrent products on [batch, 16].
    expect(linears.filter((n) => n.inputs[0]!.type.shape.length === 3).length).toBe(1);
    expect(linears.length).toBe(17);
    expect(count(o2, 'matmul')).toBe(0);
    // The weights are read as they are: no transpose at run time, and b_ih + b_hh is one folded constant.
    expect(count(o2, 'transpose')).toBe(0);
    expect(count(o2, 'add')).toBe(0);
    // The NaN in step 5 of sequence 1 reaches its later outputs and no other sequence.
    const y = (o2.run(x) as kiln.Tensor[])[0]!.dataSync();
    expect(Number.isNaN(y[(15 * 3 + 1) * 16]!)).toBe(true);
    expect(Number.isNaN(y[(15 * 3 + 0) * 16]!)).toBe(false);
    expect(Number.isNaN(y[(4 * 3 + 1) * 16]!)).toBe(false);
  });

  it('GRU and Elman RNN (tanh, relu) over 16 steps: one projection, one gruGates / add+activation per step', () => {
    kiln.manualSeed(3);
    const x = withNaNRow(kiln.randn([2, 16, 5], { seed: 4 }), 7);
    const gru = new nn.GRU(5, 7, { batchFirst: true }).eval();
    const g = agree(gru, [spec([dim('batch'), 16, 5])], x).o2;
    expect(count(g, 'gruGates')).toBe(16);
    expect(count(g, 'linear')).toBe(17);
    expect(count(g, 'gru')).toBe(0);
    for (const nonlinearity of ['tanh', 'relu'] as const) {
      const rnn = new nn.RNN(5, 6, { nonlinearity, batchFirst: true }).eval();
      const r = agree(rnn, [spec([dim('batch'), 16, 5])], x).o2;
      // Each step's add + activation, or the one kernel elementwise fusion makes of them.
      expect(count(r, nonlinearity) + count(r, 'fusedElementwise')).toBe(16);
      expect(count(r, 'add') + count(r, 'fusedElementwise')).toBe(16);
      expect(count(r, 'linear')).toBe(17);
      // Batch-first stays batch-first: no transpose of the sequence.
      expect(count(r, 'transpose')).toBe(0);
    }
  });

  it('two layers, both directions, batch-first, no biases: every final state agrees with O0 within 1e-5', () => {
    kiln.manualSeed(5);
    const x = withNaNRow(kiln.randn([3, 6, 4], { seed: 6 }), 4);
    for (const [name, model] of [
      ['lstm', new nn.LSTM(4, 5, { numLayers: 2, bidirectional: true, batchFirst: true }).eval()],
      ['gru', new nn.GRU(4, 5, { numLayers: 2, bidirectional: true, batchFirst: true, bias: false }).eval()],
      ['rnn', new nn.RNN(4, 5, { numLayers: 2, bidirectional: true, batchFirst: true }).eval()],
    ] as const) {
      const { o2 } = agree(model, [spec([3, 6, 4])], x);
      expect(count(o2, name), name).toBe(0);
      // Per layer and direction: one projection over all 6 steps.
      expect(o2.graph.nodes.filter((n) => n.op === 'linear' && n.inputs[0]!.type.shape.length === 3).length, name).toBe(4);
    }
  });

  it('a symbolic sequence length stays one node: one graph serves two lengths without retracing', () => {
    kiln.manualSeed(7);
    const lstm = new nn.LSTM(3, 4).eval();
    const fast = compile(lstm, { inputs: [spec([dim('seq'), dim('batch'), 3])], optimize: 'O2' });
    for (const [t, b] of [[5, 2], [9, 1], [5, 2]] as const) {
      const x = kiln.randn([t, b, 3], { seed: t });
      const got = flat(fast.run(x)), want = flat(kiln.noGrad(() => lstm.forward(x)));
      got.forEach((g, i) => expect(maxRelDiff(g, want[i]!, `T=${t} output ${i}`)).toBeLessThanOrEqual(1e-5));
    }
    expect(fast.traceCount).toBe(1);
    expect(count(fast, 'lstm')).toBe(1);
    expect(count(fast, 'lstmGates')).toBe(0);
  });

  it(`more than ${MAX_UNROLLED_STEPS} steps stay one node`, () => {
    kiln.manualSeed(8);
    const gru = new nn.GRU(2, 3).eval();
    const long = compile(gru, { inputs: [spec([MAX_UNROLLED_STEPS + 1, 1, 2])], optimize: 'O2' });
    long.run(kiln.randn([MAX_UNROLLED_STEPS + 1, 1, 2], { seed: 1 }));
    expect(count(long, 'gru')).toBe(1);
  });

  it('lengths (a zero length, both directions, batch-first): each step masked as the decomposition does; O2 = O0 within 1e-5', () => {
    const H = 4, I = 3, T = 5, B = 3;
    let seed = 20;
    const r = (shape: number[]) => kiln.randn(shape, { seed: seed++ }).mul(0.6);
    for (const op of ['lstm', 'gru', 'rnn'] as const) {
      const gates = op === 'lstm' ? 4 : op === 'gru' ? 3 : 1;
      const w = [0, 1].flatMap(() => [r([gates * H, I]), r([gates * H, H]), r([gates * H]), r([gates * H])]);
      const states = (op === 'lstm' ? [0, 1] : [0]).map(() => r([2, B, H]));
      const f = (x: kiln.Tensor) => {
        const opts = { bidirectional: true, batchFirst: true, lengths: kiln.tensor([5, 0, 2], { dtype: 'int32' }) };
        return op === 'lstm' ? kiln.lstm(x, [states[0]!, states[1]!], w, opts) : op === 'gru' ? kiln.gru(x, states[0]!, w, opts) : kiln.rnn(x, states[0]!, w, opts);
      };
      const x = withNaNRow(r([B, T, I]), 2 * T + 1); // sequence 2, step 1 (inside its length 2)
      const [o0, o2] = (['O0', 'O2'] as const).map((level) => compile(f, { inputs: [spec([B, T, I])], optimize: level, ...UNROLLED_ON }));
      for (const m of [o0!, o2!]) m.run(x);
      const want = flat(o0!.run(x)), got = flat(o2!.run(x));
      got.forEach((t, i) => expect(maxRelDiff(t, want[i]!, `${op} output ${i}`)).toBeLessThanOrEqual(1e-5));
      expect(count(o2!, op), op).toBe(0);
      expect(count(o2!, 'where'), op).toBe(2 * T * (1 + (op === 'lstm' ? 2 : 1)));
      // Sequence 1 has length 0: all its outputs are 0 and its final state is h0's.
      const y = got[0]!.dataSync();
      for (let k = 0; k < T * 2 * H; k++) expect(y[T * 2 * H + k]).toBe(0);
      const hN = got[1]!.dataSync(), h0 = states[0]!.dataSync();
      for (let k = 0; k < H; k++) expect(hN[B * H + H + k]).toBe(h0[B * H + H + k]);
    }
  });

  it('the unrolled graph prints and parses back to the same text (folded constants\' recipe comments aside)', () => {
    kiln.manualSeed(9);
    const fast = compile(new nn.LSTM(2, 3, { numLayers: 2 }).eval(), { inputs: [spec([4, dim('batch'), 2])], optimize: 'O2', ...UNROLLED_ON });
    fast.run(kiln.randn([4, 2, 2], { seed: 3 }));
    const text = printGraph(fast.graph);
    expect(text).toContain('lstmGates');
    // Folded constants print their recipe as a comment, which the parser skips.
    expect(printGraph(parseGraph(text))).toBe(text.replace(/\s+# folded: .*$/gm, ''));
  });

  it('compiled training through an unrolled GRU gives eager\'s gradients (within 1e-5)', () => {
    const make = () => {
      kiln.manualSeed(10);
      return new nn.GRU(3, 4, { numLayers: 2 });
    };
    const eagerModel = make(), compiledModel = make();
    const loss = (m: kiln.nn.GRU) => (x: kiln.Tensor) => m.forward(x)[0].square().mean();
    const fast = compile(loss(compiledModel), { inputs: [spec([5, dim('batch'), 3])], mode: 'training', optimize: 'O2' });
    const x = kiln.randn([5, 2, 3], { seed: 11 });
    loss(eagerModel)(x).backward();
    fast.run(x); // traces (eager)
    for (const p of compiledModel.parameters()) p.grad = null;
    (fast.run(x) as kiln.Tensor).backward();
    expect(count(fast, 'gruGates')).toBe(10);
    const pe = eagerModel.parameters(), pc = compiledModel.parameters();
    pe.forEach((p, i) => expect(maxRelDiff(pc[i]!.grad!, p.grad!, `parameter ${i}`)).toBeLessThanOrEqual(1e-5));
  });
});

describe('gate ops (lstmGates, gruGates)', () => {
  /** Gate inputs on `backend`: xp, hp [B, G·H] with NaN, ±Inf, ±0 and large values planted, and the state [B, H]. */
  function gateInputs(gates: number, b: number, h: number, backend: kiln.BackendName, dtype: kiln.DType = 'float32') {
    const r = (shape: number[], seed: number) => kiln.randn(shape, { seed, backend, dtype }).mul(2);
    const xp = r([b, gates * h], 1), hp = r([b, gates * h], 2), s = r([b, h], 3);
    if (dtype !== 'float32' || b * h < 5) return { xp, hp, s };
    const d = Float32Array.from(xp.dataSync());
    const special = [NaN, Infinity, -Infinity, 0, -0, 40, -40, 1e-30];
    special.forEach((v, k) => (d[2 * k + 1] = v));
    return { xp: kiln.tensor(d, { shape: xp.shape, backend }), hp, s };
  }

  const SHAPES: readonly (readonly [number, number])[] = [[1, 1], [3, 5], [1, 7], [3, 13], [2, 8]];

  it('wasm kernels match the reference backend within 2e-6·max(1, |ref|); NaN propagates', () => {
    // The generated kernels, not the portable ones wasm would otherwise run.
    for (const op of ['lstmGates', 'gruGates']) expect(nativeKernels.has(op), op).toBe(true);
    for (const [b, h] of SHAPES) {
      for (const [op, gates] of [['lstmGates', 4], ['gruGates', 3]] as const) {
        const onWasm = gateInputs(gates, b, h, 'wasm'), onRef = gateInputs(gates, b, h, 'reference');
        const got = onWasm.xp.applyOp(op, [onWasm.hp, onWasm.s]);
        const want = onRef.xp.applyOp(op, [onRef.hp, onRef.s]);
        got.forEach((t, i) => expect(maxRelDiff(t, want[i]!, `${op} [${b}, ${h}] output ${i}`)).toBeLessThanOrEqual(2e-6));
        if (b * h >= 5) expect(Array.from(want[0]!.dataSync()).some(Number.isNaN), `${op} [${b}, ${h}]: a NaN reaches the output`).toBe(true);
      }
    }
  });

  it('the decompositions agree with the kernels (reference, float64) within 1e-12', () => {
    for (const [b, h] of SHAPES) {
      for (const [op, gates] of [['lstmGates', 4], ['gruGates', 3]] as const) {
        const { xp, hp, s } = gateInputs(gates, b, h, 'reference', 'float64');
        const byKernel = xp.applyOp(op, [hp, s]);
        const byParts = getOp(op)!.decompose!([xp, hp, s] as never, {} as Attrs) as kiln.Tensor[];
        byKernel.forEach((t, i) => expect(maxRelDiff(byParts[i]!, t, `${op} output ${i}`)).toBeLessThanOrEqual(1e-12));
      }
    }
  });

  it('closed-form gradients pass gradcheck in float64 and equal the decomposition\'s gradient', () => {
    for (const [op, gates] of [['lstmGates', 4], ['gruGates', 3]] as const) {
      const { xp, hp, s } = gateInputs(gates, 2, 3, 'reference', 'float64');
      // Both outputs of lstmGates feed the checked sum, weighted differently.
      const f = (a: kiln.Tensor, bb: kiln.Tensor, c: kiln.Tensor) => {
        const outs = a.applyOp(op, [bb, c]);
        return outs.reduce((acc, o, k) => acc.add(o.mul(k + 1).sin().sum()), outs[0]!.sum().mul(0));
      };
      expect(kiln.testing.gradcheck(f, [xp, hp, s].map((t) => t.requiresGrad_())).ok, op).toBe(true);
      const ins = [xp, hp, s].map((t) => t.detach().requiresGrad_());
      f(ins[0]!, ins[1]!, ins[2]!).backward();
      const byParts = [xp, hp, s].map((t) => t.detach().requiresGrad_());
      const outs = getOp(op)!.decompose!(byParts as never, {} as Attrs) as kiln.Tensor[];
      outs.reduce((acc, o, k) => acc.add(o.mul(k + 1).sin().sum()), outs[0]!.sum().mul(0)).backward();
      ins.forEach((t, i) => expect(maxRelDiff(t.grad!, byParts[i]!.grad!, `${op} input ${i}`)).toBeLessThanOrEqual(1e-10));
    }
  });

  it('infer checks the shapes and keeps a symbolic batch', () => {
    const def = getOp('lstmGates')!;
    expect(() => def.infer([{ dtype: 'float32', shape: [2, 8] }, { dtype: 'float32', shape: [2, 8] }, { dtype: 'float32', shape: [2, 3] }], {})).toThrow(/4 gates/);
    expect(() => def.infer([{ dtype: 'int32', shape: [2, 8] }, { dtype: 'int32', shape: [2, 8] }, { dtype: 'int32', shape: [2, 2] }], {})).toThrow(/floating-point/);
    const b = sym('batch');
    const out = def.inferDims!([{ dtype: 'float32', shape: [b, 8] }, { dtype: 'float32', shape: [b, 8] }, { dtype: 'float32', shape: [b, 2] }], {});
    expect(out.map((t) => t.shape)).toEqual([[b, 2], [b, 2]]);
  });
});
