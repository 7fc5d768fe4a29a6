/**
 * The generated GEMM (src/runtime/wasm/kernels/gemmKernel.ts, gemm.ts) and caller-given
 * outputs (`outs`) of the wasm product, convolution and pool kernels:
 *  - `gemmOnHeap` against a float64 product over odd M, K, N (M = 1, K = 0 and 1, N not a
 *    multiple of 8, N < 16 and ≥ 16: both tiles), both B layouts, with and without bias,
 *    B unpacked or packed for the call (first use, by rows), packed once (seen again) and
 *    as a batch slice; every exported tile;
 *    a B flush with the end of memory (an over-read would trap);
 *  - the same bits whatever the tile, the packing or the batch (one accumulation order);
 *  - through Kiln, matmul and linear on wasm vs the float64 reference backend, NaN and ±Inf
 *    (0·Inf) included, in the same places as the reference;
 *  - each kernel given `outs` writes there and returns that same storage, with the bits of
 *    its allocating run.
 *
 * Tolerance (float32 vs float64): |got − want| ≤ 1e-5·√K·(Σ_k |a_ik·b_kj| + |bias_j|): the
 * rounding of K float32 multiply-adds, relative to the magnitudes summed, so cancellation
 * cannot make a right answer fail; K = 0 is exact.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { engine } from '../src/eager/engine.js';
import { applyOp } from '../src/eager/dispatch.js';
import type { Attrs } from '../src/ir/index.js';
import type { Kernel } from '../src/runtime/backend.js';
import type { WasmBackend, WasmStorage } from '../src/runtime/wasm/wasmBackend.js';
import { gemmOnHeap, type BLayout } from '../src/runtime/wasm/kernels/gemm.js';
import { GEMM_TILES, gemmFn, gemmKernels, gemmName, packedGemmBytes } from '../src/runtime/wasm/kernels/gemmKernel.js';
import { simdKernels } from '../src/runtime/wasm/kernels/simdElementwise.js';
import { relDiff } from './support/expectClose.js';
import { rng, sameBits } from './support/kernelChecks.js';

let wasm: WasmBackend;
beforeAll(async () => {
  await kiln.init();
  wasm = engine.backends.get('wasm') as unknown as WasmBackend;
});

const f32 = (s: WasmStorage): Float32Array => wasm.view(s) as Float32Array;

function filled(n: number, seed: number): WasmStorage {
  const s = wasm.alloc('float32', n);
  const r = rng(seed);
  f32(s).set(Float32Array.from({ length: n }, () => r() * 4 - 2));
  return s;
}

/** B[k, j] of a `layout` storage. */
const bAt = (b: Float32Array, layout: BLayout, k: number, n: number, K: number, N: number): number => (layout === 'kn' ? b[k * N + n]! : b[n * K + k]!);

/** Checks `got` [M×N] against the float64 product within the stated tolerance. */
function checkProduct(got: Float32Array, a: Float32Array, b: Float32Array, layout: BLayout, bias: Float32Array | null, M: number, K: number, N: number, what: string): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0, mag = 0;
      for (let k = 0; k < K; k++) {
        const p = a[i * K + k]! * bAt(b, layout, k, j, K, N);
        s += p;
        mag += Math.abs(p);
      }
      if (bias) {
        s += bias[j]!;
        mag += Math.abs(bias[j]!);
      }
      const err = Math.abs(got[i * N + j]! - s);
      if (!(err <= 1e-5 * Math.sqrt(K) * mag)) expect.fail(`${what}: C[${i}, ${j}] = ${got[i * N + j]}, want ${s} (error ${err}, magnitude ${mag})`);
    }
  }
}

const SIZES_M = [1, 2, 3, 5, 9, 17]; // 17 ≥ PACK_MIN_ROWS: a first-use B packed for the call
const SIZES_K = [0, 1, 3, 17, 64];
const SIZES_N = [1, 3, 8, 10, 16, 17, 33];

describe('gemmOnHeap vs a float64 product', () => {
  for (const layout of ['kn', 'nk'] as const) {
    for (const withBias of [false, true]) {
      it(`B ${layout}${withBias ? ', bias' : ''}: every M×K×N of {${SIZES_M}}×{${SIZES_K}}×{${SIZES_N}}, unpacked then packed`, () => {
        for (const M of SIZES_M) {
          for (const K of SIZES_K) {
            for (const N of SIZES_N) {
              const a = filled(M * K, M * 31 + K), b = filled(K * N, K * 7 + N + 1), bias = withBias ? filled(N, N + 3) : null;
              const out = wasm.alloc('float32', M * N);
              const what = `${M}×${K}×${N} ${layout}`;
              // First use (kn: unpacked), then the same B again (packed once, cached).
              gemmOnHeap(wasm, a.ptr, M, K, b, layout, N, bias ? bias.ptr : 0, out.ptr);
              const first = f32(out).slice();
              checkProduct(first, f32(a), f32(b), layout, bias && f32(bias), M, K, N, what);
              f32(out).fill(NaN);
              gemmOnHeap(wasm, a.ptr, M, K, b, layout, N, bias ? bias.ptr : 0, out.ptr);
              sameBits(f32(out), first, `${what}: packed vs first use`);
              // The same B as a slice of a bigger storage (never cached).
              const big = wasm.alloc('float32', 5 + K * N);
              f32(big).set(f32(b), 5);
              gemmOnHeap(wasm, a.ptr, M, K, big, layout, N, bias ? bias.ptr : 0, out.ptr, 5);
              sameBits(f32(out), first, `${what}: as a slice`);
              for (const s of [a, b, out, big, ...(bias ? [bias] : [])]) wasm.free(s);
            }
          }
        }
      });
    }
  }

  it('one storage as B in both layouts and two shapes, in turn: each use packs what it needs', () => {
    const M = 3, K = 6, N = 10; // B [6, 10] (kn) or W [10, 6] (nk); reshaped: [12, 5] / [5, 12]
    const a = filled(M * 12, 8), b = filled(K * N, 9), out = wasm.alloc('float32', M * 12);
    const uses: [BLayout, number, number][] = [['kn', K, N], ['kn', K, N], ['nk', K, N], ['kn', 12, 5], ['nk', 12, 5], ['kn', K, N], ['nk', K, N]];
    for (const [layout, k, n] of uses) {
      gemmOnHeap(wasm, a.ptr, M, k, b, layout, n, 0, out.ptr);
      checkProduct(f32(out).subarray(0, M * n), f32(a).subarray(0, M * k), f32(b), layout, null, M, k, n, `${layout} ${k}×${n}`);
    }
    for (const s of [a, b, out]) wasm.free(s);
  });

  it('packT (a W [N, K]) writes the bits pack writes, NaN payloads included', () => {
    const kernels = gemmKernels(wasm.memory);
    for (const [K, N] of [[1, 1], [3, 8], [4, 8], [7, 17], [16, 24], [33, 13]] as const) {
      const w = filled(N * K, K * 100 + N), bytes = packedGemmBytes(K, N);
      new Uint32Array(wasm.memory.buffer, w.ptr, N * K)[N * K - 1] = 0x7fc01234; // a NaN with a payload
      const viaPack = wasm.alloc('float32', bytes / 4), viaPackT = wasm.alloc('float32', bytes / 4);
      f32(viaPackT).fill(NaN);
      kernels.pack(w.ptr, 4, K * 4, K, N, viaPack.ptr);
      kernels.packT(w.ptr, K, N, viaPackT.ptr);
      expect(Array.from(new Uint32Array(wasm.memory.buffer, viaPackT.ptr, bytes / 4)), `${N}×${K}`)
        .toEqual(Array.from(new Uint32Array(wasm.memory.buffer, viaPack.ptr, bytes / 4)));
      for (const s of [w, viaPack, viaPackT]) wasm.free(s);
    }
  });

  it('every exported tile gives the same bits on packed B (odd M, N, K)', () => {
    const M = 13, K = 19, N = 37;
    const a = filled(M * K, 1), b = filled(K * N, 2), bias = filled(N, 3);
    const kernels = gemmKernels(wasm.memory);
    const packed = wasm.alloc('float32', packedGemmBytes(K, N) / 4 + 8);
    kernels.pack(b.ptr, N * 4, 4, K, N, packed.ptr);
    const edgeBias = packed.ptr + packedGemmBytes(K, N);
    f32(packed).set([...f32(bias).subarray(32), 0, 0, 0], packedGemmBytes(K, N) / 4);
    const full = N >> 3;
    let want: Float32Array | null = null;
    for (const tile of GEMM_TILES) {
      const out = wasm.alloc('float32', M * N);
      gemmFn(kernels, tile)(a.ptr, K * 4, packed.ptr, 32, K * 32, packed.ptr + full * K * 32, bias.ptr, edgeBias, out.ptr, N * 4, M, N, K, 0);
      if (want) sameBits(f32(out), want, gemmName(tile));
      else {
        want = f32(out).slice();
        checkProduct(want, f32(a), f32(b), 'kn', f32(bias), M, K, N, gemmName(tile));
      }
      wasm.free(out);
    }
    for (const s of [a, b, bias, packed]) wasm.free(s);
  });

  it('relu ≠ 0: every tile gives the bits of the relu kernel run on its output (NaN kept), edge panel and K = 0 included', () => {
    const M = 7, N = 21; // 2 full panels and an edge panel of 5 columns
    const relu = simdKernels(wasm.memory, 'relu')['relu']!;
    const kernels = gemmKernels(wasm.memory);
    for (const K of [0, 11]) {
      const a = filled(Math.max(M * K, 1), 10 + K), b = filled(Math.max(K * N, 1), 11), bias = filled(N, 12);
      if (K) f32(a)[3 * K + 2] = NaN; // row 3 all NaN
      const packed = wasm.alloc('float32', packedGemmBytes(K, N) / 4 + 8);
      kernels.pack(b.ptr, N * 4, 4, K, N, packed.ptr);
      const edgeBias = packed.ptr + packedGemmBytes(K, N);
      f32(packed).set([...f32(bias).subarray(16), 0, 0, 0], packedGemmBytes(K, N) / 4);
      for (const tile of GEMM_TILES) {
        const plain = wasm.alloc('float32', M * N), fused = wasm.alloc('float32', M * N);
        const run = (out: WasmStorage, r: number) => gemmFn(kernels, tile)(a.ptr, K * 4, packed.ptr, 32, K * 32, packed.ptr + 2 * K * 32, bias.ptr, edgeBias, out.ptr, N * 4, M, N, K, r);
        run(plain, 0);
        run(fused, 1);
        expect(Array.from(f32(plain)).some((v) => v < 0), 'some outputs negative before ReLU').toBe(true);
        if (K) expect(Number.isNaN(f32(plain)[3 * N]!)).toBe(true);
        relu(plain.ptr, plain.ptr, 1, M * N, 0, 0, 0);
        sameBits(f32(fused), f32(plain), `${gemmName(tile)} K=${K}`);
        wasm.free(plain);
        wasm.free(fused);
      }
      for (const s of [a, b, bias, packed]) wasm.free(s);
    }
  });

  it('one row of A on a cached B (the GEMV on its own layout: 3-panel groups, then panels, then the edge) has the bits of that row in a batch, with bias and ReLU', () => {
    const M = 5, K = 37;
    for (const N of [1, 7, 8, 16, 23, 24, 25, 40, 47, 48, 49, 72, 517]) {
      for (const [withBias, relu] of [[false, false], [true, false], [true, true]] as const) {
        const a = filled(M * K, N), w = filled(N * K, N + 1), bias = filled(N, N + 2);
        f32(a)[2 * K + 5] = NaN; // row 2: NaN everywhere
        const all = wasm.alloc('float32', M * N), one = wasm.alloc('float32', N);
        gemmOnHeap(wasm, a.ptr, M, K, w, 'nk', N, withBias ? bias.ptr : 0, all.ptr, -1, relu);
        if (relu) expect(Array.from(f32(all)).some((v) => v === 0), `N=${N}: some outputs ReLU'd`).toBe(true);
        for (let i = 0; i < M; i++) {
          gemmOnHeap(wasm, a.ptr + i * K * 4, 1, K, w, 'nk', N, withBias ? bias.ptr : 0, one.ptr, -1, relu);
          sameBits(f32(one), f32(all).subarray(i * N, (i + 1) * N), `N=${N} bias=${withBias} relu=${relu} row ${i}`);
        }
        expect(Array.from(f32(all).subarray(2 * N, 3 * N)).every(Number.isNaN), `N=${N}: row 2 NaN (ReLU keeps it)`).toBe(true);
        if (!relu) {
          for (const r0 of [0, 3]) checkProduct(f32(all).subarray(r0 * N, (r0 + 2) * N), f32(a).subarray(r0 * K, (r0 + 2) * K), f32(w), 'nk', withBias ? f32(bias) : null, 2, K, N, `N=${N} rows ${r0}–${r0 + 1}`);
        }
        for (const s of [a, w, bias, all, one]) wasm.free(s);
      }
    }
  });

  it('a row computed alone has the bits it has inside a batch (any tile, any row block)', () => {
    const M = 300, K = 300, N = 21; // 300 rows: more than one row block of K = 300
    const a = filled(M * K, 4), b = filled(K * N, 5);
    const all = wasm.alloc('float32', M * N), one = wasm.alloc('float32', N);
    gemmOnHeap(wasm, a.ptr, M, K, b, 'kn', N, 0, all.ptr);
    for (const i of [0, 1, 2, 3, 4, 217, 299]) {
      gemmOnHeap(wasm, a.ptr + i * K * 4, 1, K, b, 'kn', N, 0, one.ptr);
      sameBits(f32(one), f32(all).subarray(i * N, (i + 1) * N), `row ${i}`);
    }
    for (const s of [a, b, all, one]) wasm.free(s);
  });

  it('reads nothing past an unpacked B (placed flush with the end of memory, where an over-read traps)', () => {
    const M = 3, K = 5, N = 13;
    const a = filled(M * K, 6), out = wasm.alloc('float32', M * N);
    const h = new Float32Array(wasm.memory.buffer);
    const at = h.length - K * N;
    const saved = h.slice(at);
    const r = rng(7);
    const b = Float32Array.from({ length: K * N }, () => r() * 2 - 1);
    try {
      h.set(b, at);
      // A throwaway storage object over those bytes: first use, so it runs unpacked.
      const view: WasmStorage = { dtype: 'float32', size: K * N, refs: 1, version: 0, ptr: at * 4, id: 0 };
      gemmOnHeap(wasm, a.ptr, M, K, view, 'kn', N, 0, out.ptr);
      checkProduct(f32(out), f32(a), b, 'kn', null, M, K, N, 'B at the end of memory');
    } finally {
      new Float32Array(wasm.memory.buffer).set(saved, at);
    }
    wasm.free(a);
    wasm.free(out);
  });
});

describe('through Kiln: wasm vs the float64 reference', () => {
  /** Same values as float32 on wasm and float64 on reference, with `special` written at the given flat indices. */
  function pair(shape: number[], seed: number, special: [number, number][] = []): [kiln.Tensor, kiln.Tensor] {
    const r = rng(seed);
    const v = Float32Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => r() * 2 - 1);
    for (const [i, x] of special) v[i] = x;
    return [kiln.tensor(v, { shape, backend: 'wasm' }), kiln.tensor(Float64Array.from(v), { shape, dtype: 'float64', backend: 'reference' })];
  }

  const cases: { what: string; shapes: number[][]; special: [number, number][][]; f: (...t: kiln.Tensor[]) => kiln.Tensor }[] = [
    { what: 'matmul 7×13 · 13×11, NaN in A, +Inf and −Inf in B (0·Inf where A has a zero)', shapes: [[7, 13], [13, 11]], special: [[[3, NaN], [20, 0]], [[7 * 11 + 4, Infinity], [11 + 9, -Infinity]]], f: (a, b) => a.matmul(b) },
    { what: 'matmul M = 1 (GEMV) 1×33 · 33×40 with an Inf in A', shapes: [[1, 33], [33, 40]], special: [[[5, Infinity]], []], f: (a, b) => a.matmul(b) },
    { what: 'batched matmul 3×5×6 · 3×6×9 with NaN in one B slice', shapes: [[3, 5, 6], [3, 6, 9]], special: [[], [[60, NaN]]], f: (a, b) => a.matmul(b) },
    { what: 'linear 6×9 · (10×9)ᵀ + b with NaN in W and −Inf in the bias', shapes: [[6, 9], [10, 9], [10]], special: [[], [[2 * 9 + 4, NaN]], [[7, -Infinity]]], f: (x, w, b) => kiln.linear(x, w, b) },
    { what: 'linear K = 1', shapes: [[4, 1], [17, 1], [17]], special: [], f: (x, w, b) => kiln.linear(x, w, b) },
    { what: 'matmul K = 0 (zeros) and linear K = 0 (the bias)', shapes: [[3, 0], [5, 0], [5]], special: [], f: (x, w, b) => kiln.linear(x, w, b).add(x.matmul(w.transpose(0, 1))) },
  ];
  for (const c of cases) {
    it(c.what, () => {
      kiln.scope(() => {
        const ps = c.shapes.map((s, i) => pair(s, 40 + i, c.special[i] ?? []));
        const got = c.f(...ps.map((p) => p[0])), want = c.f(...ps.map((p) => p[1]));
        const K = Math.max(1, c.shapes[0]!.at(-1)!);
        // relDiff asserts NaN and ±Inf where the reference has them; finite values within 1e-5·√K of the largest.
        expect(relDiff(got, want)).toBeLessThanOrEqual(1e-5 * Math.sqrt(K) * 4);
      });
    });
  }

  it('a linear weight written in place is repacked; a matmul B seen again is packed with the same bits', () => {
    kiln.scope(() => {
      const x = kiln.randn([5, 12], { seed: 1 }), w = kiln.randn([20, 12], { seed: 2 }), b = kiln.randn([12, 20], { seed: 3 });
      const y1 = kiln.linear(x, w).toArray();
      kiln.noGrad(() => w.mul_(2));
      const y2 = kiln.linear(x, w).dataSync();
      const flat = (y1 as number[][]).flat();
      for (let i = 0; i < flat.length; i++) expect(y2[i]).toBe(Math.fround(flat[i]! * 2));
      const m1 = x.matmul(b).dataSync(), m2 = x.matmul(b).dataSync();
      sameBits(m2 as Float32Array, m1 as Float32Array, 'matmul: packed (second) vs unpacked (first)');
    });
  });
});

describe('caller-given outputs (outs)', () => {
  /**
   * Runs `op` eagerly, then again with its wasm kernel handed a given output (filled with
   * NaN): the kernel must return that storage, holding the bits of the first run.
   */
  function honoursOuts(op: string, inputs: kiln.Tensor[], attrs: Attrs): void {
    kiln.scope(() => {
      const want = applyOp(op, inputs, attrs)[0]!.dataSync() as Float32Array;
      const real = wasm.kernels.get(op)!;
      let given: WasmStorage | null = null, returned: WasmStorage | null = null;
      const spy: Kernel<WasmStorage> = (ins, at, types, outs) => {
        expect(outs).toBeUndefined();
        given = wasm.alloc('float32', types[0]!.shape.reduce((p, d) => p * d, 1));
        f32(given).fill(NaN);
        const r = real(ins, at, types, [given]);
        returned = r[0]!;
        return r;
      };
      wasm.kernels.set(op, spy);
      let got: Float32Array;
      try {
        got = applyOp(op, inputs, attrs)[0]!.dataSync() as Float32Array;
      } finally {
        wasm.kernels.set(op, real);
      }
      expect(returned, `${op} returns the given storage`).toBe(given);
      sameBits(got, want, `${op} into the given storage`);
    });
  }

  const r = (shape: number[], seed: number): kiln.Tensor => kiln.randn(shape, { seed });
  const conv = { strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 };

  it('linear (no activation, relu in place, sigmoid through its own kernel), matmul (2-D, batched), transpose', () => {
    honoursOuts('linear', [r([5, 9], 1), r([10, 9], 2), r([10], 3)], {});
    honoursOuts('linear', [r([5, 9], 1), r([10, 9], 2), r([10], 3)], { activation: 'relu' });
    honoursOuts('linear', [r([5, 9], 1), r([10, 9], 2)], { activation: 'sigmoid' });
    honoursOuts('matmul', [r([7, 5], 4), r([5, 19], 5)], {});
    honoursOuts('matmul', [r([3, 4, 5], 6), r([3, 5, 6], 7)], {});
    honoursOuts('transpose', [r([3, 5, 7], 8)], { perm: [2, 0, 1] });
  });

  it('conv2d (dense, depthwise, grouped; activation), convTranspose2d (stride 1, 2), conv2dFilterGrad', () => {
    honoursOuts('conv2d', [r([2, 3, 7, 6], 9), r([5, 3, 3, 3], 10), r([5], 11)], conv);
    honoursOuts('conv2d', [r([2, 3, 7, 6], 9), r([5, 3, 3, 3], 10)], { ...conv, activation: 'relu' });
    honoursOuts('conv2d', [r([1, 4, 6, 6], 12), r([4, 1, 3, 3], 13)], { ...conv, group: 4 });
    honoursOuts('conv2d', [r([1, 4, 6, 6], 12), r([6, 2, 3, 3], 14)], { ...conv, group: 2 });
    honoursOuts('convTranspose2d', [r([2, 4, 5, 5], 15), r([4, 3, 3, 3], 16), r([3], 17)], { ...conv, outputPadding: [0, 0] });
    honoursOuts('convTranspose2d', [r([2, 4, 5, 5], 15), r([4, 3, 3, 3], 16)], { ...conv, strides: [2, 2], outputPadding: [1, 1] });
    honoursOuts('conv2dFilterGrad', [r([2, 3, 7, 6], 18), r([2, 5, 7, 6], 19)], { ...conv, kernelShape: [3, 3] });
  });

  it('maxPool2d, avgPool2d, maxPool2dGrad, and the NHWC conv2d and pools', () => {
    const pool = { kernelShape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0] };
    honoursOuts('maxPool2d', [r([2, 3, 6, 7], 20)], pool);
    honoursOuts('avgPool2d', [r([2, 3, 6, 7], 21)], { ...pool, countIncludePad: true });
    honoursOuts('maxPool2dGrad', [r([2, 3, 6, 6], 22), r([2, 3, 3, 3], 23)], pool);
    honoursOuts('conv2dNhwc', [r([2, 6, 7, 3], 24), r([3, 3, 3, 5], 25), r([5], 26)], conv);
    honoursOuts('maxPool2dNhwc', [r([2, 6, 7, 3], 27)], pool);
    honoursOuts('avgPool2dNhwc', [r([2, 6, 7, 3], 28)], { ...pool, countIncludePad: false });
  });
});
