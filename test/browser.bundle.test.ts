// Packaging for browsers, checked without a browser: the browser/default entry bundles
// with esbuild for `platform: 'browser'` with no shims (no `node:*` module reachable, the
// Node-only files left out), the package's export conditions pick the right entry, and
// the APIs a page uses (checkpoint bytes, fetched datasets, fit's log callback, the
// portable SHA-256) behave as in Node.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { sha256 } from '../src/platform/sha256.js';

const root = path.join(import.meta.dirname, '..');
const NODE_ONLY = ['src/platform/node.ts', 'src/runtime/wasm/nodeWasm.ts', 'src/nn/atomicFile.ts', 'src/search/trialWorkers.ts'];

beforeAll(async () => {
  await kiln.init();
});

describe('bundling', () => {
  it("src/index.ts bundles for platform 'browser' with no node:* module and none of the Node-only files", async () => {
    const result = await esbuild.build({
      entryPoints: [path.join(root, 'src/index.ts')], bundle: true, format: 'esm', platform: 'browser',
      write: false, metafile: true, logLevel: 'silent',
    }).catch((e: { errors?: { text: string; location?: { file: string; line: number } | null }[] }) => {
      const where = (e.errors ?? []).map((x) => `${x.location ? `${x.location.file}:${x.location.line}: ` : ''}${x.text}`).join('\n');
      throw new Error(`the browser entry does not bundle (a Node-only import is reachable: use the Node host, src/platform/index.ts):\n${where}`);
    });
    const inputs = Object.keys(result.metafile.inputs);
    for (const file of NODE_ONLY) expect(inputs, file).not.toContain(file);
    expect(inputs.filter((f) => f.startsWith('node:'))).toEqual([]);
    expect(inputs).toContain('src/runtime/wasm/browserWasm.ts');
    expect(inputs.some((f) => f.endsWith('tfjs-backend-wasm-simd.js'))).toBe(true);
  });

  it("the package's exports: 'node' → dist/index.node.js, 'browser' and 'default' → dist/index.js, one set of types", async () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> };
    expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', node: './dist/index.node.js', browser: './dist/index.js', default: './dist/index.js' });
    // Resolved the way bundlers do (needs dist/: `npm install` builds it).
    expect(existsSync(path.join(root, 'dist/index.node.js')), 'dist/ is missing: run npm run build').toBe(true);
    const resolved: Record<string, string> = {};
    for (const platform of ['browser', 'node', 'neutral'] as const) {
      await esbuild.build({
        stdin: { contents: "import 'kiln';", resolveDir: root }, bundle: true, write: false, platform, logLevel: 'silent',
        plugins: [{ name: 'probe', setup(b) {
          b.onResolve({ filter: /^kiln$/ }, async (args) => {
            if (args.pluginData === 'probe') return undefined;
            const r = await b.resolve('kiln', { kind: args.kind, resolveDir: args.resolveDir, pluginData: 'probe' });
            resolved[platform] = path.relative(root, r.path);
            return { path: r.path, external: true };
          });
        } }],
      });
    }
    expect(resolved).toEqual({ browser: 'dist/index.js', node: 'dist/index.node.js', neutral: 'dist/index.js' });
    // The .wasm files sit next to the browser loader, where `new URL('./….wasm', import.meta.url)` points.
    for (const f of ['tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) expect(existsSync(path.join(root, 'dist/runtime/wasm', f)), f).toBe(true);
  });
});

describe('what pages use, checked in Node', () => {
  it('the portable SHA-256 matches Node crypto (block edges, an unaligned view)', () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 65_537]) {
      const padded = new Uint8Array(n + 7);
      const bytes = padded.subarray(3, 3 + n);
      for (let i = 0; i < n; i++) bytes[i] = (i * 131 + 17) & 255;
      expect(Buffer.from(sha256(bytes)).toString('hex'), `${n} bytes`).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
  });

  it('save(model) returns the bytes save(model, file) writes; load takes bytes, ArrayBuffer, Blob and Response', async () => {
    kiln.manualSeed(0);
    const model = new kiln.nn.Sequential(new kiln.nn.Linear(3, 4), new kiln.nn.ReLU(), new kiln.nn.Linear(4, 2));
    const bytes = await kiln.save(model, { metadata: { note: 'page' } });
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'kiln-bytes-')), 'm.kiln');
    await kiln.save(model, file, { metadata: { note: 'page' } });
    expect(Buffer.from(readFileSync(file)).equals(Buffer.from(bytes))).toBe(true);
    const x = kiln.randn([2, 3], { seed: 5 });
    const want = Array.from(model.forward(x).dataSync());
    const sources = [bytes, bytes.slice().buffer, new Blob([bytes.slice()]), new Response(bytes.slice())];
    for (const source of sources) {
      kiln.manualSeed(9);
      const fresh = new kiln.nn.Sequential(new kiln.nn.Linear(3, 4), new kiln.nn.ReLU(), new kiln.nn.Linear(4, 2));
      expect(await kiln.load(fresh, source)).toEqual({ note: 'page' });
      expect(Array.from(fresh.forward(x).dataSync())).toEqual(want);
    }
    const corrupt = bytes.slice();
    corrupt[40] = corrupt[40]! ^ 1;
    await expect(kiln.load(model, corrupt)).rejects.toThrow(/checkpoint \(\d+ bytes\): checksum mismatch/);
    const failed = Object.assign(new Response('no', { status: 404, statusText: 'Not Found' }), {});
    await expect(kiln.load(model, failed)).rejects.toThrow(/fetching .* failed with HTTP 404 Not Found/);
    await expect(kiln.load(model, 42 as unknown as Uint8Array)).rejects.toThrow(/expected a file path, a Uint8Array/);
  });

  it('datasets from fetched bytes: parseIdxAsync (gzipped, via DecompressionStream), loadIdxImages, loadMnistDigits({ digits })', async () => {
    const images = kiln.data.encodeIdx([3, 2, 2], Uint8Array.from([0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0]));
    const labels = kiln.data.encodeIdx([3], Uint8Array.from([7, 0, 9]));
    const parsed = await kiln.data.parseIdxAsync(new Response(gzipSync(labels)));
    expect(parsed.shape).toEqual([3]);
    expect([...parsed.data]).toEqual([7, 0, 9]);
    const set = await kiln.data.loadIdxImages(new Blob([gzipSync(images)]), labels);
    expect(set.images.shape).toEqual([3, 1, 2, 2]);
    expect(Array.from(set.images.dataSync()).slice(0, 4)).toEqual([0, 1, 0.2, 0.4].map((v) => Math.fround(v)));
    expect(Array.from(set.labels.dataSync())).toEqual([7, 0, 9]);
    await expect(kiln.data.parseIdxAsync(Uint8Array.from([0x1f, 0x8b, 1, 2, 3]), 'bad.gz')).rejects.toThrow(/bad\.gz is not a valid gzip file/);
    const digits = Array.from({ length: 10 }, (_, d) => ({ data: Array.from({ length: 784 }, (_, i) => ((i + d) % 256) / 255) }));
    const mnist = kiln.data.loadMnistDigits({ digits: digits.map((d, i) => (i % 2 ? JSON.stringify(d) : d)) });
    expect(mnist.images.shape).toEqual([10, 1, 28, 28]);
    expect(Array.from(mnist.labels.dataSync())).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(() => kiln.data.loadMnistDigits({ digits: [] })).toThrow(/10 files 0\.json … 9\.json/);
  });

  it('wasmPath in Node: a folder without the .wasm file is a KilnError naming the file', async () => {
    const { loadNodeWasm } = await import('../src/runtime/wasm/nodeWasm.js');
    const output = { hooks: { print: () => {}, printErr: () => {} }, bind: () => {} };
    await expect(loadNodeWasm(1, output, '/nonexistent/kiln-wasm')).rejects.toThrow(/cannot load the WebAssembly file \/nonexistent\/kiln-wasm\/tfjs-backend-wasm-simd\.wasm: no such file/);
  });

  it("fit's log: a function receives each epoch's line (what a page shows)", async () => {
    kiln.manualSeed(1);
    const model = new kiln.nn.Sequential(new kiln.nn.Linear(2, 2));
    const x = kiln.randn([8, 2], { seed: 2 });
    const lines: string[] = [];
    await kiln.fit(model, {
      optimizer: new kiln.optim.SGD(model.parameters(), { lr: 0.1 }),
      loss: (p, y) => kiln.nn.crossEntropy(p, y),
      train: new kiln.data.DataLoader(new kiln.data.TensorDataset(x, x.argmax(1)), { batchSize: 4 }),
      epochs: 2,
      log: (line) => lines.push(line),
    });
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^epoch 2\/2 {2}train loss \d+\.\d{4} \d+\.\d\d%/);
  });
});
