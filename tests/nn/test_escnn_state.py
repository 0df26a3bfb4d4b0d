"""load_escnn_state_dict: escnn models (random weights, batch-norm statistics from a few training steps) loaded into
the same architecture written with steertorch, from the escnn model and from its eval-mode state dict, give the
same outputs; the change of basis of the fields is the measured one (identity for planar groups, D^l(B) for SO(3) /
O(3) irreps); and every way it can go wrong raises ValueError. Tests that need escnn skip without it.

escnn builds its bases in float32 (it cannot be built with float64 as the default dtype), so its filters carry
float32 rounding: they fit steertorch's bases to a relative residual of about 2e-7, and the outputs agree to about
1e-6 of their scale (steertorch in float64, escnn in float32).
"""

import pytest
import torch
from _escnn_helpers import import_escnn

from steertorch import gspaces
from steertorch import nn as snn
from steertorch.nn import FieldType, escnn_change_of_basis, load_escnn_state_dict

F64 = torch.float64
OUT_RTOL = 1e-5  # max |ours - escnn| / max |escnn| (escnn runs in float32)


def _randomize(model, x=None):
    """Random parameters (biases included, escnn starts them at zero), batch-norm statistics from two training
    steps on ``x``, then eval mode (escnn expands and stores its filters)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:  # escnn's mask is a frozen parameter
                p.normal_()
    if x is not None:
        model.train()
        for _ in range(2):
            model(model.in_type(x.float() * 2 + 0.5))
    model.eval()
    return model


def _max_rel(a, b):
    return float((a - b).detach().abs().max() / b.detach().abs().max())


def _compare(theirs, ours, x, q_in=None, q_out=None):
    """ours(Q_in x) == Q_out theirs(x); returns the relative error."""
    ours.eval()
    y_e = theirs(theirs.in_type(x.float())).tensor.double()
    x_o = x if q_in is None else torch.einsum("ab,nb...->na...", q_in, x)
    if q_out is not None:
        y_e = torch.einsum("ab,nb...->na...", q_out, y_e)
    err = _max_rel(ours(x_o), y_e)
    assert err < OUT_RTOL, err
    return err


def _types(nn, gs, reps_in, reps_out):
    return nn.FieldType(gs, reps_in), nn.FieldType(gs, reps_out)


def _planar(case):
    """(steertorch G-space, escnn G-space, fields in, fields out) for a planar group: lists of (ours, escnn)."""
    eg, egs, en = import_escnn()
    if case == "C8 regular":
        gs, egsp = gspaces.rot2dOnR2(8), egs.rot2dOnR2(8)
        fin = [(gs.trivial_repr, egsp.trivial_repr), (gs.regular_repr, egsp.regular_repr)]
        fout = [(gs.regular_repr, egsp.regular_repr)] * 2 + [(gs.trivial_repr, egsp.trivial_repr)]
    elif case == "D4 irreps":
        gs, egsp = gspaces.flipRot2dOnR2(4), egs.flipRot2dOnR2(4)
        labels = [(0, 0), (1, 0), (1, 1), (0, 2), (1, 2)]
        fin = [(gs.irrep(*lab), egsp.irrep(*lab)) for lab in labels]
        fout = fin[::-1] + [(gs.regular_repr, egsp.regular_repr)]
    elif case == "SO2":
        gs, egsp = gspaces.rot2dOnR2(-1, maximum_frequency=4), egs.rot2dOnR2(-1, maximum_frequency=4)
        fin = [(gs.irrep(k), egsp.irrep(k)) for k in range(4)]
        fout = [(gs.irrep(k), egsp.irrep(k)) for k in (0, 1, 1, 2, 3)]
    else:  # O2
        gs, egsp = gspaces.flipRot2dOnR2(-1, maximum_frequency=4), egs.flipRot2dOnR2(-1, maximum_frequency=4)
        labels = [(0, 0), (1, 0), (1, 1), (1, 2), (1, 3)]
        fin = [(gs.irrep(*lab), egsp.irrep(*lab)) for lab in labels]
        fout = fin[1:] + fin[:2]
    return gs, egsp, fin, fout


# ---------------------------------------------------------------------------- single convolutions
@pytest.mark.parametrize("case", ["C8 regular", "D4 irreps", "SO2", "O2"])
@pytest.mark.parametrize("source", ["module", "state dict"])
def test_planar_conv_loads_with_equal_outputs(case, source):
    eg, egs, en = import_escnn()
    gs, egsp, fin, fout = _planar(case)
    theirs = _randomize(en.R2Conv(*_types(en, egsp, [e for _, e in fin], [e for _, e in fout]), 5, padding=2))
    ours = snn.R2Conv(*_types(snn, gs, [o for o, _ in fin], [o for o, _ in fout]), 5, padding=2).double()
    assert ours.weights.numel() == theirs.weights.numel()
    residuals = load_escnn_state_dict(ours, theirs if source == "module" else theirs.state_dict())
    assert set(residuals) == {""} and residuals[""] < 1e-6
    x = torch.randn(2, ours.in_type.size, 11, 11, dtype=F64)
    _compare(theirs, ours, x)  # planar groups: the same field bases, no change of basis
    # the fitted kernel and bias are escnn's
    k, b = ours.expand_parameters()
    assert _max_rel(k, theirs.filter.double()) < 1e-6
    if b is not None:
        torch.testing.assert_close(b, theirs.expanded_bias.double(), rtol=0, atol=1e-6)


def _space(case):
    eg, egs, en = import_escnn()
    if case == "SO3":
        gs, egsp = gspaces.rot3dOnR3(), egs.rot3dOnR3()
        pairs = [(gs.irrep(l), egsp.irrep(l)) for l in range(3)]
    else:  # O3: steertorch (l, p), escnn (0 for p = +1, 1 for p = -1, l)
        gs, egsp = gspaces.flipRot3dOnR3(), egs.flipRot3dOnR3()
        pairs = [(gs.irrep((l, p)), egsp.irrep(0 if p == 1 else 1, l)) for l, p in ((0, 1), (1, -1), (1, 1), (2, 1))]
    return gs, egsp, pairs


@pytest.mark.parametrize("case", ["SO3", "O3"])
@pytest.mark.parametrize("source", ["module", "state dict"])
def test_r3conv_loads_with_the_change_of_basis_of_the_irreps(case, source):
    """SO(3) / O(3): escnn's real basis of each irrep is not steertorch's (e3nn's); with x_ours = Q x_escnn the
    loaded model maps Q_in x to Q_out y, Q_l = D^l(B) per irrep."""
    eg, egs, en = import_escnn()
    gs, egsp, pairs = _space(case)
    fin, fout = pairs, pairs[::-1] + pairs[1:2]
    theirs = _randomize(en.R3Conv(*_types(en, egsp, [e for _, e in fin], [e for _, e in fout]), 5, padding=2))
    ours = snn.R3Conv(*_types(snn, gs, [o for o, _ in fin], [o for o, _ in fout]), 5, padding=2).double()
    residuals = load_escnn_state_dict(ours, theirs if source == "module" else theirs.state_dict())
    assert residuals[""] < 1e-6
    q_in, q_out = escnn_change_of_basis(ours.in_type), escnn_change_of_basis(ours.out_type)
    assert not torch.allclose(q_in, torch.eye(q_in.shape[0], dtype=F64))  # a real change of basis
    x = torch.randn(1, ours.in_type.size, 7, 7, 7, dtype=F64)
    _compare(theirs, ours, x, q_in, q_out)
    # without the change of basis the outputs differ: it is needed
    with pytest.raises(AssertionError):
        _compare(theirs, ours, x)


def test_transposed_conv_loads():
    eg, egs, en = import_escnn()
    gs, egsp = gspaces.flipRot2dOnR2(4), egs.flipRot2dOnR2(4)
    theirs = _randomize(en.R2ConvTransposed(*_types(en, egsp, [egsp.regular_repr] * 2, [egsp.trivial_repr,
                                                                                     egsp.irrep(1, 1)]),
                                            3, stride=2, padding=1))
    ours = snn.R2ConvTransposed(*_types(snn, gs, [gs.regular_repr] * 2, [gs.trivial_repr, gs.irrep(1, 1)]), 3,
                                stride=2, padding=1).double()
    assert load_escnn_state_dict(ours, theirs.state_dict())[""] < 1e-6
    _compare(theirs, ours, torch.randn(2, 16, 6, 6, dtype=F64))


# ---------------------------------------------------------------------------- a model
def _c8_model(nn, gs):
    t0 = nn.FieldType(gs, [gs.trivial_repr])
    t1 = nn.FieldType(gs, [gs.regular_repr] * 3)
    t2 = nn.FieldType(gs, [gs.regular_repr] * 2 + [gs.irrep(1)] * 2 + [gs.trivial_repr])
    t3 = nn.FieldType(gs, [gs.regular_repr] * 2)
    return nn.SequentialModule(
        nn.IdentityModule(t0), nn.R2Conv(t0, t1, 5, padding=2), nn.InnerBatchNorm(t1), nn.ReLU(t1),
        nn.PointwiseMaxPool(t1, 2), nn.R2Conv(t1, t2, 3, padding=1), nn.IIDBatchNorm2d(t2),
        nn.PointwiseAvgPoolAntialiased2D(t2, sigma=0.66, stride=1, padding=1), nn.R2Conv(t2, t3, 3),
        nn.InnerBatchNorm(t3), nn.ReLU(t3), nn.GroupPooling(t3))


@pytest.mark.parametrize("source", ["module", "state dict"])
def test_sequential_model_loads_with_equal_outputs(source):
    eg, egs, en = import_escnn()
    gs, egsp = gspaces.rot2dOnR2(8), egs.rot2dOnR2(8)
    x = torch.randn(4, 1, 13, 13, dtype=F64)
    theirs = _randomize(_c8_model(en, egsp), x)
    ours = _c8_model(snn, gs).double()
    residuals = load_escnn_state_dict(ours, theirs if source == "module" else theirs.state_dict())
    assert set(residuals) == {"1", "5", "8"} and max(residuals.values()) < 1e-6
    assert _compare(theirs, ours, x) < OUT_RTOL
    # a float32 model loads the same weights (cast)
    ours32 = _c8_model(snn, gs)
    load_escnn_state_dict(ours32, theirs.state_dict())
    assert _max_rel(ours32.eval()(x.float()).double(), ours(x)) < 1e-5


class _Net(torch.nn.Module):
    """An escnn-style body (fields) and a plain torch head, the same code for both libraries."""

    def __init__(self, nn, gs):
        super().__init__()
        self.body = _c8_model(nn, gs)
        self.in_type = self.body.in_type
        self.head = torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.BatchNorm1d(5))

    def forward(self, x):
        y = self.body(x)
        y = y.tensor if hasattr(y, "tensor") else y
        return _Wrapped(self.head(y.mean((2, 3))))


class _Wrapped:  # escnn's outputs are GeometricTensors: _compare reads .tensor
    def __init__(self, t):
        self.tensor = t


def test_model_with_a_torch_head_loads():
    eg, egs, en = import_escnn()
    gs, egsp = gspaces.rot2dOnR2(8), egs.rot2dOnR2(8)
    x = torch.randn(4, 1, 13, 13, dtype=F64)
    theirs = _randomize(_Net(en, egsp), x)
    ours = _Net(snn, gs).double()
    residuals = load_escnn_state_dict(ours, theirs.state_dict())
    assert set(residuals) == {"body.1", "body.5", "body.8"}
    torch.testing.assert_close(ours.head[0].weight, theirs.head[0].weight.double())
    ours.eval()
    y_e = theirs(theirs.in_type(x.float())).tensor.double()
    assert _max_rel(ours(x).tensor, y_e) < OUT_RTOL


def test_norm_batch_norm_and_so2_model_loads():
    eg, egs, en = import_escnn()
    gs, egsp = gspaces.rot2dOnR2(-1, maximum_frequency=3), egs.rot2dOnR2(-1, maximum_frequency=3)

    def model(nn, g):
        t0 = nn.FieldType(g, [g.trivial_repr] * 2)
        t1 = nn.FieldType(g, [g.irrep(1), g.irrep(2), g.irrep(1)])
        t2 = nn.FieldType(g, [g.trivial_repr, g.irrep(1)])
        return nn.SequentialModule(nn.R2Conv(t0, t1, 5, padding=2), nn.NormBatchNorm(t1), nn.R2Conv(t1, t2, 3))

    x = torch.randn(4, 2, 9, 9, dtype=F64)
    theirs = _randomize(model(en, egsp), x)
    ours = model(snn, gs).double()
    load_escnn_state_dict(ours, theirs.state_dict())
    _compare(theirs, ours, x)


# ---------------------------------------------------------------------------- changes of basis
@pytest.mark.parametrize("case", ["C8 regular", "D4 irreps", "SO2", "O2", "SO3", "O3"])
def test_change_of_basis_from_escnn_representations_is_the_measured_convention(case):
    """escnn_change_of_basis(ours, escnn's type) compares representation matrices on the same grid motions; it
    equals the convention used for state dicts (identity for planar groups, D^l(B) for SO(3) / O(3) irreps)."""
    eg, egs, en = import_escnn()
    if case in ("SO3", "O3"):
        gs, egsp, pairs = _space(case)
        if case == "SO3":
            pairs = pairs + [(gs.irrep(l), egsp.irrep(l)) for l in (3, 4)]
    else:
        gs, egsp, fin, fout = _planar(case)
        pairs = fin + fout
    ours, theirs = FieldType(gs, [o for o, _ in pairs]), en.FieldType(egsp, [e for _, e in pairs])
    q = escnn_change_of_basis(ours, theirs)
    torch.testing.assert_close(q, escnn_change_of_basis(ours), rtol=0, atol=1e-8)
    torch.testing.assert_close(q @ q.T, torch.eye(ours.size, dtype=F64), rtol=0, atol=1e-8)


def test_change_of_basis_of_octahedral_fields_needs_escnns_types():
    eg, egs, en = import_escnn()
    gs, egsp = gspaces.octaOnR3(), egs.octaOnR3()
    ours = FieldType(gs, [gs.trivial_repr, gs.irrep(1), gs.regular_repr])
    theirs = en.FieldType(egsp, [egsp.trivial_repr, egsp.irrep(1), egsp.regular_repr])
    q = escnn_change_of_basis(ours, theirs)  # computed from escnn's representations
    torch.testing.assert_close(q @ q.T, torch.eye(ours.size, dtype=F64), rtol=0, atol=1e-8)
    with pytest.raises(ValueError, match="pass the escnn model"):
        escnn_change_of_basis(ours)


def test_octahedral_conv_loads_from_the_escnn_module_only():
    eg, egs, en = import_escnn()
    for name in ("pymanopt", "autograd"):  # escnn needs them for the octahedral kernel basis
        pytest.importorskip(name)
    gs, egsp = gspaces.octaOnR3(), egs.octaOnR3()
    t_in = en.FieldType(egsp, [egsp.trivial_repr, egsp.irrep(1)])
    t_out = en.FieldType(egsp, [egsp.irrep(1), egsp.trivial_repr])
    conv_e = _randomize(en.R3Conv(t_in, t_out, 3, padding=1))
    conv_o = snn.R3Conv(FieldType(gs, [gs.trivial_repr, gs.irrep(1)]), FieldType(gs, [gs.irrep(1), gs.trivial_repr]),
                        3, padding=1).double()
    assert load_escnn_state_dict(conv_o, conv_e)[""] < 1e-6
    x = torch.randn(1, 4, 5, 5, 5, dtype=F64)
    _compare(conv_e, conv_o, x, escnn_change_of_basis(conv_o.in_type, t_in),
             escnn_change_of_basis(conv_o.out_type, t_out))
    with pytest.raises(ValueError, match="pass the escnn model"):
        load_escnn_state_dict(conv_o, conv_e.state_dict())


# ---------------------------------------------------------------------------- errors (with escnn)
def test_errors_with_escnn():
    eg, egs, en = import_escnn()
    gs, egsp = gspaces.rot2dOnR2(8), egs.rot2dOnR2(8)
    t_in, t_out = _types(en, egsp, [egsp.trivial_repr], [egsp.regular_repr] * 2)
    theirs = _randomize(en.R2Conv(t_in, t_out, 5))
    o_in, o_out = _types(snn, gs, [gs.trivial_repr], [gs.regular_repr] * 2)
    # a state dict saved in training mode holds only escnn's basis coefficients
    theirs.train()
    with pytest.raises(ValueError, match=r"eval mode.*escnn_model.eval\(\)"):
        load_escnn_state_dict(snn.R2Conv(o_in, o_out, 5), theirs.state_dict())
    # ... while the module itself works in any mode
    assert load_escnn_state_dict(snn.R2Conv(o_in, o_out, 5), theirs)[""] < 1e-6
    theirs.eval()
    # another kernel space (other ring widths): escnn's filter is not in the span
    with pytest.raises(ValueError, match="not in this layer's kernel space"):
        load_escnn_state_dict(snn.R2Conv(o_in, o_out, 5, sigma=0.6), theirs.state_dict())
    # other fields
    with pytest.raises(ValueError, match="shape"):
        load_escnn_state_dict(snn.R2Conv(o_in, FieldType(gs, [gs.regular_repr]), 5), theirs.state_dict())
    # another architecture: escnn entries left over / missing
    x = torch.randn(2, 1, 13, 13, dtype=F64)
    model_e = _randomize(_c8_model(en, egsp), x)
    with pytest.raises(ValueError, match="have no place"):
        load_escnn_state_dict(snn.SequentialModule(*list(_c8_model(snn, gs).children())[:5]), model_e.state_dict())
    # a constant that differs: escnn's MaskModule decays as exp((t - r^2) / sigma^2), steertorch's as
    # exp((t - r^2) / (2 sigma^2)) (sigma a standard deviation), so the masks differ and loading refuses
    t0, e0 = FieldType(gs, [gs.trivial_repr]), en.FieldType(egsp, [egsp.trivial_repr])
    with pytest.raises(ValueError, match="mask differs"):
        load_escnn_state_dict(snn.SequentialModule(snn.MaskModule(t0, 13), snn.R2Conv(o_in, o_out, 5)),
                              en.SequentialModule(en.MaskModule(e0, 13), theirs).state_dict())
    with pytest.raises(ValueError, match="no .*filter"):
        load_escnn_state_dict(_c8_model(snn, gs), {k: v for k, v in model_e.state_dict().items()
                                                   if not k.startswith("8.")})


# ---------------------------------------------------------------------------- without escnn
def _conv(**kw):
    gs = gspaces.rot2dOnR2(4)
    return snn.R2Conv(FieldType(gs, [gs.trivial_repr]), FieldType(gs, [gs.regular_repr] * 2), 3, **kw).double()


def test_state_dict_with_a_filter_in_the_span_loads_exactly():
    donor = _conv()
    with torch.no_grad():
        donor.bias.normal_()
    k, b = donor.expand_parameters()
    ours = _conv(initialize=False)
    res = load_escnn_state_dict(ours, {"filter": k.detach(), "expanded_bias": b.detach()})
    assert res[""] < 1e-12
    torch.testing.assert_close(ours.weights, donor.weights, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours.bias, donor.bias, rtol=0, atol=1e-12)


def test_errors_without_escnn():
    ours = _conv()
    k, b = ours.expand_parameters()
    with pytest.raises(ValueError, match="eval mode"):
        load_escnn_state_dict(ours, {"weights": torch.zeros(ours.weights.numel())})
    with pytest.raises(ValueError, match="not in this layer's kernel space"):
        load_escnn_state_dict(ours, {"filter": torch.randn_like(k)})
    res = load_escnn_state_dict(ours, {"filter": k.detach() + 1e-3 * torch.randn_like(k)}, tolerance=1.0)
    assert 1e-5 < res[""] < 1e-1  # the residual is reported
    with pytest.raises(ValueError, match="have no place"):
        load_escnn_state_dict(ours, {"filter": k.detach(), "other.weight": torch.zeros(3)})
    with pytest.raises(ValueError, match="tolerance"):
        load_escnn_state_dict(ours, {"filter": k.detach()}, tolerance=-1.0)
    with pytest.raises(ValueError, match="source must be"):
        load_escnn_state_dict(ours, [k])
    gs = gspaces.rot2dOnR2(4)
    t = FieldType(gs, [gs.regular_repr])
    with pytest.raises(ValueError, match="GNormBatchNorm"):
        load_escnn_state_dict(snn.GNormBatchNorm(t), {})
    gs3 = gspaces.octaOnR3()
    conv3 = snn.R3Conv(FieldType(gs3, [gs3.trivial_repr]), FieldType(gs3, [gs3.irrep(1)]), 3)
    with pytest.raises(ValueError, match="pass the escnn model"):
        load_escnn_state_dict(conv3, {"filter": torch.zeros(3, 1, 3, 3, 3)})
