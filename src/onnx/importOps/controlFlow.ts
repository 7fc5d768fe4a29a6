// If and Loop. An `If` whose condition is known at import (a shape test, an input
// specialized on its value) imports only the taken branch, inline, and one whose condition
// is known only at run time computes both branches and selects with `where` (so both must
// be valid at the given shapes): that runs on every target, webgpu included, whose plans
// refuse an IR `If` (its condition would need a synchronous read); wasm and reference
// plans could run the IR `If` instead. A `Loop` with a trip count known at import is unrolled.
import { formatType, KilnError, typesEqual } from '../../ir/index.js';
import type { OnnxValue, OpImporter } from '../importContext.js';
import { castTo, reshape } from './support.js';

/** Most body copies one unrolled Loop may make. */
const MAX_UNROLL = 4096;

const ifOp: OpImporter = (c) => {
  const cond = c.input(0);
  const vals = c.values(cond);
  if (vals) {
    if (vals.length !== 1) throw new KilnError(`the condition must have one element, got ${vals.length}`);
    return c.inline(c.attrs.graph(vals[0] ? 'then_branch' : 'else_branch'));
  }
  const flag = reshape(c, castTo(c, cond, 'bool'), []);
  const t = c.inline(c.attrs.graph('then_branch'));
  const e = c.inline(c.attrs.graph('else_branch'));
  if (t.length !== e.length) throw new KilnError(`the then-branch gives ${t.length} outputs, the else-branch ${e.length}`);
  return t.map((tv, i) => {
    const ev = e[i]!;
    const [tt, et] = [c.type(tv), c.type(ev)];
    if (!typesEqual(tt, et)) {
      throw new KilnError(`If branches give output ${i} as ${formatType(tt)} and ${formatType(et)}; with a condition known only at run time both branches must agree`);
    }
    return c.emit1('where', [flag, tv, ev]);
  });
};

const loop: OpImporter = (c) => {
  const m = c.optional(0), condIn = c.optional(1);
  const trips = m ? c.values(m) : null;
  if (!trips) throw new KilnError('Loop needs a trip count known when the model is imported (it is unrolled)');
  let cond = condIn ? c.values(condIn) : [1];
  if (!cond) throw new KilnError("Loop's initial condition must be known when the model is imported");
  const n = trips[0]!;
  if (n > MAX_UNROLL) throw new KilnError(`Loop of ${n} iterations is too long to unroll (at most ${MAX_UNROLL})`);
  const body = c.attrs.graph('body');
  let carried: OnnxValue[] = Array.from({ length: c.inputCount - 2 }, (_, i) => c.input(i + 2));
  const scans: OnnxValue[][] = [];
  for (let i = 0; i < n && cond[0]; i++) {
    const outs = c.inline(body, [c.scalar(i, 'int32'), c.constant('bool', [], [1]), ...carried]);
    const next = c.values(outs[0]!);
    if (!next) throw new KilnError("the Loop body's condition must be known when the model is imported (the loop is unrolled)");
    cond = next;
    carried = outs.slice(1, 1 + carried.length);
    outs.slice(1 + carried.length).forEach((s, k) => (scans[k] ??= []).push(reshape(c, s, [1, ...c.shape(s)])));
  }
  const scanCount = (body.output ?? []).length - 1 - carried.length;
  const stacked = Array.from({ length: scanCount }, (_, k) => {
    const parts = scans[k] ?? [];
    if (parts.length === 0) throw new KilnError('a Loop with scan outputs ran no iteration (an empty scan is not supported)');
    return parts.length === 1 ? parts[0]! : c.emit1('concat', parts, { axis: 0 });
  });
  return [...carried, ...stacked];
};

export const controlFlowImporters: Record<string, OpImporter> = {
  If: ifOp,
  Loop: loop,
};
