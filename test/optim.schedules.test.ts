/**
 * Learning-rate schedules against PyTorch (test/golden/optim/schedules.json, made by
 * test/golden/optim/generate.py): the lr of two param groups (base 0.1 and 0.03)
 * after construction and after each of 30 steps, for every scheduler, two chained
 * combinations, and ReduceLROnPlateau on fixed metric sequences.
 * Tolerance: 1e-12 relative (both sides compute in float64 with the same formulas).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import * as optim from '../src/optim/index.js';

interface SchedCase { name: string; schedulers: { kind: string; options: Record<string, number> }[]; lrs: number[][] }
interface PlateauCase { name: string; options: optim.ReduceLROnPlateauOptions; metrics: number[]; lrs: number[][] }

const here = path.dirname(fileURLToPath(import.meta.url));
const golden = JSON.parse(readFileSync(path.join(here, 'golden/optim/schedules.json'), 'utf8')) as {
  baseLrs: number[];
  cases: SchedCase[];
  plateau: PlateauCase[];
};

const TOL = 1e-12;

beforeAll(async () => {
  await kiln.init({ backend: 'reference' });
});

function makeOpt(): optim.SGD {
  return new optim.SGD(
    golden.baseLrs.map((lr) => ({ params: [kiln.zeros([1], { requiresGrad: true })], lr })),
    { lr: golden.baseLrs[0]! },
  );
}

function makeScheduler(opt: optim.SGD, kind: string, o: Record<string, number>): optim.LRScheduler {
  switch (kind) {
    case 'StepLR': return new optim.StepLR(opt, o as unknown as optim.StepLROptions);
    case 'ExponentialLR': return new optim.ExponentialLR(opt, o as unknown as optim.ExponentialLROptions);
    case 'CosineAnnealingLR': return new optim.CosineAnnealingLR(opt, o as unknown as optim.CosineAnnealingLROptions);
    case 'LinearLR': return new optim.LinearLR(opt, o);
    case 'LinearWarmup': return new optim.LinearWarmup(opt, o as unknown as optim.LinearWarmupOptions);
    default: throw new Error(`unknown scheduler ${kind}`);
  }
}

function expectLrs(actual: number[], ref: number[], what: string): void {
  expect(actual.length, what).toBe(ref.length);
  ref.forEach((r, i) => {
    if (!(Math.abs(actual[i]! - r) <= TOL * Math.abs(r) + 1e-300)) throw new Error(`${what} group ${i}: got ${actual[i]}, PyTorch ${r}`);
  });
}

describe('schedulers vs PyTorch', () => {
  it.each(golden.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const opt = makeOpt();
    const scheds = c.schedulers.map((s) => makeScheduler(opt, s.kind, s.options));
    expectLrs(opt.paramGroups.map((g) => g.lr as number), c.lrs[0]!, 'epoch 0');
    for (let epoch = 1; epoch < c.lrs.length; epoch++) {
      for (const s of scheds) s.step();
      expectLrs(opt.paramGroups.map((g) => g.lr as number), c.lrs[epoch]!, `epoch ${epoch}`);
      expectLrs(scheds[scheds.length - 1]!.getLastLr(), c.lrs[epoch]!, `getLastLr at epoch ${epoch}`);
    }
  });

  it.each(golden.plateau.map((c) => [c.name, c] as const))('ReduceLROnPlateau %s', (_name, c) => {
    const opt = makeOpt();
    const sched = new optim.ReduceLROnPlateau(opt, c.options);
    c.metrics.forEach((m, i) => {
      sched.step(m);
      expectLrs(sched.getLastLr(), c.lrs[i]!, `after metric ${i} (${m})`);
      expectLrs(opt.paramGroups.map((g) => g.lr as number), c.lrs[i]!, `group lr after metric ${i}`);
    });
  });
});

describe('schedulers drive the optimizer', () => {
  it('the scheduled lr is the one step() uses', () => {
    const w = kiln.tensor([1], { requiresGrad: true });
    const opt = new optim.SGD([w], { lr: 0.5 });
    const sched = new optim.StepLR(opt, { stepSize: 1, gamma: 0.5 });
    sched.step(); // lr 0.25
    w.square().sum().backward(); // grad 2
    opt.step();
    expect(w.item()).toBe(0.5); // 1 − 0.25·2
  });

  it('closed forms: StepLR, ExponentialLR and CosineAnnealingLR', () => {
    const opt = makeOpt();
    const cos = new optim.CosineAnnealingLR(opt, { tMax: 10, etaMin: 0.01 });
    for (let t = 1; t <= 10; t++) {
      cos.step();
      const expected = 0.01 + ((0.1 - 0.01) * (1 + Math.cos((Math.PI * t) / 10))) / 2;
      expect(cos.getLastLr()[0]).toBeCloseTo(expected, 12);
    }
    const opt2 = makeOpt();
    const step = new optim.StepLR(opt2, { stepSize: 4, gamma: 0.5 });
    for (let t = 1; t <= 12; t++) step.step();
    expect(step.getLastLr()[1]).toBeCloseTo(0.03 * 0.5 ** 3, 15);
  });

  it('a scheduler state dict restores its position', () => {
    const a = makeOpt();
    const sa = new optim.CosineAnnealingLR(a, { tMax: 10 });
    for (let i = 0; i < 4; i++) sa.step();
    const saved = JSON.parse(JSON.stringify({ opt: a.stateDict(), sched: sa.stateDict() })) as { opt: optim.OptimizerStateDict; sched: optim.SchedulerStateDict };
    const b = makeOpt();
    const sb = new optim.CosineAnnealingLR(b, { tMax: 10 });
    b.loadStateDict(saved.opt);
    sb.loadStateDict(saved.sched);
    for (let i = 0; i < 5; i++) {
      sa.step();
      sb.step();
    }
    expect(sb.getLastLr()).toEqual(sa.getLastLr());
    expect(sb.lastEpoch).toBe(9);
  });

  it('ReduceLROnPlateau state dict survives JSON (Infinity best included)', () => {
    const opt = makeOpt();
    const s = new optim.ReduceLROnPlateau(opt, { factor: 0.5, patience: 0 });
    const fresh = JSON.parse(JSON.stringify(s.stateDict())) as optim.PlateauStateDict;
    s.loadStateDict(fresh);
    expect(s.best).toBe(Infinity);
    s.step(1);
    s.step(2); // no improvement, patience 0: halve
    expect(s.getLastLr()).toEqual([0.05, 0.015]);
  });
});

describe('scheduler validation', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['StepLR stepSize 0', () => new optim.StepLR(makeOpt(), { stepSize: 0 }), /^StepLR: invalid stepSize/],
    ['CosineAnnealingLR tMax 2.5', () => new optim.CosineAnnealingLR(makeOpt(), { tMax: 2.5 }), /^CosineAnnealingLR: invalid tMax/],
    ['LinearLR startFactor 0', () => new optim.LinearLR(makeOpt(), { startFactor: 0 }), /^LinearLR: invalid startFactor/],
    ['LinearLR endFactor 2', () => new optim.LinearLR(makeOpt(), { endFactor: 2 }), /^LinearLR: invalid endFactor/],
    ['LinearWarmup warmupSteps 0', () => new optim.LinearWarmup(makeOpt(), { warmupSteps: 0 }), /^LinearWarmup: invalid totalIters/],
    ['ExponentialLR gamma NaN', () => new optim.ExponentialLR(makeOpt(), { gamma: NaN }), /^ExponentialLR: invalid gamma/],
    ['ReduceLROnPlateau factor 1', () => new optim.ReduceLROnPlateau(makeOpt(), { factor: 1 }), /^ReduceLROnPlateau: factor must be in \[0, 1\)/],
    ['ReduceLROnPlateau mode', () => new optim.ReduceLROnPlateau(makeOpt(), { mode: 'up' as 'min' }), /mode must be 'min' or 'max'/],
    ['ReduceLROnPlateau minLr count', () => new optim.ReduceLROnPlateau(makeOpt(), { minLr: [0.1] }), /expected 2 minLr values/],
    ['not an optimizer', () => new optim.StepLR({} as optim.LrOptimizer, { stepSize: 1 }), /^StepLR: expected an optimizer/],
  ];
  it.each(cases)('%s', (_name, make, message) => {
    expect(make).toThrow(kiln.KilnError);
    expect(make).toThrow(message);
  });
});
