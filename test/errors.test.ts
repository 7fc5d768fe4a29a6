import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';

beforeAll(async () => {
  await kiln.init();
});

/** Runs fn, returns the KilnError it throws. */
function catchKiln(fn: () => unknown): kiln.KilnError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(kiln.KilnError);
    return e as kiln.KilnError;
  }
  throw new Error('expected a KilnError');
}

describe('errors name the op, the shapes and the call site', () => {
  it('broadcast mismatch', () => {
    const e = catchKiln(() => kiln.ones([2, 3]).add(kiln.ones([4])));
    expect(e.message).toMatch(/^add: shapes \[2, 3\] and \[4\] cannot be broadcast/);
    expect(e.message).toContain('float32[2, 3], float32[4]');
    expect(e.op).toBe('add');
    expect(e.callSite).toMatch(/errors\.test\.ts:\d+:\d+/);
  });

  it('bad axis', () => {
    const e = catchKiln(() => kiln.ones([2, 3]).sum(5));
    expect(e.message).toMatch(/^sum: axis 5 is out of range for a tensor of rank 2/);
    expect(e.callSite).toMatch(/errors\.test\.ts/);
  });

  it('bad reshape', () => {
    const e = catchKiln(() => kiln.ones([2, 3]).reshape(4, 2));
    expect(e.message).toMatch(/reshape: cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\]/);
  });

  it('wrong argument type', () => {
    const e = catchKiln(() => kiln.ones([2]).add('3' as unknown as number));
    expect(e.message).toMatch(/add: expected a Tensor or a number, got string/);
  });

  it('where needs a bool condition', () => {
    const e = catchKiln(() => kiln.where(kiln.ones([2]), kiln.ones([2]), 0));
    expect(e.message).toMatch(/where: condition must be bool, got float32/);
  });

  it('mixing backends', () => {
    const a = kiln.ones([2], { backend: 'reference' });
    const e = catchKiln(() => a.add(kiln.ones([2], { backend: 'wasm' })));
    expect(e.message).toMatch(/different backends/);
  });

  it('float64 outside the reference backend', () => {
    expect(catchKiln(() => kiln.ones([2], { dtype: 'float64', backend: 'wasm' })).message).toMatch(/float64 is supported on the reference backend only/);
    expect(catchKiln(() => kiln.ones([2], { dtype: 'float64', backend: 'reference' }).to('wasm')).message).toMatch(/float64/);
  });

  it('bad creation input', () => {
    expect(catchKiln(() => kiln.tensor([[1, 2], [3]])).message).toMatch(/ragged/);
    expect(catchKiln(() => kiln.zeros([2, -1])).message).toMatch(/non-negative integers/);
    expect(catchKiln(() => kiln.ones([2, 2]).item()).message).toMatch(/item\(\) needs a tensor with one element/);
  });

  it('backward on a non-scalar without a gradient', () => {
    const x = kiln.ones([2], { requiresGrad: true });
    expect(catchKiln(() => x.mul(2).backward()).message).toMatch(/one-element tensor/);
  });
});
