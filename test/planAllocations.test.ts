/**
 * A compiled plan allocates nothing that lives past a run: a compiled MLP (64-128-128-10,
 * batch 4, O3, wasm) run 10k times, outputs disposed, twice in a row after 5k warm-up
 * runs — through `compiled.run` and through `ExecutionPlan.run` — keeps
 *  - `process.memoryUsage().heapUsed` after full GCs flat: each 10k block may grow it by
 *    at most 64 KiB. Why that slack: V8 keeps tuning after warm-up (optimized code, inline
 *    caches and feedback vectors live on the JS heap and appear late), which measured 1–50
 *    KB per block here; a leak of even one small object per run (≥ 12 bytes) would add ≥
 *    120 KB per block, so 64 KiB (≈ 6.5 bytes per run) still catches it;
 *  - the wasm memory's byte length and the backend's live bytes exactly unchanged (the
 *    arena is allocated once at warm-up; graph outputs are freed on dispose).
 * Its own file, so its own fork (vitest's `forks` pool): it turns on V8's `gc()` as
 * test/robustness/memory.finalizer.test.ts does, and every measurement is one synchronous
 * stretch, so nothing of the test runner allocates in between. It also prints the bytes
 * allocated per run (young garbage included) and the kernels that ignored their
 * caller-given outputs.
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
  allocatedPerRun: number;
}

/** heapUsed after gc, wasm heap size and live bytes before and after each of two blocks of `n` runs. */
function measure(run: () => void, n: number): Measured {
  for (let i = 0; i < 5000; i++) run(); // warm-up: JIT, step tables, arena, caches
  const heap = [heapAfterGc()], wasmBytes = [wasm.memory.buffer.byteLength], liveBytes = [wasm.liveBytes()];
  for (let block = 0; block < 2; block++) {
    for (let i = 0; i < n; i++) run();
    heap.push(heapAfterGc());
    wasmBytes.push(wasm.memory.buffer.byteLength);
    liveBytes.push(wasm.liveBytes());
  }
  // Bytes allocated per run (young garbage included): heap growth over a few runs without a GC in between.
  const h0 = heapAfterGc();
  for (let i = 0; i < 200; i++) run();
  return { heap, wasmBytes, liveBytes, allocatedPerRun: (process.memoryUsage().heapUsed - h0) / 200 };
}

describe('plan runs allocate nothing that outlives them', () => {
  it('heapUsed after gc flat and wasm memory unchanged over 2 × 10k runs of a compiled MLP', () => {
    kiln.manualSeed(1);
    const { nn } = kiln;
    const model = new nn.Sequential(new nn.Linear(64, 128), new nn.ReLU(), new nn.Linear(128, 128), new nn.Tanh(), new nn.Linear(128, 10)).eval();
    const x = kiln.randn([4, 64], { seed: 2 });
    const specs = [kiln.spec([kiln.dim('batch'), 64])];
    const fast = kiln.compile(model, { inputs: specs });
    const traced = traceOptimized(model, { inputs: specs }, [x]);
    const plan = lowerGraph(traced.trace.graph, 'wasm', traced.trace.live, { optimize: 'O3' }).plan;
    const bindings = new Map([['batch', 4]]);
    const runs: [string, Measured][] = [
      ['compiled.run', measure(() => { (fast.run(x) as kiln.Tensor).dispose(); }, 10_000)],
      ['ExecutionPlan.run', measure(() => { plan.run([x], bindings)[0]!.dispose(); }, 10_000)],
    ];
    for (const [what, m] of runs) {
      for (let b = 1; b < m.heap.length; b++) {
        expect(m.heap[b]! - m.heap[b - 1]!, `${what}: heapUsed growth over 10k runs (block ${b})`).toBeLessThanOrEqual(SLACK_BYTES);
        expect(m.wasmBytes[b], `${what}: wasm memory bytes`).toBe(m.wasmBytes[0]);
        expect(m.liveBytes[b], `${what}: live bytes`).toBe(m.liveBytes[0]);
      }
      console.log(`${what}: heapUsed after gc ${m.heap.join(' → ')} bytes; ~${m.allocatedPerRun.toFixed(0)} bytes allocated per run (collected)`);
    }
    expect(plan.arenaBytes).toBeGreaterThan(0);
    expect(Object.fromEntries(plan.outsIgnored)).toEqual({}); // no output copied over: every kernel wrote into its view
    console.log(`arena ${plan.arenaBytes} bytes; kernels that ignored their caller-given outputs: ${JSON.stringify(Object.fromEntries(plan.outsIgnored))}`);
    plan.dispose();
    fast.dispose();
  });
});
