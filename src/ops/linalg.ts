import { registerOp } from '../ir/index.js';
import type { AnyTensor } from './tensorLike.js';
void registerOp; export type { AnyTensor };
