/**
 * Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"), a
 * counter-based generator: element i of a stream keyed by `seed` at `offset` is a pure
 * function of (seed, offset + i), so every backend (and a compiled graph) can
 * reproduce the same numbers without sharing state.
 *
 * Layout: the 64-bit seed is the key (lo, hi words); the counter is
 * (floor((offset+i)/4) lo, hi, 0, 0) and lane (offset+i) % 4 of the output is element i.
 */
const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the unsigned 64-bit product a*b. */
function mulhi(a: number, b: number): number {
  const aLo = a & 0xffff, aHi = a >>> 16, bLo = b & 0xffff, bHi = b >>> 16;
  const lolo = aLo * bLo;
  const mid1 = aHi * bLo;
  const mid2 = aLo * bHi;
  const carry = ((lolo >>> 16) + (mid1 & 0xffff) + (mid2 & 0xffff)) >>> 16;
  return (aHi * bHi + (mid1 >>> 16) + (mid2 >>> 16) + carry) >>> 0;
}

/** One Philox4x32-10 block: 4 uint32 from a 128-bit counter and 64-bit key. */
export function philoxBlock(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array): void {
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    const n0 = (hi1 ^ c1 ^ k0) >>> 0;
    const n1 = lo1;
    const n2 = (hi0 ^ c3 ^ k1) >>> 0;
    const n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/** `count` raw uint32 of the stream (seed, offset). */
export function philoxUint32(seed: number, offset: number, count: number): Uint32Array {
  const k0 = seed >>> 0;
  const k1 = Math.floor(seed / 0x100000000) >>> 0;
  const out = new Uint32Array(count);
  const block = new Uint32Array(4);
  let i = 0;
  while (i < count) {
    const pos = offset + i;
    const ctr = Math.floor(pos / 4);
    philoxBlock(ctr >>> 0, Math.floor(ctr / 0x100000000) >>> 0, 0, 0, k0, k1, block);
    for (let lane = pos % 4; lane < 4 && i < count; lane++, i++) out[i] = block[lane]!;
  }
  return out;
}

/** Uniform floats in [0, 1): the top 24 bits of each uint32 (exact in float32). */
export function philoxUniform(seed: number, offset: number, count: number): Float64Array {
  const u = philoxUint32(seed, offset, count);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = (u[i]! >>> 8) * (1 / 16777216);
  return out;
}

/** Standard normals by Box–Muller on pairs of uniforms (uses 2·ceil(count/2) uint32). */
export function philoxNormal(seed: number, offset: number, count: number): Float64Array {
  const pairs = Math.ceil(count / 2);
  const u = philoxUniform(seed, offset, pairs * 2);
  const out = new Float64Array(count);
  for (let p = 0; p < pairs; p++) {
    const u1 = 1 - u[2 * p]!; // (0, 1]: log is finite
    const u2 = u[2 * p + 1]!;
    const r = Math.sqrt(-2 * Math.log(u1));
    out[2 * p] = r * Math.cos(2 * Math.PI * u2);
    if (2 * p + 1 < count) out[2 * p + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}
