// WebGPU shape ops (src/runtime/webgpu/kernels/shape.ts) against the reference backend on
// the same inputs: every result must be bit for bit the reference's (Object.is per
// element: NaN payload aside, −0 stays −0), for float32, int32 and bool, odd sizes,
// size-1 dims, negative axes and empty tensors. The accumulating ones (padReflectGrad,
// scatterAdd, indexSelectGrad) add in the reference's order, so they are exact too.
import { expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { rng } from './support/kernelChecks.js';
import type { GpuStorage } from '../src/runtime/webgpu/index.js';
import { describeWebGpu, gpuBackend } from './support/webgpu.js';
import { withGridLimit } from './support/webgpuGridLimit.js';

type Many = kiln.Tensor | kiln.Tensor[];

/** A reference tensor of `shape`: seeded floats with −0, NaN and ±inf sprinkled in, or ints/bools. */
function input(shape: readonly number[], seed: number, dtype: 'float32' | 'int32' | 'bool' = 'float32'): kiln.Tensor {
  const next = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const specials = [-0, NaN, Infinity, -Infinity];
  const data = Array.from({ length: n }, (_, i) => {
    const u = next();
    if (dtype === 'bool') return u < 0.5 ? 1 : 0;
    if (dtype === 'int32') return Math.floor(u * 2000) - 1000;
    return i % 11 === 5 ? specials[i % 4]! : u * 4 - 2;
  });
  return kiln.tensor(data, { shape, dtype, backend: 'reference' });
}

/** An int32 index tensor with values in [0, size). */
function indices(shape: readonly number[], size: number, seed: number): kiln.Tensor {
  const next = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return kiln.tensor(Array.from({ length: n }, () => Math.floor(next() * size)), { shape, dtype: 'int32', backend: 'reference' });
}

const list = (m: Many): kiln.Tensor[] => (Array.isArray(m) ? m : [m]);

/** `op` on webgpu copies of `xs` and on `xs`: every output equal element for element (Object.is), same shapes and dtypes. */
async function expectSame(xs: readonly kiln.Tensor[], op: (...ts: kiln.Tensor[]) => Many, what: string): Promise<void> {
  const want = list(op(...xs));
  const got = list(op(...xs.map((x) => x.to('webgpu'))));
  expect(got.length, what).toBe(want.length);
  for (let k = 0; k < want.length; k++) {
    expect(got[k]!.shape, what).toEqual(want[k]!.shape);
    expect(got[k]!.dtype, what).toBe(want[k]!.dtype);
    const g = await got[k]!.data(), w = want[k]!.dataSync();
    expect(g.length, what).toBe(w.length);
    for (let i = 0; i < w.length; i++) {
      if (!Object.is(g[i], w[i])) expect.fail(`${what} (output ${k}): element ${i} is ${Object.is(g[i], -0) ? '-0' : g[i]}, expected ${Object.is(w[i], -0) ? '-0' : w[i]}`);
    }
  }
}

const DTYPES = ['float32', 'int32', 'bool'] as const;

describeWebGpu('webgpu shape ops', () => {
  it('expand, transpose (tiled and general permutations), tril/triu, for every dtype', async () => {
    for (const dtype of DTYPES) {
      await expectSame([input([3, 1, 5], 1, dtype)], (x) => x.expand(2, 3, 4, 5), `expand ${dtype}`);
      await expectSame([input([1], 2, dtype)], (x) => x.expand(7), `expand scalar-like ${dtype}`);
      // [M, N] and [B, M, N] transposes go through 16×16 tiles (sizes not multiples of 16).
      await expectSame([input([37, 19], 3, dtype)], (x) => x.transpose(0, 1), `transpose 2-D ${dtype}`);
      await expectSame([input([3, 17, 33], 4, dtype)], (x) => x.transpose(-1, -2), `transpose batched ${dtype}`);
      await expectSame([input([2, 3, 4, 5], 5, dtype)], (x) => x.permute(3, 1, 0, 2), `permute ${dtype}`);
      await expectSame([input([2, 1, 3, 1], 6, dtype)], (x) => x.permute(1, 3, 2, 0), `permute with size-1 dims ${dtype}`);
      await expectSame([input([4, 6], 7, dtype)], (x) => x.permute(0, 1), `identity permutation ${dtype}`);
      for (const diagonal of [0, 1, -2, 9, -9]) {
        await expectSame([input([2, 5, 7], 8, dtype)], (x) => x.applyOp('tril', [], { diagonal })[0]!, `tril ${diagonal} ${dtype}`);
        await expectSame([input([5, 3], 9, dtype)], (x) => x.applyOp('triu', [], { diagonal })[0]!, `triu ${diagonal} ${dtype}`);
      }
    }
    await expectSame([input([0, 5], 1)], (x) => x.transpose(0, 1), 'transpose empty');
    await expectSame([input([65, 70], 10)], (x) => x.transpose(0, 1), 'transpose of several tiles');
  });

  it('slice (steps, negative steps, empty) and sliceGrad', async () => {
    const x = input([5, 7, 3], 11);
    const slices: [number[], number[], number[]][] = [
      [[0, 0, 0], [5, 7, 3], [1, 1, 1]],
      [[1, 2, 0], [4, 7, 3], [2, 3, 1]],
      [[4, 6, 2], [-1, -1, -1], [-1, -2, -1]], // reversed (end −1 = through index 0)
      [[3, 0, 1], [1, 7, 2], [-1, 2, 1]],
      [[2, 3, 0], [2, 5, 3], [1, 1, 1]], // empty along axis 0
    ];
    for (const [starts, ends, steps] of slices) {
      const what = `slice ${starts}:${ends}:${steps}`;
      await expectSame([x], (t) => t.applyOp('slice', [], { starts, ends, steps })[0]!, what);
      const dyShape = starts.map((s, i) => (steps[i]! > 0 ? Math.max(0, Math.ceil((ends[i]! - s) / steps[i]!)) : Math.max(0, Math.ceil((s - ends[i]!) / -steps[i]!))));
      await expectSame([input(dyShape, 12)], (dy) => dy.applyOp('sliceGrad', [], { shape: [5, 7, 3], starts, ends, steps })[0]!, `sliceGrad of ${what}`);
    }
    // The public slice with negative indices.
    await expectSame([x], (t) => t.slice([-4, 1], [-1, 100], { axes: [0, -1] }), 'slice with negative starts and axes');
    await expectSame([input([6], 13, 'int32')], (t) => t.slice([5], [-100], { steps: [-2] }), 'int32 reversed slice');
  });

  it('concat and split along any axis, with empty and size-1 pieces', async () => {
    for (const dtype of DTYPES) {
      const a = input([2, 3, 4], 14, dtype), b = input([2, 1, 4], 15, dtype), c = input([2, 0, 4], 16, dtype), d = input([2, 5, 4], 17, dtype);
      await expectSame([a, b, c, d], (...ts) => kiln.concat(ts, 1), `concat axis 1 ${dtype}`);
      await expectSame([a, a], (...ts) => kiln.concat(ts, -1), `concat axis -1 ${dtype}`);
      await expectSame([a, b], (...ts) => kiln.concat(ts, 1).split([1, 0, 3], -2), `split ${dtype}`);
      await expectSame([d], (t) => t.split(2, 1), `split into 2s ${dtype}`);
      await expectSame([a], (t) => t.split(1, 0), `split axis 0 ${dtype}`);
    }
    await expectSame([input([1, 3], 18)], (t) => kiln.concat([t], 0), 'concat of one');
  });

  it('pad: constant (value, dtypes) and reflect; padReflectGrad', async () => {
    for (const dtype of DTYPES) {
      await expectSame([input([3, 4], 19, dtype)], (t) => t.pad([1, 2, 0, 3], { value: dtype === 'float32' ? -1.5 : 7 }), `constant pad ${dtype}`);
      await expectSame([input([3, 5, 4], 20, dtype)], (t) => t.pad([3, 2, 1, 0, 2, 1], { mode: 'reflect' }), `reflect pad ${dtype}`);
    }
    await expectSame([input([0, 2], 21)], (t) => t.pad([1, 1, 2, 0], { value: 3 }), 'constant pad of an empty tensor');
    await expectSame([input([3], 22)], (t) => t.pad([0, 0]), 'no padding');
    // padReflectGrad: the adjoint, folding mirrored borders back (up to 3 sources per axis).
    for (const [shape, pads] of [[[4, 6], [2, 3, 1, 2]], [[3, 5, 4], [1, 4, 2, 2, 0, 3]], [[7], [6, 6]], [[1, 4], [0, 3, 0, 3]]] as [number[], number[]][]) {
      const r = shape.length;
      const padded = shape.map((d, i) => d + pads[i]! + pads[r + i]!);
      for (const dtype of ['float32', 'int32'] as const) {
        await expectSame([input(padded, 23, dtype)], (dy) => dy.applyOp('padReflectGrad', [], { pads })[0]!, `padReflectGrad [${shape}] pads ${pads} ${dtype}`);
      }
    }
  });

  it('gather and scatterAdd along any axis (index smaller than src, repeated indices)', async () => {
    const x = input([4, 5, 3], 24);
    for (const axis of [0, 1, 2, -1]) {
      const a = axis < 0 ? axis + 3 : axis;
      const idxShape = [3, 4, 2];
      idxShape[a] = 6;
      const index = indices(idxShape, x.shape[a]!, 25 + a);
      await expectSame([x, index], (t, i) => t.gather(axis, i!), `gather axis ${axis}`);
      // src larger than the index in every dim; sums of repeated targets in index order.
      const src = input(idxShape.map((d) => d + 1), 26, 'float32');
      await expectSame([x, index, src], (t, i, s) => t.scatterAdd(axis, i!, s!), `scatterAdd axis ${axis}`);
      const xi = input([4, 5, 3], 27, 'int32');
      await expectSame([xi, index, input(idxShape, 28, 'int32')], (t, i, s) => t.scatterAdd(axis, i!, s!), `int32 scatterAdd axis ${axis}`);
    }
    await expectSame([input([3, 4], 29, 'bool'), indices([2, 4], 3, 30)], (t, i) => t.gather(0, i!), 'bool gather');
    await expectSame([x, indices([0, 5, 3], 4, 31)], (t, i) => t.gather(0, i!), 'gather with an empty index');
    await expectSame([x, indices([0, 5, 3], 4, 31), input([0, 5, 3], 32)], (t, i, s) => t.scatterAdd(0, i!, s!), 'scatterAdd with an empty index');
  });

  it('indexSelect(+Grad) and oneHot', async () => {
    const x = input([4, 6, 3], 33);
    for (const axis of [0, 1, -1]) {
      const a = axis < 0 ? axis + 3 : axis;
      const index = indices([7], x.shape[a]!, 34 + a);
      await expectSame([x, index], (t, i) => t.indexSelect(axis, i!), `indexSelect axis ${axis}`);
      const dyShape = [4, 6, 3];
      dyShape[a] = 7;
      await expectSame([input(dyShape, 35), index], (dy, i) => dy.applyOp('indexSelectGrad', [i!], { axis: a, size: x.shape[a]! })[0]!, `indexSelectGrad axis ${axis}`);
    }
    // The gradient's two formulations: linked lists (index shorter than the output: an
    // embedding, many repeats) and a scan of the index per output element (index longer).
    await expectSame([input([300, 8], 48), indices([300], 40, 49)], (dy, i) => dy.applyOp('indexSelectGrad', [i!], { axis: 0, size: 40 })[0]!, 'indexSelectGrad, embedding-like (linked)');
    await expectSame([input([50, 3], 50, 'int32'), indices([50], 2, 51)], (dy, i) => dy.applyOp('indexSelectGrad', [i!], { axis: 0, size: 2 })[0]!, 'indexSelectGrad, long index (scan)');
    await expectSame([input([2, 0, 3], 52), indices([0], 4, 53)], (dy, i) => dy.applyOp('indexSelectGrad', [i!], { axis: 1, size: 4 })[0]!, 'indexSelectGrad of an empty index');
    await expectSame([input([5, 2], 36, 'int32'), indices([0], 5, 37)], (t, i) => t.indexSelect(0, i!), 'indexSelect of nothing');
    await expectSame([indices([3, 5], 7, 38)], (t) => t.oneHot(7), 'oneHot');
    await expectSame([indices([4], 1, 39)], (t) => t.oneHot(1), 'oneHot of one class');
    await expectSame([indices([0], 3, 40)], (t) => t.oneHot(3), 'oneHot of nothing');
  });

  it('more elements than 65535 workgroups of 64: the grid is split over x and y', async () => {
    // 838861·5 = 65536·64 + 1 elements: 65537 workgroups.
    await expectSame([input([1, 5], 42)], (t) => t.expand(838861, 5), 'expand to 65536·64 + 1 elements');
  });

  it('grids split over x and y (limit lowered to 3 workgroups per dimension): every kernel drops the overhang', async () => {
    await withGridLimit(3, async () => {
      const x = input([9, 40, 7], 45);
      await expectSame([x], (t) => t.transpose(0, 1), 'box copy on a split grid');
      await expectSame([x], (t) => t.transpose(-1, -2), 'tiled transpose on a split grid');
      await expectSame([x], (t) => t.pad([2, 3, 1, 1], { mode: 'reflect' }), 'pad on a split grid');
      await expectSame([x], (t) => t.applyOp('sliceGrad', [], { shape: [9, 41, 7], starts: [0, 1, 0], ends: [9, 41, 7], steps: [1, 1, 1] })[0]!, 'sliceGrad on a split grid');
      await expectSame([x, indices([9, 40, 7], 9, 46)], (t, i) => t.scatterAdd(0, i!, t), 'scatterAdd on a split grid');
      await expectSame([x, indices([300], 40, 47)], (t, i) => t.indexSelect(1, i!), 'indexSelect on a split grid');
    });
  });

  it('writes into caller-given outputs (execution plan buffers) and returns them', async () => {
    const backend = gpuBackend();
    const ref = input([5, 3], 43);
    const x = ref.to('webgpu');
    const given = [backend.alloc('float32', 6), backend.alloc('float32', 3)];
    const outs = backend.kernels.get('split')!([{ storage: x.storage as GpuStorage, shape: x.shape, dtype: 'float32' }], { axis: 0, sizes: [2, 1] }, [{ shape: [2, 3], dtype: 'float32' }, { shape: [1, 3], dtype: 'float32' }], [undefined, given[1]]);
    expect(outs[1]).toBe(given[1]);
    expect(outs[0]).not.toBe(given[0]);
    const want = ref.dataSync();
    expect(Array.from(await backend.readAsync(outs[0]!))).toEqual(Array.from(want.slice(0, 6)));
    expect(Array.from(await backend.readAsync(given[1]!))).toEqual(Array.from(want.slice(6, 9)));
    for (const s of [...given, outs[0]!]) backend.free(s);
  });

  it('reshape is an alias (no kernel): views of a webgpu tensor read the same elements', async () => {
    await expectSame([input([3, 4], 41)], (t) => t.reshape([2, 6]).transpose(0, 1), 'reshape then transpose');
  });
});
