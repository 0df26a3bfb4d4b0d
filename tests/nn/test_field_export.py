"""Whole-model export of field modules to plain torch.nn: same outputs in eval mode, nothing of steertorch left
but two plain helper modules; clear errors for modules without a plain equivalent and for training mode."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from steertorch import gspaces
from steertorch import nn as snn
from steertorch.nn import FieldType
from steertorch.nn._fields._export import MaxOverFields, MultiplyByMask

F64 = torch.float64
PLAIN_HELPERS = (MultiplyByMask, MaxOverFields)  # the exported forms of MaskModule and GroupPooling


def _trained_like(module: nn.Module) -> nn.Module:
    """Running statistics and affine parameters away from their initial values (a few training batches)."""
    module.train()
    with torch.no_grad():
        for _ in range(3):
            module(torch.randn(4, module.in_type.size, *([11] * module.in_type.gspace.dimensionality), dtype=F64)
                   * 2 + 0.5)
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return module.eval()


def _assert_plain(exported: nn.Module) -> None:
    for m in exported.modules():
        assert type(m).__module__.startswith("torch.nn") or isinstance(m, PLAIN_HELPERS), type(m)


def test_2d_model_exports_with_the_same_outputs():
    torch.manual_seed(0)
    gs = gspaces.rot2dOnR2(8)
    t_in = FieldType(gs, [gs.trivial_repr])
    t_reg = FieldType(gs, [gs.regular_repr] * 3)
    t_irr = FieldType(gs, [gs.trivial_repr, gs.irrep(1), gs.irrep(2)] * 2)
    net = snn.SequentialModule(
        snn.MaskModule(t_in, 11, margin=1),
        snn.R2Conv(t_in, t_reg, 5, padding=2), snn.InnerBatchNorm(t_reg), snn.ReLU(t_reg),
        snn.PointwiseDropout(t_reg, 0.3), snn.PointwiseMaxPool2D(t_reg, 2),
        snn.R2Conv(t_reg, t_irr, 3, padding=1), snn.IIDBatchNorm2d(t_irr), snn.FieldDropout(t_irr, 0.2),
        snn.R2Conv(t_irr, t_reg, 3, padding=1), snn.ELU(t_reg), snn.PointwiseAvgPool2D(t_reg, 2),
        snn.LeakyReLU(t_reg, 0.1), snn.GroupPooling(t_reg),
    ).double()
    for m in net:
        if hasattr(m, "running_mean") or hasattr(m, "running_var"):
            _trained_like(m)
    net.eval()
    plain = net.export()
    _assert_plain(plain)
    x = torch.randn(3, 1, 11, 11, dtype=F64)
    torch.testing.assert_close(plain(x), net(x), rtol=1e-10, atol=1e-12)
    again = pickle.loads(pickle.dumps(plain))
    torch.testing.assert_close(again(x), net(x), rtol=1e-10, atol=1e-12)


def test_3d_batch_norms_export_as_affine_maps():
    torch.manual_seed(0)
    gs = gspaces.rot3dOnR3()
    t = FieldType(gs, [gs.irrep(0), gs.irrep(1), gs.irrep(2)] * 2)
    for bn in (snn.IIDBatchNorm3d(t), snn.NormBatchNorm(t), snn.GNormBatchNorm(t)):
        bn = _trained_like(bn.double())
        plain = bn.export()
        assert isinstance(plain, nn.Conv3d)
        x = torch.randn(2, t.size, 3, 3, 3, dtype=F64)
        torch.testing.assert_close(plain(x), bn(x), rtol=1e-10, atol=1e-12)


def test_export_errors():
    gs = gspaces.rot2dOnR2(-1, maximum_frequency=2)
    t = FieldType(gs, [gs.irrep(1), gs.irrep(2)])
    with pytest.raises(NotImplementedError, match="NormNonLinearity"):
        snn.NormNonLinearity(t).export()
    with pytest.raises(RuntimeError, match=r"\.eval\(\)"):
        snn.IIDBatchNorm2d(t).train().export()


@pytest.mark.parametrize("dims", [2, 3])
def test_antialiased_pools_export_as_depthwise_gaussian_convolutions(dims):
    gs = gspaces.rot2dOnR2(8) if dims == 2 else gspaces.octaOnR3()
    t = FieldType(gs, [gs.regular_repr] * 2)
    avg = snn.PointwiseAvgPoolAntialiased2D if dims == 2 else snn.PointwiseAvgPoolAntialiased3D
    mx = snn.PointwiseMaxPoolAntialiased2D if dims == 2 else snn.PointwiseMaxPoolAntialiased3D
    x = torch.randn(2, t.size, *([9] * dims), dtype=F64)
    for pool in (avg(t, 0.66, 2), avg(t, 1.0, 1, padding=0), mx(t, 3, 2, 1)):
        pool = pool.double().eval()
        plain = pool.export()
        _assert_plain(plain)
        torch.testing.assert_close(plain(x), pool(x), rtol=1e-12, atol=1e-14)


def test_fourier_nonlinearities_export_as_sample_function_project():
    so2 = gspaces.rot2dOnR2(-1)
    so3 = gspaces.rot3dOnR3()
    for act, spatial in ((snn.FourierELU(so2, 3, irreps=[(f,) for f in range(4)], N=16), (5, 5)),
                         (snn.FourierPointwise(so2, 2, irreps=2, function="p_relu", N=8), (4, 4)),
                         (snn.FourierELU(so3, 2, irreps=1), (3, 3, 3)),
                         (snn.QuotientFourierELU(so3, "SO2", 2, irreps=2), (3, 3, 3))):
        act = act.double().eval()
        plain = act.export()
        _assert_plain(plain)
        x = torch.randn(2, act.in_type.size, *spatial, dtype=F64)
        torch.testing.assert_close(plain(x), act(x), rtol=1e-12, atol=1e-14)
    with pytest.raises(NotImplementedError, match="FourierPointwise"):
        snn.FourierPointwise(so2, 2, irreps=2, function=lambda z: z * z, N=8).export()
