"""Linear algebra: matmul (every rank combination, broadcast batches), transpose, permute."""
import torch

from cases.common import T, case, randint, randn


def reverse_axes(x):
    return x.permute(*reversed(range(x.dim())))


def mm(name, a, b, method=False):
    return case(name, "matmul", [a, b], torch.matmul, method=method, k=a.shape[-1])


CASES = [
    # NumPy rank rules
    mm("matmul_1d_1d_dot", randn(5), randn(5)),
    mm("matmul_1d_2d", randn(3), randn(3, 5)),
    mm("matmul_2d_1d", randn(4, 3), randn(3)),
    mm("matmul_2d_2d", randn(3, 4), randn(4, 5)),
    mm("matmul_2d_2d_method", randn(2, 6), randn(6, 3), method=True),
    mm("matmul_1d_3d", randn(4), randn(2, 4, 3)),
    mm("matmul_3d_1d", randn(2, 3, 4), randn(4)),
    mm("matmul_3d_2d", randn(2, 3, 4), randn(4, 5)),
    mm("matmul_2d_3d", randn(3, 4), randn(2, 4, 5)),
    mm("matmul_3d_3d", randn(2, 3, 4), randn(2, 4, 5)),
    mm("matmul_broadcast_2x1x3x4_3x4x5", randn(2, 1, 3, 4), randn(3, 4, 5)),
    mm("matmul_broadcast_b_batch1", randn(2, 3, 4), randn(1, 4, 5)),
    mm("matmul_broadcast_both", randn(3, 1, 2, 4), randn(1, 2, 4, 3)),
    mm("matmul_4d", randn(2, 3, 4, 5), randn(2, 3, 5, 2)),
    mm("matmul_5d_1d", randn(2, 1, 2, 3, 4), randn(4)),
    mm("matmul_outer_k1", randn(4, 1), randn(1, 3)),
    # big enough for the wasm backend's XNNPACK paths (batched slices, broadcast B reuse)
    mm("matmul_2d_large_nonsquare", randn(33, 40), randn(40, 17)),
    mm("matmul_3d_3d_large", randn(3, 16, 16), randn(3, 16, 20)),
    mm("matmul_broadcast_large", randn(2, 3, 16, 16), randn(3, 16, 20)),
    mm("matmul_2d_3d_large", randn(16, 16), randn(3, 16, 20)),
    mm("matmul_3d_2d_large", randn(4, 16, 24), randn(24, 20)),
    # int64 in torch, int32 in Kiln (exact for these magnitudes)
    case("matmul_int32", "matmul", [randint(-5, 5, 3, 4), randint(-5, 5, 4, 2)], torch.matmul, k=4),
    case("matmul_int32_batched_1d", "matmul", [randint(-5, 5, 2, 3, 4), randint(-5, 5, 4)], torch.matmul, k=4),
    # transpose: no args reverses all axes, two args swap
    case("transpose_2d", "transpose", [randn(3, 4)], lambda x: x.t()),
    case("transpose_3d_reverse", "transpose", [randn(2, 3, 4)], reverse_axes),
    case("transpose_4d_reverse_method", "transpose", [randn(2, 3, 4, 5)], reverse_axes, method=True),
    case("transpose_1d", "transpose", [randn(4)], lambda x: x),
    case("transpose_swap_0_2", "transpose", [randn(2, 3, 4)], lambda x: x.transpose(0, 2), args=[T(0), 0, 2]),
    case("transpose_swap_neg", "transpose", [randn(2, 3, 4)], lambda x: x.transpose(-1, -2), args=[T(0), -1, -2]),
    case("transpose_swap_method", "transpose", [randn(2, 3, 4)], lambda x: x.transpose(1, 0), args=[T(0), 1, 0], method=True),
    case("transpose_same_dim", "transpose", [randn(2, 3)], lambda x: x.transpose(1, 1), args=[T(0), 1, -1]),
    case("transpose_size1_axes", "transpose", [randn(1, 3, 1, 4)], lambda x: x.transpose(0, 2), args=[T(0), 0, 2]),
    case("transpose_size1_mixed", "transpose", [randn(1, 3, 1, 4)], lambda x: x.transpose(1, 3), args=[T(0), 1, 3]),
    case("transpose_large", "transpose", [randn(17, 33)], lambda x: x.t()),
    case("transpose_int32", "transpose", [randint(-9, 9, 3, 5)], lambda x: x.t()),
    case("transpose_bool", "transpose", [randn(2, 3, 4) > 0], lambda x: x.transpose(0, 2), args=[T(0), 0, 2]),
    # permute
    case("permute_3d", "permute", [randn(2, 3, 4)], lambda x: x.permute(2, 0, 1), args=[T(0), [2, 0, 1]]),
    case("permute_3d_method", "permute", [randn(2, 3, 4)], lambda x: x.permute(1, 2, 0), args=[T(0), 1, 2, 0], method=True),
    case("permute_4d", "permute", [randn(2, 3, 4, 5)], lambda x: x.permute(0, 2, 3, 1), args=[T(0), [0, 2, 3, 1]]),
    case("permute_4d_mergeable", "permute", [randn(2, 3, 4, 5)], lambda x: x.permute(0, 1, 3, 2), args=[T(0), [0, 1, 3, 2]]),
    case("permute_5d", "permute", [randn(2, 3, 2, 4, 3)], lambda x: x.permute(4, 2, 0, 3, 1), args=[T(0), [4, 2, 0, 3, 1]]),
    case("permute_negative_dims", "permute", [randn(2, 3, 4)], lambda x: x.permute(-1, 0, 1), args=[T(0), [-1, 0, 1]]),
    case("permute_identity", "permute", [randn(2, 3)], lambda x: x.permute(0, 1), args=[T(0), [0, 1]]),
    case("permute_int32", "permute", [randint(-9, 9, 2, 3, 4)], lambda x: x.permute(1, 2, 0), args=[T(0), [1, 2, 0]]),
    case("permute_bool", "permute", [randn(2, 3, 4) > 0], lambda x: x.permute(2, 1, 0), args=[T(0), [2, 1, 0]]),
]


# ---- factorizations and solves (kiln.linalg) ---------------------------------------
# Well-conditioned inputs: SPD matrices M·Mᵀ + n·I, general matrices with n·I added.
# Their inputs come from a generator of their own, and the cases are appended last, so
# the cases above keep their inputs and loss weights.
_own = torch.Generator().manual_seed(4321)


def lrandn(*shape):
    return torch.randn(*shape, generator=_own, dtype=torch.float64)


def lrandint(low, high, *shape):
    return torch.randint(low, high, shape, generator=_own, dtype=torch.int64)


def spd(*shape):
    n = shape[-1]
    m = lrandn(*shape)
    return m @ m.transpose(-1, -2) + n * torch.eye(n, dtype=torch.float64)


def general(*shape):
    return lrandn(*shape) + shape[-1] * torch.eye(shape[-1], dtype=torch.float64)


def lower_factor(n):
    """A Cholesky factor: lower triangular with a positive diagonal, zero above it."""
    return torch.linalg.cholesky(spd(n, n))


def lstsq_ref(a, b):
    """A⁺·B for a full-rank A: (AᵀA)⁻¹AᵀB when tall, Aᵀ(AAᵀ)⁻¹B when wide."""
    at = a.transpose(-1, -2)
    if a.shape[-2] >= a.shape[-1]:
        return torch.linalg.solve(at @ a, at @ b)
    return at @ torch.linalg.solve(a @ at, b)


def tri_case(name, op, x, diagonal=None):
    fn = getattr(torch, op)
    args = [T(0)] if diagonal is None else [T(0), diagonal]
    return case(name, op, [x], lambda x: fn(x, diagonal=diagonal or 0), args=args)


LINALG_CASES = [
    tri_case("tril_2d", "tril", lrandn(4, 5)),
    tri_case("tril_neg1", "tril", lrandn(3, 4), -1),
    tri_case("tril_pos2_batched", "tril", lrandn(2, 3, 4), 2),
    tri_case("tril_int32", "tril", lrandint(-9, 9, 3, 3)),
    tri_case("triu_2d", "triu", lrandn(5, 4)),
    tri_case("triu_pos1", "triu", lrandn(4, 4), 1),
    tri_case("triu_neg2_batched", "triu", lrandn(2, 4, 3), -2),
    tri_case("triu_bool", "triu", lrandn(3, 3) > 0),
    # cholesky (inputs symmetric: Kiln reads (A + Aᵀ)/2, torch the lower triangle)
    case("cholesky_3x3", "linalg.cholesky", [spd(3, 3)], torch.linalg.cholesky, k=3),
    case("cholesky_1x1", "linalg.cholesky", [spd(1, 1)], torch.linalg.cholesky),
    case("cholesky_batched", "linalg.cholesky", [spd(2, 5, 5)], torch.linalg.cholesky, k=5),
    case("cholesky_6x6", "linalg.cholesky", [spd(6, 6)], torch.linalg.cholesky, k=6),
    # triangular solves (only A's triangle is read; torch's gradient is masked to it)
    case("solveTriangular_lower", "linalg.solveTriangular", [general(4, 4), lrandn(4, 3)],
         lambda a, b: torch.linalg.solve_triangular(a, b, upper=False), args=[T(0), T(1), {"upper": False}], k=4),
    case("solveTriangular_upper", "linalg.solveTriangular", [general(4, 4), lrandn(4, 2)],
         lambda a, b: torch.linalg.solve_triangular(a, b, upper=True), args=[T(0), T(1), {"upper": True}], k=4),
    case("solveTriangular_broadcast", "linalg.solveTriangular", [general(2, 1, 3, 3), lrandn(4, 3, 2)],
         lambda a, b: torch.linalg.solve_triangular(a, b, upper=False), args=[T(0), T(1), {"upper": False}], k=3),
    # general solves
    case("solve_2d", "linalg.solve", [general(4, 4), lrandn(4, 3)], torch.linalg.solve, k=4),
    case("solve_vector", "linalg.solve", [general(3, 3), lrandn(3)], torch.linalg.solve, k=3),
    case("solve_batched", "linalg.solve", [general(2, 3, 3), lrandn(2, 3, 2)], torch.linalg.solve, k=3),
    case("solve_broadcast_a", "linalg.solve", [general(3, 3), lrandn(2, 3, 2)], torch.linalg.solve, k=3),
    case("solve_broadcast_b", "linalg.solve", [general(2, 4, 4), lrandn(4, 1)], torch.linalg.solve, k=4),
    case("solve_pivoting", "linalg.solve", [torch.tensor([[1e-3, 2.0, 1.0], [3.0, 1.0, 0.5], [1.0, 4.0, 2.5]], dtype=torch.float64), lrandn(3, 2)],
         torch.linalg.solve, k=3),
    # choleskySolve (a composite of two triangular solves; L's upper triangle is not read)
    case("choleskySolve_2d", "linalg.choleskySolve", [lrandn(4, 2), lower_factor(4)],
         lambda b, l: torch.cholesky_solve(b, l.tril()), k=4),
    case("choleskySolve_vector", "linalg.choleskySolve", [lrandn(3), lower_factor(3)],
         lambda b, l: torch.cholesky_solve(b.unsqueeze(-1), l.tril()).squeeze(-1), k=3),
    # least squares: tall (residual), square, wide (minimum norm), batched with broadcast.
    # torch.linalg.lstsq (LAPACK gelsy) differs in the last bits from run to run, so the
    # golden values come from the normal equations, which for these full-rank, well-
    # conditioned A are the same function (its gradient included) within 1e-14.
    case("lstsq_tall", "linalg.lstsq", [lrandn(6, 3), lrandn(6, 2)], lstsq_ref, k=6),
    case("lstsq_tall_vector", "linalg.lstsq", [lrandn(5, 2), lrandn(5)], lambda a, b: lstsq_ref(a, b.unsqueeze(-1)).squeeze(-1), k=5),
    case("lstsq_square", "linalg.lstsq", [general(3, 3), lrandn(3, 2)], lstsq_ref, k=3),
    case("lstsq_wide", "linalg.lstsq", [lrandn(2, 4), lrandn(2, 3)], lstsq_ref, k=4),
    case("lstsq_batched_broadcast", "linalg.lstsq", [lrandn(2, 5, 3), lrandn(5, 2)], lstsq_ref, k=5),
]

CASES += LINALG_CASES
