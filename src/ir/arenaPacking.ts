/**
 * Packing buffers with known lifetimes into one arena: each buffer gets a byte offset
 * such that two buffers alive at the same step never overlap in memory. This is the
 * offset-assignment half of memory planning (`memoryPlan.ts` computes the lifetimes
 * from a schedule). The heuristic is "greedy by size" of Pisarchyk & Lee, *Efficient
 * Memory Management for Deep Neural Net Inference* (2020), as TFLite's `ArenaPlanner`
 * and ONNX Runtime use it: largest buffer first, each put in the smallest gap between
 * the buffers it overlaps in time that holds it (best fit), else above them all.
 */

/** Offsets in the arena are multiples of this many bytes by default (SIMD loads, typed-array views). */
export const ARENA_ALIGNMENT = 16;

/** `bytes` rounded up to a multiple of `alignment`. */
export function alignBytes(bytes: number, alignment = ARENA_ALIGNMENT): number {
  return Math.ceil(bytes / alignment) * alignment;
}

/** A buffer alive from step `first` to step `last`, both included. */
export interface Lifetime {
  /** Size in bytes (already aligned by the caller when it wants alignment). */
  readonly bytes: number;
  readonly first: number;
  readonly last: number;
}

/** Offsets for a set of lifetimes, by index, and the arena size they need. */
export interface Packing {
  readonly offsets: readonly number[];
  readonly arenaBytes: number;
}

function overlapInTime(a: Lifetime, b: Lifetime): boolean {
  return a.first <= b.last && b.first <= a.last;
}

/**
 * The most bytes alive at any one step: no packing can use a smaller arena, since the
 * buffers alive at that step must all be disjoint.
 *
 * @example
 * ```ts
 * liveBytesBound([{ bytes: 16, first: 0, last: 1 }, { bytes: 32, first: 1, last: 2 }, { bytes: 64, first: 3, last: 3 }]); // 64
 * ```
 */
export function liveBytesBound(lifetimes: readonly Lifetime[]): number {
  // Sweep over step boundaries: +bytes at `first`, −bytes after `last`.
  const events: [step: number, delta: number][] = [];
  for (const l of lifetimes) {
    if (l.bytes <= 0) continue;
    events.push([l.first, l.bytes], [l.last + 1, -l.bytes]);
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]); // frees before allocations at the same step
  let live = 0, peak = 0;
  for (const [, d] of events) {
    live += d;
    if (live > peak) peak = live;
  }
  return peak;
}

/** Places buffers in `order`, each in the tightest gap among those already placed that it overlaps in time. */
function packInOrder(lifetimes: readonly Lifetime[], order: readonly number[]): Packing {
  const offsets = new Array<number>(lifetimes.length).fill(0);
  const placed: number[] = []; // by ascending offset
  let arenaBytes = 0;
  for (const i of order) {
    const b = lifetimes[i]!;
    if (b.bytes <= 0) continue;
    let prevEnd = 0, best = -1, bestGap = Infinity;
    for (const j of placed) {
      const p = lifetimes[j]!;
      if (!overlapInTime(p, b)) continue;
      const gap = offsets[j]! - prevEnd;
      if (gap >= b.bytes && gap < bestGap) {
        best = prevEnd;
        bestGap = gap;
      }
      prevEnd = Math.max(prevEnd, offsets[j]! + p.bytes);
    }
    const offset = best >= 0 ? best : prevEnd;
    offsets[i] = offset;
    let k = placed.length;
    while (k > 0 && offsets[placed[k - 1]!]! > offset) k--;
    placed.splice(k, 0, i);
    arenaBytes = Math.max(arenaBytes, offset + b.bytes);
  }
  return { offsets, arenaBytes };
}

/**
 * Byte offsets for `lifetimes` in one arena, such that two buffers whose lifetimes share
 * a step never share a byte. Greedy by size (largest first, ties by earlier start), best
 * fit. When that arena is above the bound, placing in order of first use is tried too
 * and the smaller arena kept (on random interval sets it wins about one time in 20).
 * Offsets keep the alignment of the sizes (multiples of 16 when every size is).
 *
 * @example
 * ```ts
 * const { offsets, arenaBytes } = packLifetimes([
 *   { bytes: 64, first: 0, last: 1 },
 *   { bytes: 32, first: 1, last: 2 },
 *   { bytes: 64, first: 2, last: 3 },   // reuses the first buffer's bytes
 * ]);
 * // offsets [0, 64, 0], arenaBytes 96
 * ```
 */
export function packLifetimes(lifetimes: readonly Lifetime[]): Packing {
  const idx = lifetimes.map((_, i) => i);
  const bySize = [...idx].sort((a, b) => lifetimes[b]!.bytes - lifetimes[a]!.bytes || lifetimes[a]!.first - lifetimes[b]!.first || a - b);
  const byStart = [...idx].sort((a, b) => lifetimes[a]!.first - lifetimes[b]!.first || lifetimes[b]!.bytes - lifetimes[a]!.bytes || a - b);
  const a = packInOrder(lifetimes, bySize);
  if (a.arenaBytes === liveBytesBound(lifetimes)) return a; // optimal already
  const b = packInOrder(lifetimes, byStart);
  return b.arenaBytes < a.arenaBytes ? b : a;
}
