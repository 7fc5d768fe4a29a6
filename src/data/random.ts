import { KilnError, randint } from '../eager/index.js';

const TWO_32 = 4294967296;

/** Mixes two 32-bit words into one (murmur3's finalizer over a combination). */
function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b ^ 0x7f4a7c15, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * A small seeded generator (splitmix32) for host-side data work: shuffles, splits,
 * per-sample augmentation choices. `(seed, stream)` pairs give independent sequences,
 * so a loader derives each epoch's order from `(seed, epoch)` alone.
 *
 * @example
 * ```ts
 * const rng = new kiln.data.SeededRandom(42, 0);
 * const order = rng.permutation(10); // Int32Array, the same for every run
 * ```
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number, stream = 0) {
    checkSeed('SeededRandom', seed);
    // Seeds up to 2^53: fold the high word in so large seeds do not collide.
    this.state = mix(mix(seed >>> 0, Math.floor(seed / TWO_32) >>> 0), stream >>> 0);
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x9e3779b9) | 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** A uniform number in `[0, 1)` (53 random bits). */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A uniform integer in `[0, n)`, for `n ≤ 2^32` (multiply-shift; bias below n/2^32). */
  int(n: number): number {
    return Math.floor((this.nextUint32() * n) / TWO_32);
  }

  /** A uniformly random permutation of `0 … n-1` (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    this.shuffle(p);
    return p;
  }

  /** Shuffles `a` in place (Fisher–Yates) and returns it. */
  shuffle<A extends { [i: number]: number; length: number }>(a: A): A {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }
}

/** Throws unless `seed` is a non-negative safe integer (the same rule as `kiln.randn`). */
export function checkSeed(op: string, seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new KilnError(`seed must be a non-negative safe integer, got ${seed}`, { op });
}

/**
 * A seed drawn from Kiln's global generator, so code that passes no seed still follows
 * `kiln.manualSeed`.
 */
export function drawSeed(): number {
  const t = randint(0, 2147483647, []);
  const s = t.item();
  t.dispose();
  return s;
}
