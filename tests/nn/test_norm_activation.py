"""NormActivation: e3nn values, equivariance under O(3), safety at zero vectors, normalisation option."""

import pytest
import torch
from _equivariance_helpers import act_on, o3_elements

from steertorch.nn import NormActivation

IRREPS = "3x0e + 2x0o + 2x1o + 1x1e + 2x2e"


@pytest.mark.parametrize("kwargs", [dict(), dict(normalize=False), dict(bias=True), dict(normalize_moment=True)])
def test_equivariance(kwargs):
    act = NormActivation(IRREPS, torch.sigmoid, **kwargs).double()
    if kwargs.get("bias"):
        with torch.no_grad():
            act.biases.normal_()
    R = o3_elements(7)  # 7 rotations or rotoreflections, and -I
    x = act.irreps_in.randn(len(R), -1, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    lhs = act(act_on(act.irreps_in, R, x))
    rhs = act_on(act.irreps_out, R, act(x))
    assert float((lhs - rhs).detach().abs().max()) <= 1e-10


def test_values():
    act = NormActivation("2x1o + 1x0e", torch.tanh, normalize=True)
    x = torch.randn(4, 7, dtype=torch.float64)
    y = act(x)
    v = x[:, :6].reshape(4, 2, 3)
    n = v.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(y[:, :6].reshape(4, 2, 3), v / n * torch.tanh(n))
    torch.testing.assert_close(y[:, 6], torch.sign(x[:, 6]) * torch.tanh(x[:, 6].abs()))
    y2 = NormActivation("2x1o + 1x0e", torch.tanh, normalize=False)(x)
    torch.testing.assert_close(y2[:, :6].reshape(4, 2, 3), v * torch.tanh(n))


# (e3nn 0.6.0's NormActivation cannot be built with normalize=False: it compares epsilon=None with 0)
@pytest.mark.parametrize("kwargs", [dict(), dict(bias=True)])
def test_matches_e3nn(kwargs):
    e3nn_nn = pytest.importorskip("e3nn.nn")
    e3nn_o3 = pytest.importorskip("e3nn.o3")
    theirs = e3nn_nn.NormActivation(e3nn_o3.Irreps(IRREPS), torch.sigmoid, **kwargs).double()
    ours = NormActivation(IRREPS, torch.sigmoid, **kwargs).double()
    if kwargs.get("bias"):
        with torch.no_grad():
            theirs.biases.normal_()
            ours.biases.copy_(theirs.biases)  # same parameter name and shape as e3nn
    x = ours.irreps_in.randn(16, -1, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("normalize", [True, False])
def test_zero_vectors_are_safe(normalize):
    act = NormActivation("2x1o + 1x2e + 1x0e", torch.sigmoid, normalize=normalize, bias=True).double()
    x = torch.zeros(3, act.irreps_in.dim, dtype=torch.float64)
    x[1] = torch.randn(act.irreps_in.dim, dtype=torch.float64)
    x[2, :3] = 1e-12  # below epsilon
    x.requires_grad_()
    y = act(x)
    assert torch.equal(y[0].detach(), torch.zeros(act.irreps_in.dim, dtype=torch.float64))
    (g,) = torch.autograd.grad(y.pow(2).sum() + y.sum(), x, create_graph=True)
    assert torch.isfinite(g).all()
    (gg,) = torch.autograd.grad(g.sum(), x)
    assert torch.isfinite(gg).all()
    (gb,) = torch.autograd.grad(act(x).sum(), act.biases)
    assert torch.isfinite(gb).all()


def test_gradcheck_away_from_zero():
    act = NormActivation("1x1o + 1x2e", torch.nn.functional.softplus, bias=True).double()
    x = torch.randn(2, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(act, (x,))
    assert torch.autograd.gradgradcheck(act, (x,))


@pytest.mark.parametrize("normalize", [True, False])
def test_normalize_moment_gives_unit_second_moment(normalize):
    irreps = "8x0e + 8x1o + 8x2e + 4x3o"
    act = NormActivation(irreps, torch.sigmoid, normalize=normalize, normalize_moment=True)
    x = act.irreps_in.randn(20_000, -1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = act(x)
    for sl in act.irreps_out.slices():
        assert 0.9 < float(y[:, sl].pow(2).mean()) < 1.1
    if normalize:  # without the option (e3nn's values), |y| = sigmoid(|v|) < 1 for copies of 2l + 1 = 7 components
        plain = NormActivation(irreps, torch.sigmoid, normalize=normalize)(x)
        assert float(plain[:, -28:].pow(2).mean()) < 0.2


def test_bad_input():
    act = NormActivation("2x1o", torch.sigmoid)
    with pytest.raises(ValueError, match=r"2x1o \(last dim 6\), got shape \[4, 5\]"):
        act(torch.randn(4, 5))
    with pytest.raises(ValueError, match="epsilon"):
        NormActivation("2x1o", torch.sigmoid, epsilon=0.0)
    with pytest.raises(ValueError, match="callable"):
        NormActivation("2x1o", "sigmoid")
