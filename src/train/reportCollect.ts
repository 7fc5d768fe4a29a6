// What `fit(..., { report })` collects for the HTML training report, through fit's own
// per-batch and per-epoch callbacks. No Node imports here: the writer (report.ts) is
// loaded lazily, and only when a report is written.
import { KilnError, noGrad, Tensor } from '../eager/index.js';
import { activationStats, gradientNorms, type ActivationStat } from '../diagnostics/index.js';
import { Conv2d, Linear, type Module } from '../nn/index.js';
import type { BatchRecord, Batches, EpochRecord } from './fit.js';
import type { ConfusionMatrix } from './metrics.js';

/** Options of `fit`'s `report` (a string is the same as `{ path }`). */
export interface ReportOptions {
  /** The HTML file to write (its folder is created). */
  path: string;
  /** The PNG of the curves: a path, or false for none. Default: `path` with `.png` for its extension. */
  png?: string | false;
  /** Title of the report. Default `'Kiln training report'`. */
  title?: string;
  /**
   * The fixed batch the activation statistics run on at every epoch end (a tensor, or the
   * arguments of `forward`). Default: the first `sampleSize` samples of the validation
   * set's dataset (else the training set's), when the loader is a `kiln.data.DataLoader`
   * over a dataset with `getBatch` (a `TensorDataset` or a `Subset` of one).
   */
  sample?: Tensor | readonly Tensor[];
  /** Samples of the default `sample`. Default 64. */
  sampleSize?: number;
  /**
   * Shape of one input image, `[C, H, W]` or `[H, W]`, for showing the first `Linear`'s
   * rows as images when the model has no `Conv2d`. Default: the sample's shape when it is
   * an image (`[N, 1 | 3, H, W]` or `[N, H, W]`).
   */
  imageShape?: readonly number[];
  /** Class names for the confusion matrix, index by index. */
  classNames?: readonly string[];
  /** Bins of the activation histograms. Default 30. */
  bins?: number;
  /** Rewrite the report every this many epochs (and after the last). Default 1. */
  every?: number;
}

/** One optimizer step in the report. */
export interface ReportStep {
  epoch: number;
  batch: number;
  /** Batches per epoch, when the loader knows it. */
  batches?: number;
  loss: number;
  lr?: number;
}

/** Per-layer gradient norms after the last step of an epoch (`kiln.diagnostics.gradientNorms`). */
export interface ReportGradients {
  epoch: number;
  /** Module path (`''` for the model's own parameters) → L2 norm of its parameters' gradients. */
  norms: Record<string, number>;
  total: number;
  exploding: string[];
  vanishing: string[];
}

/** Activation statistics on the fixed sample at an epoch end (`kiln.diagnostics.activationStats` with `bins` and `perUnit: 'auto'`). */
export interface ReportActivations {
  epoch: number;
  layers: ActivationStat[];
}

/** What the first-layer filter images show. */
export interface ReportFilters {
  /** `'Conv2d'`: the first `Conv2d`'s kernels; `'Linear'`: the first `Linear`'s rows reshaped to the input image. */
  source: 'Conv2d' | 'Linear';
  /** Module path of the layer. */
  layer: string;
  weightShape: number[];
  /** Height and width of each image. */
  height: number;
  width: number;
  /** 3: an RGB image per filter (3 input channels); 1: a grayscale image per filter and input channel. */
  channels: 1 | 3;
  /** Images shown (at most 64) and how many there are. */
  count: number;
  total: number;
  /** Each image is scaled from its own minimum (black) to its maximum (white). */
  scaling: 'per-image min-max';
}

/** The validation confusion matrix of the last epoch. */
export interface ReportConfusion {
  epoch: number;
  /** `matrix[t][p]`: validation samples of true class t predicted as p. */
  matrix: number[][];
  /** `'valMetrics'`: the history's `valMetrics.confusion`; `'report'`: counted for the report alone (metrics did not ask for it). */
  from: 'valMetrics' | 'report';
  classNames?: string[];
}

/** The data of a training report, embedded as JSON in the HTML (`<script id="kiln-report-data">`). */
export interface ReportData {
  format: 'kiln-report/1';
  title: string;
  /** ISO time of this write. */
  written: string;
  /** Epochs asked for. */
  epochs: number;
  history: EpochRecord[];
  steps: ReportStep[];
  gradients: ReportGradients[];
  activations: ReportActivations[];
  /** The fixed batch of the activation statistics. */
  sample: { shape: number[]; from: string } | null;
  filters: ReportFilters | null;
  confusion: ReportConfusion | null;
  /** Set when training failed: the error message (the report shows what came before). */
  error?: string;
  /** What is missing and why, and warnings. */
  notes: string[];
}

/** Pixels of the filter images: `channels` bytes per pixel, row-major. */
export interface FilterImages {
  meta: ReportFilters;
  pixels: Uint8Array[];
}

/** Resolved options. */
export interface ResolvedReport {
  path: string;
  png: string | null;
  title: string;
  bins: number;
  every: number;
  classNames?: readonly string[];
}

const MAX_FILTERS = 64;
const MAX_UNITS = 1024;

function optionError(message: string): KilnError {
  return new KilnError(`report: ${message}`, { op: 'fit' });
}

function resolveOptions(report: string | ReportOptions): ResolvedReport & { sample?: Tensor | readonly Tensor[]; sampleSize: number; imageShape?: readonly number[] } {
  const o: ReportOptions = typeof report === 'string' ? { path: report } : report;
  if (o === null || typeof o !== 'object' || typeof o.path !== 'string' || o.path === '') throw optionError('expected a file path or { path, … }');
  const png = o.png === undefined ? `${o.path.replace(/\.html?$/i, '')}.png` : o.png === false ? null : o.png;
  if (png !== null && (typeof png !== 'string' || png === '')) throw optionError('png must be a file path or false');
  const positive = (name: string, v: number | undefined, dflt: number) => {
    if (v === undefined) return dflt;
    if (!Number.isInteger(v) || v < 1) throw optionError(`${name} must be a positive integer, got ${String(v)}`);
    return v;
  };
  const out: ReturnType<typeof resolveOptions> = {
    path: o.path, png, title: o.title ?? 'Kiln training report',
    bins: positive('bins', o.bins, 30), every: positive('every', o.every, 1), sampleSize: positive('sampleSize', o.sampleSize, 64),
  };
  if (o.sample !== undefined) {
    const list = o.sample instanceof Tensor ? [o.sample] : o.sample;
    if (!Array.isArray(list) || !list.every((t) => t instanceof Tensor)) throw optionError('sample must be a tensor or an array of tensors');
    out.sample = o.sample;
  }
  if (o.imageShape !== undefined) {
    const s = o.imageShape;
    if (!Array.isArray(s) || (s.length !== 2 && s.length !== 3) || !s.every((d) => Number.isInteger(d) && d > 0)) throw optionError('imageShape must be [C, H, W] or [H, W]');
    out.imageShape = s;
  }
  if (o.classNames !== undefined) out.classNames = o.classNames;
  return out;
}

/** A loader over a dataset whose `getBatch` builds a batch of chosen samples (a `kiln.data.DataLoader`). */
interface DatasetLoader {
  readonly dataset: { readonly length: number; getBatch?(indices: ArrayLike<number>): unknown };
}

function isDatasetLoader(b: unknown): b is DatasetLoader {
  if (b === null || typeof b !== 'object' || !('dataset' in b)) return false;
  const ds = (b as { dataset: unknown }).dataset;
  return ds !== null && typeof ds === 'object' && typeof (ds as { length?: unknown }).length === 'number' && typeof (ds as { getBatch?: unknown }).getBatch === 'function';
}

/** Tensors inside a collated batch (arrays and plain objects, a few levels deep). */
function tensorsIn(v: unknown, out: Tensor[] = [], depth = 0): Tensor[] {
  if (v instanceof Tensor) out.push(v);
  else if (depth < 4 && Array.isArray(v)) for (const e of v) tensorsIn(e, out, depth + 1);
  else if (depth < 4 && v !== null && typeof v === 'object') for (const e of Object.values(v)) tensorsIn(e, out, depth + 1);
  return out;
}

/**
 * Collects the report's data during `fit`: its `onBatchEnd`/`onEpochEnd` run before the
 * user's (fit chains them), each part guarded so that a failure becomes a note and one
 * warning, never an error of training. `write` hands a snapshot to the lazily loaded writer.
 */
export class ReportCollector {
  readonly options: ResolvedReport;
  /** The validation confusion matrix of the epoch that just ended, set by `fit` before `onEpochEnd` when the metrics did not ask for one. */
  valConfusion: ConfusionMatrix | null = null;
  private readonly data: ReportData;
  private readonly sample: Tensor[] | null = null;
  private readonly ownedSample: Tensor[] = [];
  private readonly imageShape: readonly number[] | undefined;
  private readonly warned = new Set<string>();

  constructor(private readonly model: Module, report: string | ReportOptions, fit: { epochs: number; train: Batches; val?: Batches | undefined }) {
    const o = resolveOptions(report);
    this.options = o;
    this.data = {
      format: 'kiln-report/1', title: o.title, written: '', epochs: fit.epochs,
      history: [], steps: [], gradients: [], activations: [], sample: null, filters: null, confusion: null, notes: [],
    };
    let from = 'report.sample';
    if (o.sample !== undefined) {
      this.sample = o.sample instanceof Tensor ? [o.sample] : [...o.sample];
    } else {
      this.sample = this.guard('sample', () => {
        const source = fit.val !== undefined && isDatasetLoader(fit.val) ? { loader: fit.val, name: 'validation' } : isDatasetLoader(fit.train) ? { loader: fit.train, name: 'training' } : null;
        if (!source) {
          this.note('activations: no sample batch (the loaders are not DataLoaders over a dataset with getBatch): pass report.sample');
          return null;
        }
        const ds = source.loader.dataset;
        const n = Math.min(o.sampleSize, ds.length);
        if (n === 0) return null;
        const batch = noGrad(() => ds.getBatch!(Int32Array.from({ length: n }, (_, i) => i)));
        const tensors = tensorsIn(batch);
        this.ownedSample.push(...tensors);
        from = `the first ${n} samples of the ${source.name} set`;
        return tensors.length ? [tensors[0]!] : null;
      }) ?? null;
    }
    if (this.sample?.[0]) this.data.sample = { shape: [...this.sample[0].shape], from };
    const s = this.sample?.[0]?.shape;
    this.imageShape = o.imageShape ?? (s && ((s.length === 4 && (s[1] === 1 || s[1] === 3)) || s.length === 3) ? s.slice(1) : undefined);
  }

  /** Records one optimizer step. */
  readonly onBatchEnd = (r: BatchRecord): void => {
    const step: ReportStep = { epoch: r.epoch, batch: r.batch, loss: r.loss };
    if (r.batches !== undefined) step.batches = r.batches;
    if (r.lr !== undefined) step.lr = r.lr;
    this.data.steps.push(step);
  };

  /**
   * At an epoch end (before the next epoch's `zeroGrad`, so the last step's gradients are
   * still there): gradient norms, activation statistics on the fixed sample, and the
   * validation confusion matrix.
   */
  readonly onEpochEnd = (r: EpochRecord): void => {
    this.guard('gradient norms', () => {
      const g = gradientNorms(this.model);
      if (g.norms.size === 0) {
        this.note(`gradient norms: no parameter had a gradient after epoch ${r.epoch}`);
        return;
      }
      this.data.gradients.push({ epoch: r.epoch, norms: Object.fromEntries(g.norms), total: g.total, exploding: [...g.exploding], vanishing: [...g.vanishing] });
    });
    if (this.sample) {
      this.guard('activation statistics', () => {
        const a = activationStats(this.model, this.sample!, { bins: this.options.bins, perUnit: 'auto' });
        if (a.layers.length === 0) this.note('activations: the model has no nn.ReLU, nn.Sigmoid or nn.Tanh modules (activations applied as functions are not seen)');
        const layers = a.layers.map((l) => {
          if (l.perUnit && l.perUnit.shares.length > MAX_UNITS) {
            this.note(`activations: ${l.name} has ${l.perUnit.shares.length} units; the heatmap shows the first ${MAX_UNITS}`);
            return { ...l, perUnit: { by: l.perUnit.by, shares: l.perUnit.shares.slice(0, MAX_UNITS) } };
          }
          return l;
        });
        this.data.activations.push({ epoch: r.epoch, layers });
      });
    }
    this.guard('confusion matrix', () => {
      const m = r.valMetrics?.confusion ?? this.valConfusion;
      if (!m) return;
      const c: ReportConfusion = { epoch: r.epoch, matrix: m.map((row) => [...row]), from: r.valMetrics?.confusion ? 'valMetrics' : 'report' };
      if (this.options.classNames) c.classNames = [...this.options.classNames];
      this.data.confusion = c;
    });
  };

  /** Whether to write after `epoch` (`final`: training stops after it). */
  due(epoch: number, final: boolean): boolean {
    return final || epoch >= this.data.epochs || epoch % this.options.every === 0;
  }

  /** The data so far with `history`, and the first layer's filters as images. */
  snapshot(history: readonly EpochRecord[], error?: unknown): { data: ReportData; filters: FilterImages | null } {
    const filters = this.guard('filters', () => this.filterImages()) ?? null;
    const data: ReportData = structuredClone({ ...this.data, history: [...history], filters: filters?.meta ?? null, written: new Date().toISOString() });
    if (!this.data.confusion && !this.warned.has('confusion matrix')) {
      data.notes.push('confusion matrix: none (no validation set, or the predictions are not class scores [N, C])');
    }
    if (!filters && !this.warned.has('filters')) data.notes.push('filters: the model has no Conv2d, and no Linear whose inputs are the image (set report.imageShape)');
    if (error !== undefined) data.error = error instanceof Error ? error.message : String(error);
    return { data, filters };
  }

  /**
   * Writes the report (HTML, then the PNG) through the lazily imported writer; a failure
   * is a warning.
   */
  async write(history: readonly EpochRecord[], error?: unknown): Promise<void> {
    try {
      const { data, filters } = this.snapshot(history, error);
      const { writeReport } = await import('./report.js');
      const problems = await writeReport(data, filters, this.options);
      for (const p of problems) this.warn('png', p);
    } catch (err) {
      this.warn('write', `not written: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Frees the sample batch it made. */
  dispose(): void {
    for (const t of this.ownedSample) if (!t.disposed) t.dispose();
    this.ownedSample.length = 0;
  }

  private filterImages(): FilterImages | null {
    let conv: [string, Conv2d] | null = null, linear: [string, Linear] | null = null;
    for (const [name, m] of this.model.namedModules()) {
      if (m instanceof Conv2d) { conv = [name, m]; break; }
      if (!linear && m instanceof Linear) linear = [name, m];
    }
    if (conv) {
      const [layer, m] = conv;
      const [out, inC, kh, kw] = m.weight.shape as [number, number, number, number];
      const w = noGrad(() => m.weight.dataSync());
      const rgb = inC === 3;
      const total = rgb ? out : out * inC;
      const pixels: Uint8Array[] = [];
      for (let i = 0; i < Math.min(total, MAX_FILTERS); i++) {
        if (rgb) {
          // [3, kh, kw] → interleaved RGB pixels.
          const src = w.subarray(i * 3 * kh * kw, (i + 1) * 3 * kh * kw);
          const scaled = scale(src);
          const px = new Uint8Array(kh * kw * 3);
          for (let c = 0; c < 3; c++) for (let p = 0; p < kh * kw; p++) px[p * 3 + c] = scaled[c * kh * kw + p]!;
          pixels.push(px);
        } else {
          pixels.push(scale(w.subarray(i * kh * kw, (i + 1) * kh * kw)));
        }
      }
      return { meta: { source: 'Conv2d', layer, weightShape: [...m.weight.shape], height: kh, width: kw, channels: rgb ? 3 : 1, count: pixels.length, total, scaling: 'per-image min-max' }, pixels };
    }
    const shape = this.imageShape;
    if (!linear || !shape) return null;
    const [layer, m] = linear;
    const [c, h, wd] = shape.length === 3 ? (shape as [number, number, number]) : [1, shape[0]!, shape[1]!];
    if (c * h * wd !== m.inFeatures || (c !== 1 && c !== 3)) return null;
    const w = noGrad(() => m.weight.dataSync());
    const pixels: Uint8Array[] = [];
    const size = m.inFeatures;
    for (let i = 0; i < Math.min(m.outFeatures, MAX_FILTERS); i++) {
      const scaled = scale(w.subarray(i * size, (i + 1) * size));
      if (c === 1) pixels.push(scaled);
      else {
        const px = new Uint8Array(size);
        for (let ch = 0; ch < 3; ch++) for (let p = 0; p < h * wd; p++) px[p * 3 + ch] = scaled[ch * h * wd + p]!;
        pixels.push(px);
      }
    }
    return { meta: { source: 'Linear', layer, weightShape: [...m.weight.shape], height: h, width: wd, channels: c as 1 | 3, count: pixels.length, total: m.outFeatures, scaling: 'per-image min-max' }, pixels };
  }

  private note(message: string): void {
    if (!this.data.notes.includes(message)) this.data.notes.push(message);
  }

  /** Runs one part of the collection; a failure becomes a note and one warning per part. */
  private guard<R>(part: string, fn: () => R): R | undefined {
    try {
      return fn();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.note(`${part}: failed: ${message}`);
      this.warn(part, `${part} failed: ${message}`);
      return undefined;
    }
  }

  private warn(part: string, message: string): void {
    if (this.warned.has(part)) return;
    this.warned.add(part);
    console.warn(`kiln.fit report (${this.options.path}): ${message}`);
  }
}

/** Values scaled from their minimum (0) to their maximum (255); a constant maps to 128. */
function scale(v: ArrayLike<number>): Uint8Array {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  const out = new Uint8Array(v.length);
  const range = hi - lo;
  for (let i = 0; i < v.length; i++) out[i] = range > 0 && Number.isFinite(range) ? Math.round(((v[i]! - lo) / range) * 255) : 128;
  return out;
}
