/**
 * BN folding against PyTorch: eval-mode Conv2d→BatchNorm2d (with and without conv bias,
 * negative and zero γ, eps 1e-5 / 1e-3 / 0.1), ConvTranspose2d→BatchNorm2d and
 * Linear→BatchNorm1d (with and without affine), golden outputs computed unfused in
 * float64 by test/golden/passes/generate.py. Kiln compiles each model at O1 (the batch
 * norm folded into the weights: no batchNorm node is left) and at O0.
 *
 * Tolerance: 2e-6 of the output's largest magnitude. Kiln computes in float32 (the
 * folded weights W·γ/√(var+eps) rounded once more than the unfolded chain), against a
 * float64 reference on the same float32-representable numbers.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { compile, spec } from '../src/compiled/index.js';
import type { OptLevel } from '../src/passes/index.js';

const { nn } = kiln;

interface Data {
  readonly shape: number[];
  readonly data: number[];
}

interface Case {
  readonly name: string;
  readonly state: Record<string, Data>;
  readonly input: Data;
  readonly output: Data;
}

const golden = JSON.parse(readFileSync(fileURLToPath(new URL('./golden/passes/bn_folding.json', import.meta.url)), 'utf8')) as { cases: Case[] };

beforeAll(async () => {
  await kiln.init();
});

/** The Kiln model of each golden case (same layers and options as the generator's). */
const MODELS: Record<string, () => kiln.nn.Sequential> = {
  'conv2d+bn2d': () => new nn.Sequential(new nn.Conv2d(3, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4)),
  'conv2d(no bias, stride 2)+bn2d(eps 1e-3)': () => new nn.Sequential(new nn.Conv2d(2, 5, 3, { stride: 2, bias: false }), new nn.BatchNorm2d(5, { eps: 1e-3 })),
  'convTranspose2d+bn2d(eps 0.1)': () => new nn.Sequential(new nn.ConvTranspose2d(3, 2, 3, { stride: 2 }), new nn.BatchNorm2d(2, { eps: 0.1 })),
  'linear+bn1d': () => new nn.Sequential(new nn.Linear(6, 4), new nn.BatchNorm1d(4)),
  'linear(no bias)+bn1d(no affine)': () => new nn.Sequential(new nn.Linear(6, 3, { bias: false }), new nn.BatchNorm1d(3, { affine: false })),
};

const TORCH_NAMES: Record<string, string> = { running_mean: 'runningMean', running_var: 'runningVar' };

function load(model: kiln.nn.Sequential, state: Record<string, Data>): void {
  kiln.noGrad(() => {
    for (const [key, d] of Object.entries(state)) {
      const [index, name] = key.split('.') as [string, string];
      const layer = model.at(Number(index)) as unknown as Record<string, kiln.Tensor>;
      const t = layer[TORCH_NAMES[name] ?? name]!;
      t.copy_(kiln.tensor(Float32Array.from(d.data), { shape: d.shape }));
    }
  });
}

describe('BN folding against PyTorch (eval mode)', () => {
  for (const c of golden.cases) {
    it(c.name, () => {
      const model = MODELS[c.name]!();
      load(model, c.state);
      model.eval();
      const x = kiln.tensor(Float32Array.from(c.input.data), { shape: c.input.shape });
      const scale = Math.max(...c.output.data.map(Math.abs));
      for (const level of ['O0', 'O1'] as OptLevel[]) {
        const fast = compile(model, { inputs: [spec(c.input.shape)], optimize: level });
        fast.run(x); // the first call returns eager's result; the second runs the plan
        const y = (fast.run(x) as kiln.Tensor).dataSync();
        expect([...(fast.run(x) as kiln.Tensor).shape]).toEqual(c.output.shape);
        let diff = 0;
        for (let i = 0; i < y.length; i++) diff = Math.max(diff, Math.abs(y[i]! - c.output.data[i]!));
        expect(diff / scale, level).toBeLessThan(2e-6);
        const ops = fast.graph.nodes.map((n) => n.op);
        if (level === 'O1') expect(ops).toEqual([ops[0]]); // one conv2d / convTranspose2d / linear
        else expect(ops).toContain('batchNorm');
      }
    });
  }
});
