/**
 * ONNX export, checked by ONNX Runtime (onnxruntime-node, the oracle): each model is
 * exported, loaded at graph optimization 'disabled' and 'all', and run at two sizes of
 * every dynamic dim; every output must match Kiln eager on the same inputs.
 *
 * Tolerance: 1e-5 relative to the largest magnitude of Kiln's output (max |ort − kiln| /
 * max |kiln|). Both compute in float32, but in different orders (ORT's MLAS GEMM/conv
 * blocking, its own LSTM/GRU kernels, Kiln's float64 accumulation in reductions); the
 * observed differences are ~1e-7.
 *
 * Where `/usr/bin/python3` can `import onnx` (Debian python3-onnx; CI installs it), each
 * export also passes `onnx.checker.check_model(full_check=True)`; python3-onnx 1.12 knows
 * opsets ≤ 17, so opset-18 exports skip the checker (the reason is printed).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { decodeModel, encodeModel } from '../src/onnx/proto.js';
import { toModelProto } from '../src/onnx/export.js';
import { interpretEager } from '../src/compiled/index.js';
import { kilnError } from './support/kilnError.js';

const { nn } = kiln;
const TOL = 1e-5;
const tmp = mkdtempSync(join(tmpdir(), 'kiln-onnx-'));

beforeAll(async () => {
  await kiln.init();
});

// ---- onnx.checker through Python, where it is installed -------------------------------
const PYTHON = '/usr/bin/python3';
const checkerProbe = existsSync(PYTHON) ? spawnSync(PYTHON, ['-c', 'import onnx; print(onnx.__version__)'], { encoding: 'utf8' }) : null;
const checkerVersion = checkerProbe?.status === 0 ? checkerProbe.stdout.trim() : null;
const checkerMissing = checkerVersion ? null : existsSync(PYTHON) ? `${PYTHON} cannot import onnx (apt-get install python3-onnx)` : `${PYTHON} not found`;
// python3-onnx 1.12 (Debian) knows opsets up to 17.
const checkerMaxOpset = checkerVersion && /^1\.(\d+)/.exec(checkerVersion) && Number(/^1\.(\d+)/.exec(checkerVersion)![1]) >= 13 ? 18 : 17;
const skipped = new Set<string>();

/** Runs onnx.checker (full_check) on `bytes`; returns 'ok', or why it was skipped (printed once). */
function runChecker(bytes: Uint8Array, opset: number, label: string): string {
  const why = checkerMissing ?? (opset > checkerMaxOpset ? `onnx ${checkerVersion} knows opsets up to ${checkerMaxOpset}; opset ${opset} exports skip onnx.checker` : null);
  if (why) {
    if (!skipped.has(why)) console.log(`onnx.checker skipped: ${why}`);
    skipped.add(why);
    return why;
  }
  const file = join(tmp, `${label}.onnx`);
  writeFileSync(file, bytes);
  const r = spawnSync(PYTHON, ['-c', 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)', file], { encoding: 'utf8' });
  expect(r.stderr, `onnx.checker on ${label}`).toBe('');
  expect(r.status).toBe(0);
  return 'ok';
}

// ---- comparing with ONNX Runtime ------------------------------------------------------
type Dtype = 'float32' | 'int32' | 'bool';
function ortTensor(t: kiln.Tensor): ort.Tensor {
  const data = t.dataSync();
  if (t.dtype === 'bool') return new ort.Tensor('bool', Uint8Array.from(data as ArrayLike<number>), t.shape);
  return new ort.Tensor(t.dtype as Exclude<Dtype, 'bool'>, data as Float32Array, t.shape);
}

/** max |a − b| / max |b| (b: Kiln's); NaN where b has NaN must be NaN in a. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0, s = 0;
  for (let i = 0; i < b.length; i++) {
    if (Number.isNaN(b[i]!)) { expect(Number.isNaN(a[i]!), `NaN at ${i}`).toBe(true); continue; }
    d = Math.max(d, Math.abs(Number(a[i]!) - Number(b[i]!)));
    s = Math.max(s, Math.abs(Number(b[i]!)));
  }
  return d / (s || 1);
}

function flat(r: unknown): kiln.Tensor[] {
  if (r instanceof kiln.Tensor) return [r];
  if (Array.isArray(r)) return r.flatMap(flat);
  throw new Error('unexpected output');
}

interface Case {
  readonly name: string;
  readonly model: kiln.nn.Module | ((...xs: kiln.Tensor[]) => unknown);
  readonly specs: kiln.InputSpec[];
  /** Inputs at the n-th of two size settings of the dynamic dims. */
  readonly inputs: (n: 0 | 1) => kiln.Tensor[];
}

/** Exports `c` at `opset`, runs it in ORT at both optimization levels and both sizes, compares with eager; returns the bytes. */
async function exportAndCompare(c: Case, opset = 17): Promise<{ bytes: Uint8Array; result: kiln.onnx.ExportResult }> {
  const result = await kiln.onnx.exportModel(c.model, null, { inputs: c.specs, opset });
  const { bytes } = result;
  runChecker(bytes, opset, `${c.name}_${opset}`);
  if (c.model instanceof nn.Module) c.model.eval();
  for (const level of ['disabled', 'all'] as const) {
    const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: level });
    expect(session.inputNames).toEqual(result.inputNames);
    expect(session.outputNames).toEqual(result.outputNames);
    for (const n of [0, 1] as const) {
      const xs = c.inputs(n);
      const feeds: Record<string, ort.Tensor> = {};
      result.inputNames.forEach((name, i) => { feeds[name] = ortTensor(xs[i]!); });
      const got = await session.run(feeds);
      const want = flat(c.model instanceof nn.Module ? (c.model as unknown as { forward(...a: kiln.Tensor[]): unknown }).forward(...xs) : c.model(...xs));
      expect(want.length).toBe(result.outputNames.length);
      result.outputNames.forEach((name, i) => {
        const o = got[name]!;
        expect(o.dims, `${c.name} ${name} shape (${level}, size ${n})`).toEqual(want[i]!.shape);
        const diff = relDiff(o.data as ArrayLike<number>, want[i]!.dataSync());
        expect(diff, `${c.name} ${name} (${level}, size ${n})`).toBeLessThanOrEqual(TOL);
      });
    }
    session.release?.();
  }
  return { bytes, result };
}

const B = kiln.dim('batch'), T = kiln.dim('seq');
const seeded = (shape: number[], seed: number) => kiln.randn(shape, { seed });

function opsOf(bytes: Uint8Array): string[] {
  const out: string[] = [];
  const visit = (g: { node?: { opType?: string | null; attribute?: { g?: unknown }[] | null }[] | null }) => {
    for (const n of g.node ?? []) {
      out.push(n.opType!);
      for (const a of n.attribute ?? []) if (a.g) visit(a.g as typeof g);
    }
  };
  visit(decodeModel(bytes).graph!);
  return out;
}

class Residual extends nn.Module {
  c1 = new nn.Conv2d(4, 4, 3, { padding: 1 });
  b1 = new nn.BatchNorm2d(4);
  c2 = new nn.Conv2d(4, 4, 3, { padding: 1 });
  b2 = new nn.BatchNorm2d(4);
  forward(x: kiln.Tensor): kiln.Tensor {
    const h = this.b1.forward(this.c1.forward(x)).relu();
    return this.b2.forward(this.c2.forward(h)).add(x).relu();
  }
}

/** BatchNorm statistics that are not the defaults (0, 1), so folding is visible. */
function randomizeStats(m: kiln.nn.Module, seed: number): kiln.nn.Module {
  kiln.noGrad(() => {
    for (const [name, t] of [...m.namedBuffers(), ...m.namedParameters()]) {
      if (name.endsWith('runningVar')) t.copy_(kiln.rand(t.shape, { seed: seed++ }).add(0.5));
      else if (name.endsWith('runningMean') || /\d\.(weight|bias)$|^b\d\.(weight|bias)$/.test(name)) t.copy_(kiln.randn(t.shape, { seed: seed++ }).mul(0.5).add(name.endsWith('weight') ? 1 : 0));
    }
  });
  return m;
}

describe('kiln.onnx.exportModel vs ONNX Runtime (1e-5 relative)', () => {
  it('MLP: Gemm, Relu, Softmax; dynamic batch 5 and 1', async () => {
    const model = new nn.Sequential(new nn.Linear(4, 8), new nn.ReLU(), new nn.Linear(8, 3), new nn.Softmax(1));
    const { bytes, result } = await exportAndCompare({ name: 'mlp', model, specs: [kiln.spec([B, 4])], inputs: (n) => [seeded([n ? 1 : 5, 4], 1 + n)] });
    expect(opsOf(bytes).sort()).toEqual(['Gemm', 'Gemm', 'Relu', 'Softmax']);
    const m = decodeModel(bytes);
    expect(Number(m.irVersion)).toBe(8);
    expect(m.opsetImport[0]!.version).toEqual(expect.anything());
    expect(Number(m.opsetImport[0]!.version)).toBe(17);
    expect(m.producerName).toBe('kiln');
    expect(m.producerVersion).toBe(JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')).version); // KILN_VERSION kept in step
    expect(m.graph!.input![0]!.type!.tensorType!.shape!.dim![0]!.dimParam).toBe('batch');
    expect(m.graph!.output![0]!.name).toBe('output');
    expect(m.graph!.initializer!.map((t) => t.name).sort()).toEqual(['0.bias', '0.weight', '2.bias', '2.weight']);
    expect(result.opHistogram).toEqual({ Gemm: 2, Relu: 1, Softmax: 1 });
  });

  it('CNN with BatchNorm: the BN before a conv exports as BatchNormalization, the one after folds into Conv', async () => {
    const model = randomizeStats(new nn.Sequential(new nn.BatchNorm2d(3), new nn.Conv2d(3, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.MaxPool2d(2), new nn.AvgPool2d(2), new nn.Flatten(), new nn.Linear(4 * 2 * 2, 5)), 10);
    const { bytes } = await exportAndCompare({ name: 'cnn', model, specs: [kiln.spec([B, 3, 8, 8])], inputs: (n) => [seeded([n ? 1 : 3, 3, 8, 8], 3 + n)] });
    const ops = opsOf(bytes);
    expect(ops.filter((o) => o === 'BatchNormalization')).toHaveLength(1);
    for (const op of ['Conv', 'MaxPool', 'AveragePool', 'Gemm', 'Reshape']) expect(ops).toContain(op);
  });

  it('LSTM (batch first): one ONNX LSTM node, dynamic batch and sequence length (2×7 and 1×3)', async () => {
    const model = new nn.LSTM(3, 5, { batchFirst: true });
    const { bytes } = await exportAndCompare({ name: 'lstm', model, specs: [kiln.spec([B, T, 3])], inputs: (n) => [seeded(n ? [1, 3, 3] : [2, 7, 3], 5 + n)] });
    expect(opsOf(bytes).filter((o) => o === 'LSTM')).toHaveLength(1);
    const dims = decodeModel(bytes).graph!.input![0]!.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
    expect(dims).toEqual(['batch', 'seq', 3]);
  });

  it('GRU (2 layers, bidirectional) and a relu RNN: one ONNX op per layer', async () => {
    const gru = new nn.GRU(3, 4, { numLayers: 2, bidirectional: true });
    const { bytes } = await exportAndCompare({ name: 'gru', model: gru, specs: [kiln.spec([T, B, 3])], inputs: (n) => [seeded(n ? [2, 1, 3] : [6, 3, 3], 7 + n)] });
    expect(opsOf(bytes).filter((o) => o === 'GRU')).toHaveLength(2);
    const rnn = new nn.RNN(3, 4, { nonlinearity: 'relu' });
    const r = await exportAndCompare({ name: 'rnn', model: rnn, specs: [kiln.spec([T, B, 3])], inputs: (n) => [seeded(n ? [3, 2, 3] : [5, 1, 3], 9 + n)] });
    expect(opsOf(r.bytes)).toContain('RNN');
  });

  it('residual block (conv, BN folded, add, relu); dynamic batch 2 and 1', async () => {
    const model = randomizeStats(new Residual(), 20);
    const { bytes } = await exportAndCompare({ name: 'residual', model, specs: [kiln.spec([B, 4, 5, 5])], inputs: (n) => [seeded([n ? 1 : 2, 4, 5, 5], 11 + n)] });
    expect(opsOf(bytes).sort()).toEqual(['Add', 'Conv', 'Conv', 'Relu', 'Relu']);
  });

  it('kiln.cond exports as one If with both branches; both branches taken at the two sizes', async () => {
    const lin = new nn.Linear(4, 4);
    // Which branch runs depends on the data: positive sum → linear + tanh, else 2x − 1.
    const f = (x: kiln.Tensor) => kiln.cond(x.sum().greater(0), () => lin.forward(x).tanh(), () => x.mul(2).sub(1));
    const inputs = (n: 0 | 1) => [n ? seeded([1, 4], 13).abs().neg() : seeded([3, 4], 14).abs()];
    const { bytes } = await exportAndCompare({ name: 'cond', model: f, specs: [kiln.spec([B, 4])], inputs });
    const ops = opsOf(bytes);
    expect(ops.filter((o) => o === 'If')).toHaveLength(1);
    expect(ops).toContain('Gemm');
    expect(ops).toContain('Tanh');
    // Eagerly, one branch runs.
    expect(f(kiln.tensor([[-1, -1, -1, -1]])).toArray()).toEqual([[-3, -3, -3, -3]]);
  });

  it('kiln.cond with two outputs, an outer value returned as is, and a cond inside a branch (nested If)', async () => {
    const g = (x: kiln.Tensor) => {
      const [a, b] = kiln.cond(x.mean().greater(0),
        () => [x.exp(), kiln.cond(x.max().greater(1), () => x.sum(1), () => x.min(1))],
        () => [x, x.sum(1).neg()]);
      return [a!.add(1), b!];
    };
    const inputs = (n: 0 | 1) => [n ? seeded([2, 3], 31).abs().neg() : seeded([4, 3], 32).abs().add(0.5)];
    const { bytes } = await exportAndCompare({ name: 'cond2', model: g, specs: [kiln.spec([B, 3])], inputs });
    expect(opsOf(bytes).filter((o) => o === 'If')).toHaveLength(2);
  });

  it('LayerNormalization at opset 17/18, decomposed at 13; reductions with axes as attribute (13) and input (18)', async () => {
    const f = (x: kiln.Tensor) => {
      const ln = kiln.layerNorm(x, [6], { eps: 1e-5 });
      return [ln, x.max(1, { keepDims: true }), x.logSumExp(1), x.mean(0), x.min(1)];
    };
    const c: Case = { name: 'norm', model: f, specs: [kiln.spec([B, 6])], inputs: (n) => [seeded([n ? 1 : 4, 6], 15 + n)] };
    for (const opset of [13, 17, 18]) {
      const { bytes } = await exportAndCompare(c, opset);
      expect(opsOf(bytes).includes('LayerNormalization')).toBe(opset >= 17);
    }
  });

  it('primitives: elementwise, comparisons, where, shapes (reshape/expand/slice/concat/split/pad/transpose), argmax, at opsets 13, 17 and 18', async () => {
    const f = (x: kiln.Tensor, y: kiln.Tensor) => {
      const a = x.exp().add(x.abs().add(1).log()).mul(y.sigmoid()).sub(x.tanh().div(2));
      const b = kiln.where(x.greater(y), x.leakyRelu(0.1), y.elu()).maximum(x.neg()).minimum(kiln.clip(y, -0.5, 0.7));
      const c = x.square().add(1).sqrt().pow(y.abs().add(0.5)).erf().add(x.sin().mul(x.cos())).add(x.softplus());
      const flatC = c.reshape([-1, 2, 3]).transpose(1, 2);                              // [batch, 3, 2]
      const cat = kiln.concat([a, b], 1).slice([1], [9], { axes: [1], steps: [2] });  // [batch, 4]
      const [s0, s1] = x.split([2, 4], 1);
      const padded = s0!.pad([1, 2], { value: 0.5 });                                  // pads the last axis
      const e = s1!.sum(1, { keepDims: true }).expand([-1, 3]);
      const cmp = x.lessEqual(y).logicalOr(x.notEqual(y).logicalAnd(x.greaterEqual(0))).cast('float32');
      return [flatC, cat, padded, e, cmp, x.argmax(1).cast('float32'), x.logSoftmax(1), x.reciprocal().rsqrt().sign()];
    };
    const c: Case = { name: 'prims', model: f, specs: [kiln.spec([B, 6]), kiln.spec([B, 6])], inputs: (n) => [seeded([n ? 1 : 3, 6], 17 + n), seeded([n ? 1 : 3, 6], 19 + n)] };
    await exportAndCompare(c, 13);
    await exportAndCompare(c, 17);
    await exportAndCompare(c, 18);
  });

  it('indexing: indexSelect (Gather), gather (GatherElements), scatterAdd (ScatterElements, opset ≥ 16), oneHot, tril', async () => {
    const idx = kiln.tensor([[0, 3], [2, 2], [1, 0]], { dtype: 'int32' });
    const f = (x: kiln.Tensor) => [
      x.indexSelect(1, kiln.tensor([3, 0, 2], { dtype: 'int32' })),
      x.gather(1, idx),
      x.scatterAdd(1, idx, x.slice([0], [2], { axes: [1] })),
      x.argmax(1).oneHot(4).cast('float32'),
      kiln.tril(x, 1),
    ];
    const c: Case = { name: 'indexing', model: f, specs: [kiln.spec([3, 4])], inputs: (n) => [seeded([3, 4], 25 + n)] };
    for (const opset of [16, 17]) await exportAndCompare(c, opset);
    await expect(kiln.onnx.exportModel(f, null, { inputs: c.specs, opset: 15 })).rejects.toThrow(/op 'scatterAdd'.*opset 15.*needs opset 16/s);
  });

  it('an affine symbolic dim (2·batch) in an expand target is computed from the input shape at run time', async () => {
    const w = kiln.randn([1, 4], { seed: 30 });
    const f = (x: kiln.Tensor) => {
      const twice = kiln.concat([x, x.neg()], 0);              // [2·batch, 4]
      return twice.add(w.expand([twice.shape[0]!, 4])).reshape([-1, 2]);
    };
    const { bytes } = await exportAndCompare({ name: 'affine', model: f, specs: [kiln.spec([B, 4])], inputs: (n) => [seeded([n ? 1 : 3, 4], 21 + n)] });
    const ops = opsOf(bytes);
    expect(ops).toContain('Shape');
    expect(ops).toContain('Mul'); // 2 · batch
    const out = decodeModel(bytes).graph!.output![0]!.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue));
    expect(out).toEqual(['4*batch', 2]);
  });

  it('a dim declared dynamic that the code pins (a size-1 special case in user code) is a KilnError with the reason', async () => {
    const f = (x: kiln.Tensor) => (x.shape[0] === 1 ? x.relu() : x.transpose(0, 1).relu().transpose(0, 1));
    await expect(kiln.onnx.exportModel(f, null, { inputs: [kiln.spec([B, T, 3])] })).rejects.toThrow(/dim 'batch' cannot stay dynamic in the ONNX graph: the traced code differs/);
  });

  it('a transpose that moves a size-1 axis at trace time stays dynamic (Transpose, not a Reshape pinned to 1)', async () => {
    const f = (x: kiln.Tensor) => x.transpose(0, 1).relu();
    const { bytes } = await exportAndCompare({ name: 'transposeBatch', model: f, specs: [kiln.spec([B, T, 3])], inputs: (n) => [seeded([n ? 1 : 4, 2, 3], 31 + n)] });
    expect(opsOf(bytes)).toContain('Transpose');
  });

  it('ConvTranspose and a linear over a 3-D input (MatMul against Wᵀ)', async () => {
    const up = new nn.ConvTranspose2d(2, 3, 3, { stride: 2, padding: 1, outputPadding: 1 });
    const lin = new nn.Linear(6, 2);
    const f = (x: kiln.Tensor) => [up.forward(x), lin.forward(x.reshape([-1, 2, 6]))];
    const { bytes } = await exportAndCompare({ name: 'convT', model: f, specs: [kiln.spec([B, 2, 3, 2])], inputs: (n) => [seeded([n ? 1 : 2, 2, 3, 2], 23 + n)] });
    expect(opsOf(bytes)).toContain('ConvTranspose');
    expect(opsOf(bytes)).toContain('MatMul');
  });

  it('NaN, ±Inf and ±0 come out as in Kiln (same bits up to 1e-6 relative; NaN where Kiln has NaN)', async () => {
    const ops: Record<string, (x: kiln.Tensor) => kiln.Tensor> = {
      relu: (x) => x.relu(), exp: (x) => x.exp(), tanh: (x) => x.tanh(), sigmoid: (x) => x.sigmoid(), leakyRelu: (x) => x.leakyRelu(0.1),
      elu: (x) => x.elu(), maximum: (x) => x.maximum(x.neg()), minimum: (x) => x.minimum(kiln.tensor(0)), clip: (x) => kiln.clip(x, -1, 1),
      softplus: (x) => x.softplus(), div: (x) => x.div(x), sqrt: (x) => x.sqrt(), sign: (x) => x.sign(), erf: (x) => x.erf(),
      sum: (x) => x.sum(0, { keepDims: true }), max: (x) => x.max(0, { keepDims: true }), softmax: (x) => x.softmax(0),
    };
    const values = [NaN, Infinity, -Infinity, 0, -0, 1.5, -2];
    for (const [name, f] of Object.entries(ops)) {
      const { bytes } = await kiln.onnx.exportModel(f, null, { inputs: [kiln.spec([values.length])] });
      const session = await ort.InferenceSession.create(bytes);
      const got = (await session.run({ x: new ort.Tensor('float32', new Float32Array(values), [values.length]) }))['output']!.data as Float32Array;
      const want = f(kiln.tensor(values)).dataSync();
      Array.from(want).forEach((w, i) => {
        const ok = Object.is(w, got[i]) || Math.abs(w - got[i]!) <= 1e-6 * Math.max(1, Math.abs(w));
        expect(ok, `${name}(${values[i]}): kiln ${w}, ort ${got[i]}`).toBe(true);
      });
    }
  });

  it('a kiln.compile result exports its code (traced afresh at O1, with its own specs)', async () => {
    const model = new nn.Sequential(new nn.Linear(3, 4), new nn.Tanh()).eval();
    const compiled = kiln.compile(model, { inputs: [kiln.spec([B, 3])], optimize: 'O2' });
    const x = seeded([2, 3], 40);
    compiled.run(x);
    const { bytes } = await kiln.onnx.exportModel(compiled, null);
    expect(opsOf(bytes)).toEqual(['Gemm', 'Tanh']);
    const session = await ort.InferenceSession.create(bytes);
    const got = (await session.run({ x: ortTensor(x) }))['output']!.data as Float32Array;
    expect(relDiff(got, (model.forward(x) as kiln.Tensor).dataSync())).toBeLessThanOrEqual(TOL);
  });

  it('a Loop node (IR built by hand: no traced code makes one) exports as ONNX Loop, int64 trip count and iteration cast', async () => {
    // y = 3 steps of acc ← 2·acc + i, with the per-step values as a scan output.
    const g = new kiln.ir.Graph();
    const x = g.addInput('x', { dtype: 'float32', shape: [kiln.ir.sym('n')] });
    const trips = g.addConstant('trips', new Int32Array([3]), { dtype: 'int32', shape: [] });
    const yes = g.addConstant('yes', new Uint8Array([1]), { dtype: 'bool', shape: [] });
    const two = g.addConstant('two', new Float32Array([2]), { dtype: 'float32', shape: [] });
    const body = new kiln.ir.Graph(g);
    const i = body.addInput('i', { dtype: 'int32', shape: [] });
    const c = body.addInput('c', { dtype: 'bool', shape: [] });
    const acc = body.addInput('acc', x.type);
    const doubled = body.addNode('mul', [acc, two], {}, [x.type]).outputs[0]!;
    const fi = body.addNode('cast', [i], { dtype: 'float32' }, [{ dtype: 'float32', shape: [] }]).outputs[0]!;
    const next = body.addNode('add', [doubled, fi], {}, [x.type]).outputs[0]!;
    body.outputs = [c, next, next];
    const loop = kiln.ir.addLoop(g, { maxTripCount: trips, cond: yes, carried: [x], body, scanLength: 3 });
    g.outputs = [...loop.outputs];
    kiln.ir.verifyGraph(g);
    const model = toModelProto(g, 17, ['x'], ['final', 'steps']);
    const bytes = encodeModel(model);
    runChecker(bytes, 17, 'loop');
    const session = await ort.InferenceSession.create(bytes);
    const xs = [1, -0.5, 3, 0];
    const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(xs), [4]) });
    const [final, steps] = interpretEager(g, [kiln.tensor(xs)]);
    expect(out['final']!.dims).toEqual([4]);
    expect(out['steps']!.dims).toEqual([3, 4]);
    expect(Array.from(out['final']!.data as Float32Array)).toEqual(Array.from(final!.dataSync()));
    expect(Array.from(out['steps']!.data as Float32Array)).toEqual(Array.from(steps!.dataSync()));
    expect(Array.from(final!.dataSync())).toEqual(xs.map((v) => ((2 * v + 0) * 2 + 1) * 2 + 2));
  });

  it('names, doc strings (the user\'s line) and writing a file', async () => {
    const f = (x: kiln.Tensor) => x.relu().add(1);
    const file = join(tmp, 'named.onnx');
    const r = await kiln.onnx.exportModel(f, file, { inputs: [kiln.spec([B, 2])], inputNames: ['pixels'], outputNames: ['scores'] });
    const m = decodeModel(readFileSync(file));
    expect(Buffer.from(readFileSync(file)).equals(Buffer.from(r.bytes))).toBe(true);
    expect(m.graph!.input!.map((v) => v.name)).toEqual(['pixels']);
    expect(m.graph!.output!.map((v) => v.name)).toEqual(['scores']);
    for (const n of m.graph!.node!) expect(n.docString).toMatch(/onnx\.export\.test\.ts:\d+:\d+/);
    // An output that is an input passes through Identity.
    const id = await kiln.onnx.exportModel((x: kiln.Tensor) => [x, x.neg()], null, { inputs: [kiln.spec([2])] });
    expect(opsOf(id.bytes)).toEqual(['Neg', 'Identity']);
  });
});

// Round trip: export → kiln.onnx.importModel → run equals Kiln eager (1e-5 relative, as
// above). Runs once ONNX import is in the build; skipped with the reason printed before.
const importModel = (kiln.onnx as unknown as { importModel?: (src: Uint8Array) => Promise<{ run(...xs: kiln.Tensor[]): unknown }> }).importModel;
if (!importModel) console.log('ONNX round-trip tests skipped: kiln.onnx.importModel is not in this build');
describe.skipIf(!importModel)('export → import → run (round trip)', () => {
  // Made in the tests (modules need kiln.init).
  const cases: (() => Case)[] = [
    () => ({ name: 'mlp', model: new nn.Sequential(new nn.Linear(4, 8), new nn.ReLU(), new nn.Linear(8, 3)), specs: [kiln.spec([B, 4])], inputs: (n) => [seeded([n ? 1 : 5, 4], 50 + n)] }),
    () => ({ name: 'cnn', model: randomizeStats(new nn.Sequential(new nn.BatchNorm2d(3), new nn.Conv2d(3, 4, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(64, 5)), 60), specs: [kiln.spec([B, 3, 8, 8])], inputs: (n) => [seeded([n ? 1 : 2, 3, 8, 8], 52 + n)] }),
    () => ({ name: 'lstm', model: new nn.LSTM(3, 5, { batchFirst: true }), specs: [kiln.spec([B, T, 3])], inputs: (n) => [seeded(n ? [1, 3, 3] : [2, 6, 3], 54 + n)] }),
    () => ({ name: 'gru', model: new nn.GRU(3, 4, { numLayers: 2, bidirectional: true }), specs: [kiln.spec([T, B, 3])], inputs: (n) => [seeded(n ? [2, 1, 3] : [5, 2, 3], 56 + n)] }),
    () => ({ name: 'residual', model: randomizeStats(new Residual(), 70), specs: [kiln.spec([B, 4, 5, 5])], inputs: (n) => [seeded([n ? 1 : 2, 4, 5, 5], 58 + n)] }),
    () => { const lin = new nn.Linear(4, 4); return { name: 'cond', model: (x: kiln.Tensor) => kiln.cond(x.sum().greater(0), () => lin.forward(x).tanh(), () => x.mul(2).sub(1)), specs: [kiln.spec([B, 4])], inputs: (n) => [n ? seeded([1, 4], 60).abs().neg() : seeded([3, 4], 61).abs()] }; },
  ];
  const names = ['mlp', 'cnn with BN', 'lstm', 'gru', 'residual', 'cond'];
  cases.forEach((make, k) => {
    it(`${names[k]}: the imported model equals Kiln eager at two sizes`, async () => {
      const c = make();
      const { bytes } = await kiln.onnx.exportModel(c.model, null, { inputs: c.specs });
      if (c.model instanceof nn.Module) c.model.eval();
      const imported = await importModel!(bytes);
      for (const n of [0, 1] as const) {
        const xs = c.inputs(n);
        const got = flat(await imported.run(...xs));
        const want = flat(c.model instanceof nn.Module ? (c.model as unknown as { forward(...a: kiln.Tensor[]): unknown }).forward(...xs) : c.model(...xs));
        expect(got.length).toBe(want.length);
        got.forEach((g, i) => {
          expect(g.shape).toEqual(want[i]!.shape);
          expect(relDiff(g.dataSync(), want[i]!.dataSync()), `${c.name} output ${i} at size ${n}`).toBeLessThanOrEqual(TOL);
        });
      }
    });
  });
});

describe('kiln.onnx.exportModel errors', () => {
  const reject = async (p: Promise<unknown>): Promise<kiln.KilnError> => {
    try {
      await p;
    } catch (e) {
      expect(e).toBeInstanceOf(kiln.KilnError);
      return e as kiln.KilnError;
    }
    return expect.fail('expected a KilnError');
  };

  it('an op without an ONNX form names the op and the user\'s line', async () => {
    const f = (x: kiln.Tensor) => kiln.linalg.cholesky(x.matmul(x.transpose(0, 1)).add(kiln.eye(3)));
    const e = await reject(kiln.onnx.exportModel(f, null, { inputs: [kiln.spec([3, 3])] }));
    expect(e.message).toContain("op 'cholesky'");
    expect(e.callSite).toMatch(/onnx\.export\.test\.ts:\d+/);
  });

  it('bad opset, names, inputs; random ops; graph breaks', async () => {
    const f = (x: kiln.Tensor) => x.relu();
    expect((await reject(kiln.onnx.exportModel(f, null, { inputs: [kiln.spec([2])], opset: 12 }))).message).toMatch(/opset must be an integer from 13 to 18/);
    expect((await reject(kiln.onnx.exportModel(f, null, { inputs: [kiln.spec([2])], outputNames: ['a', 'b'] }))).message).toMatch(/outputNames has 2 names for 1 outputs/);
    expect((await reject(kiln.onnx.exportModel(f, null, {}))).message).toMatch(/options.inputs/);
    expect((await reject(kiln.onnx.exportModel(42 as unknown as typeof f, null, { inputs: [] }))).message).toMatch(/expected an nn.Module/);
    const noisy = (x: kiln.Tensor) => x.add(kiln.randn([2]));
    expect((await reject(kiln.onnx.exportModel(noisy, null, { inputs: [kiln.spec([2])] }))).message).toMatch(/random/);
    const reads = (x: kiln.Tensor) => (x.sum().item() > 0 ? x : x.neg());
    const e = await reject(kiln.onnx.exportModel(reads, null, { inputs: [kiln.spec([2])] }));
    expect(e.message).toMatch(/graph break|fullGraph|reads a tensor/);
  });

  it('kiln.cond: branches of different types, reads inside a branch, a non-bool pred', async () => {
    const mismatch = (x: kiln.Tensor) => kiln.cond(x.sum().greater(0), () => x, () => x.sum());
    expect((await reject(kiln.onnx.exportModel(mismatch, null, { inputs: [kiln.spec([2])] }))).message).toMatch(/then-branch .* else-branch/);
    const reads = (x: kiln.Tensor) => kiln.cond(x.sum().greater(0), () => x.mul(x.sum().item()), () => x);
    expect((await reject(kiln.onnx.exportModel(reads, null, { inputs: [kiln.spec([2])] }))).message).toMatch(/inside a kiln.cond branch/);
    const leaks = (x: kiln.Tensor) => {
      let inner: kiln.Tensor | null = null;
      const y = kiln.cond(x.sum().greater(0), () => (inner = x.exp()), () => x);
      return y.add(inner!);
    };
    expect((await reject(kiln.onnx.exportModel(leaks, null, { inputs: [kiln.spec([2])] }))).message).toMatch(/computed inside a kiln.cond branch was used outside it/);
    expect(kilnError(() => kiln.cond(kiln.tensor([1, 2]), () => kiln.tensor(1), () => kiln.tensor(2))).message).toMatch(/bool tensor with one element/);
    expect(kiln.cond(true, () => 1 as unknown as kiln.Tensor, () => 2 as unknown as kiln.Tensor)).toBe(1);
  });

  it('an nn.Module in training mode is exported in eval mode and keeps its own mode', async () => {
    const model = new nn.Sequential(new nn.Linear(3, 3), new nn.Dropout(0.5), new nn.BatchNorm1d(3));
    expect(model.training).toBe(true);
    const { bytes } = await kiln.onnx.exportModel(model, null, { inputs: [kiln.spec([B, 3])] });
    expect(model.training).toBe(true);
    expect(opsOf(bytes)).not.toContain('Dropout');
  });
});
