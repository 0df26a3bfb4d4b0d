"""SO3Activation: equivariance under O(3) (right translations = the irreps action, exact for polynomial
activations) and under left translations, e3nn conformance, analytic values, normalisation, gradients,
torch.compile and bad input."""

import math

import pytest
import torch
from _equivariance_helpers import assert_finite_gradients, float64, gen, irreps_equivariance_error, o3_elements

from steertorch import o3
from steertorch.nn import SO3Activation, so3_irreps


def left_translate(lmax, R, x):
    """Coefficients of f(R^-1 g): each F^l (rows = copies) becomes D^l(R) F^l."""
    out, start = [], 0
    for l in range(lmax + 1):
        d = 2 * l + 1
        F = x[..., start:start + d * d].reshape(*x.shape[:-1], d, d)
        out.append((o3.wigner_D(l, R) @ F).flatten(-2))
        start += d * d
    return torch.cat(out, -1)


# (lmax_in, lmax_out, act, polynomial degree of act)
POLYNOMIAL = [(1, 1, lambda x: x**2, 2), (2, 1, lambda x: x**2 - 1, 2), (1, 3, lambda x: x**3, 3),
              (2, 2, torch.square, 2)]


@pytest.mark.parametrize("config", range(len(POLYNOMIAL)))
def test_equivariance_is_exact_for_polynomial_act(config):
    lmax_in, lmax_out, act, degree = POLYNOMIAL[config]
    with float64():
        m = SO3Activation(lmax_in, lmax_out, act, degree * lmax_in + lmax_out)  # the smallest exact grid
    g = o3_elements()
    x = m.irreps_in.randn(len(g), -1, dtype=torch.float64, generator=gen(config))
    assert irreps_equivariance_error(m, x, g) <= 1e-10
    # left translations commute with a pointwise act too
    R = g[:-1] * torch.det(g[:-1])[:, None, None]
    with torch.no_grad():
        lhs = m(left_translate(lmax_in, R, x[:-1]))
        rhs = left_translate(lmax_out, R, m(x[:-1]))
    assert float((lhs - rhs).abs().max()) <= 1e-10 * float(rhs.abs().max())


def test_equivariance_of_relu_improves_with_resolution():
    # measured relative errors (2 -> 2, 7 elements): relu 0.17 (resolution 4), 2.0e-2 (8), 2.5e-3 (16),
    # 7.5e-4 (24), 4.3e-4 (32); tanh 0.24, 3.4e-2, 4.3e-4, 1.1e-5, 1.4e-6
    g = o3_elements(4)
    errors = []
    for resolution in (4, 8, 16):
        with float64():
            m = SO3Activation(2, 2, torch.relu, resolution)
        x = m.irreps_in.randn(len(g), -1, dtype=torch.float64, generator=gen(1))
        errors.append(irreps_equivariance_error(m, x, g))
    assert errors[0] > errors[1] > errors[2] > 0
    assert errors[2] < 1e-2


@pytest.mark.parametrize("config", range(3))
def test_matches_e3nn_when_both_grids_are_exact(config):
    e3nn_nn = pytest.importorskip("e3nn.nn")
    lmax_in, lmax_out, act, degree = POLYNOMIAL[config]
    with float64():
        ours = SO3Activation(lmax_in, lmax_out, act, degree * lmax_in + lmax_out)
        theirs = e3nn_nn.SO3Activation(lmax_in, lmax_out, act, 10)
    ours.act.cst, ours.act._is_id = theirs.act.cst, False  # e3nn's constant is a Monte-Carlo estimate
    x = ours.irreps_in.randn(5, -1, dtype=torch.float64, generator=gen(config))
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-12, rtol=1e-12)


def test_identity_act_analytic():
    # from(to(F)) = sqrt(dim_out / dim_in) F truncated (e3nn's normalisation of each grid by its own dimension)
    with float64():
        same = SO3Activation(2, 2, lambda x: x, 4)
        fewer = SO3Activation(2, 1, lambda x: x, 3)
        more = SO3Activation(1, 2, lambda x: x, 3)
    x = so3_irreps(2).randn(3, -1, dtype=torch.float64, generator=gen())
    torch.testing.assert_close(same(x), x, atol=1e-12, rtol=0)
    torch.testing.assert_close(fewer(x), x[:, :10] * math.sqrt(10 / 35), atol=1e-12, rtol=0)
    expected = torch.cat([x[:, :10] * math.sqrt(35 / 10), x.new_zeros(3, 25)], -1)
    torch.testing.assert_close(more(x[:, :10]), expected, atol=1e-12, rtol=0)


def test_signal_and_activated_signal_have_unit_second_moment():
    with float64():
        m = SO3Activation(2, 2, torch.relu, 8)
    x = m.irreps_in.randn(2000, -1, dtype=torch.float64, generator=gen())
    signal = x @ m.to_grid
    assert abs(float(signal.pow(2).mean()) - 1) < 0.05
    assert abs(float(m.act(signal).pow(2).mean()) - 1) < 0.05


@pytest.mark.parametrize("act", [torch.relu, torch.tanh, torch.abs])
def test_gradients_finite_at_zero_and_double_backward(act):
    with float64():
        m = SO3Activation(1, 1, act, 4)
    x = torch.zeros(2, 10, dtype=torch.float64, requires_grad=True)
    assert_finite_gradients(m, x)


def test_gradcheck_and_gradgradcheck():
    with float64():
        m = SO3Activation(1, 1, torch.tanh, 4)
    x = m.irreps_in.randn(2, -1, dtype=torch.float64, generator=gen(), requires_grad=True)
    assert torch.autograd.gradcheck(m, (x,))
    assert torch.autograd.gradgradcheck(m, (x,))


def test_float32_batch_shapes_and_compile():
    m32 = SO3Activation(1, 2, torch.tanh, 6)
    with float64():
        m64 = SO3Activation(1, 2, torch.tanh, 6)
    x = torch.randn(2, 3, 10, generator=gen(), dtype=torch.float64)
    assert m64(x).shape == (2, 3, 35)
    torch.testing.assert_close(m32(x.float()), m64(x).float(), atol=1e-5, rtol=1e-5)
    compiled = torch.compile(m32, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x.float()), m32(x.float()), atol=1e-6, rtol=1e-5)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="lmax_in \\+ lmax_out = 3"):
        SO3Activation(1, 2, torch.relu, 2)
    with pytest.raises(ValueError, match="lmax must be an int >= 0"):
        SO3Activation(-1, 2, torch.relu, 4)
    with pytest.raises(ValueError, match="resolution"):
        SO3Activation(1, 1, torch.relu, 4.0)
    m = SO3Activation(1, 1, torch.relu, 4)
    with pytest.raises(ValueError, match=r"1x0e\+3x1e \(last dim 10\), got shape \[2, 9\]"):
        m(torch.randn(2, 9))
