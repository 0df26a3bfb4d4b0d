"""Whole-model export of field modules to plain torch.nn: same outputs in eval mode, nothing of steertorch left but
the plain modules of ``_plain`` (which import only torch); every norm, gated, Fourier and quadratic nonlinearity and
norm pool exported, traced and ``torch.export``-ed with the module's outputs in float64; upsampling, adaptive pools,
restriction, reshuffle, disentangle, ``MultipleModule``, ``EquivariantMLP`` and the G-CNN layers likewise; clear
errors for modules without a plain equivalent and for training mode."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from steertorch import gspaces
from steertorch import nn as snn
from steertorch.nn import FieldType
from steertorch.nn._fields import _plain
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
    with pytest.raises(NotImplementedError, match="HarmonicPolynomialR3"):
        snn.HarmonicPolynomialR3(2).export()
    with pytest.raises(RuntimeError, match=r"\.eval\(\)"):
        snn.IIDBatchNorm2d(t).train().export()


# ---------------------------------------------------------------------------- nonlinearities and pools
def _plain_modules(exported: nn.Module) -> None:
    """Every submodule is ``torch.nn``'s or one of the plain modules of ``_plain`` (which imports only torch)."""
    for m in exported.modules():
        assert type(m).__module__.startswith("torch.nn") or type(m).__module__ == _plain.__name__, type(m)


def _nonlinear_cases():
    from steertorch.group import Representation

    so2 = gspaces.rot2dOnR2(-1, maximum_frequency=4)
    c4, d4, c8, so3 = gspaces.rot2dOnR2(4), gspaces.flipRot2dOnR2(4), gspaces.rot2dOnR2(8), gspaces.rot3dOnR3()
    vec = FieldType(so2, [so2.irrep(1), so2.irrep(2), so2.trivial_repr])
    sub, _ = d4.restrict("C4")
    gate, gated = d4.induced_repr("C4", sub.fibergroup.trivial_representation), d4.induced_repr("C4", sub.irrep(1))
    uniform = Representation([so2.irrep(0), so2.irrep(0), so2.irrep(1), so2.irrep(2)])
    gates2 = (FieldType(so2, [so2.trivial_repr] * 2), FieldType(so2, [so2.irrep(1), so2.irrep(2)]))
    return {
        **{f"NormNonLinearity({f})": lambda f=f: snn.NormNonLinearity(vec, f)
           for f in ("n_relu", "n_sigmoid", "n_softplus", "squash")},
        "NormPool": lambda: snn.NormPool(vec),
        "NormMaxPool": lambda: snn.NormMaxPool(vec, 2),
        "NormMaxPool3D": lambda: snn.NormMaxPool(FieldType(so3, [so3.irrep(1)]), 2, 2, 1),
        "InducedNormPool": lambda: snn.InducedNormPool(FieldType(d4, [gated] * 2)),
        "InducedNormNonLinearity": lambda: snn.InducedNormNonLinearity(
            FieldType(c4, [c4.regular_repr.tensor(c4.irrep(1))]), block_size=2),
        "GatedNonLinearity1": lambda: snn.GatedNonLinearity1(
            FieldType(so2, [so2.irrep(1), so2.trivial_repr, so2.irrep(2), so2.trivial_repr]),
            ["gated", "gate", "gated", "gate"]),
        "GatedNonLinearity1(keep gates)": lambda: snn.GatedNonLinearity1(
            FieldType(so2, [so2.irrep(1), so2.trivial_repr, so2.irrep(2), so2.trivial_repr]),
            ["gated", "gate", "gated", "gate"], drop_gates=False),
        "GatedNonLinearity2": lambda: snn.GatedNonLinearity2(gates2),
        "GatedNonLinearityUniform": lambda: snn.GatedNonLinearityUniform(FieldType(so2, [uniform] * 3)),
        "InducedGatedNonLinearity1": lambda: snn.InducedGatedNonLinearity1(
            FieldType(d4, [gated, gate, gate, gated]), ["gated", "gate", "gate", "gated"]),
        "InducedGatedNonLinearity1(keep gates)": lambda: snn.InducedGatedNonLinearity1(
            FieldType(d4, [gate, gated]), drop_gates=False),
        "FourierPointwise": lambda: snn.FourierPointwise(so2, 2, irreps=2, function="p_relu", N=12),
        "FourierELU(D4)": lambda: snn.FourierELU(d4, 2),
        "FourierELU(SO3)": lambda: snn.FourierELU(so3, 1, irreps=1),
        "QuotientFourierPointwise": lambda: snn.QuotientFourierPointwise(so3, "SO2", 2, irreps=2, function="p_elu"),
        "QuotientFourierELU": lambda: snn.QuotientFourierELU(d4, (None, 4), 3),
        "TensorProductNonLinearity": lambda: snn.TensorProductNonLinearity(
            FieldType(so2, [so2.trivial_repr, so2.irrep(1)]), bias=True),
        "TensorProductModule": lambda: snn.TensorProductModule(
            FieldType(c8, [c8.irrep(1)] * 2), FieldType(c8, [c8.regular_repr] * 2)),
        "ConcatenatedNonLinearity": lambda: snn.ConcatenatedNonLinearity(
            FieldType(d4, [d4.regular_repr, d4.irrep(1, 1)]), "c_tanh"),
        "VectorFieldNonLinearity": lambda: snn.VectorFieldNonLinearity(FieldType(c8, [c8.regular_repr] * 2)),
    }


NONLINEAR = _nonlinear_cases()


def _inputs(channels, d, n=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    size = [5] * d if d == 2 else [4] * d
    chans = channels if isinstance(channels, tuple) else (channels,)
    return tuple(torch.randn(n, c, *size, generator=gen, dtype=F64) for c in chans)


@pytest.mark.parametrize("name", list(NONLINEAR))
def test_nonlinearities_export_with_the_same_outputs(name):
    """export() of every norm, gated, Fourier and quadratic nonlinearity and norm pool: plain modules with buffers,
    equal outputs in float64 (biases away from 0), picklable, traceable and exportable by torch."""
    torch.manual_seed(0)
    m = NONLINEAR[name]().double()
    channels = tuple(t.size for t in m.in_type) if isinstance(m.in_type, tuple) else m.in_type.size
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.3 * torch.randn_like(p))
    m.eval()
    d = 3 if "SO3" in name or name in ("QuotientFourierPointwise", "NormMaxPool3D") else 2
    x = _inputs(channels, d)
    plain = m.export()
    _plain_modules(plain)
    assert not any(True for _ in plain.parameters()) or isinstance(plain, nn.Sequential)
    with torch.no_grad():
        expected = m(*x)
        torch.testing.assert_close(plain(*x), expected, rtol=0, atol=1e-12 * max(1.0, float(expected.abs().max())))
        torch.testing.assert_close(pickle.loads(pickle.dumps(plain))(*x), plain(*x), rtol=0, atol=0)
        other = _inputs(channels, d, seed=1)
        atol = 1e-12 * max(1.0, float(m(*other).abs().max()))
        torch.testing.assert_close(torch.jit.trace(plain, x)(*other), m(*other), rtol=0, atol=atol)
        torch.testing.assert_close(torch.export.export(plain, x).module()(*other), m(*other), rtol=0, atol=atol)
        empty = tuple(t[:0] for t in x)
        assert plain(*empty).shape == m(*empty).shape
    float32 = m.float().export()
    torch.testing.assert_close(float32(*(t.float() for t in x)), expected.float(), rtol=1e-4, atol=1e-4)


def test_plain_kernels_import_only_torch():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(_plain))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= {"__future__", "math", "collections", "torch"}, imported
    assert all(not isinstance(n, ast.ImportFrom) or n.level == 0 for n in ast.walk(tree))


def test_model_with_gates_norms_fourier_and_quadratic_layers_exports():
    """A whole SequentialModule of convolutions and every kind of nonlinearity exports to an nn.Sequential of
    torch.nn convolutions and plain modules, with the model's outputs in eval mode (float64)."""
    torch.manual_seed(0)
    gs = gspaces.rot2dOnR2(8)
    t_in = FieldType(gs, [gs.trivial_repr])
    t_gate = FieldType(gs, [gs.trivial_repr] * 2 + [gs.irrep(1), gs.irrep(2)])
    t_vec = FieldType(gs, [gs.irrep(1), gs.irrep(2)])
    fourier = snn.FourierELU(gs, 2)
    t_reg = FieldType(gs, [gs.regular_repr] * 2)
    tp = snn.TensorProductModule(FieldType(gs, [gs.irrep(1)] * 2), t_reg)
    concat = snn.ConcatenatedNonLinearity(t_reg)
    vector = snn.VectorFieldNonLinearity(FieldType(gs, [gs.regular_repr] * 4))
    net = snn.SequentialModule(
        snn.R2Conv(t_in, t_gate, 3, padding=1), snn.GatedNonLinearity1(t_gate), snn.NormNonLinearity(t_vec),
        snn.R2Conv(t_vec, fourier.in_type, 3, padding=1), snn.IIDBatchNorm2d(fourier.in_type), fourier,
        snn.R2Conv(fourier.in_type, tp.in_type, 3, padding=1), tp, concat,
        snn.R2Conv(concat.out_type, vector.in_type, 1), vector, snn.NormPool(vector.out_type),
    ).double()
    _trained_like(net[4])
    with torch.no_grad():
        for m in (net[1], net[2]):
            m.bias.add_(0.2 * torch.randn_like(m.bias))
    net.eval()
    plain = net.export()
    _plain_modules(plain)
    x = torch.randn(2, 1, 9, 9, dtype=F64)
    torch.testing.assert_close(plain(x), net(x), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(torch.export.export(plain, (x,)).module()(x), net(x), rtol=1e-10, atol=1e-12)
    assert isinstance(pickle.loads(pickle.dumps(plain)), nn.Sequential)


def test_batch_norm_without_base_space_exports_as_a_channel_affine_map():
    from steertorch.group import o2_group
    from steertorch.gspaces import no_base_space

    torch.manual_seed(0)
    gs = no_base_space(o2_group())
    bn = _trained_like(snn.IIDBatchNorm1d(FieldType(gs, [gs.irrep((0, 0)), gs.irrep((1, 1))] * 2)).double())
    plain = bn.export()
    assert isinstance(plain, _plain.ChannelAffine)
    for x in (torch.randn(5, 6, dtype=F64), torch.randn(5, 6, 4, dtype=F64)):
        torch.testing.assert_close(plain(x), bn(x), rtol=1e-10, atol=1e-12)


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




# ---------------------------------------------------------------------------- upsampling, adaptive pools, structure
def _structural_cases():
    """(builder, input shape after the batch axis) of every module exported to a torch.nn module or to a plain
    channel module: upsampling, adaptive pools, restriction, reshuffle, disentangle, mixed-size group pooling,
    MultipleModule, EquivariantMLP and the G-CNN layers."""
    from steertorch.gspaces import no_base_space

    so2, o2, c4, d4 = (gspaces.rot2dOnR2(-1, maximum_frequency=3), gspaces.flipRot2dOnR2(-1, maximum_frequency=3),
                       gspaces.rot2dOnR2(4), gspaces.flipRot2dOnR2(4))
    c8, so3, octa = gspaces.rot2dOnR2(8), gspaces.rot3dOnR3(), gspaces.octaOnR3()
    vec2 = FieldType(o2, [o2.irrep(1, 1), o2.irrep(0, 0), o2.irrep(1, 2)])
    vec3 = FieldType(so3, [so3.irrep(1), so3.irrep(0), so3.irrep(2)])
    mixed = FieldType(d4, [d4.regular_repr, d4.trivial_repr, d4.fibergroup.quotient_representation("C4")])
    nb = no_base_space(d4.fibergroup)
    reg4, vec4 = FieldType(c4, [c4.regular_repr] * 2), FieldType(c4, [c4.irrep(1)])
    gate2 = snn.GatedNonLinearity2((FieldType(c4, [c4.trivial_repr]), vec4))
    return {
        "R2Upsampling(bilinear, scale 2)": (lambda: snn.R2Upsampling(vec2, 2), (vec2.size, 5, 5)),
        "R2Upsampling(bilinear, size, align_corners)": (
            lambda: snn.R2Upsampling(vec2, size=(7, 9), align_corners=True), (vec2.size, 5, 4)),
        "R2Upsampling(nearest, scale 1.5)": (lambda: snn.R2Upsampling(vec2, 1.5, mode="nearest"), (vec2.size, 4, 4)),
        "R2Upsampling(nearest-exact, scale (2, 3))": (
            lambda: snn.R2Upsampling(vec2, (2, 3), mode="nearest-exact"), (vec2.size, 3, 3)),
        "R3Upsampling(trilinear, size)": (lambda: snn.R3Upsampling(vec3, size=5), (vec3.size, 3, 3, 3)),
        "R3Upsampling(nearest, scale 2)": (lambda: snn.R3Upsampling(vec3, 2, mode="nearest"), (vec3.size, 2, 3, 2)),
        "PointwiseAdaptiveAvgPool2D": (lambda: snn.PointwiseAdaptiveAvgPool2D(vec2, (2, 3)), (vec2.size, 7, 8)),
        "PointwiseAdaptiveMaxPool2D": (lambda: snn.PointwiseAdaptiveMaxPool2D(mixed, 3), (mixed.size, 7, 7)),
        "PointwiseAdaptiveAvgPool3D": (lambda: snn.PointwiseAdaptiveAvgPool3D(vec3, 2), (vec3.size, 5, 5, 4)),
        "PointwiseAdaptiveMaxPool3D": (
            lambda: snn.PointwiseAdaptiveMaxPool3D(FieldType(octa, [octa.regular_repr]), 2), (24, 5, 5, 5)),
        "RestrictionModule": (lambda: snn.RestrictionModule(FieldType(c8, [c8.regular_repr] * 2), "C4"),
                              (16, 5, 5)),
        "ReshuffleModule": (lambda: snn.ReshuffleModule(mixed, [2, 0, 1]), (mixed.size, 4, 4)),
        "DisentangleModule(D4)": (lambda: snn.DisentangleModule(mixed), (mixed.size, 4, 4)),
        "DisentangleModule(octahedral, 3D)": (
            lambda: snn.DisentangleModule(FieldType(octa, [octa.regular_repr])), (24, 3, 3, 3)),
        "DisentangleModule(no base space)": (
            lambda: snn.DisentangleModule(FieldType(nb, [nb.regular_repr, nb.irrep(1, 1)])), None),
        "GroupPooling(mixed sizes)": (lambda: snn.GroupPooling(mixed), (mixed.size, 4, 4)),
        "MultipleModule": (lambda: snn.MultipleModule(
            FieldType(c4, [c4.regular_repr, c4.trivial_repr, c4.irrep(1), c4.regular_repr]), ["r", "g", "v", "r"],
            [(snn.ReLU(reg4), "r"), (gate2, ["g", "v"])]), (11, 4, 4)),
        "LiftingConv2d": (lambda: snn.LiftingConv2d(d4, 2, 3, 3, padding=1), (2, 6, 6)),
        "GroupConv2d": (lambda: snn.GroupConv2d(c8, 2, 2, 3, padding=1), (16, 6, 6)),
        "EquivariantMLP(fourier)": (lambda: snn.EquivariantMLP(
            FieldType(c4, [c4.irrep(1)]), FieldType(c4, [c4.trivial_repr, c4.regular_repr]), hidden=[3, 2]), (2,)),
        "EquivariantMLP(gated, batch norm)": (lambda: snn.EquivariantMLP(
            FieldType(so2, [so2.irrep(1)]), FieldType(so2, [so2.irrep(0), so2.irrep(2)]), hidden=[2],
            activation="gated", normalization="batch"), (2,)),
        "EquivariantMLP(quadratic, SO(3))": (lambda: snn.EquivariantMLP(
            FieldType(so3, [so3.irrep(1)]), FieldType(so3, [so3.irrep(0), so3.irrep(1)]), hidden=[2]), (3,)),
    }


STRUCTURAL = _structural_cases()


def _shape(name: str, m: nn.Module) -> tuple[int, ...]:
    shape = STRUCTURAL[name][1]
    return (m.in_type.size,) if shape is None else shape


@pytest.mark.parametrize("name", list(STRUCTURAL))
def test_upsampling_pools_structure_mlps_and_gcnns_export_with_the_same_outputs(name):
    """Every remaining module with a plain equivalent exports: torch.nn modules and the plain modules of ``_plain``,
    equal outputs in eval mode (float64, 1e-12 relative), picklable, traceable, fine with 0 rows."""
    torch.manual_seed(0)
    m = STRUCTURAL[name][0]().double()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.3 * torch.randn_like(p))
    if any(hasattr(b, "running_var") for b in m.modules()):
        m.train()
        with torch.no_grad():
            m(torch.randn(8, *_shape(name, m), dtype=F64) * 2 + 0.5)
    m.eval()
    plain = m.export()
    _plain_modules(plain)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, *_shape(name, m), generator=gen, dtype=F64)
    other = torch.randn(2, *_shape(name, m), generator=gen, dtype=F64)
    with torch.no_grad():
        expected = m(x)
        scale = max(1.0, float(expected.abs().max()))
        torch.testing.assert_close(plain(x), expected, rtol=0, atol=1e-12 * scale)
        torch.testing.assert_close(pickle.loads(pickle.dumps(plain))(x), plain(x), rtol=0, atol=0)
        traced = torch.jit.trace(plain, (x,))
        torch.testing.assert_close(traced(other), m(other), rtol=0, atol=1e-12 * max(1.0, float(m(other).abs().max())))
        empty = x[:0]
        assert plain(empty).shape == m(empty).shape
    assert pickle.loads(pickle.dumps(m.export())) is not None
