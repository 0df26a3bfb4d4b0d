"""PointwiseMaxPool3D, NormMaxPool on 3D grids and NormPool (the additions to ``steertorch.nn._fields._pooling``)."""

import pytest
import torch
import torch.nn.functional as F
from _equivariance_helpers import assert_finite_gradients, gen, grid_gspaces_2d, grid_gspaces_3d
from _equivariance_helpers import mixed_field_type as field_type

from steertorch.gspaces import fullOctaOnR3, octaOnR3, rot2dOnR2, rot3dOnR3
from steertorch.nn import FieldType, NormMaxPool, NormPool, PointwiseMaxPool2D, PointwiseMaxPool3D
from steertorch.testing import field_equivariance_error, grid_symmetries

torch.set_num_threads(1)
F64 = torch.float64

GS2, GS3 = grid_gspaces_2d(), grid_gspaces_3d()


def permutation_type(gs) -> FieldType:
    return FieldType(gs, [gs.regular_repr, gs.trivial_repr, gs.regular_repr])


# ---------------------------------------------------------------- PointwiseMaxPool3D
@pytest.mark.parametrize("gs", [octaOnR3(), fullOctaOnR3()], ids=lambda g: g.name)
@pytest.mark.parametrize("kernel,stride,padding,size", [(2, 2, 0, 6), (3, 2, 1, 7), (3, 1, 1, 5)])
def test_pointwise_max_pool_3d_equivariant(gs, kernel, stride, padding, size):
    ft = permutation_type(gs)
    pool = PointwiseMaxPool3D(ft, kernel, stride, padding)
    x = torch.randn(2, ft.size, size, size, size, dtype=F64, generator=gen(0))
    y = pool(x)
    assert torch.equal(y, F.max_pool3d(x, kernel, stride, padding))
    els = grid_symmetries(gs)
    assert len(els) == gs.fibergroup.order  # every element of O / O_h is a grid symmetry
    assert field_equivariance_error(pool, x, els) <= 1e-10


def test_pointwise_max_pool_3d_asymmetric_windows_not_equivariant():
    """The documented window condition matters: 2-windows with stride 2 on 7 voxels leave the last row out."""
    gs = octaOnR3()
    pool = PointwiseMaxPool3D(permutation_type(gs), 2)
    x = torch.randn(1, pool.in_type.size, 7, 7, 7, dtype=F64, generator=gen(1))
    assert field_equivariance_error(pool, x, grid_symmetries(gs)) > 1e-2


def test_pointwise_max_pool_errors():
    o, c4 = octaOnR3(), rot2dOnR2(4)
    with pytest.raises(ValueError, match="permutation"):
        PointwiseMaxPool3D(FieldType(o, [o.irrep("T1")]), 2)
    with pytest.raises(ValueError, match="R\\^3"):
        PointwiseMaxPool3D(FieldType(c4, [c4.regular_repr]), 2)
    with pytest.raises(ValueError, match="R\\^2"):
        PointwiseMaxPool2D(FieldType(o, [o.regular_repr]), 2)
    pool = PointwiseMaxPool3D(FieldType(o, [o.regular_repr]), 2)
    with pytest.raises(ValueError, match="PointwiseMaxPool3D.*expected 24 channels, got 23"):
        pool(torch.randn(1, 23, 4, 4, 4))
    with pytest.raises(ValueError, match="3 spatial dimensions"):
        pool(torch.randn(1, 24, 4, 4))


# ---------------------------------------------------------------- NormMaxPool in 3D
@pytest.mark.parametrize("gs", GS3, ids=lambda g: g.name)
def test_norm_max_pool_3d_equivariant(gs):
    ft = field_type(gs)
    pool = NormMaxPool(ft, 2)
    x = torch.randn(2, ft.size, 6, 6, 6, dtype=F64, generator=gen(2))
    assert pool(x).shape == (2, ft.size, 3, 3, 3)
    assert field_equivariance_error(pool, x, grid_symmetries(gs)) <= 1e-10


def test_norm_max_pool_3d_selects_largest_norm_vector():
    gs = rot3dOnR3()
    pool = NormMaxPool(FieldType(gs, [gs.irrep(1), gs.irrep(0)]), 2)
    x = torch.zeros(1, 4, 2, 2, 2, dtype=F64)
    x[0, :3, 0, 0, 0] = torch.tensor([3.0, 0.0, 0.0])    # norm 3
    x[0, :3, 1, 0, 1] = torch.tensor([-2.0, 2.0, 1.5])   # norm 3.2: selected, no channel of it is maximal
    x[0, 3, 0, 1, 1] = -4.0
    y = pool(x)
    assert y.shape == (1, 4, 1, 1, 1)
    assert torch.equal(y.flatten(), torch.tensor([-2.0, 2.0, 1.5, -4.0], dtype=F64))


# ---------------------------------------------------------------- NormPool
@pytest.mark.parametrize("gs", GS2 + GS3, ids=lambda g: g.name)
def test_norm_pool_values_and_equivariance(gs):
    ft = field_type(gs)
    pool = NormPool(ft)
    assert len(pool.out_type) == len(ft) and all(r.is_trivial() for r in pool.out_type.representations)
    spatial = (5,) * gs.dimensionality
    x = torch.randn(2, ft.size, *spatial, dtype=F64, generator=gen(3))
    y = pool(x)
    expected = torch.stack([x[:, a:b].norm(dim=1) for a, b in zip(ft.fields_start, ft.fields_end)], 1)
    torch.testing.assert_close(y, expected, rtol=1e-14, atol=0)
    assert field_equivariance_error(pool, x, grid_symmetries(gs)) <= 1e-10
    # the fibre action alone leaves the norms unchanged, for any element (continuous groups: random ones)
    g = gs.fibergroup
    els = g.elements() if g.is_finite else [g.sample(generator=gen(k), dtype=F64) for k in range(4)]
    for e in els:
        torch.testing.assert_close(pool(ft.transform_fibers(x, e)), y, rtol=1e-12, atol=0)


def test_norm_pool_gradients_finite_at_zero():
    gs = rot2dOnR2(-1)
    pool = NormPool(FieldType(gs, [gs.irrep(1), gs.irrep(0), gs.irrep(2)]))
    x = torch.zeros(1, 5, 3, 3, dtype=F64)
    x[0, :2, 1, 1] = torch.tensor([3.0, -4.0])
    y = pool(x)
    assert float(y[0, 0, 1, 1]) == 5.0 and float(y[0, 0, 0, 0]) <= 1e-12 and float(y.min()) >= 0
    assert_finite_gradients(pool, x.requires_grad_(True))   # first and second derivatives, zero vectors included
    (g,) = torch.autograd.grad(pool(x).sum(), x)
    torch.testing.assert_close(g[0, :2, 1, 1], torch.tensor([0.6, -0.8], dtype=F64))


def test_norm_pool_float32_and_errors():
    gs = octaOnR3()
    pool = NormPool(FieldType(gs, [gs.irrep("T1"), gs.regular_repr]))
    assert pool(torch.randn(1, 27, 2, 2, 2)).dtype == torch.float32
    with pytest.raises(ValueError, match="NormPool.*expected 27 channels, got 26"):
        pool(torch.randn(1, 26, 2, 2, 2))
    with pytest.raises(ValueError, match="3 spatial dimensions"):
        pool(torch.randn(1, 27, 2, 2))
    with pytest.raises(ValueError, match="FieldType"):
        NormPool([gs.regular_repr])
