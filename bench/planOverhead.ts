/**
 * What an execution plan costs above its kernels (issue #10: at most 5 µs): the MLP
 * 784-512-512-10, eval, batch 1, compiled at O3 on wasm, timed as
 *  - its kernels alone: the plan's kernel calls back to back, with the exact arguments a
 *    plan run passes (captured from a probe plan: same inputs, attrs, output types and
 *    arena views; the graph output allocated and freed as the plan does) — the baseline;
 *  - `plan.run` (ExecutionPlan: resolve, constants, the interpreter loop into the arena,
 *    output tensors);
 *  - the same plan with every kernel stubbed out (returning its arena view, or one kept
 *    storage for the graph output): the plan's own work alone, the least noisy measure;
 *  - `compiled.run` (adds the guards, feeding and the output tree);
 * interleaved, medians. The overhead rows are the plan's and the compiled call's times
 * minus the kernels' in the same round, medians over rounds. The kernels that ignored their caller-given
 * outputs (copied over by the plan) are listed in the row's `extra`.
 */
import * as kiln from '../src/index.js';
import { traceOptimized } from '../src/compiled/compile.js';
import { lowerGraph } from '../src/compiled/lower.js';
import type { Attrs, TensorType } from '../src/ir/index.js';
import type { Kernel, KernelInput, Storage } from '../src/runtime/backend.js';
import type { PlanStep } from '../src/compiled/executionPlan.js';
import { compare, median, type Row } from './harness.js';

/** One kernel call as a plan run made it. */
interface Call {
  kernel: Kernel;
  ins: KernelInput[];
  attrs: Attrs;
  types: readonly TensorType[];
  outs: readonly (Storage | undefined)[] | undefined;
}

export async function planOverheadSuite(): Promise<Row[]> {
  await kiln.init({ backend: 'wasm' });
  kiln.manualSeed(1);
  const { nn } = kiln;
  const model = new nn.Sequential(new nn.Linear(784, 512), new nn.ReLU(), new nn.Linear(512, 512), new nn.ReLU(), new nn.Linear(512, 10)).eval();
  const x = kiln.randn([1, 784], { seed: 2 });
  const fast = kiln.compile(model, { inputs: [kiln.spec([1, 784])], optimize: 'O3' });
  (fast.run(x) as kiln.Tensor).dispose(); // traces
  const traced = traceOptimized(model, { inputs: [kiln.spec([1, 784])], optimize: 'O3' }, [x]);
  const lowered = () => lowerGraph(traced.trace.graph, 'wasm', traced.trace.live, { optimize: 'O3' }).plan;
  const plan = lowered();
  const probe = lowered();
  const stubbed = lowered();
  const bindings = new Map<string, number>();

  // The probe's kernels record their calls (its step table copies them on first run).
  const calls: Call[] = [];
  (probe.steps as PlanStep[]).forEach((st, i) => {
    const kernel = st.kernel;
    if (!kernel) return;
    (probe.steps as PlanStep[])[i] = {
      ...st,
      kernel: (ins, attrs, types, outs) => {
        calls.push({ kernel, ins: [...ins], attrs, types, outs });
        return kernel(ins, attrs, types, outs);
      },
    };
  });
  for (const t of probe.run([x], bindings)) t.dispose();
  // The plan's own work alone: kernels that do nothing (they return the arena view they
  // are given, or one storage kept for the graph output, so no allocation is timed).
  (stubbed.steps as PlanStep[]).forEach((st, i) => {
    if (!st.kernel) return;
    const kept = new Map<number, Storage>();
    (stubbed.steps as PlanStep[])[i] = {
      ...st,
      kernel: (_ins, _attrs, types, outs) => types.map((t, k) => {
        const given = outs?.[k];
        if (given) return given;
        let s = kept.get(k);
        if (!s) kept.set(k, (s = stubbed.backend.alloc(t.dtype, t.shape.reduce((a, d) => a * d, 1))));
        s.refs++; // the caller's reference; the kept one never drops to 0
        return s;
      }),
    };
  });
  const backend = plan.backend;
  const kernelsOnly = (): void => {
    for (const c of calls) {
      const res = c.kernel(c.ins, c.attrs, c.types, c.outs);
      for (let k = 0; k < res.length; k++) if (res[k] !== c.outs?.[k]) backend.free(res[k]!);
    }
  };
  // Same results: the plan and the kernels alone agree with the compiled call.
  const want = Float32Array.from((fast.run(x) as kiln.Tensor).dataSync() as Float32Array);
  const got = plan.run([x], bindings)[0]!;
  const gotData = got.dataSync() as Float32Array;
  if (!want.every((v, i) => Object.is(v, gotData[i]))) throw new Error('plan.run differs from compiled.run');
  got.dispose();

  const title = `plan overhead: MLP 784-512-512-10 eval, batch 1, O3, wasm (${calls.length} kernel calls: ${plan.graph.nodes.map((n) => n.op).join(', ')})`;
  const rows = compare({
    title,
    baseline: 'kernels alone (same arguments)',
    unit: 'us',
    iters: 400,
    rounds: 31,
    contenders: [
      { name: 'kernels alone (same arguments)', run: kernelsOnly },
      { name: 'ExecutionPlan.run', run: () => { plan.run([x], bindings)[0]!.dispose(); } },
      { name: 'ExecutionPlan.run, kernels stubbed (the plan\'s own work)', run: () => { stubbed.run([x], bindings)[0]!.dispose(); } },
      { name: 'compiled.run', run: () => { (fast.run(x) as kiln.Tensor).dispose(); } },
    ],
  });
  const base = rows.find((r) => r.name.startsWith('kernels'))!.rounds;
  // Round by round (adjacent in time), so the load of a shared machine cancels out.
  const over = (name: string): Row => {
    const r = rows.find((row) => row.name === name)!;
    const rounds = r.rounds.map((t, i) => t - base[i]!);
    const m = median(rounds);
    // Also the best rounds' difference: the least disturbed by a busy machine.
    const minOverhead = Math.min(...r.rounds) - Math.min(...base);
    return { title, name: `${name} − kernels, paired by round (overhead; target ≤ 5 µs; best rounds: ${minOverhead.toFixed(2)} µs)`, median: m, rounds, ratio: m / median(base), unit: 'us', extra: { minOverhead, outsIgnored: Object.fromEntries(plan.outsIgnored), arenaBytes: plan.arenaBytes } };
  };
  return [...rows, over('ExecutionPlan.run'), over('compiled.run')];
}
