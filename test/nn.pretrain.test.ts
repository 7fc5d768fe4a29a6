/**
 * Unsupervised pre-training: nn.AutoEncoder (tied, untied, denoising, sparse),
 * nn.pretrainGreedy, and examples/pretrain.mjs on tiny sizes. Exact checks run in float64
 * on the reference backend (tolerance 1e-12); training checks on wasm compare losses.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';

const { nn } = kiln;
const F64 = { dtype: 'float64', backend: 'reference' } as const;

beforeAll(async () => {
  await kiln.init({ backend: 'wasm' });
});

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-12): void => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!), `element ${i}: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b[i]!)));
};

/** Rank-3 data in [0, 1]^8: an autoencoder with a 3-unit code can reconstruct it. */
function lowRank(n: number, seed = 0): kiln.Tensor {
  const z = kiln.rand([n, 3], { seed });
  const b = kiln.rand([3, 8], { seed: seed + 1 });
  return z.matmul(b).div(3);
}

describe('tied AutoEncoder', () => {
  it('decoder layers use the encoder weight tensors themselves; only their biases are new', () => {
    kiln.manualSeed(0);
    const l1 = new nn.Linear(6, 4), l2 = new nn.Linear(4, 2);
    const ae = new nn.AutoEncoder(new nn.Sequential(l1, new nn.Tanh(), l2, new nn.Sigmoid()), { tied: true, outputActivation: new nn.Sigmoid() });
    const dec = ae.decoder as kiln.nn.Sequential;
    expect([...dec].map((m) => m.constructor.name)).toEqual(['TiedLinear', 'Tanh', 'TiedLinear', 'Sigmoid']);
    expect((dec.at(0) as kiln.nn.TiedLinear).weight).toBe(l2.weight);
    expect((dec.at(2) as kiln.nn.TiedLinear).weight).toBe(l1.weight);
    expect((dec.at(1) as kiln.nn.Tanh)).toBe((ae.encoder as kiln.nn.Sequential).at(1)); // the mirrored activation
    expect(ae.namedParameters().map(([n, p]) => [n, p.shape])).toEqual([
      ['encoder.0.weight', [4, 6]], ['encoder.0.bias', [4]], ['encoder.2.weight', [2, 4]], ['encoder.2.bias', [2]],
      ['decoder.0.bias', [4]], ['decoder.2.bias', [6]],
    ]);
    expect(ae.forward(kiln.rand([5, 6])).shape).toEqual([5, 6]);
  });

  it('the gradient of the shared weight is the sum of its encoder and decoder uses', () => {
    kiln.manualSeed(1);
    const enc = new nn.Linear(5, 3, F64);
    const ae = new nn.AutoEncoder(new nn.Sequential(enc, new nn.Sigmoid()), { tied: true });
    const x = kiln.randn([7, 5], { seed: 2, ...F64 });
    ae.loss(x).backward();
    const tiedGrad = enc.weight.grad!.dataSync();
    // The same computation with two separate copies of W: dL/dW = dL/dW_enc + dL/dW_dec.
    const bDec = (ae.decoder as kiln.nn.Sequential).at(0).parameters()[0]!;
    const [gEnc, gDec] = kiln.grad((wEnc: kiln.Tensor, wDec: kiln.Tensor) => {
      const code = x.matmul(wEnc.transpose()).add(enc.bias!).sigmoid();
      return nn.mseLoss(code.matmul(wDec).add(bDec), x);
    })(enc.weight.detach(), enc.weight.detach());
    close(tiedGrad, gEnc!.add(gDec!).dataSync());
    expect(Math.max(...Array.from(gDec!.dataSync(), Math.abs))).toBeGreaterThan(1e-3); // the decoder part counts
  });

  it('training lowers the reconstruction loss', () => {
    kiln.manualSeed(3);
    const x = lowRank(128);
    const ae = new nn.AutoEncoder(new nn.Sequential(new nn.Linear(8, 3), new nn.Sigmoid()), { tied: true });
    const opt = new kiln.optim.Adam(ae.parameters(), { lr: 0.05 });
    const losses: number[] = [];
    for (let i = 0; i < 150; i++) {
      kiln.scope(() => {
        const loss = ae.loss(x);
        losses.push(loss.item());
        loss.backward();
        opt.step();
        opt.zeroGrad();
      });
    }
    expect(losses.at(-1)!).toBeLessThan(0.1 * losses[0]!);
  });
});

describe('untied AutoEncoder', () => {
  it('mirrors the encoder with new Linear layers, or uses the decoder given', () => {
    const enc = new nn.Sequential(new nn.Linear(6, 4), new nn.ReLU(), new nn.Linear(4, 2));
    const ae = new nn.AutoEncoder(enc);
    const dec = ae.decoder as kiln.nn.Sequential;
    expect([...dec].map((m) => m.constructor.name)).toEqual(['Linear', 'ReLU', 'Linear']);
    expect((dec.at(0) as kiln.nn.Linear).weight.shape).toEqual([4, 2]);
    expect((dec.at(2) as kiln.nn.Linear).weight.shape).toEqual([6, 4]);
    expect(ae.numParameters()).toBe(2 * (6 * 4 + 4 * 2) + 4 + 2 + 4 + 6);
    const own = new nn.Linear(2, 6);
    expect(new nn.AutoEncoder(enc, { decoder: own }).decoder).toBe(own);
  });

  it('raises clear errors', () => {
    expect(() => new nn.AutoEncoder(new nn.Conv2d(1, 2, 3), { tied: true })).toThrow(/AutoEncoder.*made of Linear layers.*\{ decoder \}/s);
    expect(() => new nn.AutoEncoder(new nn.Linear(2, 1), { tied: true, decoder: new nn.Linear(1, 2) })).toThrow(/not both/);
    expect(() => new nn.AutoEncoder(new nn.Sequential(new nn.Linear(4, 3), new nn.Linear(2, 1)))).toThrow(/layer 1 gives 3 features but layer 2 takes 2/);
    expect(() => new nn.AutoEncoder(new nn.Linear(2, 1), { noise: { kind: 'mask', p: 1 } })).toThrow(/\[0, 1\)/);
    expect(() => new nn.AutoEncoder(new nn.Linear(2, 1), { sparsity: { weight: 1, target: 2 } })).toThrow(/target/);
  });
});

describe('denoising AutoEncoder', () => {
  it('masking noise only in training mode: about p of the inputs zeroed, the rest unchanged, seeded', () => {
    const x = kiln.rand([100, 100], { seed: 4 }).add(0.5); // no zeros of its own
    const ae = new nn.AutoEncoder(new nn.Linear(100, 10), { noise: { kind: 'mask', p: 0.3 }, seed: 11 });
    const noisy = ae.corrupt(x).dataSync();
    const clean = x.dataSync();
    let zeros = 0;
    for (let i = 0; i < clean.length; i++) {
      if (noisy[i] === 0) zeros++;
      else expect(noisy[i]).toBe(clean[i]);
    }
    expect(Math.abs(zeros / clean.length - 0.3)).toBeLessThan(0.02);
    // The next call draws new noise; a new module with the same seed repeats the sequence.
    const second = ae.corrupt(x).dataSync();
    expect(Array.from(second)).not.toEqual(Array.from(noisy));
    const again = new nn.AutoEncoder(new nn.Linear(100, 10), { noise: { kind: 'mask', p: 0.3 }, seed: 11 });
    expect(Array.from(again.corrupt(x).dataSync())).toEqual(Array.from(noisy));
    // Eval mode: no noise at all, the same tensor; forward = decode(encode(x)).
    ae.eval();
    expect(ae.corrupt(x)).toBe(x);
    expect(Array.from(ae.forward(x).dataSync())).toEqual(Array.from(ae.decode(ae.encode(x)).dataSync()));
  });

  it('Gaussian noise has the requested spread and clip; the loss compares with the clean input', () => {
    const x = kiln.full([200, 50], 0.5);
    const ae = new nn.AutoEncoder(new nn.Linear(50, 5, { init: 'glorotUniform', bias: 'zeros' }), { noise: { kind: 'gaussian', std: 0.1 }, seed: 3 });
    const d = ae.corrupt(x).sub(x);
    expect(Math.abs(d.mean().item())).toBeLessThan(0.005);
    expect(Math.abs(d.square().mean().sqrt().item() - 0.1)).toBeLessThan(0.005);
    const clipped = new nn.AutoEncoder(new nn.Linear(50, 5), { noise: { kind: 'gaussian', std: 2, clip: [0, 1] }, seed: 3 }).corrupt(x);
    expect(clipped.min().item()).toBe(0);
    expect(clipped.max().item()).toBe(1);
    // loss(x) in eval mode is the plain reconstruction error of x; in training mode it differs (noisy input).
    ae.eval();
    const evalLoss = ae.loss(x).item();
    expect(evalLoss).toBeCloseTo(nn.mseLoss(ae.forward(x), x).item(), 6);
    ae.train();
    expect(ae.loss(x).item()).not.toBe(evalLoss);
  });
});

describe('sparse AutoEncoder', () => {
  /** A 3 → 2 sigmoid encoder with fixed weights, in float64. */
  function setup(sparsity: kiln.nn.SparsityOptions): { ae: kiln.nn.AutoEncoder; x: kiln.Tensor; code: number[][] } {
    const enc = new nn.Linear(3, 2, F64);
    kiln.noGrad(() => {
      enc.weight.copy_(kiln.tensor([[0.5, -1, 0.25], [1.5, 0.5, -0.75]], F64));
      enc.bias!.copy_(kiln.tensor([-0.5, 0.2], F64));
    });
    const ae = new nn.AutoEncoder(new nn.Sequential(enc, new nn.Sigmoid()), { tied: true, sparsity });
    const rows = [[1, 0, 2], [0.5, -1, 0], [-1, 2, 1], [0, 0, 0]];
    const sig = (v: number): number => 1 / (1 + Math.exp(-v));
    const W = [[0.5, -1, 0.25], [1.5, 0.5, -0.75]], b = [-0.5, 0.2];
    const code = rows.map((r) => W.map((w, j) => sig(w[0]! * r[0]! + w[1]! * r[1]! + w[2]! * r[2]! + b[j]!)));
    return { ae, x: kiln.tensor(rows, F64), code };
  }

  it('KL penalty: β·Σ_j ρ·log(ρ/ρ̂_j) + (1−ρ)·log((1−ρ)/(1−ρ̂_j)), added to the reconstruction loss', () => {
    const beta = 0.7, rho = 0.1;
    const { ae, x, code } = setup({ weight: beta, target: rho });
    const rhoHat = [0, 1].map((j) => code.reduce((s, c) => s + c[j]!, 0) / code.length);
    const kl = rhoHat.reduce((s, r) => s + rho * Math.log(rho / r) + (1 - rho) * Math.log((1 - rho) / (1 - r)), 0);
    const h = ae.encode(x);
    close(h.dataSync(), code.flat());
    expect(Math.abs(ae.sparsityPenalty(h)!.item() - beta * kl)).toBeLessThan(1e-12);
    const rec = nn.mseLoss(ae.decode(h), x).item();
    expect(Math.abs(ae.loss(x).item() - (rec + beta * kl))).toBeLessThan(1e-12);
  });

  it('L1 penalty: β·Σ|h| / batch', () => {
    const { ae, x, code } = setup({ weight: 0.3, kind: 'l1' });
    const l1 = code.flat().reduce((s, v) => s + Math.abs(v), 0) / code.length;
    expect(Math.abs(ae.sparsityPenalty(ae.encode(x))!.item() - 0.3 * l1)).toBeLessThan(1e-12);
    expect(new nn.AutoEncoder(new nn.Linear(3, 2)).sparsityPenalty(x)).toBeNull();
  });
});

describe('pretrainGreedy', () => {
  const adam = (ps: kiln.Tensor[]): kiln.optim.Adam => new kiln.optim.Adam(ps, { lr: 0.02 });

  it('returns the trained stack with the right shapes; layer-1 reconstruction loss decreases', () => {
    kiln.manualSeed(5);
    const x = lowRank(256, 7);
    const records: kiln.nn.PretrainRecord[] = [];
    const encoder = nn.pretrainGreedy([8, 6, 3], x, {
      optimizer: adam, epochs: 6, batchSize: 32, seed: 1, tied: true,
      noise: { kind: 'gaussian', std: 0.05 }, outputActivation: new nn.Sigmoid(),
      progress: (r) => records.push(r),
    });
    expect(encoder).toBeInstanceOf(nn.Sequential);
    expect([...encoder].map((m) => m.constructor.name)).toEqual(['Linear', 'Sigmoid', 'Linear', 'Sigmoid']);
    expect(encoder.namedParameters().map(([n, p]) => [n, p.shape])).toEqual([['0.weight', [6, 8]], ['0.bias', [6]], ['2.weight', [3, 6]], ['2.bias', [3]]]);
    expect(encoder.training).toBe(true);
    expect(encoder.forward(x).shape).toEqual([256, 3]);
    expect(records.map((r) => [r.layer, r.epoch])).toEqual([1, 2].flatMap((l) => [1, 2, 3, 4, 5, 6].map((e) => [l, e])));
    const layer1 = records.filter((r) => r.layer === 1).map((r) => r.loss);
    expect(layer1.at(-1)!).toBeLessThan(0.5 * layer1[0]!);
    for (let i = 1; i < layer1.length; i++) expect(layer1[i]!).toBeLessThan(layer1[i - 1]!);
    const layer2 = records.filter((r) => r.layer === 2).map((r) => r.loss);
    expect(layer2.at(-1)!).toBeLessThan(layer2[0]!);
  });

  it('trains the given modules in place and is reproducible with a seed', () => {
    const run = (): { first: kiln.nn.Linear; out: number[] } => {
      kiln.manualSeed(9);
      const first = new nn.Linear(8, 4);
      const stages = [new nn.Sequential(first, new nn.Tanh()), new nn.Linear(4, 2)];
      const before = first.weight.dataSync().slice();
      const encoder = nn.pretrainGreedy(stages, lowRank(64, 3), { optimizer: adam, epochs: 2, batchSize: 16, seed: 4, noise: { kind: 'mask', p: 0.2 } });
      expect(encoder.at(0)).toBe(first);
      expect(Array.from(first.weight.dataSync())).not.toEqual(Array.from(before));
      return { first, out: Array.from(encoder.forward(lowRank(4, 8)).dataSync()) };
    };
    expect(run().out).toEqual(run().out);
  });

  it('raises clear errors', () => {
    const x = kiln.rand([10, 8]);
    expect(() => nn.pretrainGreedy([8, 4], x, {} as never)).toThrow(/optimizer must be a function/);
    expect(() => nn.pretrainGreedy([9, 4], x, { optimizer: adam })).toThrow(/layer 1 takes 9 features but data rows have 8/);
    expect(() => nn.pretrainGreedy([new nn.Linear(8, 4), new nn.Linear(3, 2)], x, { optimizer: adam })).toThrow(/layer 1 gives 4 features but layer 2 takes 3/);
    expect(() => nn.pretrainGreedy([new nn.ReLU()], x, { optimizer: adam })).toThrow(/must be a Linear or a Sequential/);
  });
});

describe('examples/pretrain.mjs on tiny sizes', () => {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const dir = mkdtempSync(path.join(tmpdir(), 'kiln-pretrain-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('pre-trains, fine-tunes both networks and prints both test accuracies', () => {
    const code = readFileSync(path.join(root, 'examples/pretrain.mjs'), 'utf8').replace(/from 'kiln'/g, `from ${JSON.stringify(path.join(root, 'src/index.ts'))}`);
    const file = path.join(dir, 'pretrain.mjs');
    writeFileSync(file, code);
    const tsx = pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href;
    const env = { ...process.env, KILN_THREADS: '', KILN_LABELS: '100', KILN_UNLABELLED: '300', KILN_HIDDEN: '16,8', KILN_PRETRAIN_EPOCHS: '2', KILN_FINETUNE_EPOCHS: '2' };
    const out = execFileSync(process.execPath, ['--import', tsx, file], { cwd: dir, encoding: 'utf8', env });
    expect(out).toContain('100 labelled (stratified), 300 unlabelled');
    const losses = [...out.matchAll(/pretrain layer (\d) epoch (\d): reconstruction loss ([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3])]);
    expect(losses.map(([l, e]) => [l, e])).toEqual([[1, 1], [1, 2], [2, 1], [2, 2]]);
    expect(losses[1]![2]).toBeLessThan(losses[0]![2]!);
    const acc = (label: string): number => Number(new RegExp(`${label}[^\\d]*([\\d.]+)%`).exec(out)![1]);
    for (const a of [acc('pre-trained'), acc('random initialization')]) expect(a).toBeGreaterThanOrEqual(0), expect(a).toBeLessThanOrEqual(100);
  });
});
