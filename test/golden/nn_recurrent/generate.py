#!/usr/bin/python3
"""Golden values for Kiln's recurrent layers (test/nn.recurrent.golden.test.ts).

Run with Debian's torch:  /usr/bin/python3 test/golden/nn_recurrent/generate.py
Writes cases.json next to this file (CI never runs Python: the JSON is committed).

Every case builds a torch module in float64 with torch's own random init, records its
parameters under Kiln's names (weight_ih_l0 -> weightIh_l0), runs it, and backpropagates
the scalar loss  sum(output * w_out) + sum(hN * w_h) [+ sum(cN * w_c)]  with random
weights w, recording the gradients w.r.t. the input, the initial states and every
parameter. Variable-length cases go through pack_padded_sequence(enforce_sorted=False)
and pad_packed_sequence(total_length=T), so padded outputs past each length are 0.

k (the tolerance scale, see the test) is seq * (F + hidden), F the widest layer input:
the number of products accumulated into one output along the recurrence.
"""
import json
import os
import re

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))


def kiln_name(name):
    # weight_ih_l0_reverse -> weightIh_l0_reverse; weight_ih -> weightIh
    return re.sub(r"^(weight|bias)_(ih|hh)", lambda m: m.group(1) + m.group(2).capitalize(), name)


def t(x):
    return {"shape": list(x.shape), "data": [float(v) for v in x.detach().reshape(-1).tolist()]}


def layer_case(name, kind, inp, hid, seq, batch, layers=1, bidirectional=False, batch_first=False,
               bias=True, nonlinearity="tanh", with_h0=True, lengths=None, unbatched=False):
    cls = {"RNN": torch.nn.RNN, "LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU}[kind]
    kw = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias)
    if kind == "RNN":
        kw["nonlinearity"] = nonlinearity
    m = cls(inp, hid, **kw)
    d = 2 if bidirectional else 1
    if unbatched:
        x = torch.randn(seq, inp, requires_grad=True)
        state_shape = (layers * d, hid)
    else:
        x = torch.randn(*((batch, seq, inp) if batch_first else (seq, batch, inp)), requires_grad=True)
        state_shape = (layers * d, batch, hid)
    h0 = torch.randn(*state_shape, requires_grad=True) if with_h0 else None
    c0 = torch.randn(*state_shape, requires_grad=True) if with_h0 and kind == "LSTM" else None
    hx = (h0, c0) if kind == "LSTM" and with_h0 else h0
    packed_data = None
    if lengths is not None:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
        out_p, hn = m(packed, hx)
        packed_data = out_p.data
        out, _ = pad_packed_sequence(out_p, batch_first=batch_first, total_length=seq)
    else:
        out, hn = m(x, hx)
    hN, cN = hn if kind == "LSTM" else (hn, None)
    w_out, w_h = torch.randn(out.shape), torch.randn(hN.shape)
    loss = (out * w_out).sum() + (hN * w_h).sum()
    w_c = None
    if cN is not None:
        w_c = torch.randn(cN.shape)
        loss = loss + (cN * w_c).sum()
    loss.backward()
    widest = max(inp, d * hid) if layers > 1 else inp
    case = {
        "name": name, "kind": kind,
        "config": {"inputSize": inp, "hiddenSize": hid, "numLayers": layers, "bidirectional": bidirectional,
                   "batchFirst": batch_first, "bias": bias, "nonlinearity": nonlinearity},
        "k": seq * (widest + hid),
        "params": {kiln_name(n): t(p) for n, p in m.named_parameters()},
        "x": t(x), "h0": t(h0) if h0 is not None else None, "c0": t(c0) if c0 is not None else None,
        "lengths": lengths,
        "outputs": {"output": t(out), "hN": t(hN), **({"cN": t(cN)} if cN is not None else {})},
        "w": {"output": t(w_out), "hN": t(w_h), **({"cN": t(w_c)} if w_c is not None else {})},
        "grads": {
            "x": t(x.grad),
            **({"h0": t(h0.grad)} if h0 is not None else {}),
            **({"c0": t(c0.grad)} if c0 is not None else {}),
            "params": {kiln_name(n): t(p.grad) for n, p in m.named_parameters()},
        },
    }
    if packed_data is not None:
        case["packed"] = {"data": t(packed_data), "batchSizes": out_p.batch_sizes.tolist(),
                          "sortedIndices": out_p.sorted_indices.tolist(), "unsortedIndices": out_p.unsorted_indices.tolist()}
    return case


def cell_case(name, kind, inp, hid, steps, batch, bias=True, nonlinearity="tanh", with_h0=True):
    """A cell unrolled over `steps` inputs (BPTT through the cell); output = the stacked h's."""
    cls = {"RNNCell": torch.nn.RNNCell, "LSTMCell": torch.nn.LSTMCell, "GRUCell": torch.nn.GRUCell}[kind]
    kw = {"nonlinearity": nonlinearity} if kind == "RNNCell" else {}
    m = cls(inp, hid, bias=bias, **kw)
    x = torch.randn(steps, batch, inp, requires_grad=True)
    h0 = torch.randn(batch, hid, requires_grad=True) if with_h0 else None
    c0 = torch.randn(batch, hid, requires_grad=True) if with_h0 and kind == "LSTMCell" else None
    state = ((h0, c0) if with_h0 else None) if kind == "LSTMCell" else h0
    hs, cs = [], []
    for s in range(steps):
        state = m(x[s], state)
        if kind == "LSTMCell":
            hs.append(state[0])
            cs.append(state[1])
        else:
            hs.append(state)
    out = torch.stack(hs)
    w_out = torch.randn(out.shape)
    loss = (out * w_out).sum()
    outputs, ws = {"output": t(out)}, {"output": t(w_out)}
    if cs:
        cst = torch.stack(cs)
        w_c = torch.randn(cst.shape)
        loss = loss + (cst * w_c).sum()
        outputs["cells"], ws["cells"] = t(cst), t(w_c)
    loss.backward()
    return {
        "name": name, "kind": kind,
        "config": {"inputSize": inp, "hiddenSize": hid, "bias": bias, "nonlinearity": nonlinearity},
        "k": steps * (inp + hid),
        "params": {kiln_name(n): t(p) for n, p in m.named_parameters()},
        "x": t(x), "h0": t(h0) if h0 is not None else None, "c0": t(c0) if c0 is not None else None,
        "outputs": outputs, "w": ws,
        "grads": {
            "x": t(x.grad),
            **({"h0": t(h0.grad)} if h0 is not None else {}),
            **({"c0": t(c0.grad)} if c0 is not None else {}),
            "params": {kiln_name(n): t(p.grad) for n, p in m.named_parameters()},
        },
    }


def main():
    torch.manual_seed(0)
    cases = [
        layer_case("RNN tanh, 2 layers, bidirectional, h0", "RNN", 4, 5, 6, 3, layers=2, bidirectional=True),
        layer_case("RNN relu, 2 layers, batchFirst, h0", "RNN", 4, 5, 7, 3, layers=2, batch_first=True, nonlinearity="relu"),
        layer_case("RNN tanh, no bias, no h0", "RNN", 3, 4, 5, 2, bias=False, with_h0=False),
        layer_case("LSTM, 2 layers, bidirectional, h0/c0", "LSTM", 4, 5, 6, 3, layers=2, bidirectional=True),
        layer_case("LSTM, batchFirst, no bias", "LSTM", 3, 4, 6, 2, batch_first=True, bias=False),
        layer_case("LSTM, 2 layers, no h0", "LSTM", 3, 4, 5, 2, layers=2, with_h0=False),
        layer_case("GRU, 2 layers, bidirectional, h0", "GRU", 4, 5, 6, 3, layers=2, bidirectional=True),
        layer_case("GRU, batchFirst, bidirectional, no h0", "GRU", 3, 4, 6, 2, batch_first=True, bidirectional=True, with_h0=False),
        layer_case("GRU, no bias", "GRU", 3, 4, 5, 2, bias=False),
        layer_case("GRU unbatched, 2 layers, bidirectional", "GRU", 3, 4, 5, 1, layers=2, bidirectional=True, unbatched=True),
        layer_case("LSTM unbatched", "LSTM", 3, 4, 5, 1, unbatched=True),
        # Variable lengths (unsorted, distinct so the packed row order is unambiguous).
        layer_case("RNN tanh, lengths, 2 layers, bidirectional", "RNN", 3, 4, 6, 3, layers=2, bidirectional=True, lengths=[4, 6, 2]),
        layer_case("LSTM, lengths, 2 layers, bidirectional", "LSTM", 3, 4, 6, 3, layers=2, bidirectional=True, lengths=[4, 6, 2]),
        layer_case("GRU, lengths, 2 layers, bidirectional", "GRU", 3, 4, 6, 3, layers=2, bidirectional=True, lengths=[4, 6, 2]),
        layer_case("GRU, lengths shorter than T, batchFirst, bidirectional", "GRU", 3, 4, 7, 4, batch_first=True, bidirectional=True, lengths=[3, 5, 1, 2]),
        layer_case("LSTM, lengths shorter than T, no h0", "LSTM", 3, 4, 7, 3, with_h0=False, lengths=[2, 5, 4]),
        layer_case("RNN relu, lengths, bidirectional", "RNN", 3, 4, 5, 3, bidirectional=True, nonlinearity="relu", lengths=[5, 1, 3]),
        # Cells, unrolled for BPTT.
        cell_case("RNNCell tanh, 5 steps", "RNNCell", 3, 4, 5, 2),
        cell_case("RNNCell relu, 5 steps, no bias", "RNNCell", 3, 4, 5, 2, bias=False, nonlinearity="relu"),
        cell_case("LSTMCell, 5 steps", "LSTMCell", 3, 4, 5, 2),
        cell_case("LSTMCell, 5 steps, no initial state", "LSTMCell", 3, 4, 5, 2, with_h0=False),
        cell_case("GRUCell, 5 steps", "GRUCell", 3, 4, 5, 2),
        cell_case("GRUCell, 5 steps, no bias, no initial state", "GRUCell", 3, 4, 5, 2, bias=False, with_h0=False),
    ]
    path = os.path.join(HERE, "cases.json")
    with open(path, "w") as f:
        json.dump({"generator": "test/golden/nn_recurrent/generate.py", "torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
    print(f"{path}: {len(cases)} cases")


if __name__ == "__main__":
    main()
