/**
 * `npm run bench -- webgpu`: whole models on WebGPU in Node (Dawn, npm `webgpu`): Kiln
 * compiled for 'webgpu' (one plan, one submit per run) vs Kiln eager on webgpu vs
 * tfjs-backend-webgpu (tfjs-core ops, eager), the same weights everywhere:
 *  - MLP 784-512-512-10 (eval), batch 1 and 128;
 *  - CNN conv32-BN-relu-pool-conv64-BN-relu-pool-dense10 (eval), batch 32;
 *  - nn.LSTM input 64, hidden 128, 32 steps (the output sequence), batch 1 and 16;
 *  - ResNet basic block with BatchNorm, 8×64×32×32.
 * Every call ends with reading the output (`await y.data()`, tfjs's `await y.data()`): a
 * GPU time is only known when the result is back, and each contender pays the same copy.
 * Before timing, each contender's output (Kiln compiled: its second call, the first
 * traces) is checked against Kiln eager on the wasm backend (the CPU reference) within
 * TOLERANCE; one that cannot run or differs gets a row saying why and is not timed.
 *
 * The header names the adapter. On a CPU implementation of WebGPU (lavapipe, SwiftShader,
 * any fallback adapter) the numbers are correctness-only — they time a CPU emulating a GPU
 * — and each case runs 1–2 calls per round to stay within minutes; on a real GPU the
 * iteration counts are those of a timing run. Without an adapter the suite says why
 * (on Linux without a GPU: `source scripts/lavapipe-env.sh` first) and times nothing.
 */
import type { Tensor as TfTensor, Tensor4D } from '@tensorflow/tfjs-core';
import os from 'node:os';
import * as kiln from '../src/index.js';
import { BasicBlock, LstmSequence, type Model } from './benchModels.js';
import { compareAsync, type AsyncContender, type Row } from './harness.js';

/** Outputs must agree with Kiln eager on wasm within this, relative to its largest |value|. */
const TOLERANCE = 1e-4;

interface Case {
  key: 'mlp' | 'cnn' | 'lstm' | 'resblock';
  title: string;
  /** Kiln's (NCHW / sequence-first) input shape. */
  input: number[];
  /** Calls per contender per round on a real GPU, and on a CPU implementation (correctness-only). */
  iters: { gpu: number; software: number };
  unit: 'us' | 'ms';
}

const CASES: readonly Case[] = [
  { key: 'mlp', title: 'MLP 784-512-512-10 (eval), batch 1', input: [1, 784], iters: { gpu: 200, software: 2 }, unit: 'ms' },
  { key: 'mlp', title: 'MLP 784-512-512-10 (eval), batch 128', input: [128, 784], iters: { gpu: 50, software: 1 }, unit: 'ms' },
  { key: 'cnn', title: 'CNN conv32-BN-pool-conv64-BN-pool-dense10 (eval), batch 32', input: [32, 1, 28, 28], iters: { gpu: 50, software: 1 }, unit: 'ms' },
  { key: 'lstm', title: 'nn.LSTM input 64, hidden 128, 32 steps (eval), batch 1', input: [32, 1, 64], iters: { gpu: 20, software: 1 }, unit: 'ms' },
  { key: 'lstm', title: 'nn.LSTM input 64, hidden 128, 32 steps (eval), batch 16', input: [32, 16, 64], iters: { gpu: 20, software: 1 }, unit: 'ms' },
  { key: 'resblock', title: 'ResNet basic block with BN, 8×64×32×32', input: [8, 64, 32, 32], iters: { gpu: 20, software: 1 }, unit: 'ms' },
];

/** Row names (every row runs on webgpu; tfjs-backend-webgpu runs eagerly). */
const SYSTEMS = { compiled: 'Kiln compiled', eager: 'Kiln eager', tfjs: 'tfjs-backend-webgpu' } as const;
type System = keyof typeof SYSTEMS;

// ---- the GPU ------------------------------------------------------------------------------

/** Dawn's GPU object, module-level: it must outlive every device made from it (its GC crashes Dawn). */
let dawn: GPU | null = null;

interface Adapter {
  /** vendor, architecture, device/description as the adapter reports them. */
  describe: string;
  /** Why the numbers are correctness-only, or null on a real GPU. */
  software: string | null;
}

/**
 * Dawn from npm `webgpu`, its globals (GPUBufferUsage, …) installed and `navigator.gpu`
 * set, as tfjs-backend-webgpu expects; Kiln gets the same GPU object injected.
 */
async function setUpGpu(): Promise<Adapter> {
  const webgpu = (await import('webgpu')) as { create(flags: string[]): GPU; globals: object };
  Object.assign(globalThis, webgpu.globals);
  dawn ??= webgpu.create([]);
  const g = globalThis as { navigator?: object };
  g.navigator ??= {};
  Object.defineProperty(g.navigator, 'gpu', { value: dawn, configurable: true });
  const adapter = await dawn.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    const icd = process.env['VK_ICD_FILENAMES'];
    throw new Error(`no WebGPU adapter from Dawn (VK_ICD_FILENAMES ${icd ? `= ${icd}` : 'is not set'}); without a GPU on Linux: source scripts/lavapipe-env.sh (README › WebGPU)`);
  }
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  const fallback = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ?? false;
  const describe = [info?.vendor, info?.architecture, info?.device, info?.description].filter((s) => s).join(' ') || 'unnamed adapter';
  const cpu = /llvmpipe|lavapipe|swiftshader|softpipe|warp/i.exec(describe) ?? /software/i.exec(describe);
  const software = cpu ? `'${cpu[0]}' is a CPU implementation of Vulkan/WebGPU` : fallback ? `the adapter is a fallback (CPU) adapter` : null;
  return { describe, software };
}

// ---- the models, in Kiln (the shared classes: benchModels.ts) -----------------------------

function kilnModel(key: Case['key']): Model {
  const { nn } = kiln;
  switch (key) {
    case 'mlp':
      return new nn.Sequential(new nn.Linear(784, 512), new nn.ReLU(), new nn.Linear(512, 512), new nn.ReLU(), new nn.Linear(512, 10)) as Model;
    case 'cnn':
      return new nn.Sequential(
        new nn.Conv2d(1, 32, 3), new nn.BatchNorm2d(32), new nn.ReLU(), new nn.MaxPool2d(2),
        new nn.Conv2d(32, 64, 3), new nn.BatchNorm2d(64), new nn.ReLU(), new nn.MaxPool2d(2),
        new nn.Flatten(), new nn.Linear(64 * 5 * 5, 10),
      ) as Model;
    case 'lstm':
      return new LstmSequence();
    case 'resblock':
      return new BasicBlock();
  }
}

/** A model's float32 state as plain arrays. */
type State = Record<string, { data: Float32Array; shape: number[] }>;

const flat = (t: kiln.Tensor): Float32Array => Float32Array.from(t.dataSync() as ArrayLike<number>);

/**
 * On the wasm backend (the default when called): the case's seeded weights (BatchNorm
 * statistics from a few training-mode passes, affine away from 1/0), its input, and Kiln
 * eager's output, the reference every contender is checked against.
 */
function reference(c: Case, seed: number): { state: State; x: Float32Array; y: Float32Array } {
  kiln.manualSeed(seed);
  const model = kilnModel(c.key);
  kiln.noGrad(() => kiln.scope(() => {
    if (c.key === 'cnn' || c.key === 'resblock') {
      const bns = [...model.namedModules()].filter(([, m]) => m instanceof kiln.nn.BatchNorm2d).map(([name]) => name);
      const affine: Record<string, kiln.Tensor> = {};
      bns.forEach((name, i) => {
        const ch = (model.stateDict().get(`${name}.weight`) as kiln.Tensor).shape[0]!;
        affine[`${name}.weight`] = kiln.rand([ch], { seed: seed + 2 * i + 1 }).add(0.5);
        affine[`${name}.bias`] = kiln.randn([ch], { seed: seed + 2 * i + 2 }).mul(0.1);
      });
      model.loadStateDict(affine, { strict: false });
      model.train();
      for (let i = 0; i < 3; i++) void model.forward(kiln.randn(c.input, { seed: seed + 10 + i }));
    }
  }));
  model.eval();
  const state: State = {};
  for (const [name, t] of model.stateDict()) if (t.dtype === 'float32') state[name] = { data: flat(t), shape: [...t.shape] };
  const x = kiln.scope(() => flat(c.key === 'mlp' || c.key === 'cnn' ? kiln.rand(c.input, { seed: seed + 100 }) : kiln.randn(c.input, { seed: seed + 100 })));
  const y = kiln.noGrad(() => kiln.scope(() => flat(model.forward(kiln.tensor(x, { shape: c.input })))));
  return { state, x, y };
}

/** A contender and how to get its output once (for the cross-check). */
type Step = AsyncContender & { output(): Promise<Float32Array> };

/** Kiln compiled and eager on the webgpu backend (the default when called). */
function kilnSteps(c: Case, state: State, xData: Float32Array): { compiled: Step; eager: Step } {
  const model = kilnModel(c.key);
  const tensors = Object.fromEntries(Object.entries(state).map(([k, v]) => [k, kiln.tensor(v.data, { shape: v.shape })]));
  model.loadStateDict(tensors, { strict: false });
  for (const t of Object.values(tensors)) t.dispose();
  model.eval();
  const x = kiln.tensor(xData, { shape: c.input }).keep();
  const plan = kiln.compile(model, { inputs: [kiln.spec(c.input)], target: 'webgpu' });
  const read = async (y: kiln.Tensor): Promise<Float32Array> => {
    const out = Float32Array.from(await y.data() as ArrayLike<number>);
    y.dispose();
    return out;
  };
  const eagerOnce = (): kiln.Tensor => kiln.noGrad(() => kiln.scope(() => model.forward(x)));
  return {
    compiled: {
      name: SYSTEMS.compiled,
      run: async () => void (await read(plan.run(x) as kiln.Tensor)),
      output: async () => {
        await read(plan.run(x) as kiln.Tensor); // traces: the eager result
        return read(plan.run(x) as kiln.Tensor);
      },
    },
    eager: { name: SYSTEMS.eager, run: async () => void (await read(eagerOnce())), output: () => read(eagerOnce()) },
  };
}

// ---- the models, in tfjs-core ops (tfjs-backend-webgpu) -------------------------------------

type Tf = typeof import('@tensorflow/tfjs-core');

async function setUpTfjs(): Promise<{ tf: Tf; describe: string }> {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs-backend-webgpu failed to initialise');
  const info = (tf.backend() as unknown as { adapterInfo?: { vendor?: string; architecture?: string } }).adapterInfo;
  return { tf, describe: [info?.vendor, info?.architecture].filter((s) => s).join(' ') };
}

/** The case in tfjs-core ops (NHWC inside; the output in Kiln's layout), on the same weights. */
function tfjsStep(tf: Tf, c: Case, state: State, xData: Float32Array): Step {
  const p = (name: string): TfTensor => tf.tensor(state[name]!.data, state[name]!.shape);
  /** Kiln's [out, in, kh, kw] filter as tfjs's [kh, kw, in, out]; Kiln's [out, in] weight transposed. */
  const filter = (name: string): Tensor4D => tf.tidy(() => tf.transpose(p(name), [2, 3, 1, 0])) as Tensor4D;
  const linearT = (name: string): TfTensor => tf.tidy(() => tf.transpose(p(name)));
  const bn = (l: string) => [p(`${l}.runningMean`), p(`${l}.runningVar`), p(`${l}.bias`), p(`${l}.weight`)] as const;
  const nhwc = (): Tensor4D => tf.tidy(() => tf.transpose(tf.tensor4d(xData, c.input as [number, number, number, number]), [0, 2, 3, 1]));
  let forward: () => TfTensor;
  switch (c.key) {
    case 'mlp': {
      const x = tf.tensor(xData, c.input);
      const [w1, w2, w3] = ['0', '2', '4'].map((l) => linearT(`${l}.weight`)) as [TfTensor, TfTensor, TfTensor];
      const [b1, b2, b3] = ['0', '2', '4'].map((l) => p(`${l}.bias`)) as [TfTensor, TfTensor, TfTensor];
      forward = () => tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, w1), b1)), w2), b2)), w3), b3);
      break;
    }
    case 'cnn': {
      const x = nhwc();
      const [f1, f2] = [filter('0.weight'), filter('4.weight')];
      const [b1, b2, b3] = [p('0.bias'), p('4.bias'), p('9.bias')];
      const [bn1, bn2] = [bn('1'), bn('5')];
      // Kiln flattens NCHW (c, h, w); NHWC flattens (h, w, c): permute the dense weight's rows.
      const w3 = tf.tidy(() => tf.reshape(tf.transpose(tf.reshape(p('9.weight'), [10, 64, 5, 5]), [2, 3, 1, 0]), [64 * 5 * 5, 10]));
      forward = () => {
        let y = tf.maxPool(tf.relu(tf.batchNorm(tf.add(tf.conv2d(x, f1, 1, 'valid'), b1), ...bn1, 1e-5)) as Tensor4D, 2, 2, 'valid');
        y = tf.maxPool(tf.relu(tf.batchNorm(tf.add(tf.conv2d(y, f2, 1, 'valid'), b2), ...bn2, 1e-5)) as Tensor4D, 2, 2, 'valid');
        return tf.add(tf.matMul(tf.reshape(y, [c.input[0]!, 64 * 5 * 5]), w3), b3);
      };
      break;
    }
    case 'lstm': {
      const [steps, batch] = [c.input[0]!, c.input[1]!];
      const x = tf.tensor(xData, c.input);
      const wih = linearT('lstm.weightIh_l0'), whh = linearT('lstm.weightHh_l0');
      const bias = tf.add(p('lstm.biasIh_l0'), p('lstm.biasHh_l0'));
      const zeros = tf.zeros([batch, 128]);
      forward = () => {
        // The input projection for every step at once, then the recurrence (gates i, f, g, o).
        const xw = tf.unstack(tf.reshape(tf.add(tf.matMul(tf.reshape(x, [steps * batch, 64]), wih), bias), [steps, batch, 512]));
        let h = zeros, cell = zeros;
        const hs: TfTensor[] = [];
        for (let t = 0; t < steps; t++) {
          const [i, f, g, o] = tf.split(tf.add(xw[t]!, tf.matMul(h, whh)), 4, 1) as [TfTensor, TfTensor, TfTensor, TfTensor];
          cell = tf.add(tf.mul(tf.sigmoid(f), cell), tf.mul(tf.sigmoid(i), tf.tanh(g)));
          h = tf.mul(tf.sigmoid(o), tf.tanh(cell));
          hs.push(h);
        }
        return tf.stack(hs);
      };
      break;
    }
    case 'resblock': {
      const x = nhwc();
      const [f1, f2] = [filter('conv1.weight'), filter('conv2.weight')];
      const [bn1, bn2] = [bn('bn1'), bn('bn2')];
      forward = () => {
        const y = tf.relu(tf.batchNorm(tf.conv2d(x, f1, 1, 'same'), ...bn1, 1e-5)) as Tensor4D;
        return tf.relu(tf.add(tf.batchNorm(tf.conv2d(y, f2, 1, 'same'), ...bn2, 1e-5), x));
      };
      break;
    }
  }
  const toKiln = (y: TfTensor): TfTensor => (c.key === 'resblock' ? tf.transpose(y, [0, 3, 1, 2]) : y);
  return {
    name: SYSTEMS.tfjs,
    run: async () => {
      const y = tf.tidy(forward);
      await y.data();
      y.dispose();
    },
    output: async () => {
      const y = tf.tidy(() => toKiln(forward()));
      const out = Float32Array.from(await y.data() as Float32Array);
      y.dispose();
      return out;
    },
  };
}

// ---- cross-check --------------------------------------------------------------------------

interface Check { abs: number; rel: number; ok: boolean; error?: string }

/** Max |ref − got| relative to the reference's largest |value|; NaN or a length mismatch fails. */
function check(ref: Float32Array, got: Float32Array): Check {
  if (got.length !== ref.length) return { abs: Infinity, rel: Infinity, ok: false, error: `${got.length} elements, expected ${ref.length}` };
  let abs = 0, scale = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ref[i]! - got[i]!);
    abs = Number.isNaN(d) ? Infinity : Math.max(abs, d);
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  const rel = abs / (scale || 1);
  return { abs, rel, ok: rel <= TOLERANCE };
}

const firstLine = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).split('\n')[0]!;

// ---- the suite ----------------------------------------------------------------------------

export async function webgpuSuite(): Promise<Row[]> {
  const started = performance.now();
  let adapter: Adapter;
  try {
    adapter = await setUpGpu();
  } catch (e) {
    console.log(`webgpu suite: nothing timed: ${firstLine(e)}`);
    return [];
  }
  const software = adapter.software !== null;
  await kiln.init({ backend: 'wasm', threads: 1 });
  const refs = CASES.map((c, i) => reference(c, 1000 * (i + 1)));
  await kiln.init({ backend: 'webgpu', gpu: dawn! });
  const backend = (await import('../src/eager/engine.js')).engine.backends.get('webgpu') as unknown as { describe: string };
  let tfjs: { tf: Tf; describe: string } | null = null;
  let tfjsError = '';
  try {
    tfjs = await setUpTfjs();
  } catch (e) {
    tfjsError = firstLine(e);
  }
  console.log(`adapter: ${adapter.describe} (Kiln: ${backend.describe}; tfjs-backend-webgpu: ${tfjs?.describe ?? `failed: ${tfjsError}`}); ${os.cpus().length} CPU cores, load average ${os.loadavg()[0]!.toFixed(1)}`);
  if (software) {
    console.log(`!! CORRECTNESS-ONLY: ${adapter.software}. These times measure a CPU emulating a GPU (1–2 calls per round, 5 rounds),`);
    console.log('!! not WebGPU performance; run `npm run bench -- webgpu` on a machine with a GPU for real numbers.');
  }

  console.log(`set-up (weights and references on wasm, tfjs-backend-webgpu): ${((performance.now() - started) / 1000).toFixed(1)} s`);
  const rows: Row[] = [];
  for (const [i, c] of CASES.entries()) {
    const caseStarted = performance.now();
    const { state, x, y: ref } = refs[i]!;
    const iters = software ? c.iters.software : c.iters.gpu;
    const steps: Partial<Record<System, Step>> = {};
    const failed = new Map<System, string>();
    try {
      Object.assign(steps, kilnSteps(c, state, x));
    } catch (e) {
      failed.set('compiled', firstLine(e)).set('eager', firstLine(e));
    }
    if (tfjs) {
      try {
        steps.tfjs = tfjsStep(tfjs.tf, c, state, x);
      } catch (e) {
        failed.set('tfjs', firstLine(e));
      }
    } else failed.set('tfjs', tfjsError);
    // Cross-check before timing: a contender that cannot run or differs is left out, with the reason.
    const checks = new Map<System, Check>();
    for (const [system, step] of Object.entries(steps) as [System, Step][]) {
      try {
        const got = check(ref, await step.output());
        checks.set(system, got);
        if (!got.ok) failed.set(system, `output differs from Kiln eager on wasm: max |Δ| ${got.abs.toExponential(2)} (rel ${got.rel.toExponential(2)} > ${TOLERANCE})`);
      } catch (e) {
        failed.set(system, firstLine(e));
      }
    }
    const timed = (Object.keys(SYSTEMS) as System[]).filter((s) => steps[s] && !failed.has(s));
    const baseline = timed.includes('compiled') ? 'compiled' : timed[0];
    const title = `${c.title}, per call${software ? ' [correctness-only: CPU adapter]' : ''}`;
    const measured = baseline
      ? await compareAsync({ title, baseline: SYSTEMS[baseline], unit: c.unit, iters, ...(software ? { rounds: 5, warmup: 0, warmupMs: 0 } : {}), contenders: timed.map((s) => steps[s]!) })
      : [];
    for (const s of Object.keys(SYSTEMS) as System[]) {
      const at = timed.indexOf(s);
      const cc = checks.get(s);
      const extra = { system: s, adapter: adapter.describe, correctnessOnly: software, crossCheck: cc ?? null, tolerance: TOLERANCE, ...(failed.has(s) ? { skipped: failed.get(s) } : {}) };
      if (at >= 0) {
        const row = measured[at]!;
        rows.push({ ...row, name: `${row.name}, Δ ${cc!.rel === 0 ? '0' : cc!.rel.toExponential(1)}`, extra });
      } else {
        rows.push({ title, name: `${SYSTEMS[s]}: not timed (${failed.get(s)})`, median: NaN, rounds: [], ratio: NaN, unit: c.unit, extra });
      }
    }
    console.log(`  ${c.title}: ${((performance.now() - caseStarted) / 1000).toFixed(1)} s (cross-check and ${software ? 5 : 'the'} rounds)`);
  }
  console.log(`\nwebgpu suite: ${((performance.now() - started) / 1000).toFixed(0)} s${software ? ` (correctness-only numbers: ${adapter.software})` : ''}`);
  return rows;
}
