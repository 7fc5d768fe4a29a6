// `kiln.linalg`: factorizations and solves (PyTorch's `torch.linalg` names, camelCased).
export { cholesky, choleskySolve, lstsq, solve, solveTriangular } from './functional/linalgSolve.js';
