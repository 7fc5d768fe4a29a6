/**
 * Run by test/planAllocations.test.ts as `node --expose-gc --import tsx <this file>`:
 * a compiled MLP run 10k times (outputs disposed), heap measured after full GCs. Prints
 * one JSON line with the measurements.
 */
import * as kiln from '../../src/index.node.js';
import { traceOptimized } from '../../src/compiled/compile.js';
import { lowerGraph } from '../../src/compiled/lower.js';
import { engine } from '../../src/eager/engine.js';
import type { WasmBackend } from '../../src/runtime/wasm/wasmBackend.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

await kiln.init({ backend: 'wasm' });
const wasm = engine.backends.get('wasm') as unknown as WasmBackend;
kiln.manualSeed(1);
const { nn } = kiln;
const model = new nn.Sequential(new nn.Linear(64, 128), new nn.ReLU(), new nn.Linear(128, 128), new nn.Tanh(), new nn.Linear(128, 10)).eval();
const x = kiln.randn([4, 64], { seed: 2 });
const specs = [kiln.spec([kiln.dim('batch'), 64])];
const fast = kiln.compile(model, { inputs: specs });
const traced = traceOptimized(model, { inputs: specs }, [x]);
const plan = lowerGraph(traced.trace.graph, 'wasm', traced.trace.live, { optimize: 'O3' }).plan;
const bindings = new Map([['batch', 4]]);

const runCompiled = (): void => { (fast.run(x) as kiln.Tensor).dispose(); };
const runPlan = (): void => { plan.run([x], bindings)[0]!.dispose(); };

const heapAfterGc = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

/** heapUsed after gc and wasm heap size before and after each of two blocks of `n` runs. */
function measure(run: () => void, n: number): { heap: number[]; wasmBytes: number[]; liveBytes: number[]; allocatedPerRun: number } {
  for (let i = 0; i < 5000; i++) run(); // warm-up: JIT, step tables, arena, caches
  const heap = [heapAfterGc()], wasmBytes = [wasm.memory.buffer.byteLength], liveBytes = [wasm.liveBytes()];
  for (let block = 0; block < 2; block++) {
    for (let i = 0; i < n; i++) run();
    heap.push(heapAfterGc());
    wasmBytes.push(wasm.memory.buffer.byteLength);
    liveBytes.push(wasm.liveBytes());
  }
  // Bytes allocated per run (young garbage included): heap growth over a few runs without GC in between.
  const h0 = heapAfterGc();
  for (let i = 0; i < 200; i++) run();
  const allocatedPerRun = (process.memoryUsage().heapUsed - h0) / 200;
  return { heap, wasmBytes, liveBytes, allocatedPerRun };
}

const compiled = measure(runCompiled, 10_000);
const planned = measure(runPlan, 10_000);
console.log(JSON.stringify({ compiled, plan: planned, outsIgnored: Object.fromEntries(plan.outsIgnored), arenaBytes: plan.arenaBytes }));
process.exit(0);
