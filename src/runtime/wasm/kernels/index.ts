// Each family registers its native kernels on import.
import './elementwise.js';
import './reduce.js';
import './shape.js';
import './linalg.js';
import './nn.js';
import './random.js';
import './linear.js';
import './recurrentGatesKernel.js';
import './recurrentSequence.js';
import './nhwc.js';
import './fusedElementwiseKernel.js';
import './normalization.js';
import './logSoftmaxKernel.js';
