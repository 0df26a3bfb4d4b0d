import pytest
import torch

from steertorch.gspaces import flipRot2dOnR2, rot2dOnR2
from steertorch.nn import FieldType, GatedNonLinearity1, NormNonLinearity, PointwiseNonLinearity
from steertorch.testing import field_equivariance_error, grid_symmetries

torch.set_num_threads(1)
F64 = torch.float64




FINITE = [rot2dOnR2(4), flipRot2dOnR2(4), rot2dOnR2(8)]
CONTINUOUS = [rot2dOnR2(-1), flipRot2dOnR2(-1)]


def _irrep_type(gs):
    if gs.fibergroup.name == "SO(2)":
        return FieldType(gs, [gs.irrep(1), gs.irrep(0), gs.irrep(2), gs.irrep(3)])
    return FieldType(gs, [gs.irrep(1, 1), gs.irrep(0, 0), gs.irrep(1, 0), gs.irrep(1, 2)])


def test_grid_elements_cover_the_grid_symmetries():
    assert len(grid_symmetries(rot2dOnR2(8))) == 4
    assert len(grid_symmetries(flipRot2dOnR2(4))) == 8


@pytest.mark.parametrize("gs", FINITE, ids=lambda g: g.name)
@pytest.mark.parametrize("function", ["p_relu", "p_elu", "p_sigmoid", "p_tanh", "p_softplus"])
def test_pointwise_equivariant(gs, function):
    torch.manual_seed(0)
    ft = FieldType(gs, [gs.regular_repr, gs.trivial_repr, gs.regular_repr])
    act = PointwiseNonLinearity(ft, function)
    x = torch.randn(2, ft.size, 6, 6, dtype=F64)
    assert field_equivariance_error(act, x, grid_symmetries(gs)) <= 1e-10


def test_pointwise_values_and_callable():
    gs = rot2dOnR2(4)
    ft = FieldType(gs, [gs.regular_repr])
    x = torch.randn(1, 4, 3, 3, dtype=F64)
    assert torch.equal(PointwiseNonLinearity(ft)(x), torch.relu(x))
    assert torch.equal(PointwiseNonLinearity(ft, torch.abs)(x), x.abs())


def test_pointwise_accepts_quotient_and_trivial_of_continuous():
    gs = flipRot2dOnR2(4)
    quotient = gs.fibergroup.quotient_representation(gs.fibergroup.subgroup("C4")[0])
    act = PointwiseNonLinearity(FieldType(gs, [quotient, gs.regular_repr]))
    x = torch.randn(1, 10, 4, 4, dtype=F64)
    assert field_equivariance_error(act, x, grid_symmetries(gs)) <= 1e-10
    so2 = rot2dOnR2(-1)
    PointwiseNonLinearity(FieldType(so2, [so2.trivial_repr] * 3))


def test_pointwise_rejects_non_permutation_fields():
    gs = rot2dOnR2(4)
    with pytest.raises(ValueError, match="permutation"):
        PointwiseNonLinearity(FieldType(gs, [gs.regular_repr, gs.irrep(1)]))
    so2 = rot2dOnR2(-1)
    with pytest.raises(ValueError, match="permutation"):
        PointwiseNonLinearity(FieldType(so2, [so2.irrep(1)]))
    with pytest.raises(ValueError, match="unknown function"):
        PointwiseNonLinearity(FieldType(gs, [gs.regular_repr]), "relu")


def test_equivariance_check_detects_pointwise_relu_on_an_irrep():
    # the same check fails when ReLU is applied to a rotating vector field: the tests above can fail
    gs = rot2dOnR2(4)
    act = PointwiseNonLinearity(FieldType(gs, [gs.regular_repr]))
    act.in_type = act.out_type = FieldType(gs, [gs.irrep(1), gs.irrep(1)])
    x = torch.randn(1, 4, 6, 6, dtype=F64)
    assert field_equivariance_error(act, x, grid_symmetries(gs)) > 1e-2


def test_float32():
    gs = flipRot2dOnR2(-1)
    ft = _irrep_type(gs)
    gated = FieldType(gs, [gs.trivial_repr] * 2 + [gs.irrep(1, 1), gs.irrep(1, 2)])
    for act in (NormNonLinearity(ft), GatedNonLinearity1(gated)):
        x = torch.randn(2, act.in_type.size, 6, 6)
        y = act(x)
        assert y.dtype == torch.float32 and torch.isfinite(y).all()
        assert field_equivariance_error(act, x, [e.float() for e in grid_symmetries(gs)]) <= 1e-5


def test_pointwise_checks_channels():
    gs = rot2dOnR2(4)
    act = PointwiseNonLinearity(FieldType(gs, [gs.regular_repr] * 2))
    with pytest.raises(ValueError, match="expected 8 channels, got 5"):
        act(torch.randn(1, 5, 3, 3))


@pytest.mark.parametrize("gs", CONTINUOUS + [flipRot2dOnR2(4), rot2dOnR2(8)], ids=lambda g: g.name)
@pytest.mark.parametrize("function", ["n_relu", "n_sigmoid", "n_softplus", "squash"])
def test_norm_equivariant(gs, function):
    torch.manual_seed(1)
    ft = _irrep_type(gs) if not gs.fibergroup.is_finite else FieldType(gs, [gs.regular_repr] + gs.irreps())
    act = NormNonLinearity(ft, function).to(F64)
    if act.bias is not None:
        with torch.no_grad():
            act.bias.uniform_(-0.5, 1.0)
    x = torch.randn(2, ft.size, 6, 6, dtype=F64)
    assert field_equivariance_error(act, x, grid_symmetries(gs)) <= 1e-10


def test_norm_values():
    gs = rot2dOnR2(-1)
    ft = FieldType(gs, [gs.irrep(1), gs.irrep(0)])
    act = NormNonLinearity(ft, "n_relu").to(F64)
    with torch.no_grad():
        act.bias.copy_(torch.tensor([0.5, 0.2]))
    x = torch.tensor([[3.0, 4.0, -0.1], [0.3, 0.0, 2.0]], dtype=F64).T.reshape(1, 3, 2, 1)
    y = act(x)
    expected = torch.tensor([[3.0 * 4.5 / 5, 4.0 * 4.5 / 5, 0.0], [0.0, 0.0, 1.8]], dtype=F64).T.reshape(1, 3, 2, 1)
    assert torch.allclose(y, expected, atol=1e-14)
    sq = NormNonLinearity(ft, "squash").to(F64)
    assert sq.bias is None
    assert torch.allclose(sq(x)[0, :2, 0, 0], x[0, :2, 0, 0] / 6.0, atol=1e-14)


@pytest.mark.parametrize("function", ["n_relu", "n_sigmoid", "n_softplus", "squash"])
def test_norm_gradient_finite_at_zero(function):
    gs = flipRot2dOnR2(-1)
    ft = _irrep_type(gs)
    act = NormNonLinearity(ft, function).to(F64)
    x = torch.zeros(1, ft.size, 3, 3, dtype=F64, requires_grad=True)
    y = act(x)
    assert torch.isfinite(y).all() and y.abs().max() == 0
    (gx,) = torch.autograd.grad(y.sum() + (y ** 2).sum(), x, create_graph=True)
    assert torch.isfinite(gx).all()
    if act.bias is not None:
        (gb,) = torch.autograd.grad((act(x + 0.3) ** 2).sum(), act.bias)
        assert torch.isfinite(gb).all()


def test_norm_errors():
    gs = rot2dOnR2(-1)
    ft = FieldType(gs, [gs.irrep(1)])
    with pytest.raises(ValueError, match="unknown function"):
        NormNonLinearity(ft, "p_relu")
    with pytest.raises(ValueError, match="expected 2 channels, got 3"):
        NormNonLinearity(ft)(torch.randn(1, 3, 4, 4))


@pytest.mark.parametrize("gs", CONTINUOUS, ids=lambda g: g.name)
@pytest.mark.parametrize("drop_gates", [True, False])
def test_gated_equivariant(gs, drop_gates):
    torch.manual_seed(2)
    irr = _irrep_type(gs)
    t = gs.trivial_repr
    reps = irr.representations
    ft = FieldType(gs, [reps[0], t, reps[2], t, t, reps[3]])
    gates = ["gated", "gate", "gated", "gate", "gate", "gated"]
    act = GatedNonLinearity1(ft, gates=gates, drop_gates=drop_gates).to(F64)
    with torch.no_grad():
        act.bias.normal_()
    assert act.out_type.size == (ft.size - 3 if drop_gates else ft.size)
    x = torch.randn(2, ft.size, 6, 6, dtype=F64)
    assert field_equivariance_error(act, x, grid_symmetries(gs)) <= 1e-10


def test_gated_values_default_gates():
    gs = rot2dOnR2(-1)
    ft = FieldType(gs, [gs.trivial_repr, gs.trivial_repr, gs.irrep(1), gs.irrep(2)])
    act = GatedNonLinearity1(ft).to(F64)
    x = torch.randn(1, 6, 2, 2, dtype=F64)
    y = act(x)
    assert torch.allclose(y[:, :2], x[:, 2:4] * torch.sigmoid(x[:, :1]), atol=1e-15)
    assert torch.allclose(y[:, 2:], x[:, 4:] * torch.sigmoid(x[:, 1:2]), atol=1e-15)


def test_gated_errors():
    gs = rot2dOnR2(-1)
    t, v = gs.trivial_repr, gs.irrep(1)
    with pytest.raises(ValueError, match="must be trivial"):
        GatedNonLinearity1(FieldType(gs, [v, t]))
    with pytest.raises(ValueError, match="even"):
        GatedNonLinearity1(FieldType(gs, [t, t, v]))
    with pytest.raises(ValueError, match="as many gates"):
        GatedNonLinearity1(FieldType(gs, [t, t, v]), gates=["gate", "gate", "gated"])
    with pytest.raises(ValueError, match="'gate' or 'gated'"):
        GatedNonLinearity1(FieldType(gs, [t, v]), gates=["gate", "x"])
    with pytest.raises(ValueError, match="expected 3 channels, got 4"):
        GatedNonLinearity1(FieldType(gs, [t, v]))(torch.randn(1, 4, 3, 3))
