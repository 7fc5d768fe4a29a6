import { afterEach, describe, expect, it, vi } from 'vitest';
import * as kiln from '../src/index.js';

const { space } = kiln.search;
const fixture = new URL('./fixtures/searchTrial.mjs', import.meta.url);
const quadSpace = { x: space.uniform(-2, 2), y: space.choice(['a', 'b', 'c']), n: space.int(1, 5) };
type QuadConfig = kiln.search.ConfigOf<typeof quadSpace>;
/** The objective of the fixture's `quadratic`, computed here independently. */
const quad = (c: QuadConfig, budget = 1) => (c.x - 1) ** 2 + { a: 1, b: 0, c: 2 }[c.y] + (c.n - 3) ** 2 / 10 + 1 / budget;
const silent = { log: 'none' } as const;
/** What must not depend on threads or timing. */
const stable = <C>(r: kiln.search.SearchResult<C>) =>
  r.trials.map((t) => ({ id: t.id, configId: t.configId, config: t.config, score: t.score, budget: t.budget, seed: t.seed, rung: t.rung, status: t.status, error: t.error }));

afterEach(() => {
  vi.restoreAllMocks();
});

describe('randomSearch', () => {
  it('finds the true best of a known objective among the sampled configurations (in-process)', async () => {
    const r = await kiln.search.randomSearch({ space: quadSpace, trial: (c) => quad(c), trials: 200, seed: 7, ...silent });
    const configs = kiln.search.sample(quadSpace, 200, { seed: 7 });
    expect(r.trials.map((t) => t.config)).toEqual(configs);
    const scores = configs.map((c) => quad(c));
    r.trials.forEach((t, i) => expect(t.score).toBe(scores[i]));
    const argmin = scores.indexOf(Math.min(...scores));
    expect(r.best.id).toBe(argmin);
    expect(r.best.config).toEqual(configs[argmin]);
    expect(r.best.score).toBe(Math.min(...scores));
    // With 200 samples the best is near the global minimum x = 1, y = 'b', n = 3 (objective 1).
    expect(r.best.config.y).toBe('b');
    expect(r.best.config.n).toBe(3);
    expect(Math.abs(r.best.config.x - 1)).toBeLessThan(0.1);
  });

  it('maximize picks the largest score', async () => {
    const r = await kiln.search.randomSearch({ space: { x: space.uniform(0, 1) }, trial: ({ x }) => x, trials: 50, direction: 'maximize', ...silent });
    expect(r.best.score).toBe(Math.max(...r.trials.map((t) => t.score)));
  });

  it('gives every trial its budget and a per-configuration seed, { score, ...extra } keeps the extras', async () => {
    const seen: kiln.search.TrialRecord<{ x: number }>[] = [];
    const r = await kiln.search.randomSearch({
      space: { x: space.uniform(0, 1) }, trials: 5, budget: 4, seed: 2, ...silent,
      trial: (c, ctx) => ({ score: c.x, budget: ctx.budget, seed: ctx.seed, id: ctx.id }),
      onTrial: (t) => seen.push(t),
    });
    expect(seen.length).toBe(5);
    for (const t of r.trials) {
      expect(t.budget).toBe(4);
      expect(t.extra).toEqual({ budget: 4, seed: t.seed, id: t.id });
      expect(Number.isSafeInteger(t.seed) && t.seed >= 0).toBe(true);
    }
    expect(new Set(r.trials.map((t) => t.seed)).size).toBe(5);
  });

  it('records a throwing trial, a bad return value and NaN as failed (with the reason) and goes on', async () => {
    const r = await kiln.search.randomSearch({
      space: { x: space.uniform(-1, 1) }, trials: 30, seed: 1, ...silent,
      trial: ({ x }) => {
        if (x > 0.5) throw new Error(`too big: ${x}`);
        if (x < -0.8) return Number.NaN;
        if (x < -0.6) return 'oops' as unknown as number;
        return x;
      },
    });
    const failed = r.trials.filter((t) => t.status === 'failed');
    const ok = r.trials.filter((t) => t.status === 'ok');
    expect(failed.length + ok.length).toBe(30);
    for (const t of failed) expect(Number.isNaN(t.score)).toBe(true);
    for (const t of r.trials) {
      const x = t.config.x;
      if (x > 0.5) expect(t.error).toBe(`too big: ${x}`);
      else if (x < -0.8) expect(t.error).toMatch(/NaN/);
      else if (x < -0.6) expect(t.error).toMatch(/returned string/);
      else expect(t.status).toBe('ok');
    }
    expect(failed.some((t) => t.config.x > 0.5) && failed.some((t) => t.config.x < -0.8) && failed.some((t) => t.config.x < -0.6 && t.config.x >= -0.8)).toBe(true);
    expect(r.best.score).toBe(Math.min(...ok.map((t) => t.score)));
    const table = r.table().split('\n');
    expect(table.at(-1)).toMatch(/failed: /); // failed rows sort last
  });

  it('raises when every trial failed, naming the errors', async () => {
    await expect(kiln.search.randomSearch({ space: {}, trials: 3, trial: () => { throw new Error('broken'); }, ...silent })).rejects.toThrow(/all 3 trials failed.*broken/);
  });

  it('prints a line per finished trial and a summary when not on a TTY', async () => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => (lines.push(String(s)), true));
    await kiln.search.randomSearch({ space: { x: space.uniform(0, 1) }, trial: ({ x }) => x, trials: 4 });
    vi.restoreAllMocks();
    const text = lines.join('');
    expect(text.match(/random search trial \d\/4 \(id \d\)  score /g)?.length).toBe(4);
    expect(text).toMatch(/random search: 4 trials, best [\d.]+ \(id \d\)/);
  });
});

describe('results table', () => {
  it('is aligned, sorted by score, with config and extra columns', async () => {
    const r = await kiln.search.randomSearch({
      space: { lr: space.logUniform(1e-4, 1e-1), hidden: space.choice([32, 64]) }, trials: 6, seed: 3, ...silent,
      trial: (c) => ({ score: Math.abs(Math.log10(c.lr) + 2), acc: 0.5 }),
    });
    const lines = r.table().split('\n');
    expect(lines[0]).toMatch(/^rank\s+id\s+score\s+lr\s+hidden\s+acc\s+ms\s+status$/);
    expect(lines.length).toBe(7);
    const scores = lines.slice(1).map((l) => Number(l.trim().split(/\s+/)[2]));
    expect(scores).toEqual([...scores].sort((a, b) => a - b));
    expect(lines[1]!.trim().split(/\s+/).slice(0, 2)).toEqual(['1', String(r.best.id)]);
    // Right-aligned numeric columns: every row has the same length up to the status column.
    const statusAt = lines[0]!.indexOf('status');
    for (const l of lines.slice(1)) expect(l.indexOf(' ok')).toBe(statusAt - 1);
    expect(r.table({ top: 2 }).split('\n').length).toBe(3);
  });
});

describe('successiveHalving', () => {
  it('schedules budgets minBudget·eta^k and keeps ⌊n/eta^k⌋ configurations', () => {
    expect(kiln.search.halvingSchedule({ n: 27, minBudget: 1, maxBudget: 9, eta: 3 })).toEqual([
      { budget: 1, configs: 27 }, { budget: 3, configs: 9 }, { budget: 9, configs: 3 },
    ]);
    expect(kiln.search.halvingSchedule({ n: 10, minBudget: 1, maxBudget: 8, eta: 2 })).toEqual([
      { budget: 1, configs: 10 }, { budget: 2, configs: 5 }, { budget: 4, configs: 2 }, { budget: 8, configs: 1 },
    ]);
    expect(kiln.search.halvingSchedule({ n: 4, minBudget: 2, maxBudget: 30, eta: 3 }).map((r) => [r.budget, r.configs])).toEqual([[2, 4], [6, 1], [18, 1]]);
    expect(() => kiln.search.halvingSchedule({ n: 4, minBudget: 2, maxBudget: 1 })).toThrow(kiln.KilnError);
    expect(() => kiln.search.halvingSchedule({ n: 4, minBudget: 1, maxBudget: 9, eta: 1 })).toThrow(/eta/);
  });

  it('evaluates n at the min budget, promotes the best 1/eta at eta× the budget, with the same seed per configuration', async () => {
    const calls: { x: number; budget: number; seed: number }[] = [];
    const r = await kiln.search.successiveHalving({
      space: { x: space.uniform(-2, 2) }, n: 27, minBudget: 1, maxBudget: 9, eta: 3, seed: 11, ...silent,
      // The ranking changes with the budget, so promotion must use the latest rung's scores.
      trial: ({ x }, { budget, seed }) => {
        calls.push({ x, budget, seed });
        return (x - 1 / budget) ** 2;
      },
    });
    expect(r.trials.length).toBe(27 + 9 + 3);
    expect(calls.length).toBe(39);
    const rung = (k: number) => r.trials.filter((t) => t.rung === k);
    expect([0, 1, 2].map((k) => rung(k).length)).toEqual([27, 9, 3]);
    expect([0, 1, 2].map((k) => [...new Set(rung(k).map((t) => t.budget))])).toEqual([[1], [3], [9]]);
    expect(r.trials.map((t) => t.id)).toEqual(r.trials.map((_, i) => i));
    for (const k of [1, 2]) {
      const prev = [...rung(k - 1)].sort((a, b) => a.score - b.score);
      const keep = rung(k).length;
      expect(new Set(rung(k).map((t) => t.configId))).toEqual(new Set(prev.slice(0, keep).map((t) => t.configId)));
      for (const t of rung(k)) expect(t.seed).toBe(rung(0).find((u) => u.configId === t.configId)!.seed);
    }
    const top = rung(2);
    expect(r.best.rung).toBe(2);
    expect(r.best.score).toBe(Math.min(...top.map((t) => t.score)));
    const table = r.table().split('\n');
    expect(table[0]).toMatch(/budget/);
    expect(table[1]!.trim().split(/\s+/).slice(1, 3)).toEqual([String(r.best.id), '9']);
  });

  it('never promotes failed trials; the schedule, not the survivors, sets how many go on', async () => {
    const r = await kiln.search.successiveHalving({
      space: { x: space.uniform(0, 1) }, n: 9, minBudget: 1, maxBudget: 9, eta: 3, seed: 0, ...silent,
      trial: ({ x }, { id, budget }) => {
        if (budget === 1 && id !== 0 && id !== 4) throw new Error('failed at the first rung');
        return x;
      },
    });
    const rung = (k: number) => r.trials.filter((t) => t.rung === k);
    expect([0, 1, 2].map((k) => rung(k).length)).toEqual([9, 2, 1]); // 2 survivors, not ⌊2/3⌋; then 1 as planned
    expect(new Set(rung(1).map((t) => t.configId))).toEqual(new Set([0, 4]));
    const winner = rung(1).every((t) => t.status === 'ok') ? [...rung(1)].sort((a, b) => a.score - b.score)[0]! : undefined;
    expect(rung(2)[0]!.configId).toBe(winner!.configId);
    expect(r.best.id).toBe(rung(2)[0]!.id);
  });
});

describe('worker threads', () => {
  const quadTrial = { module: fixture, export: 'quadratic' };

  it('run trials off the main thread and agree with workers: 0 and with themselves (same seed)', async () => {
    const two = await kiln.search.randomSearch({ space: quadSpace, trial: quadTrial, trials: 12, workers: 2, seed: 5, ...silent });
    for (const t of two.trials) {
      expect(t.status).toBe('ok');
      expect(t.extra!.threadId).not.toBe(0);
      expect(t.extra!.seed).toBe(t.seed);
      expect(t.score).toBe(quad(t.config));
    }
    const again = await kiln.search.randomSearch({ space: quadSpace, trial: quadTrial, trials: 12, workers: 2, seed: 5, ...silent });
    const serial = await kiln.search.randomSearch({ space: quadSpace, trial: quadTrial, trials: 12, workers: 0, seed: 5, ...silent });
    expect(stable(again)).toEqual(stable(two));
    expect(stable(serial)).toEqual(stable(two));
    for (const t of serial.trials) expect(t.extra!.threadId).toBe(0);
    expect(serial.best.id).toBe(two.best.id);
    const other = await kiln.search.randomSearch({ space: quadSpace, trial: quadTrial, trials: 12, workers: 2, seed: 6, ...silent });
    expect(stable(other)).not.toEqual(stable(two));
  });

  it('successive halving over threads equals the in-process run', async () => {
    const opts = { space: quadSpace, trial: quadTrial, n: 9, minBudget: 1, maxBudget: 9, eta: 3, seed: 2, ...silent };
    const threaded = await kiln.search.successiveHalving({ ...opts, workers: 2 });
    const serial = await kiln.search.successiveHalving({ ...opts, workers: 0 });
    expect(stable(threaded)).toEqual(stable(serial));
    expect(threaded.trials.map((t) => t.budget)).toEqual([...Array(9).fill(1), 3, 3, 3, 9]);
  });

  it('record a throwing trial as failed and replace a worker that crashes', async () => {
    const r = await kiln.search.randomSearch({ space: { x: space.uniform(-1, 1) }, trial: { module: fixture, export: 'flaky' }, trials: 12, workers: 2, seed: 0, ...silent });
    expect(r.trials.length).toBe(12);
    for (const t of r.trials) {
      if (t.config.x > 0.5) expect(t.error).toBe(`x too large: ${t.config.x}`);
      else if (t.config.x < -0.5) expect(t.error).toBe('worker crashed: the worker exited with code 3');
      else expect([t.status, t.score]).toEqual(['ok', t.config.x]);
    }
    expect(r.trials.filter((t) => t.config.x < -0.5).length).toBeGreaterThanOrEqual(2); // more crashes than workers
    expect(r.trials.some((t) => t.status === 'ok')).toBe(true);
  });

  it('terminate a trial past its time limit and go on', async () => {
    const r = await kiln.search.randomSearch({
      space: { hang: space.choice([false, true]) }, trial: { module: fixture, export: 'hang' }, trials: 4, workers: 2, seed: 1, timeout: 300, ...silent,
    });
    expect(r.trials.some((t) => t.config.hang)).toBe(true);
    for (const t of r.trials) expect(t.status).toBe(t.config.hang ? 'failed' : 'ok');
    for (const t of r.trials.filter((u) => u.config.hang)) expect(t.error).toMatch(/timed out after 300 ms/);
  });

  it('pass back values that cannot be cloned as strings', async () => {
    const r = await kiln.search.randomSearch({ space: { x: space.uniform(0, 1) }, trial: { module: fixture, export: 'odd' }, trials: 1, workers: 1, ...silent });
    expect(r.trials[0]!.status).toBe('ok');
    expect(r.trials[0]!.extra).toEqual({ fn: '() => 1', nested: '[object Object]' });
  });

  it('load a .ts trial module through tsx', async () => {
    const r = await kiln.search.randomSearch({
      space: { x: space.uniform(-1, 1) }, trial: { module: new URL('./fixtures/searchTrial.ts', import.meta.url), export: 'square' }, trials: 3, budget: 2, workers: 1, ...silent,
    });
    for (const t of r.trials) {
      expect(t.score).toBeCloseTo(2 * t.config.x ** 2, 12);
      expect(t.extra!.threadId).not.toBe(0);
    }
  });

  it('refuse what cannot work with a KilnError', async () => {
    await expect(kiln.search.randomSearch({ space: {}, trials: 1, workers: 2, trial: () => 0, ...silent })).rejects.toThrow(/closures do not cross threads/);
    await expect(kiln.search.randomSearch({ space: {}, trials: 1, workers: 1, trial: { module: 'test/fixtures/nope.mjs', export: 'f' }, ...silent })).rejects.toThrow(/trial module not found/);
    await expect(kiln.search.randomSearch({ space: {}, trials: 1, workers: 1, trial: { module: fixture, export: 'missing' }, ...silent })).rejects.toThrow(/no exported function "missing" \(exports: .*quadratic/);
    await expect(kiln.search.randomSearch({ space: {}, trials: 1, workers: 0, trial: { module: fixture, export: 'missing' }, ...silent })).rejects.toThrow(kiln.KilnError);
  });
});
