/**
 * Philox4x32-10 streams, fast paths against plain models:
 *  - the JS generator (src/runtime/philox.ts: mulhi by the double-rounding trick, blocks
 *    written straight into outputs, 4096-word chunks) equals a BigInt Philox on random
 *    keys and counters, and its uniform / normal / word streams equal the BigInt stream
 *    mapped element by element, at any offset (partial blocks at either end, counters
 *    past 2^32, chunk boundaries);
 *  - the generated wasm samplers (src/runtime/wasm/kernels/philoxKernel.ts), called on a
 *    heap, equal the JS maps of those words for awkward counts and offsets (scalar heads
 *    and tails, one and two SIMD sets, a counter wrapping its low word inside a set), and
 *    write nothing outside the output;
 *  - through Kiln, the wasm backend's random ops give the reference backend's numbers
 *    bit for bit (float32), including the dtypes and bounds left to the portable kernels.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { normalsFromWords, philoxBlock, philoxFill, philoxNormal, philoxNormalInto, philoxUint32, philoxUniform } from '../src/runtime/philox.js';
import { philoxModule, runPhilox, PHILOX_KERNELS, type PhiloxKernelName } from '../src/runtime/wasm/kernels/philoxKernel.js';
import { nativeKernels } from '../src/runtime/wasm/nativeKernels.js';

beforeAll(async () => {
  await kiln.init();
});

// ---- a plain model: Philox4x32-10 on BigInt ------------------------------------------

const MASK = 0xffffffffn;

function refBlock(c: readonly number[], k0: number, k1: number): number[] {
  let [x0, x1, x2, x3] = c.map((v) => BigInt(v >>> 0)) as [bigint, bigint, bigint, bigint];
  let a = BigInt(k0 >>> 0), b = BigInt(k1 >>> 0);
  for (let r = 0; r < 10; r++) {
    const p0 = 0xd2511f53n * x0, p1 = 0xcd9e8d57n * x2;
    [x0, x1, x2, x3] = [((p1 >> 32n) ^ x1 ^ a) & MASK, p1 & MASK, ((p0 >> 32n) ^ x3 ^ b) & MASK, p0 & MASK];
    a = (a + 0x9e3779b9n) & MASK;
    b = (b + 0xbb67ae85n) & MASK;
  }
  return [x0, x1, x2, x3].map(Number);
}

/** Words offset … offset+count-1 of the stream keyed by seed. */
function refWords(seed: number, offset: number, count: number): number[] {
  const k0 = seed % 2 ** 32, k1 = Math.floor(seed / 2 ** 32);
  const out: number[] = [];
  for (let pos = offset; pos < offset + count; pos++) {
    const ctr = Math.floor(pos / 4);
    out.push(refBlock([ctr % 2 ** 32, Math.floor(ctr / 2 ** 32), 0, 0], k0, k1)[pos % 4]!);
  }
  return out;
}

const u24 = (w: number): number => (w >>> 8) / 16777216;

/** Deterministic uint32s (LCG). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

const SEEDS = [0, 1, 42, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 12345, 2 ** 53 - 1];
// Block-aligned and not; counter low word about to wrap (2^32 - 1 blocks in); large.
const OFFSETS = [0, 1, 2, 3, 4, 5, 7, 4 * (2 ** 32 - 1) - 2, 4 * (2 ** 32 - 3), 2 ** 52 + 4];

describe('the JS Philox generator', () => {
  it('matches a BigInt Philox on random counters and keys (every mulhi carry pattern)', () => {
    const next = lcg(7);
    const out = new Uint32Array(4);
    const edge = [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 0x0000ffff, 0xffff0000];
    for (let t = 0; t < 3000; t++) {
      const v = Array.from({ length: 6 }, (_, j) => (t < 64 ? edge[(t + j * 3) % edge.length]! : next()));
      philoxBlock(v[0]!, v[1]!, v[2]!, v[3]!, v[4]!, v[5]!, out);
      expect([...out]).toEqual(refBlock(v.slice(0, 4), v[4]!, v[5]!));
      // Signed (int32) inputs are the same bits.
      philoxBlock(v[0]! | 0, v[1]! | 0, v[2]! | 0, v[3]! | 0, v[4]! | 0, v[5]! | 0, out);
      expect([...out]).toEqual(refBlock(v.slice(0, 4), v[4]!, v[5]!));
    }
  });

  it('gives the stream at any seed and offset: words, uniforms, normals', () => {
    for (const seed of SEEDS) {
      for (const offset of OFFSETS) {
        for (const n of [0, 1, 3, 9]) {
          const want = refWords(seed, offset, n + 1);
          expect(Array.from(philoxUint32(seed, offset, n))).toEqual(want.slice(0, n));
          expect(Array.from(philoxUniform(seed, offset, n))).toEqual(want.slice(0, n).map(u24));
          const z = philoxNormal(seed, offset, n);
          const zw = new Float64Array(n);
          normalsFromWords(Uint32Array.from(want), zw, 0, n, 0, 1, false);
          expect(Array.from(z)).toEqual(Array.from(zw));
        }
      }
    }
  });

  it('writes whole chunks and partial blocks in the right places', () => {
    // 4096-word chunks: counts and offsets around their boundaries.
    const seed = 2 ** 33 + 99;
    for (const [offset, n] of [[0, 4096], [1, 4097], [3, 8195], [4093, 4100], [6, 12289]] as const) {
      const want = refWordsFast(seed, offset, n);
      expect(Array.from(philoxUint32(seed, offset, n))).toEqual(want);
      expect(Array.from(philoxUniform(seed, offset, n))).toEqual(want.map(u24));
      // Into a window of a larger array, signed.
      const out = new Int32Array(n + 10).fill(-7);
      philoxFill(seed, offset, out, 4, n);
      expect(Array.from(out.subarray(4, 4 + n))).toEqual(want.map((w) => w | 0));
      expect([...out.subarray(0, 4), ...out.subarray(4 + n)]).toEqual(new Array<number>(10).fill(-7));
      // Normals into a window, with an affine map: pairs across chunk boundaries line up.
      const z = new Float64Array(n + 3).fill(9);
      philoxNormalInto(seed, offset, z, 1.5, 2, 2, 2 + n);
      const zw = new Float64Array(n);
      normalsFromWords(Uint32Array.from(refWordsFast(seed, offset, n + 1)), zw, 0, n, 1.5, 2);
      expect(Array.from(z.subarray(2, 2 + n))).toEqual(Array.from(zw));
      expect([z[0], z[1], z[n + 2]]).toEqual([9, 9, 9]);
    }
  });
});

/** refWords, one BigInt block per 4 words (for long streams). */
function refWordsFast(seed: number, offset: number, count: number): number[] {
  const k0 = seed % 2 ** 32, k1 = Math.floor(seed / 2 ** 32);
  const out: number[] = [];
  let block: number[] = [], blockCtr = -1;
  for (let pos = offset; pos < offset + count; pos++) {
    const ctr = Math.floor(pos / 4);
    if (ctr !== blockCtr) { block = refBlock([ctr % 2 ** 32, Math.floor(ctr / 2 ** 32), 0, 0], k0, k1); blockCtr = ctr; }
    out.push(block[pos % 4]!);
  }
  return out;
}

// ---- the generated wasm samplers, directly on a heap ---------------------------------

describe('the generated wasm Philox samplers', () => {
  const memory = new WebAssembly.Memory({ initial: 32 });
  const DST = 4096, SRC = 1 << 20;
  const GUARD = 0xabababab;

  /** Runs `name` and returns the n output words; checks the 8 words either side are untouched. */
  function run(name: PhiloxKernelName, seed: number, offset: number, n: number, a = 0, b = 0): ArrayBuffer {
    new Uint32Array(memory.buffer, DST - 32, n + 16).fill(GUARD);
    runPhilox(memory, name, seed, offset, n, DST, SRC, a, b);
    const around = [...new Uint32Array(memory.buffer, DST - 32, 8), ...new Uint32Array(memory.buffer, DST + 4 * n, 8)];
    expect(around.every((w) => w === GUARD)).toBe(true);
    return memory.buffer.slice(DST, DST + 4 * n);
  }

  // Heads (offset % 4), scalar tails, 16- and 32-element SIMD steps, and mixes of them.
  const COUNTS = [0, 1, 2, 3, 4, 5, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 100, 1001];

  it('words: the stream itself', () => {
    for (const seed of [0, 42, 2 ** 40 + 12345, 2 ** 53 - 1]) {
      for (const offset of OFFSETS) {
        for (const n of COUNTS) {
          expect(Array.from(new Uint32Array(run('words', seed, offset, n)))).toEqual(refWordsFast(seed, offset, n));
        }
      }
    }
  });

  it('bernoulli: u < p, for probabilities 0, 1, in between, NaN and out of [0, 1]', () => {
    const P = [0, 1, 0.5, 0.25, 0.7, 1e-7, 1 - 2 ** -24, NaN, -1, 2, -0, Infinity];
    for (const seed of [3, 2 ** 40 + 12345]) {
      for (const offset of OFFSETS) {
        for (const n of COUNTS) {
          const p = new Float32Array(memory.buffer, SRC, n);
          for (let i = 0; i < n; i++) p[i] = P[(i * 7 + offset) % P.length]!;
          const want = refWordsFast(seed, offset, n).map((w, i) => (u24(w) < p[i]! ? 1 : 0));
          expect(Array.from(new Float32Array(run('bernoulliF32', seed, offset, n)))).toEqual(want);
        }
      }
    }
    // Values at the boundary of u's 24-bit grid: u < p exactly as in float64.
    const n = 4096, seed = 11;
    const words = refWordsFast(seed, 0, n);
    const p = new Float32Array(memory.buffer, SRC, n);
    for (let i = 0; i < n; i++) p[i] = u24(words[i]!) + [0, 2 ** -25, -(2 ** -25), 2 ** -24][i % 4]!;
    expect(Array.from(new Float32Array(run('bernoulliF32', seed, 0, n)))).toEqual(words.map((w, i) => (u24(w) < p[i]! ? 1 : 0)));
  });

  it('uniform: low + range·u rounded to float32, as the portable kernel stores it', () => {
    for (const [low, high] of [[0, 1], [-2, 3], [1e-3, 7.77], [-1e30, 1e30], [5, 5], [3, -1], [0.1, 0.30000000000000004]]) {
      for (const offset of [0, 3, 4 * (2 ** 32 - 3)]) {
        for (const n of COUNTS) {
          const want = Float32Array.from(refWordsFast(7, offset, n), (w) => low! + (high! - low!) * u24(w));
          expect(new Float32Array(run('uniformF32', 7, offset, n, low, high! - low!))).toEqual(want);
        }
      }
    }
  });

  it('randInt: low + floor(w·range / 2^32), to int32 and to float32', () => {
    const BOUNDS = [[0, 10], [-5, 5], [3, 4], [-(2 ** 31), 2 ** 31 - 1], [0, 2 ** 31 - 1], [-7, 1e6 + 3], [-100, 2 ** 25 + 1]];
    for (const [low, high] of BOUNDS) {
      for (const offset of [0, 1, 4 * (2 ** 32 - 3) + 2]) {
        for (const n of COUNTS) {
          const words = refWordsFast(2 ** 40 + 5, offset, n);
          const want = words.map((w) => low! + Math.floor((w * (high! - low!)) / 4294967296));
          expect(Array.from(new Int32Array(run('randIntI32', 2 ** 40 + 5, offset, n, low, high! - low!)))).toEqual(want);
          expect(new Float32Array(run('randIntF32', 2 ** 40 + 5, offset, n, low, high! - low!))).toEqual(Float32Array.from(want));
        }
      }
    }
  });

  it('every sampler module validates and stays small', () => {
    for (const name of PHILOX_KERNELS) {
      for (const groups of [1, 2, 3]) {
        const bytes = philoxModule(name, groups);
        expect(WebAssembly.validate(bytes)).toBe(true);
        expect(bytes.length).toBeLessThan(20000);
      }
    }
    expect(() => philoxModule('words', 0)).toThrow(/group count/);
  });
});

// ---- through Kiln: the wasm backend against the reference backend --------------------

describe('random ops on the wasm backend', () => {
  const SHAPES = [[], [0], [1], [3], [4], [5], [17], [2, 1, 3], [33, 1], [7, 5, 3], [1001]];
  const LARGE = [64, 3136]; // the demo CNN's dropout mask

  const bits = (t: kiln.Tensor): number[] => Array.from(t.dataSync());

  it('have native kernels (the generated samplers), not only the portable ones', () => {
    for (const op of ['randomUniform', 'randomNormal', 'randomInt', 'bernoulli']) expect(nativeKernels.has(op)).toBe(true);
  });

  it('uniform, normal, randint: the reference numbers at any generator offset', () => {
    for (const shape of SHAPES) {
      for (const skip of [0, 1, 3]) {
        const draw = (backend: 'reference' | 'wasm'): kiln.Tensor[] => {
          kiln.manualSeed(2 ** 36 + 17);
          if (skip) kiln.rand([skip], { backend }); // offsets 4, 4 (whole blocks)
          return [
            kiln.uniform(shape, -2, 3, { backend }),
            kiln.randn(shape, { backend }),
            kiln.normal(shape, 1, 0.5, { backend }),
            kiln.randint(-5, 5, shape, { backend }),
            kiln.randint(-(2 ** 31), 2 ** 31 - 1, shape, { backend }),
            kiln.randint(0, 1000, shape, { backend, dtype: 'float32' }),
          ];
        };
        const ref = draw('reference'), got = draw('wasm');
        for (let i = 0; i < ref.length; i++) {
          expect(got[i]!.dtype).toBe(ref[i]!.dtype);
          expect(bits(got[i]!)).toEqual(bits(ref[i]!));
        }
      }
    }
    for (const f of [(backend: 'reference' | 'wasm') => kiln.rand(LARGE, { backend, seed: 1 }), (backend: 'reference' | 'wasm') => kiln.randn([70001], { backend, seed: 2 })]) {
      expect(bits(f('wasm'))).toEqual(bits(f('reference')));
    }
  });

  it('explicit seeds give the stream from offset 0, equal to the JS generator', () => {
    for (const n of [1, 5, 16, 33, 1001]) {
      expect(bits(kiln.rand([n], { seed: 9, backend: 'wasm' }))).toEqual(Array.from(Float32Array.from(philoxUniform(9, 0, n))));
      expect(bits(kiln.randn([n], { seed: 9, backend: 'wasm' }))).toEqual(Array.from(Float32Array.from(philoxNormal(9, 0, n))));
    }
  });

  it('bernoulli and dropout: the reference masks', () => {
    for (const shape of [...SHAPES, LARGE]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const p = Float32Array.from({ length: n }, (_, i) => [0, 1, 0.3, 0.7, 0.5, NaN, -1, 2][i % 8]!);
      const on = (backend: 'reference' | 'wasm'): number[] => bits(kiln.bernoulli(kiln.tensor(p, { backend }).reshape(shape), { seed: 123 }));
      expect(on('wasm')).toEqual(on('reference'));
      const x = Float32Array.from({ length: n }, (_, i) => i - n / 2);
      const drop = (backend: 'reference' | 'wasm'): number[] => bits(kiln.dropout(kiln.tensor(x, { backend }).reshape(shape), 0.3, { seed: 5 }));
      expect(drop('wasm')).toEqual(drop('reference'));
    }
    // The global generator at an offset.
    const masks = (backend: 'reference' | 'wasm'): number[] => {
      kiln.manualSeed(77);
      kiln.rand([5], { backend });
      return bits(kiln.bernoulli(kiln.full([1001], 0.4, { backend })));
    };
    expect(masks('wasm')).toEqual(masks('reference'));
  });

  it('dtypes and bounds the samplers leave to the portable kernels agree too', () => {
    const pairs = (f: (backend: 'reference' | 'wasm') => kiln.Tensor): void => expect(bits(f('wasm'))).toEqual(bits(f('reference')));
    pairs((backend) => kiln.uniform([37], -3, 40, { backend, dtype: 'int32', seed: 1 }));
    pairs((backend) => kiln.randint(-(2 ** 40), 2 ** 40, [37], { backend, seed: 2 }));
    pairs((backend) => kiln.randint(0, 2 ** 31, [37], { backend, seed: 3 }));
    pairs((backend) => kiln.randn([37], { backend, dtype: 'int32', seed: 4 }));
    pairs((backend) => kiln.uniform([9], 0, Infinity, { backend, seed: 5 }));
    pairs((backend) => kiln.bernoulli(kiln.full([37], 0.5, { backend, dtype: 'int32' }), { seed: 6 }));
  });
});
