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
    lin("linear_large", randn(12, 20), randn(17, 20), randn(17)),
    lin("linear_batch1_wide", randn(1, 8), randn(40, 8), randn(40)),
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


# ---- whole-sequence recurrent ops (appended: the cases above keep their inputs) ---------

def _vf(mode, nonlinearity):
    if mode == "lstm":
        return torch._VF.lstm
    if mode == "gru":
        return torch._VF.gru
    return torch._VF.rnn_tanh if nonlinearity == "tanh" else torch._VF.rnn_relu


def _torch_recurrent(mode, nonlinearity, layers, bidir, batch_first, bias, lengths):
    f = _vf(mode, nonlinearity)
    kinds = 2 if mode == "lstm" else 1

    def run(x, states, ws):
        hx = tuple(states) if kinds == 2 else states[0]
        out = f(x, hx, ws, bias, layers, 0.0, False, bidir, batch_first)
        return [out[0], *out[1:]]

    def fn(*inputs):
        x, states, ws = inputs[0], list(inputs[1:1 + kinds]), list(inputs[1 + kinds:])
        if lengths is None:
            return run(x, states, ws)
        # Each sequence alone over its own steps; outputs past its length are 0.
        xt = x.transpose(0, 1) if batch_first else x
        outs, finals = [], [[] for _ in range(kinds)]
        for b, n in enumerate(lengths):
            r = run(xt[:n, b:b + 1], [s[:, b:b + 1] for s in states], ws)
            outs.append(torch.cat([r[0], torch.zeros(xt.shape[0] - n, *r[0].shape[1:], dtype=r[0].dtype)], 0))
            for k in range(kinds):
                finals[k].append(r[1 + k])
        y = torch.cat(outs, 1)
        return [y.transpose(0, 1) if batch_first else y, *[torch.cat(f, 1) for f in finals]]

    return fn


def rec(name, mode, steps, batch, features, hidden, layers=1, bidir=False, batch_first=False, bias=True, lengths=None, nonlinearity="tanh"):
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[mode]
    dirs = 2 if bidir else 1
    kinds = 2 if mode == "lstm" else 1
    x = randn(batch, steps, features) if batch_first else randn(steps, batch, features)
    states = [randn(layers * dirs, batch, hidden, scale=0.5) for _ in range(kinds)]
    ws = []
    for layer in range(layers):
        for _ in range(dirs):
            width = features if layer == 0 else dirs * hidden
            ws += [randn(gates * hidden, width, scale=0.5), randn(gates * hidden, hidden, scale=0.5)]
            if bias:
                ws += [randn(gates * hidden, scale=0.5), randn(gates * hidden, scale=0.5)]
    opts = {"numLayers": layers, "bidirectional": bidir, "batchFirst": batch_first}
    if lengths is not None:
        opts["lengths"] = lengths
    if mode == "rnn":
        opts["nonlinearity"] = nonlinearity
    n = len(ws)
    w_args = [T(1 + kinds + i) for i in range(n)]
    state_args = [T(1), T(2)] if kinds == 2 else T(1)
    return case(name, mode, [x, *states, *ws], _torch_recurrent(mode, nonlinearity, layers, bidir, batch_first, bias, lengths),
                args=[T(0), state_args, w_args, opts], k=(features + hidden) * steps)


CASES += [
    rec("rnn_tanh", "rnn", 5, 3, 4, 6),
    rec("rnn_relu_2layers", "rnn", 4, 2, 3, 5, layers=2, nonlinearity="relu"),
    rec("rnn_bidirectional_lengths", "rnn", 5, 3, 2, 4, bidir=True, lengths=[5, 2, 3]),
    rec("lstm_basic", "lstm", 6, 3, 4, 5),
    rec("lstm_2layers_bidirectional", "lstm", 4, 2, 3, 4, layers=2, bidir=True),
    rec("lstm_batch_first_no_bias", "lstm", 5, 2, 3, 4, batch_first=True, bias=False),
    rec("lstm_lengths_bidirectional", "lstm", 6, 3, 2, 3, bidir=True, lengths=[6, 1, 4]),
    rec("gru_basic", "gru", 5, 3, 4, 5),
    rec("gru_2layers_batch_first", "gru", 4, 2, 3, 4, layers=2, batch_first=True),
    rec("gru_lengths", "gru", 5, 4, 3, 4, lengths=[3, 5, 1, 4]),
]
