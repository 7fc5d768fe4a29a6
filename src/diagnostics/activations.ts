// Activation statistics through forward hooks: dead ReLU units, saturated sigmoid/tanh.
import { KilnError, noGrad, scope, Tensor, userCallSite } from '../eager/index.js';
import { callForward, ReLU, Sigmoid, Tanh, type HookHandle, type Module } from '../nn/index.js';

/** Options of `activationStats`. */
export interface ActivationStatsOptions {
  /** An output within `eps` of an asymptote is saturated (sigmoid: < eps or > 1 − eps; tanh: |y| > 1 − eps). Default 0.01. */
  eps?: number;
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
}

/** What `activationStats` returns: one entry per activation call, and a table. */
export interface ActivationReport {
  readonly layers: readonly ActivationStat[];
  toString(): string;
}

function statsOf(y: Tensor, kind: 'ReLU' | 'Sigmoid' | 'Tanh', eps: number): Omit<ActivationStat, 'name' | 'type' | 'call'> {
  const data = y.dataSync();
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
    return { ...base, deadFraction: units ? dead / units : 0, zeroFraction: n ? zeros / n : 0 };
  }
  let saturated = 0;
  for (let i = 0; i < n; i++) {
    const v = data[i]!;
    if (kind === 'Sigmoid' ? v < eps || v > 1 - eps : Math.abs(v) > 1 - eps) saturated++;
  }
  return { ...base, saturatedFraction: n ? saturated / n : 0 };
}

/**
 * Runs `model` on `batch` (one tensor, or the arguments of `forward`) in eval mode
 * without gradients and reports, for every call of an `nn.ReLU`, `nn.Sigmoid` or
 * `nn.Tanh` module (observed with forward hooks), the mean and spread of its outputs,
 * for ReLU the fraction of dead units (never positive for any sample of the batch)
 * and of zero outputs, and for sigmoid/tanh the fraction of saturated outputs (within
 * `eps` of 0/1 or ±1, where the gradient vanishes). Activations applied as functions
 * (`x.relu()` in a forward) are not modules, so they are not seen. The model's
 * training flags are restored afterwards.
 *
 * @example
 * ```ts
 * const model = new kiln.nn.Sequential(new kiln.nn.Linear(4, 16), new kiln.nn.ReLU(), new kiln.nn.Linear(16, 1), new kiln.nn.Sigmoid());
 * const report = kiln.diagnostics.activationStats(model, kiln.randn([64, 4]));
 * report.layers[0]!.deadFraction;      // share of the 16 ReLU units that never fired
 * report.layers[1]!.saturatedFraction; // share of sigmoid outputs below 0.01 or above 0.99
 * console.log(report.toString());
 * ```
 */
export function activationStats(model: Module, batch: Tensor | readonly Tensor[], options: ActivationStatsOptions = {}): ActivationReport {
  const eps = options.eps ?? 0.01;
  if (!(eps >= 0 && eps < 0.5)) throw new KilnError(`activationStats: eps must be in [0, 0.5), got ${String(eps)}`, { op: 'activationStats', callSite: userCallSite() });
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
        layers.push({ name: names.get(mod)!, type: kind, call, ...statsOf(output, kind, eps) });
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
