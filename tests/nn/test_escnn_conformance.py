"""Side by side with escnn (a test-only dependency; skipped without it): signatures of the shared names, group
orders and irrep ids, subgroup ids, GeometricTensor slicing, and the outputs of parameter-free modules."""

import inspect
import warnings

import pytest
import torch

from steertorch import group, gspaces
from steertorch import nn as snn

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    escnn = pytest.importorskip("escnn.nn", exc_type=ImportError)  # also skips an escnn that cannot import
    from escnn import group as egroup
    from escnn import gspaces as egspaces
    from escnn import nn as enn

F64 = torch.float64
SHARED = ["R2Conv", "R3Conv", "R2ConvTransposed", "R3ConvTransposed", "LeakyReLU", "ReLU", "ELU",
          "GatedNonLinearityUniform", "PointwiseAdaptiveAvgPool2D", "PointwiseAdaptiveMaxPool2D",
          "PointwiseAdaptiveAvgPool3D", "PointwiseAdaptiveMaxPool3D", "ReshuffleModule", "MultipleModule",
          "BranchingModule", "MergeModule", "DisentangleModule", "PointwiseMaxPoolAntialiased2D",
          "PointwiseMaxPoolAntialiased3D", "PointwiseAvgPoolAntialiased2D", "PointwiseAvgPoolAntialiased",
          "GatedNonLinearity1", "SequentialModule", "GroupPooling", "NormPool", "TensorProductModule",
          "ConcatenatedNonLinearity", "VectorFieldNonLinearity", "InducedGatedNonLinearity1", "R3IcoConvTransposed"]
# escnn's catch-alls (*args / **kwargs) and the grid arguments spelled differently (documented in conventions.md)
SKIP_PARAMS = {"kwargs", "grid_args", "grid_kwargs", "args"}


@pytest.mark.parametrize("name", SHARED)
def test_our_signature_starts_with_escnns(name):
    theirs = [p for p in inspect.signature(getattr(enn, name)).parameters if p not in SKIP_PARAMS]
    ours = list(inspect.signature(getattr(snn, name)).parameters)
    assert ours[:len(theirs)] == theirs


@pytest.mark.parametrize("name", ["QuotientFourierELU", "FourierELU", "FourierPointwise", "GatedNonLinearity2"])
def test_escnn_keyword_arguments_are_accepted(name):
    theirs = {p for p in inspect.signature(getattr(enn, name)).parameters if p not in SKIP_PARAMS | {"out_irreps"}}
    assert theirs <= set(inspect.signature(getattr(snn, name)).parameters)


def test_group_orders_and_irrep_ids():
    for ours, theirs in ((group.octa_group(), egroup.octa_group()), (group.ico_group(), egroup.ico_group()),
                         (group.full_octa_group(), egroup.full_octa_group()),
                         (group.trivial_group(), egroup.trivial_group())):
        assert ours.order == theirs.order()
    for ours, theirs, band in ((group.so2_group(), egroup.so2_group(), 3), (group.o2_group(), egroup.o2_group(), 2),
                               (group.so3_group(), egroup.so3_group(), 2)):
        ids = theirs.bl_irreps(band)
        assert [ours.irrep(i).size for i in ids] == [theirs.irrep(*i).size for i in ids]
        assert [ours.irrep(i).label for i in ids] == ours.bl_irreps(band)


@pytest.mark.parametrize("sid", [(None, 4), (0.0, 4), (None, -1), (0.0, -1), (0.0, 1)])
def test_o2_subgroup_ids(sid):
    ours, _ = group.o2_group().subgroup(sid)
    theirs = egroup.o2_group().subgroup(sid)[0]
    assert (ours.order if ours.order is not None else -1) == theirs.order()


def test_geometric_tensor_slicing_selects_escnns_channels():
    gs, egs = gspaces.flipRot2dOnR2(4), egspaces.flipRot2dOnR2(4)
    ours = snn.FieldType(gs, [gs.trivial_repr, gs.regular_repr, gs.irrep(1, 1), gs.regular_repr])
    theirs = enn.FieldType(egs, [egs.trivial_repr, egs.regular_repr, egs.irrep(1, 1), egs.regular_repr])
    t = torch.randn(2, ours.size, 5, 5)
    for index in ((slice(None), slice(1, 3)), (slice(0, 1), 2), (slice(None), slice(None, None, 2)), 1):
        a, b = ours(t)[index], theirs(t)[index]
        assert torch.equal(a.tensor, b.tensor) and a.type.size == b.type.size
    assert torch.equal(snn.tensor_directsum([ours(t), ours(t)]).tensor,
                       enn.tensor_directsum([theirs(t), theirs(t)]).tensor)


def _same(ours, theirs, ft_ours, ft_theirs, x):
    ours.eval()
    theirs.eval()
    torch.testing.assert_close(ours(ft_ours(x)).tensor, theirs(ft_theirs(x)).tensor, rtol=1e-6, atol=1e-6)


def test_parameter_free_modules_match_escnn():
    gs, egs = gspaces.rot2dOnR2(4), egspaces.rot2dOnR2(4)
    ft = snn.FieldType(gs, [gs.regular_repr, gs.trivial_repr, gs.regular_repr])
    eft = enn.FieldType(egs, [egs.regular_repr, egs.trivial_repr, egs.regular_repr])
    x = torch.randn(2, ft.size, 9, 9)
    _same(snn.LeakyReLU(ft, 0.2), enn.LeakyReLU(eft, 0.2), ft, eft, x)
    _same(snn.PointwiseAdaptiveAvgPool2D(ft, 3), enn.PointwiseAdaptiveAvgPool2D(eft, 3), ft, eft, x)
    _same(snn.PointwiseAdaptiveMaxPool2D(ft, (2, 2)), enn.PointwiseAdaptiveMaxPool2D(eft, (2, 2)), ft, eft, x)
    _same(snn.ReshuffleModule(ft, [2, 0, 1]), enn.ReshuffleModule(eft, [2, 0, 1]), ft, eft, x)
    _same(snn.PointwiseAvgPoolAntialiased(ft, 0.66, 2), enn.PointwiseAvgPoolAntialiased(eft, 0.66, 2), ft, eft, x)


def test_antialiased_max_pool_matches_escnn():
    gs, egs = gspaces.rot2dOnR2(4), egspaces.rot2dOnR2(4)
    ft, eft = snn.FieldType(gs, [gs.regular_repr]), enn.FieldType(egs, [egs.regular_repr])
    x = torch.randn(2, 4, 9, 9)
    _same(snn.PointwiseMaxPoolAntialiased2D(ft, 3, 2, 1), enn.PointwiseMaxPoolAntialiased2D(eft, 3, 2, 1), ft, eft,
          x)
