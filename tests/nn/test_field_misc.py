"""ReLU / ELU, MaskModule, FieldDropout, PointwiseDropout, IdentityModule on grid fields."""

import pytest
import torch
import torch.nn.functional as F

from steertorch.gspaces import flipRot2dOnR2, octaOnR3, rot2dOnR2
from steertorch.nn import (
    ELU,
    FieldDropout,
    FieldType,
    IdentityModule,
    MaskModule,
    PointwiseDropout,
    ReLU,
    disk_mask,
)
from steertorch.testing import field_equivariance_error, grid_symmetries

torch.set_num_threads(1)
F64 = torch.float64


@pytest.mark.parametrize("cls, ref", [(ReLU, F.relu), (ELU, F.elu)], ids=["ReLU", "ELU"])
def test_relu_elu_values_and_equivariance(cls, ref):
    gs = rot2dOnR2(8)
    ft = FieldType(gs, [gs.regular_repr, gs.trivial_repr])
    act = cls(ft)
    x = torch.randn(2, ft.size, 5, 5, dtype=F64)
    assert torch.equal(act(x), ref(x))
    assert field_equivariance_error(act, x, grid_symmetries(gs)) <= 1e-12
    with pytest.raises(ValueError, match="permutation"):
        cls(FieldType(gs, [gs.irrep(1)]))
    with pytest.raises(ValueError, match="channels"):
        act(torch.randn(1, 3, 5, 5))


@pytest.mark.parametrize("dim, size", [(2, 7), (2, 8), (3, 5)])
def test_disk_mask_is_invariant_under_the_grid_symmetries(dim, size):
    m = disk_mask(size, dim, margin=10, sigma=1.5, dtype=F64)
    assert m.shape == (size,) * dim and float(m.max()) == 1.0 and float(m.min()) > 0
    for axes in [(0, 1)] + ([(1, 2), (0, 2)] if dim == 3 else []):
        assert torch.equal(torch.rot90(m, 1, axes), m)
    assert torch.equal(torch.flip(m, (0,)), m)
    c = (size - 1) / 2
    t = (c * 0.9) ** 2
    corner = (c**2) * dim  # squared distance of a corner pixel
    assert abs(float(m[(0,) * dim]) - torch.exp(torch.tensor((t - corner) / (2 * 1.5**2), dtype=F64)).item()) < 1e-12


def test_mask_module_equivariant_for_any_field_type():
    gs = flipRot2dOnR2(-1)
    ft = FieldType(gs, [gs.irrep(1, 1), gs.trivial_repr, gs.irrep(1, 2)])
    mask = MaskModule(ft, 9, margin=5).to(F64)
    x = torch.randn(2, ft.size, 9, 9, dtype=F64)
    y = mask(x)
    assert torch.allclose(y[:, :, 4, 4], x[:, :, 4, 4]) and float(y[:, :, 0, 0].abs().max()) < float(x.abs().max())
    assert field_equivariance_error(mask, x, grid_symmetries(gs)) <= 1e-12
    gs3 = octaOnR3()
    ft3 = FieldType(gs3, [gs3.regular_repr])
    mask3 = MaskModule(ft3, 5).to(F64)
    assert field_equivariance_error(mask3, torch.randn(1, 24, 5, 5, 5, dtype=F64), grid_symmetries(gs3)) <= 1e-12
    with pytest.raises(ValueError, match="built for a 9x9 grid"):
        mask(torch.randn(1, ft.size, 7, 7, dtype=F64))


def test_field_dropout_drops_whole_fields_and_commutes_with_the_group():
    gs = rot2dOnR2(-1)
    ft = FieldType(gs, [gs.irrep(1), gs.irrep(2), gs.trivial_repr] * 4)
    drop = FieldDropout(ft, p=0.4)
    x = torch.randn(64, ft.size, 3, 3, dtype=F64)
    torch.manual_seed(1)
    y = drop(x)
    ratio = (y / x).round(decimals=9)
    starts, ends = ft.fields_start, ft.fields_end
    for b in range(4):
        for s, e in zip(starts, ends):
            vals = set(ratio[b, s:e].flatten().tolist())
            assert vals in ({0.0}, {round(1 / 0.6, 9)})  # the whole field kept (rescaled) or dropped
    kept = float((ratio[:, [s for s in starts]] != 0).to(F64).mean())
    assert 0.5 < kept < 0.7
    # the same draws commute with the group: for every element (fibre action) and the grid symmetries
    g = gs.fibergroup.sample(generator=torch.Generator().manual_seed(0), dtype=F64)
    torch.manual_seed(2)
    lhs = drop(ft.transform_fibers(x, g))
    torch.manual_seed(2)
    rhs = ft.transform_fibers(drop(x), g)
    assert float((lhs - rhs).abs().max()) < 1e-12
    drop.eval()
    assert drop(x) is x
    with pytest.raises(ValueError, match="p must lie"):
        FieldDropout(ft, p=1.0)


def test_pointwise_dropout():
    gs = rot2dOnR2(4)
    ft = FieldType(gs, [gs.regular_repr] * 8)
    drop = PointwiseDropout(ft, p=0.3)
    torch.manual_seed(0)
    y = drop(torch.ones(16, ft.size, 8, 8))
    assert abs(float((y == 0).float().mean()) - 0.3) < 0.02 and float(y.max()) == pytest.approx(1 / 0.7)
    with pytest.raises(ValueError, match="FieldDropout"):
        PointwiseDropout(FieldType(gs, [gs.irrep(1)]))


def test_identity_module():
    gs = rot2dOnR2(4)
    ident = IdentityModule(FieldType(gs, [gs.regular_repr]))
    x = torch.randn(1, 4, 2, 2)
    assert ident(x) is x and ident.out_type == ident.in_type
    with pytest.raises(ValueError, match="channels"):
        ident(torch.randn(1, 3, 2, 2))
