/**
 * A compiled plan allocates nothing that lives past a run: a compiled MLP (64-128-128-10,
 * batch 4, O3, wasm) run 10k times, outputs disposed, twice in a row after 5k warm-up
 * runs — through `compiled.run` and through `ExecutionPlan.run` — keeps
 *  - `process.memoryUsage().heapUsed` after full GCs flat: each 10k block may grow it by
 *    at most 64 KiB. Why that slack: V8 keeps tuning after warm-up (optimized code, inline
 *    caches and feedback vectors live on the JS heap and appear late), which measured 2–25
 *    KB per block here; a leak of even one small object per run (≥ 12 bytes) would add ≥
 *    120 KB per block, so 64 KiB (≈ 6.5 bytes per run) still catches it;
 *  - the wasm memory's byte length and the backend's live bytes exactly unchanged (the
 *    arena is allocated once at warm-up; graph outputs are freed on dispose).
 * The measurement runs in its own `node --expose-gc` process (test/support/
 * planAllocations.child.ts), away from the test runner's own allocations. It also
 * reports bytes allocated per run (young garbage included) and the kernels that ignored
 * their caller-given outputs, printed here.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
const SLACK_BYTES = 64 * 1024;

interface Measured {
  heap: number[];
  wasmBytes: number[];
  liveBytes: number[];
  allocatedPerRun: number;
}

describe('plan runs allocate nothing that outlives them', () => {
  it('heapUsed after gc flat and wasm memory unchanged over 2 × 10k runs of a compiled MLP', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(here, 'support/planAllocations.child.ts')], {
      cwd: path.join(here, '..'),
      encoding: 'utf8',
      timeout: 60_000,
    });
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as { compiled: Measured; plan: Measured; outsIgnored: Record<string, number>; arenaBytes: number };
    for (const [what, m] of [['compiled.run', r.compiled], ['ExecutionPlan.run', r.plan]] as const) {
      for (let b = 1; b < m.heap.length; b++) {
        expect(m.heap[b]! - m.heap[b - 1]!, `${what}: heapUsed growth over 10k runs (block ${b})`).toBeLessThanOrEqual(SLACK_BYTES);
        expect(m.wasmBytes[b], `${what}: wasm memory bytes`).toBe(m.wasmBytes[0]);
        expect(m.liveBytes[b], `${what}: live bytes`).toBe(m.liveBytes[0]);
      }
      console.log(`${what}: heapUsed after gc ${m.heap.join(' → ')} bytes; ~${m.allocatedPerRun.toFixed(0)} bytes allocated per run (collected)`);
    }
    expect(r.arenaBytes).toBeGreaterThan(0);
    console.log(`arena ${r.arenaBytes} bytes; kernels that ignored their caller-given outputs: ${JSON.stringify(r.outsIgnored)}`);
  });
});
