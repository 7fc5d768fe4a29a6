// Kiln on WebGPU in a real browser: headless Debian Chromium (SwiftShader's WebGPU
// adapter, Vulkan on the CPU) loads a page served from 127.0.0.1 that runs
// test/fixtures/webgpuScenario.ts (MLP, CNN with BatchNorm, LSTM, residual block, and an
// elementwise function over NaN/±Inf/±0) on `navigator.gpu`, eagerly and compiled for
// 'webgpu', and its outputs must match Node's (wasm backend).
// Where Chromium is missing, or gives the page no WebGPU adapter, the suite skips with the
// reason printed — except under CI=true, where both fail (CI's machine is this kind, where
// `--enable-unsafe-webgpu` gives SwiftShader's adapter).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { CHROMIUM, chromiumPresent, chromiumRequired, launchChromium, pageResult } from './support/chromium.js';
import { relDiff } from './support/expectClose.js';
import { CASES, runScenario, type ScenarioOutcome, type ScenarioTensor } from './fixtures/webgpuScenario.js';
import type { WebGpuPageOutcome } from './fixtures/webgpuPage.js';
// @ts-expect-error: plain JavaScript example, no declarations
import { serve } from '../examples/browser/serve.mjs';

/**
 * Model outputs: max |browser − Node| ≤ this × the output's largest finite |value|. Both
 * sides are float32 but sum in different orders (tiled WGSL GEMM vs XNNPACK); the longest
 * dot product here has 37 terms (1e-5·√37 ≈ 6e-5 per layer) and the LSTM chains 5 steps.
 */
const TOLERANCE = 1e-4;
/** The elementwise case is exact, ±0 told apart: each op rounds once, ·2 and ·0.5 are exact. */
const EXACT_CASE = CASES[CASES.length - 1]!.name;

/** The page bundled from the sources, served from loopback, and a Chromium with WebGPU on. */
interface Site {
  open(query: string): Promise<WebGpuPageOutcome>;
  close(): Promise<void>;
}

async function startSite(): Promise<Site> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-webgpu-browser-'));
  const dir = path.join(tmp, 'site');
  await esbuild.build({
    entryPoints: [path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'webgpuPage.ts')],
    outfile: path.join(dir, 'main.js'), bundle: true, format: 'esm', platform: 'browser', target: 'es2022', logLevel: 'error',
  });
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>kiln webgpu</title><script type="module" src="./main.js"></script>\n');
  const server = (await serve(dir)) as { url: string; close(): Promise<void> };
  const context = await launchChromium(tmp, { webgpu: true });
  return {
    open: (query) => pageResult<WebGpuPageOutcome>(context, `${server.url}${query}`, 90_000),
    async close() {
      await context.close();
      await server.close();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

// Whether the page gets an adapter decides, at collection, whether the suite runs.
const site = chromiumPresent ? await startSite() : null;
const probe = site ? await site.open('?probe=1') : null;
const hasAdapter = probe?.ok === true;
const why = !chromiumPresent ? `${CHROMIUM} is missing (apt-get install chromium)` : `Chromium gave the page no WebGPU adapter: ${probe?.noAdapter ?? probe?.error?.message}`;
if (!hasAdapter) {
  await site?.close();
  if (!chromiumRequired) console.warn(`WebGPU browser tests skipped: ${why}`);
}

it.runIf(!hasAdapter && chromiumRequired)('Chromium with a WebGPU adapter (CI=true requires it)', () => {
  expect.fail(`${why}. CI's machine is this kind: Debian's chromium with --enable-unsafe-webgpu gives SwiftShader's adapter`);
});

/** Every output of every case within TOLERANCE of Node's (the exact case: bit for bit, ±0 apart). */
function expectNodeNumbers(got: Record<string, ScenarioTensor[]>, want: Record<string, ScenarioTensor[]>, label: string): void {
  expect(Object.keys(got), label).toEqual(Object.keys(want));
  const worst: string[] = [];
  for (const [name, outs] of Object.entries(want)) {
    expect(got[name]!.length, `${label} ${name}: outputs`).toBe(outs.length);
    outs.forEach((w, i) => {
      const g = got[name]![i]!;
      const what = `${label} ${name}, output ${i}`;
      expect(g.shape, what).toEqual(w.shape);
      if (name === EXACT_CASE) {
        expect(g.data.map((v) => (Object.is(v, -0) ? '-0' : v)), what).toEqual(w.data.map((v) => (Object.is(v, -0) ? '-0' : v)));
        return;
      }
      expect(w.data.every((v) => Number.isFinite(v)), `${what}: Node's output is finite`).toBe(true);
      const diff = kiln.scope(() => relDiff(kiln.tensor(g.data, { shape: g.shape, backend: 'reference' }), kiln.tensor(w.data, { shape: w.shape, backend: 'reference' })));
      expect(diff, `${what}: max |browser − Node| / max |Node|`).toBeLessThanOrEqual(TOLERANCE);
      worst.push(`${name.split(' ')[0]}[${i}] ${diff.toExponential(1)}`);
    });
  }
  console.log(`[webgpu] ${label} in Chromium vs Node wasm, max |Δ| / max |Node| (tolerance ${TOLERANCE}): ${worst.join(', ')}`);
}

describe.runIf(hasAdapter)('Kiln on WebGPU in Chromium', () => {
  let node: ScenarioOutcome;
  /** One page load runs everything (eager, then compiled): SwiftShader compiles each pipeline slowly. */
  let page: WebGpuPageOutcome;

  beforeAll(async () => {
    await kiln.init(); // Node's numbers: the wasm backend
    node = await runScenario();
    page = await site!.open('?compile=1');
    console.log(`[webgpu] browser: ${page.adapter?.kiln} (${JSON.stringify(probe!.adapter)})`);
  }, 180_000);

  afterAll(async () => {
    await site?.close();
  });

  it('the page gets an adapter from navigator.gpu (without a GPU: SwiftShader\'s fallback), and Kiln runs on it', () => {
    const { vendor, architecture, isFallbackAdapter } = probe!.adapter!;
    if (isFallbackAdapter) expect({ vendor, architecture }).toEqual({ vendor: 'google', architecture: 'swiftshader' });
    expect(page.error).toBeUndefined();
    expect(page.adapter!.kiln).toContain(`${vendor} ${architecture}`.trim());
  });

  it('eager MLP, CNN, LSTM, residual block and NaN/±Inf/±0 elementwise give Node\'s numbers', () => {
    expectNodeNumbers(page.result!.eager, node.eager, 'eager');
  });

  it('compiled for webgpu: the same numbers; after warm-up one submit per run() and no new pipelines', () => {
    expect(page.result!.compileErrors).toEqual({});
    expectNodeNumbers(page.result!.compiled!, node.eager, 'compiled');
    console.log(`[webgpu] compiled third run in Chromium: ${JSON.stringify(page.result!.thirdRun)}`);
    for (const c of CASES) {
      const r = page.result!.thirdRun![c.name]!;
      // The whole plan in one submit at the end of run(), then one per output read (its copy).
      expect(r.submitsInRun, `${c.name}: submits inside run()`).toBe(1);
      expect(r.submits, `${c.name}: submits over run() and reading ${r.outputs} outputs`).toBe(r.outputs + 1);
      expect(r.pipelines, `${c.name}: pipelines created after warm-up`).toBe(0);
    }
  });
});
