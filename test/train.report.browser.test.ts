// The HTML training report of fit(..., { report }) in a real browser: Debian's Chromium
// (/usr/bin/chromium) driven by playwright-core opens the report from a loopback HTTP
// server, and the test checks what got drawn (ECharts' SVG: series and their points), the
// confusion-matrix table against the history, the filter images, and takes a full-page
// screenshot that must not be blank. Where Chromium is missing the suite skips with a
// printed reason — except under CI=true, where it fails.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import type { EpochRecord } from '../src/train/index.js';
import { CHROMIUM, chromiumPresent, chromiumRequired, launchChromium } from './support/chromium.js';
import { decodePng, inkStats } from './support/png.js';
import { quadrantCnn, quadrantImages } from './support/reportFixtures.js';

const present = chromiumPresent;
const ci = chromiumRequired;
if (!present && !ci) console.warn(`training-report browser test skipped: ${CHROMIUM} is missing (install Debian's chromium: apt-get install chromium)`);

it.runIf(!present && ci)('Chromium is installed (CI=true requires it)', () => {
  expect.fail(`${CHROMIUM} is missing: CI must install Debian's chromium (apt-get install -y chromium) for the report's browser test`);
});

/** Serves the files of `root` (GET only, no listing) on 127.0.0.1 at a free port. */
async function serveFolder(root: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const file = path.join(root, path.normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
    if (req.method !== 'GET' || !file.startsWith(root + path.sep) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    const type = file.endsWith('.html') ? 'text/html; charset=utf-8' : file.endsWith('.png') ? 'image/png' : 'application/octet-stream';
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** What the page reports about one chart. */
interface ChartInfo {
  svg: { width: number; height: number } | null;
  series: { name: string; type: string; points: number; color?: string; data: unknown[] }[];
  /** Stroked, unfilled paths in the SVG: stroke color and number of vertices. */
  lines: { stroke: string; vertices: number }[];
  /** Filled paths per fill color. */
  fills: Record<string, number>;
}

describe.runIf(present)('the training report in Chromium', () => {
  let tmp = '';
  let server: Server | null = null;
  let base = '';
  let context: BrowserContext | null = null;
  let history: EpochRecord[] = [];

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kiln-report-browser-'));
    const launching = launchChromium(tmp, { viewport: { width: 1280, height: 900 } });
    await kiln.init();
    kiln.manualSeed(0);
    const model = quadrantCnn();
    history = await kiln.fit(model, {
      optimizer: new kiln.optim.Adam(model.parameters(), { lr: 0.01 }),
      loss: (p, y) => kiln.nn.crossEntropy(p, y),
      train: new kiln.data.DataLoader(quadrantImages(256, 1), { batchSize: 32, shuffle: true, seed: 0 }),
      val: new kiln.data.DataLoader(quadrantImages(64, 11), { batchSize: 32 }),
      epochs: 2,
      metrics: ['accuracy', 'confusion'],
      log: 'none',
      report: { path: path.join(tmp, 'site', 'report.html'), title: 'Quadrants', classNames: ['top left', 'top right', 'bottom left', 'bottom right'] },
    });
    context = await launching;
    ({ server } = await serveFolder(path.join(tmp, 'site')).then((s) => ((base = s.url), s)));
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('draws every chart, the confusion matrix and the filters; the screenshot is not blank', async () => {
    const page = await context!.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => void (m.type() === 'error' && errors.push(`console: ${m.text()}`)));
    page.on('request', (r) => void (!r.url().startsWith(base) && !r.url().startsWith('data:') && errors.push(`outside request: ${r.url()}`)));
    await page.goto(`${base}/report.html`);
    await page.waitForSelector('body[data-charts-rendered]', { timeout: 15_000 });

    const charts = await page.evaluate(() => {
      type Instance = { getOption(): { series: { name: string; type: string; color?: string; data: unknown[] }[] } };
      const echarts = (window as unknown as { echarts: { getInstanceByDom(el: Element): Instance | undefined } }).echarts;
      const out: Record<string, unknown> = {};
      for (const el of document.querySelectorAll('[data-chart]')) {
        const svg = el.querySelector('svg');
        const option = echarts.getInstanceByDom(el)?.getOption();
        const paths = [...el.querySelectorAll('svg path')];
        const fills: Record<string, number> = {};
        for (const p of paths) {
          const f = p.getAttribute('fill');
          if (f && f !== 'none') fills[f.toLowerCase()] = (fills[f.toLowerCase()] ?? 0) + 1;
        }
        out[el.getAttribute('data-chart')!] = {
          svg: svg ? { width: svg.getBoundingClientRect().width, height: svg.getBoundingClientRect().height } : null,
          series: (option?.series ?? []).map((s) => ({ name: s.name, type: s.type, color: s.color, points: s.data.length, data: s.data })),
          lines: paths.filter((p) => p.getAttribute('fill') === 'none' && p.getAttribute('stroke')).map((p) => ({ stroke: p.getAttribute('stroke')!.toLowerCase(), vertices: (p.getAttribute('d') ?? '').split(/[ML]/).length - 1 })),
          fills,
        };
      }
      return out;
    }) as Record<string, ChartInfo>;
    const rendered = Number(await page.getAttribute('body', 'data-charts-rendered'));
    // curves, gradients, and a histogram and a heatmap for each of the 2 activations.
    expect(Object.keys(charts).sort()).toEqual(['act-hist-0', 'act-hist-1', 'act-units-0', 'act-units-1', 'curves', 'gradients']);
    expect(rendered).toBe(6);
    for (const [id, c] of Object.entries(charts)) {
      expect(c.svg, id).not.toBeNull();
      expect(c.svg!.width, id).toBeGreaterThan(200);
      expect(c.svg!.height, id).toBeGreaterThan(150);
    }

    // Curves: the per-step loss (16 steps), train/val loss and accuracy per epoch, and the lr.
    const curves = charts.curves!;
    expect(curves.series.map((s) => [s.name, s.points])).toEqual([
      ['train loss (step)', 16], ['train loss', 2], ['val loss', 2], ['train accuracy', 2], ['val accuracy', 2], ['learning rate', 16],
    ]);
    const byName = Object.fromEntries(curves.series.map((s) => [s.name, s]));
    const ys = (name: string) => (byName[name]!.data as [number, number][]).map(([, y]) => y);
    expect(ys('train loss')).toEqual(history.map((r) => Number(r.trainLoss.toPrecision(6))));
    expect(ys('val accuracy')).toEqual(history.map((r) => Number(r.valAccuracy!.toPrecision(6))));
    // …drawn: one SVG polyline per series with as many vertices as points.
    for (const s of curves.series.filter((x) => x.name !== 'learning rate')) {
      expect(curves.lines.filter((l) => l.stroke === s.color!.toLowerCase() && l.vertices === s.points).length, s.name).toBe(1);
    }
    expect(curves.lines.some((l) => l.stroke === byName['learning rate']!.color!.toLowerCase() && l.vertices >= 16)).toBe(true);

    // Gradient norms: one line per epoch over the 3 parameterized layers.
    expect(charts.gradients!.series.map((s) => [s.name, s.points])).toEqual([['epoch 1', 3], ['epoch 2', 3]]);
    for (const s of charts.gradients!.series) expect(charts.gradients!.lines.filter((l) => l.stroke === s.color!.toLowerCase() && l.vertices === 3).length).toBe(1);

    // Activations: histogram lines per epoch; heatmaps of 4 ReLU channels and 16 tanh units × 2 epochs, each cell drawn.
    const layers = await page.$$eval('.activation', (els) => els.map((e) => [e.getAttribute('data-layer'), e.getAttribute('data-type')]));
    expect(layers).toEqual([['1', 'ReLU'], ['5', 'Tanh']]);
    expect(charts['act-hist-0']!.series.map((s) => [s.name, s.points])).toEqual([['epoch 1', 30], ['epoch 2', 30]]);
    for (const [id, cells] of [['act-units-0', 8], ['act-units-1', 32]] as const) {
      expect(charts[id]!.series.map((s) => [s.type, s.points])).toEqual([['heatmap', cells]]);
      const filled = Object.values(charts[id]!.fills).reduce((a, b) => a + b, 0);
      expect(filled, id).toBeGreaterThanOrEqual(cells);
    }

    // Confusion matrix: the table holds the history's last validation matrix.
    const matrix = history.at(-1)!.valMetrics!.confusion!;
    const cells = await page.$$eval('table.confusion td.cell', (tds) => tds.map((td) => [Number(td.getAttribute('data-true')), Number(td.getAttribute('data-pred')), Number(td.textContent)]));
    expect(cells.length).toBe(16);
    for (const [t, p, v] of cells) expect(v).toBe(matrix[t!]![p!]);
    expect(await page.$$eval('table.confusion thead th', (ths) => ths.map((th) => th.textContent))).toEqual(['true \\ predicted', 'top left', 'top right', 'bottom left', 'bottom right', 'recall']);

    // Filters: the 4 kernels of the first Conv2d, decoded 3×3 images.
    const filters = await page.$$eval('#filters img.filter', (imgs) => imgs.map((img) => [(img as HTMLImageElement).complete, (img as HTMLImageElement).naturalWidth, (img as HTMLImageElement).naturalHeight]));
    expect(filters).toEqual([[true, 3, 3], [true, 3, 3], [true, 3, 3], [true, 3, 3]]);
    expect(await page.textContent('#final-train-loss')).toBe(history.at(-1)!.trainLoss.toFixed(4));

    // A full-page screenshot that shows something.
    const shot = path.join(tmp, 'screens', 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    const png = decodePng(readFileSync(shot));
    expect(png.width).toBe(1280);
    expect(png.height).toBeGreaterThan(1500);
    const ink = inkStats(png);
    expect(ink.ink).toBeGreaterThan(0.05);
    expect(ink.colors).toBeGreaterThan(20);
    if (process.env['KILN_REPORT_SCREENSHOT']) copyFileSync(shot, process.env['KILN_REPORT_SCREENSHOT']);
    expect(errors).toEqual([]);
    await page.close();
  }, 30_000);
});
