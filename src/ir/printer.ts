/**
 * The text form of a graph. One line per constant and node, a trailing `# file:line:col`
 * comment for the user's source line, subgraphs as nested blocks:
 * ```
 * graph(%x: float32[batch, 784]) {
 *   const %fc1.weight: float32[784, 128]
 *   %0: float32[batch, 128] = matmul(%x, %fc1.weight)     # model.ts:12:20
 *   %1: float32[batch, 128] = relu(%0)                    # model.ts:13:12
 *   %2: float32[batch, 2, 64] = reshape(%1) {shape=[batch, 2, 64]}
 *   return %2
 * }
 * ```
 * `parseGraph` reads it back (see `parser.ts` for the grammar).
 */
import { formatDim, type Dim } from './dims.js';
import type { TypedArray } from './dtype.js';
import { KilnError } from './errors.js';
import type { Constant, Graph, IrAttrs, IrAttrValue, Node, Value, ValueType } from './graph.js';
import { MAX_NESTING, subgraphLabels } from './controlFlow.js';

/** How `printGraph` shows constants. */
export type ConstantStyle =
  /** `const %w: float32[128, 784]`: the data is supplied separately when parsing (default). */
  | 'declare'
  /** As 'declare', plus a comment with the element count, min, max and mean. */
  | 'summary'
  /** `const %w: float32[2] = [0.5, -1]`: the data itself, so the text parses back complete. */
  | 'inline';

export interface PrintOptions {
  constants?: ConstantStyle;
  /** Print source locations as trailing comments (default true). */
  sources?: boolean;
}

/** Words that mean something in attribute position, so no symbol may be called that. */
export const RESERVED_WORDS: ReadonlySet<string> = new Set(['true', 'false', 'null', 'inf', 'nan']);

const BARE_NAME = /^[A-Za-z0-9_.$]+$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `%name`, or `%"a name"` when it has characters the bare form cannot hold. */
export function formatValueName(name: string): string {
  return BARE_NAME.test(name) ? `%${name}` : `%${JSON.stringify(name)}`;
}

function dimText(d: Dim): string {
  if (typeof d !== 'number' && (!IDENT.test(d.sym) || RESERVED_WORDS.has(d.sym))) {
    throw new KilnError(`symbol '${d.sym}' cannot be printed: symbol names are identifiers other than ${[...RESERVED_WORDS].join(', ')}`);
  }
  return formatDim(d);
}

function typeText(t: ValueType): string {
  return `${t.dtype}[${t.shape.map(dimText).join(', ')}]`;
}

/** Numbers as JavaScript writes them (exact round trip), with `inf`, `-inf`, `nan` and `-0`. */
export function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';
  if (Object.is(n, -0)) return '-0';
  return String(n);
}

/** The shortest decimal that reads back to the same float32 (`0.1`, not `0.10000000149011612`). */
function formatFloat32(n: number): string {
  if (!Number.isFinite(n) || n === 0) return formatNumber(n);
  for (let p = 1; p < 9; p++) {
    const s = n.toPrecision(p);
    if (Math.fround(Number(s)) === n) return String(Number(s));
  }
  return String(n);
}

/** One attribute value: `3`, `-0.5`, `true`, `null`, `"reflect"`, `batch`, `[batch, 784]`, `[[0, 1], [2, 3]]`. */
export function formatAttrValue(v: IrAttrValue): string {
  if (v === null) return 'null';
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${(v as readonly IrAttrValue[]).map(formatAttrValue).join(', ')}]`;
  if (typeof v === 'object' && typeof (v as { sym?: unknown }).sym === 'string') return dimText(v as Dim);
  throw new KilnError(`attribute value ${String(v)} has no text form`);
}

/** `{axes=[1], keepDims=false}`; empty string for no attributes. Keys without a value (`undefined`) are left out. */
export function formatAttrs(attrs: IrAttrs): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    parts.push(`${IDENT.test(k) ? k : JSON.stringify(k)}=${formatAttrValue(v)}`);
  }
  return parts.length ? `{${parts.join(', ')}}` : '';
}

/** `model.ts:12:20` as is; quoted when it could be misread (surrounding spaces, quotes, control characters). */
function sourceText(s: string): string {
  return /^[^\s"](?:[^\x00-\x1f]*[^\s])?$/.test(s) ? s : JSON.stringify(s);
}

/** `%0, %1 = split(%x) {axis=0, sizes=[2, 2]}`-style head of a node (without subgraphs). */
export function formatNodeHead(node: Node): string {
  const outs = node.outputs.map((v) => `${formatValueName(v.name)}: ${typeText(v.type)}`).join(', ');
  const call = `${node.op}(${node.inputs.map((v) => formatValueName(v.name)).join(', ')})`;
  const attrs = formatAttrs(node.attrs);
  return `${outs ? `${outs} = ` : ''}${call}${attrs ? ` ${attrs}` : ''}`;
}

/** `%3 = matmul(%x, %w)`: how messages name a node (no types, no attributes). */
export function describeNode(node: Node): string {
  const outs = node.outputs.map((v) => formatValueName(v.name)).join(', ');
  return `${outs ? `${outs} = ` : ''}${node.op}(${node.inputs.map((v) => formatValueName(v.name)).join(', ')})`;
}

function dataText(data: TypedArray): string {
  const f32 = data instanceof Float32Array;
  const parts = new Array<string>(data.length);
  for (let i = 0; i < data.length; i++) parts[i] = f32 ? formatFloat32(data[i]!) : formatNumber(data[i]!);
  return `[${parts.join(', ')}]`;
}

function summaryText(data: TypedArray): string {
  if (data.length === 0) return 'no values';
  let min = Infinity, max = -Infinity, sum = 0;
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (x < min) min = x;
    if (x > max) max = x;
    sum += x;
  }
  const g = (x: number) => formatNumber(Number(x.toPrecision(4)));
  return `${data.length} value${data.length === 1 ? '' : 's'}, min ${g(min)}, max ${g(max)}, mean ${g(sum / data.length)}`;
}

interface Line {
  readonly text: string;
  readonly comment?: string;
}

class Printer {
  readonly lines: Line[] = [];
  constructor(private readonly options: Required<PrintOptions>) {}

  block(g: Graph, header: string, depth: number): void {
    const pad = '  '.repeat(depth + 1);
    this.lines.push({ text: `${'  '.repeat(depth)}${header}(${g.inputs.map(paramText).join(', ')}) {` });
    for (const c of g.constants.values()) this.constant(c, pad);
    for (const node of g.nodes) {
      const head = pad + formatNodeHead(node) + (node.subgraphs.length ? ' {' : '');
      const comment = this.options.sources && node.source !== undefined ? sourceText(node.source) : undefined;
      this.lines.push(comment === undefined ? { text: head } : { text: head, comment });
      if (node.subgraphs.length) {
        // `depth` counts indentation: two steps per level of subgraphs.
        if (depth / 2 >= MAX_NESTING) throw new KilnError(`cannot print ${describeNode(node)}: subgraphs nest deeper than ${MAX_NESTING} levels`);
        const labels = subgraphLabels(node.op, node.subgraphs.length);
        node.subgraphs.forEach((sub, i) => this.block(sub, labels[i]!, depth + 2));
        this.lines.push({ text: `${pad}}` });
      }
    }
    const ret = g.outputs.map((v) => formatValueName(v.name)).join(', ');
    this.lines.push({ text: `${pad}return${ret ? ` ${ret}` : ''}` });
    this.lines.push({ text: `${'  '.repeat(depth)}}` });
  }

  private constant(c: Constant, pad: string): void {
    const text = `${pad}const ${paramText(c.value)}`;
    switch (this.options.constants) {
      // A folded constant shows its recipe (the comment parses as one; its data is supplied like any constant's).
      case 'declare': this.lines.push(c.folded ? { text, comment: `folded: ${foldText(c)}` } : { text }); break;
      case 'summary': this.lines.push({ text, comment: summaryText(c.data) }); break;
      case 'inline': this.lines.push({ text: `${text} = ${dataText(c.data)}` }); break;
    }
  }

  text(): string {
    // Comments line up in one column (capped so a long line does not push all of them out).
    let col = 0;
    for (const l of this.lines) if (l.comment !== undefined && l.text.length <= 72) col = Math.max(col, l.text.length);
    return this.lines.map((l) => (l.comment === undefined ? l.text : `${l.text.padEnd(col)}  # ${l.comment}`)).join('\n') + '\n';
  }
}

/** `transpose(%fc1.weight) {perm=[1, 0]}` (with `[k]` for output k of a multi-output op). */
function foldText(c: Constant): string {
  const f = c.folded!;
  const attrs = formatAttrs(f.attrs);
  return `${f.op}(${f.inputs.map((v) => formatValueName(v.name)).join(', ')})${f.index ? `[${f.index}]` : ''}${attrs ? ` ${attrs}` : ''}`;
}

function paramText(v: Value): string {
  return `${formatValueName(v.name)}: ${typeText(v.type)}`;
}

/**
 * The text form of `g` (also what `g.toString()` returns). Constants are declared by
 * name; `{ constants: 'inline' }` writes their data too, `'summary'` a comment with
 * statistics.
 *
 * @example
 * ```ts
 * const g = new Graph();
 * const x = g.addInput('x', { dtype: 'float32', shape: [sym('batch'), 3] });
 * g.outputs = g.addNode('sum', [x], { axes: [1], keepDims: false }, [{ dtype: 'float32', shape: [sym('batch')] }], 'model.ts:4:9').outputs;
 * printGraph(g);
 * // graph(%x: float32[batch, 3]) {
 * //   %0: float32[batch] = sum(%x) {axes=[1], keepDims=false}  # model.ts:4:9
 * //   return %0
 * // }
 * ```
 */
export function printGraph(g: Graph, options: PrintOptions = {}): string {
  const p = new Printer({ constants: options.constants ?? 'declare', sources: options.sources ?? true });
  p.block(g, 'graph', 0);
  return p.text();
}
