import { registerNativeKernels } from '../nativeKernels.js';
registerNativeKernels({});
