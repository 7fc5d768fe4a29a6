import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { HIDDEN, IN, OUT, fail, mlp, report } from './mlp.mjs';

async function main() {
  setWasmPaths('./'); // the .wasm files next to the page
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: the wasm backend did not load');
  const initMs = performance.now();
  const { w1, b1, w2, b2, x } = mlp();
  const h = tf.relu(tf.add(tf.matMul(tf.tensor2d(x, [1, IN]), tf.tensor2d(w1, [IN, HIDDEN])), tf.tensor1d(b1)));
  const y = tf.add(tf.matMul(h, tf.tensor2d(w2, [HIDDEN, OUT])), tf.tensor1d(b2));
  report(await y.data(), initMs);
}
main().catch(fail);
