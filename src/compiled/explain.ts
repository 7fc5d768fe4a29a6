// The text of `CompiledModel.explain()`: the options, each compiled entry (its guard,
// symbolic and pinned dims, the pass pipeline, the memory plan per concrete shape and
// the graph that runs; or its graph breaks with their source lines), and the lazy
// segments that actually ran.
import { printGraph } from '../ir/index.js';
import { formatReport } from '../passes/index.js';
import type { CompileStats } from './compile.js';
import type { CompileSettings } from './compileOptions.js';
import type { Entry } from './entries.js';
import type { ExecutionPlan } from './executionPlan.js';
import { breakCause } from './graphTracer.js';
import { guardText } from './guards.js';
import type { Segment } from './segmentCache.js';
import { sourceExcerpt } from './sourceText.js';
import { formatSpec } from './spec.js';

/** What `explain()` describes. */
export interface ExplainedModel {
  readonly settings: CompileSettings;
  /** The backend name plans run on. */
  readonly target: string;
  readonly stats: CompileStats;
  readonly entries: readonly Entry[];
  /** The segments compiled for lazy runs (shared by the model's segment entries), oldest first. */
  readonly segments: readonly Segment[];
}

/** Where a break or a pinned dim came from, with the source text when the file is readable. */
export function describeSite(site: string | undefined, indent: string): string {
  if (!site) return `${indent}(source location unknown)`;
  const src = sourceExcerpt(site);
  const lines = [`${indent}at ${site}`];
  if (src) {
    lines.push(`${indent}  ${src.line} | ${src.lineText}`);
    if (src.expression) lines.push(`${indent}  expression: ${src.expression}${src.context ? `   (in: ${src.context})` : ''}`);
  }
  return lines.join('\n');
}

export function indent(text: string, pad: string): string {
  return text.trimEnd().split('\n').map((l) => pad + l).join('\n');
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/**
 * One line per concrete shape the plan has resolved: the arena its intermediates need
 * (inputs, constants and outputs are not in it), the bound no arena can beat (the most
 * bytes alive at one step), and what it holds.
 */
export function memoryLines(plan: ExecutionPlan, pad: string): string[] {
  const plans = plan.memoryPlans();
  if (!plans.length) return [`${pad}memory: planned per concrete shape at its first run (none yet)`];
  return plans.map(({ key, memory: m }) => {
    const values = m.blocks.reduce((n, b) => n + b.slots.length, 0);
    const inPlace = plan.inPlace ? `, ${m.inPlace.length} written in place` : '';
    return `${pad}memory${key ? ` at ${key.replaceAll(',', ', ')}` : ''}: arena ${m.arenaBytes} bytes (lower bound ${m.lowerBound} bytes), ${plural(values, 'intermediate')} in ${plural(m.blocks.length, 'block')}${inPlace}`;
  });
}

function entryLines(e: Entry, i: number): string[] {
  const lines: string[] = [];
  const mode = e.training === null ? '' : `, training=${e.training}`;
  if (e.kind === 'graph') {
    const g = e.optimized;
    lines.push(`entry ${i + 1}: guard ${guardText(e.guard)}${mode} → one compiled graph (${g.nodes.length} nodes, ${g.constants.size} constants, ${g.inputs.length} inputs), ${plural(e.hits, 'hit')}`);
    lines.push(`  symbolic dims: ${e.symbols.length ? e.symbols.join(', ') : 'none'}`);
    for (const [name, p] of e.pinned) lines.push(`  dim '${name}' specialized to ${p.value} (guarded, not symbolic): ${p.reason}`);
    for (const [name, reason] of e.atLeastTwo) lines.push(`  dim '${name}' symbolic for sizes ≥ 2 only (size 1 retraces): ${reason}`);
    const rng = e.trace.feeds.filter((f) => f.kind === 'rng').length;
    if (rng) lines.push(`  random inputs: ${plural(rng, 'Philox key')} drawn from the global generator at each run`);
    if (e.trace.mutations.length) lines.push(`  in-place updates written back after each run: ${e.trace.mutations.map((m) => ('input' in m.target ? `input ${m.target.input}` : m.target.name)).join(', ')}`);
    if (e.refused.size) lines.push(`  sizes it did not hold for (retraced with every dim pinned): ${[...e.refused].join(' | ')}`);
    lines.push(formatReport(e.report, '  '));
    lines.push(indent(printGraph(g), '  '));
    lines.push(...memoryLines(e.plan, '  '));
  } else {
    lines.push(`entry ${i + 1}: guard ${guardText(e.guard)}${mode} → ${plural(e.breaks.length, 'graph break')}, ${plural(e.segmentCount, 'compiled segment')} with eager code between them, ${plural(e.hits, 'hit')}`);
    lines.push('  later calls run the code lazily: each segment is compiled once per structure and shape, then cached (see the segments below)');
    e.breaks.forEach((b, k) => {
      lines.push(`  break ${k + 1}: ${breakCause(b.reason)} (after ${plural(b.node, 'recorded op')})`);
      lines.push(describeSite(b.site, '    '));
    });
  }
  return lines;
}

/** The segments that ran lazily: each compiled graph (what its plan runs) and how often it ran. */
function segmentLines(m: ExplainedModel): string[] {
  const { segmentsCompiled, segmentRuns } = m.stats;
  if (!m.entries.some((e) => e.kind === 'segments') && !segmentRuns) return [];
  const lines = ['', `segments compiled at run time: ${segmentsCompiled}, segment runs: ${segmentRuns}${m.segments.length < segmentsCompiled ? ` (${m.segments.length} cached; older ones were evicted)` : ''}`];
  if (!m.segments.length) lines.push('  none has run lazily yet: the call that traced the code ran it eagerly');
  m.segments.forEach((s, k) => {
    const g = s.plan.graph;
    lines.push(`  segment ${k + 1} on ${s.plan.backend.name}: ${plural(g.nodes.length, 'node')}, ${plural(s.hits, 'run')}`);
    lines.push(indent(printGraph(g), '    '));
    lines.push(...memoryLines(s.plan, '    '));
  });
  return lines;
}

/** The text of `explain()`. */
export function explainCompiled(m: ExplainedModel): string {
  const { settings: o, stats: s } = m;
  const lines: string[] = [];
  lines.push(`kiln.compile(${o.label}): mode ${o.mode}, target ${m.target}${o.fullGraph ? ', fullGraph' : ''}`);
  lines.push(`  inputs: ${o.specs.map(formatSpec).join(', ')}`);
  lines.push(`  ${m.entries.length} compiled entr${m.entries.length === 1 ? 'y' : 'ies'} (maxRecompiles ${o.maxRecompiles}), ${plural(s.traces, 'trace')}, ${plural(s.hits, 'cache hit')}${s.eagerFallbacks ? `, ${plural(s.eagerFallbacks, 'eager fallback')} (cache full)` : ''}`);
  m.entries.forEach((e, i) => lines.push('', ...entryLines(e, i)));
  lines.push(...segmentLines(m));
  return lines.join('\n') + '\n';
}
