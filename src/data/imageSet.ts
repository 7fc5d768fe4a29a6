import type { Tensor } from '../eager/index.js';

/** Images and their class labels, as a loader returns them. */
export interface LabeledImages {
  /** `[N, 1, 28, 28]` float32 in `[0, 1]` (pixel / 255). */
  images: Tensor;
  /** `[N]` int32 class indices. */
  labels: Tensor;
}
