/**
 * The generated max-pool gradient kernels (src/runtime/wasm/kernels/maxPoolGradKernel.ts):
 *  - called directly on a heap, `pool2x2` and the general kernels (column stride 1, 2, other)
 *    match a plain JS model bit for bit on values full of ties, ±0, ±inf, NaN and all -inf
 *    windows, with NaN / -0 / inf gradients, odd sizes, rows of 1…3 windows, rows that are not
 *    a multiple of 4 windows, overlapping windows and padding; they write nothing outside dx
 *    and their scratch, and read nothing past the scratch;
 *  - through Kiln, maxPool2dGrad on the wasm backend equals the reference backend (float32)
 *    bit for bit, including geometries the kernels decline (negative padding, a window
 *    outside the input), which fall back to the portable kernel.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { rng, sameBits } from './support/kernelChecks.js';
import { poolGeometryTests, type PoolAttrs } from './support/poolCases.js';
import { poolGeom, type PoolGeom } from '../src/runtime/reference/kernels/nn.js';
import { maxPoolGradOnHeap, maxPoolGradScratchBytes, maxPoolGradSupports } from '../src/runtime/wasm/kernels/maxPoolGradKernel.js';

beforeAll(async () => {
  await kiln.init();
});

const SPECIAL = [0, -0, 1, -1, 2, 2, 2, Infinity, -Infinity, -Infinity, NaN];

/** Inputs with many ties and specials, and runs of -inf. */
function inputs(n: number, r: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() < 0.6 ? SPECIAL[Math.floor(r() * SPECIAL.length)]! : Math.round(r() * 6) / 2 - 1;
  // Runs of -inf, so some windows hold nothing else.
  for (let i = 0; i < n; i += 23) for (let j = i; j < Math.min(n, i + 5); j++) out[j] = -Infinity;
  return out;
}

function gradients(n: number, r: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() < 0.15 ? [-0, 0, NaN, Infinity, -Infinity][Math.floor(r() * 5)]! : r() * 4 - 2;
  return out;
}

/** Whether v ranks above u: NaN above everything else, numbers by value (so ±0 tie). */
const above = (v: number, u: number): boolean => (Number.isNaN(v) ? !Number.isNaN(u) : !Number.isNaN(u) && v > u);

/** Plain model: each window clipped to the input, its first top-ranked element takes dy (dx[at] += dy in float32). */
function model(x: Float32Array, dy: Float32Array, planes: number, g: PoolGeom): Float32Array {
  const dx = new Float32Array(planes * g.H * g.W);
  let o = 0;
  for (let p = 0; p < planes; p++) {
    const base = p * g.H * g.W;
    for (let oh = 0; oh < g.OH; oh++) {
      for (let ow = 0; ow < g.OW; ow++, o++) {
        let at = -1;
        for (let h = Math.max(0, oh * g.sh - g.pt); h < Math.min(g.H, oh * g.sh - g.pt + g.kh); h++) {
          for (let w = Math.max(0, ow * g.sw - g.pl); w < Math.min(g.W, ow * g.sw - g.pl + g.kw); w++) {
            if (at < 0 || above(x[base + h * g.W + w]!, x[base + at]!)) at = h * g.W + w;
          }
        }
        dx[base + at] = Math.fround(dx[base + at]! + dy[o]!);
      }
    }
  }
  return dx;
}

interface Case { planes: number; H: number; W: number; k: [number, number]; s: [number, number]; p: [number, number] }

const CASES: Case[] = [
  // 2×2 stride 2: rows of 4, 5 (overlapping last step), 1…3 (scalar), 17 windows; odd H / W.
  ...[[8, 8], [6, 10], [5, 7], [2, 2], [3, 3], [4, 6], [7, 5], [4, 34], [9, 16], [28, 28], [14, 14], [1, 9]].map(
    ([H, W]) => ({ planes: 3, H: H!, W: W!, k: [2, 2], s: [2, 2], p: [0, 0] }) as Case),
  { planes: 1, H: 2, W: 2, k: [2, 2], s: [2, 2], p: [0, 0] },
  // General: overlapping windows (stride 1), stride 2, other strides, padding, non-square.
  { planes: 2, H: 7, W: 9, k: [3, 3], s: [1, 1], p: [1, 1] },
  { planes: 3, H: 14, W: 14, k: [3, 3], s: [2, 2], p: [1, 1] },
  { planes: 2, H: 11, W: 29, k: [3, 3], s: [2, 2], p: [1, 1] },
  { planes: 2, H: 9, W: 13, k: [3, 3], s: [3, 3], p: [0, 0] },
  { planes: 2, H: 8, W: 21, k: [5, 5], s: [3, 3], p: [2, 2] },
  { planes: 2, H: 6, W: 11, k: [2, 3], s: [1, 2], p: [0, 1] },
  { planes: 2, H: 10, W: 6, k: [3, 2], s: [2, 1], p: [1, 1] },
  { planes: 2, H: 5, W: 5, k: [1, 1], s: [1, 1], p: [0, 0] },
  { planes: 2, H: 5, W: 7, k: [2, 2], s: [2, 2], p: [1, 1] }, // a 2×2 pool with padding: general
  { planes: 2, H: 9, W: 12, k: [4, 4], s: [2, 2], p: [2, 2] },
  { planes: 1, H: 3, W: 3, k: [3, 3], s: [1, 1], p: [1, 1] },
  { planes: 2, H: 6, W: 40, k: [2, 4], s: [1, 4], p: [1, 2] },
  { planes: 1, H: 4, W: 4, k: [4, 4], s: [4, 4], p: [0, 0] }, // one window per plane
];

function geomOf(c: Case): PoolGeom {
  const OH = Math.floor((c.H + 2 * c.p[0] - c.k[0]) / c.s[0]) + 1, OW = Math.floor((c.W + 2 * c.p[1] - c.k[1]) / c.s[1]) + 1;
  return poolGeom({ kernelShape: c.k, strides: c.s, pads: [c.p[0], c.p[1], c.p[0], c.p[1]] }, c.H, c.W, OH, OW);
}

const describeCase = (c: Case): string => `${c.planes}×${c.H}×${c.W} k${c.k.join('×')} s${c.s.join('×')} p${c.p.join('×')}`;

describe('generated max-pool gradient on a heap equals a plain model', () => {
  const memory = new WebAssembly.Memory({ initial: 64 });
  const SENTINEL = 12345.5;

  for (const [ci, c] of CASES.entries()) {
    it(describeCase(c), () => {
      const g = geomOf(c);
      expect(maxPoolGradSupports(g)).toBe(true);
      const r = rng(ci + 1);
      const n = c.planes * g.H * g.W, m = c.planes * g.OH * g.OW;
      const x = inputs(n, r), dy = gradients(m, r);
      const scratchBytes = maxPoolGradScratchBytes(g);
      // Layout (floats): guard | x | guard | dy | guard | dx | guard | scratch | guard; odd offsets (unaligned).
      const G = 8, xAt = G + 1, dyAt = xAt + n + G, dxAt = dyAt + m + G, sAt = dxAt + n + G, end = sAt + scratchBytes / 4 + G;
      const h = new Float32Array(memory.buffer);
      h.fill(SENTINEL, 0, end);
      h.set(x, xAt);
      h.set(dy, dyAt);
      h.fill(7, dxAt, dxAt + n); // dx is written in full: no stale values may survive
      maxPoolGradOnHeap(memory, xAt * 4, dyAt * 4, dxAt * 4, c.planes, g, sAt * 4);
      sameBits(h.slice(dxAt, dxAt + n), model(x, dy, c.planes, g), 'dx');
      sameBits(h.slice(xAt, xAt + n), x, 'x unchanged');
      sameBits(h.slice(dyAt, dyAt + m), dy, 'dy unchanged');
      for (const [a, b] of [[0, xAt], [xAt + n, dyAt], [dyAt + m, dxAt], [dxAt + n, sAt], [sAt + scratchBytes / 4, end]] as const) {
        for (let i = a; i < b; i++) if (h[i] !== SENTINEL) expect.fail(`wrote outside its buffers at float ${i}`);
      }
    });
  }

  it('the general kernels read nothing past their scratch (placed at the end of memory, where that would trap)', () => {
    const total = memory.buffer.byteLength / 4;
    for (const [ci, c] of CASES.entries()) {
      const g = geomOf(c);
      const scratch = maxPoolGradScratchBytes(g) / 4;
      if (scratch === 0) continue;
      const r = rng(ci + 50);
      const n = c.planes * g.H * g.W, m = c.planes * g.OH * g.OW;
      const x = inputs(n, r), dy = gradients(m, r);
      const h = new Float32Array(memory.buffer);
      h.set(x, 0);
      h.set(dy, n);
      maxPoolGradOnHeap(memory, 0, n * 4, (n + m) * 4, c.planes, g, (total - scratch) * 4);
      sameBits(h.slice(n + m, n + m + n), model(x, dy, c.planes, g), describeCase(c));
    }
  });

  it('the model itself: first maximum, first NaN, all -inf windows, -0 gradients become +0', () => {
    const g = poolGeom({ kernelShape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0] }, 2, 8, 1, 4);
    const x = new Float32Array([1, 3, 5, NaN, -Infinity, -Infinity, 0, -0, 3, 2, 5, NaN, -Infinity, -Infinity, -0, 0]);
    const dy = new Float32Array([10, 20, 30, -0]);
    const want = new Float32Array([0, 10, 0, 20, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    sameBits(model(x, dy, 1, g), want, 'model');
  });
});

describe('maxPool2dGrad through Kiln: wasm equals reference (float32) bit for bit', () => {
  type Attrs = PoolAttrs;
  const run = (backend: 'wasm' | 'reference', x: Float32Array, dy: Float32Array, shape: number[], dyShape: number[], attrs: Attrs): Float32Array =>
    kiln.scope(() => {
      const xt = kiln.tensor(x, { shape, backend });
      const dyt = kiln.tensor(dy, { shape: dyShape, backend });
      return xt.applyOp('maxPool2dGrad', [dyt], attrs)[0]!.dataSync().slice() as Float32Array;
    });

  const check = (N: number, C: number, H: number, W: number, attrs: Attrs, seed: number): void => {
    const [kh, kw] = attrs.kernelShape as [number, number], [sh, sw] = attrs.strides as [number, number];
    const [pt, pl, pb, pr] = attrs.pads as [number, number, number, number];
    const OH = Math.floor((H + pt + pb - kh) / sh) + 1, OW = Math.floor((W + pl + pr - kw) / sw) + 1;
    const r = rng(seed);
    const x = inputs(N * C * H * W, r), dy = gradients(N * C * OH * OW, r);
    const what = `[${N},${C},${H},${W}] ${JSON.stringify(attrs)}`;
    sameBits(run('wasm', x, dy, [N, C, H, W], [N, C, OH, OW], attrs), run('reference', x, dy, [N, C, H, W], [N, C, OH, OW], attrs), what);
  };

  poolGeometryTests(check);

  it('geometries the kernels decline fall back to the portable kernel', () => {
    const neg = poolGeom({ kernelShape: [3, 3], strides: [1, 1], pads: [-1, 0, 0, 0] }, 6, 6, 3, 4);
    expect(maxPoolGradSupports(neg)).toBe(false);
    check(1, 2, 6, 6, { kernelShape: [3, 3], strides: [1, 1], pads: [-1, 0, 0, 0] }, 300);
  });

  it('gradients of maxPool2d agree on both backends (autograd)', () => {
    kiln.scope(() => {
      const r = rng(400);
      const x = inputs(2 * 3 * 12 * 12, r).map((v) => (Number.isNaN(v) ? 0.5 : v));
      const res = (['wasm', 'reference'] as const).map((backend) => {
        const xt = kiln.tensor(x, { shape: [2, 3, 12, 12], backend });
        const w = kiln.tensor(gradients(2 * 3 * 6 * 6, rng(401)).map((v) => (Number.isFinite(v) ? v : 1)), { shape: [2, 3, 6, 6], backend });
        const [g] = kiln.grad((t) => kiln.maxPool2d(t, 2).mul(w).sum())(xt);
        return g!.dataSync().slice() as Float32Array;
      });
      sameBits(res[0]!, res[1]!, 'grad');
    });
  });
});
