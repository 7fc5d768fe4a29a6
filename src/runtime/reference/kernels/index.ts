// Each family registers its portable kernels on import.
import './elementwise.js';
