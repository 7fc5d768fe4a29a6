/**
 * nn.EchoStateNetwork and nn.ExtremeLearningMachine: the reservoir's spectral radius
 * (checked by Gelfand's formula, a different method from the power iteration that set
 * it), determinism by seed on both backends, the state recurrence written out by hand,
 * the ridge readout against a normal-equations solve done here in float64, state dicts
 * and checkpoints, and argument errors.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { estimateSpectralRadius, toSparse } from '../src/nn/reservoir/spectralRadius.js';

const { nn } = kiln;
const dir = mkdtempSync(path.join(tmpdir(), 'kiln-reservoir-'));

beforeAll(async () => {
  await kiln.init();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// ---- float64 helpers, independent of Kiln ------------------------------------------

function matmul(a: Float64Array, b: Float64Array, n: number, k: number, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let p = 0; p < k; p++) {
    const v = a[i * k + p]!;
    for (let j = 0; j < m; j++) out[i * m + j] += v * b[p * m + j]!;
  }
  return out;
}

/**
 * ρ(W) by Gelfand's formula ρ = lim ‖Wᵏ‖^(1/k) with k = 2¹² = 4096, by 12 squarings,
 * each renormalized (Frobenius). The result is an upper bound on ρ (any norm of Wᵏ is at
 * least ρᵏ), above ρ by a factor C^(1/4096) where C measures W's non-normality: ≤ 0.23%
 * for any C ≤ 10⁴.
 */
function gelfandRadius(w: Float64Array, n: number): number {
  const norm = (a: Float64Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0));
  let m: Float64Array = Float64Array.from(w);
  let logNorm = 0; // log ‖W^(2^s)‖ = logNorm + log ‖m‖
  for (let s = 0; s < 12; s++) {
    const f = norm(m);
    m = m.map((v) => v / f);
    logNorm = 2 * (logNorm + Math.log(f));
    m = matmul(m, m, n, n, n);
  }
  return Math.exp((logNorm + Math.log(norm(m))) / 4096);
}

/** Solves S·X = R (S `[f, f]`, R `[f, o]`) by Gauss-Jordan elimination with partial pivoting. */
function gaussSolve(s: Float64Array, r: Float64Array, f: number, o: number): Float64Array {
  const a = Float64Array.from(s), b = Float64Array.from(r);
  for (let c = 0; c < f; c++) {
    let p = c;
    for (let i = c + 1; i < f; i++) if (Math.abs(a[i * f + c]!) > Math.abs(a[p * f + c]!)) p = i;
    for (let j = 0; j < f; j++) [a[c * f + j], a[p * f + j]] = [a[p * f + j]!, a[c * f + j]!];
    for (let j = 0; j < o; j++) [b[c * o + j], b[p * o + j]] = [b[p * o + j]!, b[c * o + j]!];
    for (let i = 0; i < f; i++) {
      if (i === c) continue;
      const q = a[i * f + c]! / a[c * f + c]!;
      for (let j = 0; j < f; j++) a[i * f + j] -= q * a[c * f + j]!;
      for (let j = 0; j < o; j++) b[i * o + j] -= q * b[c * o + j]!;
    }
  }
  for (let i = 0; i < f; i++) for (let j = 0; j < o; j++) b[i * o + j] /= a[i * f + i]!;
  return b;
}

/** The ridge readout, computed here: (ΦᵀΦ + λ·diag(0, 1, …, 1))·W = ΦᵀY. */
function ridgeDirect(phi: Float64Array, y: Float64Array, n: number, f: number, o: number, ridge: number): Float64Array {
  const phiT = new Float64Array(f * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) phiT[j * n + i] = phi[i * f + j]!;
  const gram = matmul(phiT, phi, f, n, f);
  for (let i = 1; i < f; i++) gram[i * f + i] += ridge;
  return gaussSolve(gram, matmul(phiT, y, f, n, o), f, o);
}

const f64 = (t: kiln.Tensor) => Float64Array.from(t.dataSync());

/** Largest |a − b| / max|b|. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0, scale = 0;
  for (let i = 0; i < b.length; i++) {
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return worst / scale;
}

/** Φ = [1, u, x] for steps washout.. of one sequence. */
function features(u: Float64Array, x: Float64Array, steps: number, inSize: number, r: number, washout: number): Float64Array {
  const f = 1 + inSize + r;
  const out = new Float64Array((steps - washout) * f);
  for (let t = washout; t < steps; t++) {
    const row = (t - washout) * f;
    out[row] = 1;
    for (let i = 0; i < inSize; i++) out[row + 1 + i] = u[t * inSize + i]!;
    for (let i = 0; i < r; i++) out[row + 1 + inSize + i] = x[t * r + i]!;
  }
  return out;
}

// ---- the spectral radius -------------------------------------------------------------

describe('reservoir spectral radius', () => {
  it('is within 1% of the target after scaling (checked by Gelfand\'s formula)', () => {
    for (const [size, density, target, seed] of [[100, 0.1, 0.9, 1], [80, 1, 1.25, 2], [120, 0.05, 0.5, 3]] as const) {
      const esn = new nn.EchoStateNetwork(1, size, 1, { density, spectralRadius: target, seed, backend: 'reference' });
      const rho = gelfandRadius(f64(esn.reservoirWeight), size);
      expect(Math.abs(rho / target - 1), `size ${size}, density ${density}`).toBeLessThan(0.01);
    }
  });

  it('the estimator finds a dominant complex pair and a dominant real eigenvalue', () => {
    // Block-diagonal: a rotation scaled by 0.8 (eigenvalues 0.8·e^(±i·1.1)), then 0.5 and −0.3,
    // conjugated by a fixed non-orthogonal matrix so that nothing is diagonal.
    const blocks = (a: number) => {
      const d = new Float64Array(16);
      d.set([0.8 * Math.cos(1.1), -0.8 * Math.sin(1.1)], 0);
      d.set([0.8 * Math.sin(1.1), 0.8 * Math.cos(1.1)], 4);
      d[10] = a;
      d[15] = -0.3;
      const p = Float64Array.from([1, 0.5, 0, 0.2, 0, 1, 0.3, 0, 0.1, 0, 1, 0.4, 0, 0.2, 0, 1]);
      const pInv = gaussSolve(p, Float64Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]), 4, 4);
      return matmul(matmul(p, d, 4, 4, 4), pInv, 4, 4, 4);
    };
    const start = [0.3, -0.7, 0.2, 0.9];
    expect(estimateSpectralRadius(toSparse(blocks(0.5), 4), start)).toBeCloseTo(0.8, 3);
    expect(estimateSpectralRadius(toSparse(blocks(-0.95), 4), start)).toBeCloseTo(0.95, 3);
    // Nilpotent (strictly upper triangular): 0.
    expect(estimateSpectralRadius(toSparse([0, 1, 0, 0], 2), [1, 1])).toBe(0);
  });

  it('a nilpotent random reservoir is an error, not a division by zero', () => {
    expect(() => new nn.EchoStateNetwork(1, 3, 1, { density: 1e-6, seed: 0, backend: 'reference' })).toThrow(/EchoStateNetwork: the random reservoir \(size 3, density 0.000001\) is nilpotent/);
  });
});

// ---- EchoStateNetwork ----------------------------------------------------------------

describe('EchoStateNetwork', () => {
  it('the same seed gives the same weights on both backends; another seed others; no seed follows kiln.manualSeed', () => {
    const opts = { density: 0.2, biasScaling: 0.3, seed: 7 };
    const a = new nn.EchoStateNetwork(2, 30, 1, { ...opts, backend: 'reference' });
    const b = new nn.EchoStateNetwork(2, 30, 1, { ...opts, backend: 'wasm' });
    for (const k of ['inputWeight', 'reservoirWeight', 'bias'] as const) expect(b[k].dataSync(), k).toEqual(a[k].dataSync());
    const c = new nn.EchoStateNetwork(2, 30, 1, { ...opts, seed: 8 });
    expect(c.reservoirWeight.dataSync()).not.toEqual(a.reservoirWeight.dataSync());
    kiln.manualSeed(5);
    const d = new nn.EchoStateNetwork(2, 30, 1);
    kiln.manualSeed(5);
    const e = new nn.EchoStateNetwork(2, 30, 1);
    expect(e.reservoirWeight.dataSync()).toEqual(d.reservoirWeight.dataSync());
    // density: the fraction of non-zeros is near the option.
    const nnz = [...a.reservoirWeight.dataSync()].filter((v) => v !== 0).length;
    expect(nnz / 900).toBeGreaterThan(0.15);
    expect(nnz / 900).toBeLessThan(0.25);
  });

  it('states follow xₜ = (1 − α)·xₜ₋₁ + α·tanh(W_in·uₜ + W·xₜ₋₁ + b), written out here in float64', () => {
    const [inSize, r, steps, alpha] = [2, 12, 15, 0.3];
    const esn = new nn.EchoStateNetwork(inSize, r, 1, { leakRate: alpha, biasScaling: 0.5, inputScaling: 0.8, seed: 4, dtype: 'float64', backend: 'reference' });
    const u = kiln.randn([steps, inSize], { seed: 1, dtype: 'float64', backend: 'reference' });
    const states = esn.states(u);
    expect(states.shape).toEqual([steps, r]);
    const [win, w, b, uu] = [f64(esn.inputWeight), f64(esn.reservoirWeight), f64(esn.bias), f64(u)];
    const x = new Float64Array(r);
    const expected = new Float64Array(steps * r);
    for (let t = 0; t < steps; t++) {
      const next = new Float64Array(r);
      for (let i = 0; i < r; i++) {
        let pre = b[i]!;
        for (let j = 0; j < inSize; j++) pre += win[i * inSize + j]! * uu[t * inSize + j]!;
        for (let j = 0; j < r; j++) pre += w[i * r + j]! * x[j]!;
        next[i] = (1 - alpha) * x[i]! + alpha * Math.tanh(pre);
      }
      x.set(next);
      expected.set(next, t * r);
    }
    expect(relDiff(f64(states), expected)).toBeLessThan(1e-12);
  });

  it('batches equal separate runs; initialState continues a sequence', () => {
    const esn = new nn.EchoStateNetwork(1, 20, 1, { seed: 2, backend: 'reference' });
    const u = kiln.randn([2, 16, 1], { seed: 3, backend: 'reference' });
    const batch = esn.states(u);
    expect(batch.shape).toEqual([2, 16, 20]);
    for (const s of [0, 1]) {
      const one = esn.states(u.slice([s], [s + 1]).reshape([16, 1]));
      expect(batch.slice([s], [s + 1]).reshape([16, 20]).dataSync()).toEqual(one.dataSync());
    }
    const seq = u.slice([0], [1]).reshape([16, 1]);
    const whole = esn.states(seq);
    const first = esn.states(seq.slice([0], [10]));
    const rest = esn.states(seq.slice([10], [16]), { initialState: first.slice([9], [10]).reshape([20]) });
    expect(relDiff(rest.dataSync(), whole.slice([10], [16]).dataSync())).toBeLessThan(1e-6);
  });

  it('the ridge readout equals the normal-equations solve done here in float64 (reference float64, and wasm float32)', () => {
    const [inSize, r, out, steps, washout, ridge] = [2, 15, 2, 80, 10, 1e-3];
    for (const [backend, dtype, tol] of [['reference', 'float64', 1e-9], ['wasm', 'float32', 1e-5]] as const) {
      const esn = new nn.EchoStateNetwork(inSize, r, out, { seed: 11, leakRate: 0.7, dtype, backend });
      const u = kiln.randn([steps, inSize], { seed: 12, dtype, backend });
      const y = kiln.concat([u.slice([0, 0], [steps, 1]).sin(), u.slice([0, 1], [steps, 2]).square()], 1);
      esn.fit(u, y, { ridge, washout });
      // The features from the model's own states (float32 on wasm: the readout is then
      // exact for those float32 values, up to rounding W to float32).
      const phi = features(f64(u), f64(esn.states(u)), steps, inSize, r, washout);
      const direct = ridgeDirect(phi, f64(y).slice(washout * out), steps - washout, 1 + inSize + r, out, ridge);
      expect(esn.readoutWeight.shape).toEqual([1 + inSize + r, out]);
      expect(relDiff(f64(esn.readoutWeight), direct), backend).toBeLessThan(tol);
      // predict = Φ·W over every step.
      const pred = esn.predict(u);
      const all = features(f64(u), f64(esn.states(u)), steps, inSize, r, 0);
      expect(relDiff(f64(pred), matmul(all, f64(esn.readoutWeight), steps, 1 + inSize + r, out)), backend).toBeLessThan(dtype === 'float64' ? 1e-12 : 1e-5);
    }
  });

  it('ridge 0 is least squares (by QR); batched sequences pool their steps', () => {
    const esn = new nn.EchoStateNetwork(1, 8, 1, { seed: 5, density: 1, biasScaling: 0.5, dtype: 'float64', backend: 'reference' });
    const u = kiln.randn([3, 50, 1], { seed: 6, dtype: 'float64', backend: 'reference' });
    const y = u.mul(2).tanh();
    esn.fit(u, y, { ridge: 0, washout: 4 });
    const states = f64(esn.states(u));
    const phi: number[] = [], ys: number[] = [];
    for (let s = 0; s < 3; s++) {
      phi.push(...features(f64(u).slice(s * 50, s * 50 + 50), states.slice(s * 400, s * 400 + 400), 50, 1, 8, 4));
      ys.push(...f64(y).slice(s * 50 + 4, s * 50 + 50));
    }
    const direct = ridgeDirect(Float64Array.from(phi), Float64Array.from(ys), 3 * 46, 10, 1, 0);
    expect(relDiff(f64(esn.readoutWeight), direct)).toBeLessThan(1e-8);
  });

  it('weights are buffers: stateDict and kiln.save/load carry a fitted model, nothing is trainable', async () => {
    const u = kiln.linspace(0, 20, 200).sin().reshape([200, 1]);
    const esn = new nn.EchoStateNetwork(1, 25, 1, { seed: 9 }).fit(u.slice([0], [199]), u.slice([1], [200]), { washout: 20 });
    expect(esn.numParameters()).toBe(0);
    expect([...esn.stateDict().keys()]).toEqual(['inputWeight', 'reservoirWeight', 'bias', 'readoutWeight', 'fitted']);
    const file = path.join(dir, 'esn.kiln');
    await kiln.save(esn, file);
    const other = new nn.EchoStateNetwork(1, 25, 1, { seed: 10 });
    expect(() => other.predict(u)).toThrow(/EchoStateNetwork: predict: the readout is not fitted yet; call fit\(inputs, targets\) first/);
    await kiln.load(other, file);
    expect(other.predict(u).dataSync()).toEqual(esn.predict(u).dataSync());
    const third = new nn.EchoStateNetwork(1, 25, 1, { seed: 11 });
    third.loadStateDict(esn.stateDict());
    expect(third.forward(u).dataSync()).toEqual(esn.predict(u).dataSync());
  });

  it('fit, states and predict leave no tensors behind but their results', () => {
    const u = kiln.randn([40, 1], { seed: 1 });
    const esn = new nn.EchoStateNetwork(1, 16, 1, { seed: 3 });
    const before = kiln.memory();
    esn.fit(u, u.square(), { washout: 5 }).states(u).dispose();
    esn.predict(u).dispose();
    const elm = new nn.ExtremeLearningMachine(1, 8, 1, { seed: 0 });
    elm.fit(u, u.square()).predict(u).dispose();
    for (const t of elm.stateDict().values()) t.dispose();
    const after = kiln.memory();
    // u.square() twice: the targets, still alive here.
    expect(after.liveTensors - before.liveTensors).toBe(2);
    expect(after.liveBytes).toEqual({ ...before.liveBytes, wasm: before.liveBytes['wasm']! + 2 * 40 * 4 });
  });

  it('bad arguments raise KilnErrors naming the class', () => {
    const opt = (o: object) => () => new nn.EchoStateNetwork(1, 10, 1, { seed: 0, ...o });
    expect(opt({ density: 0 })).toThrow(/EchoStateNetwork: density must be in \(0, 1\], got 0/);
    expect(opt({ leakRate: 1.5 })).toThrow(/EchoStateNetwork: leakRate must be in \(0, 1\], got 1.5/);
    expect(opt({ spectralRadius: 0 })).toThrow(/EchoStateNetwork: spectralRadius must be a finite number > 0, got 0/);
    expect(opt({ inputScaling: -1 })).toThrow(/inputScaling must be a finite number ≥ 0/);
    expect(() => new nn.EchoStateNetwork(0, 10, 1)).toThrow(/EchoStateNetwork: inputSize must be an integer ≥ 1, got 0/);
    const esn = new nn.EchoStateNetwork(2, 10, 1, { density: 1, seed: 0 });
    const u = kiln.randn([20, 2]);
    expect(() => esn.states(kiln.randn([20, 3]))).toThrow(/EchoStateNetwork: states: inputs must be \[T, 2\] or \[batch, T, 2\], got shape \[20, 3\]/);
    expect(() => esn.fit(u, kiln.randn([19, 1]))).toThrow(/EchoStateNetwork: fit: targets must have shape \[20, 1\] \(matching the inputs' steps\), got shape \[19, 1\]/);
    expect(() => esn.fit(u, kiln.randn([20, 1]), { ridge: -1 })).toThrow(/EchoStateNetwork: fit: ridge must be a finite number ≥ 0, got -1/);
    expect(() => esn.fit(u, kiln.randn([20, 1]), { washout: 20 })).toThrow(/EchoStateNetwork: fit: washout must be an integer in \[0, 19\]/);
    expect(() => esn.states(u, { initialState: kiln.zeros([3]) })).toThrow(/EchoStateNetwork: initialState must have shape \[10\] or \[1, 10\], got shape \[3\]/);
    expect(() => esn.states(u.to('reference').cast('float64'))).toThrow(/EchoStateNetwork: states: inputs are float64 but the weights are float32/);
  });
});

// ---- ExtremeLearningMachine ----------------------------------------------------------

describe('ExtremeLearningMachine', () => {
  it('hidden = act(x·W_inᵀ + b) with a seeded hidden layer, the same on both backends', () => {
    const x = kiln.randn([6, 3], { seed: 1, backend: 'reference' });
    for (const activation of ['tanh', 'sigmoid', 'relu'] as const) {
      const a = new nn.ExtremeLearningMachine(3, 8, 2, { activation, seed: 3, backend: 'reference' });
      const b = new nn.ExtremeLearningMachine(3, 8, 2, { activation, seed: 3, backend: 'wasm' });
      expect(b.inputWeight.dataSync()).toEqual(a.inputWeight.dataSync());
      const [w, bias, xx] = [f64(a.inputWeight), f64(a.bias), f64(x)];
      const act = { tanh: Math.tanh, sigmoid: (v: number) => 1 / (1 + Math.exp(-v)), relu: (v: number) => Math.max(v, 0) }[activation];
      const expected = new Float64Array(48);
      for (let n = 0; n < 6; n++) for (let h = 0; h < 8; h++) {
        let s = bias[h]!;
        for (let i = 0; i < 3; i++) s += xx[n * 3 + i]! * w[h * 3 + i]!;
        expected[n * 8 + h] = act(s);
      }
      expect(relDiff(f64(a.hidden(x)), expected), activation).toBeLessThan(1e-6);
      expect(relDiff(f64(b.hidden(x.to('wasm'))), expected), activation).toBeLessThan(1e-6);
    }
    // inputScaling: W_in ~ U(±inputScaling·√(3 / inputSize)).
    const big = new nn.ExtremeLearningMachine(12, 500, 1, { inputScaling: 2, seed: 0 });
    const maxAbs = Math.max(...[...big.inputWeight.dataSync()].map(Math.abs));
    expect(maxAbs).toBeLessThanOrEqual(2 * Math.sqrt(3 / 12));
    expect(maxAbs).toBeGreaterThan(0.99 * 2 * Math.sqrt(3 / 12));
  });

  it('the readout equals the normal-equations solve done here; class indices fit as one-hot targets', () => {
    const x = kiln.randn([120, 4], { seed: 2, dtype: 'float64', backend: 'reference' });
    const elm = new nn.ExtremeLearningMachine(4, 30, 3, { seed: 1, dtype: 'float64', backend: 'reference' });
    const labels = x.sum(1).mul(2).tanh().add(1).mul(1.4999).cast('int32'); // classes 0, 1, 2
    elm.fit(x, labels, { ridge: 1e-2 });
    const h = f64(elm.hidden(x));
    const phi = new Float64Array(120 * 31);
    const onehot = new Float64Array(120 * 3);
    const lab = labels.dataSync();
    for (let n = 0; n < 120; n++) {
      phi[n * 31] = 1;
      phi.set(h.subarray(n * 30, n * 30 + 30), n * 31 + 1);
      onehot[n * 3 + lab[n]!] = 1;
    }
    expect(relDiff(f64(elm.readoutWeight), ridgeDirect(phi, onehot, 120, 31, 3, 1e-2))).toBeLessThan(1e-9);
    const explicit = new nn.ExtremeLearningMachine(4, 30, 3, { seed: 1, dtype: 'float64', backend: 'reference' });
    explicit.fit(x, kiln.tensor(onehot, { shape: [120, 3], dtype: 'float64', backend: 'reference' }), { ridge: 1e-2 });
    expect(explicit.readoutWeight.dataSync()).toEqual(elm.readoutWeight.dataSync());
    // It learns the classes it was fitted on.
    const acc = elm.predict(x).argmax(1).equal(labels).cast('float32').mean().item();
    expect(acc).toBeGreaterThan(0.9);
  });

  it('bad arguments raise KilnErrors naming the class', () => {
    const elm = new nn.ExtremeLearningMachine(3, 10, 2, { seed: 0 });
    const x = kiln.randn([5, 3]);
    expect(() => elm.predict(x)).toThrow(/ExtremeLearningMachine: predict: the readout is not fitted yet/);
    expect(() => elm.fit(kiln.randn([5, 4]), kiln.zeros([5, 2]))).toThrow(/ExtremeLearningMachine: fit: inputs must be \[N, 3\], got shape \[5, 4\]/);
    expect(() => elm.fit(x, kiln.zeros([5, 3]))).toThrow(/ExtremeLearningMachine: fit: targets must be \[5, 2\] values or int32 class indices \[5\], got float32 shape \[5, 3\]/);
    expect(() => elm.fit(x, kiln.tensor([0, 1, 2, 0, 1], { dtype: 'int32' }))).toThrow(/ExtremeLearningMachine: fit: class index 2 \(sample 2\) is outside \[0, 2\)/);
    expect(() => new nn.ExtremeLearningMachine(3, 10, 2, { activation: 'gelu' as 'relu' })).toThrow(/activation must be 'tanh', 'sigmoid' or 'relu', got gelu/);
    expect(() => new nn.ExtremeLearningMachine(3, 10, 1).fit(x, kiln.zeros([5], { dtype: 'int32' }))).toThrow(/class-index targets need outputSize ≥ 2/);
    // Duplicate features with ridge 0: least squares needs full column rank.
    const dup = new nn.ExtremeLearningMachine(1, 4, 1, { seed: 0, backend: 'reference' });
    expect(() => dup.fit(kiln.zeros([6, 1], { backend: 'reference' }), kiln.ones([6, 1], { backend: 'reference' }), { ridge: 0 })).toThrow(/ExtremeLearningMachine: cannot fit the readout: the features are linearly dependent \(use ridge > 0\)/);
  });
});
