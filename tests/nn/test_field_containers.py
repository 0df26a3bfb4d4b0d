from collections import OrderedDict

import pytest
import torch
from _equivariance_helpers import float64
from torch import nn

from steertorch.gspaces import flipRot2dOnR2, rot2dOnR2
from steertorch.nn import (
    FieldType,
    GroupPooling,
    InnerBatchNorm,
    NormBatchNorm,
    NormNonLinearity,
    PointwiseNonLinearity,
    R2Conv,
    RestrictionModule,
    SequentialModule,
)
from steertorch.testing import field_equivariance_error, grid_symmetries

torch.set_num_threads(1)
F64 = torch.float64


def _types(gs=None):
    gs = gs or rot2dOnR2(4)
    return gs, FieldType(gs, [gs.trivial_repr]), FieldType(gs, [gs.regular_repr] * 2)


# ---------------------------------------------------------------------------- RestrictionModule
@pytest.mark.parametrize("gs,sub", [(rot2dOnR2(8), "C4"), (flipRot2dOnR2(4), "C4"), (flipRot2dOnR2(-1), "SO(2)")],
                         ids=["C8>C4", "D4>C4", "O2>SO2"])
def test_restriction_is_the_identity_and_restricts_the_action(gs, sub):
    reps = [gs.regular_repr, gs.trivial_repr] if gs.fibergroup.is_finite else [gs.irrep(1, 1), gs.irrep(1, 0)]
    ft = FieldType(gs, reps)
    res = RestrictionModule(ft, sub)
    sub_gs, include = gs.restrict(sub)
    assert res.out_type == ft.restrict(sub) and res.out_type.gspace == sub_gs
    assert res.out_type.size == ft.size
    x = torch.randn(2, ft.size, 5, 5, dtype=F64)
    assert res(x) is x
    # the restricted type acts as the big type does on the included elements
    hs = sub_gs.fibergroup.elements() if sub_gs.fibergroup.is_finite else sub_gs.fibergroup.sample(5, dtype=F64)
    for h in hs:
        torch.testing.assert_close(res.out_type.transform_fibers(x, h), ft.transform_fibers(x, include(h)),
                                   atol=1e-12, rtol=0)
    # including the base space: res(g.x) = g.res(x) with g = include(h) acting on the input type
    for h in grid_symmetries(sub_gs):
        torch.testing.assert_close(res(ft.transform(x, include(h))), res.out_type.transform(res(x), h),
                                   atol=1e-12, rtol=0)


def test_restricted_c8_model_continued_with_c4_layers_is_c4_equivariant():
    torch.manual_seed(0)
    c8 = rot2dOnR2(8)
    with float64():
        t_in = FieldType(c8, [c8.trivial_repr])
        t8 = FieldType(c8, [c8.regular_repr] * 2)
        res = RestrictionModule(t8, "C4")
        c4 = res.out_type.gspace
        assert c4 == rot2dOnR2(4)
        t4 = FieldType(c4, [c4.regular_repr] * 3)
        model = SequentialModule(
            R2Conv(t_in, t8, 5, padding=2), InnerBatchNorm(t8), PointwiseNonLinearity(t8),
            res,
            R2Conv(res.out_type, t4, 3, padding=1), InnerBatchNorm(t4), PointwiseNonLinearity(t4), GroupPooling(t4),
        )
    assert model.in_type == t_in and model.out_type.gspace == c4
    _, include = c8.restrict("C4")
    x = torch.randn(2, 1, 11, 11, dtype=F64)

    def error():  # max_h |f(iota(h).x) - h.f(x)| / max |f(x)| over the quarter turns h of C4
        with torch.no_grad():
            y = model(x)
            return max(float((model(t_in.transform(x, include(h))) - model.out_type.transform(y, h)).abs().max())
                       / float(y.abs().max()) for h in grid_symmetries(c4))

    assert len(grid_symmetries(c4)) == 4
    assert error() <= 1e-10
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(2, 1, 11, 11, dtype=F64) + 1)
    model.eval()
    assert error() <= 1e-10


def test_restriction_bad_input():
    gs, _, t = _types(rot2dOnR2(8))
    res = RestrictionModule(t, "C4")
    with pytest.raises(ValueError, match="RestrictionModule: expected input of type .*expected 16 channels, got 8"):
        res(torch.randn(1, 8, 3, 3))
    with pytest.raises(ValueError, match="in_type must be a FieldType"):
        RestrictionModule(gs.regular_repr, "C4")
    with pytest.raises(ValueError):
        RestrictionModule(t, "C3")  # not a subgroup of C8


# ---------------------------------------------------------------------------- SequentialModule
def _chain():
    gs, t1, t8 = _types()
    with float64():
        return t1, t8, [R2Conv(t1, t8, 3, padding=1), InnerBatchNorm(t8), PointwiseNonLinearity(t8)]


def test_sequential_runs_the_chain_and_exposes_types():
    t1, t8, mods = _chain()
    net = SequentialModule(*mods)
    assert net.in_type == t1 and net.out_type == t8 and len(net) == 3 and net[1] is mods[1]
    x = torch.randn(2, 1, 7, 7, dtype=F64)
    y = net(x)
    torch.testing.assert_close(y, mods[2](mods[1](mods[0](x))), atol=0, rtol=0)
    assert field_equivariance_error(net, x, grid_symmetries(t1.gspace)) <= 1e-10
    assert isinstance(net[1:], SequentialModule) and net[1:].in_type == t8


def test_sequential_accepts_ordered_dict():
    t1, t8, mods = _chain()
    net = SequentialModule(OrderedDict([("conv", mods[0]), ("bn", mods[1]), ("relu", mods[2])]))
    assert net.conv is mods[0] and net.relu is mods[2]
    assert [name for name, _ in net.named_children()] == ["conv", "bn", "relu"]
    assert net(torch.randn(1, 1, 5, 5, dtype=F64)).shape == (1, 8, 5, 5)


def test_sequential_type_mismatch_names_both_types_and_positions():
    gs, t1, t8 = _types()
    bn1 = InnerBatchNorm(t1)
    bn8 = InnerBatchNorm(t8)
    pattern = (r"module 0 \('0', InnerBatchNorm\) has out_type FieldType\(C4_on_R2: \[irrep_0\], size=1\) but "
               r"module 1 \('1', InnerBatchNorm\) has in_type FieldType\(C4_on_R2: \[regular, regular\], size=8\)")
    with pytest.raises(ValueError, match=pattern):
        SequentialModule(bn1, bn8)
    with pytest.raises(ValueError, match=r"module 1 \('b', InnerBatchNorm\).*module 2 \('c', InnerBatchNorm\)"):
        SequentialModule(OrderedDict([("a", InnerBatchNorm(t8)), ("b", InnerBatchNorm(t8)), ("c", bn1)]))
    with pytest.raises(ValueError, match="has no FieldType in_type"):
        SequentialModule(bn8, nn.ReLU())


def test_sequential_checks_every_change_of_the_chain():
    t1, t8, mods = _chain()
    net = SequentialModule()
    assert net.in_type is None and net.out_type is None
    with pytest.raises(ValueError, match="empty"):
        net(torch.randn(1, 1, 3, 3))
    net.add_module("conv", mods[0])
    with pytest.raises(ValueError, match="module 1 .* in_type"):
        net.add_module("bad", InnerBatchNorm(t1))
    assert len(net) == 1 and net.out_type == t8  # the failed call left the chain unchanged
    net.append(mods[1]).append(mods[2])
    assert net.out_type == t8
    with pytest.raises(ValueError, match=r"module 3 \('3', GroupPooling\).*module 4 \('4', InnerBatchNorm\)"):
        net.append(GroupPooling(t8)).append(InnerBatchNorm(t8))  # GroupPooling outputs 2 trivial fields
    net = SequentialModule(*mods)
    with pytest.raises(ValueError, match="module 0"):
        net.insert(0, InnerBatchNorm(t8))  # t8 -> t8 before a conv that expects t1
    net.insert(1, NormBatchNorm(t8))
    assert isinstance(net[1], NormBatchNorm) and len(net) == 4
    with pytest.raises(ValueError, match="module 0"):
        net[0] = InnerBatchNorm(t1)  # t1 -> t1, but module 1 expects t8
    net[1] = NormNonLinearity(t8)
    assert isinstance(net[1], NormNonLinearity)
    del net[1]
    assert len(net) == 3 and net.out_type == t8
    scalars = FieldType(t8.gspace, [t8.gspace.trivial_repr] * 2)
    pooled = SequentialModule(mods[0], GroupPooling(t8), InnerBatchNorm(scalars))
    with pytest.raises(ValueError, match="module 0"):
        del pooled[1]  # the conv's t8 output would feed a batch norm on 2 scalars
    assert len(pooled) == 3


def test_sequential_checks_its_input():
    _, _, mods = _chain()
    net = SequentialModule(*mods)
    with pytest.raises(ValueError, match=r"SequentialModule: expected input of type .*expected 1 channels, got 3"):
        net(torch.randn(1, 3, 5, 5, dtype=F64))


def test_sequential_float32():
    gs, t1, t8 = _types()
    net = SequentialModule(R2Conv(t1, t8, 3, padding=1), InnerBatchNorm(t8), PointwiseNonLinearity(t8),
                           GroupPooling(t8))
    x = torch.randn(2, 1, 8, 8)
    y = net(x)
    assert y.dtype == torch.float32 and y.shape == (2, 2, 8, 8)
    assert field_equivariance_error(net, x, grid_symmetries(gs)) < 1e-5
