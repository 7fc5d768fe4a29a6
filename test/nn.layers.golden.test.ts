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
 *
 * Steps with `args` (MultiheadAttention, TransformerEncoderLayer) call
 * `forward(...args, options)`: {ref: i} repeats argument i (the same Tensor object, so
 * self-attention takes its packed path), option tensors are masks, and the loss is
 * Σᵢ sum(outputᵢ · wᵢ) over the non-null outputs of a tuple.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import * as layers from '../src/nn/layers/index.js';
import { Module } from '../src/nn/module.js';

/** Non-finite values (masks) come as the strings 'Infinity', '-Infinity', 'NaN'. */
interface GoldenTensor { shape: number[]; dtype: 'float32' | 'int32' | 'bool'; data: (number | string)[] }
interface LayerSpec { layer: string; args: unknown[] }
interface StepCommon {
  mode: 'train' | 'eval';
  paramGrads: Record<string, GoldenTensor>;
  stateAfter: Record<string, GoldenTensor>;
}
/** One input, one output. */
interface SingleStep extends StepCommon {
  input: GoldenTensor;
  output: GoldenTensor;
  w: GoldenTensor;
  inputGrad: GoldenTensor | null;
}
/** Several inputs (or repeats of one), forward options, a tuple of outputs. */
interface MultiStep extends StepCommon {
  args: (GoldenTensor | { ref: number })[];
  options: Record<string, GoldenTensor | boolean | number>;
  outputs: (GoldenTensor | null)[];
  ws: (GoldenTensor | null)[];
  argGrads: (GoldenTensor | null)[];
}
type Step = SingleStep | MultiStep;
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
  Conv1d: { index: 3, defaults: [] },
  Conv2d: { index: 3, defaults: [] },
  ConvTranspose2d: { index: 3, defaults: [] },
  BatchNorm1d: { index: 1, defaults: [] },
  BatchNorm2d: { index: 1, defaults: [] },
  LayerNorm: { index: 1, defaults: [] },
  GroupNorm: { index: 2, defaults: [] },
  MultiheadAttention: { index: 2, defaults: [] },
  TransformerEncoderLayer: { index: 2, defaults: [] },
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
  const dtype = g.dtype === 'float32' ? cfg.dtype : g.dtype;
  return kiln.tensor(g.data.map(Number), { shape: g.shape, dtype, backend: cfg.backend });
}

function isGolden(v: unknown): v is GoldenTensor {
  return typeof v === 'object' && v !== null && 'shape' in v && 'data' in v;
}

/**
 * Runs one step's forward and backward; returns the input gradients to check as
 * [actual, expected, what] triples and the outputs likewise.
 */
interface StepResult {
  outputs: [kiln.Tensor | null, GoldenTensor | null, string][];
  grads: [kiln.Tensor | null, GoldenTensor, string][];
  /** Inputs made leaves that require grad (they outlive scopes: disposed by the caller). */
  leaves: kiln.Tensor[];
}

function runStep(model: Module, step: Step, cfg: Config): StepResult {
  if (!('args' in step)) {
    const x = toTensor(step.input, cfg);
    if (step.inputGrad) x.requiresGrad_();
    const y = kiln.nn.callForward(model, x) as kiln.Tensor;
    y.mul(toTensor(step.w, cfg)).sum().backward();
    return { outputs: [[y, step.output, 'output']], grads: step.inputGrad ? [[x.grad, step.inputGrad, 'input gradient']] : [], leaves: [x] };
  }
  const args: kiln.Tensor[] = [];
  for (const a of step.args) {
    if ('ref' in a) args.push(args[a.ref]!);
    else {
      const t = toTensor(a, cfg);
      args.push(t.dtype === cfg.dtype ? t.requiresGrad_() : t);
    }
  }
  const options = Object.fromEntries(Object.entries(step.options).map(([n, v]) => [n, isGolden(v) ? toTensor(v, cfg) : v]));
  const forward = model.forward as (...a: unknown[]) => unknown;
  const result = forward.apply(model, Object.keys(options).length ? [...args, options] : args);
  const ys = (Array.isArray(result) ? result : [result]) as (kiln.Tensor | null)[];
  expect(ys.length, 'number of outputs').toBe(step.outputs.length);
  let loss: kiln.Tensor | null = null;
  ys.forEach((y, i) => {
    const w = step.ws[i];
    if (y && w) loss = loss ? loss.add(y.mul(toTensor(w, cfg)).sum()) : y.mul(toTensor(w, cfg)).sum();
  });
  loss!.backward();
  const grads: [kiln.Tensor | null, GoldenTensor, string][] = [];
  step.argGrads.forEach((g, i) => {
    if (g) grads.push([args[i]!.grad, g, `gradient of argument ${i}`]);
  });
  return { outputs: ys.map((y, i) => [y, step.outputs[i]!, `output ${i}`]), grads, leaves: args };
}

/** First element off by more than rel·max(1, |expected|), or null. */
function mismatch(actual: kiln.Tensor | null, expected: GoldenTensor, rel: number): string | null {
  if (!actual) return 'missing';
  if (actual.shape.join(',') !== expected.shape.join(',')) return `shape [${actual.shape.join(', ')}] vs expected [${expected.shape.join(', ')}]`;
  const data = actual.dataSync();
  for (let i = 0; i < data.length; i++) {
    const e = Number(expected.data[i]!);
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
              const { outputs, grads, leaves } = runStep(model, step, cfg);
              for (const [y, expected, what] of outputs) {
                if (expected === null) expect(y, `${where}: ${what} should be null`).toBeNull();
                else expect(mismatch(y, expected, fwdTol), `${where}: ${what}`).toBeNull();
              }
              for (const [g, expected, what] of grads) expect(mismatch(g, expected, gradTol), `${where}: ${what}`).toBeNull();
              const named = model.namedParameters();
              expect(named.map(([n]) => n), `${where}: parameter names and order`).toEqual(Object.keys(step.paramGrads));
              for (const [n, p] of named) {
                expect(mismatch(p.grad, step.paramGrads[n]!, gradTol), `${where}: gradient of ${n}`).toBeNull();
              }
              const after = model.stateDict();
              expect([...after.keys()].sort(), `${where}: state names`).toEqual(Object.keys(step.stateAfter).sort());
              for (const [n, t] of after) expect(mismatch(t, step.stateAfter[n]!, fwdTol), `${where}: state ${n}`).toBeNull();
              for (const x of leaves) x.zeroGrad();
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
