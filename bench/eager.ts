/**
 * Eager dispatch overhead and matmul throughput, Kiln vs peers in one process:
 *  - per small op: Kiln eager `add` on 4 elements vs tfjs-core eager `tf.add` on its
 *    wasm backend (target: Kiln ≤ 1/2 of tfjs), and the raw `_Add` export as a floor;
 *  - matmul 512³: Kiln eager vs the raw XNNPACK `_FusedMatMul` export on preallocated
 *    buffers (target: within 10%), and Kiln with `threads: 2` (in a worker thread).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as kiln from '../src/index.js';
import { engine } from '../src/eager/engine.js';
import { adaptArrayKernel, arrayKernels } from '../src/runtime/arrayKernels.js';
import type { WasmBackend, WasmStorage } from '../src/runtime/wasm/wasmBackend.js';
import { compare, type Row } from './harness.js';
import { kilnWorkerContender } from './kilnWorker.js';

/** The tfjs-backend-wasm tensor id behind a Kiln wasm tensor. */
const idOf = (t: kiln.Tensor): number => (t.storage as WasmStorage).id;

export async function eagerSuite(): Promise<Row[]> {
  await kiln.init({ backend: 'wasm' });
  const wasm = engine.backends.get('wasm') as unknown as WasmBackend;
  const require = createRequire(import.meta.url);
  setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-simd.wasm')) + '/');
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend failed to initialise');

  const rows: Row[] = [];

  // ---- dispatch overhead: 4-element add --------------------------------------
  const ka = kiln.tensor([1, 2, 3, 4]), kb = kiln.tensor([5, 6, 7, 8]);
  const ta = tf.tensor1d([1, 2, 3, 4]), tb = tf.tensor1d([5, 6, 7, 8]);
  const out = wasm.alloc('float32', 4);
  const shape = wasm.shapePtr([4], 0);
  const mod = wasm.module;
  rows.push(...compare({
    title: 'add, 4 elements, per call (eager dispatch overhead)',
    baseline: 'tfjs-wasm eager tf.add',
    unit: 'us',
    iters: 20000,
    contenders: [
      { name: 'tfjs-wasm eager tf.add', run: () => tf.add(ta, tb).dispose() },
      { name: 'kiln eager a.add(b)', run: () => ka.add(kb).dispose() },
      { name: 'raw _Add export (floor)', run: () => void mod._Add(idOf(ka), shape, 1, idOf(kb), shape, 1, 0, out.id) },
    ],
  }));
  // A small op chain as a user writes it, inside a scope.
  rows.push(...compare({
    title: 'relu(x·w + b) on [4] inside a scope/tidy, per chain',
    baseline: 'tfjs-wasm eager (tidy)',
    unit: 'us',
    iters: 5000,
    contenders: [
      { name: 'tfjs-wasm eager (tidy)', run: () => tf.tidy(() => tf.relu(tf.add(tf.mul(ta, tb), ta))) },
      { name: 'kiln eager (scope)', run: () => kiln.scope(() => void ka.mul(kb).add(ka).relu()) },
    ],
  }));

  // ---- matmul 512³ -----------------------------------------------------------------
  const n = 512;
  const A = kiln.randn([n, n], { seed: 1 }), B = kiln.randn([n, n], { seed: 2 });
  const C = wasm.alloc('float32', n * n);
  // `_FusedMatMul` reads batched shapes ([1, M, K] · [1, K, N]; rank-2 shapes make it compute
  // nothing), written into the backend's shape slots at each call (other kernels reuse them).
  const batched = [1, n, n];
  const tA = tf.randomNormal([n, n]), tB = tf.randomNormal([n, n]);
  // Kiln with `threads: 2` in a worker thread (the wasm module is per process/thread).
  const matmul2 = await kilnWorkerContender('kiln eager matmul, 2 threads', 'matmul512', 2);
  rows.push(...compare({
    title: `matmul ${n}×${n}×${n}, per call`,
    baseline: 'raw _FusedMatMul export',
    unit: 'ms',
    iters: 10,
    contenders: [
      { name: 'raw _FusedMatMul export', run: () => void mod.__FusedMatMul(idOf(A), wasm.shapePtr(batched, 0), 3, idOf(B), wasm.shapePtr(batched, 1), 3, 0, 0, 0, 0, 0, 0, C.id) },
      { name: 'kiln eager matmul', run: () => A.matmul(B).dispose() },
      { name: 'tfjs-wasm eager tf.matMul', run: () => tf.matMul(tA, tB).dispose() },
      matmul2,
    ],
  }));
  await matmul2.close();

  // ---- a whole model, batch 1: what dispatch overhead costs end to end ----------------
  const { nn } = kiln;
  const mlp = new nn.Sequential(new nn.Linear(784, 512), new nn.ReLU(), new nn.Linear(512, 512), new nn.ReLU(), new nn.Linear(512, 10)).eval();
  const compiled = kiln.compile(mlp, { inputs: [kiln.spec([kiln.dim('batch'), 784])] });
  const x1 = kiln.rand([1, 784], { seed: 3 });
  const [w1, b1, w2, b2, w3, b3] = mlp.parameters().map((p) => tf.tensor(p.dataSync(), [...p.shape]).transpose());
  const tx1 = tf.tensor(x1.dataSync(), [1, 784]);
  const tfMlp = () => tf.tidy(() => tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(tx1, w1!), b1!)), w2!), b2!)), w3!), b3!)).dispose();
  rows.push(...compare({
    title: 'MLP 784-512-512-10 inference, batch 1, per call',
    baseline: 'tfjs-wasm eager (tidy)',
    unit: 'us',
    iters: 500,
    contenders: [
      { name: 'tfjs-wasm eager (tidy)', run: tfMlp },
      { name: 'kiln eager (scope)', run: () => kiln.scope(() => void mlp.forward(x1)) },
      { name: 'kiln compiled', run: () => (compiled.run(x1) as kiln.Tensor).dispose() },
    ],
  }));

  // ---- normalization: the generated kernels vs the ops' decompositions (what ran before) ----
  /** Runs `f` with the wasm kernels of `ops` removed, so dispatch runs their decompositions. */
  const decomposed = (ops: readonly string[], f: () => void) => () => {
    const saved = ops.map((op) => wasm.kernels.get(op)!);
    ops.forEach((op) => wasm.kernels.delete(op));
    try {
      f();
    } finally {
      ops.forEach((op, i) => wasm.kernels.set(op, saved[i]!));
    }
  };
  const bn = new nn.BatchNorm2d(32);
  const xb = kiln.randn([32, 32, 26, 26], { seed: 4 });
  const bnStep = () => kiln.scope(() => bn.forward(xb).sum().backward());
  const bnOps = ['batchNormTraining', 'batchNormTrainingGrad'];
  rows.push(...compare({
    title: 'BatchNorm2d training step (forward + backward) on [32, 32, 26, 26], per step',
    baseline: 'kiln decomposition (before)',
    unit: 'ms',
    iters: 20,
    contenders: [
      { name: 'kiln decomposition (before)', run: decomposed(bnOps, bnStep) },
      { name: 'kiln generated kernels', run: bnStep },
    ],
  }));
  const ln = new nn.LayerNorm(512);
  const xl = kiln.randn([128, 512], { seed: 5 });
  const lnForward = () => kiln.noGrad(() => ln.forward(xl).dispose());
  rows.push(...compare({
    title: 'LayerNorm(512) forward on [128, 512], per call',
    baseline: 'kiln decomposition (before)',
    unit: 'us',
    iters: 200,
    contenders: [
      { name: 'kiln decomposition (before)', run: decomposed(['layerNorm'], lnForward) },
      { name: 'kiln generated kernel', run: lnForward },
    ],
  }));
  const xlg = kiln.randn([128, 512], { seed: 7 });
  const lnStep = () => kiln.scope(() => ln.forward(xlg).sum().backward());
  rows.push(...compare({
    title: 'LayerNorm(512) training step (forward + backward) on [128, 512], per step',
    baseline: 'kiln decomposition (before)',
    unit: 'us',
    iters: 100,
    contenders: [
      { name: 'kiln decomposition (before)', run: decomposed(['layerNorm', 'layerNormGrad'], lnStep) },
      { name: 'kiln generated kernels', run: lnStep },
    ],
  }));
  // logSoftmax had only the portable kernel (Math.exp per element) on wasm.
  const xs = kiln.randn([64, 1000], { seed: 6 });
  const portable = adaptArrayKernel(wasm, arrayKernels.get('logSoftmax')!, (st) => wasm.view(st), true);
  const logSoftmax = () => xs.logSoftmax(1).dispose();
  rows.push(...compare({
    title: 'logSoftmax on [64, 1000] (last axis), per call',
    baseline: 'kiln portable kernel (before)',
    unit: 'us',
    iters: 100,
    contenders: [
      {
        name: 'kiln portable kernel (before)',
        run: () => {
          const own = wasm.kernels.get('logSoftmax')!;
          wasm.kernels.set('logSoftmax', portable);
          try {
            logSoftmax();
          } finally {
            wasm.kernels.set('logSoftmax', own);
          }
        },
      },
      { name: 'kiln generated kernel', run: logSoftmax },
    ],
  }));
  return rows;
}
