"""Radial bases and cutoffs: e3nn's values, support, smoothness and finite gradients everywhere."""

import math

import pytest
import torch

from steertorch.math import cosine_cutoff, polynomial_cutoff, soft_one_hot_linspace, soft_unit_step

BASES = ["gaussian", "cosine", "smooth_finite", "fourier", "bessel"]


def _x(n=401, lo=-1.0, hi=2.0):
    return torch.linspace(lo, hi, n, dtype=torch.float64)


@pytest.mark.parametrize("basis", BASES)
@pytest.mark.parametrize("cutoff", [True, False])
def test_matches_e3nn(basis, cutoff):
    e3nn_math = pytest.importorskip("e3nn.math")
    x = _x()
    if basis == "bessel":
        x = x[(x + 0.5).abs() > 1e-6]  # e3nn divides 0 by 0 at x = start
    ours = soft_one_hot_linspace(x, -0.5, 1.5, 5, basis=basis, cutoff=cutoff)
    theirs = e3nn_math.soft_one_hot_linspace(x, -0.5, 1.5, 5, basis=basis, cutoff=cutoff)
    assert ours.shape == theirs.shape == (len(x), 5)
    # e3nn rounds smooth_finite's constant 1.14136 e^2 to float32 (relative 1e-8)
    rtol = 1e-7 if basis == "smooth_finite" else 1e-12
    torch.testing.assert_close(ours, theirs, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("basis", BASES)
def test_float32_matches_e3nn(basis):
    e3nn_math = pytest.importorskip("e3nn.math")
    x = torch.linspace(0.01, 3.0, 50)
    ours = soft_one_hot_linspace(x, 0.0, 3.0, 8, basis=basis, cutoff=True)
    theirs = e3nn_math.soft_one_hot_linspace(x, 0.0, 3.0, 8, basis=basis, cutoff=True)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("basis", ["gaussian", "cosine", "smooth_finite", "fourier"])
def test_normalised_inside_the_interval(basis):
    # e3nn's constants make sum_i y_i(x)^2 about 1 on average over the interval (smooth_finite oscillates)
    x = torch.linspace(0.2, 0.8, 601, dtype=torch.float64)
    m = soft_one_hot_linspace(x, 0.0, 1.0, 10, basis=basis, cutoff=True).pow(2).sum(-1)
    assert abs(float(m.mean()) - 1) < 0.1, float(m.mean())
    assert float(m.min()) > 0.5 and float(m.max()) < 1.5


@pytest.mark.parametrize("basis", BASES)
def test_cutoff_vanishes_outside_and_at_the_ends(basis):
    x = torch.tensor([-3.0, -1.0, 0.0, 1.0, 1.5, 4.0], dtype=torch.float64)
    y = soft_one_hot_linspace(x, 0.0, 1.0, 6, basis=basis, cutoff=True)
    outside = y[[0, 1, 4, 5]]
    if basis == "gaussian":  # gaussians only decay (as e3nn): tiny, not zero
        assert float(outside.abs().max()) < 1e-8
        return
    assert float(outside.abs().max()) == 0.0
    if basis != "bessel":  # bessel jumps at start (the 1/r), as e3nn
        assert float(y[[2, 3]].abs().max()) < 1e-10


def test_bessel_limit_at_start_and_series_branch():
    c, n = 2.0, 4
    roots = torch.arange(1, n + 1, dtype=torch.float64) * math.pi
    y0 = soft_one_hot_linspace(torch.tensor([0.0], dtype=torch.float64), 0.0, c, n, basis="bessel", cutoff=False)
    torch.testing.assert_close(y0[0], math.sqrt(2 / c) * roots / c, rtol=1e-14, atol=0)
    # across the switch between the Taylor series and sin(a r) / r
    r = torch.logspace(-6, -1, 200, dtype=torch.float64)
    y = soft_one_hot_linspace(r, 0.0, c, n, basis="bessel", cutoff=False)
    exact = math.sqrt(2 / c) * torch.sin(roots * r[:, None] / c) / r[:, None]
    torch.testing.assert_close(y, exact, rtol=1e-12, atol=0)


@pytest.mark.parametrize("basis", BASES)
@pytest.mark.parametrize("cutoff", [True, False])
def test_gradients_finite_everywhere(basis, cutoff):
    x = torch.cat([_x(301), torch.tensor([0.0, 1.0, -0.5, 1.5], dtype=torch.float64)]).requires_grad_()
    y = soft_one_hot_linspace(x, 0.0, 1.0, 4, basis=basis, cutoff=cutoff)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    assert torch.isfinite(g).all()
    (gg,) = torch.autograd.grad(g.sum(), x)
    assert torch.isfinite(gg).all()


def test_bessel_gradcheck_near_start():
    x = torch.tensor([0.0, 1e-4, 3e-3, 0.2, 0.7], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: soft_one_hot_linspace(t, 0.0, 1.0, 3, basis="bessel", cutoff=False),
                                    (x,))
    assert torch.autograd.gradgradcheck(lambda t: soft_one_hot_linspace(t, 0.0, 1.0, 3, basis="bessel",
                                                                        cutoff=False), (x,))


def test_soft_unit_step():
    x = torch.tensor([-2.0, 0.0, 0.5, 3.0], dtype=torch.float64, requires_grad=True)
    y = soft_unit_step(x)
    torch.testing.assert_close(y.detach(), torch.tensor([0.0, 0.0, math.exp(-2), math.exp(-1 / 3)],
                                                         dtype=torch.float64))
    (g,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(g, torch.tensor([0.0, 0.0, 4 * math.exp(-2), math.exp(-1 / 3) / 9],
                                               dtype=torch.float64))
    e3nn_math = pytest.importorskip("e3nn.math")
    torch.testing.assert_close(y.detach(), e3nn_math.soft_unit_step(x.detach()))


@pytest.mark.parametrize("bad", [dict(basis="gauss", cutoff=True), dict(basis="gaussian", cutoff=None),
                                 dict(basis=None, cutoff=True)])
def test_bad_arguments(bad):
    with pytest.raises(ValueError):
        soft_one_hot_linspace(torch.zeros(3), 0.0, 1.0, 4, **bad)


def test_bad_ranges():
    with pytest.raises(ValueError, match="start < end"):
        soft_one_hot_linspace(torch.zeros(3), 1.0, 1.0, 4, basis="gaussian", cutoff=True)
    with pytest.raises(ValueError, match="number"):
        soft_one_hot_linspace(torch.zeros(3), 0.0, 1.0, 0, basis="gaussian", cutoff=True)
    with pytest.raises(ValueError, match="number >= 2"):
        soft_one_hot_linspace(torch.zeros(3), 0.0, 1.0, 1, basis="cosine", cutoff=False)
    assert soft_one_hot_linspace(torch.zeros(3), 0.0, 1.0, 1, basis="fourier", cutoff=False).shape == (3, 1)


# ----------------------------------------------------------------- cutoffs


def _dimenet(r, p):
    return 1 - (p + 1) * (p + 2) / 2 * r**p + p * (p + 2) * r ** (p + 1) - p * (p + 1) / 2 * r ** (p + 2)


@pytest.mark.parametrize("p", [3, 5, 6])
def test_polynomial_cutoff_formula(p):
    x = torch.linspace(0, 7, 141, dtype=torch.float64)
    r_max = 5.0
    y = polynomial_cutoff(x, r_max, p=p)
    r = x / r_max
    expected = torch.where(r < 1, _dimenet(r, p), torch.zeros_like(r))
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-14)
    assert float(y[0]) == 1.0
    assert float(y[x >= r_max].abs().max()) == 0.0


@pytest.mark.parametrize("fn", [lambda x: polynomial_cutoff(x, 2.0), lambda x: cosine_cutoff(x, 2.0)])
def test_cutoff_smooth_and_finite_gradients(fn):
    x = torch.tensor([0.0, 1e-9, 0.3, 1.0, 2.0 - 1e-9, 2.0, 3.0, -0.5], dtype=torch.float64, requires_grad=True)
    y = fn(x)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x)
    y, g = y.detach(), g.detach()
    assert torch.isfinite(g).all() and torch.isfinite(gg).all()
    # value and slope vanish at the cutoff and beyond; slope vanishes at 0
    assert float(y[5]) == 0.0 and abs(float(y[4])) < 1e-12
    assert abs(float(g[4])) < 1e-8 and float(g[5]) == 0.0 and float(g[6]) == 0.0
    assert abs(float(g[0])) < 1e-12
    assert torch.autograd.gradcheck(fn, (torch.tensor([0.1, 0.9, 1.7], dtype=torch.float64, requires_grad=True),))


def test_cosine_cutoff_formula():
    x = torch.linspace(0, 3, 61, dtype=torch.float64)
    y = cosine_cutoff(x, 2.0)
    expected = torch.where(x < 2, 0.5 * (torch.cos(math.pi * x / 2) + 1), torch.zeros_like(x))
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-15)


def test_cutoff_bad_arguments():
    with pytest.raises(ValueError, match="r_max"):
        polynomial_cutoff(torch.zeros(2), 0.0)
    with pytest.raises(ValueError, match="r_max"):
        cosine_cutoff(torch.zeros(2), -1.0)
    with pytest.raises(ValueError, match="p must"):
        polynomial_cutoff(torch.zeros(2), 1.0, p=0)
