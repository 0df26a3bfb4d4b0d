import pytest
import torch

from steertorch.gspaces import flipRot2dOnR2, octaOnR3, rot2dOnR2, rot3dOnR3
from steertorch.nn import FieldLinear, FieldType, R2Conv, R2ConvTransposed, R3Conv, R3ConvTransposed
from steertorch.testing import field_equivariance_error, grid_symmetries

torch.set_num_threads(1)
F64 = torch.float64



def _types(gs):
    if gs.fibergroup.is_finite:
        reg = gs.regular_repr
        irr = gs.irreps()[-1]
        return (FieldType(gs, [reg, gs.trivial_repr, reg]),
                FieldType(gs, [gs.trivial_repr, reg, irr, reg]))
    if gs.fibergroup.name == "SO(2)":
        return (FieldType(gs, [gs.irrep(0), gs.irrep(1), gs.irrep(2)]),
                FieldType(gs, [gs.irrep(3), gs.irrep(0), gs.irrep(1), gs.irrep(1)]))
    return (FieldType(gs, [gs.irrep(0, 0), gs.irrep(1, 0), gs.irrep(1, 1), gs.irrep(1, 2)]),
            FieldType(gs, [gs.irrep(1, 1), gs.irrep(0, 0), gs.irrep(1, 3), gs.irrep(1, 0)]))



GSPACES_2D = [rot2dOnR2(4), flipRot2dOnR2(4), rot2dOnR2(8), rot2dOnR2(-1), flipRot2dOnR2(-1)]


@pytest.mark.parametrize("gs", GSPACES_2D, ids=lambda g: g.name)
def test_r2conv_equivariant_on_grid_symmetries(gs):
    torch.manual_seed(0)
    it, ot = _types(gs)
    conv = R2Conv(it, ot, 5, padding=2).to(F64)
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, it.size, 9, 9, dtype=F64)
    assert field_equivariance_error(conv, x, grid_symmetries(gs)) <= 1e-10


@pytest.mark.parametrize("gs", [rot2dOnR2(8), flipRot2dOnR2(-1)], ids=lambda g: g.name)
def test_r2conv_equivariant_float32(gs):
    torch.manual_seed(1)
    it, ot = _types(gs)
    conv = R2Conv(it, ot, 3, padding=1)
    x = torch.randn(2, it.size, 8, 8)
    els = [e.float() if e.is_floating_point() else e for e in grid_symmetries(gs)]
    assert field_equivariance_error(conv, x, els) <= 1e-5


def test_equivariance_check_detects_a_plain_kernel():
    # the same check fails for an unconstrained kernel of the same shape: the test above can fail
    torch.manual_seed(10)
    gs = rot2dOnR2(4)
    it, ot = _types(gs)
    conv = R2Conv(it, ot, 3, padding=1).to(F64)
    plain = conv.export()
    with torch.no_grad():
        plain.weight.normal_()
    plain.in_type, plain.out_type = it, ot
    x = torch.randn(1, it.size, 7, 7, dtype=F64)
    with torch.no_grad():
        assert field_equivariance_error(plain, x, grid_symmetries(gs)) > 1e-2


@pytest.mark.parametrize("kw,size", [(dict(stride=2, padding=1), 11), (dict(dilation=2, padding=2), 9),
                                     (dict(padding=1, padding_mode="circular"), 8),
                                     (dict(padding=2, padding_mode="reflect"), 9), (dict(groups=2, padding=1), 7)])
def test_r2conv_stride_padding_dilation_groups(kw, size):
    torch.manual_seed(2)
    gs = flipRot2dOnR2(4)
    it = FieldType(gs, [gs.regular_repr, gs.irrep(1, 1)] * 2)
    ot = FieldType(gs, [gs.trivial_repr, gs.regular_repr] * 2)
    conv = R2Conv(it, ot, 3, **kw).to(F64)
    x = torch.randn(2, it.size, size, size, dtype=F64)
    y = conv(x)
    ref = torch.nn.Conv2d(it.size, ot.size, 3, bias=False, **kw)
    assert y.shape == ref(x.float()).shape
    assert field_equivariance_error(conv, x, grid_symmetries(gs)) <= 1e-10


def test_r3conv_float32_and_state_dict_round_trip():
    torch.manual_seed(11)
    gs = rot3dOnR3()
    it = FieldType(gs, [gs.irrep(0), gs.irrep(2)])
    ot = FieldType(gs, [gs.irrep(1), gs.irrep(0)])
    conv = R3Conv(it, ot, 3, padding=1)
    x = torch.randn(1, it.size, 5, 5, 5)
    els = [e.float() for e in grid_symmetries(gs)[::5]]
    assert field_equivariance_error(conv, x, els) <= 1e-5
    other = R3Conv(it, ot, 3, padding=1)
    assert set(conv.state_dict()) == {"expansion.weights", "bias"}
    other.load_state_dict(conv.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(other(x), conv(x), rtol=0, atol=0)


def test_rings_sigma_and_cutoff_options():
    gs = rot2dOnR2(-1)
    it, ot = _types(gs)
    default = R2Conv(it, ot, 5)
    fewer = R2Conv(it, ot, 5, frequencies_cutoff=1.0)
    rings = R2Conv(it, ot, 5, rings=[0.0, 1.0, 1.5, 2.0], sigma=0.4)
    assert fewer.weights.numel() < default.weights.numel() < rings.weights.numel()
    x = torch.randn(1, it.size, 9, 9, dtype=F64)
    for conv in (fewer, rings):
        assert field_equivariance_error(conv.to(F64), x, grid_symmetries(gs)) <= 1e-10


def test_r2conv_groups_blocks_are_independent():
    gs = rot2dOnR2(4)
    it = FieldType(gs, [gs.regular_repr] * 2)
    ot = FieldType(gs, [gs.regular_repr] * 2)
    conv = R2Conv(it, ot, 3, groups=2).to(F64)
    w, _ = conv.expand_parameters()
    assert w.shape == (8, 4, 3, 3)
    assert not torch.allclose(w[:4], w[4:])


def test_r3conv_so3_irreps_octahedral_rotations():
    torch.manual_seed(3)
    gs = rot3dOnR3()
    it = FieldType(gs, [gs.irrep(0), gs.irrep(1), gs.irrep(2)])
    ot = FieldType(gs, [gs.irrep(2), gs.irrep(1), gs.irrep(0), gs.irrep(1)])
    conv = R3Conv(it, ot, 3, padding=1).to(F64)
    x = torch.randn(1, it.size, 5, 5, 5, dtype=F64)
    assert field_equivariance_error(conv, x, grid_symmetries(gs)) <= 1e-10


def test_r3conv_octahedral_fields():
    torch.manual_seed(4)
    gs = octaOnR3()
    it = FieldType(gs, [gs.trivial_repr, gs.irreps()[-1]])
    ot = FieldType(gs, [gs.regular_repr, gs.trivial_repr])
    conv = R3Conv(it, ot, 3, padding=1).to(F64)
    x = torch.randn(1, it.size, 5, 5, 5, dtype=F64)
    assert field_equivariance_error(conv, x, grid_symmetries(gs)) <= 1e-10


@pytest.mark.parametrize("gs", [flipRot2dOnR2(4), rot2dOnR2(-1)], ids=lambda g: g.name)
def test_r2conv_transposed_equivariant(gs):
    torch.manual_seed(5)
    it, ot = _types(gs)
    conv = R2ConvTransposed(it, ot, 4, stride=2, padding=1).to(F64)
    x = torch.randn(2, it.size, 5, 5, dtype=F64)
    assert conv(x).shape[-2:] == (10, 10)
    assert field_equivariance_error(conv, x, grid_symmetries(gs)) <= 1e-10


def test_r3conv_transposed_equivariant():
    torch.manual_seed(6)
    gs = rot3dOnR3()
    it = FieldType(gs, [gs.irrep(1), gs.irrep(0)])
    ot = FieldType(gs, [gs.irrep(2), gs.irrep(1)])
    conv = R3ConvTransposed(it, ot, 3, padding=1).to(F64)
    x = torch.randn(1, it.size, 4, 4, 4, dtype=F64)
    assert field_equivariance_error(conv, x, grid_symmetries(gs)) <= 1e-10


@pytest.mark.parametrize("cls,d", [(R2Conv, 2), (R2ConvTransposed, 2), (R3Conv, 3)])
def test_export_equals_module(cls, d):
    torch.manual_seed(7)
    gs = rot2dOnR2(8) if d == 2 else rot3dOnR3()
    it = FieldType(gs, [gs.trivial_repr, gs.irrep(1)])
    ot = FieldType(gs, [gs.irrep(1), gs.trivial_repr, gs.trivial_repr])
    conv = cls(it, ot, 3, padding=1).to(F64).eval()
    with torch.no_grad():
        conv.bias.normal_()
    plain = conv.export()
    assert type(plain).__module__.startswith("torch.nn")
    x = torch.randn(2, it.size, *([6] * d), dtype=F64)
    with torch.no_grad():
        torch.testing.assert_close(plain(x), conv(x), rtol=0, atol=1e-12)


def test_bias_only_on_invariant_components():
    gs = rot2dOnR2(4)
    ot = FieldType(gs, [gs.irrep(1), gs.regular_repr, gs.irrep(2)])
    conv = R2Conv(FieldType(gs, [gs.trivial_repr]), ot, 3).to(F64)
    assert conv.bias.shape == (1,)  # only the regular field has an invariant direction
    with torch.no_grad():
        conv.bias.fill_(1.0)
        conv.expansion.weights.zero_()
    y = conv(torch.zeros(1, 1, 5, 5, dtype=F64))[0, :, 0, 0]
    torch.testing.assert_close(y, torch.tensor([0, 0, 1, 1, 1, 1, 0], dtype=F64) / 2, rtol=0, atol=1e-12)
    assert R2Conv(FieldType(gs, [gs.trivial_repr]), FieldType(gs, [gs.irrep(1)]), 3).bias is None


@pytest.mark.parametrize("gs", [rot2dOnR2(8), flipRot2dOnR2(4), rot2dOnR2(-1)], ids=lambda g: g.name)
def test_unit_second_moment_at_init(gs):
    torch.manual_seed(8)
    it, ot = _types(gs)
    moments = []
    x = torch.randn(4, it.size, 16, 16, dtype=F64)
    for _ in range(8):
        conv = R2Conv(it, ot, 5).to(F64)
        moments.append(conv(x).detach().pow(2).mean())
    m = float(torch.stack(moments).mean())
    assert 0.7 < m < 1.4, m


def test_gradients_finite_and_nonzero():
    gs = rot2dOnR2(8)
    it, ot = _types(gs)
    conv = R2Conv(it, ot, 5, padding=2).to(F64)
    x = torch.randn(2, it.size, 8, 8, dtype=F64)
    conv(x).pow(2).sum().backward()
    g = conv.expansion.weights.grad
    assert torch.isfinite(g).all() and g.abs().max() > 0
    assert conv.bias.grad is not None


def test_eval_no_grad_kernel_follows_the_weights():
    gs = rot2dOnR2(4)
    it, ot = _types(gs)
    conv = R2Conv(it, ot, 3).to(F64).eval()
    x = torch.randn(1, it.size, 5, 5, dtype=F64)
    with torch.no_grad():
        y1 = conv(x)
        conv.expansion.weights.mul_(2.0)
        y2 = conv(x)
    assert not torch.allclose(y1, y2)
    w3, _ = conv.train().expand_parameters()
    assert w3.requires_grad


def test_bad_inputs_raise():
    gs = rot2dOnR2(4)
    it, ot = _types(gs)
    conv = R2Conv(it, ot, 3)
    with pytest.raises(ValueError, match=f"{it.size}.*got {it.size + 1}"):
        conv(torch.randn(1, it.size + 1, 5, 5))
    with pytest.raises(ValueError):
        conv(torch.randn(it.size, 5, 5))
    other = FieldType(rot2dOnR2(8), [rot2dOnR2(8).trivial_repr])
    with pytest.raises(ValueError, match="G-space"):
        R2Conv(it, other, 3)
    with pytest.raises(ValueError, match="R\\^3"):
        R3Conv(it, ot, 3)
    with pytest.raises(ValueError, match="groups"):
        R2Conv(it, ot, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        R2Conv(it, ot, 3, padding_mode="mirror")


# ---------------------------------------------------------------------------- FieldLinear
@pytest.mark.parametrize("gs", [rot2dOnR2(8), flipRot2dOnR2(-1), rot3dOnR3()], ids=lambda g: g.name)
def test_field_linear_equivariant(gs):
    torch.manual_seed(9)
    if gs.dimensionality == 3:
        it = FieldType(gs, [gs.irrep(0), gs.irrep(1), gs.irrep(1)])
        ot = FieldType(gs, [gs.irrep(1), gs.irrep(0)])
        els = gs.fibergroup.sample(3, dtype=F64)
    else:
        it, ot = _types(gs)
        els = gs.fibergroup.elements() if gs.fibergroup.is_finite else gs.fibergroup.sample(3, dtype=F64)
    lin = FieldLinear(it, ot).to(F64)
    with torch.no_grad():
        if lin.bias is not None:
            lin.bias.normal_()
    x = torch.randn(4, it.size, *([1] * gs.dimensionality), dtype=F64)
    y = lin(x)
    for g in els:
        torch.testing.assert_close(lin(it.transform_fibers(x, g)), ot.transform_fibers(y, g), rtol=0, atol=1e-10)
    assert not torch.allclose(lin(it.transform_fibers(x, els[1])), y)


def test_field_linear_dimension_and_export():
    gs = rot2dOnR2(-1)
    ft = FieldType(gs, [gs.irrep(1)])
    assert FieldLinear(ft, ft).expansion.n_weights == 2  # Hom_SO(2)(psi_1, psi_1) is complex: 2-dimensional
    gs = flipRot2dOnR2(4)
    reg = FieldType(gs, [gs.regular_repr, gs.regular_repr])
    lin = FieldLinear(reg, FieldType(gs, [gs.regular_repr])).to(F64)
    assert lin.expansion.n_weights == 2 * 8  # Hom_G(reg, reg) has dimension |G|
    x = torch.randn(2, 16, 4, 4, dtype=F64)
    with torch.no_grad():
        torch.testing.assert_close(lin.export()(x), lin(x), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="16"):
        lin(torch.randn(2, 8, 4, 4))
