/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"), a
 * counter-based generator: element i of a stream keyed by `seed` at `offset` is a pure
 * function of (seed, offset + i), so every backend (and a compiled graph) can
 * reproduce the same numbers without sharing state.
 *
 * Layout: the 64-bit seed is the key (lo, hi words); the counter is
 * (floor((offset+i)/4) lo, hi, 0, 0) and lane (offset+i) % 4 of the output is element i.
 *
 * The wasm backend computes the same streams in generated WebAssembly
 * (src/runtime/wasm/kernels/philoxKernel.ts); this is the JS generator for the reference
 * backend, host-side data work and the parts of a stream the wasm kernels leave to JS.
 */
const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
/** The round multipliers and key increments (Weyl constants), for other implementations. */
export const PHILOX_CONSTANTS = { M0, M1, W0, W1 } as const;
const TWO_32 = 4294967296;
const INV_TWO_32 = 1 / TWO_32;

// The high word of M·c (a 64-bit product) in one round: the double product M·c is off
// the exact one by at most 2^10 (53-bit mantissa, product < 2^64); subtracting the exact
// low word (Math.imul) and scaling by 2^-32 leaves hi ± 2^-21, so adding 0.5 and
// truncating (the ToInt32 of `^`) gives hi exactly. Measured (node 20): 12.8 ns per
// element against 22 ns for four 16×16-bit partial products, and 71 ns for two exact
// 16×32-bit ones (their floors and modulos cost more than they save).

/** One Philox4x32-10 block: 4 uint32 from a 128-bit counter and 64-bit key. */
export function philoxBlock(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array): void {
  c0 >>>= 0; c2 >>>= 0; // multiplicands: unsigned
  for (let r = 0; r < 10; r++) {
    const lo0 = Math.imul(M0, c0), lo1 = Math.imul(M1, c2);
    const n0 = ((M1 * c2 - (lo1 >>> 0)) * INV_TWO_32 + 0.5) ^ c1 ^ k0;
    const n2 = ((M0 * c0 - (lo0 >>> 0)) * INV_TWO_32 + 0.5) ^ c3 ^ k1;
    c0 = n0 >>> 0; c1 = lo1; c2 = n2 >>> 0; c3 = lo0;
    k0 = (k0 + W0) | 0;
    k1 = (k1 + W1) | 0;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/**
 * Writes `count` words of the stream (seed, offset) into `out[start…start+count)`:
 * block by block through a 4-word scratch (V8 inlines `philoxBlock`: as fast as a
 * hand-inlined round loop). `out` may be an Int32Array (the same bits, signed).
 */
export function philoxFill(seed: number, offset: number, out: Uint32Array | Int32Array, start = 0, count = out.length - start): void {
  const K0 = seed >>> 0, K1 = Math.floor(seed / TWO_32) | 0;
  let i = start;
  const end = start + count;
  let ctr = Math.floor(offset / 4);
  let lane = offset - ctr * 4;
  while (i < end) {
    philoxBlock(ctr >>> 0, Math.floor(ctr / TWO_32) | 0, 0, 0, K0, K1, block);
    if (lane === 0 && i + 4 <= end) {
      out[i] = block[0]!; out[i + 1] = block[1]!; out[i + 2] = block[2]!; out[i + 3] = block[3]!;
      i += 4;
    } else {
      for (; lane < 4 && i < end; lane++, i++) out[i] = block[lane]!;
      lane = 0;
    }
    ctr++;
  }
}

const block = new Uint32Array(4);

/**
 * The stream of a random op's key: the int32 [4] tensor [seedLo, seedHi, offsetLo,
 * offsetHi] (uint32 bit patterns) that src/ops/random.ts takes as an input.
 */
export function streamOfKey(key: ArrayLike<number>): { seed: number; offset: number } {
  return { seed: (key[0]! >>> 0) + (key[1]! >>> 0) * 0x100000000, offset: (key[2]! >>> 0) + (key[3]! >>> 0) * 0x100000000 };
}

/** Words per chunk of `philoxChunks`: 16 KB of scratch, in L1 while it is consumed. */
const CHUNK = 4096;
let chunkWords = new Uint32Array(0);

/**
 * Calls `consume(words, start, count)` for consecutive chunks of `total` words of the
 * stream (seed, offset): `words[0…count)` are elements `start…start+count)`. The words
 * array is reused between chunks and calls: read it before returning. This is how the
 * samplers write their outputs directly, without a stream-sized intermediate.
 */
export function philoxChunks(seed: number, offset: number, total: number, consume: (words: Uint32Array, start: number, count: number) => void): void {
  if (chunkWords.length === 0) chunkWords = new Uint32Array(CHUNK);
  const words = chunkWords;
  for (let start = 0; start < total; start += CHUNK) {
    const count = Math.min(CHUNK, total - start);
    philoxFill(seed, offset + start, words, 0, count);
    consume(words, start, count);
  }
}

/** The uniform float in [0, 1) of one word: its top 24 bits (exact in float32). */
export function uniformOfWord(w: number): number {
  return (w >>> 8) * (1 / 16777216);
}

/** `count` raw uint32 of the stream (seed, offset). */
export function philoxUint32(seed: number, offset: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  philoxFill(seed, offset, out);
  return out;
}

/** Uniform floats in [0, 1): the top 24 bits of each uint32 (exact in float32). */
export function philoxUniform(seed: number, offset: number, count: number): Float64Array {
  const out = new Float64Array(count);
  philoxChunks(seed, offset, count, (w, start, n) => {
    for (let j = 0; j < n; j++) out[start + j] = uniformOfWord(w[j]!);
  });
  return out;
}

/** Output arrays the samplers write (bool outputs get 1 for nonzero). */
export type SampleArray = Float32Array | Float64Array | Int32Array | Uint8Array;

/**
 * Writes `mean + std·z` for standard normals z by Box–Muller into `out[start…end)`
 * (default: all of it); element j of the output is element `j - start` of the normal
 * stream at (seed, offset). Pair p uses uniforms 2p, 2p+1 of the stream: the first
 * gives the radius (1 - u is in (0, 1], so log is finite), the second the angle, for
 * elements 2p (cos) and 2p+1 (sin).
 */
export function philoxNormalInto(seed: number, offset: number, out: SampleArray, mean = 0, std = 1, start = 0, end = out.length): void {
  boxMuller(seed, offset, out, start, end, mean, std, true);
}

/** Standard normals by Box–Muller on pairs of uniforms (uses 2·ceil(count/2) uint32). */
export function philoxNormal(seed: number, offset: number, count: number): Float64Array {
  const out = new Float64Array(count);
  boxMuller(seed, offset, out, 0, count, 0, 1, false);
  return out;
}

/** `affine` false writes z itself (0 + 1·z would turn a -0 into +0). */
function boxMuller(seed: number, offset: number, out: SampleArray, start: number, end: number, mean: number, std: number, affine: boolean): void {
  const pairs = Math.ceil((end - start) / 2);
  // Chunks hold an even number of words, so a pair never straddles two chunks.
  philoxChunks(seed, offset, pairs * 2, (w, first, n) => {
    normalsFromWords(w, out, start + first, Math.min(n, end - start - first), mean, std, affine);
  });
}

/**
 * Box–Muller on stream words: writes `out[at + j]` for j < count from the pairs
 * (w[0], w[1]), (w[2], w[3]), …: element 2p is `mean + std·r·cos θ`, 2p+1 the same with
 * sin θ, where r = sqrt(-2·log(1 - u(w[2p]))), θ = 2π·u(w[2p+1]) and u(w) = (w >>> 8)·2^-24
 * (1 - u is in (0, 1], so the log is finite). An odd count writes only the cos of its
 * last pair. `w` may view the same memory as `out[at…]` (each pair is read before it is
 * written). `affine` false writes z itself (0 + 1·z would turn a -0 into +0).
 */
export function normalsFromWords(w: Uint32Array, out: SampleArray, at: number, count: number, mean: number, std: number, affine = true): void {
  const boolOut = out instanceof Uint8Array;
  for (let j = 0; j < count; j += 2) {
    const u1 = 1 - uniformOfWord(w[j]!);
    const u2 = uniformOfWord(w[j + 1]!);
    const r = Math.sqrt(-2 * Math.log(u1));
    let a = r * Math.cos(2 * Math.PI * u2);
    if (affine) a = mean + std * a;
    out[at + j] = boolOut ? (a ? 1 : 0) : a;
    if (j + 1 < count) {
      let b = r * Math.sin(2 * Math.PI * u2);
      if (affine) b = mean + std * b;
      out[at + j + 1] = boolOut ? (b ? 1 : 0) : b;
    }
  }
}
