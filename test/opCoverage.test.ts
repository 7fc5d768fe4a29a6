/**
 * Driven by the op registry: fails when any op lacks a golden forward case (PyTorch),
 * a golden gradient case and a gradcheck (if differentiable), a kernel on the reference
 * backend, or a kernel or decomposition (`OpDef.decompose`) on the wasm backend. Which
 * ops a golden case exercises is observed, not declared: every op's `infer` is wrapped to
 * record calls while the case runs.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { engine } from '../src/eager/engine.js';
import type { OpDef } from '../src/ir/index.js';
import { callCase, loadGoldens, toTensor } from './golden/harness.js';

const forward = new Set<string>();
const backward = new Set<string>();

beforeAll(async () => {
  await kiln.init();
  const seen = new Set<string>();
  for (const def of kiln.listOps()) {
    const orig = def.infer;
    (def as { infer: OpDef['infer'] }).infer = (inputs, attrs) => {
      seen.add(def.name);
      return orig.call(def, inputs, attrs);
    };
  }
  try {
    for (const cases of loadGoldens().values()) {
      for (const c of cases) {
        kiln.scope(() => {
          seen.clear();
          const inputs = c.inputs.map((g) => (g.grad ? toTensor(g, 'reference').requiresGrad_() : toTensor(g, 'reference')));
          const outs = callCase(c, inputs);
          const during = [...seen];
          during.forEach((n) => forward.add(n));
          // The gradients of the ops the forward pass ran are checked iff the case has grads
          // (ops.golden.test.ts compares them with PyTorch and runs gradcheck on the same case).
          if (c.grads) {
            const diffOuts = outs.filter((o) => o.requiresGrad);
            if (diffOuts.length) diffOuts.reduce((a, o) => a.add(o.sum()), diffOuts[0]!.sum().mul(0)).backward();
            during.forEach((n) => backward.add(n));
            for (const n of seen) backward.add(n); // internal ops the backward pass ran
          }
          inputs.forEach((x) => x.dispose());
        });
      }
    }
  } finally {
    for (const def of kiln.listOps()) delete (def as { infer?: unknown }).infer;
  }
});

describe('op registry coverage', () => {
  const ops = () => kiln.listOps();

  it('every op has a golden forward case', () => {
    const missing = ops().filter((d) => !d.internalFor && !forward.has(d.name)).map((d) => d.name);
    expect(missing).toEqual([]);
  });

  it('every differentiable op has a golden gradient case (and so a gradcheck)', () => {
    const missing = ops().filter((d) => d.grad && !backward.has(d.name)).map((d) => d.name);
    expect(missing).toEqual([]);
  });

  it('every op has a kernel on the reference backend (the semantic truth decompositions are checked against)', () => {
    const b = engine.backends.get('reference')!;
    const missing = ops().filter((d) => !d.alias && !b.kernels.has(d.name)).map((d) => d.name);
    expect(missing).toEqual([]);
  });

  it('every op has a kernel or a decomposition on the wasm backend (ops without a kernel run their decomposition)', () => {
    const b = engine.backends.get('wasm')!;
    const missing = ops().filter((d) => !d.alias && !b.kernels.has(d.name) && !d.decompose).map((d) => d.name);
    expect(missing).toEqual([]);
  });
});
