// `kiln inspect`: what an ONNX file holds (inputs, outputs, opsets, op histogram,
// parameter count), read from the protobuf alone: nothing is imported or run.
import { formatShape } from '../ir/index.js';
import { decodeModel, int64ToNumber, OnnxDataType, onnxDataTypeName, type ModelProto, type onnxTypes } from '../onnx/proto.js';

/** One graph input or output. */
export interface TensorSummary {
  readonly name: string;
  /** ONNX element type name (`FLOAT`, `INT64`). */
  readonly type: string;
  /** Sizes, with `dim_param` names for symbolic dims (`batch`) and '?' for unknown ones. */
  readonly shape: readonly (number | string)[];
}

/** What `kiln inspect` prints. */
export interface ModelSummary {
  readonly irVersion: number;
  readonly producer: string;
  readonly opsets: readonly { readonly domain: string; readonly version: number }[];
  readonly inputs: readonly TensorSummary[];
  readonly outputs: readonly TensorSummary[];
  /** Node count per op type, subgraphs (If/Loop bodies) included. */
  readonly ops: Readonly<Record<string, number>>;
  readonly nodes: number;
  /** Elements in the floating-point initializers (weights; int64 shape operands are not counted). */
  readonly parameters: number;
  readonly initializers: number;
}

const FLOAT_TYPES = new Set<number>([OnnxDataType.FLOAT, OnnxDataType.DOUBLE, OnnxDataType.FLOAT16, OnnxDataType.BFLOAT16]);

function tensorSummary(v: onnxTypes.IValueInfoProto): TensorSummary {
  const t = v.type?.tensorType;
  const shape = (t?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue !== null && d.dimValue !== undefined ? int64ToNumber(d.dimValue) : '?'));
  return { name: v.name ?? '', type: t?.elemType !== null && t?.elemType !== undefined ? onnxDataTypeName(t.elemType) : '?', shape };
}

/** Summarizes ONNX bytes (a KilnError for bytes that are not an ONNX model). */
export function summarizeModel(bytes: Uint8Array, source = 'model'): ModelSummary {
  const m: ModelProto = decodeModel(bytes, source);
  const g = m.graph;
  const ops: Record<string, number> = {};
  let nodes = 0;
  const visit = (gr: onnxTypes.IGraphProto): void => {
    for (const n of gr.node ?? []) {
      nodes++;
      const key = n.domain ? `${n.domain}.${n.opType}` : n.opType ?? '?';
      ops[key] = (ops[key] ?? 0) + 1;
      for (const a of n.attribute ?? []) {
        if (a.g) visit(a.g);
        for (const sub of a.graphs ?? []) visit(sub);
      }
    }
  };
  if (g) visit(g);
  const inits = g?.initializer ?? [];
  const initNames = new Set(inits.map((t) => t.name));
  const parameters = inits.filter((t) => FLOAT_TYPES.has(t.dataType ?? 0)).reduce((sum, t) => sum + (t.dims ?? []).reduce((p: number, d) => p * int64ToNumber(d), 1), 0);
  return {
    irVersion: int64ToNumber(m.irVersion),
    producer: [m.producerName, m.producerVersion].filter(Boolean).join(' '),
    opsets: (m.opsetImport ?? []).map((o) => ({ domain: o.domain || 'ai.onnx', version: int64ToNumber(o.version) })),
    inputs: (g?.input ?? []).filter((v) => !initNames.has(v.name)).map(tensorSummary),
    outputs: (g?.output ?? []).map(tensorSummary),
    ops,
    nodes,
    parameters,
    initializers: inits.length,
  };
}

const shapeText = (s: readonly (number | string)[]): string => formatShape(s as number[]);

/** The summary as the table `kiln inspect` prints. */
export function formatSummary(s: ModelSummary, file: string): string {
  const lines = [
    `${file}`,
    `  IR version ${s.irVersion}, opset ${s.opsets.map((o) => (o.domain === 'ai.onnx' ? String(o.version) : `${o.domain} ${o.version}`)).join(', ')}${s.producer ? `, produced by ${s.producer}` : ''}`,
    `  inputs:`,
    ...s.inputs.map((t) => `    ${t.name}: ${t.type}${shapeText(t.shape)}`),
    `  outputs:`,
    ...s.outputs.map((t) => `    ${t.name}: ${t.type}${shapeText(t.shape)}`),
    `  parameters: ${s.parameters.toLocaleString('en-US')} (floating-point initializer elements; ${s.initializers} initializers)`,
    `  nodes: ${s.nodes}`,
    ...Object.entries(s.ops).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([op, n]) => `    ${op.padEnd(24)} ${n}`),
  ];
  return lines.join('\n');
}
