/**
 * WebGPU in tests. Importing this module probes for an adapter once per test file
 * (`kiln.init({ backend: 'webgpu' })`, then the previous default backend is restored):
 *
 * ```ts
 * import { describeWebGpu, gpuBackend, onGpu } from './support/webgpu.js';
 * describeWebGpu('my kernel', () => {
 *   it('agrees with the reference backend', async () => { ... await y.data() ... });
 * });
 * ```
 *
 * Without an adapter the block is skipped with the reason printed; with `CI=true` a
 * missing adapter FAILS instead (CI provisions lavapipe: scripts/provision-lavapipe.sh).
 * Each block prints how many of its tests ran on the GPU (`[webgpu] N tests ran …`), so
 * the CI log shows they were not skipped.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import * as kiln from '../../src/index.js';
import { engine } from '../../src/eager/engine.js';
import type { WebGpuBackend } from '../../src/runtime/webgpu/index.js';
import type { DType, TypedArray } from '../../src/ir/index.js';

export type WebGpuProbe = { readonly ok: true; readonly backend: WebGpuBackend } | { readonly ok: false; readonly reason: string };

async function probe(): Promise<WebGpuProbe> {
  const previous = engine.defaultBackend;
  try {
    await kiln.init({ backend: 'webgpu' });
    return { ok: true, backend: engine.backends.get('webgpu') as unknown as WebGpuBackend };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  } finally {
    engine.defaultBackend = previous;
  }
}

/** Whether this process has a WebGPU adapter (probed once, at import). */
export const webgpu: WebGpuProbe = await probe();

/** The webgpu backend; throws outside `describeWebGpu` blocks when there is no adapter. */
export function gpuBackend(): WebGpuBackend {
  if (!webgpu.ok) throw new Error(`no WebGPU adapter: ${webgpu.reason}`);
  return webgpu.backend;
}

let warned = false;

/**
 * `describe(name, fn)` on the GPU: runs when an adapter exists, else skips with the
 * reason (fails when `CI=true`). Counts and prints the tests that ran.
 */
export function describeWebGpu(name: string, fn: () => void): void {
  if (!webgpu.ok) {
    if (process.env['CI'] === 'true') {
      describe(name, () => {
        it('needs a WebGPU adapter (CI must provision one: scripts/provision-lavapipe.sh)', () => {
          throw new Error(`no WebGPU adapter in CI: ${webgpu.reason}`);
        });
      });
      return;
    }
    if (!warned) console.warn(`[webgpu] skipping WebGPU tests: ${webgpu.reason}`);
    warned = true;
    describe.skip(`${name} (no WebGPU adapter)`, fn);
    return;
  }
  describe(name, () => {
    let ran = 0, passed = 0;
    afterEach((ctx) => {
      ran++;
      if (ctx.task.result?.state !== 'fail') passed++;
    });
    afterAll(() => {
      console.log(`[webgpu] ${ran} tests ran (${passed} passed) on ${webgpu.backend.describe}: ${name}`);
    });
    fn();
  });
}

/** `data` as a webgpu tensor of `shape`. */
export function onGpu(data: TypedArray | readonly number[], shape: readonly number[], dtype: DType = 'float32'): kiln.Tensor {
  return kiln.tensor(data as number[], { shape: [...shape], dtype, backend: 'webgpu' });
}

/** `data` as a reference-backend tensor of `shape`. */
export function onReference(data: TypedArray | readonly number[], shape: readonly number[], dtype: DType = 'float32'): kiln.Tensor {
  return kiln.tensor(data as number[], { shape: [...shape], dtype, backend: 'reference' });
}

const f32 = (v: number): number => Math.fround(v);
const show = (v: number): string => (Object.is(v, -0) ? '-0' : String(v));

/**
 * `got` equals `want` element by element: NaN where `want` has NaN (any payload), the
 * same infinities, ±0 told apart when `signedZero`, and finite values within `ulps`
 * float32 units in the last place of the float32-rounded `want` (0: exact). The message
 * names the first bad element and the inputs that made it (`inputs(i)`).
 */
export function expectUlps(got: TypedArray, want: TypedArray, ulps: number, what: string, opts: { signedZero?: boolean; abs?: number; inputs?: (i: number) => string } = {}): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = f32(want[i]!);
    let ok: boolean;
    if (Number.isNaN(w)) ok = Number.isNaN(g);
    else if (!Number.isFinite(w)) ok = g === w;
    else if (w === 0 && g === 0) ok = !opts.signedZero || Object.is(g, w);
    else {
      const ulp = ulpOf(w);
      ok = Math.abs(g - w) <= ulps * ulp || (opts.abs !== undefined && Math.abs(g - w) <= opts.abs);
    }
    if (!ok) expect.fail(`${what}: element ${i}${opts.inputs ? ` (${opts.inputs(i)})` : ''} is ${show(g)}, expected ${show(w)} (tolerance ${ulps} ulp${opts.abs !== undefined ? ` or ${opts.abs} absolute` : ''})`);
  }
}

/** The float32 spacing at `x` (the gap to the next float32 away from zero). */
export function ulpOf(x: number): number {
  const a = Math.abs(Math.fround(x));
  if (a < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}
