// Activation statistics through forward hooks: dead ReLU units, saturated sigmoid/tanh.
import { KilnError, noGrad, scope, Tensor, userCallSite } from '../eager/index.js';
import { callForward, ReLU, Sigmoid, Tanh, type HookHandle, type Module } from '../nn/index.js';

/** Options of `activationStats`. */
export interface ActivationStatsOptions {
  /** An output within `eps` of an asymptote is saturated (sigmoid: < eps or > 1 − eps; tanh: |y| > 1 − eps). Default 0.01. */
  eps?: number;
  /**
   * Bins of a histogram of each activation's output values (`histogram` in each entry),
   * over `[min, max]` of the outputs (sigmoid `[0, 1]`, tanh `[-1, 1]`). Default: none.
   */
  bins?: number;
  /**
   * Per-unit shares (`perUnit` in each entry): `'unit'` for every output position after
   * the batch dim, `'channel'` per index of dim 1 (pooled over the positions after it, as
   * a conv channel), `'auto'` channel for outputs of rank ≥ 3 and unit otherwise.
   * Default: none.
   */
  perUnit?: 'unit' | 'channel' | 'auto';
}

/** A histogram of output values: `counts[i]` values in `[edges[i], edges[i + 1])` (the last bin includes its right edge). */
export interface ActivationHistogram {
  /** `bins + 1` increasing bin edges. */
  edges: number[];
  /** Values per bin; they add up to the outputs of the batch (NaN and, for ReLU, ±∞ left out). */
  counts: number[];
}

/** Per-unit (or per-channel) shares of one activation over a batch. */
export interface ActivationPerUnit {
  /** `'unit'`: one share per output position after the batch dim; `'channel'`: one per index of dim 1. */
  by: 'unit' | 'channel';
  /**
   * ReLU: the share of the unit's outputs that are positive (0 = dead: never fired for
   * any sample). Sigmoid/Tanh: the share of its outputs within `eps` of an asymptote
   * (1 = always saturated).
   */
  shares: number[];
}

/** Statistics of one call of one activation module over a batch. */
export interface ActivationStat {
  /** Module path. */
  name: string;
  /** `'ReLU'`, `'Sigmoid'` or `'Tanh'`. */
  type: string;
  /** Which call of this module it was (1-based: a module used twice gives two entries). */
  call: number;
  /** Output shape; dim 0 is the batch. */
  shape: number[];
  /** Units per sample: every output position except the batch dim (a conv's channel × height × width). */
  units: number;
  mean: number;
  /** Population standard deviation of all outputs. */
  std: number;
  /** ReLU: fraction of units that were never positive over the batch ("dead"). */
  deadFraction?: number;
  /** ReLU: fraction of all outputs that are 0. */
  zeroFraction?: number;
  /** Sigmoid/Tanh: fraction of all outputs within `eps` of an asymptote. */
  saturatedFraction?: number;
  /** With the `bins` option: histogram of all output values of the batch. */
  histogram?: ActivationHistogram;
  /** With the `perUnit` option: the share of firing (ReLU) or saturated (Sigmoid/Tanh) outputs per unit or channel. */
  perUnit?: ActivationPerUnit;
}

/** What `activationStats` returns: one entry per activation call, and a table. */
export interface ActivationReport {
  readonly layers: readonly ActivationStat[];
  toString(): string;
}

function statsOf(y: Tensor, kind: 'ReLU' | 'Sigmoid' | 'Tanh', eps: number, options: ActivationStatsOptions): Omit<ActivationStat, 'name' | 'type' | 'call'> {
  const data = y.dataSync();
  const extra: Pick<ActivationStat, 'histogram' | 'perUnit'> = {};
  if (options.bins !== undefined) extra.histogram = histogramOf(data, kind, options.bins);
  if (options.perUnit !== undefined) extra.perUnit = perUnitOf(data, y.shape, kind, eps, options.perUnit);
  const n = data.length;
  const batch = y.rank === 0 ? 1 : y.shape[0]!;
  const units = batch === 0 ? 0 : n / batch;
  let sum = 0, sq = 0;
  for (let i = 0; i < n; i++) sum += data[i]!;
  const mean = n ? sum / n : 0;
  for (let i = 0; i < n; i++) sq += (data[i]! - mean) ** 2;
  const base = { shape: [...y.shape], units, mean, std: n ? Math.sqrt(sq / n) : 0 };
  if (kind === 'ReLU') {
    let zeros = 0, dead = 0;
    for (let i = 0; i < n; i++) if (data[i] === 0) zeros++;
    for (let u = 0; u < units; u++) {
      let alive = false;
      for (let b = 0; b < batch && !alive; b++) alive = data[b * units + u]! > 0;
      if (!alive) dead++;
    }
    return { ...base, deadFraction: units ? dead / units : 0, zeroFraction: n ? zeros / n : 0, ...extra };
  }
  let saturated = 0;
  for (let i = 0; i < n; i++) {
    const v = data[i]!;
    if (kind === 'Sigmoid' ? v < eps || v > 1 - eps : Math.abs(v) > 1 - eps) saturated++;
  }
  return { ...base, saturatedFraction: n ? saturated / n : 0, ...extra };
}

function histogramOf(data: ArrayLike<number>, kind: 'ReLU' | 'Sigmoid' | 'Tanh', bins: number): ActivationHistogram {
  let lo: number, hi: number;
  if (kind === 'Sigmoid') [lo, hi] = [0, 1];
  else if (kind === 'Tanh') [lo, hi] = [-1, 1];
  else {
    lo = Infinity;
    hi = -Infinity;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1];
    if (hi <= lo) hi = lo + 1;
  }
  const counts = new Array<number>(bins).fill(0);
  const width = (hi - lo) / bins;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!(v >= lo && v <= hi)) continue; // NaN (and nothing else: the range holds every finite value)
    counts[Math.min(bins - 1, Math.floor((v - lo) / width))]!++;
  }
  return { edges: Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * width)), counts };
}

function perUnitOf(data: ArrayLike<number>, shape: readonly number[], kind: 'ReLU' | 'Sigmoid' | 'Tanh', eps: number, mode: 'unit' | 'channel' | 'auto'): ActivationPerUnit {
  const batch = shape.length === 0 ? 1 : shape[0]!;
  const units = batch === 0 ? 0 : data.length / batch;
  const by = mode === 'auto' ? (shape.length >= 3 ? 'channel' : 'unit') : mode;
  // Outputs of unit u of sample b sit at b * units + u; channel c owns units [c * inner, (c + 1) * inner).
  const groups = by === 'channel' ? (shape.length >= 2 ? shape[1]! : 1) : units;
  const inner = groups === 0 ? 0 : units / groups;
  const hits = new Array<number>(groups).fill(0);
  const hit = kind === 'ReLU' ? (v: number) => v > 0 : kind === 'Sigmoid' ? (v: number) => v < eps || v > 1 - eps : (v: number) => Math.abs(v) > 1 - eps;
  for (let b = 0; b < batch; b++) {
    for (let u = 0; u < units; u++) if (hit(data[b * units + u]!)) hits[inner === 1 ? u : Math.floor(u / inner)]!++;
  }
  const per = batch * inner;
  return { by, shares: hits.map((h) => (per ? h / per : 0)) };
}

/**
 * Runs `model` on `batch` (one tensor, or the arguments of `forward`) in eval mode
 * without gradients and reports, for every call of an `nn.ReLU`, `nn.Sigmoid` or
 * `nn.Tanh` module (observed with forward hooks), the mean and spread of its outputs,
 * for ReLU the fraction of dead units (never positive for any sample of the batch)
 * and of zero outputs, and for sigmoid/tanh the fraction of saturated outputs (within
 * `eps` of 0/1 or ±1, where the gradient vanishes). Activations applied as functions
 * (`x.relu()` in a forward) are not modules, so they are not seen. The model's
 * training flags are restored afterwards. `bins` adds a histogram of the output values
 * and `perUnit` the share of firing (ReLU) or saturated (Sigmoid/Tanh) outputs of every
 * unit or channel, e.g. for a dead/saturated heatmap.
 *
 * @example
 * ```ts
 * const model = new kiln.nn.Sequential(new kiln.nn.Linear(4, 16), new kiln.nn.ReLU(), new kiln.nn.Linear(16, 1), new kiln.nn.Sigmoid());
 * const report = kiln.diagnostics.activationStats(model, kiln.randn([64, 4]));
 * report.layers[0]!.deadFraction;      // share of the 16 ReLU units that never fired
 * report.layers[1]!.saturatedFraction; // share of sigmoid outputs below 0.01 or above 0.99
 * console.log(report.toString());
 * const detail = kiln.diagnostics.activationStats(model, kiln.randn([64, 4]), { bins: 20, perUnit: 'auto' });
 * detail.layers[0]!.perUnit!.shares;   // 16 shares of positive outputs; 0 marks a dead unit
 * ```
 */
export function activationStats(model: Module, batch: Tensor | readonly Tensor[], options: ActivationStatsOptions = {}): ActivationReport {
  const eps = options.eps ?? 0.01;
  if (!(eps >= 0 && eps < 0.5)) throw new KilnError(`activationStats: eps must be in [0, 0.5), got ${String(eps)}`, { op: 'activationStats', callSite: userCallSite() });
  if (options.bins !== undefined && !(Number.isInteger(options.bins) && options.bins >= 1)) {
    throw new KilnError(`activationStats: bins must be a positive integer, got ${String(options.bins)}`, { op: 'activationStats', callSite: userCallSite() });
  }
  if (options.perUnit !== undefined && !['unit', 'channel', 'auto'].includes(options.perUnit)) {
    throw new KilnError(`activationStats: perUnit must be 'unit', 'channel' or 'auto', got ${JSON.stringify(options.perUnit)}`, { op: 'activationStats', callSite: userCallSite() });
  }
  const inputs = batch instanceof Tensor ? [batch] : [...batch];
  const names = new Map<Module, string>();
  for (const [path, m] of model.namedModules()) if (!names.has(m)) names.set(m, path);
  const layers: ActivationStat[] = [];
  const owners: Module[] = [];
  const calls = new Map<Module, number>();
  const handles: HookHandle[] = [];
  const flags = [...model.modules()].map((m) => [m, m.training] as const);
  try {
    for (const m of names.keys()) {
      const kind = m instanceof ReLU ? 'ReLU' : m instanceof Sigmoid ? 'Sigmoid' : m instanceof Tanh ? 'Tanh' : null;
      if (!kind) continue;
      handles.push(m.registerForwardHook((mod, _inputs, output) => {
        if (!(output instanceof Tensor)) return;
        const call = (calls.get(mod) ?? 0) + 1;
        calls.set(mod, call);
        layers.push({ name: names.get(mod)!, type: kind, call, ...statsOf(output, kind, eps, options) });
        owners.push(mod);
      }));
    }
    model.eval();
    noGrad(() => scope(() => void callForward(model, ...inputs)));
  } finally {
    for (const h of handles) h.remove();
    for (const [m, t] of flags) m.training = t;
  }
  return {
    layers,
    toString() {
      const pct = (v: number | undefined) => (v === undefined ? '' : `${(100 * v).toFixed(1)}%`);
      const head = ['Layer (type)', 'mean', 'std', 'dead units', 'saturated'];
      const rows = layers.map((l, i) => [
        `${l.name || '(model)'}${calls.get(owners[i]!)! > 1 ? ` #${l.call}` : ''} (${l.type})`,
        l.mean.toFixed(4), l.std.toFixed(4), pct(l.deadFraction), pct(l.saturatedFraction),
      ]);
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      return [head, ...rows].map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('   ').trimEnd()).join('\n');
    },
  };
}
