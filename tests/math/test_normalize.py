"""Second-moment normalisation of activations: exact quadrature, agreement with e3nn's Monte-Carlo constants."""

import math

import pytest
import torch
import torch.nn.functional as F

from steertorch.math import moment, normalize2mom

ACTS = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "silu": F.silu,
    "gelu": F.gelu,
    "softplus": F.softplus,
    "abs": torch.abs,
    "SiLU-module": torch.nn.SiLU(),
}


def test_exact_moments():
    assert abs(float(moment(lambda z: z, 2)) - 1) < 1e-12
    assert abs(float(moment(lambda z: z, 4)) - 3) < 1e-12
    assert abs(float(moment(lambda z: z, 6)) - 15) < 1e-10
    assert abs(float(moment(lambda z: z, 3))) < 1e-12
    assert abs(float(moment(torch.relu, 2)) - 0.5) < 1e-12
    assert abs(float(moment(torch.abs, 1)) - math.sqrt(2 / math.pi)) < 1e-3  # a kink at 0: first-order error
    assert abs(float(moment(lambda z: torch.ones_like(z), 0)) - 1) < 1e-12


def test_kinked_function_close_to_closed_form():
    # E[relu(z - a)^2] = (1 + a^2) Q(a) - a phi(a)
    a = 0.3
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    q = 0.5 * math.erfc(a / math.sqrt(2))
    expected = (1 + a * a) * q - a * phi
    assert abs(float(moment(lambda z: torch.relu(z - a), 2)) / expected - 1) < 1e-5


@pytest.mark.parametrize("name", list(ACTS))
def test_normalized_activation_has_unit_second_moment(name):
    act = normalize2mom(ACTS[name])
    assert abs(float(moment(act, 2)) - 1) < 1e-10
    z = torch.randn(200_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert abs(float(act(z).pow(2).mean()) - 1) < 0.02


@pytest.mark.parametrize("name", list(ACTS))
def test_constants_match_e3nn(name):
    e3nn_math = pytest.importorskip("e3nn.math")
    ours = normalize2mom(ACTS[name]).cst
    theirs = e3nn_math.normalize2mom(ACTS[name]).cst
    assert abs(ours / theirs - 1) < 3e-3  # e3nn's constants are Monte-Carlo estimates (1e6 samples)


def test_reproducible_and_identity_skipped():
    assert normalize2mom(torch.tanh).cst == normalize2mom(torch.tanh).cst
    assert abs(normalize2mom(torch.relu).cst - math.sqrt(2)) < 1e-12
    ident = normalize2mom(torch.abs)
    assert ident._is_id
    x = torch.randn(5)
    assert torch.equal(ident(x), x.abs())


def test_forward_preserves_dtype_and_grad():
    act = normalize2mom(torch.tanh)
    x = torch.randn(4, dtype=torch.float32, requires_grad=True)
    y = act(x)
    assert y.dtype == torch.float32
    y.sum().backward()
    torch.testing.assert_close(x.grad, act.cst * (1 - torch.tanh(x.detach()) ** 2))


def test_module_with_parameters_uses_their_dtype():
    lin = torch.nn.PReLU()  # float32 parameters
    act = normalize2mom(lin)
    assert math.isfinite(act.cst)
    assert act(torch.randn(3)).dtype == torch.float32


def test_bad_input():
    with pytest.raises(ValueError, match="second moment"):
        normalize2mom(torch.zeros_like)
    with pytest.raises(ValueError, match="callable"):
        normalize2mom(3.0)
    with pytest.raises(ValueError, match="elementwise"):
        moment(lambda z: z.sum(), 2)
    with pytest.raises(ValueError, match="n must"):
        moment(torch.tanh, -1)
