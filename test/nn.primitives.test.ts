/**
 * conv2d / convTranspose2d / pools beyond the golden cases: the wasm backend's native
 * paths (XNNPACK conv per group or depthwise, stride-1 transposed conv as a flipped conv,
 * matmul + col2im, both filter-gradient orientations, batch chunking) against the
 * reference backend in float64; second derivatives; max-pool ties; errors; memory.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { expectClose } from './support/expectClose.js';
import { engine } from '../src/eager/engine.js';
import { setConvChunkElements } from '../src/runtime/wasm/kernels/nn.js';
import type { WasmBackend } from '../src/runtime/wasm/wasmBackend.js';

beforeAll(async () => {
  await kiln.init();
});

type Opts = Record<string, unknown>;
interface ConvCase { name: string; transpose?: boolean; x: number[]; w: number[]; bias: boolean; opts: Opts }

const CONV_CASES: ConvCase[] = [
  { name: 'one input channel (NCHW = NHWC)', x: [3, 1, 9, 8], w: [5, 1, 3, 3], bias: true, opts: { padding: 1 } },
  { name: 'one output channel', x: [2, 4, 7, 7], w: [1, 4, 3, 2], bias: true, opts: { stride: [1, 2] } },
  { name: 'groups 3, K < out channels per group', x: [2, 6, 8, 7], w: [30, 2, 2, 2], bias: true, opts: { groups: 3, padding: 1 } },
  { name: 'depthwise multiplier 3, dilation, stride', x: [2, 4, 11, 10], w: [12, 1, 3, 3], bias: true, opts: { groups: 4, dilation: 2, stride: 2, padding: [2, 1] } },
  { name: 'same, even kernel', x: [2, 3, 8, 9], w: [6, 3, 4, 2], bias: false, opts: { padding: 'same' } },
  { name: 'stride 2, padding 1', x: [3, 8, 12, 12], w: [16, 8, 3, 3], bias: true, opts: { stride: 2, padding: 1 } },
  { name: 'pointwise', x: [2, 8, 5, 6], w: [12, 8, 1, 1], bias: true, opts: {} },
  { name: 'T stride 1 (flipped conv)', transpose: true, x: [2, 6, 6, 7], w: [6, 4, 3, 3], bias: true, opts: { padding: 1 } },
  { name: 'T stride 1, padding beyond the kernel (matmul path)', transpose: true, x: [2, 3, 9, 9], w: [3, 2, 3, 3], bias: true, opts: { padding: 3 } },
  { name: 'T stride 2, groups 2, dilation 2', transpose: true, x: [2, 4, 5, 6], w: [4, 3, 3, 3], bias: true, opts: { stride: 2, groups: 2, dilation: 2, padding: 1, outputPadding: 1 } },
  { name: 'T depthwise stride 1', transpose: true, x: [2, 3, 6, 6], w: [3, 2, 3, 3], bias: false, opts: { groups: 3, padding: 1 } },
  { name: 'T one input channel, stride 2', transpose: true, x: [2, 1, 5, 5], w: [1, 3, 4, 4], bias: true, opts: { stride: 2, padding: 1 } },
];

/** Same values as float32 on wasm and float64 on reference. */
function pair(shape: number[], seed: number): [kiln.Tensor, kiln.Tensor] {
  const a = kiln.randn(shape, { seed, backend: 'wasm' });
  const data = Float64Array.from(a.dataSync());
  return [a, kiln.tensor(data, { shape, dtype: 'float64', backend: 'reference' })];
}

function runConv(c: ConvCase, x: kiln.Tensor, w: kiln.Tensor, b: kiln.Tensor | null): kiln.Tensor {
  return c.transpose ? kiln.convTranspose2d(x, w, b, c.opts) : kiln.conv2d(x, w, b, c.opts);
}

describe('conv2d / convTranspose2d: wasm native vs reference (float64)', () => {
  for (const chunk of [0, 1]) {
    for (const c of CONV_CASES) {
      it(`${c.transpose ? 'convTranspose2d' : 'conv2d'} ${c.name}${chunk ? ' (one image per chunk)' : ''}`, () => {
        const prev = chunk ? setConvChunkElements(chunk) : 0;
        try {
          kiln.scope(() => {
            const [xw, xr] = pair(c.x, 1), [ww, wr] = pair(c.w, 2);
            const outC = c.transpose ? c.w[1]! * ((c.opts['groups'] as number | undefined) ?? 1) : c.w[0]!;
            const [bw, br] = c.bias ? pair([outC], 3) : [null, null];
            const k = Math.sqrt(c.w[1]! * c.w[2]! * c.w[3]! * (c.transpose ? c.x[1]! : 1));
            const grads = (x: kiln.Tensor, w: kiln.Tensor, b: kiln.Tensor | null, r: kiln.Tensor) =>
              kiln.grad((x, w, ...bs) => runConv(c, x, w, bs[0] ?? null).mul(r).sum())(x, w, ...(b ? [b] : []));
            const yw = runConv(c, xw, ww, bw), yr = runConv(c, xr, wr, br);
            expectClose(yw, yr, 1e-5 * k, 'forward');
            const [rw, rr] = pair(yr.shape as number[], 4);
            const gw = grads(xw, ww, bw, rw), gr = grads(xr, wr, br, rr);
            gw.forEach((g, i) => expectClose(g, gr[i]!, 1e-4 * k * Math.sqrt(c.x[0]!), `gradient ${i}`));
          });
        } finally {
          if (chunk) setConvChunkElements(prev);
        }
      });
    }
  }
});

describe('second derivatives (float64 finite differences)', () => {
  const f64 = (shape: number[], seed: number) => kiln.randn(shape, { seed, backend: 'reference', dtype: 'float64' });

  it('conv2d: d/d(x, w, dy) of its input and filter gradients (convTranspose2d, conv2dFilterGrad)', () => {
    const u1 = f64([2, 4, 7, 6], 11), u2 = f64([6, 2, 3, 3], 12);
    const opts = { stride: 2, padding: 1, groups: 2 };
    const h = (x: kiln.Tensor, w: kiln.Tensor, v: kiln.Tensor) => {
      const [gx, gw] = kiln.grad((x, w) => kiln.conv2d(x, w, null, opts).mul(v).sum())(x, w);
      return gx!.mul(u1).sum().add(gw!.mul(u2).sum());
    };
    const res = kiln.testing.gradcheck(h, [f64([2, 4, 7, 6], 1), f64([6, 2, 3, 3], 2), f64([2, 6, 4, 3], 3)], { raise: false });
    expect(res.mismatches).toEqual([]);
  });

  it('convTranspose2d: d/d(x, w, dy) of its input and filter gradients (conv2d, conv2dFilterGrad)', () => {
    const opts = { stride: 2, padding: 1, outputPadding: 1, dilation: 2 };
    const x0 = f64([2, 3, 4, 3], 1), w0 = f64([3, 2, 3, 3], 2);
    const y0 = kiln.convTranspose2d(x0, w0, null, opts);
    const u1 = f64(x0.shape as number[], 11), u2 = f64(w0.shape as number[], 12);
    const h = (x: kiln.Tensor, w: kiln.Tensor, v: kiln.Tensor) => {
      const [gx, gw] = kiln.grad((x, w) => kiln.convTranspose2d(x, w, null, opts).mul(v).sum())(x, w);
      return gx!.mul(u1).sum().add(gw!.mul(u2).sum());
    };
    const res = kiln.testing.gradcheck(h, [x0, w0, f64(y0.shape as number[], 3)], { raise: false });
    expect(res.mismatches).toEqual([]);
  });

  it('avgPool2d: d/d(dy) of its gradient', () => {
    const u = f64([2, 3, 7, 7], 11);
    const h = (x: kiln.Tensor, v: kiln.Tensor) => {
      const [gx] = kiln.grad((x) => kiln.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }).mul(v).sum())(x);
      return gx!.mul(u).sum();
    };
    const res = kiln.testing.gradcheck(h, [f64([2, 3, 7, 7], 1), f64([2, 3, 4, 4], 2)], { raise: false });
    expect(res.mismatches).toEqual([]);
  });

  it('double backward through conv2d agrees on wasm and reference', () => {
    kiln.scope(() => {
      const [xw, xr] = pair([2, 3, 6, 6], 1), [ww, wr] = pair([4, 3, 3, 3], 2), [uw, ur] = pair([2, 3, 6, 6], 3);
      // ‖∂/∂x Σ conv(x, w)²‖ weighted, differentiated w.r.t. w.
      const h = (x: kiln.Tensor, u: kiln.Tensor) => (w: kiln.Tensor) => {
        const [gx] = kiln.grad((x) => kiln.conv2d(x, w, null, { padding: 1 }).square().sum())(x);
        return gx!.mul(u).sum();
      };
      const [dw] = kiln.grad(h(xw, uw))(ww), [dr] = kiln.grad(h(xr, ur))(wr);
      expectClose(dw!, dr!, 1e-4 * 27, 'd²/dw dx');
    });
  });
});

describe('pools', () => {
  for (const backend of ['reference', 'wasm'] as const) {
    it(`maxPool2d sends the gradient to the first maximum of a window (ties) on ${backend}`, () => {
      kiln.scope(() => {
        const x = kiln.tensor([[[[1, 3, 3, 0], [3, 2, 0, 0], [5, 5, 1, 1], [5, 5, 1, 1]]]], { backend }).requiresGrad_();
        const y = kiln.maxPool2d(x, 2);
        expect(y.toArray()).toEqual([[[[3, 3], [5, 1]]]]);
        y.sum().backward();
        expect(x.grad!.toArray()).toEqual([[[[0, 1, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]]]);
      });
    });

    it(`maxPool2d pads with -inf and propagates NaN on ${backend}`, () => {
      kiln.scope(() => {
        const x = kiln.tensor([[[[-5, -6], [-7, -8]], [[1, NaN], [2, 3]]]], { backend });
        const y = kiln.maxPool2d(x, 2, { stride: 1, padding: 1 }).toArray() as number[][][][];
        expect(y[0]![0]).toEqual([[-5, -5, -6], [-5, -5, -6], [-7, -7, -8]]);
        expect(Number.isNaN(y[0]![1]![0]![1]!)).toBe(true);
        expect(y[0]![1]![2]).toEqual([2, 3, 3]);
      });
    });

    it(`avgPool2d divisors with and without countIncludePad on ${backend}`, () => {
      kiln.scope(() => {
        const x = kiln.ones([1, 1, 3, 3], { backend });
        expect(kiln.avgPool2d(x, 2, { stride: 2, padding: 1 }).toArray()).toEqual([[[[0.25, 0.5], [0.5, 1]]]]);
        expect(kiln.avgPool2d(x, 2, { stride: 2, padding: 1, countIncludePad: false }).toArray()).toEqual([[[[1, 1], [1, 1]]]]);
      });
    });
  }

  it('native pools agree with the portable kernels at CNN sizes', () => {
    kiln.scope(() => {
      const [xw, xr] = pair([4, 8, 13, 12], 5);
      for (const [k, o] of [[2, {}], [3, { stride: 2, padding: 1 }], [[3, 2], { stride: [1, 2] }]] as const) {
        expectClose(kiln.maxPool2d(xw, k as kiln.Pair, o), kiln.maxPool2d(xr, k as kiln.Pair, o), 1e-6, `maxPool2d ${JSON.stringify([k, o])}`);
        const a = { ...o, countIncludePad: false };
        expectClose(kiln.avgPool2d(xw, k as kiln.Pair, a), kiln.avgPool2d(xr, k as kiln.Pair, a), 1e-5, `avgPool2d ${JSON.stringify([k, o])}`);
      }
    });
  });
});

describe('errors name the op, the shapes and the call site', () => {
  const x = () => kiln.randn([2, 3, 5, 5], { seed: 1 });
  const cases: [string, () => unknown, RegExp][] = [
    ['channel mismatch', () => kiln.conv2d(x(), kiln.randn([4, 2, 3, 3])), /conv2d: weight \[4, 2, 3, 3\] with groups=1 expects 2 input channels, got 3.*\[2, 3, 5, 5\]/],
    ['groups not dividing out channels', () => kiln.conv2d(x(), kiln.randn([4, 1, 3, 3]), null, { groups: 3 }), /conv2d: out channels 4 must be divisible by groups=3/],
    ["'same' with stride", () => kiln.conv2d(x(), kiln.randn([4, 3, 3, 3]), null, { padding: 'same', stride: 2 }), /conv2d: padding='same' is not supported for strided convolutions/],
    ['kernel larger than input', () => kiln.conv2d(x(), kiln.randn([4, 3, 7, 7])), /conv2d: calculated output size -1x-1 is too small/],
    ['bias shape', () => kiln.conv2d(x(), kiln.randn([4, 3, 3, 3]), kiln.randn([3])), /conv2d: bias must have shape \[4\], got \[3\]/],
    ['bad stride', () => kiln.conv2d(x(), kiln.randn([4, 3, 3, 3]), null, { stride: 0 }), /conv2d: stride must be an integer >= 1/],
    ['rank', () => kiln.conv2d(kiln.randn([3, 5]), kiln.randn([4, 3, 3, 3])), /conv2d: input must be 4-D \(NCHW\) or 3-D \(CHW\), got rank 2/],
    ['int input', () => kiln.conv2d(kiln.ones([1, 1, 3, 3], { dtype: 'int32' }), kiln.ones([1, 1, 1, 1], { dtype: 'int32' })), /conv2d: conv2d needs floating-point inputs, got int32/],
    ['outputPadding too large', () => kiln.convTranspose2d(x(), kiln.randn([3, 2, 3, 3]), null, { stride: 2, outputPadding: 2 }), /convTranspose2d: outputPadding \[2, 2\] must be smaller than either stride/],
    ['transposed channel mismatch', () => kiln.convTranspose2d(x(), kiln.randn([4, 2, 3, 3])), /convTranspose2d: weight \[4, 2, 3, 3\] expects 4 input channels, got 3/],
    ['pool padding', () => kiln.maxPool2d(x(), 2, { padding: 2 }), /maxPool2d: padding \[2, 2\] should be at most half of the kernel size \[2, 2\]/],
    ['pool kernel', () => kiln.avgPool2d(x(), 0), /avgPool2d: kernelSize must be an integer >= 1/],
    ['pool too large', () => kiln.maxPool2d(x(), 6), /maxPool2d: calculated output size 0x0 is too small/],
  ];
  for (const [name, f, re] of cases) {
    it(name, () => {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(kiln.KilnError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).toMatch(/nn\.primitives\.test\.ts:\d+/);
    });
  }
});

describe('unbatched (CHW) inputs', () => {
  it('conv2d, convTranspose2d and pools accept [C, H, W] like PyTorch', () => {
    kiln.scope(() => {
      const x = kiln.randn([3, 6, 6], { seed: 1 });
      const w = kiln.randn([4, 3, 3, 3], { seed: 2 });
      const y = kiln.conv2d(x, w, null, { padding: 1 });
      expect(y.shape).toEqual([4, 6, 6]);
      expectClose(y, kiln.conv2d(x.reshape([1, 3, 6, 6]), w, null, { padding: 1 }).reshape([4, 6, 6]), 0, 'unbatched conv2d');
      expect(kiln.convTranspose2d(y, kiln.randn([4, 2, 2, 2]), null, { stride: 2 }).shape).toEqual([2, 12, 12]);
      expect(kiln.maxPool2d(x, 2).shape).toEqual([3, 3, 3]);
      expect(kiln.avgPool2d(x, 3, { stride: 1 }).shape).toEqual([3, 4, 4]);
    });
  });
});

describe('memory', () => {
  it('conv/pool training steps on wasm keep live bytes and the heap constant (XNNPACK operators are released)', () => {
    const backend = engine.backends.get('wasm') as unknown as WasmBackend;
    const w1 = kiln.randn([8, 3, 3, 3], { seed: 1, backend: 'wasm', requiresGrad: true });
    const b1 = kiln.randn([8], { seed: 2, backend: 'wasm', requiresGrad: true });
    const w2 = kiln.randn([8, 4, 3, 3], { seed: 3, backend: 'wasm', requiresGrad: true });
    const step = () =>
      kiln.scope(() => {
        const x = kiln.randn([4, 3, 16, 16], { seed: 4, backend: 'wasm' });
        let h = kiln.conv2d(x, w1, b1, { padding: 1 }).relu();
        h = kiln.maxPool2d(h, 2);
        h = kiln.conv2d(h, w2, null, { stride: 2, groups: 2 });
        h = kiln.avgPool2d(h, 2);
        h.square().sum().backward();
        w1.zeroGrad(); b1.zeroGrad(); w2.zeroGrad();
      });
    for (let i = 0; i < 5; i++) step();
    const live = backend.liveBytes(), heap = backend.memory.buffer.byteLength;
    for (let i = 0; i < 200; i++) step();
    expect(backend.liveBytes()).toBe(live);
    expect(backend.memory.buffer.byteLength).toBe(heap);
  });
});
