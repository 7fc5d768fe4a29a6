"""Elementwise unary and binary ops."""
import torch
import torch.nn.functional as F

from cases.common import T, away_from, case, rand, randint, randn

x = randn(3, 4)
pos = rand(3, 4, low=0.2, high=3.0)
kinked = away_from(randn(3, 4), [0.0])

CASES = [
    case("neg", "neg", [x], torch.neg),
    case("clone", "clone", [x], torch.clone, method=True),
    case("abs", "abs", [kinked], torch.abs),
    case("exp", "exp", [x], torch.exp),
    case("log", "log", [pos], torch.log),
    case("log1p", "log1p", [pos], torch.log1p),
    case("sqrt", "sqrt", [pos], torch.sqrt),
    case("rsqrt", "rsqrt", [pos], torch.rsqrt),
    case("square", "square", [x], torch.square),
    case("reciprocal", "reciprocal", [pos], torch.reciprocal),
    case("sign", "sign", [kinked], torch.sign),
    case("sin", "sin", [x], torch.sin),
    case("cos", "cos", [x], torch.cos),
    case("sigmoid", "sigmoid", [randn(3, 4, scale=3)], torch.sigmoid),
    case("tanh", "tanh", [x], torch.tanh),
    case("relu", "relu", [kinked], torch.relu),
    case("leakyRelu_default", "leakyRelu", [kinked], F.leaky_relu),
    case("leakyRelu_0.1", "leakyRelu", [kinked], lambda a: F.leaky_relu(a, 0.1), args=[T(0), 0.1]),
    case("elu", "elu", [kinked], F.elu),
    case("elu_alpha0.5", "elu", [kinked], lambda a: F.elu(a, 0.5), args=[T(0), 0.5]),
    case("softplus", "softplus", [randn(3, 4, scale=3)], F.softplus),
    case("softplus_beta2_thr3", "softplus", [randn(3, 4, scale=3)], lambda a: F.softplus(a, 2, 3), args=[T(0), {"beta": 2, "threshold": 3}]),
    case("erf", "erf", [x], torch.erf),
    case("clip", "clip", [away_from(randn(3, 4), [-0.5, 0.5])], lambda a: torch.clamp(a, -0.5, 0.5), args=[T(0), -0.5, 0.5]),
    case("clip_min_only", "clip", [away_from(randn(3, 4), [0.0])], lambda a: torch.clamp(a, min=0.0), args=[T(0), 0, None]),
    case("add", "add", [randn(2, 3), randn(2, 3)], torch.add),
    case("add_broadcast", "add", [randn(4, 1, 3), randn(2, 1)], torch.add),
    case("add_scalar", "add", [x], lambda a: a + 2.5, args=[T(0), 2.5]),
    case("sub_broadcast", "sub", [randn(2, 3), randn(3)], torch.sub),
    case("mul_broadcast", "mul", [randn(2, 1, 4), randn(3, 1)], torch.mul),
    case("div_broadcast", "div", [randn(2, 3), rand(3, low=0.5, high=2)], torch.div),
    case("div_scalar_first", "div", [rand(2, 3, low=0.5, high=2)], lambda a: 2 / a, args=[2, T(0)]),
    case("pow", "pow", [rand(2, 3, low=0.5, high=2), randn(2, 3)], torch.pow),
    case("pow_scalar", "pow", [randn(2, 3)], lambda a: a ** 3, args=[T(0), 3]),
    case("maximum", "maximum", [randn(3, 4), randn(4)], torch.maximum),
    case("maximum_ties", "maximum", [torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), torch.tensor([1.0, 1.0, 4.0], dtype=torch.float64)], torch.maximum),
    case("minimum", "minimum", [randn(3, 4), randn(3, 1)], torch.minimum),
    case("equal", "equal", [randint(0, 3, 3, 4).double(), randint(0, 3, 4).double()], torch.eq),
    case("notEqual", "notEqual", [randint(0, 3, 3, 4).double(), randint(0, 3, 3, 4).double()], torch.ne),
    case("less", "less", [randn(3, 4), randn(3, 4)], torch.lt),
    case("lessEqual", "lessEqual", [randint(0, 3, 5).double(), randint(0, 3, 5).double()], torch.le),
    case("greater", "greater", [randn(3, 4), randn(1, 4)], torch.gt),
    case("greaterEqual", "greaterEqual", [randint(0, 3, 5).double(), randint(0, 3, 5).double()], torch.ge),
    case("logicalAnd", "logicalAnd", [randint(0, 2, 6).bool(), randint(0, 2, 6).bool()], torch.logical_and),
    case("logicalOr", "logicalOr", [randint(0, 2, 6).bool(), randint(0, 2, 6).bool()], torch.logical_or),
    case("logicalNot", "logicalNot", [randint(0, 2, 6).bool()], torch.logical_not),
    case("where", "where", [randint(0, 2, 3, 4).bool(), randn(3, 4), randn(4)], torch.where),
    case("where_scalar", "where", [randint(0, 2, 3, 4).bool(), randn(3, 4)], lambda c, a: torch.where(c, a, torch.zeros((), dtype=a.dtype)), args=[T(0), T(1), 0]),
    case("add_int32", "add", [randint(-5, 5, 2, 3).int(), randint(-5, 5, 3).int()], torch.add),
]
