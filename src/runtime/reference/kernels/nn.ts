import { registerArrayKernels } from '../../arrayKernels.js';
registerArrayKernels({});
