"""R2Upsampling / R3Upsampling: torch's values, exact equivariance for the settings the module docstring lists (and
measured failure for the ones it excludes), errors."""

import pytest
import torch
import torch.nn.functional as F
from _equivariance_helpers import gen, grid_gspaces_2d, grid_gspaces_3d
from _equivariance_helpers import mixed_field_type as field_type

from steertorch.gspaces import flipRot2dOnR2, octaOnR3, rot2dOnR2, rot3dOnR3
from steertorch.nn import FieldType, R2Upsampling, R3Upsampling
from steertorch.testing import field_equivariance_error, grid_symmetries

torch.set_num_threads(1)
F64 = torch.float64

GS2, GS3 = grid_gspaces_2d(), grid_gspaces_3d()


# (input size n, module arguments): exactly equivariant according to the module docstring
EXACT_2D = [
    (5, dict(scale_factor=2, mode="nearest")),
    (4, dict(scale_factor=3, mode="nearest")),
    (4, dict(scale_factor=2, mode="nearest-exact")),
    (5, dict(size=7, mode="nearest-exact")),          # odd n: any size
    (5, dict(scale_factor=2)),                        # bilinear, align_corners=False
    (5, dict(size=7)),
    (4, dict(scale_factor=1.5)),                      # n * scale_factor = 6 is an integer
    (5, dict(scale_factor=1.5, align_corners=True)),
    (5, dict(size=8, align_corners=True)),
]
# the exceptions the module docstring lists
NOT_EXACT_2D = [
    (5, dict(size=7, mode="nearest")),                # m not a multiple of n
    (4, dict(size=7, mode="nearest-exact")),          # n even, m not a multiple
    (5, dict(scale_factor=1.5)),                      # n * scale_factor = 7.5: sampled at 1/s, off centre
]


@pytest.mark.parametrize("gs", GS2, ids=lambda g: g.name)
@pytest.mark.parametrize("n,kwargs", EXACT_2D, ids=str)
def test_r2_upsampling_exact(gs, n, kwargs):
    ft = field_type(gs)
    up = R2Upsampling(ft, **kwargs)
    x = torch.randn(2, ft.size, n, n, dtype=F64, generator=gen(0))
    align = kwargs.get("align_corners", False) if up.mode == "bilinear" else None
    ref = F.interpolate(x, size=kwargs.get("size"), scale_factor=kwargs.get("scale_factor"), mode=up.mode,
                        align_corners=align)
    assert torch.equal(up(x), ref)
    assert field_equivariance_error(up, x, grid_symmetries(gs)) <= 1e-10


@pytest.mark.parametrize("n,kwargs", NOT_EXACT_2D, ids=str)
def test_r2_upsampling_documented_exceptions(n, kwargs):
    gs = flipRot2dOnR2(4)
    up = R2Upsampling(field_type(gs), **kwargs)
    x = torch.randn(1, up.in_type.size, n, n, dtype=F64, generator=gen(1))
    assert field_equivariance_error(up, x, grid_symmetries(gs)) > 1e-2


@pytest.mark.parametrize("gs", GS3, ids=lambda g: g.name)
@pytest.mark.parametrize("n,kwargs", [(3, dict(scale_factor=2, mode="nearest")), (4, dict(size=7)),
                                      (3, dict(size=5, mode="nearest-exact")),
                                      (3, dict(scale_factor=1.5, align_corners=True))], ids=str)
def test_r3_upsampling_exact(gs, n, kwargs):
    ft = field_type(gs)
    up = R3Upsampling(ft, **kwargs)
    x = torch.randn(1, ft.size, n, n, n, dtype=F64, generator=gen(2))
    align = kwargs.get("align_corners", False) if up.mode == "trilinear" else None
    ref = F.interpolate(x, size=kwargs.get("size"), scale_factor=kwargs.get("scale_factor"), mode=up.mode,
                        align_corners=align)
    assert torch.equal(up(x), ref)
    assert field_equivariance_error(up, x, grid_symmetries(gs)) <= 1e-10


def test_r3_upsampling_documented_exception():
    gs = octaOnR3()
    up = R3Upsampling(field_type(gs), scale_factor=1.5)  # 3 * 1.5 = 4.5
    x = torch.randn(1, up.in_type.size, 3, 3, 3, dtype=F64, generator=gen(3))
    assert field_equivariance_error(up, x, grid_symmetries(gs)) > 1e-2


def test_upsampling_defaults_and_float32():
    gs2, gs3 = rot2dOnR2(-1), rot3dOnR3()
    up2 = R2Upsampling(FieldType(gs2, [gs2.irrep(1)]), scale_factor=2)
    up3 = R3Upsampling(FieldType(gs3, [gs3.irrep(1)]), scale_factor=2)
    assert (up2.mode, up2.align_corners, up3.mode) == ("bilinear", False, "trilinear")
    assert up2(torch.randn(1, 2, 3, 3)).dtype == torch.float32
    assert up3(torch.randn(1, 3, 2, 2, 2)).shape == (1, 3, 4, 4, 4)


def test_upsampling_errors():
    c4, o = rot2dOnR2(4), octaOnR3()
    ft2, ft3 = FieldType(c4, [c4.regular_repr]), FieldType(o, [o.irrep("T1")])
    with pytest.raises(ValueError, match="exactly one of scale_factor and size"):
        R2Upsampling(ft2)
    with pytest.raises(ValueError, match="exactly one of scale_factor and size"):
        R2Upsampling(ft2, scale_factor=2, size=8)
    with pytest.raises(ValueError, match="mode"):
        R2Upsampling(ft2, scale_factor=2, mode="trilinear")
    with pytest.raises(ValueError, match="mode"):
        R3Upsampling(ft3, scale_factor=2, mode="bilinear")
    with pytest.raises(ValueError, match="align_corners=True needs mode='bilinear'"):
        R2Upsampling(ft2, scale_factor=2, mode="nearest", align_corners=True)
    for bad in (0, -2.0, float("nan"), (2, 2, 2)):
        with pytest.raises(ValueError, match="scale_factor must be"):
            R2Upsampling(ft2, scale_factor=bad)
    for bad in (0, 2.5, (4, 4, 4)):
        with pytest.raises(ValueError, match="size must be"):
            R2Upsampling(ft2, size=bad)
    with pytest.raises(ValueError, match="G-space on R\\^2"):
        R2Upsampling(ft3, scale_factor=2)
    with pytest.raises(ValueError, match="G-space on R\\^3"):
        R3Upsampling(ft2, scale_factor=2)
    with pytest.raises(ValueError, match="R2Upsampling.*expected 4 channels, got 5"):
        R2Upsampling(ft2, scale_factor=2)(torch.randn(1, 5, 3, 3))
    with pytest.raises(ValueError, match="R3Upsampling.*3 spatial dimensions"):
        R3Upsampling(ft3, scale_factor=2)(torch.randn(1, 3, 3, 3))


@pytest.mark.parametrize("gs", [flipRot2dOnR2(4), rot2dOnR2(-1)], ids=lambda g: g.name)
def test_encoder_decoder_stack_equivariant(gs):
    """R2Conv -> antialiased pool -> R2Conv -> R2Upsampling -> NormPool: the whole stack is exactly equivariant on a
    grid whose geometry stays symmetric (9 -> 5 -> 9 pixels)."""
    from steertorch.nn import NormPool, PointwiseAvgPoolAntialiased2D, R2Conv

    torch.manual_seed(0)
    t0 = FieldType(gs, [gs.trivial_repr])
    t1 = field_type(gs)
    model = torch.nn.Sequential(
        R2Conv(t0, t1, 3, padding=1), PointwiseAvgPoolAntialiased2D(t1, 0.66, 2), R2Conv(t1, t1, 3, padding=1),
        R2Upsampling(t1, size=9, align_corners=True), NormPool(t1),
    ).to(F64)
    model.in_type, model.out_type = t0, model[-1].out_type
    x = torch.randn(2, 1, 9, 9, dtype=F64, generator=gen(4))
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, len(t1), 9, 9) and float(y.std()) > 1e-3
    assert field_equivariance_error(model, x, grid_symmetries(gs)) <= 1e-10
