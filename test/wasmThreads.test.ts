/**
 * The wasm backend on tfjs-backend-wasm's threaded-SIMD build (`kiln.init({ threads: 2 })`):
 * XNNPACK kernels split across a pthread worker, Kiln's generated kernels on the shared
 * heap (their `env.memory` import declared shared by `compileForMemory`), heap growth, and
 * the once-per-process rule. Results are checked against the reference backend. vitest runs each test file in
 * its own process, so the threaded module stays in this file.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { expectClose } from './support/expectClose.js';
import { engine } from '../src/eager/engine.js';
import type { WasmBackend } from '../src/runtime/wasm/wasmBackend.js';
import { compileForMemory, I, ModuleBuilder, T } from '../src/runtime/wasm/wasmAssembler.js';
import { loadWasmModule } from '../src/runtime/wasm/wasmModule.js';
import { KernelPool } from '../src/runtime/wasm/kernelPool.js';
import { getOp } from '../src/ir/index.js';

beforeAll(async () => {
  await kiln.init({ threads: 2 });
});

const wasm = (): WasmBackend => engine.backends.get('wasm') as unknown as WasmBackend;

/** Same values as float32 on wasm and float64 on reference. */
function pair(shape: number[], seed: number, requiresGrad = false): [kiln.Tensor, kiln.Tensor] {
  const a = kiln.randn(shape, { seed, backend: 'wasm', requiresGrad });
  const b = kiln.tensor(Float64Array.from(a.dataSync()), { shape, dtype: 'float64', backend: 'reference', requiresGrad });
  return [a, b];
}

/** Runs `f` on wasm (float32) and reference (float64) inputs of `shapes`; compares. */
function sameOnBoth(shapes: number[][], f: (...xs: kiln.Tensor[]) => kiln.Tensor, rel: number, what: string): void {
  kiln.scope(() => {
    const ps = shapes.map((s, i) => pair(s, 100 + i));
    expectClose(f(...ps.map((p) => p[0])), f(...ps.map((p) => p[1])), rel, what);
  });
}

describe('loading the threaded build', () => {
  it('runs XNNPACK on 2 threads: one pthread worker, a shared heap', async () => {
    expect(kiln.wasmThreads()).toBe(2);
    expect(wasm().memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    const mod = (await loadWasmModule()) as unknown as { PThread: { runningWorkers: unknown[]; unusedWorkers: unknown[] } };
    expect(mod.PThread.runningWorkers).toHaveLength(1);
    expect(mod.PThread.unusedWorkers).toHaveLength(0); // the 7 idle ones were ended
    expect('Worker' in globalThis).toBe(false); // the build's global is put back
  });

  it('is loaded once per process: another thread count throws a KilnError, none keeps it', async () => {
    await expect(kiln.init({ threads: 1 })).rejects.toThrow(kiln.KilnError);
    await expect(kiln.init({ threads: 4 })).rejects.toThrow(/already loaded with 2 threads; it cannot switch to 4 threads/);
    await kiln.init({ threads: 2 });
    await kiln.init({ backend: 'reference' });
    expect(kiln.getDefaultBackend()).toBe('reference');
    await kiln.init();
    expect(kiln.getDefaultBackend()).toBe('wasm');
    expect(kiln.wasmThreads()).toBe(2);
  });
});

describe('XNNPACK kernels on 2 threads equal the reference backend', () => {
  it('matmul big enough to be split (plain, transposed, batched)', () => {
    sameOnBoth([[256, 513], [513, 384]], (a, b) => a.matmul(b), 1e-5 * Math.sqrt(513), 'a @ b');
    sameOnBoth([[384, 257], [130, 257]], (a, b) => a.matmul(b.transpose()), 1e-5 * Math.sqrt(257), 'a @ bᵀ');
    sameOnBoth([[3, 65, 200], [3, 200, 97]], (a, b) => a.matmul(b), 1e-5 * Math.sqrt(200), 'batched');
  });

  it('conv2d, max/avg pools and their gradients (im2col, generated pool gradient)', () => {
    for (const [name, opts] of [['padding 1', { padding: 1 }], ['stride 2', { stride: 2 }]] as const) {
      kiln.scope(() => {
        const [x, xr] = pair([6, 7, 19, 18], 1, true);
        const [w, wr] = pair([33, 7, 3, 3], 2, true);
        const [b, br] = pair([33], 3, true);
        const run = (xx: kiln.Tensor, ww: kiln.Tensor, bb: kiln.Tensor, g: kiln.Tensor): kiln.Tensor => {
          const y = kiln.maxPool2d(kiln.conv2d(xx, ww, bb, opts).relu(), 2);
          return kiln.avgPool2d(y, 3, { stride: 1, padding: 1 }).mul(g).sum();
        };
        const outShape = kiln.maxPool2d(kiln.conv2d(x, w, b, opts), 2).shape;
        const [g, gr] = pair([...outShape], 4);
        const loss = run(x, w, b, g), lossRef = run(xr, wr, br, gr);
        expectClose(loss, lossRef, 1e-4, `${name}: loss`);
        loss.backward();
        lossRef.backward();
        expectClose(x.grad!, xr.grad!, 1e-4, `${name}: d/dx`);
        expectClose(w.grad!, wr.grad!, 1e-4, `${name}: d/dw`);
        expectClose(b.grad!, br.grad!, 1e-4, `${name}: d/db`);
      });
    }
  });
});

describe("Kiln's generated kernels on the shared heap", () => {
  it('elementwise (odd sizes, broadcasting, compare, where, unary)', () => {
    sameOnBoth([[37, 1, 5], [1, 11, 5]], (a, b) => a.add(b).mul(a).sub(b.div(3)), 1e-6, 'arith');
    sameOnBoth([[1031], [1031]], (a, b) => kiln.where(a.greater(b), a.exp(), b.sigmoid()).maximum(kiln.where(a.lessEqual(0.5), a, -1)), 1e-6, 'where');
    sameOnBoth([[5, 7]], (a) => a.tanh().neg().abs().sqrt(), 1e-6, 'unary');
  });

  it('transpose / permute and reductions', () => {
    sameOnBoth([[7, 33, 5]], (a) => a.permute(2, 0, 1), 0, 'permute');
    sameOnBoth([[130, 67]], (a) => a.transpose(), 0, 'transpose');
    sameOnBoth([[9, 31, 13]], (a) => a.sum(1), 1e-5, 'sum rows');
    sameOnBoth([[9, 31, 13]], (a) => a.max(2), 0, 'max last');
    sameOnBoth([[1, 4097]], (a) => a.mean(), 1e-5, 'mean all');
  });

  it('random numbers: the same streams as the reference backend', () => {
    for (const f of [kiln.rand, kiln.randn] as const) {
      expect(f([13, 7], { seed: 5 }).toArray()).toEqual(f([13, 7], { seed: 5, backend: 'reference' }).toArray());
    }
    const p = kiln.rand([1003], { seed: 6 });
    expect(kiln.bernoulli(p, { seed: 7 }).toArray()).toEqual(kiln.bernoulli(p.to('reference'), { seed: 7 }).toArray());
    const x = kiln.randn([3, 333], { seed: 8 });
    expect(kiln.dropout(x, 0.3, { seed: 9 }).toArray()).toEqual(kiln.dropout(x.to('reference'), 0.3, { seed: 9 }).toArray());
  });

  it('keep working after the heap grows (a shared buffer grows instead of detaching)', () => {
    const memory = wasm().memory;
    const [a, ar] = pair([17, 29], 10);
    const before = memory.buffer;
    const oldView = new Float32Array(before, 0, 4);
    const big = kiln.zeros([before.byteLength / 4 + (1 << 20)]); // forces memory.grow
    const after = memory.buffer;
    expect(after).toBeInstanceOf(SharedArrayBuffer);
    expect(after.byteLength).toBeGreaterThan(before.byteLength);
    expect(before.byteLength).toBeGreaterThan(0); // not detached
    oldView[0] = 1.5;
    expect(new Float32Array(after, 0, 1)[0]).toBe(1.5); // the same memory
    expect(big.sum().item()).toBe(0);
    // Tensors from before and after the growth, through generated and XNNPACK kernels.
    const [c, cr] = pair([29, 17], 11);
    expectClose(a.mul(2).add(c.transpose()).exp().sum(0), ar.mul(2).add(cr.transpose()).exp().sum(0), 1e-5, 'after growth');
    expectClose(a.matmul(c), ar.matmul(cr), 1e-5 * Math.sqrt(29), 'matmul after growth');
    expect(kiln.rand([99], { seed: 12 }).toArray()).toEqual(kiln.rand([99], { seed: 12, backend: 'reference' }).toArray());
    big.dispose();
  });
});

describe('training on 2 threads', () => {
  it('a small CNN: 3 SGD steps track the reference backend', async () => {
    const build = (): { model: kiln.nn.Sequential; opt: kiln.optim.SGD } => {
      kiln.manualSeed(21);
      const { nn } = kiln;
      const model = new nn.Sequential(
        new nn.Conv2d(1, 8, 3), new nn.ReLU(), new nn.MaxPool2d(2),
        new nn.Conv2d(8, 16, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
        new nn.Flatten(), new nn.Linear(16 * 3 * 3, 10),
      );
      return { model, opt: new kiln.optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 }) };
    };
    const x = kiln.rand([16, 1, 14, 14], { seed: 22 });
    const y = kiln.randint(0, 10, [16], { seed: 23 });
    const runs: { losses: number[]; params: kiln.Tensor[] }[] = [];
    for (const backend of ['wasm', 'reference'] as const) {
      await kiln.init({ backend });
      const { model, opt } = build();
      const xb = x.to(backend), yb = y.to(backend);
      const losses: number[] = [];
      for (let step = 0; step < 3; step++) {
        kiln.scope(() => {
          opt.zeroGrad();
          const loss = kiln.nn.crossEntropy(model.forward(xb), yb);
          loss.backward();
          opt.step();
          losses.push(loss.item());
        });
      }
      runs.push({ losses, params: model.parameters() });
    }
    await kiln.init();
    const [onWasm, onRef] = [runs[0]!, runs[1]!];
    for (let i = 0; i < 3; i++) expect(Math.abs(onWasm.losses[i]! - onRef.losses[i]!), `loss ${i}`).toBeLessThan(1e-4);
    onWasm.params.forEach((p, i) => expectClose(p, onRef.params[i]!, 1e-4, `parameter ${i}`));
  });
});

describe('the memory import of generated modules', () => {
  const getter = (): Uint8Array<ArrayBuffer> => {
    const m = new ModuleBuilder().importMemory();
    m.func('get', [T.i32], [T.f32], [], [I.get(0), I.f32Load()]);
    return m.bytes();
  };
  const instantiate = (mod: WebAssembly.Module, memory: WebAssembly.Memory): ((ptr: number) => number) =>
    new WebAssembly.Instance(mod, { env: { memory } }).exports['get'] as (ptr: number) => number;

  it('is declared shared when compiled for the shared heap (a plain declaration cannot link to it)', () => {
    const memory = wasm().memory;
    expect(() => instantiate(new WebAssembly.Module(getter()), memory)).toThrow(WebAssembly.LinkError);
    const s = wasm().alloc('float32', 2);
    wasm().write(s, Float32Array.of(2.5, -1));
    expect(instantiate(compileForMemory(memory, 'test getter', getter), memory)(s.ptr + 4)).toBe(-1);
    wasm().free(s);
  });

  it('stays plain when compiled for a plain memory in the same process (kernels on a private heap)', () => {
    const plain = new WebAssembly.Memory({ initial: 1 });
    new Float32Array(plain.buffer)[3] = 7;
    expect(instantiate(compileForMemory(plain, 'test getter', getter), plain)(12)).toBe(7);
    const shared = new WebAssembly.Memory({ initial: 1, maximum: 2, shared: true });
    new Float32Array(shared.buffer)[1] = -3;
    expect(instantiate(compileForMemory(shared, 'test getter', getter), shared)(4)).toBe(-3);
  });
});

describe("Kiln's kernel threads (kernelPool.ts, rowSplit.ts): the recurrent sequence kernels split by rows", () => {
  type Op = 'lstm' | 'gru';
  /** The op's inputs: x [T, B, I], h0 (, c0) [L·D, B, H], weights per layer and direction. */
  function lstmInputs(T: number, B: number, I: number, H: number, layers: number, directions: number, seed: number, op: Op = 'lstm'): kiln.Tensor[] {
    let s = seed;
    const r = (shape: number[]) => kiln.randn(shape, { seed: s++ }).mul(0.5);
    const G = (op === 'lstm' ? 4 : 3) * H;
    const ws: kiln.Tensor[] = [];
    for (let l = 0; l < layers; l++) for (let d = 0; d < directions; d++) ws.push(r([G, l ? directions * H : I]), r([G, H]), r([G]), r([G]));
    const states = (op === 'lstm' ? [0, 1] : [0]).map(() => r([layers * directions, B, H]));
    return [r([T, B, I]), ...states, ...ws];
  }
  const bits = (t: kiln.Tensor): Uint32Array => new Uint32Array(Float32Array.from(t.dataSync()).buffer);
  const lstmOf = (ins: kiln.Tensor[], attrs: Record<string, unknown>, lengths?: kiln.Tensor, op: Op = 'lstm'): kiln.Tensor[] =>
    kiln.noGrad(() => ins[0]!.applyOp(op, [...ins.slice(1), ...(lengths ? [lengths] : [])], attrs as never));
  const decomposed = (ins: kiln.Tensor[], attrs: Record<string, unknown>, lengths?: kiln.Tensor, op: Op = 'lstm'): kiln.Tensor[] =>
    kiln.noGrad(() => getOp(op)!.decompose!([...ins, ...(lengths ? [lengths] : [])], attrs as never) as kiln.Tensor[]);
  /** Jobs of the heap's kernel pool (made by the first split kernel). */
  const splitPoolJobs = (): { helpers: number; here: number } => KernelPool.made(wasm().module)?.jobs ?? { helpers: 0, here: 0 };

  it('the helper runs shares of the rows once started, with the decomposition\'s bits (odd shares, edge panels, lengths, layers, both directions)', async () => {
    // Every product here is below the size that goes to XNNPACK's threads, so the
    // decomposition runs the same generated tiles: bit-identical.
    const cases: [string, number, number, number, number, number, number, number[] | null, Op][] = [
      // name, T, B, I, H, layers, directions, lengths, op
      ['B 16, H 32', 5, 16, 6, 32, 1, 1, null, 'lstm'],
      ['B 9 (shares 6 + 3), H 12', 4, 9, 5, 12, 1, 1, null, 'lstm'],
      ['B 8, H 5 (edge panel)', 3, 8, 3, 5, 2, 2, null, 'lstm'],
      ['B 10, H 8, lengths', 6, 10, 4, 8, 1, 2, [6, 0, 3, 1, 6, 2, 5, 4, 6, 1], 'lstm'],
      ['gru B 12, H 16 (b_hh in the split step)', 5, 12, 6, 16, 1, 2, null, 'gru'],
      ['gru B 9, H 16, lengths', 4, 9, 3, 16, 2, 1, [4, 0, 1, 3, 4, 2, 4, 1, 3], 'gru'],
    ];
    // The helper starts asynchronously: its first jobs run here. Wait until it has run one.
    const before = { ...splitPoolJobs() };
    for (let tries = 0; tries < 100 && splitPoolJobs().helpers === before.helpers; tries++) {
      kiln.scope(() => void lstmOf(lstmInputs(2, 8, 2, 4, 1, 1, 1), { hiddenSize: 4, numLayers: 1, bidirectional: false, batchFirst: false, hasBiases: true }));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(splitPoolJobs().helpers).toBeGreaterThan(before.helpers);
    for (const [name, T, B, I, H, layers, directions, lengths, op] of cases) {
      kiln.scope(() => {
        const ins = lstmInputs(T, B, I, H, layers, directions, B * 7 + H, op);
        const attrs = { hiddenSize: H, numLayers: layers, bidirectional: directions === 2, batchFirst: false, hasBiases: true };
        const len = lengths ? kiln.tensor(lengths, { dtype: 'int32' }) : undefined;
        const jobs = splitPoolJobs().helpers;
        const got = lstmOf(ins, attrs, len, op), want = decomposed(ins, attrs, len, op);
        expect(splitPoolJobs().helpers, `${name}: helper jobs`).toBeGreaterThan(jobs);
        got.forEach((t, k) => expect(bits(t), `${name}: output ${k}`).toEqual(bits(want[k]!)));
      });
    }
  });

  it('the benchmark LSTM (batch 16, hidden 128, 32 steps) agrees with its decomposition within 1e-5 (whose input GEMM runs on XNNPACK here)', () => {
    kiln.scope(() => {
      const ins = lstmInputs(32, 16, 64, 128, 1, 1, 3);
      const attrs = { hiddenSize: 128, numLayers: 1, bidirectional: false, batchFirst: false, hasBiases: true };
      const got = lstmOf(ins, attrs), want = decomposed(ins, attrs);
      got.forEach((t, k) => expectClose(t, want[k]!, 1e-5, `output ${k}`));
    });
  });

});
