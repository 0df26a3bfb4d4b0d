"""escnn's remaining nn names (issue 18): TensorProductModule, ConcatenatedNonLinearity, VectorFieldNonLinearity,
InducedGatedNonLinearity1 and R3IcoConvTransposed. Each is checked for exact equivariance in float64 (every element of
the group on the fibres, and the grid's symmetries on whole fields), and side by side with escnn (skipped without a
working escnn): the same outputs on the same input, with escnn's parameters carried over."""

from __future__ import annotations

import copy
import inspect
import pickle
import warnings

import pytest
import torch

from steertorch import gspaces
from steertorch import nn as snn
from steertorch.group import Representation
from steertorch.group._group import float64_default
from steertorch.nn import FieldType, GeometricTensor
from steertorch.testing import field_equivariance_error, grid_symmetries

F64 = torch.float64


def _escnn():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pytest.importorskip("escnn.nn", exc_type=ImportError)
        from escnn import group as eg
        from escnn import gspaces as egs
        from escnn import nn as en
        from escnn.group import _numerical
    if not getattr(_numerical, "_steertorch_patched", False):
        # escnn 1.0.11 hands an np.matrix to scikit-learn's randomized_svd, which newer scikit-learn refuses
        import numpy as np

        svd = _numerical.randomized_svd
        _numerical.randomized_svd = lambda a, *args, **kw: svd(np.asarray(a), *args, **kw)
        _numerical._steertorch_patched = True
    return eg, egs, en


def _elements(gs):
    return list(gs.fibergroup.elements()) if gs.fibergroup.is_finite else list(gs.fibergroup.testing_elements(6))


def _fibre_error(m, x) -> float:
    """max |m(g x) - g m(x)| over the group's elements (finite: all; continuous: 6 sampled), fibre action."""
    return field_equivariance_error(m, x, _elements(m.in_type.gspace), fibers_only=True)


def _same_after_pickle(m, x):
    with torch.no_grad():
        y = m(x)
        for twin in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
            assert torch.equal(twin(x), y)


def _assert_same_matrices(ours, erep, egroup):
    """Our representation on all elements equals escnn's on all elements, as a set of matrices (the two libraries may
    list the elements of a group in different orders)."""
    theirs = torch.stack([torch.as_tensor(erep(e), dtype=F64) for e in egroup.elements])
    assert ours.shape == theirs.shape
    for m in ours:
        assert float((theirs - m).abs().amax((1, 2)).min()) < 1e-9


# ---------------------------------------------------------------------------- TensorProductModule
def _tp_case(name):
    if name == "C4 regular":
        gs = gspaces.rot2dOnR2(4)
        return gs, gs.regular_repr, gs.regular_repr, 3
    if name == "SO2 1 -> 2":
        gs = gspaces.rot2dOnR2(-1, maximum_frequency=4)
        return gs, gs.irrep(1), gs.irrep(2), 2
    if name == "O2 (1,1) -> (1,2)":
        gs = gspaces.flipRot2dOnR2(-1, maximum_frequency=4)
        return gs, gs.irrep(1, 1), gs.irrep(1, 2), 2
    gs = gspaces.rot3dOnR3()
    return gs, gs.irrep(1), gs.irrep(2), 2  # SO(3): the traceless symmetric part of x x^T


@pytest.mark.parametrize("name", ["C4 regular", "SO2 1 -> 2", "O2 (1,1) -> (1,2)", "SO3 1 -> 2"])
def test_tensor_product_module_is_equivariant(name):
    torch.manual_seed(0)
    gs, rho, sigma, c = _tp_case(name)
    tp = snn.TensorProductModule(FieldType(gs, [rho] * c), FieldType(gs, [sigma] * c)).double()
    assert tp.hidden_type.size == c * rho.size ** 2 and tp.matrix.shape == (c * sigma.size, rho.size ** 2)
    x = torch.randn(2, tp.in_type.size, *([3] * gs.dimensionality), dtype=F64)
    y = tp(x)
    assert y.shape == (2, tp.out_type.size, *x.shape[2:])
    assert _fibre_error(tp, x) < 1e-10
    assert field_equivariance_error(tp, x, grid_symmetries(gs)) < 1e-10
    # field by field: field c of the output depends on field c of the input only
    x2 = x.clone()
    x2[:, :rho.size] = torch.randn_like(x2[:, :rho.size])
    torch.testing.assert_close(tp(x2)[:, sigma.size:], y[:, sigma.size:], rtol=0, atol=0)
    _same_after_pickle(tp, x)


def test_tensor_product_module_checks_its_types():
    gs = gspaces.rot2dOnR2(4)
    with pytest.raises(ValueError, match="uniform"):
        snn.TensorProductModule(FieldType(gs, [gs.regular_repr, gs.irrep(1)]), FieldType(gs, [gs.regular_repr] * 2))
    with pytest.raises(ValueError, match="same number of fields"):
        snn.TensorProductModule(FieldType(gs, [gs.regular_repr]), FieldType(gs, [gs.regular_repr] * 2))
    with pytest.raises(ValueError, match="no equivariant linear map"):  # trivial x trivial has no frequency 1
        snn.TensorProductModule(FieldType(gs, [gs.trivial_repr]), FieldType(gs, [gs.irrep(1)]))
    tp = snn.TensorProductModule.construct(gs, 2, gs.irrep(1), gs.trivial_repr)
    assert tp.in_type == FieldType(gs, [gs.irrep(1)] * 2) and tp.out_type.size == 2
    with pytest.raises(ValueError, match="float32"):
        tp(torch.randn(1, 4, 3, 3, dtype=F64))
    y = tp(GeometricTensor(torch.randn(0, 4, 3, 3), tp.in_type))
    assert y.type == tp.out_type and y.tensor.shape == (0, 2, 3, 3)


def _escnn_tp(name):
    eg, egs, en = _escnn()
    if name == "C4 regular":
        egsp = egs.rot2dOnR2(4)
        return en, egsp, egsp.regular_repr, egsp.regular_repr
    if name == "SO2 1 -> 2":
        egsp = egs.rot2dOnR2(-1, maximum_frequency=4)
        return en, egsp, egsp.irrep(1), egsp.irrep(2)
    if name == "O2 (1,1) -> (1,2)":
        egsp = egs.flipRot2dOnR2(-1, maximum_frequency=4)
        return en, egsp, egsp.irrep(1, 1), egsp.irrep(1, 2)
    egsp = egs.rot3dOnR3()
    return en, egsp, egsp.irrep(1), egsp.irrep(2)


@pytest.mark.parametrize("name", ["C4 regular", "SO2 1 -> 2", "O2 (1,1) -> (1,2)", "SO3 1 -> 2"])
def test_tensor_product_module_equals_escnn(name):
    """Same number of weights; escnn's learned matrices lie in the span of ours (fitted to rounding), and with them
    the two modules give the same outputs."""
    en, egsp, erho, esigma = _escnn_tp(name)
    gs, rho, sigma, c = _tp_case(name)
    torch.manual_seed(0)
    theirs = en.TensorProductModule(en.FieldType(egsp, [erho] * c), en.FieldType(egsp, [esigma] * c)).eval()
    ours = snn.TensorProductModule(FieldType(gs, [rho] * c), FieldType(gs, [sigma] * c)).double()
    assert ours.weights.numel() == theirs.weights.numel()
    if name.startswith("SO3"):
        return  # escnn writes the irreps of SO(3) in another basis (conventions.md): only the counts compare
    target = theirs.matrix.detach().double().reshape(c, sigma.size, rho.size ** 2)
    n = ours.weights.numel()
    with torch.no_grad():
        basis = []
        for i in range(n):
            ours.weights.zero_()
            ours.weights[i] = 1.0
            basis.append(ours.expand_parameters().reshape(-1))
        basis = torch.stack(basis, 1)  # [c * d_out * d_hid, n]
        w = torch.linalg.lstsq(basis, target.reshape(-1, 1)).solution[:, 0]
        residual = float((basis @ w - target.reshape(-1)).abs().max())
        assert residual < 1e-6 * float(target.abs().max())  # escnn's float32 matrix, in our basis
        ours.weights.copy_(w)
    x = torch.randn(3, ours.in_type.size, *([3] * gs.dimensionality))
    expected = theirs(theirs.in_type(x)).tensor.double()
    with torch.no_grad():
        torch.testing.assert_close(ours(x.double()), expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))


# ---------------------------------------------------------------------------- ConcatenatedNonLinearity
@pytest.mark.parametrize("gs_name", ["C4", "D4"])
@pytest.mark.parametrize("function", ["c_relu", "c_sigmoid", "c_tanh"])
def test_concatenated_is_equivariant(gs_name, function):
    gs = gspaces.rot2dOnR2(4) if gs_name == "C4" else gspaces.flipRot2dOnR2(4)
    signed = gs.irrep(1) if gs_name == "C4" else gs.irrep(1, 1)  # rotation by 90 degrees / D4's 2D irrep
    ft = FieldType(gs, [gs.regular_repr, gs.trivial_repr, signed, gs.regular_repr])
    m = snn.ConcatenatedNonLinearity(ft, function)
    assert m.out_type.size == 2 * ft.size
    x = torch.randn(2, ft.size, 5, 5, dtype=F64)
    y = m(x)
    f = {"c_relu": torch.relu, "c_sigmoid": torch.sigmoid, "c_tanh": torch.tanh}[function]
    torch.testing.assert_close(y[:, 0::2], f(x), rtol=0, atol=0)
    torch.testing.assert_close(y[:, 1::2], f(-x), rtol=0, atol=0)
    assert _fibre_error(m, x) < 1e-12
    assert field_equivariance_error(m, x, grid_symmetries(gs)) < 1e-12
    # the output fields act by permutations: a pointwise nonlinearity may follow
    snn.PointwiseNonLinearity(m.out_type)
    _same_after_pickle(m, x)


def test_concatenated_refuses_other_fields():
    gs = gspaces.rot2dOnR2(8)
    with pytest.raises(ValueError, match="signed permutation"):
        snn.ConcatenatedNonLinearity(FieldType(gs, [gs.irrep(1)]))  # rotation by 45 degrees
    with pytest.raises(ValueError, match="finite"):
        snn.ConcatenatedNonLinearity(FieldType(gspaces.rot2dOnR2(-1), [gspaces.rot2dOnR2(-1).trivial_repr]))
    with pytest.raises(ValueError, match="unknown function"):
        snn.ConcatenatedNonLinearity(FieldType(gs, [gs.regular_repr]), "p_relu")


@pytest.mark.parametrize("gs_name", ["C4", "D4"])
def test_concatenated_equals_escnn(gs_name):
    eg, egs, en = _escnn()
    if gs_name == "C4":
        gs, egsp = gspaces.rot2dOnR2(4), egs.rot2dOnR2(4)
        reps, ereps = [gs.regular_repr, gs.trivial_repr], [egsp.regular_repr, egsp.trivial_repr]
    else:
        gs, egsp = gspaces.flipRot2dOnR2(4), egs.flipRot2dOnR2(4)
        reps, ereps = [gs.regular_repr, gs.irrep(0, 0)], [egsp.regular_repr, egsp.irrep(0, 0)]
    ft, eft = FieldType(gs, reps), en.FieldType(egsp, ereps)
    for function in ("c_relu", "c_sigmoid", "c_tanh"):
        try:
            theirs = en.ConcatenatedNonLinearity(eft, function)
        except ImportError as err:  # escnn builds the new representation with pymanopt + autograd
            pytest.skip(f"escnn's ConcatenatedNonLinearity needs an optional dependency: {err}")
        ours = snn.ConcatenatedNonLinearity(ft, function)
        x = torch.randn(2, ft.size, 4, 4)
        torch.testing.assert_close(ours(x), theirs(eft(x)).tensor, rtol=0, atol=0)
    # the same output representation
    with float64_default():
        mine = ours.out_type.representation(gs.fibergroup.elements())
    _assert_same_matrices(mine, theirs.out_type.representation, egsp.fibergroup)


# ---------------------------------------------------------------------------- VectorFieldNonLinearity
@pytest.mark.parametrize("n", [3, 4, 8])
def test_vector_field_is_equivariant(n):
    gs = gspaces.rot2dOnR2(n)
    m = snn.VectorFieldNonLinearity(FieldType(gs, [gs.regular_repr] * 3))
    assert m.out_type == FieldType(gs, [gs.irrep(1)] * 3)
    x = torch.randn(2, 3 * n, 5, 5, dtype=F64)
    y = m(x)
    # the vector's length is the field's (rectified) maximum
    torch.testing.assert_close(y.reshape(2, 3, 2, 5, 5).norm(dim=2), x.reshape(2, 3, n, 5, 5).amax(2).relu())
    assert _fibre_error(m, x) < 1e-12
    assert field_equivariance_error(m, x, grid_symmetries(gs)) < 1e-12
    _same_after_pickle(m, x)


def test_vector_field_refuses_other_fields():
    c4 = gspaces.rot2dOnR2(4)
    with pytest.raises(ValueError, match="regular"):
        snn.VectorFieldNonLinearity(FieldType(c4, [c4.irrep(1)]))
    d4 = gspaces.flipRot2dOnR2(4)
    with pytest.raises(ValueError, match="cyclic"):
        snn.VectorFieldNonLinearity(FieldType(d4, [d4.regular_repr]))
    c2 = gspaces.rot2dOnR2(2)
    with pytest.raises(ValueError, match="N >= 3"):
        snn.VectorFieldNonLinearity(FieldType(c2, [c2.regular_repr]))
    with pytest.raises(ValueError, match="unexpected"):
        snn.VectorFieldNonLinearity(FieldType(c4, [c4.regular_repr]), bias=True)


@pytest.mark.parametrize("n", [4, 8])
def test_vector_field_equals_escnn(n):
    eg, egs, en = _escnn()
    gs, egsp = gspaces.rot2dOnR2(n), egs.rot2dOnR2(n)
    ft, eft = FieldType(gs, [gs.regular_repr] * 3), en.FieldType(egsp, [egsp.regular_repr] * 3)
    ours, theirs = snn.VectorFieldNonLinearity(ft), en.VectorFieldNonLinearity(eft)
    x = torch.randn(2, ft.size, 5, 5)
    torch.testing.assert_close(ours(x), theirs(eft(x)).tensor, rtol=0, atol=1e-6)
    with float64_default():
        mine = ours.out_type.representation(gs.fibergroup.elements())
    _assert_same_matrices(mine, theirs.out_type.representation, egsp.fibergroup)


# ---------------------------------------------------------------------------- InducedGatedNonLinearity1
def _induced_d4():
    gs = gspaces.flipRot2dOnR2(4)
    sub, _ = gs.restrict("C4")
    return gs, gs.induced_repr("C4", sub.fibergroup.trivial_representation), gs.induced_repr("C4", sub.irrep(1))


@pytest.mark.parametrize("drop_gates", [True, False])
def test_induced_gated_is_equivariant(drop_gates):
    torch.manual_seed(0)
    gs, gate, gated = _induced_d4()
    # gates and gated fields interleaved
    ft = FieldType(gs, [gate, gated, gate, gated])
    m = snn.InducedGatedNonLinearity1(ft, ["gate", "gated", "gate", "gated"], drop_gates=drop_gates).double()
    with torch.no_grad():
        m.bias.normal_()
    assert m.out_type == (FieldType(gs, [gated, gated]) if drop_gates else ft)
    x = torch.randn(2, ft.size, 5, 5, dtype=F64)
    y = m(x)
    # block i of gated field k times sigmoid(gate k channel i + b_k)
    s = torch.sigmoid(x[:, [0, 1, 6, 7]] + m.bias.detach().repeat_interleave(2).view(1, 4, 1, 1))
    v = x[:, [2, 3, 4, 5, 8, 9, 10, 11]] * s.repeat_interleave(2, dim=1)
    torch.testing.assert_close(y, v if drop_gates else torch.cat([s[:, :2], v[:, :4], s[:, 2:], v[:, 4:]], 1),
                               rtol=0, atol=1e-15)
    assert _fibre_error(m, x) < 1e-12
    assert field_equivariance_error(m, x, grid_symmetries(gs)) < 1e-12
    _same_after_pickle(m, x)
    # a C4 field induced from C2 (two blocks of size 1) with its own gate
    c4 = gspaces.rot2dOnR2(4)
    c2, _ = c4.restrict("C2")
    cgate, cgated = c4.induced_repr("C2", c2.fibergroup.trivial_representation), c4.induced_repr("C2", c2.irrep(1))
    m2 = snn.InducedGatedNonLinearity1(FieldType(c4, [cgate, cgated])).double()
    assert _fibre_error(m2, torch.randn(2, 4, 3, 3, dtype=F64)) < 1e-12


def test_induced_gated_checks_its_gates():
    gs, gate, gated = _induced_d4()
    wrong = Representation([gs.trivial_repr, gs.trivial_repr])  # size 2, but the flip does not swap it
    with pytest.raises(ValueError, match="does not permute its channels"):
        snn.InducedGatedNonLinearity1(FieldType(gs, [wrong, gated]))
    with pytest.raises(ValueError, match="as many gates"):
        snn.InducedGatedNonLinearity1(FieldType(gs, [gate, gate, gated]), ["gate", "gate", "gated"])
    with pytest.raises(ValueError, match="even"):
        snn.InducedGatedNonLinearity1(FieldType(gs, [gate, gated, gated]))
    with pytest.raises(ValueError, match="pass block_size"):
        snn.InducedGatedNonLinearity1(FieldType(gs, [gate, gs.irrep(1, 1)]))
    # D4's 2D irrep does permute two blocks of size 1 (up to sign), but its rotations swap them, the gate's do not
    with pytest.raises(ValueError, match="does not permute its channels"):
        snn.InducedGatedNonLinearity1(FieldType(gs, [gate, gs.irrep(1, 1)]), block_size=1)
    c8 = gspaces.rot2dOnR2(8)  # a rotation by 45 degrees permutes no blocks
    with pytest.raises(ValueError, match="does not permute its blocks"):
        snn.InducedGatedNonLinearity1(FieldType(c8, [Representation([c8.trivial_repr] * 2), c8.irrep(1)]),
                                      block_size=1)
    with pytest.raises(ValueError, match="unexpected"):
        snn.InducedGatedNonLinearity1(FieldType(gs, [gate, gated]), other=1)


def test_induced_gated_equals_escnn():
    """escnn's gate is sigmoid(s - b): with our bias set to -b the outputs agree (escnn 1.0.11 fails with
    drop_gates=False: it writes gates of shape [B, n, k, ...] into [B, n k, ...] channels)."""
    drop_gates = True
    eg, egs, en = _escnn()
    torch.manual_seed(0)
    egsp = egs.flipRot2dOnR2(4)
    esub = egsp.fibergroup.subgroup((None, 4))[0]
    egate, egated = egsp.induced_repr((None, 4), esub.trivial_representation), egsp.induced_repr((None, 4),
                                                                                                 esub.irrep(1))
    labels = ["gate", "gated", "gated", "gate"]
    eft = en.FieldType(egsp, [egate, egated, egated, egate])
    theirs = en.InducedGatedNonLinearity1(eft, labels, drop_gates=drop_gates)
    gs, gate, gated = _induced_d4()
    ours = snn.InducedGatedNonLinearity1(FieldType(gs, [gate, gated, gated, gate]), labels, drop_gates=drop_gates)
    assert ours.out_type.size == theirs.out_type.size
    with torch.no_grad():
        ours.bias.copy_(-theirs.bias.reshape(-1))
    x = torch.randn(2, ours.in_type.size, 4, 4)
    torch.testing.assert_close(ours(x), theirs(eft(x)).tensor, rtol=1e-6, atol=1e-6)


def test_induced_gated_signature_starts_with_escnns():
    eg, egs, en = _escnn()
    theirs = [p for p in inspect.signature(en.InducedGatedNonLinearity1).parameters if p != "kwargs"]
    assert list(inspect.signature(snn.InducedGatedNonLinearity1).parameters)[:len(theirs)] == theirs


# ---------------------------------------------------------------------------- R3IcoConvTransposed
def test_r3_ico_conv_transposed_is_equivariant_and_exports():
    torch.manual_seed(0)
    gs = gspaces.icoOnR3()
    t_in, t_out = FieldType(gs, [gs.irrep(1), gs.trivial_repr]), FieldType(gs, [gs.trivial_repr, gs.irrep(2)])
    up = snn.R3IcoConvTransposed(t_in, t_out, 3, padding=1).double()
    with torch.no_grad():
        up.bias.normal_()
    x = torch.randn(1, t_in.size, 4, 4, 4, dtype=F64)
    assert field_equivariance_error(up, x, grid_symmetries(gs)) < 1e-10
    # the same basis as R3IcoConv, transposed: equal weights give the transposed kernel
    conv = snn.R3IcoConv(t_out, t_in, 3, padding=1, bias=False).double()
    assert conv.weights.numel() > 0 and up.samples == "ico"
    plain = up.export()
    assert isinstance(plain, torch.nn.ConvTranspose3d)
    torch.testing.assert_close(plain(x), up(x), rtol=0, atol=1e-12)
    _same_after_pickle(up, x)
    with pytest.raises(ValueError, match="samples"):
        snn.R3IcoConvTransposed(t_in, t_out, 3, samples="cube")
    with pytest.raises(ValueError, match="icosahedral"):
        snn.R3IcoConvTransposed(FieldType(gspaces.octaOnR3(), [gspaces.octaOnR3().trivial_repr]), t_out, 3)
    strided = snn.R3IcoConvTransposed(t_in, t_out, 4, stride=2, padding=1, output_padding=1)
    assert strided(torch.randn(1, t_in.size, 3, 3, 3)).shape == (1, t_out.size, 7, 7, 7)


def test_r3_ico_conv_transposed_signature_is_escnns():
    eg, egs, en = _escnn()
    assert (list(inspect.signature(snn.R3IcoConvTransposed).parameters)
            == list(inspect.signature(en.R3IcoConvTransposed).parameters))
