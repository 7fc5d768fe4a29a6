import { formatShape, KilnError, userCallSite, type OpDef } from '../ir/index.js';
import { ruleState } from './autograd.js';
import { engine } from './engine.js';
import { isPending, type Tensor } from './tensor.js';

/** What `detectAnomaly` checks. */
export interface AnomalyOptions {
  /** Treat ±Infinity as an anomaly too (default true; false checks NaN only, e.g. for −∞ attention masks). */
  checkInf?: boolean;
}

/**
 * Runs `fn` with anomaly detection on (PyTorch's `torch.autograd.detect_anomaly`, for the
 * forward pass as well): every eager op checks its floating outputs, and the first one
 * that produces NaN (or ±Infinity) raises a `KilnError` naming the op and your source
 * line. In the backward pass the error names the op whose gradient went wrong and the
 * line where that op ran forward (recorded while anomaly detection is on). Checking reads
 * every result back, so it is for debugging, not for training runs. Compiled graphs run
 * without checks (their first, tracing call is checked). `fn` may be async: detection
 * stays on until its promise settles.
 *
 * @example
 * ```ts
 * const x = kiln.tensor([1, 0], { requiresGrad: true });
 * kiln.detectAnomaly(() => x.log().sum().backward());
 * // KilnError: detectAnomaly: log produced -Infinity (output 0, float32[2], first at element 1); its inputs were finite
 * //     at train.ts:2:32
 * ```
 */
export function detectAnomaly<R>(fn: () => R, options: AnomalyOptions = {}): R {
  const prev = engine.anomaly;
  engine.anomaly = { checkInf: options.checkInf ?? true };
  let settlesLater = false;
  try {
    const result = fn();
    if (result instanceof Promise) {
      settlesLater = true;
      return result.finally(() => {
        engine.anomaly = prev;
      }) as R;
    }
    return result;
  } finally {
    if (!settlesLater) engine.anomaly = prev;
  }
}

/** The first element of `t` that is NaN (or infinite, with `checkInf`), or -1. */
function firstBad(t: Tensor, checkInf: boolean): number {
  if ((t.dtype !== 'float32' && t.dtype !== 'float64') || isPending(t.storage)) return -1;
  const data = t.backend.read(t.storage);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v !== v || (checkInf && (v === Infinity || v === -Infinity))) return i;
  }
  return -1;
}

/** @internal Dispatch calls this after every eager op while `detectAnomaly` is on. */
export function checkAnomaly(def: OpDef, inputs: readonly Tensor[], outputs: readonly Tensor[]): void {
  const mode = engine.anomaly!;
  for (let k = 0; k < outputs.length; k++) {
    const out = outputs[k]!;
    const i = firstBad(out, mode.checkInf);
    if (i < 0) continue;
    const v = out.backend.read(out.storage)[i]!;
    const bad = Number.isNaN(v) ? 'NaN' : String(v);
    const badInput = inputs.findIndex((x) => firstBad(x, mode.checkInf) >= 0);
    const cause = badInput < 0 ? 'its inputs were finite' : `input ${badInput} already held such values (made outside detectAnomaly, or by a leaf you created)`;
    const what = `${def.name} produced ${bad} (output ${k}, ${out.dtype}${formatShape(out.shape)}, first at element ${i}); ${cause}`;
    const node = ruleState.node;
    if (node === null) throw new KilnError(what, { op: 'detectAnomaly', callSite: userCallSite() });
    // Inside a gradient rule: the user's line is where the differentiated op ran forward.
    const where = node.site ? ` (its forward op ran at ${node.site})` : ' (its forward op ran before detectAnomaly was on, so its line is unknown)';
    throw new KilnError(`the gradient of ${node.def.name}${where} went wrong: ${what}`, { op: 'detectAnomaly', callSite: node.site ?? userCallSite() });
  }
}
