"""S2Activation: O(3) equivariance (exact for polynomial activations, measured for relu), e3nn conformance,
analytic values, normalisation of the sphere signal, gradients, torch.compile and bad input."""

import math

import pytest
import torch
from _equivariance_helpers import assert_finite_gradients, float64, gen, irreps_equivariance_error, o3_elements

from steertorch import o3
from steertorch.nn import S2Activation

# (irreps, act, polynomial degree of act, lmax_out, expected irreps_out)
POLYNOMIAL = [
    ("0e + 1o + 2e", lambda x: x**2, 2, None, "0e + 1o + 2e"),  # p_val = +1, p_arg = -1 (harmonics)
    ("0e + 1e + 2e", lambda x: x**3 - x, 3, 3, "0e + 1e + 2e + 3e"),  # p_arg = +1
    ("0o + 1e + 2o", lambda x: x**3, 3, 2, "0o + 1e + 2o"),  # odd input, odd act: parity kept
    ("0o + 1o + 2o", lambda x: x**2, 2, 1, "0e + 1e"),  # odd input, even act: becomes even
    ("0e + 1o + 2e + 3o", lambda x: x**2 + x, 2, 4, "0e + 1o + 2e + 3o + 4e"),
]


@pytest.mark.parametrize("normalization", ["component", "norm", "integral"])
@pytest.mark.parametrize("config", range(len(POLYNOMIAL)))
def test_equivariance_is_exact_for_polynomial_act(config, normalization):
    irreps, act, degree, lmax_out, expected = POLYNOMIAL[config]
    lmax = o3.Irreps(irreps).lmax
    resolution = degree * lmax + (lmax if lmax_out is None else lmax_out)  # the smallest exact grid
    with float64():
        m = S2Activation(irreps, act, resolution, normalization=normalization, lmax_out=lmax_out)
    assert m.irreps_out == o3.Irreps(expected)
    g = o3_elements()
    x = m.irreps_in.randn(len(g), -1, dtype=torch.float64, generator=gen(config))
    assert irreps_equivariance_error(m, x, g) <= 1e-10


def test_equivariance_of_relu_improves_with_resolution():
    # relu(f) is not band-limited: the quadrature aliases. Measured relative errors (lmax 4, 8 rotations):
    # 0.35 (resolution 8), 4.4e-2 (16), 5.6e-3 (32), 1.4e-3 (64), 2.2e-4 (128); tanh reaches 2e-13 at 128
    g = o3_elements(4)
    errors = []
    for resolution in (8, 32, 128):
        with float64():
            m = S2Activation("0e + 1o + 2e + 3o + 4e", torch.relu, resolution)
        x = m.irreps_in.randn(len(g), -1, dtype=torch.float64, generator=gen(1))
        errors.append(irreps_equivariance_error(m, x, g))
    assert errors[0] > errors[1] > errors[2] > 0
    assert errors[2] < 1e-3


def test_random_rot_gives_the_same_output_when_the_grid_is_exact():
    with float64():
        fixed = S2Activation("0e + 1o + 2e", lambda x: x**2, 6)
        rotating = S2Activation("0e + 1o + 2e", lambda x: x**2, 6, random_rot=True)
    x = fixed.irreps_in.randn(5, -1, dtype=torch.float64, generator=gen())
    torch.manual_seed(0)
    torch.testing.assert_close(rotating(x), fixed(x), atol=1e-12, rtol=0)
    with float64():
        fixed, rotating = (S2Activation("0e + 1o + 2e", torch.relu, 6, random_rot=r) for r in (False, True))
    assert (rotating(x) - fixed(x)).abs().max() > 1e-3  # relu aliases differently on the turned grid


@pytest.mark.parametrize("normalization", ["component", "norm"])
@pytest.mark.parametrize("config", [0, 2, 3])
def test_matches_e3nn_when_both_grids_are_exact(config, normalization):
    e3nn_nn = pytest.importorskip("e3nn.nn")
    irreps, act, _, lmax_out, _ = POLYNOMIAL[config]
    with float64():
        ours = S2Activation(irreps, act, 12, normalization=normalization, lmax_out=lmax_out)
        theirs = e3nn_nn.S2Activation(irreps, act, 30, normalization=normalization, lmax_out=lmax_out)
    assert str(ours.irreps_out) == str(theirs.irreps_out)
    ours.act.cst, ours.act._is_id = theirs.act.cst, False  # e3nn's constant is a Monte-Carlo estimate
    x = ours.irreps_in.randn(7, -1, dtype=torch.float64, generator=gen(config))
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("normalization", ["component", "norm", "integral"])
def test_identity_act_returns_the_input_truncated_to_lmax_out(normalization):
    with float64():
        same = S2Activation("0e + 1o + 2e + 3o", lambda x: x, 6, normalization=normalization)
        fewer = S2Activation("0e + 1o + 2e + 3o", lambda x: x, 6, normalization=normalization, lmax_out=1)
        more = S2Activation("0e + 1o + 2e + 3o", lambda x: x, 8, normalization=normalization, lmax_out=5)
    x = same.irreps_in.randn(4, -1, dtype=torch.float64, generator=gen())
    torch.testing.assert_close(same(x), x, atol=1e-12, rtol=0)
    torch.testing.assert_close(fewer(x), x[:, :4], atol=1e-12, rtol=0)
    torch.testing.assert_close(more(x), torch.cat([x, x.new_zeros(4, 20)], -1), atol=1e-12, rtol=0)


def test_constant_signal_analytic_value():
    # A = (a, 0, 0, 0) with "component": f = a / sqrt(L+1) everywhere, phi(f) = f^2 / sqrt(3) (E[z^4] = 3),
    # B_0 = sqrt(L+1) * mean(phi(f)), all other coefficients 0
    with float64():
        m = S2Activation("0e + 1o + 2e + 3o", lambda x: x**2, 9)
    a = torch.tensor([0.3, -1.7, 2.0], dtype=torch.float64)
    x = torch.zeros(3, 16, dtype=torch.float64)
    x[:, 0] = a
    expected = torch.zeros_like(x)
    expected[:, 0] = 2 * (a / 2) ** 2 / math.sqrt(3)
    torch.testing.assert_close(m(x), expected, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("act", [torch.tanh, torch.relu, torch.nn.functional.silu])
def test_signal_and_activated_signal_have_unit_second_moment(act):
    # unit-variance coefficients ("component") give a unit-variance signal; normalize2mom keeps it unit
    with float64():
        m = S2Activation("0e + 1o + 2e + 3o + 4e", act, 24)
    x = m.irreps_in.randn(4000, -1, dtype=torch.float64, generator=gen())
    signal = x @ m.to_grid
    assert abs(float(signal.pow(2).mean()) - 1) < 0.05
    assert abs(float(m.act(signal).pow(2).mean()) - 1) < 0.05
    with float64():
        m = S2Activation("0e + 1o + 2e + 3o + 4e", act, 24, normalization="norm")
    x = m.irreps_in.randn(4000, -1, normalization="norm", dtype=torch.float64, generator=gen())
    assert abs(float((x @ m.to_grid).pow(2).mean()) - 1) < 0.05


@pytest.mark.parametrize("act", [torch.relu, torch.tanh, torch.abs])
def test_gradients_finite_at_zero_and_double_backward(act):
    with float64():
        m = S2Activation("0e + 1e + 2e", act, 8)
    x = torch.zeros(3, 9, dtype=torch.float64, requires_grad=True)
    assert_finite_gradients(m, x)


def test_gradcheck_and_gradgradcheck():
    with float64():
        m = S2Activation("0e + 1o + 2e", torch.tanh, 6)
    x = m.irreps_in.randn(2, -1, dtype=torch.float64, generator=gen(), requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))
    assert torch.autograd.gradgradcheck(m, (x,))


def test_float32_and_batch_shapes():
    m32 = S2Activation("0e + 1o + 2e", torch.nn.functional.silu, 10)
    assert m32.to_grid.dtype == torch.get_default_dtype()
    with float64():
        m64 = S2Activation("0e + 1o + 2e", torch.nn.functional.silu, 10)
    x = torch.randn(2, 3, 9, generator=gen(), dtype=torch.float64)
    assert m64(x).shape == (2, 3, 9)
    torch.testing.assert_close(m32.float()(x.float()), m64(x).float(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(m32.double()(x), m64(x), atol=1e-5, rtol=1e-5)


def test_compile_fullgraph_matches_eager():
    # aot_eager: dynamo captures the whole forward (fullgraph fails on any graph break) without inductor's C++ build
    m = S2Activation("0e + 1o + 2e", torch.tanh, 8)
    x = torch.randn(5, 9, generator=gen())
    compiled = torch.compile(m, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), m(x), atol=1e-6, rtol=1e-5)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="one copy of each degree"):
        S2Activation("0e + 2e", torch.tanh, 8)
    with pytest.raises(ValueError, match="one copy of each degree"):
        S2Activation("2x0e + 1o", torch.tanh, 8)
    with pytest.raises(ValueError, match="one copy of each degree"):
        S2Activation("", torch.tanh, 8)
    with pytest.raises(ValueError, match="neither all equal"):
        S2Activation("0e + 1o + 2o", torch.tanh, 8)
    with pytest.raises(ValueError, match="odd or even"):
        S2Activation("0o + 1e", torch.relu, 8)
    with pytest.raises(ValueError, match="at least lmax_in \\+ lmax_out = 5"):
        S2Activation("0e + 1o + 2e", torch.relu, 4, lmax_out=3)
    with pytest.raises(ValueError, match="normalization"):
        S2Activation("0e + 1o", torch.relu, 4, normalization="unit")
    with pytest.raises(ValueError, match="lmax_out"):
        S2Activation("0e + 1o", torch.relu, 4, lmax_out=-1)
    m = S2Activation("0e + 1o + 2e", torch.relu, 8)
    with pytest.raises(ValueError, match=r"1x0e\+1x1o\+1x2e \(last dim 9\), got shape \[2, 4\]"):
        m(torch.randn(2, 4))
