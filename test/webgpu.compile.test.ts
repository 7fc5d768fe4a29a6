/**
 * Compiled plans on webgpu (`kiln.compile(..., { target: 'webgpu' })`): elementwise
 * chains fuse into one generated WGSL shader that computes what the ops compute
 * dispatched one by one, a run is one queue submit, and a warm plan creates no pipelines.
 */
import { beforeAll, expect, it, vi } from 'vitest';
import * as kiln from '../src/index.js';
import type { KernelInput } from '../src/runtime/backend.js';
import type { GpuStorage } from '../src/runtime/webgpu/gpuStorage.js';
import { describeWebGpu, expectUlps, gpuBackend } from './support/webgpu.js';

beforeAll(async () => {
  await kiln.init({ backend: 'wasm' });
});

/** Values with the edge cases every kernel must keep: NaN, ±∞, ±0, large and tiny. */
function edgy(n: number, seed: number): Float32Array {
  const r = kiln.randn([n], { seed }).dataSync() as Float32Array;
  const special = [NaN, Infinity, -Infinity, 0, -0, 1e30, -1e-30, 88, -104];
  special.forEach((v, k) => { r[(k * 37) % n] = v; });
  return r;
}

const gpu = (data: Float32Array, shape: number[]): kiln.Tensor => kiln.tensor(data, { shape, backend: 'webgpu' }).keep();
const wasm = (data: Float32Array, shape: number[]): kiln.Tensor => kiln.tensor(data, { shape, backend: 'wasm' }).keep();

/** x·a + b → tanh → ·c − d → relu → exp → max x → min e → + x (NaN-propagating max/min included). */
function chainOf(a: kiln.Tensor, b: kiln.Tensor, c: kiln.Tensor, d: kiln.Tensor, e: kiln.Tensor): (x: kiln.Tensor) => kiln.Tensor {
  return (x) => x.mul(a).add(b).tanh().mul(c).sub(d).relu().exp().maximum(x).minimum(e).add(x);
}

describeWebGpu('compiled on webgpu', () => {
  let params: Float32Array[];
  let chain: (x: kiln.Tensor) => kiln.Tensor;
  beforeAll(() => {
    params = [1, 2, 3, 4, 5].map((s) => kiln.rand([96], { seed: s, backend: 'wasm' }).dataSync() as Float32Array);
    const [a, b, c, d, e] = params.map((p) => gpu(p, [96])) as [kiln.Tensor, kiln.Tensor, kiln.Tensor, kiln.Tensor, kiln.Tensor];
    chain = chainOf(a, b, c, d, e);
  });

  it('an elementwise chain is one fusedElementwise node at O2 and equals the ops dispatched one by one', async () => {
    const x = gpu(edgy(7 * 96, 11), [7, 96]);
    const fast = kiln.compile(chain, { inputs: [kiln.spec([kiln.dim('batch'), 96])], target: 'webgpu', optimize: 'O2' });
    fast.run(x); // traces (eager result)
    const got = await (fast.run(x) as kiln.Tensor).data();
    expect(fast.graph.nodes.filter((n) => n.op === 'fusedElementwise')).toHaveLength(1);
    expect(fast.graph.nodes).toHaveLength(1);
    const want = await chain(x).data();
    // The same WGSL per op; the shader compiler may contract a·b + c into one fma across
    // steps: 2 ulp. NaN, ±∞ and ±0 as the single ops give them.
    expectUlps(got as Float32Array, want as Float32Array, 2, 'fused vs one by one');
    // And against the wasm backend's kernels (their own transcendentals): 1e-5 relative.
    const [aw, bw, cw, dw, ew] = params.map((p) => wasm(p, [96])) as [kiln.Tensor, kiln.Tensor, kiln.Tensor, kiln.Tensor, kiln.Tensor];
    const onWasm = chainOf(aw, bw, cw, dw, ew)(wasm(edgy(7 * 96, 11), [7, 96]));
    expectUlps(got as Float32Array, onWasm.dataSync() as Float32Array, 200, 'webgpu vs wasm', { abs: 1e-6 });
  });

  it('comparisons, where, leakyRelu and clip with an infinite bound fuse too (bool steps, float attributes)', async () => {
    const [pa, pb] = [params[0]!, params[1]!].map((p) => gpu(p, [96])) as [kiln.Tensor, kiln.Tensor];
    const f = (x: kiln.Tensor): kiln.Tensor => kiln.where(x.greater(pa), x.leakyRelu(0.1), kiln.clip(x.mul(pb), -1, Infinity)).abs();
    const fast = kiln.compile(f, { inputs: [kiln.spec([3, 96])], target: 'webgpu', optimize: 'O2' });
    const x = gpu(edgy(3 * 96, 15), [3, 96]);
    fast.run(x);
    const got = await (fast.run(x) as kiln.Tensor).data();
    expect(fast.graph.nodes.map((n) => n.op)).toEqual(['fusedElementwise']);
    expectUlps(got as Float32Array, await f(x).data() as Float32Array, 0, 'where/compare/clip', { signedZero: true });
  });

  it('a run is one queue submit; a warm plan creates no pipelines; a new batch size reuses them', async () => {
    const fast = kiln.compile(chain, { inputs: [kiln.spec([kiln.dim('batch'), 96])], target: 'webgpu' });
    const x = gpu(edgy(4 * 96, 12), [4, 96]);
    fast.run(x);
    await (fast.run(x) as kiln.Tensor).data();
    const stats = gpuBackend().stats;
    const { submits, pipelines } = stats;
    const y = fast.run(x) as kiln.Tensor;
    expect(stats.submits - submits).toBe(1);
    const x2 = gpu(edgy(9 * 96, 13), [9, 96]);
    const y2 = fast.run(x2) as kiln.Tensor;
    expect(stats.submits - submits).toBe(2);
    expect(stats.pipelines).toBe(pipelines);
    expectUlps(await y2.data() as Float32Array, await chain(x2).data() as Float32Array, 2, 'batch 9');
    y.dispose();
  });

  it('intermediates live in the plan\'s arena buffers: a warm run allocates only its output, and in-place reuse is off', async () => {
    // Two matmuls and elementwise ops between them at O3: values that cannot fuse.
    const w = gpu(kiln.randn([96, 96], { seed: 6, backend: 'wasm' }).dataSync() as Float32Array, [96, 96]);
    const f = (x: kiln.Tensor): kiln.Tensor => x.matmul(w).relu().matmul(w).tanh().sum(1);
    const fast = kiln.compile(f, { inputs: [kiln.spec([8, 96])], target: 'webgpu' });
    const x = gpu(edgy(8 * 96, 16), [8, 96]);
    fast.run(x);
    (fast.run(x) as kiln.Tensor).dispose();
    const alloc = vi.spyOn(gpuBackend(), 'alloc');
    const y = fast.run(x) as kiln.Tensor;
    expect(alloc).toHaveBeenCalledTimes(1); // the graph output
    alloc.mockRestore();
    expect(fast.explain()).toMatch(/arena [1-9][\d,]* bytes/);
    expectUlps(await y.data() as Float32Array, await f(x).data() as Float32Array, 4, 'arena run');
  });

  it('a linear / conv2d carrying an activation runs as one dispatch (the activation is the GEMM\'s store epilogue)', async () => {
    const b = gpuBackend();
    const x = gpu(edgy(4 * 96, 17), [4, 96]);
    const w = gpu(kiln.randn([5, 96], { seed: 7, backend: 'wasm' }).dataSync() as Float32Array, [5, 96]);
    const dispatch = vi.spyOn(b, 'dispatch');
    const [y] = b.kernels.get('linear')!([x, w] as unknown as KernelInput<GpuStorage>[], { activation: 'leakyRelu', activationAlpha: 0.25 }, [{ shape: [4, 5], dtype: 'float32' }]);
    expect(dispatch).toHaveBeenCalledTimes(1);
    dispatch.mockRestore();
    const got = await b.readAsync(y!);
    const want = await x.matmul(w.transpose(0, 1)).leakyRelu(0.25).data();
    // Another summation order than matmul's (K = 96): 1e-5·√K of the largest magnitude.
    const scale = Math.max(...Array.from(want as Float32Array, (v) => (Number.isFinite(v) ? Math.abs(v) : 0)));
    expectUlps(got as Float32Array, want as Float32Array, 4, 'linear + leakyRelu epilogue', { abs: 1e-5 * Math.sqrt(96) * scale });
  });

  it('constants fold on the CPU (webgpu values cannot be read synchronously) and run on the GPU', async () => {
    const w = gpu(kiln.randn([3], { seed: 4, backend: 'wasm' }).dataSync() as Float32Array, [3]);
    // exp(w) + 1 reads only a captured tensor: a folded constant.
    const f = (x: kiln.Tensor): kiln.Tensor => x.mul(w.exp().add(1)).relu();
    const fast = kiln.compile(f, { inputs: [kiln.spec([2, 3])], target: 'webgpu', optimize: 'O1' });
    const x = gpu(edgy(6, 14), [2, 3]);
    fast.run(x);
    expect(fast.graph.nodes.map((n) => n.op)).toEqual(['mul', 'relu']);
    const got = await (fast.run(x) as kiln.Tensor).data();
    expectUlps(got as Float32Array, await f(x).data() as Float32Array, 2, 'folded');
  });
});
