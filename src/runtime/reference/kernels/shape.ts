import type { ArrayKernel } from '../../backend.js';
import { registerArrayKernels } from '../../arrayKernels.js';
import { broadcastIndex } from './broadcast.js';

const expand: ArrayKernel = ([x], _attrs, [out]) => {
  const o = out!.data, a = x!.data;
  const idx = broadcastIndex(x!.shape, out!.shape, o.length);
  if (idx === 'scalar') o.fill(a[0]!);
  else if (idx === 'same') o.set(a);
  else for (let i = 0; i < o.length; i++) o[i] = a[idx[i]!]!;
};

registerArrayKernels({ expand });
