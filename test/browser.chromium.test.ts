// Kiln in a real browser: the example page (examples/browser/, bundled from the sources
// with esbuild) in headless Chromium, served from 127.0.0.1, once without and once with
// cross-origin isolation (2 wasm threads on browser workers), plus the reference backend
// (no wasm fetched) and the errors a page gets. Its numbers must equal Node's exactly.
// Debian's `chromium` at /usr/bin/chromium, driven by playwright-core. Where it is
// missing the suite skips with a printed reason — except under CI=true, where it fails.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { BrowserContext } from 'playwright-core';
import { CHROMIUM, chromiumPresent, chromiumRequired, launchChromium, pageResult } from './support/chromium.js';
// @ts-expect-error: plain JavaScript examples, no declarations
import { buildExample } from '../examples/browser/build.mjs';
// @ts-expect-error: plain JavaScript examples, no declarations
import { runScenario } from '../examples/browser/scenario.mjs';
// @ts-expect-error: plain JavaScript examples, no declarations
import { serve } from '../examples/browser/serve.mjs';

const present = chromiumPresent;
const ci = chromiumRequired;
if (!present && !ci) console.warn(`browser tests skipped: ${CHROMIUM} is missing (install Debian's chromium: apt-get install chromium)`);

type Scenario = Record<string, unknown>;
interface PageOutcome {
  ok: boolean;
  result?: Scenario;
  error?: { name: string; message: string };
  page?: { crossOriginIsolated: boolean; threads: number | null; wasmFiles: string[] };
}
it.runIf(!present && ci)('Chromium is installed (CI=true requires it)', () => {
  expect.fail(`${CHROMIUM} is missing: CI must install Debian's chromium (apt-get install -y chromium) for the browser tests`);
});

describe.runIf(present)('Kiln in Chromium', () => {
  let tmp = '';
  let server: { url: string; close(): Promise<void> } | null = null;
  let context: BrowserContext | null = null;
  const node: { wasm?: Scenario; reference?: Scenario } = {};

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-browser-test-'));
    const [, ctx] = await Promise.all([buildExample({ outdir: path.join(tmp, 'site'), sources: true }), launchChromium(tmp)]);
    context = ctx;
    server = await serve(path.join(tmp, 'site'));
    // The same scenario in Node, on the sources: the numbers the pages must reproduce.
    await kiln.init();
    node.wasm = (await runScenario(kiln)) as Scenario;
    await kiln.init({ backend: 'reference' });
    node.reference = (await runScenario(kiln)) as Scenario;
    await kiln.init();
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await server?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** Opens the example at `query` (relative to the server) and waits for its result. */
  const open = (query: string): Promise<PageOutcome> => pageResult<PageOutcome>(context!, `${server!.url}${query}`, 60_000);

  it('without cross-origin isolation: eager autograd, Adam, compile, save/load to bytes give Node\'s numbers', async () => {
    const out = await open('');
    expect(out.error).toBeUndefined();
    expect(out.page).toMatchObject({ crossOriginIsolated: false, threads: 1 });
    expect(out.result).toEqual(node.wasm);
    expect(node.wasm).toMatchObject({ compiled: { traceCount: 1, cacheSize: 1 }, autograd: { d2: 12 } });
  });

  it('cross-origin isolated (COOP/COEP): 2 threads on browser workers give Node\'s numbers', async () => {
    const out = await open('isolated/?threads=2');
    expect(out.error).toBeUndefined();
    expect(out.page).toMatchObject({ crossOriginIsolated: true, threads: 2 });
    expect(out.page!.wasmFiles.map((f) => path.basename(f))).toEqual(['tfjs-backend-wasm-threaded-simd.wasm']);
    expect(out.result).toEqual(node.wasm);
  });

  it('the reference backend fetches no wasm and gives Node\'s reference numbers', async () => {
    const out = await open('?backend=reference');
    expect(out.error).toBeUndefined();
    expect(out.page).toMatchObject({ threads: null, wasmFiles: [] });
    expect(out.result).toEqual(node.reference);
  });

  it('a missing .wasm file and threads without isolation are KilnErrors saying what to do', async () => {
    const missing = await open('?wasmPath=/nowhere/');
    expect(missing.error?.name).toBe('KilnError');
    expect(missing.error?.message).toMatch(/cannot load the WebAssembly file http:\/\/127\.0\.0\.1:\d+\/nowhere\/tfjs-backend-wasm-simd\.wasm \(HTTP 404/);
    expect(missing.error?.message).toMatch(/kiln\.init\(\{ wasmPath: /);
    const threads = await open('?threads=2');
    expect(threads.error?.name).toBe('KilnError');
    expect(threads.error?.message).toMatch(/threads: 2 needs shared memory .*Cross-Origin-Opener-Policy: same-origin/);
  });
});
