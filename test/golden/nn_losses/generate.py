#!/usr/bin/python3
"""Golden values for Kiln's losses and penalties (test/nn.losses.golden.test.ts).

Run with Debian's torch:  /usr/bin/python3 test/golden/nn_losses/generate.py
Writes cases.json next to this file (CI never runs Python: the JSON is committed).

A case names the Kiln function (`fn`), its arguments (`args`; a tensor is written
{"$t": i}, meaning input i), the inputs, and the torch computation. Everything runs in
float64. Outputs that are not scalars are reduced by a weighted sum sum(out * w) before
backpropagating; `grads` holds the gradient of that scalar w.r.t. each input marked
`grad` (every input torch can differentiate). `k` scales the tolerance: the number of
elements summed into one output (the whole input for 'mean'/'sum', the class count C
for an unreduced softmax-based loss, 1 for an unreduced elementwise loss).
"""
import json
import math
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))


def enc(x):
    dtype = "int32" if x.dtype in (torch.int64, torch.int32) else "float32"
    return {"shape": list(x.shape), "dtype": dtype, "data": [float(v) if dtype == "float32" else int(v) for v in x.detach().reshape(-1).tolist()]}


def case(name, fn, inputs, args, torch_fn, k, grad=None):
    """inputs: list of tensors; grad: indices of inputs to differentiate (default: all float ones)."""
    inputs = [x.detach().clone() for x in inputs]
    if grad is None:
        grad = [i for i, x in enumerate(inputs) if x.is_floating_point()]
    for i in grad:
        inputs[i].requires_grad_(True)
    out = torch_fn(*inputs)
    w = torch.randn(out.shape) if out.dim() > 0 else torch.ones(())
    if grad:
        (out * w).sum().backward()
    return {
        "name": name, "fn": fn, "args": args, "k": k,
        "inputs": [dict(enc(x), grad=(i in grad)) for i, x in enumerate(inputs)],
        "output": enc(out), "w": enc(w),
        "grads": [enc(inputs[i].grad) if i in grad else None for i in range(len(inputs))],
    }


T0, T1, T2, T3 = ({"$t": i} for i in range(4))


def away_from(x, v, gap=0.05):
    """Moves entries within `gap` of a kink at v away from it (kinks make gradients ambiguous)."""
    return torch.where((x - v).abs() < gap, x + 2 * gap * torch.sign(x - v + 1e-12), x)


def main():
    torch.manual_seed(0)
    cases = []
    add = cases.append

    # ---- regression losses -------------------------------------------------------
    x, y = torch.randn(4, 5), torch.randn(4, 5)
    for red in ("mean", "sum", "none"):
        k = 20 if red != "none" else 1
        add(case(f"mseLoss {red}", "mseLoss", [x, y], [T0, T1, {"reduction": red}], lambda a, b, red=red: F.mse_loss(a, b, reduction=red), k))
    d = away_from(x - y, 0.0)
    x2 = y + d
    for red in ("mean", "sum", "none"):
        k = 20 if red != "none" else 1
        add(case(f"l1Loss {red}", "l1Loss", [x2, y], [T0, T1, {"reduction": red}], lambda a, b, red=red: F.l1_loss(a, b, reduction=red), k))
    for delta, red in ((1.0, "mean"), (0.5, "none"), (2.0, "sum")):
        xs = y + away_from(away_from(d * 2, delta), -delta)
        k = 20 if red != "none" else 1
        add(case(f"huberLoss delta={delta} {red}", "huberLoss", [xs, y], [T0, T1, {"reduction": red, "delta": delta}],
                 lambda a, b, red=red, delta=delta: F.huber_loss(a, b, reduction=red, delta=delta), k))
    for beta, red in ((1.0, "mean"), (0.3, "none"), (0.0, "sum")):
        xs = y + away_from(away_from(d * 2, beta), -beta)
        k = 20 if red != "none" else 1
        add(case(f"smoothL1Loss beta={beta} {red}", "smoothL1Loss", [xs, y], [T0, T1, {"reduction": red, "beta": beta}],
                 lambda a, b, red=red, beta=beta: F.smooth_l1_loss(a, b, reduction=red, beta=beta), k))

    # ---- cross-entropy and NLL with class indices ----------------------------------
    N, C = 6, 4
    logits = torch.randn(N, C) * 2
    target = torch.randint(0, C, (N,))
    weight = torch.rand(C) + 0.5
    ignored = target.clone()
    ignored[1] = -100
    ignored[4] = -100
    custom = target.clone()
    custom[0] = 2
    custom[3] = 2
    for red in ("mean", "sum", "none"):
        k = N * C if red != "none" else C
        add(case(f"crossEntropy {red}", "crossEntropy", [logits, target], [T0, T1, {"reduction": red}],
                 lambda a, t, red=red: F.cross_entropy(a, t, reduction=red), k))
        add(case(f"crossEntropy weight {red}", "crossEntropy", [logits, target, weight], [T0, T1, {"reduction": red, "weight": T2}],
                 lambda a, t, w, red=red: F.cross_entropy(a, t, weight=w, reduction=red), k, grad=[0]))
        add(case(f"crossEntropy ignoreIndex -100 {red}", "crossEntropy", [logits, ignored], [T0, T1, {"reduction": red}],
                 lambda a, t, red=red: F.cross_entropy(a, t, reduction=red), k))
        add(case(f"crossEntropy labelSmoothing 0.1 {red}", "crossEntropy", [logits, target], [T0, T1, {"reduction": red, "labelSmoothing": 0.1}],
                 lambda a, t, red=red: F.cross_entropy(a, t, reduction=red, label_smoothing=0.1), k))
        add(case(f"crossEntropy labelSmoothing 0.2 + weight + ignoreIndex 2 {red}", "crossEntropy", [logits, custom, weight],
                 [T0, T1, {"reduction": red, "labelSmoothing": 0.2, "weight": T2, "ignoreIndex": 2}],
                 lambda a, t, w, red=red: F.cross_entropy(a, t, weight=w, reduction=red, label_smoothing=0.2, ignore_index=2), k, grad=[0]))
        add(case(f"crossEntropy labelSmoothing 0.3 + ignoreIndex -100 {red}", "crossEntropy", [logits, ignored], [T0, T1, {"reduction": red, "labelSmoothing": 0.3}],
                 lambda a, t, red=red: F.cross_entropy(a, t, reduction=red, label_smoothing=0.3), k))
    # K-dimensional: logits [N, C, d1, d2], targets [N, d1, d2].
    lk = torch.randn(2, 3, 2, 3)
    tk = torch.randint(0, 3, (2, 2, 3))
    tk[0, 1, 2] = -100
    wk = torch.rand(3) + 0.5
    add(case("crossEntropy K-dim weight ignoreIndex mean", "crossEntropy", [lk, tk, wk], [T0, T1, {"weight": T2}],
             lambda a, t, w: F.cross_entropy(a, t, weight=w), 36, grad=[0]))
    add(case("crossEntropy K-dim labelSmoothing none", "crossEntropy", [lk, tk], [T0, T1, {"reduction": "none", "labelSmoothing": 0.15}],
             lambda a, t: F.cross_entropy(a, t, reduction="none", label_smoothing=0.15), 3))
    add(case("crossEntropy unbatched", "crossEntropy", [torch.randn(5), torch.tensor(3)], [T0, T1],
             lambda a, t: F.cross_entropy(a, t), 5))
    add(case("crossEntropy unbatched none", "crossEntropy", [torch.randn(5), torch.tensor(1)], [T0, T1, {"reduction": "none", "labelSmoothing": 0.1}],
             lambda a, t: F.cross_entropy(a, t, reduction="none", label_smoothing=0.1), 5))

    # ---- cross-entropy with probability targets --------------------------------
    probs = torch.softmax(torch.randn(N, C), 1)
    for red in ("mean", "sum", "none"):
        k = N * C if red != "none" else C
        add(case(f"crossEntropy probabilities {red}", "crossEntropy", [logits, probs], [T0, T1, {"reduction": red}],
                 lambda a, p, red=red: F.cross_entropy(a, p, reduction=red), k))
        add(case(f"crossEntropy probabilities weight labelSmoothing {red}", "crossEntropy", [logits, probs, weight],
                 [T0, T1, {"reduction": red, "weight": T2, "labelSmoothing": 0.25}],
                 lambda a, p, w, red=red: F.cross_entropy(a, p, weight=w, reduction=red, label_smoothing=0.25), k, grad=[0, 1]))
    pk = torch.softmax(torch.randn(2, 3, 2, 3), 1)
    add(case("crossEntropy probabilities K-dim", "crossEntropy", [lk, pk], [T0, T1],
             lambda a, p: F.cross_entropy(a, p), 36))

    # ---- NLL -------------------------------------------------------------------------
    logp = torch.log_softmax(logits, 1)
    for red in ("mean", "sum", "none"):
        k = N if red != "none" else 1
        add(case(f"nllLoss {red}", "nllLoss", [logp, target], [T0, T1, {"reduction": red}],
                 lambda a, t, red=red: F.nll_loss(a, t, reduction=red), k))
        add(case(f"nllLoss weight ignoreIndex {red}", "nllLoss", [logp, ignored, weight], [T0, T1, {"reduction": red, "weight": T2}],
                 lambda a, t, w, red=red: F.nll_loss(a, t, weight=w, reduction=red), k, grad=[0]))
    add(case("nllLoss K-dim ignoreIndex 1", "nllLoss", [torch.log_softmax(lk, 1), tk.clamp(min=0)], [T0, T1, {"ignoreIndex": 1}],
             lambda a, t: F.nll_loss(a, t, ignore_index=1), 12))

    # ---- binary cross-entropy ---------------------------------------------------------
    p = torch.rand(3, 4) * 0.9 + 0.05
    yb = torch.rand(3, 4)
    yb[0] = (yb[0] > 0.5).double()
    wb = torch.rand(3, 4) + 0.5
    for red in ("mean", "sum", "none"):
        k = 12 if red != "none" else 1
        add(case(f"binaryCrossEntropy {red}", "binaryCrossEntropy", [p, yb], [T0, T1, {"reduction": red}],
                 lambda a, t, red=red: F.binary_cross_entropy(a, t, reduction=red), k, grad=[0]))
    add(case("binaryCrossEntropy weight", "binaryCrossEntropy", [p, yb, wb], [T0, T1, {"weight": T2}],
             lambda a, t, w: F.binary_cross_entropy(a, t, weight=w), 12, grad=[0]))
    sat = torch.tensor([0.0, 1.0, 0.0, 1.0, 1e-30, 0.5])
    ysat = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.5])
    add(case("binaryCrossEntropy saturated (log clamped at -100), forward only", "binaryCrossEntropy", [sat, ysat], [T0, T1, {"reduction": "none"}],
             lambda a, t: F.binary_cross_entropy(a, t, reduction="none"), 1, grad=[]))

    # ---- binary cross-entropy with logits -----------------------------------------------
    z = torch.randn(3, 4) * 3
    z[0, 0], z[0, 1], z[1, 0], z[1, 1] = 60.0, -60.0, 300.0, -300.0
    pw = torch.rand(4) * 3 + 0.2
    for red in ("mean", "sum", "none"):
        k = 12 if red != "none" else 1
        add(case(f"binaryCrossEntropyWithLogits {red}", "binaryCrossEntropyWithLogits", [z, yb], [T0, T1, {"reduction": red}],
                 lambda a, t, red=red: F.binary_cross_entropy_with_logits(a, t, reduction=red), k))
        add(case(f"binaryCrossEntropyWithLogits posWeight weight {red}", "binaryCrossEntropyWithLogits", [z, yb, wb, pw],
                 [T0, T1, {"reduction": red, "weight": T2, "posWeight": T3}],
                 lambda a, t, w, q, red=red: F.binary_cross_entropy_with_logits(a, t, weight=w, pos_weight=q, reduction=red), k, grad=[0, 1]))

    # ---- KL divergence ---------------------------------------------------------------
    logq = torch.log_softmax(torch.randn(4, 5), 1)
    ptarget = torch.softmax(torch.randn(4, 5), 1)
    for red in ("mean", "sum", "none", "batchmean"):
        k = 20 if red != "none" else 1
        add(case(f"klDiv {red}", "klDiv", [logq, ptarget], [T0, T1, {"reduction": red}],
                 lambda a, t, red=red: F.kl_div(a, t, reduction=red), k))
        add(case(f"klDiv logTarget {red}", "klDiv", [logq, ptarget.log()], [T0, T1, {"reduction": red, "logTarget": True}],
                 lambda a, t, red=red: F.kl_div(a, t, reduction=red, log_target=True), k))
    pz = ptarget.clone()
    pz[0, 1] = 0.0
    pz[2, 3] = 0.0
    add(case("klDiv target with zeros (0·log 0 = 0)", "klDiv", [logq, pz], [T0, T1, {"reduction": "batchmean"}],
             lambda a, t: F.kl_div(a, t, reduction="batchmean"), 20, grad=[0]))

    # ---- penalties (PyTorch has no functions for these: the formulas in torch) -----------------
    w1, w2 = torch.randn(3, 4), torch.randn(5)
    w1 = away_from(w1, 0.0)
    w2 = away_from(w2, 0.0)
    add(case("l1Penalty", "l1Penalty", [w1, w2], [[T0, T1]], lambda a, b: a.abs().sum() + b.abs().sum(), 17))
    add(case("l2Penalty (½·Σ‖w‖²)", "l2Penalty", [w1, w2], [[T0, T1]], lambda a, b: 0.5 * ((a ** 2).sum() + (b ** 2).sum()), 17))
    h = torch.sigmoid(torch.randn(8, 6) * 2)
    rho = 0.1

    def kl_sparsity(a):
        r = a.mean(0)
        return (rho * torch.log(rho / r) + (1 - rho) * torch.log((1 - rho) / (1 - r))).sum()

    add(case("activationSparsityPenalty kl rho=0.1", "activationSparsityPenalty", [h], [T0, {"kind": "kl", "target": rho}], kl_sparsity, 8))
    rho = 0.05
    add(case("activationSparsityPenalty kl default rho=0.05", "activationSparsityPenalty", [h], [T0], kl_sparsity, 8))
    hl = away_from(torch.randn(4, 3, 2), 0.0)
    add(case("activationSparsityPenalty l1", "activationSparsityPenalty", [hl], [T0, {"kind": "l1"}], lambda a: a.abs().sum() / a.shape[0], 24))

    path = os.path.join(HERE, "cases.json")
    with open(path, "w") as f:
        json.dump({"generator": "test/golden/nn_losses/generate.py", "torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
    print(f"{path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
