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
