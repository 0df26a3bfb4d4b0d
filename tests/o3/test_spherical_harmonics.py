"""Real spherical harmonics: equivariance, normalisations, analytic values, gradients, input checks."""

import math

import numpy as np
import pytest
import torch
from scipy.special import eval_legendre

from steertorch import o3

NORMALIZATIONS = ["integral", "component", "norm"]
LMAX = 20


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _points(n, seed=0):
    return torch.randn(n, 3, generator=_gen(seed), dtype=torch.float64)


def _rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max())


def _blocks(y, ls):
    out, i = {}, 0
    for l in ls:
        out[l] = y[..., i:i + 2 * l + 1]
        i += 2 * l + 1
    return out


def test_equivariance_every_degree_up_to_20():
    """Y(x R^T) = Y(x) D(R)^T, i.e. Y(R x) = D(R) Y(x), for random points and rotations."""
    ls = list(range(LMAX + 1))
    x = _points(64)
    R = o3.rand_matrix(4, generator=_gen(1), dtype=torch.float64)
    y = _blocks(o3.spherical_harmonics(ls, x, normalization="component"), ls)
    y_rot = _blocks(o3.spherical_harmonics(ls, x @ R.transpose(-1, -2), normalization="component"), ls)  # [4, 64, D]
    for l in ls:
        D = o3.wigner_D(l, R)  # [4, 2l+1, 2l+1]
        err = (y_rot[l] - y[l] @ D.transpose(-1, -2)).abs().max() / y[l].abs().max()
        assert err <= 1e-10, (l, float(err))


def test_addition_theorem_up_to_20():
    r"""An analytic check independent of Wigner D: :math:`\sum_m Y_l^m(x) Y_l^m(y) = (2l+1) P_l(x \cdot y)`
    for component normalisation on unit vectors."""
    ls = list(range(LMAX + 1))
    x = torch.nn.functional.normalize(_points(50, 0), dim=-1)
    z = torch.nn.functional.normalize(_points(50, 1), dim=-1)
    yx = _blocks(o3.spherical_harmonics(ls, x, normalization="component"), ls)
    yz = _blocks(o3.spherical_harmonics(ls, z, normalization="component"), ls)
    cos = (x * z).sum(-1).numpy()
    for l in ls:
        expected = torch.from_numpy((2 * l + 1) * eval_legendre(l, cos))
        assert torch.allclose((yx[l] * yz[l]).sum(-1), expected, atol=1e-10 * (2 * l + 1), rtol=0), l


def test_component_normalization_is_pointwise():
    """||Y^l(x)||^2 = 2l + 1 at every point ("component"), ||Y^l(x)|| = 1 ("norm")."""
    ls = list(range(LMAX + 1))
    x = _points(200)
    yc = _blocks(o3.spherical_harmonics(ls, x, normalization="component"), ls)
    yn = _blocks(o3.spherical_harmonics(ls, x, normalization="norm"), ls)
    yi = _blocks(o3.spherical_harmonics(ls, x, normalization="integral"), ls)
    for l in ls:
        sq = yc[l].pow(2).sum(-1)
        assert torch.allclose(sq, torch.full_like(sq, 2 * l + 1), rtol=1e-12, atol=0), l
        assert torch.allclose(yn[l].norm(dim=-1), torch.ones(200, dtype=torch.float64), rtol=1e-12, atol=0), l
        # the three normalisations differ by constants
        assert _rel_err(yi[l], yc[l] / math.sqrt(4 * math.pi)) < 1e-13, l
        assert _rel_err(yn[l], yc[l] / math.sqrt(2 * l + 1)) < 1e-13, l


def test_integral_normalization_is_orthonormal_on_the_sphere():
    r""":math:`\int_{S^2} Y_l^m Y_{l'}^{m'} = \delta_{ll'} \delta_{mm'}` with an exact product quadrature
    (Gauss-Legendre in the polar cosine, uniform in the azimuth)."""
    lmax = 10
    nodes, weights = np.polynomial.legendre.leggauss(lmax + 1)
    n_az = 2 * lmax + 2
    phi = 2 * np.pi * np.arange(n_az) / n_az
    c = nodes[:, None] * np.ones(n_az)
    s = np.sqrt(1 - c**2)
    pts = np.stack([s * np.cos(phi), s * np.sin(phi), c], -1).reshape(-1, 3)
    w = (weights[:, None] * np.full(n_az, 2 * np.pi / n_az)).reshape(-1)
    y = o3.spherical_harmonics(list(range(lmax + 1)), torch.from_numpy(pts))  # "integral" by default
    gram = y.T @ (torch.from_numpy(w)[:, None] * y)
    assert torch.allclose(gram, torch.eye(y.shape[1], dtype=torch.float64), atol=1e-12)
    # Y_0 = 1 / sqrt(4 pi)
    assert torch.allclose(y[:, 0], torch.full_like(y[:, 0], 1 / math.sqrt(4 * math.pi)), rtol=1e-15, atol=0)


def test_degree_one_is_the_cartesian_vector():
    x = _points(20)
    y1 = o3.spherical_harmonics(1, x, normalization="component")
    expected = math.sqrt(3) * x / x.norm(dim=-1, keepdim=True)
    assert torch.allclose(y1, expected, rtol=1e-14, atol=1e-15)
    assert torch.allclose(o3.spherical_harmonics(1, x, normalize=False, normalization="norm"), x, rtol=1e-14,
                          atol=1e-15)


def test_degree_two_in_closed_form():
    """e3nn's basis: polar axis y, order m = -2..2."""
    x = _points(20)
    a, b, c = x.unbind(-1)
    s15 = math.sqrt(15)
    expected = torch.stack([s15 * a * c, s15 * a * b, math.sqrt(5) * (b * b - (a * a + c * c) / 2), s15 * b * c,
                            s15 / 2 * (c * c - a * a)], -1)
    y2 = o3.spherical_harmonics(2, x, normalize=False, normalization="component")
    assert torch.allclose(y2, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_unnormalized_is_homogeneous(normalization):
    """normalize=False gives the polynomials |x|^l Y(x / |x|)."""
    ls = list(range(9))
    x = _points(30) * torch.rand(30, 1, generator=_gen(2), dtype=torch.float64) * 3
    r = x.norm(dim=-1, keepdim=True)
    raw = _blocks(o3.spherical_harmonics(ls, x, normalize=False, normalization=normalization), ls)
    unit = _blocks(o3.spherical_harmonics(ls, x, normalize=True, normalization=normalization), ls)
    for l in ls:
        assert torch.allclose(raw[l], r**l * unit[l], rtol=1e-12, atol=1e-13), l


def test_parity():
    ls = list(range(9))
    x = _points(30)
    y, ym = o3.spherical_harmonics(ls, x), o3.spherical_harmonics(ls, -x)
    sign = torch.cat([torch.full((2 * l + 1,), (-1.0) ** l, dtype=torch.float64) for l in ls])
    assert torch.allclose(ym, y * sign, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_gradients_finite_at_zero_and_double_backward(normalization, normalize):
    x = torch.cat([torch.zeros(1, 3, dtype=torch.float64), _points(3)]).requires_grad_(True)
    y = o3.spherical_harmonics("0e + 1o + 2e + 3o", x, normalize=normalize, normalization=normalization)
    assert bool(y.isfinite().all())
    if not normalize:
        assert torch.equal(y[0, 1:], torch.zeros_like(y[0, 1:]))
    (g,) = torch.autograd.grad((y * torch.arange(16, dtype=torch.float64)).sum(), x, create_graph=True)
    assert bool(g.isfinite().all())
    (gg,) = torch.autograd.grad(g.pow(2).sum(), x)
    assert bool(gg.isfinite().all())


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_normalized_harmonics_at_zero(normalization):
    """At x = 0 with normalize=True: Y^0 is its constant, every degree l > 0 is exactly 0 (as e3nn), and
    the gradient is exactly 0 (e3nn's F.normalize gives about 1e12 there), also in float32 and for
    double backward; points next to 0 keep their exact unit-sphere values."""
    ls = list(range(9))
    x = torch.cat([torch.zeros(2, 3, dtype=torch.float64), 1e-30 * _points(2)]).requires_grad_(True)
    y = o3.spherical_harmonics(ls, x, normalize=True, normalization=normalization)
    y0 = {"component": 1.0, "norm": 1.0, "integral": 1 / math.sqrt(4 * math.pi)}[normalization]
    assert torch.equal(y[:2, 0], torch.full((2,), y0, dtype=torch.float64))
    assert torch.equal(y[:2, 1:], torch.zeros(2, y.shape[1] - 1, dtype=torch.float64))
    unit = o3.spherical_harmonics(ls, _points(2), normalize=True, normalization=normalization)
    assert torch.allclose(y[2:], unit, rtol=1e-12, atol=1e-14)
    weights = torch.randn(y.shape, generator=_gen(3), dtype=torch.float64)
    (g,) = torch.autograd.grad((y * weights).sum(), x, create_graph=True)
    assert torch.equal(g[:2], torch.zeros(2, 3, dtype=torch.float64))
    (gg,) = torch.autograd.grad(g.pow(2).sum(), x)
    assert bool(gg.isfinite().all()) and torch.equal(gg[:2], torch.zeros(2, 3, dtype=torch.float64))
    x32 = torch.zeros(1, 3, requires_grad=True)
    (g32,) = torch.autograd.grad(o3.spherical_harmonics(ls, x32, normalization=normalization).sum(), x32)
    assert torch.equal(g32, torch.zeros(1, 3))


@pytest.mark.parametrize("normalize", [True, False])
def test_gradcheck(normalize):
    x = _points(4).requires_grad_(True)

    def fn(x):
        return o3.spherical_harmonics([0, 1, 2, 3, 4], x, normalize=normalize, normalization="component")

    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


def test_float32():
    x = _points(100)
    y64 = o3.spherical_harmonics(list(range(9)), x)
    y32 = o3.spherical_harmonics(list(range(9)), x.float())
    assert y32.dtype == torch.float32
    assert float((y32.double() - y64).abs().max() / y64.abs().max()) < 1e-5


def test_degree_arguments():
    x = _points(7)
    full = o3.spherical_harmonics([0, 1, 2], x)
    assert torch.equal(o3.spherical_harmonics("0e+1o+2e", x), full)
    assert torch.equal(o3.spherical_harmonics("0e + 1o + 2e", x), full)
    assert torch.equal(o3.spherical_harmonics(range(3), x), full)
    assert torch.equal(o3.spherical_harmonics("1y + 2y", x), full[:, 1:])
    # any order, any subset
    assert torch.equal(o3.spherical_harmonics([2, 0], x), torch.cat([full[:, 4:], full[:, :1]], -1))
    assert torch.equal(o3.spherical_harmonics(2, x), full[:, 4:])


def test_batch_shapes():
    x = torch.randn(2, 3, 4, 3, generator=_gen(), dtype=torch.float64)
    y = o3.spherical_harmonics([0, 1, 2], x)
    assert y.shape == (2, 3, 4, 9)
    assert torch.allclose(y.reshape(-1, 9), o3.spherical_harmonics([0, 1, 2], x.reshape(-1, 3)))
    assert o3.spherical_harmonics(1, torch.randn(3)).shape == (3,)
    assert o3.spherical_harmonics(1, torch.zeros(0, 3)).shape == (0, 3)


def test_bad_input():
    x = _points(5)
    with pytest.raises(ValueError, match="parity"):
        o3.spherical_harmonics("1e + 1o", x)  # a pseudovector's harmonics are even, a vector's l = 1 is odd
    with pytest.raises(ValueError, match="parity"):
        o3.spherical_harmonics("0e + 2o", x)
    with pytest.raises(ValueError):
        o3.spherical_harmonics("0x1o", x)
    with pytest.raises(ValueError):
        o3.spherical_harmonics("1x", x)
    with pytest.raises(ValueError, match=r"\[\.\.\., 3\]"):
        o3.spherical_harmonics(1, torch.randn(4, 2))
    with pytest.raises(ValueError):
        o3.spherical_harmonics(1, torch.randn(4, 3, 2))
    with pytest.raises(ValueError, match="normalization"):
        o3.spherical_harmonics(1, x, normalization="unit")
    with pytest.raises(ValueError):
        o3.spherical_harmonics(-1, x)
    with pytest.raises(ValueError):
        o3.spherical_harmonics([], x)
    with pytest.raises(ValueError):
        o3.spherical_harmonics(True, x)


def test_large_degree_is_finite_and_equivariant():
    l = 40
    x = _points(40)
    R = o3.rand_matrix(generator=_gen(5), dtype=torch.float64)
    y = o3.spherical_harmonics(l, x, normalization="component")
    assert bool(y.isfinite().all())
    assert torch.allclose(y.pow(2).sum(-1), torch.full((40,), 2.0 * l + 1, dtype=torch.float64), rtol=1e-11)
    D = o3.wigner_D(l, R)
    err = (o3.spherical_harmonics(l, x @ R.T, normalization="component") - y @ D.T).abs().max() / y.abs().max()
    assert err <= 1e-10
    # float32 stays finite and normalised at large l too
    y32 = o3.spherical_harmonics(l, x.float(), normalization="component")
    assert bool(y32.isfinite().all())
    assert torch.allclose(y32.pow(2).sum(-1), torch.full((40,), 2.0 * l + 1), rtol=1e-4)
