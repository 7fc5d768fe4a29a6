/**
 * Time per training step (forward + backward + Adam update), Kiln eager vs tfjs
 * (`@tensorflow/tfjs` layers) in the same process:
 *  - MLP 784-512-512-10, batch 128, tfjs on its wasm backend (stock: it takes the
 *    slow transposed-matmul path). Target: Kiln ≥ 3× faster.
 *  - CNN conv3×3×32-relu-pool2-conv3×3×64-relu-pool2-dense10, batch 32. Stock
 *    tfjs-wasm cannot train it (no Conv2DBackpropFilter kernel: checked and reported
 *    below); a user falls back to tfjs's CPU backend. Target: Kiln ahead.
 * Each also runs Kiln with `threads: 2` (tfjs-backend-wasm's threaded build), in a
 * worker thread, interleaved with the rows above.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as kiln from '../src/index.js';
import { compare, type Row } from './harness.js';
import { kilnCnn, kilnMlp } from './kilnSteps.js';
import { kilnWorkerContender } from './kilnWorker.js';

type TfStep = () => void;

function tfModelStep(model: tf.Sequential, xShape: number[], batch: number): TfStep {
  const opt = tf.train.adam(1e-3);
  const x = tf.randomUniform(xShape);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32'), 10);
  return () => {
    tf.tidy(() => {
      opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x) as tf.Tensor) as tf.Scalar);
    });
  };
}

function tfMlp(): TfStep {
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [784], units: 512, activation: 'relu' }),
      tf.layers.dense({ units: 512, activation: 'relu' }),
      tf.layers.dense({ units: 10 }),
    ],
  });
  return tfModelStep(m, [128, 784], 128);
}

function tfCnn(): TfStep {
  const m = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 10 }),
    ],
  });
  return tfModelStep(m, [32, 28, 28, 1], 32);
}

const KILN_2_THREADS = 'kiln eager, wasm, 2 threads';

export async function trainSuite(): Promise<Row[]> {
  await kiln.init({ backend: 'wasm' });
  const require = createRequire(import.meta.url);
  setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-simd.wasm')) + '/');
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend failed to initialise');
  const rows: Row[] = [];
  // Kiln on 2 wasm threads runs in a worker thread (the wasm module is per process/thread).
  const mlp2 = await kilnWorkerContender(KILN_2_THREADS, 'mlp', 2);
  const cnn2 = await kilnWorkerContender(KILN_2_THREADS, 'cnn', 2);

  rows.push(...compare({
    title: 'MLP 784-512-512-10 training step (Adam), batch 128',
    baseline: 'tfjs layers, wasm backend',
    unit: 'ms',
    iters: 3,
    contenders: [
      { name: 'tfjs layers, wasm backend', run: tfMlp() },
      { name: 'kiln eager, wasm backend', run: kilnMlp() },
      mlp2,
    ],
  }));
  await mlp2.close();

  let wasmCnnError = 'ran';
  try {
    tfCnn()();
  } catch (e) {
    wasmCnnError = (e as Error).message.split('\n')[0]!;
  }
  console.log(`\ntfjs-wasm CNN training step: ${wasmCnnError}`);
  await tf.setBackend('cpu');
  rows.push(...compare({
    title: 'CNN conv32-pool-conv64-pool-dense10 training step (Adam), batch 32',
    baseline: 'tfjs layers, cpu backend (wasm cannot train convs)',
    unit: 'ms',
    iters: 1,
    rounds: 5, // tfjs-cpu takes tens of seconds a step
    warmup: 1,
    warmupMs: 0, // a round is already slow enough to be steady
    contenders: [
      { name: 'tfjs layers, cpu backend (wasm cannot train convs)', run: tfCnn() },
      { name: 'kiln eager, wasm backend', run: kilnCnn() },
      cnn2,
    ],
  }));
  await cnn2.close();
  return rows;
}
