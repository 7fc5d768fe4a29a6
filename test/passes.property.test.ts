/**
 * Property test: random programs built to give every O1 pass work (identities such as
 * x·1, x+(−0), x/1, double transposes and negations, reshape chains, no-op casts,
 * repeated subexpressions, literal constants and a captured weight transposed before a
 * matmul, dead values) are compiled at O0, O1, O2 and O3. Every level's graph passes the
 * verifier after every pass (vitest turns that on) and gives results identical to O0's
 * (Object.is per element) on inputs holding NaN, ±0 and ±Infinity — also after the
 * captured weight changes in place, when folded constants must be recomputed.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { identical } from './support/identical.js';
import { compile, dim, spec, type CompiledModel } from '../src/compiled/index.js';
import { checkGraph } from '../src/ir/index.js';
import type { OptLevel } from '../src/passes/index.js';

beforeAll(async () => {
  await kiln.init();
});

interface Step {
  readonly kind: 'unary' | 'scalar' | 'binary' | 'transpose2' | 'reshape2' | 'negneg' | 'cast' | 'twice' | 'literal' | 'weight' | 'dead';
  readonly a: number;
  readonly b: number;
}

const KINDS = ['unary', 'scalar', 'binary', 'transpose2', 'reshape2', 'negneg', 'cast', 'twice', 'literal', 'weight', 'dead'] as const;
const UNARY = ['relu', 'tanh', 'neg', 'abs', 'exp', 'sigmoid'] as const;
const SCALAR_OPS = ['add', 'sub', 'mul', 'div', 'pow'] as const;
const SCALARS = [0, -0, 1, 2, -1.5] as const;
const BINARY = ['add', 'sub', 'mul', 'maximum'] as const;
const EDGES = [NaN, 0, -0, Infinity, -Infinity, 1.5, -2.25, 0.75, -7, 3];

const stepArb: fc.Arbitrary<Step> = fc.record({ kind: fc.constantFrom(...KINDS), a: fc.nat(1000), b: fc.nat(1000) });

/** The program on `x` ([batch, 4]); `w` is a captured weight [3, 4] (a live constant when compiled). */
function program(steps: readonly Step[], x: kiln.Tensor, w: kiln.Tensor): kiln.Tensor {
  const pool: kiln.Tensor[] = [x];
  for (const s of steps) {
    const v = pool[s.a % pool.length]!;
    let out: kiln.Tensor;
    switch (s.kind) {
      case 'unary': out = v[UNARY[s.b % UNARY.length]!](); break;
      case 'scalar': out = v[SCALAR_OPS[s.b % SCALAR_OPS.length]!](SCALARS[(s.b >> 3) % SCALARS.length]!); break;
      case 'binary': {
        const same = pool.filter((p) => p.shape.join() === v.shape.join());
        out = v[BINARY[s.b % BINARY.length]!](same[(s.b >> 2) % same.length]!);
        break;
      }
      case 'transpose2': out = v.rank >= 2 ? v.transpose(0, 1).transpose(0, 1) : v.neg(); break;
      case 'reshape2': out = v.reshape([-1]).reshape(v.shape as number[]); break;
      case 'negneg': out = v.neg().neg(); break;
      case 'cast': out = v.cast('float32'); break;
      case 'twice': out = v.exp().add(v.exp()); break;
      case 'literal': {
        // A constant made while tracing, transposed: folded at compile time.
        const n = v.shape[v.rank - 1]!;
        const c = kiln.tensor(Float32Array.from({ length: 2 * n }, (_, i) => ((i * 7 + s.b) % 5) - 2), { shape: [2, n] });
        out = v.rank >= 1 ? v.matmul(c.transpose()) : v.mul(2);
        break;
      }
      case 'weight': out = v.rank >= 1 && v.shape[v.rank - 1] === 4 ? v.matmul(w.transpose()) : v.sub(1); break;
      case 'dead': {
        v.sigmoid(); // computed, never used
        out = v.add(-0);
        break;
      }
    }
    pool.push(out);
  }
  return pool[pool.length - 1]!;
}

function edgeInput(batch: number, seed: number): kiln.Tensor {
  return kiln.tensor(Float32Array.from({ length: batch * 4 }, (_, i) => EDGES[(i + seed) % EDGES.length]!), { shape: [batch, 4] });
}

const LEVELS: readonly OptLevel[] = ['O0', 'O1', 'O2', 'O3'];

describe('random programs through every optimization level', () => {
  it('stay valid and give exactly O0\'s results, before and after the captured weight changes', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 10 }), fc.nat(100), (steps, seed) => {
        kiln.scope(() => {
          const w = kiln.randn([3, 4], { seed });
          const f = (x: kiln.Tensor) => program(steps, x, w);
          const compiled = new Map<OptLevel, CompiledModel>();
          for (const level of LEVELS) {
            const fast = compile(f, { inputs: [spec([dim('batch'), 4])], optimize: level });
            fast.run(edgeInput(2, seed));
            expect(checkGraph(fast.graph)).toEqual([]);
            compiled.set(level, fast);
          }
          for (const round of [0, 1]) {
            if (round === 1) kiln.noGrad(() => w.mul_(-1.25));
            for (const batch of [2, 3]) {
              const x = edgeInput(batch, seed + batch);
              const want = compiled.get('O0')!.run(x) as kiln.Tensor;
              for (const level of LEVELS.slice(1)) {
                const got = compiled.get(level)!.run(x) as kiln.Tensor;
                expect(identical(got, want), `${level} vs O0 (round ${round}, batch ${batch}): ${JSON.stringify(steps)}\n${compiled.get(level)!.graph.toString()}`).toBe(true);
              }
            }
          }
          for (const fast of compiled.values()) fast.dispose();
        });
      }),
      { numRuns: 15, seed: 7 },
    );
  }, 60_000);
});
