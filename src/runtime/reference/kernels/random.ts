// Portable kernels of the random ops (src/ops/random.ts): Philox4x32-10 streams
// (src/runtime/philox.ts), the same as eager `kiln.rand`/`randn`/`randint`/`bernoulli`.
// Each maps chunks of the stream's words straight into the output (no stream-sized
// Float64Array in between): the wasm backend runs these only for dtypes its generated
// kernels (src/runtime/wasm/kernels/philoxKernel.ts) leave out.
import type { Attrs } from '../../../ir/index.js';
import type { ArrayKernel } from '../../backend.js';
import { registerArrayKernels } from '../../arrayKernels.js';
import { philoxChunks, philoxNormalInto, streamOfKey, uniformOfWord } from '../../philox.js';

const num = (attrs: Attrs, k: string): number => attrs[k] as number;

registerArrayKernels({
  randomUniform: ([key], attrs, [out]) => {
    const o = out!.data, { seed, offset } = streamOfKey(key!.data);
    const low = num(attrs, 'low'), range = num(attrs, 'high') - low;
    const boolOut = out!.dtype === 'bool';
    philoxChunks(seed, offset, o.length, (w, start, n) => {
      for (let j = 0; j < n; j++) {
        const v = low + range * uniformOfWord(w[j]!);
        o[start + j] = boolOut ? (v ? 1 : 0) : v;
      }
    });
  },
  randomNormal: ([key], attrs, [out]) => {
    const { seed, offset } = streamOfKey(key!.data);
    philoxNormalInto(seed, offset, out!.data, num(attrs, 'mean'), num(attrs, 'std'));
  },
  randomInt: ([key], attrs, [out]) => {
    const o = out!.data, { seed, offset } = streamOfKey(key!.data);
    const low = num(attrs, 'low'), range = num(attrs, 'high') - low;
    const boolOut = out!.dtype === 'bool';
    // Multiply-shift maps a uint32 to [0, range) with bias below 2^-32·range.
    philoxChunks(seed, offset, o.length, (w, start, n) => {
      for (let j = 0; j < n; j++) {
        const v = low + Math.floor((w[j]! * range) / 4294967296);
        o[start + j] = boolOut ? (v ? 1 : 0) : v;
      }
    });
  },
  bernoulli: ([probs, key], _attrs, [out]) => {
    const p = probs!.data, o = out!.data, { seed, offset } = streamOfKey(key!.data);
    philoxChunks(seed, offset, o.length, (w, start, n) => {
      for (let j = 0; j < n; j++) o[start + j] = uniformOfWord(w[j]!) < p[start + j]! ? 1 : 0;
    });
  },
} satisfies Record<string, ArrayKernel>);
