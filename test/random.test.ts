import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { philoxBlock } from '../src/eager/philox.js';

beforeAll(async () => {
  await kiln.init();
});

describe('Philox4x32-10 random numbers', () => {
  it('matches the Random123 known-answer vectors', () => {
    // Known-answer tests from Random123's kat_vectors (philox4x32 10 rounds).
    const out = new Uint32Array(4);
    philoxBlock(0, 0, 0, 0, 0, 0, out);
    expect([...out]).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    philoxBlock(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, out);
    expect([...out]).toEqual([0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
    philoxBlock(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, out);
    expect([...out]).toEqual([0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]);
  });

  it('same seed gives the same numbers on every backend', () => {
    for (const f of [kiln.rand, kiln.randn] as const) {
      const a = f([5, 7], { seed: 42, backend: 'reference' }).toArray();
      const b = f([5, 7], { seed: 42, backend: 'wasm' }).toArray();
      expect(a).toEqual(b);
      expect(f([5, 7], { seed: 43 }).toArray()).not.toEqual(b);
    }
    expect(kiln.randint(0, 10, [20], { seed: 1, backend: 'reference' }).toArray()).toEqual(kiln.randint(0, 10, [20], { seed: 1, backend: 'wasm' }).toArray());
  });

  it('the global generator is reproducible with manualSeed and advances between calls', () => {
    kiln.manualSeed(7);
    const a = kiln.rand([3]).toArray();
    const b = kiln.rand([3]).toArray();
    expect(a).not.toEqual(b);
    kiln.manualSeed(7);
    expect(kiln.rand([3]).toArray()).toEqual(a);
  });

  it('uniform and normal have the right moments (100k samples, 5 standard errors)', () => {
    const n = 100_000;
    const u = kiln.rand([n], { seed: 3 }).dataSync();
    let s = 0, s2 = 0;
    let lo = Infinity, hi = -Infinity;
    for (const v of u) { s += v; lo = Math.min(lo, v); hi = Math.max(hi, v); }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    expect(Math.abs(s / n - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    const z = kiln.randn([n], { seed: 4 }).dataSync();
    s = 0; s2 = 0;
    for (const v of z) { s += v; s2 += v * v; }
    expect(Math.abs(s / n)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(s2 / n - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    const r = kiln.randint(-3, 4, [n], { seed: 5 }).dataSync();
    const counts = new Map<number, number>();
    for (const v of r) counts.set(v, (counts.get(v) ?? 0) + 1);
    expect([...counts.keys()].sort((a, b) => a - b)).toEqual([-3, -2, -1, 0, 1, 2, 3]);
    for (const c of counts.values()) expect(Math.abs(c - n / 7)).toBeLessThan(5 * Math.sqrt((n * (1 / 7) * (6 / 7))));
  });

  it('bernoulli keeps with the given probability', () => {
    const n = 100_000;
    const m = kiln.bernoulli(kiln.full([n], 0.3), { seed: 9 }).dataSync();
    let ones = 0;
    let other = 0;
    for (const v of m) { if (v !== 0 && v !== 1) other++; ones += v; }
    expect(other).toBe(0);
    expect(Math.abs(ones / n - 0.3)).toBeLessThan(5 * Math.sqrt((0.3 * 0.7) / n));
  });
});
