"""Sphere quadrature and spherical Fourier transform: exactness, round trip, rotation equivariance."""

from __future__ import annotations

import math

import pytest
import torch

from steertorch.o3 import (
    SphericalFourierTransform,
    rand_matrix,
    s2_grid,
    sphere_fourier,
    spherical_harmonics,
    wigner_D,
)

TOL = 1e-10


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("band", [0, 1, 4, 10])
def test_grid_is_exact(band):
    x, w = s2_grid(band)
    assert x.dtype == w.dtype == torch.float64
    assert x.shape == ((band + 1) * (2 * band + 1), 3) and w.shape == (x.shape[0],)
    assert torch.allclose(x.norm(dim=-1), torch.ones(x.shape[0], dtype=torch.float64), atol=1e-14)
    assert abs(float(w.sum()) - 4 * math.pi) <= TOL
    # every harmonic of degree <= 2L integrates exactly: only Y_0 survives, to sqrt(4 pi)
    y = spherical_harmonics(list(range(2 * band + 1)), x)
    integral = w @ y
    expected = torch.zeros_like(integral)
    expected[0] = math.sqrt(4 * math.pi)
    assert (integral - expected).abs().max() <= TOL
    # hence products of degree <= L are orthonormal
    yl = y[:, : (band + 1) ** 2]
    assert (yl.T @ (w[:, None] * yl) - torch.eye(yl.shape[1], dtype=torch.float64)).abs().max() <= TOL


def test_grid_uses_y_as_polar_axis():
    x, _ = s2_grid(3)
    ys = torch.unique(x[:, 1].round(decimals=12))
    assert ys.numel() == 4  # Gauss-Legendre nodes in y; azimuth around y
    assert torch.allclose(ys, torch.tensor([-0.861136311594053, -0.339981043584856, 0.339981043584856,
                                            0.861136311594053], dtype=torch.float64), atol=1e-12)


def test_round_trip_band_10():
    sft = sphere_fourier(10)
    c = torch.randn(3, sft.size, generator=_gen(), dtype=torch.float64)
    f = sft.inverse(c)
    assert f.shape == (3, sft.grid_size)
    assert (sft.forward(f) - c).abs().max() <= TOL
    assert (sft.inverse(sft.forward(f)) - f).abs().max() <= TOL
    c2 = sft.forward(torch.randn(2, sft.grid_size, generator=_gen(1), dtype=torch.float64))
    assert (sft.forward(sft.inverse(c2)) - c2).abs().max() <= TOL


def test_single_harmonic_is_a_unit_vector():
    sft = sphere_fourier(6)
    y = spherical_harmonics(list(range(7)), sft.points)  # [N, 49], integral normalisation
    coeffs = sft.forward(y.T)  # row k: coefficients of the sampled harmonic k
    assert (coeffs - torch.eye(sft.size, dtype=torch.float64)).abs().max() <= TOL


def test_parseval():
    sft = sphere_fourier(5)
    c = torch.randn(4, sft.size, generator=_gen(2), dtype=torch.float64)
    f = sft.inverse(c)
    assert torch.allclose((sft.weights * f * f).sum(-1), (c * c).sum(-1), atol=TOL, rtol=0)


@pytest.mark.parametrize("normalization", ["component", "norm"])
def test_other_normalizations(normalization):
    sft = SphericalFourierTransform(4, normalization=normalization)
    y = spherical_harmonics(list(range(5)), sft.points, normalization=normalization)
    assert (sft.forward(y.T) - torch.eye(sft.size, dtype=torch.float64)).abs().max() <= TOL
    c = torch.randn(sft.size, generator=_gen(3), dtype=torch.float64)
    assert (sft.forward(sft.inverse(c)) - c).abs().max() <= TOL


def test_rotation_equivariance():
    band = 6
    sft = sphere_fourier(band)
    c = torch.randn(sft.size, generator=_gen(4), dtype=torch.float64)
    R = rand_matrix(5, generator=_gen(5), dtype=torch.float64)
    # f_R(x) = f(R^-1 x), with f = sum c_lm Y_lm evaluated off the grid
    rx = torch.einsum("rji,nj->rni", R, sft.points)  # R^T x
    f_rot = spherical_harmonics(list(range(band + 1)), rx) @ c  # [5, N]
    d = torch.stack([torch.block_diag(*[wigner_D(l, r) for l in range(band + 1)]) for r in R])
    expected = d @ c
    assert (sft.forward(f_rot) - expected).abs().max() <= TOL
    # the quotient representation of SO(3)/SO(2) is the same block-diagonal D
    assert (sft.quotient("SO3")(R) - d).abs().max() <= TOL


def test_parity_with_o3_quotient():
    band = 4
    sft = sphere_fourier(band)
    rep = sft.quotient("O3")
    assert [psi.label for psi in rep.irreps] == [(l, (-1) ** l) for l in range(band + 1)]
    assert [psi.label for psi in sft.quotient().irreps] == list(range(band + 1))
    c = torch.randn(sft.size, generator=_gen(6), dtype=torch.float64)
    g = -rand_matrix(3, generator=_gen(7), dtype=torch.float64)  # improper: rotation times inversion
    gx = torch.einsum("rji,nj->rni", g, sft.points)  # g^-1 x = g^T x
    f_g = spherical_harmonics(list(range(band + 1)), gx) @ c
    assert (sft.forward(f_g) - rep(g) @ c).abs().max() <= TOL


def test_float32():
    sft = sphere_fourier(3)
    c = torch.randn(2, sft.size, generator=_gen(8))
    f = sft.inverse(c)
    assert f.dtype == torch.float32
    assert (sft.forward(f) - c).abs().max() < 1e-5


def test_bad_input():
    sft = sphere_fourier(2)
    with pytest.raises(ValueError, match=r"\[\.\.\., 15\]"):
        sft.forward(torch.zeros(14))
    with pytest.raises(ValueError, match=r"\[\.\.\., 9\]"):
        sft.inverse(torch.zeros(2, 10))
    with pytest.raises(ValueError, match="band_limit"):
        s2_grid(-1)
    with pytest.raises(ValueError, match="normalization"):
        SphericalFourierTransform(2, normalization="unit")
    with pytest.raises(ValueError, match="SO3"):
        sft.quotient("SU2")
