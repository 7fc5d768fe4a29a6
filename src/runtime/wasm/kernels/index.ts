// Each family registers its native kernels on import.
import './elementwise.js';
