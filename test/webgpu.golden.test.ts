/**
 * The PyTorch golden cases (test/golden/*.json, the op test table of ops.golden.test.ts)
 * on the webgpu backend: forward and gradient, read back with `await t.data()`, within the
 * same tolerances (forward 1e-5·√k·max(1, |torch|), gradients 1e-4·√k·max(1, |torch|)).
 * Cases that cannot run on webgpu are listed in SKIP with the reason; a case whose op has
 * no webgpu kernel (nor a decomposition) yet is skipped at run time, naming the op.
 */
import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { callCase, loadGoldens, mismatch, toTensor, type GoldenCase } from './golden/harness.js';
import { describeWebGpu } from './support/webgpu.js';

/** Case name → why it does not run on webgpu. */
const SKIP: Record<string, string> = {
  oneHot_infer_2d: 'numClasses inferred from the values: a synchronous read',
  oneHot_default: 'numClasses inferred from the values: a synchronous read',
};

/** A reference-backend copy of a webgpu tensor (mismatch reads synchronously). */
async function onHost(t: kiln.Tensor): Promise<kiln.Tensor> {
  return kiln.tensor(await t.data(), { shape: [...t.shape], dtype: t.dtype, backend: 'reference' });
}

async function runGolden(c: GoldenCase): Promise<void> {
  const inputs = c.inputs.map((g) => {
    const t = toTensor(g, 'webgpu');
    return g.grad ? t.requiresGrad_() : t;
  });
  const outs = callCase(c, inputs);
  expect(outs.length, 'number of outputs').toBe(c.outputs.length);
  const root = Math.sqrt(c.k);
  for (const [i, o] of outs.entries()) expect(mismatch(await onHost(o), c.outputs[i]!, 1e-5 * root), `${c.name} output ${i}`).toBeNull();
  if (!c.grads) return;
  let loss: kiln.Tensor | null = null;
  outs.filter((o) => o.dtype === 'float32').forEach((o, i) => {
    const term = o.mul(toTensor(c.w![i]!, 'webgpu')).sum();
    loss = loss ? loss.add(term) : term;
  });
  loss!.backward();
  const withGrad = inputs.filter((_, i) => c.inputs[i]!.grad);
  for (const [i, x] of withGrad.entries()) {
    expect(x.grad, `${c.name}: no gradient for differentiable input ${i}`).not.toBeNull();
    expect(mismatch(await onHost(x.grad!), c.grads![i]!, 1e-4 * root), `${c.name} gradient ${i}`).toBeNull();
  }
}

describeWebGpu('PyTorch goldens on webgpu', () => {
  for (const [family, cases] of loadGoldens()) {
    describe(family, () => {
      for (const c of cases) {
        if (SKIP[c.name]) it.skip(`${c.name} (${SKIP[c.name]})`, () => {});
        else {
          it(c.name, async (ctx) => {
            try {
              await runGolden(c);
            } catch (e) {
              const missing = /^(\w+): no kernel on the 'webgpu' backend/.exec((e as Error).message);
              if (missing) ctx.skip(`no webgpu kernel for ${missing[1]} yet`);
              throw e;
            }
          });
        }
      }
    });
  }
});
