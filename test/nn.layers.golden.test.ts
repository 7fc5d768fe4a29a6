/**
 * Every layer against PyTorch (test/golden/nn_layers/layers.json, made by generate.py):
 * the same weights are loaded into both (loadStateDict), then each step checks the
 * forward output, the gradients of sum(output · w) w.r.t. the input and every
 * parameter (names and order as PyTorch's named_parameters), and the state after the
 * step (BatchNorm running statistics and batch count).
 *
 * Tolerances: forward and state ≤ 1e-5·√k·max(1, |ref|), gradients ≤ 1e-4·√kGrad·max(1, |ref|),
 * with k / kGrad (from the generator) the number of elements summed per value.
 * Run on the reference and wasm backends in float32, and on reference in float64.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import * as layers from '../src/nn/layers/index.js';
import { Module } from '../src/nn/module.js';

interface GoldenTensor { shape: number[]; dtype: 'float32' | 'int32'; data: number[] }
interface LayerSpec { layer: string; args: unknown[] }
interface Step {
  mode: 'train' | 'eval';
  input: GoldenTensor;
  output: GoldenTensor;
  w: GoldenTensor;
  inputGrad: GoldenTensor | null;
  paramGrads: Record<string, GoldenTensor>;
  stateAfter: Record<string, GoldenTensor>;
}
interface LayerCase { name: string; kiln: LayerSpec; k: number; kGrad: number; state: Record<string, GoldenTensor>; steps: Step[] }

const here = path.dirname(fileURLToPath(import.meta.url));
const golden = JSON.parse(readFileSync(path.join(here, 'golden/nn_layers/layers.json'), 'utf8')) as { cases: LayerCase[] };

interface Config { backend: kiln.BackendName; dtype: 'float32' | 'float64' }
const CONFIGS: Config[] = [
  { backend: 'reference', dtype: 'float32' },
  { backend: 'wasm', dtype: 'float32' },
  { backend: 'reference', dtype: 'float64' },
];

/** Position of the options object (and defaults of the positional arguments before it) of layers with parameters. */
const FACTORY_ARG: Record<string, { index: number; defaults: unknown[] }> = {
  Linear: { index: 2, defaults: [] },
  Conv2d: { index: 3, defaults: [] },
  ConvTranspose2d: { index: 3, defaults: [] },
  BatchNorm1d: { index: 1, defaults: [] },
  BatchNorm2d: { index: 1, defaults: [] },
  LayerNorm: { index: 1, defaults: [] },
  Embedding: { index: 2, defaults: [] },
  PReLU: { index: 1, defaults: [1] },
};

function isSpec(v: unknown): v is LayerSpec {
  return typeof v === 'object' && v !== null && 'layer' in v && 'args' in v;
}

function build(spec: LayerSpec, cfg: Config): Module {
  const args = spec.args.map((a) => (isSpec(a) ? build(a, cfg) : a));
  const factory = FACTORY_ARG[spec.layer];
  if (factory) {
    for (let i = args.length; i < factory.index; i++) args.push(factory.defaults[i]);
    const opts = (args[factory.index] ?? {}) as Record<string, unknown>;
    args[factory.index] = { ...opts, dtype: cfg.dtype, backend: cfg.backend };
  }
  const ctor = (layers as unknown as Record<string, new (...a: unknown[]) => Module>)[spec.layer];
  if (typeof ctor !== 'function') throw new Error(`no layer ${spec.layer}`);
  return new ctor(...args);
}

function toTensor(g: GoldenTensor, cfg: Config): kiln.Tensor {
  const dtype = g.dtype === 'int32' ? 'int32' : cfg.dtype;
  return kiln.tensor(g.data, { shape: g.shape, dtype, backend: cfg.backend });
}

/** First element off by more than rel·max(1, |expected|), or null. */
function mismatch(actual: kiln.Tensor | null, expected: GoldenTensor, rel: number): string | null {
  if (!actual) return 'missing';
  if (actual.shape.join(',') !== expected.shape.join(',')) return `shape [${actual.shape.join(', ')}] vs expected [${expected.shape.join(', ')}]`;
  const data = actual.dataSync();
  for (let i = 0; i < data.length; i++) {
    const e = expected.data[i]!;
    const a = data[i]!;
    const tol = expected.dtype === 'int32' ? 0 : rel * Math.max(1, Math.abs(e));
    if (!(Math.abs(a - e) <= tol)) return `element ${i}: ${a} vs expected ${e} (tolerance ${tol.toExponential(1)})`;
  }
  return null;
}

beforeAll(async () => {
  await kiln.init();
});

describe('nn layers match PyTorch (forward, gradients, state)', () => {
  for (const cfg of CONFIGS) {
    describe(`${cfg.backend} ${cfg.dtype}`, () => {
      for (const c of golden.cases) {
        it(c.name, () => {
          const model = build(c.kiln, cfg);
          kiln.scope(() => {
            const state = new Map(Object.entries(c.state).map(([n, g]) => [n, toTensor(g, cfg)]));
            model.loadStateDict(state);
            const fwdTol = 1e-5 * Math.sqrt(c.k);
            const gradTol = 1e-4 * Math.sqrt(c.kGrad);
            c.steps.forEach((step, s) => {
              const where = `${c.name}, step ${s} (${step.mode})`;
              model.train(step.mode === 'train');
              model.zeroGrad();
              const x = toTensor(step.input, cfg);
              if (step.inputGrad) x.requiresGrad_();
              const y = kiln.nn.callForward(model, x) as kiln.Tensor;
              expect(mismatch(y, step.output, fwdTol), `${where}: output`).toBeNull();
              y.mul(toTensor(step.w, cfg)).sum().backward();
              if (step.inputGrad) expect(mismatch(x.grad, step.inputGrad, gradTol), `${where}: input gradient`).toBeNull();
              const named = model.namedParameters();
              expect(named.map(([n]) => n), `${where}: parameter names and order`).toEqual(Object.keys(step.paramGrads));
              for (const [n, p] of named) {
                expect(mismatch(p.grad, step.paramGrads[n]!, gradTol), `${where}: gradient of ${n}`).toBeNull();
              }
              const after = model.stateDict();
              expect([...after.keys()].sort(), `${where}: state names`).toEqual(Object.keys(step.stateAfter).sort());
              for (const [n, t] of after) expect(mismatch(t, step.stateAfter[n]!, fwdTol), `${where}: state ${n}`).toBeNull();
              x.zeroGrad();
            });
          });
          for (const t of model.stateDict().values()) {
            t.zeroGrad();
            t.dispose();
          }
        });
      }
    });
  }
});
