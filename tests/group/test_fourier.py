"""Group Fourier transforms: round trip, translation equivariance, Parseval, layout, quotients."""

from __future__ import annotations

import math

import pytest
import torch

from steertorch.group import (
    CyclicGroup,
    GroupFourierTransform,
    IrreducibleRepresentation,
    bl_quotient_representation,
    cyclic_group,
    dihedral_group,
    fourier_transform,
    group_from_name,
    o2_group,
    o3_group,
    so2_group,
    so3_group,
)
from steertorch.group._fourier import _minimal_vectors
from steertorch.group._group import float64_default

TOL = 1e-10


def _point_group(name: str):
    try:
        return group_from_name(name, ambient_dim=3)
    except ValueError:
        pytest.skip(f"point group {name!r} is not registered")


CASES = {
    "C8": lambda: (cyclic_group(8), None),
    "D5": lambda: (dihedral_group(5), None),
    "D4": lambda: (dihedral_group(4), None),
    "O": lambda: (_point_group("O"), None),
    "T": lambda: (_point_group("T"), None),  # complex-type irreps
    "C5h": lambda: (_point_group("C5h"), None),
    "Ih": lambda: (_point_group("Ih"), None),
    "SO2": lambda: (so2_group(), 6),
    "O2": lambda: (o2_group(), 5),
    "SO3": lambda: (so3_group(), 4),
    "O3": lambda: (o3_group(), 3),
}


@pytest.fixture(params=list(CASES))
def case(request):
    group, band = CASES[request.param]()
    return group, band, fourier_transform(group, band)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_round_trip(case):
    group, band, ft = case
    g = _gen()
    c = torch.randn(4, ft.size, generator=g, dtype=torch.float64)
    f = ft.inverse(c)  # band-limited by construction
    assert f.shape == (4, ft.grid_size)
    assert (ft.forward(f) - c).abs().max() <= TOL
    assert (ft.inverse(ft.forward(f)) - f).abs().max() <= TOL
    # coefficients in the image of forward (any samples) are reproduced
    c2 = ft.forward(torch.randn(3, ft.grid_size, generator=g, dtype=torch.float64))
    assert (ft.forward(ft.inverse(c2)) - c2).abs().max() <= TOL
    if group.is_finite:  # every function on a finite group is band-limited
        f2 = torch.randn(3, ft.grid_size, generator=g, dtype=torch.float64)
        assert ft.size == group.order == ft.grid_size
        assert (ft.inverse(ft.forward(f2)) - f2).abs().max() <= TOL
    assert ft.orthogonality_error <= TOL


def test_parseval(case):
    _, _, ft = case
    c = torch.randn(5, ft.size, generator=_gen(1), dtype=torch.float64)
    f = ft.inverse(c)
    assert torch.allclose((ft.weights * f * f).sum(-1), (c * c).sum(-1), atol=TOL, rtol=0)


def test_translation_equivariance(case):
    group, band, ft = case
    gen = _gen(2)
    h = group.sample(6, generator=gen, dtype=torch.float64)
    with float64_default():  # finite-group tables follow the default dtype
        rho_h = ft.representation(h)  # [6, D, D]
    assert rho_h.dtype == torch.float64
    if group.is_finite:
        f = torch.randn(ft.grid_size, generator=gen, dtype=torch.float64)
        # (L_h f)(g) = f(h^-1 g): the sample at element g of the translated signal, through the Cayley table
        idx = group.compose(group.inverse(h)[:, None], ft.elements[None, :])  # [6, N]
        f_h = f[idx]
        c = ft.forward(f)
    else:
        c = torch.randn(ft.size, generator=gen, dtype=torch.float64)
        hinv_g = group.compose(group.inverse(h)[:, None], ft.elements[None])  # [6, N, n, n]
        f_h = ft.basis(hinv_g) @ c  # the band-limited function inverse(c) evaluated at h^-1 g
    err = (ft.forward(f_h) - rho_h @ c).abs().max()
    assert err <= TOL, f"{group.name}: equivariance error {float(err):.2e}"


def test_representation_matches_group(case):
    group, band, ft = case
    labels = [psi.label for psi in ft.representation.irreps]
    assert labels == [psi.label for psi in ft.irreps for _ in range(psi.size // psi.endomorphism_dim)]
    assert ft.representation.change_of_basis is None
    if not group.is_finite:
        assert ft.representation == group.bl_regular_representation(band)
        assert ft.size == sum(psi.size ** 2 // psi.endomorphism_dim for psi in group.irreps(band))


def test_layout_is_column_major():
    """Block of psi = [column a][row i]: each minimal column of psi(g) is one copy of psi."""
    group = o2_group()
    ft = fourier_transform(group, 2)
    g = group.sample(3, generator=_gen(3), dtype=torch.float64)
    a = ft.basis(g)
    for psi, sl in ft.irrep_slices():
        d = psi.size
        _, cols = _minimal_vectors(psi)
        block = a[:, sl].reshape(3, len(cols), d).transpose(-1, -2)  # [3, d (i), m (a)]
        assert torch.allclose(block, math.sqrt(d) * psi(g)[..., cols], atol=1e-12)
    # complex type (SO(2), C_N): the even columns only
    psi = so2_group().irrep(3)
    assert _minimal_vectors(psi)[1] == [0]


class _MirroredCyclic(CyclicGroup):
    """C_N with its 2D irreps conjugated by diag(1, -1): complex structure -J (checks the general column choice)."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.name = f"C{n}mirrored"

    def _build_irrep(self, k):
        psi = super()._build_irrep(k)
        if psi.size == 1:
            return psi
        s = torch.diag(torch.tensor([1.0, -1.0], dtype=torch.float64))
        fn = psi._function
        return IrreducibleRepresentation(self, k, 2, lambda g: s.to(fn(g)) @ fn(g) @ s.to(fn(g)), type="C",
                                         endomorphism_basis=s @ psi.endomorphism_basis @ s, name=f"irrep_{k}m")


def test_nonstandard_complex_structure_transform():
    group = _MirroredCyclic(6)
    ft = GroupFourierTransform(group)
    f = torch.randn(2, 6, generator=_gen(4), dtype=torch.float64)
    c = ft.forward(f)
    assert (ft.inverse(c) - f).abs().max() <= TOL
    h = torch.tensor([1, 4])
    f_h = f[:, group.compose(group.inverse(h)[:, None], ft.elements[None])]  # [2, 2, 6]: per (signal, h)
    with float64_default():
        expected = torch.einsum("hij,sj->shi", ft.representation(h), c)
    assert (ft.forward(f_h) - expected).abs().max() <= TOL


def _fake_irrep(kind: str, basis: torch.Tensor) -> IrreducibleRepresentation:
    d = basis.shape[-1]
    return IrreducibleRepresentation(cyclic_group(1), ("fake", kind, d), d, lambda g: None, type=kind,
                                     endomorphism_basis=basis)


@pytest.mark.parametrize("kind", ["C", "H"])
def test_minimal_vectors_general_endomorphisms(kind):
    """Endomorphism algebras not in block form: the chosen v_a satisfy v_a^T B v_b = delta_{ab} delta_{B,I}."""
    j0 = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)
    if kind == "C":
        d = 6
        jb = torch.block_diag(j0, j0, j0)
        q, _ = torch.linalg.qr(torch.randn(d, d, generator=_gen(5), dtype=torch.float64))
        basis = torch.stack([torch.eye(d, dtype=torch.float64), q @ jb @ q.T])
    else:  # left multiplication by the quaternion units 1, i, j, k on R^4, in a rotated basis
        d = 4
        qi = torch.tensor([[0, -1, 0, 0], [1, 0, 0, 0], [0, 0, 0, -1], [0, 0, 1, 0]], dtype=torch.float64)
        qj = torch.tensor([[0, 0, -1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, -1, 0, 0]], dtype=torch.float64)
        q, _ = torch.linalg.qr(torch.randn(d, d, generator=_gen(6), dtype=torch.float64))
        basis = torch.stack([torch.eye(d, dtype=torch.float64), q @ qi @ q.T, q @ qj @ q.T, q @ (qi @ qj) @ q.T])
    psi = _fake_irrep(kind, basis)
    v, cols = _minimal_vectors(psi)
    m = d // basis.shape[0]
    assert v.shape == (d, m)
    orbit = torch.einsum("eij,ja->aei", basis, v).reshape(-1, d)  # all B v_a: an orthonormal basis of R^d
    assert torch.allclose(orbit @ orbit.T, torch.eye(d, dtype=torch.float64), atol=1e-12)
    assert cols is None or len(cols) == m


def test_float32_and_batch():
    ft = fourier_transform(so3_group(), 2)
    c = torch.randn(2, 3, ft.size, generator=_gen(7), dtype=torch.float64)
    f = ft.inverse(c)
    out = ft.forward(f.float())
    assert out.dtype == torch.float32 and out.shape == (2, 3, ft.size)
    assert (out.double() - c).abs().max() < 1e-4
    assert ft.inverse(out).dtype == torch.float32


def test_user_grid():
    group = so2_group()
    fine = GroupFourierTransform(group, 3, grid=group.quadrature(20))
    assert fine.grid_size == 21 and fine.orthogonality_error <= TOL
    c = torch.randn(fine.size, generator=_gen(8), dtype=torch.float64)
    assert (fine.forward(fine.inverse(c)) - c).abs().max() <= TOL
    coarse = GroupFourierTransform(group, 3, grid=group.quadrature(3)[0])  # bare elements: equal weights
    assert coarse.orthogonality_error > 1e-3  # too few points for band 3: reported, not hidden


def test_bad_input():
    ft = fourier_transform(cyclic_group(8))
    with pytest.raises(ValueError, match=r"\[\.\.\., 8\]"):
        ft.forward(torch.zeros(7))
    with pytest.raises(ValueError, match=r"\[\.\.\., 8\]"):
        ft.inverse(torch.zeros(3, 9))
    ft3 = fourier_transform(so3_group(), 1)
    with pytest.raises(ValueError, match=str(ft3.grid_size)):
        ft3.forward(torch.zeros(ft3.grid_size + 1))
    with pytest.raises(ValueError, match="band_limit"):
        fourier_transform(so3_group())
    with pytest.raises(ValueError, match="band_limit"):
        GroupFourierTransform(so2_group(), -1)
    with pytest.raises(ValueError, match="grid"):
        GroupFourierTransform(cyclic_group(4), grid=torch.arange(4))


def test_cache():
    assert fourier_transform(so2_group(), 3) is fourier_transform(so2_group(), 3)
    assert fourier_transform(cyclic_group(5), 7) is fourier_transform(cyclic_group(5))


# ----------------------------------------------------------------------------- quotients
def _labels(rep):
    return [psi.label for psi in rep.irreps]


def test_quotient_sphere():
    assert _labels(bl_quotient_representation(so3_group(), "SO2", 4)) == [0, 1, 2, 3, 4]
    rep = bl_quotient_representation(o3_group(), o2_group(3, "mirror"), 3)
    assert _labels(rep) == [(l, (-1) ** l) for l in range(4)]
    # the cylinder group D_inf (half turn about x) fixes only the even degrees, with both parities
    rep = bl_quotient_representation(o3_group(), o2_group(3, "rotation"), 2)
    assert _labels(rep) == [(0, 1), (0, -1), (2, 1), (2, -1)]


def test_quotient_planar():
    assert _labels(bl_quotient_representation(so2_group(), "C4", 9)) == [0, 4, 8]
    rep = bl_quotient_representation(o2_group(), cyclic_group(3), 6)
    assert rep.multiplicities() == {(0, 0): 1, (1, 0): 1, (1, 3): 2, (1, 6): 2}
    rep = bl_quotient_representation(o2_group(), so2_group(), 4)  # O(2)/SO(2): two points
    assert _labels(rep) == [(0, 0), (1, 0)]
    # H trivial: the band-limited regular representation
    assert bl_quotient_representation(so3_group(), None, 2) == so3_group().bl_regular_representation(2)


@pytest.mark.parametrize("group, sub", [(cyclic_group(8), "C2"), (dihedral_group(6), "C3"), (dihedral_group(4), "D2")])
def test_quotient_finite_matches_permutation_representation(group, sub):
    rep = bl_quotient_representation(group, sub)
    perm = group.quotient_representation(sub)
    assert rep.size == perm.size
    assert sorted(rep.multiplicities().items(), key=str) == sorted(perm.multiplicities().items(), key=str)
