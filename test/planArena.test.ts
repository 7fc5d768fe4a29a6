/**
 * Execution plans run into the arena of their memory plan (kernelExecutor.ts): every
 * intermediate is an arena view handed to its kernel as a caller-given output, graph
 * outputs are fresh storages, in-place writes (O3) alias a dying input.
 *
 *  - Every model of the suite's set (MLP, CNN with batch norm, nn.LSTM, residual block,
 *    an elementwise chain) compiled at O0..O3 agrees with eager on its second call (the
 *    first returns eager's own result), NaN inputs included, and again on a third call
 *    with other values (views are rewritten, nothing stale is read). Tolerances: 0
 *    (bit-identical) where the compiled graph runs the eager kernels' arithmetic; 1e-5
 *    relative to the largest |output| for the batch-norm models (BN folding reassociates
 *    the per-channel products, see passes.models.test.ts).
 *  - The same graphs as plans (lowerGraph) with every kernel call recorded: the arena
 *    held is the memory plan's arenaBytes; every caller-given output lies inside one block
 *    of that many bytes; each in-place write of the memory plan reaches its kernel with
 *    the output being the input's storage; no kernel of these models ignores its
 *    caller-given output (none is copied over).
 *  - Each kernel of an `IN_PLACE_OPS` op, called with its output aliasing an input, gives
 *    the bits it gives into a fresh output (NaN, ±Inf, ±0, odd sizes, broadcasts).
 *  - A kernel that ignores its output is copied over and counted; a matmul whose B is an
 *    intermediate never reuses XNNPACK's packing of an older value; a symbolic plan grows
 *    its arena for a larger binding and still runs the smaller one; dispose frees it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { engine } from '../src/eager/engine.js';
import { compile, dim, spec, type CompiledModel } from '../src/compiled/index.js';
import { traceOptimized } from '../src/compiled/compile.js';
import { lowerGraph } from '../src/compiled/lower.js';
import type { ExecutionPlan, PlanStep } from '../src/compiled/executionPlan.js';
import { getOp, type Attrs, type DType, type TensorType } from '../src/ir/index.js';
import { IN_PLACE_OPS } from '../src/passes/opTraits.js';
import type { OptLevel } from '../src/passes/index.js';
import type { KernelInput } from '../src/runtime/backend.js';
import type { WasmBackend, WasmStorage } from '../src/runtime/wasm/wasmBackend.js';
import { Residual } from './support/residualBlock.js';
import { relDiff } from './support/expectClose.js';

const { nn } = kiln;
let wasm: WasmBackend;

beforeAll(async () => {
  await kiln.init({ backend: 'wasm' });
  wasm = engine.backends.get('wasm') as unknown as WasmBackend;
});

const LEVELS: readonly OptLevel[] = ['O0', 'O1', 'O2', 'O3'];

/** `x` with NaN written into a few elements. */
function withNaN(x: kiln.Tensor): kiln.Tensor {
  const d = Float32Array.from(x.dataSync());
  for (let i = 0; i < d.length; i += 7) d[i] = NaN;
  return kiln.tensor(d, { shape: x.shape });
}

const leaves = (r: unknown): kiln.Tensor[] => (r instanceof kiln.Tensor ? [r] : (r as unknown[]).flatMap(leaves));

function scrambleBatchNorm(bn: kiln.nn.BatchNorm2d, seed: number): void {
  kiln.noGrad(() => {
    const c = bn.runningMean!.shape[0]!;
    bn.runningMean!.copy_(kiln.randn([c], { seed }));
    bn.runningVar!.copy_(kiln.rand([c], { seed: seed + 1 }).add(0.25));
    bn.weight!.copy_(kiln.randn([c], { seed: seed + 2 }));
    bn.bias!.copy_(kiln.randn([c], { seed: seed + 3 }));
  });
}

interface ModelCase {
  name: string;
  make: () => kiln.nn.Module | ((...xs: kiln.Tensor[]) => kiln.Tensor);
  specs: kiln.InputSpec[];
  /** Two input sets (the second with other values, same shapes). */
  inputs: () => kiln.Tensor[][];
  tol: number;
  /** In-place writes its O3 memory plan makes (checked when given). */
  inPlaceAtO3?: number;
}

const MODELS: ModelCase[] = [
  {
    name: 'MLP',
    make: () => new nn.Sequential(new nn.Linear(12, 16), new nn.ReLU(), new nn.Linear(16, 16), new nn.Tanh(), new nn.Linear(16, 3)).eval(),
    specs: [spec([dim('batch'), 12])],
    inputs: () => [[withNaN(kiln.randn([5, 12], { seed: 1 }))], [kiln.randn([5, 12], { seed: 2 })]],
    tol: 0,
  },
  {
    name: 'CNN with batch norm',
    make: () => {
      const m = new nn.Sequential(
        new nn.Conv2d(1, 4, 3, { padding: 1 }), new nn.BatchNorm2d(4), new nn.ReLU(), new nn.MaxPool2d(2),
        new nn.Conv2d(4, 6, 3, { bias: false }), new nn.BatchNorm2d(6), new nn.ReLU(), new nn.Flatten(), new nn.Linear(6 * 3 * 3, 5),
      );
      scrambleBatchNorm(m.at(1) as kiln.nn.BatchNorm2d, 11);
      scrambleBatchNorm(m.at(5) as kiln.nn.BatchNorm2d, 17);
      return m.eval();
    },
    specs: [spec([dim('n'), 1, 10, 10])],
    inputs: () => [[withNaN(kiln.randn([3, 1, 10, 10], { seed: 3 }))], [kiln.randn([3, 1, 10, 10], { seed: 4 })]],
    tol: 1e-5,
  },
  {
    name: 'nn.LSTM',
    make: () => new nn.LSTM(3, 5, { numLayers: 2 }).eval(),
    specs: [spec([6, dim('batch'), 3])],
    inputs: () => [[withNaN(kiln.randn([6, 2, 3], { seed: 5 }))], [kiln.randn([6, 2, 3], { seed: 6 })]],
    tol: 0,
  },
  {
    name: 'residual block',
    make: () => {
      const r = new Residual();
      scrambleBatchNorm(r.bn1, 23);
      scrambleBatchNorm(r.bn2, 29);
      return r.eval();
    },
    specs: [spec([dim('batch'), 4, 6, 6])],
    inputs: () => [[withNaN(kiln.randn([2, 4, 6, 6], { seed: 7 }))], [kiln.randn([2, 4, 6, 6], { seed: 8 })]],
    tol: 1e-5,
  },
  {
    name: 'elementwise chain',
    make: () => (x: kiln.Tensor, y: kiln.Tensor) => x.mul(y).add(1).tanh().mul(x).sub(y.exp()).relu().add(y.abs().sqrt()).mul(0.5),
    specs: [spec([dim('n'), 37]), spec([37])],
    inputs: () => [[withNaN(kiln.randn([3, 37], { seed: 9 })), kiln.randn([37], { seed: 10 })], [kiln.randn([3, 37], { seed: 11 }), kiln.randn([37], { seed: 12 })]],
    tol: 0,
  },
  {
    // Single activations between matmuls stay ops of their own: at O3 each writes into the dying product.
    name: 'matmuls with erf and softplus between',
    make: () => {
      const w1 = kiln.randn([8, 16], { seed: 13 }), w2 = kiln.randn([16, 5], { seed: 14 });
      return (x: kiln.Tensor) => x.matmul(w1).erf().matmul(w2).softplus();
    },
    specs: [spec([dim('n'), 8])],
    inputs: () => [[withNaN(kiln.randn([4, 8], { seed: 15 }))], [kiln.randn([4, 8], { seed: 16 })]],
    tol: 0,
    inPlaceAtO3: 1,
  },
];

/** Eager's result of a model case on `xs`. */
function eager(target: ReturnType<ModelCase['make']>, xs: kiln.Tensor[]): kiln.Tensor[] {
  return kiln.noGrad(() => leaves(typeof target === 'function' ? (target as (...a: kiln.Tensor[]) => kiln.Tensor)(...xs) : (target.forward as (...a: kiln.Tensor[]) => unknown)(...xs)));
}

/** One recorded kernel call of a plan step. */
interface Call {
  step: number;
  op: string;
  ins: KernelInput[];
  outs: readonly (WasmStorage | undefined)[] | undefined;
  returned: WasmStorage[];
}

/** `plan` with every kernel call recorded into `calls` (its step tables copy the kernels on first run). */
function recorded(plan: ExecutionPlan, calls: Call[]): ExecutionPlan {
  const steps = plan.steps as PlanStep[];
  steps.forEach((st, i) => {
    const kernel = st.kernel;
    if (!kernel) return;
    steps[i] = {
      ...st,
      kernel: (ins, attrs, types, outs) => {
        const returned = kernel(ins, attrs, types, outs);
        calls.push({ step: i, op: st.def.name, ins: [...ins], outs: outs as Call['outs'], returned: returned as WasmStorage[] });
        return returned;
      },
    };
  });
  return plan;
}

describe('models run into the arena and agree with eager', () => {
  for (const m of MODELS) {
    it(`${m.name}: compiled at O0..O3 = eager (2nd and 3rd calls); the arena is the memory plan's`, () => {
      kiln.manualSeed(42);
      const target = m.make();
      const [xs1, xs2] = m.inputs();
      const want1 = eager(target, xs1!), want2 = eager(target, xs2!);
      for (const level of LEVELS) {
        const fast = compile(target as kiln.nn.Module, { inputs: m.specs, optimize: level }) as CompiledModel;
        leaves(fast.run(...xs1!)).forEach((t) => t.dispose()); // traces: eager's result
        const checks: [kiln.Tensor[], kiln.Tensor[]][] = [[xs1!, want1], [xs2!, want2], [xs1!, want1]];
        for (const [xs, want] of checks) {
          const got = leaves(fast.run(...xs));
          got.forEach((t, i) => {
            const d = relDiff(t, want[i]!);
            if (m.tol === 0) expect(d, `${m.name} ${level} output ${i}`).toBe(0);
            else expect(d, `${m.name} ${level} output ${i}`).toBeLessThan(m.tol);
          });
        }

        // The same graph as a plan whose kernel calls are recorded.
        const traced = traceOptimized(target as kiln.nn.Module, { inputs: m.specs, optimize: level }, xs1!);
        const calls: Call[] = [];
        const plan = recorded(lowerGraph(traced.trace.graph, 'wasm', traced.trace.live, { optimize: level }).plan, calls);
        const bindings = new Map(traced.symbols.map((s) => [s, symbolValue(s, m.specs, xs1!)] as const));
        plan.run(xs1!, bindings).forEach((t) => t.dispose());
        calls.length = 0;
        const outs = plan.run(xs2!, bindings);
        outs.forEach((t, i) => {
          const d = relDiff(t, want2[i]!);
          if (m.tol === 0) expect(d).toBe(0);
          else expect(d).toBeLessThan(m.tol);
          t.dispose();
        });
        const [memory] = plan.memoryPlans().map((r) => r.memory);
        expect(plan.arenaBytes, `${m.name} ${level}`).toBe(memory!.arenaBytes);
        const given = calls.flatMap((c) => (c.outs ?? []).filter((o): o is WasmStorage => o !== undefined));
        expect(given.length > 0, `${m.name} ${level}: some outputs are arena views`).toBe(memory!.arenaBytes > 0);
        if (given.length) {
          const lo = Math.min(...given.map((v) => v.ptr)), hi = Math.max(...given.map((v) => v.ptr + v.size * 4));
          expect(hi - lo).toBeLessThanOrEqual(memory!.arenaBytes);
        }
        // Each planned in-place write reached its kernel as output = input.
        for (const w of memory!.inPlace) {
          const c = calls.find((call) => call.step === w.step)!;
          const k = plan.schedule.main.steps.find((st) => st.index === w.step)!.inputs.indexOf(w.input);
          expect(c.outs?.[0], `${level} in-place ${c.op}`).toBe(c.ins[k]!.storage);
          expect(c.returned[0]).toBe(c.outs![0]);
        }
        if (m.inPlaceAtO3) expect(memory!.inPlace.length, `${m.name}: writes in place at O3 only`).toBe(level === 'O3' ? m.inPlaceAtO3 : 0);
        // No kernel of these models ignores its caller-given output (the slow path copies none).
        expect(Object.fromEntries(plan.outsIgnored), `${m.name} ${level}: kernels that ignored their outs`).toEqual({});
        plan.dispose();
        expect(plan.arenaBytes).toBe(0);
        fast.dispose();
      }
    });
  }
});

/** The value of symbol `name` in `xs` (the first input dim declared as it). */
function symbolValue(name: string, specs: readonly kiln.InputSpec[], xs: readonly kiln.Tensor[]): number {
  for (let i = 0; i < specs.length; i++) {
    const k = specs[i]!.shape.findIndex((d) => typeof d !== 'number' && d.name === name);
    if (k >= 0) return xs[i]!.shape[k]!;
  }
  throw new Error(`no input dim named ${name}`);
}

describe('the arena executor', () => {
  it('copies the output of a kernel that ignores its caller-given one, and counts it', () => {
    const f = (x: kiln.Tensor) => x.mul(2).exp().add(1).neg();
    const x = kiln.tensor([0.5, -1, NaN, 2, -0, Infinity, -Infinity]);
    const traced = traceOptimized(f, { inputs: [spec([7])], optimize: 'O1' }, [x]);
    const plan = lowerGraph(traced.trace.graph, 'wasm', traced.trace.live, { optimize: 'O1' }).plan;
    const steps = plan.steps as PlanStep[];
    const i = steps.findIndex((st) => st?.def.name === 'exp');
    const kernel = steps[i]!.kernel!;
    steps[i] = { ...steps[i]!, kernel: (ins, attrs, types) => kernel(ins, attrs, types) }; // drops outs
    const want = kiln.noGrad(() => f(x)).dataSync();
    for (let run = 1; run <= 3; run++) {
      const [y] = plan.run([x], new Map());
      expect(Array.from(y!.dataSync())).toEqual(Array.from(want));
      y!.dispose();
      expect(plan.outsIgnored.get('exp')).toBe(run);
    }
    expect([...plan.outsIgnored.keys()]).toEqual(['exp']);
    plan.dispose();
  });

  it('a matmul whose B is an intermediate (an arena view with one tensor id) never reads a stale XNNPACK packing', () => {
    // rows 8 ≥ n/2: the direct XNNPACK product, which caches B packed by tensor id.
    const f = (a: kiln.Tensor, b: kiln.Tensor) => a.matmul(b.mul(2).relu()).add(1);
    const fast = compile(f, { inputs: [spec([8, 4]), spec([4, 4])], optimize: 'O3' });
    const a = kiln.randn([8, 4], { seed: 1 });
    for (let s = 0; s < 4; s++) {
      const b = kiln.randn([4, 4], { seed: 10 + s });
      const got = fast.run(a, b) as kiln.Tensor;
      const want = kiln.noGrad(() => f(a, b));
      if (s > 0) expect(relDiff(got, want), `call ${s + 1}`).toBe(0); // the first call is eager's own result
    }
  });

  it("an arena view's tensor id drops XNNPACK's packing of it when read after a write (version bumped)", () => {
    const arena = wasm.allocArena(4 * 16 * 2);
    const b = wasm.arenaView(arena, 0, 'float32', 16), out = wasm.arenaView(arena, 64, 'float32', 16);
    const a = heap('float32', Float32Array.from({ length: 16 }, (_v, i) => i - 7.5));
    const m = wasm.module;
    const product = (): Float32Array => {
      const ap = wasm.shapePtr([1, 4, 4], 0), bp = wasm.shapePtr([1, 4, 4], 1);
      m.__FusedMatMul!(a.id, ap, 3, b.id, bp, 3, 0, 0, 0, 0, 0, 0, out.id);
      return Float32Array.from(wasm.view(out));
    };
    const expected = (bv: Float32Array): Float32Array => {
      const av = wasm.view(a) as Float32Array, r = new Float32Array(16);
      for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) { let acc = 0; for (let k = 0; k < 4; k++) acc += av[i * 4 + k]! * bv[k * 4 + j]!; r[i * 4 + j] = acc; }
      return r;
    };
    try {
      for (let s = 0; s < 3; s++) {
        const bv = Float32Array.from({ length: 16 }, (_v, i) => Math.fround(((i * 7 + s * 5) % 11) - 5));
        (wasm.view(b) as Float32Array).set(bv); // a kernel writing the view, as a plan run does
        const before = product();
        b.version++; // what the plan does before each write
        out.version++;
        expect(Array.from(product())).toEqual(Array.from(expected(bv)));
        // Without the bump XNNPACK reuses its packing of the previous B (why views re-register).
        if (s > 0) expect(Array.from(before)).not.toEqual(Array.from(expected(bv)));
      }
    } finally {
      wasm.freeArenaView(b);
      wasm.freeArenaView(out);
      wasm.freeArena(arena);
      wasm.free(a);
    }
  });

  it('a symbolic plan grows its arena for a larger binding and still runs the smaller one', () => {
    kiln.manualSeed(3);
    const model = new nn.Sequential(new nn.Linear(6, 9), new nn.ReLU(), new nn.Linear(9, 9), new nn.Sigmoid(), new nn.Linear(9, 2)).eval();
    const x0 = kiln.randn([2, 6], { seed: 1 });
    const traced = traceOptimized(model, { inputs: [spec([dim('batch'), 6])], optimize: 'O3' }, [x0]);
    const plan = lowerGraph(traced.trace.graph, 'wasm', traced.trace.live, { optimize: 'O3' }).plan;
    let most = 0;
    for (const n of [2, 33, 1, 33, 2, 100, 5]) {
      const x = withNaN(kiln.randn([n, 6], { seed: n }));
      const [y] = plan.run([x], new Map([['batch', n]]));
      expect(relDiff(y!, kiln.noGrad(() => model.forward(x) as kiln.Tensor)), `batch ${n}`).toBe(0);
      most = Math.max(most, ...plan.memoryPlans().map((r) => r.memory.arenaBytes));
      expect(plan.arenaBytes).toBe(most);
    }
    plan.dispose();
    expect(plan.arenaBytes).toBe(0);
  });

  it('runs into an arena on the reference backend too (float64)', async () => {
    await kiln.init({ backend: 'reference' });
    try {
      const f = (x: kiln.Tensor) => x.mul(3).tanh().add(x).exp().sub(1);
      const x = kiln.tensor(new Float64Array([0.25, -1, NaN, 2, -0, 7]), { dtype: 'float64' });
      const traced = traceOptimized(f, { inputs: [spec([6], 'float64')], optimize: 'O3', target: 'reference' }, [x]);
      const plan = lowerGraph(traced.trace.graph, 'reference', traced.trace.live, { optimize: 'O3' }).plan;
      const [y] = plan.run([x], new Map());
      expect(Array.from(y!.dataSync())).toEqual(Array.from(kiln.noGrad(() => f(x)).dataSync()));
      expect(plan.arenaBytes).toBe(plan.memoryPlans()[0]!.memory.arenaBytes);
      expect(plan.arenaBytes).toBeGreaterThan(0);
      expect(plan.outsIgnored.size).toBe(0);
      plan.dispose();
    } finally {
      await kiln.init({ backend: 'wasm' });
    }
  });
});

// ---- every IN_PLACE_OPS kernel with its output aliasing an input ----------------------

const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, 2, 3e38, -1e-40, 1e-7];

function values(dtype: DType, n: number, seed: number): Float32Array | Int32Array | Uint8Array {
  let s = (seed * 2654435761) >>> 0;
  const rnd = (): number => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  if (dtype === 'bool') return Uint8Array.from({ length: n }, () => (rnd() < 0.5 ? 1 : 0));
  if (dtype === 'int32') return Int32Array.from({ length: n }, () => Math.floor(rnd() * 21) - 10);
  return Float32Array.from({ length: n }, (_v, i) => (i < SPECIAL.length ? SPECIAL[(i + seed) % SPECIAL.length]! : (rnd() * 2 - 1) * 6));
}

function heap(dtype: DType, data: Float32Array | Int32Array | Uint8Array): WasmStorage {
  const s = wasm.alloc(dtype, data.length);
  wasm.write(s, data);
  return s;
}

const UNARY_ATTRS: Record<string, Attrs> = {
  leakyRelu: { alpha: 0.1 }, elu: { alpha: 1.3 }, softplus: { beta: 1, threshold: 20 }, clip: { min: -0.5, max: 0.7 },
};

interface AliasCase {
  op: string;
  attrs: Attrs;
  inputs: { dtype: DType; shape: number[]; data?: Float32Array }[];
  /** The input the output aliases. */
  alias: number;
}

/** Cases for `op`: every input dtype and broadcast where the output can alias an input (same dtype and size). */
function aliasCases(op: string): AliasCase[] {
  const def = getOp(op)!;
  const [minArity] = typeof def.arity === 'number' ? [def.arity] : def.arity;
  const attrs = UNARY_ATTRS[op] ?? {};
  const cases: AliasCase[] = [];
  const push = (inputs: AliasCase['inputs'], alias: number): void => {
    let types: readonly TensorType[];
    try {
      types = def.infer(inputs.map((x) => ({ dtype: x.dtype, shape: x.shape })), attrs);
    } catch {
      return; // not an input combination of this op
    }
    const t = types[0]!, a = inputs[alias]!;
    if (t.dtype === a.dtype && t.shape.reduce((p, d) => p * d, 1) === a.shape.reduce((p, d) => p * d, 1)) cases.push({ op, attrs, inputs, alias });
  };
  for (const dtype of ['float32', 'int32', 'bool'] as const) {
    if (minArity === 1) {
      for (const shape of [[37], [5, 7], [1], [4]]) push([{ dtype, shape }], 0);
    } else if (op === 'where') {
      for (const alias of [1, 2]) {
        push([{ dtype: 'bool', shape: [5, 7] }, { dtype, shape: [5, 7] }, { dtype, shape: [5, 7] }], alias);
        push([{ dtype: 'bool', shape: [7] }, { dtype, shape: [5, 7] }, { dtype, shape: [5, 7] }], alias);
        push([{ dtype: 'bool', shape: [5, 7] }, { dtype, shape: [5, 7] }, { dtype, shape: [] }], 1);
      }
    } else {
      for (const [sa, sb] of [[[5, 7], [5, 7]], [[5, 7], [7]], [[5, 7], []], [[5, 7], [5, 1]], [[37], [37]], [[3, 5, 7], [5, 1]]] as const) {
        push([{ dtype, shape: [...sa] }, { dtype, shape: [...sb] }], 0);
        push([{ dtype, shape: [...sb] }, { dtype, shape: [...sa] }], 1);
      }
    }
  }
  if (op === 'pow') {
    // The exact-form exponents (x², 1/x, √x, x¹) and one general one.
    for (const e of [2, -1, 0.5, 1, 3]) cases.push({ op, attrs, inputs: [{ dtype: 'float32', shape: [37] }, { dtype: 'float32', shape: [], data: Float32Array.of(e) }], alias: 0 });
  }
  return cases;
}

/** Runs a case into fresh outputs and into the aliased input; both results as arrays. */
function runAliased(c: AliasCase, seed: number): { fresh: ArrayLike<number>; aliased: ArrayLike<number> } {
  const kernel = wasm.kernels.get(c.op)!;
  const data = c.inputs.map((x, i) => x.data ?? values(x.dtype, x.shape.reduce((p, d) => p * d, 1), seed + i));
  const types = getOp(c.op)!.infer(c.inputs.map((x) => ({ dtype: x.dtype, shape: x.shape })), c.attrs);
  const make = () => c.inputs.map((x, i) => ({ storage: heap(x.dtype, data[i]!), shape: x.shape, dtype: x.dtype }));
  const a = make();
  const [fresh] = kernel(a, c.attrs, types);
  const freshData = wasm.read(fresh!);
  const b = make();
  const target = b[c.alias]!.storage;
  const [aliased] = kernel(b, c.attrs, types, [target]);
  expect(aliased, `${c.op}: returns its caller-given output`).toBe(target);
  const aliasedData = wasm.read(target);
  wasm.free(fresh!);
  for (const x of [...a, ...b]) wasm.free(x.storage);
  return { fresh: freshData, aliased: aliasedData };
}

describe('IN_PLACE_OPS kernels with the output aliasing an input (wasm)', () => {
  for (const op of [...IN_PLACE_OPS].filter((o) => o !== 'fusedElementwise')) {
    it(`${op}: the same bits as into a fresh output`, () => {
      const cases = aliasCases(op);
      expect(cases.length, `${op} has cases that can alias`).toBeGreaterThan(0);
      cases.forEach((c, i) => {
        const { fresh, aliased } = runAliased(c, i + 1);
        const what = `${op} ${c.inputs.map((x) => `${x.dtype}[${x.shape}]`).join(', ')} → aliasing input ${c.alias}`;
        expect(aliased.length, what).toBe(fresh.length);
        for (let j = 0; j < fresh.length; j++) if (!Object.is(aliased[j], fresh[j])) expect.fail(`${what}: element ${j}: ${aliased[j]} vs ${fresh[j]}`);
      });
    });
  }

  it('fusedElementwise: the same bits as into a fresh output, aliasing each input, flat and broadcast', () => {
    const program = 'mul(x0, x1); add(t0, x0); tanh(t1); sub(t2, x1); maximum(t3, x0)';
    const cases: AliasCase[] = [];
    for (const [sa, sb] of [[[5, 7], [5, 7]], [[37], [37]], [[5, 7], [7]], [[3, 5, 7], [5, 1]], [[5, 7], []]] as const) {
      cases.push({ op: 'fusedElementwise', attrs: { program }, inputs: [{ dtype: 'float32', shape: [...sa] }, { dtype: 'float32', shape: [...sb] }], alias: 0 });
      if (sa.join() === sb.join()) cases.push({ op: 'fusedElementwise', attrs: { program }, inputs: [{ dtype: 'float32', shape: [...sa] }, { dtype: 'float32', shape: [...sb] }], alias: 1 });
    }
    cases.forEach((c, i) => {
      const { fresh, aliased } = runAliased(c, 100 + i);
      for (let j = 0; j < fresh.length; j++) if (!Object.is(aliased[j], fresh[j])) expect.fail(`case ${i} element ${j}: ${aliased[j]} vs ${fresh[j]}`);
    });
  });
});
