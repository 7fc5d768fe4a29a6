/**
 * Randomness under kiln.compile: random creation is recorded as ops whose Philox key is
 * a graph input drawn from the global generator at every run (never numbers baked in
 * at trace time). The random ops' kernels give exactly eager's streams (checked
 * against src/eager/philox.ts), and compiled dropout reproduces eager's masks for the
 * same seed/offset. Exact equality throughout (the same kernels run).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { compile, dim, spec } from '../src/compiled/index.js';
import { philoxNormal, philoxUint32, philoxUniform } from '../src/eager/philox.js';

const { nn } = kiln;

beforeAll(async () => {
  await kiln.init();
});

const BACKENDS = ['reference', 'wasm'] as const;

function same(a: kiln.Tensor, b: kiln.Tensor): boolean {
  return a.shape.join() === b.shape.join() && Array.from(a.dataSync()).every((v, i) => Object.is(v, b.dataSync()[i]));
}

describe('random ops', () => {
  for (const backend of BACKENDS) {
    it(`give the Philox streams of src/eager/philox.ts at any seed and offset on ${backend}`, () => {
      const seed = 2 ** 40 + 12345; // both key words in use
      kiln.manualSeed(seed);
      kiln.rand([3], { backend }); // offset 4: streams start mid-way
      const u = kiln.uniform([7], -2, 3, { backend, dtype: backend === 'reference' ? 'float64' : 'float32' }).dataSync();
      const wantU = philoxUniform(seed, 4, 7).map((v) => -2 + 5 * v);
      expect(Array.from(u)).toEqual(Array.from(backend === 'reference' ? wantU : Float32Array.from(wantU)));
      const z = kiln.normal([5], 1, 2, { backend, seed: 9 }).dataSync();
      expect(Array.from(z)).toEqual(Array.from(Float32Array.from(philoxNormal(9, 0, 5).map((v) => 1 + 2 * v))));
      const r = kiln.randint(-5, 5, [9], { backend, seed: 3 }).dataSync();
      expect(Array.from(r)).toEqual(Array.from(philoxUint32(3, 0, 9), (w) => -5 + Math.floor((w * 10) / 4294967296)));
      const p = kiln.tensor([0, 0.25, 0.5, 0.75, 1, 0.5], { backend });
      const m = kiln.bernoulli(p, { seed: 11 }).dataSync();
      const pu = philoxUniform(11, 0, 6);
      expect(Array.from(m)).toEqual(Array.from(p.dataSync(), (pi, i) => (pu[i]! < pi ? 1 : 0)));
    });
  }

  it('advance the global generator as before (whole Philox blocks; Box–Muller pairs)', () => {
    kiln.manualSeed(5);
    kiln.rand([3]);   // 4 draws
    kiln.randn([3]);  // 4 draws (2 pairs)
    kiln.bernoulli(kiln.full([5], 0.5)); // 8 draws
    const next = kiln.rand([2]).dataSync();
    expect(Array.from(next)).toEqual(Array.from(Float32Array.from(philoxUniform(5, 16, 2))));
  });
});

describe('randomness in compiled code', () => {
  it('dropout in training: a new mask every run, the same as eager for the same generator state', () => {
    kiln.manualSeed(1);
    const model = new nn.Sequential(new nn.Linear(8, 8), new nn.Dropout(0.5)); // training mode
    const fast = compile(model, { inputs: [spec([dim('batch'), 8])], mode: 'training' });
    const x = kiln.randn([4, 8], { seed: 2 });
    const masks: string[] = [];
    for (let run = 0; run < 4; run++) {
      kiln.manualSeed(100 + run);
      const y = fast.run(x) as kiln.Tensor;
      const afterCompiled = kiln.rand([1]).item();
      kiln.manualSeed(100 + run);
      const e = model.forward(x) as kiln.Tensor;
      const afterEager = kiln.rand([1]).item();
      expect(same(y, e)).toBe(true);
      expect(afterCompiled).toBe(afterEager); // the generator moved on exactly as eager's did
      masks.push(Array.from(y.dataSync(), (v) => (v === 0 ? '0' : '1')).join(''));
    }
    expect(new Set(masks).size).toBe(4);
    // Without reseeding, consecutive runs draw different masks too.
    const a = (fast.run(x) as kiln.Tensor).dataSync(), b = (fast.run(x) as kiln.Tensor).dataSync();
    expect(Array.from(a)).not.toEqual(Array.from(b));
    expect(fast.traceCount).toBe(1);
    expect(fast.graph.toString()).toMatch(/bernoulli\(%\w+, %rng\)/);
    expect(fast.explain()).toContain('random inputs: 1 Philox key drawn from the global generator at each run');
  });

  it('the sample count follows a symbolic batch', () => {
    const f = (x: kiln.Tensor) => x.add(kiln.randn(x.shape));
    const fast = compile(f, { inputs: [spec([dim('b'), 3])] });
    for (const b of [2, 5, 1]) {
      const x = kiln.ones([b, 3]);
      kiln.manualSeed(b);
      const y = fast.run(x) as kiln.Tensor;
      kiln.manualSeed(b);
      expect(same(y, f(x))).toBe(true);
    }
    expect(fast.traceCount).toBe(1);
    expect(fast.graph.toString()).toContain('randomNormal(%rng) {shape=[b, 3]');
  });

  it('an explicit seed is a constant key: the same numbers at every run, as in eager', () => {
    const f = (x: kiln.Tensor) => kiln.dropout(x, 0.5, { seed: 7 });
    const fast = compile(f, { inputs: [spec([16])] });
    const x = kiln.ones([16]);
    const first = fast.run(x) as kiln.Tensor, second = fast.run(x) as kiln.Tensor;
    expect(same(first, second)).toBe(true);
    expect(same(second, f(x))).toBe(true);
    expect(fast.graph.inputs.length).toBe(1); // no generator input
  });
});
