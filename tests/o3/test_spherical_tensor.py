"""Signals on the sphere: peaks, sums of deltas, evaluation, equivariance, e3nn agreement, plotting."""

from __future__ import annotations

import math
import pickle
import sys

import pytest
import torch

from steertorch import o3
from steertorch.o3 import SphericalTensor, plot_spherical_signal, spherical_harmonics
from steertorch.o3._plot import spherical_surface

TOL = 1e-10


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _angle_deg(a: torch.Tensor, b: torch.Tensor) -> float:
    cos = float((a / a.norm()) @ (b / b.norm()))
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


@pytest.mark.parametrize("lmax, p_val, p_arg, expected", [
    (3, 1, -1, "0e + 1o + 2e + 3o"),
    (3, 1, 1, "0e + 1e + 2e + 3e"),
    (2, -1, -1, "0o + 1e + 2o"),
    (0, -1, 1, "0o"),
])
def test_irreps(lmax, p_val, p_arg, expected):
    s = SphericalTensor(lmax, p_val, p_arg)
    assert s == o3.Irreps(expected) and s.dim == (lmax + 1) ** 2
    assert pickle.loads(pickle.dumps(s)) == s
    e3nn_io = pytest.importorskip("e3nn.io")
    assert str(s) == str(e3nn_io.SphericalTensor(lmax, p_val, p_arg))


@pytest.mark.parametrize("lmax", [8, 10])
def test_single_peak_is_found(lmax):
    s = SphericalTensor(lmax, 1, -1)
    v = torch.randn(5, 3, generator=_gen(lmax), dtype=torch.float64)
    for k in range(5):
        c = s.with_peaks_at(v[k:k + 1])
        assert abs(float(s.signal_xyz(c, v[k])) - float(v[k].norm())) <= TOL  # value |v| at the peak, exactly
        directions, values = s.find_peaks(c)
        assert _angle_deg(directions[0], v[k]) < 3.0
        assert abs(float(values[0]) - float(v[k].norm())) < 0.01 * float(v[k].norm())
        assert (values[1:] < 0.5 * values[0]).all()  # side lobes are much lower


def test_two_peaks_and_values():
    s = SphericalTensor(10, 1, -1)
    pos = torch.tensor([[4.0, 0.0, 4.0], [0.0, 5.0, 0.0], [0.0, 0.0, -1.0]], dtype=torch.float64)
    vals = torch.tensor([2.0, -1.5, 3.0], dtype=torch.float64)
    c = s.with_peaks_at(pos, vals)
    assert (s.signal_xyz(c, pos) - vals).abs().max() <= TOL
    c = s.with_peaks_at(pos[:2])
    directions, values = s.find_peaks(c)
    assert _angle_deg(directions[0], pos[0]) < 3 and _angle_deg(directions[1], pos[1]) < 3
    assert torch.allclose(values[:2], torch.tensor([5.0, 32**0.5], dtype=torch.float64).flip(0), atol=0.05)


@pytest.mark.parametrize("p_arg", [-1, 1])
def test_with_peaks_at_and_sum_of_diracs_are_equivariant(p_arg):
    s = SphericalTensor(6, 1, p_arg)
    R = o3.rand_matrix(4, generator=_gen(1), dtype=torch.float64)
    if p_arg == -1:  # the signals of vectors are O(3)-equivariant: test improper matrices too
        R[1::2] = -R[1::2]
    D = s.D_from_matrix(R)
    v = torch.randn(3, 3, generator=_gen(2), dtype=torch.float64)
    vals = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    errors = []
    for i in range(4):
        rv = v @ R[i].T
        errors.append((s.with_peaks_at(rv) - D[i] @ s.with_peaks_at(v)).abs().max())
        errors.append((s.with_peaks_at(rv, vals) - D[i] @ s.with_peaks_at(v, vals)).abs().max())
        errors.append((s.sum_of_diracs(rv, vals) - D[i] @ s.sum_of_diracs(v, vals)).abs().max())
        # norms and dot products are invariant
        c = s.sum_of_diracs(v, vals)
        errors.append((s.norms(D[i] @ c) - s.norms(c)).abs().max())
        errors.append((s.dot(D[i] @ c, D[i] @ c) - s.dot(c, c)).abs())
    assert max(errors) <= TOL


def test_rotated_signal_rotates_values():
    # D(R) c evaluated at R x equals c evaluated at x, including improper R for SphericalTensor(L, 1, -1)
    s = SphericalTensor(5, 1, -1)
    R = o3.rand_matrix(2, generator=_gen(3), dtype=torch.float64)
    R[1] = -R[1]
    c = s.randn(-1, dtype=torch.float64, generator=_gen(4))
    x = torch.randn(10, 3, generator=_gen(5), dtype=torch.float64)
    for i in range(2):
        assert (s.signal_xyz(s.D_from_matrix(R[i]) @ c, x @ R[i].T) - s.signal_xyz(c, x)).abs().max() <= TOL


def test_sum_of_diracs_matches_the_harmonic_expansion():
    L = 7
    s = SphericalTensor(L, 1, -1)
    pos = torch.randn(4, 3, generator=_gen(), dtype=torch.float64)
    vals = torch.randn(4, generator=_gen(1), dtype=torch.float64)
    c = s.sum_of_diracs(pos, vals)
    y = spherical_harmonics(list(range(L + 1)), pos)
    assert (c - 4 * math.pi / (L + 1) ** 2 * (vals[:, None] * y).sum(0)).abs().max() <= TOL
    # a single delta peaks at its position with exactly its value (the addition theorem)
    one = s.sum_of_diracs(pos[:1], torch.tensor([2.5], dtype=torch.float64))
    assert abs(float(s.signal_xyz(one, pos[0])) - 2.5) <= TOL
    x = torch.randn(500, 3, generator=_gen(2), dtype=torch.float64)
    assert s.signal_xyz(one, x).abs().max() <= 2.5 + TOL
    # broadcasting and empty inputs, as e3nn
    assert s.sum_of_diracs(torch.randn(1, 3, 2, 3), torch.randn(2, 1, 1)).shape == (2, 3, 64)
    assert s.sum_of_diracs(torch.empty(1, 0, 2, 3), torch.empty(2, 0, 1)).shape == (2, 0, 64)


def test_agrees_with_e3nn():
    e3nn_io = pytest.importorskip("e3nn.io")
    ours, theirs = SphericalTensor(6, 1, -1), e3nn_io.SphericalTensor(6, 1, -1)
    pos = torch.randn(3, 3, generator=_gen(), dtype=torch.float64)
    vals = torch.randn(3, generator=_gen(1), dtype=torch.float64)
    assert (ours.sum_of_diracs(pos, vals) - theirs.sum_of_diracs(pos, vals)).abs().max() <= TOL
    assert (ours.with_peaks_at(pos, vals) - theirs.with_peaks_at(pos, vals)).abs().max() <= 1e-8
    c = ours.randn(2, -1, dtype=torch.float64, generator=_gen(2))
    assert (ours.signal_xyz(c, pos) - theirs.signal_xyz(c, pos)).abs().max() <= TOL
    assert (ours.norms(c) - theirs.norms(c)).abs().max() <= TOL


def test_signal_xyz_is_the_harmonic_expansion():
    s = SphericalTensor(4, 1, -1)
    c = s.randn(2, 3, -1, dtype=torch.float64, generator=_gen())
    r = 3 * torch.randn(5, 4, 3, generator=_gen(1), dtype=torch.float64)
    out = s.signal_xyz(c, r)
    assert out.shape == (2, 3, 5, 4)
    y = spherical_harmonics([0, 1, 2, 3, 4], r, normalize=True, normalization="integral")
    assert (out - torch.einsum("abi,cdi->abcd", c, y)).abs().max() <= TOL
    # even parity signals (p_arg = 1) use the same harmonics
    s1 = SphericalTensor(4, 1, 1)
    assert (s1.signal_xyz(c, r) - out).abs().max() <= TOL


def test_signal_on_grid_and_quadrature():
    s = SphericalTensor(5, 1, -1)
    c = s.randn(2, -1, dtype=torch.float64, generator=_gen())
    grid, values = s.signal_on_grid(c, res=6)
    assert grid.shape == (7, 13, 3) and values.shape == (2, 7, 13)
    assert (values - s.signal_xyz(c, grid)).abs().max() <= TOL
    _, w = o3.s2_grid(6)
    # the grid integrates products exactly: Parseval and the L2 inner product
    assert ((values.reshape(2, -1) ** 2 @ w) - s.dot(c, c)).abs().max() <= TOL
    assert abs(float((values[0] * values[1]).reshape(-1) @ w - s.dot(c[0], c[1]))) <= TOL


def test_find_peaks_at_the_poles_and_ties():
    s = SphericalTensor(8, 1, -1)
    for pole in ([0.0, 1.0, 0.0], [0.0, -1.0, 0.0]):  # y is the grid's polar axis
        v = torch.tensor([pole], dtype=torch.float64)
        directions, values = s.find_peaks(s.with_peaks_at(v), res=40)
        assert _angle_deg(directions[0], v[0]) < 5.0
        assert (values[1:] < 0.5 * values[0]).all()
    # a constant signal has one maximum (ties go to the lowest index), not a plateau of them
    const = torch.zeros(81, dtype=torch.float64)
    const[0] = 1.0
    assert len(s.find_peaks(const, res=10).values) == 1


def test_errors():
    with pytest.raises(ValueError, match="lmax"):
        SphericalTensor(-1, 1, 1)
    with pytest.raises(ValueError, match="p_val and p_arg"):
        SphericalTensor(2, 0, 1)
    with pytest.raises(ValueError, match="p_val == 1"):
        SphericalTensor(2, -1, 1).with_peaks_at(torch.randn(2, 3))
    s = SphericalTensor(2, 1, -1)
    with pytest.raises(ValueError, match=r"signal coefficients \[\.\.\., 9\]"):
        s.signal_xyz(torch.randn(4), torch.randn(3))
    with pytest.raises(ValueError, match="points"):
        s.signal_xyz(torch.randn(9), torch.randn(2))
    with pytest.raises(ValueError, match="values must be"):
        s.with_peaks_at(torch.randn(2, 3), torch.randn(3))
    with pytest.raises(ValueError, match="res"):
        s.signal_on_grid(torch.randn(9), res=0)
    with pytest.raises(ValueError, match="one signal"):
        s.find_peaks(torch.randn(2, 9))


# ----------------------------------------------------------------------------- plotting
def test_spherical_surface():
    s = SphericalTensor(3, 1, -1)
    c = s.with_peaks_at(torch.tensor([[0.0, 0.0, 2.0]], dtype=torch.float64))
    pts, f = spherical_surface(c, 3, res=20)
    assert pts.shape == (21, 41, 3) and f.shape == (21, 41)
    assert (pts.norm(dim=-1) - f.abs()).abs().max() <= TOL  # r(x) = |f(x)| x
    assert torch.equal(pts[:, 0], pts[:, -1])  # closed in azimuth
    tip = pts.reshape(-1, 3)[pts.norm(dim=-1).argmax()]
    assert _angle_deg(tip, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)) < 10
    with pytest.raises(ValueError, match=r"\[16\]"):
        spherical_surface(torch.randn(9), 3)


def test_plot_needs_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install steertorch\[viz\]"):
        plot_spherical_signal(torch.randn(4), 1)


def test_plot_renders_with_agg():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = SphericalTensor(4, 1, -1)
    fig, ax = plot_spherical_signal(s.with_peaks_at(torch.eye(3)), 4, res=16)
    try:
        assert ax.name == "3d" and len(ax.collections) == 1
        fig.canvas.draw()
        fig2 = plt.figure()
        ax2 = fig2.add_subplot(projection="3d")
        assert plot_spherical_signal(s.randn(-1), 4, ax=ax2) == (fig2, ax2)
        with pytest.raises(ValueError, match="3D axes"):
            plot_spherical_signal(s.randn(-1), 4, ax=fig2.add_subplot(2, 2, 1))
    finally:
        plt.close("all")
