// Writes the HTML training report of `fit(..., { report })` (Node only). Loaded lazily
// by reportCollect.ts when a report is written; every Node module, ECharts and resvg are
// loaded inside the functions, so nothing here runs or resolves at import time.
//
// Charts are Apache ECharts options (JSON, built here): the HTML inlines ECharts'
// minified bundle from node_modules and renders them with its SVG renderer; the PNG of
// the curves renders the same option to SVG in Node (ECharts server-side rendering) and
// rasterizes it with @resvg/resvg-js.
import { nodeBuiltin } from '../platform/index.js';
import type { EpochRecord } from './fit.js';
import type { FilterImages, ReportData, ResolvedReport } from './reportCollect.js';

/** A chart option for ECharts (plain JSON). */
type ChartOption = Record<string, unknown>;

/** What the report uses of ECharts in Node. */
interface EChartsNode {
  version: string;
  init(dom: null, theme: null, opts: { renderer: 'svg'; ssr: true; width: number; height: number }): {
    setOption(option: ChartOption): void;
    renderToSVGString(): string;
    dispose(): void;
  };
}

/** What the report uses of @resvg/resvg-js. */
interface ResvgModule {
  Resvg: new (svg: string, options?: Record<string, unknown>) => { render(): { asPng(): Uint8Array } };
}

const PALETTE = ['#4269d0', '#ff725c', '#3ca951', '#efb118', '#a463f2', '#6cc5b0', '#ff8ab7', '#97bbf5', '#9c6b4e', '#9498a0'];
/** Size of the curves chart in the PNG (CSS pixels; rasterized at 1.5×). */
const PNG_SIZE = { width: 1200, height: 400, zoom: 1.5 };

let echartsSource: { code: string; version: string } | null = null;

/**
 * Writes `data` as a self-contained HTML file (ECharts inlined) to `options.path`, and the
 * curves as a PNG to `options.png`, each atomically (a temporary file renamed over the
 * target). Returns the problems that did not stop the HTML (a failed PNG); throws when the
 * HTML could not be written.
 */
export async function writeReport(data: ReportData, filters: FilterImages | null, options: ResolvedReport): Promise<string[]> {
  const { createRequire } = await nodeBuiltin<typeof import('node:module')>('node:module');
  const require = createRequire(import.meta.url);
  const problems: string[] = [];
  const charts = buildCharts(data);
  if (!echartsSource) {
    const fs = await nodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises');
    const echarts = require('echarts/dist/echarts.min') as EChartsNode;
    echartsSource = { code: await fs.readFile(require.resolve('echarts/dist/echarts.min'), 'utf8'), version: echarts.version };
  }
  const images = filters ? await pngDataUrls(filters) : [];
  const html = renderHtml(data, charts, images, echartsSource);
  await writeAtomic(options.path, html);
  if (options.png) {
    try {
      const echarts = require('echarts/dist/echarts.min') as EChartsNode;
      const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: PNG_SIZE.width, height: PNG_SIZE.height });
      let svg: string;
      try {
        chart.setOption({ ...charts.curves!, backgroundColor: '#ffffff', animation: false });
        svg = chart.renderToSVGString();
      } finally {
        chart.dispose();
      }
      const { Resvg } = require('@resvg/resvg-js') as ResvgModule;
      const png = new Resvg(svg, {
        background: '#ffffff',
        fitTo: { mode: 'zoom', value: PNG_SIZE.zoom },
        font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
      }).render().asPng();
      await writeAtomic(options.png, png);
    } catch (err) {
      problems.push(`PNG of the curves not written (${options.png}): ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return problems;
}

async function writeAtomic(file: string, content: string | Uint8Array): Promise<void> {
  const fs = await nodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises');
  const path = await nodeBuiltin<typeof import('node:path')>('node:path');
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await fs.writeFile(tmp, content);
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

// ---------------------------------------------------------------------------- charts

/** Epochs to draw when there are many: evenly spaced, first and last included. */
function pick<T>(items: readonly T[], max: number): T[] {
  if (items.length <= max) return [...items];
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(items[Math.round((i * (items.length - 1)) / (max - 1))]!);
  return out;
}

/** x of each step in epochs: epoch e's batch b of B sits at e − 1 + b/B. */
function stepX(data: ReportData): number[] {
  const perEpoch = new Map<number, number>();
  for (const s of data.steps) perEpoch.set(s.epoch, Math.max(perEpoch.get(s.epoch) ?? 0, s.batches ?? s.batch));
  return data.steps.map((s) => s.epoch - 1 + s.batch / perEpoch.get(s.epoch)!);
}

const round = (v: number) => Number(v.toPrecision(6));

function epochSeries(name: string, history: readonly EpochRecord[], get: (r: EpochRecord) => number | undefined, axis: number, color: string): ChartOption | null {
  const points = history.filter((r) => get(r) !== undefined).map((r) => [r.epoch, round(get(r)!)]);
  if (points.length === 0) return null;
  return { name, type: 'line', xAxisIndex: axis, yAxisIndex: axis, data: points, symbolSize: 7, showSymbol: true, lineStyle: { width: 2.5 }, color };
}

/** Every chart of the report by id; `curves` is also the PNG. */
export function buildCharts(data: ReportData): Record<string, ChartOption> {
  const charts: Record<string, ChartOption> = {};
  const h = data.history;
  const xs = stepX(data);
  const maxX = Math.max(1, h.length, ...xs.map(Math.ceil));
  const panels: { title: string; series: ChartOption[]; yAxis: ChartOption }[] = [];
  const loss = [
    xs.length ? { name: 'train loss (step)', type: 'line', data: data.steps.map((s, i) => [round(xs[i]!), round(s.loss)]), showSymbol: false, lineStyle: { width: 1, opacity: 0.45 }, color: '#97bbf5', z: 1 } : null,
    epochSeries('train loss', h, (r) => r.trainLoss, 0, PALETTE[0]!),
    epochSeries('val loss', h, (r) => r.valLoss, 0, PALETTE[1]!),
  ].filter((s): s is ChartOption => s !== null);
  panels.push({ title: 'Loss', series: loss, yAxis: { type: 'value', scale: true } });
  const acc = [
    epochSeries('train accuracy', h, (r) => r.trainAccuracy, 0, PALETTE[2]!),
    epochSeries('val accuracy', h, (r) => r.valAccuracy, 0, PALETTE[3]!),
  ].filter((s): s is ChartOption => s !== null);
  if (acc.length) panels.push({ title: 'Accuracy', series: acc, yAxis: { type: 'value', scale: true, max: 1 } });
  const lrs = data.steps.flatMap((s, i) => (s.lr === undefined ? [] : [[round(xs[i]!), s.lr]]));
  if (lrs.length) panels.push({ title: 'Learning rate', series: [{ name: 'learning rate', type: 'line', step: 'end', data: lrs, showSymbol: false, lineStyle: { width: 2 }, color: PALETTE[4] }], yAxis: { type: 'value', scale: true } });
  const n = panels.length;
  const width = 90 / n;
  charts.curves = {
    animation: false,
    textStyle: { fontFamily: 'DejaVu Sans, Helvetica, Arial, sans-serif' },
    title: panels.map((p, i) => ({ text: p.title, left: `${4 + i * (width + 10 / n)}%`, top: 8, textStyle: { fontSize: 15 } })),
    legend: { bottom: 4, itemGap: 22 },
    tooltip: { trigger: 'axis' },
    grid: panels.map((_, i) => ({ left: `${4 + i * (width + 10 / n)}%`, width: `${width - 3}%`, top: 48, bottom: 78, containLabel: true })),
    xAxis: panels.map((_, i) => ({ type: 'value', gridIndex: i, min: 0, max: maxX, interval: maxX <= 10 ? 1 : undefined, name: 'epoch', nameLocation: 'middle', nameGap: 26 })),
    yAxis: panels.map((p, i) => ({ ...p.yAxis, gridIndex: i })),
    series: panels.flatMap((p, i) => p.series.map((s) => ({ ...s, xAxisIndex: i, yAxisIndex: i }))),
  };

  if (data.gradients.length) {
    const epochs = pick(data.gradients, 6);
    const layers = [...new Set(data.gradients.flatMap((g) => Object.keys(g.norms)))];
    const positive = epochs.every((g) => layers.every((l) => (g.norms[l] ?? 1) > 0));
    charts.gradients = {
      animation: false,
      textStyle: { fontFamily: 'DejaVu Sans, Helvetica, Arial, sans-serif' },
      tooltip: { trigger: 'axis' },
      legend: { bottom: 4 },
      grid: { left: 70, right: 20, top: 30, bottom: 70 },
      xAxis: { type: 'category', boundaryGap: true, data: layers.map((l) => l || '(model)'), name: 'layer (module path, input side first)', nameLocation: 'middle', nameGap: 28 },
      yAxis: { type: positive ? 'log' : 'value', name: 'L2 norm of the gradients', nameTextStyle: { align: 'left' } },
      series: epochs.map((g, i) => ({ name: `epoch ${g.epoch}`, type: 'line', symbolSize: 9, lineStyle: { width: 2 }, data: layers.map((l) => (g.norms[l] === undefined ? null : round(g.norms[l]!))), color: PALETTE[i % PALETTE.length] })),
    };
  }

  const last = data.activations.at(-1);
  if (last) {
    const snapshots = pick(data.activations, 6);
    last.layers.forEach((layer, li) => {
      const key = (l: { name: string; call: number }) => `${l.name}#${l.call}`;
      const histSeries = snapshots.flatMap((a, i) => {
        const l = a.layers.find((x) => key(x) === key(layer));
        if (!l?.histogram) return [];
        const counts = [...l.histogram.counts];
        const total = counts.reduce((s, c) => s + c, 0) || 1;
        const e = l.histogram.edges;
        // ReLU's zeros (a spike that hides the rest) are left out of the first bin: the title gives their share.
        if (l.type === 'ReLU' && e[0] === 0 && l.zeroFraction !== undefined) counts[0] = Math.max(0, counts[0]! - Math.round(l.zeroFraction * total));
        return [{ name: `epoch ${a.epoch}`, type: 'line', step: 'middle', showSymbol: false, lineStyle: { width: 2 }, color: PALETTE[i % PALETTE.length], data: counts.map((c, b) => [round((e[b]! + e[b + 1]!) / 2), round(c / total)]) }];
      });
      charts[`act-hist-${li}`] = {
        animation: false,
        textStyle: { fontFamily: 'DejaVu Sans, Helvetica, Arial, sans-serif' },
        title: { text: layer.type === 'ReLU' ? `Share of outputs per value > 0 (zeros: ${(100 * (layer.zeroFraction ?? 0)).toFixed(1)}% in epoch ${last.epoch})` : 'Share of outputs per value', textStyle: { fontSize: 13 }, left: 'center' },
        tooltip: { trigger: 'axis' },
        legend: { bottom: 0 },
        grid: { left: 55, right: 20, top: 34, bottom: 62 },
        xAxis: { type: 'value', ...(layer.type === 'Tanh' ? { min: -1, max: 1 } : layer.type === 'Sigmoid' ? { min: 0, max: 1 } : { min: 0 }), name: 'activation', nameLocation: 'middle', nameGap: 24 },
        yAxis: { type: 'value', axisLine: { onZero: false } },
        series: histSeries,
      };
      const relu = layer.type === 'ReLU';
      const rows = data.activations.map((a) => a.layers.find((x) => key(x) === key(layer))?.perUnit?.shares ?? []);
      const units = Math.max(0, ...rows.map((r) => r.length));
      const by = layer.perUnit?.by ?? 'unit';
      charts[`act-units-${li}`] = {
        animation: false,
        textStyle: { fontFamily: 'DejaVu Sans, Helvetica, Arial, sans-serif' },
        title: { text: relu ? `Share of outputs > 0 per ${by} (black: dead)` : `Share of saturated outputs per ${by} (red: saturated)`, textStyle: { fontSize: 13 }, left: 'center' },
        tooltip: { position: 'top' },
        grid: { left: 70, right: 20, top: 34, bottom: 62 },
        xAxis: { type: 'category', data: Array.from({ length: units }, (_, u) => String(u)), name: by, nameLocation: 'middle', nameGap: 24, splitArea: { show: false } },
        yAxis: { type: 'category', data: data.activations.map((a) => `epoch ${a.epoch}`) },
        visualMap: {
          type: 'piecewise', orient: 'horizontal', left: 'center', bottom: 0, itemGap: 6, itemWidth: 14, itemHeight: 10, textStyle: { fontSize: 11 },
          pieces: relu
            ? [{ value: 0, label: 'dead (0)', color: '#000000' }, { gt: 0, lte: 0.1, label: '≤ 10%', color: '#313695' }, { gt: 0.1, lte: 0.3, label: '≤ 30%', color: '#4575b4' }, { gt: 0.3, lte: 0.6, label: '≤ 60%', color: '#74add1' }, { gt: 0.6, lte: 0.9, label: '≤ 90%', color: '#abd9e9' }, { gt: 0.9, label: '> 90%', color: '#e0f3f8' }]
            : [{ value: 0, label: 'never (0)', color: '#f7f7f7' }, { gt: 0, lte: 0.1, label: '≤ 10%', color: '#fee090' }, { gt: 0.1, lte: 0.5, label: '≤ 50%', color: '#fdae61' }, { gt: 0.5, lt: 1, label: '< 100%', color: '#f46d43' }, { value: 1, label: 'always (1)', color: '#a50026' }],
        },
        series: [{ name: relu ? 'share > 0' : 'share saturated', type: 'heatmap', data: rows.flatMap((r, e) => r.map((v, u) => [u, e, round(v)])) }],
      };
    });
  }
  return charts;
}

// ------------------------------------------------------------------------------ HTML

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
/** JSON safe inside a <script> element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
const pct = (v: number | undefined) => (v === undefined ? '–' : `${(100 * v).toFixed(2)}%`);
const num = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(4));

function renderHtml(data: ReportData, charts: Record<string, ChartOption>, images: string[], echarts: { code: string; version: string }): string {
  const h = data.history;
  const last = h.at(-1);
  const seconds = h.reduce((s, r) => s + r.seconds, 0);
  const sections: string[] = [];

  const summary = last
    ? `<table class="summary"><tr><th></th><th>loss</th><th>accuracy</th></tr>
<tr><th>train</th><td id="final-train-loss">${num(last.trainLoss)}</td><td>${pct(last.trainAccuracy)}</td></tr>
${last.valLoss !== undefined ? `<tr><th>validation</th><td id="final-val-loss">${num(last.valLoss)}</td><td>${pct(last.valAccuracy)}</td></tr>` : ''}</table>`
    : '<p>No epoch finished.</p>';
  sections.push(`<section id="curves"><h2>Training curves</h2>
<p class="hint">Per-epoch means (points) and every step's loss (faint); the learning rate of every step.</p>
<div class="chart wide" data-chart="curves"></div></section>`);

  sections.push(`<section id="gradients"><h2>Gradient norms per layer</h2>
${charts.gradients ? `<p class="hint">L2 norm of each layer's parameter gradients after the last step of the epoch (<code>kiln.diagnostics.gradientNorms</code>).${flagText(data)}</p><div class="chart" data-chart="gradients"></div>` : '<p class="missing">No gradient norms were collected.</p>'}</section>`);

  const lastAct = data.activations.at(-1);
  const actRows = lastAct
    ? lastAct.layers.map((l, i) => `<div class="activation" data-layer="${escapeHtml(l.name)}" data-type="${l.type}">
<h3>${escapeHtml(l.name || '(model)')}${l.call > 1 ? ` #${l.call}` : ''} <span class="type">${l.type}</span> <span class="shape">[${l.shape.join(', ')}]</span></h3>
<p class="stats">mean ${l.mean.toFixed(4)}, std ${l.std.toFixed(4)}${l.deadFraction !== undefined ? `, <b>dead ${l.perUnit?.by === 'channel' ? 'positions' : 'units'} ${pct(l.deadFraction)}</b>, zero outputs ${pct(l.zeroFraction)}` : ''}${l.saturatedFraction !== undefined ? `, <b>saturated outputs ${pct(l.saturatedFraction)}</b>` : ''}${deadChannels(l.perUnit)}</p>
<div class="pair"><div class="chart small" data-chart="act-hist-${i}"></div><div class="chart small" data-chart="act-units-${i}"></div></div></div>`).join('\n')
    : '';
  sections.push(`<section id="activations"><h2>Hidden-unit activations</h2>
${lastAct ? `<p class="hint">On a fixed batch (${escapeHtml(data.sample?.from ?? 'report.sample')}, shape [${data.sample?.shape.join(', ') ?? ''}]) at every epoch end, in eval mode (<code>kiln.diagnostics.activationStats</code>). Histograms of the output values; per-unit heatmaps (per channel for conv outputs): a ReLU unit with no positive output is dead, a sigmoid/tanh output within 0.01 of its asymptote is saturated.</p>${actRows}` : '<p class="missing">No activation statistics were collected.</p>'}</section>`);

  const f = data.filters;
  sections.push(`<section id="filters"><h2>First-layer filters</h2>
${f ? `<p class="hint">${f.source === 'Conv2d' ? `The kernels of the first Conv2d (<code>${escapeHtml(f.layer)}</code>, weight [${f.weightShape.join(', ')}])${f.channels === 1 && f.weightShape[1]! > 1 ? ', one image per output and input channel' : ''}` : `The rows of the first Linear (<code>${escapeHtml(f.layer)}</code>, weight [${f.weightShape.join(', ')}]) as ${f.height}×${f.width} images`}, each scaled from its minimum (black) to its maximum (white)${f.count < f.total ? `; the first ${f.count} of ${f.total}` : ''}.</p>
<div class="filters" data-source="${f.source}">${images.map((src, i) => `<img class="filter" alt="filter ${i}" title="filter ${i}" src="${src}" width="${filterSize(f.width)}" height="${Math.round((filterSize(f.width) * f.height) / f.width)}">`).join('')}</div>` : '<p class="missing">No first-layer filters to show (no Conv2d, and no Linear on the image input).</p>'}</section>`);

  const c = data.confusion;
  sections.push(`<section id="confusion"><h2>Confusion matrix (validation, epoch ${c?.epoch ?? '–'})</h2>
${c ? confusionTable(c.matrix, c.classNames) : '<p class="missing">No confusion matrix (no validation set, or not a classifier).</p>'}</section>`);

  if (data.notes.length) sections.push(`<section id="notes"><h2>Notes</h2><ul>${data.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul></section>`);

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<meta name="generator" content="kiln fit report; Apache ECharts ${escapeHtml(echarts.version)}">
<title>${escapeHtml(data.title)}</title>
<style>
body { font: 14px/1.45 system-ui, 'DejaVu Sans', Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1280px; padding: 16px 24px 40px; color: #1d1d1f; background: #fff; }
h1 { font-size: 22px; margin: 4px 0 2px; } h2 { font-size: 17px; margin: 28px 0 6px; border-bottom: 1px solid #e3e3e8; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 14px 0 2px; } .type { color: #4269d0; font-weight: normal; } .shape { color: #777; font-weight: normal; font-size: 12px; }
.meta, .hint, .stats { color: #555; margin: 2px 0 8px; } .missing { color: #999; font-style: italic; }
.error { background: #fdecea; border: 1px solid #f5c2c0; padding: 8px 12px; border-radius: 6px; color: #8a1c14; }
.chart { width: 100%; height: 360px; } .chart.wide { height: 400px; } .chart.small { height: 260px; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
table { border-collapse: collapse; } .summary td, .summary th { padding: 3px 12px; text-align: right; border-bottom: 1px solid #eee; }
table.confusion th, table.confusion td { border: 1px solid #dcdce2; padding: 4px 8px; text-align: right; font-variant-numeric: tabular-nums; min-width: 32px; }
table.confusion thead th, table.confusion tbody th { background: #f5f5f7; } table.confusion td.recall { background: #fafafa; color: #555; }
.filters { display: flex; flex-wrap: wrap; gap: 6px; } img.filter { image-rendering: pixelated; border: 1px solid #ccc; background: #888; }
code { background: #f2f2f5; padding: 0 3px; border-radius: 3px; }
</style>
<script>${echarts.code}</script>
</head>
<body>
<header><h1>${escapeHtml(data.title)}</h1>
<p class="meta">${h.length} of ${data.epochs} epochs, ${data.steps.length} steps, ${seconds.toFixed(1)} s of training; written ${escapeHtml(data.written)}</p>
${data.error ? `<p class="error">Training failed: ${escapeHtml(data.error)}</p>` : ''}
${summary}</header>
${sections.join('\n')}
<script type="application/json" id="kiln-report-data">${scriptJson(data)}</script>
<script type="application/json" id="kiln-report-charts">${scriptJson(charts)}</script>
<script>
(function () {
  var charts = JSON.parse(document.getElementById('kiln-report-charts').textContent);
  var made = [];
  document.querySelectorAll('[data-chart]').forEach(function (el) {
    var option = charts[el.getAttribute('data-chart')];
    if (!option) return;
    var chart = echarts.init(el, null, { renderer: 'svg' });
    chart.setOption(option);
    made.push(chart);
  });
  window.addEventListener('resize', function () { made.forEach(function (c) { c.resize(); }); });
  document.body.setAttribute('data-charts-rendered', String(made.length));
})();
</script>
</body>
</html>
`;
}

function flagText(data: ReportData): string {
  const g = data.gradients.at(-1);
  if (!g) return '';
  const parts: string[] = [];
  if (g.exploding.length) parts.push(`exploding: ${g.exploding.map((l) => l || '(model)').join(', ')}`);
  if (g.vanishing.length) parts.push(`vanishing: ${g.vanishing.map((l) => l || '(model)').join(', ')}`);
  return parts.length ? ` <b>Last epoch ${escapeHtml(parts.join('; '))}.</b>` : ' No exploding or vanishing layer in the last epoch.';
}

function deadChannels(perUnit: { by: 'unit' | 'channel'; shares: number[] } | undefined): string {
  if (!perUnit) return '';
  const dead = perUnit.shares.filter((s) => s === 0).length;
  return dead ? `, <b>${dead} of ${perUnit.shares.length} ${perUnit.by}s never fire</b>` : '';
}

function filterSize(width: number): number {
  return Math.max(48, Math.min(84, width * 12));
}

function confusionTable(m: number[][], classNames: string[] | undefined): string {
  const label = (i: number) => escapeHtml(classNames?.[i] ?? String(i));
  const head = `<thead><tr><th>true \\ predicted</th>${m.map((_, j) => `<th>${label(j)}</th>`).join('')}<th>recall</th></tr></thead>`;
  const body = m.map((row, i) => {
    const total = row.reduce((s, v) => s + v, 0);
    const cells = row.map((v, j) => {
      const share = total ? v / total : 0;
      const bg = i === j ? `rgba(60, 169, 81, ${(0.1 + 0.75 * share).toFixed(3)})` : v ? `rgba(255, 114, 92, ${(0.15 + 0.85 * Math.min(1, share * 3)).toFixed(3)})` : 'transparent';
      return `<td class="cell" data-true="${i}" data-pred="${j}" style="background:${bg}">${v}</td>`;
    });
    return `<tr><th>${label(i)}</th>${cells.join('')}<td class="recall">${total ? `${((100 * row[i]!) / total).toFixed(1)}%` : '–'}</td></tr>`;
  });
  return `<table class="confusion">${head}<tbody>${body.join('')}</tbody></table>`;
}

// ----------------------------------------------------------------------- PNG images

/** The filter images as PNG data URLs (8-bit grayscale or RGB, no filtering). */
async function pngDataUrls(filters: FilterImages): Promise<string[]> {
  const zlib = await nodeBuiltin<typeof import('node:zlib')>('node:zlib');
  const { width, height, channels } = filters.meta;
  return filters.pixels.map((px) => {
    const raw = new Uint8Array(height * (1 + width * channels));
    for (let y = 0; y < height; y++) raw.set(px.subarray(y * width * channels, (y + 1) * width * channels), y * (1 + width * channels) + 1);
    const ihdr = new Uint8Array(13);
    const v = new DataView(ihdr.buffer);
    v.setUint32(0, width);
    v.setUint32(4, height);
    ihdr.set([8, channels === 3 ? 2 : 0, 0, 0, 0], 8);
    const png = concat([new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
    return `data:image/png;base64,${Buffer.from(png).toString('base64')}`;
  });
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  v.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

let crcTable: Uint32Array | null = null;
function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
