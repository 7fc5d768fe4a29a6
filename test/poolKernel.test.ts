/**
 * The generated max-pool kernels (src/runtime/wasm/kernels/poolKernel.ts):
 *  - called directly on a heap, `max2x2` and the general kernels (column stride 1, 2, other)
 *    match a plain JS model bit for bit on values full of ties, ±0, ±inf, NaN and all -inf
 *    windows, odd sizes, rows of 1…3 windows, rows not a multiple of 4 windows, overlapping
 *    windows, padding (including windows of padding only); they write nothing outside y and
 *    their scratch, and read nothing past the scratch;
 *  - the avg kernels likewise match a plain model (a double sum in row-major order times
 *    1/divisor, with and without countIncludePad), reading the plane in place or through
 *    a zero-bordered copy;
 *  - through Kiln, maxPool2d / avgPool2d on the wasm backend equal the reference backend
 *    (float32) bit for bit, including geometries the kernels decline (negative padding).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { rng, sameBits } from './support/kernelChecks.js';
import { poolGeometryTests, type PoolAttrs } from './support/poolCases.js';
import { poolGeom, type PoolGeom } from '../src/runtime/reference/kernels/nn.js';
import { avgPoolOnHeap, avgPoolScratchBytes, maxPoolOnHeap, maxPoolScratchBytes, poolSupports } from '../src/runtime/wasm/kernels/poolKernel.js';

beforeAll(async () => {
  await kiln.init();
});

const SPECIAL = [0, -0, -0, 1, -1, 2, 2, Infinity, -Infinity, -Infinity, NaN];

/** Inputs with many ties and specials, runs of -inf and runs of -0 / +0 only. */
function inputs(n: number, r: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() < 0.6 ? SPECIAL[Math.floor(r() * SPECIAL.length)]! : Math.round(r() * 6) / 2 - 1;
  for (let i = 0; i < n; i += 23) for (let j = i; j < Math.min(n, i + 5); j++) out[j] = -Infinity;
  for (let i = 11; i < n; i += 37) for (let j = i; j < Math.min(n, i + 4); j++) out[j] = r() < 0.5 ? -0 : 0;
  return out;
}

/** Plain model: each window clipped to the input; NaN if any element is, +0 above -0, -inf if empty. */
function model(x: Float32Array, planes: number, g: PoolGeom): Float32Array {
  const y = new Float32Array(planes * g.OH * g.OW);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    const base = p * g.H * g.W;
    for (let oh = 0; oh < g.OH; oh++) {
      for (let ow = 0; ow < g.OW; ow++, o++) {
        let m = -Infinity, nan = false;
        for (let h = Math.max(0, oh * g.sh - g.pt); h < Math.min(g.H, oh * g.sh - g.pt + g.kh); h++) {
          for (let w = Math.max(0, ow * g.sw - g.pl); w < Math.min(g.W, ow * g.sw - g.pl + g.kw); w++) {
            const v = x[base + h * g.W + w]!;
            if (v !== v) nan = true;
            else if (v > m || (v === 0 && m === 0 && Object.is(m, -0))) m = v;
          }
        }
        y[o] = nan ? NaN : m;
      }
    }
  }
  return y;
}

/** Plain model of avgPool2d: a double sum over the clipped window, row-major, times 1/divisor. */
function avgModel(x: Float32Array, planes: number, g: PoolGeom, countIncludePad: boolean): Float32Array {
  const y = new Float32Array(planes * g.OH * g.OW);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    const base = p * g.H * g.W;
    for (let oh = 0; oh < g.OH; oh++) {
      for (let ow = 0; ow < g.OW; ow++, o++) {
        const hs = oh * g.sh - g.pt, ws = ow * g.sw - g.pl;
        const h0 = Math.max(0, hs), h1 = Math.min(g.H, hs + g.kh), w0 = Math.max(0, ws), w1 = Math.min(g.W, ws + g.kw);
        let s = 0;
        for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) s += x[base + h * g.W + w]!;
        const n = countIncludePad ? (Math.min(hs + g.kh, g.H + g.pb) - hs) * (Math.min(ws + g.kw, g.W + g.pr) - ws) : (h1 - h0) * (w1 - w0);
        y[o] = s * (1 / n);
      }
    }
  }
  return y;
}

/** Values whose double sums differ from float32 sums (wide exponent range) and specials. */
function avgInputs(n: number, r: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = r();
    out[i] = u < 0.08 ? [0, -0, -0, Infinity, -Infinity, NaN][Math.floor(r() * 6)]! : (r() - 0.5) * 2 ** Math.floor(r() * 60 - 30);
  }
  for (let i = 7; i < n; i += 31) for (let j = i; j < Math.min(n, i + 6); j++) out[j] = -0; // windows of -0 only
  return out;
}

interface Case { planes: number; H: number; W: number; k: [number, number]; s: [number, number]; p: [number, number, number, number] }

const sym = (a: number, b: number): [number, number, number, number] => [a, b, a, b];
const CASES: Case[] = [
  // 2×2 stride 2: rows of 4, 5 (overlapping last step), 1…3 (scalar), 17 windows; odd H / W.
  ...[[8, 8], [6, 10], [5, 7], [2, 2], [3, 3], [4, 6], [7, 5], [4, 34], [9, 16], [28, 28], [14, 14], [2, 9], [2, 14]].map(
    ([H, W]) => ({ planes: 3, H: H!, W: W!, k: [2, 2], s: [2, 2], p: sym(0, 0) }) as Case),
  { planes: 1, H: 2, W: 2, k: [2, 2], s: [2, 2], p: sym(0, 0) },
  // 2×2 stride 2 with bottom / right padding on even sizes: still every window inside.
  { planes: 2, H: 6, W: 10, k: [2, 2], s: [2, 2], p: [0, 0, 1, 1] },
  // General: overlapping windows (stride 1), stride 2, other strides, padding, non-square.
  { planes: 2, H: 7, W: 9, k: [3, 3], s: [1, 1], p: sym(1, 1) },
  { planes: 3, H: 14, W: 14, k: [3, 3], s: [2, 2], p: sym(1, 1) },
  { planes: 2, H: 11, W: 29, k: [3, 3], s: [2, 2], p: sym(1, 1) },
  { planes: 2, H: 9, W: 13, k: [3, 3], s: [3, 3], p: sym(0, 0) },
  { planes: 2, H: 8, W: 21, k: [5, 5], s: [3, 3], p: sym(2, 2) },
  { planes: 2, H: 6, W: 11, k: [2, 3], s: [1, 2], p: sym(0, 1) },
  { planes: 2, H: 10, W: 6, k: [3, 2], s: [2, 1], p: sym(1, 1) },
  { planes: 2, H: 5, W: 5, k: [1, 1], s: [1, 1], p: sym(0, 0) },
  { planes: 2, H: 5, W: 7, k: [2, 2], s: [2, 2], p: sym(1, 1) }, // a 2×2 pool with padding: general
  { planes: 2, H: 7, W: 5, k: [2, 2], s: [2, 2], p: [0, 0, 1, 1] }, // last windows stick out: general
  { planes: 2, H: 9, W: 12, k: [4, 4], s: [2, 2], p: sym(2, 2) },
  { planes: 1, H: 3, W: 3, k: [3, 3], s: [1, 1], p: sym(1, 1) },
  { planes: 2, H: 6, W: 40, k: [2, 4], s: [1, 4], p: [1, 2, 0, 3] },
  { planes: 1, H: 4, W: 4, k: [4, 4], s: [4, 4], p: sym(0, 0) }, // one window per plane
  { planes: 3, H: 1, W: 1, k: [1, 1], s: [1, 1], p: sym(0, 0) },
  { planes: 2, H: 1, W: 13, k: [1, 3], s: [1, 1], p: sym(0, 1) },
  { planes: 2, H: 13, W: 1, k: [3, 1], s: [2, 1], p: sym(1, 0) },
  { planes: 2, H: 3, W: 3, k: [2, 2], s: [1, 1], p: sym(3, 3) }, // windows of padding only: -inf
  { planes: 2, H: 17, W: 33, k: [3, 5], s: [2, 3], p: [1, 2, 2, 1] },
];

function geomOf(c: Case): PoolGeom {
  const [pt, pl, pb, pr] = c.p;
  const OH = Math.floor((c.H + pt + pb - c.k[0]) / c.s[0]) + 1, OW = Math.floor((c.W + pl + pr - c.k[1]) / c.s[1]) + 1;
  return poolGeom({ kernelShape: c.k, strides: c.s, pads: c.p }, c.H, c.W, OH, OW);
}

const describeCase = (c: Case): string => `${c.planes}×${c.H}×${c.W} k${c.k.join('×')} s${c.s.join('×')} p${c.p.join(',')}`;

describe('generated max pool on a heap equals a plain model', () => {
  const memory = new WebAssembly.Memory({ initial: 64 });
  const SENTINEL = 12345.5;

  for (const [ci, c] of CASES.entries()) {
    it(describeCase(c), () => {
      const g = geomOf(c);
      expect(poolSupports(g)).toBe(true);
      const r = rng(ci + 1);
      const n = c.planes * g.H * g.W, m = c.planes * g.OH * g.OW;
      const x = inputs(n, r);
      const scratchBytes = maxPoolScratchBytes(g);
      // Layout (floats): guard | x | guard | y | guard | scratch | guard; odd offsets (unaligned).
      const G = 8, xAt = G + 1, yAt = xAt + n + G, sAt = yAt + m + G, end = sAt + scratchBytes / 4 + G;
      const h = new Float32Array(memory.buffer);
      h.fill(SENTINEL, 0, end);
      h.set(x, xAt);
      h.fill(7, yAt, yAt + m); // y is written in full: no stale values may survive
      maxPoolOnHeap(memory, xAt * 4, yAt * 4, c.planes, g, sAt * 4);
      sameBits(h.slice(yAt, yAt + m), model(x, c.planes, g), 'y');
      sameBits(h.slice(xAt, xAt + n), x, 'x unchanged');
      for (const [a, b] of [[0, xAt], [xAt + n, yAt], [yAt + m, sAt], [sAt + scratchBytes / 4, end]] as const) {
        for (let i = a; i < b; i++) if (h[i] !== SENTINEL) expect.fail(`wrote outside its buffers at float ${i}`);
      }
    });
  }

  it('read nothing past the input (2×2) or the scratch (general), placed at the end of memory where that would trap', () => {
    const total = memory.buffer.byteLength / 4;
    for (const [ci, c] of CASES.entries()) {
      const g = geomOf(c);
      const scratch = maxPoolScratchBytes(g) / 4;
      const r = rng(ci + 50);
      const n = c.planes * g.H * g.W, m = c.planes * g.OH * g.OW;
      const x = inputs(n, r);
      const h = new Float32Array(memory.buffer);
      if (scratch === 0) {
        h.set(x, total - n);
        maxPoolOnHeap(memory, (total - n) * 4, 0, c.planes, g, 0);
        sameBits(h.slice(0, m), model(x, c.planes, g), describeCase(c));
      } else {
        h.set(x, 0);
        maxPoolOnHeap(memory, 0, n * 4, c.planes, g, (total - scratch) * 4);
        sameBits(h.slice(n, n + m), model(x, c.planes, g), describeCase(c));
      }
    }
  });

  it('the model itself: NaN wins, +0 over -0, all -inf windows', () => {
    const g = poolGeom({ kernelShape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0] }, 2, 8, 1, 4);
    const x = new Float32Array([1, 3, -0, NaN, -Infinity, -Infinity, -0, -0, 3, 2, 0, 5, -Infinity, -Infinity, -0, -0]);
    sameBits(model(x, 1, g), new Float32Array([3, NaN, -Infinity, -0]), 'model');
    sameBits(model(new Float32Array([-0, 0, -0, -0]), 1, poolGeom({ kernelShape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0] }, 2, 2, 1, 1)), new Float32Array([0]), '+0');
  });
});

describe('generated avg pool on a heap equals a plain model', () => {
  const memory = new WebAssembly.Memory({ initial: 64 });
  const SENTINEL = 12345.5;
  const AVG_CASES: Case[] = [
    ...CASES,
    // In place (no padding, rows of ≥ 4 windows) with every stride kind.
    { planes: 3, H: 9, W: 13, k: [3, 3], s: [1, 1], p: sym(0, 0) },
    { planes: 2, H: 12, W: 25, k: [2, 3], s: [3, 3], p: sym(0, 0) },
    { planes: 2, H: 5, W: 8, k: [1, 1], s: [1, 2], p: sym(0, 0) },
  ];
  for (const countIncludePad of [false, true]) {
    for (const [ci, c] of AVG_CASES.entries()) {
      it(`${describeCase(c)}${countIncludePad ? ' countIncludePad' : ''}`, () => {
        const g = geomOf(c);
        const r = rng(ci + 500);
        const n = c.planes * g.H * g.W, m = c.planes * g.OH * g.OW;
        const x = avgInputs(n, r);
        const sFloats = Math.ceil(avgPoolScratchBytes(g) / 4);
        const G = 8, xAt = G + 1, yAt = xAt + n + G, sAt = yAt + m + G, end = sAt + sFloats + G;
        const h = new Float32Array(memory.buffer);
        h.fill(SENTINEL, 0, end);
        h.set(x, xAt);
        h.fill(7, yAt, yAt + m);
        avgPoolOnHeap(memory, xAt * 4, yAt * 4, c.planes, g, countIncludePad, sAt * 4);
        sameBits(h.slice(yAt, yAt + m), avgModel(x, c.planes, g, countIncludePad), 'y');
        sameBits(h.slice(xAt, xAt + n), x, 'x unchanged');
        for (const [a, b] of [[0, xAt], [xAt + n, yAt], [yAt + m, sAt], [sAt + sFloats, end]] as const) {
          for (let i = a; i < b; i++) if (h[i] !== SENTINEL) expect.fail(`wrote outside its buffers at float ${i}`);
        }
      });
    }
  }

  it('reads nothing past the input (in place) or the scratch, placed at the end of memory where that would trap', () => {
    const total = memory.buffer.byteLength / 4;
    for (const [ci, c] of AVG_CASES.entries()) {
      const g = geomOf(c);
      const sFloats = Math.ceil(avgPoolScratchBytes(g) / 4);
      const n = c.planes * g.H * g.W, m = c.planes * g.OH * g.OW;
      const x = avgInputs(n, rng(ci + 600));
      const h = new Float32Array(memory.buffer);
      // x right before the scratch, the scratch at the very end.
      const sAt = total - sFloats, xAt = sAt - n;
      h.set(x, xAt);
      avgPoolOnHeap(memory, xAt * 4, 0, c.planes, g, true, sAt * 4);
      sameBits(h.slice(0, m), avgModel(x, c.planes, g, true), describeCase(c));
    }
  });

  it('the model itself: a double sum (not float32), -0 windows average to +0', () => {
    const g = poolGeom({ kernelShape: [1, 3], strides: [1, 1], pads: [0, 0, 0, 0] }, 1, 3, 1, 1);
    sameBits(avgModel(new Float32Array([2 ** 30, 1, -(2 ** 30)]), 1, g, false), new Float32Array([1 / 3]), 'double sum');
    sameBits(avgModel(new Float32Array([-0, -0, -0]), 1, g, false), new Float32Array([0]), '+0');
  });
});

describe('maxPool2d through Kiln: wasm equals reference (float32) bit for bit', () => {
  type Attrs = PoolAttrs;
  const run = (backend: 'wasm' | 'reference', x: Float32Array, shape: number[], attrs: Attrs): Float32Array =>
    kiln.scope(() => kiln.tensor(x, { shape, backend }).applyOp('maxPool2d', [], attrs)[0]!.dataSync().slice() as Float32Array);

  const check = (N: number, C: number, H: number, W: number, attrs: Attrs, seed: number): void => {
    const r = rng(seed);
    const x = inputs(N * C * H * W, r);
    const what = `[${N},${C},${H},${W}] ${JSON.stringify(attrs)}`;
    sameBits(run('wasm', x, [N, C, H, W], attrs), run('reference', x, [N, C, H, W], attrs), what);
  };

  poolGeometryTests(check);

  it('avgPool2d: 2×2, general windows, with and without countIncludePad', () => {
    let seed = 700;
    const cases: [number[], Attrs][] = [
      [[4, 3, 28, 28], { kernelShape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0] }],
      [[2, 3, 7, 5], { kernelShape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0] }],
      [[2, 3, 9, 9], { kernelShape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] }],
      [[2, 4, 14, 15], { kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }],
      [[1, 3, 10, 17], { kernelShape: [3, 3], strides: [3, 3], pads: [1, 1, 1, 1] }],
      [[1, 2, 11, 6], { kernelShape: [4, 2], strides: [1, 2], pads: [2, 1, 2, 1] }],
      [[1, 1, 1, 1], { kernelShape: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0] }],
      [[1, 2, 7, 9], { kernelShape: [3, 3], strides: [2, 2], pads: [0, 1, 1, 0] }],
    ];
    for (const countIncludePad of [false, true]) {
      for (const [[N, C, H, W], attrs] of cases) {
        const x = avgInputs(N! * C! * H! * W!, rng(seed++));
        const a = { ...attrs, countIncludePad };
        const runAvg = (backend: 'wasm' | 'reference'): Float32Array =>
          kiln.scope(() => kiln.tensor(x, { shape: [N!, C!, H!, W!], backend }).applyOp('avgPool2d', [], a)[0]!.dataSync().slice() as Float32Array);
        sameBits(runAvg('wasm'), runAvg('reference'), `avg [${N},${C},${H},${W}] ${JSON.stringify(a)}`);
      }
    }
  });

  it('geometries the kernels decline fall back to the portable kernel', () => {
    const neg = poolGeom({ kernelShape: [3, 3], strides: [1, 1], pads: [-1, 0, 0, 0] }, 6, 6, 3, 4);
    expect(poolSupports(neg)).toBe(false);
    check(1, 2, 6, 6, { kernelShape: [3, 3], strides: [1, 1], pads: [-1, 0, 0, 0] }, 300);
  });
});
