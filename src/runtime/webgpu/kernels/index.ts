// Every webgpu kernel file, imported for its registrations (one line per file).
import './elementwise.js';
import './reduce.js';
import './shape.js';
import './softmax.js';
import './random.js';
import './matmul.js';
import './conv.js';
import './pool.js';
import './fusedElementwise.js';
import './linalgSolve.js';
