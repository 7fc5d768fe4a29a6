"""shape ops: reshape family, slice, concat/stack/split, pad, gather/scatter, oneHot, cast."""
import torch
import torch.nn.functional as F

from cases.common import T, case, randint, randn


def py_slice(start, stop, step, n):
    """Indices Python's slice takes from an axis of length n (for negative steps torch lacks)."""
    return list(range(*slice(start, stop, step).indices(n)))


def reflect_last(a, pads):
    """Reflect-pads the last dim of any-rank `a` (torch 1.13 only does 2-D/3-D for this)."""
    lead = a.shape[:-1]
    return F.pad(a.reshape(-1, 1, a.shape[-1]), pads, mode="reflect").reshape(*lead, -1)


x234 = randn(2, 3, 4)
x2345 = randn(2, 3, 4, 5)
idx = lambda *v: torch.tensor(v, dtype=torch.int64)  # noqa: E731

CASES = [
    # reshape family (reshape/expand predate this file; covered here for the op registry)
    case("reshape_infer", "reshape", [x234], lambda a: a.reshape(4, -1), args=[T(0), [4, -1]]),
    case("expand_neg1", "expand", [randn(3, 1)], lambda a: a.expand(2, 3, 4), args=[T(0), [2, -1, 4]]),
    case("expand_rows", "expand", [randn(1, 3, 4)], lambda a: a.expand(5, 3, 4), args=[T(0), [5, 3, 4]], method=True),
    case("broadcastTo", "broadcastTo", [randn(4)], lambda a: a.broadcast_to(3, 4), args=[T(0), [3, 4]]),
    case("flatten_all", "flatten", [x234], torch.flatten),
    case("flatten_from1", "flatten", [x2345], lambda a: torch.flatten(a, 1), args=[T(0), 1]),
    case("flatten_1_2", "flatten", [x2345], lambda a: torch.flatten(a, 1, 2), args=[T(0), 1, 2]),
    case("flatten_neg", "flatten", [x2345], lambda a: torch.flatten(a, -3, -2), args=[T(0), -3, -2]),
    case("flatten_method_same", "flatten", [x234], lambda a: a.flatten(2), args=[T(0), 2], method=True),
    case("flatten_0d", "flatten", [randn(1).reshape(())], torch.flatten),
    case("squeeze_all", "squeeze", [randn(1, 3, 1, 2)], torch.squeeze),
    case("squeeze_neg", "squeeze", [randn(1, 3, 1, 2)], lambda a: a.squeeze(-2), args=[T(0), -2]),
    case("squeeze_not1_noop", "squeeze", [randn(1, 3, 1, 2)], lambda a: a.squeeze(1), args=[T(0), 1]),
    case("squeeze_list", "squeeze", [randn(1, 3, 1, 2)], lambda a: a.squeeze(2).squeeze(0), args=[T(0), [0, 2]], method=True),
    case("unsqueeze_0", "unsqueeze", [randn(2, 3)], lambda a: a.unsqueeze(0), args=[T(0), 0]),
    case("unsqueeze_end", "unsqueeze", [randn(2, 3)], lambda a: a.unsqueeze(2), args=[T(0), 2]),
    case("unsqueeze_neg1", "unsqueeze", [randn(2, 3)], lambda a: a.unsqueeze(-1), args=[T(0), -1]),
    case("unsqueeze_neg3", "unsqueeze", [randn(2, 3)], lambda a: a.unsqueeze(-3), args=[T(0), -3], method=True),
    # slice
    case("slice_basic", "slice", [randn(4, 5)], lambda a: a[1:3], args=[T(0), [1], [3]]),
    case("slice_neg_axis_idx", "slice", [randn(4, 5)], lambda a: a[:, -3:-1], args=[T(0), [-3], [-1], {"axes": [-1]}]),
    case("slice_steps", "slice", [randn(5, 7)], lambda a: a[::2, 1::3], args=[T(0), [0, 1], [100, 100], {"steps": [2, 3]}]),
    case("slice_clamp", "slice", [randn(4, 5)], lambda a: a[-100:100, 2:], args=[T(0), [-100, 2], [100, 5]]),
    case("slice_empty", "slice", [randn(4, 5)], lambda a: a[3:1], args=[T(0), [3], [1]]),
    case("slice_3d_axes", "slice", [randn(3, 4, 5)], lambda a: a[1:3, :, 1:5:2], args=[T(0), [1, 1], [5, 3], {"axes": [-1, 0], "steps": [2, 1]}]),
    case("slice_middle_step", "slice", [randn(2, 9, 3)], lambda a: a[:, 1:8:3], args=[T(0), [1], [8], {"axes": [1], "steps": [3]}], method=True),
    case("slice_neg_step", "slice", [randn(6, 3)], lambda a: a[py_slice(4, 0, -2, 6)], args=[T(0), [4], [0], {"steps": [-2]}]),
    case("slice_reverse", "slice", [randn(3, 5)], lambda a: a[:, py_slice(-1, -100, -1, 5)], args=[T(0), [-1], [-100], {"axes": [1], "steps": [-1]}]),
    case("slice_int32", "slice", [randint(-9, 9, 4, 6).int()], lambda a: a[1:, ::2], args=[T(0), [1, 0], [4, 6], {"steps": [1, 2]}]),
    # concat / stack / split
    case("concat_3_middle_axis", "concat", [randn(2, 3, 4), randn(2, 1, 4), randn(2, 5, 4)], lambda a, b, c: torch.cat([a, b, c], 1), args=[[T(0), T(1), T(2)], 1]),
    case("concat_default_axis0", "concat", [randn(2, 3), randn(4, 3)], lambda a, b: torch.cat([a, b]), args=[[T(0), T(1)]]),
    case("concat_neg_axis", "concat", [randn(2, 3, 2), randn(2, 3, 5)], lambda a, b: torch.cat([a, b], -1), args=[[T(0), T(1)], -1]),
    case("cat_alias", "cat", [randn(3, 2), randn(3, 4)], lambda a, b: torch.cat([a, b], 1), args=[[T(0), T(1)], 1]),
    case("concat_int32", "concat", [randint(-5, 5, 2, 2).int(), randint(-5, 5, 1, 2).int()], lambda a, b: torch.cat([a, b]), args=[[T(0), T(1)]]),
    case("concat_promote", "concat", [randint(-5, 5, 2, 3).int(), randn(2, 3)], lambda a, b: torch.cat([a, b], 1), args=[[T(0), T(1)], 1]),
    case("stack_3", "stack", [randn(2, 3), randn(2, 3), randn(2, 3)], lambda a, b, c: torch.stack([a, b, c]), args=[[T(0), T(1), T(2)]]),
    case("stack_neg1", "stack", [randn(2, 3), randn(2, 3)], lambda a, b: torch.stack([a, b], -1), args=[[T(0), T(1)], -1]),
    case("stack_middle", "stack", [randn(2, 3), randn(2, 3)], lambda a, b: torch.stack([a, b], 1), args=[[T(0), T(1)], 1]),
    case("split_uneven", "split", [randn(7, 3)], lambda a: torch.split(a, 3), args=[T(0), 3]),
    case("split_sections_neg_axis", "split", [randn(2, 8)], lambda a: torch.split(a, [2, 5, 1], -1), args=[T(0), [2, 5, 1], -1]),
    case("split_middle_method", "split", [randn(2, 5, 3)], lambda a: a.split(2, 1), args=[T(0), 2, 1], method=True),
    case("split_whole", "split", [randn(2, 3)], lambda a: torch.split(a, 4, 1), args=[T(0), 4, 1]),
    # pad
    case("pad_const_last", "pad", [x234], lambda a: F.pad(a, (1, 2), value=1.5), args=[T(0), [1, 2], {"value": 1.5}]),
    case("pad_const_4d_2dims", "pad", [x2345], lambda a: F.pad(a, (1, 0, 2, 1), value=1.5), args=[T(0), [1, 0, 2, 1], {"value": 1.5}]),
    case("pad_const_3d_2dims_zero", "pad", [x234], lambda a: F.pad(a, (0, 2, 1, 1)), args=[T(0), [0, 2, 1, 1]]),
    case("pad_const_3dims", "pad", [x2345], lambda a: F.pad(a, (1, 1, 0, 2, 1, 0)), args=[T(0), [1, 1, 0, 2, 1, 0]], method=True),
    case("pad_const_negative", "pad", [x234], lambda a: F.pad(a, (-1, 2, 1, -1), value=1.5), args=[T(0), [-1, 2, 1, -1], {"value": 1.5}]),
    case("pad_reflect_3d_1dim", "pad", [randn(2, 3, 12)], lambda a: F.pad(a, (2, 1), mode="reflect"), args=[T(0), [2, 1], {"mode": "reflect"}]),
    case("pad_reflect_3d_2dims", "pad", [randn(2, 4, 9)], lambda a: F.pad(a, (1, 1, 2, 1), mode="reflect"), args=[T(0), [1, 1, 2, 1], {"mode": "reflect"}]),
    case("pad_reflect_4d_1dim", "pad", [x2345], lambda a: reflect_last(a, (3, 4)), args=[T(0), [3, 4], {"mode": "reflect"}]),
    case("pad_reflect_4d_2dims", "pad", [randn(2, 2, 5, 7)], lambda a: F.pad(a, (1, 2, 3, 1), mode="reflect"), args=[T(0), [1, 2, 3, 1], {"mode": "reflect"}]),
    case("pad_int32", "pad", [randint(-5, 5, 2, 3).int()], lambda a: F.pad(a, (1, 1), value=7), args=[T(0), [1, 1], {"value": 7}]),
    case("pad_int32_reflect_large", "pad", [randint(-5, 5, 3, 5, 6).int()], lambda a: F.pad(a.double(), (2, 3, 1, 4), mode="reflect").int(), args=[T(0), [2, 3, 1, 4], {"mode": "reflect"}]),
    case("pad_bool", "pad", [randint(0, 2, 2, 3).bool()], lambda a: F.pad(a, (1, 0, 0, 1)), args=[T(0), [1, 0, 0, 1]]),
    # gather / scatterAdd / indexSelect (repeated indices: gradients accumulate)
    case("gather_axis0_3d", "gather", [randn(3, 4, 2), randint(0, 3, 5, 4, 2)], lambda a, i: torch.gather(a, 0, i), args=[T(0), 0, T(1)]),
    case("gather_axis1_3d", "gather", [randn(3, 4, 2), randint(0, 4, 2, 6, 2)], lambda a, i: torch.gather(a, 1, i), args=[T(0), 1, T(1)]),
    case("gather_neg_axis", "gather", [randn(3, 4), randint(0, 4, 3, 2)], lambda a, i: torch.gather(a, -1, i), args=[T(0), -1, T(1)], method=True),
    case("scatterAdd_axis0", "scatterAdd", [randn(3, 4), randint(0, 3, 5, 4), randn(5, 4)], lambda a, i, s: torch.scatter_add(a, 0, i, s), args=[T(0), 0, T(1), T(2)]),
    case("scatterAdd_src_larger", "scatterAdd", [randn(3, 4), randint(0, 4, 2, 6), randn(3, 7)],
         lambda a, i, s: torch.scatter_add(a, 1, i, s[: i.shape[0], : i.shape[1]]), args=[T(0), 1, T(1), T(2)]),
    case("indexSelect_repeated", "indexSelect", [randn(4, 3), idx(2, 0, 2, 3, 2)], lambda a, i: torch.index_select(a, 0, i), args=[T(0), 0, T(1)]),
    case("indexSelect_middle_neg", "indexSelect", [randn(2, 5, 3), idx(4, 4, 1)], lambda a, i: torch.index_select(a, -2, i), args=[T(0), -2, T(1)]),
    case("indexSelect_last_method", "indexSelect", [randn(3, 40), randint(0, 40, 50)], lambda a, i: a.index_select(1, i), args=[T(0), 1, T(1)], method=True),
    case("indexSelect_rows_wide", "indexSelect", [randn(6, 64), idx(5, 1, 1, 0)], lambda a, i: torch.index_select(a, 0, i), args=[T(0), 0, T(1)]),
    # oneHot
    case("oneHot", "oneHot", [idx(0, 2, 1, 2)], lambda a: F.one_hot(a, 4), args=[T(0), 4]),
    case("oneHot_infer_2d", "oneHot", [randint(0, 5, 2, 3)], lambda a: F.one_hot(a), args=[T(0), -1]),
    case("oneHot_default", "oneHot", [idx(3, 0)], lambda a: F.one_hot(a), args=[T(0)]),
    # cast
    case("cast_float_int_negatives", "cast", [torch.tensor([-2.7, -1.2, -0.4, 0.0, 0.6, 1.5, 3.99], dtype=torch.float64)], lambda a: a.to(torch.int32), args=[T(0), "int32"]),
    case("cast_int_float", "cast", [randint(-9, 9, 2, 3).int()], lambda a: a.to(torch.float32), args=[T(0), "float32"]),
    case("cast_float_bool", "cast", [torch.tensor([0.0, 1.5, -0.0, -2.0, 0.25, 0.0], dtype=torch.float64)], lambda a: a.bool(), args=[T(0), "bool"]),
    case("cast_bool_float", "cast", [randint(0, 2, 5).bool()], lambda a: a.to(torch.float32), args=[T(0), "float32"], method=True),
    case("cast_float_int_large", "cast", [randn(300, scale=50)], lambda a: a.to(torch.int32), args=[T(0), "int32"]),
    case("cast_int_float_large", "cast", [randint(-1000, 1000, 300).int()], lambda a: a.to(torch.float32), args=[T(0), "float32"]),
    case("cast_int_bool", "cast", [idx(0, 3, -2, 0)], lambda a: a.bool(), args=[T(0), "bool"]),
]
