// What an ONNX op importer sees: its node's inputs (IR values or values known at import
// time), attributes, and `emit`, which adds a Kiln op to the graph or, when every input
// is known, evaluates it at once (so shape arithmetic — Shape→Gather→Concat→Reshape —
// folds at import and reaches Kiln ops as attributes).
import { KilnError, type Dim, type DType, type Graph, type IrAttrs, type Value, type ValueType } from '../ir/index.js';
import type { IAttributeProto, IGraphProto, INodeProto, ITensorProto } from './proto.js';
import type { Known } from './importTensor.js';

/**
 * A 1-D or 0-d int tensor known at import time whose entries may be symbolic dims (the
 * `Shape` of a value with a symbolic dim, and arithmetic on it).
 */
export interface KnownDims {
  readonly kind: 'dims';
  /** `[]` (a scalar) or `[dims.length]`. */
  readonly shape: readonly number[];
  readonly dims: readonly Dim[];
}

/** An ONNX value during import. */
export type OnnxValue = Value | Known | KnownDims;

export function isKnown(v: OnnxValue): v is Known {
  return (v as Known).kind === 'known';
}

export function isKnownDims(v: OnnxValue): v is KnownDims {
  return (v as KnownDims).kind === 'dims';
}

/**
 * Raised where the importer needs a concrete size that is a symbol (a stride over a
 * symbolic height, an `If` on a symbolic batch size): the model is then imported again
 * per concrete input shape at run time, instead of once with symbols.
 */
export class NeedsConcreteShapes extends KilnError {
  constructor(message: string) {
    super(message, { op: 'onnx.importModel' });
    this.name = 'NeedsConcreteShapes';
  }
}

/** Typed access to a node's attributes. */
export interface AttrReader {
  has(name: string): boolean;
  int(name: string, fallback?: number): number;
  ints(name: string, fallback?: readonly number[]): number[];
  float(name: string, fallback?: number): number;
  floats(name: string, fallback?: readonly number[]): number[];
  string(name: string, fallback?: string): string;
  strings(name: string, fallback?: readonly string[]): string[];
  tensor(name: string): ITensorProto;
  graph(name: string): IGraphProto;
  raw(name: string): IAttributeProto | undefined;
}

/** The context one op importer runs in. */
export interface OpContext {
  readonly node: INodeProto;
  /** The model's default-domain opset version. */
  readonly opset: number;
  readonly attrs: AttrReader;
  /** The node's output names ('' for an output not wanted). */
  readonly outputs: readonly string[];
  /** How many inputs the node lists (empty names count). */
  readonly inputCount: number;
  /** Input `i`; a KilnError when absent. */
  input(i: number): OnnxValue;
  /** Input `i`, or null when absent or named ''. */
  optional(i: number): OnnxValue | null;
  /** Type of a value (dims may be symbolic). */
  type(v: OnnxValue): ValueType;
  /** Shape of a value. */
  shape(v: OnnxValue): readonly Dim[];
  /** The shape with every dim a number; a `NeedsConcreteShapes` naming `why` otherwise. */
  concreteShape(v: OnnxValue, why: string): number[];
  /** Known values of an int/float tensor (wide ints kept exact), or null when only known at run time. */
  values(v: OnnxValue): number[] | null;
  /** Known dims of an int tensor (symbolic entries allowed), or null. */
  dims(v: OnnxValue): Dim[] | null;
  /** Values of input `i`, which must be known at import; a KilnError naming `what` otherwise. */
  constInts(i: number, what: string): number[];
  /** Applies Kiln op `op`; folded at import when every input is known. */
  emit(op: string, inputs: readonly OnnxValue[], attrs?: IrAttrs): OnnxValue[];
  emit1(op: string, inputs: readonly OnnxValue[], attrs?: IrAttrs): OnnxValue;
  /** A known constant. */
  constant(dtype: DType, shape: readonly number[], data: ArrayLike<number>): Known;
  scalar(value: number, dtype: DType): Known;
  /** A graph value (a known value becomes a constant of the graph). */
  materialize(v: OnnxValue): Value;
  /** The graph being built (for control flow). */
  readonly graph: Graph;
  /**
   * Imports an ONNX subgraph (an `If` branch, a `Loop` body) into a new `Graph(parent)`
   * with the given inputs; its outputs are materialized as values of that graph.
   */
  subgraph(g: IGraphProto, parent: Graph, inputs: readonly ValueType[]): Graph;
  /**
   * Imports an ONNX subgraph's nodes inline into the current graph (a branch of an `If`
   * whose condition is known, one iteration of a `Loop`), its inputs bound to `inputs`;
   * returns its outputs.
   */
  inline(g: IGraphProto, inputs?: readonly OnnxValue[]): OnnxValue[];
  /** A KilnError about this node. */
  fail(message: string): never;
}

/** One ONNX op: how to import a node of it. Opset differences are the importer's to handle. */
export type OpImporter = (c: OpContext) => OnnxValue[];
