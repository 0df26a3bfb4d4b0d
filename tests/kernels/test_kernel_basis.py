"""Steerable kernel bases: equivariance, completeness (against a brute-force nullspace), exactness on grids."""

import pytest
import torch
import torch.nn.functional as F

from steertorch import gspaces
from steertorch.group._group import float64_default
from steertorch.kernels import default_rings, frequency_cutoff, grid_points, kernel_basis
from steertorch.kernels._harmonic import harmonics
from steertorch.nn import FieldType


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors, shared machine
    yield
    torch.set_num_threads(threads)


def _sum(reps):
    out = reps[0]
    for r in reps[1:]:
        out = out + r
    return out


# name: (G-space, in representation, out representation, ring radii)
CASES = {
    "C8_regular": (lambda: gspaces.rot2dOnR2(8), lambda gs: gs.regular_repr, lambda gs: gs.regular_repr, [0, 1, 2]),
    "C5_irreps": (lambda: gspaces.rot2dOnR2(5), lambda gs: _sum(gs.irreps()), lambda gs: gs.irrep(2) + gs.irrep(0),
                  [0, 1, 2]),
    "D4_regular": (lambda: gspaces.flipRot2dOnR2(4), lambda gs: gs.regular_repr, lambda gs: gs.regular_repr,
                   [0, 1, 2]),
    "D3_axis": (lambda: gspaces.flipRot2dOnR2(3, axis=0.7), lambda gs: gs.regular_repr, lambda gs: _sum(gs.irreps()),
                [0, 1.5]),
    "SO2": (lambda: gspaces.rot2dOnR2(-1), lambda gs: _sum(gs.irreps(3)), lambda gs: _sum(gs.irreps(2)), [0, 1, 2]),
    "O2": (lambda: gspaces.flipRot2dOnR2(-1), lambda gs: _sum(gs.irreps(2)), lambda gs: _sum(gs.irreps(2)),
           [0, 1, 2]),
    "SO3": (gspaces.rot3dOnR3, lambda gs: _sum(gs.irreps(2)), lambda gs: _sum(gs.irreps(2)), [0, 1]),
    "O3": (gspaces.flipRot3dOnR3, lambda gs: _sum(gs.irreps(1)), lambda gs: _sum(gs.irreps(2)), [0, 1]),
    "O_regular": (gspaces.octaOnR3, lambda gs: gs.regular_repr, lambda gs: _sum(gs.irreps()), [0, 1]),
    "Oh": (gspaces.fullOctaOnR3, lambda gs: _sum(gs.irreps()[:4]), lambda gs: _sum(gs.irreps()[4:8]), [0, 1]),
    "Ih": (gspaces.fullIcoOnR3, lambda gs: _sum(gs.irreps()[:3]), lambda gs: _sum(gs.irreps()[3:6]), [0, 1, 2]),
    "C4z": (lambda: gspaces.rot2dOnR3(4), lambda gs: gs.regular_repr, lambda gs: gs.regular_repr, [0, 1]),
    "SO2z": (lambda: gspaces.rot2dOnR3(-1), lambda gs: _sum(gs.irreps(2)), lambda gs: _sum(gs.irreps(1)), [0, 1]),
    "D3h": (lambda: gspaces.fullCylindricalOnR3(3), lambda gs: gs.regular_repr, lambda gs: _sum(gs.irreps()),
            [0, 1]),
    "C3v": (lambda: gspaces.conicalOnR3(3), lambda gs: gs.regular_repr, lambda gs: _sum(gs.irreps()), [0, 1]),
    "Cinfh": (lambda: gspaces.cylindricalOnR3(-1), lambda gs: _sum(gs.irreps(1)), lambda gs: _sum(gs.irreps(2)),
              [0, 1]),
    "T": (gspaces.tetraOnR3, lambda gs: gs.regular_repr, lambda gs: _sum(gs.irreps()), [0, 1]),
    "inv": (gspaces.invOnR3, lambda gs: gs.regular_repr, lambda gs: gs.regular_repr, [0, 1]),
}


def _elements(gs, n, gen):
    G = gs.fibergroup
    if G.is_finite:
        return G.elements()
    return G.sample(n, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("case", list(CASES))
def test_equivariance_and_independence(case):
    factory, make_in, make_out, radii = CASES[case]
    gs = factory()
    rin, rout = make_in(gs), make_out(gs)
    basis = kernel_basis(gs, rin, rout, radii=radii, sigma=0.6)
    assert basis.dim > 0 and basis.in_size == rin.size and basis.out_size == rout.size
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(30, gs.dimensionality, dtype=torch.float64, generator=gen) * 1.5
    g = _elements(gs, 5, gen)
    m = gs.basespace_action(g).to(torch.float64)
    with float64_default():
        ro, ri = rout(g).to(torch.float64), rin(g).to(torch.float64)
    k = basis.sample(x)
    assert k.shape == (basis.dim, rout.size, rin.size, 30) and k.dtype == torch.float64
    for a in range(len(g)):
        kg = basis.sample(x @ m[a].T)
        expected = torch.einsum("ij,bjkp,lk->bilp", ro[a], k, ri[a])
        assert (kg - expected).abs().max() < 1e-10
    # the basis kernels are linearly independent functions
    xs = torch.randn(60, gs.dimensionality, dtype=torch.float64, generator=gen) * 1.5
    ks = basis.sample(xs).reshape(basis.dim, -1)
    ev = torch.linalg.eigvalsh(ks @ ks.T)
    assert ev.min() > 1e-8 * ev.max()


def _brute_force_dim(gs, rin, rout, jmax, n_elements=6):
    r"""dim of {A [out * in, H] : A Y(M(g) x) = (rho_out(g) x rho_in(g)) A Y(x) for all g, x}: the equivariant
    kernels on one ring with angular frequencies <= jmax, as the nullspace of the constraint written on random
    sample points x_p (all elements of a finite group, random elements of a continuous one)."""
    d = gs.dimensionality
    gen = torch.Generator().manual_seed(3)
    g = _elements(gs, n_elements, gen)
    m = gs.basespace_action(g).to(torch.float64)
    with float64_default():
        ro, ri = rout(g).to(torch.float64), rin(g).to(torch.float64)
    x = torch.nn.functional.normalize(torch.randn(60, d, dtype=torch.float64, generator=gen), dim=-1)
    y = harmonics(d, jmax, x).contiguous()  # [P, H]
    eye = torch.eye(rout.size * rin.size, dtype=torch.float64)
    gram = 0
    for a in range(len(g)):
        yg = harmonics(d, jmax, x @ m[a].T).contiguous()
        r = torch.kron(ro[a], ri[a])
        # L = I (x) Y_g - R (x) Y maps vec(A) to the residuals at the points; accumulate L^T L
        lg = torch.kron(eye, yg) - torch.kron(r, y)
        gram = gram + lg.T @ lg
    ev = torch.linalg.eigvalsh(gram)
    return int((ev < 1e-9 * ev.max()).sum())


@pytest.mark.parametrize("case,jmax", [("C4", 3), ("D4", 2), ("D3axis", 3), ("SO2", 3), ("O2", 2), ("SO3", 2),
                                       ("O3", 2), ("Oh", 2), ("C3z", 2), ("Ih", 3), ("T", 3)])
def test_completeness(case, jmax):
    gs = {"C4": gspaces.rot2dOnR2(4), "D4": gspaces.flipRot2dOnR2(4), "D3axis": gspaces.flipRot2dOnR2(3, axis=0.3),
          "SO2": gspaces.rot2dOnR2(-1), "O2": gspaces.flipRot2dOnR2(-1), "SO3": gspaces.rot3dOnR3(),
          "O3": gspaces.flipRot3dOnR3(), "Oh": gspaces.fullOctaOnR3(), "C3z": gspaces.rot2dOnR3(3),
          "Ih": gspaces.fullIcoOnR3(), "T": gspaces.tetraOnR3()}[case]
    if gs.fibergroup.is_finite and gs.fibergroup.order <= 8:
        rin = rout = gs.regular_repr
    elif gs.fibergroup.is_finite:
        irreps = gs.irreps()
        rin, rout = _sum(irreps[:3]), _sum(irreps[-2:] if gs.fibergroup.order <= 48 else irreps[-1:])
    else:
        rin, rout = _sum(gs.irreps(1)), _sum(gs.irreps(2)[-2:])
    basis = kernel_basis(gs, rin, rout, radii=[1.0], sigma=0.6, maximum_frequency=jmax, frequency_cutoff=100.0)
    assert basis.max_frequencies == [jmax]
    assert basis.dim == _brute_force_dim(gs, rin, rout, jmax)


def test_so2_analytic_dimension():
    """SO(2) irreps n -> m: angular frequencies |m - n| and m + n, two kernels each (m, n >= 1)."""
    gs = gspaces.rot2dOnR2(-1)
    basis = kernel_basis(gs, gs.irrep(1), gs.irrep(2), radii=[0.0, 1.0, 2.0], sigma=0.6)
    assert basis.max_frequencies == [0, 2, 4]
    assert basis.dim == 0 + 2 + 4
    assert sorted({a["frequency"] for a in basis.attributes}) == [1, 3]
    triv = kernel_basis(gs, gs.irrep(0), gs.irrep(0), radii=[0.0, 1.0, 2.0], sigma=0.6)
    assert triv.dim == 3 and all(a["frequency"] == 0 for a in triv.attributes)


@pytest.mark.parametrize("name", ["C4", "D4", "O", "Oh"])
def test_grid_sampling_exact_for_grid_symmetries(name):
    gs = {"C4": gspaces.rot2dOnR2(4), "D4": gspaces.flipRot2dOnR2(4), "O": gspaces.octaOnR3(),
          "Oh": gspaces.fullOctaOnR3()}[name]
    d = gs.dimensionality
    size = 5 if d == 2 else 3
    pts = grid_points(size, d, dtype=torch.float64)
    rho = gs.regular_repr if gs.fibergroup.order <= 8 else _sum(gs.irreps()[:3])
    radii, sigma = default_rings(size)
    basis = kernel_basis(gs, rho, rho, radii=radii, sigma=sigma)
    k = basis.sample(pts)
    G = gs.fibergroup
    for g in G.elements():
        m = gs.basespace_action(g)
        moved = pts @ m.T  # M p, again a grid point
        perm = torch.cdist(moved, pts).argmin(1)
        assert torch.equal(pts[perm], moved)
        with float64_default():
            r = rho(g).to(torch.float64)
        expected = torch.einsum("ij,bjkp,lk->bilp", r, k, r)
        assert (k[..., perm] - expected).abs().max() < 1e-12


@pytest.mark.parametrize("name", ["C4", "D4", "O"])
def test_convolution_commutes_with_field_transform(name):
    """grid_points order + FieldType.transform agree: conv(g x) == g conv(x) for the grid symmetries."""
    gs = {"C4": gspaces.rot2dOnR2(4), "D4": gspaces.flipRot2dOnR2(4), "O": gspaces.octaOnR3()}[name]
    d = gs.dimensionality
    size = 3
    rin = gs.regular_repr if gs.fibergroup.order <= 8 else gs.irrep(1) + gs.irrep(0)
    rout = gs.irreps()[1] + gs.trivial_repr
    fin, fout = FieldType(gs, [rin]), FieldType(gs, [rout])
    radii, sigma = default_rings(size)
    basis = kernel_basis(gs, rin, rout, radii=radii, sigma=sigma)
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(basis.dim, dtype=torch.float64, generator=gen)
    kernel = torch.einsum("b,boip->oip", w, basis.sample(grid_points(size, d, dtype=torch.float64)))
    kernel = kernel.reshape(rout.size, rin.size, *[size] * d)
    conv = F.conv2d if d == 2 else F.conv3d
    x = torch.randn(2, rin.size, *[7] * d, dtype=torch.float64, generator=gen)
    for g in gs.fibergroup.elements()[:8]:
        a = conv(fin.transform(x, g), kernel, padding=1)
        b = fout.transform(conv(x, kernel, padding=1), g)
        assert (a - b).abs().max() < 1e-12


def test_ring_zero_has_frequency_zero_and_cutoff():
    gs = gspaces.rot2dOnR2(8)
    basis = kernel_basis(gs, gs.regular_repr, gs.regular_repr, radii=[0.0, 1.0, 2.0], sigma=0.6)
    assert basis.max_frequencies == [0, 2, 4]
    assert all(a["frequency"] == 0 for a in basis.attributes if a["radius"] == 0.0)
    assert all(a["frequency"] <= 2 for a in basis.attributes if a["radius"] == 1.0)
    capped = kernel_basis(gs, gs.regular_repr, gs.regular_repr, radii=[0.0, 1.0, 2.0], sigma=0.6,
                          maximum_frequency=1)
    assert capped.max_frequencies == [0, 1, 1] and capped.dim < basis.dim
    custom = kernel_basis(gs, gs.regular_repr, gs.regular_repr, radii=[0.0, 2.0], frequency_cutoff=lambda r: 3)
    assert custom.max_frequencies == [0, 3]
    assert [frequency_cutoff(r) for r in (0.0, 0.5, 1.0, 2.0)] == [0, 1, 2, 4]


def test_cached_and_fast():
    import time

    gs = gspaces.rot3dOnR3()
    r = _sum(gs.irreps(2))
    t = time.perf_counter()
    a = kernel_basis(gs, r, r, radii=[0.0, 1.0], sigma=0.6)
    first = time.perf_counter() - t
    assert kernel_basis(gs, r, r, radii=[0.0, 1.0], sigma=0.6) is a
    assert first < 5.0  # generous: a busy 2-core machine; measured about 0.03 s


def test_float32_gradients_and_zero():
    gs = gspaces.flipRot3dOnR3()
    r = _sum(gs.irreps(1))
    basis = kernel_basis(gs, r, r, radii=[0.0, 1.0], sigma=0.6)
    pts = torch.cat([torch.zeros(1, 3), torch.randn(5, 3)]).requires_grad_(True)
    k = basis.sample(pts)
    assert k.dtype == torch.float32 and torch.isfinite(k).all()
    k64 = basis.sample(pts.detach().double())
    assert torch.allclose(k.double(), k64, atol=1e-5)
    (grad,) = torch.autograd.grad(k.pow(2).sum(), pts, create_graph=True)
    assert torch.isfinite(grad).all()
    (grad2,) = torch.autograd.grad(grad.pow(2).sum(), pts)
    assert torch.isfinite(grad2).all()
    # at the origin only the angular frequency 0 survives (it is the only equivariant value there)
    k0 = k64[..., 0]
    freq = torch.tensor([a["frequency"] for a in basis.attributes])
    assert k0[freq > 0].abs().max() == 0 and k0[freq == 0].abs().max() > 0.1


def test_errors():
    gs, hs = gspaces.rot2dOnR2(4), gspaces.rot2dOnR2(8)
    with pytest.raises(ValueError, match="C8.*C4|C4.*C8"):
        kernel_basis(gs, hs.regular_repr, gs.regular_repr, radii=[0.0])
    with pytest.raises(ValueError, match="radii"):
        kernel_basis(gs, gs.regular_repr, gs.regular_repr, radii=[])
    with pytest.raises(ValueError, match="radii"):
        kernel_basis(gs, gs.regular_repr, gs.regular_repr, radii=[-1.0])
    with pytest.raises(ValueError, match="sigma"):
        kernel_basis(gs, gs.regular_repr, gs.regular_repr, radii=[0.0], sigma=0.0)
    with pytest.raises(ValueError, match="maximum_frequency"):
        kernel_basis(gs, gs.regular_repr, gs.regular_repr, radii=[0.0], maximum_frequency=-1)
    basis = kernel_basis(gs, gs.regular_repr, gs.regular_repr, radii=[0.0, 1.0])
    with pytest.raises(ValueError, match=r"\[P, 2\]"):
        basis.sample(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="kernel_size"):
        grid_points(0, 2)
    with pytest.raises(ValueError, match="dim"):
        grid_points(3, 4)


def test_grid_points_order_matches_conv_layout():
    pts = grid_points((3, 5), 2, dilation=2)
    assert pts.shape == (15, 2)
    assert pts[0].tolist() == [-2.0, -4.0] and pts[1].tolist() == [-2.0, -2.0] and pts[5].tolist() == [0.0, -4.0]
    p3 = grid_points(3, 3)
    assert p3[1].tolist() == [-1.0, -1.0, 0.0] and p3[3].tolist() == [-1.0, 0.0, -1.0]


@pytest.mark.parametrize("name", ["C8", "O2", "SO2"])
def test_unit_norm_on_the_ring(name):
    """Each basis kernel has mean squared Frobenius norm 1 over its ring (exact equispaced quadrature)."""
    gs = {"C8": gspaces.rot2dOnR2(8), "O2": gspaces.flipRot2dOnR2(-1), "SO2": gspaces.rot2dOnR2(-1)}[name]
    rep = gs.regular_repr if gs.fibergroup.is_finite else _sum(gs.irreps(3))
    basis = kernel_basis(gs, rep, rep, radii=[2.0], sigma=0.6)  # frequencies <= 4
    theta = torch.arange(64, dtype=torch.float64) * (2 * torch.pi / 64)
    x = 2.0 * torch.stack([theta.cos(), theta.sin()], -1)
    norms = basis.sample(x).pow(2).sum((1, 2)).mean(-1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-12)
