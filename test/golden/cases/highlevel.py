"""High-level ops with decompositions: linear, batchNorm (training and inference forms), layerNorm."""
import torch
import torch.nn.functional as F

from cases.common import T, case, rand, randn


def lin(name, x, w, b=None):
    if b is None:
        return case(name, "linear", [x, w], lambda x, w: F.linear(x, w), k=w.shape[1])
    return case(name, "linear", [x, w, b], F.linear, k=w.shape[1])


def bn_train(name, x, affine=True):
    c = x.shape[1]
    k = x.numel() // c
    if not affine:
        return case(name, "batchNorm", [x], lambda x: F.batch_norm(x, None, None, training=True),
                    args=[T(0), None, None, {"training": True}], k=k)
    w, b = randn(c, shift=1.0), randn(c)
    return case(name, "batchNorm", [x, w, b], lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                args=[T(0), None, None, {"weight": T(1), "bias": T(2), "training": True}], k=k)


def bn_eval(name, x, eps=1e-5):
    c = x.shape[1]
    rm, rv, w, b = randn(c), rand(c, low=0.5, high=2.0), randn(c), randn(c)
    return case(name, "batchNorm", [x, rm, rv, w, b], lambda x, rm, rv, w, b: F.batch_norm(x, rm, rv, w, b, training=False, eps=eps),
                args=[T(0), T(1), T(2), {"weight": T(3), "bias": T(4), "eps": eps}], grad=[True, False, False, True, True])


def ln(name, x, shape, affine=True, bias=True):
    k = 1
    for d in shape:
        k *= d
    if not affine:
        return case(name, "layerNorm", [x], lambda x: F.layer_norm(x, shape), args=[T(0), list(shape)], k=k)
    w = randn(*shape, shift=1.0)
    if not bias:
        return case(name, "layerNorm", [x, w], lambda x, w: F.layer_norm(x, shape, w), args=[T(0), list(shape), {"weight": T(1)}], k=k)
    b = randn(*shape)
    return case(name, "layerNorm", [x, w, b], lambda x, w, b: F.layer_norm(x, shape, w, b), args=[T(0), list(shape), {"weight": T(1), "bias": T(2)}], k=k)


CASES = [
    # linear: x·Wᵀ + b, any leading dims; sizes big enough for XNNPACK's paths on wasm
    lin("linear_2d", randn(4, 5), randn(3, 5), randn(3)),
    lin("linear_no_bias", randn(4, 5), randn(3, 5)),
    lin("linear_1d_input", randn(5), randn(3, 5), randn(3)),
    lin("linear_3d_input", randn(2, 3, 6), randn(4, 6), randn(4)),
    lin("linear_large", randn(33, 40), randn(17, 40), randn(17)),
    lin("linear_batch1_wide", randn(1, 24), randn(70, 24), randn(70)),
    # batchNorm, training form: batch statistics over all axes but 1
    bn_train("batchNorm_train_2d", randn(6, 4, scale=2.0, shift=0.5)),
    bn_train("batchNorm_train_3d", randn(3, 2, 5)),
    bn_train("batchNorm_train_4d", randn(2, 3, 4, 5, scale=3.0, shift=-1.0)),
    bn_train("batchNorm_train_no_affine", randn(4, 3, 2, 2)),
    bn_train("batchNorm_train_offset", randn(5, 2, 3, shift=100.0)),
    # batchNorm, inference form: running statistics (PyTorch does not differentiate them)
    bn_eval("batchNorm_eval_2d", randn(5, 3)),
    bn_eval("batchNorm_eval_4d", randn(2, 3, 4, 4)),
    bn_eval("batchNorm_eval_eps", randn(3, 2, 5), eps=0.1),
    # layerNorm over the last axes
    ln("layerNorm_last", randn(4, 7), (7,)),
    ln("layerNorm_two_axes", randn(2, 3, 4, scale=2.0, shift=3.0), (3, 4)),
    ln("layerNorm_no_affine", randn(3, 5), (5,), affine=False),
    ln("layerNorm_no_bias", randn(2, 2, 6), (6,), bias=False),
    ln("layerNorm_offset", randn(3, 8, shift=50.0), (8,)),
]
