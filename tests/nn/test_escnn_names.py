"""escnn's names on steertorch (issue 18): group factories, subgroup ids, bl_irreps, testing elements, the new
field modules (equivariance in float64 under the grid's symmetries and sampled group elements), check_equivariance,
and escnn's convolution arguments."""

import inspect

import pytest
import torch
from _module_zoo import cases

from steertorch import group, gspaces
from steertorch import nn as snn
from steertorch.group import Representation
from steertorch.group._group import float64_default
from steertorch.nn import EquivariantModule, FieldType, GeometricTensor
from steertorch.testing import field_equivariance_error

F64 = torch.float64
# grid sizes on which the zoo's strided modules place their windows symmetrically (see the pooling docstrings)
SYMMETRIC_SIZE = {"nn.PointwiseAvgPool3D": 5, "nn.PointwiseAvgPoolAntialiased2D": 7,
                  "nn.PointwiseAvgPoolAntialiased3D": 5, "nn.R2Conv stack": 8}
GRID = [c for c in cases() if c.kind == "grid"]


def _build64(case):
    torch.manual_seed(0)
    with float64_default():
        return case.build().double()


@pytest.mark.parametrize("case", [c for c in GRID if isinstance(c.build(), EquivariantModule)],
                         ids=lambda c: c.name)
def test_check_equivariance_of_every_field_module_in_float64(case):
    m = _build64(case)
    size = SYMMETRIC_SIZE.get(case.name, case.inputs(1, F64)[0][0].shape[-1])
    errors = m.check_equivariance(atol=1e-10, rtol=0, size=size)
    assert errors and max(e for _, e in errors) <= 1e-10
    assert m.training  # restored


def test_check_equivariance_raises_on_a_broken_module():
    gs = gspaces.rot2dOnR2(4)
    ft = FieldType(gs, [gs.regular_repr])

    class Broken(snn.IdentityModule):
        def forward(self, x):
            return x.roll(1, dims=2)

    with pytest.raises(AssertionError, match="not equivariant"):
        Broken(ft).check_equivariance()


# ---------------------------------------------------------------------------- new modules, fibre action
def _sampled(gs, n=6):
    return list(gs.fibergroup.testing_elements(n))


def test_gated_uniform_is_equivariant_under_sampled_so2_elements():
    gs = gspaces.rot2dOnR2(-1)
    rho = Representation([gs.irrep(0), gs.irrep(0), gs.irrep(1), gs.irrep(3)])
    torch.manual_seed(0)
    m = snn.GatedNonLinearityUniform(FieldType(gs, [rho] * 3)).double()
    with torch.no_grad():
        m.bias.normal_()
    x = torch.randn(2, 18, 4, 4, dtype=F64)
    assert field_equivariance_error(m, x, _sampled(gs), fibers_only=True) < 1e-12
    assert [p.label for p in m.out_type.representations[0].irreps] == [1, 3]
    with pytest.raises(ValueError, match="m trivial irreps followed by m irreps"):
        snn.GatedNonLinearityUniform(FieldType(gs, [Representation([gs.irrep(1), gs.irrep(0)])]))


def test_gated2_is_equivariant_and_checks_its_two_types():
    gs = gspaces.flipRot2dOnR2(-1)
    gates, gated = FieldType(gs, [gs.trivial_repr] * 2), FieldType(gs, [gs.irrep(1, 1), gs.irrep(1, 2)])
    m = snn.GatedNonLinearity2((gates, gated)).double()
    s, v = torch.randn(2, 2, 3, 3, dtype=F64), torch.randn(2, 4, 3, 3, dtype=F64)
    y = m(s, v)
    for g in _sampled(gs):
        torch.testing.assert_close(m(gates.transform_fibers(s, g), gated.transform_fibers(v, g)),
                                   gated.transform_fibers(y, g), rtol=0, atol=1e-12)
    out = m(gates(s), gated(v))
    assert isinstance(out, GeometricTensor) and out.type == gated and torch.equal(out.tensor, y)
    with pytest.raises(ValueError, match="GeometricTensor of type"):
        m(gated(v), gates(s))
    with pytest.raises(ValueError, match="one gate per gated field"):
        snn.GatedNonLinearity2((FieldType(gs, [gs.trivial_repr]), gated))
    with pytest.raises(ValueError, match="must be trivial"):
        snn.GatedNonLinearity2((FieldType(gs, [gs.irrep(1, 0)] * 2), gated))


def test_quotient_fourier_elu_and_fourier_elu_inplace():
    d4 = gspaces.flipRot2dOnR2(4)
    a = snn.QuotientFourierELU(d4, (None, 4), 2).double()
    b = snn.QuotientFourierPointwise(d4, "C4", 2, function="p_elu").double()
    x = torch.randn(2, a.in_type.size, 3, 3, dtype=F64)
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)
    assert field_equivariance_error(a, x, d4.testing_elements) < 1e-12
    assert snn.FourierELU(d4, 2, inplace=False).inplace is False
    assert list(inspect.signature(snn.FourierELU).parameters)[:4] == ["gspace", "channels", "irreps", "inplace"]


def test_leaky_relu_matches_torch_and_refuses_non_permutation_fields():
    gs = gspaces.rot2dOnR2(4)
    m = snn.LeakyReLU(FieldType(gs, [gs.regular_repr]), negative_slope=0.2)
    x = torch.randn(1, 4, 3, 3)
    assert torch.equal(m(x), torch.nn.functional.leaky_relu(x, 0.2))
    with pytest.raises(ValueError, match="permutation"):
        snn.LeakyReLU(FieldType(gs, [gs.irrep(1)]))


def test_pool_aliases_and_adaptive_pools():
    assert snn.PointwiseAvgPoolAntialiased is snn.PointwiseAvgPoolAntialiased2D
    assert snn.PointwiseAvgPool is snn.PointwiseAvgPool2D
    assert snn.PointwiseMaxPoolAntialiased is snn.PointwiseMaxPoolAntialiased2D
    gs = gspaces.rot2dOnR2(4)
    ft = FieldType(gs, [gs.regular_repr])
    x = torch.randn(2, 4, 7, 7, dtype=F64)
    torch.testing.assert_close(snn.PointwiseAdaptiveMaxPool2D(ft, 1)(x), x.amax((2, 3), keepdim=True))
    torch.testing.assert_close(snn.PointwiseAdaptiveAvgPool2D(ft, (1, 1))(x), x.mean((2, 3), keepdim=True))
    with pytest.raises(ValueError, match="permutation"):
        snn.PointwiseAdaptiveMaxPool2D(FieldType(gs, [gs.irrep(1)]), 2)
    with pytest.raises(ValueError, match="output_size"):
        snn.PointwiseAdaptiveAvgPool2D(ft, 0)
    # the anti-aliased max pool is a max pool with stride 1 then a 2D Gaussian blur on 2 round(4 sigma) + 1 points,
    # padded by the pool's padding plus half the filter (escnn's sizes)
    mp = snn.PointwiseMaxPoolAntialiased2D(ft, 3, stride=2, padding=1, sigma=0.6).double()
    r = torch.arange(5, dtype=F64) - 2
    g = torch.exp(-(r[:, None] ** 2 + r[None] ** 2) / (2 * 0.36))
    w = (g / g.sum()).expand(4, 1, 5, 5)
    ref = torch.nn.functional.conv2d(torch.nn.functional.max_pool2d(x, 3, 1, 1), w, stride=2, padding=3, groups=4)
    torch.testing.assert_close(mp(x), ref, rtol=0, atol=1e-14)
    assert mp(x).shape[-1] == 5


def test_structure_modules():
    gs = gspaces.rot2dOnR2(4)
    ft = FieldType(gs, [gs.regular_repr, gs.irrep(1), gs.trivial_repr, gs.regular_repr])
    x = torch.randn(2, ft.size, 5, 5, dtype=F64)
    # reshuffle: output field i is input field permutation[i]
    sh = snn.ReshuffleModule(ft, [2, 0, 3, 1])
    gx = ft(x)
    assert torch.equal(sh(x), torch.cat([gx[:, 2].tensor, gx[:, 0].tensor, gx[:, 3].tensor, gx[:, 1].tensor], 1))
    with pytest.raises(ValueError, match="permutation"):
        snn.ReshuffleModule(ft, [0, 0, 1, 2])
    # branching / merging by labels
    labels = ["r", "v", "s", "r"]
    br = snn.BranchingModule(ft, labels)
    parts = br(gx)
    assert list(parts) == ["r", "v", "s"] and parts["r"].type == FieldType(gs, [gs.regular_repr] * 2)
    assert torch.equal(parts["r"].tensor, torch.cat([gx[:, 0].tensor, gx[:, 3].tensor], 1))
    relu = snn.ReLU(parts["r"].type)
    mods = [(relu, "r"), (snn.IdentityModule(parts["s"].type), "s"), (snn.NormPool(parts["v"].type), "v")]
    mm = snn.MultipleModule(ft, labels, mods)
    y = mm(gx)
    assert y.type == mm.out_type and mm.out_type.size == 8 + 1 + 1
    torch.testing.assert_close(y.tensor, torch.cat([relu(parts["r"].tensor), parts["s"].tensor,
                                                    mods[2][0](parts["v"].tensor)], 1))
    assert field_equivariance_error(mm, x, gs.testing_elements) < 1e-12
    with pytest.raises(ValueError, match="in_type"):
        snn.MultipleModule(ft, labels, [(relu, "v")])
    with pytest.raises(ValueError, match="one label per field"):
        snn.BranchingModule(ft, labels[:3])
    # disentangle: every field split into its irreps by the field's change of basis
    dm = snn.DisentangleModule(ft).double()
    assert [r.label for r in dm.out_type.representations] == [0, 1, 2, 1, 0, 0, 1, 2]
    assert field_equivariance_error(dm, x, gs.testing_elements) < 1e-12
    torch.testing.assert_close((dm(x) ** 2).sum(1), (x ** 2).sum(1), rtol=0, atol=1e-12)  # orthogonal


# ---------------------------------------------------------------------------- groups
def test_escnn_group_factories():
    assert group.trivial_group().order == 1
    assert group.octa_group().order == 24 and group.full_octa_group().order == 48
    assert group.ico_group().order == 60 and group.full_ico_group().order == 120
    assert group.cylinder_group(3) == group.group_from_name("Cinfh")
    assert group.full_cylinder_group() == group.group_from_name("Dinfh")
    assert group.cylinder_discrete_group(4).order == 8 and group.full_cylinder_discrete_group(3).order == 12
    with pytest.raises(ValueError, match="maximum_frequency"):
        group.cylinder_group(-1)


def test_bl_irreps():
    assert group.so2_group().bl_irreps(3) == [0, 1, 2, 3]
    assert group.bl_irreps("O2", 1) == [(0, 0), (1, 0), (1, 1)]
    assert group.bl_irreps(group.cyclic_group(4)) == [psi.label for psi in group.cyclic_group(4).irreps()]
    assert [group.so3_group().irrep(lab).size for lab in group.bl_irreps("SO3", 2)] == [1, 3, 5]
    with pytest.raises(ValueError, match="band_limit"):
        group.bl_irreps("SO3")


@pytest.mark.parametrize("G, sid, name", [
    (group.so2_group(), 4, "C4"), (group.so2_group(), -1, "SO(2)"), (group.o2_group(), (None, 4), "C4"),
    (group.o2_group(), (0.0, 4), "D4"), (group.o2_group(), (0, -1), "O(2)"), (group.o2_group(), (None, -1), "SO(2)"),
    (group.cyclic_group(8), 2, "C2"), (group.dihedral_group(6), (0, 3), "D3"), (group.dihedral_group(6), (None, 6),
                                                                               "C6"),
])
def test_escnn_subgroup_ids(G, sid, name):
    sub, include = G.subgroup(sid)
    assert sub.name == name
    h = sub.elements() if sub.is_finite else sub.testing_elements(4)
    torch.testing.assert_close(G.matrix(include(h)).to(F64), sub.matrix(h).to(F64))


def test_subgroup_ids_errors_and_restriction():
    with pytest.raises(ValueError, match="reflection axis 0"):
        group.o2_group().subgroup((0.5, 4))
    with pytest.raises(ValueError, match="unknown subgroup id"):
        group.o2_group().subgroup((None, 0))
    gs = gspaces.flipRot2dOnR2(8)
    ft = FieldType(gs, [gs.regular_repr])
    assert ft.restrict((None, 4)) == ft.restrict("C4")
    m = snn.RestrictionModule(ft, (0.0, 4))
    assert m.out_type.fibergroup.name == "D4"
    m.double().check_equivariance(atol=1e-12, rtol=0)


def test_testing_elements():
    assert group.cyclic_group(4).testing_elements().tolist() == [0, 1, 2, 3]
    t = group.so3_group().testing_elements(5)
    assert t.dtype == F64 and torch.equal(t, group.so3_group().testing_elements(5))
    torch.testing.assert_close(t[0], torch.eye(3, dtype=F64))
    assert len(gspaces.flipRot2dOnR2(-1).testing_elements) == 8
    assert len(gspaces.rot3dOnR3().testing_elements) == 24 and len(gspaces.icoOnR3().testing_elements) == 12


# ---------------------------------------------------------------------------- convolution arguments
def test_conv_takes_escnn_arguments_in_escnn_order():
    gs = gspaces.rot2dOnR2(8)
    t_in, t_out = FieldType(gs, [gs.trivial_repr]), FieldType(gs, [gs.regular_repr])
    params = list(inspect.signature(snn.R2Conv).parameters)
    assert params[:16] == ["in_type", "out_type", "kernel_size", "padding", "stride", "dilation", "padding_mode",
                           "groups", "bias", "sigma", "frequencies_cutoff", "rings", "maximum_offset", "recompute",
                           "basis_filter", "initialize"]
    # escnn's R3Conv has no maximum_offset (keyword-only here)
    assert list(inspect.signature(snn.R3Conv).parameters)[:15] == [p for p in params[:16] if p != "maximum_offset"]
    conv = snn.R2Conv(t_in, t_out, 5, 2, 1, 1, "circular", 1, False, None, 2.0, None, None, True, None, True,
                      basisexpansion="blocks")
    assert conv.padding_mode == "circular" and conv.bias is None
    for kwargs, match in (({"maximum_offset": 1}, "maximum_offset"), ({"basis_filter": len}, "basis_filter"),
                          ({"basisexpansion": "single_block"}, "basisexpansion")):
        with pytest.raises(ValueError, match=match):
            snn.R2Conv(t_in, t_out, 3, **kwargs)
    snn.R2ConvTransposed(t_in, t_out, 3, maximum_offset=None, recompute=False)
