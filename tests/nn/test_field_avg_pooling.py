"""PointwiseAvgPool2D/3D and PointwiseAvgPoolAntialiased2D/3D: torch's values, exact equivariance under the grid's
symmetries for any field type, the measured error of a 45-degree rotation, errors."""

import pytest
import torch
import torch.nn.functional as F
from _equivariance_helpers import default_dtype, gen, grid_gspaces_2d, grid_gspaces_3d
from _equivariance_helpers import mixed_field_type as field_type

from steertorch.gspaces import flipRot2dOnR2, octaOnR3, rot2dOnR2
from steertorch.nn import (
    FieldType,
    PointwiseAvgPool2D,
    PointwiseAvgPool3D,
    PointwiseAvgPoolAntialiased2D,
    PointwiseAvgPoolAntialiased3D,
    PointwiseMaxPool2D,
)
from steertorch.testing import field_equivariance_error, grid_symmetries

torch.set_num_threads(1)
F64 = torch.float64

GS2, GS3 = grid_gspaces_2d(), grid_gspaces_3d()


def _full_kernel_conv(x, pool):
    """The reference: one depthwise convolution with the full d-dimensional Gaussian (escnn's construction)."""
    g, d, c = pool.filter.to(x.dtype), pool.dims, x.shape[1]
    k = g
    for _ in range(d - 1):
        k = k[..., None] * g
    conv = F.conv2d if d == 2 else F.conv3d
    return conv(x, k.expand(c, 1, *k.shape), stride=pool.stride, padding=pool.padding, groups=c)


# ---------------------------------------------------------------- plain average pooling
@pytest.mark.parametrize("gs", GS2, ids=lambda g: g.name)
@pytest.mark.parametrize("kernel,stride,padding,size", [(2, 2, 0, 8), (3, 2, 1, 9), (3, 1, 1, 6)])
def test_avg_pool_2d_equivariant_any_field(gs, kernel, stride, padding, size):
    ft = field_type(gs)
    pool = PointwiseAvgPool2D(ft, kernel, stride, padding)
    x = torch.randn(2, ft.size, size, size, dtype=F64, generator=gen(0))
    assert torch.equal(pool(x), F.avg_pool2d(x, kernel, stride, padding))
    assert field_equivariance_error(pool, x, grid_symmetries(gs)) <= 1e-10


@pytest.mark.parametrize("gs", GS3, ids=lambda g: g.name)
@pytest.mark.parametrize("kernel,stride,padding,size", [(2, 2, 0, 6), (3, 2, 1, 7)])
def test_avg_pool_3d_equivariant_any_field(gs, kernel, stride, padding, size):
    ft = field_type(gs)
    pool = PointwiseAvgPool3D(ft, kernel, stride, padding)
    x = torch.randn(2, ft.size, size, size, size, dtype=F64, generator=gen(1))
    assert torch.equal(pool(x), F.avg_pool3d(x, kernel, stride, padding))
    assert field_equivariance_error(pool, x, grid_symmetries(gs)) <= 1e-10


def test_avg_pool_asymmetric_windows_not_equivariant():
    gs = flipRot2dOnR2(4)
    pool = PointwiseAvgPool2D(field_type(gs), 2)
    x = torch.randn(1, pool.in_type.size, 9, 9, dtype=F64, generator=gen(2))  # (9 - 2) % 2 != 0
    assert field_equivariance_error(pool, x, grid_symmetries(gs)) > 1e-2


# ---------------------------------------------------------------- antialiased
@pytest.mark.parametrize("gs", GS2, ids=lambda g: g.name)
@pytest.mark.parametrize("sigma,stride,size", [(0.66, 2, 9), (1.0, 2, 11), (0.5, 1, 6)])
def test_antialiased_2d_equivariant_any_field(gs, sigma, stride, size):
    ft = field_type(gs)
    pool = PointwiseAvgPoolAntialiased2D(ft, sigma, stride).to(F64)
    assert pool.kernel_size == 2 * round(3 * sigma) + 1 and pool.padding == ((pool.kernel_size - 1) // 2,) * 2
    x = torch.randn(2, ft.size, size, size, dtype=F64, generator=gen(3))
    y = pool(x)
    ref = _full_kernel_conv(x, pool)
    assert y.shape == ref.shape == (2, ft.size, (size - 1) // stride + 1, (size - 1) // stride + 1)
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-13)
    assert field_equivariance_error(pool, x, grid_symmetries(gs)) <= 1e-10


@pytest.mark.parametrize("gs", GS3, ids=lambda g: g.name)
def test_antialiased_3d_equivariant_any_field(gs):
    ft = field_type(gs)
    pool = PointwiseAvgPoolAntialiased3D(ft, 0.66, 2).to(F64)
    x = torch.randn(1, ft.size, 7, 7, 7, dtype=F64, generator=gen(4))
    y = pool(x)
    assert y.shape == (1, ft.size, 4, 4, 4)
    torch.testing.assert_close(y, _full_kernel_conv(x, pool), rtol=0, atol=1e-13)
    assert field_equivariance_error(pool, x, grid_symmetries(gs)) <= 1e-10


def test_antialiased_filter_is_a_normalised_gaussian():
    gs = rot2dOnR2(4)
    pool = PointwiseAvgPoolAntialiased2D(FieldType(gs, [gs.regular_repr]), 1.0, 2, padding=1).to(F64)
    g = pool.filter.to(F64)
    u = torch.arange(7, dtype=F64) - 3
    torch.testing.assert_close(g, torch.exp(-u * u / 2) / torch.exp(-u * u / 2).sum())
    assert pool.padding == (1, 1)
    # a constant field stays constant away from the zero padding
    y = pool(torch.ones(1, 4, 15, 15, dtype=F64))
    torch.testing.assert_close(y[..., 2:-2, 2:-2], torch.ones_like(y[..., 2:-2, 2:-2]))


def test_antialiased_asymmetric_geometry_not_equivariant():
    gs = flipRot2dOnR2(4)
    pool = PointwiseAvgPoolAntialiased2D(field_type(gs), 0.66, 2).to(F64)
    x = torch.randn(1, pool.in_type.size, 8, 8, dtype=F64, generator=gen(5))  # (8 + 4 - 5) % 2 != 0
    assert field_equivariance_error(pool, x, grid_symmetries(gs)) > 1e-2


def test_antialiased_45_degrees_measured_against_max_pool():
    """45-degree turn of a smooth centred blob (std 8 px, 65 x 65 grid): the antialiased pool adds nothing to the
    error of interpolating the rotated coarse output (plain subsampling shows the same floor), max pooling
    triples it. Numbers documented in the class docstring."""
    gs = rot2dOnR2(8)
    ft = FieldType(gs, [gs.trivial_repr])
    ax = torch.arange(65, dtype=F64) - 32
    x = torch.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * 8.0 ** 2))[None, None]

    class Subsample(torch.nn.Module):
        in_type = out_type = ft

        def forward(self, t):
            return t[..., ::2, ::2]

    g45 = [torch.tensor(1)]
    floor = field_equivariance_error(Subsample(), x, g45)
    anti = field_equivariance_error(PointwiseAvgPoolAntialiased2D(ft, 1.0, 2).to(F64), x, g45)
    maxp = field_equivariance_error(PointwiseMaxPool2D(ft, 3, 2, 1), x, g45)
    assert 5e-3 < floor < 1.5e-2 and anti <= 1.05 * floor and maxp > 2.5 * anti
    assert field_equivariance_error(PointwiseAvgPoolAntialiased2D(ft, 1.0, 2).to(F64), x, grid_symmetries(gs)) <= 1e-10


def test_antialiased_float32_and_to():
    gs = rot2dOnR2(-1)
    ft = FieldType(gs, [gs.irrep(1)])
    with default_dtype(torch.float32):
        pool = PointwiseAvgPoolAntialiased2D(ft, 0.66, 2)
    assert pool.filter.dtype == torch.float32
    x = torch.randn(1, 2, 9, 9, generator=gen(6))
    assert pool(x).dtype == torch.float32
    with pytest.raises(ValueError, match="PointwiseAvgPoolAntialiased2D: input x has dtype torch.float64"):
        pool(x.double())  # one dtype rule: no silent cast of the filter
    y32 = pool(x)
    assert pool.to(F64).filter.dtype == F64
    torch.testing.assert_close(pool(x.double()).float(), y32, rtol=1e-5, atol=1e-6)


def test_avg_pool_errors():
    c4, o = rot2dOnR2(4), octaOnR3()
    ft2, ft3 = FieldType(c4, [c4.regular_repr]), FieldType(o, [o.irrep("T1")])
    for bad in (0.0, -1.0, float("nan"), float("inf"), "1", True):
        with pytest.raises(ValueError, match="sigma"):
            PointwiseAvgPoolAntialiased2D(ft2, bad, 2)
    with pytest.raises(ValueError, match="stride"):
        PointwiseAvgPoolAntialiased2D(ft2, 1.0, 0)
    with pytest.raises(ValueError, match="stride"):
        PointwiseAvgPoolAntialiased3D(ft3, 1.0, (2, 2))
    with pytest.raises(ValueError, match="padding"):
        PointwiseAvgPoolAntialiased2D(ft2, 1.0, 2, padding=-1)
    for cls, ft in [(PointwiseAvgPool2D, ft3), (PointwiseAvgPool3D, ft2)]:
        with pytest.raises(ValueError, match="G-space on R"):
            cls(ft, 2)
    for cls, ft in [(PointwiseAvgPoolAntialiased2D, ft3), (PointwiseAvgPoolAntialiased3D, ft2)]:
        with pytest.raises(ValueError, match="G-space on R"):
            cls(ft, 1.0, 2)
    with pytest.raises(ValueError, match="PointwiseAvgPool2D.*expected 4 channels, got 3"):
        PointwiseAvgPool2D(ft2, 2)(torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match="PointwiseAvgPoolAntialiased3D.*3 spatial dimensions"):
        PointwiseAvgPoolAntialiased3D(ft3, 1.0, 2)(torch.randn(1, 3, 4, 4))
