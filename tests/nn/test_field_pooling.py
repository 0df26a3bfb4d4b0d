import pytest
import torch

from steertorch.gspaces import flipRot2dOnR2, rot2dOnR2
from steertorch.nn import (
    FieldType,
    GroupPooling,
    NormMaxPool,
    PointwiseMaxPool2D,
    PointwiseNonLinearity,
    R2Conv,
)
from steertorch.testing import field_equivariance_error, grid_symmetries

torch.set_num_threads(1)
F64 = torch.float64




FINITE = [rot2dOnR2(4), flipRot2dOnR2(4), rot2dOnR2(8)]


@pytest.mark.parametrize("gs", FINITE, ids=lambda g: g.name)
def test_group_pooling_invariant(gs):
    torch.manual_seed(0)
    ft = FieldType(gs, [gs.regular_repr, gs.trivial_repr, gs.regular_repr])
    pool = GroupPooling(ft)
    assert pool.out_type.size == 3 and all(r.is_trivial() for r in pool.out_type.representations)
    x = torch.randn(2, ft.size, 5, 5, dtype=F64)
    y = pool(x)
    n = gs.fibergroup.order
    assert torch.equal(y[:, 0], x[:, :n].amax(1)) and torch.equal(y[:, 1], x[:, n])
    assert torch.equal(y[:, 2], x[:, n + 1:].amax(1))
    assert field_equivariance_error(pool, x, grid_symmetries(gs)) <= 1e-10
    # fibre-only action: exactly invariant for every group element, not only the grid's
    for g in gs.fibergroup.elements():
        assert torch.equal(pool(ft.transform_fibers(x, g)), y)


def test_group_pooling_uniform_fast_path_matches_general():
    gs = rot2dOnR2(4)
    x = torch.randn(2, 8, 3, 3, dtype=F64)
    uniform = GroupPooling(FieldType(gs, [gs.regular_repr] * 2))(x)
    mixed_type = FieldType(gs, [gs.regular_repr, gs.trivial_repr, gs.trivial_repr, gs.trivial_repr,
                                gs.trivial_repr])
    mixed = GroupPooling(mixed_type)(x)
    assert torch.equal(uniform[:, 0], mixed[:, 0]) and torch.equal(mixed[:, 1:], x[:, 4:])


def test_group_pooling_errors():
    gs = rot2dOnR2(4)
    with pytest.raises(ValueError, match="permutation"):
        GroupPooling(FieldType(gs, [gs.irrep(1)]))
    with pytest.raises(ValueError, match="expected 4 channels, got 3"):
        GroupPooling(FieldType(gs, [gs.regular_repr]))(torch.randn(1, 3, 4, 4))


@pytest.mark.parametrize("gs", FINITE, ids=lambda g: g.name)
@pytest.mark.parametrize("kernel,stride,padding,size", [(2, 2, 0, 8), (3, 2, 1, 9), (3, 1, 1, 6)])
def test_pointwise_max_pool_equivariant(gs, kernel, stride, padding, size):
    torch.manual_seed(1)
    ft = FieldType(gs, [gs.regular_repr, gs.trivial_repr])
    pool = PointwiseMaxPool2D(ft, kernel, stride, padding)
    x = torch.randn(2, ft.size, size, size, dtype=F64)
    y = pool(x)
    assert torch.equal(y, torch.nn.functional.max_pool2d(x, kernel, stride, padding))
    assert field_equivariance_error(pool, x, grid_symmetries(gs)) <= 1e-10


def test_pointwise_max_pool_errors():
    gs = rot2dOnR2(4)
    with pytest.raises(ValueError, match="permutation"):
        PointwiseMaxPool2D(FieldType(gs, [gs.irrep(1)]), 2)
    with pytest.raises(ValueError, match="expected 4 channels, got 2"):
        PointwiseMaxPool2D(FieldType(gs, [gs.regular_repr]), 2)(torch.randn(1, 2, 4, 4))


@pytest.mark.parametrize("gs", [rot2dOnR2(-1), flipRot2dOnR2(-1), flipRot2dOnR2(4)], ids=lambda g: g.name)
def test_norm_max_pool_equivariant(gs):
    torch.manual_seed(2)
    if gs.fibergroup.is_finite:
        ft = FieldType(gs, [gs.regular_repr] + gs.irreps())
    elif gs.fibergroup.name == "SO(2)":
        ft = FieldType(gs, [gs.irrep(1), gs.irrep(0), gs.irrep(2)])
    else:
        ft = FieldType(gs, [gs.irrep(1, 1), gs.irrep(1, 0), gs.irrep(1, 2)])
    pool = NormMaxPool(ft, 2)
    x = torch.randn(2, ft.size, 8, 8, dtype=F64)
    assert field_equivariance_error(pool, x, grid_symmetries(gs)) <= 1e-10


def test_norm_max_pool_values_and_gradient():
    gs = rot2dOnR2(-1)
    ft = FieldType(gs, [gs.irrep(1), gs.irrep(0)])
    pool = NormMaxPool(ft, 2)
    x = torch.zeros(1, 3, 2, 2, dtype=F64)
    x[0, :2, 0, 0] = torch.tensor([3.0, 0.0])      # norm 3
    x[0, :2, 1, 1] = torch.tensor([-2.0, 2.5])     # norm 3.2: selected, though its channels are not maximal
    x[0, 2] = torch.tensor([[1.0, -4.0], [2.0, 0.5]])
    x.requires_grad_(True)
    y = pool(x)
    assert torch.equal(y[0, :, 0, 0], torch.tensor([-2.0, 2.5, -4.0], dtype=F64))
    (g,) = torch.autograd.grad(y.sum(), x)
    assert g[0, :2, 1, 1].eq(1).all() and g[0, :2].sum() == 2 and g[0, 2, 0, 1] == 1 and g[0, 2].sum() == 1


def test_norm_max_pool_errors():
    gs = rot2dOnR2(-1)
    with pytest.raises(ValueError, match="expected 2 channels, got 3"):
        NormMaxPool(FieldType(gs, [gs.irrep(1)]), 2)(torch.randn(1, 3, 4, 4))


@pytest.mark.parametrize("gs", FINITE, ids=lambda g: g.name)
def test_stacked_model_invariant(gs):
    """lift (R2Conv) -> PointwiseNonLinearity -> PointwiseMaxPool2D -> R2Conv -> GroupPooling is invariant."""
    torch.manual_seed(3)
    t0 = FieldType(gs, [gs.trivial_repr])
    t1 = FieldType(gs, [gs.regular_repr] * 2)
    t2 = FieldType(gs, [gs.regular_repr] * 3)
    model = torch.nn.Sequential(
        R2Conv(t0, t1, 3, padding=1), PointwiseNonLinearity(t1, "p_relu"), PointwiseMaxPool2D(t1, 2),
        R2Conv(t1, t2, 3, padding=1), GroupPooling(t2),
    ).to(F64)
    x = torch.randn(2, 1, 10, 10, dtype=F64)
    with torch.no_grad():
        _check_stack(model, t0, x, gs)


def _check_stack(model, t0, x, gs):
    y = model(x)
    assert y.shape == (2, 3, 5, 5)
    pooled = y.mean((2, 3))
    for g in grid_symmetries(gs):
        yg = model(t0.transform(x, g))
        # the output fields are trivial: the map moves with the input, the globally pooled vector is invariant
        assert float((yg - model[-1].out_type.transform(y, g)).abs().max()) <= 1e-10 * float(y.abs().max())
        assert float((yg.mean((2, 3)) - pooled).abs().max()) <= 1e-10 * float(pooled.abs().max())
    # sanity: the invariant output is not trivially constant
    assert float((model(torch.randn_like(x)).mean((2, 3)) - pooled).abs().max()) > 1e-3
