import { describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';

const { space, sample } = kiln.search;
const N = 20000;
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const freq = (v: unknown[], x: unknown) => v.filter((y) => y === x).length / v.length;
const column = <T>(configs: Record<string, unknown>[], k: string) => configs.map((c) => c[k] as T);

describe('search space: sampling distributions (seed 0, 20k samples)', () => {
  const configs = sample(
    {
      lr: space.logUniform(1e-4, 1e-1),
      u: space.uniform(-1, 3),
      die: space.int(1, 6),
      width: space.int(1, 8, { log: true }),
      act: space.choice(['relu', 'tanh', 'gelu']),
    },
    N,
    { seed: 0 },
  );

  it('logUniform stays in [lo, hi) and its log is uniform: log-mean at the middle, a third per decade', () => {
    const lr = column<number>(configs, 'lr');
    expect(Math.min(...lr)).toBeGreaterThanOrEqual(1e-4);
    expect(Math.max(...lr)).toBeLessThan(1e-1);
    expect(mean(lr.map(Math.log10))).toBeCloseTo(-2.5, 1); // |Δ| < 0.05; sd of the mean is 0.006
    for (const [a, b] of [[1e-4, 1e-3], [1e-3, 1e-2], [1e-2, 1e-1]] as const) {
      expect(lr.filter((x) => x >= a && x < b).length / N).toBeGreaterThan(0.31);
      expect(lr.filter((x) => x >= a && x < b).length / N).toBeLessThan(0.356);
    }
    // The arithmetic mean of a log-uniform on [a, b] is (b - a) / ln(b / a) = 0.01446, far from the midpoint 0.05.
    expect(mean(lr)).toBeGreaterThan(0.0136);
    expect(mean(lr)).toBeLessThan(0.0153);
  });

  it('uniform: bounds and mean', () => {
    const u = column<number>(configs, 'u');
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...u)).toBeLessThan(3);
    expect(mean(u)).toBeCloseTo(1, 1);
  });

  it('int is inclusive at both ends and uniform over the integers', () => {
    const die = column<number>(configs, 'die');
    expect(die.every(Number.isInteger)).toBe(true);
    expect(new Set(die)).toEqual(new Set([1, 2, 3, 4, 5, 6]));
    for (let k = 1; k <= 6; k++) expect(Math.abs(freq(die, k) - 1 / 6)).toBeLessThan(0.015);
  });

  it('a log int covers [lo, hi] inclusively with P(k) ∝ log((k + ½) / (k − ½))', () => {
    const w = column<number>(configs, 'width');
    expect(new Set(w)).toEqual(new Set([1, 2, 3, 4, 5, 6, 7, 8]));
    const z = Math.log(8.5 / 0.5);
    for (let k = 1; k <= 8; k++) expect(Math.abs(freq(w, k) - Math.log((k + 0.5) / (k - 0.5)) / z)).toBeLessThan(0.015);
  });

  it('choice covers its values evenly', () => {
    const act = column<string>(configs, 'act');
    for (const a of ['relu', 'tanh', 'gelu']) expect(Math.abs(freq(act, a) - 1 / 3)).toBeLessThan(0.015);
    expect(new Set(act).size).toBe(3);
  });
});

describe('search space: seeds and structure', () => {
  const s = { lr: space.logUniform(1e-4, 1e-1), hidden: space.choice([32, 64, 128]), layers: space.int(1, 4), name: 'mlp' };

  it('the same seed gives the same configurations, another seed others', () => {
    expect(sample(s, 20, { seed: 3 })).toEqual(sample(s, 20, { seed: 3 }));
    expect(sample(s, 20, { seed: 3 })).not.toEqual(sample(s, 20, { seed: 4 }));
  });

  it('configuration i depends only on (seed, parameter, i): prefixes agree, adding a parameter changes no other value', () => {
    const many = sample(s, 30, { seed: 5 });
    expect(sample(s, 7, { seed: 5 })).toEqual(many.slice(0, 7));
    const more = sample({ ...s, dropout: space.uniform(0, 0.5) }, 30, { seed: 5 });
    expect(more.map(({ dropout: _d, ...rest }) => rest)).toEqual(many);
  });

  it('constants pass through; configurations are typed by the space', () => {
    const [c] = sample(s, 1, { seed: 0 });
    const typed: { lr: number; hidden: 32 | 64 | 128; layers: number; name: string } = c!;
    expect(typed.name).toBe('mlp');
    expect([32, 64, 128]).toContain(typed.hidden);
  });

  it('rejects bad parameters and spaces with a KilnError', () => {
    expect(() => space.logUniform(0, 1)).toThrow(kiln.KilnError);
    expect(() => space.uniform(2, 1)).toThrow(/lo must be ≤ hi/);
    expect(() => space.int(1.5, 3)).toThrow(/integers/);
    expect(() => space.int(0, 3, { log: true })).toThrow(/lo ≥ 1/);
    expect(() => space.choice([])).toThrow(/non-empty/);
    expect(() => sample({ lr: [1e-3, 1e-2] } as unknown as kiln.search.Space, 1)).toThrow(/choice/);
    expect(() => sample(s, 1, { seed: -1 })).toThrow(/seed/);
  });

  it('describes parameters', () => {
    expect(kiln.search.describeSpace(s)).toBe('lr: logUniform(0.0001, 0.1), hidden: choice(32, 64, 128), layers: int(1, 4), name: "mlp"');
  });
});
