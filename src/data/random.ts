import { KilnError, randint } from '../eager/index.js';
import { philoxBlock } from '../eager/philox.js';

const TWO_32 = 4294967296;

/**
 * A seeded generator for host-side data work (shuffles, splits, per-sample augmentation
 * choices) on Kiln's one PRNG, Philox4x32-10: key = seed, counter = (block, stream), so
 * `(seed, stream)` pairs give independent sequences and a loader derives each epoch's
 * order from `(seed, epoch)` alone.
 *
 * @example
 * ```ts
 * const rng = new kiln.data.SeededRandom(42, 0);
 * const order = rng.permutation(10); // Int32Array, the same for every run
 * ```
 */
export class SeededRandom {
  private readonly k0: number;
  private readonly k1: number;
  private readonly stream: number;
  private counter = 0;
  private lane = 4;
  private readonly block = new Uint32Array(4);

  constructor(seed: number, stream = 0) {
    checkSeed('SeededRandom', seed);
    this.k0 = seed >>> 0;
    this.k1 = Math.floor(seed / TWO_32) >>> 0;
    this.stream = stream >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    if (this.lane === 4) {
      philoxBlock(this.counter >>> 0, Math.floor(this.counter / TWO_32) >>> 0, this.stream, 0, this.k0, this.k1, this.block);
      this.counter++;
      this.lane = 0;
    }
    return this.block[this.lane++]!;
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
