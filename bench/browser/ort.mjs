import * as ort from 'onnxruntime-web/wasm';
import { HIDDEN, IN, OUT, fail, mlp, report } from './mlp.mjs';

// A minimal protobuf writer for the ONNX model (ModelProto) of the MLP: two Gemm and a Relu.
const enc = new TextEncoder();
function varint(n) {
  const out = [];
  while (n > 127) { out.push((n & 127) | 128); n = Math.floor(n / 128); }
  out.push(n);
  return out;
}
const cat = (parts) => {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
const field = (no, bytes) => cat([Uint8Array.from(varint(no * 8 + 2)), Uint8Array.from(varint(bytes.length)), bytes]);
const int = (no, n) => Uint8Array.from([...varint(no * 8), ...varint(n)]);
const str = (no, s) => field(no, enc.encode(s));
const tensor = (name, dims, data) => cat([...dims.map((d) => int(1, d)), int(2, 1), str(8, name), field(9, new Uint8Array(data.buffer))]);
const valueInfo = (name, dims) => cat([str(1, name), field(2, field(1, cat([int(1, 1), field(2, cat(dims.map((d) => field(1, typeof d === 'string' ? str(2, d) : int(1, d)))))])))]);
const node = (inputs, output, op) => cat([...inputs.map((i) => str(1, i)), str(2, output), str(4, op)]);

function model({ w1, b1, w2, b2 }) {
  const graph = cat([
    field(1, node(['x', 'w1', 'b1'], 'h0', 'Gemm')),
    field(1, node(['h0'], 'h', 'Relu')),
    field(1, node(['h', 'w2', 'b2'], 'y', 'Gemm')),
    str(2, 'mlp'),
    field(5, tensor('w1', [IN, HIDDEN], w1)), field(5, tensor('b1', [HIDDEN], b1)),
    field(5, tensor('w2', [HIDDEN, OUT], w2)), field(5, tensor('b2', [OUT], b2)),
    field(11, valueInfo('x', [1, IN])),
    field(12, valueInfo('y', [1, OUT])),
  ]);
  return cat([int(1, 7), str(2, 'kiln-bench'), field(7, graph), field(8, cat([str(1, ''), int(2, 13)]))]);
}

async function main() {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = { wasm: new URL('./ort-wasm-simd-threaded.wasm', location.href).href }; // next to the page
  const weights = mlp();
  const session = await ort.InferenceSession.create(model(weights), { executionProviders: ['wasm'] });
  const initMs = performance.now();
  const out = await session.run({ x: new ort.Tensor('float32', weights.x, [1, IN]) });
  report(out.y.data, initMs);
}
main().catch(fail);
