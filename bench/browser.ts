/**
 * `npm run bench -- browser`: what a web page pays for Kiln next to tfjs-backend-wasm and
 * onnxruntime-web, each running the same 784 → 128 → 10 MLP (bench/browser/mlp.mjs) on
 * its WebAssembly backend: the JavaScript bundle (esbuild, minified ESM, raw and gzipped),
 * the .wasm it fetches (raw and gzipped), and the cold start to the first result in
 * headless Chromium (navigation start → logits, fresh page loads served from 127.0.0.1
 * with caching off, medians of interleaved rounds). Needs /usr/bin/chromium.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import type { Row } from './harness.js';
import { CHROMIUM, launchChromium } from '../test/support/chromium.js';
// @ts-expect-error: plain JavaScript example, no declarations
import { serve } from '../examples/browser/serve.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const require = createRequire(import.meta.url);
const ROUNDS = Math.max(5, Number(process.env['KILN_BENCH_ROUNDS'] ?? 7));

interface Contender {
  name: string;
  entry: string;
  /** The .wasm files it fetches (copied next to its page). */
  wasm: string[];
  plugins?: esbuild.Plugin[];
}

const tfjsWasm = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-simd.js'));
const ortDist = path.dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
const CONTENDERS: Contender[] = [
  {
    name: 'kiln',
    entry: 'kiln.mjs',
    wasm: [path.join(tfjsWasm, 'tfjs-backend-wasm-simd.wasm')],
    // The sources (what the tests run), bundled as a user's bundler bundles the package.
    plugins: [{ name: 'kiln-sources', setup: (b) => void b.onResolve({ filter: /^kiln$/ }, () => ({ path: path.join(root, 'src', 'index.ts') })) }],
  },
  { name: 'tfjs-core + tfjs-backend-wasm', entry: 'tfjs.mjs', wasm: [path.join(tfjsWasm, 'tfjs-backend-wasm-simd.wasm')] },
  { name: 'onnxruntime-web (wasm)', entry: 'ort.mjs', wasm: [path.join(ortDist, 'ort-wasm-simd-threaded.wasm')] },
];

interface Built {
  name: string;
  dir: string;
  js: number;
  jsGzip: number;
  wasm: number;
  wasmGzip: number;
}

async function build(c: Contender, site: string): Promise<Built> {
  const dir = path.join(site, c.entry.replace(/\.mjs$/, ''));
  mkdirSync(dir, { recursive: true });
  await esbuild.build({
    entryPoints: [path.join(here, 'browser', c.entry)], outfile: path.join(dir, 'main.js'),
    bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true, logLevel: 'error',
    ...(c.plugins ? { plugins: c.plugins } : {}),
  });
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>bench</title><script type="module" src="./main.js"></script>\n');
  let wasm = 0, wasmGzip = 0;
  for (const f of c.wasm) {
    copyFileSync(f, path.join(dir, path.basename(f)));
    const bytes = readFileSync(f);
    wasm += bytes.length;
    wasmGzip += gzipSync(bytes, { level: 9 }).length;
  }
  const js = readFileSync(path.join(dir, 'main.js'));
  return { name: c.name, dir: path.basename(dir), js: js.length, jsGzip: gzipSync(js, { level: 9 }).length, wasm, wasmGzip };
}

interface PageResult {
  coldStartMs?: number;
  initMs?: number;
  logits?: number[];
  error?: string;
}
interface Page {
  goto(url: string): Promise<unknown>;
  waitForFunction(fn: () => boolean, arg: null, options: { timeout: number }): Promise<unknown>;
  evaluate<T>(fn: () => T): Promise<T>;
  close(): Promise<void>;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const kib = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;

export async function browserSuite(): Promise<Row[]> {
  if (!existsSync(CHROMIUM)) {
    console.log(`browser bench skipped: ${CHROMIUM} is missing (apt-get install chromium)`);
    return [];
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-browser-bench-'));
  const site = path.join(tmp, 'site');
  const built: Built[] = [];
  for (const c of CONTENDERS) built.push(await build(c, site));
  const whole = await build({ ...CONTENDERS[0]!, name: 'kiln, whole API', entry: 'kilnAll.mjs' }, site);
  const context = await launchChromium(tmp);
  const server = (await serve(site)) as { url: string; close(): Promise<void> };
  const times = new Map<string, number[]>(built.map((b) => [b.name, []]));
  const logits = new Map<string, number[]>();
  const readyMs = new Map<string, number[]>(built.map((b) => [b.name, []]));
  try {
    for (let round = -1; round < ROUNDS; round++) { // round -1 warms the browser process up, not timed
      for (const b of built) {
        const page = (await context.newPage()) as unknown as Page;
        await page.goto(`${server.url}${b.dir}/`);
        await page.waitForFunction(() => (globalThis as { benchResult?: unknown }).benchResult !== undefined, null, { timeout: 60_000 });
        const r = await page.evaluate(() => (globalThis as unknown as { benchResult: PageResult }).benchResult);
        await page.close();
        if (r.error !== undefined) throw new Error(`${b.name}: ${r.error}`);
        if (round >= 0) times.get(b.name)!.push(r.coldStartMs!);
        if (round >= 0) readyMs.get(b.name)!.push(r.initMs!);
        logits.set(b.name, r.logits!);
      }
    }
  } finally {
    await context.close();
    await server.close();
    rmSync(tmp, { recursive: true, force: true });
  }
  const ref = logits.get('kiln')!;
  console.log(`\nbundle (esbuild, minified ESM) and cold start to the first result in Chromium ${execVersion()}, ${ROUNDS} fresh page loads each, medians`);
  console.log(`  ${'library'.padEnd(30)} ${'JS'.padStart(9)} ${'JS gzip'.padStart(9)} ${'wasm'.padStart(10)} ${'wasm gzip'.padStart(10)} ${'cold start'.padStart(11)}  max |Δ logits| vs kiln`);
  for (const b of built) {
    const diff = Math.max(...logits.get(b.name)!.map((v, i) => Math.abs(v - ref[i]!)));
    console.log(`  ${b.name.padEnd(30)} ${kib(b.js).padStart(9)} ${kib(b.jsGzip).padStart(9)} ${kib(b.wasm).padStart(10)} ${kib(b.wasmGzip).padStart(10)} ${`${median(times.get(b.name)!).toFixed(0)} ms`.padStart(11)}  ${diff.toExponential(1)}`);
  }
  console.log(`  ${'(kiln, whole API kept)'.padEnd(30)} ${kib(whole.js).padStart(9)} ${kib(whole.jsGzip).padStart(9)}   (import * as kiln with nothing tree-shaken: every layer, optimizer, the compiler, the IR parser)`);
  const ready = (name: string): string => `${median(readyMs.get(name)!).toFixed(0)} ms`;
  console.log(`  runtime ready (init done; for onnxruntime-web, the session created): ${built.map((b) => `${b.name} ${ready(b.name)}`).join(', ')}`);
  const base = median(times.get('kiln')!);
  const rows: Row[] = [];
  for (const b of built) {
    const t = times.get(b.name)!;
    rows.push({ title: 'cold start to first result in Chromium (navigation → logits)', name: b.name, median: median(t), rounds: t, ratio: median(t) / base, unit: 'ms' });
  }
  const kiln = built[0]!;
  for (const what of ['JS', 'JS gzip', 'wasm', 'wasm gzip'] as const) {
    const size = (b: Built): number => (what === 'JS' ? b.js : what === 'JS gzip' ? b.jsGzip : what === 'wasm' ? b.wasm : b.wasmGzip);
    for (const b of built) rows.push({ title: `bundle size: ${what} (KiB)`, name: b.name, median: size(b) / 1024, rounds: [size(b) / 1024], ratio: size(b) / size(kiln), unit: 'KiB' });
  }
  return rows;
}

function execVersion(): string {
  try {
    return `(${execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()}, headless)`;
  } catch {
    return '(headless)';
  }
}
