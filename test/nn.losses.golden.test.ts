/**
 * Losses and penalties against PyTorch (test/golden/nn_losses/cases.json, made by
 * generate.py there): forward values and gradients w.r.t. every input PyTorch
 * differentiates, on both backends in float32 and on the reference backend in float64.
 * The loss modules must give exactly what the functions give.
 *
 * Tolerances: forward ≤ 1e-5·√K·max(1, |torch|), gradients ≤ 1e-4·√K·max(1, |torch|)
 * in float32, with K from the case (elements summed into one output: the whole input
 * for 'mean'/'sum', the class count for an unreduced softmax-based loss, 1 for an
 * unreduced elementwise loss); 1e-10·√K in float64.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import * as losses from '../src/nn/losses/index.js';

interface G { shape: number[]; dtype: 'float32' | 'int32'; data: number[]; grad?: boolean }
interface Case { name: string; fn: string; args: unknown[]; k: number; inputs: G[]; output: G; w: G; grads: (G | null)[] }

const { cases } = JSON.parse(readFileSync(new URL('./golden/nn_losses/cases.json', import.meta.url), 'utf8')) as { cases: Case[] };

type LossFn = (...args: unknown[]) => kiln.Tensor;
const FUNCTIONS = losses as unknown as Record<string, LossFn>;

/** Function name → the module computing the same loss from constructor options. */
const MODULES: Record<string, new (options: Record<string, unknown>) => { forward(a: kiln.Tensor, b: kiln.Tensor): kiln.Tensor }> = {
  mseLoss: losses.MSELoss,
  l1Loss: losses.L1Loss,
  huberLoss: losses.HuberLoss,
  smoothL1Loss: losses.SmoothL1Loss,
  crossEntropy: losses.CrossEntropyLoss,
  nllLoss: losses.NLLLoss,
  binaryCrossEntropy: losses.BCELoss,
  binaryCrossEntropyWithLogits: losses.BCEWithLogitsLoss,
  klDiv: losses.KLDivLoss,
};

interface Run { backend: kiln.BackendName; dtype: 'float32' | 'float64'; fwd: number; grad: number }
const RUNS: Run[] = [
  { backend: 'wasm', dtype: 'float32', fwd: 1e-5, grad: 1e-4 },
  { backend: 'reference', dtype: 'float32', fwd: 1e-5, grad: 1e-4 },
  { backend: 'reference', dtype: 'float64', fwd: 1e-10, grad: 1e-10 },
];

beforeAll(async () => {
  await kiln.init();
});

function mismatch(actual: kiln.Tensor, expected: G, rel: number): string | null {
  if (actual.shape.join(',') !== expected.shape.join(',')) return `shape [${actual.shape}] vs expected [${expected.shape}]`;
  const a = actual.dataSync();
  for (let i = 0; i < a.length; i++) {
    const e = expected.data[i]!;
    if (!(Math.abs(a[i]! - e) <= rel * Math.max(1, Math.abs(e)))) return `element ${i}: ${a[i]} vs expected ${e}`;
  }
  return null;
}

function resolve(arg: unknown, tensors: kiln.Tensor[]): unknown {
  if (Array.isArray(arg)) return arg.map((a) => resolve(a, tensors));
  if (arg && typeof arg === 'object') {
    const o = arg as Record<string, unknown>;
    if (typeof o['$t'] === 'number') return tensors[o['$t']];
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolve(v, tensors)]));
  }
  return arg;
}

for (const run of RUNS) {
  describe(`losses vs PyTorch on ${run.backend} (${run.dtype})`, () => {
    for (const c of cases) {
      it(c.name, () => {
        kiln.scope(() => {
          const inputs = c.inputs.map((g) => {
            const t = kiln.tensor(g.data, { shape: g.shape, dtype: g.dtype === 'int32' ? 'int32' : run.dtype, backend: run.backend });
            return g.grad ? t.requiresGrad_() : t;
          });
          const args = resolve(c.args, inputs) as unknown[];
          const fn = FUNCTIONS[c.fn];
          expect(typeof fn, `kiln.nn.${c.fn}`).toBe('function');
          const out = fn!(...args);
          const root = Math.sqrt(c.k);
          expect(mismatch(out, c.output, run.fwd * root), 'forward').toBeNull();

          const Ctor = MODULES[c.fn];
          if (Ctor) {
            const [input, target, options] = args as [kiln.Tensor, kiln.Tensor, Record<string, unknown> | undefined];
            const viaModule = new Ctor(options ?? {}).forward(input, target);
            expect(Array.from(viaModule.dataSync()), 'module = function').toEqual(Array.from(out.dataSync()));
          }

          if (c.grads.some((g) => g)) {
            out.mul(kiln.tensor(c.w.data, { shape: c.w.shape, dtype: run.dtype, backend: run.backend })).sum().backward();
            c.grads.forEach((g, i) => {
              if (!g) return;
              expect(inputs[i]!.grad, `gradient of input ${i}`).not.toBeNull();
              expect(mismatch(inputs[i]!.grad!, g, run.grad * root), `gradient of input ${i}`).toBeNull();
            });
          }
          for (const t of inputs) {
            t.zeroGrad();
            t.dispose();
          }
        });
      });
    }
  });
}
