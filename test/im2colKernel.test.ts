/**
 * The generated im2col (src/runtime/wasm/kernels/im2colKernel.ts):
 *  - called directly on a heap, it writes exactly the portable `im2col` (reference kernels)
 *    for several images side by side, for column strides 1, 2 and 3 (its three kernels),
 *    dilation, zero / positive / negative (trimming) padding, kernels of 1…4, output rows
 *    of 1…3 (scalar), 4, and not a multiple of 4 (overlapping last v128) floats, the
 *    direct path (no padding) and its stride-2 over-read limit, a channel group inside
 *    wider images; it writes nothing outside its rows and scratch, and reads nothing past
 *    the input or the scratch (placed at the end of memory, where that would trap);
 *  - through Kiln, conv2d filter gradients on the wasm backend match the float64
 *    reference backend over the same geometries, whole batches and one image per chunk.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { rng } from './support/kernelChecks.js';
import { im2col, type ConvGeom } from '../src/runtime/reference/kernels/nn.js';
import { im2colOnHeap, im2colScratchBytes } from '../src/runtime/wasm/kernels/im2colKernel.js';
import { setConvChunkElements } from '../src/runtime/wasm/kernels/nn.js';

beforeAll(async () => {
  await kiln.init();
});

interface Case { C: number; H: number; W: number; k: [number, number]; s: [number, number]; d: [number, number]; p: [number, number, number, number] }

const CASES: Case[] = [
  // The demo CNN's two filter gradients.
  { C: 1, H: 28, W: 28, k: [3, 3], s: [1, 1], d: [1, 1], p: [1, 1, 1, 1] },
  { C: 4, H: 14, W: 14, k: [3, 3], s: [1, 1], d: [1, 1], p: [1, 1, 1, 1] },
  // Stride 1: rows of 1, 2, 3, 4, 5, 7, 9 floats; no padding (direct); even kernels.
  { C: 2, H: 3, W: 3, k: [3, 3], s: [1, 1], d: [1, 1], p: [0, 0, 0, 0] },
  { C: 2, H: 4, W: 4, k: [3, 3], s: [1, 1], d: [1, 1], p: [0, 0, 0, 0] },
  { C: 2, H: 5, W: 5, k: [3, 3], s: [1, 1], d: [1, 1], p: [0, 0, 0, 0] },
  { C: 2, H: 6, W: 6, k: [3, 3], s: [1, 1], d: [1, 1], p: [0, 0, 0, 0] },
  { C: 3, H: 7, W: 9, k: [3, 3], s: [1, 1], d: [1, 1], p: [1, 1, 1, 1] },
  { C: 3, H: 6, W: 7, k: [4, 2], s: [1, 1], d: [1, 1], p: [2, 1, 1, 0] },
  { C: 2, H: 5, W: 11, k: [1, 1], s: [1, 1], d: [1, 1], p: [0, 0, 0, 0] },
  { C: 2, H: 9, W: 10, k: [3, 3], s: [1, 1], d: [2, 3], p: [2, 3, 2, 3] },
  // Stride 2: rows of 1…3 (scalar), 4, 6, 7 floats; direct with and without room to over-read.
  { C: 3, H: 12, W: 12, k: [3, 3], s: [2, 2], d: [1, 1], p: [1, 1, 1, 1] },
  { C: 2, H: 15, W: 13, k: [3, 3], s: [2, 2], d: [1, 1], p: [1, 1, 1, 1] },
  { C: 2, H: 7, W: 6, k: [2, 2], s: [2, 2], d: [1, 1], p: [0, 0, 0, 0] },
  { C: 2, H: 9, W: 9, k: [3, 3], s: [2, 2], d: [1, 1], p: [0, 0, 0, 0] }, // Wp = W: padded copy
  { C: 2, H: 9, W: 10, k: [3, 3], s: [2, 2], d: [1, 1], p: [0, 0, 0, 0] }, // Wp < W: direct
  { C: 2, H: 11, W: 17, k: [3, 2], s: [2, 2], d: [2, 1], p: [2, 1, 0, 0] },
  { C: 1, H: 6, W: 5, k: [2, 2], s: [1, 2], d: [1, 1], p: [0, 0, 0, 0] },
  // Other strides.
  { C: 2, H: 10, W: 16, k: [3, 3], s: [3, 3], d: [1, 1], p: [1, 1, 1, 1] },
  { C: 2, H: 9, W: 25, k: [2, 4], s: [2, 5], d: [1, 1], p: [0, 2, 1, 2] },
  // Negative (trimming) padding, as gradient rules may produce.
  { C: 2, H: 9, W: 10, k: [3, 3], s: [1, 1], d: [1, 1], p: [-1, -1, 0, -1] },
  { C: 2, H: 9, W: 14, k: [2, 3], s: [2, 2], d: [1, 1], p: [-1, 1, -1, 0] },
  // Padding wider than the input on one side; tiny planes.
  { C: 2, H: 2, W: 3, k: [3, 3], s: [1, 1], d: [1, 1], p: [2, 2, 2, 2] },
  { C: 1, H: 1, W: 1, k: [1, 1], s: [1, 1], d: [1, 1], p: [0, 0, 0, 0] },
  { C: 1, H: 1, W: 1, k: [3, 3], s: [1, 1], d: [1, 1], p: [1, 1, 1, 1] },
];

function geomOf(c: Case): ConvGeom {
  const [pt, pl, pb, pr] = c.p;
  const OH = Math.floor((c.H + pt + pb - c.d[0] * (c.k[0] - 1) - 1) / c.s[0]) + 1;
  const OW = Math.floor((c.W + pl + pr - c.d[1] * (c.k[1] - 1) - 1) / c.s[1]) + 1;
  return { C: c.C, H: c.H, W: c.W, OH, OW, kh: c.k[0], kw: c.k[1], sh: c.s[0], sw: c.s[1], pt, pl, dh: c.d[0], dw: c.d[1] };
}

const describeCase = (c: Case): string => `${c.C}×${c.H}×${c.W} k${c.k.join('×')} s${c.s.join('×')} d${c.d.join('×')} p${c.p.join(',')}`;

describe('generated im2col on a heap equals the portable im2col', () => {
  const memory = new WebAssembly.Memory({ initial: 64 });
  const SENTINEL = -12345.5;

  for (const [ci, c] of CASES.entries()) {
    it(describeCase(c), () => {
      const g = geomOf(c);
      expect(g.OH).toBeGreaterThan(0);
      expect(g.OW).toBeGreaterThan(0);
      const N = 3, Cimg = c.C + 2, g0 = 1; // group: channels [1, 1 + C) of images with C + 2
      const L = g.OH * g.OW, K = c.C * g.kh * g.kw, rowFloats = N * L + 5; // rows wider than the images
      const r = rng(ci + 1);
      const x = new Float32Array(N * Cimg * c.H * c.W).map(() => (r() < 0.05 ? NaN : Math.round(r() * 200) / 8 - 12));
      const scratchBytes = im2colScratchBytes(g);
      // Layout (floats): guard | x | guard | cols | guard | scratch | guard; odd offsets (unaligned).
      const G = 8, xAt = G + 1, cAt = xAt + x.length + G, sAt = cAt + K * rowFloats + G, end = sAt + scratchBytes / 4 + G;
      const h = new Float32Array(memory.buffer);
      h.fill(SENTINEL, 0, end);
      h.set(x, xAt);
      im2colOnHeap(memory, (xAt + g0 * c.H * c.W) * 4, Cimg * c.H * c.W * 4, N, g, cAt * 4, rowFloats * 4, L * 4, sAt * 4);
      const want = new Float32Array(K * rowFloats).fill(SENTINEL);
      for (let n = 0; n < N; n++) im2col(x, (n * Cimg + g0) * c.H * c.W, g, want, rowFloats, n * L);
      const got = h.slice(cAt, cAt + K * rowFloats);
      for (let i = 0; i < want.length; i++) {
        const same = Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i]));
        if (!same) expect.fail(`row ${Math.floor(i / rowFloats)}, column ${i % rowFloats}: ${got[i]}, expected ${want[i]}`);
      }
      for (let i = 0; i < x.length; i++) if (!Object.is(h[xAt + i], x[i]) && !Number.isNaN(x[i])) expect.fail('input changed');
      for (const [a, b] of [[0, xAt], [xAt + x.length, cAt], [cAt + K * rowFloats, sAt], [sAt + scratchBytes / 4, end]] as const) {
        for (let i = a; i < b; i++) if (h[i] !== SENTINEL) expect.fail(`wrote outside its buffers at float ${i}`);
      }
    });
  }

  it('reads stay inside the input and the scratch (each placed at the end of memory, where an over-read traps)', () => {
    const total = memory.buffer.byteLength / 4;
    for (const c of CASES) {
      const g = geomOf(c);
      const N = 2, Cimg = c.C + 2, g0 = 2; // the group is each image's last channels
      const L = g.OH * g.OW, K = c.C * g.kh * g.kw, n = N * Cimg * c.H * c.W;
      const x = Float32Array.from({ length: n }, (_, i) => i % 97);
      const want = new Float32Array(K * N * L);
      for (let i = 0; i < N; i++) im2col(x, (i * Cimg + g0) * c.H * c.W, g, want, N * L, i * L);
      const scratch = im2colScratchBytes(g) / 4;
      // [cols | scratch | x] and [cols | x | scratch], flush with the end of memory.
      for (const xLast of [true, false]) {
        const h = new Float32Array(memory.buffer);
        const xAt = xLast ? total - n : total - n - scratch, sAt = xLast ? total - n - scratch : total - scratch;
        h.set(x, xAt);
        im2colOnHeap(memory, (xAt + g0 * c.H * c.W) * 4, Cimg * c.H * c.W * 4, N, g, 0, N * L * 4, L * 4, sAt * 4);
        expect(Array.from(h.slice(0, K * N * L)), `${describeCase(c)}, ${xLast ? 'input' : 'scratch'} last`).toEqual(Array.from(want));
      }
    }
  });

  it('a zero tap is +0 and NaN payloads move as bits', () => {
    const g = geomOf({ C: 1, H: 2, W: 5, k: [3, 3], s: [1, 1], d: [1, 1], p: [1, 1, 1, 1] });
    const bits = new Uint32Array([0x7fc01234, 0x80000000, 0xffc00001, 0x3f800000, 0x7fa00005, 1, 2, 3, 4, 5]);
    const h32 = new Uint32Array(memory.buffer);
    h32.fill(0xdeadbeef, 0, 4096);
    h32.set(bits, 16);
    im2colOnHeap(memory, 64, 0, 1, g, 1024, 10 * 4, 0, 2048);
    // Row (0, 1, 1) is the centre tap: the input itself; row (0, 0, 0) starts with padding.
    expect(Array.from(h32.slice(256 + 4 * 10, 256 + 5 * 10))).toEqual(Array.from(bits));
    expect(h32[256]).toBe(0);
  });
});

describe('conv2d filter gradients through Kiln: wasm vs reference (float64)', () => {
  for (const chunk of [0, 1]) {
    it(`every geometry above${chunk ? ', one image per chunk' : ''}`, () => {
      const prev = chunk ? setConvChunkElements(chunk) : 0;
      try {
        for (const [ci, c] of CASES.entries()) {
          const [pt, pl, pb, pr] = c.p;
          // The public conv2d takes symmetric, non-negative padding only.
          if (pt !== pb || pl !== pr || pt < 0 || pl < 0) continue;
          kiln.scope(() => {
            const groups = ci % 3 === 0 ? 1 : 2, O = 2 * groups;
            const xs = [2, c.C * groups, c.H, c.W], ws = [O, c.C, c.k[0], c.k[1]];
            const opts = { stride: c.s, dilation: c.d, padding: [pt, pl] as [number, number], groups };
            const xw = kiln.randn(xs, { seed: 3 * ci + 1, backend: 'wasm' }), ww = kiln.randn(ws, { seed: 3 * ci + 2, backend: 'wasm' });
            const xr = kiln.tensor(Float64Array.from(xw.dataSync()), { shape: xs, dtype: 'float64', backend: 'reference' });
            const wr = kiln.tensor(Float64Array.from(ww.dataSync()), { shape: ws, dtype: 'float64', backend: 'reference' });
            const dw = (x: kiln.Tensor, w: kiln.Tensor) => kiln.grad((w) => kiln.conv2d(x, w, null, opts).square().sum())(w)[0]!;
            const a = dw(xw, ww).dataSync(), e = dw(xr, wr).dataSync();
            let worst = 0;
            for (let i = 0; i < e.length; i++) worst = Math.max(worst, Math.abs(a[i]! - e[i]!) / Math.max(1, Math.abs(e[i]!)));
            expect(worst, describeCase(c)).toBeLessThan(1e-4 * Math.sqrt(c.H * c.W * c.C * c.k[0] * c.k[1]));
          });
        }
      } finally {
        if (chunk) setConvChunkElements(prev);
      }
    });
  }
});
