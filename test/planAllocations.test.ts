/**
 * A compiled plan allocates in JS (almost) only what a run returns. Three models compiled
 * on wasm at O3 — an MLP (64-128-128-10, batch 4), nn.LSTM(8, 16) on [6, 3, 8] (one `lstm`
 * sequence kernel after an `expand` of its zero state) and a small CNN (conv-relu-pool-
 * conv-relu-transpose-linear, NHWC) — run through `compiled.run` and through `ExecutionPlan.run`,
 * outputs disposed:
 *  - heapUsed after full GCs stays flat: 5k warm-up runs, then two blocks of 10k runs may
 *    each grow it by at most 64 KiB. Why that slack: V8 keeps tuning after warm-up
 *    (optimized code, inline caches and feedback vectors live on the JS heap and appear
 *    late), which measured 1–50 KB per block here; a leak of even one small object per
 *    run (≥ 12 bytes) adds ≥ 120 KB per block, so 64 KiB (≈ 6.5 bytes per run) catches it;
 *  - the wasm memory's byte length and the backend's live bytes stay exactly unchanged
 *    (the arena is allocated once at warm-up; graph outputs are freed on dispose);
 *  - the bytes allocated per run, young garbage included, stay within the case's bounds:
 *    heapUsed growth over 2,000 runs with no GC in between (V8's GC profiler confirms none
 *    ran), the least of 3 repeats (V8 may allocate feedback or IC objects late).
 *
 * What the bounds allow (measured on Node 20 / V8 11.3, 64-bit, no pointer compression;
 * V8's sampling heap profiler names each site). Per output tensor, ≈ 360 bytes: its
 * `Tensor` (160), its wasm storage record (≈ 90), the plan's slot record (48) and its
 * kernel's result array (56; 72 for the lstm's three). No finalizer registration (a
 * WeakCell and `{ storage, backend }`, ≈ 146 more): a tensor disposed within the task that
 * made it never registers (tensor.ts). Per run: the test's `[x]` (56) and, for
 * `ExecutionPlan.run`, the returned array (56); `compiled.run` returns into an outputs
 * array the plan reuses, and adds its rest-parameter array (56), the arrays of a nested
 * result (the LSTM's `[y, [h, c]]`: 128) and, for an `nn.Sequential`, its property list
 * (160: V8 enumerates an object with indexed properties into a fresh array; a structure
 * check that does not enumerate would miss an appended child). The kernels keep what they
 * would rebuild per call per attrs object: the fused tanh's call arrays
 * (fusedActivation.ts), the NHWC pool's table view (poolNhwcKernel.ts), the transpose's
 * simplified permutation (the CNN's NHWC → NCHW before its flatten; linalg.ts: ≈ 1.9 KB per
 * call before). Measured: MLP 433 / 537 bytes (plan / compiled), LSTM 995 / 1050, CNN
 * 536 / 642 (with each output registered with the finalizer: MLP 587 / 692, LSTM 1530 /
 * 1585, CNN 681 / 793; before this work: MLP ≈ 880 / 3,500, LSTM ≈ 3,300 / 6,200, the CNN
 * without its transpose ≈ 1,250 / 3,700). The bounds add 80–110 bytes (8–18 %): less than
 * one array per kernel step (32–56 bytes each) on every step of a case would take, or one
 * finalizer registration per output.
 *
 * Its own file, so its own fork (vitest's `forks` pool): it turns on V8's `gc()` as
 * test/robustness/memory.finalizer.test.ts does, and every measurement is one synchronous
 * stretch, so nothing of the test runner allocates in between. It prints the bytes
 * allocated per run and the kernel steps.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { traceOptimized } from '../src/compiled/compile.js';
import { lowerGraph } from '../src/compiled/lower.js';
import { engine } from '../src/eager/engine.js';
import type { WasmBackend } from '../src/runtime/wasm/wasmBackend.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const SLACK_BYTES = 64 * 1024;
let wasm: WasmBackend;

beforeAll(async () => {
  await kiln.init({ backend: 'wasm' });
  wasm = engine.backends.get('wasm') as unknown as WasmBackend;
});

const heapAfterGc = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

interface Measured {
  heap: number[];
  wasmBytes: number[];
  liveBytes: number[];
  /** Bytes allocated per run (young garbage included); Infinity if a GC ran in every repeat. */
  allocatedPerRun: number;
}

/** Bytes allocated per run of `run`: the least of 3 stretches of `n` runs in which no GC ran. */
function allocatedPerRun(run: () => void, n = 2000): number {
  let least = Infinity;
  for (let rep = 0; rep < 3; rep++) {
    gc();
    gc();
    const profiler = new v8.GCProfiler();
    profiler.start();
    const h0 = process.memoryUsage().heapUsed;
    for (let i = 0; i < n; i++) run();
    const h1 = process.memoryUsage().heapUsed;
    const gcs = profiler.stop().statistics.length;
    if (gcs === 0) least = Math.min(least, (h1 - h0) / n);
  }
  return least;
}

/** heapUsed after gc, wasm heap size and live bytes before and after each of two blocks of `n` runs; then bytes allocated per run. */
function measure(run: () => void, n: number): Measured {
  for (let i = 0; i < 5000; i++) run(); // warm-up: JIT, step tables, arena, caches
  const heap = [heapAfterGc()], wasmBytes = [wasm.memory.buffer.byteLength], liveBytes = [wasm.liveBytes()];
  for (let block = 0; block < 2; block++) {
    for (let i = 0; i < n; i++) run();
    heap.push(heapAfterGc());
    wasmBytes.push(wasm.memory.buffer.byteLength);
    liveBytes.push(wasm.liveBytes());
  }
  return { heap, wasmBytes, liveBytes, allocatedPerRun: allocatedPerRun(run) };
}

function disposeAll(r: unknown): void {
  if (r instanceof kiln.Tensor) r.dispose();
  else if (Array.isArray(r)) for (const x of r) disposeAll(x);
}

interface Case {
  name: string;
  make: () => kiln.nn.Module;
  specs: kiln.InputSpec[];
  input: () => kiln.Tensor;
  bindings: [string, number][];
  /** Bytes a run may allocate through `compiled.run` and `ExecutionPlan.run` (see the header). */
  bounds: { compiled: number; plan: number };
  /** Ops of the plan's kernel steps that must be there (what the case exercises). */
  ops: string[];
}

const { nn } = kiln;
const CASES: Case[] = [
  {
    name: 'MLP 64-128-128-10',
    make: () => new nn.Sequential(new nn.Linear(64, 128), new nn.ReLU(), new nn.Linear(128, 128), new nn.Tanh(), new nn.Linear(128, 10)).eval(),
    specs: [kiln.spec([kiln.dim('batch'), 64])],
    input: () => kiln.randn([4, 64], { seed: 2 }),
    bindings: [['batch', 4]],
    bounds: { compiled: 630, plan: 520 },
    ops: ['linear'],
  },
  {
    name: 'nn.LSTM(8, 16)',
    make: () => new nn.LSTM(8, 16).eval(),
    specs: [kiln.spec([6, kiln.dim('batch'), 8])],
    input: () => kiln.randn([6, 3, 8], { seed: 3 }),
    bindings: [['batch', 3]],
    bounds: { compiled: 1140, plan: 1090 },
    ops: ['lstm'],
  },
  {
    name: 'small CNN',
    make: () => new nn.Sequential(
      new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
      new nn.Conv2d(4, 2, 3), new nn.ReLU(), new nn.Flatten(), new nn.Linear(2 * 3 * 3, 5),
    ).eval(),
    specs: [kiln.spec([kiln.dim('n'), 1, 10, 10])],
    input: () => kiln.randn([2, 1, 10, 10], { seed: 4 }),
    bindings: [['n', 2]],
    bounds: { compiled: 730, plan: 620 },
    ops: ['conv2dNhwc', 'maxPool2dNhwc', 'transpose', 'linear'],
  },
];

describe('plan runs allocate nothing in JS but what they return', () => {
  for (const c of CASES) {
    it(`${c.name}: heapUsed after gc flat, wasm memory unchanged over 2 × 10k runs, bytes per run within the bound`, () => {
      kiln.manualSeed(1);
      const model = c.make();
      const x = c.input();
      const fast = kiln.compile(model, { inputs: c.specs, optimize: 'O3' });
      const traced = traceOptimized(model, { inputs: c.specs, optimize: 'O3' }, [x]);
      const plan = lowerGraph(traced.trace.graph, 'wasm', traced.trace.live, { optimize: 'O3' }).plan;
      const ops = plan.allSteps.filter((st) => plan.steps[st.index]?.kernel).map((st) => st.node.op);
      for (const op of c.ops) expect(ops, `${c.name}: kernel steps`).toContain(op);
      const bindings = new Map(c.bindings);
      const runs: [string, Measured, number][] = [
        ['compiled.run', measure(() => { disposeAll(fast.run(x)); }, 10_000), c.bounds.compiled],
        ['ExecutionPlan.run', measure(() => { const outs = plan.run([x], bindings); for (let i = 0; i < outs.length; i++) outs[i]!.dispose(); }, 10_000), c.bounds.plan],
      ];
      for (const [what, m, bound] of runs) console.log(`${c.name}, ${what}: heapUsed after gc ${m.heap.join(' → ')} bytes; ${m.allocatedPerRun.toFixed(1)} bytes allocated per run (bound ${bound}); kernel steps ${ops.join(' ')}`);
      for (const [what, m, bound] of runs) {
        for (let b = 1; b < m.heap.length; b++) {
          expect(m.heap[b]! - m.heap[b - 1]!, `${c.name}, ${what}: heapUsed growth over 10k runs (block ${b})`).toBeLessThanOrEqual(SLACK_BYTES);
          expect(m.wasmBytes[b], `${c.name}, ${what}: wasm memory bytes`).toBe(m.wasmBytes[0]);
          expect(m.liveBytes[b], `${c.name}, ${what}: live bytes`).toBe(m.liveBytes[0]);
        }
        expect(m.allocatedPerRun, `${c.name}, ${what}: bytes allocated per run`).toBeLessThanOrEqual(bound);
      }
      expect(plan.arenaBytes).toBeGreaterThan(0);
      expect(Object.fromEntries(plan.outsIgnored), `${c.name}: kernels that copied over their caller-given outputs`).toEqual({});
      plan.dispose();
      fast.dispose();
    });
  }
});

describe("wasm expand of one value (an RNN's zero state) fills natively, allocating nothing per call", () => {
  // Exact bits: the fill copies the element's bit pattern (NaN payload, -0 kept); odd and size-1 shapes.
  const CASES: [kiln.DType, number, number[], number[]][] = [
    ['float32', NaN, [1], [7]],
    ['float32', -0, [], [3, 5]],
    ['float32', -Infinity, [1, 1], [2, 1, 13]],
    ['float32', 1.5, [1, 1, 1], [1, 3, 1, 5]],
    ['int32', -7, [1], [4, 9]],
    ['bool', 1, [1], [3, 11]],
  ];
  for (const [dtype, value, from, to] of CASES) {
    it(`${dtype} ${Object.is(value, -0) ? '-0' : value} [${from.join(', ')}] → [${to.join(', ')}]`, () => {
      const x = kiln.tensor(dtype === 'float32' ? Float32Array.of(value) : dtype === 'int32' ? Int32Array.of(value) : Uint8Array.of(value), { shape: from, dtype });
      const y = x.expand(to);
      expect(y.shape).toEqual(to);
      const data = y.dataSync();
      const got = Array.from(data as ArrayLike<number>);
      expect(got.length).toBe(to.reduce((p, d) => p * d, 1));
      for (const v of got) expect(Object.is(v, value), `${dtype} element`).toBe(true);
      if (dtype === 'float32') {
        const bits = new Uint32Array((data as Float32Array).slice().buffer);
        expect(bits).toEqual(new Uint32Array(got.length).fill(new Uint32Array(x.dataSync().slice().buffer)[0]!));
      }
      y.dispose();
      x.dispose();
    });
  }
});

describe('guards reuse their bindings map and still see every change', () => {
  it('two inputs sharing a symbol must agree; sizes alternating on one symbolic entry each run at their own binding', () => {
    const f = (x: kiln.Tensor, y: kiln.Tensor) => x.mul(y).add(1);
    const fast = kiln.compile(f, { inputs: [kiln.spec([kiln.dim('n'), 3]), kiln.spec([kiln.dim('n'), 3])] });
    const inputs = (n: number): [kiln.Tensor, kiln.Tensor] => [kiln.randn([n, 3], { seed: n }), kiln.randn([n, 3], { seed: 100 + n })];
    for (const n of [4, 7, 4, 1, 7, 4]) {
      const [x, y] = inputs(n);
      const got = fast.run(x, y) as kiln.Tensor;
      expect(got.shape).toEqual([n, 3]);
      expect(Array.from(got.dataSync())).toEqual(Array.from(kiln.noGrad(() => f(x, y)).dataSync())); // exact: the same kernels
    }
    expect(fast.traceCount).toBe(1); // one symbolic entry served every size
    // The guard's second use of `n` is compared, not overwritten: 5 against 6 matches no entry (and retracing says why).
    expect(() => fast.run(kiln.zeros([5, 3]), kiln.zeros([6, 3]))).toThrow(/disagree on dimension 'n': 5 and 6/);
    expect(fast.traceCount).toBe(2);
    fast.dispose();
  });
});
