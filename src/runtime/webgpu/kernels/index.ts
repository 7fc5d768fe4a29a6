// Every webgpu kernel file, imported for its registrations (one line per file).
import './elementwise.js';
import './matmul.js';
import './conv.js';
import './pool.js';
