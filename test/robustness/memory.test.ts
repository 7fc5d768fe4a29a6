// Sizes no backend can hold, and failed ops: a KilnError naming the op, and memory()
// exactly as before (nothing counted for what failed, nothing leaked by a kernel that threw).
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../../src/index.js';

const backends = ['wasm', 'reference'] as const;

beforeAll(async () => {
  await kiln.init({ backend: 'reference' });
  await kiln.init({ backend: 'wasm' });
});

/** Expects `fn` to throw a KilnError matching `message`, with memory() unchanged. */
function expectCleanFailure(fn: () => unknown, message: RegExp): void {
  const before = kiln.memory();
  let error: unknown = null;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(kiln.KilnError);
  expect((error as Error).message).toMatch(message);
  expect((error as Error).message).toMatch(/memory\.test\.ts:\d+:\d+/); // the user's line
  expect(kiln.memory()).toEqual(before);
}

describe.each(backends)('absurd sizes on %s', (backend) => {
  it('creation functions throw an out-of-memory KilnError naming the op and the bytes', () => {
    expectCleanFailure(() => kiln.zeros([1e5, 1e5], { backend }), /^zeros: out of memory: cannot allocate 40,000,000,000 bytes \(37\.3 GiB\) for 10,000,000,000 float32 elements on the '(wasm|reference)' backend .*live: [\d,]+ bytes/);
    expectCleanFailure(() => kiln.full([1e6, 1e6], 2, { backend, dtype: 'int32' }), /^full: out of memory: cannot allocate 4,000,000,000,000 bytes/);
    expectCleanFailure(() => kiln.ones([2 ** 40], { backend, dtype: 'bool' }), /^ones: out of memory/);
    expectCleanFailure(() => kiln.arange(0, 1e12, 1, { backend, dtype: 'float32' }), /^arange: out of memory: cannot allocate 4,000,000,000,000 bytes/);
    expectCleanFailure(() => kiln.linspace(0, 1, 1e12, { backend }), /^linspace: out of memory/);
    expectCleanFailure(() => kiln.eye(1e6, 1e6, { backend }), /^eye: out of memory/);
    expectCleanFailure(() => kiln.randn([1e5, 1e5], { backend, seed: 1 }), /out of memory: cannot allocate 40,000,000,000 bytes/);
  });

  it('arange past int32 says so instead of wrapping or allocating', () => {
    expectCleanFailure(() => kiln.arange(0, 1e12, 1, { backend }), /^arange: values from 0 to 999999999999 do not fit int32/);
    expectCleanFailure(() => kiln.arange(0, Infinity, 1, { backend }), /^arange: start, end and step must be finite/);
  });

  it('expand and broadcasting ops to a huge shape: a KilnError from the op, before anything is allocated', () => {
    const x = kiln.ones([1, 1], { backend });
    const y = kiln.ones([1e5, 1], { backend });
    const z = kiln.ones([1, 1e5], { backend });
    expectCleanFailure(() => x.expand([1e5, 1e5]), /^expand: out of memory: cannot allocate 40,000,000,000 bytes.*\(inputs: float32\[1, 1\]\)/s);
    expectCleanFailure(() => y.add(z), /^add: out of memory: cannot allocate 40,000,000,000 bytes/);
    expectCleanFailure(() => y.matmul(z), /^matmul: out of memory/);
    // The backend still works, and the same ops at a sane size agree.
    expect(x.expand([2, 3]).toArray()).toEqual([[1, 1, 1], [1, 1, 1]]);
  });

  it('a kernel that throws after allocating its output frees it', () => {
    const x = kiln.randn([4, 3], { backend, seed: 2 });
    const index = kiln.tensor([[0, 9, 1]], { backend, dtype: 'int32' });
    const src = kiln.ones([1, 3], { backend });
    expectCleanFailure(() => x.gather(0, index), /^gather: index 9 .* out of range/);
    expectCleanFailure(() => x.scatterAdd(0, index, src), /^scatterAdd: index 9 .* out of range/);
    const classes = kiln.tensor([0, 9], { backend, dtype: 'int32' });
    expectCleanFailure(() => classes.oneHot(4), /^oneHot: class index 9/);
  });
});
