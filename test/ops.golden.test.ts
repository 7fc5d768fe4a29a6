/**
 * Every op against PyTorch golden values (forward and gradient), on every backend, and
 * against finite differences (gradcheck, float64, reference backend). Tolerances are in
 * test/golden/harness.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { callCase, loadGoldens, mismatch, toTensor, type GoldenCase } from './golden/harness.js';

const goldens = loadGoldens();
const BACKENDS = ['reference', 'wasm'] as const;

beforeAll(async () => {
  await kiln.init();
});

function runGolden(c: GoldenCase, backend: kiln.BackendName): void {
  kiln.scope(() => {
    const inputs = c.inputs.map((g) => {
      const t = toTensor(g, backend);
      return g.grad ? t.requiresGrad_() : t;
    });
    const outs = callCase(c, inputs);
    expect(outs.length, 'number of outputs').toBe(c.outputs.length);
    const root = Math.sqrt(c.k);
    outs.forEach((o, i) => {
      expect(mismatch(o, c.outputs[i]!, 1e-5 * root), `${c.name} output ${i} on ${backend}`).toBeNull();
    });
    if (!c.grads) return;
    const diff = outs.filter((o) => o.dtype === 'float32');
    let loss: kiln.Tensor | null = null;
    diff.forEach((o, i) => {
      const term = o.mul(toTensor(c.w![i]!, backend)).sum();
      loss = loss ? loss.add(term) : term;
    });
    loss!.backward();
    const withGrad = inputs.filter((_, i) => c.inputs[i]!.grad);
    withGrad.forEach((x, i) => {
      expect(x.grad, `${c.name}: no gradient for differentiable input ${i}`).not.toBeNull();
      expect(mismatch(x.grad!, c.grads![i]!, 1e-4 * root), `${c.name} gradient ${i} on ${backend}`).toBeNull();
      x.zeroGrad();
      x.dispose();
    });
  });
}

for (const [family, cases] of goldens) {
  describe(`golden ${family}`, () => {
    for (const backend of BACKENDS) {
      describe(backend, () => {
        for (const c of cases) it(c.name, () => runGolden(c, backend));
      });
    }
    describe('gradcheck (float64, finite differences)', () => {
      for (const c of cases.filter((c) => c.grads)) {
        it(c.name, () => {
          const inputs = c.inputs.map((g) => toTensor(g, 'reference', g.dtype === 'float32' ? 'float64' : g.dtype));
          const diffIdx = c.inputs.map((g, i) => (g.grad ? i : -1)).filter((i) => i >= 0);
          // Perturb only the inputs PyTorch differentiates; others are passed through fixed.
          const ws = c.w!.map((w) => toTensor(w, 'reference', 'float64'));
          const f = (...xs: kiln.Tensor[]): kiln.Tensor => {
            const all = inputs.slice();
            diffIdx.forEach((idx, j) => (all[idx] = xs[j]!));
            const outs = callCase(c, all).filter((o) => o.dtype === 'float64');
            return outs.map((o, i) => o.mul(ws[i]!).sum()).reduce((a, b) => a.add(b));
          };
          const res = kiln.testing.gradcheck(f, diffIdx.map((i) => inputs[i]!), { raise: false });
          expect(res.mismatches, c.name).toEqual([]);
        });
      }
    });
  });
}
