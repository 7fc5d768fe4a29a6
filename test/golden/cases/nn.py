"""NN primitives in NCHW: conv2d, convTranspose2d, maxPool2d, avgPool2d (dropout is random: test/nn.dropout.test.ts)."""
import torch
import torch.nn.functional as F

from cases.common import T, away_from, case, rand, randint, randn


def conv(name, x, w, b=None, groups=1, **opts):
    """conv2d case; opts are Kiln option names (stride, padding, dilation)."""
    k = w.shape[1] * w.shape[2] * w.shape[3]
    kw = dict(opts)
    if groups != 1:
        kw["groups"] = groups
    tkw = {"stride": opts.get("stride", 1), "padding": opts.get("padding", 0), "dilation": opts.get("dilation", 1), "groups": groups}
    if b is None:
        return case(name, "conv2d", [x, w], lambda x, w: F.conv2d(x, w, None, **tkw), args=[T(0), T(1), None, kw], k=k)
    return case(name, "conv2d", [x, w, b], lambda x, w, b: F.conv2d(x, w, b, **tkw), args=[T(0), T(1), T(2), kw], k=k)


def convt(name, x, w, b=None, groups=1, **opts):
    """convTranspose2d case; opts are Kiln option names (stride, padding, outputPadding, dilation)."""
    k = (x.shape[-3] // groups) * w.shape[2] * w.shape[3]
    kw = dict(opts)
    if groups != 1:
        kw["groups"] = groups
    tkw = {"stride": opts.get("stride", 1), "padding": opts.get("padding", 0), "output_padding": opts.get("outputPadding", 0),
           "dilation": opts.get("dilation", 1), "groups": groups}
    if b is None:
        return case(name, "convTranspose2d", [x, w], lambda x, w: F.conv_transpose2d(x, w, None, **tkw), args=[T(0), T(1), None, kw], k=k)
    return case(name, "convTranspose2d", [x, w, b], lambda x, w, b: F.conv_transpose2d(x, w, b, **tkw), args=[T(0), T(1), T(2), kw], k=k)


def maxpool(name, x, kernel, **opts):
    tkw = {"stride": opts.get("stride"), "padding": opts.get("padding", 0)}
    return case(name, "maxPool2d", [x], lambda x: F.max_pool2d(x, kernel, **tkw), args=[T(0), kernel, opts])


def avgpool(name, x, kernel, **opts):
    tkw = {"stride": opts.get("stride"), "padding": opts.get("padding", 0), "count_include_pad": opts.get("countIncludePad", True)}
    kk = kernel * kernel if isinstance(kernel, int) else kernel[0] * kernel[1]
    return case(name, "avgPool2d", [x], lambda x: F.avg_pool2d(x, kernel, **tkw), args=[T(0), kernel, opts], k=kk)


CASES = [
    # conv2d
    conv("conv2d_basic", randn(2, 3, 7, 7), randn(4, 3, 3, 3), randn(4)),
    conv("conv2d_stride2_pad1", randn(2, 3, 8, 8), randn(4, 3, 3, 3), randn(4), stride=2, padding=1),
    conv("conv2d_stride3_remainder", randn(2, 2, 8, 9), randn(3, 2, 3, 3), randn(3), stride=3),
    conv("conv2d_same_odd", randn(1, 2, 6, 6), randn(3, 2, 3, 3), randn(3), padding="same"),
    conv("conv2d_same_even", randn(2, 2, 6, 7), randn(3, 2, 4, 2), randn(3), padding="same"),
    conv("conv2d_same_dilation2", randn(1, 2, 7, 6), randn(2, 2, 3, 2), None, padding="same", dilation=2),
    conv("conv2d_valid", randn(1, 3, 5, 6), randn(2, 3, 3, 3), randn(2), padding="valid"),
    conv("conv2d_dilation2", randn(2, 2, 9, 9), randn(3, 2, 3, 3), randn(3), dilation=2, padding=1),
    conv("conv2d_dilation_stride", randn(1, 2, 11, 10), randn(2, 2, 3, 3), randn(2), dilation=[2, 1], stride=2, padding=[2, 1]),
    conv("conv2d_groups2", randn(2, 4, 6, 6), randn(6, 2, 3, 3), randn(6), groups=2, padding=1),
    conv("conv2d_depthwise", randn(2, 3, 6, 6), randn(3, 1, 3, 3), randn(3), groups=3, padding=1),
    conv("conv2d_depthwise_multiplier2", randn(2, 3, 7, 7), randn(6, 1, 3, 3), None, groups=3, stride=2),
    conv("conv2d_no_bias", randn(2, 3, 6, 6), randn(4, 3, 3, 3)),
    conv("conv2d_nonsquare", randn(2, 3, 9, 7), randn(4, 3, 3, 2), randn(4), stride=[2, 1], padding=[1, 0]),
    conv("conv2d_pointwise", randn(2, 3, 5, 5), randn(5, 3, 1, 1), randn(5)),
    conv("conv2d_unbatched", randn(3, 6, 6), randn(2, 3, 3, 3), randn(2), padding=1),
    conv("conv2d_kernel_covers_input", randn(2, 2, 3, 3), randn(3, 2, 3, 3), randn(3)),
    # convTranspose2d
    convt("convTranspose2d_basic", randn(2, 4, 5, 5), randn(4, 3, 3, 3), randn(3)),
    convt("convTranspose2d_stride2_pad1", randn(2, 4, 4, 4), randn(4, 2, 3, 3), randn(2), stride=2, padding=1),
    convt("convTranspose2d_output_padding", randn(1, 3, 4, 5), randn(3, 2, 3, 3), randn(2), stride=2, padding=1, outputPadding=1),
    convt("convTranspose2d_groups2", randn(2, 4, 4, 4), randn(4, 3, 3, 3), randn(6), groups=2, stride=2),
    convt("convTranspose2d_dilation2", randn(1, 2, 5, 5), randn(2, 3, 3, 3), randn(3), dilation=2, padding=1),
    convt("convTranspose2d_dilation_output_padding", randn(1, 2, 4, 4), randn(2, 2, 3, 3), None, dilation=2, outputPadding=1),
    convt("convTranspose2d_nonsquare", randn(2, 3, 4, 5), randn(3, 2, 3, 2), randn(2), stride=[2, 1], padding=[1, 0], outputPadding=[1, 0]),
    convt("convTranspose2d_no_bias", randn(1, 3, 4, 4), randn(3, 2, 4, 4), None, stride=2, padding=1),
    convt("convTranspose2d_depthwise", randn(2, 3, 4, 4), randn(3, 1, 3, 3), randn(3), groups=3, stride=2, padding=1, outputPadding=1),
    convt("convTranspose2d_unbatched", randn(2, 4, 4), randn(2, 3, 3, 3), randn(3), stride=2),
    # maxPool2d
    maxpool("maxPool2d_k2", randn(2, 3, 6, 6), 2),
    maxpool("maxPool2d_k2_odd_input", randn(1, 2, 7, 7), 2),
    maxpool("maxPool2d_k3_s2", randn(2, 2, 7, 8), 3, stride=2),
    maxpool("maxPool2d_k3_s1_pad1", randn(1, 3, 5, 5), 3, stride=1, padding=1),
    maxpool("maxPool2d_nonsquare", randn(2, 2, 7, 6), [2, 3], stride=[2, 1], padding=[1, 1]),
    maxpool("maxPool2d_negative_inputs_pad", randn(1, 2, 4, 4, shift=-5.0), 2, stride=1, padding=1),
    maxpool("maxPool2d_unbatched", randn(2, 6, 6), 2),
    # avgPool2d
    avgpool("avgPool2d_k2", randn(2, 3, 6, 6), 2),
    avgpool("avgPool2d_k3_s2_pad1", randn(2, 2, 7, 7), 3, stride=2, padding=1),
    avgpool("avgPool2d_k3_s2_pad1_exclude_pad", randn(2, 2, 7, 7), 3, stride=2, padding=1, countIncludePad=False),
    avgpool("avgPool2d_nonsquare", randn(1, 2, 6, 7), [3, 2], stride=[1, 2], padding=[1, 1]),
    avgpool("avgPool2d_nonsquare_exclude_pad", randn(1, 2, 6, 7), [3, 2], stride=[1, 2], padding=[1, 1], countIncludePad=False),
    avgpool("avgPool2d_k3_s1", randn(2, 3, 5, 5), 3, stride=1),
    avgpool("avgPool2d_unbatched", randn(2, 6, 6), 2),
]
