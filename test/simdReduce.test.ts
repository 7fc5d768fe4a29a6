/**
 * The generated WebAssembly SIMD sums (src/runtime/wasm/kernels/simdReduce.ts):
 *  - `sumLayout` maps reductions onto the `runs` / `cols` kernels (size-1 axes dropped,
 *    neighbours merged) and declines the rest;
 *  - through Kiln, float32 sums on the wasm backend agree with the reference backend (float64
 *    accumulation, one rounding) on awkward shapes: runs and columns of every length mod 16,
 *    leftover rows of every count mod 4, batches, size-1 axes, BatchNorm's [0, 2, 3];
 *    NaN, ±Infinity, overflow and -0 behave as there;
 *  - over ~10⁶ elements of mixed sign and nonzero mean the results stay within 1 ulp of
 *    the reference (far inside the 1e-5·√K·max(1, |ref|) tolerance) and within float64
 *    reordering error of the exact sums (a float32 accumulator is several ulps off);
 *  - called directly on the heap at misaligned addresses, every unrolling of both kernels
 *    gives the exact sums of exactly summable data and writes nothing outside its output
 *    and its scratch;
 *  - routing: float32 sums never call tfjs's float32-accumulating `_Sum` (short rows
 *    included); int32 sums still do;
 *  - BatchNorm2d's forward and backward agree across backends.
 */
import { beforeAll, describe, expect, it, vi, type MockInstance } from 'vitest';
import * as kiln from '../src/index.js';
import { rng } from './support/kernelChecks.js';
import { engine } from '../src/eager/engine.js';
import { simdReduceModule, sumLayout, type ReduceGen, type ReduceKernels } from '../src/runtime/wasm/kernels/simdReduce.js';
import type { WasmBackend } from '../src/runtime/wasm/wasmBackend.js';
import { kernelsOn } from '../src/runtime/wasm/wasmAssembler.js';
import { loadWasmModule } from '../src/runtime/wasm/wasmModule.js';

let nativeSum: MockInstance;
let wasm: WasmBackend;
beforeAll(async () => {
  // Spies must exist before the backend binds the exports at init.
  const mod = await loadWasmModule();
  nativeSum = vi.spyOn(mod, '_Sum');
  await kiln.init({ backend: 'wasm' });
  wasm = engine.backends.get('wasm') as unknown as WasmBackend;
});

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Mixed-sign float32 values with a nonzero mean (`mean` + uniform(-scale, scale)). */
function values(n: number, seed: number, mean = 0.3, scale = 2): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + (r() * 2 - 1) * scale;
  return out;
}

/** Sum of `x` (row-major `shape`) over `axes` in float64, and the sum of |x| per output. */
function model(x: Float32Array, shape: readonly number[], axes: readonly number[]): { sum: Float64Array; abs: Float64Array; count: number } {
  const r = shape.length;
  const outStrides = new Array<number>(r).fill(0);
  let acc = 1, count = 1;
  for (let d = r - 1; d >= 0; d--) {
    if (axes.includes(d)) count *= shape[d]!;
    else { outStrides[d] = acc; acc *= shape[d]!; }
  }
  const sum = new Float64Array(acc), abs = new Float64Array(acc);
  const idx = new Array<number>(r).fill(0);
  for (let i = 0; i < x.length; i++) {
    let o = 0;
    for (let d = 0; d < r; d++) o += idx[d]! * outStrides[d]!;
    sum[o] += x[i]!;
    abs[o] += Math.abs(x[i]!);
    for (let d = r - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return { sum, abs, count };
}

/** One ulp of float32 at |v|. */
function ulp(v: number): number {
  const a = Math.abs(Math.fround(v));
  if (a < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

/**
 * Float64 accumulation: within 1 ulp of the float64 model's rounding plus float64-sized
 * reordering error (2⁻⁴⁰·Σ|x|). A float32 accumulator is off by ~2⁻²⁴·√K·|x| and fails.
 */
function expectFloat64Accurate(got: ArrayLike<number>, m: { sum: Float64Array; abs: Float64Array }, what: string): void {
  expect(got.length, what).toBe(m.sum.length);
  for (let i = 0; i < got.length; i++) {
    const w = m.sum[i]!, g = got[i]!;
    if (Math.abs(g - w) > ulp(w) + 2 ** -40 * m.abs[i]!) expect.fail(`${what}: element ${i} is ${g}, expected ${Math.fround(w)} (float64 ${w})`);
  }
}

/** `x.sum(axes)` on both backends from the same data. */
function onBoth(data: Float32Array, shape: number[], axes: number[]): [Float32Array, Float32Array] {
  return kiln.scope(() => {
    const [w, r] = (['wasm', 'reference'] as const).map((backend) =>
      kiln.tensor(data, { shape, backend }).sum(axes).dataSync() as Float32Array);
    return [w!, r!];
  });
}

describe('sumLayout', () => {
  it('maps reductions onto runs / cols and declines the rest', () => {
    expect(sumLayout([64, 32, 28, 28], [0, 2, 3])).toEqual({ kind: 'runs', batch: 64, runs: 32, len: 784, acc: 32 });
    expect(sumLayout([64, 128], [0])).toEqual({ kind: 'cols', batch: 1, rows: 64, len: 128, acc: 128 });
    expect(sumLayout([7, 9], [1])).toEqual({ kind: 'runs', batch: 1, runs: 7, len: 9, acc: 7 });
    expect(sumLayout([5, 6, 7], [0, 1, 2])).toEqual({ kind: 'runs', batch: 1, runs: 1, len: 210, acc: 1 });
    expect(sumLayout([3, 4, 5], [1])).toEqual({ kind: 'cols', batch: 3, rows: 4, len: 5, acc: 5 });
    // Size-1 axes vanish; neighbours of a kind merge.
    expect(sumLayout([1, 8, 1, 3, 5], [0, 1, 2])).toEqual({ kind: 'cols', batch: 1, rows: 8, len: 15, acc: 15 });
    expect(sumLayout([2, 3, 1, 4, 5], [0, 3, 4])).toEqual({ kind: 'runs', batch: 2, runs: 3, len: 20, acc: 3 });
    expect(sumLayout([6, 1], [1])).toBeNull(); // nothing of size > 1 reduced
    expect(sumLayout([6, 4], [])).toBeNull();
    expect(sumLayout([], [])).toBeNull();
    expect(sumLayout([2, 3, 4, 5], [0, 2])).toBeNull(); // [R, K, R, K]
    expect(sumLayout([2, 3, 4, 5], [1, 3])).toBeNull(); // [K, R, K, R]
  });
});

// Shapes and axes: every run length 1…40 (v128 leftovers 0–3, scalar tails 0–3, 0–2 full
// iterations), column widths 1…21, row counts 1…13 (leftover rows 0–3), batches.
const CASES: [number[], number[]][] = [
  ...Array.from({ length: 40 }, (_x, i): [number[], number[]] => [[3, 2, i + 1], [0, 2]]),
  ...Array.from({ length: 40 }, (_x, i): [number[], number[]] => [[5, i + 1], [1]]),
  ...Array.from({ length: 21 }, (_x, i): [number[], number[]] => [[7, i + 1], [0]]),
  ...Array.from({ length: 13 }, (_x, i): [number[], number[]] => [[2, i + 1, 9], [1]]),
  [[64, 32, 28, 28], [0, 2, 3]], [[64, 64, 14, 14], [0, 2, 3]], [[8, 3, 5, 5], [0, 2, 3]], [[2, 7, 2, 2], [0, 2, 3]],
  [[64, 128], [0]], [[64, 10], [0]], [[64, 10], [1]], [[64], [0]], [[1], [0]], [[3], [0]], [[128, 784], [1]], [[70, 200], [1]],
  [[33, 17, 65], [1]], [[9, 130, 3], [0, 2]], [[1, 5, 1, 6], [0, 1, 2]], [[4, 1, 3, 1], [1, 3]], [[2, 3, 4, 5], [0, 2]],
  [[2, 3, 4, 5], [0, 1, 2, 3]], [[6, 5], []], [[5, 4, 3], [2, 0]],
];

describe('wasm sums agree with the reference backend (float64 accumulation)', () => {
  it(`${CASES.length} shapes and axes, mixed-sign values`, () => {
    let seed = 1;
    nativeSum.mockClear();
    for (const [shape, axes] of CASES) {
      const data = values(sizeOf(shape), seed++);
      const [got, want] = onBoth(data, shape, axes);
      const what = `[${shape.join(',')}] over [${axes.join(',')}]`;
      const m = model(data, shape, axes);
      expectFloat64Accurate(want, m, `${what} (reference)`);
      expectFloat64Accurate(got, m, what);
    }
    // Every float32 sum accumulates in float64, short rows included.
    expect(nativeSum).not.toHaveBeenCalled();
  });

  it('NaN, ±Infinity, float32 overflow and -0 as the reference backend', () => {
    const shape = [3, 4, 70];
    const data = values(sizeOf(shape), 7);
    data[5] = NaN; // run (0, 0)
    data[70 + 1] = Infinity; data[70 + 30] = -Infinity; // run (0, 1): ∞ − ∞
    data[2 * 70 + 69] = Infinity; // run (0, 2), in the scalar tail
    for (let j = 0; j < 70; j++) data[3 * 70 + j] = 3e38; // run (0, 3): beyond float32 in sum
    for (const axes of [[0, 2], [2], [0], [1]]) {
      const [got, want] = onBoth(data, shape, axes);
      expect(Array.from(got), `over [${axes.join(',')}]`).toEqual(Array.from(want));
    }
    const [s] = onBoth(data, shape, [0, 2]);
    expect(Number.isNaN(s[0])).toBe(true);
    expect(Number.isNaN(s[1])).toBe(true);
    expect(s[2]).toBe(Infinity);
    expect(s[3]).toBe(Infinity);
    // Sums of -0 are +0 (the accumulators start at +0), on both backends.
    for (const [shape0, axes] of [[[2, 3, 5], [0, 2]], [[6, 8], [0]], [[3, 70], [1]]] as [number[], number[]][]) {
      const [g, w] = onBoth(new Float32Array(sizeOf(shape0)).fill(-0), shape0, axes);
      for (let i = 0; i < g.length; i++) {
        expect(Object.is(g[i], 0)).toBe(true);
        expect(Object.is(w[i], 0)).toBe(true);
      }
    }
  });
});

describe('large reductions: K up to ~10⁶, mixed sign, nonzero mean', () => {
  const LARGE: [number[], number[]][] = [
    [[1 << 20], [0]], // one run of 1,048,576
    [[3, 1 << 18], [1]], // three runs of 262,144
    [[1000, 2, 499], [0, 2]], // runs: K = 499,000 per channel, batch 1000
    [[1 << 18, 4], [0]], // cols: 262,144 rows of 4
    [[4, 250001, 2], [1]], // cols with a batch, odd rows
    [[100003, 10], [0]], // cols: 10 wide (a v128 pair and a scalar tail)
  ];
  for (const [shape, axes] of LARGE) {
    it(`[${shape.join(', ')}] over [${axes.join(', ')}]`, () => {
      const data = values(sizeOf(shape), sizeOf(shape) % 1000, 0.25, 1);
      const [got, want] = onBoth(data, shape, axes);
      const m = model(data, shape, axes);
      expectFloat64Accurate(got, m, 'wasm');
      for (let i = 0; i < got.length; i++) {
        const tol = 1e-5 * Math.sqrt(m.count) * Math.max(1, Math.abs(want[i]!));
        expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(tol);
        // Measured: at most 1 ulp apart from the reference (both round a float64 sum once).
        expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(ulp(want[i]!));
      }
      // The mean (0.25) dominates: these are large sums, not cancellations.
      expect(Math.abs(got[0]!)).toBeGreaterThan(0.1 * m.count);
    });
  }
});

// ---- direct calls on the heap ------------------------------------------------------------

describe('generated kernels on the heap (unrollings, misaligned addresses, guard words)', () => {
  const GUARD = 0xdeadbeef;
  const PAD = 8;
  /** Heap space for `words` 4-byte words at an address `mis` past a 16-byte boundary, with guard words each side. */
  function block(words: number, mis: number): { at: number; guardsIntact: () => boolean; free: () => void } {
    const raw = wasm.module._malloc((words + 2 * PAD) * 4 + 32);
    const base = ((raw + 15) & ~15) + mis;
    const at = base + PAD * 4;
    const all = (): Uint32Array => new Uint32Array(wasm.memory.buffer, base, words + 2 * PAD);
    all().fill(GUARD);
    return {
      at,
      guardsIntact: () => {
        const v = all();
        for (let i = 0; i < PAD; i++) if (v[i] !== GUARD || v[PAD + words + i] !== GUARD) return false;
        return true;
      },
      free: () => wasm.module._free(raw),
    };
  }

  /**
   * Exactly summable data: integers in [-1000, 1000] plus multiples of 2⁻¹² (exact in
   * float32 and in every float64 partial sum here; a float32 accumulator would round).
   */
  function exactValues(n: number, seed: number): Float32Array {
    const r = rng(seed);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 2001) - 1000 + Math.floor(r() * 4096) / 4096;
    return out;
  }

  const GENS: ReduceGen[] = [
    { runLoads: 4, colRows: 4 }, { runLoads: 1, colRows: 1 }, { runLoads: 2, colRows: 2 }, { runLoads: 8, colRows: 8 },
  ];
  const SHAPES: [number, number, number][] = [
    [1, 1, 1], [1, 1, 3], [1, 1, 4], [1, 1, 15], [1, 1, 16], [1, 1, 17], [1, 1, 63], [1, 1, 64], [1, 1, 65], [1, 1, 131],
    [3, 5, 7], [2, 3, 33], [5, 1, 129], [4, 9, 12], [1, 17, 5], [7, 2, 1], [2, 9, 2], [3, 13, 21], [1, 8, 8], [6, 4, 100],
  ];

  for (const g of GENS) {
    it(`runLoads ${g.runLoads}, colRows ${g.colRows}: exact sums, nothing written outside`, () => {
      const k = kernelsOn<ReduceKernels>(wasm.memory, `simdReduce test ${JSON.stringify(g)}`, () => simdReduceModule(g));
      let seed = 11;
      for (const [b, m, len] of SHAPES) {
        for (const kind of ['runs', 'cols'] as const) {
          const n = b * m * len;
          const data = exactValues(n, seed++);
          // runs: [b, m, len] over [0, 2]; cols: [b, m, len] over [1].
          const shape = [b, m, len], axes = kind === 'runs' ? [0, 2] : [1];
          const want = model(data, shape, axes).sum;
          const accN = kind === 'runs' ? m : len;
          const src = block(n, 4), dst = block(want.length, 12), acc = block(2 * accN, 8);
          new Float32Array(wasm.memory.buffer, src.at, n).set(data);
          if (kind === 'runs') k.runs(src.at, dst.at, acc.at, len, m, b);
          else k.cols(src.at, dst.at, acc.at, len, m, b);
          const got = new Float32Array(wasm.memory.buffer, dst.at, want.length);
          const what = `${kind} [${shape.join(',')}]`;
          for (let i = 0; i < want.length; i++) if (got[i] !== Math.fround(want[i]!)) expect.fail(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
          expect(Array.from(new Float32Array(wasm.memory.buffer, src.at, n)), `${what}: source untouched`).toEqual(Array.from(data));
          expect(src.guardsIntact() && dst.guardsIntact() && acc.guardsIntact(), `${what}: guard words`).toBe(true);
          src.free(); dst.free(); acc.free();
        }
      }
    });
  }

  it('rejects unrollings that are not 1, 2, 4 or 8', () => {
    expect(() => simdReduceModule({ runLoads: 3, colRows: 4 })).toThrow(/unrolling/);
    expect(() => simdReduceModule({ runLoads: 4, colRows: 16 })).toThrow(/unrolling/);
  });
});

describe('routing', () => {
  it('the kernels take their layouts, many short rows included; int32 goes to _Sum', () => {
    kiln.scope(() => {
      nativeSum.mockClear();
      kiln.randn([8, 4, 6, 6], { seed: 1 }).sum([0, 2, 3]).dataSync();
      kiln.randn([64, 128], { seed: 1 }).sum(0).dataSync();
      kiln.randn([16, 100], { seed: 1 }).sum(1).dataSync();
      kiln.randn([3, 5], { seed: 1 }).sum().dataSync(); // one run
      expect(nativeSum).not.toHaveBeenCalled();
      kiln.randn([64, 10], { seed: 1 }).sum(1).dataSync();
      expect(nativeSum).not.toHaveBeenCalled();
      const i = kiln.tensor([1, 2, 3, 4, 5, 6], { shape: [2, 3], dtype: 'int32' });
      expect(i.sum(0).toArray()).toEqual([5, 7, 9]);
      expect(i.sum(1).toArray()).toEqual([6, 15]);
      expect(nativeSum).toHaveBeenCalledTimes(1);
    });
  });

  it('empty inputs and reductions of nothing', () => {
    kiln.scope(() => {
      expect(kiln.zeros([0, 3]).sum(0).toArray()).toEqual([0, 0, 0]);
      expect(kiln.zeros([2, 0, 3]).sum([0, 1]).toArray()).toEqual([0, 0, 0]);
      expect(kiln.tensor([[1, 2], [3, 4]]).sum([]).toArray()).toEqual([[1, 2], [3, 4]]);
      expect(kiln.tensor([[1.5, 2]]).sum(0).toArray()).toEqual([1.5, 2]);
    });
  });
});

describe('BatchNorm2d (sums over [0, 2, 3] and their gradients) across backends', () => {
  it('forward output, input and parameter gradients agree', () => {
    kiln.scope(() => {
      const shape = [6, 5, 7, 9];
      const data = values(sizeOf(shape), 5, 0.7, 3);
      const res = (['wasm', 'reference'] as const).map((backend) => {
        kiln.manualSeed(0);
        const bn = new kiln.nn.BatchNorm2d(5, { backend });
        const x = kiln.tensor(data, { shape, backend, requiresGrad: true });
        const w = kiln.tensor(values(sizeOf(shape), 6), { shape, backend });
        const y = bn.forward(x);
        y.mul(w).sum().backward();
        return [y, x.grad!, bn.weight!.grad!, bn.bias!.grad!, bn.runningMean!, bn.runningVar!].map((t) => Array.from(t.dataSync()));
      });
      const [got, want] = res as [number[][], number[][]];
      for (let t = 0; t < want.length; t++) {
        for (let i = 0; i < want[t]!.length; i++) {
          expect(Math.abs(got[t]![i]! - want[t]![i]!), `tensor ${t}, element ${i}`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[t]![i]!)));
        }
      }
    });
  });
});
