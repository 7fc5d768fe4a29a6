// WebGPU matmul, linear, convolutions, pools and solvers (src/runtime/webgpu/kernels/{gemm,
// matmul,conv,pool,linalgSolve}.ts) against the reference backend on the same seeded inputs.
//
// Tolerance: a sum of K products is accumulated in float32 on the GPU and in float64 by
// the reference (whose result is then rounded to float32), so each element must be within
// 1e-5·√K·max(1, |reference|) of it, K being the length of the reduction behind that output
// (matmul/linear: the inner dimension; conv2d/convTranspose2d: C/group·kH·kW;
// conv2dFilterGrad: N·OH·OW; avgPool2d(+Grad): kH·kW). NaN must be where the reference has
// NaN and infinities must be the same. Int32 matmul and maxPool2d(+Grad) are exact (bits).
// The solvers' tolerance is stated with their tests.
import { expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { filterGradChunks } from '../src/runtime/webgpu/kernels/conv.js';
import { gemmPath } from '../src/runtime/webgpu/kernels/gemm.js';
import { matmulBatchLayout } from '../src/runtime/webgpu/kernels/matmul.js';
import { rng } from './support/kernelChecks.js';
import { POOL_2X2_SHAPES, POOL_GENERAL_CASES, type PoolAttrs } from './support/poolCases.js';
import { describeWebGpu, gpuBackend } from './support/webgpu.js';

type Shape = readonly number[];

const SPECIALS = [NaN, Infinity, -Infinity, -0, 0];

/**
 * A reference float32 tensor of `shape`: seeded values in [-1, 1); with `specials`, one
 * element in `specials` is NaN, ±inf or ±0 (`ties` rounds the rest to halves, so pooling
 * windows hold equal maxima).
 */
function input(shape: Shape, seed: number, opts: { specials?: number; ties?: boolean } = {}): kiln.Tensor {
  const next = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = next();
    data[i] = opts.ties ? Math.round(u * 6) / 2 - 1.5 : u * 2 - 1;
    if (opts.specials && next() * opts.specials < 1) data[i] = SPECIALS[Math.floor(next() * SPECIALS.length)]!;
  }
  return kiln.tensor(data, { shape: [...shape], backend: 'reference' });
}

/** Runs `op` on the reference tensors `xs` and on webgpu copies; compares (see the file comment; `k` is the reduction length, or an explicit relative tolerance). */
async function expectAgrees(op: string, xs: readonly kiln.Tensor[], attrs: Record<string, unknown>, k: number | 'exact' | { rel: number }, what: string): Promise<void> {
  const a = attrs as Parameters<kiln.Tensor['applyOp']>[2];
  const want = xs[0]!.applyOp(op, xs.slice(1), a)[0]!;
  const gpu = xs.map((x) => x.to('webgpu'));
  const got = gpu[0]!.applyOp(op, gpu.slice(1), a)[0]!;
  expect(got.shape, what).toEqual(want.shape);
  expect(got.dtype, what).toBe(want.dtype);
  const g = await got.data(), w = want.dataSync();
  expect(g.length, what).toBe(w.length);
  const tol = k === 'exact' ? 0 : typeof k === 'object' ? k.rel : 1e-5 * Math.sqrt(Math.max(k, 1));
  const show = (v: number): string => (Object.is(v, -0) ? '-0' : String(v));
  for (let i = 0; i < w.length; i++) {
    const gi = g[i]!, wi = w[i]!;
    let ok: boolean;
    if (Number.isNaN(wi)) ok = Number.isNaN(gi);
    else if (k === 'exact') ok = Object.is(gi, wi);
    else if (!Number.isFinite(wi)) ok = gi === wi;
    else ok = Math.abs(gi - wi) <= tol * Math.max(1, Math.abs(wi));
    if (!ok) expect.fail(`${what}: element ${i} of [${want.shape.join(', ')}] is ${show(gi)}, expected ${show(wi)} (tolerance ${k === 'exact' ? 'exact' : tol.toExponential(2)})`);
  }
  for (const t of [want, got, ...gpu]) t.dispose();
}

const matmulCase = (a: Shape, b: Shape, seed: number, opts: { specials?: number } = {}): Promise<void> =>
  expectAgrees('matmul', [input(a, seed, opts), input(b, seed + 1, opts)], {}, a[a.length - 1]!, `[${a.join(', ')}] @ [${b.join(', ')}]`);

const conv = (strides: number[], pads: number[], dilations: number[], group: number, extra: Record<string, unknown> = {}) => ({ strides, pads, dilations, group, ...extra });

/** Output extent of a convolution or pool along one axis (floor mode). */
const outSize = (n: number, k: number, s: number, d: number, p0: number, p1: number): number => Math.floor((n + p0 + p1 - d * (k - 1) - 1) / s) + 1;

/**
 * lavapipe compiles a tiled GEMM pipeline (the convolutions' especially) in 2–30 s on
 * this 2-core machine under load, and a test compiles several: allow minutes. Later runs
 * hit Mesa's shader cache (seconds).
 */
const COMPILE_TIMEOUT = 300_000;

describeWebGpu('webgpu matmul, linear, convolutions and pools', () => {
  it('matmul 2-D: tiled, dot and small shaders, odd sizes, size-1 dims, K = 0, empty outputs', async () => {
    // Every shader is exercised: tiled needs M, N ≥ 16; dot a long K read contiguously from both operands.
    expect(gemmPath(65, 97, 130, false)).toBe('tiled');
    expect(gemmPath(1, 257, 300, false)).toBe('small');
    expect(gemmPath(257, 1, 300, false)).toBe('dot');
    expect(gemmPath(15, 40, 17, false)).toBe('small');
    expect(gemmPath(3, 20, 100, true)).toBe('dot'); // linear, 3 rows
    let seed = 1;
    for (const [a, b] of [
      [[1, 1], [1, 1]], [[3, 5], [5, 7]], [[1, 300], [300, 257]], [[257, 300], [300, 1]], [[15, 40], [40, 17]],
      [[16, 16], [16, 16]], [[64, 64], [64, 64]], [[65, 130], [130, 97]], [[129, 17], [17, 130]], [[70, 3], [3, 200]],
      [[3, 0], [0, 4]], [[0, 5], [5, 3]], [[20, 7], [7, 0]],
    ] as const) await matmulCase(a, b, seed += 2);
  }, COMPILE_TIMEOUT);

  it('matmul with 1-D operands (dot, vector·matrix, matrix·vector, batched)', async () => {
    let seed = 100;
    for (const [a, b] of [[[100], [100]], [[1], [1]], [[300], [300, 5]], [[7, 300], [300]], [[40], [3, 40, 20]], [[2, 3, 40, 20], [20]]] as const) {
      await matmulCase(a, b, seed += 2);
    }
  }, COMPILE_TIMEOUT);

  it('matmul batch dims broadcast, merged into as few strided dims as possible', async () => {
    // [2,1,3] against [4,1]: dims 2 and 4 cannot merge (A repeats along one, B along the other).
    expect(matmulBatchLayout([2, 1, 3, 17, 20], [4, 1, 20, 18])).toEqual({ dims: [2, 4, 3], strideA: [3, 0, 1], strideB: [0, 1, 0], count: 24 });
    // A shared B: all of A's batch dims merge into one.
    expect(matmulBatchLayout([5, 6, 33, 40], [40, 31])).toEqual({ dims: [30], strideA: [1], strideB: [0], count: 30 });
    let seed = 200;
    for (const [a, b] of [
      [[2, 1, 3, 17, 20], [4, 1, 20, 18]], [[5, 33, 40], [40, 31]], [[3, 1, 40, 19], [1, 4, 19, 70]], [[2, 70, 33], [2, 33, 1]],
      [[1, 1, 5, 6], [6, 2]], [[4, 2, 20, 30], [4, 2, 30, 20]], [[2, 0, 3, 4], [4, 5]],
    ] as const) await matmulCase(a, b, seed += 2);
    // More batch elements than one dispatch's z can hold (65535): split into several dispatches.
    await matmulCase([70000, 1, 2], [2, 3], seed += 2);
  }, COMPILE_TIMEOUT);

  it('matmul propagates NaN and ±inf as the reference does, in every shader', async () => {
    let seed = 300;
    for (const [a, b] of [[[9, 37], [37, 5]], [[70, 37], [37, 66]], [[2, 20, 37], [37, 30]], [[3, 70], [70, 1]]] as const) {
      await matmulCase(a, b, seed += 2, { specials: 40 });
    }
  }, COMPILE_TIMEOUT);

  it('int32 matmul is exact, wrapping like the reference int32 store', async () => {
    for (const [[a, b], seed] of [[[[5, 20], [20, 3]], 1], [[[33, 20], [20, 40]], 2], [[[3, 17, 20], [20, 18]], 3], [[[4, 100], [100, 1]], 4]] as const) {
      const next = rng(400 + seed);
      const ints = (s: Shape): kiln.Tensor => {
        const n = s.reduce((x, y) => x * y, 1);
        // Products up to 3.6e9 overflow int32, and sums of 100 are exact in float64.
        return kiln.tensor(Array.from({ length: n }, () => Math.floor(next() * 120001) - 60000), { shape: [...s], dtype: 'int32', backend: 'reference' });
      };
      await expectAgrees('matmul', [ints(a), ints(b)], {}, 'exact', `int32 [${a.join(', ')}] @ [${b.join(', ')}]`);
    }
  }, COMPILE_TIMEOUT);

  it('new sizes of one structure reuse its pipelines (sizes are uniforms)', async () => {
    const backend = gpuBackend();
    const run = async (a: Shape, b: Shape, seed: number): Promise<void> => {
      const y = input(a, seed).to('webgpu').matmul(input(b, seed + 1).to('webgpu'));
      await y.data();
    };
    await run([2, 40, 33], [33, 70], 1); // tiled, batch rank 1
    await run([3, 40], [40, 5], 2); // small, no batch
    const before = backend.stats.pipelines;
    await run([3, 17, 20], [20, 65], 3);
    await run([7, 130, 9], [9, 300], 4);
    await run([30, 11], [11, 2], 5);
    expect(backend.stats.pipelines).toBe(before);
  }, COMPILE_TIMEOUT);

  it('linear: rows from leading dims, with and without bias, fused activations keeping NaN', async () => {
    let seed = 500;
    for (const [x, w, bias] of [[[5, 37], [29, 37], true], [[2, 3, 70], [65, 70], true], [[3, 100], [20, 100], false], [[70, 8], [20, 8], false], [[4, 0], [6, 0], true], [[1, 1], [1, 1], false]] as const) {
      const xs = [input(x, seed++, { specials: 30 }), input(w, seed++)];
      if (bias) xs.push(input([w[0]], seed++));
      await expectAgrees('linear', xs, {}, x[x.length - 1]!, `linear x [${x.join(', ')}] w [${w.join(', ')}]${bias ? ' + b' : ''}`);
    }
    for (const act of [{ activation: 'relu' }, { activation: 'leakyRelu', activationAlpha: 0.1 }, { activation: 'clip', activationMin: -0.5, activationMax: 0.5 }, { activation: 'sigmoid' }, { activation: 'tanh' }, { activation: 'elu', activationAlpha: 1.5 }, { activation: 'clip', activationMin: null, activationMax: 0.5 }]) {
      const xs = [input([33, 40], seed++, { specials: 30 }), input([20, 40], seed++), input([20], seed++)];
      await expectAgrees('linear', xs, act, 40, `linear with fused ${act.activation}`);
    }
  }, COMPILE_TIMEOUT);

  it('conv2d: padding, strides, dilations, groups (depthwise too), 1×1, bias, fused relu, NaN/inf', async () => {
    const cases: [Shape, Shape, ReturnType<typeof conv>, boolean][] = [
      [[2, 3, 9, 11], [4, 3, 3, 3], conv([1, 1], [1, 1, 1, 1], [1, 1], 1), false],
      [[1, 4, 10, 13], [6, 2, 3, 2], conv([2, 1], [1, 0, 2, 1], [2, 2], 2), true],
      [[2, 6, 7, 7], [6, 1, 3, 3], conv([1, 1], [1, 1, 1, 1], [1, 1], 6), true],
      [[1, 70, 5, 5], [65, 70, 1, 1], conv([1, 1], [0, 0, 0, 0], [1, 1], 1), true],
      [[1, 1, 1, 1], [1, 1, 1, 1], conv([1, 1], [0, 0, 0, 0], [1, 1], 1), false],
      [[3, 2, 17, 5], [20, 2, 5, 1], conv([3, 1], [2, 0, 2, 0], [1, 1], 1), true],
      // Negative end padding (conv2d built by a gradient rule trims the output).
      [[1, 2, 9, 9], [3, 2, 3, 3], conv([2, 2], [1, 1, -1, 0], [1, 1], 1), false],
    ];
    let seed = 600;
    for (const [x, w, attrs, bias] of cases) {
      const xs = [input(x, seed++), input(w, seed++)];
      if (bias) xs.push(input([w[0]!], seed++));
      await expectAgrees('conv2d', xs, attrs, w[1]! * w[2]! * w[3]!, `conv2d x [${x.join(', ')}] w [${w.join(', ')}] ${JSON.stringify(attrs)}`);
    }
    const xs = [input([2, 3, 9, 11], seed++, { specials: 40 }), input([4, 3, 3, 3], seed++), input([4], seed++)];
    await expectAgrees('conv2d', xs, conv([1, 1], [1, 1, 1, 1], [1, 1], 1, { activation: 'relu' }), 27, 'conv2d + bias + fused relu on NaN/inf inputs');
  }, COMPILE_TIMEOUT);

  it('convTranspose2d: strides, output padding, dilations, groups, bias, fused leakyRelu', async () => {
    const cases: [Shape, Shape, ReturnType<typeof conv>, boolean][] = [
      [[2, 4, 5, 6], [4, 3, 3, 3], conv([2, 2], [1, 1, 1, 1], [1, 1], 1, { outputPadding: [1, 1] }), false],
      [[1, 4, 5, 6], [4, 3, 3, 2], conv([2, 3], [1, 0, 0, 1], [2, 1], 2, { outputPadding: [0, 1] }), true],
      [[1, 1, 1, 1], [1, 1, 1, 1], conv([1, 1], [0, 0, 0, 0], [1, 1], 1, { outputPadding: [0, 0] }), false],
      [[2, 40, 3, 4], [40, 70, 2, 2], conv([2, 2], [0, 0, 0, 0], [1, 1], 1, { outputPadding: [0, 0] }), true],
      [[1, 6, 4, 4], [6, 1, 3, 3], conv([1, 1], [1, 1, 1, 1], [1, 1], 6, { outputPadding: [0, 0], activation: 'leakyRelu', activationAlpha: 0.2 }), true],
    ];
    let seed = 700;
    for (const [x, w, attrs, bias] of cases) {
      const xs = [input(x, seed++), input(w, seed++)];
      if (bias) xs.push(input([w[1]! * attrs.group], seed++));
      await expectAgrees('convTranspose2d', xs, attrs, (x[1]! / attrs.group) * w[2]! * w[3]!, `convTranspose2d x [${x.join(', ')}] w [${w.join(', ')}] ${JSON.stringify(attrs)}`);
    }
  }, COMPILE_TIMEOUT);

  it('conv2dFilterGrad: padding, strides, dilations, groups', async () => {
    const cases: [Shape, number, [number, number], ReturnType<typeof conv>][] = [
      [[2, 4, 9, 8], 6, [3, 3], conv([1, 1], [1, 1, 1, 1], [1, 1], 1)],
      [[2, 4, 10, 13], 6, [3, 2], conv([2, 1], [1, 0, 2, 1], [2, 2], 2)],
      [[3, 70, 4, 4], 65, [1, 1], conv([1, 1], [0, 0, 0, 0], [1, 1], 1)],
      [[1, 1, 1, 1], 1, [1, 1], conv([1, 1], [0, 0, 0, 0], [1, 1], 1)],
      [[2, 6, 7, 7], 6, [3, 3], conv([1, 1], [1, 1, 1, 1], [1, 1], 6)],
      // K = N·OH·OW large against a small output: split into chunks summed in a second pass.
      [[8, 4, 32, 32], 6, [3, 3], conv([1, 1], [1, 1, 1, 1], [1, 1], 1)],
      [[10, 4, 23, 25], 6, [3, 2], conv([1, 2], [1, 0, 1, 0], [1, 1], 2)],
    ];
    expect(filterGradChunks(6, 36, 8 * 32 * 32, 1)).toBe(8);
    expect(filterGradChunks(3, 12, 10 * 23 * 12, 2)).toBe(2); // the grouped case below
    expect(filterGradChunks(6, 4, 2 * 9 * 8, 1)).toBe(1);
    let seed = 800;
    for (const [a, outC, [kh, kw], attrs] of cases) {
      const oh = outSize(a[2]!, kh, attrs.strides[0]!, attrs.dilations[0]!, attrs.pads[0]!, attrs.pads[2]!);
      const ow = outSize(a[3]!, kw, attrs.strides[1]!, attrs.dilations[1]!, attrs.pads[1]!, attrs.pads[3]!);
      const xs = [input(a, seed++), input([a[0]!, outC, oh, ow], seed++)];
      await expectAgrees('conv2dFilterGrad', xs, { ...attrs, kernelShape: [kh, kw] }, a[0]! * oh * ow, `conv2dFilterGrad a [${a.join(', ')}] → ${outC}×[${kh}, ${kw}] ${JSON.stringify(attrs)}`);
    }
  }, COMPILE_TIMEOUT);

  it('gradients through conv2d, maxPool2d, convTranspose2d, avgPool2d and linear (the ops their gradient rules build) agree', async () => {
    // Strided, grouped, padded convolutions: the input gradients are convTranspose2d with
    // output padding and conv2d with adjusted end padding; filter gradients conv2dFilterGrad.
    const f = (x: kiln.Tensor, w: kiln.Tensor, b: kiln.Tensor, wt: kiln.Tensor, wl: kiln.Tensor, bl: kiln.Tensor): kiln.Tensor => {
      let y = kiln.conv2d(x, w, b, { stride: 2, padding: 1, groups: 2 }).relu(); // [2, 6, 6, 5]
      y = kiln.maxPool2d(y, 3, { stride: 2, padding: 1 }); // [2, 6, 3, 3]
      y = kiln.convTranspose2d(y, wt, null, { stride: 2, padding: 1, outputPadding: 1 }); // [2, 3, 6, 6]
      y = kiln.avgPool2d(y, 2, { countIncludePad: false }); // [2, 3, 3, 3]
      return kiln.linear(y.reshape([2, 27]), wl, bl).square().sum();
    };
    const args = [input([2, 4, 11, 9], 1500), input([6, 2, 3, 3], 1501), input([6], 1502), input([6, 3, 3, 3], 1503), input([5, 27], 1504), input([5], 1505)];
    const want = kiln.grad(f)(...(args as [kiln.Tensor, kiln.Tensor, kiln.Tensor, kiln.Tensor, kiln.Tensor, kiln.Tensor]));
    const got = kiln.grad(f)(...(args.map((a) => a.to('webgpu')) as [kiln.Tensor, kiln.Tensor, kiln.Tensor, kiln.Tensor, kiln.Tensor, kiln.Tensor]));
    const names = ['x', 'w', 'b', 'wt', 'wl', 'bl'];
    for (let i = 0; i < want.length; i++) {
      expect(got[i]!.shape, names[i]).toEqual(want[i]!.shape);
      const g = await got[i]!.data(), w = want[i]!.dataSync();
      // Sums of sums in float32 against float64: 1e-4 relative to max(1, |reference|).
      for (let j = 0; j < w.length; j++) {
        if (!(Math.abs(g[j]! - w[j]!) <= 1e-4 * Math.max(1, Math.abs(w[j]!)))) expect.fail(`d/d${names[i]} element ${j}: ${g[j]} vs ${w[j]}`);
      }
    }
  }, COMPILE_TIMEOUT);

  const poolCases: (readonly [Shape, PoolAttrs])[] = [
    ...POOL_2X2_SHAPES.map((s): readonly [Shape, PoolAttrs] => [s, { kernelShape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0] }]),
    ...POOL_GENERAL_CASES,
  ];

  it('maxPool2d and maxPool2dGrad are bit for bit the reference (ties, ±0, ±inf, NaN, padding)', async () => {
    let seed = 900;
    for (const [x, attrs] of poolCases) {
      const xs = input(x, seed++, { ties: true, specials: 6 });
      await expectAgrees('maxPool2d', [xs], attrs, 'exact', `maxPool2d [${x.join(', ')}] ${JSON.stringify(attrs)}`);
      const oh = outSize(x[2]!, attrs.kernelShape[0]!, attrs.strides[0]!, 1, attrs.pads[0]!, attrs.pads[2]!);
      const ow = outSize(x[3]!, attrs.kernelShape[1]!, attrs.strides[1]!, 1, attrs.pads[1]!, attrs.pads[3]!);
      await expectAgrees('maxPool2dGrad', [xs, input([x[0]!, x[1]!, oh, ow], seed++)], attrs, 'exact', `maxPool2dGrad [${x.join(', ')}] ${JSON.stringify(attrs)}`);
    }
  }, COMPILE_TIMEOUT);

  it('avgPool2d and avgPool2dGrad, with and without countIncludePad', async () => {
    let seed = 1000;
    for (const [x, base] of poolCases) {
      for (const countIncludePad of [false, true]) {
        const attrs = { ...base, countIncludePad };
        const k = base.kernelShape[0]! * base.kernelShape[1]!;
        await expectAgrees('avgPool2d', [input(x, seed++, { specials: 20 })], attrs, k, `avgPool2d [${x.join(', ')}] ${JSON.stringify(attrs)}`);
        const oh = outSize(x[2]!, base.kernelShape[0]!, base.strides[0]!, 1, base.pads[0]!, base.pads[2]!);
        const ow = outSize(x[3]!, base.kernelShape[1]!, base.strides[1]!, 1, base.pads[1]!, base.pads[3]!);
        await expectAgrees('avgPool2dGrad', [input([x[0]!, x[1]!, oh, ow], seed++)], { ...attrs, inputShape: [x[2]!, x[3]!] }, k, `avgPool2dGrad [${x.join(', ')}] ${JSON.stringify(attrs)}`);
      }
    }
  }, COMPILE_TIMEOUT);
});

/** A reference tensor from explicit values. */
const tensorOf = (data: Float32Array, shape: Shape): kiln.Tensor => kiln.tensor(data, { shape: [...shape], backend: 'reference' });

/** Batches of n×n matrices `rand(-1, 1) + diag·I`: diagonally dominant for diag ≥ n, so well conditioned. */
function dominant(shape: Shape, seed: number, diag: number): kiln.Tensor {
  const n = shape[shape.length - 1]!;
  const data = input(shape, seed).dataSync().slice() as Float32Array;
  for (let i = 0; i < data.length; i++) if (Math.floor(i / n) % n === i % n) data[i] = data[i]! + diag;
  return tensorOf(data, shape);
}

/** `op` on webgpu gives NaN for every element (the reference throws a KilnError instead: a kernel cannot stop the caller). */
async function expectAllNaN(op: string, xs: readonly kiln.Tensor[], attrs: Record<string, unknown>, what: string): Promise<void> {
  const a = attrs as Parameters<kiln.Tensor['applyOp']>[2];
  expect(() => xs[0]!.applyOp(op, xs.slice(1), a), `${what}: the reference throws`).toThrow(kiln.KilnError);
  const gpu = xs.map((x) => x.to('webgpu'));
  const got = await gpu[0]!.applyOp(op, gpu.slice(1), a)[0]!.data();
  expect(Array.from(got).every((v) => Number.isNaN(v)), `${what}: all NaN, got ${Array.from(got).slice(0, 8).join(', ')}…`).toBe(true);
}

const SOLVE_TOL = { rel: 1e-4 };

/** Like `dominant`, but the large entries on the anti-diagonal: partial pivoting must swap rows. */
function antiDominant(shape: Shape, seed: number): kiln.Tensor {
  const n = shape[shape.length - 1]!;
  const data = input(shape, seed).dataSync().slice() as Float32Array;
  for (let i = 0; i < data.length; i++) if (Math.floor(i / n) % n === n - 1 - (i % n)) data[i] = data[i]! + n;
  return tensorOf(data, shape);
}

// The solvers factor in float32 on the GPU and in float64 in the reference: errors grow
// like n·2⁻²³·cond(A). These matrices are diagonally dominant (cond < 10, n ≤ 40), so 1e-4
// relative to max(1, |reference|) holds with a wide margin.
describeWebGpu('webgpu cholesky, solveTriangular, solve, lstsq', () => {
  it('cholesky of SPD matrices (batched, symmetric part of a non-symmetric input); not positive-definite gives NaN', async () => {
    let seed = 1100;
    for (const shape of [[1, 1], [3, 3], [17, 17], [40, 40], [2, 3, 9, 9]] as const) {
      const n = shape[shape.length - 1]!;
      // M·Mᵀ + n·I plus an antisymmetric part the kernel must ignore.
      const m = input(shape, seed++);
      const spd = m.matmul(m.transpose(-2, -1)).add(kiln.eye(n, n, { backend: 'reference' }).mul(n));
      const skew = input(shape, seed++).mul(0.1);
      const a = spd.add(skew.sub(skew.transpose(-2, -1)));
      await expectAgrees('cholesky', [a], {}, SOLVE_TOL, `cholesky [${shape.join(', ')}]`);
    }
    await expectAllNaN('cholesky', [tensorOf(Float32Array.of(1, 2, 2, 1), [2, 2])], {}, 'cholesky of an indefinite matrix');
  }, COMPILE_TIMEOUT);

  it('solveTriangular: upper and lower, several columns, broadcast batch dims; a zero diagonal gives NaN', async () => {
    let seed = 1200;
    for (const [a, b] of [[[1, 1], [1, 1]], [[5, 5], [5, 3]], [[33, 33], [33, 7]], [[2, 1, 9, 9], [3, 9, 4]]] as const) {
      for (const upper of [false, true]) {
        await expectAgrees('solveTriangular', [dominant(a, seed++, 2), input(b, seed++)], { upper }, SOLVE_TOL, `solveTriangular upper=${upper} [${a.join(', ')}] \\ [${b.join(', ')}]`);
      }
    }
    await expectAllNaN('solveTriangular', [tensorOf(Float32Array.of(1, 0, 5, 0), [2, 2]), tensorOf(Float32Array.of(1, 2), [2, 1])], { upper: false }, 'a zero diagonal element');
  }, COMPILE_TIMEOUT);

  it('solve: LU with pivoting, broadcast batch dims, non-finite A gives NaN like the reference; singular A gives NaN', async () => {
    let seed = 1300;
    for (const [a, b] of [[[1, 1], [1, 1]], [[6, 6], [6, 2]], [[40, 40], [40, 5]], [[3, 1, 7, 7], [2, 7, 3]]] as const) {
      const n = a[a.length - 1]!;
      // Dominant after a row permutation too: pivoting is exercised by scaling rows down.
      await expectAgrees('solve', [dominant(a, seed++, n), input(b, seed++)], {}, SOLVE_TOL, `solve [${a.join(', ')}] \\ [${b.join(', ')}]`);
      await expectAgrees('solve', [antiDominant(a, seed++), input(b, seed++)], {}, SOLVE_TOL, `solve (anti-diagonal dominant: every column pivots) [${a.join(', ')}]`);
    }
    await expectAgrees('solve', [tensorOf(Float32Array.of(1, NaN, 2, 3), [2, 2]), tensorOf(Float32Array.of(1, 2), [2, 1])], {}, SOLVE_TOL, 'solve with a NaN in A');
    await expectAllNaN('solve', [tensorOf(Float32Array.of(1, 2, 2, 4), [2, 2]), tensorOf(Float32Array.of(1, 2), [2, 1])], {}, 'solve with a singular A');
  }, COMPILE_TIMEOUT);

  it('lstsq: tall (least squares) and wide (minimum norm), broadcast batch dims, m = 0; non-finite A gives NaN like the reference; rank-deficient A gives NaN', async () => {
    let seed = 1400;
    // Tall and wide A with orthogonal-ish columns/rows (a dominant block), so cond(A) is small.
    for (const [a, b] of [[[1, 1], [1, 1]], [[9, 4], [9, 3]], [[40, 17], [40, 2]], [[4, 9], [4, 3]], [[2, 1, 12, 5], [3, 12, 2]], [[3, 7], [3, 1]]] as const) {
      const m = a[a.length - 2]!, n = a[a.length - 1]!;
      const data = input(a, seed++).dataSync().slice() as Float32Array;
      for (let i = 0; i < data.length; i++) if (Math.floor(i / n) % m === i % n) data[i] = data[i]! + Math.max(m, n);
      await expectAgrees('lstsq', [tensorOf(data, a), input(b, seed++)], {}, SOLVE_TOL, `lstsq [${a.join(', ')}] \\ [${b.join(', ')}]`);
    }
    await expectAgrees('lstsq', [input([0, 3], seed++), input([0, 2], seed++)], {}, 'exact', 'lstsq with no equations (m = 0): zeros');
    await expectAgrees('lstsq', [tensorOf(Float32Array.of(1, 2, Infinity, 4, 5, 6), [3, 2]), input([3, 1], seed++)], {}, SOLVE_TOL, 'lstsq with an inf in A');
    await expectAllNaN('lstsq', [tensorOf(Float32Array.of(1, 2, 2, 4, 3, 6), [3, 2]), input([3, 1], seed++)], {}, 'lstsq with rank-deficient A');
  }, COMPILE_TIMEOUT);
});
