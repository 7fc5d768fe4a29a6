/**
 * Optimizers against PyTorch (test/golden/optim/optimizers.json, made by
 * test/golden/optim/generate.py): 8-step trajectories of every optimizer and option
 * combination on a fixed problem, params W [3, 4] and b [4],
 *   loss = sum(C·(W·A + b)²) + 0.3·sum(tanh W) + sum(D·b) + 0.05·sum(W⁴),
 * with gradients computed by Kiln's own autograd.
 *
 * Tolerance (float32): every parameter element after every step within
 * 1e-5·max(1, |ref|); the loss before each step within 1e-5·√12·max(1, |ref|)
 * (a sum of 12 terms). Run on the reference and wasm backends.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import * as optim from '../src/optim/index.js';

interface GoldenTensor { shape: number[]; data: number[] }
interface Step { loss: number; W: GoldenTensor; b: GoldenTensor }
interface Case {
  name: string;
  optimizer: 'SGD' | 'Adagrad' | 'Adadelta' | 'RMSprop' | 'Adam' | 'AdamW';
  options: Record<string, unknown>;
  groups: (Record<string, unknown> & { params: ('W' | 'b')[] })[] | null;
  steps: Step[];
}

const here = path.dirname(fileURLToPath(import.meta.url));
const golden = JSON.parse(readFileSync(path.join(here, 'golden/optim/optimizers.json'), 'utf8')) as {
  problem: Record<'W' | 'b' | 'A' | 'C' | 'D', GoldenTensor>;
  cases: Case[];
};

const TOL = 1e-5;

function t(g: GoldenTensor, backend: kiln.BackendName, requiresGrad = false): kiln.Tensor {
  return kiln.tensor(g.data, { shape: g.shape, backend, requiresGrad });
}

/** The golden problem on one backend: fresh parameters and the loss function. */
function goldenProblem(backend: kiln.BackendName): { W: kiln.Tensor; b: kiln.Tensor; loss: () => kiln.Tensor } {
  const p = golden.problem;
  const W = t(p.W, backend, true);
  const b = t(p.b, backend, true);
  const [A, C, D] = [t(p.A, backend), t(p.C, backend), t(p.D, backend)];
  const loss = (): kiln.Tensor => {
    const z = W.mul(A).add(b);
    return C.mul(z.square()).sum().add(W.tanh().sum().mul(0.3)).add(D.mul(b).sum()).add(W.square().square().sum().mul(0.05));
  };
  return { W, b, loss };
}

type AnyOptimizer = optim.Optimizer;

/** Builds the case's optimizer over W and b (options/groups are Kiln's camelCase names already). */
function makeOptimizer(c: Pick<Case, 'optimizer' | 'options' | 'groups'>, W: kiln.Tensor, b: kiln.Tensor): AnyOptimizer {
  const named = { W, b };
  const params = c.groups ? c.groups.map((g) => ({ ...g, params: g.params.map((n) => named[n]) })) : [W, b];
  const o = c.options as never;
  const p = params as never;
  switch (c.optimizer) {
    case 'SGD': return new optim.SGD(p, o);
    case 'Adagrad': return new optim.Adagrad(p, o);
    case 'Adadelta': return new optim.Adadelta(p, o);
    case 'RMSprop': return new optim.RMSprop(p, o);
    case 'Adam': return new optim.Adam(p, o);
    case 'AdamW': return new optim.AdamW(p, o);
  }
}

function expectClose(actual: ArrayLike<number>, ref: GoldenTensor, tol: number, what: string): void {
  expect(actual.length, what).toBe(ref.data.length);
  for (let i = 0; i < ref.data.length; i++) {
    const r = ref.data[i]!;
    const err = Math.abs(actual[i]! - r);
    if (!(err <= tol * Math.max(1, Math.abs(r)))) {
      throw new Error(`${what}[${i}]: got ${actual[i]}, PyTorch ${r} (|err| ${err.toExponential(2)} > ${tol}·max(1,|ref|))`);
    }
  }
}

const BACKENDS: kiln.BackendName[] = ['reference', 'wasm'];

describe.each(BACKENDS)('optimizer trajectories vs PyTorch (%s, float32)', (backend) => {
  beforeAll(async () => {
    await kiln.init({ backend });
  });

  it.each(golden.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const { W, b, loss } = goldenProblem(backend);
    const opt = makeOptimizer(c, W, b);
    c.steps.forEach((ref, k) => {
      kiln.scope(() => {
        opt.zeroGrad();
        const l = loss();
        l.backward();
        opt.step();
        expectClose([l.item()], { shape: [], data: [ref.loss] }, TOL * Math.sqrt(12), `step ${k + 1} loss`);
      });
      expectClose(W.dataSync(), ref.W, TOL, `step ${k + 1} W`);
      expectClose(b.dataSync(), ref.b, TOL, `step ${k + 1} b`);
    });
    opt.dispose();
  });
});

describe('the golden problem is sensitive', () => {
  it('a wrong hyperparameter leaves the tolerance (so these tests can fail)', async () => {
    await kiln.init({ backend: 'reference' });
    const c = golden.cases.find((x) => x.name === 'adam_amsgrad')!;
    const { W, b, loss } = goldenProblem('reference');
    const opt = makeOptimizer({ ...c, options: { ...c.options, amsgrad: false } }, W, b);
    for (const _ of c.steps) {
      kiln.scope(() => {
        opt.zeroGrad();
        loss().backward();
        opt.step();
      });
    }
    expect(() => expectClose(W.dataSync(), c.steps[c.steps.length - 1]!.W, TOL, 'W')).toThrow();
  });
});

describe.each(BACKENDS)('stateDict round trip continues the trajectory (%s)', (backend) => {
  beforeAll(async () => {
    await kiln.init({ backend });
  });

  const runSteps = (opt: AnyOptimizer, loss: () => kiln.Tensor, n: number): void => {
    for (let i = 0; i < n; i++) {
      kiln.scope(() => {
        opt.zeroGrad();
        loss().backward();
        opt.step();
      });
    }
  };

  // Exact equality: the resumed run must perform the very same float32 operations.
  it.each(golden.cases.map((c) => [c.name, c] as const))('%s: 4 steps, save as JSON, load into a new optimizer, 4 more = 8 uninterrupted', (_name, c) => {
    const a = goldenProblem(backend);
    const optA = makeOptimizer(c, a.W, a.b);
    runSteps(optA, a.loss, 4);
    const saved = JSON.parse(JSON.stringify(optA.stateDict())) as optim.OptimizerStateDict;
    const paramsAfter4 = [a.W.dataSync(), a.b.dataSync()];
    runSteps(optA, a.loss, 4);

    const r = goldenProblem(backend);
    kiln.noGrad(() => {
      r.W.copy_(kiln.tensor(Array.from(paramsAfter4[0]!), { shape: [3, 4], backend }));
      r.b.copy_(kiln.tensor(Array.from(paramsAfter4[1]!), { shape: [4], backend }));
    });
    // Built with different hyperparameters: loadStateDict must restore them too.
    const optB = makeOptimizer({ ...c, options: { ...c.options, lr: 0.123 } }, r.W, r.b);
    optB.loadStateDict(saved);
    expect(optB.paramGroups.map((g) => g.lr)).toEqual(optA.paramGroups.map((g) => g.lr));
    runSteps(optB, r.loss, 4);
    expect(Array.from(r.W.dataSync())).toEqual(Array.from(a.W.dataSync()));
    expect(Array.from(r.b.dataSync())).toEqual(Array.from(a.b.dataSync()));
    expectClose(r.W.dataSync(), c.steps[7]!.W, TOL, 'resumed W vs PyTorch');
  });
});
