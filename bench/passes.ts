/**
 * What the pass pipeline buys: each model compiled with `kiln.compile` at O0 (no passes)
 * vs O1 vs O2 vs O3, ratios against O0, on the wasm backend:
 *  - MLP 784-512-512-10, eval, batch 1 and 128;
 *  - CNN conv32-BN-pool-conv64-BN-pool-dense10, eval (BatchNorm folding), batch 32;
 *  - nn.LSTM (input 64, hidden 128, 32 steps), batch 1 and 16;
 *  - 8-op elementwise chains on a 256×1024 tensor (explicit compiled functions), with and
 *    without transcendentals: O2's elementwise fusion makes each one generated kernel.
 * Before timing, every level's outputs (from its second call: the first traces and
 * returns the eager result) are checked against O0's (O1 must match exactly or within
 * 1e-5 relative; O2/O3 are reported): each row's name carries the node count
 * of its optimized graph (`compiled.graph.nodes.length` after the first run) and the
 * max difference from O0 (absolute, and relative to O0's largest |output|).
 */
import * as kiln from '../src/index.js';
import type { OptLevel } from '../src/passes/index.js';
import { compare, type Row } from './harness.js';

const LEVELS: readonly OptLevel[] = ['O0', 'O1', 'O2', 'O3'];
/** O1 must reproduce O0 within this (relative to O0's largest |output|). */
const O1_TOLERANCE = 1e-5;

/** Every tensor in an output tree (a tensor, or arrays of them, as nn.LSTM returns). */
function leaves(out: unknown): kiln.Tensor[] {
  if (out instanceof kiln.Tensor) return [out];
  if (Array.isArray(out)) return out.flatMap(leaves);
  throw new Error(`unexpected compiled output: ${String(out)}`);
}

const disposeAll = (out: unknown): void => {
  for (const t of leaves(out)) t.dispose();
};

/** Max |a − b| over all outputs, and that relative to the reference's largest |value|. */
function maxDiff(ref: Float32Array[], got: Float32Array[]): { abs: number; rel: number } {
  let abs = 0, scale = 0;
  ref.forEach((r, i) => {
    const g = got[i]!;
    if (g.length !== r.length) throw new Error(`output ${i}: ${g.length} elements vs ${r.length}`);
    for (let j = 0; j < r.length; j++) {
      const d = Math.abs(r[j]! - g[j]!);
      if (!(d <= abs)) abs = Number.isNaN(d) ? Infinity : Math.max(abs, d);
      scale = Math.max(scale, Math.abs(r[j]!));
    }
  });
  return { abs, rel: abs === 0 ? 0 : abs / (scale || 1) };
}

const fmt = (x: number): string => (x === 0 ? '0' : x.toExponential(1));

interface Case {
  title: string;
  /** The module or function to compile, and its input specs. */
  target: kiln.nn.Module | ((...xs: kiln.Tensor[]) => unknown);
  specs: kiln.InputSpec[];
  inputs: kiln.Tensor[];
  iters: number;
  unit: 'us' | 'ms';
  rounds?: number;
}

/** Compiles `c` at every level, cross-checks the outputs against O0, then times them interleaved. */
function passRows(c: Case): Row[] {
  const contenders = LEVELS.map((level) => {
    const compiled = kiln.compile(c.target as kiln.nn.Module, { inputs: c.specs, optimize: level });
    // The first call traces, running the code eagerly, and returns that eager result;
    // the second runs the compiled plan: that is the output to check.
    disposeAll(compiled.run(...c.inputs));
    const out = compiled.run(...c.inputs);
    const data = leaves(out).map((t) => Float32Array.from(t.dataSync() as ArrayLike<number>));
    disposeAll(out);
    return { level, compiled, data, nodes: compiled.graph.nodes.length };
  });
  const ref = contenders[0]!.data;
  const named = contenders.map(({ level, compiled, data, nodes }) => {
    const d = maxDiff(ref, data);
    if (level === 'O1' && d.rel > O1_TOLERANCE) {
      throw new Error(`${c.title}: O1 differs from O0 by ${d.abs} (relative ${d.rel} > ${O1_TOLERANCE})`);
    }
    const diff = level === 'O0' ? 'reference' : `Δ ${fmt(d.abs)} (rel ${fmt(d.rel)})`;
    return { name: `${level}, ${nodes} nodes, ${diff}`, run: () => disposeAll(compiled.run(...c.inputs)), compiled };
  });
  const rows = compare({
    title: c.title,
    baseline: named[0]!.name,
    unit: c.unit,
    iters: c.iters,
    ...(c.rounds !== undefined ? { rounds: c.rounds } : {}),
    contenders: named,
  });
  for (const k of named) k.compiled.dispose();
  return rows;
}

export async function passesSuite(): Promise<Row[]> {
  await kiln.init({ backend: 'wasm' });
  const { nn } = kiln;
  const rows: Row[] = [];

  // ---- MLP 784-512-512-10, eval ------------------------------------------------------
  const mlp = new nn.Sequential(new nn.Linear(784, 512), new nn.ReLU(), new nn.Linear(512, 512), new nn.ReLU(), new nn.Linear(512, 10)).eval();
  for (const [batch, iters, unit] of [[1, 1000, 'us'], [128, 40, 'ms']] as const) {
    rows.push(...passRows({
      title: `MLP 784-512-512-10 inference (eval), batch ${batch}, per call`,
      target: mlp, specs: [kiln.spec([batch, 784])], inputs: [kiln.rand([batch, 784], { seed: 3 }).keep()], iters, unit,
    }));
  }

  // ---- CNN with BatchNorm after each conv, eval (BN folds into the convs at O1+) ------
  const cnn = new nn.Sequential(
    new nn.Conv2d(1, 32, 3), new nn.BatchNorm2d(32), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(32, 64, 3), new nn.BatchNorm2d(64), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Flatten(), new nn.Linear(64 * 5 * 5, 10),
  );
  // A few training-mode passes so the running statistics are not the identity (0 / 1).
  kiln.noGrad(() => {
    for (let i = 0; i < 3; i++) kiln.scope(() => void cnn.forward(kiln.randn([32, 1, 28, 28], { seed: 10 + i })));
  });
  cnn.eval();
  rows.push(...passRows({
    title: 'CNN conv32-BN-pool-conv64-BN-pool-dense10 inference (eval), batch 32, per call',
    target: cnn, specs: [kiln.spec([32, 1, 28, 28])], inputs: [kiln.rand([32, 1, 28, 28], { seed: 4 }).keep()], iters: 12, unit: 'ms',
  }));

  // ---- nn.LSTM, 32 steps ----------------------------------------------------------------
  const lstm = new nn.LSTM(64, 128).eval();
  for (const [batch, iters] of [[1, 60], [16, 20]] as const) {
    rows.push(...passRows({
      title: `nn.LSTM input 64, hidden 128, 32 steps (eval), batch ${batch}, per call`,
      target: lstm, specs: [kiln.spec([32, batch, 64])], inputs: [kiln.randn([32, batch, 64], { seed: 5 }).keep()], iters, unit: 'ms',
    }));
  }

  // ---- 8-op elementwise chain, an explicit function --------------------------------------
  const [a, b, c, d, e] = [6, 7, 8, 9, 10].map((seed) => kiln.rand([1024], { seed }).keep()) as [kiln.Tensor, kiln.Tensor, kiln.Tensor, kiln.Tensor, kiln.Tensor];
  const chain = (x: kiln.Tensor): kiln.Tensor => x.mul(a).add(b).tanh().mul(c).sub(d).relu().exp().add(e);
  rows.push(...passRows({
    title: 'elementwise chain x·a+b→tanh→·c−d→relu→exp→+e on 256×1024, per call',
    target: chain, specs: [kiln.spec([256, 1024])], inputs: [kiln.randn([256, 1024], { seed: 11 }).keep()], iters: 30, unit: 'ms',
  }));
  // The same length without transcendentals: what one pass over memory instead of eight buys alone.
  const arith = (x: kiln.Tensor): kiln.Tensor => x.mul(a).add(b).maximum(c).sub(x).relu().mul(d).minimum(e).add(x);
  rows.push(...passRows({
    title: 'elementwise chain x·a+b→max c→−x→relu→·d→min e→+x on 256×1024 (arithmetic only), per call',
    target: arith, specs: [kiln.spec([256, 1024])], inputs: [kiln.randn([256, 1024], { seed: 12 }).keep()], iters: 60, unit: 'ms',
  }));
  return rows;
}
