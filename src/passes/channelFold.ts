// Per-channel scale and shift folded into the weight and bias of the node before them
// (conv2d, convTranspose2d, linear, matmul with a constant weight): what BatchNorm
// folding and bias fusion share.
import { fusedActivationOf, isFloat, sizeOf, type Graph, type Node, type Value, type ValueType } from '../ir/index.js';
import { constantOf, eraseIfDead, replaceValue, staticShape } from './values.js';

/** A node whose output channels can absorb a scale (into its weight) and a shift (into its bias). */
export interface Anchor {
  readonly node: Node;
  /** Channels, and their axis in the output. */
  readonly channels: number;
  readonly axis: number;
}

export function anchorOf(g: Graph, node: Node): Anchor | null {
  const out = node.outputs[0];
  // A fused activation sits between the op's channels and its output: nothing folds past it.
  if (!out || !isFloat(out.type.dtype) || fusedActivationOf(node.attrs)) return null;
  const isConst = (v: Value | undefined) => v !== undefined && constantOf(g, v) !== undefined;
  if (node.op === 'conv2d' || (node.op === 'convTranspose2d' && node.attrs['group'] === 1)) {
    const c = out.type.shape[1];
    if (out.type.shape.length !== 4 || typeof c !== 'number' || !isConst(node.inputs[1]) || (node.inputs.length > 2 && !isConst(node.inputs[2]))) return null;
    return { node, channels: c, axis: 1 };
  }
  if (node.op === 'linear') {
    const w = node.inputs[1]!;
    const c = w.type.shape[0];
    if (!isConst(w) || typeof c !== 'number' || (node.inputs.length > 2 && !isConst(node.inputs[2]))) return null;
    return { node, channels: c, axis: out.type.shape.length - 1 };
  }
  if (node.op === 'matmul') {
    const k = node.inputs[1]!;
    const c = k.type.shape[1];
    if (!isConst(k) || k.type.shape.length !== 2 || typeof c !== 'number' || out.type.shape.length < 1) return null;
    return { node, channels: c, axis: out.type.shape.length - 1 };
  }
  return null;
}

/**
 * Whether constant `c` applied to `y` (broadcast) varies along the channel axis only and
 * leaves `y`'s shape as it is.
 */
export function perChannel(g: Graph, a: Anchor, y: Value, c: Value): boolean {
  if (!constantOf(g, c) || c.type.dtype !== y.type.dtype) return false;
  const shape = staticShape(c.type);
  if (!shape || shape.length > y.type.shape.length) return false;
  const lead = y.type.shape.length - shape.length;
  return shape.every((d, i) => d === 1 || (lead + i === a.axis && d === a.channels));
}

/** One step after the anchor: y ↦ y·c, y + c or y − c. */
export interface Step {
  readonly node: Node;
  readonly kind: 'mul' | 'add' | 'sub';
  readonly c: Value;
}

/** Builds the constant arithmetic as nodes before the anchor; constant folding turns them into constants. */
export class ChannelMath {
  constructor(private readonly g: Graph, private readonly at: Node, private readonly n: number, private readonly dtype: ValueType['dtype']) {}

  private op(op: string, inputs: Value[], attrs: Record<string, readonly number[]>, shape: readonly number[]): Value {
    return this.g.insertBefore(this.at, op, inputs, attrs, [{ dtype: this.dtype, shape }], this.at.source).outputs[0]!;
  }

  /** `c` as a vector of one value per channel, shape [n]. */
  vector(c: Value): Value {
    const shape = staticShape(c.type)!;
    if (sizeOf(shape) === this.n) return shape.length === 1 ? c : this.op('reshape', [c], { shape: [this.n] }, [this.n]);
    const one = shape.length === 1 ? c : this.op('reshape', [c], { shape: [1] }, [1]);
    return this.op('expand', [one], { shape: [this.n] }, [this.n]);
  }

  binary(op: 'mul' | 'add' | 'sub', a: Value, b: Value): Value {
    return this.op(op, [a, b], {}, [this.n]);
  }

  neg(a: Value): Value {
    return this.g.insertBefore(this.at, 'neg', [a], {}, [a.type], this.at.source).outputs[0]!;
  }

  reshape(a: Value, shape: readonly number[]): Value {
    return this.op('reshape', [a], { shape }, shape);
  }

  scaleWeight(w: Value, s: Value, shape: readonly number[]): Value {
    return this.g.insertBefore(this.at, 'mul', [w, this.reshape(s, shape)], {}, [w.type], this.at.source).outputs[0]!;
  }
}

export function foldInto(g: Graph, a: Anchor, steps: readonly Step[]): boolean {
  const node = a.node;
  const last = steps[steps.length - 1]!.node.outputs[0]!;
  const bias = node.op === 'matmul' ? undefined : node.inputs[2];
  const adds = steps.filter((s) => s.kind !== 'mul').length;
  // A matmul keeps one add for the shift: folding only pays when something goes.
  if (node.op === 'matmul' && 1 + (adds ? 1 : 0) >= 1 + steps.length) return false;
  const math = new ChannelMath(g, node, a.channels, last.type.dtype);
  let scale: Value | null = null;
  let shift: Value | null = bias ? math.vector(bias) : null;
  for (const s of steps) {
    const c = math.vector(s.c);
    if (s.kind === 'mul') {
      scale = scale ? math.binary('mul', scale, c) : c;
      if (shift) shift = math.binary('mul', shift, c);
    } else if (s.kind === 'add') {
      shift = shift ? math.binary('add', shift, c) : c;
    } else {
      shift = shift ? math.binary('sub', shift, c) : math.neg(c);
    }
  }
  const [x, w] = [node.inputs[0]!, node.inputs[1]!];
  let out: Value;
  if (node.op === 'matmul') {
    const k = scale ? math.scaleWeight(w, scale, [1, a.channels]) : w;
    out = g.insertBefore(node, 'matmul', [x, k], node.attrs, [node.outputs[0]!.type], node.source).outputs[0]!;
    if (shift) out = g.insertBefore(node, 'add', [out, shift], {}, [last.type], steps[steps.length - 1]!.node.source).outputs[0]!;
  } else {
    const wShape = node.op === 'conv2d' ? [a.channels, 1, 1, 1] : node.op === 'linear' ? [a.channels, 1] : [1, a.channels, 1, 1];
    const k = scale ? math.scaleWeight(w, scale, wShape) : w;
    out = g.insertBefore(node, node.op, shift ? [x, k, shift] : [x, k], node.attrs, [last.type], node.source).outputs[0]!;
  }
  replaceValue(g, last, out);
  for (const s of [...steps].reverse()) eraseIfDead(g, s.node);
  eraseIfDead(g, node);
  return true;
}

