// Reductions: ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/LogSumExp (axes an attribute
// before opset 13 for ReduceSum and 18 for the rest, an input from then on), ArgMax/ArgMin.
import { KilnError } from '../../ir/index.js';
import type { OnnxValue, OpContext, OpImporter } from '../importContext.js';
import { axesOf, axisOf } from './support.js';
import { meanOver } from './nn.js';

type Kind = 'sum' | 'mean' | 'max' | 'min' | 'prod' | 'l1' | 'l2' | 'sumSquare' | 'logSumExp';

function reduce(kind: Kind, inputSince: number): OpImporter {
  return (c) => {
    const x = c.input(0);
    const rank = c.shape(x).length;
    let axes = axesOf(c, inputSince, 1, rank);
    const keepDims = c.attrs.int('keepdims', 1) === 1;
    if (axes === null || axes.length === 0) {
      if (c.attrs.int('noop_with_empty_axes', 0)) return [x];
      axes = Array.from({ length: rank }, (_, i) => i);
    }
    return [apply(c, kind, x, axes, keepDims)];
  };
}

function apply(c: OpContext, kind: Kind, x: OnnxValue, axes: number[], keepDims: boolean): OnnxValue {
  switch (kind) {
    case 'sum':
    case 'max':
    case 'min':
    case 'prod':
    case 'logSumExp':
      return c.emit1(kind, [x], { axes, keepDims });
    case 'mean':
      return meanOver(c, x, axes, keepDims);
    case 'l1':
      return c.emit1('sum', [c.emit1('abs', [x])], { axes, keepDims });
    case 'sumSquare':
      return c.emit1('sum', [c.emit1('mul', [x, x])], { axes, keepDims });
    case 'l2':
      return c.emit1('sqrt', [c.emit1('sum', [c.emit1('mul', [x, x])], { axes, keepDims })]);
  }
}

function arg(op: 'argmax' | 'argmin'): OpImporter {
  return (c) => {
    const x = c.input(0);
    if (c.attrs.int('select_last_index', 0)) throw new KilnError('select_last_index=1 is not supported');
    const axis = axisOf(c.attrs.int('axis', 0), c.shape(x).length);
    return [c.emit1(op, [x], { axis, keepDims: c.attrs.int('keepdims', 1) === 1 })];
  };
}

export const reduceImporters: Record<string, OpImporter> = {
  ReduceSum: reduce('sum', 13),
  ReduceMean: reduce('mean', 18),
  ReduceMax: reduce('max', 18),
  ReduceMin: reduce('min', 18),
  ReduceProd: reduce('prod', 18),
  ReduceL1: reduce('l1', 18),
  ReduceL2: reduce('l2', 18),
  ReduceSumSquare: reduce('sumSquare', 18),
  ReduceLogSumExp: reduce('logSumExp', 18),
  ArgMax: arg('argmax'),
  ArgMin: arg('argmin'),
};
