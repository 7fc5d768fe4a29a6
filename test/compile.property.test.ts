/**
 * Property test: random small programs (unary, binary with broadcasting, reductions,
 * reshapes, transposes, matmuls on random shapes, with a symbolic leading dim) run
 * eagerly, compiled, and through the reference interpreter on the compiled graph. They
 * must agree exactly (Object.is per element: the same kernels run on the same inputs;
 * NaN and ±Infinity included), at the traced size and at another one.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { identical } from './support/identical.js';
import { compile, dim, interpretEager, spec } from '../src/compiled/index.js';

beforeAll(async () => {
  await kiln.init();
});

/** One step; its integer fields pick operands/axes modulo what exists, so every program is valid. */
interface Step {
  readonly kind: 'unary' | 'binary' | 'scalar' | 'reduce' | 'reshape' | 'transpose' | 'matmul';
  readonly a: number;
  readonly b: number;
  readonly c: number;
}

const UNARY = ['relu', 'tanh', 'neg', 'abs', 'sigmoid', 'square', 'sin', 'exp'] as const;
const BINARY = ['add', 'sub', 'mul', 'maximum', 'minimum'] as const;
const REDUCE = ['sum', 'mean', 'max', 'min'] as const;

const stepArb: fc.Arbitrary<Step> = fc.record({
  kind: fc.constantFrom('unary', 'binary', 'scalar', 'reduce', 'reshape', 'transpose', 'matmul'),
  a: fc.nat(1000),
  b: fc.nat(1000),
  c: fc.nat(1000),
});

const programArb = fc.record({
  /** Trailing dims of the input (its leading dim is the symbolic batch). */
  trailing: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 2 }),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 8 }),
  batches: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 6 })),
  seed: fc.nat(1_000_000),
});

/** Runs the program on eager tensors; weights are made from `seed` inside (constants of the program). */
function runProgram(steps: readonly Step[], x: kiln.Tensor, seed: number): kiln.Tensor {
  const pool: kiln.Tensor[] = [x];
  steps.forEach((s, i) => {
    const v = pool[s.a % pool.length]!;
    let out: kiln.Tensor;
    switch (s.kind) {
      case 'unary':
        out = v[UNARY[s.b % UNARY.length]!]();
        break;
      case 'binary': {
        // The other operand: a pool value of the same shape, or v reduced to a broadcastable shape.
        const same = pool.filter((p) => p.shape.join() === v.shape.join());
        const other = s.c % 2 && v.rank > 0 ? v.sum(s.c % v.rank, { keepDims: true }) : same[s.c % same.length]!;
        out = v[BINARY[s.b % BINARY.length]!](other);
        break;
      }
      case 'scalar':
        out = v[BINARY[s.b % BINARY.length]!]((s.c % 7) - 3 + 0.5);
        break;
      case 'reduce':
        out = v.rank === 0 ? v.neg() : v[REDUCE[s.b % REDUCE.length]!](s.c % v.rank, { keepDims: s.b % 2 === 0 });
        break;
      case 'reshape':
        out = s.b % 2 ? v.reshape([-1]) : v.reshape([...v.shape].reverse());
        break;
      case 'transpose':
        out = v.rank >= 2 ? v.transpose(v.rank - 2, v.rank - 1) : v.unsqueeze(0);
        break;
      case 'matmul': {
        if (v.rank === 0) {
          out = v.mul(2);
          break;
        }
        const n = v.shape[v.rank - 1]!;
        const w = kiln.randn([n, 1 + (s.b % 3)], { seed: seed + i, backend: v.backend.name });
        out = v.matmul(w);
        break;
      }
    }
    pool.push(out);
  });
  return pool[pool.length - 1]!;
}

function check(backend: 'wasm' | 'reference', runs: number): void {
  fc.assert(
    fc.property(programArb, ({ trailing, steps, batches, seed }) => {
      kiln.scope(() => {
        const f = (x: kiln.Tensor) => runProgram(steps, x, seed);
        const fast = compile(f, { inputs: [spec([dim('batch'), ...trailing])], target: backend });
        for (const b of [batches[0], batches[1], batches[0]]) {
          const x = kiln.randn([b, ...trailing], { seed: seed + b, backend });
          const want = f(x);
          const got = fast.run(x) as kiln.Tensor;
          expect(identical(got, want), `compiled vs eager at batch ${b}: ${JSON.stringify(steps)}`).toBe(true);
          // The first entry's graph (symbolic, or pinned to the first size).
          if (fast.graph.inputs[0]!.type.shape.every((d, k) => typeof d !== 'number' || d === x.shape[k])) {
            const [viaInterpreter] = interpretEager(fast.graph, [x]);
            expect(identical(viaInterpreter!, want), `interpreter vs eager at batch ${b}: ${JSON.stringify(steps)}`).toBe(true);
          }
        }
        fast.dispose();
      });
    }),
    { numRuns: runs, seed: 42 },
  );
}

describe('random programs: eager, compiled and interpreted agree', () => {
  it('on wasm', () => check('wasm', 80), 60_000);
  it('on the reference backend', () => check('reference', 30), 60_000);
});
