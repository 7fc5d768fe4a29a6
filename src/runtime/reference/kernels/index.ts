// Each family registers its portable kernels on import.
import './elementwise.js';
import './reduce.js';
import './shape.js';
import './linalg.js';
import './nn.js';
import './random.js';
import './linalgSolve.js';
import './linear.js';
import './normalization.js';
import './recurrent.js';
import './recurrentGates.js';
import './nhwc.js';
import './fused.js';
