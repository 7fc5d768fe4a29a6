"""Reductions: sum, mean, max, min, prod, argmax, argmin, variance, logSumExp, softmax, logSoftmax."""
import torch

from cases.common import T, case, rand, randint, randn

KD = {"keepDims": True}


def t(rows):
    return torch.tensor(rows, dtype=torch.float64)


def prod_dims(x, dims, keepdim=False):
    """torch.prod takes one dim: reduce the dims one at a time (highest first)."""
    for d in sorted(dims, reverse=True):
        x = torch.prod(x, d, keepdim=keepdim)
    return x


x34 = randn(3, 4)
x234 = randn(2, 3, 4)
bias = randn(16, 8)  # a bias gradient: sum over the batch axis

# Each reduced slice holds at most two tied extremes: central differences (gradcheck)
# then agree with PyTorch's even split (1/2 each).
ties = t([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, -1.0, 0.5], [-4.0, 1.5, -4.0, 0.25]])
ties_all = t([[1.0, 3.0, 0.5], [3.0, -2.0, 0.0]])
ties3d = t([[[1.0, 2.0], [2.0, 0.5], [0.0, -1.0]], [[-1.0, 2.0], [0.5, 0.5], [1.5, -3.0]]])
# Row 0: no zero; row 1: one zero; row 2: two zeros.
with_zeros = t([[0.5, 1.5, -2.0, 1.2], [1.3, 0.0, 0.7, -1.1], [0.0, 2.0, 0.0, 0.9]])
one_zero = t([[0.8, -1.2, 0.0], [1.5, 0.6, -0.9]])
big = randn(3, 5, scale=3.0, shift=1000.0)
big_neg = randn(2, 4, scale=3.0, shift=-1000.0)

CASES = [
    # sum
    case("sum_all", "sum", [x34], torch.sum, k=12),
    case("sum_axis0", "sum", [x34], lambda a: torch.sum(a, 0), args=[T(0), 0], k=3),
    case("sum_axis_neg1", "sum", [x34], lambda a: torch.sum(a, -1), args=[T(0), -1], k=4),
    case("sum_keepDims", "sum", [x34], lambda a: torch.sum(a, 1, keepdim=True), args=[T(0), 1, KD], k=4),
    case("sum_3d_axes_0_2", "sum", [x234], lambda a: torch.sum(a, (0, 2)), args=[T(0), [0, 2]], k=8),
    case("sum_3d_axes_neg_keepDims", "sum", [x234], lambda a: torch.sum(a, (-1, 0), keepdim=True), args=[T(0), [-1, 0], KD], k=8),
    case("sum_3d_middle", "sum", [x234], lambda a: torch.sum(a, 1), args=[T(0), 1], k=3),
    case("sum_3d_all_keepDims", "sum", [x234], lambda a: torch.sum(a, (0, 1, 2), keepdim=True), args=[T(0), None, KD], k=24),
    case("sum_bias_grad", "sum", [bias], lambda a: torch.sum(a, 0), args=[T(0), 0], k=16),
    case("sum_method", "sum", [x34], lambda a: a.sum(1), args=[T(0), 1], method=True, k=4),
    case("sum_int32", "sum", [randint(-5, 5, 3, 4).int()], lambda a: torch.sum(a, 1), args=[T(0), 1]),
    case("sum_bool", "sum", [randint(0, 2, 3, 4).bool()], lambda a: torch.sum(a, 0), args=[T(0), 0]),
    # mean (composite: sum / n)
    case("mean_all", "mean", [x34], torch.mean, k=12),
    case("mean_axis1", "mean", [x34], lambda a: torch.mean(a, 1), args=[T(0), 1], k=4),
    case("mean_3d_axes_keepDims", "mean", [x234], lambda a: torch.mean(a, (0, -1), keepdim=True), args=[T(0), [0, -1], KD], k=8),
    case("mean_method_neg_axis", "mean", [x234], lambda a: a.mean(-2), args=[T(0), -2], method=True, k=3),
    # max / min (values; gradient split among ties like torch.amax / amin)
    case("max_all", "max", [x34], torch.amax),
    case("max_axis1", "max", [x34], lambda a: torch.amax(a, 1), args=[T(0), 1]),
    case("max_axis_neg2_keepDims", "max", [x234], lambda a: torch.amax(a, -2, keepdim=True), args=[T(0), -2, KD]),
    case("max_3d_axes_0_2", "max", [x234], lambda a: torch.amax(a, (0, 2)), args=[T(0), [0, 2]]),
    case("max_ties_axis1", "max", [ties], lambda a: torch.amax(a, 1), args=[T(0), 1]),
    case("max_ties_all", "max", [ties_all], torch.amax),
    case("max_ties_3d_axes", "max", [ties3d], lambda a: torch.amax(a, (1, 2), keepdim=True), args=[T(0), [1, 2], KD]),
    case("max_int32", "max", [randint(-9, 9, 3, 4).int()], lambda a: torch.amax(a, 0), args=[T(0), 0]),
    case("max_bool", "max", [randint(0, 2, 3, 4).bool()], lambda a: torch.amax(a, 1), args=[T(0), 1]),
    case("max_method", "max", [x234], lambda a: a.amax(0), args=[T(0), 0], method=True),
    case("min_all", "min", [x34], torch.amin),
    case("min_axis0", "min", [x34], lambda a: torch.amin(a, 0), args=[T(0), 0]),
    case("min_3d_axes_keepDims", "min", [x234], lambda a: torch.amin(a, (0, 1), keepdim=True), args=[T(0), [0, 1], KD]),
    case("min_ties_axis1", "min", [ties], lambda a: torch.amin(a, 1), args=[T(0), 1]),
    case("min_ties_axis0", "min", [ties3d], lambda a: torch.amin(a, 0), args=[T(0), 0]),
    case("min_int32", "min", [randint(-9, 9, 2, 5).int()], lambda a: torch.amin(a, -1), args=[T(0), -1]),
    # prod (gradient correct at zeros)
    case("prod_all", "prod", [rand(3, 4, low=0.5, high=1.5)], torch.prod, k=12),
    case("prod_axis1", "prod", [rand(3, 4, low=0.5, high=1.5)], lambda a: torch.prod(a, 1), args=[T(0), 1], k=4),
    case("prod_zeros_axis1", "prod", [with_zeros], lambda a: torch.prod(a, 1), args=[T(0), 1], k=4),
    case("prod_zeros_axis0_keepDims", "prod", [with_zeros], lambda a: torch.prod(a, 0, keepdim=True), args=[T(0), 0, KD], k=3),
    case("prod_one_zero_all", "prod", [one_zero], torch.prod, k=6),
    case("prod_3d_axes_0_2", "prod", [rand(2, 3, 4, low=0.5, high=1.5)], lambda a: prod_dims(a, (0, 2)), args=[T(0), [0, 2]], k=8),
    case("prod_3d_neg_keepDims", "prod", [rand(2, 3, 4, low=-1.5, high=1.5)], lambda a: prod_dims(a, (1, 2), keepdim=True), args=[T(0), [-1, -2], KD], k=12),
    case("prod_int32", "prod", [randint(-4, 5, 3, 4).int()], lambda a: torch.prod(a, 1), args=[T(0), 1]),
    case("prod_bool", "prod", [randint(0, 2, 3, 4).bool()], lambda a: torch.prod(a, 0), args=[T(0), 0]),
    # argmax / argmin (int32, first occurrence, not differentiable)
    case("argmax_all", "argmax", [x34], torch.argmax),
    case("argmax_all_keepDims", "argmax", [x234], lambda a: torch.argmax(a, keepdim=True), args=[T(0), None, KD]),
    case("argmax_axis1", "argmax", [x34], lambda a: torch.argmax(a, 1), args=[T(0), 1]),
    case("argmax_axis0_3d", "argmax", [x234], lambda a: torch.argmax(a, 0), args=[T(0), 0]),
    case("argmax_neg_axis_keepDims", "argmax", [x234], lambda a: torch.argmax(a, -2, keepdim=True), args=[T(0), -2, KD]),
    case("argmax_ties", "argmax", [ties], lambda a: torch.argmax(a, 1), args=[T(0), 1]),
    case("argmax_ties_all", "argmax", [ties_all], torch.argmax),
    case("argmax_ties_axis0", "argmax", [t([[1.0, 5.0, 2.0], [1.0, 5.0, 2.0], [0.0, 5.0, 2.0]])], lambda a: torch.argmax(a, 0), args=[T(0), 0]),
    case("argmax_int32", "argmax", [randint(-3, 3, 4, 5).int()], lambda a: torch.argmax(a, 1), args=[T(0), 1]),
    case("argmax_method", "argmax", [x34], lambda a: a.argmax(-1), args=[T(0), -1], method=True),
    case("argmin_all", "argmin", [x34], torch.argmin),
    case("argmin_axis1", "argmin", [x234], lambda a: torch.argmin(a, 1), args=[T(0), 1]),
    case("argmin_ties", "argmin", [ties], lambda a: torch.argmin(a, 1), args=[T(0), 1]),
    case("argmin_ties_axis0_keepDims", "argmin", [t([[3.0, 0.0, 2.0], [3.0, 0.0, -2.0], [3.0, 1.0, -2.0]])], lambda a: torch.argmin(a, 0, keepdim=True), args=[T(0), 0, KD]),
    case("argmin_int32_flat", "argmin", [randint(-3, 3, 3, 4).int()], torch.argmin),
    # variance (composite; unbiased by default)
    case("variance_all", "variance", [x34], torch.var, k=12),
    case("variance_axis1", "variance", [x34], lambda a: torch.var(a, 1), args=[T(0), 1], k=4),
    case("variance_biased", "variance", [x34], lambda a: torch.var(a, 0, unbiased=False), args=[T(0), 0, {"unbiased": False}], k=3),
    case("variance_3d_axes_keepDims", "variance", [x234], lambda a: torch.var(a, (0, 2), keepdim=True), args=[T(0), [0, 2], KD], k=8),
    case("variance_neg_axis_biased_keepDims", "variance", [x234], lambda a: torch.var(a, -1, unbiased=False, keepdim=True), args=[T(0), -1, {"keepDims": True, "unbiased": False}], k=4),
    case("variance_method", "variance", [x234], lambda a: a.var(), args=[T(0)], method=True, k=24),
    # logSumExp (stable)
    case("logSumExp_all", "logSumExp", [x34], lambda a: torch.logsumexp(a, (0, 1)), k=12),
    case("logSumExp_axis1", "logSumExp", [x34], lambda a: torch.logsumexp(a, 1), args=[T(0), 1], k=4),
    case("logSumExp_neg_axis_keepDims", "logSumExp", [x234], lambda a: torch.logsumexp(a, -2, keepdim=True), args=[T(0), -2, KD], k=3),
    case("logSumExp_3d_axes", "logSumExp", [x234], lambda a: torch.logsumexp(a, (0, 2)), args=[T(0), [0, 2]], k=8),
    case("logSumExp_large", "logSumExp", [big], lambda a: torch.logsumexp(a, 1), args=[T(0), 1], k=5),
    case("logSumExp_large_all", "logSumExp", [big], lambda a: torch.logsumexp(a, (0, 1)), k=15),
    case("logSumExp_large_negative", "logSumExp", [big_neg], lambda a: torch.logsumexp(a, 0), args=[T(0), 0], k=2),
    case("logSumExp_int32", "logSumExp", [randint(-3, 3, 3, 4).int()], lambda a: torch.logsumexp(a, 1), args=[T(0), 1], k=4),
    case("logSumExp_method", "logSumExp", [x34], lambda a: a.logsumexp(0), args=[T(0), 0], method=True, k=3),
    # softmax / logSoftmax (own primitives)
    case("softmax_default", "softmax", [x34], lambda a: torch.softmax(a, -1), k=4),
    case("softmax_axis0", "softmax", [x34], lambda a: torch.softmax(a, 0), args=[T(0), 0], k=3),
    case("softmax_3d_middle", "softmax", [x234], lambda a: torch.softmax(a, 1), args=[T(0), 1], k=3),
    case("softmax_3d_last", "softmax", [x234], lambda a: torch.softmax(a, 2), args=[T(0), 2], k=4),
    case("softmax_large", "softmax", [big], lambda a: torch.softmax(a, -1), k=5),
    case("softmax_large_axis0", "softmax", [big_neg], lambda a: torch.softmax(a, 0), args=[T(0), 0], k=2),
    case("softmax_method", "softmax", [x234], lambda a: a.softmax(0), args=[T(0), 0], method=True, k=2),
    case("logSoftmax_default", "logSoftmax", [x34], lambda a: torch.log_softmax(a, -1), k=4),
    case("logSoftmax_axis0", "logSoftmax", [x34], lambda a: torch.log_softmax(a, 0), args=[T(0), 0], k=3),
    case("logSoftmax_3d_middle", "logSoftmax", [x234], lambda a: torch.log_softmax(a, -2), args=[T(0), -2], k=3),
    case("logSoftmax_large", "logSoftmax", [big], lambda a: torch.log_softmax(a, 1), args=[T(0), 1], k=5),
    case("logSoftmax_large_negative", "logSoftmax", [big_neg], lambda a: torch.log_softmax(a, -1), k=4),
    case("logSoftmax_method", "logSoftmax", [x234], lambda a: a.log_softmax(-1), args=[T(0), -1], method=True, k=4),
]
